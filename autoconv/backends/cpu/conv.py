"""Convolution kernels: im2col and its adjoint col2im, the depthwise convolution and its
gradients, the bias + ReLU passes over a convolution's product (rows, C), and the rules the
fused kernels share (the activation, max pooling's winner and its gradient's route). The direct
convolution fused with 2x2 max pooling is in :mod:`autoconv.backends.cpu.conv_pool`.

Layout is channels-last: images (N, H, W, C). A window is described by its kernel size
(kh, kw), stride (sh, sw), dilation (dh, dw), the padding before it (pt, pl) and the output
size (oh, ow) (:meth:`autoconv.windows.Window.geometry`); the padding after is implied by the
output size. Cells of a window that fall into the padding read as 0.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from autoconv.backends import bounds
from autoconv.backends.cpu import workspace
from autoconv.backends.cpu.jit import Kernel, inline
from autoconv.windows import Window

# The convolutions of autoconv.ops.convolution by unrolled windows and by Winograd run a slice
# of images of about this many bytes of windows (or tiles and products) at a time, forward and
# backward, each slice's outputs written into its rows of the batch's; the direct route, when it
# needs no gradient. Slices of 4 MB (a core's L2 is 1 MB, the L3 32 MB where we measure) stay in
# cache from im2col to the product and the pooling, and their arrays are reused slice after
# slice: the MNIST model's predict at batch 1000 from about 5,750 images/s whole to 13,450 (2 MB:
# 8,400; 8 MB: 10,000); the flowers classifier's second conv (16 -> 32 at 90x90, 149 MB of
# windows at batch 32), forward + backward, 117.6-121.3 -> 106.0-113.0 ms though the backward
# unrolls again. See bench/results/2026-11-23-cpu-pool-and-slices.md and
# ...-slices-and-blas-threads.md.
SLICE_BYTES = 4 * 2**20

# A batch of at most this many bytes of windows (or tiles and products) runs whole, in cache
# (the L3 is 32 MB), and in training keeps them for the backward rather than making them again:
# the MNIST model's Winograd conv (9.8 MB at batch 64) ran in 3 slices, making its tiles twice
# and joining the slices' outputs. See bench/results/2026-11-24-cpu-whole-batch.md.
WHOLE_BATCH_BYTES = 16 * 2**20

# im2col fills its rows one at a time from this many channels (see _im2col_by_pixel).
BY_PIXEL_MIN_CHANNELS = 16


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
def _im2col_by_pixel(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, cols):
    # _im2col with the output column outside and the kernel cells inside: each row of cols is
    # written whole, in order, before the next. Faster from 16 channels, whose runs of a pixel
    # are 64 bytes or more (measured with 3x3 windows, serial build, ms: 32x90x90x16 'same'
    # 25.9 -> 14.3, 32x45x45x32 9.8 -> 5.8, 32x148x148x32 101.7 -> 61.8, 32x34x34x128 14.4 ->
    # 10.8, 64x13x13x32 0.36 -> 0.34); slower below (32x180x180x3 32.3 -> 42.4, 8 channels
    # 0.84x), where _im2col's long column loop pays. The cell copy is written out in both:
    # as one inlined helper, _im2col ran 2.5-3x slower (32x180x180x3 33.4 -> 104.9 ms).
    n_images, height, width, channels = x.shape
    for row_block in numba.prange(n_images * oh):
        n = row_block // oh
        i = row_block - n * oh
        first_row = row_block * ow
        for j in range(ow):
            row = cols[first_row + j]
            for a in range(kh):
                y = i * sh - pt + a * dh
                inside = 0 <= y < height
                for b in range(kw):
                    base = (a * kw + b) * channels
                    xx = j * sw + b * dw - pl
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


# Depthwise convolution. The kernels take the kernel as (KH, KW, M, C) and the output (and its
# gradient) as (N, OH, OW, M, C), so that the channel loop, innermost, runs over contiguous
# memory in the input, the kernel and the output alike and vectorizes; the wrappers below
# convert from and to Keras's (KH, KW, C, M) and channel order c*M + m (free when M = 1).
# ``relu``: the input is max(x, 0) (a ReLU before, in these passes; see activated).
@Kernel
def _depthwise_conv(x, w_t, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, relu, zero, out_t):
    n_images, height, width, channels = x.shape
    multiplier = w_t.shape[2]
    for row_block in numba.prange(n_images * oh):
        n = row_block // oh
        i = row_block - n * oh
        for j in range(ow):
            cell = out_t[n, i, j]
            cell[:] = 0
            for a in range(kh):
                y = i * sh - pt + a * dh
                if y < 0 or y >= height:
                    continue
                for b in range(kw):
                    xx = j * sw - pl + b * dw
                    if xx < 0 or xx >= width:
                        continue
                    pixel = x[n, y, xx]
                    for m in range(multiplier):
                        taps, sums = w_t[a, b, m], cell[m]
                        for c in range(channels):
                            sums[c] += activated(pixel[c], relu, zero) * taps[c]


@Kernel
def _depthwise_conv_input_grad(grad_t, w_t, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, x, relu,
                               grad_x):  # fmt: skip
    # ``relu``: through the ReLU before too, image by image: times (x > 0), as relu_grad.
    n_images, height, width, channels = grad_x.shape
    multiplier = w_t.shape[2]
    for n in numba.prange(n_images):
        grad_x[n] = 0
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    y = i * sh - pt + a * dh
                    if y < 0 or y >= height:
                        continue
                    for b in range(kw):
                        xx = j * sw - pl + b * dw
                        if xx < 0 or xx >= width:
                            continue
                        pixel = grad_x[n, y, xx]
                        for m in range(multiplier):
                            g, taps = grad_t[n, i, j, m], w_t[a, b, m]
                            for c in range(channels):
                                pixel[c] += g[c] * taps[c]
        if relu:
            image, kept = grad_x[n].reshape(-1), x[n].reshape(-1)
            for e in range(image.size):
                image[e] = image[e] * (kept[e] > 0)


@Kernel
def _depthwise_conv_kernel_grad(x, grad_t, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, relu, zero,
                                partial):  # fmt: skip
    # partial (chunks, KH, KW, M, C): each thread sums the images of its chunk into its own.
    n_images, height, width, channels = x.shape
    multiplier = grad_t.shape[3]
    chunks = partial.shape[0]
    for chunk in numba.prange(chunks):
        sums = partial[chunk]
        sums[:] = 0
        for n in range(chunk * n_images // chunks, (chunk + 1) * n_images // chunks):
            for i in range(oh):
                for j in range(ow):
                    for a in range(kh):
                        y = i * sh - pt + a * dh
                        if y < 0 or y >= height:
                            continue
                        for b in range(kw):
                            xx = j * sw - pl + b * dw
                            if xx < 0 or xx >= width:
                                continue
                            pixel = x[n, y, xx]
                            for m in range(multiplier):
                                g, acc = grad_t[n, i, j, m], sums[a, b, m]
                                for c in range(channels):
                                    acc[c] += activated(pixel[c], relu, zero) * g[c]


@inline
def activated(value, relu, zero):
    # A typed zero, not the literal 0 (int64 next to float32 means float64 maths). NaN stays
    # NaN, as np.maximum(x, 0), so a divergence shows.
    return value if not relu or value > 0 or value != value else zero


@inline
def wins(value, best):
    # The first maximum in scan order wins; a NaN wins (and stays), as in np.max, so a divergence
    # shows. Bitwise operators, not ``or``/``and``: no branches, so the channel loops vectorize.
    return (value > best) | ((value != value) & (best == best))


@inline
def max_of_2x2(v00, v01, v10, v11, at, right, below):
    # The first maximum of a 2x2 window's values in row-major order (see wins) and its flat
    # offset: ``at`` for v00, ``at + right``, ``at + below``, ``at + below + right``. Selects
    # only, so the channel loops of the three kernels that call it vectorize.
    best = v00
    take = wins(v01, best)
    best, where = (v01 if take else best), (at + right if take else at)
    take = wins(v10, best)
    best, where = (v10 if take else best), (at + below if take else where)
    take = wins(v11, best)
    return (v11 if take else best), (at + below + right if take else where)


@inline
def routed(value, cell, right, below, zero):
    # A pooled gradient sent to its 2x2 window's winner: the four outputs' gradients in
    # row-major order, ``value`` where ``cell`` (the arg-max less the window's first offset; see
    # max_of_2x2) points and zero elsewhere. Selects only: the channel loops vectorize, and an
    # arg-max that is none of the four offsets (a tampered one) routes nothing. (Reading the
    # three rows in here too left the kernel gradients' loops scalar: 8x slower.)
    return (
        value if cell == 0 else zero,
        value if cell == right else zero,
        value if cell == below else zero,
        value if cell == below + right else zero,
    )


@Kernel
def _bias_relu(out, bias, relu, zero):
    rows, columns = out.shape
    for r in numba.prange(rows):
        for c in range(columns):
            out[r, c] = activated(out[r, c] + bias[c], relu, zero)


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


def im2col(x: np.ndarray, win: Window) -> np.ndarray:
    """(N, H, W, C) -> (N*OH*OW, KH*KW*C): one row per output pixel, its window unrolled.

    Images of one channel give a column-major array (the transpose of a C-contiguous one),
    which is faster to fill; the matrix products read either layout at the same speed. From
    BY_PIXEL_MIN_CHANNELS channels each row is filled whole in turn (the faster order there)."""
    n, _, _, channels = bounds.images("im2col", "x", x)
    kh, kw = win.kernel
    shape = (n * win.out[0] * win.out[1], kh * kw * channels)
    x, work = np.ascontiguousarray(x), x.size + math.prod(shape)
    if channels == 1:
        cols_t = workspace.empty(shape[::-1], x.dtype)
        _im2col_transposed(work, x, *win.geometry(), cols_t)
        return cols_t.T
    cols = workspace.empty(shape, x.dtype)
    kernel = _im2col_by_pixel if channels >= BY_PIXEL_MIN_CHANNELS else _im2col
    kernel(work, x, *win.geometry(), cols)
    return cols


def col2im(
    cols: np.ndarray, x_shape: tuple[int, ...], win: Window, out: np.ndarray | None = None
) -> np.ndarray:
    """The adjoint of :func:`im2col`: add each row's entries back to where they were read
    (into ``out`` when given)."""
    bounds.columns_of_window("col2im", cols, x_shape, win)
    grad_x = (
        workspace.empty(x_shape, cols.dtype)
        if out is None
        else bounds.output("col2im", "out", out, np.ndarray, x_shape, cols.dtype)
    )
    _col2im(cols.size + grad_x.size, np.ascontiguousarray(cols), *win.geometry(), grad_x)
    return grad_x


def depthwise_conv(x: np.ndarray, w: np.ndarray, win: Window, relu: bool = False) -> np.ndarray:
    """Each channel c of x (N, H, W, C) convolved with its own kernels w[:, :, c, m] (w is
    (KH, KW, C, M)): (N, OH, OW, C*M), output channel c*M + m from kernel m. ``relu``: of
    max(x, 0)."""
    n, _, _, channels = bounds.images("depthwise_conv", "x", x)
    kh, kw, _, multiplier = bounds.depthwise_kernel("depthwise_conv", w.shape, channels, win)
    w_t = np.ascontiguousarray(w.transpose(0, 1, 3, 2))  # (KH, KW, M, C)
    out_t = workspace.empty((n, *win.out, multiplier, channels), x.dtype)
    work = x.size + out_t.size * kh * kw
    _depthwise_conv(work, np.ascontiguousarray(x), w_t, *win.geometry(), relu, x.dtype.type(0),
                    out_t)  # fmt: skip
    return _channels_by_kernel(out_t)


def depthwise_conv_input_grad(
    grad_out: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...], win: Window,
    relu_of: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """The gradient of :func:`depthwise_conv` with respect to x (N, H, W, C); with ``relu_of``
    (the x of a forward with ``relu``), through that ReLU too: 0 where x was not positive."""
    bounds.depthwise_output("depthwise_conv_input_grad", grad_out, x_shape, w.shape, win)
    if relu_of is not None:
        bounds.shape_is("depthwise_conv_input_grad", "relu_of", relu_of, x_shape)
    grad_x = workspace.empty(x_shape, grad_out.dtype)
    w_t = np.ascontiguousarray(w.transpose(0, 1, 3, 2))
    grad_t = _kernels_by_channel(grad_out, w.shape[3])
    work = grad_x.size + grad_t.size * w.shape[0] * w.shape[1]
    relu = relu_of is not None
    x = np.ascontiguousarray(relu_of) if relu else grad_x  # grad_x's place: not read
    _depthwise_conv_input_grad(work, grad_t, w_t, *win.geometry(), x, relu, grad_x)
    return grad_x


def depthwise_conv_kernel_grad(
    x: np.ndarray, grad_out: np.ndarray, w_shape: tuple[int, ...], win: Window,
    relu: bool = False,
) -> np.ndarray:  # fmt: skip
    """The gradient of :func:`depthwise_conv` (with ``relu``: of max(x, 0)) with respect to w
    (KH, KW, C, M): each thread sums a block of images into its own copy, and the copies are
    added at the end."""
    bounds.depthwise_output("depthwise_conv_kernel_grad", grad_out, x.shape, w_shape, win)
    kh, kw, channels, multiplier = w_shape
    grad_t = _kernels_by_channel(grad_out, multiplier)
    chunks = max(1, min(numba.get_num_threads(), x.shape[0]))
    partial = np.empty((chunks, kh, kw, multiplier, channels), dtype=grad_out.dtype)
    work = x.size + grad_t.size * kh * kw
    _depthwise_conv_kernel_grad(work, np.ascontiguousarray(x), grad_t, *win.geometry(), relu,
                                x.dtype.type(0), partial)  # fmt: skip
    return np.ascontiguousarray(partial.sum(axis=0).transpose(0, 1, 3, 2))


def depthwise_conv_grads(
    x: np.ndarray, grad_out: np.ndarray, w: np.ndarray, win: Window, relu: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Both gradients of :func:`depthwise_conv` (with ``relu``: of max(x, 0)): (grad_x through
    the ReLU, grad_w), by :func:`depthwise_conv_input_grad` and
    :func:`depthwise_conv_kernel_grad` (the GPU's takes them in one pass where it can)."""
    channels = bounds.images("depthwise_conv_grads", "x", x)[3]
    bounds.depthwise_kernel("depthwise_conv_grads", w.shape, channels, win)
    grad_x = depthwise_conv_input_grad(grad_out, w, x.shape, win, x if relu else None)
    return grad_x, depthwise_conv_kernel_grad(x, grad_out, w.shape, win, relu)


def _kernels_by_channel(grad_out: np.ndarray, multiplier: int) -> np.ndarray:
    """(N, OH, OW, C*M) in channel order c*M + m -> (N, OH, OW, M, C), contiguous."""
    n, oh, ow, depth = grad_out.shape
    grad = grad_out.reshape(n, oh, ow, depth // multiplier, multiplier)
    return np.ascontiguousarray(grad.transpose(0, 1, 2, 4, 3))


def _channels_by_kernel(out_t: np.ndarray) -> np.ndarray:
    """(N, OH, OW, M, C) -> (N, OH, OW, C*M) in channel order c*M + m (a view when M = 1)."""
    n, oh, ow, multiplier, channels = out_t.shape
    return out_t.transpose(0, 1, 2, 4, 3).reshape(n, oh, ow, channels * multiplier)


def bias_relu(out: np.ndarray, bias: np.ndarray | None, relu: bool) -> np.ndarray:
    """In place on a (rows, C) product: add the per-column bias, then max(., 0) if ``relu``."""
    if out.ndim != 2:
        raise ValueError(f"bias_relu: out must be (rows, C), got shape {out.shape}")
    bounds.columns("bias_relu", "bias", bias, out.shape[1])
    if bias is None:
        bias = np.zeros(out.shape[1], dtype=out.dtype)
    _bias_relu(2 * out.size, out, bias, relu, out.dtype.type(0))
    return out


def relu_grad_and_column_sums(grad: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gradient through a ReLU whose output was ``out`` (rows, C), and its column sums
    (the bias gradient), in one pass. Each thread sums its own block of rows."""
    if grad.ndim != 2:
        raise ValueError(f"relu_grad_and_column_sums: grad must be (rows, C), got {grad.shape}")
    bounds.shape_is("relu_grad_and_column_sums", "out", out, grad.shape)
    masked = workspace.empty(grad.shape, grad.dtype)
    chunks = max(1, min(numba.get_num_threads(), grad.shape[0]))
    partial_sums = np.empty((chunks, grad.shape[1]), dtype=grad.dtype)
    _relu_grad_and_column_sums(
        3 * grad.size, np.ascontiguousarray(grad), out, masked, partial_sums, grad.dtype.type(0)
    )
    return masked, partial_sums.sum(axis=0)


def bias_relu_grad(grad: np.ndarray, out: np.ndarray, relu: bool) -> tuple[np.ndarray, np.ndarray]:
    """The gradient through a matrix product's epilogue (bias, then ReLU if ``relu``) whose
    output was ``out`` (rows, C): (grad * (out > 0), or grad, its column sums), NumPy's
    operations, so the values are those of the unfused ops (a ReLU's VJP, then the sum that
    reduces a broadcast bias's gradient)."""
    if grad.ndim != 2:
        raise ValueError(f"bias_relu_grad: grad must be (rows, C), got {grad.shape}")
    bounds.shape_is("bias_relu_grad", "out", out, grad.shape)
    masked = grad * (out > 0) if relu else grad
    return masked, masked.sum(axis=0)
