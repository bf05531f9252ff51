"""The depthwise convolution's GPU kernels, compiled for one window (its size, strides and
dilation) and depth multiplier: the forward, the input gradient, the kernel gradient's parts
and both gradients' parts in one pass. :mod:`autoconv.backends.cuda.depthwise` launches them."""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

import numba
import numpy as np
from numba import cuda

from autoconv.backends.cuda.conv import _next_row, _pixel, _strip_writer, _window_index, activated
from autoconv.backends.cuda.runtime import (
    cached_kernel_holding,
    line_chunk,
    unsigned,
    unsigned32,
)

# The kernels take pixels in strips of this many along an image row: a strip's offsets are
# found once, and a window row's cells under it read once for its outputs (3 x 6 loads for 4
# outputs at 3x3, where each output read its 9). Strips of 8 (or 6) took fewer instructions a
# pixel inside the image but 80-96 registers uncapped, or spills (a strip's sums in local
# memory) at the 64 that four blocks an SM allow.
STRIP = 4
# A thread of the depthwise kernel gradient sums up to this many times runtime.RUN_LINES
# strips of output pixels a tap: fewer runs to add up after (the parts: a row a run) for fewer
# threads, as many as the GPU holds at once (runtime.line_layout, with the blocks a
# multiprocessor holds of each kernel: PARTS_BLOCKS, GRADS_BLOCKS).
PARTS_LINES = 8
# Blocks of runtime.THREADS a multiprocessor holds of the kernel gradient's parts (registers
# capped at 64: two spilled outside the strip loop) and of both gradients' one pass (80: at 64,
# 16 loads and stores of local memory a strip).
PARTS_BLOCKS, GRADS_BLOCKS = 4, 3


class DepthwiseKernels(NamedTuple):
    """A window's depthwise kernels (see :func:`depthwise_kernels`)."""

    forward: Any
    input_grad: Any
    kernel_grad_parts: Any
    grads_parts: Any


@cache
def depthwise_kernels(kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, multiplier: int,
                       dtype: str, relu: bool = False, wide: bool = False, columns: bool = False
                       ) -> DepthwiseKernels:  # fmt: skip
    """The depthwise convolution's (forward, input gradient, kernel gradient's parts, both
    gradients' parts in one pass) kernels for one window (kh x kw, strides sh, sw, dilations
    dh, dw) and depth multiplier M, known when they are compiled: a thread's weights or running
    sums sit in registers, its taps' offsets are constants and the strides' divisions
    multiplications. (With these as arguments,
    the forward's pixel loop was about 500 instructions for 9 multiply-adds on sm_90, and the
    H200 took 14 ms for the small Xception's first one at batch 256, 30x its memory traffic:
    bench/results/2026-11-26-gpu-h200-first-figures.md.) Each sum runs tap by tap, rows outer,
    cells outside the image skipped, as before: the same bits.

    x (N, H, W, C), out and grad_out (N, OH, OW, C*M) and w (KH, KW, C, M) are flat; output
    channel q = c*M + m is input channel c's kernel m. A thread takes one channel down a run of
    strips of STRIP output pixels (input pixels for the input gradient) one after another
    (runtime.line_chunk): along an image row a strip's offsets are the last one's plus a
    constant, found anew only where a row starts. A strip whose cells all lie inside the image
    (most of them) runs its strip function compiled without a test a cell (``checked`` False,
    constant where it is called): on sm_90 the forward's loop was 369 instructions a strip
    with the tests, 195 without. Offsets are 32-bit unsigned unless an array has 2**31
    entries or more (``wide``; runtime.wide_offsets): one instruction an add, not two.
    ``relu`` (compiled in): of max(x, 0), a ReLU before the convolution applied to the cells
    as they are read, and the input gradient through it (times x > 0, read at the strip's
    pixels; the input gradient's ``x`` is read only then). ``columns`` (sh = dh = 1 only): the
    forward and the one pass walk their strips down the image's columns (see the column walks'
    note below; depthwise.COLUMN_WALK chooses), the same sums in the same order."""
    if columns and (sh, dh) != (1, 1):
        raise ValueError(
            f"depthwise column walks need a vertical stride and dilation of 1, got {sh}, {dh}"
        )
    index = unsigned if wide else unsigned32
    write_strip = _strip_writer(STRIP, wide)
    item = numba.from_dtype(np.dtype(dtype))
    taps = kh * kw
    weights_a_channel = taps * multiplier
    strip_cells = (STRIP - 1) * sw + (kw - 1) * dw + 1  # the input columns under a strip
    grad_cells = (STRIP - 1 + (kw - 1) * dw) // sw + 1  # the output columns over one, at most
    grad_cell_values = grad_cells * multiplier
    unit_strides = sh == 1 and sw == 1  # (the input gradient's whole strips: every tap lands)

    @cuda.jit(device=True)
    def inside_strips(pl, width, ow):
        """[lo, hi): the strips of output pixels whose STRIP outputs all exist and whose
        windows' columns all lie inside the image."""
        lo = -(-pl // (STRIP * sw))
        return lo, min((width - strip_cells + pl) // (STRIP * sw) + 1, ow // STRIP)

    @cuda.jit(device=True)
    def read_cells(x, row, row_step, step, cells, inside, rows_in):
        """cells[a, e] = x[row + a * row_step + e * step] where rows_in[a] and inside[e]."""
        for a in range(kh):
            if rows_in[a]:
                cell = row
                for e in range(strip_cells):
                    if inside[e]:
                        cells[a, e] = x[cell]
                    cell = index(cell + step)
            row = index(row + row_step)

    @cuda.jit(device=True)
    def read_strip(x, row, row_step, step, y0, x0, height, width, cells, inside, rows_in, zero,
                   checked):  # fmt: skip
        """cells[a, e] = x[row + a * row_step + e * step] (of the ReLU): the input cells under
        a strip, window rows from y0, columns from x0; unless ``checked`` (compiled apart: all
        inside the image), only those inside it (rows_in[a], inside[e]) are read. Every load
        is made before any value is used, so they are in flight together (read row by row,
        each row's multiply-adds waiting on its loads, the small Xception's depthwise
        convolutions waited on three rounds of loads a strip)."""
        for e in range(strip_cells):
            inside[e] = not checked or 0 <= x0 + e < width
        for a in range(kh):
            rows_in[a] = not checked or 0 <= y0 + a * dh < height
        read_cells(x, row, row_step, step, cells, inside, rows_in)
        if relu:
            for a in range(kh):
                if rows_in[a]:
                    for e in range(strip_cells):
                        if inside[e]:
                            cells[a, e] = activated(cells[a, e], True, zero)

    @cuda.jit(device=True)
    def output_row(n, i, s, x_shape, oh, ow, depth, q, pt, pl):
        """Where a walk along output row (n, i) of channel q starts, at its strip s: (y0, x0
        of the strip's window, whether the window's rows lie inside the image, x's offset of
        its cell (0, 0), the output's of the strip's first pixel)."""
        _, height, width, channels = x_shape
        y0, x0 = i * sh - pt, s * STRIP * sw - pl
        rows_inside = 0 <= y0 and y0 + (kh - 1) * dh < height
        row = index(((n * height + y0) * width + x0) * channels + q // multiplier)
        return y0, x0, rows_inside, row, index(((n * oh + i) * ow + s * STRIP) * depth + q)

    @cuda.jit(device=True)
    def window_sums(cells, inside, rows_in, weights, totals, zero, checked):
        """totals[p]: output p of a strip from its window's input cells (``cells``, those
        inside the image where rows_in[a] and inside[e]; unless ``checked``: all), window row
        by window row."""
        for p in range(STRIP):
            totals[p] = zero
        for a in range(kh):
            if not checked or rows_in[a]:
                for p in range(STRIP):
                    for b in range(kw):
                        if not checked or inside[p * sw + b * dw]:
                            totals[p] += cells[a, p * sw + b * dw] * weights[a * kw + b]

    @cuda.jit(device=True)
    def forward_strip(x, row, row_step, step, y0, x0, height, width, weights, totals, cells,
                      inside, rows_in, zero, checked):  # fmt: skip
        """totals[p]: output p of the strip, window row by window row, the row's input cells
        under the strip read once into registers (``cells``)."""
        read_strip(x, row, row_step, step, y0, x0, height, width, cells, inside, rows_in, zero,
                   checked)  # fmt: skip
        window_sums(cells, inside, rows_in, weights, totals, zero, checked)

    # The column walks (``columns``, where sh = dh = 1): a thread takes strips down a column,
    # lines (n, s, i): column strip s of image n from output row i down, then the next
    # column's from row 0. One output row down, the window is one input row down: the rows
    # it holds move up (registers) and only the new row is read, where the row walk reads the
    # window's kh rows a strip (kh - 1 of them read a row before, by another thread). Rows
    # whose window lies inside the image (rows pt .. height - kh + pt, in a column inside
    # it) run in a loop of their own, nothing tested.

    @cuda.jit(device=True)
    def roll_cells(src, row, step, cells, inside, row_in, rectified, zero, checked):
        """The window's cells one row down: cells[a] = cells[a + 1], then src's row at ``row``
        (its cells ``step`` apart; of the ReLU if ``rectified``) the last, read where
        ``row_in`` and inside[e] (unless ``checked``: all)."""
        for a in range(kh - 1):
            for e in range(strip_cells):
                cells[a, e] = cells[a + 1, e]
        if not checked or row_in:
            for e in range(strip_cells):
                if not checked or inside[e]:
                    cells[kh - 1, e] = activated(src[row], rectified, zero)
                row = index(row + step)

    @cuda.jit(device=True)
    def column_start(x0, width, inside):
        """inside[e]: whether the window's column x0 + e lies inside the image."""
        for e in range(strip_cells):
            inside[e] = 0 <= x0 + e < width

    @cuda.jit(device=True)
    def window_rows(y, height, rows_in):
        """rows_in[a]: whether the window's row y + a lies inside the image."""
        for a in range(kh):
            rows_in[a] = 0 <= y + a < height

    def along_rows(visit):
        """A device function walking a thread's strips of STRIP output pixels along the image
        rows (lines (n, i, s): an image row's strips from its strip s, then the next row's from
        0): visit(state, row, at, y0, x0, count, checked) for each, ``row`` x's offset of its
        window's cell (0, 0), ``at`` the output's of its first pixel, ``count`` its pixels;
        ``checked`` False (compiled apart) where its window lies inside the image. ``state``:
        what ``visit`` reads and writes, passed through."""

        @cuda.jit(device=True)
        def walk(state, line, end, x_shape, oh, ow, depth, q, pt, pl):
            _, _, width, channels = x_shape
            strips = -(-ow // STRIP)
            row_move, out_move = index(STRIP * sw * channels), index(STRIP * depth)
            lo, hi = inside_strips(pl, width, ow)
            n, i, s = _pixel(line, oh, strips)
            while line < end:
                y0, x0, rows_inside, row, at = output_row(n, i, s, x_shape, oh, ow, depth, q,
                                                          pt, pl)  # fmt: skip
                last = min(strips, s + end - line)
                line += last - s
                while s < last:
                    if rows_inside and lo <= s < hi:
                        visit(state, row, at, y0, x0, STRIP, False)
                    else:
                        visit(state, row, at, y0, x0, ow - s * STRIP, True)
                    s, x0 = s + 1, x0 + STRIP * sw
                    row, at = index(row + row_move), index(at + out_move)
                s = 0
                n, i = _next_row(n, i, oh)

        return walk

    @cuda.jit(device=True)
    def forward_visit(state, row, at, y0, x0, count, checked):
        """A strip of the forward (see along_rows): its outputs computed and written."""
        (x, out, height, width, row_step, step, out_step, weights, totals, cells, inside,
         rows_in, zero) = state  # fmt: skip
        forward_strip(x, row, row_step, step, y0, x0, height, width, weights, totals, cells,
                      inside, rows_in, zero, checked)  # fmt: skip
        write_strip(out, at, out_step, totals, count)

    forward_along_rows = along_rows(forward_visit)

    @cached_kernel_holding(4)  # four blocks an SM, not three (see runtime)
    def forward(x, x_shape, w, pt, pl, out, out_shape, zero, span, run):
        # Output channel q of strips of STRIP output pixels (n, i, s * STRIP + p), walked in
        # order: an image row's strips from its strip s, then the next row's from 0; or, with
        # ``columns``, a column's strips from its row i, then the next column's from row 0.
        _, height, width, channels = x_shape
        n_images, oh, ow, depth = out_shape
        strips = -(-ow // STRIP)
        q, _, line, end = line_chunk(span, run, n_images * oh * strips)
        if q >= depth:
            return
        weights = cuda.local.array(taps, item)
        for t in range(taps):
            weights[t] = w[unsigned(t * depth + q)]
        totals = cuda.local.array(STRIP, item)
        cells = cuda.local.array((kh, strip_cells), item)
        inside = cuda.local.array(strip_cells, numba.boolean)
        rows_in = cuda.local.array(kh, numba.boolean)
        step, out_step = index(channels), index(depth)
        if columns:
            lo, hi = inside_strips(pl, width, ow)
            row_down, out_down = index(width * channels), index(ow * depth)
            n, s, i = _pixel(line, strips, oh)
            while line < end:
                last = min(oh, i + end - line)
                line += last - i
                x0, y = s * STRIP * sw - pl, i - pt  # the window's first column and row
                column_start(x0, width, inside)
                inner = min(last, height - kh + 1 + pt) if lo <= s < hi else 0
                row = index(((n * height + y) * width + x0) * channels + q // multiplier)
                at = index(((n * oh + i) * ow + s * STRIP) * depth + q)
                for _ in range(kh - 1):  # the window's first kh - 1 rows
                    roll_cells(x, row, step, cells, inside, 0 <= y < height, relu, zero, True)
                    y, row = y + 1, index(row + row_down)
                while i < last:  # y: the window's last row
                    if pt <= i < inner:
                        while i < inner:
                            roll_cells(x, row, step, cells, inside, True, relu, zero, False)
                            window_sums(cells, inside, rows_in, weights, totals, zero, False)
                            write_strip(out, at, out_step, totals, STRIP)
                            i, row, at = i + 1, index(row + row_down), index(at + out_down)
                    else:
                        window_rows(y - kh + 1, height, rows_in)
                        roll_cells(x, row, step, cells, inside, 0 <= y < height, relu, zero,
                                   True)  # fmt: skip
                        window_sums(cells, inside, rows_in, weights, totals, zero, True)
                        write_strip(out, at, out_step, totals, ow - s * STRIP)
                        i, row, at = i + 1, index(row + row_down), index(at + out_down)
                    y = i - pt + kh - 1
                i, s = 0, s + 1
                if s == strips:
                    n, s = n + 1, 0
            return
        state = (x, out, height, width, index(dh * width * channels), step, out_step, weights,
                 totals, cells, inside, rows_in, zero)  # fmt: skip
        forward_along_rows(state, line, end, x_shape, oh, ow, depth, q, pt, pl)

    @cuda.jit(device=True)
    def input_grad_strip(grad_out, grad_at, n, y, x0, pt, pl, oh, ow, depth, c, weights,
                         totals, zero, checked):  # fmt: skip
        """totals[p]: the gradient of input pixel (n, y, x0 + p), the gradients of every
        output that read it gathered (as col2im), window row by window row, the output row's
        gradients under the strip read once into registers. Unless ``checked`` (compiled
        apart: unit strides, every output the strip reaches there), ``grad_at`` is the offset
        of output (n, y + pt, j_lo)'s channel c * M, window row a's dh * a output rows up."""
        cells = cuda.local.array((kh, grad_cell_values), item)
        reached = cuda.local.array(grad_cells, numba.boolean)
        rows_reached = cuda.local.array(kh, numba.boolean)
        j_lo = -((-(x0 + pl - (kw - 1) * dw)) // sw)  # the first output column reached
        for e in range(grad_cells):
            reached[e] = not checked or 0 <= j_lo + e < ow
        step, up = index(depth), index(dh * ow * depth)
        for a in range(kh):  # every load first: in flight together (see read_strip)
            if checked:
                rows_reached[a], i = _window_index(y + pt - a * dh, sh, oh)
                at = index(((n * oh + i) * ow + j_lo) * depth + c * multiplier)
            else:
                rows_reached[a], at = True, grad_at
                grad_at = index(grad_at - up)
            if rows_reached[a]:
                for e in range(grad_cells):
                    if reached[e]:
                        for m in range(multiplier):
                            cells[a, e * multiplier + m] = grad_out[index(at + index(m))]
                    at = index(at + step)
        for p in range(STRIP):
            totals[p] = zero
        for a in range(kh):
            if rows_reached[a]:
                for p in range(STRIP):
                    for b in range(kw):
                        t = x0 + p + pl - b * dw  # output column t / sw, if a whole one
                        if t % sw == 0 and reached[t // sw - j_lo]:
                            e = t // sw - j_lo
                            for m in range(multiplier):
                                weight = weights[(a * kw + b) * multiplier + m]
                                totals[p] += cells[a, e * multiplier + m] * weight

    @cuda.jit(device=True)
    def gated_write(grad_x, x, at, step, totals, count, zero):
        """write_strip, through the ReLU before the convolution if ``relu``: times x > 0,
        read at the strip's pixels."""
        if relu:
            cell = at
            for p in range(STRIP):
                if p < count and not x[cell] > 0:
                    totals[p] = totals[p] * zero
                cell = index(cell + step)
        write_strip(grad_x, at, step, totals, count)

    @cached_kernel_holding(4)
    def input_grad(grad_out, out_shape, w, pt, pl, grad_x, x_shape, zero, x, span, run):
        # Input channel c of strips of STRIP input pixels (n, y, s * STRIP + p), walked in
        # order as the forward's. Inside (unit strides only): the strip's outputs j_lo =
        # x0 + pl - (kw - 1) * dw .. j_lo + grad_cells - 1 all there, and its pixels all in
        # the image.
        n_images, height, width, channels = x_shape
        _, oh, ow, depth = out_shape
        strips = -(-width // STRIP)
        c, _, line, end = line_chunk(span, run, n_images * height * strips)
        if c >= channels:
            return
        weights = cuda.local.array(weights_a_channel, item)
        for t in range(weights_a_channel):
            weights[t] = w[unsigned((t // multiplier) * depth + c * multiplier + t % multiplier)]
        totals = cuda.local.array(STRIP, item)
        step, move, out_move = index(channels), index(STRIP * channels), index(STRIP * depth)
        reach = (kw - 1) * dw - pl  # j_lo less x0
        lo = -(-reach // STRIP)
        hi = min((ow - grad_cells - reach) // STRIP + 1, width // STRIP)
        n, y, s = _pixel(line, height, strips)
        while line < end:
            x0 = s * STRIP
            rows_inside = unit_strides and y + pt - (kh - 1) * dh >= 0 and y + pt < oh
            at = index(((n * height + y) * width + x0) * channels + c)
            grad_at = index(((n * oh + y + pt) * ow + x0 - reach) * depth + c * multiplier)
            last = min(strips, s + end - line)
            line += last - s
            while s < last:
                if rows_inside and lo <= s < hi:
                    input_grad_strip(grad_out, grad_at, n, y, x0, pt, pl, oh, ow, depth, c,
                                     weights, totals, zero, False)  # fmt: skip
                    gated_write(grad_x, x, at, step, totals, STRIP, zero)
                else:
                    input_grad_strip(grad_out, grad_at, n, y, x0, pt, pl, oh, ow, depth, c,
                                     weights, totals, zero, True)  # fmt: skip
                    gated_write(grad_x, x, at, step, totals, width - x0, zero)
                s, x0 = s + 1, x0 + STRIP
                at, grad_at = index(at + move), index(grad_at + out_move)
            s = 0
            n, y = _next_row(n, y, height)

    @cuda.jit(device=True)
    def kernel_grad_strip(x, row, row_step, step, y0, x0, height, width, grad_out, at, out_step,
                          count, sums, zero, checked):  # fmt: skip
        """sums[tap] += the strip's input cell under the tap times its output's gradient (read
        at ``at``, ``out_step`` apart), for its first ``count`` outputs in order (unless
        ``checked``: all STRIP). (Its cells are its own: made in the kernel, they took 87
        registers a thread where these take 72, two blocks an SM where three fit.)"""
        grads = cuda.local.array(STRIP, item)
        for p in range(STRIP):
            grads[p] = grad_out[at] if not checked or p < count else zero
            at = index(at + out_step)
        cells = cuda.local.array((kh, strip_cells), item)
        inside = cuda.local.array(strip_cells, numba.boolean)
        rows_in = cuda.local.array(kh, numba.boolean)
        read_strip(x, row, row_step, step, y0, x0, height, width, cells, inside, rows_in, zero,
                   checked)  # fmt: skip
        for a in range(kh):
            if rows_in[a]:
                for p in range(STRIP):
                    if not checked or p < count:
                        for b in range(kw):
                            if inside[p * sw + b * dw]:
                                sums[a * kw + b] += cells[a, p * sw + b * dw] * grads[p]

    @cuda.jit(device=True)
    def kernel_grad_visit(state, row, at, y0, x0, count, checked):
        """A strip of the kernel gradient's parts (see along_rows): its terms added to sums."""
        x, grad_out, height, width, row_step, step, out_step, sums, zero = state
        kernel_grad_strip(x, row, row_step, step, y0, x0, height, width, grad_out, at, out_step,
                          count, sums, zero, checked)  # fmt: skip

    kernel_grad_along_rows = along_rows(kernel_grad_visit)

    @cached_kernel_holding(PARTS_BLOCKS)
    def kernel_grad_parts(x, x_shape, grad_out, out_shape, pt, pl, parts, zero, span, run):
        # Output channel q: for each tap (a, b), the sum over the thread's strips of output
        # pixels (n, i, j) of x[n, i*sh - pt + a*dh, j*sw - pl + b*dw, c] * grad_out[n, i, j,
        # q], pixel by pixel in order, into parts (runs, KH*KW*C*M) at its run's row:
        # blockIdx.y * lanes + its lane. Strips walked and read as the forward's.
        _, height, width, channels = x_shape
        n_images, oh, ow, depth = out_shape
        strips = -(-ow // STRIP)
        q, lane, line, end = line_chunk(span, run, n_images * oh * strips)
        lanes = cuda.blockDim.x // span
        if q >= depth or lane >= lanes:
            return
        sums = cuda.local.array(taps, item)
        for t in range(taps):
            sums[t] = zero
        state = (x, grad_out, height, width, index(dh * width * channels), index(channels),
                 index(depth), sums, zero)  # fmt: skip
        kernel_grad_along_rows(state, line, end, x_shape, oh, ow, depth, q, pt, pl)
        run_row = cuda.blockIdx.y * lanes + lane
        for t in range(taps):
            parts[unsigned((run_row * taps + t) * depth + q)] = sums[t]

    # The one-pass gradients (grads_parts) hold where the output has the input's size, one
    # kernel a channel and the padding is centred (see _one_pass): the input cells a strip's
    # window reads and the output gradients its input gradient gathers lie at the same places,
    # window row r and column e: (y - pt + r * dh, x0 - pl + e). Its own pixels: row center,
    # columns middle + p.
    center, middle = (kh - 1) // 2, (kw - 1) * dw // 2

    @cuda.jit(device=True)
    def grads_strip(x, grad_out, row, row_step, step, y0, x0, height, width, weights, sums,
                    totals, count, zero, checked):  # fmt: skip
        """The strip's window (rows from y0, columns from x0; at ``row`` in both arrays) of x
        (of the ReLU) and of grad_out, each read once: sums[tap] += its kernel gradient's terms
        (as kernel_grad_strip, for its first ``count`` pixels) and totals[p] = the input
        gradient of its pixel p, window column middle + p (as input_grad_strip, through the
        ReLU if ``relu``: times x > 0)."""
        cells = cuda.local.array((kh, strip_cells), item)
        grads = cuda.local.array((kh, strip_cells), item)
        inside = cuda.local.array(strip_cells, numba.boolean)
        rows_in = cuda.local.array(kh, numba.boolean)
        read_strip(x, row, row_step, step, y0, x0, height, width, cells, inside, rows_in, zero,
                   checked)  # fmt: skip
        read_cells(grad_out, row, row_step, step, grads, inside, rows_in)
        grads_sums(cells, grads, inside, rows_in, weights, sums, totals, count, zero, checked)

    @cuda.jit(device=True)
    def grads_sums(cells, grads, inside, rows_in, weights, sums, totals, count, zero, checked):
        """From a strip's window of x (of the ReLU: ``cells``) and of grad_out (``grads``),
        those inside the image where rows_in[a] and inside[e] (unless ``checked``: all):
        sums[tap] += its kernel gradient's terms, for its first ``count`` pixels, and totals[p]
        = the input gradient of its pixel p (see grads_strip)."""
        for a in range(kh):
            if not checked or rows_in[a]:
                for p in range(STRIP):
                    if not checked or p < count:
                        for b in range(kw):
                            if not checked or inside[p + b * dw]:
                                sums[a * kw + b] += cells[a, p + b * dw] * grads[center, middle + p]
        for p in range(STRIP):
            totals[p] = zero
        for a in range(kh):  # output row y + pt - a * dh is window row kh - 1 - a
            if not checked or rows_in[kh - 1 - a]:
                for p in range(STRIP):
                    for b in range(kw):
                        e = p + (kw - 1 - b) * dw
                        if not checked or inside[e]:
                            totals[p] += grads[kh - 1 - a, e] * weights[a * kw + b]
        if relu:
            for p in range(STRIP):
                if (not checked or p < count) and not cells[center, middle + p] > 0:
                    totals[p] = totals[p] * zero

    @cached_kernel_holding(GRADS_BLOCKS)
    def grads_parts(x, x_shape, grad_out, w, pt, pl, grad_x, parts, zero, span, run):
        # Channel c (one kernel a channel): the input gradient of strips of STRIP pixels (n,
        # y, s * STRIP + p), walked in order as the forward's (along the rows, or with
        # ``columns`` down the columns, the windows of x and of grad_out kept a row to the
        # next), and the kernel gradient's sums over them into parts at its run's row (as
        # kernel_grad_parts); see _one_pass.
        n_images, height, width, channels = x_shape
        strips = -(-width // STRIP)
        c, lane, line, end = line_chunk(span, run, n_images * height * strips)
        lanes = cuda.blockDim.x // span
        if c >= channels or lane >= lanes:
            return
        weights = cuda.local.array(taps, item)
        sums = cuda.local.array(taps, item)
        for t in range(taps):
            weights[t] = w[unsigned(t * channels + c)]
            sums[t] = zero
        totals = cuda.local.array(STRIP, item)
        step = index(channels)
        lo, hi = inside_strips(pl, width, width)
        if columns:
            cells = cuda.local.array((kh, strip_cells), item)
            grads = cuda.local.array((kh, strip_cells), item)
            inside = cuda.local.array(strip_cells, numba.boolean)
            rows_in = cuda.local.array(kh, numba.boolean)
            down = index(width * channels)
            n, s, i = _pixel(line, strips, height)
            while line < end:
                last = min(height, i + end - line)
                line += last - i
                x0, y = s * STRIP - pl, i - pt  # the window's first column and row
                column_start(x0, width, inside)
                inner = min(last, height - kh + 1 + pt) if lo <= s < hi else 0
                row = index(((n * height + y) * width + x0) * channels + c)
                at = index(((n * height + i) * width + s * STRIP) * channels + c)
                for _ in range(kh - 1):  # the window's first kh - 1 rows
                    roll_cells(x, row, step, cells, inside, 0 <= y < height, relu, zero, True)
                    roll_cells(grad_out, row, step, grads, inside, 0 <= y < height, False,
                               zero, True)  # fmt: skip
                    y, row = y + 1, index(row + down)
                while i < last:  # y: the window's last row
                    if pt <= i < inner:
                        while i < inner:
                            roll_cells(x, row, step, cells, inside, True, relu, zero, False)
                            roll_cells(grad_out, row, step, grads, inside, True, False, zero,
                                       False)  # fmt: skip
                            grads_sums(cells, grads, inside, rows_in, weights, sums, totals,
                                       STRIP, zero, False)  # fmt: skip
                            write_strip(grad_x, at, step, totals, STRIP)
                            i, row, at = i + 1, index(row + down), index(at + down)
                    else:
                        count = width - s * STRIP
                        window_rows(y - kh + 1, height, rows_in)
                        roll_cells(x, row, step, cells, inside, 0 <= y < height, relu, zero,
                                   True)  # fmt: skip
                        roll_cells(grad_out, row, step, grads, inside, 0 <= y < height, False,
                                   zero, True)  # fmt: skip
                        grads_sums(cells, grads, inside, rows_in, weights, sums, totals, count,
                                   zero, True)  # fmt: skip
                        write_strip(grad_x, at, step, totals, count)
                        i, row, at = i + 1, index(row + down), index(at + down)
                    y = i - pt + kh - 1
                i, s = 0, s + 1
                if s == strips:
                    n, s = n + 1, 0
        else:
            row_step, move = index(dh * width * channels), index(STRIP * channels)
            n, y, s = _pixel(line, height, strips)
            while line < end:
                y0, x0 = y - pt, s * STRIP
                rows_inside = 0 <= y0 and y0 + (kh - 1) * dh < height
                row = index(((n * height + y0) * width + x0 - pl) * channels + c)
                at = index(((n * height + y) * width + x0) * channels + c)
                last = min(strips, s + end - line)
                line += last - s
                while s < last:
                    if rows_inside and lo <= s < hi:
                        grads_strip(x, grad_out, row, row_step, step, y0, x0 - pl, height,
                                    width, weights, sums, totals, STRIP, zero, False)  # fmt: skip
                        write_strip(grad_x, at, step, totals, STRIP)
                    else:
                        grads_strip(x, grad_out, row, row_step, step, y0, x0 - pl, height,
                                    width, weights, sums, totals, width - x0, zero,
                                    True)  # fmt: skip
                        write_strip(grad_x, at, step, totals, width - x0)
                    s, x0 = s + 1, x0 + STRIP
                    row, at = index(row + move), index(at + move)
                s = 0
                n, y = _next_row(n, y, height)
        run_row = cuda.blockIdx.y * lanes + lane
        for t in range(taps):
            parts[unsigned((run_row * taps + t) * channels + c)] = sums[t]

    return DepthwiseKernels(forward, input_grad, kernel_grad_parts, grads_parts)
