"""The Dot layer and ``dot`` against real Keras 3.15 (its PyTorch backend, where installed) and
a NumPy reference: outputs and gradients in float64 for Keras's ``batch_dot`` axes (ints,
negative, pairs, with and without ``normalize``), output shapes, configs, errors and a
two-input model's files both ways; a float64 gradcheck; and a short fit on the CPU and on the
CUDA device (the simulator) giving the same losses."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices
from tests.layers.test_convolutional_1d import keras_and_ours

# (axes, normalize, one sample's shape of each input, the einsum of batch_dot)
CASES = [
    (1, False, (4,), (4,), "bi,bi->b"),
    (-1, True, (3, 4), (5, 4), "bik,bjk->bij"),
    ((1, 2), False, (3, 5), (2, 3), "bki,bjk->bij"),
    ((2, 1), True, (2, 3, 4), (3, 5), "bijk,bjl->bikl"),
    (1, False, (4,), (4, 3), "bk,bkj->bj"),
    ((2, 1), False, (3, 4), (4,), "bik,bk->bi"),
    ((3, 1), False, (2, 3, 4), (4, 2, 2), "bijk,bklm->bijlm"),
    ([-2, -1], True, (3, 2), (4, 3), "bki,bjk->bij"),
]
IDS = [f"{axes}-{normalize}-{a}-{b}" for axes, normalize, a, b, _ in CASES]


def reference(x, y, axes, normalize, formula):
    """NumPy's batch_dot: the L2-normalized inputs (when ``normalize``) contracted."""
    if normalize:
        pair = (axes, axes) if isinstance(axes, int) else axes
        x = x / np.linalg.norm(x, axis=pair[0], keepdims=True)
        y = y / np.linalg.norm(y, axis=pair[1], keepdims=True)
    out = np.einsum(formula, x, y)
    return out.reshape(-1, 1) if out.ndim == 1 else out


@pytest.mark.parametrize(("axes", "normalize", "a", "b", "formula"), CASES, ids=IDS)
def test_outputs_and_gradients_match_keras(keras, axes, normalize, a, b, formula, rng):
    x, y = rng.standard_normal((3, *a)), rng.standard_normal((3, *b))
    kwargs = {"axes": axes, "normalize": normalize}
    ours, theirs = keras_and_ours(keras, "Dot", kwargs, [x, y], rng)
    assert [v.shape for v in ours] == [v.shape for v in theirs]
    # Keras's PyTorch backend multiplies float64 in float32 (its float64 Dot's output is
    # float32): it agrees to float32's precision, and NumPy's float64 product to 1e-12
    for mine, expected in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, expected, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(ours[0], reference(x, y, axes, normalize, formula), rtol=1e-12)
    layer, keras_layer = layers.Dot(axes), keras.layers.Dot(axes)
    shapes = [(None, *a), (None, *b)]
    assert layer.compute_output_shape(shapes) == tuple(keras_layer.compute_output_shape(shapes))


@pytest.mark.parametrize(("axes", "normalize", "a", "b", "formula"), CASES[1::2], ids=IDS[1::2])
def test_gradcheck(axes, normalize, a, b, formula, rng):
    layer = layers.Dot(axes, normalize=normalize, dtype="float64")
    inputs = [rng.standard_normal((2, *a)), rng.standard_normal((2, *b))]
    assert gradcheck(lambda x, y: layer([x, y]), inputs)


def test_the_function_and_a_symbolic_call():
    left, right = ac.Input((3, 4)), ac.Input((5, 4))
    out = layers.dot([left, right], axes=2, normalize=True, name="cosines")
    assert out.shape == (None, 3, 5)
    model = ac.Model([left, right], out)
    assert model.layers[-1].name == "cosines" and model.layers[-1].normalize
    ones = np.ones((2, 3, 4), np.float32)
    np.testing.assert_allclose(model.predict([ones, np.ones((2, 5, 4))], verbose=0), 1, 1e-6)
    assert layers.dot([np.ones((2, 3)), np.ones((2, 3))]).shape == (2, 1)  # axes=-1


@pytest.mark.parametrize("kwargs", [{"axes": 1}, {"axes": (1, 2), "normalize": True},
                                    {"axes": [-1, 1]}])  # fmt: skip
def test_configs_are_keras_and_read_back(keras, kwargs):
    ours, theirs = layers.Dot(**kwargs), keras.layers.Dot(**kwargs)
    assert {**ours.get_config(), "name": None} == {**theirs.get_config(), "name": None}
    config = ours.get_config()
    clone = layers.deserialize({"class_name": "Dot", "config": config})
    assert type(clone) is layers.Dot and clone.get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"axes": "last"}, TypeError, "Invalid type for argument `axes`"),
        ({"axes": (1, 2, 3)}, ValueError, "it should contain two elements"),
        ({"axes": (1, 1.5)}, ValueError, "list elements should be integers"),
    ],
)
def test_bad_axes_raise_keras_errors(keras, kwargs, error, message):
    with pytest.raises(error, match=message):
        keras.layers.Dot(**kwargs)
    with pytest.raises(error, match=message):
        layers.Dot(**kwargs)


@pytest.mark.parametrize(
    ("axes", "shapes", "message"),
    [
        (1, [(3,), (4,)], "Incompatible input shapes: axis values 3"),
        ((1, 2), [(3, 2), (2, 4)], "Incompatible input shapes"),
        (0, [(3,), (3,)], "Cannot perform batch_dot over axis 0"),
        (3, [(3, 2), (3, 2)], "axis 3 is out of bounds"),
        (1, [(3,)], "should be called on a list of 2 inputs"),
        (1, [(3,), (3,), (3,)], "should be called on a list of 2 inputs"),
    ],
)
def test_bad_inputs_are_clear_errors(axes, shapes, message):
    with pytest.raises(ValueError, match=message):
        layers.Dot(axes)([ac.Input(shape) for shape in shapes])


def test_batch_sizes_and_ranks_must_fit():
    with pytest.raises(ValueError, match="Cannot do batch_dot on inputs with different batch"):
        layers.Dot(1)([np.ones((2, 3)), np.ones((3, 3))])
    with pytest.raises(ValueError, match="Cannot do batch_dot on inputs with rank < 2"):
        layers.Dot(0)([np.ones(3), np.ones(3)])


@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"])
def test_elementwise_merges_refuse_different_batch_sizes_as_keras(keras, name):
    inputs = [np.ones((2, 3), np.float32), np.ones((1, 3), np.float32)]
    for lib in (keras, ac):
        with pytest.raises(ValueError, match="Cannot merge tensors with different batch sizes"):
            getattr(lib.layers, name)()(inputs)
    assert layers.Add()([np.ones((2, 1, 3)), np.ones((2, 4, 3))]).shape == (2, 4, 3)


def two_input_model(lib) -> Any:
    """Two sequences, their cosine similarities and dot products with a Dense view, then a
    classifier; the weights a fixed pattern."""
    left, right = lib.Input((4, 3)), lib.Input((5, 3))
    cosines = lib.layers.Dot(axes=-1, normalize=True)([left, lib.layers.Dense(3)(right)])
    products = lib.layers.dot([cosines, lib.layers.Dense(4)(right)], axes=(1, 2))
    out = lib.layers.Dense(2, activation="softmax")(lib.layers.Flatten()(products))
    model = lib.Model([left, right], out)
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def training_data() -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(5)
    x = [rng.standard_normal((8, 4, 3)).astype(np.float32),
         rng.standard_normal((8, 5, 3)).astype(np.float32)]  # fmt: skip
    return x, np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]


def test_a_model_with_dot_trains_as_in_keras_and_travels_both_ways(keras, tmp_path):
    x, y = training_data()
    ours, theirs = two_input_model(ac), two_input_model(keras)
    histories = []
    for model, lib in ((ours, ac), (theirs, keras)):
        model.compile(lib.optimizers.SGD(0.1), "categorical_crossentropy")
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0))
    np.testing.assert_allclose(histories[0].history["loss"], histories[1].history["loss"], 1e-5)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    expected = ours.predict(x, verbose=0)
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), expected, 1e-5, 1e-6)
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(np.asarray(from_ours.predict(x, verbose=0)), expected, 1e-5, 1e-6)
    from_theirs = ac.saving.load_model(tmp_path / "theirs.keras")
    assert sum(type(layer) is layers.Dot for layer in from_theirs.layers) == 2
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, 1e-5, 1e-6)


@pytest.mark.cudasim
def test_fit_on_the_gpu_gives_the_cpus_losses():
    x, y = training_data()
    fit_on_both_devices(lambda: two_input_model(ac), x, y)
