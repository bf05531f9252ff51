"""Checks the kernel wrappers of both backends make before launching, so that every index a
kernel computes lies inside the arrays it reads and writes, whatever the caller passed (an op,
a user calling the backend, a crafted model file's optimizer state).

They look at shapes and sizes only, never at the data, except :func:`indices_in_range`, which
scans host (NumPy) index arrays: labels and row numbers, a batch's worth. Indices that stay on
the GPU (a shuffled order, labels uploaded once) are not read back: the CUDA kernels that take
them guard each access instead (see ``take`` and ``one_hot`` there). A violation is one
``ValueError`` naming the kernel and the shapes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.windows import Window


def shape_is(op: str, name: str, array: Any, shape: tuple[int, ...]) -> None:
    """``array`` (or a shape tuple) has exactly ``shape``."""
    actual = tuple(array) if isinstance(array, tuple) else tuple(array.shape)
    if actual != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}, got {actual}")


def pairs(op: str, firsts: list, seconds: list) -> None:
    """As many arrays in ``seconds`` as in ``firsts``, each of its first's shape."""
    if len(firsts) != len(seconds):
        raise ValueError(f"{op}: {len(firsts)} and {len(seconds)} arrays")
    for first, second in zip(firsts, seconds, strict=True):
        shape_is(op, "each value", second, first.shape)


def rows_of(op: str, target: Any, source: Any, start: Any) -> None:
    """``source``'s rows fit ``target``'s: the same dtype and row shape; ``start`` is a
    one-element integer array (where the rows go; its value is the kernel's to guard)."""
    shape_is(op, "start", start, (1,))
    if tuple(source.shape[1:]) != tuple(target.shape[1:]) or source.dtype != target.dtype:
        raise ValueError(
            f"{op}: rows of {source.dtype} {tuple(source.shape)} do not fit the rows of "
            f"{target.dtype} {tuple(target.shape)}"
        )


def output(op: str, name: str, out: Any, kind: type, shape: tuple[int, ...], dtype: Any) -> Any:
    """``out``, an array given to write a result into (rows of a batch's, say): a ``kind``
    (the backend's array type) of ``shape`` and ``dtype``, C-contiguous and writeable (a NumPy
    array's flags; a CUDA array always is), so the kernel's writes land in it and nowhere
    else."""
    flags = getattr(out, "flags", None)
    if (
        not isinstance(out, kind)
        or tuple(out.shape) != tuple(shape)
        or out.dtype != np.dtype(dtype)
        or (flags is not None and not (flags.c_contiguous and flags.writeable))
    ):
        raise ValueError(
            f"{op}: {name} must be a writeable C-contiguous {kind.__name__} of {np.dtype(dtype)}"
            f" and shape {tuple(shape)}, got {type(out).__name__} "
            f"{getattr(out, 'dtype', '')} {getattr(out, 'shape', '')}"
        )
    return out


def output_pair(
    op: str, out: Any, kind: type, shape: tuple[int, ...], dtype: Any
) -> tuple[Any, Any]:
    """``out``, a pooling's (maxima, arg-max) pair to write into: both of ``shape``, the
    maxima ``dtype`` and the arg-max int32 (see :func:`output`)."""
    if not isinstance(out, tuple) or len(out) != 2:
        raise ValueError(f"{op}: out must be a (maxima, arg-max) pair, got {type(out).__name__}")
    values, argmax = out
    return (
        output(op, "out", values, kind, shape, dtype),
        output(op, "out", argmax, kind, shape, np.int32),
    )


def images(op: str, name: str, shape: Any) -> tuple[int, int, int, int]:
    """A (N, H, W, C) shape of positive sizes (an array's, or a shape tuple)."""
    shape = tuple(shape) if isinstance(shape, tuple) else tuple(shape.shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"{op}: {name} must be images (N, H, W, C), got shape {shape}")
    return shape  # type: ignore[return-value]


def window_output(op: str, name: str, array: Any, x_shape: tuple[int, ...], win: Window,
                  channels: int) -> None:  # fmt: skip
    """``array`` is what ``win`` makes from images of ``x_shape``: (N, OH, OW, channels)."""
    shape_is(op, name, array, (x_shape[0], *win.out, channels))


def pooling_window(op: str, win: Window, x_shape: tuple[int, ...]) -> None:
    """Every pooling window of ``win`` over images of ``x_shape`` holds at least one cell and
    starts inside the image (the kernels read each window's first cell unguarded)."""
    _, height, width, _ = images(op, "x", x_shape)
    for size, kernel, stride, pad, out in zip(
        (height, width), win.kernel, win.stride, (win.pad_top, win.pad_left), win.out,
        strict=True,
    ):  # fmt: skip
        if (
            min(kernel, stride, out) < 1
            or not 0 <= pad < kernel
            or (out - 1) * stride >= size + pad
        ):
            raise ValueError(
                f"{op}: the window (kernel {win.kernel}, stride {win.stride}, padding "
                f"{win.pad_top, win.pad_left}, output {win.out}) does not fit images of shape "
                f"{tuple(x_shape)}"
            )


def same_size(op: str, value: Any, **others: Any) -> None:
    """Each of ``others`` (None skipped) has as many elements as ``value``, on its device."""
    from autoconv.backends import array_device

    device = array_device(value)
    for name, array in others.items():
        if array is None:
            continue
        if array_device(array) != device or array.size != value.size:
            raise ValueError(
                f"{op}: {name} has shape {tuple(array.shape)} on {array_device(array)}, the "
                f"parameter's is {tuple(value.shape)} on {device}"
            )


def indices_in_range(op: str, name: str, indices: np.ndarray, bound: int) -> None:
    """Host integer indices lie in [0, bound) (whole numbers, if floats)."""
    if indices.size == 0:
        return
    if indices.dtype.kind == "f" and not np.all(indices == np.floor(indices)):
        raise ValueError(f"{op}: {name} must be whole numbers")
    if indices.dtype.kind not in "iuf":
        raise ValueError(f"{op}: {name} must be integers, got dtype {indices.dtype}")
    low, high = indices.min(), indices.max()
    if low < 0 or high >= bound:
        raise ValueError(f"{op}: {name} must lie in [0, {bound}), got range [{low}, {high}]")


def targets(op: str, scores: Any, target: Any) -> None:
    """``target`` is rows of ``scores``' shape (N..., C) or labels of its shape without the
    class axis (N...)."""
    if tuple(target.shape) not in (tuple(scores.shape), tuple(scores.shape[:-1])):
        raise ValueError(
            f"{op}: target of shape {tuple(target.shape)} does not fit scores of shape "
            f"{tuple(scores.shape)} (rows of that shape, or labels without the class axis)"
        )


def lstm_step(op: str, z: Any, c_prev: Any, *states: Any) -> None:
    """An LSTM step's pre-activations or gates ``z`` (batch, 4 units) fit ``c_prev`` (batch,
    units), as each of ``states`` (a state or its gradient) does, in one dtype."""
    if len(c_prev.shape) != 2 or tuple(z.shape) != (c_prev.shape[0], 4 * c_prev.shape[1]):
        raise ValueError(
            f"{op}: z must be (batch, 4 units) for c_prev (batch, units), got {tuple(z.shape)} "
            f"and {tuple(c_prev.shape)}"
        )
    for state in states:
        shape_is(op, "each state and gradient", state, tuple(c_prev.shape))
    if any(a.dtype != z.dtype for a in (c_prev, *states)):
        raise ValueError(f"{op}: the arrays must share z's dtype {z.dtype}")


def gru_step(op: str, x: Any, recurrent: Any, h_prev: Any, *states: Any) -> None:
    """A GRU step's projections or gates ``x`` and ``recurrent`` (batch, 3 units) fit
    ``h_prev`` (batch, units), as each of ``states`` (its gradient) does, in one dtype."""
    if len(h_prev.shape) != 2 or tuple(x.shape) != (h_prev.shape[0], 3 * h_prev.shape[1]):
        raise ValueError(
            f"{op}: x must be (batch, 3 units) for h_prev (batch, units), got {tuple(x.shape)} "
            f"and {tuple(h_prev.shape)}"
        )
    shape_is(op, "recurrent", recurrent, tuple(x.shape))
    for state in states:
        shape_is(op, "each state and gradient", state, tuple(h_prev.shape))
    if any(a.dtype != x.dtype for a in (recurrent, h_prev, *states)):
        raise ValueError(f"{op}: the arrays must share x's dtype {x.dtype}")


def ctc(
    op: str, log_probs: Any, targets: Any, per_sample: tuple, blank: int, alpha: Any = None
) -> None:
    """CTC's arrays fit ``log_probs`` (N, T, C): targets (N, L), each of ``per_sample`` (N,),
    ``alpha`` (N, T, 2 L + 1), and ``blank`` is one of the C classes. The values of the targets
    and lengths are the kernels' to check (they may stay on the GPU)."""
    if len(log_probs.shape) != 3:
        raise ValueError(f"{op}: log_probs must be (N, T, C), got shape {tuple(log_probs.shape)}")
    batch, steps, classes = log_probs.shape
    labels = targets.shape[-1] if len(targets.shape) == 2 else 0
    shape_is(op, "targets", targets, (batch, labels))
    for array in per_sample:
        shape_is(op, "each per-sample array", array, (batch,))
    if alpha is not None:
        shape_is(op, "alpha", alpha, (batch, steps, 2 * labels + 1))
    if not 0 <= blank < classes:
        raise ValueError(f"{op}: blank {blank} is not one of the {classes} classes")


def columns(op: str, name: str, vector: Any, count: int) -> None:
    """``vector`` (None skipped) holds one value per column: shape (count,)."""
    if vector is not None and tuple(vector.shape) != (count,):
        raise ValueError(f"{op}: {name} must have shape ({count},), got {tuple(vector.shape)}")


def columns_of_window(op: str, cols: Any, x_shape: tuple[int, ...], win: Window) -> None:
    """``cols`` is what im2col makes from images of ``x_shape`` with ``win``."""
    n, _, _, channels = images(op, "x_shape", x_shape)
    rows = n * win.out[0] * win.out[1]
    shape_is(op, "cols", cols, (rows, win.kernel[0] * win.kernel[1] * channels))


def depthwise_kernel(
    op: str, w_shape: tuple[int, ...], channels: int, win: Window
) -> tuple[int, ...]:
    """w (KH, KW, C, M) of the window's kernel size and the images' channels."""
    if len(w_shape) != 4 or tuple(w_shape[:3]) != (*win.kernel, channels) or w_shape[3] < 1:
        raise ValueError(
            f"{op}: w must have shape ({win.kernel[0]}, {win.kernel[1]}, {channels}, M), got "
            f"{tuple(w_shape)}"
        )
    return tuple(w_shape)


def depthwise_output(
    op: str, grad_out: Any, x_shape: tuple[int, ...], w_shape: tuple[int, ...],
    win: Window,
) -> None:  # fmt: skip
    """grad_out (N, OH, OW, C*M) of images x_shape (N, H, W, C) and kernels w_shape."""
    channels = images(op, "x", x_shape)[3]
    multiplier = depthwise_kernel(op, w_shape, channels, win)[3]
    window_output(op, "grad_out", grad_out, x_shape, win, channels * multiplier)


def statistics(op: str, x: Any, gamma: Any, beta: Any, mean: Any, variance: Any) -> None:
    """x is (rows, C) and each per-channel vector given is (C,); mean and variance together."""
    if x.ndim != 2:
        raise ValueError(f"{op}: x must be (rows, C), got shape {tuple(x.shape)}")
    if (mean is None) != (variance is None):
        raise ValueError(f"{op}: give both mean and variance, or neither")
    for name, vector in (("gamma", gamma), ("beta", beta), ("mean", mean), ("variance", variance)):
        columns(op, name, vector, x.shape[1])


def direct_conv_pool(
    op: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], win: Window
) -> tuple[int, int, int, int]:
    """The direct convolution + 2x2 max pool's operands fit: images (N, H, W, Cin), a kernel
    (KH, KW, Cin, Cout) of ``win``'s size, stride 1, no dilation, an even output size.
    Returns N, the convolution's OH and OW, and Cout."""
    n, _, _, channels = images(op, "x", x_shape)
    if len(w_shape) != 4:
        raise ValueError(f"{op}: the kernel must be (KH, KW, Cin, Cout), got shape {w_shape}")
    kh, kw, w_channels, filters = w_shape
    oh, ow = win.out
    if w_channels != channels or (kh, kw) != win.kernel or min(filters, oh, ow) < 1:
        raise ValueError(
            f"{op}: a kernel of shape {tuple(w_shape)} does not fit images of shape "
            f"{tuple(x_shape)} and a {win.kernel} window"
        )
    if win.stride != (1, 1) or win.dilation != (1, 1) or oh % 2 or ow % 2:
        raise ValueError(
            f"{op}: needs stride 1, no dilation and an even output size, got stride "
            f"{win.stride}, dilation {win.dilation}, output {win.out}"
        )
    return n, oh, ow, filters


def winograd_tiles(op: str, x_shape: tuple[int, ...], win: Window) -> tuple[int, int, int]:
    """Images of ``x_shape`` (N, H, W, C) under a 3x3 window ``win`` at stride 1, without
    dilation, of an even output size (Winograd F(2x2, 3x3) tiles one pooling window each).
    Returns N and the number of tiles down and across, OH/2 and OW/2."""
    n = images(op, "x", x_shape)[0]
    oh, ow = win.out
    if win.kernel != (3, 3) or win.stride != (1, 1) or win.dilation != (1, 1):
        raise ValueError(
            f"{op}: needs a 3x3 window at stride 1 without dilation, got kernel {win.kernel}, "
            f"stride {win.stride}, dilation {win.dilation}"
        )
    if min(oh, ow) < 2 or oh % 2 or ow % 2:
        raise ValueError(f"{op}: needs an even output size, got {win.out}")
    return n, oh // 2, ow // 2


def winograd_products(
    op: str, products_shape: tuple[int, ...], n: int, win: Window, bias: Any
) -> tuple[int, int, int]:
    """The 16 products (16, N*OH/2*OW/2, Cout) of n images' Winograd tiles under ``win``, and
    a bias of Cout entries (or None). Returns OH/2, OW/2 and Cout."""
    _, ph, pw = winograd_tiles(op, (n, 1, 1, 1), win)
    if len(products_shape) != 3:
        raise ValueError(f"{op}: products must be (16, tiles, Cout), got shape {products_shape}")
    filters = products_shape[2]
    shape_is(op, "products", tuple(products_shape), (16, n * ph * pw, filters))
    columns(op, "bias", bias, filters)
    return ph, pw, filters
