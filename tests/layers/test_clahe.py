"""ContrastLimitedAdaptiveHistogramEqualization against real Keras 3.15 (its PyTorch backend,
where installed): outputs for value ranges, tile grids, clip limits, images of whole numbers
(0 ... 255) and of floats, batched and one image; configs and errors; no gradient; and a model
of it fitting on the CPU and on the CUDA device (the simulator)."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.layers.clahe import ContrastLimitedAdaptiveHistogramEqualization as CLAHE
from autoconv.layers.serialization import deserialize
from tests.layers.devices import fit_on_both_devices

NAME = "ContrastLimitedAdaptiveHistogramEqualization"

# (input shape, value range, arguments). Keras 3.15's PyTorch backend departs from its others
# twice: it counts the histograms as int64 (its one_hot's default dtype; float32 elsewhere),
# which truncates the clip limit, clip_limit * tile pixels / 256, to a whole count; and its
# pad's "symmetric" is "replicate" (the same for one row or column of padding, not for more).
# autoconv computes as the other backends. These cases' limits are whole counts (or there is
# no clipping) and their padding at most one row and one column, so the two agree;
# ON_TENSORFLOW checks the others against Keras on TensorFlow.
CASES = [
    ((2, 16, 16, 3), (0, 255), {"tile_grid_size": (2, 2)}),  # tiles of 64 pixels: limit 1
    ((2, 9, 11, 2), (0, 255), {"tile_grid_size": (2, 3), "clip_limit": 0.0}),  # padded tiles
    ((12, 10, 1), (0, 255), {"tile_grid_size": (3, 2), "clip_limit": 12.8}),  # 4 x 5: limit 1
    ((2, 8, 8, 2), (0, 1), {"tile_grid_size": (2, 2), "clip_limit": 32.0}),  # limit 2
    ((7, 6, 3), (-1, 1), {"tile_grid_size": (1, 2), "clip_limit": -1.0}),  # no clipping
    ((1, 11, 12, 1), (0.0, 1.0), {"tile_grid_size": (4, 4), "clip_limit": 256.0}),  # limit 9
]
IDS = [f"{shape}-{value_range}-{kwargs}" for shape, value_range, kwargs in CASES]


def images(shape, value_range, rng) -> np.ndarray:
    """Whole numbers 0 ... 255 for (0, 255) (a uint8 image as floats), else floats in the range."""
    if tuple(value_range) == (0, 255):
        return rng.integers(0, 256, shape).astype(np.float32)
    low, high = value_range
    return (rng.random(shape) * (high - low) + low).astype(np.float32)


@pytest.mark.parametrize(("shape", "value_range", "kwargs"), CASES, ids=IDS)
def test_outputs_match_keras(keras, shape, value_range, kwargs, rng):
    x = images(shape, value_range, rng)
    theirs = getattr(keras.layers, NAME)(value_range=value_range, **kwargs)(x)
    out = CLAHE(value_range=value_range, **kwargs)(x)
    assert out.dtype == np.float32 and out.shape == shape
    scale = value_range[1] - value_range[0]
    np.testing.assert_allclose(out.numpy(), theirs.numpy(), rtol=1e-5, atol=2e-5 * scale)
    with ac.no_grad():  # the same in inference: not a random layer
        np.testing.assert_array_equal(CLAHE(value_range=value_range, **kwargs)(x, training=False)
                                      .numpy(), out.numpy())  # fmt: skip


# Keras 3.15.1 on TensorFlow 2.21 (float32 histograms and symmetric padding, as autoconv's):
# a batch of one image of whole numbers and one image of floats in (0, 1), of tiles whose clip
# limit is no whole count (9 pixels: 4 * 9 / 256; 6 pixels: 3 * 6 / 256; 9 pixels: 2 * 9 /
# 256), the last padded by two rows.
ON_TENSORFLOW = [
    (((np.arange(36) * 37) % 256).reshape(1, 6, 6, 1), {"clip_limit": 4.0},
     [[0.0, 44.4699, 81.9914, 114.2466, 154.1599, 194.8769],
      [222.1434, 6.6792, 48.3503, 80.8136, 118.2167, 161.6765],
      [187.9218, 228.2246, 10.8513, 46.6122, 82.7896, 124.4782],
      [151.4734, 191.5333, 230.9895, 10.7911, 49.2445, 89.2789],
      [113.3893, 155.2475, 196.921, 232.6933, 16.0895, 59.4099],
      [77.8633, 117.6383, 161.411, 199.187, 236.963, 24.8769]]),
    ((((np.arange(20) * 7) % 20) / 19.0).reshape(4, 5, 1), {"clip_limit": 3.0,
                                                            "value_range": (0, 1)},
     [[0.0, 0.366806, 0.73677, 0.054145, 0.432368],
      [0.800837, 0.107795, 0.479197, 0.847782, 0.170744],
      [0.526808, 0.895123, 0.206769, 0.576613, 0.946866],
      [0.267726, 0.633863, 1.0, 0.312918, 0.684821]]),
    (((np.arange(21) * 11) % 256).reshape(1, 7, 3, 1), {"clip_limit": 2.0,
                                                        "tile_grid_size": (3, 1)},
     [[0.0, 12.3198, 24.6396], [36.9594, 49.2792, 61.599], [71.8227, 83.7931, 95.7636],
      [101.438, 112.7019, 123.9657], [132.1983, 144.1018, 156.0052],
      [165.9996, 178.266, 190.5323], [199.3525, 210.7054, 222.0583]]),
]  # fmt: skip


@pytest.mark.parametrize(("x", "kwargs", "expected"), ON_TENSORFLOW)
def test_fractional_clip_limits_and_wider_padding_match_keras_on_tensorflow(x, kwargs, expected):
    out = CLAHE(**({"tile_grid_size": (2, 2)} | kwargs))(x.astype(np.float32)).numpy()
    np.testing.assert_allclose(out.reshape(np.shape(expected)), expected, atol=1e-4)


def test_one_tile_without_clipping_is_histogram_equalization(rng):
    """One tile and no clip: each value mapped to 255 * (cdf - cdf_min) / (pixels - cdf_min)."""
    x = rng.integers(0, 256, (1, 5, 7, 1)).astype(np.float32)
    out = CLAHE(tile_grid_size=(1, 1), clip_limit=0)(x).numpy()
    counts = np.bincount(x.astype(int).ravel(), minlength=256)
    cdf = np.cumsum(counts)
    table = 255 * (cdf - cdf[0]) / (x.size - cdf[0])
    np.testing.assert_allclose(out, table[x.astype(int)], rtol=1e-5)


def test_it_passes_no_gradient(rng):
    x = ac.Tensor(images((2, 8, 8, 1), (0, 255), rng), requires_grad=True)
    out = CLAHE(tile_grid_size=(2, 2))(x)
    assert not out.requires_grad


CONFIG_CASES = [
    {},
    {"value_range": (0, 1), "clip_limit": 2.0, "tile_grid_size": (4, 2)},
    {"value_range": [-1, 1], "clip_limit": 0, "tile_grid_size": [3, 3]},
]


@pytest.mark.parametrize("kwargs", CONFIG_CASES)
def test_configs_are_keras_and_read_back(keras, kwargs):
    ours = ac.Sequential([ac.Input((8, 8, 3)), CLAHE(**kwargs)]).layers[-1]
    theirs = keras.Sequential([keras.Input((8, 8, 3)), getattr(keras.layers, NAME)(**kwargs)])
    config, expected = ours.get_config(), theirs.layers[-1].get_config()
    assert {**config, "name": None} == {**expected, "name": None}
    clone = deserialize({"class_name": NAME, "config": expected})
    assert type(clone) is CLAHE and clone.get_config() == expected
    assert ac.layers.ContrastLimitedAdaptiveHistogramEqualization is CLAHE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"clip_limit": "high"}, "clip_limit must be a number"),
     ({"tile_grid_size": 8}, "tile_grid_size must be a tuple of 2 positive ints"),
     ({"tile_grid_size": (0, 2)}, "tile_grid_size must be a tuple of 2 positive ints"),
     ({"tile_grid_size": (2, 2, 2)}, "tile_grid_size must be a tuple of 2 positive ints"),
     ({"value_range": (0, 1, 2)}, "value_range"),
     ({"data_format": "nchw"}, "`data_format` argument must be one of")],
)  # fmt: skip
def test_bad_arguments_are_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CLAHE(**kwargs)


def test_images_of_another_rank_are_refused():
    with pytest.raises(ValueError, match="Expected image tensor to have rank 3"):
        CLAHE()(np.zeros((4, 4), np.float32))


def equalizing_model() -> ac.Model:
    model = ac.Sequential([
        ac.Input((8, 8, 1)), CLAHE(value_range=(0, 1), tile_grid_size=(2, 2), clip_limit=16.0),
        ac.layers.Conv2D(2, 3), ac.layers.Flatten(), ac.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.1
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


@pytest.mark.cudasim
def test_fit_on_the_gpu_gives_the_cpus_losses():
    rng = np.random.default_rng(3)
    x = rng.random((8, 8, 8, 1)).astype(np.float32)
    fit_on_both_devices(equalizing_model, x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)])
