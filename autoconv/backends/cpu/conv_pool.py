"""The direct convolution fused with bias, ReLU and 2x2 max pooling, for images of few channels
(a network's first layer), and its kernel gradient: general kernels for any kernel size, and
kernels of their own for a 3x3 kernel (over one channel, grayscale, and over a few). The
convolution's output is never written: each pooling window's four outputs are summed and pooled
where they are made. Layout and windows as in :mod:`autoconv.backends.cpu.conv`, whose rules
for the activation and the pooling's winner these kernels share with the pools.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from autoconv.backends import bounds
from autoconv.backends.cpu import workspace
from autoconv.backends.cpu.conv import activated, max_of_2x2, routed
from autoconv.backends.cpu.jit import Kernel, inline
from autoconv.windows import Window


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
