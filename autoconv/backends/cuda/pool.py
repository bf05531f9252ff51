"""Pooling kernels on the GPU: a thread per channel of a run of output pixels forward, of input
pixels backward (for the max pool, blocks of a stride's cells; a gather: no atomics). The
names of :mod:`autoconv.backends.cpu.pool`."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda import runtime
from autoconv.backends.cuda.array import CudaArray, empty, zeros
from autoconv.backends.cuda.conv import _next_row, _pixel, _stepped, activated
from autoconv.backends.cuda.runtime import (
    SIMULATED,
    cached_kernel,
    launch_lines,
    line_chunk,
    line_run,
    unsigned,
    unsigned32,
)
from autoconv.windows import Window

# Every kernel runs over pixels (lines; the max pool's backward, blocks of cells) of channels
# (entries) in runtime's line layout: a thread takes one channel down a run of pixels, each
# stepped from the last (conv._stepped).
# x, out, grad_out, grad_x and argmax are flat; x_shape (N, H, W, C), out_shape (N, OH, OW, C).


@cuda.jit(device=True)
def _windows_over(t, pad, size, stride, count):
    """The range [lo, hi) of the windows (of ``size`` cells, ``stride`` apart, ``count`` of
    them, the first starting ``pad`` cells before the image) that cover cell t (all of one
    integer type: no literal mixes a signed type into unsigned arithmetic)."""
    reach = t + pad  # the cell's place from the first window's start
    lo = (reach + stride - size) // stride if reach >= size else reach - reach
    return lo, min(count, (reach + stride) // stride)


@cache
def _max_pool_kernels(kh: int, kw: int, sh: int, sw: int, dtype: str, wide: bool = False
                      ) -> tuple[Any, Any]:  # fmt: skip
    """The max pool's (forward, backward) kernels for a kh x kw window at strides sh, sw and
    ``dtype``, known when they are compiled: the window's loops unrolled, its cells' offsets
    constants and the strides' divisions multiplications (with them as arguments, the small
    Xception's 3x3 pools at stride 2 took 0.6-2.3 ms each in its 56.6 ms step on an H200, and
    8.0 ms of its prediction at batch 256: bench/results/2026-11-26-gpu-h200-first-figures.md).
    Each reads all its cells before it compares or adds any, so their loads are in flight
    together: compared as they arrived, one at a time, the forward waited on ten loads a pixel
    in turn and ran the Xception's prediction pools at ~0.9 TB/s of an H200's 4.8
    (bench/results/2026-11-26-gpu-h200-tf32-default.md). The backward takes a block of sh x sw
    cells at a time and reads the arg-maxes and gradients of the windows over it once for them
    all, in one round of loads: cell by cell, each found its windows' range by divisions and
    read them (222 sm_90 instructions a cell at 3x3, stride 2; ~54 now inside the image), and
    the small Xception's largest took 443 us of its 15.6 ms training step on an H200.
    Offsets are 32-bit unsigned unless an array has 2**31 entries or more (``wide``): the
    backward's window indices' signed 64-bit divisions gone, the forward's cell offsets one add
    each."""
    index = unsigned if wide else unsigned32
    winner_type = numba.int64 if SIMULATED else (numba.uint64 if wide else numba.uint32)
    item = numba.from_dtype(np.dtype(dtype))
    rows_over, columns_over = -(-kh // sh), -(-kw // sw)  # the most windows over a cell

    pair_columns = sw + kw  # the input columns under two windows side by side

    @cuda.jit(device=True)
    def winner(values, rows_in, columns_in, first_column):
        """(maximum, its row, its column) of the window over values[:, first_column:], among
        its cells inside the image (rows_in, columns_in): compared from the last cell back (the
        loads' order, so that the first comparison waits for the last load, not each for its
        own): a cell at least as large, or a NaN, displaces the one after it, so the first
        maximum wins, or the first NaN, or in a window of -inf its first cell."""
        best, won_a, won_b = item(-math.inf), 0, 0
        for a in range(kh - 1, -1, -1):
            for b in range(kw - 1, -1, -1):
                if rows_in[a] and columns_in[first_column + b]:
                    value = values[a, first_column + b]
                    if value >= best or value != value:
                        best, won_a, won_b = value, a, b
        return best, won_a, won_b

    @cuda.jit(device=True)
    def windows_max(x, image, y0, x0, height, width, channels, pair, checked):
        """The winners (see winner) of the window at (y0, x0) of the image at offset ``image``
        (its channel's) and, with ``pair``, of the window beside it at (y0, x0 + sw): their
        cells read once (the columns they share too), every one first, the loads in flight
        together; unless ``checked`` (compiled apart: both windows lie inside the image, as
        most do), a cell outside the image is read as the first window's first inside and not
        compared (offsets outside it wrap around, unsigned, and are never read)."""
        rows_in = cuda.local.array(kh, numba.boolean)
        columns_in = cuda.local.array(pair_columns, numba.boolean)
        values = cuda.local.array((kh, pair_columns), item)
        step, line = index(channels), index(width * channels)
        for a in range(kh):
            rows_in[a] = not checked or 0 <= y0 + a < height
        for b in range(pair_columns):
            columns_in[b] = not checked or 0 <= x0 + b < width
        inside = index(image + (max(y0, 0) * width + max(x0, 0)) * channels)
        cells = index(image + (y0 * width + x0) * channels)
        for a in range(kh):
            cell = cells
            for b in range(pair_columns):
                if b < kw or (pair and b >= sw):  # the first window's or the second's
                    values[a, b] = x[cell if rows_in[a] and columns_in[b] else inside]
                cell = index(cell + step)
            cells = index(cells + line)
        best, won_a, won_b = winner(values, rows_in, columns_in, 0)
        if not pair:
            return best, won_a, won_b, best, won_a, won_b
        second, second_a, second_b = winner(values, rows_in, columns_in, sw)
        return best, won_a, won_b, second, second_a, second_b

    @cuda.jit(device=True)
    def write(out, argmax, at, best, won_a, won_b, y0, x0, width, channels, c, added, relu,
              zero):  # fmt: skip
        """The maximum at offset ``at`` (+ added, through the ReLU) and its winner's offset."""
        out[at] = activated(best + added, relu, zero)
        argmax[at] = ((y0 + won_a) * width + x0 + won_b) * channels + c

    @cached_kernel
    def forward(x, x_shape, bias, relu, zero, pt, pl, out, out_shape, argmax, span, run):
        # Pools x, then applies + bias and max(., 0) (if relu) to the maximum: the same values
        # as pooling max(x + bias, 0) (both are monotonic), and the same winners as on the CPU:
        # the first maximum in row-major order over the window's cells inside the image (a
        # NaN wins). A line is a pair of outputs side by side (j, j + 1; a row's last may be
        # alone), whose windows' cells are read once: a pair's prologue, offsets and stepping
        # found once for both (on sm_90 ~180 instructions an output inside the image alone).
        # A thread walks its pairs in order (runtime.line_chunk): along a row an output's
        # offset is the last one's plus a constant, found anew where a row starts.
        _, height, width, channels = x_shape
        n_images, oh, ow, _ = out_shape
        pairs = -(-ow // 2)
        c, _, line, end = line_chunk(span, run, n_images * oh * pairs)
        if c >= channels:
            return
        added = bias[c]
        step, pair_step = index(channels), index(2 * channels)
        lo = -(-pl // (2 * sw))  # [lo, hi): the pairs whose windows' columns lie inside
        hi = min((width - sw - kw + pl) // (2 * sw) + 1, ow // 2)
        n, i, p = _pixel(line, oh, pairs)
        while line < end:
            y0 = i * sh - pt
            rows_inside = 0 <= y0 and y0 + kh <= height
            image = n * height * width * channels + c
            at = index(((n * oh + i) * ow + 2 * p) * channels + c)
            last = min(pairs, p + end - line)
            line += last - p
            while p < last:
                j = 2 * p
                x0, pair = j * sw - pl, j + 1 < ow
                if rows_inside and lo <= p < hi:
                    b0, a0, c0, b1, a1, c1 = windows_max(x, image, y0, x0, height, width,
                                                         channels, True, False)  # fmt: skip
                else:
                    b0, a0, c0, b1, a1, c1 = windows_max(x, image, y0, x0, height, width,
                                                         channels, pair, True)  # fmt: skip
                write(out, argmax, at, b0, a0, c0, y0, x0, width, channels, c, added, relu,
                      zero)  # fmt: skip
                if pair:
                    write(out, argmax, index(at + step), b1, a1, c1, y0, x0 + sw, width,
                          channels, c, added, relu, zero)  # fmt: skip
                p, at = p + 1, index(at + pair_step)
            p = 0
            n, i = _next_row(n, i, oh)

    @cuda.jit(device=True)
    def route_block(grad_out, argmax, grad_x, window, out_line, bi, bj, oh, ow, corner, base,
                    line, y0, x0, height, width, channels, winners, grads, there, zero,
                    checked):  # fmt: skip
        """The block's sh x sw cells' gradients (see backward); unless ``checked`` (compiled
        apart: every window over the block is there and its cells lie inside the image, as
        most do), nothing is tested but which windows a cell won."""
        for d in range(rows_over):
            for e in range(columns_over):
                there[d, e] = not checked or (0 <= bi - d < oh and 0 <= bj - e < ow)
                if there[d, e]:
                    at = index(window - index(d * out_line + e * channels))
                    winners[d, e], grads[d, e] = index(argmax[at]), grad_out[at]
        for r in range(sh):
            for q in range(sw):
                if not checked or (0 <= y0 + r < height and 0 <= x0 + q < width):
                    me = index(corner + index(r * line + q * channels))
                    total = zero
                    for d in range(rows_over - 1, -1, -1):  # the windows' row-major order
                        for e in range(columns_over - 1, -1, -1):
                            if d * sh + r < kh and e * sw + q < kw:  # it covers the cell
                                if there[d, e] and winners[d, e] == me:
                                    total += grads[d, e]
                    grad_x[index(base + me)] = total

    @cached_kernel
    def backward(grad_out, out_shape, argmax, pt, pl, grad_x, x_shape, zero, span, run):
        # Each input cell sums the gradients of the windows whose winner it was (a gather), in
        # row-major order of the windows. A thread takes channel c of a run of blocks of sh x
        # sw cells, block (n, bi, bj) the cells (bi * sh - pt + r, bj * sw - pl + q): the
        # windows (bi - d, bj - e) that can cover them (d < rows_over, e < columns_over; cell r
        # lies d * sh + r rows into window bi - d) have their arg-maxes and gradients read once
        # for the block's cells, all loads first.
        n_images, height, width, channels = x_shape
        _, oh, ow, _ = out_shape
        blocks_h, blocks_w = (height + pt + sh - 1) // sh, (width + pl + sw - 1) // sw
        c, _, first, end = line_chunk(span, run, n_images * blocks_h * blocks_w)
        if c >= channels:
            return
        winners = cuda.local.array((rows_over, columns_over), winner_type)
        grads = cuda.local.array((rows_over, columns_over), item)
        there = cuda.local.array((rows_over, columns_over), numba.boolean)
        out_line, line = ow * channels, width * channels
        step, move = index(channels), index(sw * channels)
        # [lo, hi): the blocks of a row whose windows are all there and cells inside the image
        lo = max(columns_over - 1, -(-pl // sw))
        hi = min(ow, (width - sw + pl) // sw + 1)
        n, bi, bj = _pixel(first, blocks_h, blocks_w)
        block = first
        while block < end:
            y0, x0 = bi * sh - pt, bj * sw - pl
            rows_inside = rows_over - 1 <= bi < oh and 0 <= y0 and y0 + sh <= height
            base = index(n * height * width * channels)
            window = index(((n * oh + bi) * ow + bj) * channels + c)  # (maybe past the last)
            corner = index((y0 * width + x0) * channels + c)  # cell (0, 0): maybe outside
            last = min(blocks_w, bj + end - block)
            block += last - bj
            while bj < last:
                if rows_inside and lo <= bj < hi:
                    route_block(grad_out, argmax, grad_x, window, out_line, bi, bj, oh, ow,
                                corner, base, line, y0, x0, height, width, channels, winners,
                                grads, there, zero, False)  # fmt: skip
                else:
                    route_block(grad_out, argmax, grad_x, window, out_line, bi, bj, oh, ow,
                                corner, base, line, y0, x0, height, width, channels, winners,
                                grads, there, zero, True)  # fmt: skip
                bj, x0 = bj + 1, x0 + sw
                window, corner = index(window + step), index(corner + move)
            bj = 0
            n, bi = _next_row(n, bi, blocks_h)

    return forward, backward


@cache
def _avg_pool_kernels(kh: int, kw: int, sh: int, sw: int, dtype: str) -> tuple[Any, Any]:
    """The average pool's (forward, backward) kernels for a kh x kw window at strides sh, sw,
    known when they are compiled (as :func:`_max_pool_kernels`), and ``dtype``: cell counts
    are cast to it."""
    item = numba.from_dtype(np.dtype(dtype))
    rows_over, columns_over = -(-kh // sh), -(-kw // sw)  # the most windows over a cell

    @cached_kernel
    def forward(x, x_shape, pt, pl, out, out_shape, span, run):
        # The mean of the window's cells inside the image, summed in row-major order.
        _, height, width, channels = x_shape
        n_images, oh, ow, _ = out_shape
        c, first, lanes, end = line_run(span, run, n_images * oh * ow)
        if c >= channels:
            return
        inside = cuda.local.array(kw, numba.boolean)
        rows_in = cuda.local.array(kh, numba.boolean)
        values = cuda.local.array((kh, kw), item)
        n, i, j = _pixel(first, oh, ow)
        for pixel in range(first, end, lanes):
            y0, x0 = i * sh - pt, j * sw - pl
            for b in range(kw):
                inside[b] = 0 <= x0 + b < width
            row = ((n * height + y0) * width + x0) * channels + c  # maybe outside
            for a in range(kh):  # every cell read first, its loads in flight together
                rows_in[a] = 0 <= y0 + a < height
                cell = row
                for b in range(kw):
                    if rows_in[a] and inside[b]:
                        values[a, b] = x[unsigned(cell)]
                    cell += channels
                row += width * channels
            total, cells = item(0), 0
            for a in range(kh):
                for b in range(kw):
                    if rows_in[a] and inside[b]:
                        total += values[a, b]
                        cells += 1
            out[unsigned(pixel * channels + c)] = total / item(cells)
            n, i, j = _stepped(n, i, j, lanes, oh, ow)

    @cached_kernel
    def backward(grad_out, out_shape, pt, pl, grad_x, x_shape, span, run):
        # Each input cell gathers the share of every window that averaged it.
        n_images, height, width, channels = x_shape
        _, oh, ow, _ = out_shape
        c, first, lanes, end = line_run(span, run, n_images * height * width)
        if c >= channels:
            return
        grads = cuda.local.array((rows_over, columns_over), item)
        n, y, xx = _pixel(first, height, width)
        for pixel in range(first, end, lanes):
            i_lo, i_hi = _windows_over(y, pt, kh, sh, oh)
            j_lo, j_hi = _windows_over(xx, pl, kw, sw, ow)
            row = ((n * oh + i_lo) * ow + j_lo) * channels + c
            for di in range(rows_over):  # the windows' gradients read first, then shared out
                at = row
                for dj in range(columns_over):
                    if i_lo + di < i_hi and j_lo + dj < j_hi:
                        grads[di, dj] = grad_out[unsigned(at)]
                    at += channels
                row += ow * channels
            total = item(0)
            for di in range(rows_over):
                i = i_lo + di
                if i < i_hi:
                    rows = min(i * sh - pt + kh, height) - max(i * sh - pt, 0)
                    for dj in range(columns_over):
                        j = j_lo + dj
                        if j < j_hi:
                            cells = rows * (min(j * sw - pl + kw, width) - max(j * sw - pl, 0))
                            total += grads[di, dj] / item(cells)
            grad_x[unsigned(pixel * channels + c)] = total
            n, y, xx = _stepped(n, y, xx, lanes, height, width)

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
    if out.size:
        wide = runtime.wide_offsets(x, out)
        forward = _max_pool_kernels(*win.kernel, *win.stride, x.dtype.str, wide)[0]
        pairs = shape[0] * shape[1] * -(-shape[2] // 2)  # the kernel's lines: see forward
        launch_lines(forward, shape[3], pairs)(
            x.flat, x.shape, bias.flat, relu, x.dtype.type(0), win.pad_top, win.pad_left,
            out.flat, shape, argmax.flat,
        )  # fmt: skip
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
    if grad_x.size:
        wide = runtime.wide_offsets(grad_x, grad_out)
        backward = _max_pool_kernels(*win.kernel, *win.stride, grad_out.dtype.str, wide)[1]
        (sh, sw), (n, height, width, _) = win.stride, x_shape
        blocks = n * -(-(height + win.pad_top) // sh) * -(-(width + win.pad_left) // sw)
        launch_lines(backward, channels, blocks)(
            grad_out.flat, grad_out.shape, argmax.flat, win.pad_top, win.pad_left, grad_x.flat,
            tuple(x_shape), grad_out.dtype.type(0),
        )  # fmt: skip
    return grad_x


def avg_pool_forward(x: CudaArray, win: Window) -> CudaArray:
    """Window means over the cells inside the image (N, OH, OW, C)."""
    bounds.pooling_window("avg_pool_forward", win, bounds.images("avg_pool_forward", "x", x))
    out = empty((x.shape[0], *win.out, x.shape[3]), x.dtype)
    if out.size:
        forward = _avg_pool_kernels(*win.kernel, *win.stride, x.dtype.str)[0]
        launch_lines(forward, out.shape[3], math.prod(out.shape[:3]))(
            x.flat, x.shape, win.pad_top, win.pad_left, out.flat, out.shape
        )
    return out


def avg_pool_backward(grad_out: CudaArray, x_shape: tuple[int, ...], win: Window) -> CudaArray:
    """Spread each output gradient evenly over the cells its window averaged."""
    bounds.pooling_window("avg_pool_backward", win, x_shape)
    bounds.window_output("avg_pool_backward", "grad_out", grad_out, x_shape, win, x_shape[3])
    grad_x = empty(x_shape, grad_out.dtype)
    if grad_x.size:
        backward = _avg_pool_kernels(*win.kernel, *win.stride, grad_out.dtype.str)[1]
        launch_lines(backward, x_shape[3], math.prod(x_shape[:3]))(
            grad_out.flat, grad_out.shape, win.pad_top, win.pad_left, grad_x.flat, tuple(x_shape)
        )
    return grad_x
