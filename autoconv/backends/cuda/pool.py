"""Pooling kernels on the GPU: one thread per output cell forward, one per input cell backward
(a gather: no atomics). The names of :mod:`autoconv.backends.cpu.pool`."""

from __future__ import annotations

from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, empty, zeros
from autoconv.backends.cuda.conv import activated
from autoconv.backends.cuda.runtime import cached_kernel, launch
from autoconv.windows import Window


@cached_kernel
def _max_pool_forward(x, bias, relu, zero, kh, kw, sh, sw, pt, pl, out, argmax):
    # Pools x, then applies + bias and max(., 0) (if relu) to the maximum: the same values as
    # pooling max(x + bias, 0) (both are monotonic), and the same winners as on the CPU.
    _, height, width, channels = x.shape
    _, oh, ow, _ = out.shape
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        c = e % channels
        j = (e // channels) % ow
        i = (e // (channels * ow)) % oh
        n = e // (channels * ow * oh)
        y_lo, x_lo = max(i * sh - pt, 0), max(j * sw - pl, 0)
        y_hi, x_hi = min(i * sh - pt + kh, height), min(j * sw - pl + kw, width)
        best = x[n, y_lo, x_lo, c]
        where = (y_lo * width + x_lo) * channels + c
        for y in range(y_lo, y_hi):
            for xx in range(x_lo, x_hi):
                value = x[n, y, xx, c]
                if value > best or (value != value and best == best):  # first max; NaN wins
                    best, where = value, (y * width + xx) * channels + c
        out[n, i, j, c] = activated(best + bias[c], relu, zero)
        argmax[n, i, j, c] = where


@cached_kernel
def _max_pool_backward(grad_out, argmax, kh, kw, sh, sw, pt, pl, grad_x, zero):
    # Each input cell sums the gradients of the windows whose winner it was (a gather).
    _, height, width, channels = grad_x.shape
    _, oh, ow, _ = grad_out.shape
    for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
        c = e % channels
        xx = (e // channels) % width
        y = (e // (channels * width)) % height
        n = e // (channels * width * height)
        me = (y * width + xx) * channels + c
        total = zero
        for i in range(max(0, (y + pt - kh) // sh + 1), min(oh, (y + pt) // sh + 1)):
            for j in range(max(0, (xx + pl - kw) // sw + 1), min(ow, (xx + pl) // sw + 1)):
                if argmax[n, i, j, c] == me:
                    total += grad_out[n, i, j, c]
        grad_x[n, y, xx, c] = total


@cache
def _avg_pool_kernels(dtype: str) -> tuple[Any, Any]:
    """(forward, backward) average-pool kernels for ``dtype``; cell counts are cast to it."""
    item = numba.from_dtype(np.dtype(dtype))

    @cached_kernel
    def forward(x, kh, kw, sh, sw, pt, pl, out):
        _, height, width, channels = x.shape
        _, oh, ow, _ = out.shape
        for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            c = e % channels
            j = (e // channels) % ow
            i = (e // (channels * ow)) % oh
            n = e // (channels * ow * oh)
            y_lo, x_lo = max(i * sh - pt, 0), max(j * sw - pl, 0)
            y_hi, x_hi = min(i * sh - pt + kh, height), min(j * sw - pl + kw, width)
            total = item(0)
            for y in range(y_lo, y_hi):
                for xx in range(x_lo, x_hi):
                    total += x[n, y, xx, c]
            out[n, i, j, c] = total / item((y_hi - y_lo) * (x_hi - x_lo))

    @cached_kernel
    def backward(grad_out, kh, kw, sh, sw, pt, pl, grad_x):
        # Each input cell gathers the share of every window that averaged it.
        _, height, width, channels = grad_x.shape
        _, oh, ow, _ = grad_out.shape
        for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
            c = e % channels
            xx = (e // channels) % width
            y = (e // (channels * width)) % height
            n = e // (channels * width * height)
            total = item(0)
            for i in range(max(0, (y + pt - kh) // sh + 1), min(oh, (y + pt) // sh + 1)):
                rows = min(i * sh - pt + kh, height) - max(i * sh - pt, 0)
                for j in range(max(0, (xx + pl - kw) // sw + 1), min(ow, (xx + pl) // sw + 1)):
                    cells = rows * (min(j * sw - pl + kw, width) - max(j * sw - pl, 0))
                    total += grad_out[n, i, j, c] / item(cells)
            grad_x[n, y, xx, c] = total

    return forward, backward


def max_pool_forward(
    x: CudaArray,
    win: Window,
    bias: CudaArray | None = None,
    relu: bool = False,
    out: tuple[CudaArray, CudaArray] | None = None,
) -> tuple[CudaArray, CudaArray]:
    """Window maxima (N, OH, OW, C) of x + bias, through max(., 0) if ``relu``, and each one's
    flat offset (y*W + x)*C + c in its image. Written into ``out``, a (maxima, arg-max) pair,
    when given."""
    channels = bounds.images("max_pool_forward", "x", x)[3]
    bounds.pooling_window("max_pool_forward", win, x.shape)
    bounds.columns("max_pool_forward", "bias", bias, channels)
    shape = (x.shape[0], *win.out, x.shape[3])
    out, argmax = (
        bounds.output_pair("max_pool_forward", out, CudaArray, shape, x.dtype)
        if out is not None
        else (empty(shape, x.dtype), empty(shape, np.int32))
    )
    if bias is None:
        bias = zeros((x.shape[3],), x.dtype)
    kh, kw, sh, sw, _, _, pt, pl, _, _ = win.geometry()
    launch(_max_pool_forward, out.size)(
        x.nd, bias.flat, relu, x.dtype.type(0), kh, kw, sh, sw, pt, pl, out.nd, argmax.nd
    )
    return out, argmax


def max_pool_backward(
    grad_out: CudaArray, argmax: CudaArray, x_shape: tuple[int, ...], win: Window
) -> CudaArray:
    """Route each output gradient to the input cell that won its window (a gather: an
    arg-max is only compared, never used as an address)."""
    channels = bounds.images("max_pool_backward", "x_shape", x_shape)[3]
    bounds.pooling_window("max_pool_backward", win, x_shape)
    bounds.window_output("max_pool_backward", "grad_out", grad_out, x_shape, win, channels)
    bounds.shape_is("max_pool_backward", "argmax", argmax, grad_out.shape)
    grad_x = empty(x_shape, grad_out.dtype)
    kh, kw, sh, sw, _, _, pt, pl, _, _ = win.geometry()
    launch(_max_pool_backward, grad_x.size)(
        grad_out.nd, argmax.nd, kh, kw, sh, sw, pt, pl, grad_x.nd, grad_out.dtype.type(0)
    )
    return grad_x


def avg_pool_forward(x: CudaArray, win: Window) -> CudaArray:
    """Window means over the cells inside the image (N, OH, OW, C)."""
    bounds.pooling_window("avg_pool_forward", win, bounds.images("avg_pool_forward", "x", x))
    out = empty((x.shape[0], *win.out, x.shape[3]), x.dtype)
    kh, kw, sh, sw, _, _, pt, pl, _, _ = win.geometry()
    launch(_avg_pool_kernels(x.dtype.str)[0], out.size)(x.nd, kh, kw, sh, sw, pt, pl, out.nd)
    return out


def avg_pool_backward(grad_out: CudaArray, x_shape: tuple[int, ...], win: Window) -> CudaArray:
    """Spread each output gradient evenly over the cells its window averaged."""
    bounds.pooling_window("avg_pool_backward", win, x_shape)
    bounds.window_output("avg_pool_backward", "grad_out", grad_out, x_shape, win, x_shape[3])
    grad_x = empty(x_shape, grad_out.dtype)
    kh, kw, sh, sw, _, _, pt, pl, _, _ = win.geometry()
    backward = _avg_pool_kernels(grad_out.dtype.str)[1]
    launch(backward, grad_x.size)(grad_out.nd, kh, kw, sh, sw, pt, pl, grad_x.nd)
    return grad_x
