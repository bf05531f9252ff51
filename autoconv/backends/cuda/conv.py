"""Convolution kernels on the GPU: im2col and col2im (one thread per input cell gathers what
was read from it: no atomics, the same sum order every run), the depthwise convolution and its
gradients, the bias + ReLU passes over a convolution's product, and the direct convolution
fused with bias, ReLU and 2x2 max pooling. The names of :mod:`autoconv.backends.cpu.conv`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, empty, zeros
from autoconv.backends.cuda.reduce import sum_columns
from autoconv.backends.cuda.runtime import cached_kernel, launch
from autoconv.windows import Window

# A convolution (autoconv.ops.convolution) runs the whole batch at once up to this many bytes
# of windows (or Winograd tiles and products), and keeps them for the backward; a bigger one in
# slices of as many. The CPU's 4 MB slices are for its caches; here a slice of one image (the
# flowers classifier's 90x90 convolution at batch 32, 4.7 MB of windows an image) is a grid a
# fraction of the GPU wide, and every slice adds its launches: its step was 630 launches, 32
# slices each in its second and third convolutions (bench/results/2026-11-25-gpu-whole-batch.md).
# 512 MB bounds the windows of one convolution on a GPU of a few GB.
SLICE_BYTES = WHOLE_BATCH_BYTES = 512 * 2**20


@cached_kernel
def _im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, cols, zero):
    _, height, width, channels = x.shape
    columns = kh * kw * channels
    for e in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        row, q = e // columns, e % columns
        n, pixel = row // (oh * ow), row % (oh * ow)
        i, j = pixel // ow, pixel % ow
        a, rest = q // (kw * channels), q % (kw * channels)
        b, c = rest // channels, rest % channels
        y, xx = i * sh - pt + a * dh, j * sw - pl + b * dw
        value = zero
        if 0 <= y < height and 0 <= xx < width:
            value = x[n, y, xx, c]
        cols[row, q] = value


@cached_kernel
def _col2im(cols, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, grad_x, zero):
    # One thread per input cell gathers every column entry read from it: no atomics, and the
    # same sum order every run.
    _, height, width, channels = grad_x.shape
    for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
        c = e % channels
        xx = (e // channels) % width
        y = (e // (channels * width)) % height
        n = e // (channels * width * height)
        total = zero
        for a in range(kh):
            ti = y + pt - a * dh
            if ti < 0 or ti % sh != 0 or ti // sh >= oh:
                continue
            for b in range(kw):
                tj = xx + pl - b * dw
                if tj < 0 or tj % sw != 0 or tj // sw >= ow:
                    continue
                row = (n * oh + ti // sh) * ow + tj // sw
                total += cols[row, (a * kw + b) * channels + c]
        grad_x[n, y, xx, c] = total


@cached_kernel
def _depthwise_conv(x, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, out, zero):
    # One thread per output cell; channel q = c*M + m reads input channel c and kernel m.
    _, height, width, channels = x.shape
    multiplier = w.shape[3]
    depth = channels * multiplier
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        q = e % depth
        j = (e // depth) % ow
        i = (e // (depth * ow)) % oh
        n = e // (depth * ow * oh)
        c, m = q // multiplier, q % multiplier
        total = zero
        for a in range(kh):
            y = i * sh - pt + a * dh
            if 0 <= y < height:
                for b in range(kw):
                    xx = j * sw - pl + b * dw
                    if 0 <= xx < width:
                        total += x[n, y, xx, c] * w[a, b, c, m]
        out[n, i, j, q] = total


@cached_kernel
def _depthwise_conv_input_grad(grad_out, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, grad_x, zero):
    # One thread per input cell gathers the gradient of every output that read it (as col2im).
    _, height, width, channels = grad_x.shape
    multiplier = w.shape[3]
    for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
        c = e % channels
        xx = (e // channels) % width
        y = (e // (channels * width)) % height
        n = e // (channels * width * height)
        total = zero
        for a in range(kh):
            ti = y + pt - a * dh
            if ti < 0 or ti % sh != 0 or ti // sh >= oh:
                continue
            for b in range(kw):
                tj = xx + pl - b * dw
                if tj < 0 or tj % sw != 0 or tj // sw >= ow:
                    continue
                for m in range(multiplier):
                    total += grad_out[n, ti // sh, tj // sw, c * multiplier + m] * w[a, b, c, m]
        grad_x[n, y, xx, c] = total


@cuda.jit(device=True)
def _depthwise_kernel_grad_entry(args, r, e):
    # Column e = kernel cell (a, b, c, m), channels adjacent (a warp reads adjacent channels
    # of a pixel); row r = output pixel.
    x, grad_out, _, kw, sh, sw, dh, dw, pt, pl, oh, ow, zero = args
    _, height, width, channels = x.shape
    multiplier = grad_out.shape[3] // channels
    m, c = e % multiplier, (e // multiplier) % channels
    b, a = (e // (multiplier * channels)) % kw, e // (multiplier * channels * kw)
    j, i, n = r % ow, (r // ow) % oh, r // (ow * oh)
    y, xx = i * sh - pt + a * dh, j * sw - pl + b * dw
    if 0 <= y < height and 0 <= xx < width:
        return x[n, y, xx, c] * grad_out[n, i, j, c * multiplier + m]
    return zero


@cached_kernel
def _conv_max_pool_2x2(x, taps, bias, relu, zero, kh, kw, pt, pl, out, argmax):
    # One thread per pooled output: its window's four convolution outputs, each summed tap by
    # tap in the CPU kernel's order (cells in the padding read 0), then the first maximum in
    # row-major order (a NaN wins), + bias, ReLU.
    _, height, width, channels = x.shape
    _, oh, ow, filters = out.shape
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        c = e % filters
        j = (e // filters) % ow
        i = (e // (filters * ow)) % oh
        n = e // (filters * ow * oh)
        best, where = zero, 0
        for cell in range(4):
            y0, x0 = 2 * i + cell // 2, 2 * j + cell % 2  # in the convolution's output
            total = zero
            for a in range(kh):
                y = y0 - pt + a
                for b in range(kw):
                    xx = x0 - pl + b
                    if 0 <= y < height and 0 <= xx < width:
                        for c_in in range(channels):
                            total += x[n, y, xx, c_in] * taps[(a * kw + b) * channels + c_in, c]
            if cell == 0 or total > best or (total != total and best == best):
                best, where = total, (y0 * 2 * ow + x0) * filters + c
        out[n, i, j, c] = activated(best + bias[c], relu, zero)
        argmax[n, i, j, c] = where


@cuda.jit(device=True)
def _direct_kernel_grad_entry(args, r, e):
    # Column e = kernel entry (tap t, filter c), or bias entry (t == taps), filters adjacent (a
    # warp reads adjacent gradients); row r = pooled output, its gradient (masked where the
    # ReLU cut) routed to its window's winner.
    x, grad, out, argmax, relu, kh, kw, pt, pl, zero = args
    _, height, width, channels = x.shape
    _, oh, ow, filters = grad.shape
    t, c = e // filters, e % filters
    j, i, n = r % ow, (r // ow) % oh, r // (ow * oh)
    value = grad[n, i, j, c]
    if relu and not out[n, i, j, c] > 0:
        return zero
    if t == kh * kw * channels:
        return value
    a, b, c_in = t // (kw * channels), (t // channels) % kw, t % channels
    for cell in range(4):  # the arg-max is compared, never used as an address
        y0, x0 = 2 * i + cell // 2, 2 * j + cell % 2
        if argmax[n, i, j, c] == (y0 * 2 * ow + x0) * filters + c:
            y, xx = y0 - pt + a, x0 - pl + b
            if 0 <= y < height and 0 <= xx < width:
                return x[n, y, xx, c_in] * value
    return zero


@cuda.jit(device=True)
def activated(value, relu, zero):
    """max(value, 0) if relu (NaN stays NaN, as np.maximum), else value."""
    return value if not relu or value > 0 or value != value else zero


@cached_kernel
def _bias_relu(out, bias, relu, zero):
    columns = bias.size
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        value = out[e // columns, e % columns] + bias[e % columns]
        out[e // columns, e % columns] = activated(value, relu, zero)


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


def im2col(x: CudaArray, win: Window) -> CudaArray:
    """(N, H, W, C) -> (N*OH*OW, KH*KW*C): one row per output pixel, its window unrolled."""
    n, _, _, channels = bounds.images("im2col", "x", x)
    cols = empty((n * win.out[0] * win.out[1], win.kernel[0] * win.kernel[1] * channels), x.dtype)
    launch(_im2col, cols.size)(x.nd, *win.geometry(), cols.nd, x.dtype.type(0))
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
    launch(_col2im, grad_x.size)(cols.nd, *win.geometry(), grad_x.nd, cols.dtype.type(0))
    return grad_x


def depthwise_conv(x: CudaArray, w: CudaArray, win: Window) -> CudaArray:
    """Each channel c of x (N, H, W, C) convolved with its own kernels w[:, :, c, m] (w is
    (KH, KW, C, M)): (N, OH, OW, C*M), output channel c*M + m from kernel m."""
    channels = bounds.images("depthwise_conv", "x", x)[3]
    bounds.depthwise_kernel("depthwise_conv", w.shape, channels, win)
    out = empty((x.shape[0], *win.out, x.shape[3] * w.shape[3]), x.dtype)
    launch(_depthwise_conv, out.size)(x.nd, w.nd, *win.geometry(), out.nd, x.dtype.type(0))
    return out


def depthwise_conv_input_grad(
    grad_out: CudaArray, w: CudaArray, x_shape: tuple[int, ...], win: Window
) -> CudaArray:
    """The gradient of :func:`depthwise_conv` with respect to x (N, H, W, C)."""
    bounds.depthwise_output("depthwise_conv_input_grad", grad_out, x_shape, w.shape, win)
    grad_x = empty(x_shape, grad_out.dtype)
    launch(_depthwise_conv_input_grad, grad_x.size)(
        grad_out.nd, w.nd, *win.geometry(), grad_x.nd, grad_out.dtype.type(0)
    )
    return grad_x


def depthwise_conv_kernel_grad(
    x: CudaArray, grad_out: CudaArray, w_shape: tuple[int, ...], win: Window
) -> CudaArray:
    """The gradient of :func:`depthwise_conv` with respect to w (KH, KW, C, M)."""
    bounds.depthwise_output("depthwise_conv_kernel_grad", grad_out, x.shape, w_shape, win)
    n, oh, ow = grad_out.shape[:3]
    args = (x.nd, grad_out.nd, *win.geometry(), grad_out.dtype.type(0))
    grad_w = sum_columns(
        _depthwise_kernel_grad_entry, args, n * oh * ow, math.prod(w_shape), grad_out.dtype
    )
    return grad_w.reshape(w_shape)


def conv_max_pool_2x2(
    x: CudaArray, w: CudaArray, bias: CudaArray | None, relu: bool, win: Window
) -> tuple[CudaArray, CudaArray]:
    """The direct convolution (stride 1, no dilation, even output size) + bias, ReLU if
    ``relu``, and 2x2 max pooling: (pooled (N, OH/2, OW/2, Cout), int32 arg-max, each winner's
    flat offset (y*OW + x)*Cout + c in the convolution's output)."""
    n, oh, ow, filters = bounds.direct_conv_pool("conv_max_pool_2x2", x.shape, w.shape, win)
    bounds.columns("conv_max_pool_2x2", "bias", bias, filters)
    out = empty((n, oh // 2, ow // 2, filters), x.dtype)
    argmax = empty(out.shape, np.int32)
    if bias is None:
        bias = zeros((filters,), x.dtype)
    taps = w.reshape(-1, filters)
    launch(_conv_max_pool_2x2, out.size)(
        x.nd, taps.nd, bias.flat, relu, x.dtype.type(0), *win.kernel, win.pad_top,
        win.pad_left, out.nd, argmax.nd,
    )  # fmt: skip
    return out, argmax


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
    :func:`conv_max_pool_2x2`."""
    op = "conv_max_pool_2x2_kernel_grad"
    n, oh, ow, filters = bounds.direct_conv_pool(op, x.shape, w_shape, win)
    for name, array in (("grad_out", grad_out), ("out", out), ("argmax", argmax)):
        bounds.shape_is(op, name, array, (n, oh // 2, ow // 2, filters))
    taps = w_shape[0] * w_shape[1] * w_shape[2]
    args = (x.nd, grad_out.nd, out.nd, argmax.nd, relu, *win.kernel, win.pad_top, win.pad_left,
            grad_out.dtype.type(0))  # fmt: skip
    rows = n * (oh // 2) * (ow // 2)
    grad_taps, grad_bias = sum_columns(
        _direct_kernel_grad_entry, args, rows, (taps + 1) * filters, grad_out.dtype,
        split=taps * filters,
    )  # fmt: skip
    return grad_taps.reshape(w_shape), grad_bias


def bias_relu(out: CudaArray, bias: CudaArray | None, relu: bool) -> CudaArray:
    """In place on a (rows, C) product: add the per-column bias, then max(., 0) if ``relu``."""
    if out.ndim != 2:
        raise ValueError(f"bias_relu: out must be (rows, C), got shape {out.shape}")
    bounds.columns("bias_relu", "bias", bias, out.shape[1])
    if bias is None:
        bias = zeros((out.shape[1],), out.dtype)
    launch(_bias_relu, out.size)(out.nd, bias.flat, relu, out.dtype.type(0))
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
