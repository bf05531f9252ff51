"""SeparableConv1D, DepthwiseConv1D and Conv1DTranspose (and their aliases) against real Keras
3.15 (its PyTorch backend, where installed): outputs and gradients with the same weights in
float64, weight names, shapes and parameter counts, configs, errors and files both ways; a
float64 gradcheck; and a short fit on the CPU and on the CUDA device (the simulator) giving the
same losses. ``keras_and_ours`` is shared with the pooling and merging tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.layers.serialization import deserialize
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

NAMES = ("SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose")


def weights_for(layer: Any, rng: np.random.Generator) -> list[np.ndarray]:
    """Random weights away from their initial ones, so that a wrong layout shows."""
    return [rng.uniform(0.5, 1.5, w.shape) * rng.choice([-1, 1], w.shape) for w in layer.weights]


def keras_and_ours(keras, name: str, kwargs: dict, inputs: list[np.ndarray], rng) -> tuple:
    """The layer ``name`` of autoconv and of Keras (float64, the same weights) on ``inputs``
    (one array, or a list for a merging layer): each one's output, the inputs' gradients and
    the weights' gradients for one random upstream. Checks weight names and counts on the way."""
    import torch

    ours = getattr(layers, name)(dtype="float64", **kwargs)
    theirs = getattr(keras.layers, name)(dtype="float64", **kwargs)
    shapes = [(None, *x.shape[1:]) for x in inputs]
    ours.build(shapes if len(inputs) > 1 else shapes[0])
    theirs.build(shapes if len(inputs) > 1 else shapes[0])
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.count_params() == theirs.count_params()
    values = weights_for(ours, rng)
    ours.set_weights(values)
    theirs.set_weights(values)
    mine = [ac.Tensor(x, requires_grad=True) for x in inputs]
    out = ours(mine if len(inputs) > 1 else mine[0])
    upstream = rng.standard_normal(out.shape)
    (out * upstream).sum().backward()
    reference = [torch.tensor(x, requires_grad=True) for x in inputs]
    expected = theirs(reference if len(inputs) > 1 else reference[0])
    (expected * torch.tensor(upstream)).sum().backward()
    return (
        [out.numpy(), *(x.grad for x in mine), *(w.grad for w in ours.weights)],
        [expected.detach().numpy(), *(x.grad.numpy() for x in reference),
         *(w.value.grad.numpy() for w in theirs.weights)],
    )  # fmt: skip


# (name, arguments, one sample's shape): strides, dilation, both paddings, multipliers, no bias,
# the transposed convolution's output padding
CASES = [
    ("SeparableConv1D", {"filters": 3, "kernel_size": 3}, (7, 2)),
    ("SeparableConv1D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same",
                         "depth_multiplier": 2}, (7, 3)),
    ("SeparableConv1D", {"filters": 2, "kernel_size": 2, "dilation_rate": 2, "use_bias": False,
                         "activation": "tanh"}, (6, 2)),
    ("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}, (6, 2)),
    ("DepthwiseConv1D", {"kernel_size": 2, "strides": 3}, (8, 3)),
    ("DepthwiseConv1D", {"kernel_size": (3,), "dilation_rate": 2, "padding": "SAME",
                         "activation": "relu"}, (5, 2)),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, (4, 2)),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1},
     (4, 2)),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 4, "strides": 3, "padding": "same",
                         "output_padding": 2}, (3, 2)),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same",
                         "use_bias": False}, (4, 3)),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 2, "strides": 3, "activation": "relu"},
     (3, 2)),
]  # fmt: skip
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES, ids=IDS)
def test_outputs_and_gradients_match_keras(keras, name, kwargs, shape, rng):
    x = rng.standard_normal((2, *shape))
    ours, theirs = keras_and_ours(keras, name, kwargs, [x], rng)
    assert [a.shape for a in ours] == [b.shape for b in theirs]
    for mine, expected in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES, ids=IDS)
def test_shapes_and_float32(keras, name, kwargs, shape, rng):
    ours, theirs = getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    expected = tuple(theirs.compute_output_shape((None, *shape)))
    assert ours.compute_output_shape((None, *shape)) == expected
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    out = ours(x)
    assert out.dtype == np.float32 and out.shape == (3, *expected[1:])


@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES[::2], ids=IDS[::2])
def test_gradcheck_through_the_layer(name, kwargs, shape, rng):
    layer = getattr(layers, name)(dtype="float64", **kwargs)
    layer.build((None, *shape))
    names = [w.path.split("/")[-1] for w in layer.weights]

    def fn(x, *weights):
        for weight_name, weight in zip(names, weights, strict=True):
            setattr(layer, weight_name, weight)  # the call reads them: gradients reach them
        return layer(x)

    assert gradcheck(fn, [rng.standard_normal((2, *shape)), *weights_for(layer, rng)])


def test_aliases_and_the_kernel_layouts():
    assert layers.SeparableConvolution1D is layers.SeparableConv1D
    assert layers.Convolution1DTranspose is layers.Conv1DTranspose
    assert layers.Convolution1D is layers.Conv1D
    layer = layers.DepthwiseConv1D(3, depth_multiplier=2)
    layer.build((None, 6, 4))
    assert layer.kernel.shape == (3, 4, 2) and layer.bias.shape == (8,)
    transposed = layers.Conv1DTranspose(5, 3)
    transposed.build((None, 6, 4))
    assert transposed.kernel.shape == (3, 5, 4)


CONFIG_CASES = [
    ("SeparableConv1D", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same",
                         "depth_multiplier": 3, "activation": "relu", "use_bias": False,
                         "depthwise_initializer": "he_normal", "pointwise_regularizer": "l2",
                         "bias_constraint": "non_neg"}, (8, 2)),
    ("DepthwiseConv1D", {"kernel_size": 2, "dilation_rate": 2, "depth_multiplier": 2,
                         "depthwise_constraint": "unit_norm", "bias_initializer": "ones"},
     (8, 2)),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "output_padding": 1,
                         "kernel_regularizer": "l2", "activity_regularizer": {
                             "class_name": "L1L2", "config": {"l1": 0.5, "l2": 0.25}}},
     (5, 2)),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 2}, (5, 2)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "shape"), CONFIG_CASES)
def test_configs_are_keras_and_read_back(keras, name, kwargs, shape):
    ours = ac.Sequential([ac.Input(shape), getattr(layers, name)(**kwargs)]).layers[-1]
    theirs = keras.Sequential([keras.Input(shape), getattr(keras.layers, name)(**kwargs)])
    config, expected = ours.get_config(), theirs.layers[-1].get_config()
    assert {**config, "name": None} == {**expected, "name": None}
    clone = deserialize({"class_name": name, "config": config})
    assert type(clone) is getattr(layers, name) and clone.get_config() == config


ERROR_CASES = [
    ("SeparableConv1D", {"filters": 2, "kernel_size": 2, "padding": "causal"},
     "padding` argument must be a list/tuple or one of"),
    ("DepthwiseConv1D", {"kernel_size": 2, "padding": "causal"},
     "padding` argument must be a list/tuple or one of"),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 2, "padding": "full"},
     "padding` argument must be a list/tuple or one of"),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 2},
     "`output_padding` must be"),
    ("SeparableConv1D", {"filters": 2, "kernel_size": (3, 3)},
     r"`kernel_size` argument must be a tuple of 1 integers"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "message"), ERROR_CASES)
def test_bad_arguments_raise_keras_errors(keras, name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(keras.layers, name)(**kwargs)
    with pytest.raises(ValueError, match=message):
        getattr(layers, name)(**kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_other_argument_checks(name):
    make = getattr(layers, name)
    args = (2, 3) if name != "DepthwiseConv1D" else (3,)
    with pytest.raises(ValueError, match="`data_format` argument must be one of"):
        make(*args, data_format="first")
    with pytest.raises(ValueError, match="`strides > 1` not supported in conjunction with"):
        make(*args, strides=2, dilation_rate=2)  # autoconv's, as its 2-D layers'
    with pytest.raises(ValueError, match=f"{name} .*input must be \\(batch, steps, channels\\)"):
        make(*args)(np.ones((2, 5, 5, 2), np.float32))
    if name != "Conv1DTranspose":  # an int pads both ends, as autoconv's Conv1D
        assert make(*args, padding=1).compute_output_shape((None, 5, 2))[1] == 5
        with pytest.raises(ValueError, match="depth_multiplier must be a positive int"):
            make(*args, depth_multiplier=0)


def sequence_model(lib) -> Any:
    """A small sequence classifier of the three layers, its weights a fixed pattern."""
    model = lib.Sequential([
        lib.Input((8, 3)), lib.layers.SeparableConv1D(4, 3, padding="same", depth_multiplier=2),
        lib.layers.DepthwiseConv1D(2, strides=2, activation="relu"),
        lib.layers.Conv1DTranspose(3, 3, strides=2, output_padding=1),
        lib.layers.Flatten(), lib.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def training_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 8, 3)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 12)]


def test_a_model_of_them_trains_as_in_keras_and_travels_both_ways(keras, tmp_path):
    x, y = training_data()
    ours, theirs = sequence_model(ac), sequence_model(keras)
    histories = []
    for model, lib in ((ours, ac), (theirs, keras)):
        model.compile(lib.optimizers.SGD(0.1), "categorical_crossentropy")
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0))
    np.testing.assert_allclose(histories[0].history["loss"], histories[1].history["loss"], 1e-5)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, np.asarray(expected), rtol=1e-4, atol=1e-5)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    expected = ours.predict(x, verbose=0)
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(np.asarray(from_ours.predict(x, verbose=0)), expected, 1e-5, 1e-6)
    from_theirs = ac.saving.load_model(tmp_path / "theirs.keras")
    assert [type(layer).__name__ for layer in from_theirs.layers[:3]] == list(NAMES)
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, 1e-5, 1e-6)


@pytest.mark.cudasim
def test_fit_on_the_gpu_gives_the_cpus_losses():
    x, y = training_data()
    fit_on_both_devices(lambda: sequence_model(ac), x, y)
