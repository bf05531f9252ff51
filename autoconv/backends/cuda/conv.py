"""Convolution kernels on the GPU: im2col and col2im (one thread per input cell gathers what
was read from it: no atomics, the same sum order every run), the strips of pixels and their
stepping that the window kernels share, and the bias + ReLU passes over a convolution's
product. The names of :mod:`autoconv.backends.cpu.conv`; the depthwise convolution is in
:mod:`autoconv.backends.cuda.depthwise`, the direct convolution fused with the pool in
:mod:`autoconv.backends.cuda.conv_pool`."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numba
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda import runtime
from autoconv.backends.cuda.array import CudaArray, empty, zeros
from autoconv.backends.cuda.reduce import sum_columns
from autoconv.backends.cuda.runtime import (
    cached_kernel,
    four_lines,
    launch_lines,
    line_chunk,
    line_run,
    unsigned,
    unsigned32,
)
from autoconv.windows import Window

# A convolution (autoconv.ops.convolution) runs the whole batch at once up to this many bytes
# of windows (or Winograd tiles and products), and keeps them for the backward; a bigger one in
# slices of as many. The CPU's 4 MB slices are for its caches; here a slice of one image (the
# flowers classifier's 90x90 convolution at batch 32, 4.7 MB of windows an image) is a grid a
# fraction of the GPU wide, and every slice adds its launches: its step was 630 launches, 32
# slices each in its second and third convolutions (bench/results/2026-11-25-gpu-whole-batch.md).
# 512 MB bounds the windows of one convolution on a GPU of a few GB.
SLICE_BYTES = WHOLE_BATCH_BYTES = 512 * 2**20
# im2col takes output pixels in strips of this many along an image row (the depthwise
# convolution in strips of its own, depthwise_kernels.STRIP): a strip's offsets and its test for the
# image's edges are found once for its pixels. On sm_90 a strip of 4 inside the image took ~140
# instructions (35 a pixel), one of 8 ~155 (19 a pixel; 48 registers, five blocks an SM, not
# 42 and six), and the flowers classifier's largest im2col, instruction-bound, ran at about 1
# TB/s on an H200 (bench/results/2026-11-26-gpu-h200-tf32-default.md).
IM2COL_STRIP = 8


# Window kernels run over lines (strips of output or input pixels; col2im: input pixels) of
# entries (columns, channels) in runtime's line layout (launch_lines): a thread's lines either
# one lanes after another, each line's (n, i, j) stepped from the last (_stepped), or, where a
# line's offsets are the last one's plus a constant along an image row, one after another
# (runtime.line_chunk: im2col, col2im, the depthwise convolution, the max pool).


@cuda.jit(device=True)
def _pixel(line, height, width):
    """Line ``line`` of images of height x width pixels -> (image, row, column)."""
    n, pixel = line // (height * width), line % (height * width)
    return n, pixel // width, pixel % width


@cuda.jit(device=True)
def _next_row(n, i, rows):
    """(image, row) of the row after row i of image n, in images of ``rows`` rows."""
    i += 1
    if i == rows:
        n, i = n + 1, 0
    return n, i


@cache
def _strip_writer(strip: int, wide: bool) -> Any:
    """A device function out[at + p * step] = values[p] for a strip's first ``count`` pixels
    of ``strip``, its offsets 64-bit if ``wide`` (runtime.wide_offsets), else 32-bit."""
    index = unsigned if wide else unsigned32

    @cuda.jit(device=True)
    def write_strip(out, at, step, values, count):
        for p in range(strip):
            if p < count:
                out[at] = values[p]
            at = index(at + step)

    return write_strip


@cuda.jit(device=True)
def _stepped(n, i, j, lanes, height, width):
    """The pixel ``lanes`` after (n, i, j) in images of height x width, without a division."""
    j += lanes
    while j >= width:
        j -= width
        i += 1
    while i >= height:
        i -= height
        n += 1
    return n, i, j


@cuda.jit(device=True)
def _window_index(t, stride, size):
    """(whether, which): the output index o < size whose window reads cell t at offset
    o * stride (a cell some window's offset reaches exactly); no division at stride 1."""
    if t < 0:
        return False, 0
    if stride == 1:
        return t < size, t
    if t % stride != 0:
        return False, 0
    return t // stride < size, t // stride


@cache
def _window_kernels(kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, wide: bool = False
                    ) -> tuple[Any, Any]:  # fmt: skip
    """(im2col, col2im) kernels for one window (kh x kw, strides sh, sw, dilations dh, dw),
    known when they are compiled: the window's loops unrolled and the strides' divisions
    multiplications (with them as arguments, col2im's pixel loop was about 890 instructions
    on sm_90). cols (flat) has N*OH*OW rows of KH*KW*C columns, column (a*KW + b)*C + c the
    window's cell (a, b) of channel c; x and grad_x (flat) are images of x_shape (N, H, W, C).
    A thread walks its lines in order (runtime.line_chunk): along an image row a line's offsets
    are the last one's plus a constant, found anew only where a row starts. Offsets are 32-bit
    unless an array has 2**31 entries or more (``wide``; runtime.wide_offsets)."""
    index = unsigned if wide else unsigned32
    write_strip = _strip_writer(IM2COL_STRIP, wide)
    unit_strides = sh == 1 and sw == 1  # (col2im's cells every window offset reaches)

    @cuda.jit(device=True)
    def read_strip(x, cell, step, y, x0, height, width, values, zero, checked):
        """values[p] = x[cell + p * step], the strip's cells (row y, columns x0 + p * sw), the
        loads first, in flight together; 0 for a cell outside the image, unless ``checked`` is
        False (compiled apart, for strips inside it: no test)."""
        for p in range(IM2COL_STRIP):
            values[p] = zero
            if not checked or (0 <= y < height and 0 <= x0 + p * sw < width):
                values[p] = x[cell]
            cell = index(cell + step)

    @cached_kernel
    def im2col(x, x_shape, pt, pl, oh, ow, cols, zero, span, run):
        # Entry: column q, the window's cell (a, b) of channel c; a line, a strip of IM2COL_STRIP
        # rows (n, i, s * IM2COL_STRIP + p), whose cells lie sw pixels apart in x and a row
        # apart in cols; a thread's strips walked in order along their image rows.
        n_images, height, width, channels = x_shape
        columns = kh * kw * channels
        strips = -(-ow // IM2COL_STRIP)
        q, _, line, end = line_chunk(span, run, n_images * oh * strips)
        if q >= columns:
            return
        a, rest = q // (kw * channels), q % (kw * channels)
        b, c = rest // channels, rest % channels
        y_off, x_off = a * dh - pt, b * dw - pl
        values = cuda.local.array(IM2COL_STRIP, x.dtype)
        step, row_step = index(sw * channels), index(columns)
        move, out_move = index(IM2COL_STRIP * sw * channels), index(IM2COL_STRIP * columns)
        reach = IM2COL_STRIP * sw  # a strip's columns
        lo = -(x_off // reach)  # [lo, hi): the strips whose cells lie inside the image's columns
        hi = min((width - 1 - (IM2COL_STRIP - 1) * sw - x_off) // reach + 1, ow // IM2COL_STRIP)
        n, i, s = _pixel(line, oh, strips)
        while line < end:
            y, x0 = i * sh + y_off, s * reach + x_off
            row_inside = 0 <= y < height
            cell = index(((n * height + y) * width + x0) * channels + c)  # maybe outside
            at = index(((n * oh + i) * ow + s * IM2COL_STRIP) * columns + q)
            last = min(strips, s + end - line)
            line += last - s
            while s < last:
                if row_inside and lo <= s < hi:
                    read_strip(x, cell, step, y, x0, height, width, values, zero, False)
                    write_strip(cols, at, row_step, values, IM2COL_STRIP)
                else:
                    read_strip(x, cell, step, y, x0, height, width, values, zero, True)
                    write_strip(cols, at, row_step, values, ow - s * IM2COL_STRIP)
                s, x0 = s + 1, x0 + reach
                cell, at = index(cell + move), index(at + out_move)
            s = 0
            n, i = _next_row(n, i, oh)

    @cuda.jit(device=True)
    def gather(cols, n, y, xx, pt, pl, oh, ow, columns, channels, c, at_column, rows_reached,
               entries, zero):  # fmt: skip
        """The sum of the column entries read from input cell (n, y, xx) of channel c, window
        rows outer, every entry read first (in flight together), each window's place tested."""
        for b in range(kw):
            reached, j = _window_index(xx + pl - b * dw, sw, ow)
            at_column[b] = j * columns + b * channels if reached else -1
        for a in range(kh):
            rows_reached[a], i = _window_index(y + pt - a * dh, sh, oh)
            if rows_reached[a]:
                row = (n * oh + i) * ow * columns + a * kw * channels + c
                for b in range(kw):
                    if at_column[b] >= 0:
                        entries[a, b] = cols[unsigned(row + at_column[b])]
        total = zero
        for a in range(kh):
            if rows_reached[a]:
                for b in range(kw):
                    if at_column[b] >= 0:
                        total += entries[a, b]
        return total

    @cuda.jit(device=True)
    def gather_inside(cols, first, row_delta, column_delta, entries, zero):
        """gather's sum for a cell that every window offset reaches (unit strides): entry (a,
        b) at first + a * row_delta + b * column_delta, nothing tested."""
        for a in range(kh):
            cell = first
            for b in range(kw):
                entries[a, b] = cols[cell]
                cell = index(cell + column_delta)
            first = index(first + row_delta)
        total = zero
        for a in range(kh):
            for b in range(kw):
                total += entries[a, b]
        return total

    @cached_kernel
    def col2im(cols, pt, pl, oh, ow, grad_x, x_shape, zero, span, run):
        # One thread per input cell gathers every column entry read from it: no atomics, the
        # same sum order every run (window rows outer). Entry: channel c; a line, pixel (n, y,
        # xx), a thread's pixels walked in order along their image rows. Inside (unit strides:
        # every window offset reaches the cell), entry (a, b) is at the offset of window (y +
        # pt, xx + pl)'s cell (0, 0), less a * dh rows and b * dw columns of windows, plus its
        # cell's columns.
        n_images, height, width, channels = x_shape
        columns = kh * kw * channels
        c, _, line, end = line_chunk(span, run, n_images * height * width)
        if c >= channels:
            return
        at_column = cuda.local.array(kw, numba.int64)  # window column b's entry in its row, or -1
        rows_reached = cuda.local.array(kh, numba.boolean)
        entries = cuda.local.array((kh, kw), cols.dtype)
        step, move = index(channels), index(columns)
        row_delta = index(kw * channels - dh * ow * columns)
        column_delta = index(channels - dw * columns)
        lo, hi = (kw - 1) * dw - pl, ow - pl  # [lo, hi): a row's cells every window reaches
        n, y, xx = _pixel(line, height, width)
        while line < end:
            rows_inside = unit_strides and 0 <= y + pt - (kh - 1) * dh and y + pt < oh
            at = index(((n * height + y) * width + xx) * channels + c)
            first = index(((n * oh + y + pt) * ow + xx + pl) * columns + c)  # maybe outside
            last = min(width, xx + end - line)
            line += last - xx
            while xx < last:
                if rows_inside and lo <= xx < hi:
                    total = gather_inside(cols, first, row_delta, column_delta, entries, zero)
                else:
                    total = gather(cols, n, y, xx, pt, pl, oh, ow, columns, channels, c,
                                   at_column, rows_reached, entries, zero)  # fmt: skip
                grad_x[at] = total
                xx = xx + 1
                at, first = index(at + step), index(first + move)
            xx = 0
            n, y = _next_row(n, y, height)

    return im2col, col2im


def _window_for(win: Window, *arrays: CudaArray) -> tuple[Any, Any]:
    """:func:`_window_kernels` for ``win``, with the offsets that ``arrays`` need."""
    return _window_kernels(*win.kernel, *win.stride, *win.dilation, runtime.wide_offsets(*arrays))


@cuda.jit(device=True)
def activated(value, relu, zero):
    """max(value, 0) if relu (NaN stays NaN, as np.maximum), else value."""
    return value if not relu or value > 0 or value != value else zero


@cached_kernel
def _bias_relu(out, bias, relu, zero, span, run):
    # out (flat) rows x C in runtime's line layout: a thread takes one column down its rows,
    # four at a time (read in place, each line's store kept the next line's load behind it:
    # the small Xception's prediction spent 3.6 ms of its 26.5 in this kernel on an H200).
    columns = bias.size
    c, first, lanes, end = line_run(span, run, out.size // columns)
    if c < columns:
        b = bias[c]
        r = first
        while r + 3 * lanes < end:
            a0, a1, a2, a3 = four_lines(r, lanes, columns, c)
            v0, v1, v2, v3 = out[a0], out[a1], out[a2], out[a3]
            out[a0], out[a1] = activated(v0 + b, relu, zero), activated(v1 + b, relu, zero)
            out[a2], out[a3] = activated(v2 + b, relu, zero), activated(v3 + b, relu, zero)
            r += 4 * lanes
        while r < end:
            at = unsigned(r * columns + c)
            out[at] = activated(out[at] + b, relu, zero)
            r += lanes


@cuda.jit(device=True)
def _masked_entry(args, r, c):
    # grad where out > 0, else 0, or, with ``multiply``, grad * (out > 0) (the unfused ReLU's
    # VJP, whose 0 * inf is NaN); written to ``masked`` as it is summed, so the sums are those
    # of the mask and then .sum(axis=0), to the bit.
    grad, out, masked, multiply, zero, one = args
    value = grad[r, c]
    if multiply:
        value = value * (one if out[r, c] > 0 else zero)
    elif not out[r, c] > 0:
        value = zero
    masked[r, c] = value
    return value


def _masked_and_summed(grad: CudaArray, out: CudaArray, multiply: bool) -> tuple[Any, Any]:
    """(grad masked where ``out`` <= 0, its column sums) in one pass."""
    masked = empty(grad.shape, grad.dtype)
    rows, columns = grad.shape
    zero, one = grad.dtype.type(0), grad.dtype.type(1)
    args = (grad.nd, out.nd, masked.nd, multiply, zero, one)
    return masked, sum_columns(_masked_entry, args, rows, columns, grad.dtype)


def _strips(shape: tuple[int, ...], strip: int) -> int:
    """The strips of ``strip`` pixels of (N, H, W, C) images (a row's last may be short)."""
    n, height, width, _ = shape
    return n * height * -(-width // strip)


def im2col(x: CudaArray, win: Window) -> CudaArray:
    """(N, H, W, C) -> (N*OH*OW, KH*KW*C): one row per output pixel, its window unrolled."""
    n, _, _, channels = bounds.images("im2col", "x", x)
    cols = empty((n * win.out[0] * win.out[1], win.kernel[0] * win.kernel[1] * channels), x.dtype)
    if cols.size:
        strips = _strips((n, *win.out, 1), IM2COL_STRIP)
        launch_lines(_window_for(win, x, cols)[0], cols.shape[1], strips)(
            x.flat, x.shape, win.pad_top, win.pad_left, *win.out, cols.flat, x.dtype.type(0)
        )
    return cols


def col2im(
    cols: CudaArray, x_shape: tuple[int, ...], win: Window, out: CudaArray | None = None
) -> CudaArray:
    """The adjoint of :func:`im2col`: each input cell sums the entries read from it (into
    ``out`` when given)."""
    bounds.columns_of_window("col2im", cols, x_shape, win)
    grad_x = (
        empty(x_shape, cols.dtype)
        if out is None
        else bounds.output("col2im", "out", out, CudaArray, x_shape, cols.dtype)
    )
    if grad_x.size:
        launch_lines(_window_for(win, cols, grad_x)[1], x_shape[3], math.prod(x_shape[:3]))(
            cols.flat, win.pad_top, win.pad_left, *win.out, grad_x.flat, tuple(x_shape),
            cols.dtype.type(0),
        )  # fmt: skip
    return grad_x


def bias_relu(out: CudaArray, bias: CudaArray | None, relu: bool) -> CudaArray:
    """In place on a (rows, C) product: add the per-column bias, then max(., 0) if ``relu``."""
    if out.ndim != 2:
        raise ValueError(f"bias_relu: out must be (rows, C), got shape {out.shape}")
    bounds.columns("bias_relu", "bias", bias, out.shape[1])
    if bias is None:
        bias = zeros((out.shape[1],), out.dtype)
    if out.size:
        launch_lines(_bias_relu, out.shape[1], out.shape[0])(
            out.flat, bias.flat, relu, out.dtype.type(0)
        )
    return out


def relu_grad_and_column_sums(grad: CudaArray, out: CudaArray) -> tuple[CudaArray, CudaArray]:
    """The gradient through a ReLU whose output was ``out`` (rows, C), and its column sums."""
    if grad.ndim != 2:
        raise ValueError(f"relu_grad_and_column_sums: grad must be (rows, C), got {grad.shape}")
    bounds.shape_is("relu_grad_and_column_sums", "out", out, grad.shape)
    return _masked_and_summed(grad, out, False)


def bias_relu_grad(grad: CudaArray, out: CudaArray, relu: bool) -> tuple[CudaArray, CudaArray]:
    """The gradient through a matrix product's epilogue (bias, then ReLU if ``relu``) whose
    output was ``out`` (rows, C): (grad * (out > 0), or grad, its column sums), the values
    of the unfused ops (a ReLU's VJP, then the sum reducing the bias's broadcast gradient)."""
    if grad.ndim != 2:
        raise ValueError(f"bias_relu_grad: grad must be (rows, C), got {grad.shape}")
    bounds.shape_is("bias_relu_grad", "out", out, grad.shape)
    if relu:
        return _masked_and_summed(grad, out, True)
    return grad, grad.sum(axis=0)
