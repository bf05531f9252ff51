"""CPU kernels: Numba-compiled, with ``prange`` over independent outputs.

Layout is channels-last: images (N, H, W, C). A window is described by its kernel size
(kh, kw), stride (sh, sw), dilation (dh, dw), the padding before it (pt, pl) and the output
size (oh, ow); the padding after is implied by the output size. Cells of a window that fall
into the padding read as 0 for convolution and are skipped by pooling.

Every kernel writes into an output array it is given (allocated by the wrapper below it),
and every backward kernel parallelizes over the batch, so each thread scatters into its own
images only: no two threads ever add into the same element. Each kernel is compiled both
parallel and serial (:class:`Kernel`); the wrapper passes how much the call touches, and only
big calls are spread over threads.
"""

from __future__ import annotations

import ctypes
import math
import types
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

# Numba's default OpenMP threads spin after each parallel region while OpenBLAS's threads run
# the matrix products that follow; on a 2-core machine the two pools starve each other (conv
# 64->64 on 5x5, forward+backward: ~16 ms spinning, ~1.1 ms otherwise). OMP_WAIT_POLICY=PASSIVE
# fixes it only if set before any libgomp starts (importing torch first starts one), so we use
# Numba's own workqueue pool, whose idle threads sleep. A layer the user chose is kept.
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"

from autoconv.backends import rules
from autoconv.ops.windows import Window


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed buffers of up to 32 MB for reuse instead of returning them to
    the OS. A training step frees and re-allocates the same large arrays every batch; without
    this each one comes back as fresh pages whose first touch faults (about 15% of a step of
    the reference model here). Process-wide and harmless: memory stays at the peak of one step.
    Returns False where there is no glibc (the tuning is then skipped)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
        return bool(
            libc.mallopt(m_mmap_threshold, 32 * 2**20)
            and libc.mallopt(m_trim_threshold, 256 * 2**20)
        )
    except (OSError, AttributeError):
        return False


# All compile options in one place. fastmath stays off: it assumes no NaN, and the NaN guard
# of training must see them. error_model "numpy": a float division by zero gives inf or NaN (which
# that guard reports) instead of a check that raises ZeroDivisionError; the check also kept
# loops with a division from vectorizing (the RMSprop update of 36,864 floats: 90 -> 13 us).
options = {"cache": True, "nogil": True, "error_model": "numpy"}

# Waking Numba's sleeping workqueue threads costs ~70 us a call on the 2-core machine we measure
# on (an empty prange loop: 74 us; 1.6 us with spinning OpenMP threads, which starve OpenBLAS's),
# and our passes, bound by memory traffic, gain little from the second core while OpenBLAS's
# threads linger on it after each product. Measured there, alternating in one process: training
# the reference model at batch 64 ran at 5,289 samples/s with every kernel parallel, 5,613 with
# calls under 2**20 elements serial, 5,834 with all serial; inference at batch 1000 took the same
# time either way. So a call runs on the calling thread unless it touches at least this many
# elements (64 MB of float32), where the launch is negligible and more cores can pay.
PARALLEL_MIN_WORK = 1 << 24


class Kernel:
    """A kernel compiled twice from one function: with its ``prange`` loops spread over
    Numba's threads, and as plain loops. ``kernel(work, *args)`` runs the parallel one when the
    call touches at least PARALLEL_MIN_WORK elements (read plus written)."""

    def __init__(self, function: Callable) -> None:
        serial = types.FunctionType(
            function.__code__, function.__globals__, function.__name__, function.__defaults__
        )
        serial.__qualname__ = f"{function.__qualname__}_serial"  # its own Numba cache entry
        self.parallel = numba.njit(parallel=True, **options)(function)
        self.serial = numba.njit(**options)(serial)

    def __call__(self, work: int, *args: Any) -> None:
        (self.parallel if work >= PARALLEL_MIN_WORK else self.serial)(*args)


@Kernel
def _im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, cols):
    # Kernel cell outside, output column inside: the row test is made once per cell and the
    # column loop runs long (1 channel: 1.06 -> 0.69 ms, 32 channels: 0.29 -> 0.26 ms, serial,
    # batch 64 of the reference model). Fragile: with the copied pixel named ``pixel`` instead
    # of ``src`` Numba emitted code 5x slower (3.8 ms); time it after touching this loop.
    n_images, height, width, channels = x.shape
    for row_block in numba.prange(n_images * oh):
        n = row_block // oh
        i = row_block - n * oh
        first_row = row_block * ow
        for a in range(kh):
            y = i * sh - pt + a * dh
            inside = 0 <= y < height
            for b in range(kw):
                base = (a * kw + b) * channels
                offset = b * dw - pl
                for j in range(ow):
                    xx = j * sw + offset
                    row = cols[first_row + j]
                    if inside and 0 <= xx < width:
                        src = x[n, y, xx]
                        for c in range(channels):
                            row[base + c] = src[c]
                    else:
                        for c in range(channels):
                            row[base + c] = 0


@Kernel
def _im2col_transposed(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, cols_t):
    # _im2col into the transposed layout (KH*KW*C, N*OH*OW): for each kernel cell and channel
    # the output columns j run innermost, so with one channel each cell copies a run of a pixel
    # row (1 channel: 0.69 -> 0.33 ms; 3 channels: no gain; 32: 9x slower).
    n_images, height, width, channels = x.shape
    for row_block in numba.prange(n_images * oh):
        n = row_block // oh
        i = row_block - n * oh
        first_row = row_block * ow
        for a in range(kh):
            y = i * sh - pt + a * dh
            inside = 0 <= y < height
            for b in range(kw):
                offset = b * dw - pl
                for c in range(channels):
                    run = cols_t[(a * kw + b) * channels + c, first_row : first_row + ow]
                    for j in range(ow):
                        xx = j * sw + offset
                        run[j] = x[n, y, xx, c] if inside and 0 <= xx < width else 0


@Kernel
def _col2im(cols, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, grad_x):
    n_images, height, width, channels = grad_x.shape
    for n in numba.prange(n_images):
        grad_x[n] = 0
        for i in range(oh):
            for j in range(ow):
                row = (n * oh + i) * ow + j
                for a in range(kh):
                    y = i * sh - pt + a * dh
                    if y < 0 or y >= height:
                        continue
                    for b in range(kw):
                        xx = j * sw - pl + b * dw
                        if xx < 0 or xx >= width:
                            continue
                        base = (a * kw + b) * channels
                        for c in range(channels):
                            grad_x[n, y, xx, c] += cols[row, base + c]


@numba.njit(inline="always")
def _activated(value, relu, zero):
    # A typed zero, not the literal 0 (int64 next to float32 means float64 maths). NaN stays
    # NaN, as np.maximum(x, 0), so a divergence shows.
    return value if not relu or value > 0 or value != value else zero


@Kernel
def _bias_relu(out, bias, relu, zero):
    rows, columns = out.shape
    for r in numba.prange(rows):
        for c in range(columns):
            out[r, c] = _activated(out[r, c] + bias[c], relu, zero)


@Kernel
def _relu_grad_and_column_sums(grad, out, masked, partial_sums, zero):
    rows, columns = grad.shape
    chunks = partial_sums.shape[0]
    for chunk in numba.prange(chunks):
        sums = np.zeros(columns, dtype=grad.dtype)  # a local accumulator vectorizes
        for r in range(chunk * rows // chunks, (chunk + 1) * rows // chunks):
            grad_row, out_row, masked_row = grad[r], out[r], masked[r]
            for c in range(columns):
                value = grad_row[c] if out_row[c] > 0 else zero  # a select; vectorizes
                masked_row[c] = value
                sums[c] += value
        partial_sums[chunk] = sums


@numba.njit(inline="always")
def _wins(value, best):
    # The first maximum in scan order wins; a NaN wins (and stays), as in np.max, so a divergence
    # shows. Bitwise operators, not ``or``/``and``: no branches, so the channel loops vectorize.
    return (value > best) | ((value != value) & (best == best))


@Kernel
def _max_pool_forward(x, bias, relu, zero, kh, kw, sh, sw, pt, pl, out, argmax):
    # Pools x, then applies + bias and max(., 0) (if relu) to each maximum: the same values as
    # pooling max(x + bias, 0), both being monotonic, in one pass over the full-size x (a
    # convolution's product) and with the bias and ReLU on a quarter of it for 2x2 pools.
    n_images, height, width, channels = x.shape
    _, oh, ow, _ = out.shape
    for row_block in numba.prange(n_images * oh):
        n = row_block // oh
        i = row_block - n * oh
        for j in range(ow):
            y0, x0 = i * sh - pt, j * sw - pl
            y_lo, y_hi = max(y0, 0), min(y0 + kh, height)
            x_lo, x_hi = max(x0, 0), min(x0 + kw, width)
            best_row, argmax_row = out[n, i, j], argmax[n, i, j]
            first = (y_lo * width + x_lo) * channels
            for c in range(channels):  # channels innermost: contiguous loads
                best_row[c] = x[n, y_lo, x_lo, c]
                argmax_row[c] = first + c
            for y in range(y_lo, y_hi):
                for xx in range(x_lo, x_hi):
                    at = (y * width + xx) * channels
                    for c in range(channels):
                        value = x[n, y, xx, c]
                        if _wins(value, best_row[c]):
                            best_row[c] = value
                            argmax_row[c] = at + c
            for c in range(channels):
                best_row[c] = _activated(best_row[c] + bias[c], relu, zero)


@Kernel
def _max_pool_2x2_forward(x, bias, relu, zero, out, argmax):
    # _max_pool_forward for 2x2 windows at stride 2 that all lie inside x, the common case,
    # with the four cells unrolled: no loop-carried maximum in memory, so it vectorizes (conv 1
    # of the reference model: 0.54 -> 0.24 ms). Its own kernel: with the general loops in the
    # same function Numba's code for this path was 40% slower.
    _, _, width, channels = x.shape
    n_images, oh, ow, _ = out.shape
    right, below = channels, width * channels  # flat offsets from a window's first cell
    for row_block in numba.prange(n_images * oh):
        n = row_block // oh
        i = row_block - n * oh
        top, bottom = x[n, 2 * i], x[n, 2 * i + 1]
        for j in range(ow):
            best_row, argmax_row = out[n, i, j], argmax[n, i, j]
            first = (2 * i * width + 2 * j) * channels
            for c in range(channels):
                best, at = top[2 * j, c], first + c
                value = top[2 * j + 1, c]
                take = _wins(value, best)
                best, at = (value if take else best), (first + right + c if take else at)
                value = bottom[2 * j, c]
                take = _wins(value, best)
                best, at = (value if take else best), (first + below + c if take else at)
                value = bottom[2 * j + 1, c]
                take = _wins(value, best)
                best = value if take else best
                at = first + below + right + c if take else at
                best_row[c] = _activated(best + bias[c], relu, zero)
                argmax_row[c] = at


@Kernel
def _max_pool_backward(grad_out, argmax, row_size, sh, pt, overlapping, grad_x):
    # grad_x is (N, H*W*C): argmax holds flat offsets into one image.
    n_images, image_size = grad_x.shape
    oh = grad_out.shape[1]
    height = image_size // row_size
    if overlapping:  # windows share cells: one thread per image, so no two add to one cell
        for n in numba.prange(n_images):
            grad_x[n] = 0
            for i in range(oh):
                _scatter_row(grad_out, argmax, n, i, grad_x)
        return
    # Windows of output row i only touch input rows [i*sh - pt, (i+1)*sh - pt): each thread
    # owns those rows (the first and last blocks also own the uncovered border rows).
    for row_block in numba.prange(n_images * oh):
        n = row_block // oh
        i = row_block - n * oh
        y_lo = 0 if i == 0 else i * sh - pt
        y_hi = height if i == oh - 1 else min((i + 1) * sh - pt, height)
        grad_x[n, y_lo * row_size : y_hi * row_size] = 0
        _scatter_row(grad_out, argmax, n, i, grad_x)


@numba.njit(inline="always")
def _scatter_row(grad_out, argmax, n, i, grad_x):
    for j in range(grad_out.shape[2]):
        for c in range(grad_out.shape[3]):
            grad_x[n, argmax[n, i, j, c]] += grad_out[n, i, j, c]


@Kernel
def _avg_pool_forward(x, kh, kw, sh, sw, pt, pl, out):
    n_images, height, width, channels = x.shape
    _, oh, ow, _ = out.shape
    for row_block in numba.prange(n_images * oh):
        n = row_block // oh
        i = row_block - n * oh
        for j in range(ow):
            y0, x0 = i * sh - pt, j * sw - pl
            y_lo, y_hi = max(y0, 0), min(y0 + kh, height)
            x_lo, x_hi = max(x0, 0), min(x0 + kw, width)
            scale = 1.0 / ((y_hi - y_lo) * (x_hi - x_lo))
            cell = out[n, i, j]
            cell[:] = 0
            for y in range(y_lo, y_hi):  # channels innermost: contiguous, vectorized adds
                for xx in range(x_lo, x_hi):
                    pixel = x[n, y, xx]
                    for c in range(channels):
                        cell[c] += pixel[c]
            for c in range(channels):
                cell[c] *= scale


@Kernel
def _avg_pool_backward(grad_out, kh, kw, sh, sw, pt, pl, overlapping, grad_x):
    n_images, height = grad_x.shape[:2]
    oh = grad_out.shape[1]
    if overlapping:  # windows share cells: one thread per image, so no two add to one cell
        for n in numba.prange(n_images):
            grad_x[n] = 0
            for i in range(oh):
                _spread_row(grad_out, kh, kw, sh, sw, pt, pl, n, i, grad_x)
        return
    for row_block in numba.prange(n_images * oh):  # each thread owns its rows, as for max
        n = row_block // oh
        i = row_block - n * oh
        y_lo = 0 if i == 0 else i * sh - pt
        y_hi = height if i == oh - 1 else min((i + 1) * sh - pt, height)
        grad_x[n, y_lo:y_hi] = 0
        _spread_row(grad_out, kh, kw, sh, sw, pt, pl, n, i, grad_x)


@numba.njit(inline="always")
def _spread_row(grad_out, kh, kw, sh, sw, pt, pl, n, i, grad_x):
    height, width, channels = grad_x.shape[1:]
    for j in range(grad_out.shape[2]):
        y0, x0 = i * sh - pt, j * sw - pl
        y_lo, y_hi = max(y0, 0), min(y0 + kh, height)
        x_lo, x_hi = max(x0, 0), min(x0 + kw, width)
        scale = 1.0 / ((y_hi - y_lo) * (x_hi - x_lo))
        g = grad_out[n, i, j]
        for y in range(y_lo, y_hi):
            for xx in range(x_lo, x_hi):
                pixel = grad_x[n, y, xx]
                for c in range(channels):
                    pixel[c] += g[c] * scale


# ------------------------------------------------------------------------------ wrappers
def _geometry(win: Window) -> tuple[int, ...]:
    (kh, kw), (sh, sw), (dh, dw) = win.kernel, win.stride, win.dilation
    return kh, kw, sh, sw, dh, dw, win.pad_top, win.pad_left, win.out[0], win.out[1]


def im2col(x: np.ndarray, win: Window) -> np.ndarray:
    """(N, H, W, C) -> (N*OH*OW, KH*KW*C): one row per output pixel, its window unrolled.

    Images of one channel give a column-major array (the transpose of a C-contiguous one),
    which is faster to fill; the matrix products read either layout at the same speed."""
    n, _, _, channels = x.shape
    kh, kw = win.kernel
    shape = (n * win.out[0] * win.out[1], kh * kw * channels)
    x, work = np.ascontiguousarray(x), x.size + math.prod(shape)
    if channels == 1:
        cols_t = np.empty(shape[::-1], dtype=x.dtype)
        _im2col_transposed(work, x, *_geometry(win), cols_t)
        return cols_t.T
    cols = np.empty(shape, dtype=x.dtype)
    _im2col(work, x, *_geometry(win), cols)
    return cols


def col2im(cols: np.ndarray, x_shape: tuple[int, ...], win: Window) -> np.ndarray:
    """The adjoint of :func:`im2col`: add each row's entries back to where they were read."""
    grad_x = np.empty(x_shape, dtype=cols.dtype)
    _col2im(cols.size + grad_x.size, np.ascontiguousarray(cols), *_geometry(win), grad_x)
    return grad_x


def bias_relu(out: np.ndarray, bias: np.ndarray | None, relu: bool) -> np.ndarray:
    """In place on a (rows, C) product: add the per-column bias, then max(., 0) if ``relu``."""
    if bias is None:
        bias = np.zeros(out.shape[1], dtype=out.dtype)
    _bias_relu(2 * out.size, out, bias, relu, out.dtype.type(0))
    return out


def relu_grad_and_column_sums(grad: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gradient through a ReLU whose output was ``out`` (rows, C), and its column sums
    (the bias gradient), in one pass. Each thread sums its own block of rows."""
    masked = np.empty(grad.shape, dtype=grad.dtype)
    chunks = max(1, min(numba.get_num_threads(), grad.shape[0]))
    partial_sums = np.empty((chunks, grad.shape[1]), dtype=grad.dtype)
    _relu_grad_and_column_sums(
        3 * grad.size, np.ascontiguousarray(grad), out, masked, partial_sums, grad.dtype.type(0)
    )
    return masked, partial_sums.sum(axis=0)


def max_pool_forward(
    x: np.ndarray, win: Window, bias: np.ndarray | None = None, relu: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Window maxima (N, OH, OW, C) of x + bias (C,), through max(., 0) if ``relu``, and where
    each came from: the flat offset (y*W + x)*C + c within its image, int32."""
    n, _, _, channels = x.shape
    out = np.empty((n, *win.out, channels), dtype=x.dtype)
    argmax = np.empty(out.shape, dtype=np.int32)
    if bias is None:
        bias = np.zeros(channels, dtype=x.dtype)
    x, zero, work = np.ascontiguousarray(x), x.dtype.type(0), x.size + 2 * out.size
    kh, kw, sh, sw, _, _, pt, pl, oh, ow = _geometry(win)
    if (
        (kh, kw, sh, sw, pt, pl) == (2, 2, 2, 2, 0, 0)
        and 2 * oh <= x.shape[1]
        and 2 * ow <= x.shape[2]
    ):
        _max_pool_2x2_forward(work, x, bias, relu, zero, out, argmax)  # every window inside
    else:
        _max_pool_forward(work, x, bias, relu, zero, kh, kw, sh, sw, pt, pl, out, argmax)
    return out, argmax


def max_pool_backward(
    grad_out: np.ndarray, argmax: np.ndarray, x_shape: tuple[int, ...], win: Window
) -> np.ndarray:
    """Route each output gradient to the input cell that won its window."""
    n, _, width, channels = x_shape
    grad_x = np.empty((n, math.prod(x_shape[1:])), dtype=grad_out.dtype)
    overlapping = win.kernel[0] > win.stride[0] or win.kernel[1] > win.stride[1]
    _max_pool_backward(
        2 * grad_out.size + grad_x.size,
        np.ascontiguousarray(grad_out), argmax, width * channels, win.stride[0], win.pad_top,
        overlapping, grad_x,
    )  # fmt: skip
    return grad_x.reshape(x_shape)


def avg_pool_forward(x: np.ndarray, win: Window) -> np.ndarray:
    """Window means over the cells inside the image (N, OH, OW, C)."""
    n, _, _, channels = x.shape
    out = np.empty((n, *win.out, channels), dtype=x.dtype)
    kh, kw, sh, sw, _, _, pt, pl, _, _ = _geometry(win)
    _avg_pool_forward(x.size + out.size, np.ascontiguousarray(x), kh, kw, sh, sw, pt, pl, out)
    return out


def avg_pool_backward(grad_out: np.ndarray, x_shape: tuple[int, ...], win: Window) -> np.ndarray:
    """Spread each output gradient evenly over the cells its window averaged."""
    grad_x = np.empty(x_shape, dtype=grad_out.dtype)
    kh, kw, sh, sw, _, _, pt, pl, _, _ = _geometry(win)
    overlapping = kh > sh or kw > sw
    _avg_pool_backward(
        grad_out.size + grad_x.size,
        np.ascontiguousarray(grad_out), kh, kw, sh, sw, pt, pl, overlapping, grad_x,
    )  # fmt: skip
    return grad_x


# ------------------------------------------------------------ the array functions ops call
# The CUDA backend implements the same names; on the CPU most are NumPy's own.
from numpy import (  # noqa: E402
    abs,
    broadcast_to,
    exp,
    expand_dims,
    log,
    maximum,
    minimum,
    ones_like,
    sqrt,
    swapaxes,
    tanh,
    zeros,
    zeros_like,
)

__all__ = [  # the array functions re-exported from NumPy, for linters and readers
    "abs", "broadcast_to", "exp", "expand_dims", "log", "maximum", "minimum", "ones_like",
    "sqrt", "swapaxes", "tanh", "zeros", "zeros_like",
]  # fmt: skip


def asarray(value: object, dtype: object = None) -> np.ndarray:
    """``value`` as a NumPy array (no copy when it already is one of ``dtype``)."""
    return np.asarray(value, dtype=dtype)


def to_numpy(array: np.ndarray) -> np.ndarray:
    return np.asarray(array)


def copy(array: np.ndarray) -> np.ndarray:
    """A contiguous copy (also of a read-only broadcast view)."""
    return np.array(array, order="C")


def argmax(array: np.ndarray, axis: int = -1) -> np.ndarray:
    return array.argmax(axis=axis)


def matmul(
    a: np.ndarray, b: np.ndarray, transpose_a: bool = False, transpose_b: bool = False
) -> np.ndarray:
    """``a @ b``; ``transpose_a`` / ``transpose_b`` swap an operand's last two axes (a view)."""
    return np.matmul(
        np.swapaxes(a, -1, -2) if transpose_a else a, np.swapaxes(b, -1, -2) if transpose_b else b
    )


def getitem(array: np.ndarray, index: object) -> np.ndarray:
    """``array[index]`` as a contiguous array."""
    return np.asarray(array[index], order="C")


def scatter_add(grad: np.ndarray, shape: tuple[int, ...], index: object) -> np.ndarray:
    """Zeros of ``shape`` with ``grad`` added at ``[index]`` (repeated positions accumulate)."""
    out = np.zeros(shape, dtype=grad.dtype)
    np.add.at(out, index, grad)
    return out


def take(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` for a 1-D array of row numbers."""
    return np.take(array, rows, axis=0)


def one_hot(labels: np.ndarray, num_classes: int, dtype: object) -> np.ndarray:
    """Rows of ``num_classes`` with a 1 at each (integer-valued) label."""
    return np.eye(num_classes, dtype=dtype)[labels.astype(np.intp, copy=False)]


def random_uniform(shape: tuple[int, ...], dtype: object, rng: np.random.Generator) -> np.ndarray:
    """Uniform [0, 1) numbers of ``dtype`` from ``rng``."""
    return rng.random(shape, dtype=np.float32).astype(dtype, copy=False)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """log(softmax(x)) along the last axis, stable (the row maximum is subtracted first)."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(logits: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, Any]:
    """(log_softmax(logits), the mean over rows of -sum(target * log_softmax)): logits and
    target (N..., C)."""
    log_probs = log_softmax(logits)
    return log_probs, -(target * log_probs).sum(axis=-1).mean()


def softmax_cross_entropy_grad(
    log_probs: np.ndarray, target: np.ndarray, grad_loss: np.ndarray
) -> np.ndarray:
    """The gradient of :func:`softmax_cross_entropy`'s mean loss with respect to the logits,
    times ``grad_loss`` (0-d): (softmax * sum(target) - target) * grad_loss / rows."""
    rows = log_probs.size // log_probs.shape[-1]
    mass = target.sum(axis=-1, keepdims=True)
    return (np.exp(log_probs) * mass - target) * (grad_loss / rows)


def count_correct(scores: np.ndarray, target: np.ndarray) -> int:
    """How many rows of ``scores`` (N..., C) are largest at the true class: ``target`` holds
    class labels (N...) or rows (N..., C) whose largest entry is the class."""
    truth = target.argmax(axis=-1) if target.ndim == scores.ndim else target
    return int(np.count_nonzero(scores.argmax(axis=-1) == truth))


# ----------------------------------------------------------------- optimizer updates
# One pass per parameter, in place, with the rules of ``rules.py``; scalars arrive in the
# parameter's dtype so float32 stays float32. ``status`` (see the training helpers) stops every
# update once a step went bad.
serial_jit = numba.njit(**options)
sgd_rule, rmsprop_rule, adam_rule = (
    numba.njit(inline="always")(rule) for rule in (rules.sgd, rules.rmsprop, rules.adam)
)


@serial_jit
def _sgd(value, grad, velocity, lr, momentum, nesterov):
    for i in range(value.size):
        value[i], v = sgd_rule(value[i], grad[i], velocity[i], lr, momentum, nesterov)
        if momentum != 0:
            velocity[i] = v


@serial_jit
def _rmsprop(value, grad, velocity, momentum_slot, lr, rho, one_minus_rho, momentum, epsilon):
    for i in range(value.size):
        value[i], velocity[i], step = rmsprop_rule(
            value[i], grad[i], velocity[i], momentum_slot[i], lr, rho, one_minus_rho,
            momentum, epsilon,
        )  # fmt: skip
        if momentum != 0:
            momentum_slot[i] = step


@serial_jit
def _adam(value, grad, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    for i in range(value.size):
        value[i], m[i], v[i] = adam_rule(
            value[i], grad[i], m[i], v[i], alpha, one_minus_beta_1, one_minus_beta_2, epsilon
        )


def _flat(*arrays: np.ndarray | None) -> list[np.ndarray]:
    """1-D views (a None slot becomes the first array: the kernel never touches it)."""
    first = arrays[0].reshape(-1)
    return [first if a is None else np.ascontiguousarray(a).reshape(-1) for a in arrays]


def sgd_update(value, grad, velocity, lr, momentum, nesterov, status) -> None:
    """value -= lr*g, or with momentum v = momentum*v - lr*g; value += v (Nesterov:
    momentum*v - lr*g), in place."""
    if not status[0]:
        scalars = [value.dtype.type(s) for s in (lr, momentum)]
        _sgd(*_flat(value, grad, velocity), *scalars, nesterov)


def rmsprop_update(
    value, grad, velocity, momentum_slot, lr, rho, momentum, epsilon, status
) -> None:
    """Keras's RMSprop step, in place."""
    if not status[0]:
        scalars = [value.dtype.type(s) for s in (lr, rho, 1 - rho, momentum, epsilon)]
        _rmsprop(*_flat(value, grad, velocity, momentum_slot), *scalars)


def adam_update(value, grad, m, v, alpha, beta_1, beta_2, epsilon, status) -> None:
    """Keras's Adam step with alpha = lr*sqrt(1-b2^t)/(1-b1^t), in place."""
    if not status[0]:
        scalars = [value.dtype.type(s) for s in (alpha, 1 - beta_1, 1 - beta_2, epsilon)]
        _adam(*_flat(value, grad, m, v), *scalars)


# ----------------------------------------------------------------- training helpers
# ``status`` is an int64 array [code, step]: code 0 while every step was finite, 1 when a
# loss, 2 when a gradient went non-finite at ``step`` (the first such step).
def new_status() -> np.ndarray:
    return np.zeros(2, dtype=np.int64)


def check_finite(values: np.ndarray, code: int, step: int, status: np.ndarray) -> None:
    """Mark ``status`` with (code, step) if ``values`` hold a NaN or infinity and it is clean."""
    if not status[0] and not np.isfinite(values).all():
        status[:] = code, step


def accumulate(totals: np.ndarray, loss: np.ndarray, correct: object, count: int, status) -> None:
    """totals (float64 [loss*count, correct, count]) += this batch's, unless status is set."""
    if not status[0]:
        totals += (float(loss) * count, float(correct), count)
