"""Winograd F(2x2, 3x3) transforms for a 3x3 convolution at stride 1 followed by a 2x2 max pool.

Each 2x2 block of the convolution's output (one pooling window) is computed from the 4x4 tile
of input under it as Y = A^T [(G g G^T) * (B^T d B)] A: the products of the 16 transformed taps
become 16 matrix products (tiles, Cin) x (Cin, Cout), 2.25x fewer multiplications than im2col's
(the ops module runs them, and G's transform of the kernel, as matrix products). These kernels
are the transforms on either side: the input tiles' B^T d B (and its adjoint, which adds the
tiles' gradients back into the images), and the output's A^T m A fused with bias, ReLU and the
2x2 max pool (and its backward, which routes each pooled gradient to its winner and through
A^T m A's adjoint). With

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]],

the transforms are adds and subtracts only, applied to rows then columns, over the channels
(innermost and contiguous, so the loops vectorize). Transformed arrays are (16, tiles, C):
entry 4*a + b of a tile is row a, column b of its transformed 4x4 (the products' leading
axis); tile (n*PH + i)*PW + j covers output rows 2i, 2i+1 and columns 2j, 2j+1 of image n.
"""

from __future__ import annotations

import numba
import numpy as np

from autoconv.backends import bounds
from autoconv.backends.cpu import workspace
from autoconv.backends.cpu.conv import activated, max_of_2x2, routed
from autoconv.backends.cpu.jit import Kernel
from autoconv.windows import Window


@Kernel
def _input_tiles(images, top, left, ph, pw, tiles):
    # A strip of four padded rows at a time: B^T d over the whole strip (one long loop over
    # columns and channels), then d B per tile. Copying each 4x4 tile into a local array
    # first took 0.86 ms at MNIST's second convolution (batch 64), this 0.52 ms.
    n_images, height, width, channels = images.shape
    columns = 2 * pw + 2  # the padded columns the tiles read
    inside = max(0, min(width, columns - left))  # the image's columns among them
    for n in numba.prange(n_images):
        rows = np.zeros((4, columns * channels), dtype=images.dtype)  # 0 in the padding
        t = np.empty((4, columns * channels), dtype=images.dtype)  # B^T d
        start, stop = left * channels, (left + inside) * channels
        for i in range(ph):
            for r in range(4):
                y = 2 * i + r - top
                if 0 <= y < height:
                    rows[r, start:stop] = images[n, y, :inside].reshape(stop - start)
                else:
                    rows[r, start:stop] = 0
            d0, d1, d2, d3 = rows[0], rows[1], rows[2], rows[3]
            t0, t1, t2, t3 = t[0], t[1], t[2], t[3]
            for e in range(columns * channels):
                t0[e] = d0[e] - d2[e]
                t1[e] = d1[e] + d2[e]
                t2[e] = d2[e] - d1[e]
                t3[e] = d1[e] - d3[e]
            for j in range(pw):
                tile, first = (n * ph + i) * pw + j, 2 * j * channels
                for a in range(4):
                    ta = t[a, first : first + 4 * channels]
                    v0, v1 = tiles[4 * a, tile], tiles[4 * a + 1, tile]
                    v2, v3 = tiles[4 * a + 2, tile], tiles[4 * a + 3, tile]
                    for c in range(channels):
                        x0, x1 = ta[c], ta[channels + c]
                        x2, x3 = ta[2 * channels + c], ta[3 * channels + c]
                        v0[c] = x0 - x2
                        v1[c] = x1 + x2
                        v2[c] = x2 - x1
                        v3[c] = x1 - x3


@Kernel
def _input_tiles_grad(grad_tiles, top, left, ph, pw, grad_x):
    # The adjoint, a strip at a time: dV B^T per tile, added into the strip's four rows (tiles
    # side by side share two columns), then B (dV B^T) over the strip, added into the images'
    # rows (strips one above the other share two rows). Each thread owns its images.
    n_images, height, width, channels = grad_x.shape
    columns = 2 * pw + 2
    inside = max(0, min(width, columns - left))
    for n in numba.prange(n_images):
        t = np.empty((4, columns * channels), dtype=grad_x.dtype)  # dV B^T
        dd = np.empty((4, columns * channels), dtype=grad_x.dtype)  # B dV B^T
        grad_x[n] = 0
        start = left * channels
        for i in range(ph):
            t[:] = 0
            for j in range(pw):
                tile, first = (n * ph + i) * pw + j, 2 * j * channels
                for a in range(4):
                    ta = t[a, first : first + 4 * channels]
                    v0, v1 = grad_tiles[4 * a, tile], grad_tiles[4 * a + 1, tile]
                    v2, v3 = grad_tiles[4 * a + 2, tile], grad_tiles[4 * a + 3, tile]
                    for c in range(channels):
                        ta[c] += v0[c]
                        ta[channels + c] += v1[c] - v2[c] + v3[c]
                        ta[2 * channels + c] += v1[c] + v2[c] - v0[c]
                        ta[3 * channels + c] -= v3[c]
            t0, t1, t2, t3 = t[0], t[1], t[2], t[3]
            dd0, dd1, dd2, dd3 = dd[0], dd[1], dd[2], dd[3]
            for e in range(columns * channels):
                dd0[e] = t0[e]
                dd1[e] = t1[e] - t2[e] + t3[e]
                dd2[e] = t1[e] + t2[e] - t0[e]
                dd3[e] = -t3[e]
            for r in range(4):
                y = 2 * i + r - top
                if 0 <= y < height:
                    row, strip = grad_x[n, y, :inside].reshape(inside * channels), dd[r, start:]
                    for e in range(inside * channels):
                        row[e] += strip[e]


@Kernel
def _output_max_pool(products, bias, relu, zero, out, argmax):
    n_images, ph, pw, filters = out.shape
    right, below = filters, 2 * pw * filters  # flat offsets from a window's first output
    for n in numba.prange(n_images):
        s = np.empty((2, 4, filters), dtype=out.dtype)  # A^T m
        for i in range(ph):
            for j in range(pw):
                tile = (n * ph + i) * pw + j
                for b in range(4):
                    m0, m1 = products[b, tile], products[4 + b, tile]
                    m2, m3 = products[8 + b, tile], products[12 + b, tile]
                    for c in range(filters):
                        s[0, b, c] = m0[c] + m1[c] + m2[c]
                        s[1, b, c] = m1[c] - m2[c] - m3[c]
                best_row, argmax_row = out[n, i, j], argmax[n, i, j]
                first = (2 * i * 2 * pw + 2 * j) * filters
                top0, top1, top2, top3 = s[0, 0], s[0, 1], s[0, 2], s[0, 3]
                low0, low1, low2, low3 = s[1, 0], s[1, 1], s[1, 2], s[1, 3]
                for c in range(filters):  # Y = (A^T m) A, then pooled
                    best, at = max_of_2x2(
                        top0[c] + top1[c] + top2[c], top1[c] - top2[c] - top3[c],
                        low0[c] + low1[c] + low2[c], low1[c] - low2[c] - low3[c],
                        first + c, right, below,
                    )  # fmt: skip
                    best_row[c] = activated(best + bias[c], relu, zero)
                    argmax_row[c] = at


@Kernel
def _output_max_pool_grad(grad, out, argmax, relu, zero, grad_products, grad_bias):
    # Each pooled gradient (masked where the ReLU cut) goes to its window's winner, as a 2x2 dY
    # of which three are zeros, then through A^T m A's adjoint: dM = A (dY A^T), each of the 16
    # rows written as one contiguous run (through a strided (16, C) view per tile: 5.2 ms at
    # MNIST's second convolution against 0.41 ms).
    n_images, ph, pw, filters = grad.shape
    chunks = grad_bias.shape[0]
    right, below = filters, 2 * pw * filters
    for chunk in numba.prange(chunks):
        bias_sums = grad_bias[chunk]
        bias_sums[:] = 0
        e = np.empty((2, 4, filters), dtype=grad.dtype)  # dY A^T
        for n in range(chunk * n_images // chunks, (chunk + 1) * n_images // chunks):
            for i in range(ph):
                for j in range(pw):
                    grad_row, out_row, argmax_row = grad[n, i, j], out[n, i, j], argmax[n, i, j]
                    first = (2 * i * 2 * pw + 2 * j) * filters
                    top0, top1, top2, top3 = e[0, 0], e[0, 1], e[0, 2], e[0, 3]
                    low0, low1, low2, low3 = e[1, 0], e[1, 1], e[1, 2], e[1, 3]
                    for c in range(filters):
                        value = grad_row[c] if not relu or out_row[c] > 0 else zero
                        bias_sums[c] += value
                        cell = argmax_row[c] - first - c  # compared, never an address
                        g00, g01, g10, g11 = routed(value, cell, right, below, zero)
                        top0[c], top1[c], top2[c], top3[c] = g00, g00 + g01, g00 - g01, -g01
                        low0[c], low1[c], low2[c], low3[c] = g10, g10 + g11, g10 - g11, -g11
                    tile = (n * ph + i) * pw + j
                    for b in range(4):
                        e0, e1 = e[0, b], e[1, b]
                        m0, m1 = grad_products[b, tile], grad_products[4 + b, tile]
                        m2, m3 = grad_products[8 + b, tile], grad_products[12 + b, tile]
                        for c in range(filters):
                            m0[c] = e0[c]
                            m1[c] = e0[c] + e1[c]
                            m2[c] = e0[c] - e1[c]
                            m3[c] = -e1[c]


def winograd_input(x: np.ndarray, win: Window) -> np.ndarray:
    """Images x (N, H, W, C) under a 3x3 stride-1 window ``win`` of even output size (OH, OW)
    -> their transformed 4x4 tiles B^T d B, (16, N*OH/2*OW/2, C); cells in the padding read 0."""
    n, ph, pw = bounds.winograd_tiles("winograd_input", x.shape, win)
    tiles = workspace.empty((16, n * ph * pw, x.shape[3]), x.dtype)
    _input_tiles(2 * tiles.size, np.ascontiguousarray(x), win.pad_top, win.pad_left, ph, pw, tiles)
    return tiles


def winograd_input_grad(
    grad_tiles: np.ndarray, x_shape: tuple[int, ...], win: Window, out: np.ndarray | None = None
) -> np.ndarray:
    """The adjoint of :func:`winograd_input`: the gradient of the images (N, H, W, C) from
    that of their transformed tiles (16, N*OH/2*OW/2, C); each tile's B dV B^T added back
    where it was read. Written into ``out`` when given."""
    op = "winograd_input_grad"
    n, ph, pw = bounds.winograd_tiles(op, x_shape, win)
    bounds.shape_is(op, "grad_tiles", grad_tiles, (16, n * ph * pw, x_shape[3]))
    grad_x = (
        workspace.empty(x_shape, grad_tiles.dtype)
        if out is None
        else bounds.output(op, "out", out, np.ndarray, x_shape, grad_tiles.dtype)
    )
    grad_tiles = np.ascontiguousarray(grad_tiles)
    _input_tiles_grad(2 * grad_tiles.size, grad_tiles, win.pad_top, win.pad_left, ph, pw, grad_x)
    return grad_x


def winograd_max_pool_2x2(
    products: np.ndarray,
    n: int,
    win: Window,
    bias: np.ndarray | None,
    relu: bool,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The convolution's output from the 16 products (16, N*OH/2*OW/2, Cout) of n images'
    tiles (:func:`winograd_input`) with the transformed kernel, A^T m A per tile, + bias,
    max(., 0) if ``relu``, max pooled 2x2: (N, OH/2, OW/2, Cout), and each maximum's flat
    offset (y*OW + x)*Cout + c in the convolution's output, int32 (as max_pool_forward).
    Written into ``out``, a (maxima, arg-max) pair, when given."""
    op = "winograd_max_pool_2x2"
    ph, pw, filters = bounds.winograd_products(op, products.shape, n, win, bias)
    shape = (n, ph, pw, filters)
    out, argmax = (
        bounds.output_pair(op, out, np.ndarray, shape, products.dtype)
        if out is not None
        else (workspace.empty(shape, products.dtype), workspace.empty(shape, np.int32))
    )
    if bias is None:
        bias = np.zeros(filters, dtype=products.dtype)
    zero = products.dtype.type(0)
    products = np.ascontiguousarray(products)
    _output_max_pool(products.size + out.size, products, bias, relu, zero, out, argmax)
    return out, argmax


def winograd_max_pool_2x2_grad(
    grad_out: np.ndarray, out: np.ndarray, argmax: np.ndarray, relu: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(gradient of the 16 products (16, N*PH*PW, Cout), bias gradient (Cout,)) of
    :func:`winograd_max_pool_2x2` from the gradient of its output (N, PH, PW, Cout) and its
    ``out`` and ``argmax``. An arg-max that is none of its window's four offsets routes
    nothing. Each thread sums a block of images' bias gradient into its own row."""
    op = "winograd_max_pool_2x2_grad"
    n, ph, pw, filters = bounds.images(op, "grad_out", grad_out.shape)
    for name, array in (("out", out), ("argmax", argmax)):
        bounds.shape_is(op, name, array, grad_out.shape)
    grad_products = workspace.empty((16, n * ph * pw, filters), grad_out.dtype)
    chunks = max(1, min(numba.get_num_threads(), n))
    grad_bias = np.empty((chunks, filters), dtype=grad_out.dtype)
    _output_max_pool_grad(
        grad_products.size, np.ascontiguousarray(grad_out), np.ascontiguousarray(out),
        np.ascontiguousarray(argmax, dtype=np.int32), relu, grad_out.dtype.type(0),
        grad_products, grad_bias,
    )  # fmt: skip
    return grad_products, grad_bias.sum(axis=0)
