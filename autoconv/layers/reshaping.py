"""Reshaping layers: Reshape, Permute, RepeatVector, and for channels-last sequences
(batch, steps, features) and images (batch, height, width, channels) ZeroPadding1D/2D,
Cropping1D/2D and UpSampling1D/2D (the 1-D and 2-D ones share a base class each;
``data_format="channels_first"``: :mod:`.channels`). Arguments, defaults, order, error
messages and numbers are Keras 3's (keras/src/layers/reshaping/)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from autoconv.layers.channels import ChannelsFirst
from autoconv.layers.layer import Layer, Shape
from autoconv.ops import engine as ops
from autoconv.ops import image as image_ops
from autoconv.tensor import Tensor

Pairs = tuple[tuple[int, int], tuple[int, int]]


def standardize_tuple(value: Any, n: int, name: str, allow_zero: bool = False) -> tuple[int, ...]:
    """``value`` (an int or ``n`` ints) as a tuple of ``n`` ints, > 0 (>= 0 with
    ``allow_zero``), with the errors of Keras's ``argument_validation.standardize_tuple``."""
    error = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(error) from None
        if len(values) != n:
            raise ValueError(error)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise ValueError(f"{error}including element {v} of type {type(v)}")
        values = tuple(int(v) for v in values)
    bad = {v for v in values if (v < 0 if allow_zero else v <= 0)}
    if bad:
        requirement = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"{error}, including values {bad} that do not satisfy `value {requirement}`"
        )
    return values


def check_ndim(layer: Layer, shape: Sequence[Any], ndim: int) -> None:
    """Keras's InputSpec(ndim=...) check, with its message."""
    if len(shape) != ndim:
        raise ValueError(
            f'Input 0 of layer "{layer.name}" is incompatible with the layer: expected '
            f"ndim={ndim}, found ndim={len(shape)}. Full shape received: {tuple(shape)}"
        )


def _pairs(value: Any, name: str) -> Pairs:
    """ZeroPadding2D's ``padding`` and Cropping2D's ``cropping``: an int, (height, width) or
    ((top, bottom), (left, right)), as Keras reads them (both messages speak of crops)."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"`{name}` cannot be negative. Received: {name}={value}.")
        return ((int(value), int(value)), (int(value), int(value)))
    if not hasattr(value, "__len__"):
        raise ValueError(
            f"`{name}` should be either an int, a tuple of 2 ints (symmetric_height_crop, "
            "symmetric_width_crop), or a tuple of 2 tuples of 2 ints ((top_crop, bottom_crop), "
            f"(left_crop, right_crop)). Received: {name}={value}."
        )
    if len(value) != 2:
        raise ValueError(f"`{name}` should have two elements. Received: {name}={value}.")
    height = standardize_tuple(value[0], 2, f"1st entry of {name}", allow_zero=True)
    width = standardize_tuple(value[1], 2, f"2nd entry of {name}", allow_zero=True)
    return (height, width)  # type: ignore[return-value]


def reshape_output_shape(input_shape: Sequence[Any], target_shape: tuple[int, ...]) -> Shape:
    """``target_shape`` with its -1 resolved for inputs of ``input_shape`` (both without the
    batch axis), as Keras's ``operation_utils.compute_reshape_output_shape``."""
    if None in input_shape:
        return tuple(None if d == -1 else d for d in target_shape)
    size = math.prod(input_shape)
    if -1 not in target_shape:
        if size != math.prod(target_shape):
            raise ValueError(
                "The total size of the tensor must be unchanged. Received: "
                f"input_shape={tuple(input_shape)}, target_shape={target_shape}"
            )
        return target_shape
    known = math.prod(d for d in target_shape if d != -1)
    if known == 0 or size % known != 0:
        raise ValueError(
            "The total size of the tensor must be unchanged, however, the input size cannot by "
            "divided by the specified dimensions in target_shape. Received: "
            f"input_shape={tuple(input_shape)}, target_shape={target_shape}"
        )
    return tuple(size // known if d == -1 else d for d in target_shape)


class Reshape(Layer):
    """(batch, ...) -> (batch, *target_shape); one entry of ``target_shape`` may be -1, then
    inferred from the size of the rest.

    >>> Reshape((-1, 2, 2)).compute_output_shape((None, 12))
    (None, 3, 2, 2)
    """

    built_at_init = True  # (no build config, as Keras's)

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        target_shape = tuple(target_shape)
        if target_shape.count(-1) > 1:
            raise ValueError(
                "The `target_shape` argument must not contain more than one `-1` value. "
                f"Received: target_shape={target_shape}"
            )
        if not all(isinstance(d, int | np.integer) and (d > 0 or d == -1) for d in target_shape):
            raise ValueError(
                "Reshape: target_shape must hold positive ints and at most one -1, got "
                f"{target_shape}"
            )
        self.target_shape = tuple(int(d) for d in target_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *reshape_output_shape(input_shape[1:], self.target_shape))

    def call(self, inputs: Tensor) -> Tensor:
        shape = reshape_output_shape(inputs.shape[1:], self.target_shape)
        return ops.reshape(inputs, (inputs.shape[0], *shape))

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"target_shape": self.target_shape}


class Permute(Layer):
    """Reorders the axes after the batch axis: ``dims`` numbers them from 1, e.g. ``(2, 1)``
    turns (batch, 10, 64) into (batch, 64, 10)."""

    def __init__(self, dims: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(
                "Invalid permutation argument `dims` for Permute Layer. The set of indices in "
                f"`dims` must be consecutive and start from 1. Received dims={dims}"
            )
        self.dims = tuple(int(d) for d in dims)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        check_ndim(self, input_shape, len(self.dims) + 1)
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def call(self, inputs: Tensor) -> Tensor:
        check_ndim(self, inputs.shape, len(self.dims) + 1)
        return ops.transpose(inputs, (0, *self.dims))

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"dims": self.dims}


def spatial_shape(shape: Shape, size: Callable[[int, int], int]) -> Shape:
    """Channels-last ``shape`` (batch, *spatial, channels) with each known spatial size ``d``
    of axis ``i`` (0 the first) as ``size(i, d)``; unknown sizes (None) stay unknown."""
    n, *spatial, channels = shape
    return (n, *(None if d is None else size(i, d) for i, d in enumerate(spatial)), channels)


class BaseBorders(ChannelsFirst, Layer):
    """Base of ZeroPadding1D/2D and Cropping1D/2D: channels-last input (batch, *spatial,
    channels) with zeros added (padding) or values removed (cropping) at the two borders of
    each of its ``rank`` spatial axes; ``argument`` names the attribute and config key
    holding (before, after) (1-D) or one such pair per axis (2-D)."""

    rank: ClassVar[int]
    argument: ClassVar[str]  # "padding" or "cropping"
    too_large: ClassVar[str]  # Cropping1D/2D: Keras's error for a cropping that leaves nothing

    def _borders(self) -> tuple[tuple[int, int], ...]:
        """(before, after) of each spatial axis."""
        value = getattr(self, self.argument)
        return value if self.rank == 2 else (value,)

    def _check(self, shape: Sequence[Any]) -> None:
        """Keras's checks: the rank, and a cropping that leaves something."""
        check_ndim(self, shape, self.rank + 2)
        if self.argument == "cropping" and any(
            n is not None and sum(c) >= n for n, c in zip(shape[1:-1], self._borders(), strict=True)
        ):
            raise ValueError(
                f"{self.too_large}. Received: input_shape={tuple(shape)}, cropping={self.cropping}"
            )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._check(input_shape)
        sign, borders = (1 if self.argument == "padding" else -1), self._borders()
        return spatial_shape(input_shape, lambda i, d: d + sign * sum(borders[i]))

    def call(self, inputs: Tensor) -> Tensor:
        self._check(inputs.shape)
        op = ops.pad2d if self.argument == "padding" else ops.crop2d
        if self.rank == 2:
            return op(inputs, self._borders())
        # sequences (N, steps, C) are one image of height N to pad2d and crop2d: its width
        return op(inputs, ((0, 0), *self._borders()))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config() | {self.argument: getattr(self, self.argument)}
        if hasattr(self, "data_format"):  # Cropping1D has none
            config["data_format"] = self.data_format
        return config


class ZeroPadding2D(BaseBorders):
    """Rows and columns of zeros around images (batch, height, width, channels): ``padding``
    is an int, (height, width) for both sides, or ((top, bottom), (left, right))."""

    rank, argument = 2, "padding"

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        self.padding = _pairs(padding, "padding")


class ZeroPadding1D(BaseBorders):
    """Zero steps before and after sequences: (batch, steps, features) -> (batch, before +
    steps + after, features); ``padding`` is an int (both sides) or (before, after)."""

    rank, argument = 1, "padding"

    def __init__(self, padding: Any = 1, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        self.padding = standardize_tuple(padding, 2, "padding", allow_zero=True)


class Cropping2D(BaseBorders):
    """Images (batch, height, width, channels) without ``cropping`` rows and columns at their
    borders: an int, (height, width) for both sides, or ((top, bottom), (left, right))."""

    rank, argument = 2, "cropping"
    too_large = (
        "Values in `cropping` argument should be smaller than the corresponding spatial "
        "dimension of the input"
    )

    def __init__(
        self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        self.cropping = _pairs(cropping, "cropping")


class Cropping1D(BaseBorders):
    """Sequences without steps at their two ends: (batch, steps, features) -> (batch, steps -
    before - after, features); ``cropping`` is an int (both ends) or (before, after)."""

    rank, argument = 1, "cropping"
    too_large = "`cropping` parameter of `Cropping1D` layer must be smaller than the input length"

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping = standardize_tuple(cropping, 2, "cropping", allow_zero=True)


def resize_interpolation(interpolation: str) -> str:
    """``interpolation`` checked as Keras's ``ops.image.resize`` checks it (JAX's names)."""
    if interpolation not in image_ops.RESIZE_INTERPOLATIONS:
        raise ValueError(
            "Invalid value for argument `interpolation`. Expected of one "
            f"{image_ops.RESIZE_INTERPOLATIONS}. Received: interpolation={interpolation}"
        )
    return interpolation


def positive_int(value: Any, name: str) -> int:
    """UpSampling1D's ``size`` and RepeatVector's ``n``: an int > 0, with Keras's errors (a
    TypeError for any other type, a bool included; a ValueError for one <= 0)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"Expected an integer value for `{name}`, got {type(value)}.")
    if value <= 0:
        raise ValueError(
            f"Argument `{name}` should be a positive integer. Received: {name}={value}"
        )
    return int(value)


class BaseUpSampling(ChannelsFirst, Layer):
    """Base of UpSampling1D and UpSampling2D: channels-last input (batch, *spatial, channels)
    with each of its ``rank`` spatial axes ``size`` times longer, each step, row or column
    repeated in place ('nearest', Keras's ``ops.repeat``)."""

    rank: ClassVar[int]

    def _factors(self) -> tuple[int, ...]:
        return self.size if self.rank == 2 else (self.size,)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        check_ndim(self, input_shape, self.rank + 2)
        factors = self._factors()
        return spatial_shape(input_shape, lambda i, d: d * factors[i])

    def call(self, inputs: Tensor) -> Tensor:
        check_ndim(self, inputs.shape, self.rank + 2)
        for axis, factor in enumerate(self._factors(), start=1):
            inputs = ops.repeat(inputs, factor, axis=axis)
        return inputs

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"size": self.size}


class UpSampling2D(BaseUpSampling):
    """Images (batch, rows, cols, channels) -> (batch, rows * size[0], cols * size[1],
    channels): 'nearest' repeats each row and column, 'bilinear' resizes (Keras's
    ``ops.image.resize``)."""

    rank = 2

    def __init__(
        self,
        size: Any = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.set_data_format(data_format)
        self.size = standardize_tuple(size, 2, "size")
        self.interpolation = resize_interpolation(str(interpolation).lower())

    def call(self, inputs: Tensor) -> Tensor:
        if self.interpolation == "nearest":
            return super().call(inputs)
        check_ndim(self, inputs.shape, 4)
        _, rows, cols, _ = inputs.shape
        size = (rows * self.size[0], cols * self.size[1])
        return image_ops.resize(inputs, size, self.interpolation, data_format="channels_last")

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }


class UpSampling1D(BaseUpSampling):
    """Sequences (batch, steps, features) -> (batch, steps * size, features): each step
    repeated ``size`` times in place."""

    rank = 1

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = positive_int(size, "size")


class RepeatVector(Layer):
    """Vectors (batch, features) -> (batch, n, features): each input vector ``n`` times.

    >>> RepeatVector(3).compute_output_shape((None, 32))
    (None, 3, 32)
    """

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = positive_int(n, "n")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        check_ndim(self, input_shape, 2)
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs: Tensor) -> Tensor:
        check_ndim(self, inputs.shape, 2)
        batch, features = inputs.shape
        return ops.repeat(ops.reshape(inputs, (batch, 1, features)), self.n, axis=1)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"n": self.n}
