"""Preprocessing layers: Rescaling, Resizing and CenterCrop (Keras 3's
keras/src/layers/preprocessing/rescaling.py, image_preprocessing/resizing.py and center_crop.py:
arguments, defaults, order and numbers are theirs), and the helpers the augmentation layers
(:mod:`autoconv.layers.augmentation`) share with them.

Images are channels-last: a batch (N, H, W, C) or one image (H, W, C).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autoconv.layers.core import channels_last, number, positive_int
from autoconv.layers.layer import Layer, Shape
from autoconv.layers.reshaping import resize_interpolation
from autoconv.ops import engine as ops
from autoconv.ops import image as image_ops
from autoconv.tensor import Tensor
from autoconv.windows import is_int

F32 = np.float32


class Rescaling(Layer):
    """``inputs * scale + offset``, e.g. ``Rescaling(1 / 255)`` for 8-bit images. ``scale`` and
    ``offset`` are numbers, or lists of numbers broadcast over the last axis (one per channel,
    as EfficientNet's ``Rescaling([1 / sqrt(var_r), 1 / sqrt(var_g), 1 / sqrt(var_b)])``)."""

    supports_masking = True

    def __init__(
        self, scale: float | Sequence[float], offset: float | Sequence[float] = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.scale = _rescaling_factor(scale, "scale")
        self.offset = _rescaling_factor(offset, "offset")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, inputs: Tensor) -> Tensor:
        scale, offset = (
            np.asarray(f, dtype=inputs.dtype) if isinstance(f, list) else f
            for f in (self.scale, self.offset)
        )
        out = inputs * scale
        return out + offset if self.offset else out

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"scale": self.scale, "offset": self.offset}


# ------------------------------------------------------------------------- helpers
def _rescaling_factor(value: Any, name: str) -> float | list[float]:
    """Rescaling's ``scale`` or ``offset``: a number, or a list (tuple) of numbers; an int
    stays an int, as Keras keeps it (``offset=-1`` in the config, not -1.0)."""

    def one(v: Any) -> float | int:
        checked = number(v, name, "Rescaling")
        return int(v) if is_int(v) else checked

    return [one(v) for v in value] if isinstance(value, list | tuple) else one(value)


def image_batch(layer: Layer, inputs: Any) -> tuple[Tensor, bool]:
    """``inputs`` as a batch (N, H, W, C), and whether it was one image (H, W, C)."""
    if not isinstance(inputs, Tensor):
        raise TypeError(
            f"{type(layer).__name__}: autoconv takes the images alone (a batch (N, H, W, C) or "
            f"one image (H, W, C)), not a {type(inputs).__name__} with labels, bounding boxes "
            "or segmentation masks"
        )
    if inputs.ndim not in (3, 4):
        raise ValueError(
            "Expected image tensor to have rank 3 (single image) or 4 (batch of images). "
            f"Received: data.shape={inputs.shape}"
        )
    return (inputs, False) if inputs.ndim == 4 else (ops.reshape(inputs, (1, *inputs.shape)), True)


def with_size(shape: Shape, height: int, width: int) -> Shape:
    """``shape`` (batch or single image, channels-last) with its height and width replaced."""
    return (*shape[:-3], height, width, shape[-1])


def _crop_to_aspect_ratio(images: Tensor, height: int, width: int) -> Tensor:
    """The largest centred window of ``images`` with the aspect ratio height:width (the crop
    of Keras's ``resize(crop_to_aspect_ratio=True)`` and ``smart_resize``)."""
    in_height, in_width = images.shape[1:3]
    crop_height = max(min(in_height, int(float(in_width * height) / width)), 1)
    crop_width = max(min(in_width, int(float(in_height * width) / height)), 1)
    top = int(float(in_height - crop_height) / 2)
    left = int(float(in_width - crop_width) / 2)
    bottom, right = in_height - top - crop_height, in_width - left - crop_width
    return ops.crop2d(images, ((top, bottom), (left, right)))


def _pad_to_aspect_ratio(images: Tensor, height: int, width: int, value: float) -> Tensor:
    """``images`` padded with ``value`` on both sides of their short axis towards the aspect
    ratio height:width (Keras's ``resize(pad_to_aspect_ratio=True)``: the same amount on each
    side, rows if any are needed, else columns)."""
    in_height, in_width = images.shape[1:3]
    pad_height = max(in_height, int(float(in_width * height) / width))
    pad_width = max(in_width, int(float(in_height * width) / height))
    rows = int(float(pad_height - in_height) / 2)
    columns = int(float(pad_width - in_width) / 2)
    if rows > 0:
        return ops.pad2d(images, ((rows, rows), (0, 0)), value)
    if columns > 0:
        return ops.pad2d(images, ((0, 0), (columns, columns)), value)
    return images


def factor_bounds(factor: Any, bounds: tuple[float, float]) -> tuple[float, float]:
    """(lower, upper) from ``factor`` as Keras's ``BaseImagePreprocessingLayer._set_factor``
    reads it: a number f gives (max(-|f|, bounds[0]), |f|), a pair is sorted."""
    error = (
        "The `factor` argument should be a number (or a list of two numbers) in the range "
        f"[{bounds[0]}, {bounds[1]}]. Received: factor={factor}"
    )
    if isinstance(factor, tuple | list):
        if len(factor) != 2 or factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(error)
        lower, upper = sorted(factor)
    elif isinstance(factor, int | float | np.integer | np.floating) and not isinstance(
        factor, bool
    ):
        if not bounds[0] <= factor <= bounds[1]:
            raise ValueError(error)
        lower, upper = max(-abs(factor), bounds[0]), abs(factor)
    else:
        raise ValueError(error)
    return float(lower), float(upper)


def height_width_factor(factor: Any, name: str, message: str) -> tuple[float, float]:
    """(lower, upper) from RandomZoom's and RandomTranslation's factors (their own
    ``_set_factor``: within [-1, 1], a number f gives (-|f|, |f|), a pair is sorted)."""
    if isinstance(factor, tuple | list):
        if len(factor) != 2:
            raise ValueError(f"{message}Received: {name}={factor}")
        values = factor
    elif isinstance(factor, int | float | np.integer | np.floating) and not isinstance(
        factor, bool
    ):
        values = (-abs(factor), abs(factor))
    else:
        raise ValueError(f"{message}Received: {name}={factor}")
    for value in values:
        if value > 1.0 or value < -1.0:
            raise ValueError(f"{message}Received: input_number={value}")
    lower, upper = sorted(values)
    return float(lower), float(upper)


# ----------------------------------------------------------------- resizing, cropping
class Resizing(Layer):
    """Images resized to (height, width) with ``keras.ops.image.resize``'s numbers (any of
    its interpolations; ``antialias`` widens the filter when downsampling); with
    ``crop_to_aspect_ratio`` the largest centred window of the target aspect ratio is resized,
    with ``pad_to_aspect_ratio`` the images are first padded with ``fill_value`` to it."""

    def __init__(
        self,
        height: int,
        width: int,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        fill_mode: str = "constant",
        fill_value: float = 0.0,
        antialias: bool = False,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        channels_last(data_format, "Resizing")
        self.data_format = "channels_last"
        self.height = positive_int(height, "height", "Resizing")
        self.width = positive_int(width, "width", "Resizing")
        self.interpolation = resize_interpolation(interpolation)
        self.antialias = bool(antialias)
        if fill_mode != "constant":
            raise ValueError(
                "Invalid value for argument `fill_mode`. Only `'constant'` is supported. "
                f"Received: fill_mode={fill_mode}"
            )
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(
                "Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`."
            )
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode, self.fill_value = fill_mode, float(fill_value)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return with_size(input_shape, self.height, self.width)

    def call(self, inputs: Tensor) -> Tensor:
        images, single = image_batch(self, inputs)
        if self.crop_to_aspect_ratio:
            images = _crop_to_aspect_ratio(images, self.height, self.width)
        elif self.pad_to_aspect_ratio:
            images = _pad_to_aspect_ratio(images, self.height, self.width, self.fill_value)
        size = (self.height, self.width)
        out = image_ops.resize(images, size, self.interpolation, antialias=self.antialias)
        return ops.reshape(out, out.shape[1:]) if single else out

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
        }


class CenterCrop(Layer):
    """The centred (height, width) window of images; images smaller than it along an axis are
    instead cropped to its aspect ratio and resized to it (bilinear), as Keras's
    ``smart_resize``. With an odd difference the window sits a pixel nearer the top or left."""

    def __init__(self, height: int, width: int, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        channels_last(data_format, "CenterCrop")
        self.data_format = "channels_last"
        self.height = positive_int(height, "height", "CenterCrop")
        self.width = positive_int(width, "width", "CenterCrop")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return with_size(input_shape, self.height, self.width)

    def call(self, inputs: Tensor) -> Tensor:
        images, single = image_batch(self, inputs)
        h_diff, w_diff = images.shape[1] - self.height, images.shape[2] - self.width
        if h_diff >= 0 and w_diff >= 0:
            top, left = int(h_diff / 2), int(w_diff / 2)
            out = ops.crop2d(images, ((top, h_diff - top), (left, w_diff - left)))
        else:
            out = _crop_to_aspect_ratio(images, self.height, self.width)
            out = ops.resize(out, (self.height, self.width), "bilinear")
        return ops.reshape(out, out.shape[1:]) if single else out

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "height": self.height,
            "width": self.width,
        }
