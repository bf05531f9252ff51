"""Preprocessing layers (autoconv/layers/preprocessing.py) against Keras 3.

The references transcribe Keras's sources (keras/src/layers/preprocessing/image_preprocessing/):
each augmentation layer's ``get_random_transformation`` (how it draws) and
``transform_images`` (what it does with the draws), ``BaseImagePreprocessingLayer.
_compute_affine_matrix`` (rotations), the crop and pad of ``resize`` in
keras/src/backend/jax/image.py (Resizing), and ``smart_resize`` in keras/src/utils/
image_utils.py (CenterCrop). The warps and resizes themselves are the JAX transcriptions of
tests/ops/test_spatial.py (``reference_affine_transform``, ``reference_resize``). Tests inject the
same draws into a layer and into the transcription and compare the images.

(Over ~600 lines on purpose: each layer's transcription of Keras lies beside its test.)
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.ops import image as image_ops
from autoconv.testing import gradcheck
from tests.ops.test_spatial import (
    reference_affine_transform,
    reference_resize,
    rotation_matrix,
    translation_matrix,
    zoom_matrix,
)

F32 = np.float32


def images(rng, shape=(3, 6, 7, 2), low=0.0, high=255.0, dtype=np.float32):
    return rng.uniform(low, high, shape).astype(dtype)


# ------------------------------------------------------------ Keras, transcribed (float32)
def keras_compute_affine_matrix(
    center_x, center_y, angle, translate_x, translate_y, scale, shear_x, shear_y, height, width
):
    """BaseImagePreprocessingLayer._compute_affine_matrix, line by line, in float32."""
    degree_to_radian_factor = F32(math.pi / 180.0)
    angle = angle * degree_to_radian_factor
    shear_x = shear_x * degree_to_radian_factor
    shear_y = shear_y * degree_to_radian_factor
    batch_size = angle.shape[0]
    width, height = F32(width), F32(height)
    cx = F32(center_x) * (width - 1)
    cy = F32(center_y) * (height - 1)
    cos_theta, sin_theta = np.cos(angle), np.sin(angle)
    shear_x, shear_y = np.tan(shear_x), np.tan(shear_y)
    a0 = scale * (cos_theta + shear_x * sin_theta)
    a1 = scale * (-sin_theta + shear_x * cos_theta)
    a2 = translate_x + cx - cx * a0 - cy * a1
    b0 = scale * (shear_y * cos_theta + sin_theta)
    b1 = scale * (shear_y * -sin_theta + cos_theta)
    b2 = translate_y + cy - cx * b0 - cy * b1
    return np.concatenate(
        [a0[:, None], a1[:, None], a2[:, None], b0[:, None], b1[:, None], b2[:, None],
         np.zeros((batch_size, 2), F32)],
        axis=1,
    )  # fmt: skip


def keras_rotation_matrix(angle, height, width):
    """RandomRotation.get_random_transformation's matrix, for angles in degrees."""
    n = len(angle)
    zeros, ones = np.zeros(n, F32), np.ones(n, F32)
    angle = np.asarray(angle, F32)
    return keras_compute_affine_matrix(
        0.5, 0.5, angle, zeros, zeros, ones, zeros, zeros, height, width
    )


def keras_rotation(x, angle, interpolation, fill_mode, fill_value):
    """RandomRotation.transform_images, with its 'crop' mode (_pad_for_crop, _compute_affine_
    matrix on the padded size, a constant-0 warp, _center_crop_to)."""
    height, width = x.shape[1:3]
    if fill_mode != "crop":
        matrix = keras_rotation_matrix(angle, height, width)
        return reference_affine_transform(x, matrix, interpolation, fill_mode, fill_value)
    h, w = F32(height), F32(width)
    side = int(np.ceil(np.sqrt(h * h + w * w)))
    pad_top, pad_left = (side - height) // 2, (side - width) // 2
    padded = np.pad(
        x,
        [[0, 0], [pad_top, side - height - pad_top], [pad_left, side - width - pad_left], [0, 0]],
    )
    matrix = keras_rotation_matrix(angle, side, side)
    rotated = reference_affine_transform(padded, matrix, interpolation, "constant", 0.0)
    offset_h, offset_w = (side - height) // 2, (side - width) // 2
    return rotated[:, offset_h : offset_h + height, offset_w : offset_w + width]


def keras_flip(x, flips, mode):
    """RandomFlip._flip_inputs: np.where(flips, flip(x), x), horizontally then vertically."""
    flips = flips.reshape(-1, 1, 1, 1)
    out = x
    if mode in ("horizontal", "horizontal_and_vertical"):
        out = np.where(flips, np.flip(out, axis=-2), out)
    if mode in ("vertical", "horizontal_and_vertical"):
        out = np.where(flips, np.flip(out, axis=-3), out)
    return out


def keras_contrast(x, factor, value_range):
    """RandomContrast._adjust_contrast, then the clip of transform_images."""
    mean = x.mean(axis=-3, keepdims=True).mean(axis=-2, keepdims=True)
    out = (x - mean) * factor.reshape(-1, 1, 1, 1) + mean
    return np.clip(out, value_range[0], value_range[1])


def keras_resize(x, size, interpolation, crop=False, pad=False, fill_value=0.0):
    """keras/src/backend/jax/image.py resize, channels_last, batched."""
    height, width = x.shape[1:3]
    target_height, target_width = size
    if crop:
        crop_height = int(float(width * target_height) / target_width)
        crop_height = max(min(height, crop_height), 1)
        crop_width = int(float(height * target_width) / target_height)
        crop_width = max(min(width, crop_width), 1)
        crop_box_hstart = int(float(height - crop_height) / 2)
        crop_box_wstart = int(float(width - crop_width) / 2)
        x = x[
            :,
            crop_box_hstart : crop_box_hstart + crop_height,
            crop_box_wstart : crop_box_wstart + crop_width,
            :,
        ]
    elif pad:
        pad_height = max(height, int(float(width * target_height) / target_width))
        pad_width = max(width, int(float(height * target_width) / target_height))
        img_box_hstart = int(float(pad_height - height) / 2)
        img_box_wstart = int(float(pad_width - width) / 2)
        n, channels = x.shape[0], x.shape[3]
        if img_box_hstart > 0:
            band = np.ones((n, img_box_hstart, width, channels), x.dtype) * fill_value
            x = np.concatenate([band, x, band], axis=1)
        elif img_box_wstart > 0:
            band = np.ones((n, height, img_box_wstart, channels), x.dtype) * fill_value
            x = np.concatenate([band, x, band], axis=2)
    return reference_resize(x, size, interpolation)


def keras_center_crop(x, height, width):
    """CenterCrop.transform_images; smart_resize (crop to the aspect ratio, bilinear)."""
    h_diff, w_diff = x.shape[1] - height, x.shape[2] - width
    h_start, w_start = int(h_diff / 2), int(w_diff / 2)
    if h_diff >= 0 and w_diff >= 0:
        return x[:, h_start : h_start + height, w_start : w_start + width, :]
    return keras_resize(x, (height, width), "bilinear", crop=True)


def keras_random_crop(x, transformation, height, width):
    """RandomCrop._random_crop: a slice of (height, width), resized if it falls short."""
    h_start, w_start = transformation
    x = x[:, h_start : h_start + height, w_start : w_start + width, :]
    if x.shape[1:3] != (height, width):
        x = reference_resize(x, (height, width), "bilinear")
    return x


def keras_random_crop_position(shape, height, width, rng):
    """RandomCrop.get_random_transformation in training (its SeedGenerator played by rng)."""
    input_height, input_width = shape[1:3]
    if input_height > height and input_width > width:
        h_start = int(rng.uniform(0, float(input_height - height + 1)))
        w_start = int(rng.uniform(0, float(input_width - width + 1)))
        return h_start, w_start
    crop_height = max(min(input_height, int(float(input_width * height) / width)), 1)
    crop_width = max(min(input_width, int(float(input_height * width) / height)), 1)
    return int(float(input_height - crop_height) / 2), int(float(input_width - crop_width) / 2)


# ---------------------------------------------------------------- shapes and identity
RANDOM_LAYERS = {
    "flip": lambda **k: layers.RandomFlip(**k),
    "flip_horizontal": lambda **k: layers.RandomFlip("horizontal", **k),
    "rotation": lambda **k: layers.RandomRotation(0.2, **k),
    "rotation_crop": lambda **k: layers.RandomRotation(0.2, fill_mode="crop", **k),
    "zoom": lambda **k: layers.RandomZoom(0.3, **k),
    "zoom_both": lambda **k: layers.RandomZoom((-0.3, 0.2), (0.1, 0.4), "constant", **k),
    "translation": lambda **k: layers.RandomTranslation(0.2, (-0.1, 0.3), **k),
    "contrast": lambda **k: layers.RandomContrast((0.3, 0.5), **k),
    "brightness": lambda **k: layers.RandomBrightness(0.2, **k),
    "crop": lambda **k: layers.RandomCrop(4, 5, **k),
}


@pytest.mark.parametrize("name", list(RANDOM_LAYERS))
def test_inference_is_the_identity_and_training_changes_images(name, rng):
    layer = RANDOM_LAYERS[name](seed=3)
    x = images(rng, (8, 6, 7, 2))
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    out = layer(x, training=True)
    expected_shape = (8, 4, 5, 2) if name == "crop" else x.shape
    assert out.shape == expected_shape and out.dtype == np.float32
    assert layer.compute_output_shape((None, 6, 7, 2)) == (None, *expected_shape[1:])
    if out.shape == x.shape:
        assert not np.array_equal(out.numpy(), x)
    assert layer.count_params() == 0


@pytest.mark.parametrize("name", list(RANDOM_LAYERS))
def test_a_layer_called_on_its_own_augments_as_in_keras(name, rng):
    """Keras's call has training=True as its default: outside a model it augments."""
    x = images(rng, (8, 6, 7, 2))
    alone = RANDOM_LAYERS[name](seed=5)(x)
    trained = RANDOM_LAYERS[name](seed=5)(x, training=True)
    np.testing.assert_array_equal(alone.numpy(), trained.numpy())


@pytest.mark.cudasim
@pytest.mark.parametrize("name", list(RANDOM_LAYERS))
def test_a_layer_on_the_gpu_draws_and_transforms_as_on_the_cpu(name, rng):
    """The draws are the host's on either device (the GPU gets what the host computed from
    them as a step input): the same seed gives the same images."""
    pytest.importorskip("numba_cuda")
    x = images(rng, (3, 6, 7, 2))
    want = RANDOM_LAYERS[name](seed=7)(x, training=True).numpy()
    on_gpu = RANDOM_LAYERS[name](seed=7)(ac.Tensor(x).to("cuda"), training=True)
    assert on_gpu.device == "cuda"
    np.testing.assert_allclose(on_gpu.numpy(), want, rtol=1e-6, atol=1e-4)


def test_a_subclassed_model_called_directly_augments_and_predicts_without(rng):
    """Keras resolves training as: the value passed, else the enclosing call's, else the
    layer's own default; a model called without it leaves its layers their defaults."""

    class Augmenter(ac.Model):
        def __init__(self):
            super().__init__()
            self.rotate = layers.RandomRotation(0.3, seed=1)
            self.scale = layers.Rescaling(2.0)

        def call(self, inputs, training=None):
            return self.scale(self.rotate(inputs))

    x = images(rng, (4, 6, 7, 2))
    augmented = Augmenter()(x).numpy()
    want = layers.RandomRotation(0.3, seed=1)(x, training=True).numpy() * 2
    np.testing.assert_allclose(augmented, want, rtol=1e-6)
    np.testing.assert_array_equal(Augmenter().predict(x, verbose=0), x * 2)
    np.testing.assert_array_equal(Augmenter()(x, training=False).numpy(), x * 2)


@pytest.mark.parametrize("name", list(RANDOM_LAYERS))
def test_one_image_is_transformed_as_a_batch_of_one(name, rng):
    x = images(rng, (6, 7, 2))
    one = RANDOM_LAYERS[name](seed=8)(x, training=True)
    batch = RANDOM_LAYERS[name](seed=8)(x[None], training=True)
    np.testing.assert_array_equal(one.numpy(), batch.numpy()[0])


@pytest.mark.parametrize("name", list(RANDOM_LAYERS))
def test_seeds_repeat_and_set_random_seed_reseeds(name, rng):
    x = images(rng, (6, 6, 7, 2))

    def run(**kwargs):
        layer = RANDOM_LAYERS[name](**kwargs)
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


# ------------------------------------------------------- the transforms Keras builds
@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_flip_matches_keras(mode, rng):
    x = images(rng, (6, 4, 5, 3))
    flips = np.array([True, False, True, True, False, False])
    layer = layers.RandomFlip(mode)
    out = layer.transform_images(ac.Tensor(x), {"flips": flips})
    np.testing.assert_array_equal(out.numpy(), keras_flip(x, flips, mode))


def test_rotation_matrix_is_kerass_compute_affine_matrix(rng):
    angles = rng.uniform(-180, 180, 5).astype(F32)
    ours = layers.augmentation.rotation_transforms(angles, 6, 9)
    keras = keras_rotation_matrix(angles, 6, 9)
    np.testing.assert_array_equal(ours, keras)
    assert ours.dtype == np.float32
    # the older Keras 3 formula (radians drawn from factor * 2 pi) is the same transform
    np.testing.assert_allclose(
        ours, rotation_matrix(angles.astype(np.float64) * np.pi / 180, 6, 9), atol=2e-5
    )


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest", "crop"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_rotation_matches_keras(fill_mode, interpolation, rng):
    x = images(rng, (4, 5, 8, 2))  # crop mode pads 5x8 to 10x10: odd rows, even columns
    angle = np.array([-60.0, 10.0, 95.0, 180.0], F32)
    layer = layers.RandomRotation(0.5, fill_mode, interpolation, fill_value=7.5)
    out = layer.transform_images(ac.Tensor(x), {"angle": angle})
    want = keras_rotation(x, angle, interpolation, fill_mode, 7.5)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("width", [False, True])
def test_zoom_matches_keras(fill_mode, width, rng):
    x = images(rng, (3, 6, 7, 2))
    layer = layers.RandomZoom(0.5, 0.5 if width else None, fill_mode, fill_value=3.0)
    height_zoom = np.array([0.7, 1.3, 1.0], F32)
    width_zoom = np.array([1.4, 0.6, 0.9], F32) if width else height_zoom
    transformation = {"height_zoom": height_zoom, "width_zoom": width_zoom}
    out = layer.transform_images(ac.Tensor(x), transformation)
    matrix = zoom_matrix(np.stack([width_zoom, height_zoom], axis=1), 6, 7)
    want = reference_affine_transform(x, matrix, "bilinear", fill_mode, 3.0)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_translation_matches_keras(interpolation, rng):
    x = images(rng, (3, 6, 7, 2))
    layer = layers.RandomTranslation(0.5, 0.5, "wrap", interpolation)
    translations = np.array([[1.5, -2.25], [-3.0, 0.5], [0.0, 2.0]], F32)  # (dx, dy) pixels
    out = layer.transform_images(ac.Tensor(x), {"translations": translations})
    want = reference_affine_transform(
        x, translation_matrix(translations), interpolation, "wrap", 0.0
    )
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1)])
def test_contrast_matches_keras(value_range, rng):
    x = images(rng, (3, 6, 7, 2), *value_range)
    factor = np.array([0.5, 1.0, 1.8], F32)
    layer = layers.RandomContrast(0.8, value_range=value_range)
    out = layer.transform_images(ac.Tensor(x), {"contrast_factor": factor})
    want = keras_contrast(x, factor, value_range)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-4 * value_range[1])


def test_brightness_matches_keras(rng):
    x = images(rng, (3, 6, 7, 2), 0.0, 1.0)
    layer = layers.RandomBrightness(0.5, value_range=(1, 0))  # Keras sorts the range
    delta = np.array([-0.25, 0.0, 0.4], F32)
    out = layer.transform_images(ac.Tensor(x), {"rgb_delta": delta})
    np.testing.assert_array_equal(out.numpy(), np.clip(x + delta.reshape(-1, 1, 1, 1), 0, 1))


@pytest.mark.parametrize(
    ("in_shape", "size"),
    [((9, 8), (4, 5)), ((4, 8), (4, 5)), ((9, 5), (4, 5)), ((3, 4), (4, 5)), ((10, 4), (5, 5))],
)
def test_random_crop_matches_keras(in_shape, size, rng):
    x = images(rng, (2, *in_shape, 3))
    layer = layers.RandomCrop(*size)
    position = layer.random_transformation(x.shape, np.random.default_rng(9))
    assert position == keras_random_crop_position(x.shape, *size, np.random.default_rng(9))
    out = layer.transform_images(ac.Tensor(x), position)
    want = keras_random_crop(x, position, *size)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-3)
    assert out.shape == (2, *size, 3)


def test_random_crop_draws_one_window_for_the_batch(rng):
    x = images(rng, (6, 9, 9, 1))
    out = layers.RandomCrop(3, 3, seed=2)(x, training=True).numpy()
    top, left = layers.RandomCrop(3, 3).random_transformation(x.shape, np.random.default_rng(2))
    np.testing.assert_array_equal(out, x[:, top : top + 3, left : left + 3])


# ------------------------------------------------------------------------- the draws
def test_draws_are_kerass_uniforms_in_kerass_order():
    shape = (5, 6, 7, 3)

    def draws(layer):
        return layer.random_transformation(shape, np.random.default_rng(0))

    def uniform(low, high, *more):
        rng = np.random.default_rng(0)
        return [rng.uniform(low, high, 5).astype(F32)] + [
            rng.uniform(lo, hi, 5).astype(F32) for lo, hi in more
        ]

    (angle,) = uniform(-0.1 * 360, 0.1 * 360)
    np.testing.assert_array_equal(draws(layers.RandomRotation(0.1))["angle"], angle)
    (angle,) = uniform(-0.2 * 360, 0.3 * 360)
    np.testing.assert_array_equal(draws(layers.RandomRotation((0.3, -0.2)))["angle"], angle)
    height, width = uniform(0.8, 1.2, (1.1, 1.3))  # height first, then width
    zoom = draws(layers.RandomZoom(0.2, (0.1, 0.3)))
    np.testing.assert_array_equal(zoom["height_zoom"], height)
    np.testing.assert_array_equal(zoom["width_zoom"], width)
    same = draws(layers.RandomZoom(0.2))
    np.testing.assert_array_equal(same["width_zoom"], same["height_zoom"])
    dy, dx = uniform(-0.2, 0.2, (-0.1, 0.3))
    shift = draws(layers.RandomTranslation(0.2, (-0.1, 0.3)))["translations"]
    np.testing.assert_array_equal(shift, np.stack([dx * F32(7), dy * F32(6)], axis=1))
    (factor,) = uniform(1.0, 1.2)  # Keras's RandomContrast(0.2): lower = max(-0.2, 0) = 0
    np.testing.assert_array_equal(draws(layers.RandomContrast(0.2))["contrast_factor"], factor)
    (delta,) = uniform(-0.2, 0.2)
    np.testing.assert_array_equal(
        draws(layers.RandomBrightness(0.2, value_range=(0, 1)))["rgb_delta"], delta
    )
    (u,) = uniform(0.0, 1.0)
    np.testing.assert_array_equal(draws(layers.RandomFlip())["flips"], u <= 0.5)


def test_factors_are_read_as_keras_reads_them():
    assert layers.RandomRotation(0.1).factor == (-0.1, 0.1)
    assert layers.RandomRotation(-0.1).factor == (-0.1, 0.1)
    assert layers.RandomRotation((0.2, -0.1)).factor == (-0.1, 0.2)
    assert layers.RandomContrast(0.2).factor == (0.0, 0.2)
    assert layers.RandomContrast((0.1, 0.3)).factor == (0.1, 0.3)
    assert layers.RandomBrightness(0.3).factor == (-0.3, 0.3)
    zoom = layers.RandomZoom(-0.2)
    assert (zoom.height_lower, zoom.height_upper) == (-0.2, 0.2)
    assert layers.RandomBrightness(0.1, value_range=[255, 0]).value_range == [0, 255]


# ------------------------------------------------------------------ resizing and crops
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize(
    ("in_shape", "size", "crop", "pad"),
    [
        ((5, 7), (3, 3), False, False),
        ((4, 6), (9, 5), False, False),
        ((5, 7), (3, 3), True, False),
        ((6, 4), (4, 6), True, False),
        ((4, 6), (4, 4), False, True),
        ((6, 4), (3, 4), False, True),
        ((5, 5), (2, 2), False, True),
    ],
)
def test_resizing_matches_keras(in_shape, size, crop, pad, interpolation, rng):
    x = images(rng, (2, *in_shape, 3))
    layer = layers.Resizing(
        *size, interpolation, crop_to_aspect_ratio=crop, pad_to_aspect_ratio=pad, fill_value=9.0
    )
    out = layer(x)
    want = keras_resize(x, size, interpolation, crop=crop, pad=pad, fill_value=9.0)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-3)
    assert (
        layer.compute_output_shape((None, *in_shape, 3))
        == (None, *size, 3)
        == (
            None,
            *out.shape[1:],
        )
    )


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "lanczos3", "lanczos5"])
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_resizing_is_ops_image_resize(interpolation, antialias, device, rng):
    """Each interpolation and antialiasing, as ``ops.image.resize`` (JAX's numbers: Keras's
    PyTorch backend computes another bicubic and no lanczos), a crop first where asked."""
    x = ac.Tensor(images(rng, (2, 6, 9, 3)), device=device)
    for size, crop in (((3, 4), False), ((4, 4), True), ((8, 11), False)):
        layer = layers.Resizing(*size, interpolation, crop_to_aspect_ratio=crop,
                                antialias=antialias)  # fmt: skip
        cropped = x[:, :, 1:7] if crop and size == (4, 4) else x
        want = image_ops.resize(cropped, size, interpolation, antialias=antialias)
        np.testing.assert_allclose(layer(x).numpy(), want.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "args"),
    [("Resizing", (3, 4)), ("CenterCrop", (3, 4)), ("RandomCrop", (3, 4)), ("RandomFlip", ()),
     ("RandomRotation", (0.1,)), ("RandomZoom", (0.1,)), ("RandomTranslation", (0.1, 0.2)),
     ("RandomShear", (0.1,))],
)  # fmt: skip
def test_image_layers_configs_keys_are_in_kerass_order(keras, name, args):
    """``data_format`` first after the base keys, then the layer's own, as Keras writes them
    (a model file's config.json reads as Keras's)."""
    named = {"name": "image_layer"}  # (Keras's default names are left to the other tests)
    ours = getattr(layers, name)(*args, **named)
    theirs = getattr(keras.layers, name)(*args, **named)
    assert list(ours.get_config()) == list(theirs.get_config())


@pytest.mark.parametrize(
    ("name", "args"),
    [("RandomContrast", (0.1,)), ("RandomHue", (0.1,)), ("RandomInvert", (0.5,)),
     ("RandomGaussianBlur", (0.1,)), ("RandomErasing", (0.5,)),
     ("RandomElasticTransform", (0.5,))],
)  # fmt: skip
def test_image_layers_configs_write_kerass_numbers(keras, name, args):
    """Keras keeps a factor's lower bound 0 and the value_range (0, 255) as ints: the
    configs' JSON is Keras's (keras.io's EANet: RandomContrast(0.1) writes factor [0, 0.1])."""
    named = {"name": "image_layer"}
    ours = getattr(layers, name)(*args, **named).get_config()
    theirs = getattr(keras.layers, name)(*args, **named).get_config()
    assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)


def test_resizing_keeps_antialias_in_its_keras_config(keras):
    arguments = {
        "height": 3,
        "width": 4,
        "interpolation": "lanczos5",
        "antialias": True,
        "name": "r",
    }
    ours, theirs = layers.Resizing(**arguments), keras.layers.Resizing(**arguments)
    config = ours.get_config()
    assert config == {k: v for k, v in theirs.get_config().items() if k in config}
    assert layers.Resizing.from_config(config).antialias is True


@pytest.mark.parametrize("dtype", ["uint8", "int32"])
def test_resizing_integer_images_rounds_and_saturates_as_keras(keras, dtype):
    """An integer image comes back rounded half to even and saturated to its dtype's range, as
    Keras's layer casts it back (keras.io's FCN's uint8 masks stay whole labels); bicubic's
    overshoot of uint8's range is cut at 0 and 255, int32's is not. (Keras's PyTorch bicubic
    has other weights than autoconv's: compared bilinear.)"""
    x = np.array([0, 255, 10, 3, 255, 0, 7, 200], dtype).reshape(1, 2, 4, 1)
    ours = layers.Resizing(3, 7)(x).numpy()
    theirs = keras.layers.Resizing(3, 7)(x)
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), atol=1e-4)
    cubic = layers.Resizing(3, 7, "bicubic")(x).numpy()
    assert (cubic == np.round(cubic)).all()
    assert (cubic.min(), cubic.max()) == ((0, 255) if dtype == "uint8" else (-40, 295))


@pytest.mark.parametrize(
    ("in_shape", "size"),
    [((7, 8), (4, 4)), ((6, 6), (3, 5)), ((5, 5), (5, 5)), ((3, 8), (4, 4)), ((6, 2), (4, 3))],
)
def test_center_crop_matches_keras(in_shape, size, rng):
    """Larger images are sliced; smaller ones (along any axis) resized as Keras does."""
    x = images(rng, (2, *in_shape, 2))
    out = layers.CenterCrop(*size)(x)
    np.testing.assert_allclose(out.numpy(), keras_center_crop(x, *size), rtol=1e-5, atol=1e-3)


def test_one_image_through_resizing_and_center_crop(rng):
    x = images(rng, (5, 7, 3))
    assert layers.Resizing(3, 4)(x).shape == (3, 4, 3)
    assert layers.CenterCrop(3, 4)(x).shape == (3, 4, 3)
    assert layers.Resizing(3, 4).compute_output_shape((5, 7, 3)) == (3, 4, 3)


@pytest.mark.parametrize("name", ["Resizing", "CenterCrop"])
def test_resizing_and_center_crop_are_recorded_with_training_as_kerass(name, keras):
    """Keras's image layers' call takes ``training=True``, which a model's config records
    for their calls (keras.io's learnable resizer); it changes nothing in inference."""
    models = []
    for lib in (ac, keras):
        inputs = lib.Input((6, 6, 3))
        models.append(lib.Model(inputs, getattr(lib.layers, name)(4, 4)(inputs)))
    ours, theirs = (m.get_config()["layers"][1]["inbound_nodes"][0]["kwargs"] for m in models)
    assert ours == theirs == {"training": True}
    x = np.arange(2 * 36 * 3, dtype=np.float32).reshape(2, 6, 6, 3)
    loaded = ac.Model.from_config(models[0].get_config())
    want = models[1].predict(x, verbose=0)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), want, rtol=1e-5, atol=1e-4)


def test_rescaling_stays_a_layer_of_its_own():
    out = layers.Rescaling(1 / 255, offset=-0.5)(np.full((1, 2, 2, 1), 255.0))
    np.testing.assert_allclose(out.numpy(), 0.5)


# ----------------------------------------------------------------------- gradients
@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Resizing(5, 3, dtype="float64"),
        lambda: layers.Resizing(3, 3, "nearest", crop_to_aspect_ratio=True, dtype="float64"),
        lambda: layers.Resizing(3, 3, pad_to_aspect_ratio=True, fill_value=2.0, dtype="float64"),
        lambda: layers.Resizing(3, 7, "bicubic", antialias=True, dtype="float64"),
        lambda: layers.CenterCrop(2, 3, dtype="float64"),
        lambda: layers.CenterCrop(5, 3, dtype="float64"),
    ],
)
def test_resizing_gradcheck(make, rng):
    layer = make()
    assert gradcheck(lambda t: layer(t), [rng.standard_normal((2, 4, 5, 2))])


@pytest.mark.parametrize(
    ("make", "transformation"),
    [
        (lambda: layers.RandomRotation(0.3, dtype="float64"), {"angle": [25.0, -70.0]}),
        (
            lambda: layers.RandomZoom(0.3, dtype="float64"),
            {"height_zoom": [0.8, 1.2], "width_zoom": [1.1, 0.75]},
        ),
        (lambda: layers.RandomFlip(dtype="float64"), {"flips": [True, False]}),
        (
            lambda: layers.RandomContrast(0.5, (-10, 10), dtype="float64"),
            {"contrast_factor": [0.6, 1.3]},
        ),
        (
            lambda: layers.RandomBrightness(0.5, (-10, 10), dtype="float64"),
            {"rgb_delta": [1.5, -2.0]},
        ),
    ],
)
def test_augmentation_gradcheck(make, transformation, rng):
    layer = make()
    assert gradcheck(
        lambda t: layer.transform_images(t, transformation), [rng.standard_normal((2, 4, 5, 2))]
    )


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: layers.RandomRotation(1.5), ValueError, r"in the range \[-1, 1\]"),
        (lambda: layers.RandomRotation((0.1, 0.2, 0.3)), ValueError, "`factor` argument"),
        (lambda: layers.RandomRotation(0.1, "mirror"), NotImplementedError, "Unknown `fill_mode`"),
        (
            lambda: layers.RandomZoom(0.1, interpolation="bicubic"),
            NotImplementedError,
            "Unknown `interpolation`",
        ),
        (lambda: layers.RandomZoom(1.5), ValueError, "Received: input_number=-1.5"),
        (lambda: layers.RandomZoom(0.1, "a"), ValueError, "Received: width_factor=a"),
        (lambda: layers.RandomTranslation((0.1,), 0.1), ValueError, "height_factor=\\(0.1,\\)"),
        (lambda: layers.RandomContrast(1.5), ValueError, r"in the range \[0, 1\]"),
        (lambda: layers.RandomContrast(0.1, value_range=3), ValueError, "`value_range`"),
        (lambda: layers.RandomBrightness(0.1, value_range=(0,)), ValueError, "`value_range`"),
        (lambda: layers.RandomFlip("diagonal"), ValueError, "unknown mode argument"),
        (lambda: layers.RandomFlip(seed=-1), ValueError, "seed must be a non-negative int"),
        (lambda: layers.RandomCrop(0, 3), ValueError, "height must be a positive int"),
        (lambda: layers.Resizing(3, 3, "cubic"), ValueError, "Invalid value for argument"),
        (lambda: layers.Resizing(3, 3, fill_mode="reflect"), ValueError, "Only `'constant'`"),
        (
            lambda: layers.Resizing(3, 3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True),
            ValueError,
            "Only one of",
        ),
        (lambda: layers.CenterCrop(3, 3, data_format="nhwc"), ValueError, "`data_format` arg"),
        (lambda: layers.RandomFlip(bounding_box_format=4), ValueError, "bounding_box_format"),
    ],
)
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"Expected image tensor to have rank 3 .* or 4"):
        layers.RandomFlip()(np.zeros((2, 3)), training=False)
    with pytest.raises(TypeError, match="or a dict of 'images'"):
        layers.RandomRotation(0.1)([np.zeros((1, 4, 4, 1))])


# ------------------------------------------------------------------ configs, models
CONFIGURED = [
    lambda: layers.RandomFlip("vertical", seed=3, name="f"),
    lambda: layers.RandomRotation((-0.2, 0.1), "constant", "nearest", 4, 2.5, name="r"),
    lambda: layers.RandomRotation(0.1, fill_mode="crop"),
    lambda: layers.RandomZoom(0.2, (0.1, 0.3), "wrap", seed=1),
    lambda: layers.RandomZoom((-0.1, 0.2)),
    lambda: layers.RandomTranslation(0.1, 0.2, "nearest", "nearest", 3, 1.0),
    lambda: layers.RandomContrast(0.3, (0, 1), seed=2),
    lambda: layers.RandomBrightness((-0.1, 0.4), [0, 1]),
    lambda: layers.RandomCrop(5, 6, seed=1),
    lambda: layers.Resizing(4, 5, "nearest", pad_to_aspect_ratio=True, fill_value=1.0),
    lambda: layers.CenterCrop(3, 4, name="cc"),
    lambda: layers.Rescaling(0.5, 0.1),
]


@pytest.mark.parametrize("make", CONFIGURED)
def test_config_round_trip(make):
    layer = make()
    clone = layers.deserialize({"class_name": type(layer).__name__, "config": layer.get_config()})
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()


def test_keras_config_keys():
    assert layers.RandomRotation(0.1).get_config()["factor"] == (-0.1, 0.1)
    config = layers.RandomZoom(0.1).get_config()
    assert {"height_factor", "width_factor", "fill_mode", "interpolation", "seed", "fill_value",
            "data_format"} <= set(config)  # fmt: skip
    assert config["width_factor"] is None and config["data_format"] == "channels_last"
    assert set(layers.RandomContrast(0.1).get_config()) >= {"factor", "value_range", "seed"}


def augmentation() -> ac.Sequential:
    """The data_augmentation block of the flowers tutorial."""
    return ac.Sequential(
        [
            layers.RandomFlip("horizontal", input_shape=(16, 16, 3)),
            layers.RandomRotation(0.1),
            layers.RandomZoom(0.1),
        ],
        name="data_augmentation",
    )


def classifier_head(x):
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Flatten()(x)
    return layers.Dense(5)(x)


def flowers_sequential() -> ac.Sequential:
    return ac.Sequential(
        [
            augmentation(),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(4, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Dropout(0.2),
            layers.Flatten(),
            layers.Dense(5),
        ]
    )


def flowers_functional() -> ac.Model:
    inputs = ac.Input(shape=(16, 16, 3))
    return ac.Model(inputs, classifier_head(augmentation()(inputs)))


def from_scratch_functional() -> ac.Model:
    """keras-io's "Image classification from scratch": the layers applied one by one."""
    inputs = ac.Input(shape=(16, 16, 3))
    x = inputs
    for layer in [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)]:
        x = layer(x)
    return ac.Model(inputs, classifier_head(x))


@pytest.mark.parametrize("make", [flowers_sequential, flowers_functional, from_scratch_functional])
def test_the_image_classification_tutorial_pattern(make, rng, tmp_path):
    ac.utils.set_random_seed(0)
    x = rng.integers(0, 256, (24, 16, 16, 3)).astype(np.uint8)
    y = rng.integers(0, 5, 24)
    model = make()
    model.compile(
        optimizer="adam",
        loss=ac.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.isfinite(history.history["val_loss"]).all()
    model.summary()
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(first, model.predict(x, verbose=0))  # augmentation off
    model.save(tmp_path / "flowers.keras")
    loaded = ac.load_model(tmp_path / "flowers.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), first)


def test_fit_sees_augmented_images_and_predict_the_originals(rng):
    seen = []
    model = ac.Sequential(
        [
            layers.RandomRotation(0.2, input_shape=(6, 6, 1)),
            layers.RandomContrast((0.2, 0.2), value_range=(0, 1)),
            layers.Lambda(lambda t: seen.append(t.numpy()) or t),
            layers.Flatten(),
            layers.Dense(2),
        ]
    )
    model.compile("sgd", "mse")
    x = images(rng, (4, 6, 6, 1), 0.0, 1.0)
    model.fit(x, np.zeros((4, 2)), epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert not np.allclose(seen[-1], x, atol=1e-3)
    model.predict(x, verbose=0)
    np.testing.assert_array_equal(seen[-1], x)


def test_a_saved_model_keeps_its_preprocessing(tmp_path, rng):
    model = ac.Sequential(
        [
            layers.Resizing(12, 10, crop_to_aspect_ratio=True, input_shape=(15, 17, 3)),
            layers.CenterCrop(8, 8),
            layers.RandomTranslation(0.1, 0.1, seed=2),
            layers.RandomBrightness(0.1, seed=3),
            layers.Rescaling(1 / 255),
            layers.Flatten(),
            layers.Dense(2),
        ]
    )
    x = images(rng, (3, 15, 17, 3))
    model.save(tmp_path / "m.keras")
    loaded = ac.load_model(tmp_path / "m.keras")
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_random_crop_passes_images_through_in_inference_as_keras_3_does(rng):
    """keras-team/keras#21868: in inference RandomCrop returns its input, whatever its size."""
    x = images(rng, (2, 9, 9, 1))
    layer = layers.RandomCrop(4, 4)
    assert layer.compute_output_shape((None, 9, 9, 1)) == (None, 4, 4, 1)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale": 1 / 127.5, "offset": -1},
        {"scale": 2},
        {"scale": [1, 0.5, 2], "offset": [0, 1, -1]},
    ],
)
def test_rescaling_config_keeps_the_numbers_as_given_as_keras(keras, kwargs):
    """keras.io's transfer learning guide's ``Rescaling(scale=1 / 127.5, offset=-1)``: the
    config holds the int -1, as Keras's, and the layer computes the same values."""
    ours = layers.Rescaling(**kwargs, name="rescaling")
    theirs = keras.layers.Rescaling(**kwargs, name="rescaling")
    config = ours.get_config()
    assert config == theirs.get_config()
    assert [type(config[k]) for k in ("scale", "offset")] == [
        type(theirs.get_config()[k]) for k in ("scale", "offset")
    ]
    x = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3)
    np.testing.assert_allclose(ours(x).numpy(), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-6)
