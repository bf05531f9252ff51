"""The direct convolution fused with bias, ReLU and 2x2 max pooling on the GPU (a model's first
layer: few input channels, a 2x2 pool after it), and its kernel and bias gradients. The names of
:mod:`autoconv.backends.cpu.conv_pool`.

The forward is one kernel: a thread per group of up to 4 filters down a run of pooled pixels,
each window's four outputs summed tap by tap and only the maximum kept, a block's outputs staged
in shared memory and written out side by side. The kernel gradient takes one of two
routes, by size (see PARTS_ROUTE_ENTRIES); both route each pooled gradient (masked where the
ReLU cut) to its window's winner, which is compared, never used as an address:

- column sums, one launch: a column per (tap, filter) and one per filter for the bias, each
  entry the window's winner's input times its gradient, found again for every tap, with 32-bit
  offsets. Right for the MNIST convnet's first layer (10,816 pooled pixels x 320 columns: 55.6
  us of a 0.33 ms step on an H200 with 64-bit offsets, 350 instructions an entry; 128 now, not
  yet timed).
- parts, two launches: a thread takes one filter down a run of pooled pixels, each pixel's
  winner found once and its window's kh x kw x channels input cells times the gradient added
  to the thread's taps + 1 running sums in registers; then the runs' sums are added down their
  columns. It replaced the unfused backward (the routed gradient written out, im2col of the
  images, a product split over blocks: four launches, the flowers classifier's first layer's
  im2col 112 MB written and read again, its product at one block an SM) and, before it, column
  sums over 253,472 pooled pixels x 448 columns that took 1.8 ms of the flowers classifier's 7.2
  ms step on the H200 (bench/results/2026-11-26-gpu-h200-first-figures.md).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda import depthwise_kernels, runtime
from autoconv.backends.cuda.array import CudaArray, empty, zeros
from autoconv.backends.cuda.conv import _pixel, _stepped, activated, im2col
from autoconv.backends.cuda.gemm import matmul
from autoconv.backends.cuda.pool import max_pool_forward
from autoconv.backends.cuda.reduce import column_sums, sum_columns
from autoconv.backends.cuda.runtime import (
    SHARED_ALIGN,
    cached_kernel,
    configure,
    line_run,
    unsigned,
)
from autoconv.backends.cuda.runtime import unsigned32 as U
from autoconv.windows import Window, pool_window

# The kernel gradient's route: column sums up to this many entries (pooled pixels x (taps + 1)
# x filters), parts above it. It keeps the MNIST step's one launch (3.5 M entries: 67.6 us on
# an H200 with 64-bit offsets); the crossing itself is not measured.
PARTS_ROUTE_ENTRIES = 16 * 2**20
# A thread of the parts route sums up to this many times runtime.RUN_LINES pooled pixels: fewer
# runs to add up after for fewer threads (as the depthwise kernel gradient's).
PARTS_LINES = depthwise_kernels.PARTS_LINES
# The forward's filters a thread: the largest of these that divides the filter count. A thread
# reads a pooled pixel's input cells once for all of them, and a warp's loads of a cell serve
# its pixels' groups side by side. With one filter a thread, the flowers classifier's first
# layer took 552 us of its 2.37 ms prediction step at batch 256 on an H200
# (bench/results/2026-11-27-gpu-h200-lease), its sm_90 code 48 loads and ~180 other
# instructions a pooled pixel and filter besides its 108 multiply-adds; with 4, 12 loads and
# ~85 (bench/results/2026-11-27-direct-conv-filter-groups.md; not yet timed on a GPU). NVVM
# unrolled a thread's sums of 4 filters, not of 8. The kernel's registers are capped for 3
# blocks a multiprocessor (80, not 81-86: 1 to 5 spilled values read a pooled pixel, by ptxas;
# float64's for 2: 128, none spilled, where 80 spilled 452 bytes).
FILTER_GROUPS = (4, 2, 1)
# The most weights a block of the forward keeps in shared memory (24 KB of float64s): a block
# takes as many groups of filters as fit, up to all of them. A window of more taps than this
# (a 33 x 33 kernel over 3 channels) is convolved, then pooled (see conv_max_pool_2x2).
SHARED_WEIGHTS = 3072


def _forward_plan(taps: int, filters: int, threads: int) -> tuple[int, int]:
    """(group, span) of the forward for ``taps`` taps a filter (at most SHARED_WEIGHTS): a
    thread's filters, the largest of FILTER_GROUPS that divides the filter count and whose
    weights fit, and a block's groups of them."""
    group = next(g for g in FILTER_GROUPS if filters % g == 0 and taps * g <= SHARED_WEIGHTS)
    return group, max(1, min(filters // group, threads, SHARED_WEIGHTS // (taps * group)))


@cache
def _conv_max_pool_2x2(
    kh: int, kw: int, channels: int, filters: int, group: int, span: int, dtype: str, threads: int
) -> Any:
    """The forward kernel for a kh x kw window over ``channels`` channels into ``filters``
    filters, in blocks of ``threads``, known when it is compiled. A thread computes ``group``
    filters (see _forward_plan) of one pooled pixel at a time; a block's threads, ``span`` groups
    side by side (a warp's loads of a pixel's cells shared by its groups), take ``lanes``
    pixels at a time. The block's weights (a tap's side by side: read in vector loads) and
    biases are kept in shared memory. Channel by channel, the (kh + 1) x (kw + 1) input cells
    under a pool window's four convolution outputs are read once, for the four outputs of each
    of the thread's filters. A window inside the image sums with no test a term
    (_window_totals' ``checked``); one over the padding skips the cells there. The block's
    pooled outputs are staged in shared memory and written out together, side by side."""
    item = numba.from_dtype(np.dtype(dtype))
    rows, columns = kh + 1, kw + 1  # the input cells under a pool window's four outputs
    lanes, block_filters = threads // span, span * group
    under, outputs = rows * columns, 4 * group
    weight_count = kh * kw * channels * block_filters
    stride = block_filters + 1  # a staged pixel's outputs (padded: fewer bank conflicts)
    ragged = filters % block_filters != 0  # the last block's filters fewer
    staged_size = lanes * stride
    inside_totals = _window_totals(kh, kw, channels, group, block_filters, checked=False)
    edge_totals = _window_totals(kh, kw, channels, group, block_filters, checked=True)

    @runtime.cached_kernel_holding(3 if item.bitwidth == 32 else 2)  # (see FILTER_GROUPS)
    def kernel(x, x_shape, taps, bias, relu, zero, pt, pl, out, out_shape, argmax, run):
        # Block (b, r): filters c_block = b * block_filters .. of the pooled outputs (n, i, j)
        # of run r (grid axis y); thread t = lane * span + q their group q, pixels lane, lane +
        # lanes, ... of the run. A filter's four convolution outputs are summed channel by
        # channel and tap by tap within a channel, as the CPU's 3x3 kernels (cells in the
        # padding skipped), then the first maximum in row-major order is kept (a NaN wins), +
        # bias, ReLU. x (N, H, W, C), taps (KH*KW*C, F), out and argmax (N, OH, OW, F) flat.
        _, height, width, _ = x_shape
        n_images, oh, ow, _ = out_shape
        weights = cuda.shared.array(weight_count, item, alignment=SHARED_ALIGN)
        biases = cuda.shared.array(block_filters, item)
        staged = cuda.shared.array(staged_size, item)
        staged_at = cuda.shared.array(staged_size, numba.int32)
        t, c_block = cuda.threadIdx.x, cuda.blockIdx.x * block_filters
        for e in range(t, weight_count, threads):  # ((c_in * kh + a) * kw + b) * block + c
            tap, c = e // block_filters, e % block_filters
            c_in, a, b = tap // (kh * kw), tap // kw % kh, tap % kw
            if c_block + c < filters:
                weights[e] = taps[
                    unsigned(((a * kw + b) * channels + c_in) * filters + c_block + c)
                ]
        for c in range(t, block_filters, threads):
            if c_block + c < filters:
                biases[c] = bias[c_block + c]
        cuda.syncthreads()
        totals = cuda.local.array(outputs, item)  # (filter of the group, output of the window)
        cells = cuda.local.array(under, item)
        inside = cuda.local.array(under, numba.boolean)
        lane, q = t // span, t % span
        mine = lane < lanes and c_block + q * group < filters
        row_step = width * channels
        begin = cuda.blockIdx.y * run
        end = min(n_images * oh * ow, begin + run)
        n, i, j = _pixel(begin + lane, oh, ow)
        for first in range(begin, end, lanes):
            if mine and first + lane < end:
                y0, x0 = 2 * i - pt, 2 * j - pl  # the window's first cell, maybe in the padding
                corner = ((n * height + y0) * width + x0) * channels
                for e in range(outputs):
                    totals[e] = zero
                at = U(q * group)  # the thread's weights' offset in a tap's (unsigned: no
                # negative-index fix-up of each weight's read)
                if 0 <= y0 and y0 + rows <= height and 0 <= x0 and x0 + columns <= width:
                    inside_totals(x, corner, row_step, weights, at, cells, inside, totals)
                else:
                    for r in range(rows):
                        for s in range(columns):
                            inside[r * columns + s] = 0 <= y0 + r < height and 0 <= x0 + s < width
                    edge_totals(x, corner, row_step, weights, at, cells, inside, totals)
                # Each filter's first maximum in row-major order (a NaN wins), as an offset
                # from its window's first output in the convolution's (row 2i, column 2j):
                # 0, right, below or below + right (32 bits: the arg-max is int32).
                window = U((2 * i * 2 * ow + 2 * j) * filters + c_block + at)
                right, below = U(filters), U(2 * ow * filters)
                for g in range(group):
                    best, where = totals[g * 4], U(0)
                    for cell in range(1, 4):
                        total = totals[g * 4 + cell]
                        # (& and |, not and and or: selects, not branches)
                        wins = (total > best) | ((total != total) & (best == best))
                        offset = (below if cell >= 2 else U(0)) + (right if cell % 2 else U(0))
                        best, where = (total, offset) if wins else (best, where)
                    place = U(lane * stride) + at + U(g)
                    staged[place] = activated(best + biases[at + U(g)], relu, zero)
                    staged_at[place] = window + where + U(g)
            cuda.syncthreads()
            # The round's pixels written out, each one's filters side by side: entry e = p *
            # block_filters + c of the round (at most ``group`` a thread) is pixel first + p's
            # filter c_block + c, staged at e + p (the stride one more).
            count, base = U(min(lanes, end - first) * block_filters), first * filters + c_block
            for k in range(group):
                e = U(t + k * threads)
                p = e // U(block_filters)
                if e < count and (not ragged or c_block + (e - p * U(block_filters)) < filters):
                    to = unsigned(base + e + p * U(filters - block_filters))
                    out[to], argmax[to] = staged[e + p], staged_at[e + p]
            cuda.syncthreads()
            n, i, j = _stepped(n, i, j, lanes, oh, ow)

    return kernel


@cache
def _window_totals(
    kh: int, kw: int, channels: int, group: int, block: int, checked: bool, c_in: int = 0
) -> Any:
    """totals[4 g + 0..3] += the terms of channels c_in, c_in + 1, ... of a pool window's four
    convolution outputs of filter g of the thread's ``group``, the window's first cell (channel
    0) at x's flat offset ``corner`` (rows ``row_step`` apart), channel by channel and tap by
    tap (tap (a, b, c_in)'s weight of filter g at ((c_in * kh + a) * kw + b) * block + at + g
    in ``weights``); with ``checked``, the cells whose ``inside`` is False (in the padding)
    skipped, else every cell read: compiled for each, so the inside windows' terms have no
    test. A device function a channel, each calling the next one's, so that every offset into
    the cells and the weights is a constant: NVVM did not unroll a loop over the channels, and
    worked the weights' addresses out on each trip (~200 instructions a channel on sm_90). For
    the few channels of a first layer (the op's route: at most 4)."""
    columns = kw + 1
    last = c_in + 1 == channels
    rest = (
        _no_more_terms
        if last
        else _window_totals(kh, kw, channels, group, block, checked, c_in + 1)
    )

    @cuda.jit(device=True)
    def totals_of(x, corner, row_step, weights, at, cells, inside, totals):
        for r in range(kh + 1):
            for s in range(columns):
                if not checked or inside[r * columns + s]:
                    cells[r * columns + s] = x[
                        unsigned(corner + r * row_step + s * channels + c_in)
                    ]
        for a in range(kh):
            for b in range(kw):
                for g in range(group):
                    weight = weights[at + U(((c_in * kh + a) * kw + b) * block + g)]
                    for cell in range(4):
                        under = (a + cell // 2) * columns + b + cell % 2
                        if not checked or inside[under]:
                            totals[g * 4 + cell] += cells[under] * weight
        rest(x, corner, row_step, weights, at, cells, inside, totals)

    return totals_of


@cuda.jit(device=True)
def _no_more_terms(x, corner, row_step, weights, at, cells, inside, totals):
    """The end of _window_totals' chain of channels."""


def conv_max_pool_2x2(
    x: CudaArray, w: CudaArray, bias: CudaArray | None, relu: bool, win: Window
) -> tuple[CudaArray, CudaArray]:
    """The direct convolution (stride 1, no dilation, even output size) + bias, ReLU if
    ``relu``, and 2x2 max pooling: (pooled (N, OH/2, OW/2, Cout), int32 arg-max, each winner's
    flat offset (y*OW + x)*Cout + c in the convolution's output). A window of more than
    SHARED_WEIGHTS taps a filter is convolved by im2col and a product, then pooled."""
    n, oh, ow, filters = bounds.direct_conv_pool("conv_max_pool_2x2", x.shape, w.shape, win)
    bounds.columns("conv_max_pool_2x2", "bias", bias, filters)
    out = empty((n, oh // 2, ow // 2, filters), x.dtype)
    argmax = empty(out.shape, np.int32)
    if bias is None:
        bias = zeros((filters,), x.dtype)
    taps = w.reshape(-1, filters)
    if out.size and taps.shape[0] > SHARED_WEIGHTS:  # the window's weights do not fit a block
        product = matmul(im2col(x, win), taps).reshape(n, oh, ow, filters)
        pool = pool_window("conv_max_pool_2x2", product.shape, 2, None, "valid")
        max_pool_forward(product, pool, bias, relu, (out, argmax))
    elif out.size:
        threads, pixels = runtime.THREADS, math.prod(out.shape[:3])
        group, span = _forward_plan(taps.shape[0], filters, threads)
        kernel = _conv_max_pool_2x2(
            *win.kernel, x.shape[3], filters, group, span, x.dtype.str, threads
        )
        _, _, along, run, _ = runtime.line_layout(span, pixels)
        configure(kernel, (-(-filters // (span * group)), along), threads)(
            x.flat, x.shape, taps.flat, bias.flat, relu, x.dtype.type(0), win.pad_top,
            win.pad_left, out.flat, out.shape, argmax.flat, run,
        )  # fmt: skip
    return out, argmax


@cuda.jit(device=True)
def _direct_kernel_grad_column(args, e):
    # Column e = kernel entry (tap t = (a, b, c_in), filter c), or bias entry (t == taps),
    # filters adjacent (a warp reads adjacent gradients): its parts, found once a thread. The
    # tap's offsets from a window's cell, a - pt and b - pl, kept mod 2**32 (see the entry).
    x, x_shape, grad, out, argmax, relu, kh, kw, pt, pl, filters, zero = args
    _, height, width, channels = x_shape
    t, c = e // filters, e % filters
    a, b, c_in = t // (kw * channels), (t // channels) % kw, t % channels
    rows_at = (U(height), U(width), U(channels), U(filters))
    return (x, grad, out, argmax, relu, t == kh * kw * channels, U(a - pt), U(b - pl), U(c_in),
            U(c), rows_at, zero)  # fmt: skip


@cache
def _direct_kernel_grad_entry(pooled_h: int, pooled_w: int) -> Any:
    """The column sums' entry for pooled outputs of pooled_h x pooled_w, known when compiled:
    every offset 32-bit (the route's gate keeps them under 2**32), a row's (n, i, j) by
    multiply-highs; a window cell's row y0 + a - pt wraps past 2**32 when it falls in the
    padding above, so one unsigned compare with the height tells both edges (on the simulator,
    whose plain ints do not wrap, the signed compare below does)."""
    pixels = pooled_h * pooled_w

    @cuda.jit(device=True)
    def entry(shared, r, e):
        # Row r = pooled output (n, i, j), its gradient (masked where the ReLU cut) routed to
        # its window's winner; x, grad, out and argmax flat. Without a branch: the gradient,
        # output and arg-max are read together, then the winner's input cell (the image's
        # first cell where none won, its value unused), so the rows the column sums take
        # four at a time (``gathers``) have their loads in flight together (each waiting on
        # the last, a row took three rounds of loads).
        x, grad, out, argmax, relu, is_bias, a_off, b_off, c_in, c, rows_at, zero = shared
        height, width, channels, filters = rows_at
        row = U(r)
        at = U(row * filters + c)  # (n, i, j, c) in grad, out and argmax
        value, kept, winner = grad[at], not relu or out[at] > 0, argmax[at]
        n, pixel = row // U(pixels), row % U(pixels)
        i, j = pixel // U(pooled_w), pixel % U(pooled_w)
        won, source = False, U(0)
        for cell in range(4):  # the arg-max is compared, never used as an address
            y0, x0 = U(2 * i + cell // 2), U(2 * j + cell % 2)
            y, xx = U(y0 + a_off), U(x0 + b_off)
            if winner == U(U(y0 * U(2 * pooled_w) + x0) * filters + c) and (
                0 <= y < height and 0 <= xx < width
            ):
                won, source = True, U(U(U(n * height + y) * width + xx) * channels + c_in)
        routed = x[source] * value if won else zero
        return (value if is_bias else routed) if kept else zero

    return entry


@cache
def _direct_kernel_grad_parts(kh: int, kw: int, channels: int, dtype: str, threads: int) -> Any:
    """The parts route's kernel (see the module) for a kh x kw window over ``channels``
    channels and blocks of ``threads``, known when compiled: the thread's taps + 1 sums in
    registers, the winner's cells' offsets constants from its window's corner. A pixel's
    gradient, output and arg-max are read while the last pixel's cells are (its winner found
    before them), and a window inside the image reads its cells with no test a cell
    (_add_window's ``checked``)."""
    item = numba.from_dtype(np.dtype(dtype))
    taps = kh * kw * channels
    columns = taps + 1  # a filter's sums: its taps' and its bias's
    add_inside = _add_window(kh, kw, channels, checked=False)
    add_at_edge = _add_window(kh, kw, channels, checked=True)

    @cached_kernel
    def kernel(x, x_shape, grad, out, argmax, relu, zero, pt, pl, pooled_shape, parts, span, run):
        # Filter c down the thread's run of pooled pixels (n, i, j): sums[t] for tap t = (a,
        # b, c_in) in w's order, sums[taps] the bias's, pixel by pixel in order; then the
        # block's lanes' sums of each (t, c), lane by lane, into parts (blocks along,
        # (taps + 1) * filters) at row blockIdx.y.
        _, height, width, _ = x_shape
        n_images, oh, ow, filters = pooled_shape
        c, first, lanes, end = line_run(span, run, n_images * oh * ow)
        if c >= filters or cuda.threadIdx.x // span >= lanes:
            first = end  # no pixels: its sums stay 0, but it takes part in the block's sums
        sums = cuda.local.array(columns, item)
        for t in range(columns):
            sums[t] = zero
        row_step, below = width * channels, 2 * ow * filters
        n, i, j = _pixel(first, oh, ow)
        value, winner = _routed(grad, out, argmax, relu, first, end, filters, c, zero)
        for pooled in range(first, end, lanes):
            following = _routed(grad, out, argmax, relu, pooled + lanes, end, filters, c, zero)
            sums[taps] += value
            # The winner's offset from the pool window's first output (row 2i, column 2j of
            # the convolution's output): 0, filters (right), below or below + filters if it won.
            offset = winner - ((2 * i * 2 * ow + 2 * j) * filters + c)
            lower = offset >= below
            if lower:
                offset -= below
            if offset == 0 or offset == filters:
                y0 = 2 * i + (1 if lower else 0) - pt  # the window's first cell, maybe padding
                x0 = 2 * j + (1 if offset == filters else 0) - pl
                corner = ((n * height + y0) * width + x0) * channels
                if 0 <= y0 and y0 + kh <= height and 0 <= x0 and x0 + kw <= width:
                    add_inside(x, corner, row_step, y0, x0, height, width, value, sums)
                else:
                    add_at_edge(x, corner, row_step, y0, x0, height, width, value, sums)
            value, winner = following
            n, i, j = _stepped(n, i, j, lanes, oh, ow)
        lane_sums = cuda.shared.array((columns, threads), item)
        for t in range(columns):
            lane_sums[t, cuda.threadIdx.x] = sums[t]
        cuda.syncthreads()
        for entry in range(cuda.threadIdx.x, columns * span, threads):
            t, e = entry // span, entry % span
            if cuda.blockIdx.x * span + e < filters:
                total = lane_sums[t, e]
                for lane in range(1, lanes):
                    total += lane_sums[t, lane * span + e]
                at = (cuda.blockIdx.y * columns + t) * filters + cuda.blockIdx.x * span + e
                parts[unsigned(at)] = total

    return kernel


@cuda.jit(device=True)
def _routed(grad, out, argmax, relu, pooled, end, filters, c, zero):
    """(gradient, arg-max) of filter c at pooled pixel ``pooled`` (the gradient 0 where the
    ReLU cut it), or (0, -1) past ``end``."""
    if pooled >= end:
        return zero, -1
    at = unsigned(pooled * filters + c)
    value, kept, winner = grad[at], not relu or out[at] > 0, argmax[at]
    return (value if kept else zero), winner


@cache
def _add_window(kh: int, kw: int, channels: int, checked: bool) -> Any:
    """sums[(a * kw + b) * channels + c_in] += the input cell (a, b, c_in) of the window whose
    first cell is at x's flat offset ``corner`` (row y0, column x0) times ``value``; with
    ``checked``, the cells outside the image skipped, else every cell read. Every load is made
    before the sums use them."""

    @cuda.jit(device=True)
    def add(x, corner, row_step, y0, x0, height, width, value, sums):
        for a in range(kh):
            for b in range(kw):
                if not checked or (0 <= y0 + a < height and 0 <= x0 + b < width):
                    for c_in in range(channels):
                        at = corner + a * row_step + b * channels + c_in
                        sums[(a * kw + b) * channels + c_in] += x[unsigned(at)] * value

    return add


def conv_max_pool_2x2_kernel_grad(
    x: CudaArray,
    grad_out: CudaArray,
    out: CudaArray,
    argmax: CudaArray,
    relu: bool,
    w_shape: tuple[int, ...],
    win: Window,
) -> tuple[CudaArray, CudaArray]:
    """(kernel gradient (KH, KW, Cin, Cout), bias gradient (Cout,)) of
    :func:`conv_max_pool_2x2`, by column sums or, over PARTS_ROUTE_ENTRIES entries, by parts
    (see the module)."""
    op = "conv_max_pool_2x2_kernel_grad"
    n, oh, ow, filters = bounds.direct_conv_pool(op, x.shape, w_shape, win)
    pooled_shape = (n, oh // 2, ow // 2, filters)
    for name, array in (("grad_out", grad_out), ("out", out), ("argmax", argmax)):
        bounds.shape_is(op, name, array, pooled_shape)
    taps = math.prod(w_shape[:3])
    rows = n * (oh // 2) * (ow // 2)
    if rows * (taps + 1) * filters <= PARTS_ROUTE_ENTRIES and x.size < 2**32:
        args = (x.flat, x.shape, grad_out.flat, out.flat, argmax.flat, relu, *win.kernel,
                win.pad_top, win.pad_left, filters, grad_out.dtype.type(0))  # fmt: skip
        grad_taps, grad_bias = sum_columns(
            _direct_kernel_grad_entry(oh // 2, ow // 2), args, rows, (taps + 1) * filters,
            grad_out.dtype, split=taps * filters, column=_direct_kernel_grad_column, gathers=True,
        )  # fmt: skip
        return grad_taps.reshape(w_shape), grad_bias
    if rows == 0:
        return zeros(w_shape, grad_out.dtype), zeros((filters,), grad_out.dtype)
    lines_a_thread = PARTS_LINES * runtime.RUN_LINES
    span, across, along, run, _ = runtime.line_layout(filters, rows, lines_a_thread)
    parts = empty((along, (taps + 1) * filters), grad_out.dtype)
    threads = runtime.THREADS
    kernel = _direct_kernel_grad_parts(*win.kernel, x.shape[3], grad_out.dtype.str, threads)
    configure(kernel, (across, along), threads)(
        x.flat, x.shape, grad_out.flat, out.flat, argmax.flat, relu, grad_out.dtype.type(0),
        win.pad_top, win.pad_left, pooled_shape, parts.flat, span, run,
    )  # fmt: skip
    grad_taps, grad_bias = column_sums(parts, split=taps * filters)
    return grad_taps.reshape(w_shape), grad_bias
