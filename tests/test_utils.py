"""Keras's helpers: to_categorical and set_random_seed, and what they refuse; every name of
``keras.utils`` there or named as not implemented; the aliases of what autoconv has elsewhere;
``normalize``, ``pack_x_y_sample_weight``, ``unpack_x_y_sample_weight`` and
``get_source_inputs`` against Keras 3.15's. (``get_file``, ``Progbar`` and ``split_dataset``
have files of their own: test_file_utils.py, test_progbar.py, test_dataset_utils.py.)"""

from __future__ import annotations

import os
import random
import time

import numpy as np
import pytest

import autoconv as ac


def test_to_categorical_like_keras():
    np.testing.assert_array_equal(ac.utils.to_categorical([0, 2]), [[1, 0, 0], [0, 0, 1]])
    assert ac.utils.to_categorical([[1], [0]]).shape == (2, 2)  # a trailing axis of 1 drops
    assert ac.utils.to_categorical(np.array([0.0, 1.0]), np.int64(3)).shape == (2, 3)
    assert ac.utils.to_categorical(np.array([1], np.uint8), 2).dtype == np.float64  # Keras's


@pytest.mark.parametrize("name", ["to_categorical", "split_dataset", "clear_session"])
def test_keras_arguments_by_name(keras, name):
    # keras.utils.to_categorical(x=...), split_dataset(preferred_backend=...),
    # clear_session(free_memory=...): Keras's parameter names, in its order
    import inspect

    theirs = inspect.signature(getattr(keras.utils, name)).parameters
    assert list(inspect.signature(getattr(ac.utils, name)).parameters) == list(theirs)
    assert ac.utils.to_categorical(x=[1], num_classes=2).tolist() == [[0.0, 1.0]]
    _, right = ac.utils.split_dataset(np.arange(4), left_size=1, preferred_backend="torch")
    assert [int(v) for v in right] == [1, 2, 3]
    ac.utils.clear_session(free_memory=False)


@pytest.mark.parametrize(
    ("labels", "num_classes", "message"),
    [
        ([0, -1], None, "labels must be non-negative class indices, got -1"),
        ([0, 1.5], None, r"labels must be whole numbers .* values \[0\.0, 1\.5\]"),
        ([np.nan], None, "labels must be whole numbers"),
        ([np.inf], 3, "labels must be whole numbers"),
        (["a"], None, "labels must be whole numbers"),
        ([0, 3], 3, r"label 3 does not fit num_classes=3 \(labels must lie in \[0, 3\)\)"),
        ([0, 1], 0, "num_classes must be a positive int, got 0"),
        ([0, 1], -2, "num_classes must be a positive int, got -2"),
        ([0, 1], 2.5, "num_classes must be a positive int, got 2.5"),
        ([0, 1], "3", "num_classes must be a positive int, got '3'"),
        ([0, 10**12], None, "asks for more than 2147483647 classes"),
        ([], None, "num_classes is required for empty labels"),
    ],
)
def test_to_categorical_refuses_what_is_not_a_class_index(labels, num_classes, message):
    with pytest.raises(ValueError, match=f"to_categorical: .*{message}"):
        ac.utils.to_categorical(labels, num_classes)


@pytest.mark.parametrize("seed", [1.5, "3", True, None, [1]])
def test_set_random_seed_wants_an_integer_as_keras(seed):
    with pytest.raises(ValueError, match=r"Expected `seed` argument to be an integer\. Received"):
        ac.utils.set_random_seed(seed)


def test_set_random_seed_takes_numpy_integers_and_refuses_negative_ones():
    ac.utils.set_random_seed(np.int64(3))
    a = ac.random.generator().random()
    ac.utils.set_random_seed(3)
    assert ac.random.generator().random() == a
    with pytest.raises(ValueError, match="non-negative"):
        ac.utils.set_random_seed(-1)


def test_set_random_seed_seeds_pythons_random_as_keras(monkeypatch):
    """Keras's set_random_seed seeds Python's ``random`` too, so a user's own
    ``random.shuffle`` repeats; 0.0313... is what ``random.random()`` gives after Keras 3.15's
    ``set_random_seed(812)`` (keras.io's reproducibility recipe's seed)."""
    monkeypatch.setattr(ac.seeds, "_generator", ac.seeds.generator())
    monkeypatch.setattr(ac.seeds, "_seed", ac.seeds._seed)
    state = random.getstate()
    try:
        ac.utils.set_random_seed(812)
        assert random.random() == 0.031326326705593655
        ac.utils.set_random_seed(np.int64(812))
        assert random.random() == 0.031326326705593655
    finally:
        random.setstate(state)


def keras_module():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    return pytest.importorskip("keras")


def test_every_keras_utils_name_is_there_or_named_as_not_implemented():
    keras = keras_module()
    names = {n for n in dir(keras.utils) if not n.startswith("_")}
    missing = names - set(dir(ac.utils))
    assert missing == ac.utils.KERAS_UTILS_NOT_IMPLEMENTED
    assert set(ac.utils.__all__) == names - missing
    for name in missing:
        with pytest.raises(AttributeError, match=f"keras.utils.{name} is not implemented"):
            getattr(ac.utils, name)
    with pytest.raises(AttributeError, match=r"module 'autoconv\.utils' has no attribute 'nope'"):
        ac.utils.nope  # noqa: B018


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("custom_object_scope", ac.saving), ("CustomObjectScope", ac.saving),
        ("get_custom_objects", ac.saving), ("register_keras_serializable", ac.saving),
        ("serialize_keras_object", ac.saving), ("deserialize_keras_object", ac.saving),
        ("get_registered_name", ac.saving), ("get_registered_object", ac.saving),
        ("is_keras_tensor", ac.backend), ("standardize_dtype", ac.backend),
    ],
)  # fmt: skip
def test_aliases_are_the_objects_autoconv_has_elsewhere(name, home):
    assert getattr(ac.utils, name) is getattr(home, name)


def test_the_registry_through_utils():
    @ac.utils.register_keras_serializable(package="UtilsTest")
    class Scaled(ac.layers.Layer):
        def call(self, x):
            return x * 2

    assert ac.utils.get_registered_name(Scaled) == "UtilsTest>Scaled"
    assert ac.utils.get_registered_object("UtilsTest>Scaled") is Scaled
    assert ac.utils.get_custom_objects()["UtilsTest>Scaled"] is Scaled
    with ac.utils.custom_object_scope({"Other": Scaled}):
        assert ac.utils.get_registered_object("Other") is Scaled
    entry = ac.utils.serialize_keras_object(Scaled(name="s"))
    assert ac.utils.deserialize_keras_object(entry).name == "s"
    assert ac.utils.is_keras_tensor(ac.Input((2,))) and not ac.utils.is_keras_tensor(1.0)
    assert ac.utils.standardize_dtype(np.float32) == "float32"


X = np.random.default_rng(0).normal(size=(3, 4, 5))


@pytest.mark.parametrize(
    ("x", "axis", "order"),
    [
        (X, -1, 2), (X, 1, 2), (X, -2, 1), (X, 2, 3), (X[0], -1, np.inf), (X[0], None, 2),
        (X[0, 0], -1, 2), (X[0, 0], 0, 2), (np.zeros((2, 3)), -1, 2),
        (np.arange(6).reshape(2, 3), -1, 2), (X.astype(np.float32), -1, 2), (np.zeros(0), -1, 2),
    ],
)  # fmt: skip
def test_normalize_numpy_like_keras(x, axis, order):
    keras = keras_module()
    ours = ac.utils.normalize(x, axis=axis, order=order)
    theirs = keras.utils.normalize(x, axis=axis, order=order)
    assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_normalize_divides_along_axis_0_where_keras_uses_the_last():
    x = np.array([[3.0, 1.0], [4.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(ac.utils.normalize(x, axis=0), [[0.6, 1], [0.8, 0], [0, 0]])


@pytest.mark.parametrize("make", [ac.Tensor, lambda x: x.tolist()], ids=["Tensor", "list"])
@pytest.mark.parametrize("axis, order", [(-1, 2), (0, 1), (1, 3)])
def test_normalize_anything_else_is_a_tensor_as_keras(make, axis, order):
    keras = keras_module()
    x = X[0].astype(np.float32)
    ours = ac.utils.normalize(make(x), axis=axis, order=order)
    theirs = keras.utils.normalize(x.tolist(), axis=axis, order=order)
    assert isinstance(ours, ac.Tensor)
    np.testing.assert_allclose(ours.numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-6)


A, B, C = np.ones(2), np.zeros(2), np.arange(2)


@pytest.mark.parametrize(
    "args",
    [(A,), (A, B), (A, B, C), ((A, B),), ([A, B],), ((A,), B), (A, None, C), ({"a": A},)],
    ids=str,
)
def test_pack_x_y_sample_weight_like_keras(args):
    keras = keras_module()
    ours = ac.utils.pack_x_y_sample_weight(*args)
    theirs = keras.utils.pack_x_y_sample_weight(*args)
    assert type(ours) is type(theirs)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize(
    "data", [A, (A,), (A, B), (A, B, C), [A, B], [A], {"x": A}, (A, None, C)], ids=str
)
def test_unpack_x_y_sample_weight_like_keras(data):
    keras = keras_module()
    ours = ac.utils.unpack_x_y_sample_weight(data)
    assert isinstance(ours, tuple) and len(ours) == 3
    assert repr(ours) == repr(keras.utils.unpack_x_y_sample_weight(data))


@pytest.mark.parametrize("data", [(), (A, B, C, A), [A, B, C, A]])
def test_unpack_refuses_what_is_not_x_y_sample_weight(data):
    with pytest.raises(ValueError, match=r"Data is expected to be in format `x`, `\(x,\)`"):
        ac.utils.unpack_x_y_sample_weight(data)


def graph(lib, name):
    """The same graph in Keras and autoconv, and the tensor to start from."""
    a, b, c = (lib.Input((4,), name=n) for n in "abc")
    dense = lib.layers.Dense(4)
    if name == "input":
        return a
    if name == "chain":
        return lib.layers.Dense(2)(lib.layers.Activation("relu")(dense(a)))
    if name == "shared":
        return lib.layers.Add()([dense(c), dense(a), dense(c)])
    if name == "ops":
        return lib.layers.Concatenate()([b * 2.0, lib.ops.expand_dims(a, -1)[..., 0], c + b])
    if name == "nested":
        inner = lib.Model(a, dense(a))
        return lib.layers.Multiply()([inner(c), b])
    raise ValueError(name)


@pytest.mark.parametrize("name", ["input", "chain", "shared", "ops", "nested"])
def test_get_source_inputs_like_keras(name):
    keras = keras_module()
    ours = ac.utils.get_source_inputs(graph(ac, name))
    theirs = keras.utils.get_source_inputs(graph(keras, name))
    assert isinstance(ours, list)
    assert [t.name for t in ours] == [t.name for t in theirs]


def test_get_source_inputs_of_what_no_layer_made():
    keras = keras_module()
    loose = ac.layers.symbolic.SymbolicTensor((None, 2), "float32")
    assert ac.utils.get_source_inputs(loose) == [loose]
    for thing in (3, "x", A):
        assert ac.utils.get_source_inputs(thing) is keras.utils.get_source_inputs(thing) is thing


def test_get_source_inputs_of_a_densely_connected_graph_is_quick():
    """Each step adds the two before it: Keras's recursion would walk the Fibonacci number of
    paths, about 10**12."""
    inputs = ac.Input((2,), name="only")
    seen = [inputs, ac.layers.Dense(2)(inputs)]
    for _ in range(60):
        seen.append(ac.layers.Add()(seen[-2:]))
    x = seen[-1]
    start = time.perf_counter()
    assert ac.utils.get_source_inputs(x) == [inputs]
    assert time.perf_counter() - start < 1.0
