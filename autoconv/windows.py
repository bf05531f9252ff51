"""Sliding-window geometry shared by convolution and pooling: padding and output sizes.

It sits below the ops and both backends: the ops check arguments and size outputs with it,
and the kernels of either device read a :class:`Window`'s numbers through
:meth:`Window.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def is_int(value: Any) -> bool:
    """A Python or NumPy integer (not a bool), as Keras accepts wherever it takes an int."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def as_pair(value: Any, name: str, op: str) -> tuple[int, int]:
    """An int or a pair of ints as (height, width); each must be >= 1."""
    if is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, tuple | list) and len(value) == 2 and all(is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{op}: {name} must be positive, got {value!r}")
    return pair


def output_size(size: int, kernel: int, stride: int, dilation: int, pad_total: int) -> int:
    """floor((n + 2p - d*(f-1) - 1) / s) + 1, with 2p the total padding on the axis."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def padding_amounts(
    padding: Any, size: int, kernel: int, stride: int, dilation: int, op: str
) -> tuple[int, int]:
    """(before, after) padding of one axis.

    'valid' pads nothing. 'same' pads so the output is ceil(n / s), putting the odd extra row
    or column after (bottom/right), as TensorFlow and Keras do. An int pads both sides.
    """
    if isinstance(padding, str):
        word = padding.lower()
        if word == "valid":
            return 0, 0
        if word == "same":
            out = -(-size // stride)
            total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
            return total // 2, total - total // 2
        raise ValueError(
            f"{op}: padding must be 'valid', 'same', an int or a pair, got {padding!r}"
        )
    if is_int(padding) and padding >= 0:
        return int(padding), int(padding)
    raise ValueError(f"{op}: padding must be 'valid', 'same' or non-negative, got {padding!r}")


@dataclass(frozen=True)
class Window:
    """Where a (kh, kw) window visits a (height, width) image, and the output it makes."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad_top: int
    pad_left: int
    out: tuple[int, int]
    pad_bottom: int = 0
    pad_right: int = 0

    def geometry(self) -> tuple[int, int, int, int, int, int, int, int, int, int]:
        """The numbers every window kernel takes, in their order: kh, kw, sh, sw, dh, dw,
        pad_top, pad_left, oh, ow (the padding after is implied by the output size)."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        return kh, kw, sh, sw, dh, dw, self.pad_top, self.pad_left, self.out[0], self.out[1]

    @property
    def overlapping(self) -> bool:
        """True when neighbouring windows share cells (a kernel larger than its stride)."""
        return self.kernel[0] > self.stride[0] or self.kernel[1] > self.stride[1]


def window(
    op: str,
    image: tuple[int, int],
    kernel: tuple[int, int],
    stride: Any,
    dilation: Any,
    padding: Any,
) -> Window:
    """Check the window arguments of ``op`` on an ``image`` of (H, W) and size the output."""
    stride = as_pair(stride, "stride", op)
    dilation = as_pair(dilation, "dilation", op)
    if max(stride) > 1 and max(dilation) > 1:
        raise ValueError(
            f"{op}: stride {stride} > 1 together with dilation {dilation} > 1 is not supported"
        )
    if isinstance(padding, tuple | list):
        if len(padding) != 2:
            raise ValueError(f"{op}: padding pair must have 2 entries, got {padding!r}")
        per_axis = tuple(padding)
    else:
        per_axis = (padding, padding)
    pads = [
        padding_amounts(per_axis[axis], image[axis], kernel[axis], stride[axis], dilation[axis], op)
        for axis in range(2)
    ]
    out = tuple(
        output_size(image[axis], kernel[axis], stride[axis], dilation[axis], sum(pads[axis]))
        for axis in range(2)
    )
    if min(out) < 1:
        raise ValueError(
            f"{op}: the output would be empty: input {image[0]}x{image[1]}, kernel "
            f"{kernel[0]}x{kernel[1]}, dilation {dilation}, padding {padding!r}, stride {stride}"
        )
    return Window(kernel, stride, dilation, pads[0][0], pads[1][0], out, pads[0][1], pads[1][1])


def pool_window(
    op: str, x_shape: tuple[int, ...], pool_size: Any, strides: Any, padding: Any
) -> Window:
    """The geometry of pooling images of ``x_shape`` (N, H, W, C); errors name ``op``.
    ``strides`` None means the pool size."""
    if len(x_shape) != 4:
        raise ValueError(f"{op}: x must be (N, H, W, C), got shape {x_shape}")
    kernel = as_pair(pool_size, "pool_size", op)
    if not isinstance(padding, str):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    return window(op, x_shape[1:3], kernel, kernel if strides is None else strides, 1, padding)
