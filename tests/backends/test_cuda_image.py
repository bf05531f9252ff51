"""The CUDA image ops and image layers (preprocessing and augmentation) against the CPU's. On
the simulator or a GPU, as test_cuda.py says."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from tests.backends.cuda_checks import (  # noqa: E402
    assert_same_on_both,
    tiny_data,
)

# Rotations and zooms as Keras's RandomRotation and RandomZoom build them (tests/ops/test_image)
IMAGE_TRANSFORMS = np.array(
    [[0.8, -0.6, 2.2, 0.6, 0.8, -1.3, 0, 0], [1.3, 0, -1.2, 0, 0.7, 0.45, 0, 0]], np.float32
)


IMAGE_OPS = {
    "resize_bilinear_up": lambda t: ac.ops.resize(t, (8, 10)),
    "resize_bilinear": lambda t: ac.ops.resize(t, (7, 3)),
    "resize_nearest": lambda t: ac.ops.resize(t, (2, 8), "nearest"),
    **{
        f"affine_{interpolation}_{mode}": (
            lambda t, i=interpolation, m=mode: ac.ops.affine_transform(
                t, IMAGE_TRANSFORMS, i, m, fill_value=0.5
            )
        )
        for interpolation in ("bilinear", "nearest")
        for mode in ("constant", "nearest", "wrap", "mirror", "reflect")
    },
    "pad2d": lambda t: ac.ops.pad2d(t, ((1, 0), (2, 1)), value=0.5),
    "crop2d": lambda t: ac.ops.crop2d(t, ((1, 0), (2, 1))),
    "flip": lambda t: ac.ops.flip(t, (1, 2)),
    "repeat": lambda t: ac.ops.repeat(t, 2, axis=2),
    "repeat_counts": lambda t: ac.ops.repeat(t, [0, 2, 1, 1], axis=1),
}


@pytest.mark.parametrize("name", list(IMAGE_OPS))
def test_image_op_matches_cpu(name, rng):
    assert_same_on_both(IMAGE_OPS[name], [rng.standard_normal((2, 4, 5, 2))], rng)


@pytest.mark.parametrize("name", ["resize_bilinear", "affine_bilinear_reflect", "pad2d"])
def test_image_op_float32_stays_float32(name, rng):
    assert_same_on_both(IMAGE_OPS[name], [rng.standard_normal((2, 4, 5, 2))], rng, np.float32)


# Each makes a fresh layer, so a seeded one draws the same parameters on both devices (the
# draws are made on the host either way).
IMAGE_LAYERS = {
    "reshape": lambda d: layers.Reshape((5, -1), dtype=d),
    "permute": lambda d: layers.Permute((3, 1, 2), dtype=d),
    "zero_padding2d": lambda d: layers.ZeroPadding2D(((1, 0), (2, 1)), dtype=d),
    "cropping2d": lambda d: layers.Cropping2D(((1, 0), (0, 2)), dtype=d),
    "up_sampling2d": lambda d: layers.UpSampling2D((2, 1), dtype=d),
    "up_sampling2d_bilinear": lambda d: layers.UpSampling2D(2, interpolation="bilinear", dtype=d),
    "resizing_crop": lambda d: layers.Resizing(3, 3, crop_to_aspect_ratio=True, dtype=d),
    "resizing_pad": lambda d: layers.Resizing(3, 5, pad_to_aspect_ratio=True, dtype=d),
    "center_crop": lambda d: layers.CenterCrop(3, 3, dtype=d),
    "center_crop_up": lambda d: layers.CenterCrop(5, 4, dtype=d),
    "random_flip": lambda d: layers.RandomFlip(seed=1, dtype=d),
    "random_rotation": lambda d: layers.RandomRotation(0.3, seed=2, dtype=d),
    "random_rotation_crop": lambda d: layers.RandomRotation(0.3, "crop", seed=2, dtype=d),
    "random_zoom": lambda d: layers.RandomZoom(0.3, 0.2, "constant", seed=3, dtype=d),
    "random_translation": lambda d: layers.RandomTranslation(0.3, 0.3, "wrap", seed=4, dtype=d),
    "random_contrast": lambda d: layers.RandomContrast((0.5, 0.5), (-2, 2), seed=5, dtype=d),
    "random_brightness": lambda d: layers.RandomBrightness(0.4, (-2, 2), seed=6, dtype=d),
    "random_crop": lambda d: layers.RandomCrop(3, 4, seed=7, dtype=d),
}


@pytest.mark.parametrize("name", list(IMAGE_LAYERS))
def test_image_layer_matches_cpu(name, rng):
    make = IMAGE_LAYERS[name]
    x = rng.standard_normal((2, 4, 5, 2))
    assert_same_on_both(lambda t: make("float64")(t, training=True), [x], rng)


@pytest.mark.parametrize("name", ["random_rotation", "resizing_pad", "up_sampling2d_bilinear"])
def test_image_layer_float32_stays_float32(name, rng):
    make = IMAGE_LAYERS[name]
    x = rng.standard_normal((2, 4, 5, 2))
    assert_same_on_both(lambda t: make("float32")(t, training=True), [x], rng, np.float32)


def augmented_model() -> ac.Sequential:
    model = ac.Sequential(
        [
            ac.Sequential(
                [
                    layers.RandomFlip("horizontal", seed=1, input_shape=(6, 6, 1)),
                    layers.RandomRotation(0.1, seed=2),
                    layers.RandomZoom(0.1, seed=3),
                ]
            ),
            layers.Rescaling(0.5),
            layers.ZeroPadding2D(1),
            layers.Conv2D(2, 3, activation="relu"),
            layers.UpSampling2D(interpolation="bilinear"),
            layers.CenterCrop(8, 8),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.build((None, 6, 6, 1))  # a nested model first: Keras builds it here, autoconv not yet
    return model


def test_an_augmented_model_trains_on_the_gpu_as_on_the_cpu(rng):
    x, y = tiny_data(8, rng)
    ac.utils.set_random_seed(0)
    cpu_model, gpu_model = augmented_model(), augmented_model()
    gpu_model.set_weights(cpu_model.get_weights())
    gpu_model.to("cuda")
    results = []
    for model in (cpu_model, gpu_model):
        model.compile("rmsprop", "categorical_crossentropy")
        loss = model.train_on_batch(x, y)  # the same draws: the seeded layers are twins
        results.append((loss, model.get_weights(), model.predict(x, verbose=0)))
    (cpu_loss, cpu_weights, cpu_pred), (gpu_loss, gpu_weights, gpu_pred) = results
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=1e-5)
    for a, b in zip(gpu_weights, cpu_weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gpu_pred, cpu_pred, rtol=1e-4, atol=1e-6)
