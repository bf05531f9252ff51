"""Pooling kernels, channels-last: max pooling (saving each window's arg-max, so the backward
is a scatter) and average pooling (border windows of 'same' padding average only the cells
inside the image). Max pooling can apply a convolution's bias and ReLU to each maximum
(:func:`autoconv.ops.conv2d_max_pool`)."""

from __future__ import annotations

import math

import numba
import numpy as np

from autoconv.backends import bounds
from autoconv.backends.cpu import workspace
from autoconv.backends.cpu.conv import activated, max_of_2x2, wins
from autoconv.backends.cpu.jit import Kernel, inline
from autoconv.windows import Window


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
                        if wins(value, best_row[c]):
                            best_row[c] = value
                            argmax_row[c] = at + c
            for c in range(channels):
                best_row[c] = activated(best_row[c] + bias[c], relu, zero)


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
                best, at = max_of_2x2(
                    top[2 * j, c], top[2 * j + 1, c], bottom[2 * j, c], bottom[2 * j + 1, c],
                    first + c, right, below,
                )  # fmt: skip
                best_row[c] = activated(best + bias[c], relu, zero)
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


@inline
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


@inline
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


def max_pool_forward(
    x: np.ndarray,
    win: Window,
    bias: np.ndarray | None = None,
    relu: bool = False,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Window maxima (N, OH, OW, C) of x + bias (C,), through max(., 0) if ``relu``, and where
    each came from: the flat offset (y*W + x)*C + c within its image, int32. Written into
    ``out``, a (maxima, arg-max) pair, when given."""
    n, _, _, channels = bounds.images("max_pool_forward", "x", x)
    bounds.pooling_window("max_pool_forward", win, x.shape)
    bounds.columns("max_pool_forward", "bias", bias, channels)
    shape = (n, *win.out, channels)
    out, argmax = (
        bounds.output_pair("max_pool_forward", out, np.ndarray, shape, x.dtype)
        if out is not None
        else (workspace.empty(shape, x.dtype), workspace.empty(shape, np.int32))
    )
    if bias is None:
        bias = np.zeros(channels, dtype=x.dtype)
    x, zero, work = np.ascontiguousarray(x), x.dtype.type(0), x.size + 2 * out.size
    kh, kw, sh, sw, _, _, pt, pl, oh, ow = win.geometry()
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
    n, _, width, channels = bounds.images("max_pool_backward", "x_shape", x_shape)
    bounds.window_output("max_pool_backward", "grad_out", grad_out, x_shape, win, channels)
    bounds.shape_is("max_pool_backward", "argmax", argmax, grad_out.shape)
    # The kernel adds at these offsets: one scan (about a tenth of the backward's time) keeps
    # an argmax that max_pool_forward did not make for such images from writing elsewhere.
    bounds.indices_in_range("max_pool_backward", "argmax", argmax, math.prod(x_shape[1:]))
    grad_x = workspace.empty((n, math.prod(x_shape[1:])), grad_out.dtype)
    overlapping = win.overlapping
    _max_pool_backward(
        2 * grad_out.size + grad_x.size,
        np.ascontiguousarray(grad_out), np.ascontiguousarray(argmax, dtype=np.int32),
        width * channels, win.stride[0], win.pad_top, overlapping, grad_x,
    )  # fmt: skip
    return grad_x.reshape(x_shape)


def avg_pool_forward(x: np.ndarray, win: Window) -> np.ndarray:
    """Window means over the cells inside the image (N, OH, OW, C)."""
    n, _, _, channels = bounds.images("avg_pool_forward", "x", x)
    bounds.pooling_window("avg_pool_forward", win, x.shape)
    out = workspace.empty((n, *win.out, channels), x.dtype)
    kh, kw, sh, sw, _, _, pt, pl, _, _ = win.geometry()
    _avg_pool_forward(x.size + out.size, np.ascontiguousarray(x), kh, kw, sh, sw, pt, pl, out)
    return out


def avg_pool_backward(grad_out: np.ndarray, x_shape: tuple[int, ...], win: Window) -> np.ndarray:
    """Spread each output gradient evenly over the cells its window averaged."""
    bounds.pooling_window("avg_pool_backward", win, x_shape)
    bounds.window_output("avg_pool_backward", "grad_out", grad_out, x_shape, win, x_shape[3])
    grad_x = workspace.empty(x_shape, grad_out.dtype)
    kh, kw, sh, sw, _, _, pt, pl, _, _ = win.geometry()
    overlapping = win.overlapping
    _avg_pool_backward(
        grad_out.size + grad_x.size,
        np.ascontiguousarray(grad_out), kh, kw, sh, sw, pt, pl, overlapping, grad_x,
    )  # fmt: skip
    return grad_x
