"""autoconv.activations, Keras's keras.activations: every name, its values on the examples of
Keras's docstrings, and get / serialize / deserialize with their errors. The ops' gradients,
PyTorch parity and CUDA parity are in tests/ops/test_core_ops.py's table."""

from __future__ import annotations

import functools
import math
import os
import warnings

import numpy as np
import pytest

import autoconv as ac
from autoconv import activations, ops
from autoconv.testing import gradcheck


def keras_or_skip():
    """Keras 3 on its PyTorch backend, or the test is skipped."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    return pytest.importorskip("keras")


# Keras 3.15's keras.activations names (ALL_OBJECTS_DICT of keras/src/activations/__init__.py).
KERAS_NAMES = {
    "relu", "leaky_relu", "relu6", "softmax", "celu", "elu", "selu", "softplus", "softsign",
    "squareplus", "soft_shrink", "sparse_plus", "silu", "gelu", "glu", "tanh", "tanh_shrink",
    "threshold", "sigmoid", "sparse_sigmoid", "exponential", "hard_sigmoid", "hard_silu",
    "hard_tanh", "hard_shrink", "linear", "mish", "log_softmax", "log_sigmoid", "sparsemax",
    "swish", "hard_swish",
}  # fmt: skip
# threshold has no defaults for its two arguments, in Keras too
ARGUMENTS = {"threshold": {"threshold": 0.3, "default_value": -2.0}}


def test_every_keras_name_is_known():
    assert set(activations.ALL_OBJECTS) == KERAS_NAMES
    for name in KERAS_NAMES:
        assert getattr(activations, name) is activations.get(name)


def test_the_names_are_kerass():
    keras_or_skip()
    from keras.src.activations import ALL_OBJECTS_DICT

    assert set(ALL_OBJECTS_DICT) == KERAS_NAMES


@pytest.mark.parametrize("name", sorted(KERAS_NAMES))
def test_each_takes_a_list_or_tensor_and_returns_a_tensor_with_a_gradient(name, rng):
    fn = activations.get(name)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    assert isinstance(fn(x.tolist(), **ARGUMENTS.get(name, {})), ac.Tensor)
    t = ac.Tensor(x, requires_grad=True)
    out = fn(t, **ARGUMENTS.get(name, {}))
    shape = (2, 2) if name == "glu" else (2, 4)
    assert isinstance(out, ac.Tensor) and out.shape == shape and out.dtype == np.float32
    if name != "linear":
        out.sum().backward()
        assert t.grad.shape == (2, 4) and np.isfinite(t.grad).all()


def erf(values):
    return np.array([math.erf(v) for v in values])


X = np.array([-6.0, -1.0, 0.0, 1.0, 6.0])
# Examples of Keras's docstrings (keras/src/ops/nn.py, keras/src/activations/activations.py),
# and the formulas of keras/src/backend/numpy/nn.py where a docstring has none.
EXAMPLES = [
    ("relu", {}, [-10.0, -5.0, 0.0, 5.0, 10.0], [0.0, 0.0, 0.0, 5.0, 10.0]),
    ("relu", {"negative_slope": 0.5}, [-10.0, -5.0, 0.0, 5.0, 10.0], [-5, -2.5, 0, 5, 10]),
    ("relu", {"max_value": 5.0}, [-10.0, -5.0, 0.0, 5.0, 10.0], [0.0, 0.0, 0.0, 5.0, 5.0]),
    ("relu", {"threshold": 5.0}, [-10.0, -5.0, 0.0, 5.0, 10.0], [0.0, 0.0, 0.0, 0.0, 10.0]),
    ("leaky_relu", {}, [-1.0, 0.0, 1.0], [-0.2, 0.0, 1.0]),
    ("relu6", {}, [-3.0, -2.0, 0.1, 0.2, 6.0, 8.0], [0.0, 0.0, 0.1, 0.2, 6.0, 6.0]),
    ("sigmoid", {}, X, [0.00247262, 0.26894142, 0.5, 0.7310586, 0.9975274]),
    ("silu", {}, X, [-0.0148357, -0.26894142, 0.0, 0.7310586, 5.9851646]),
    ("swish", {}, X, [-0.0148357, -0.26894142, 0.0, 0.7310586, 5.9851646]),
    ("softplus", {}, [-0.555, 0.0, 0.555], [0.45366603, 0.6931472, 1.008666]),
    ("softsign", {}, [-0.1, -10.0, 1.0, 0.0, 100.0], [-0.09090909, -0.90909094, 0.5, 0, 0.990099]),
    ("hard_silu", {}, [-3.0, -1.0, 0.0, 1.0, 3.0], [0.0, -0.3333333, 0.0, 0.6666667, 3.0]),
    ("hard_swish", {}, [-4.0, 4.0], [0.0, 4.0]),
    ("hard_sigmoid", {}, [-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0], [0, 0, 0.25, 0.5, 0.75, 1, 1]),
    ("elu", {}, [-1.0, 0.0, 1.0], [-0.63212055, 0.0, 1.0]),
    ("elu", {"alpha": 2.0}, [-1.0, 0.0, 1.0], [-1.2642411, 0.0, 1.0]),
    ("selu", {}, [-1.0, 0.0, 1.0], [-1.11133055, 0.0, 1.05070098]),
    ("gelu", {}, [-1.0, 0.0, 1.0], [-0.15865525, 0.0, 0.84134475]),
    ("gelu", {}, X, X * (1 + erf(X / math.sqrt(2))) / 2),
    (
        "gelu",
        {"approximate": True},
        X,
        0.5 * X * (1 + np.tanh(math.sqrt(2 / math.pi) * (X + 0.044715 * X**3))),
    ),
    ("mish", {}, X, X * np.tanh(np.log1p(np.exp(X)))),
    ("exponential", {}, [-1.0, 0.0, 2.0], np.exp([-1.0, 0.0, 2.0])),
    ("tanh", {}, [-1.0, 0.0, 2.0], np.tanh([-1.0, 0.0, 2.0])),
    ("linear", {}, [-1.0, 0.0, 2.0], [-1.0, 0.0, 2.0]),
    ("softmax", {}, [-1.0, 0.0, 1.0], [0.09003057, 0.24472847, 0.66524096]),
    ("log_softmax", {}, [-1.0, 0.0, 1.0], [-2.40760596, -1.40760596, -0.40760596]),
]


@pytest.mark.parametrize(("name", "kwargs", "x", "expected"), EXAMPLES)
def test_values_match_keras(name, kwargs, x, expected):
    got = getattr(activations, name)(np.asarray(x, np.float64), **kwargs)
    np.testing.assert_allclose(got.data, expected, rtol=2e-7, atol=1e-7)


def test_softmax_and_log_softmax_take_an_axis():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(activations.softmax(x, axis=0).data.sum(axis=0), [1, 1, 1])
    both = activations.log_softmax(x, axis=(0, 1)).data
    np.testing.assert_allclose(np.exp(both).sum(), 1.0)


def test_linear_returns_the_same_tensor():
    t = ac.Tensor([1.0, -2.0])
    assert activations.linear(t) is t


def test_get():
    assert activations.get(None) is activations.linear
    assert activations.get("swish") is activations.silu
    assert activations.get("hard_swish") is activations.hard_silu

    def custom(x):
        return x * 2

    assert activations.get(custom) is custom
    assert activations.get(ops.relu) is ops.relu


def test_get_refuses_unknown_identifiers_and_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"'relux'.*known activations: celu, elu, exponential"):
        activations.get("relux")
    with pytest.raises(ValueError, match="Could not interpret activation function identifier"):
        activations.get(3)
    with pytest.raises(ValueError, match="Could not interpret"):
        activations.get("Relu")  # names are case-sensitive, as in Keras


@pytest.mark.parametrize("name", sorted(KERAS_NAMES))
def test_serialize_round_trip(name):
    fn = activations.get(name)
    saved = activations.serialize(fn)
    assert saved == {"swish": "silu", "hard_swish": "hard_silu"}.get(name, name)
    assert activations.deserialize(saved) is fn
    assert activations.get(saved) is fn


def test_deserialize_reads_keras_dict_form_and_custom_objects():
    keras_form = {
        "module": "keras.activations",
        "class_name": "function",
        "config": "gelu",
        "registered_name": "gelu",
    }
    assert activations.get(keras_form) is activations.gelu

    def mine(x):
        return x

    assert activations.deserialize("mine", custom_objects={"mine": mine}) is mine
    with pytest.raises(ValueError, match="known activations"):
        activations.deserialize({"config": "nope"})


def test_serialize_refuses_other_callables():
    with pytest.raises(ValueError, match="not one of autoconv's activations"):
        activations.serialize(lambda x: x)
    with pytest.raises(ValueError, match="cannot be saved by name"):
        activations.serialize(functools.partial(ops.relu))  # not a named function


@pytest.mark.parametrize("name", ["gelu", "relu", "sigmoid", "softmax", "log_softmax", "exp"])
def test_an_ops_function_as_an_activation_is_saved_as_keras_saves_it(name):
    """keras.io's GNN example's ``Dense(units, activation=tf.nn.gelu)``: Keras writes a
    function named as one of its activations by that name (loading gives the activation),
    another function as its function entry."""
    keras = keras_or_skip()
    expected = keras.layers.Dense(1, activation=getattr(keras.ops, name)).get_config()
    config = ac.layers.Dense(1, activation=getattr(ops, name)).get_config()
    assert config["activation"] == expected["activation"]
    if name != "exp":
        assert ac.layers.Dense.from_config(config).activation is getattr(activations, name)


def test_a_function_of_an_activations_name_is_that_name_as_in_keras():
    """Keras writes any unregistered function named as one of its activations by that name
    (keras.io's token learner: Dense(activation=ops.gelu) is "gelu"), any other function
    (a user's, ops.exp) as its function entry, a registered one by its registered name."""
    keras = keras_or_skip()

    def relu(x):
        return x

    def swish(x):
        return x

    found = []
    for lib in (ac, keras):

        @lib.saving.register_keras_serializable(package="test_activations")
        def gelu(x):
            return x

        found.append([
            lib.layers.Dense(2, activation=f).get_config()["activation"]
            for f in (lib.ops.gelu, lib.ops.relu, lib.ops.silu, relu, swish, gelu)
        ] + [lib.activations.serialize(lib.ops.exp)])  # fmt: skip
    assert found[0] == found[1]
    assert found[0][:4] == ["gelu", "relu", "silu", "relu"]


def test_reachable_from_the_package():
    assert ac.activations is activations


# The activations Keras 3.15 added to the first ones, with options: (name, kwargs, shape)
NEW = [
    ("celu", {}, (3, 4)),
    ("celu", {"alpha": 0.5}, (2, 3, 2)),
    ("glu", {}, (3, 4)),
    ("glu", {"axis": 1}, (2, 4, 3)),
    ("hard_shrink", {}, (3, 4)),
    ("hard_shrink", {"threshold": 1.2}, (3, 4)),
    ("hard_tanh", {}, (3, 4)),
    ("log_sigmoid", {}, (3, 4)),
    ("soft_shrink", {}, (3, 4)),
    ("soft_shrink", {"threshold": 0.25}, (2, 3, 2)),
    ("sparse_plus", {}, (3, 4)),
    ("sparse_sigmoid", {}, (3, 4)),
    ("sparsemax", {}, (3, 4)),
    ("sparsemax", {"axis": 0}, (4, 3)),
    ("squareplus", {}, (3, 4)),
    ("squareplus", {"b": 1.5}, (3, 4)),
    ("tanh_shrink", {}, (3, 4)),
    ("threshold", {"threshold": 0.3, "default_value": -2.0}, (3, 4)),
]
NEW_NAMES = sorted({name for name, *_ in NEW})
KINKS = np.array([-1.2, -1.0, -0.5, -0.25, 0.0, 0.25, 0.3, 0.5, 1.0, 1.2])


def away_from_kinks(shape, rng):
    """Values in [-2.5, 2.5] at least 0.05 from every kink of these activations."""
    x = rng.uniform(-2.5, 2.5, shape)
    near = np.abs(x[..., None] - KINKS).min(-1) < 0.05
    return np.where(near, x + 0.1, x)


def sparsemax_input(name, kwargs, shape, rng):
    """For sparsemax, one entry of each slice 3 above the rest: Keras 3.15's sparsemax is
    right only where it keeps a single entry (keras-team/keras#23425); the other activations
    take the values as they are."""
    x = away_from_kinks(shape, rng)
    if name == "sparsemax":
        axis = kwargs.get("axis", -1)
        index = np.expand_dims(rng.integers(0, shape[axis], np.delete(shape, axis)), axis)
        np.put_along_axis(x, index, 5.0 + rng.uniform(0, 0.5, index.shape), axis)
    return x


@pytest.mark.parametrize(("name", "kwargs", "shape"), NEW, ids=[n for n, *_ in NEW])
def test_the_new_activations_values_and_gradients_are_kerass(name, kwargs, shape, rng):
    import torch

    keras = keras_or_skip()
    x = sparsemax_input(name, kwargs, shape, rng)
    mine = ac.Tensor(x, requires_grad=True)
    out = getattr(activations, name)(mine, **kwargs)
    upstream = rng.standard_normal(out.shape)
    (out * upstream).sum().backward()
    reference = torch.tensor(x, requires_grad=True)
    expected = getattr(keras.activations, name)(reference, **kwargs)
    (expected * torch.tensor(upstream)).sum().backward()
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("name", "kwargs", "shape"), NEW, ids=[n for n, *_ in NEW])
def test_the_new_activations_gradcheck(name, kwargs, shape, rng):
    x = away_from_kinks(shape, rng)
    assert gradcheck(lambda t: getattr(activations, name)(t, **kwargs), [x])


def test_sparsemax_keeps_several_entries_where_they_are_close():
    """The simplex projection itself, where Keras 3.15 is wrong: [0.1, 0.8, 0.9] keeps its
    two largest, tau = (0.8 + 0.9 - 1) / 2."""
    got = activations.sparsemax(np.array([[0.1, 0.8, 0.9]])).numpy()
    np.testing.assert_allclose(got, [[0.0, 0.45, 0.55]], atol=1e-7)


@pytest.mark.parametrize("name", NEW_NAMES)
def test_the_new_activations_run_on_the_cuda_device_as_on_the_cpu(name, rng):
    pytest.importorskip("numba_cuda")
    x = sparsemax_input(name, {}, (2, 4), rng)
    kwargs = ARGUMENTS.get(name, {})
    results = []
    for device in ("cpu", "cuda"):
        t = ac.Tensor(x, requires_grad=True, device=device)
        out = getattr(activations, name)(t, **kwargs)
        (out * out).sum().backward()
        results.append((out.numpy(), ac.Tensor(t.grad).numpy()))
    for gpu, cpu in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in NEW_NAMES if n != "threshold"])
def test_a_dense_layer_with_a_new_activation_travels_to_keras_and_back(tmp_path, name):
    """Dense(..., activation=name) saved by each loads in the other with the same predictions
    (threshold is left out: it needs arguments a name cannot carry, in Keras too; sparsemax's
    predictions are autoconv's own, as Keras 3.15's are wrong where it keeps several entries)."""
    keras = keras_or_skip()
    x = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    ours = ac.Sequential([ac.layers.Input(shape=(5,)), ac.layers.Dense(4, activation=name)])
    ours.set_weights([np.linspace(-1, 1, 20).reshape(5, 4), np.linspace(-0.3, 0.3, 4)])
    assert ours.layers[-1].get_config()["activation"] == name
    ours.save(tmp_path / "ours.keras")
    theirs = keras.saving.load_model(tmp_path / "ours.keras")
    expected = ours.predict(x, verbose=0)
    if name != "sparsemax":
        np.testing.assert_allclose(expected, theirs.predict(x, verbose=0), rtol=2e-5, atol=2e-6)
    theirs.save(tmp_path / "theirs.keras")
    back = ac.saving.load_model(tmp_path / "theirs.keras")
    assert back.layers[-1].activation is getattr(activations, name)
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, rtol=2e-5, atol=2e-6)


# Each public activation called on a functional graph's symbolic tensor (keras.io's
# memory_efficient_embeddings: keras.activations.sigmoid(logits) * 5), with relu's arguments too.
IN_GRAPHS = [(name, ARGUMENTS.get(name, {})) for name in sorted(KERAS_NAMES)] + [
    ("relu", {"negative_slope": 0.1, "max_value": 1.5, "threshold": 0.3}),
    ("relu", {"max_value": 6.0}),
    ("relu", {"negative_slope": 0.5}),
]
# Keras 3.15 cannot apply these to a KerasTensor (they convert it to NumPy): their values are
# compared with Keras's on the Dense layer's output, their graph's ops are autoconv's keras.ops
KERAS_CANNOT = {
    "hard_silu": ["hard_silu (HardSilu)"],
    "hard_swish": ["hard_silu (HardSilu)"],
    "mish": ["softplus (Softplus)", "tanh (Tanh)", "multiply (Multiply)"],
    "sparsemax": ["sparsemax (Sparsemax)"],
}


def summary_rows(model):
    """The summary's "name (type)" cells, layers and ops in order."""
    lines = []
    model.summary(line_length=120, print_fn=lambda text, **_: lines.extend(text.splitlines()))
    return [line.split("│")[1].strip() for line in lines if line.startswith("│")]


@pytest.mark.parametrize(("name", "kwargs"), IN_GRAPHS, ids=[f"{n}{k}" for n, k in IN_GRAPHS])
def test_each_activation_on_a_graphs_tensor_is_an_op_of_the_model_as_in_keras(
    keras, name, kwargs, rng
):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    weights = [rng.standard_normal((3, 4)).astype(np.float32), np.linspace(-1, 1, 4, dtype="f")]

    def model_of(lib):
        lib.backend.clear_session()
        inputs = lib.Input((3,))
        dense = lib.layers.Dense(4)
        model = lib.Model(inputs, getattr(lib.activations, name)(dense(inputs), **kwargs))
        dense.set_weights(weights)
        return model

    ours = model_of(ac)
    got = ours.predict(x, verbose=0)
    rows = summary_rows(ours)
    assert rows[:2] == ["input_layer (InputLayer)", "dense (Dense)"]
    if name in KERAS_CANNOT:
        logits = keras.ops.convert_to_tensor(x @ weights[0] + weights[1])
        expected = keras.ops.convert_to_numpy(getattr(keras.activations, name)(logits))
        if name == "sparsemax":  # Keras 3.15's is wrong where it keeps several entries
            expected = activations.sparsemax(x @ weights[0] + weights[1]).numpy()
        assert rows[2:] == KERAS_CANNOT[name]
    else:
        theirs = model_of(keras)
        expected = theirs.predict(x, verbose=0)
        if not kwargs or name != "relu":  # Keras's relu is one op, its own ReLU (see below)
            keras_rows = [r.replace("re_lu (ReLU)", "relu (Relu)") for r in summary_rows(theirs)]
            assert rows == keras_rows
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("softmax", [activations.softmax, ac.ops.softmax], ids=["activation", "op"])
def test_a_softmax_over_an_axis_of_size_one_warns_as_keras(softmax):
    with pytest.warns(UserWarning, match="This axis has size 1.*Did you mean to use a sigmoid"):
        out = softmax(np.array([[0.3], [2.0]], np.float32))
    np.testing.assert_array_equal(out.numpy(), [[1.0], [1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        softmax(np.ones((2, 3), np.float32))
        softmax(np.ones((2, 1), np.float32), axis=0)


# ------------------------------------------------------ registered custom activation functions
REGISTERED = "activation_tests"


@functools.cache
def squared(lib):
    """``x ** 2`` written against ``lib`` (autoconv or Keras), registered in it as
    ``activation_tests>squared``."""

    @lib.saving.register_keras_serializable(package=REGISTERED, name="squared")
    def custom_fn(x):
        return lib.ops.square(x)

    return custom_fn


@functools.cache
def keras_only(lib):
    """An activation registered in ``lib`` alone (autoconv never registers it)."""

    @lib.saving.register_keras_serializable(package=REGISTERED)
    def only_in_keras(x):
        return x * 3.0

    return only_in_keras


def dense_model(lib, activation):
    model = lib.Sequential([lib.Input(shape=(3,)), lib.layers.Dense(2, activation=activation)])
    model.set_weights([np.linspace(-1, 1, 6).reshape(3, 2), np.array([0.1, -0.2])])
    return model


@pytest.mark.parametrize("how", ["serialize", "get_config"])
def test_a_registered_function_is_saved_as_keras_saves_it(how):
    keras = keras_or_skip()

    def saved(lib, fn):
        if how == "serialize":
            return lib.activations.serialize(fn)
        return lib.layers.Dense(1, activation=fn).get_config()["activation"]

    expected = saved(keras, squared(keras))
    assert saved(ac, squared(ac)) == expected
    assert expected["config"] == f"{REGISTERED}>squared"


@pytest.mark.parametrize("given", ["registered", "custom_objects", "scope"])
def test_keras_function_entry_gives_the_function(given):
    keras = keras_or_skip()
    entry = keras.activations.serialize(squared(keras))

    def mine(x):
        return x

    if given == "registered":
        registered = squared(ac)
        assert activations.deserialize(entry) is registered
        assert activations.get(entry) is registered
        return
    unknown = {**entry, "config": "elsewhere>mine"}
    if given == "custom_objects":
        assert activations.deserialize(unknown, custom_objects={"elsewhere>mine": mine}) is mine
    else:
        with ac.saving.custom_object_scope({"elsewhere>mine": mine}):
            assert activations.get(unknown) is mine


def test_a_bare_name_finds_the_function_registered_under_a_package():
    """Keras 3.6 and older wrote a registered function by its name alone: Keras 3.15 finds it
    by ``"<package>>name"``, and so does autoconv."""
    keras = keras_or_skip()
    registered = squared(ac)
    bare = {**keras.activations.serialize(squared(keras)), "config": "squared"}
    assert keras.activations.get(bare) is squared(keras)
    assert activations.get(bare) is registered


def test_an_unregistered_function_is_written_by_its_name_and_a_lambda_refused():
    keras = keras_or_skip()

    def unregistered(x):
        return x

    assert activations.serialize(unregistered) == keras.activations.serialize(unregistered)
    assert ac.layers.Dense(1, activation=unregistered).get_config()["activation"]["config"] == (
        "unregistered"
    )
    with pytest.raises(ValueError, match="nor a user's named function"):
        activations.serialize(lambda x: x)
    with pytest.raises(NotImplementedError, match=r"<lambda>.*is a custom function"):
        ac.layers.Dense(1, activation=lambda x: x).get_config()
    entry = keras.activations.serialize(keras_only(keras))
    with pytest.raises(TypeError, match=f"Could not locate function '{REGISTERED}>only_in_keras"):
        activations.get(entry)


@pytest.mark.parametrize("saved_by", ["keras", "autoconv"])
def test_a_dense_layer_with_a_registered_activation_travels_both_ways(tmp_path, saved_by):
    keras = keras_or_skip()
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(4, 3)
    saver, loader = (keras, ac) if saved_by == "keras" else (ac, keras)
    registered = squared(loader)  # (registered before the file is read)
    model = dense_model(saver, squared(saver))
    model.save(tmp_path / "model.keras")
    loaded = loader.saving.load_model(tmp_path / "model.keras")
    assert loaded.layers[-1].activation is registered
    expected = np.asarray(model.predict(x, verbose=0))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)


@pytest.mark.parametrize("given", ["custom_objects", "nothing"])
def test_a_keras_file_names_an_activation_autoconv_was_not_given(tmp_path, given):
    keras = keras_or_skip()
    dense_model(keras, keras_only(keras)).save(tmp_path / "model.keras")
    name = f"{REGISTERED}>only_in_keras"
    if given == "nothing":
        with pytest.raises(ValueError, match=f"(?i)could not locate function '{name}'"):
            ac.saving.load_model(tmp_path / "model.keras")
        return

    def tripled(x):
        return x * 3.0

    loaded = ac.saving.load_model(tmp_path / "model.keras", custom_objects={name: tripled})
    assert loaded.layers[-1].activation is tripled
