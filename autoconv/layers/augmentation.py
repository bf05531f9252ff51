"""The image augmentation layers: RandomFlip, RandomRotation, RandomZoom, RandomTranslation,
RandomContrast and RandomBrightness (RandomCrop, the others on the same base, in
:mod:`autoconv.layers.geometric_augmentation`). Arguments, defaults, order and numbers are
Keras 3's (keras/src/layers/preprocessing/image_preprocessing/).

Images are channels-last: a batch (N, H, W, C) or one image (H, W, C)
(``data_format="channels_first"``, (N, C, H, W) or (C, H, W): :mod:`.channels`).

The augmentation layers transform images in training and pass them through unchanged in
inference (``predict``, ``evaluate``, ``training=False``). As in Keras, the default of their
``call`` is ``training=True``: called on its own, outside a model, such a layer augments. Each
draws its random parameters (one per image; RandomCrop one crop per batch, as Keras) from its
own ``np.random.default_rng(seed)`` when given ``seed=``, else from
:func:`autoconv.seeds.generator` (reseeded by ``autoconv.utils.set_random_seed``).
``random_transformation(shape, rng)`` makes the draws and ``transform_images(images,
transformation)`` applies them, transcribing Keras's ``get_random_transformation`` and
``transform_images``. In ``call`` the transformation is a function that makes the draws, and
what the layer computes from them on the host (an affine transform per image, a contrast
factor) reaches the device as a step input: a training step the GPU replays draws anew, as an
eager one does. The geometric ones warp with :func:`autoconv.ops.affine_transform` (Numba,
parallel over the images, on the CPU; a CUDA kernel on the GPU); their transforms are computed
in float32, as Keras computes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.layers.channels import ChannelsFirst
from autoconv.layers.image_data import (
    ImageDataLayer,
    WarpsBoxes,
    call_on_data,
    data_tensor,
    flip_boxes,
    rotate_boxes,
    take_box_format,
    translate_boxes,
    zoom_boxes,
)
from autoconv.layers.layer import Layer, Shape
from autoconv.layers.preprocessing import (
    F32,
    factor_bounds,
    height_width_factor,
    image_batch,
    plain_number,
)
from autoconv.ops import engine as ops
from autoconv.seeds import generator
from autoconv.tensor import Tensor


# ----------------------------------------------------------------------- augmentation
def drawn(transformation: Any) -> Any:
    """A transformation's draws: ``transformation()`` where it is the function that makes them
    (``call``'s), else the draws given."""
    return transformation() if callable(transformation) else transformation


def per_step(compute: Callable[[], Any], like: Tensor) -> Tensor:
    """``compute()`` (what a layer computes on the host from its draws) as a constant tensor of
    ``like``'s dtype on its device; in a step the GPU records, a replay calls ``compute`` again
    (a step input)."""
    return Tensor(backend(like).step_input(compute, like.dtype))


def per_step_parts(
    compute: Callable[[], Sequence[Any]], shapes: Sequence[tuple[int, ...]], like: Tensor
) -> list[Tensor]:
    """The arrays ``compute()`` gives, of ``shapes``, as constant tensors of ``like``'s dtype on
    its device. They travel as one step input, so one call of ``compute`` (one draw) gives
    them all, in an eager step and in each replay of a recorded one."""

    def flat() -> np.ndarray:
        arrays = zip(compute(), shapes, strict=True)
        return np.concatenate([np.broadcast_to(np.asarray(a), s).reshape(-1) for a, s in arrays])

    values, parts, start = per_step(flat, like), [], 0
    for shape in shapes:
        size = math.prod(shape)
        parts.append(ops.reshape(ops.getitem(values, slice(start, start + size)), shape))
        start += size
    return parts


class RandomImageLayer(ChannelsFirst, ImageDataLayer, Layer):
    """The base of the augmentation layers: in training, ``transform_images(images, draw)``
    with ``draw()`` = ``random_transformation(images.shape, rng)``; in inference, the images
    unchanged. A dict of images, bounding boxes, masks and labels: one draw moves them all
    (:class:`~autoconv.layers.image_data.ImageDataLayer`)."""

    _allow_non_tensor_positional_args = True  # (Keras's data layers')
    rank = 2  # (images' spatial axes)
    channels_moved = (
        "build", "compute_output_shape", "call", "transform_images", "transform_segmentation_masks",
    )  # fmt: skip

    def __init__(self, seed: int | None = None, data_format: str | None = None, **kwargs: Any):
        self.bounding_box_format = take_box_format(kwargs)
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
        ):
            raise ValueError(f"{type(self).__name__}: seed must be a non-negative int or None")
        self.seed = None if seed is None else int(seed)
        self._generator = None if seed is None else np.random.default_rng(self.seed)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        """The random parameters for a batch of images of ``shape`` (N, H, W, C)."""
        raise NotImplementedError

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        """``images`` (N, H, W, C) transformed with the parameters ``transformation`` (or
        with those of one call of it, a function: see :func:`drawn`)."""
        raise NotImplementedError

    def call(self, inputs: Any, training: bool = True) -> Any:
        if isinstance(inputs, dict):
            return self.call_on_data(inputs, training)
        images, single = image_batch(self, inputs)
        if not training:
            return inputs
        rng = self._generator or generator()
        out = self.transform_images(images, lambda: self.random_transformation(images.shape, rng))
        return ops.reshape(out, out.shape[1:]) if single else out

    def call_on_data(self, data: dict[str, Any], training: bool) -> dict[str, Any]:
        if not training:
            return call_on_data(self, data, None, lambda images: images, training=False)
        transformation = None
        if "images" in data:
            shape = image_batch(self, data_tensor(self, data["images"]))[0].shape
            transformation = self.random_transformation(shape, self._generator or generator())
        return call_on_data(
            self, data, transformation, lambda x: self.transform_images(x, transformation)
        )


HORIZONTAL, VERTICAL = "horizontal", "vertical"
HORIZONTAL_AND_VERTICAL = "horizontal_and_vertical"


class RandomFlip(RandomImageLayer):
    """Flips each image left-right ('horizontal'), top-bottom ('vertical') or both with
    probability 1/2. As in Keras, 'horizontal_and_vertical' draws once per image and flips
    it both ways or not at all."""

    def __init__(
        self,
        mode: str = HORIZONTAL_AND_VERTICAL,
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        if mode not in (HORIZONTAL, VERTICAL, HORIZONTAL_AND_VERTICAL):
            raise ValueError(
                f"RandomFlip layer {self.name} received an unknown mode argument {mode!r}: "
                f"expected {HORIZONTAL!r}, {VERTICAL!r} or {HORIZONTAL_AND_VERTICAL!r}"
            )
        self.mode = mode

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        return {"flips": rng.uniform(size=shape[0]).astype(F32) <= 0.5}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        _, height, width, _ = images.shape

        def transforms() -> np.ndarray:
            flips = np.asarray(drawn(transformation)["flips"], bool).reshape(-1)
            rows = np.zeros((len(flips), 8), F32)
            rows[:, 0] = rows[:, 4] = 1  # the identity: column x, row y read themselves
            if self.mode != VERTICAL:  # read column (width - 1) - x
                rows[flips, 0], rows[flips, 2] = -1, width - 1
            if self.mode != HORIZONTAL:  # read row (height - 1) - y
                rows[flips, 4], rows[flips, 5] = -1, height - 1
            return rows

        # Whole-pixel reads: 'nearest' copies the values exactly, and no read falls outside.
        return ops.affine_transform(images, transforms, "nearest", "nearest")

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
        """Keras's (see :func:`~autoconv.layers.image_data.flip_boxes`); the images' size
        from ``transformation``'s 'input_shape' (Keras's), else from ``image_shape``."""
        if not training:
            return bounding_boxes
        shape = transformation.get("input_shape", image_shape)
        horizontal, vertical = self.mode != VERTICAL, self.mode != HORIZONTAL
        flips = (transformation["flips"], horizontal, vertical)
        return flip_boxes(bounding_boxes, self.bounding_box_format, flips, *shape[-3:-1])

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "seed": self.seed,
            "mode": self.mode,
        }


class RandomAffineLayer(RandomImageLayer):
    """Rotations, zooms and translations: an affine warp per image, filled by ``fill_mode``
    outside the image ('reflect' (d c b a | a b c d | d c b a), 'wrap', 'constant' with
    ``fill_value``, 'nearest'), sampled by ``interpolation`` ('bilinear' or 'nearest')."""

    FILL_MODES: tuple[str, ...] = ("reflect", "wrap", "constant", "nearest")
    INTERPOLATIONS = ("nearest", "bilinear")

    def __init__(
        self,
        fill_mode: str,
        interpolation: str,
        seed: int | None,
        fill_value: float,
        data_format: str | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        if fill_mode not in self.FILL_MODES:
            raise NotImplementedError(
                f"Unknown `fill_mode` {fill_mode}. Expected of one {self.FILL_MODES}."
            )
        if interpolation not in self.INTERPOLATIONS:
            raise NotImplementedError(
                f"Unknown `interpolation` {interpolation}. Expected of one {self.INTERPOLATIONS}."
            )
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = float(fill_value)

    def warp(
        self,
        images: Tensor,
        transforms: Callable[[], np.ndarray],
        interpolation: str | None = None,
    ) -> Tensor:
        """``images`` warped through ``transforms()`` (N, 8), computed at each step, sampled
        by ``interpolation`` (the layer's by default; segmentation masks' 'nearest')."""
        return ops.affine_transform(
            images, transforms, interpolation or self.interpolation, self.fill_mode,
            self.fill_value,
        )  # fmt: skip

    def factor_config(self) -> dict[str, Any]:
        """The layer's own factors, after ``data_format`` in its config (Keras's order)."""
        return {}

    def get_config(self) -> dict[str, Any]:
        return (
            super().get_config()
            | {"data_format": self.data_format}
            | self.factor_config()
            | {
                "fill_mode": self.fill_mode,
                "interpolation": self.interpolation,
                "seed": self.seed,
                "fill_value": self.fill_value,
            }
        )


def rotation_transforms(angles: Any, height: int, width: int) -> np.ndarray:
    """Keras's ``_compute_affine_matrix`` (BaseImagePreprocessingLayer) for rotations by
    ``angles`` degrees about the image centre (no translation or shear, scale 1), in float32:
    rows [cos, -sin, a2, sin, cos, b2, 0, 0] with centre (cx, cy) = ((W - 1) / 2, (H - 1) / 2),
    a2 = cx - cx*cos + cy*sin and b2 = cy - cx*sin - cy*cos."""
    theta = np.asarray(angles, F32).reshape(-1) * F32(math.pi / 180.0)
    cx, cy = F32(0.5) * (F32(width) - F32(1)), F32(0.5) * (F32(height) - F32(1))
    cos, sin = np.cos(theta), np.sin(theta)
    zeros = np.zeros_like(theta)
    a0, a1, b0, b1 = cos, -sin, sin, cos
    a2 = cx - cx * a0 - cy * a1
    b2 = cy - cx * b0 - cy * b1
    return np.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


class RandomRotation(WarpsBoxes, RandomAffineLayer):
    """Rotates each image by an angle drawn uniformly from [lower, upper] * 360 degrees, where
    ``factor`` is a fraction of a full turn: a float f gives (-f, f), or give (lower, upper).
    Positive angles turn counter-clockwise. ``fill_mode='crop'`` pads the image to its
    diagonal, rotates it with zeros around and crops the centre back (Keras's crop mode)."""

    FILL_MODES = ("reflect", "wrap", "constant", "nearest", "crop")

    def __init__(
        self,
        factor: Any,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = factor_bounds(factor or 0.0, (-1, 1))

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        lower, upper = self.factor
        return {"angle": rng.uniform(lower * 360.0, upper * 360.0, shape[0]).astype(F32)}

    def transform_images(
        self, images: Tensor, transformation: Any, interpolation: str | None = None
    ) -> Tensor:
        _, height, width, _ = images.shape
        if self.fill_mode != "crop":
            return self.warp(
                images,
                lambda: rotation_transforms(drawn(transformation)["angle"], height, width),
                interpolation,
            )
        side = int(np.ceil(np.sqrt(F32(height) * F32(height) + F32(width) * F32(width))))
        top, left = (side - height) // 2, (side - width) // 2
        border = ((top, side - height - top), (left, side - width - left))
        padded = ops.pad2d(images, border)
        rotated = ops.affine_transform(
            padded, lambda: rotation_transforms(drawn(transformation)["angle"], side, side),
            interpolation or self.interpolation, "constant",
        )  # fmt: skip
        return ops.crop2d(rotated, border)

    def move_boxes(self, boxes: dict[str, Any], draws: Any, height: int, width: int) -> Any:
        return rotate_boxes(boxes, self.bounding_box_format, draws["angle"], height, width)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("fill_value", "interpolation", "seed"):  # Keras's order for this one
            config[key] = config.pop(key)
        return config

    def factor_config(self) -> dict[str, Any]:
        return {"factor": self.factor}


_ZOOM_ERROR = (
    "The `height_factor` and `width_factor` arguments should be a number (or a list of two "
    "numbers) in the range [-1.0, 1.0]. "
)


class RandomZoom(WarpsBoxes, RandomAffineLayer):
    """Zooms each image by factors drawn uniformly from 1 + [lower, upper], about its centre:
    positive factors zoom out, negative ones zoom in. ``height_factor`` (a float f gives
    (-f, f), or (lower, upper)) draws the vertical zoom; ``width_factor`` the horizontal one,
    which is the vertical one when it is None (the aspect ratio kept)."""

    def __init__(
        self,
        height_factor: Any,
        width_factor: Any = None,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = height_factor
        self.height_lower, self.height_upper = height_width_factor(
            height_factor, "height_factor", _ZOOM_ERROR
        )
        self.width_factor = width_factor
        if width_factor is not None:
            self.width_lower, self.width_upper = height_width_factor(
                width_factor, "width_factor", _ZOOM_ERROR
            )

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        n = shape[0]
        height_zoom = rng.uniform(1.0 + self.height_lower, 1.0 + self.height_upper, n)
        width_zoom = height_zoom
        if self.width_factor is not None:
            width_zoom = rng.uniform(1.0 + self.width_lower, 1.0 + self.width_upper, n)
        return {"height_zoom": height_zoom.astype(F32), "width_zoom": width_zoom.astype(F32)}

    def transform_images(
        self, images: Tensor, transformation: Any, interpolation: str | None = None
    ) -> Tensor:
        """Keras's ``_get_zoom_matrix``: [zx, 0, (W - 1) / 2 * (1 - zx), 0, zy,
        (H - 1) / 2 * (1 - zy), 0, 0], in float32."""
        _, height, width, _ = images.shape

        def transforms() -> np.ndarray:
            zooms = drawn(transformation)
            zx = np.asarray(zooms["width_zoom"], F32).reshape(-1)
            zy = np.asarray(zooms["height_zoom"], F32).reshape(-1)
            x_offset = ((F32(width) - F32(1)) / F32(2)) * (F32(1) - zx)
            y_offset = ((F32(height) - F32(1)) / F32(2)) * (F32(1) - zy)
            zeros = np.zeros_like(zx)
            return np.stack([zx, zeros, x_offset, zeros, zy, y_offset, zeros, zeros], axis=1)

        return self.warp(images, transforms, interpolation)

    def move_boxes(self, boxes: dict[str, Any], draws: Any, height: int, width: int) -> Any:
        zooms = np.stack([np.ravel(draws["width_zoom"]), np.ravel(draws["height_zoom"])], 1)
        return zoom_boxes(boxes, self.bounding_box_format, zooms, height, width)

    def factor_config(self) -> dict[str, Any]:
        return {"height_factor": self.height_factor, "width_factor": self.width_factor}


_TRANSLATION_ERROR = (
    "The `factor` argument should be a number (or a list of two numbers) in the range [-1.0, 1.0]. "
)


class RandomTranslation(WarpsBoxes, RandomAffineLayer):
    """Shifts each image by fractions of its height and width drawn uniformly from
    ``height_factor`` and ``width_factor`` (a float f gives (-f, f), or (lower, upper));
    positive values move the image down and right."""

    def __init__(
        self,
        height_factor: Any,
        width_factor: Any,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_lower, self.height_upper = height_width_factor(
            height_factor, "height_factor", _TRANSLATION_ERROR
        )
        self.width_lower, self.width_upper = height_width_factor(
            width_factor, "width_factor", _TRANSLATION_ERROR
        )

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        n, height, width, _ = shape
        dy = rng.uniform(self.height_lower, self.height_upper, n).astype(F32) * F32(height)
        dx = rng.uniform(self.width_lower, self.width_upper, n).astype(F32) * F32(width)
        return {"translations": np.stack([dx, dy], axis=1)}  # pixels, (width, height)

    def transform_images(
        self, images: Tensor, transformation: Any, interpolation: str | None = None
    ) -> Tensor:
        """Keras's ``_get_translation_matrix``: [1, 0, -dx, 0, 1, -dy, 0, 0]."""

        def transforms() -> np.ndarray:
            t = np.asarray(drawn(transformation)["translations"], F32).reshape(-1, 2)
            ones, zeros = np.ones(len(t), F32), np.zeros(len(t), F32)
            return np.stack([ones, zeros, -t[:, 0], zeros, ones, -t[:, 1], zeros, zeros], 1)

        return self.warp(images, transforms, interpolation)

    def move_boxes(self, boxes: dict[str, Any], draws: Any, height: int, width: int) -> Any:
        translations = draws["translations"]
        return translate_boxes(boxes, self.bounding_box_format, translations, height, width)

    def factor_config(self) -> dict[str, Any]:
        return {"height_factor": self.height_factor, "width_factor": self.width_factor}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def value_range_pair(value_range: Any) -> tuple[float, float]:
    """A layer's ``value_range``, two numbers (Keras's error otherwise), as given (Keras's
    config keeps ``(0, 255)`` as ``[0, 255]``)."""
    if (
        not isinstance(value_range, tuple | list)
        or len(value_range) != 2
        or not all(is_number(v) for v in value_range)
    ):
        raise ValueError(
            "The `value_range` argument should be a list of two numbers. "
            f"Received: value_range={value_range}"
        )
    return plain_number(value_range[0]), plain_number(value_range[1])


def checked_range(value_range: Any, sort: bool = True) -> Any:
    """``value_range`` as Keras keeps it: sorted into a list (``_set_value_range``), or as
    given (``sort=False``: RandomContrast, RandomInvert, RandomHue, RandomColorJitter); two
    numbers either way."""
    value_range_pair(value_range)
    return sorted(value_range) if sort else value_range


class RandomContrast(RandomImageLayer):
    """Scales each image's deviations from its per-channel mean by a factor drawn uniformly
    from [1 - lower, 1 + upper], then clips to ``value_range``: (x - mean) * factor + mean.
    ``factor`` is read as Keras reads it, within [0, 1]: a float f gives (lower, upper) =
    (0, f), so a single float only raises the contrast (give (f, f) for [1 - f, 1 + f])."""

    KEEPS_BOXES = True

    def __init__(
        self,
        factor: Any,
        value_range: Sequence[float] = (0, 255),
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.factor = factor_bounds(factor, (0, 1))
        self.value_range = checked_range(value_range, sort=False)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        lower, upper = self.factor
        return {"contrast_factor": rng.uniform(1.0 - lower, 1.0 + upper, shape[0]).astype(F32)}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        factor = per_step(
            lambda: np.asarray(drawn(transformation)["contrast_factor"]).reshape(-1, 1, 1, 1),
            images,
        )
        mean = images.mean(axis=-3, keepdims=True).mean(axis=-2, keepdims=True)
        out = (images - mean) * factor + mean
        return ops.clip(out, *self.value_range)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "factor": self.factor,
            "value_range": self.value_range,
            "seed": self.seed,
        }


class RandomBrightness(RandomImageLayer):
    """Adds to each image a delta drawn uniformly from [lower, upper] * (high - low) of
    ``value_range`` (a float f gives (-f, f), within [-1, 1]), then clips to the range."""

    KEEPS_BOXES = True

    def __init__(
        self,
        factor: Any,
        value_range: Sequence[float] = (0, 255),
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.factor = factor_bounds(factor, (-1, 1))
        self.value_range = checked_range(value_range)

    def random_transformation(self, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        lower, upper = self.factor
        delta = rng.uniform(lower, upper, shape[0]).astype(F32)
        return {"rgb_delta": delta * F32(self.value_range[1] - self.value_range[0])}

    def transform_images(self, images: Tensor, transformation: Any) -> Tensor:
        delta = per_step(
            lambda: np.asarray(drawn(transformation)["rgb_delta"]).reshape(-1, 1, 1, 1), images
        )
        return ops.clip(images + delta, *self.value_range)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "factor": self.factor,
            "value_range": self.value_range,
            "seed": self.seed,
        }
