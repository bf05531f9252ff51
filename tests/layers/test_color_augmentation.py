"""The color augmentation layers (autoconv/layers/color_augmentation.py) against real Keras 3.15
(its PyTorch backend, where installed): each layer's ``transform_images`` given the same draws
in both libraries, float32 and float64 (with gradients), whole calls where Keras's draws are
fixed (degenerate factors), configs and errors; a float64 gradcheck; draws, seeds and inference;
and the layers on the CUDA device (the simulator) and in a short fit on both devices."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.layers.serialization import deserialize
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

NAMES = [
    "RandomGrayscale", "RandomInvert", "Solarization", "RandomPosterization", "AutoContrast",
    "RandomColorDegeneration", "RandomSaturation", "RandomHue", "RandomSharpness",
    "RandomColorJitter", "Equalization",
]  # fmt: skip
JITTER = {"brightness_factor": 0.2, "contrast_factor": (0.2, 0.5), "saturation_factor": 0.6,
          "hue_factor": 0.3}  # fmt: skip


def images(rng, shape=(3, 5, 6, 3), value_range=(0, 255), dtype=np.float32) -> np.ndarray:
    low, high = value_range
    return rng.uniform(low, high, shape).astype(dtype)


def to_torch(draws):
    """Our draws (NumPy, Keras's structure) as the torch tensors Keras's layer takes."""
    import torch

    if isinstance(draws, dict):
        return {key: to_torch(value) for key, value in draws.items()}
    return None if draws is None else torch.tensor(np.asarray(draws))


def keras_transform(keras, name, kwargs, x, draws, dtype="float32"):
    """Keras's ``transform_images`` of x with ``draws``; RandomColorJitter's (which draws
    inside) as its four layers' in turn."""
    import torch

    x = torch.tensor(x, requires_grad=x.dtype == np.float64)
    if name != "RandomColorJitter":
        layer = getattr(keras.layers, name)(dtype=dtype, **kwargs)
        return x, layer.transform_images(x, to_torch(draws), training=True)
    value_range = kwargs.get("value_range", (0, 255))
    out = x * 1  # Keras's RandomBrightness adds in place
    for key, kind in (("brightness", "RandomBrightness"), ("contrast", "RandomContrast"),
                      ("saturation", "RandomSaturation"), ("hue", "RandomHue")):  # fmt: skip
        if kwargs.get(f"{key}_factor") is not None:
            layer = getattr(keras.layers, kind)(kwargs[f"{key}_factor"], value_range, dtype=dtype)
            part = draws[key]
            if key in ("brightness", "contrast"):  # autoconv's draws of these are (N,)
                part = {k: np.reshape(v, (-1, 1, 1, 1)) for k, v in part.items()}
            out = layer.transform_images(out, to_torch(part), training=True)
    return x, out


# (layer, arguments, images' shape, their value range)
CASES = [
    ("RandomGrayscale", {"factor": 0.5}, (4, 3, 5, 3), (0, 255)),
    ("RandomGrayscale", {"factor": 0.7}, (3, 4, 4, 1), (0, 1)),
    ("RandomInvert", {"factor": (0.2, 0.9)}, (4, 3, 5, 2), (0, 255)),
    ("RandomInvert", {"value_range": (-1, 1)}, (3, 4, 3, 3), (-1, 1)),
    ("Solarization", {"addition_factor": 0.3, "threshold_factor": (0.2, 0.8)}, (3, 4, 5, 3),
     (0, 255)),
    ("Solarization", {"threshold_factor": 0.6, "value_range": (1, 0)}, (2, 3, 4, 2), (0, 1)),
    ("RandomPosterization", {"factor": 6}, (4, 3, 5, 3), (0, 255)),
    ("RandomPosterization", {"factor": (2, 5), "value_range": (-1, 1)}, (3, 4, 4, 1), (-1, 1)),
    ("AutoContrast", {}, (2, 4, 5, 3), (30, 200)),
    ("AutoContrast", {"value_range": (0, 1)}, (3, 3, 4, 2), (0.2, 0.7)),
    ("RandomColorDegeneration", {"factor": 0.8}, (3, 4, 5, 3), (0, 255)),
    ("RandomColorDegeneration", {"factor": (0.1, 0.6), "value_range": (0, 1)}, (2, 3, 3, 3),
     (0, 1)),
    ("RandomSaturation", {"factor": 0.9}, (3, 4, 5, 3), (0, 255)),
    ("RandomSaturation", {"factor": (0.2, 0.7), "value_range": (0, 1)}, (2, 3, 4, 3), (0, 1)),
    ("RandomHue", {"factor": 0.9}, (4, 4, 5, 3), (0, 255)),
    ("RandomHue", {"factor": (0.3, 1.0), "value_range": (0, 1)}, (3, 3, 4, 3), (0, 1)),
    ("RandomSharpness", {"factor": 0.9}, (3, 5, 5, 3), (0, 255)),
    ("RandomSharpness", {"factor": (0.1, 0.4), "value_range": (0, 1)}, (2, 4, 3, 2), (0, 1)),
    ("RandomColorJitter", JITTER, (3, 4, 5, 3), (0, 255)),
    ("RandomColorJitter", {"value_range": (0, 1), "hue_factor": 0.5, "contrast_factor": 0.4},
     (2, 3, 4, 3), (0, 1)),
    ("Equalization", {}, (2, 5, 6, 3), (0, 255)),
    ("Equalization", {"bins": 16, "value_range": (0, 1)}, (3, 4, 4, 2), (0, 1)),
]  # fmt: skip
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]
# Posterization casts the values to integers (Keras's output has no gradient either);
# Equalization's is 0 but where a channel lies in one bin (then 1)
NO_GRADIENT = ("RandomPosterization",)


def test_every_layer_is_tested():
    assert sorted({name for name, *_ in CASES}) == sorted(NAMES)


@pytest.mark.parametrize(("name", "kwargs", "shape", "value_range"), CASES, ids=IDS)
def test_float32_transform_matches_keras_with_the_same_draws(
    keras, name, kwargs, shape, value_range, rng
):
    x = images(rng, shape, value_range)
    layer = getattr(layers, name)(**kwargs)
    draws = layer.random_transformation(shape, rng)
    out = layer.transform_images(ac.Tensor(x), draws)
    _, expected = keras_transform(keras, name, kwargs, x, draws)
    assert out.dtype == np.float32 and out.shape == shape
    scale = value_range[1] - value_range[0]
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-5,
                               atol=2e-6 * scale)  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "shape", "value_range"), CASES, ids=IDS)
def test_float64_outputs_and_gradients_match_keras(keras, name, kwargs, shape, value_range, rng):
    x = images(rng, shape, value_range, np.float64)
    layer = getattr(layers, name)(dtype="float64", **kwargs)
    draws = layer.random_transformation(shape, rng)
    mine = ac.Tensor(x, requires_grad=True)
    out = layer.transform_images(mine, draws)
    reference, expected = keras_transform(keras, name, kwargs, x, draws, "float64")
    tolerance = {"rtol": 1e-5, "atol": 1e-5 * (value_range[1] - value_range[0])}
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **tolerance)
    if name in NO_GRADIENT:
        return
    upstream = rng.standard_normal(shape)
    (out * upstream).sum().backward()
    (expected * reference.new_tensor(upstream)).sum().backward()
    np.testing.assert_allclose(mine.grad, reference.grad.numpy(), **tolerance)


@pytest.mark.parametrize(("name", "kwargs", "shape", "value_range"), CASES, ids=IDS)
def test_gradcheck_through_the_transform(name, kwargs, shape, value_range, rng):
    layer = getattr(layers, name)(dtype="float64", **kwargs)
    x = images(rng, shape, value_range, np.float64)
    draws = layer.random_transformation(shape, rng)
    if name in NO_GRADIENT:  # whole numbers read from the values: a constant to autograd
        assert not layer.transform_images(ac.Tensor(x, requires_grad=True), draws).requires_grad
        return
    if name == "Equalization":  # piecewise constant, but for a channel in one bin
        x[..., 0] = 0.5 * (value_range[0] + value_range[1])
        mine = ac.Tensor(x, requires_grad=True)
        layer.transform_images(mine, draws).sum().backward()
        np.testing.assert_array_equal(mine.grad[..., 1:], 0.0)
        np.testing.assert_array_equal(mine.grad[..., 0], 1.0)
        return
    assert gradcheck(lambda t: layer.transform_images(t, draws), [x])


# Keras's draws fixed by degenerate factors: whole calls compared
FIXED = [
    ("RandomGrayscale", {"factor": 1.0}),
    ("RandomGrayscale", {"factor": 0.0}),
    ("RandomInvert", {"factor": (1.0, 1.0)}),
    ("Solarization", {}),
    ("Solarization", {"value_range": (0, 1)}),
    ("RandomPosterization", {"factor": (3, 3)}),
    ("AutoContrast", {}),
    ("RandomColorDegeneration", {"factor": (0.4, 0.4)}),
    ("RandomSaturation", {"factor": (0.3, 0.3)}),
    ("RandomHue", {"factor": 0.0}),
    ("RandomSharpness", {"factor": (0.8, 0.8)}),
    ("RandomColorJitter", {"brightness_factor": (0.1, 0.1), "saturation_factor": (0.7, 0.7)}),
    ("Equalization", {"bins": 64}),
]


@pytest.mark.parametrize(("name", "kwargs"), FIXED, ids=[f"{n}-{i}" for i, (n, _) in
                                                         enumerate(FIXED)])  # fmt: skip
def test_a_call_with_fixed_draws_is_kerass(keras, name, kwargs, rng):
    value_range = kwargs.get("value_range", (0, 255))
    x = images(rng, (3, 4, 5, 3), value_range)
    expected = getattr(keras.layers, name)(**kwargs)(x)
    out = getattr(layers, name)(**kwargs)(x)
    np.testing.assert_allclose(out.numpy(), np.asarray(expected.detach()), rtol=1e-5, atol=1e-4)
    one = getattr(layers, name)(**kwargs)(x[0])
    assert one.shape == x.shape[1:]


def test_draws_are_kerass_uniforms_in_kerass_order():
    n, shape = 4, (4, 3, 3, 3)

    def draws(layer):
        return layer.random_transformation(shape, np.random.default_rng(5))

    def u(*args, **kwargs):
        return np.random.default_rng(5).uniform(*args, **kwargs)

    np.testing.assert_array_equal(
        draws(layers.RandomGrayscale(0.3)).reshape(-1), u(size=n).astype(np.float32) < 0.3
    )
    rng = np.random.default_rng(5)
    p, t = rng.uniform(0.2, 0.6, n).astype(np.float32), rng.uniform(0, 1, n).astype(np.float32)
    invert = draws(layers.RandomInvert((0.2, 0.6)))["apply_inversion"]
    np.testing.assert_array_equal(invert, t < p)
    rng = np.random.default_rng(5)
    solar = draws(layers.Solarization(0.1, (0.2, 0.4)))
    additions = rng.uniform(0, 25.5, n).astype(np.float32)
    np.testing.assert_array_equal(solar["additions"].reshape(-1), additions)
    thresholds = rng.uniform(0.2, 102.0, n).astype(np.float32)
    np.testing.assert_array_equal(solar["thresholds"].reshape(-1), thresholds)
    shifts = draws(layers.RandomPosterization((2, 6)))["shift_factor"]
    np.testing.assert_array_equal(shifts, 8 - np.random.default_rng(5).integers(2, 6, n))
    assert set(draws(layers.RandomPosterization(4))["shift_factor"]) <= {5, 6, 7}  # [1, 4)
    np.testing.assert_array_equal(draws(layers.RandomPosterization((5, 5)))["shift_factor"], 3)
    saturation = draws(layers.RandomSaturation((0.2, 0.9)))["factor"]
    f = u(0.2, 0.9, n).astype(np.float32)
    np.testing.assert_array_equal(saturation, f / (np.float32(1) - f + np.float32(1e-7)))
    rng = np.random.default_rng(5)
    sign = np.where(rng.uniform(size=n).astype(np.float32) > 0.5, -1, 1)
    hue = sign * rng.uniform(0.1, 0.5, n).astype(np.float32) * np.float32(0.5)
    np.testing.assert_array_equal(draws(layers.RandomHue((0.1, 0.5)))["factor"], hue)
    jitter = draws(layers.RandomColorJitter(brightness_factor=0.2, hue_factor=0.1))
    assert list(jitter) == ["brightness", "hue"]


def test_factors_and_ranges_are_read_as_keras_reads_them():
    assert layers.RandomInvert().factor == (0, 1.0)
    assert layers.RandomInvert(0.4).factor == (0, 0.4)
    assert layers.Solarization(0.3, (0.5, 0.1)).addition_factor == (0, 0.3)
    assert layers.Solarization(0.3, (0.5, 0.1)).threshold_factor == (0.1, 0.5)
    assert layers.RandomPosterization(4).factor == (1, 4)
    assert layers.RandomColorDegeneration(0.3).factor == (-0.3, 0.3)
    assert layers.RandomSaturation((0.8, 0.2)).factor == (0.2, 0.8)
    assert layers.RandomHue(0.3).factor == (0, 0.3)
    assert layers.RandomSharpness(0.3).factor == (0, 0.3)
    assert layers.AutoContrast((255, 0)).value_range == [0, 255]
    assert layers.RandomHue(0.1, (1, 0)).value_range == (1, 0)  # Keras keeps it as given


def test_constant_channels_and_one_bin_channels_are_left_as_they_are(rng):
    x = images(rng, (2, 3, 4, 3))
    x[0, :, :, 1] = 17.0
    out = layers.AutoContrast()(x).numpy()
    np.testing.assert_array_equal(out[0, :, :, 1], 17.0)
    np.testing.assert_allclose(out.min(axis=(1, 2))[[0, 0, 1], [0, 2, 0]], 0.0, atol=1e-4)
    np.testing.assert_allclose(out.max(axis=(1, 2))[[0, 0, 1], [0, 2, 0]], 255.0, rtol=1e-6)
    x[:, :, :, 2] = 3.0
    np.testing.assert_array_equal(layers.Equalization()(x).numpy()[..., 2], 3.0)
    np.testing.assert_array_equal(layers.Equalization()(x, training=False).numpy(), x)
    np.testing.assert_array_equal(  # AutoContrast is no augmentation: inference applies it
        layers.AutoContrast()(x, training=False).numpy(), layers.AutoContrast()(x).numpy()
    )


# ------------------------------------------------------------------------- configs
CONFIG_CASES = [
    ("RandomGrayscale", {}), ("RandomGrayscale", {"factor": 0.2, "seed": 3}),
    ("RandomInvert", {}), ("RandomInvert", {"factor": (0.2, 0.5), "value_range": [0, 1]}),
    ("Solarization", {}), ("Solarization", {"addition_factor": (0.4, 0.1), "seed": 2,
                                            "threshold_factor": 0.5, "value_range": (1, 0)}),
    ("RandomPosterization", {"factor": 5}), ("RandomPosterization", {"factor": (2, 4),
                                                                     "value_range": (0, 1)}),
    ("AutoContrast", {}), ("AutoContrast", {"value_range": (1, -1)}),
    ("RandomColorDegeneration", {"factor": 0.3, "seed": 1}),
    ("RandomSaturation", {"factor": (0.2, 0.6), "value_range": (0, 1)}),
    ("RandomHue", {"factor": 0.4}), ("RandomHue", {"factor": (0.1, 0.2), "value_range": [0, 1]}),
    ("RandomSharpness", {"factor": 0.6, "value_range": (0, 1), "seed": 9}),
    ("RandomColorJitter", {}), ("RandomColorJitter", {**JITTER, "seed": 4}),
    ("Equalization", {}), ("Equalization", {"bins": 32, "value_range": (-1, 1)}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs"), CONFIG_CASES)
def test_configs_are_keras_and_read_back(keras, name, kwargs):
    ours = getattr(layers, name)(**kwargs)
    theirs = getattr(keras.layers, name)(**kwargs)
    config = ours.get_config()
    assert {**config, "name": None} == {**theirs.get_config(), "name": None}
    assert list(config) == list(theirs.get_config())  # (in Keras's order: seed last)
    clone = deserialize({"class_name": name, "config": config})
    assert type(clone) is type(ours) and clone.get_config() == config


ERROR_CASES = [
    ("RandomGrayscale", {"factor": 1.5}, "`factor` should be between 0 and 1"),
    ("RandomInvert", {"factor": 2.0}, r"in the range \[0, 1\]"),
    ("Solarization", {"addition_factor": 1.5}, "Received: input_number=1.5|addition_factor=1.5"),
    ("Solarization", {"threshold_factor": (0.1, 0.2, 0.3)}, "threshold_factor"),
    ("Solarization", {"value_range": 3}, "`value_range` argument should be a list"),
    ("RandomPosterization", {"factor": 9}, r"in the range \[1, 8\]"),
    ("AutoContrast", {"value_range": (0, 1, 2)}, "`value_range` argument should be a list"),
    ("RandomColorDegeneration", {"factor": 1.5}, r"in the range \[-1, 1\]"),
    ("RandomSaturation", {"factor": (0.1,)}, "`factor` argument"),
    ("RandomHue", {"factor": -0.5}, r"in the range \[0, 1\]"),
    ("RandomSharpness", {"factor": 2}, r"in the range \[0, 1\]"),
    ("RandomColorJitter", {"hue_factor": 3.0}, r"in the range \[0, 1\]"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), ERROR_CASES)
def test_bad_arguments_raise_keras_errors(keras, name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(keras.layers, name)(**kwargs)
    with pytest.raises(ValueError, match=message):
        getattr(layers, name)(**kwargs)


def test_other_argument_checks(rng):
    with pytest.raises(ValueError, match="whole numbers of bits"):
        layers.RandomPosterization(2.5)
    with pytest.raises(ValueError, match="`bins` should be an int"):
        layers.Equalization(bins=0)
    with pytest.raises(ValueError, match="`factor` should be between 0 and 1"):
        layers.RandomGrayscale("half")
    with pytest.raises(ValueError, match="`value_range` argument"):
        layers.RandomHue(0.1, value_range=("a", 1))
    with pytest.raises(ValueError, match="must have 3 channels"):
        layers.RandomColorDegeneration(0.2)(images(rng, (2, 3, 3, 2)))
    with pytest.raises(ValueError, match="Input images must have 3 channels"):
        layers.RandomSaturation(0.2)(images(rng, (2, 3, 3, 2)))


# ------------------------------------------------------------- seeds and inference
def make(name, **kwargs):
    """Each layer with options that change every image."""
    arguments = {"RandomGrayscale": {"factor": 0.9}, "RandomPosterization": {"factor": 3},
                 "Solarization": {"threshold_factor": 0.5, "addition_factor": 0.2},
                 "RandomColorJitter": JITTER}.get(name, {})  # fmt: skip
    if name in ("RandomColorDegeneration", "RandomSaturation", "RandomHue", "RandomSharpness"):
        arguments = {"factor": 0.9}
    if name in ("AutoContrast", "Equalization"):
        return getattr(layers, name)(**arguments)
    return getattr(layers, name)(**arguments, **kwargs)


RANDOM = [name for name in NAMES if name not in ("AutoContrast", "Equalization")]


@pytest.mark.parametrize("name", RANDOM)
def test_seeds_repeat_inference_passes_and_one_image_is_a_batch_of_one(name, rng):
    x = images(rng, (6, 4, 5, 3))

    def run(**kwargs):
        layer = make(name, **kwargs)
        return [layer(x, training=True).numpy() for _ in range(2)]

    first, again = run(seed=11), run(seed=11)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])  # the generator moves on between calls
    ac.utils.set_random_seed(4)
    unseeded = run()
    ac.utils.set_random_seed(4)
    for a, b in zip(unseeded, run(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(make(name, seed=1)(x, training=False).numpy(), x)
    one = make(name, seed=8)(x[0])
    np.testing.assert_array_equal(one.numpy(), make(name, seed=8)(x[:1]).numpy()[0])


def test_a_jitters_call_draws_each_part_once_in_turn(rng):
    x = images(rng, (3, 4, 5, 3))
    layer = layers.RandomColorJitter(**JITTER, seed=6)
    draws = layer.random_transformation(x.shape, np.random.default_rng(6))
    want = layers.RandomColorJitter(**JITTER).transform_images(ac.Tensor(x), draws)
    np.testing.assert_allclose(layer(x).numpy(), want.numpy(), rtol=1e-6, atol=1e-4)


# ---------------------------------------------------------------- the CUDA device
@pytest.mark.cudasim
def test_every_layer_on_the_gpu_gives_the_cpus_images(rng):
    pytest.importorskip("numba_cuda")
    x = images(rng, (2, 3, 4, 3))
    for name in NAMES:
        want = make(name, seed=7)(x, training=True).numpy()
        on_gpu = make(name, seed=7)(ac.Tensor(x).to("cuda"), training=True)
        assert on_gpu.device == "cuda", name
        np.testing.assert_allclose(on_gpu.numpy(), want, rtol=1e-5, atol=1e-3, err_msg=name)


def augmenting_model(seed: int) -> ac.Model:
    """A small classifier behind a few of the layers, its weights a fixed pattern."""
    model = ac.Sequential([
        ac.Input((4, 4, 3)), layers.Rescaling(255.0), layers.RandomInvert(0.5, seed=seed),
        layers.Solarization(0.1, 0.6, seed=seed), layers.RandomSharpness(0.7, seed=seed),
        layers.RandomColorDegeneration(0.5, seed=seed), layers.AutoContrast(),
        layers.RandomPosterization(6, seed=seed), layers.Equalization(bins=32),
        layers.RandomColorJitter(brightness_factor=0.2, contrast_factor=0.3,
                                 saturation_factor=0.4, hue_factor=0.2, seed=seed),
        layers.Rescaling(1 / 255), layers.Flatten(), layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.1
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


@pytest.mark.cudasim
def test_fit_on_the_gpu_gives_the_cpus_losses():
    """The draws are the host's on either device: the same seeds give the same losses."""
    data = np.random.default_rng(3)
    x = data.random((8, 4, 4, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[data.integers(0, 3, 8)]
    # computed on the device: the steps replay, drawing anew
    losses = fit_on_both_devices(
        lambda: augmenting_model(seed=2), x, y, lambda: ac.optimizers.SGD(0.1), replayed=True
    )
    assert losses[0][0] != losses[0][1]
