"""Sliding-window geometry shared by convolution and pooling: padding and output sizes.

It sits below the ops and both backends: the ops check arguments and size outputs with it,
and the kernels of either device read a :class:`Window`'s numbers through
:meth:`Window.geometry`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# The largest window size, stride, dilation or padding: the kernels index in 32 and 64 bits.
MAX_SIZE = 2**31 - 1


def is_int(value: Any) -> bool:
    """A Python or NumPy integer (not a bool), as Keras accepts wherever it takes an int."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def as_pair(value: Any, name: str, op: str) -> tuple[int, int]:
    """An int or a pair of ints as (height, width); each must be in [1, MAX_SIZE]."""
    if is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, tuple | list) and len(value) == 2 and all(is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{op}: {name} must be positive, got {value!r}")
    if max(pair) > MAX_SIZE:
        raise ValueError(f"{op}: {name} must be at most {MAX_SIZE}, got {value!r}")
    return pair


def as_single(value: Any, name: str, op: str) -> int:
    """An int or a one-element tuple/list of an int (a 1-D op's size, stride or dilation);
    it must be in [1, MAX_SIZE]."""
    if isinstance(value, tuple | list) and len(value) == 1:
        value = value[0]
    if not is_int(value):
        raise ValueError(f"{op}: {name} must be an int or a tuple of 1 int, got {value!r}")
    if value < 1:
        raise ValueError(f"{op}: {name} must be positive, got {value!r}")
    if value > MAX_SIZE:
        raise ValueError(f"{op}: {name} must be at most {MAX_SIZE}, got {value!r}")
    return int(value)


def unknown_kept(
    sizes: tuple[int | None, ...], output_sizes: Callable[[tuple[int, ...]], tuple[int, ...]]
) -> tuple[int | None, ...]:
    """``output_sizes(sizes)`` for spatial ``sizes`` of which some may be unknown (None: a
    symbolic input's free axes): an unknown size gives an unknown output size, as Keras's
    window layers compute it, whatever the window (a stride or pool wider than a probe's
    spread maps two probe sizes to one output size, one larger than a probe empties it).
    The known sizes are computed with MAX_SIZE, which every window fits, in place of the others.
    """
    if None not in sizes:
        return output_sizes(sizes)
    filled = tuple(MAX_SIZE if n is None else n for n in sizes)
    return tuple(
        None if n is None else out for n, out in zip(sizes, output_sizes(filled), strict=True)
    )


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
    if is_int(padding) and 0 <= padding <= MAX_SIZE:
        return int(padding), int(padding)
    raise ValueError(
        f"{op}: padding must be 'valid', 'same' or an int in [0, {MAX_SIZE}], got {padding!r}"
    )


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


def window_1d(
    op: str, length: int, kernel: int, stride: Any, dilation: Any, padding: Any
) -> Window:
    """The window of a 1-D op over sequences of ``length``, as the 2-D window over images of
    height 1 that the op runs as (its input (N, L, C) viewed as (N, 1, L, C)).

    ``padding``: 'valid', 'same', an int (both ends), or 'causal': dilation*(kernel-1) zeros
    before the sequence and none after, so output t reads no input after t (Keras's Conv1D).
    The output length is floor((L + pad - dilation*(kernel-1) - 1) / stride) + 1.
    """
    stride, dilation = as_single(stride, "stride", op), as_single(dilation, "dilation", op)
    if stride > 1 and dilation > 1:
        raise ValueError(
            f"{op}: stride {stride} > 1 together with dilation {dilation} > 1 is not supported"
        )
    if isinstance(padding, str) and padding.lower() == "causal":
        pads = (dilation * (kernel - 1), 0)
    elif isinstance(padding, str) and padding.lower() not in ("valid", "same"):
        raise ValueError(
            f"{op}: padding must be 'valid', 'same', 'causal' or an int, got {padding!r}"
        )
    else:
        pads = padding_amounts(padding, length, kernel, stride, dilation, op)
    out = output_size(length, kernel, stride, dilation, sum(pads))
    if out < 1:
        raise ValueError(
            f"{op}: the output would be empty: input length {length}, kernel {kernel}, "
            f"dilation {dilation}, padding {padding!r}, stride {stride}"
        )
    return Window((1, kernel), (1, stride), (1, dilation), 0, pads[0], (1, out), 0, pads[1])


def pool_window_1d(
    op: str, x_shape: tuple[int, ...], pool_size: Any, strides: Any, padding: Any
) -> Window:
    """The geometry of pooling sequences of ``x_shape`` (N, L, C), as a 2-D window over images
    of height 1; ``strides`` None means the pool size."""
    if len(x_shape) != 3:
        raise ValueError(f"{op}: x must be (N, L, C), got shape {x_shape}")
    size = as_single(pool_size, "pool_size", op)
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    return window_1d(op, x_shape[1], size, size if strides is None else strides, 1, padding)


def transpose_window(
    op: str,
    image: tuple[int, int],
    kernel: tuple[int, int],
    stride: Any,
    dilation: Any,
    padding: Any,
    output_padding: Any,
) -> tuple[Window, tuple[int, int]]:
    """The geometry of a transposed convolution of (H, W) images by Keras's rules: the window
    of the convolution it is the adjoint of (which maps the transposed convolution's output
    back to (H, W), its ``out``), and the output size (OH, OW).

    Input cell i feeds output cells i*s + a*d - pad_before for the kernel cells a. Per axis,
    with the dilated kernel size k' = d*(k-1) + 1 (Keras's ``compute_conv_transpose_output_shape``
    and ``compute_conv_transpose_padding_args_for_jax``):

    - 'valid': output (n-1)*s + k' + output_padding, where output_padding None means
      max(k', s) - k'; nothing cut before.
    - 'same': output n*s when output_padding is None, else (n-1)*s + k' % 2 + output_padding;
      the total cut is the convolution's, p = s + k' - 2 (or k' + k' % 2 - 2 + output_padding),
      of which k' - 1 - min(ceil(p / 2), k' - 1) comes off before.
    """
    stride, dilation = as_pair(stride, "stride", op), as_pair(dilation, "dilation", op)
    if max(stride) > 1 and max(dilation) > 1:
        raise ValueError(
            f"{op}: stride {stride} > 1 together with dilation {dilation} > 1 is not supported"
        )
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    if output_padding is None:
        extra: tuple[int | None, int | None] = (None, None)
    else:
        extra = (output_padding,) * 2 if is_int(output_padding) else output_padding
        if (
            not isinstance(extra, tuple | list)
            or len(extra) != 2
            or not all(is_int(e) and e >= 0 for e in extra)
        ):
            raise ValueError(
                f"{op}: output_padding must be None, a non-negative int or a pair of them, "
                f"got {output_padding!r}"
            )
        extra = (int(extra[0]), int(extra[1]))
        if any(e >= s for e, s in zip(extra, stride, strict=True)):
            raise ValueError(
                f"{op}: `output_padding` must be < `strides`. output_padding={output_padding}, "
                f"strides={stride}"
            )
    cut_before, out = [], []
    for n, k, s, d, e in zip(image, kernel, stride, dilation, extra, strict=True):
        span = d * (k - 1) + 1
        if padding.lower() == "valid":
            pad_before = 0
            size = (n - 1) * s + span + (max(span, s) - span if e is None else e)
        else:
            total = s + span - 2 if e is None else span + span % 2 - 2 + e
            pad_before = span - 1 - min(total // 2 + total % 2, span - 1)
            size = n * s if e is None else (n - 1) * s + span % 2 + e
        cut_before.append(pad_before)
        out.append(size)
    if min(out) < 1:
        raise ValueError(
            f"{op}: the output would be empty: input {image[0]}x{image[1]}, kernel "
            f"{kernel[0]}x{kernel[1]}, padding {padding!r}, output_padding {output_padding!r}"
        )
    pad_after = [
        max(0, (n - 1) * s + d * (k - 1) + 1 - size - before)
        for n, k, s, d, size, before in zip(
            image, kernel, stride, dilation, out, cut_before, strict=True
        )
    ]
    win = Window(
        kernel, stride, dilation, cut_before[0], cut_before[1], image, pad_after[0], pad_after[1]
    )
    return win, (out[0], out[1])
