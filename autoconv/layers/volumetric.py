"""Keras 3's 3-D (volumetric) layers, over channels-last volumes (batch, depth, height, width,
channels; ``data_format="channels_first"``: :mod:`.channels`): Conv3D, Conv3DTranspose,
MaxPooling3D, AveragePooling3D, GlobalAveragePooling3D, GlobalMaxPooling3D, UpSampling3D,
ZeroPadding3D, Cropping3D and SpatialDropout3D (Keras's
keras/src/layers/convolutional/conv3d*.py, pooling/*3d.py, reshaping/*3d.py and
regularization/spatial_dropout.py). Each extends its 1-D/2-D family's base class; the ops are
:mod:`autoconv.ops.volumetric`'s, composed from the 2-D and 1-D ones. Arguments, defaults and
their order, configs and the weights' names, shapes and order are Keras's: Conv3D's kernel is
(kd, kh, kw, in/groups, filters), Conv3DTranspose's (kd, kh, kw, filters, in).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.layers.convolutional import BaseConv, BaseFiltersConv, Conv2DTranspose
from autoconv.layers.layer import Shape
from autoconv.layers.pooling import BaseGlobalPooling, BasePooling, PoolSizeRequired
from autoconv.layers.regularization import SpatialDropout2D
from autoconv.layers.reshaping import (
    BaseBorders,
    BaseUpSampling,
    Cropping2D,
    check_ndim,
    standardize_tuple,
)
from autoconv.ops import engine as ops
from autoconv.ops import volumetric
from autoconv.tensor import Tensor
from autoconv.windows import unknown_kept

Borders = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


class VolumeInput:
    """Keras's InputSpec(ndim=5) check, before the 1-D/2-D base class's own checks (whose
    message speaks of images)."""

    def build(self, input_shape: Shape) -> None:
        check_ndim(self, input_shape, 5)
        super().build(input_shape)  # type: ignore[misc]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        check_ndim(self, input_shape, 5)
        return super().compute_output_shape(input_shape)  # type: ignore[misc]


def _string_padding(layer: BaseConv) -> None:
    """3-D convolutions take 'valid' or 'same' only (not the 2-D layers' symmetric ints)."""
    if not isinstance(layer.padding, str):
        raise ValueError(
            f"{type(layer).__name__}: The `padding` argument must be a list/tuple or one of "
            f"{{'valid', 'same'}}. Received: {layer.padding!r}"
        )


# ------------------------------------------------------------------------ convolutions
class Conv3D(VolumeInput, BaseFiltersConv):
    """3-D convolution (cross-correlation): (batch, D, H, W, Cin) -> (batch, OD, OH, OW,
    filters), kernel (kd, kh, kw, Cin/groups, filters); with ``groups``, the channels and the
    filters split into that many consecutive groups."""

    rank = 3

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = (1, 1, 1),
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
            activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint,
            **kwargs,
        )  # fmt: skip
        _string_padding(self)

    def output_size(self, input_shape: Shape) -> tuple[int, ...]:
        return volumetric.output_sizes(
            "Conv3D", input_shape[1:4], self.kernel_size, self.strides, self.dilation_rate,
            self.padding,
        )  # fmt: skip

    def convolve(self, inputs: Tensor, relu: bool) -> Tensor:
        return volumetric.conv3d(
            inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
            self.groups,
        )  # fmt: skip


class Conv3DTranspose(VolumeInput, Conv2DTranspose):
    """Transposed 3-D convolution (the adjoint of Conv3D, an upsampling convolution):
    (batch, D, H, W, Cin) -> (batch, OD, OH, OW, filters), kernel (kd, kh, kw, filters, Cin).
    Output sizes per axis and ``output_padding`` as Conv2DTranspose's; note Keras's argument
    order here, unlike Conv2DTranspose's: ``data_format`` before ``output_padding``."""

    rank = 3

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        output_padding: Any = None,
        dilation_rate: Any = (1, 1, 1),
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
            activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint,
            **kwargs,
        )  # fmt: skip

    def output_size(self, input_shape: Shape) -> tuple[int, ...]:
        sizes, _ = volumetric.conv3d_transpose_size(
            input_shape[1:4], self.kernel_size, self.strides, self.padding, self.output_padding,
            self.dilation_rate, "Conv3DTranspose",
        )  # fmt: skip
        return sizes

    def convolve(self, inputs: Tensor, relu: bool) -> Tensor:
        return volumetric.conv3d_transpose(
            inputs, self.kernel, self.bias, self.strides, self.padding, self.output_padding,
            self.dilation_rate,
        )  # fmt: skip


# ---------------------------------------------------------------------------- pooling
class Pooling3D(BasePooling):
    """Base of the 3-D poolings: (batch, D, H, W, C) -> (batch, OD, OH, OW, C)."""

    rank = 3

    def __init__(
        self,
        pool_size: Any = (2, 2, 2),
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        check_ndim(self, input_shape, 5)  # (BasePooling's own is 1-D and 2-D: not called)

        def output_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
            return volumetric.output_sizes(
                type(self).__name__, sizes, self.pool_size, self.strides, (1, 1, 1), self.padding
            )

        sizes = unknown_kept(tuple(input_shape[1:4]), output_sizes)
        return (input_shape[0], *sizes, input_shape[-1])


class MaxPooling3D(Pooling3D):
    """Maximum over each window: (batch, D, H, W, C) -> (batch, OD, OH, OW, C)."""

    pool = staticmethod(volumetric.max_pool3d)


class AveragePooling3D(PoolSizeRequired, Pooling3D):
    """Mean over each window (border windows of 'same' average the cells inside); as in Keras,
    ``pool_size`` has no default."""

    pool = staticmethod(volumetric.avg_pool3d)


class GlobalAveragePooling3D(VolumeInput, BaseGlobalPooling):
    """Mean over depth, height and width: (batch, D, H, W, C) -> (batch, C)."""

    rank = 3
    reduce = staticmethod(ops.mean)


class GlobalMaxPooling3D(VolumeInput, BaseGlobalPooling):
    """Maximum over depth, height and width: (batch, D, H, W, C) -> (batch, C)."""

    rank = 3
    reduce = staticmethod(ops.max)


# -------------------------------------------------------------------------- reshaping
def _triples(value: Any, name: str) -> Borders:
    """ZeroPadding3D's ``padding`` and Cropping3D's ``cropping``: an int, 3 ints (each for both
    sides), or 3 pairs ((front, back), (top, bottom), (left, right)), as Keras reads them."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"`{name}` cannot be negative. Received: {name}={value}.")
        return ((int(value),) * 2,) * 3  # type: ignore[return-value]
    if not hasattr(value, "__len__"):
        raise ValueError(
            f"`{name}` should be either an int, a tuple of 3 ints, or a tuple of 3 tuples of 2 "
            f"ints ((left_dim1, right_dim1), (left_dim2, right_dim2), (left_dim3, right_dim3)). "
            f"Received: {name}={value}."
        )
    if len(value) != 3:
        raise ValueError(f"`{name}` should have 3 elements. Received: {value}.")
    return tuple(
        standardize_tuple(entry, 2, f"{ordinal} entry of {name}", allow_zero=True)
        for entry, ordinal in zip(value, ("1st", "2nd", "3rd"), strict=True)
    )  # type: ignore[return-value]


class BaseBorders3D(BaseBorders):
    """ZeroPadding3D and Cropping3D: one (before, after) pair per spatial axis."""

    rank = 3

    def _borders(self) -> Borders:
        return getattr(self, self.argument)

    def call(self, inputs: Tensor) -> Tensor:
        self._check(inputs.shape)
        op = volumetric.pad3d if self.argument == "padding" else volumetric.crop3d
        return op(inputs, self._borders())


class ZeroPadding3D(BaseBorders3D):
    """Zeros around volumes (batch, D, H, W, C): ``padding`` is an int, (depth, height, width)
    for both sides, or ((front, back), (top, bottom), (left, right))."""

    argument = "padding"

    def __init__(
        self, padding: Any = ((1, 1), (1, 1), (1, 1)), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        self.padding = _triples(padding, "padding")


class Cropping3D(BaseBorders3D):
    """Volumes (batch, D, H, W, C) without ``cropping`` cells at their borders: an int,
    (depth, height, width) for both sides, or ((front, back), (top, bottom), (left, right))."""

    argument = "cropping"
    too_large = Cropping2D.too_large

    def __init__(
        self,
        cropping: Any = ((1, 1), (1, 1), (1, 1)),
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        self.cropping = _triples(cropping, "cropping")


class UpSampling3D(BaseUpSampling):
    """Volumes (batch, D, H, W, C) -> (batch, D * size[0], H * size[1], W * size[2], C): each
    slice, row and column repeated in place."""

    rank = 3

    def __init__(self, size: Any = (2, 2, 2), data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        self.size = standardize_tuple(size, 3, "size")

    def _factors(self) -> tuple[int, ...]:
        return self.size

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"data_format": self.data_format}


# ---------------------------------------------------------------------- regularization
class SpatialDropout3D(SpatialDropout2D):
    """Dropout of whole 3-D feature maps: in training, each (sample, channel) of a volume is
    dropped entirely with probability ``rate`` (the rest scaled by 1 / (1 - rate)); in
    inference, the identity."""

    NDIM = 5

    def _concrete_noise_shape(self, inputs: Tensor) -> tuple[int, ...]:
        n, *_ = inputs.shape
        if self.data_format == "channels_first":
            return (n, inputs.shape[1], 1, 1, 1)
        return (n, 1, 1, 1, inputs.shape[4])


# Keras's aliases
Convolution3D = Conv3D
Convolution3DTranspose = Conv3DTranspose
MaxPool3D = MaxPooling3D
AvgPool3D = AveragePooling3D
GlobalAvgPool3D = GlobalAveragePooling3D
GlobalMaxPool3D = GlobalMaxPooling3D
