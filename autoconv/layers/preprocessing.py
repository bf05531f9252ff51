"""Preprocessing layers: Rescaling, Resizing and CenterCrop (Keras 3's
keras/src/layers/preprocessing/rescaling.py, image_preprocessing/resizing.py and center_crop.py:
arguments, defaults, order and numbers are theirs), and the helpers the augmentation layers
(:mod:`autoconv.layers.augmentation`) share with them.

Images are channels-last: a batch (N, H, W, C) or one image (H, W, C)
(``data_format="channels_first"``, (N, C, H, W) or (C, H, W): :mod:`.channels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autoconv.layers import bounding_boxes as bb
from autoconv.layers.channels import ChannelsFirst
from autoconv.layers.core import number, positive_int
from autoconv.layers.image_data import (
    box_format_config,
    call_on_data,
    image_batch,
    take_box_format,
    window_boxes,
)
from autoconv.layers.layer import Layer, Shape
from autoconv.layers.reshaping import resize_interpolation
from autoconv.ops import engine as ops
from autoconv.ops import image as image_ops
from autoconv.ops.numpy import math as numpy_math
from autoconv.tensor import Tensor
from autoconv.windows import is_int

F32 = np.float32


class Rescaling(Layer):
    """``inputs * scale + offset``, e.g. ``Rescaling(1 / 255)`` for 8-bit images. ``scale`` and
    ``offset`` are numbers, or lists of numbers broadcast over the last axis (one per channel,
    as EfficientNet's ``Rescaling([1 / sqrt(var_r), 1 / sqrt(var_g), 1 / sqrt(var_b)])``)."""

    _allow_non_tensor_positional_args = True  # (Keras's data layers')

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
    reads it: a number f gives (max(-|f|, bounds[0]), |f|), a pair is sorted; the numbers as
    Keras keeps them (its config's ``factor`` of 0.1 within [0, 1] is ``[0, 0.1]``)."""
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
    return plain_number(lower), plain_number(upper)


def plain_number(number: Any) -> Any:
    """A NumPy scalar as Python's number (for a config), a Python number as it is."""
    return number.item() if isinstance(number, np.generic) else number


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
class Resizing(ChannelsFirst, Layer):
    """Images resized to (height, width) with ``keras.ops.image.resize``'s numbers (any of
    its interpolations; ``antialias`` widens the filter when downsampling); with
    ``crop_to_aspect_ratio`` the largest centred window of the target aspect ratio is resized,
    with ``pad_to_aspect_ratio`` the images are first padded with ``fill_value`` to it. A dict
    of images, bounding boxes (``bounding_box_format=``), segmentation masks (resized
    'nearest') and labels is resized together, as Keras's."""

    keeps_integer_data = True
    rank = 2  # (images' spatial axes)

    _allow_non_tensor_positional_args = True  # (Keras's data layers')

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
        self.bounding_box_format = take_box_format(kwargs)
        super().__init__(**kwargs)
        self.set_data_format(data_format)
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

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """Integer images (a NumPy array of uint8, keras.io's FCN's images and masks) come back
        rounded half to even and saturated to their dtype's range, the numbers Keras's
        ``_transform_images`` casts back to that dtype (autoconv's Tensors hold them as
        floats): a mask resized bilinearly keeps whole class labels."""
        outputs = super().__call__(inputs, *args, **kwargs)
        kind = getattr(getattr(inputs, "dtype", None), "kind", None)  # (NumPy dtypes only)
        if isinstance(inputs, Tensor) or not isinstance(outputs, Tensor) or kind not in ("i", "u"):
            return outputs
        limits = np.iinfo(inputs.dtype)
        return ops.clip(numpy_math.round(outputs), float(limits.min), float(limits.max))

    def _resize(self, images: Tensor, interpolation: str) -> Tensor:
        if self.crop_to_aspect_ratio:
            images = _crop_to_aspect_ratio(images, self.height, self.width)
        elif self.pad_to_aspect_ratio:
            images = _pad_to_aspect_ratio(images, self.height, self.width, self.fill_value)
        size = (self.height, self.width)
        return image_ops.resize(
            images, size, interpolation, antialias=self.antialias, data_format="channels_last"
        )

    def call(self, inputs: Any, training: bool = True) -> Any:
        """(``training``, unused, is Keras's image layers' argument: a model's config records
        it for this call, as Keras's.)"""
        if isinstance(inputs, dict):
            return call_on_data(self, inputs, None, lambda x: self._resize(x, self.interpolation))
        images, single = image_batch(self, inputs)
        out = self._resize(images, self.interpolation)
        return ops.reshape(out, out.shape[1:]) if single else out

    def transform_segmentation_masks(
        self, masks: Tensor, transformation: Any = None, training: bool = True
    ) -> Tensor:
        return self._resize(masks, "nearest")

    def transform_bounding_boxes(
        self,
        bounding_boxes: dict[str, Any],
        transformation: Any = None,
        training: bool = True,
        image_shape: Shape | None = None,
    ) -> dict[str, Any]:
        """Keras's: the boxes scaled (and shifted by the crop or pad) with the images, clipped
        to them (labels of boxes left empty -1); boxes all 0 or all -1 (padding) come out 0.
        ``transformation`` is Keras's (input height, input width), else ``image_shape``'s."""
        in_height, in_width = transformation if transformation else image_shape[1:3]
        boxes = bb.host(bounding_boxes["boxes"])
        padding = np.all(boxes == -1, axis=-1) | np.all(boxes == 0, axis=-1)
        data = bb.convert_format(
            dict(bounding_boxes), self.bounding_box_format, "xyxy", in_height, in_width
        )
        boxes = np.asarray(data["boxes"])
        h, w = F32(in_height), F32(in_width)
        if self.pad_to_aspect_ratio:
            ratio = np.minimum(F32(self.height) / h, F32(self.width) / w)
            scale_x = scale_y = ratio
            x_shift = (F32(self.width) - w * ratio) // F32(2)
            y_shift = (F32(self.height) - h * ratio) // F32(2)
        elif self.crop_to_aspect_ratio:
            source = w / h
            wider = source > F32(self.width / self.height)
            new_width = F32(self.height) * source if wider else F32(self.width)
            new_height = F32(self.height) if wider else F32(self.width) / source
            scale_x, scale_y = new_width / w, new_height / h
            x_shift = -((new_width - F32(self.width)) // F32(2))
            y_shift = -((new_height - F32(self.height)) // F32(2))
        else:
            scale_x, scale_y = F32(self.width) / w, F32(self.height) / h
            x_shift = y_shift = F32(0)
        scale = np.array([scale_x, scale_y, scale_x, scale_y], F32)
        data["boxes"] = (boxes * scale + np.array([x_shift, y_shift] * 2, F32)).astype(F32)
        data = bb.clip_to_image_size(data, self.height, self.width)
        data["boxes"] = np.where(padding[..., None], F32(0), data["boxes"])
        return bb.convert_format(data, "xyxy", self.bounding_box_format, self.height, self.width)

    def get_config(self) -> dict[str, Any]:
        config = box_format_config(self, super().get_config() | {"data_format": self.data_format})
        return config | {
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
        }


class CenterCrop(ChannelsFirst, Layer):
    """The centred (height, width) window of images; images smaller than it along an axis are
    instead cropped to its aspect ratio and resized to it (bilinear), as Keras's
    ``smart_resize``. With an odd difference the window sits a pixel nearer the top or left.
    A dict of images, bounding boxes (``bounding_box_format=``), segmentation masks and labels
    is cropped together, as Keras's."""

    keeps_integer_data = True
    rank = 2  # (images' spatial axes)

    _allow_non_tensor_positional_args = True  # (Keras's data layers')

    def __init__(self, height: int, width: int, data_format: str | None = None, **kwargs: Any):
        self.bounding_box_format = take_box_format(kwargs)
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        self.height = positive_int(height, "height", "CenterCrop")
        self.width = positive_int(width, "width", "CenterCrop")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return with_size(input_shape, self.height, self.width)

    def _crop(self, images: Tensor) -> Tensor:
        h_diff, w_diff = images.shape[1] - self.height, images.shape[2] - self.width
        if h_diff >= 0 and w_diff >= 0:
            top, left = int(h_diff / 2), int(w_diff / 2)
            return ops.crop2d(images, ((top, h_diff - top), (left, w_diff - left)))
        out = _crop_to_aspect_ratio(images, self.height, self.width)
        return ops.resize(out, (self.height, self.width), "bilinear")

    def call(self, inputs: Any, training: bool = True) -> Any:
        """(``training``, unused, as :meth:`Resizing.call`'s.)"""
        if isinstance(inputs, dict):
            return call_on_data(self, inputs, None, self._crop)
        images, single = image_batch(self, inputs)
        out = self._crop(images)
        return ops.reshape(out, out.shape[1:]) if single else out

    def transform_segmentation_masks(
        self, masks: Tensor, transformation: Any = None, training: bool = True
    ) -> Tensor:
        """As the images (bilinear where they are resized, as Keras's)."""
        return self._crop(masks)

    def transform_bounding_boxes(
        self,
        bounding_boxes: dict[str, Any],
        transformation: Any = None,
        training: bool = True,
        image_shape: Shape | None = None,
    ) -> dict[str, Any]:
        """Keras's: the boxes clipped to the window and moved into it (scaled where the window
        is resized), labels of boxes left empty -1. ``transformation`` is Keras's
        ``{"input_shape": ...}``, else ``image_shape`` gives the input's size."""
        shape = transformation["input_shape"] if transformation else image_shape
        height, width = shape[-3], shape[-2]
        h_diff, w_diff = height - self.height, width - self.width
        if h_diff >= 0 and w_diff >= 0:
            window = (int(h_diff / 2), int(w_diff / 2), self.height, self.width)
        else:
            rows = max(min(height, int(float(width * self.height) / self.width)), 1)
            columns = max(min(width, int(float(height * self.width) / self.height)), 1)
            top, left = int(float(height - rows) / 2), int(float(width - columns) / 2)
            window = (top, left, rows, columns)
        size = (self.height, self.width)
        return window_boxes(bounding_boxes, self.bounding_box_format, (height, width), window, size)

    def get_config(self) -> dict[str, Any]:
        config = box_format_config(self, super().get_config() | {"data_format": self.data_format})
        return config | {"height": self.height, "width": self.width}
