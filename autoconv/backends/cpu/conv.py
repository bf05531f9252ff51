"""Convolution kernels: im2col and its adjoint col2im, the depthwise convolution and its
gradients, the bias + ReLU passes over a convolution's product (rows, C), and a direct
convolution fused with bias, ReLU and 2x2 max pooling for images of few channels (with kernels
of its own for a 3x3 kernel over one channel).

Layout is channels-last: images (N, H, W, C). A window is described by its kernel size
(kh, kw), stride (sh, sw), dilation (dh, dw), the padding before it (pt, pl) and the output
size (oh, ow) (:meth:`autoconv.windows.Window.geometry`); the padding after is implied by the
output size. Cells of a window that fall into the padding read as 0.
"""

from __future__ import annotations

import functools
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
@Kernel
def _depthwise_conv(x, w_t, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, out_t):
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
                            sums[c] += pixel[c] * taps[c]


@Kernel
def _depthwise_conv_input_grad(grad_t, w_t, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, grad_x):
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


@Kernel
def _depthwise_conv_kernel_grad(x, grad_t, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, partial):
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
                                    acc[c] += pixel[c] * g[c]


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


# The direct convolution + bias + ReLU + 2x2 max pool, for images of few channels (the first
# layer: the course's 1 -> 32 and 3 -> 16): im2col would unroll each pixel KH*KW times into a
# skinny product (K = 9 or 27, which OpenBLAS runs at a fraction of its speed) and the pool
# would read the full-size product again. Here each 2x2 window's four outputs are summed tap by
# tap in four rows of ``filters`` sums (the filters innermost: contiguous weights, vectorized),
# then pooled; the convolution's output is never written. Stride 1, no dilation; ``images`` are
# zero-padded so that every tap lies inside. The filter count is compiled in (one kernel per
# count): a constant trip count let LLVM keep the loop tight (RGB 3 -> 16 on 180x180, batch 32:
# 53 -> 35 ms; MNIST's 1 -> 32: 1.29 -> 0.93-1.25 ms; serial build).
@functools.cache
def _conv_max_pool_2x2(filters: int) -> Kernel:
    def kernel(images, taps, bias, relu, zero, kh, kw, out, argmax):
        n_images, _, _, channels = images.shape
        _, oh, ow, _ = out.shape
        right, below = filters, 2 * ow * filters  # flat offsets from a window's first output
        for n in numba.prange(n_images):
            sums = np.empty((4, filters), dtype=images.dtype)
            s00, s01, s10, s11 = sums[0], sums[1], sums[2], sums[3]
            image = images[n]
            for i in range(oh):
                for j in range(ow):
                    sums[:] = 0
                    t = 0
                    for a in range(kh):
                        top, bottom = image[2 * i + a], image[2 * i + a + 1]
                        for b in range(kw):
                            p00, p01 = top[2 * j + b], top[2 * j + b + 1]
                            p10, p11 = bottom[2 * j + b], bottom[2 * j + b + 1]
                            for c_in in range(channels):
                                v00, v01, v10, v11 = p00[c_in], p01[c_in], p10[c_in], p11[c_in]
                                tap = taps[t]
                                t += 1
                                for c in range(filters):
                                    weight = tap[c]
                                    s00[c] += v00 * weight
                                    s01[c] += v01 * weight
                                    s10[c] += v10 * weight
                                    s11[c] += v11 * weight
                    best_row, argmax_row = out[n, i, j], argmax[n, i, j]
                    first = (2 * i * 2 * ow + 2 * j) * filters
                    for c in range(filters):
                        best, at = max_of_2x2(
                            s00[c], s01[c], s10[c], s11[c], first + c, right, below
                        )
                        best_row[c] = activated(best + bias[c], relu, zero)
                        argmax_row[c] = at

    return Kernel(kernel, fma=True)


@functools.cache
def _conv_max_pool_2x2_kernel_grad(filters: int) -> Kernel:
    # grad_taps (chunks, KH*KW*Cin, filters), grad_bias (chunks, filters): each thread sums the
    # images of its chunk into its own. Each pooled gradient (masked where the ReLU cut) goes to
    # the one of its window's four outputs that won, as four rows of which three are zeros; the
    # kernel gradient adds, per tap, the four pixels under it times those rows. The routing loop
    # runs over the compiled-in filter count (unrolled whole: with a count read at run time it
    # stayed scalar, RGB 35 -> 51-65 ms, MNIST 0.91 -> 1.45 ms); the tap loop over one read at
    # run time (compiled in, LLVM unrolled 16 filters whole and left it scalar: 35 -> 101 ms).
    def kernel(images, grad, out, argmax, relu, zero, kh, kw, grad_taps, grad_bias):
        n_images, oh, ow, count = grad.shape  # count == filters
        channels = images.shape[3]
        chunks = grad_taps.shape[0]
        right, below = filters, 2 * ow * filters
        for chunk in numba.prange(chunks):
            sums, bias_sums = grad_taps[chunk], grad_bias[chunk]
            sums[:] = 0
            bias_sums[:] = 0
            to_winner = np.empty((4, filters), dtype=grad.dtype)  # the window's routed gradients
            g00, g01, g10, g11 = to_winner[0], to_winner[1], to_winner[2], to_winner[3]
            for n in range(chunk * n_images // chunks, (chunk + 1) * n_images // chunks):
                image = images[n]
                for i in range(oh):
                    for j in range(ow):
                        grad_row, out_row = grad[n, i, j], out[n, i, j]
                        argmax_row = argmax[n, i, j]
                        first = (2 * i * 2 * ow + 2 * j) * filters
                        for c in range(filters):
                            value = grad_row[c] if not relu or out_row[c] > 0 else zero
                            bias_sums[c] += value
                            cell = argmax_row[c] - first - c  # compared, never an address
                            r00, r01, r10, r11 = routed(value, cell, right, below, zero)
                            g00[c], g01[c], g10[c], g11[c] = r00, r01, r10, r11
                        t = 0
                        for a in range(kh):
                            top, bottom = image[2 * i + a], image[2 * i + a + 1]
                            for b in range(kw):
                                p00, p01 = top[2 * j + b], top[2 * j + b + 1]
                                p10, p11 = bottom[2 * j + b], bottom[2 * j + b + 1]
                                for c_in in range(channels):
                                    v00, v01 = p00[c_in], p01[c_in]
                                    v10, v11 = p10[c_in], p11[c_in]
                                    row = sums[t]
                                    t += 1
                                    for c in range(count):
                                        row[c] += (
                                            v00 * g00[c]
                                            + v01 * g01[c]
                                            + (v10 * g10[c] + v11 * g11[c])
                                        )

    return Kernel(kernel, fma=True)


@inline
def plus_tap(acc, v00, v01, v10, v11, g00, g01, g10, g11):
    # ``acc`` plus a tap's kernel gradient from one window: the four pixels under it times the
    # four outputs' routed gradients (three of them zeros), a chain of fused multiply-adds: the
    # grayscale kernel gradient ran 1.12x with it over adding the four products' sum. (In the
    # general kernel gradient it ran 1.00-1.03x alone but seemed slower in the RGB classifier's
    # step, in fresh processes; that one keeps the sum.)
    return (((acc + v00 * g00) + v01 * g01) + v10 * g10) + v11 * g11


@inline
def patch_4x4(image, i, j):
    # The 4x4 pixels of a 2D image under pooling window (i, j) of a 3x3 convolution's output
    # (rows 2i to 2i + 3, columns 2j to 2j + 3), row by row, as 16 scalars (a flat tuple:
    # unpacking nested ones failed Numba's parallel build).
    y, x = 2 * i, 2 * j
    return (
        image[y, x], image[y, x + 1], image[y, x + 2], image[y, x + 3],
        image[y + 1, x], image[y + 1, x + 1], image[y + 1, x + 2], image[y + 1, x + 3],
        image[y + 2, x], image[y + 2, x + 1], image[y + 2, x + 2], image[y + 2, x + 3],
        image[y + 3, x], image[y + 3, x + 1], image[y + 3, x + 2], image[y + 3, x + 3],
    )  # fmt: skip


@inline
def taps_3x3(x0, x1, x2, y0, y1, y2, z0, z1, z2, taps, c):
    # One output of filter c: three rows of three pixels times the nine taps' weights.
    return (
        x0 * taps[0, c] + x1 * taps[1, c] + x2 * taps[2, c]
        + y0 * taps[3, c] + y1 * taps[4, c] + y2 * taps[5, c]
        + z0 * taps[6, c] + z1 * taps[7, c] + z2 * taps[8, c]
    )  # fmt: skip


# The direct convolution + pool for a 3x3 kernel over one channel (grayscale images: the first
# layer of the course's MNIST and 150x150 models), and its kernel gradient, with the filters the
# only loop inside a pooling window: the window's 4x4 pixels are 16 scalars (rows a, b, c, d),
# each of its four outputs one expression of nine taps, so the sums stay in registers where the
# general kernels above keep four rows of them in memory, a load and a store per tap. The
# arg-max offsets are computed and compared in int32 (``lanes``, ``first``): in int64 they took
# half the forward's time, and the gradient ran 1.16x with them in int32. Measured alone
# (serial, MNIST 64x28x28x1 -> 32, the general kernels in turn): forward 0.64-0.66 against
# 1.29-1.80 ms, kernel gradient 0.79-1.05 against 1.01-2.50 ms, then 0.58-0.59 with the int32
# compares and plus_tap (against the general's 0.96-0.97); in the step, alternating in one
# process (before those two): MNIST training 1.055x, the 150x150 stack's 1.079x, MNIST's
# predict 1.123x.
@functools.cache
def _conv_3x3_gray_max_pool_2x2(filters: int) -> Kernel:
    def kernel(images, taps, bias, relu, zero, out, argmax):
        n_images, oh, ow, _ = out.shape
        right, below = np.int32(filters), np.int32(2 * ow * filters)
        lanes = np.arange(filters).astype(np.int32)
        for n in numba.prange(n_images):
            image = images[n, :, :, 0]
            for i in range(oh):
                for j in range(ow):
                    a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3 = patch_4x4(
                        image, i, j
                    )
                    best_row, argmax_row = out[n, i, j], argmax[n, i, j]
                    first = np.int32((2 * i * 2 * ow + 2 * j) * filters)
                    for c in range(filters):
                        best, at = max_of_2x2(
                            taps_3x3(a0, a1, a2, b0, b1, b2, c0, c1, c2, taps, c),
                            taps_3x3(a1, a2, a3, b1, b2, b3, c1, c2, c3, taps, c),
                            taps_3x3(b0, b1, b2, c0, c1, c2, d0, d1, d2, taps, c),
                            taps_3x3(b1, b2, b3, c1, c2, c3, d1, d2, d3, taps, c),
                            lanes[c] + first, right, below,
                        )  # fmt: skip
                        best_row[c] = activated(best + bias[c], relu, zero)
                        argmax_row[c] = at

    return Kernel(kernel, fma=True)


@functools.cache
def _conv_3x3_gray_max_pool_2x2_kernel_grad(filters: int) -> Kernel:
    def kernel(images, grad, out, argmax, relu, zero, grad_taps, grad_bias):
        n_images, oh, ow, _ = grad.shape
        chunks = grad_taps.shape[0]
        right, below = np.int32(filters), np.int32(2 * ow * filters)
        lanes = np.arange(filters).astype(np.int32)
        for chunk in numba.prange(chunks):
            sums, bias_sums = grad_taps[chunk], grad_bias[chunk]
            sums[:] = 0
            bias_sums[:] = 0
            for n in range(chunk * n_images // chunks, (chunk + 1) * n_images // chunks):
                image = images[n, :, :, 0]
                for i in range(oh):
                    for j in range(ow):
                        a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3 = patch_4x4(
                            image, i, j
                        )
                        grad_row, out_row = grad[n, i, j], out[n, i, j]
                        argmax_row = argmax[n, i, j]
                        first = np.int32((2 * i * 2 * ow + 2 * j) * filters)
                        for c in range(filters):
                            value = grad_row[c] if not relu or out_row[c] > 0 else zero
                            bias_sums[c] += value
                            cell = np.int32(argmax_row[c] - first - lanes[c])  # compared only
                            g00, g01, g10, g11 = routed(value, cell, right, below, zero)
                            sums[0, c] = plus_tap(sums[0, c], a0, a1, b0, b1, g00, g01, g10, g11)
                            sums[1, c] = plus_tap(sums[1, c], a1, a2, b1, b2, g00, g01, g10, g11)
                            sums[2, c] = plus_tap(sums[2, c], a2, a3, b2, b3, g00, g01, g10, g11)
                            sums[3, c] = plus_tap(sums[3, c], b0, b1, c0, c1, g00, g01, g10, g11)
                            sums[4, c] = plus_tap(sums[4, c], b1, b2, c1, c2, g00, g01, g10, g11)
                            sums[5, c] = plus_tap(sums[5, c], b2, b3, c2, c3, g00, g01, g10, g11)
                            sums[6, c] = plus_tap(sums[6, c], c0, c1, d0, d1, g00, g01, g10, g11)
                            sums[7, c] = plus_tap(sums[7, c], c1, c2, d1, d2, g00, g01, g10, g11)
                            sums[8, c] = plus_tap(sums[8, c], c2, c3, d2, d3, g00, g01, g10, g11)

    return Kernel(kernel, fma=True)


# The direct convolution + pool for a 3x3 kernel over 2 to DIRECT_MAX_CHANNELS channels (the
# flowers classifier's 3 -> 16), and its kernel gradient: the grayscale kernels' arithmetic one
# channel at a time, each channel's 4x4 pixels 16 scalars and its nine taps one expression per
# output, the filters the only loop inside. The four outputs' sums cross the channels in memory
# (the grayscale kernels keep theirs in registers: 1.25x faster over one channel, so they stay);
# the kernel gradient's rows are one flat array at offsets the compiler knows (``filters`` is
# compiled in), or its filter loop stayed scalar in the serial build. Measured alone against the
# general kernels above (flowers 32x180x180x3 -> 16, ms, serial / parallel): forward 34.2 /
# 17.4 -> 17.5 / 6.2, kernel gradient 34.6 / 20-29 -> 10.7-11.6 / 7.4-9.3.
@functools.cache
def _conv_3x3_max_pool_2x2(filters: int) -> Kernel:
    def kernel(images, taps, bias, relu, zero, out, argmax):
        # taps (Cin, 9, filters): channel by channel, each one's nine taps in row-major order
        n_images, oh, ow, _ = out.shape
        right, below = np.int32(filters), np.int32(2 * ow * filters)
        lanes = np.arange(filters).astype(np.int32)
        for n in numba.prange(n_images):
            sums = np.empty((4, filters), dtype=images.dtype)
            for i in range(oh):
                for j in range(ow):
                    sums[:] = 0
                    for c_in in range(images.shape[3]):
                        a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3 = patch_4x4(
                            images[n, :, :, c_in], i, j
                        )
                        nine = taps[c_in]
                        for c in range(filters):
                            sums[0, c] += taps_3x3(a0, a1, a2, b0, b1, b2, c0, c1, c2, nine, c)
                            sums[1, c] += taps_3x3(a1, a2, a3, b1, b2, b3, c1, c2, c3, nine, c)
                            sums[2, c] += taps_3x3(b0, b1, b2, c0, c1, c2, d0, d1, d2, nine, c)
                            sums[3, c] += taps_3x3(b1, b2, b3, c1, c2, c3, d1, d2, d3, nine, c)
                    best_row, argmax_row = out[n, i, j], argmax[n, i, j]
                    first = np.int32((2 * i * 2 * ow + 2 * j) * filters)
                    for c in range(filters):
                        best, at = max_of_2x2(
                            sums[0, c], sums[1, c], sums[2, c], sums[3, c], lanes[c] + first,
                            right, below,
                        )  # fmt: skip
                        best_row[c] = activated(best + bias[c], relu, zero)
                        argmax_row[c] = at

    return Kernel(kernel, fma=True)


@functools.cache
def _conv_3x3_max_pool_2x2_kernel_grad(filters: int) -> Kernel:
    def kernel(images, grad, out, argmax, relu, zero, grad_taps, grad_bias):
        # grad_taps (chunks, Cin, 9 * filters): a thread's channel's nine rows of filters, flat.
        # A window's routed gradients are made once, into ``routes`` (its four rows, flat), and
        # read for each channel (made again per channel: 1.2-1.5x slower, serial 1.6x).
        n_images, oh, ow, _ = grad.shape
        chunks = grad_taps.shape[0]
        right, below = np.int32(filters), np.int32(2 * ow * filters)
        lanes = np.arange(filters).astype(np.int32)
        for chunk in numba.prange(chunks):
            bias_sums = grad_bias[chunk]
            grad_taps[chunk] = 0
            bias_sums[:] = 0
            routes = np.empty(4 * filters, dtype=grad.dtype)
            for n in range(chunk * n_images // chunks, (chunk + 1) * n_images // chunks):
                for i in range(oh):
                    for j in range(ow):
                        grad_row, out_row = grad[n, i, j], out[n, i, j]
                        argmax_row = argmax[n, i, j]
                        first = np.int32((2 * i * 2 * ow + 2 * j) * filters)
                        for c in range(filters):
                            value = grad_row[c] if not relu or out_row[c] > 0 else zero
                            bias_sums[c] += value
                            cell = np.int32(argmax_row[c] - first - lanes[c])  # compared only
                            r00, r01, r10, r11 = routed(value, cell, right, below, zero)
                            routes[c], routes[filters + c] = r00, r01
                            routes[2 * filters + c], routes[3 * filters + c] = r10, r11
                        for c_in in range(images.shape[3]):
                            sums = grad_taps[chunk, c_in]
                            a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3 = (
                                patch_4x4(images[n, :, :, c_in], i, j)
                            )
                            for c in range(filters):
                                g00, g01 = routes[c], routes[filters + c]
                                g10, g11 = routes[2 * filters + c], routes[3 * filters + c]
                                t0, t1, t2 = c, filters + c, 2 * filters + c
                                t3, t4, t5 = 3 * filters + c, 4 * filters + c, 5 * filters + c
                                t6, t7, t8 = 6 * filters + c, 7 * filters + c, 8 * filters + c
                                sums[t0] = plus_tap(sums[t0], a0, a1, b0, b1, g00, g01, g10, g11)
                                sums[t1] = plus_tap(sums[t1], a1, a2, b1, b2, g00, g01, g10, g11)
                                sums[t2] = plus_tap(sums[t2], a2, a3, b2, b3, g00, g01, g10, g11)
                                sums[t3] = plus_tap(sums[t3], b0, b1, c0, c1, g00, g01, g10, g11)
                                sums[t4] = plus_tap(sums[t4], b1, b2, c1, c2, g00, g01, g10, g11)
                                sums[t5] = plus_tap(sums[t5], b2, b3, c2, c3, g00, g01, g10, g11)
                                sums[t6] = plus_tap(sums[t6], c0, c1, d0, d1, g00, g01, g10, g11)
                                sums[t7] = plus_tap(sums[t7], c1, c2, d1, d2, g00, g01, g10, g11)
                                sums[t8] = plus_tap(sums[t8], c2, c3, d2, d3, g00, g01, g10, g11)

    return Kernel(kernel, fma=True)


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


def depthwise_conv(x: np.ndarray, w: np.ndarray, win: Window) -> np.ndarray:
    """Each channel c of x (N, H, W, C) convolved with its own kernels w[:, :, c, m] (w is
    (KH, KW, C, M)): (N, OH, OW, C*M), output channel c*M + m from kernel m."""
    n, _, _, channels = bounds.images("depthwise_conv", "x", x)
    kh, kw, _, multiplier = bounds.depthwise_kernel("depthwise_conv", w.shape, channels, win)
    w_t = np.ascontiguousarray(w.transpose(0, 1, 3, 2))  # (KH, KW, M, C)
    out_t = workspace.empty((n, *win.out, multiplier, channels), x.dtype)
    work = x.size + out_t.size * kh * kw
    _depthwise_conv(work, np.ascontiguousarray(x), w_t, *win.geometry(), out_t)
    return _channels_by_kernel(out_t)


def depthwise_conv_input_grad(
    grad_out: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...], win: Window
) -> np.ndarray:
    """The gradient of :func:`depthwise_conv` with respect to x (N, H, W, C)."""
    bounds.depthwise_output("depthwise_conv_input_grad", grad_out, x_shape, w.shape, win)
    grad_x = workspace.empty(x_shape, grad_out.dtype)
    w_t = np.ascontiguousarray(w.transpose(0, 1, 3, 2))
    grad_t = _kernels_by_channel(grad_out, w.shape[3])
    work = grad_x.size + grad_t.size * w.shape[0] * w.shape[1]
    _depthwise_conv_input_grad(work, grad_t, w_t, *win.geometry(), grad_x)
    return grad_x


def depthwise_conv_kernel_grad(
    x: np.ndarray, grad_out: np.ndarray, w_shape: tuple[int, ...], win: Window
) -> np.ndarray:
    """The gradient of :func:`depthwise_conv` with respect to w (KH, KW, C, M): each thread
    sums a block of images into its own copy, and the copies are added at the end."""
    bounds.depthwise_output("depthwise_conv_kernel_grad", grad_out, x.shape, w_shape, win)
    kh, kw, channels, multiplier = w_shape
    grad_t = _kernels_by_channel(grad_out, multiplier)
    chunks = max(1, min(numba.get_num_threads(), x.shape[0]))
    partial = np.empty((chunks, kh, kw, multiplier, channels), dtype=grad_out.dtype)
    work = x.size + grad_t.size * kh * kw
    _depthwise_conv_kernel_grad(work, np.ascontiguousarray(x), grad_t, *win.geometry(), partial)
    return np.ascontiguousarray(partial.sum(axis=0).transpose(0, 1, 3, 2))


def _kernels_by_channel(grad_out: np.ndarray, multiplier: int) -> np.ndarray:
    """(N, OH, OW, C*M) in channel order c*M + m -> (N, OH, OW, M, C), contiguous."""
    n, oh, ow, depth = grad_out.shape
    grad = grad_out.reshape(n, oh, ow, depth // multiplier, multiplier)
    return np.ascontiguousarray(grad.transpose(0, 1, 2, 4, 3))


def _channels_by_kernel(out_t: np.ndarray) -> np.ndarray:
    """(N, OH, OW, M, C) -> (N, OH, OW, C*M) in channel order c*M + m (a view when M = 1)."""
    n, oh, ow, multiplier, channels = out_t.shape
    return out_t.transpose(0, 1, 2, 4, 3).reshape(n, oh, ow, channels * multiplier)


def conv_max_pool_2x2(
    x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, relu: bool, win: Window
) -> tuple[np.ndarray, np.ndarray]:
    """Images x (N, H, W, Cin) convolved with w (KH, KW, Cin, Cout) over ``win`` (stride 1, no
    dilation, an even output size), plus bias (Cout,), through max(., 0) if ``relu``, then max
    pooled 2x2: (N, OH/2, OW/2, Cout), and each maximum's flat offset (y*OW + x)*Cout + c in
    the convolution's output (what :func:`max_pool_forward` of that output gives), int32."""
    n, oh, ow, filters, images, taps = _direct_operands("conv_max_pool_2x2", x, w.shape, win)
    bounds.columns("conv_max_pool_2x2", "bias", bias, filters)
    out = workspace.empty((n, oh // 2, ow // 2, filters), x.dtype)
    argmax = workspace.empty(out.shape, np.int32)
    if bias is None:
        bias = np.zeros(filters, dtype=x.dtype)
    # The work, for the parallel rule: the multiply-adds of the four outputs under each pooled one
    # (it counted the filters twice over, and MNIST's first layer ran parallel: its training step
    # 1.033x and 1.088x serial, alternating in one process).
    work, zero = x.size + 4 * out.size * taps, x.dtype.type(0)
    taps = np.ascontiguousarray(w.reshape(taps, filters))
    if w.shape[:3] == (3, 3, 1):
        _conv_3x3_gray_max_pool_2x2(filters)(work, images, taps, bias, relu, zero, out, argmax)
    elif w.shape[:2] == (3, 3):
        by_channel = np.ascontiguousarray(w.transpose(2, 0, 1, 3).reshape(-1, 9, filters))
        _conv_3x3_max_pool_2x2(filters)(work, images, by_channel, bias, relu, zero, out, argmax)
    else:
        kernel = _conv_max_pool_2x2(filters)
        kernel(work, images, taps, bias, relu, zero, *win.kernel, out, argmax)
    return out, argmax


def conv_max_pool_2x2_kernel_grad(
    x: np.ndarray,
    grad_out: np.ndarray,
    out: np.ndarray,
    argmax: np.ndarray,
    relu: bool,
    w_shape: tuple[int, ...],
    win: Window,
) -> tuple[np.ndarray, np.ndarray]:
    """The gradients of :func:`conv_max_pool_2x2` with respect to its kernel (KH, KW, Cin,
    Cout) and bias (Cout,), from the gradient of its output and its ``out`` and ``argmax``.
    Each thread sums a block of images into its own copy; the copies are added at the end."""
    op = "conv_max_pool_2x2_kernel_grad"
    n, oh, ow, filters, images, taps = _direct_operands(op, x, w_shape, win)
    for name, array in (("grad_out", grad_out), ("out", out), ("argmax", argmax)):
        bounds.shape_is(op, name, array, (n, oh // 2, ow // 2, filters))
    chunks = max(1, min(numba.get_num_threads(), n))
    grad_taps = np.empty((chunks, taps, filters), dtype=grad_out.dtype)
    grad_bias = np.empty((chunks, filters), dtype=grad_out.dtype)
    operands = (
        images, np.ascontiguousarray(grad_out), np.ascontiguousarray(out),
        np.ascontiguousarray(argmax, dtype=np.int32), relu, grad_out.dtype.type(0),
    )  # fmt: skip
    work = x.size + 4 * grad_out.size * taps  # the multiply-adds, as the forward's
    if w_shape[:3] == (3, 3, 1):
        _conv_3x3_gray_max_pool_2x2_kernel_grad(filters)(work, *operands, grad_taps, grad_bias)
    elif w_shape[:2] == (3, 3):  # its rows channel by channel: (chunks, Cin, 9 * filters)
        by_channel = grad_taps.reshape(chunks, -1, 9 * filters)
        _conv_3x3_max_pool_2x2_kernel_grad(filters)(work, *operands, by_channel, grad_bias)
        by_tap = by_channel.sum(axis=0).reshape(-1, 3, 3, filters).transpose(1, 2, 0, 3)
        return np.ascontiguousarray(by_tap), grad_bias.sum(axis=0)
    else:
        kernel = _conv_max_pool_2x2_kernel_grad(filters)
        kernel(work, *operands, *win.kernel, grad_taps, grad_bias)
    return grad_taps.sum(axis=0).reshape(w_shape), grad_bias.sum(axis=0)


def _direct_operands(
    op: str, x: np.ndarray, w_shape: tuple[int, ...], win: Window
) -> tuple[int, int, int, int, np.ndarray, int]:
    """Checks for the direct convolution; returns N, the convolution's output OH and OW, the
    filter count, the images zero-padded to cover every tap (x itself if it does), and the
    number of taps KH*KW*Cin."""
    n, oh, ow, filters = bounds.direct_conv_pool(op, x.shape, w_shape, win)
    _, height, width, channels = x.shape
    kh, kw = win.kernel
    rows, columns = oh + kh - 1, ow + kw - 1  # the padded extent every tap reads
    top, left = win.pad_top, win.pad_left
    if top == left == 0 and rows <= height and columns <= width:
        return n, oh, ow, filters, np.ascontiguousarray(x), kh * kw * channels
    images = workspace.empty((n, rows, columns, channels), x.dtype)
    bottom = top + max(0, min(height, rows - top))
    right = left + max(0, min(width, columns - left))
    # The image, then zeros in the frame around it only (zeroing it all first was a second
    # pass over the 12.7 MB of the flowers classifier's batch: 1.2 -> 0.7 ms).
    images[:, top:bottom, left:right] = x[:, : bottom - top, : right - left]
    images[:, :top] = images[:, bottom:] = 0
    images[:, top:bottom, :left] = images[:, top:bottom, right:] = 0
    return n, oh, ow, filters, images, kh * kw * channels


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
