"""The 3-D layers (Conv3D, Conv3DTranspose, MaxPooling3D, AveragePooling3D,
GlobalAveragePooling3D, GlobalMaxPooling3D, UpSampling3D, ZeroPadding3D, Cropping3D,
SpatialDropout3D) against real Keras 3.15 (its PyTorch backend, where installed): outputs and
gradients with the same weights in float64, weight names and parameter counts, output shapes,
configs, errors and a model's files both ways; a float64 gradcheck; and a short fit on the CPU
and on the CUDA device (the simulator) giving the same losses. (Each layer's config and
files alone: the LAYERS rows of tests/saving/test_keras_layers.py.)"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

import autoconv as ac
from autoconv.layers import volumetric
from autoconv.layers.serialization import deserialize
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

NAMES = [
    "Conv3D", "Conv3DTranspose", "MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D",
    "GlobalMaxPooling3D", "UpSampling3D", "ZeroPadding3D", "Cropping3D", "SpatialDropout3D",
]  # fmt: skip
CLASSES = {name: getattr(volumetric, name) for name in NAMES}
OURS = SimpleNamespace(**CLASSES)  # in place of keras.layers


def weights_for(layer, rng) -> list[np.ndarray]:
    """Random weights away from their initial ones, so that a wrong layout shows."""
    return [rng.uniform(0.5, 1.5, w.shape) * rng.choice([-1, 1], w.shape) for w in layer.weights]


# (layer, arguments, one sample's shape): every option that changes what the layer computes
CASES = [
    ("Conv3D", {"filters": 3, "kernel_size": (2, 3, 2)}, (4, 5, 4, 2)),
    ("Conv3D", {"filters": 2, "kernel_size": 3, "strides": (2, 1, 2), "padding": "same",
                "activation": "tanh"}, (5, 4, 5, 2)),
    ("Conv3D", {"filters": 4, "kernel_size": 2, "dilation_rate": (2, 1, 2), "groups": 2,
                "use_bias": False}, (4, 3, 4, 2)),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": (2, 3, 2)}, (2, 3, 3, 2)),
    ("Conv3DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
                         "output_padding": (1, 0, 1)}, (2, 3, 2, 2)),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "dilation_rate": (1, 2, 1),
                         "activation": "relu"}, (3, 2, 3, 1)),
    ("MaxPooling3D", {}, (4, 5, 4, 2)),
    ("MaxPooling3D", {"pool_size": (2, 3, 2), "strides": 1, "padding": "same"}, (3, 4, 3, 2)),
    ("AveragePooling3D", {"pool_size": (3, 2, 2), "strides": (1, 2, 1)}, (4, 5, 4, 2)),
    ("AveragePooling3D", {"pool_size": 3, "strides": 1, "padding": "same"}, (3, 4, 3, 2)),
    ("GlobalAveragePooling3D", {}, (3, 4, 2, 3)),
    ("GlobalMaxPooling3D", {"keepdims": True}, (3, 4, 2, 3)),
    ("UpSampling3D", {"size": (2, 1, 3)}, (2, 3, 2, 2)),
    ("ZeroPadding3D", {"padding": (1, 0, 2)}, (2, 3, 2, 2)),
    ("ZeroPadding3D", {"padding": ((1, 0), (0, 2), (2, 1))}, (2, 3, 2, 2)),
    ("Cropping3D", {"cropping": ((1, 0), (1, 2), (0, 1))}, (3, 5, 4, 2)),
    ("Cropping3D", {"cropping": 1}, (3, 4, 3, 2)),
    ("SpatialDropout3D", {"rate": 0.4}, (2, 3, 2, 2)),  # inference: the identity
]  # fmt: skip
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES, ids=IDS)
def test_outputs_and_gradients_match_keras(keras, name, kwargs, shape, rng):
    import torch

    x = rng.standard_normal((2, *shape))
    ours = CLASSES[name](dtype="float64", **kwargs)
    theirs = getattr(keras.layers, name)(dtype="float64", **kwargs)
    ours.build((None, *shape))
    theirs.build((None, *shape))
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.compute_output_shape((None, *shape)) == tuple(
        theirs.compute_output_shape((None, *shape))
    )
    values = weights_for(ours, rng)
    ours.set_weights(values)
    theirs.set_weights(values)
    mine, reference = ac.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(mine), theirs(reference)
    assert out.shape == tuple(expected.shape)
    assert ours.count_params() == theirs.count_params()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-7, atol=1e-7)
    upstream = rng.standard_normal(out.shape)
    (out * upstream).sum().backward()
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-7, atol=1e-7)
    for weight, their_weight in zip(ours.weights, theirs.weights, strict=True):
        np.testing.assert_allclose(weight.grad, their_weight.value.grad.numpy(), 1e-7, 1e-7)


GRADCHECK_CASES = [
    ("Conv3D", {"filters": 2, "kernel_size": 2, "strides": (1, 2, 1), "padding": "same"}),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": (2, 1, 1)}),
    ("MaxPooling3D", {"pool_size": 2, "strides": 1}),
    ("AveragePooling3D", {"pool_size": (2, 2, 3), "padding": "same"}),
    ("UpSampling3D", {"size": (1, 2, 1)}),
    ("ZeroPadding3D", {"padding": (1, 0, 1)}),
    ("Cropping3D", {"cropping": ((0, 1), (1, 0), (1, 1))}),
]


@pytest.mark.parametrize(("name", "kwargs"), GRADCHECK_CASES, ids=[c[0] for c in GRADCHECK_CASES])
def test_gradcheck_through_the_layer(name, kwargs, rng):
    shape = (1, 2, 3, 3, 2)
    layer = CLASSES[name](dtype="float64", **kwargs)
    layer.build((None, *shape[1:]))
    names = [w.path.split("/")[-1] for w in layer.weights]

    def fn(x, *weights):
        for weight_name, weight in zip(names, weights, strict=True):
            setattr(layer, weight_name, weight)  # the call reads them: gradients reach them
        return layer(x)

    assert gradcheck(fn, [rng.standard_normal(shape), *weights_for(layer, rng)])


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)])
def test_spatial_dropout_drops_whole_volumes(device, rng):
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    x = rng.uniform(1.0, 2.0, (4, 2, 3, 2, 6))
    layer = volumetric.SpatialDropout3D(0.5, seed=1, dtype="float64")
    out = layer(ac.Tensor(x, device=device), training=True).numpy()
    kept = out != 0
    assert (kept == kept[:, :1, :1, :1, :]).all()  # one draw per (sample, channel)
    assert 0 < kept[:, 0, 0, 0].sum() < 24
    np.testing.assert_allclose(out[kept], 2 * x[kept])
    first = volumetric.SpatialDropout3D(0.5, data_format="channels_first")
    dropped = first(np.ones((2, 4, 2, 2, 2), np.float32), training=True).numpy()
    assert (dropped == dropped[:, :, :1, :1, :1]).all()


def test_aliases_are_the_classes():
    layers = ac.layers
    assert layers.Convolution3D is layers.Conv3D
    assert layers.Convolution3DTranspose is layers.Conv3DTranspose
    assert layers.MaxPool3D is layers.MaxPooling3D and layers.AvgPool3D is layers.AveragePooling3D
    assert layers.GlobalAvgPool3D is layers.GlobalAveragePooling3D
    assert layers.GlobalMaxPool3D is layers.GlobalMaxPooling3D


CONFIG_CASES = [
    ("Conv3D", {"filters": 2, "kernel_size": (1, 2, 3), "strides": 2, "padding": "SAME",
                "kernel_initializer": "he_normal", "bias_regularizer": "l2",
                "kernel_constraint": "non_neg"}),
    ("Conv3DTranspose", {"filters": 3, "kernel_size": 2, "strides": (2, 1, 2),
                         "output_padding": (1, 0, 0), "use_bias": False}),
    ("MaxPooling3D", {"pool_size": 3, "strides": (1, 2, 1), "padding": "same"}),
    ("AveragePooling3D", {"pool_size": 2}),
    ("GlobalMaxPooling3D", {"keepdims": True}),
    ("UpSampling3D", {"size": 3}),
    ("ZeroPadding3D", {"padding": 2}),
    ("Cropping3D", {"cropping": (1, 2, 0)}),
    ("SpatialDropout3D", {"rate": 0.3, "seed": 5}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_configs_are_keras_and_read_back(keras, name, kwargs):
    config = CLASSES[name](**kwargs).get_config()
    expected = getattr(keras.layers, name)(**kwargs).get_config()
    plain = json.loads(json.dumps(config))  # as its file gives it back: tuples as lists
    assert {**plain, "name": None} == json.loads(json.dumps({**expected, "name": None}))
    clone = deserialize({"class_name": name, "config": config})
    assert type(clone) is CLASSES[name] and clone.get_config() == config


ERROR_CASES = [
    ("Conv3D", {"filters": 2, "kernel_size": (2, 2)}, (3, 3, 3, 1), "kernel_size"),
    ("Conv3D", {"filters": 2, "kernel_size": 2, "strides": 2, "dilation_rate": 2}, (3, 3, 3, 1),
     "dilation_rate > 1"),
    ("Conv3D", {"filters": 3, "kernel_size": 2, "groups": 2}, (3, 3, 3, 2), "divisible"),
    ("Conv3D", {"filters": 2, "kernel_size": 2, "padding": "causal"}, (3, 3, 3, 1), "padding"),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2, "output_padding": 2},
     (2, 2, 2, 1), "output_padding"),
    ("MaxPooling3D", {"pool_size": (2, 2)}, (3, 3, 3, 1), "pool_size"),
    ("UpSampling3D", {"size": (2, 0, 1)}, (2, 2, 2, 1), "size"),
    ("ZeroPadding3D", {"padding": (1, 2)}, (2, 2, 2, 1), "should have 3 elements"),
    ("Cropping3D", {"cropping": -1}, (3, 3, 3, 1), "cannot be negative"),
    ("Cropping3D", {"cropping": ((1, 1), (0, 0), (0, 0))}, (2, 3, 3, 1), "should be smaller"),
    ("GlobalAveragePooling3D", {}, (3, 3, 1), "expected ndim=5"),
    ("Conv3D", {"filters": 2, "kernel_size": 2}, (3, 3, 1), "ndim=5"),  # Keras: min_ndim=5
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 2}, (3, 3, 1), "ndim=5"),
    ("SpatialDropout3D", {"rate": 0.5}, (3, 3, 1), "expected ndim=5"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "shape", "message"), ERROR_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])  # fmt: skip
def test_bad_arguments_raise_keras_errors(keras, name, kwargs, shape, message):
    with pytest.raises(ValueError, match=message):
        keras.Sequential([keras.Input(shape), getattr(keras.layers, name)(**kwargs)])
    with pytest.raises(ValueError, match=message):
        ac.Sequential([ac.Input(shape), CLASSES[name](**kwargs)])


def volume_model(lib, module, rate: float = 0.0) -> object:
    """A small volume classifier of the layers, its weights a fixed pattern (no dropout by
    default: the same steps everywhere)."""
    model = lib.Sequential([
        lib.Input((4, 5, 4, 2)), module.ZeroPadding3D((0, 1, 0)),
        module.Conv3D(3, 2, activation="relu"), module.SpatialDropout3D(rate, seed=1),
        module.MaxPooling3D((1, 2, 1)), module.Conv3DTranspose(2, 2, strides=(1, 1, 2)),
        module.Cropping3D(((0, 1), (0, 0), (1, 1))), module.UpSampling3D((1, 1, 2)),
        module.AveragePooling3D(2), module.GlobalAveragePooling3D(),
        lib.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def training_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 4, 5, 4, 2)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]


def test_a_model_of_them_trains_as_in_keras_and_travels_both_ways(keras, tmp_path):
    x, y = training_data()
    ours, theirs = volume_model(ac, OURS), volume_model(keras, keras.layers)
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
    loaded = [type(layer).__name__ for layer in from_theirs.layers]
    assert loaded == [type(layer).__name__ for layer in ours.layers]
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, 1e-5, 1e-6)


@pytest.mark.cudasim
def test_fit_on_the_gpu_gives_the_cpus_losses():
    x, y = training_data()
    fit_on_both_devices(lambda: volume_model(ac, OURS), x, y, replayed=True)
