"""Resizing as tf.image.resize: PyTorch's half-pixel bilinear and nearest-exact (the same
definitions, without antialiasing) as references, and hand-checked values."""

from __future__ import annotations

import numpy as np
import pytest

from autoconv.data.resize import (
    INTERPOLATIONS,
    crop_box,
    resize,
    resize_with_pad,
    smart_resize,
    taps,
)
from autoconv.preprocessing.image import smart_resize as public_smart_resize

SHAPES = [
    ((7, 5), (3, 4)),
    ((13, 29), (16, 9)),
    ((4, 4), (4, 4)),
    ((1, 3), (5, 1)),
    ((30, 17), (60, 2)),
]


def dense(index, weights, n):
    """One row of taps as weights over all n input pixels."""
    return np.bincount(index, weights, minlength=n)


def torch_resize(torch, image, size, mode):
    x = torch.tensor(image, dtype=torch.float64).permute(2, 0, 1)[None]
    corners = {"align_corners": False, "antialias": False} if mode == "bilinear" else {}
    y = torch.nn.functional.interpolate(x, size=size, mode=mode, **corners)
    return y[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize(("shape", "size"), SHAPES)
def test_bilinear_and_nearest_as_torch_half_pixel(torch, rng, shape, size):
    image = rng.integers(0, 256, (*shape, 3)).astype(np.uint8)
    out = resize(image, size, "bilinear")
    assert out.dtype == np.float32 and out.shape == (*size, 3)
    np.testing.assert_allclose(out, torch_resize(torch, image, size, "bilinear"), atol=1e-3)
    nearest = resize(image, size, "nearest")
    np.testing.assert_array_equal(nearest, torch_resize(torch, image, size, "nearest-exact"))


def test_area_averages_the_covered_cells(torch, rng):
    image = rng.random((12, 8, 2)).astype(np.float32)
    reference = torch_resize(torch, image, (4, 2), "area")
    np.testing.assert_allclose(resize(image, (4, 2), "area"), reference, atol=1e-6)
    # a non-integer ratio: output cell 0 of 3 -> 2 covers input cell 0 and half of cell 1
    out = resize(np.array([[[3.0], [6.0], [9.0]]]), (1, 2), "area")
    np.testing.assert_allclose(out[0, :, 0], [(3 + 6 / 2) / 1.5, (6 / 2 + 9) / 1.5])


def test_bicubic_uses_tensorflow_keys_kernel_and_its_table():
    # 2 -> 4: the samples sit at -0.25, 0.25, 0.75, 1.25; Keys(a=-0.5) weights, taps outside
    # the image dropped and the rest renormalized
    index, weights = taps(2, 4, "bicubic")

    def keys(x):
        return (1.5 * x - 2.5) * x * x + 1 if x < 1 else ((-0.5 * x + 2.5) * x - 4) * x + 2

    w = [keys(0.25), keys(0.75)]  # sample 0.25 between pixels 0 and 1 (others out of range)
    np.testing.assert_allclose(dense(index[1], weights[1], 2), np.array(w) / sum(w), rtol=1e-6)
    # 3 -> 7: output 2 samples at 2.5 * 3/7 - 0.5 = 0.571428..., which TensorFlow's 1024-entry
    # coefficient table rounds to 585/1024; tap -1 is outside the image
    index, weights = taps(3, 7, "bicubic")
    row = dense(index[2], weights[2], 3)

    def expected(p):
        w = np.array([keys(abs(j - p)) for j in (0, 1, 2)])
        return w / w.sum()

    np.testing.assert_allclose(row, expected(585 / 1024), rtol=1e-6)
    assert not np.allclose(row, expected(2.5 * 3 / 7 - 0.5), rtol=1e-4)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_every_interpolation_keeps_a_constant_image(interpolation):
    out = resize(np.full((5, 7, 2), 42, np.uint8), (3, 11), interpolation)
    np.testing.assert_allclose(out, 42, rtol=1e-5)


def test_same_size_is_identity_where_tensorflow_is():
    image = np.arange(20, dtype=np.float32).reshape(4, 5, 1)
    for interpolation in ("bilinear", "nearest", "area", "bicubic", "lanczos3"):
        np.testing.assert_allclose(resize(image, (4, 5), interpolation), image, atol=1e-4)
    assert not np.allclose(resize(image, (4, 5), "gaussian"), image)  # tf blurs here too


def test_crop_box_and_smart_resize_as_keras():
    assert crop_box(340, 500, (200, 200)) == (0, 80, 340, 340)  # Keras's docstring example
    assert crop_box(10, 10, (1, 3)) == (3, 0, 3, 10)
    image = np.arange(6 * 10, dtype=np.float32).reshape(6, 10, 1)
    out = smart_resize(image, (3, 3))
    np.testing.assert_allclose(out, resize(image[:, 2:8], (3, 3)))
    batch = public_smart_resize(np.stack([image, image + 1]), (3, 3))
    assert batch.shape == (2, 3, 3, 1)
    np.testing.assert_allclose(batch[1] - batch[0], 1, atol=1e-5)
    first = public_smart_resize(image.transpose(2, 0, 1), (3, 3), data_format="channels_first")
    np.testing.assert_allclose(first[0], out[..., 0])


def test_resize_with_pad_as_tensorflow():
    image = np.ones((2, 8, 1), np.float32)
    out = resize_with_pad(image, (4, 4))
    # ratio 2: resized to 1x4, then floor((4 - 1) / 2) = 1 zero row above, 2 below
    np.testing.assert_array_equal(out[..., 0], [[0] * 4, [1] * 4, [0] * 4, [0] * 4])
    tall = resize_with_pad(np.ones((9, 3, 1)), (3, 3))
    np.testing.assert_array_equal(tall[..., 0], [[0, 1, 0]] * 3)


def test_bad_interpolation_is_named():
    with pytest.raises(ValueError, match="resize: interpolation must be one of"):
        resize(np.zeros((2, 2, 1)), (1, 1), "cubic")


def numpy_resize(image, size, interpolation):
    """The same separable resize in NumPy: per axis, a float32 sum over the taps in order."""
    image = image if image.dtype == np.uint8 else image.astype(np.float32)
    for axis, n in enumerate(size):
        if image.shape[axis] == n and interpolation in ("nearest", "bilinear", "area"):
            continue
        index, weights = taps(image.shape[axis], n, interpolation)
        along = [1, 1, 1]
        along[axis] = n
        out = np.take(image, index[:, 0], axis=axis) * weights[:, 0].reshape(along)
        for k in range(1, index.shape[1]):
            out += np.take(image, index[:, k], axis=axis) * weights[:, k].reshape(along)
        image = out
    return image.astype(np.float32)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_the_kernel_sums_exactly_as_numpy(rng, interpolation, dtype):
    image = (rng.random((31, 23, 3)) * 255).astype(dtype)
    crop = image[3:20, 2:21:2]  # a strided view, as smart_resize passes
    for source in (image, crop):
        for size in [(13, 47), (64, 9), (source.shape[0], 5), (1, 1)]:
            out = resize(source, size, interpolation)
            np.testing.assert_array_equal(out, numpy_resize(source, size, interpolation))
