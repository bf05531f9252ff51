"""The augmentation policies RandAugment and AugMix (autoconv/layers/augmentation_policies.py)
against real Keras 3.15 (its PyTorch backend, where installed): ``transform_images`` given
Keras's own draws, float32 and float64 (with gradients), configs and errors; a float64
gradcheck; the draws' structure, seeds and inference; and the layers on the CUDA device (the
simulator) and in a short fit on both devices (RandAugment's steps replay, AugMix's do not)."""

from __future__ import annotations

import random

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.layers.serialization import deserialize
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

# (layer, arguments, images' shape, their value range)
CASES = [
    ("RandAugment", {"num_ops": 3}, (2, 5, 6, 3), (0, 255)),
    ("RandAugment", {"value_range": (0, 1), "factor": (0.2, 0.9), "interpolation": "nearest"},
     (3, 4, 4, 3), (0, 1)),
    ("AugMix", {}, (2, 5, 6, 3), (0, 255)),
    ("AugMix", {"value_range": (0, 1), "num_chains": 2, "chain_depth": 4, "factor": 0.6,
                "alpha": 0.5, "all_ops": False}, (3, 4, 4, 3), (0, 1)),
]  # fmt: skip
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


def images(rng, shape, value_range=(0, 255), dtype=np.float32) -> np.ndarray:
    return rng.uniform(*value_range, shape).astype(dtype)


def to_numpy(draws):
    """Keras's draws (torch tensors in dicts and lists) as NumPy arrays, in its structure."""
    if isinstance(draws, dict):
        return {key: to_numpy(value) for key, value in draws.items()}
    if isinstance(draws, list):
        return [to_numpy(value) for value in draws]
    return draws.numpy() if hasattr(draws, "numpy") else draws


def keras_layer(keras, name, kwargs, seed, dtype="float32"):
    """Keras's layer, its draws seeded. On torch, Keras's RandomBrightness adds to its input in
    place (``images += delta``), so RandAugment's images are brightened whichever sub-layer is
    chosen; it is given a copy here, as on Keras's other backends."""
    keras.utils.set_random_seed(seed)
    random.seed(seed)  # AugMix's choices (Python's random)
    layer = getattr(keras.layers, name)(seed=seed, dtype=dtype, **kwargs)
    brightness = getattr(layer, "random_brightness", None)
    if brightness is not None:
        in_place = brightness.transform_images
        brightness.transform_images = lambda x, t, training=True: in_place(x * 1, t, training)
    return layer


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("name", "kwargs", "shape", "value_range"), CASES, ids=IDS)
def test_float32_transform_matches_keras_with_kerass_draws(
    keras, name, kwargs, shape, value_range, seed, rng
):
    import torch

    x = images(rng, shape, value_range)
    theirs = keras_layer(keras, name, kwargs, seed)
    draws = theirs.get_random_transformation(torch.tensor(x))
    expected = theirs.transform_images(torch.tensor(x), draws).numpy()
    out = getattr(layers, name)(**kwargs).transform_images(ac.Tensor(x), to_numpy(draws))
    assert out.dtype == np.float32 and out.shape == shape
    scale = value_range[1] - value_range[0]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=2e-6 * scale)


@pytest.mark.parametrize(("name", "kwargs", "shape", "value_range"), CASES, ids=IDS)
def test_float64_outputs_and_gradients_match_keras(keras, name, kwargs, shape, value_range, rng):
    import torch

    x = images(rng, shape, value_range, np.float64)
    theirs = keras_layer(keras, name, kwargs, 4, "float64")
    reference = torch.tensor(x, requires_grad=True)
    draws = theirs.get_random_transformation(reference)
    expected = theirs.transform_images(reference, draws)
    mine = ac.Tensor(x, requires_grad=True)
    layer = getattr(layers, name)(dtype="float64", **kwargs)
    out = layer.transform_images(mine, to_numpy(draws))
    tolerance = {"rtol": 1e-5, "atol": 1e-5 * (value_range[1] - value_range[0])}
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **tolerance)
    upstream = rng.standard_normal(shape)
    (out * upstream).sum().backward()
    (expected * reference.new_tensor(upstream)).sum().backward()
    np.testing.assert_allclose(mine.grad, reference.grad.numpy(), **tolerance)


def test_gradcheck_through_the_policies(rng):
    shape = (2, 4, 4, 3)
    x = images(rng, shape, (0.2, 0.8), np.float64)
    rand = layers.RandAugment((0, 1), num_ops=3, factor=0.3, dtype="float64")
    draws = rand.random_transformation(shape, rng)
    draws["layer_idxes"] = np.array([2, 5, 6])  # rotation, contrast, sharpness
    assert gradcheck(lambda t: rand.transform_images(t, draws), [x])
    mix = layers.AugMix((0, 1), num_chains=2, factor=0.2, dtype="float64")
    draws = mix.random_transformation(shape, rng)
    draws["chain_transforms"] = [
        [{"layer_name": name, "transformation": getattr(mix, name).random_transformation(
            shape, rng)} for name in names]
        for names in (["random_translation", "random_color_degeneration"], ["random_contrast"])
    ]  # fmt: skip
    assert gradcheck(lambda t: mix.transform_images(t, draws), [x])


def test_draws_are_in_kerass_structure_and_order(keras):
    import torch

    shape = (3, 4, 4, 3)
    ours = layers.RandAugment(num_ops=4).random_transformation(shape, np.random.default_rng(2))
    theirs = keras.layers.RandAugment(num_ops=4).get_random_transformation(torch.zeros(shape))
    assert list(ours) == list(theirs) and list(ours["transforms"]) == list(theirs["transforms"])
    assert ours["layer_idxes"].shape == (4,)
    first = np.random.default_rng(2).integers(0, 11, 4)
    np.testing.assert_array_equal(ours["layer_idxes"], first)
    mix = layers.AugMix(num_chains=4, chain_depth=5, alpha=0.7)
    draws = mix.random_transformation(shape, np.random.default_rng(3))
    assert list(draws) == ["chain_mixing_weights", "weight_sample", "chain_transforms"]
    rng = np.random.default_rng(3)
    gamma = rng.gamma(0.7, size=4).astype(np.float32)
    np.testing.assert_allclose(draws["chain_mixing_weights"], gamma / gamma.sum(), rtol=1e-6)
    assert draws["weight_sample"] == np.float32(rng.beta(0.7, 0.7))
    chains = draws["chain_transforms"]
    assert len(chains) == 4 and all(len(chain) <= 5 for chain in chains)
    assert {step["layer_name"] for chain in chains for step in chain} <= set(mix.names)
    assert len(layers.AugMix(all_ops=False).names) == 7 and len(mix.names) == 11


def plain(config: dict) -> dict:
    """A sub-layer's config but its name and seed, its pairs as lists of floats."""

    def value(v):
        return [float(x) for x in v] if isinstance(v, tuple | list) else v

    return {k: value(v) for k, v in config.items() if k not in ("name", "seed")}


def test_sub_layers_are_made_as_kerass(keras):
    for name, kwargs in (("RandAugment", {"factor": 0.7}), ("AugMix", {"all_ops": False})):
        ours, theirs = getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
        assert [sub for sub in ours.names if hasattr(theirs, sub)] == list(ours.names)
        for sub in ours.names:
            mine, keras_sub = getattr(ours, sub).get_config(), getattr(theirs, sub).get_config()
            assert plain(mine) == plain(keras_sub), sub


# ------------------------------------------------------------------------- configs
CONFIG_CASES = [
    ("RandAugment", {}),
    ("RandAugment", {"value_range": [0, 1], "num_ops": 3, "factor": (0.2, 0.6),
                     "interpolation": "nearest", "seed": 3}),
    ("AugMix", {}),
    ("AugMix", {"value_range": (-1, 1), "num_chains": 2, "chain_depth": 1, "factor": 0.5,
                "alpha": 0.5, "all_ops": False, "interpolation": "nearest", "seed": 2}),
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
    ("RandAugment", {"factor": 1.5}, r"in the range \[0, 1\]"),
    ("RandAugment", {"value_range": 3}, "`value_range` argument should be a list"),
    ("RandAugment", {"num_ops": -1}, "`num_ops` must be an int of at least 0"),
    ("RandAugment", {"num_ops": 1.5}, "`num_ops` must be an int"),
    ("AugMix", {"factor": (0.1, 0.2, 0.3)}, "`factor` argument"),
    ("AugMix", {"num_chains": 0}, "`num_chains` must be an int of at least 1"),
    ("AugMix", {"chain_depth": -2}, "`chain_depth` must be an int of at least 0"),
    ("AugMix", {"alpha": 0.0}, "`alpha` must be a number above 0"),
    ("AugMix", {"all_ops": "yes"}, "`all_ops` must be True or False"),
    ("AugMix", {"data_format": "nchw"}, "`data_format` argument must be one of"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), ERROR_CASES)
def test_bad_arguments_raise_one_clear_error(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(layers, name)(**kwargs)


def test_an_unknown_interpolation_is_kerass_error(keras):
    for library in (keras.layers, layers):
        with pytest.raises(NotImplementedError, match="Unknown `interpolation`"):
            library.RandAugment(interpolation="cubic")


# ------------------------------------------------------------- seeds and inference
@pytest.mark.parametrize("name", ["RandAugment", "AugMix"])
def test_a_call_draws_once_from_its_seed_and_inference_passes(name, rng):
    x = images(rng, (3, 4, 5, 3))
    layer = getattr(layers, name)(factor=0.8, seed=6)
    draws = layer.random_transformation(x.shape, np.random.default_rng(6))
    want = getattr(layers, name)(factor=0.8).transform_images(ac.Tensor(x), draws).numpy()
    first = layer(x).numpy()
    np.testing.assert_allclose(first, want, rtol=1e-6, atol=1e-4)
    assert not np.array_equal(layer(x).numpy(), first)  # the generator moves on
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    one = getattr(layers, name)(factor=0.8, seed=6)(x[0])
    assert one.shape == x.shape[1:]


# ---------------------------------------------------------------- the CUDA device
@pytest.mark.cudasim
def test_the_policies_on_the_gpu_give_the_cpus_images(rng):
    pytest.importorskip("numba_cuda")
    x = images(rng, (2, 3, 4, 3))
    for name, kwargs in (("RandAugment", {"num_ops": 1}), ("AugMix", {"num_chains": 2})):
        want = getattr(layers, name)(seed=7, **kwargs)(x).numpy()
        on_gpu = getattr(layers, name)(seed=7, **kwargs)(ac.Tensor(x).to("cuda"))
        assert on_gpu.device == "cuda", name
        np.testing.assert_allclose(on_gpu.numpy(), want, rtol=1e-5, atol=1e-3, err_msg=name)


def policy_model(policy: layers.Layer) -> ac.Model:
    """A small classifier behind ``policy``, its weights a fixed pattern."""
    model = ac.Sequential([
        ac.Input((3, 3, 3)), layers.Rescaling(255.0), policy, layers.Rescaling(1 / 255),
        layers.Flatten(), layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.1
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


@pytest.mark.cudasim
@pytest.mark.parametrize(
    ("make", "replayed"),
    [
        (lambda: layers.RandAugment(num_ops=1, factor=0.9, seed=2), True),
        (lambda: layers.AugMix(num_chains=2, chain_depth=2, seed=2), False),
    ],
    ids=["RandAugment", "AugMix"],
)
def test_fit_on_the_gpu_gives_the_cpus_losses(make, replayed):
    """The same seeds give the same losses on both devices. RandAugment's steps replay,
    drawing anew; AugMix's chains change from step to step, so its steps run eagerly."""
    data = np.random.default_rng(3)
    x = data.random((8, 3, 3, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[data.integers(0, 3, 8)]
    losses = fit_on_both_devices(
        lambda: policy_model(make()), x, y, lambda: ac.optimizers.SGD(0.1), replayed=replayed
    )
    assert losses[0][0] != losses[0][1]
