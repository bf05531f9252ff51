"""Winograd F(2x2, 3x3) transforms on the GPU, the names of :mod:`autoconv.backends.cpu.winograd`
(which explains the scheme and the layout). One thread per output entry, each summing the
entries it is made of with the transforms' coefficients (all 0, 1 or -1: added or subtracted,
never multiplied); the images' gradient is a gather, one thread per input cell over the tiles
that read it: no atomics, the same sum order every run."""

from __future__ import annotations

import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, empty, zeros
from autoconv.backends.cuda.conv import activated
from autoconv.backends.cuda.reduce import sum_columns
from autoconv.backends.cuda.runtime import cached_kernel, launch
from autoconv.windows import Window

# The transforms' coefficients, compiled into the kernels as constants: the input tile's
# V = B^T d B and the output's Y = A^T M A.
_B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.int32)
_A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.int32)


@cached_kernel
def _input_tiles(x, top, left, ph, pw, tiles, zero):
    # Entry 4a + b of a tile: the sum over its 4x4 cells d[r, s] of B^T[a, r] B^T[b, s] d[r, s].
    _, height, width, channels = x.shape
    count = tiles.shape[1]
    for e in range(cuda.grid(1), tiles.size, cuda.gridsize(1)):
        c = e % channels
        tile = (e // channels) % count
        a, b = e // (channels * count) // 4, e // (channels * count) % 4
        j, i, n = tile % pw, (tile // pw) % ph, tile // (pw * ph)
        total = zero
        for r in range(4):
            y = 2 * i + r - top
            if _B_T[a, r] == 0 or not 0 <= y < height:
                continue
            for s in range(4):
                xx = 2 * j + s - left
                if _B_T[b, s] == 0 or not 0 <= xx < width:
                    continue
                value = x[n, y, xx, c]
                total += value if _B_T[a, r] == _B_T[b, s] else -value
        tiles[4 * a + b, tile, c] = total


@cached_kernel
def _input_tiles_grad(grad_tiles, top, left, ph, pw, grad_x, zero):
    # Each input cell gathers, from every tile that read it as its cell (r, s), the sum over
    # a, b of B^T[a, r] B^T[b, s] dV[4a + b].
    _, height, width, channels = grad_x.shape
    for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
        c = e % channels
        xx = (e // channels) % width
        y = (e // (channels * width)) % height
        n = e // (channels * width * height)
        row, column = y + top, xx + left  # in the padded images
        total = zero
        for i in range(max(0, (row - 2) // 2), min(ph, row // 2 + 1)):
            r = row - 2 * i
            for j in range(max(0, (column - 2) // 2), min(pw, column // 2 + 1)):
                s, tile = column - 2 * j, (n * ph + i) * pw + j
                for a in range(4):
                    if _B_T[a, r] == 0:
                        continue
                    for b in range(4):
                        if _B_T[b, s] == 0:
                            continue
                        value = grad_tiles[4 * a + b, tile, c]
                        total += value if _B_T[a, r] == _B_T[b, s] else -value
        grad_x[n, y, xx, c] = total


@cached_kernel
def _output_max_pool(products, bias, relu, zero, out, argmax):
    # One thread per pooled output: its tile's four outputs Y[p, q] (the sum over a, b of
    # A^T[p, a] A^T[q, b] M[4a + b]), the first maximum in row-major order (a NaN wins), + bias,
    # ReLU.
    _, ph, pw, filters = out.shape
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        c = e % filters
        j = (e // filters) % pw
        i = (e // (filters * pw)) % ph
        n = e // (filters * pw * ph)
        tile = (n * ph + i) * pw + j
        best, where = zero, 0
        for cell in range(4):
            p, q = cell // 2, cell % 2
            total = zero
            for a in range(4):
                if _A_T[p, a] == 0:
                    continue
                for b in range(4):
                    if _A_T[q, b] == 0:
                        continue
                    value = products[4 * a + b, tile, c]
                    total += value if _A_T[p, a] == _A_T[q, b] else -value
            if cell == 0 or total > best or (total != total and best == best):
                best, where = total, ((2 * i + p) * 2 * pw + 2 * j + q) * filters + c
        out[n, i, j, c] = activated(best + bias[c], relu, zero)
        argmax[n, i, j, c] = where


@cuda.jit(device=True)
def _routed(grad, out, argmax, relu, zero, grad_products, tile, c):
    """Pooled output ``c`` of ``tile``: its gradient (masked where the ReLU cut) routed to its
    window's winner (p, q), then dM[4a + b] = A^T[p, a] A^T[q, b] g; returns the masked
    gradient. An arg-max that is none of the window's four offsets routes nothing (it is
    compared, never an address)."""
    _, ph, pw, filters = grad.shape
    j, i, n = tile % pw, (tile // pw) % ph, tile // (pw * ph)
    value = grad[n, i, j, c]
    if relu and not out[n, i, j, c] > 0:
        value = zero
    p, q, at = -1, -1, argmax[n, i, j, c]
    for cell in range(4):
        if at == ((2 * i + cell // 2) * 2 * pw + 2 * j + cell % 2) * filters + c:
            p, q = cell // 2, cell % 2
    for k in range(16):
        a, b = k // 4, k % 4
        routed = zero
        if p >= 0 and _A_T[p, a] != 0 and _A_T[q, b] != 0:
            routed = value if _A_T[p, a] == _A_T[q, b] else -value
        grad_products[k, tile, c] = routed
    return value


@cuda.jit(device=True)
def _routed_entry(args, tile, c):
    # Row = tile, column = filter: the masked gradient routed (so the bias gradient is the
    # masked gradients' .sum(axis=0), to the bit, made in the routing pass).
    grad, out, argmax, relu, zero, grad_products = args
    return _routed(grad, out, argmax, relu, zero, grad_products, tile, c)


def winograd_input(x: CudaArray, win: Window) -> CudaArray:
    """Images x (N, H, W, C) under a 3x3 stride-1 window ``win`` of even output size (OH, OW)
    -> their transformed 4x4 tiles B^T d B, (16, N*OH/2*OW/2, C); cells in the padding read 0."""
    n, ph, pw = bounds.winograd_tiles("winograd_input", x.shape, win)
    tiles = empty((16, n * ph * pw, x.shape[3]), x.dtype)
    launch(_input_tiles, tiles.size)(
        x.nd, win.pad_top, win.pad_left, ph, pw, tiles.nd, x.dtype.type(0)
    )
    return tiles


def winograd_input_grad(
    grad_tiles: CudaArray, x_shape: tuple[int, ...], win: Window, out: CudaArray | None = None
) -> CudaArray:
    """The adjoint of :func:`winograd_input`: the gradient of the images (N, H, W, C), written
    into ``out`` when given."""
    op = "winograd_input_grad"
    n, ph, pw = bounds.winograd_tiles(op, x_shape, win)
    bounds.shape_is(op, "grad_tiles", grad_tiles, (16, n * ph * pw, x_shape[3]))
    grad_x = (
        empty(x_shape, grad_tiles.dtype)
        if out is None
        else bounds.output(op, "out", out, CudaArray, x_shape, grad_tiles.dtype)
    )
    launch(_input_tiles_grad, grad_x.size)(
        grad_tiles.nd, win.pad_top, win.pad_left, ph, pw, grad_x.nd, grad_tiles.dtype.type(0)
    )
    return grad_x


def winograd_max_pool_2x2(
    products: CudaArray,
    n: int,
    win: Window,
    bias: CudaArray | None,
    relu: bool,
    out: tuple[CudaArray, CudaArray] | None = None,
) -> tuple[CudaArray, CudaArray]:
    """A^T m A of each tile's 16 products (16, N*OH/2*OW/2, Cout), + bias, ReLU if ``relu``,
    max pooled 2x2: (N, OH/2, OW/2, Cout), and the int32 arg-max (as max_pool_forward);
    written into ``out``, a (maxima, arg-max) pair, when given."""
    op = "winograd_max_pool_2x2"
    ph, pw, filters = bounds.winograd_products(op, products.shape, n, win, bias)
    shape = (n, ph, pw, filters)
    out, argmax = (
        bounds.output_pair(op, out, CudaArray, shape, products.dtype)
        if out is not None
        else (empty(shape, products.dtype), empty(shape, np.int32))
    )
    if bias is None:
        bias = zeros((filters,), products.dtype)
    launch(_output_max_pool, out.size)(
        products.nd, bias.flat, relu, products.dtype.type(0), out.nd, argmax.nd
    )
    return out, argmax


def winograd_max_pool_2x2_grad(
    grad_out: CudaArray, out: CudaArray, argmax: CudaArray, relu: bool
) -> tuple[CudaArray, CudaArray]:
    """(gradient of the 16 products (16, N*PH*PW, Cout), bias gradient (Cout,)) of
    :func:`winograd_max_pool_2x2`."""
    op = "winograd_max_pool_2x2_grad"
    n, ph, pw, filters = bounds.images(op, "grad_out", grad_out.shape)
    for name, array in (("out", out), ("argmax", argmax)):
        bounds.shape_is(op, name, array, grad_out.shape)
    grad_products = empty((16, n * ph * pw, filters), grad_out.dtype)
    zero = grad_out.dtype.type(0)
    args = (grad_out.nd, out.nd, argmax.nd, relu, zero, grad_products.nd)
    grad_bias = sum_columns(_routed_entry, args, n * ph * pw, filters, grad_out.dtype)
    return grad_products, grad_bias
