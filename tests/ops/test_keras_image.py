"""autoconv.ops.image against keras.ops.image (on Keras's PyTorch backend; skipped without
Keras or torch): values over functions, options, data formats and single or batched images;
float64 gradchecks; a CUDA run; and the errors. Where Keras's PyTorch backend departs from its
JAX backend (bicubic, lanczos and antialiased resizing; nearest sampling at exact halves),
autoconv follows JAX: the resize reference there is Keras's ``scale_and_translate``, the
function JAX's resize is."""

from __future__ import annotations

import os

import numpy as np
import pytest

import autoconv as ac
from autoconv.backends import namespace
from autoconv.ops import image
from autoconv.testing import gradcheck

os.environ.setdefault("KERAS_BACKEND", "torch")

RNG = np.random.default_rng(0)
IMAGES = RNG.random((2, 7, 9, 3)).astype(np.float32)
NOISY = np.clip(IMAGES + 0.1 * RNG.standard_normal(IMAGES.shape), 0, 1).astype(np.float32)
VOLUMES = RNG.random((2, 5, 6, 7, 2)).astype(np.float32)
TRANSFORMS = np.array(
    [[1.2, 0.1, -1.13, 0.0713, 0.9, 0.4137, 0, 0], [1, 0, -2, 0, 1, 1.3, 0, 0]], np.float32
)  # no sample at an exact half-pixel, where PyTorch's nearest rounds to even
START = np.array([[0, 0], [0, 7], [9, 0], [9, 7]], np.float32)
END = np.array(
    [[[1, 0.5], [0.3, 6], [8, -1], [9.5, 6.5]], [[0.23, 0.11], [0.1, 6.8], [8.7, 0.3], [8.1, 6.9]]]
)
COORDINATES = RNG.uniform(-2, 8, (2, 3, 4))


def channels_first(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, -1, -3)


CASES = {
    "rgb_to_grayscale": lambda m, x, f: m.rgb_to_grayscale(x, data_format=f),
    "rgb_to_hsv": lambda m, x, f: m.rgb_to_hsv(x, data_format=f),
    "hsv_to_rgb": lambda m, x, f: m.hsv_to_rgb(x, data_format=f),
    "resize_down": lambda m, x, f: m.resize(x, (4, 5), data_format=f),
    "resize_up_nearest": lambda m, x, f: m.resize(x, (11, 13), "nearest", data_format=f),
    "resize_down_antialias": lambda m, x, f: m.resize(x, (3, 4), antialias=True, data_format=f),
    "resize_crop": lambda m, x, f: m.resize(x, (4, 4), crop_to_aspect_ratio=True, data_format=f),
    "resize_pad": lambda m, x, f: m.resize(
        x, (4, 12), pad_to_aspect_ratio=True, fill_value=0.5, data_format=f
    ),
    "affine_transform": lambda m, x, f: m.affine_transform(
        x, TRANSFORMS[: len(x)] if x.ndim == 4 else TRANSFORMS[0], data_format=f
    ),
    "pad_images": lambda m, x, f: m.pad_images(
        x, 1, 2, target_height=10, target_width=12, data_format=f
    ),
    "pad_images_ends": lambda m, x, f: m.pad_images(
        x, bottom_padding=1, right_padding=0, target_height=9, target_width=11, data_format=f
    ),
    "crop_images": lambda m, x, f: m.crop_images(
        x, 1, 2, target_height=4, target_width=5, data_format=f
    ),
    "crop_images_ends": lambda m, x, f: m.crop_images(
        x, left_cropping=2, bottom_cropping=2, right_cropping=1, target_height=3, data_format=f
    ),
    "extract_patches": lambda m, x, f: m.extract_patches(x, 2, data_format=f),
    "extract_patches_same": lambda m, x, f: m.extract_patches(
        x, (3, 2), (2, 1), padding="same", data_format=f
    ),
    "gaussian_blur": lambda m, x, f: m.gaussian_blur(x, (5, 5), (1.0, 2.0), data_format=f),
    "perspective_transform": lambda m, x, f: m.perspective_transform(
        x, START, END[0], data_format=f
    ),
}


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("single", [False, True], ids=["batch", "single"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_keras(keras, name, single, data_format):
    x = IMAGES[0] if single else IMAGES
    x = channels_first(x) if data_format == "channels_first" else x
    ours = CASES[name](image, x, data_format)
    theirs = keras.ops.convert_to_numpy(CASES[name](keras.ops.image, x, data_format))
    assert isinstance(ours, ac.Tensor) and ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-5, atol=1e-5)


def test_none_data_format_is_channels_last():
    for name in ("rgb_to_hsv", "resize_down", "gaussian_blur", "extract_patches"):
        ours = CASES[name](image, IMAGES, None).numpy()
        np.testing.assert_array_equal(ours, CASES[name](image, IMAGES, "channels_last").numpy())


@pytest.mark.parametrize("size", [(4, 5), (11, 13), (7, 4)])
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "lanczos3", "lanczos5"])
def test_resize_is_keras_scale_and_translate(keras, interpolation, antialias, size):
    """JAX's resize (Keras's NumPy and JAX backends), which PyTorch's bilinear also gives."""
    scale = np.array([size[0] / 7, size[1] / 9])
    expected = keras.ops.image.scale_and_translate(
        IMAGES, (2, *size, 3), scale, np.zeros(2), (1, 2), interpolation, antialias
    )
    ours = image.resize(IMAGES, size, interpolation, antialias).numpy()
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-5)
    if interpolation == "bilinear":
        keras_resized = keras.ops.image.resize(IMAGES, size, interpolation, antialias)
        np.testing.assert_allclose(
            ours, keras.ops.convert_to_numpy(keras_resized), rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("dtype", ["uint8", "int32"])
def test_resize_of_integer_images_keeps_their_dtype_as_keras(keras, dtype, interpolation):
    """Integer images (keras.io's conditional GAN resizes its uint8 frames) come back
    rounded, in their dtype, as Keras's: a NumPy array, not float32."""
    pixels = (IMAGES * 255).astype(dtype)
    ours = image.resize(pixels, (11, 13), interpolation)
    theirs = keras.ops.convert_to_numpy(keras.ops.image.resize(pixels, (11, 13), interpolation))
    assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(ours.numpy(), theirs)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
def test_affine_transform_matches_keras(keras, fill_mode, interpolation):
    args = (TRANSFORMS, interpolation, fill_mode, 0.3)
    expected = keras.ops.convert_to_numpy(keras.ops.image.affine_transform(IMAGES, *args))
    np.testing.assert_allclose(image.affine_transform(IMAGES, *args).numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
def test_map_coordinates_matches_keras(keras, fill_mode, order):
    inputs = IMAGES[0, :5, :6, 0]
    args = (COORDINATES, order, fill_mode, 0.5)
    expected = keras.ops.convert_to_numpy(keras.ops.image.map_coordinates(inputs, *args))
    np.testing.assert_allclose(image.map_coordinates(inputs, *args).numpy(), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("size", "strides", "dilation_rate", "padding"),
    [((2, 2), None, 1, "valid"), (3, 2, 1, "same"), ((2, 3), 1, 2, "valid"), (3, 1, 2, "same")],
)
def test_extract_patches_matches_keras(keras, size, strides, dilation_rate, padding):
    args = (size, strides, dilation_rate, padding)
    expected = keras.ops.convert_to_numpy(keras.ops.image.extract_patches(IMAGES, *args))
    np.testing.assert_array_equal(image.extract_patches(IMAGES, *args).numpy(), expected)


@pytest.mark.parametrize(
    ("volumes", "args"),
    [
        (VOLUMES, ((2, 3, 2),)),
        (VOLUMES[0], ((3, 3, 3), 2, 1, "same")),
        (VOLUMES, ((2, 2, 2), 1, (1, 2, 1))),
    ],
)
def test_extract_patches_3d_matches_keras(keras, volumes, args):
    """Also through extract_patches, which takes 3 sizes for volumes."""
    expected = keras.ops.convert_to_numpy(keras.ops.image.extract_patches_3d(volumes, *args))
    np.testing.assert_array_equal(image.extract_patches_3d(volumes, *args).numpy(), expected)
    np.testing.assert_array_equal(image.extract_patches(volumes, *args).numpy(), expected)
    size = args[0][0]
    uniform = image.extract_patches_3d(volumes, size, size).numpy()
    np.testing.assert_array_equal(uniform, image.extract_patches_3d(volumes, (size,) * 3).numpy())


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_sobel_edges_matches_keras(keras, data_format):
    x = IMAGES if data_format == "channels_last" else channels_first(IMAGES)
    expected = keras.ops.convert_to_numpy(keras.ops.image.sobel_edges(x, data_format))
    np.testing.assert_allclose(image.sobel_edges(x, data_format).numpy(), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("single", "kwargs"),
    [
        (False, {}),
        (False, {"filter_size": 5, "k1": 0.02}),
        (True, {"filter_size": 3, "max_val": 2.0}),
    ],
)
def test_ssim_matches_keras(keras, single, kwargs):
    a, b = (IMAGES[0], NOISY[0]) if single else (IMAGES, NOISY)
    a, b = (
        np.pad(a, [(0, 0)] * (a.ndim - 3) + [(2, 2), (1, 1), (0, 0)]),
        np.pad(b, [(0, 0)] * (b.ndim - 3) + [(2, 2), (1, 1), (0, 0)]),
    )  # 11 x 11: room for the default filter
    expected = keras.ops.convert_to_numpy(keras.ops.image.ssim(a, b, **kwargs))
    ours = image.ssim(a, b, **kwargs)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-5)
    assert np.allclose(image.ssim(a, a, **kwargs).numpy(), 1.0)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_perspective_transform_batches_match_keras(keras, interpolation):
    args = (np.stack([START, START]), END, interpolation, 0.2)
    expected = keras.ops.convert_to_numpy(keras.ops.image.perspective_transform(IMAGES, *args))
    ours = image.perspective_transform(IMAGES, *args).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["linear", "cubic", "lanczos5"])
@pytest.mark.parametrize("antialias", [True, False])
def test_scale_and_translate_matches_keras(keras, method, antialias):
    args = ((2, 10, 5, 3), np.array([1.4, 0.6]), np.array([0.5, -0.3]), (1, 2), method, antialias)
    expected = keras.ops.convert_to_numpy(keras.ops.image.scale_and_translate(IMAGES, *args))
    ours = image.scale_and_translate(IMAGES, *args).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def test_elastic_transform():
    """Its noise is autoconv's (Keras's backends each draw their own): seeded, shape-keeping,
    the identity without displacement, a true warp with it."""
    warped = image.elastic_transform(IMAGES, alpha=5.0, sigma=1.0, seed=1).numpy()
    again = image.elastic_transform(IMAGES, alpha=5.0, sigma=1.0, seed=1).numpy()
    assert warped.shape == IMAGES.shape and np.array_equal(warped, again)
    assert not np.allclose(warped, IMAGES)
    for interpolation in ("bilinear", "nearest"):
        still = image.elastic_transform(IMAGES[0], 0.0, interpolation=interpolation, seed=1)
        np.testing.assert_allclose(still.numpy(), IMAGES[0], atol=1e-7)
    first = image.elastic_transform(channels_first(IMAGES), 0.0, data_format="channels_first")
    np.testing.assert_allclose(first.numpy(), channels_first(IMAGES), atol=1e-7)


# ------------------------------------------------------------------------- gradients
SMALL = np.random.default_rng(1).random((1, 4, 5, 3))
GRADIENTS = {
    "rgb_to_grayscale": image.rgb_to_grayscale,
    "rgb_to_hsv": image.rgb_to_hsv,
    "hsv_to_rgb": lambda x: image.hsv_to_rgb(x * 0.9 + 0.05),
    "resize_bilinear": lambda x: image.resize(x, (3, 7)),
    "resize_bicubic_antialias": lambda x: image.resize(x, (3, 7), "bicubic", antialias=True),
    "resize_pad": lambda x: image.resize(x, (2, 5), pad_to_aspect_ratio=True, fill_value=1.0),
    "affine_transform": lambda x: image.affine_transform(x, TRANSFORMS[1], fill_mode="reflect"),
    "map_coordinates": lambda x: image.map_coordinates(x[0, :, :, 0], COORDINATES, 1),
    "perspective_transform": lambda x: image.perspective_transform(x, START / 2, END[0] / 2),
    "scale_and_translate": lambda x: image.scale_and_translate(
        x, (1, 6, 3, 3), [1.5, 0.7], [0.2, 0.1], (1, 2), "cubic"
    ),
    "pad_images": lambda x: image.pad_images(x, 1, 0, 2, 1),
    "crop_images": lambda x: image.crop_images(x, 1, 1, 1, 2),
    "extract_patches": lambda x: image.extract_patches(x, 3, 2, padding="same"),
    "gaussian_blur": lambda x: image.gaussian_blur(x, 3, (0.8, 1.3)),
    "sobel_edges": image.sobel_edges,
    "ssim": lambda x: image.ssim(x, SMALL[::-1, ::-1] * 0.5, filter_size=3),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradcheck(name):
    assert gradcheck(GRADIENTS[name], [SMALL])


def test_extract_patches_3d_gradcheck():
    volume = np.random.default_rng(2).random((3, 4, 3, 2))
    assert gradcheck(lambda v: image.extract_patches_3d(v, 2, 1, padding="same"), [volume])


# --------------------------------------------------------------------------------- CUDA
@pytest.mark.cudasim
@pytest.mark.parametrize(
    "name", ["gaussian_blur", "extract_patches", "map_coordinates", "rgb_to_hsv"]
)
def test_cuda_tensors_match_cpu(name):
    pytest.importorskip("numba_cuda")
    results = []
    for device in ("cpu", "cuda"):
        x = ac.Tensor(SMALL, requires_grad=True, device=device)
        out = GRADIENTS[name](x)
        out.backward(np.ones(out.shape))
        assert out.device == device
        results.append((out.numpy(), namespace(device).to_numpy(x.grad)))
    for cpu, gpu in zip(*results, strict=True):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: image.resize(IMAGES[0, 0], (2, 2)), ValueError, "Invalid images rank"),
        (lambda: image.resize(IMAGES, (2,)), ValueError, "tuple of 2 integers"),
        (lambda: image.resize(IMAGES, (0, 2)), ValueError, "positive height and width"),
        (lambda: image.resize(IMAGES, (2, 2), "area"), ValueError, "`interpolation`"),
        (lambda: image.resize(IMAGES, (2, 2), fill_mode="wrap"), ValueError, "`fill_mode`"),
        (
            lambda: image.resize(
                IMAGES, (2, 2), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True
            ),
            ValueError,
            "Only one of",
        ),
        (lambda: image.resize(IMAGES, (2, 2), data_format="nhwc"), ValueError, "data_format"),
        (lambda: image.rgb_to_grayscale(IMAGES[..., :2]), ValueError, "Invalid channel size"),
        (lambda: image.rgb_to_hsv(IMAGES[..., :2]), ValueError, "3 channels"),
        (lambda: image.hsv_to_rgb(np.ones((2, 2, 3), np.uint8)), ValueError, "expected float"),
        (lambda: image.affine_transform(IMAGES, np.ones((1, 1, 8))), ValueError, "transform rank"),
        (lambda: image.affine_transform(IMAGES, TRANSFORMS, "bicubic"), ValueError, "interp"),
        (lambda: image.affine_transform(IMAGES, TRANSFORMS, fill_mode="edge"), ValueError, "fill"),
        (lambda: image.pad_images(IMAGES, 1, 1), ValueError, "exactly two of top_padding"),
        (lambda: image.pad_images(IMAGES, 1, 1, 1, 1, 5), ValueError, "exactly two"),
        (
            lambda: image.pad_images(IMAGES, 5, 1, target_height=6, right_padding=1),
            ValueError,
            "bottom_padding must be >= 0",
        ),
        (lambda: image.crop_images(IMAGES, -1, 1, 1, 1), ValueError, "top_cropping must be >= 0"),
        (lambda: image.crop_images(IMAGES, 4, 1, 4, 1), ValueError, "target_height must be >= 0"),
        (lambda: image.extract_patches(IMAGES, "3"), TypeError, "Invalid `size`"),
        (lambda: image.extract_patches(IMAGES, (1, 2, 3, 4)), ValueError, "length 2 or 3"),
        (lambda: image.extract_patches(IMAGES, 2, padding="full"), ValueError, "`padding`"),
        (lambda: image.extract_patches(IMAGES, (8, 2)), ValueError, "exceed"),
        (lambda: image.extract_patches(IMAGES, 0), ValueError, "positive ints"),
        (lambda: image.extract_patches_3d(IMAGES[0], 2), ValueError, "Invalid images rank"),
        (lambda: image.gaussian_blur(IMAGES, (3, 3, 3)), ValueError, "`kernel_size`"),
        (lambda: image.gaussian_blur(IMAGES, sigma=(1.0, -1.0)), ValueError, "`sigma`"),
        (lambda: image.sobel_edges(IMAGES[0]), ValueError, "expected rank 4"),
        (lambda: image.map_coordinates(IMAGES, COORDINATES, 1), ValueError, "First dim"),
        (lambda: image.map_coordinates(np.ones(3), np.ones(1), 1), ValueError, "at least rank 2"),
        (lambda: image.map_coordinates(IMAGES[0, 0], COORDINATES, 3), ValueError, "`order`"),
        (lambda: image.map_coordinates(IMAGES[0, 0], COORDINATES, 1, "edge"), ValueError, "fill"),
        (lambda: image.perspective_transform(IMAGES, START, END), ValueError, "same shape|both"),
        (lambda: image.perspective_transform(IMAGES, START[:3], END[0, :3]), ValueError, "(4, 2)"),
        (
            lambda: image.scale_and_translate(IMAGES, (2, 2, 2, 3), [1, 1], [0, 0], (1, 2), "area"),
            ValueError,
            "`method`",
        ),
        (
            lambda: image.scale_and_translate(IMAGES, (2, 2, 2), [1, 1], [0, 0], (1, 2), "linear"),
            ValueError,
            "`output_shape`",
        ),
        (
            lambda: image.scale_and_translate(
                IMAGES, (2, 2, 2, 1), [1, 1], [0, 0], (1, 2), "cubic"
            ),
            ValueError,
            "not in spatial_dims",
        ),
        (lambda: image.ssim(IMAGES, IMAGES[0]), ValueError, "differ in shape"),
        (lambda: image.ssim(IMAGES[0, 0], IMAGES[0, 0]), ValueError, "Invalid image1 rank"),
        (lambda: image.ssim(IMAGES, IMAGES), ValueError, "`filter_size`"),
        (lambda: image.elastic_transform(IMAGES, fill_mode="edge"), ValueError, "`fill_mode`"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
