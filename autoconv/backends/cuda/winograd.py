"""Winograd F(2x2, 3x3) transforms on the GPU, the names of :mod:`autoconv.backends.cpu.winograd`
(which explains the scheme and the layout). Each output entry is the sum of the entries it is
made of with the transforms' coefficients (all 0, 1 or -1: added or subtracted, never
multiplied); the images' gradient is a gather, each input cell's over the tiles that read it:
no atomics, the same sum order every run."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, empty, zeros
from autoconv.backends.cuda.conv import _pixel, _stepped, activated
from autoconv.backends.cuda.reduce import sum_columns
from autoconv.backends.cuda.runtime import cached_kernel, launch_lines, line_run, unsigned
from autoconv.backends.cuda.runtime import unsigned32 as U
from autoconv.windows import Window

# The transforms' coefficients, compiled into the kernels as constants: the input tile's
# V = B^T d B and the output's Y = A^T M A.
_B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.int32)
# Each row of B^T as its two nonzero columns (ascending) and their signs: entry 4a + b of an
# input tile is the sum of the four cells (_B_ROWS[a, u], _B_ROWS[b, v]), u-major, each signed
# _B_SIGNS[a, u] * _B_SIGNS[b, v].
_B_ROWS = np.array([np.flatnonzero(row) for row in _B_T], dtype=np.int32)
_B_SIGNS = np.array([row[row != 0] for row in _B_T], dtype=np.int32)
_A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.int32)
# Each row of A^T as its three nonzero columns (ascending) and their signs, as _B_ROWS.
_A_ROWS = np.array([np.flatnonzero(row) for row in _A_T], dtype=np.int32)
_A_SIGNS = np.array([row[row != 0] for row in _A_T], dtype=np.int32)


# The kernels run over tiles or pixels (lines) of channels (entries) in runtime's line layout:
# a thread takes one channel down a run of them, each pixel stepped from the last
# (conv._stepped). Arrays are flat: x and grad_x (N, H, W, C) of x_shape, tiles and products
# (16, N*PH*PW, C), out and argmax (N, PH, PW, C).


@cached_kernel
def _input_tiles(x, x_shape, top, left, ph, pw, tiles, zero, span, run):
    # Entry 4a + b of a tile: the sum over its 4x4 cells d[r, s] of B^T[a, r] B^T[b, s]
    # d[r, s], r-major, the terms of zero coefficients skipped: four cells (_B_ROWS), each
    # added or subtracted. A cell in the padding reads as +0, which changes no sum's bits (a sum
    # begun at +0 is never -0, and +0 or -0 added to anything else leaves it). The thread reads
    # its tile's 16 cells once and writes its 16 entries.
    n_images, height, width, channels = x_shape
    count = n_images * ph * pw
    c, first, lanes, end = line_run(span, run, count)
    if c >= channels:
        return
    cells = cuda.local.array(16, tiles.dtype)
    plane = count * channels  # from entry 4a + b of a tile to the next
    n, i, j = _pixel(first, ph, pw)
    for tile in range(first, end, lanes):
        y0, x0 = 2 * i - top, 2 * j - left
        row = ((n * height + y0) * width + x0) * channels + c  # cell (0, 0), maybe outside
        for r in range(4):
            cell = row
            for s in range(4):
                inside = 0 <= y0 + r < height and 0 <= x0 + s < width
                cells[4 * r + s] = x[unsigned(cell)] if inside else zero
                cell += channels
            row += width * channels
        at = tile * channels + c
        for a in range(4):
            for b in range(4):
                total = zero
                for u in range(2):
                    for v in range(2):
                        value = cells[4 * _B_ROWS[a, u] + _B_ROWS[b, v]]
                        if _B_SIGNS[a, u] == _B_SIGNS[b, v]:
                            total += value
                        else:
                            total += -value  # as written before: a NaN's sign kept alike
                tiles[unsigned(at)] = total
                at += plane
        n, i, j = _stepped(n, i, j, lanes, ph, pw)


@cached_kernel
def _input_tiles_grad(grad_tiles, top, left, ph, pw, grad_x, x_shape, zero, span, run):
    # Each input cell gathers, from every tile that read it as its cell (r, s), the sum over
    # a, b of B^T[a, r] B^T[b, s] dV[4a + b]: the tiles i = ri - 1 (its r = p + 2) and ri
    # (r = p) of its padded row 2 ri + p, likewise j, that exist, i-major, each's terms a-major
    # (_cell_gather, compiled for each parity (p, q)).
    n_images, height, width, channels = x_shape
    count = n_images * ph * pw
    c, first, lanes, end = line_run(span, run, n_images * height * width)
    if c >= channels:
        return
    plane = count * channels  # from entry 4a + b of a tile to the next
    tiles = (plane, ph, pw, channels, c)
    n, y, xx = _pixel(first, height, width)
    for pixel in range(first, end, lanes):
        row, column = y + top, xx + left  # in the padded images
        ri, cj = row // 2, column // 2
        if row % 2 == 0:
            if column % 2 == 0:
                total = _gather_even_even(grad_tiles, tiles, n, ri, cj, zero)
            else:
                total = _gather_even_odd(grad_tiles, tiles, n, ri, cj, zero)
        elif column % 2 == 0:
            total = _gather_odd_even(grad_tiles, tiles, n, ri, cj, zero)
        else:
            total = _gather_odd_odd(grad_tiles, tiles, n, ri, cj, zero)
        grad_x[unsigned(pixel * channels + c)] = total
        n, y, xx = _stepped(n, y, xx, lanes, height, width)


@cuda.jit(device=True)
def _add_terms(grad_tiles, at, plane, total, terms):
    # ``total`` plus the terms of a tile's cell (see _tile_terms; compiled-in constants): each
    # entry 4a + b at ``at + (4a + b) plane``, added or subtracted (as ``-value``: a NaN's sign
    # as the CPU's).
    entries, added = terms
    for t in range(len(entries)):
        value = grad_tiles[unsigned(at + entries[t] * plane)]
        total += value if added[t] else -value
    return total


def _tile_terms(r: int, s: int) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """The terms of a tile's cell (r, s), B^T[a, r] B^T[b, s] dV[4a + b] for the nonzero
    coefficients, a-major: their entries 4a + b and whether each is added (else subtracted).
    Passed to _add_terms as constants, so that it is compiled once a count of terms (1, 3 or 9)
    rather than once a cell: 16 compiles of the same loop took a cold start ~0.7 s more."""
    terms = [(4 * a + b, bool(_B_T[a, r] == _B_T[b, s]))
             for a in range(4) for b in range(4) if _B_T[a, r] and _B_T[b, s]]  # fmt: skip
    return tuple(e for e, _ in terms), tuple(same for _, same in terms)


def _cell_gather(p: int, q: int) -> Any:
    """The gather of a cell of padded row 2 ri + p, column 2 cj + q (p, q compiled in): the
    terms of tiles (ri - 1, cj - 1), (ri - 1, cj), (ri, cj - 1), (ri, cj) that exist, in that
    order, as the tiles' cells (p + 2, q + 2), (p + 2, q), (p, q + 2), (p, q)."""
    up_left, up, left, here = (_tile_terms(p + 2, q + 2), _tile_terms(p + 2, q),
                               _tile_terms(p, q + 2), _tile_terms(p, q))  # fmt: skip

    @cuda.jit(device=True)
    def gather(grad_tiles, tiles, n, ri, cj, zero):
        plane, ph, pw, channels, c = tiles
        total = zero
        at = ((n * ph + ri - 1) * pw + cj - 1) * channels + c  # tile (ri - 1, cj - 1)
        step = pw * channels  # to the tile below
        if 1 <= ri <= ph:
            if 1 <= cj <= pw:
                total = _add_terms(grad_tiles, at, plane, total, up_left)
            if cj < pw:
                total = _add_terms(grad_tiles, at + channels, plane, total, up)
        if ri < ph:
            if 1 <= cj <= pw:
                total = _add_terms(grad_tiles, at + step, plane, total, left)
            if cj < pw:
                total = _add_terms(grad_tiles, at + step + channels, plane, total, here)
        return total

    return gather


_gather_even_even, _gather_even_odd = _cell_gather(0, 0), _cell_gather(0, 1)
_gather_odd_even, _gather_odd_odd = _cell_gather(1, 0), _cell_gather(1, 1)


@cached_kernel
def _output_max_pool(products, bias, relu, zero, out, out_shape, argmax, span, run):
    # Pooled output (n, i, j) of filter c: its tile's four outputs Y[p, q] (the sum over a, b
    # of A^T[p, a] A^T[q, b] M[4a + b]), the first maximum in row-major order (a NaN wins),
    # + bias, ReLU. The tile's 16 products are read once (each output adds 9 of them).
    n_images, ph, pw, filters = out_shape
    count = n_images * ph * pw
    c, first, lanes, end = line_run(span, run, count)
    if c >= filters:
        return
    plane = count * filters  # from product 4a + b of a tile to the next
    m = cuda.local.array(16, products.dtype)
    n, i, j = _pixel(first, ph, pw)
    for tile in range(first, end, lanes):
        at = tile * filters + c
        for k in range(16):
            m[k] = products[unsigned(at)]
            at += plane
        best, where = zero, 0
        for cell in range(4):
            p, q = cell // 2, cell % 2
            total = zero
            for u in range(3):  # the nonzero coefficients' products, a-major
                for v in range(3):
                    value = m[4 * _A_ROWS[p, u] + _A_ROWS[q, v]]
                    if _A_SIGNS[p, u] == _A_SIGNS[q, v]:
                        total += value
                    else:
                        total += -value
            if cell == 0 or total > best or (total != total and best == best):
                best, where = total, ((2 * i + p) * 2 * pw + 2 * j + q) * filters + c
        out[unsigned(tile * filters + c)] = activated(best + bias[c], relu, zero)
        argmax[unsigned(tile * filters + c)] = where
        n, i, j = _stepped(n, i, j, lanes, ph, pw)


@cache
def _routed_entry(ph: int, pw: int, wide: bool) -> Any:
    """The column sums' entry (row = tile, column = filter) for pooled outputs of ph x pw, known
    when compiled (a tile's (i, j) by multiply-highs): the pooled gradient (masked where the
    ReLU cut) routed to its window's winner (p, q), then dM[4a + b] = A^T[p, a] A^T[q, b] g
    written to grad_products; the masked gradient summed (so the bias gradient is the masked
    gradients' .sum(axis=0), to the bit, made in the routing pass). An arg-max that is none of
    the window's four offsets routes nothing (it is compared, never an address). Offsets are
    32-bit unless grad_products has 2**32 entries or more (``wide``)."""
    index = unsigned if wide else U
    top, bottom = (tuple(int(v) for v in row) for row in _A_T)  # A^T's rows, in registers
    nothing = (0, 0, 0, 0)

    @cuda.jit(device=True)
    def entry(args, tile, c):
        # grad, out, argmax (N*PH*PW, C) and grad_products (16, N*PH*PW, C) flat; ``plane``
        # = N*PH*PW*C, one product's entries.
        grad, out, argmax, relu, zero, grad_products, filters, plane = args
        row = index(tile)
        at = index(row * filters + c)
        value = grad[at]
        if relu and not out[at] > 0:
            value = zero
        pixel = U(row % U(ph * pw))
        i, j = pixel // U(pw), pixel % U(pw)
        row_p, row_q, winner = nothing, nothing, argmax[at]
        for cell in range(4):
            if winner == U(U(U(2 * i + cell // 2) * U(2 * pw) + U(2 * j + cell % 2)) * filters + c):
                row_p = top if cell // 2 == 0 else bottom
                row_q = top if cell % 2 == 0 else bottom
        offset = at  # dM[4a + b]'s, stepped a plane at a time
        for a in range(4):
            for b in range(4):
                routed = zero
                if row_p[a] != 0 and row_q[b] != 0:
                    routed = value if row_p[a] == row_q[b] else -value
                grad_products[offset] = routed
                offset = index(offset + plane)
        return value

    return entry


def winograd_input(x: CudaArray, win: Window) -> CudaArray:
    """Images x (N, H, W, C) under a 3x3 stride-1 window ``win`` of even output size (OH, OW)
    -> their transformed 4x4 tiles B^T d B, (16, N*OH/2*OW/2, C); cells in the padding read 0."""
    n, ph, pw = bounds.winograd_tiles("winograd_input", x.shape, win)
    tiles = empty((16, n * ph * pw, x.shape[3]), x.dtype)
    if tiles.size:
        launch_lines(_input_tiles, x.shape[3], n * ph * pw)(
            x.flat, x.shape, win.pad_top, win.pad_left, ph, pw, tiles.flat, x.dtype.type(0)
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
    if grad_x.size:
        launch_lines(_input_tiles_grad, x_shape[3], math.prod(x_shape[:3]))(
            grad_tiles.flat, win.pad_top, win.pad_left, ph, pw, grad_x.flat, tuple(x_shape),
            grad_tiles.dtype.type(0),
        )  # fmt: skip
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
    if out.size:
        launch_lines(_output_max_pool, filters, n * ph * pw)(
            products.flat, bias.flat, relu, products.dtype.type(0), out.flat, shape, argmax.flat
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
    plane = n * ph * pw * filters
    args = (grad_out.flat, out.flat, argmax.flat, relu, zero, grad_products.flat, filters, plane)
    entry = _routed_entry(ph, pw, grad_products.size >= 2**32)
    grad_bias = sum_columns(entry, args, n * ph * pw, filters, grad_out.dtype)
    return grad_products, grad_bias
