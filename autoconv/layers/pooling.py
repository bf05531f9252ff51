"""Pooling layers, channels-last (``data_format="channels_first"``: :mod:`.channels`; the
global poolings read either layout themselves): 2-D over images (batch, H,
W, C) and 1-D over sequences (batch, steps, C): window, global and adaptive poolings, as Keras
3's (keras/src/layers/pooling/). Arguments, defaults and their order are Keras 3's."""

from __future__ import annotations

from typing import Any, ClassVar

from autoconv.layers.channels import ChannelsFirst
from autoconv.layers.core import as_tuple, check_spatial_rank
from autoconv.layers.layer import Layer, Shape
from autoconv.ops import engine as ops
from autoconv.ops.convert import standardize_data_format
from autoconv.ops.masks import as_mask
from autoconv.ops.nn_spatial import adaptive_average_pool, adaptive_max_pool
from autoconv.tensor import Tensor
from autoconv.windows import is_int, pool_window, pool_window_1d, unknown_kept


class BasePooling(ChannelsFirst, Layer):
    """Base of the window poolings: ``pool_size`` windows every ``strides`` (default: the
    pool size), 'valid' or 'same' padding in any case ('SAME' is 'same', as keras.ops.max_pool
    lower-cases it)."""

    built_at_init = True  # (no build config, as Keras's)

    rank: ClassVar[int]
    pool: ClassVar[Any]  # the op

    def __init__(
        self, pool_size: Any, strides: Any, padding: str, data_format: str | None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.set_data_format(data_format)
        self.pool_size = as_tuple(pool_size, self.rank, "pool_size", owner)
        self.strides = (
            self.pool_size if strides is None else as_tuple(strides, self.rank, "strides", owner)
        )
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding.lower()

    def _sizes(self) -> tuple[Any, Any]:
        """pool_size and strides as the op takes them (ints for 1-D ops)."""
        if self.rank == 1:
            return self.pool_size[0], self.strides[0]
        return self.pool_size, self.strides

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        check_spatial_rank(self, input_shape, self.rank)
        windows = pool_window_1d if self.rank == 1 else pool_window
        batch, channels = input_shape[0], input_shape[-1]

        def output_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
            shape = (batch, *sizes, channels)
            win = windows(type(self).__name__, shape, *self._sizes(), self.padding)
            return win.out[2 - self.rank :]

        return (batch, *unknown_kept(tuple(input_shape[1:-1]), output_sizes), channels)

    def call(self, inputs: Tensor) -> Tensor:
        return type(self).pool(inputs, *self._sizes(), self.padding)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        }


class PoolSizeRequired:
    """Keras's average poolings: ``pool_size`` has no default (the max poolings' is 2)."""

    def __init__(
        self,
        pool_size: Any,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class Pooling2D(BasePooling):
    """Base of the 2-D poolings: (batch, H, W, C) -> (batch, OH, OW, C)."""

    rank = 2

    def __init__(
        self,
        pool_size: Any = (2, 2),
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class Pooling1D(BasePooling):
    """Base of the 1-D poolings: (batch, steps, C) -> (batch, new_steps, C)."""

    rank = 1

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class MaxPooling2D(Pooling2D):
    """Maximum over each window: (batch, H, W, C) -> (batch, OH, OW, C)."""

    pool = staticmethod(ops.max_pool2d)


class AveragePooling2D(PoolSizeRequired, Pooling2D):
    """Mean over each window (border windows of 'same' average the cells inside); as in Keras,
    ``pool_size`` has no default."""

    pool = staticmethod(ops.avg_pool2d)


class MaxPooling1D(Pooling1D):
    """Maximum over each window of steps: (batch, steps, C) -> (batch, new_steps, C)."""

    pool = staticmethod(ops.max_pool1d)


class AveragePooling1D(PoolSizeRequired, Pooling1D):
    """Mean over each window of steps (border windows of 'same' average the steps inside); as
    in Keras, ``pool_size`` has no default."""

    pool = staticmethod(ops.avg_pool1d)


class BaseGlobalPooling(Layer):
    """Reduces every spatial axis: (batch, ..., C) -> (batch, C), or with ``keepdims=True``
    (batch, 1, ..., C). With ``data_format="channels_first"`` the input is (batch, C, ...) and
    the spatial axes are the last ones, as Keras's (a reduction, so either layout is computed
    as it comes)."""

    built_at_init = True  # (no build config, as Keras's)

    rank: ClassVar[int]
    reduce: ClassVar[Any]  # ops.mean or ops.max

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = bool(keepdims)

    def _spatial_axes(self) -> tuple[int, ...]:
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(range(first, first + self.rank))

    def build(self, input_shape: Shape) -> None:
        check_spatial_rank(self, input_shape, self.rank)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        check_spatial_rank(self, input_shape, self.rank)
        if self.data_format == "channels_first":
            kept = (1,) * self.rank if self.keepdims else ()
            return (input_shape[0], input_shape[1], *kept)
        if self.keepdims:
            return (input_shape[0], *(1,) * self.rank, input_shape[-1])
        return (input_shape[0], input_shape[-1])

    def call(self, inputs: Tensor) -> Tensor:
        return type(self).reduce(inputs, axis=self._spatial_axes(), keepdims=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(BaseGlobalPooling):
    """Mean over height and width: (batch, H, W, C) -> (batch, C)."""

    rank = 2
    reduce = staticmethod(ops.mean)


class GlobalMaxPooling2D(BaseGlobalPooling):
    """Maximum over height and width: (batch, H, W, C) -> (batch, C)."""

    rank = 2
    reduce = staticmethod(ops.max)


class GlobalAveragePooling1D(BaseGlobalPooling):
    """Mean over the steps: (batch, steps, C) -> (batch, C) (channels-first: (batch, C,
    steps) -> (batch, C)); with a Keras mask (batch, steps), over the kept steps only (the
    output carries no mask)."""

    rank = 1
    reduce = staticmethod(ops.mean)

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        if mask is None:
            return super().call(inputs)
        (steps,) = self._spatial_axes()
        kept = as_mask(mask, inputs)  # (batch, steps), against the steps' axis
        kept = kept.reshape(*kept.shape, 1) if steps == 1 else kept.reshape(-1, 1, kept.shape[1])
        total = ops.sum(inputs * kept, axis=steps, keepdims=self.keepdims)
        return total / ops.sum(kept, axis=steps, keepdims=self.keepdims)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> None:
        return None


class GlobalMaxPooling1D(BaseGlobalPooling):
    """Maximum over the steps: (batch, steps, C) -> (batch, C)."""

    rank = 1
    reduce = staticmethod(ops.max)


class BaseAdaptivePooling(ChannelsFirst, Layer):
    """Pools (batch, *spatial, C) to (batch, *output_size, C) whatever the input's spatial
    sizes: along an axis of n cells, output i pools cells floor(i*n/out) to
    ceil((i+1)*n/out) - 1 (``keras.ops.adaptive_max_pool``'s windows, PyTorch's)."""

    rank: ClassVar[int]
    pool: ClassVar[Any]  # the op

    def __init__(self, output_size: Any, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        if not is_int(output_size) and not isinstance(output_size, tuple | list):
            raise TypeError(
                f"{owner}: `output_size` must be an integer or a tuple of {self.rank} integers. "
                f"Received: {output_size!r} of type {type(output_size)}"
            )
        self.output_size = as_tuple(output_size, self.rank, "output_size", owner)
        self.set_data_format(data_format)

    def build(self, input_shape: Shape) -> None:
        check_spatial_rank(self, input_shape, self.rank)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        check_spatial_rank(self, input_shape, self.rank)
        return (input_shape[0], *self.output_size, input_shape[-1])

    def call(self, inputs: Tensor) -> Tensor:
        return type(self).pool(inputs, self.output_size, "channels_last")

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "output_size": self.output_size,
            "data_format": self.data_format,
        }


class AdaptiveAveragePooling1D(BaseAdaptivePooling):
    """Mean over adaptive windows of steps: (batch, steps, C) -> (batch, output_size, C)."""

    rank = 1
    pool = staticmethod(adaptive_average_pool)


class AdaptiveMaxPooling1D(BaseAdaptivePooling):
    """Maximum over adaptive windows of steps: (batch, steps, C) -> (batch, output_size, C)."""

    rank = 1
    pool = staticmethod(adaptive_max_pool)


class AdaptiveAveragePooling2D(BaseAdaptivePooling):
    """Mean over adaptive windows: (batch, H, W, C) -> (batch, *output_size, C); an int
    ``output_size`` is both sides."""

    rank = 2
    pool = staticmethod(adaptive_average_pool)


class AdaptiveMaxPooling2D(BaseAdaptivePooling):
    """Maximum over adaptive windows: (batch, H, W, C) -> (batch, *output_size, C); an int
    ``output_size`` is both sides."""

    rank = 2
    pool = staticmethod(adaptive_max_pool)


class AdaptiveAveragePooling3D(BaseAdaptivePooling):
    """Mean over adaptive windows: (batch, D, H, W, C) -> (batch, *output_size, C); an int
    ``output_size`` is every side."""

    rank = 3
    pool = staticmethod(adaptive_average_pool)


class AdaptiveMaxPooling3D(BaseAdaptivePooling):
    """Maximum over adaptive windows: (batch, D, H, W, C) -> (batch, *output_size, C); an int
    ``output_size`` is every side."""

    rank = 3
    pool = staticmethod(adaptive_max_pool)


# Keras's aliases
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
