"""The shearing, erasing, blurring, warping and cropping augmentation layers: RandomShear,
RandomErasing, RandomGaussianBlur, RandomPerspective, RandomElasticTransform and RandomCrop.
Arguments, defaults, order and numbers are Keras 3's
(keras/src/layers/preprocessing/image_preprocessing/random_shear.py, random_erasing.py,
random_gaussian_blur.py, random_perspective.py, random_elastic_transform.py and
random_crop.py).

They follow the contract of :mod:`autoconv.layers.augmentation`: ``random_transformation(shape,
rng)`` makes the draws (under Keras's keys, so that Keras's transformation dicts apply here
too), ``transform_images(images, transformation)`` applies them, images are channels-last and
pass through unchanged in inference. What a layer computes on the host from its draws (a shear
per image, an erasing mask, a blur kernel) reaches the device as one step input
(:func:`per_step_parts`), so a training step the GPU replays draws anew. RandomPerspective and
RandomElasticTransform read each output pixel from a place computed on the host
(``keras.ops.image.perspective_transform`` and ``elastic_transform``, whose reads are
constants of the step): on the GPU their steps change from one to the next, so they run
eagerly, each drawing anew, and are not replayed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autoconv.layers.augmentation import (
    RandomAffineLayer,
    RandomImageLayer,
    drawn,
    per_step,
    per_step_parts,
    value_range_pair,
)
from autoconv.layers.core import positive_int
from autoconv.layers.image_data import (
    WarpsBoxes,
    perspective_boxes,
    shear_boxes,
    window_boxes,
)
from autoconv.layers.layer import Shape
from autoconv.layers.preprocessing import F32, factor_bounds, with_size
from autoconv.ops import engine as ops
from autoconv.ops import image as image_ops
from autoconv.ops.image import gaussian_taps
from autoconv.seeds import generator
from autoconv.tensor import Tensor


def unit_bounds(value: Any, name: str) -> tuple[float, float]:
    """(lower, upper) of a factor within [0, 1] read as Keras's ``_set_factor_by_name`` reads
    it (a number f gives (0, f), a pair is sorted); the error names the argument."""
    try:
        return factor_bounds(value, (0, 1))
    except ValueError as error:
        raise ValueError(str(error).replace("`factor`", f"`{name}`", 1)) from None


def applied(factor: tuple[float, float], n: int, rng: np.random.Generator) -> np.ndarray:
    """Which of ``n`` images a layer transforms: a uniform threshold under a probability drawn
    from ``factor``, Keras's two draws."""
    probability = rng.uniform(factor[0], factor[1], n).astype(F32)
    return rng.uniform(0.0, 1.0, n).astype(F32) < probability


def box_masks(
    shape: tuple[int, ...], scales: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Keras's ``_compute_crop_bounds`` and ``_generate_batch_mask`` (RandomErasing, CutMix):
    a box per image of ``scales`` (N, 2) times its (width, height) at a uniform position (x
    drawn first), as a mask (N, H, W, C) of the pixels with x0 <= x < x1 and y0 <= y < y1,
    and the box's share of the image's area (N,), in float32."""
    _, height, width, channels = shape

    def bounds(length: int, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        crop = (ratio * F32(length)).astype(F32)
        start = rng.uniform(0.0, 1.0, len(ratio)).astype(F32) * (F32(length) - crop)
        return start, start + crop

    (x0, x1), (y0, y1) = bounds(width, scales[:, 0]), bounds(height, scales[:, 1])
    rows, columns = np.indices((height, width), dtype=F32)
    inside = (
        (columns >= x0[:, None, None])
        & (columns < x1[:, None, None])
        & (rows >= y0[:, None, None])
        & (rows < y1[:, None, None])
    )
    area = (x1 - x0) * (y1 - y0) / F32(width * height)
    return np.broadcast_to(inside[..., None], (*inside.shape, channels)), area


# ---------------------------------------------------------------------------------- shear
_SHEAR_ERROR = (
    "The `factor` argument should be a number (or a list of two numbers) in the range [0, 1.0]. "
)


def _shear_bounds(factor: Any, name: str) -> tuple[float, float]:
    """RandomShear's ``_set_factor_with_name``: a number f within [0, 1] gives (-f, f); a pair
    is sorted. A pair may reach down to -1, as the layer's own config holds (-f, f): Keras
    rejects its values below 0, so it cannot read back the config of a float factor."""
    if isinstance(factor, tuple | list):
        if len(factor) != 2:
            raise ValueError(f"{_SHEAR_ERROR}Received: {name}={factor}")
        values, lowest = factor, -1.0
    elif isinstance(factor, int | float | np.integer | np.floating) and not isinstance(
        factor, bool
    ):
        values, lowest = (factor,), 0.0
    else:
        raise ValueError(f"{_SHEAR_ERROR}Received: {name}={factor}")
    for value in values:
        if not lowest <= value <= 1.0:
            raise ValueError(f"{_SHEAR_ERROR}Received: input_number={value}")
    lower, upper = sorted(values) if len(values) == 2 else (-values[0], values[0])
    return float(lower), float(upper)


class RandomShear(WarpsBoxes, RandomAffineLayer):
    """Shears each image along x by a factor drawn from ``x_factor`` and along y by one from
    ``y_factor`` (a float f gives (-f, f), within [0, 1]; or (lower, upper)), both negated for
    half of the images: output pixel (x, y) reads the input at (x + shear_x * y,
    y + shear_y * x), about the top-left corner, as in Keras."""

    def __init__(
        self,
        x_factor: Any = 0.0,
        y_factor: Any = 0.0,
        interpolation: str = "bilinear",
        fill_mode: str = "reflect",
        fill_value: float = 0.0,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        x_bounds = _shear_bounds(x_factor, "x_factor")
        y_bounds = _shear_bounds(y_factor, "y_factor")
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.x_factor, self.y_factor = x_bounds, y_bounds

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """Keras's draws, in its order: a sign per image, then shear_y, then shear_x."""
        n = shape[0]
        invert = np.where(rng.uniform(0.0, 1.0, (n, 1)).astype(F32) > 0.5, F32(-1), F32(1))
        shear_y = rng.uniform(*self.y_factor, (n, 1)).astype(F32)
        shear_x = rng.uniform(*self.x_factor, (n, 1)).astype(F32)
        return {"shear_factor": np.concatenate([shear_x, shear_y], axis=1) * invert}

    def transform_images(
        self, images: Tensor, transformation: Any, interpolation: str | None = None
    ) -> Tensor:
        """Keras's ``_get_shear_matrix``: [1, sx, 0, sy, 1, 0, 0, 0] per image."""

        def transforms() -> np.ndarray:
            shear = np.asarray(drawn(transformation)["shear_factor"], F32).reshape(-1, 2)
            rows = np.zeros((len(shear), 8), F32)
            rows[:, 0] = rows[:, 4] = 1
            rows[:, 1], rows[:, 3] = shear[:, 0], shear[:, 1]
            return rows

        return self.warp(images, transforms, interpolation)

    def move_boxes(self, boxes: dict[str, Any], draws: Any, height: int, width: int) -> Any:
        shears = draws["shear_factor"]
        return shear_boxes(boxes, self.bounding_box_format, shears, height, width)

    def factor_config(self) -> dict[str, Any]:
        return {"x_factor": self.x_factor, "y_factor": self.y_factor}


# -------------------------------------------------------------------------------- erasing
_FILL_VALUE_ERROR = "The `fill_value` argument should be a number (or a list of three numbers) "


class RandomErasing(RandomImageLayer):
    """Erases a random box of each image with probability drawn from ``factor`` (a float f
    gives (0, f), within [0, 1]): the box's sides are sqrt(s) times the image's, s drawn per
    side from ``scale``, at a uniform position; its pixels become ``fill_value`` (a number, or
    three, one per channel), or when None Gaussian noise times value_range's upper end,
    clipped to ``value_range``."""

    KEEPS_BOXES = True

    def __init__(
        self,
        factor: Any = 1.0,
        scale: Any = (0.02, 0.33),
        fill_value: float | Sequence[float] | None = None,
        value_range: Sequence[float] = (0, 255),
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.factor = unit_bounds(factor, "factor")
        self.scale = unit_bounds(scale, "scale")
        if fill_value is not None and np.shape(fill_value) not in ((), (3,)):
            raise ValueError(_FILL_VALUE_ERROR)
        if fill_value is not None and not np.issubdtype(np.asarray(fill_value).dtype, np.number):
            raise ValueError(_FILL_VALUE_ERROR)
        self.fill_value = fill_value  # as given, as Keras keeps it
        self.value_range = value_range_pair(value_range)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """Keras's draws, in its order: the box's scales, its x then y position, whether to
        erase, then the noise (where ``fill_value`` is None)."""
        n = shape[0]
        scales = np.sqrt(rng.uniform(*self.scale, (n, 2)).astype(F32))
        masks, _ = box_masks(shape, scales, rng)
        apply = applied(self.factor, n, rng)
        if self.fill_value is None:
            fill = rng.standard_normal(shape).astype(F32) * F32(self.value_range[1])
        else:
            fill = np.broadcast_to(np.asarray(self.fill_value, F32), shape)
        fill = np.clip(fill, *self.value_range)
        return {"apply_erasing": apply, "batch_masks": masks, "fill_value": fill}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        """``fill_value`` where ``batch_masks`` in the images ``apply_erasing`` picks, else the
        images: images * (1 - mask) + fill * mask."""

        def parts() -> tuple[np.ndarray, np.ndarray]:
            t = drawn(transformation)
            apply = np.asarray(t["apply_erasing"], bool).reshape(-1, 1, 1, 1)
            return np.asarray(t["batch_masks"], bool) & apply, t["fill_value"]

        mask, fill = per_step_parts(parts, (images.shape, images.shape), images)
        return images * (1.0 - mask) + fill * mask

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "factor": self.factor,
            "scale": self.scale,
            "fill_value": self.fill_value,
            "value_range": self.value_range,
            "seed": self.seed,
        }


# ----------------------------------------------------------------------------------- blur
def _kernel_size(value: Any) -> tuple[int, int]:
    """RandomGaussianBlur's ``_set_kernel_size``: one or two odd sizes (positive here)."""
    sizes = tuple(value) if isinstance(value, tuple | list) else (value, value)
    if len(sizes) != 2:
        raise ValueError(
            "The `kernel_size` argument should be a number (or a list of two numbers) "
            f"Received: kernel_size={value}"
        )
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd number. Received: kernel_size={value}")
        if size < 1:
            raise ValueError(f"kernel_size must be a positive odd number. Received: {value}")
    return int(sizes[0]), int(sizes[1])


class RandomGaussianBlur(RandomImageLayer):
    """Blurs each image with probability drawn from ``factor`` (a float f gives (0, f),
    within [0, 1]) by a Gaussian of ``kernel_size`` taps (one or two odd sizes) and a sigma
    per axis drawn once per batch from ``sigma`` (+ 1e-6), as ``keras.ops.image.gaussian_blur``
    (zero 'same' padding; ``kernel_size[0]`` and sigma[0] along the width); then clips every
    image to ``value_range``."""

    KEEPS_BOXES = True

    def __init__(
        self,
        factor: Any = 1.0,
        kernel_size: int | Sequence[int] = 3,
        sigma: Any = 1.0,
        value_range: Sequence[float] = (0, 255),
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.factor = unit_bounds(factor, "factor")
        self.kernel_size = _kernel_size(kernel_size)
        self.sigma = unit_bounds(sigma, "sigma")
        self.value_range = value_range_pair(value_range)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """Keras's draws, in its order: whether to blur each image, then the two sigmas."""
        apply = applied(self.factor, shape[0], rng)
        sigmas = rng.uniform(*self.sigma, 2).astype(F32) + F32(1e-6)
        return {"should_apply_blur": apply, "blur_factor": sigmas}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        """One depthwise convolution over the batch folded into the channels (N*C): the
        Gaussian for the channels of the images blurred, the identity (a centred 1) for the
        others."""
        n, height, width, channels = images.shape
        size_x, size_y = self.kernel_size

        def kernels() -> np.ndarray:
            t = drawn(transformation)
            sigma_x, sigma_y = np.asarray(t["blur_factor"], np.float64).reshape(2)
            blur = np.outer(gaussian_taps(size_y, sigma_y), gaussian_taps(size_x, sigma_x))
            identity = np.zeros_like(blur)
            identity[size_y // 2, size_x // 2] = 1.0
            apply = np.asarray(t["should_apply_blur"], bool).reshape(n)
            per_image = np.where(apply[:, None, None], blur, identity)  # (N, KH, KW)
            out = np.repeat(per_image.transpose(1, 2, 0), channels, axis=2)
            return out[..., None]  # (KH, KW, N*C, 1), channel n*C + c of image n

        folded = ops.reshape(ops.transpose(images, (1, 2, 0, 3)), (1, height, width, n * channels))
        kernel = per_step(kernels, images)
        blurred = ops.depthwise_conv2d(folded, kernel, padding="same")
        out = ops.transpose(ops.reshape(blurred, (height, width, n, channels)), (2, 0, 1, 3))
        return ops.clip(out, *self.value_range)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "factor": self.factor,
            "kernel_size": self.kernel_size,
            "sigma": self.sigma,
            "value_range": self.value_range,
            "seed": self.seed,
        }


# ---------------------------------------------------------------------------------- warps
def chosen(warped: Tensor, images: Tensor, apply: Any) -> Tensor:
    """``warped`` for the images ``apply`` (N,) picks, else ``images`` (a constant of the
    step: the caller drew it with the warp's own draws)."""
    picked = np.asarray(apply, bool).reshape(-1, 1, 1, 1)
    mask = Tensor(picked.astype(images.dtype), device=images.device)
    return warped * mask + images * (1.0 - mask)


class RandomPerspective(WarpsBoxes, RandomImageLayer):
    """Warps each image, with probability drawn from ``factor`` (a float f gives (0, f),
    within [0, 1]), by the perspective that moves its corners by up to ``scale`` / 2 times
    their coordinates (each corner's (x, y) times 1 + u, u uniform in [-scale/2, scale/2]);
    ``fill_value`` outside, sampled by ``interpolation`` ('bilinear' or 'nearest')."""

    INTERPOLATIONS = ("nearest", "bilinear")

    def __init__(
        self,
        factor: Any = 1.0,
        scale: float = 1.0,
        interpolation: str = "bilinear",
        fill_value: float = 0.0,
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.factor = unit_bounds(factor, "factor")
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 <= scale <= 1:
            raise ValueError(
                "The `scale` argument should be a number in the range [0,1]. "
                f"Received: scale={scale}"
            )
        if interpolation not in self.INTERPOLATIONS:
            raise NotImplementedError(
                f"Unknown `interpolation` {interpolation}. Expected of one {self.INTERPOLATIONS}."
            )
        self.scale, self.interpolation, self.fill_value = scale, interpolation, fill_value

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """Keras's draws, in its order: whether to warp each image, then the corners' moves."""
        n, height, width, _ = shape
        apply = applied(self.factor, n, rng)
        moves = rng.uniform(-0.5 * self.scale, 0.5 * self.scale, (n, 4, 2)).astype(F32)
        corners = [[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1], [width - 1, height - 1]]
        start = np.repeat(np.asarray([corners], F32), n, axis=0)
        return {
            "apply_perspective": apply,
            "start_points": start,
            "end_points": start + start * moves,
        }

    def transform_images(
        self, images: Tensor, transformation: Any, interpolation: str | None = None
    ) -> Tensor:
        t = drawn(transformation)
        warped = image_ops.perspective_transform(
            images, t["start_points"], t["end_points"], interpolation or self.interpolation,
            self.fill_value, "channels_last",
        )  # fmt: skip
        return chosen(warped, images, t["apply_perspective"])

    def move_boxes(self, boxes: dict[str, Any], draws: Any, height: int, width: int) -> Any:
        return perspective_boxes(boxes, self.bounding_box_format, draws, height, width)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "factor": self.factor,
            "scale": self.scale,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
            "seed": self.seed,
        }


class RandomElasticTransform(RandomImageLayer):
    """Displaces the pixels of each image, with probability drawn from ``factor`` (a float f
    gives (0, f), within [0, 1]), by a smooth random field: N(0, 1) noise per pixel and axis
    times sigma, blurred by a Gaussian of sigma, times alpha, where alpha = max(H, W) / 10 * d
    and sigma = min(H, W) / 20 * d for a distortion d drawn once per batch from ``scale``;
    ``fill_mode`` outside, sampled by ``interpolation``; then clips to ``value_range``. The
    noise is autoconv's, drawn from the layer's generator (Keras draws its own)."""

    INTERPOLATIONS = ("nearest", "bilinear")
    FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")

    def __init__(
        self,
        factor: Any = 1.0,
        scale: Any = 1.0,
        interpolation: str = "bilinear",
        fill_mode: str = "reflect",
        fill_value: float = 0.0,
        value_range: Sequence[float] = (0, 255),
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.factor = unit_bounds(factor, "factor")
        self.scale = unit_bounds(scale, "scale")
        if interpolation not in self.INTERPOLATIONS:
            raise NotImplementedError(
                f"Unknown `interpolation` {interpolation}. Expected of one {self.INTERPOLATIONS}."
            )
        if fill_mode not in self.FILL_MODES:
            raise NotImplementedError(
                f"Unknown `fill_mode` {fill_mode}. Expected of one {self.FILL_MODES}."
            )
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, fill_value
        self.value_range = value_range_pair(value_range)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """Keras's draws, in its order: whether to displace each image, the distortion, then
        (autoconv's) the seed of the noise; None where ``factor`` or ``scale`` is (0, 0)."""
        if self.scale[1] == 0 or self.factor[1] == 0:
            return None
        apply = applied(self.factor, shape[0], rng)
        distortion = F32(rng.uniform(*self.scale))
        return {
            "apply_transform": apply,
            "distortion_factor": distortion,
            "seed": int(rng.integers(2**63)),
        }

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        """Keras's ``get_elastic_transform_params`` (in float32) and
        ``keras.ops.image.elastic_transform`` with the noise of ``seed``."""
        t = drawn(transformation)
        if t is None:
            return images
        _, height, width, _ = images.shape
        distortion = F32(t["distortion_factor"])
        alpha = F32(max(height, width)) * (F32(0.1) * distortion)
        sigma = F32(min(height, width)) * (F32(0.05) * distortion)
        warped = image_ops.elastic_transform(
            images, float(alpha), float(sigma), self.interpolation, self.fill_mode,
            self.fill_value, seed=t["seed"], data_format="channels_last",
        )  # fmt: skip
        return ops.clip(chosen(warped, images, t["apply_transform"]), *self.value_range)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "factor": self.factor,
            "scale": self.scale,
            "interpolation": self.interpolation,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "value_range": self.value_range,
            "seed": self.seed,
        }


class RandomCrop(RandomImageLayer):
    """Crops every image of a batch at one random (height, width) window (Keras draws one
    position per batch). Images not larger than the window along both axes are cropped at
    the centre to the window's aspect ratio and resized to it (bilinear). In inference the
    images pass unchanged, whatever their size, as in Keras 3 (keras-team/keras#21868)."""

    def __init__(
        self,
        height: int,
        width: int,
        seed: int | None = None,
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if seed is None:  # as Keras's RandomCrop: a seed drawn now, kept in its config
            seed = int(generator().integers(1, 10**9))
        super().__init__(seed, data_format, name=name, **kwargs)
        self.height = positive_int(height, "height", "RandomCrop")
        self.width = positive_int(width, "width", "RandomCrop")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return with_size(input_shape, self.height, self.width)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """(top, left) of the window, as Keras's ``get_random_transformation`` in training."""
        _, height, width, _ = shape
        if height > self.height and width > self.width:
            top = int(rng.uniform(0.0, float(height - self.height + 1)))
            left = int(rng.uniform(0.0, float(width - self.width + 1)))
            return top, left
        crop_height = max(min(height, int(float(width * self.height) / self.width)), 1)
        crop_width = max(min(width, int(float(height * self.width) / self.height)), 1)
        return int(float(height - crop_height) / 2), int(float(width - crop_width) / 2)

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        """Keras's ``_random_crop``: rows top .. top + height and columns left .. left + width
        (fewer where the images end), resized to (height, width) if they fall short. ``call``'s
        window, inside the images, is read through a whole-pixel shift by (top, left), which a
        replayed step draws anew, and the top-left (height, width) of the shifted images."""
        _, height, width, _ = images.shape
        if callable(transformation) and height > self.height and width > self.width:

            def shift() -> np.ndarray:
                top, left = transformation()
                return np.array([1, 0, left, 0, 1, top, 0, 0], F32)

            shifted = ops.affine_transform(images, shift, "nearest", "constant")
            return ops.crop2d(shifted, ((0, height - self.height), (0, width - self.width)))
        top, left = drawn(transformation)
        rows, columns = min(self.height, height - top), min(self.width, width - left)
        out = ops.crop2d(images, ((top, height - top - rows), (left, width - left - columns)))
        if (rows, columns) != (self.height, self.width):
            out = ops.resize(out, (self.height, self.width), "bilinear")
        return out

    def transform_segmentation_masks(
        self, masks: Tensor, transformation: Any, training: bool = True
    ) -> Tensor:
        return self.transform_images(masks, transformation)

    def transform_bounding_boxes(
        self,
        bounding_boxes: dict[str, Any],
        transformation: Any,
        training: bool = True,
        image_shape: Shape | None = None,
    ) -> dict[str, Any]:
        """The boxes moved into the window at ``transformation`` (top, left) of images of
        ``image_shape``, as the images are (:func:`~autoconv.layers.image_data.window_boxes`).
        Keras 3.15's moves x by top and y by left, and neither clips at the window's far
        edges nor scales; they agree where top == left and the boxes lie in a window that is
        not resized."""
        if not training:
            return bounding_boxes
        top, left = transformation
        height, width = image_shape[1:3]
        window = (top, left, min(self.height, height - top), min(self.width, width - left))
        size = (self.height, self.width)
        return window_boxes(bounding_boxes, self.bounding_box_format, (height, width), window, size)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "height": self.height,
            "width": self.width,
            "seed": self.seed,
        }
