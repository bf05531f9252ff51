"""Pooling layers, channels-last. Arguments, defaults and their order are Keras 3's."""

from __future__ import annotations

from typing import Any, ClassVar

from autoconv import ops
from autoconv.layers.core import channels_last, int_pair
from autoconv.layers.layer import Layer, Shape
from autoconv.tensor import Tensor
from autoconv.windows import window


class Pooling2D(Layer):
    """Base of the 2-D poolings: ``pool_size`` windows every ``strides`` (default: the pool
    size), 'valid' or 'same' padding (Keras's pooling layers take it lower-case only)."""

    pool: ClassVar[Any]  # the op

    def __init__(
        self,
        pool_size: Any = (2, 2),
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        channels_last(data_format, owner)
        self.pool_size = int_pair(pool_size, "pool_size", owner)
        self.strides = self.pool_size if strides is None else int_pair(strides, "strides", owner)
        if padding not in ("valid", "same"):
            raise ValueError(
                f"{owner}: padding must be 'valid' or 'same' (lower-case, as Keras's pooling "
                f"layers), got {padding!r}"
            )
        self.padding = padding

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 4:
            raise ValueError(
                f"{type(self).__name__} {self.name}: input must be (batch, height, width, "
                f"channels), got {input_shape}"
            )
        win = window(
            type(self).__name__, input_shape[1:3], self.pool_size, self.strides, 1, self.padding
        )
        return (input_shape[0], *win.out, input_shape[3])

    def call(self, inputs: Tensor) -> Tensor:
        return type(self).pool(inputs, self.pool_size, self.strides, self.padding)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }


class MaxPooling2D(Pooling2D):
    """Maximum over each window: (batch, H, W, C) -> (batch, OH, OW, C)."""

    pool = staticmethod(ops.max_pool2d)


class AveragePooling2D(Pooling2D):
    """Mean over each window (border windows of 'same' average the cells inside)."""

    pool = staticmethod(ops.avg_pool2d)


class GlobalAveragePooling2D(Layer):
    """Mean over height and width: (batch, H, W, C) -> (batch, C), or (batch, 1, 1, C) with
    ``keepdims=True``."""

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        channels_last(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 4:
            raise ValueError(
                f"{type(self).__name__}: input must be (batch, H, W, C), got {input_shape}"
            )
        if self.keepdims:
            return (input_shape[0], 1, 1, input_shape[3])
        return (input_shape[0], input_shape[3])

    def call(self, inputs: Tensor) -> Tensor:
        return ops.mean(inputs, axis=(1, 2), keepdims=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"keepdims": self.keepdims}


class GlobalMaxPooling2D(GlobalAveragePooling2D):
    """Maximum over height and width: (batch, H, W, C) -> (batch, C)."""

    def call(self, inputs: Tensor) -> Tensor:
        return ops.max(inputs, axis=(1, 2), keepdims=self.keepdims)


# Keras's aliases
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
