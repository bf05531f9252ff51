"""The matrix product on the GPU, the one home of matrix products in this backend: one tiled
kernel (shared-memory tiles of both operands, a register tile of the output per thread, read
from shared memory in vector loads while the next tiles' elements are fetched) that batches
over leading axes, reads a transposed operand strided, splits a long contracted axis
over blocks when there are few output tiles (the last block of a tile adding the parts, in
order), adds a bias and applies a ReLU as it writes the output (Dense's and the convolution's
epilogue), and makes several products in one launch (:func:`matmuls`: a backward's two). Its
tile constants are globals of this module: ``matmul`` reads ``BLOCK`` and ``SPLIT_*`` at each
call, the kernel its tile sizes when it is compiled (at its first launch).

Where cuBLAS loads (a GPU with the ``cuda`` extra's libraries), float32 and float64 products
go to it instead (:mod:`autoconv.backends.cuda.cublas`; ``ROUTE``), the epilogue then a pass
of its own; the kernel keeps the rest (other dtypes, the simulator, ``AUTOCONV_GEMM=autoconv``).

(Over ~600 lines on purpose: the kernel, its tiles and the split and routing decisions that
pick them are one piece; split, each half would be read only with the other open.)
"""

from __future__ import annotations

import math
import os
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends import bounds, precision
from autoconv.backends.cuda import cublas, tensor_cores
from autoconv.backends.cuda.array import CudaArray, empty, zeros
from autoconv.backends.cuda.conv import activated, bias_relu
from autoconv.backends.cuda.elementwise import broadcast_to
from autoconv.backends.cuda.reduce import arrival_counters, column_sums, count_arrival
from autoconv.backends.cuda.runtime import (
    SHARED_ALIGN,
    SIMULATED,
    cached_kernel,
    configure,
    unsigned,
    unsigned32,
)
from autoconv.backends.cuda.tensor_cores import WARP, mma_tf32, round_tf32

# Which products cuBLAS computes (AUTOCONV_GEMM in the environment, read at import; the module
# global read at each product, so a test or benchmark can change it): "cublas" (the default),
# every float32 and float64 product whose sizes fit its C ints but those below, where the
# library loads;
# "autoconv", none (this module's kernel, for every product). On an H200 cuBLAS took a third to
# a half of the kernel's time on the course models' large products (see cublas.py).
ROUTES = ("cublas", "autoconv")
ROUTE = os.environ.get("AUTOCONV_GEMM", "cublas")
# Products the kernel splits (few output tiles, a long contracted axis: kernel gradients) stay
# on it when batched or of at most KERNEL_OUTPUT entries: there cuBLAS ran at 1-16 TFLOP/s on an
# H200, the stack model's Winograd kernel gradient (16 products of 32 x 32 over 41,472) in
# 1,377 us against the kernel's 86, the flowers classifier's first (27 x 16 over 1,036,800) in
# 231 us; larger split products ran at 30-54 there (the small Xception's 512 x 512 over 64,800:
# 649 us; bench/results/2026-11-26-gpu-h200-cublas.md).
KERNEL_OUTPUT = 16384
# Matrix product tiling: a block of SIDE x SIDE threads computes a tile of the output, each
# thread a register tile of it: BLOCK x BLOCK (a thread's PER_THREAD x PER_THREAD), or, when
# every product of a launch has at most BLOCK / 2 columns (32 filters), 2 BLOCK x BLOCK / 2, so
# that no thread computes columns that are not there (BLOCK x BLOCK / 2 split; BLOCK / 2 x
# BLOCK for at most BLOCK / 2 rows: see _tile). A
# tile's shape changes only which block computes an entry, not its sum: the same bits either
# way (unless it changes how a split product's contracted axis is cut). On the simulator, 8 x
# 8 tiles of 4 x 4 threads, 2 x 2 entries each, k tiles of 4 (its threads load a tile as a
# GPU's do: see _spacing): it runs every entry of a tile in Python, so a test's small products
# spend little on entries that are not there.
BLOCK = 8 if SIMULATED else 64
PER_THREAD = 2 if SIMULATED else 4
TILE_K = 4 if SIMULATED else 16
SIDE = BLOCK // PER_THREAD  # threads along each side of a block
# With TensorFloat-32 (autoconv.backends.precision's "high"), float32 products run on tensor
# cores: TC_TILE x TC_TILE output tiles on 16 x 16 threads (8 warps in 2 rows of 4, each a
# TC_TILE / 2 x TC_TILE / 4 part of the tile: at 64, 2 x 2 fragments of mma.m16n8k8,
# tensor_cores.py; at 128, 4 x 4, which read half as many shared values per multiplication),
# k tiles of TC_TILE_K, the operands rounded to TF32 as they are put in shared memory (each row
# of a tile padded by 8: the warps' fragment loads fall in distinct banks). 128 on a GPU: on an
# H200 the small Xception's TF32 training step took 26.5 ms at 128 against 28.1 at 64 (float32:
# 33.9), its prediction step 46.0 against 55.3
# (bench/results/2026-11-26-gpu-h200-second-figures.md). 64 on the simulator (256 threads a
# block there too, whose emulation of the warp's instruction stands in for it): a quarter of the
# emulated work a tile; its tests run both sizes.
TC_TILE, TC_SIDE = (64 if SIMULATED else 128), 16
TC_TILE_K = 8 if SIMULATED else 16
# A product whose output tiles (times its batches) make fewer than SPLIT_BLOCKS blocks and whose
# contracted axis is long (a kernel gradient: 9 x 32 outputs summed over 43,264 pixels; a
# Winograd kernel gradient: 16 products of 32 x 64 over 15,488 tiles) splits that axis into
# chunks of at least SPLIT_MIN_CHUNK, up to about SPLIT_BLOCKS blocks in all (two a streaming
# multiprocessor on an H100's 132; a guess, not yet measured). Each block writes its part of
# the tile; the last of a tile's blocks to finish (an arrival counter) adds the parts in split
# order and writes the tile with the epilogue: one launch, the same bits every run. Chunks of
# 64 (four k tiles): on an H200, MNIST's products over 576 in chunks of 256 or more (2 blocks a
# tile, 18 k tiles each one after another) took 22-34 us of a 1.15 ms step
# (bench/results/2026-11-26-gpu-h200-first-figures.md); not yet measured with 64.
SPLIT_BLOCKS = 4 if SIMULATED else 256
SPLIT_MIN_CHUNK = 16 if SIMULATED else 64
# A tile's last block adds its parts one after another, a round of loads a part, while the
# rest of the GPU waits (85 parts of 2,048 entries for the flowers classifier's second kernel
# gradient, 128 for its Dense(128)'s forward): a product split into APART_PARTS parts or more,
# one of a batch, leaves them to a launch of the column sums after it instead, over every
# multiprocessor, and its epilogue (a bias, a ReLU) to a pass after that.
APART_PARTS = 32
# A launch's blocks lie along one grid axis, each product's after the last's: products launched
# together (a backward's input and kernel gradients) can differ in shape by orders of magnitude,
# and a grid as wide as the widest and as tall as the tallest was mostly blocks with nothing to do
# (a million of the flowers classifier's, 1.6 ms of its 7.2 ms step on an H200: see
# bench/results/2026-11-26-gpu-h200-first-figures.md).
MAX_GRID_BLOCKS = 2**31 - 1  # the most blocks along a grid's first axis
# Shared-tile indices are unsigned (no negative-index fix-up), global ones int64: each cast to
# its type before the two meet (numba-cuda types int64 with uint64 as float64). On the simulator
# plain ints (see runtime.unsigned).
U, I64 = unsigned32, (int if SIMULATED else numba.int64)
# A thread's offsets into the operands are 32-bit (cheaper arithmetic, fewer registers) unless an
# operand of the launch has WIDE_OPERAND elements or more.
WIDE_OPERAND = 2**32
THREADS = SIDE * SIDE  # a block's


def _spacing(length: int, per: int, tile_k: int, threads: int) -> None:
    """Refuse tile constants under which a thread's loads of an operand's shared tile (of
    ``length`` positions per k, ``per`` a thread's) are not evenly spaced (see _plan), or more
    than a 32-bit mask's."""
    if (
        threads % tile_k
        or threads % length
        or threads // tile_k % per
        or tile_k * length > 32 * threads
    ):
        raise ValueError(
            f"matmul tiles: {threads} threads do not load a {tile_k} x {length} tile evenly "
            f"({per} positions a thread)"
        )


@cuda.jit(device=True)
def _plan(thread, operand, bounds, layout):
    """This thread's loads of an operand's tiles, evenly spaced: load i is k ``kk + i *
    kk_step`` of the tile and line (A's row, B's column) ``line + i * line_step``, kept at
    ``place + i * place_step`` in the shared tile. Adjacent threads load adjacent k when
    ``along_k`` (the operand's contiguous axis), else adjacent positions of the tile, whose line
    is the one kept there (see _matmul_kernel); a load's position moves by a multiple of ``per``
    (_spacing), so its line moves evenly too. ``operand`` = (base, line stride, k stride),
    ``bounds`` = (k_begin, first line, end), ``layout`` = (the tile's stride per k, positions,
    per, along_k, k tile, threads, side, loads). Returns (the first load's offset in the operand
    at the first k tile, its step from load to load, place, place_step, kk, kk_step, a mask of
    the loads that lie on the operand's lines: bit i for load i)."""
    base, line_stride, k_stride = operand
    k_begin, first, end = bounds
    stride, length, per, along_k, tile_k, threads, side, loads = layout
    if along_k:
        kk, at, step = thread % tile_k, thread // tile_k, threads // tile_k
        place_step, kk_step, line_step = step, U(0), step // per
    else:
        kk, at, step = thread // length, thread % length, threads // length
        place_step, kk_step, line_step = step * stride, step, U(0)
    line = first + I64((at % per) * side + at // per)  # signed from here
    offset = base + line * line_stride + (k_begin + I64(kk)) * k_stride
    offset_step = I64(line_step) * line_stride + I64(kk_step) * k_stride
    lines = U(0)
    for i in range(loads):
        if line + I64(U(i) * line_step) < end:
            lines |= U(1) << U(i)
    return offset, offset_step, kk * stride + at, place_step, kk, kk_step, lines


@cache
def _fetch(wide: bool) -> Any:
    """The device function that makes a thread's loads of an operand's k tile, its offsets in
    the operand 32-bit, or 64-bit where an operand has 2**32 elements or more (``wide``)."""
    index = unsigned if wide else U

    @cuda.jit(device=True)
    def fetch(staged, x, offset, offset_step, lines, kk, kk_step, room, zero):
        # The loads planned by _plan (``offset`` the first's at this tile) into ``staged``:
        # those on the operand's ``lines`` (a mask) and before the contracted axis's end, ``room``
        # k past the tile's first; the rest 0.
        for i in range(len(staged)):
            within = (lines >> U(i)) & U(1) != U(0) and U(kk + U(i) * kk_step) < room
            staged[i] = x[index(offset + i * offset_step)] if within else zero

    return fetch


@cuda.jit(device=True)
def _stage(tile, staged, place, place_step, tf32):
    """The values ``_fetch`` staged into their places in the shared ``tile`` (from
    ``place``, ``place_step`` apart), rounded to TF32 if ``tf32``."""
    for i in range(len(staged)):
        tile[place + U(i) * place_step] = round_tf32(staged[i]) if tf32 else staged[i]


@cuda.jit(device=True)
def _finished(value, bias, col, epilogue, zero):
    """An output entry as written: + bias[col] (bit 1 of ``epilogue``), then max(., 0) (bit 2;
    NaN stays NaN), as bias_relu would after the product."""
    if epilogue & 1:
        value = value + bias[col]
    if epilogue & 2:
        value = activated(value, True, zero)
    return value


@cache
def _matmul_kernel(
    dtype: str, tile_rows: int, tile_columns: int, tensor_cores: bool, wide: bool = False
) -> Any:
    """The product kernel for output tiles of ``tile_rows`` x ``tile_columns`` (multiples of
    SIDE), multiplied by the threads in ``dtype`` or, with ``tensor_cores`` (float32 tiles of
    TC_TILE x TC_TILE only), by warps in TF32 (see TC_TILE); ``wide`` for operands of
    WIDE_OPERAND elements or more (64-bit offsets into them)."""
    item = numba.from_dtype(np.dtype(dtype))
    fetch, offset = _fetch(wide), I64 if wide else U
    if tensor_cores and (tile_rows % 32 or tile_columns % 32 or dtype != "<f4"):
        raise ValueError("tensor cores multiply float32 tiles of multiples of 32 each way only")
    side, tile_k = (TC_SIDE, TC_TILE_K) if tensor_cores else (SIDE, TILE_K)
    threads = side * side
    per_row, per_column = tile_rows // side, tile_columns // side  # a thread's register tile
    # The shared tiles, a row of tile_rows (tile_columns) entries per k. The threads' own: padded
    # by 4 (16-byte rows), a tile row or column rr kept at position (rr % side) * per + rr //
    # side, so the per_row rows a thread multiplies (ty, ty + side, ...) sit side by side and
    # are read in one vector load. The warps': rr at rr, padded by 8. Shared indices are
    # unsigned 32-bit (U): no negative-index fix-up in the loop.
    pad, per_a, per_b = (8, 1, 1) if tensor_cores else (4, per_row, per_column)
    a_stride, b_stride = U(tile_rows + pad), U(tile_columns + pad)
    a_size, b_size = tile_k * (tile_rows + pad), tile_k * (tile_columns + pad)
    loads_a, loads_b = tile_k * tile_rows // threads, tile_k * tile_columns // threads
    _spacing(tile_rows, per_a, tile_k, threads)
    _spacing(tile_columns, per_b, tile_k, threads)
    # The simulator's stand-in for a warp's registers (see tensor_cores); one entry on a GPU.
    scratch_shape = (threads, 6) if tensor_cores and SIMULATED else (1, 1)

    @cached_kernel
    def kernel(a, b, out, parts, strides, sizes, first, zero, bias, epilogue, arrivals):
        # One or more products in one launch: product p's operands a[p], b[p] (flat, read at
        # the element strides strides[p] = (a batch, a row, a column, b batch, b row, b
        # column)), its output out[p], its sizes[p] = (m, n, k, chunk, splits, counter: -1 where
        # its parts are left to a launch of their own), its
        # blocks those of the (one-axis) grid from first[p]: its column tiles, then its row
        # tiles, then its batch * splits (see _launch), every block a tile's.
        # Shared-memory tiles of A (tile_rows x tile_k) and B (tile_k x tile_columns); each
        # thread keeps a per_row x per_column block of the output in registers, entry (r, c)
        # the tile's (rows_at[r], columns_at[c]). Its z is batch * splits + split: the block
        # sums the slice [split*chunk, (split+1)*chunk) of the contracted axis. Split, it writes
        # its sums to parts[p] (batch * splits + split, m, n) and counts itself in
        # arrivals[counter + the tile's index]; the tile's last block adds the parts in split
        # order. Each entry is written to out[p] through _finished.
        tile_a = cuda.shared.array(a_size, item, alignment=SHARED_ALIGN)
        tile_b = cuda.shared.array(b_size, item, alignment=SHARED_ALIGN)
        scratch = cuda.shared.array(scratch_shape, item)
        last = cuda.shared.array(1, numba.int32)
        acc = cuda.local.array((per_row, per_column), item)
        left = cuda.local.array(per_row, item)
        right = cuda.local.array(per_column, item)
        rows_at = cuda.local.array(per_row, numba.int64)
        columns_at = cuda.local.array(per_column, numba.int64)
        next_a, next_b = cuda.local.array(loads_a, item), cuda.local.array(loads_b, item)
        p = 0
        while p + 1 < len(first) and cuda.blockIdx.x >= first[p + 1]:
            p += 1
        a_p, b_p, out_p, parts_p = a[p], b[p], out[p], parts[p]
        a_batch, a_rows, a_cols, b_batch, b_rows, b_cols = strides[p]
        m, n, k, chunk, splits, counter = sizes[p]
        tiles_m, tiles_n = (m + tile_rows - 1) // tile_rows, (n + tile_columns - 1) // tile_columns
        block_at = cuda.blockIdx.x - first[p]
        tile_x = block_at % tiles_n
        tile_y, z = block_at // tiles_n % tiles_m, block_at // tiles_n // tiles_m
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        thread = ty * side + tx
        row0, col0 = tile_y * tile_rows, tile_x * tile_columns
        batch, split = z // splits, z % splits
        a_base, b_base = batch * a_batch, batch * b_batch
        k_begin = split * chunk
        k_end = min(k, k_begin + chunk)
        # The warps' fragments (tensor_cores.py): warp w is rows R (w // 4) + [0, R) and
        # columns C (w % 4) + [0, C) of the tile (R = tile_rows / 2, C = tile_columns / 4),
        # R / 16 x C / 8 fragments of 16 x 8; lane 4 g + t.
        warp, lane = thread // WARP, thread % WARP
        g, t = lane // 4, lane % 4
        warp_row, warp_column = (warp // 4) * (tile_rows // 2), (warp % 4) * (tile_columns // 4)
        for r in range(per_row):
            rows_at[r] = (
                warp_row + (r // 2) * 16 + (r % 2) * 8 + g if tensor_cores else ty + r * side
            )
            for c in range(per_column):
                acc[r, c] = zero
        for c in range(per_column):
            columns_at[c] = (
                warp_column + (c // 2) * 8 + 2 * t + c % 2 if tensor_cores else tx + c * side
            )
        # Adjacent threads load adjacent elements of an operand (coalesced): along the k axis
        # where it is the contiguous one (A as stored, B transposed), else along the tile's
        # rows or columns, taken in the order of their shared positions (a warp's stores then
        # fall in distinct banks, or two to a bank).
        a_along_k, b_along_k = a_cols == 1, b_rows == 1 and b_cols != 1
        a_at, b_at = U(ty) * U(per_row), U(tx) * U(per_column)  # this thread's first position
        # Each thread fetches its loads_a + loads_b elements of the next k tile into registers
        # while the block multiplies the current one: the global loads' latency is hidden.
        me = U(thread)
        block = (U(tile_k), U(threads), U(side))
        a_layout = (a_stride, U(tile_rows), U(per_a), a_along_k, *block, loads_a)
        b_layout = (b_stride, U(tile_columns), U(per_b), b_along_k, *block, loads_b)
        a_at_k, a_step, a_place, a_place_step, a_kk, a_kk_step, a_lines = _plan(
            me, (a_base, a_rows, a_cols), (k_begin, row0, m), a_layout
        )
        b_at_k, b_step, b_place, b_place_step, b_kk, b_kk_step, b_lines = _plan(
            me, (b_base, b_cols, b_rows), (k_begin, col0, n), b_layout
        )
        a_at_k, a_step, b_at_k, b_step = (offset(a_at_k), offset(a_step), offset(b_at_k),
                                          offset(b_step))  # fmt: skip
        a_k_step, b_k_step = offset(tile_k * a_cols), offset(tile_k * b_rows)  # tile to tile
        room = U(min(k_end - k_begin, tile_k))  # the tile's k before the axis's end
        fetch(next_a, a_p, a_at_k, a_step, a_lines, a_kk, a_kk_step, room, zero)
        fetch(next_b, b_p, b_at_k, b_step, b_lines, b_kk, b_kk_step, room, zero)
        for k0 in range(k_begin, k_end, tile_k):
            _stage(tile_a, next_a, a_place, a_place_step, tensor_cores)
            _stage(tile_b, next_b, b_place, b_place_step, tensor_cores)
            cuda.syncthreads()
            if k0 + tile_k < k_end:
                room = U(min(k_end - k0 - tile_k, tile_k))
                a_at_k, b_at_k = offset(a_at_k + a_k_step), offset(b_at_k + b_k_step)
                fetch(next_a, a_p, a_at_k, a_step, a_lines, a_kk, a_kk_step, room, zero)
                fetch(next_b, b_p, b_at_k, b_step, b_lines, b_kk, b_kk_step, room, zero)
            if tensor_cores:
                for k8 in range(0, tile_k, 8):
                    _warp_products(tile_a, tile_b, a_stride, b_stride, k8, rows_at,
                                   columns_at, acc, scratch, thread)  # fmt: skip
            else:
                for k4 in range(0, tile_k, 4):  # 4 k at a time: the compiler unrolls the 4
                    for kk in range(k4, k4 + 4):
                        for r in range(per_row):
                            left[r] = tile_a[U(kk) * a_stride + a_at + U(r)]
                        for c in range(per_column):
                            right[c] = tile_b[U(kk) * b_stride + b_at + U(c)]
                        for r in range(per_row):
                            for c in range(per_column):
                                acc[r, c] += left[r] * right[c]
            cuda.syncthreads()  # every thread done with the tiles before they are restaged
        size = m * n
        if splits == 1:
            for r in range(per_row):
                row = row0 + (rows_at[r] if tensor_cores else ty + r * side)
                for c in range(per_column):
                    col = col0 + (columns_at[c] if tensor_cores else tx + c * side)
                    if row < m and col < n:
                        value = _finished(acc[r, c], bias, col, epilogue, zero)
                        out_p[batch * size + row * n + col] = value
            return
        for r in range(per_row):
            row = row0 + (rows_at[r] if tensor_cores else ty + r * side)
            for c in range(per_column):
                col = col0 + (columns_at[c] if tensor_cores else tx + c * side)
                if row < m and col < n:
                    parts_p[z * size + row * n + col] = acc[r, c]
        if counter < 0:  # its parts summed by a launch of their own (APART_PARTS)
            return
        cuda.syncthreads()  # every part of the block written
        tile = counter + (batch * tiles_m + tile_y) * tiles_n + tile_x
        if thread == 0:  # the parts done, read back as a flag for the block
            last[0] = 1 if count_arrival(arrivals, tile, splits) else 0
        cuda.syncthreads()
        if last[0] == 1:  # the tile's last block: every part of it is written
            # Each entry the sum of its parts in split order, the thread's entries side by
            # side in ``acc``: a part's loads of all of them in flight at once (one entry after
            # another, the adds waited for each load: 85 parts x 16 entries in a row).
            for part in range(splits):
                at = (batch * splits + part) * size
                for r in range(per_row):
                    row = row0 + (rows_at[r] if tensor_cores else ty + r * side)
                    for c in range(per_column):
                        col = col0 + (columns_at[c] if tensor_cores else tx + c * side)
                        if row < m and col < n:
                            value = parts_p[at + row * n + col]
                            acc[r, c] = value if part == 0 else acc[r, c] + value
            for r in range(per_row):
                row = row0 + (rows_at[r] if tensor_cores else ty + r * side)
                for c in range(per_column):
                    col = col0 + (columns_at[c] if tensor_cores else tx + c * side)
                    if row < m and col < n:
                        value = _finished(acc[r, c], bias, col, epilogue, zero)
                        out_p[batch * size + row * n + col] = value
            if thread == 0:
                arrivals[tile] = 0

    return kernel


@cuda.jit(device=True)
def _warp_products(tile_a, tile_b, a_stride, b_stride, k8, rows_at, columns_at, acc, scratch,
                   thread):  # fmt: skip
    """acc += the warp's part of the tiles' product over k8 .. k8 + 7: its A fragments (rows
    rows_at[0], rows_at[2], ..., each with the row 8 below), B fragments (columns columns_at[0]
    - 2t + g, columns_at[2] - 2t + g, ...), an mma.m16n8k8 for each pair (see TC_TILE)."""
    g, t = (thread % WARP) // 4, thread % 4
    low, high = U(k8 + t) * a_stride, U(k8 + t + 4) * a_stride
    for fm in range(len(rows_at) // 2):
        row = U(rows_at[2 * fm])  # g + 16 fm in the warp's part; row + 8 is the fragment's a1
        a0, a1 = tile_a[low + row], tile_a[low + row + U(8)]
        a2, a3 = tile_a[high + row], tile_a[high + row + U(8)]
        for fn in range(len(columns_at) // 2):
            column = U(columns_at[2 * fn] - 2 * t + g)  # B's column g of the fragment
            b0 = tile_b[U(k8 + t) * b_stride + column]
            b1 = tile_b[U(k8 + t + 4) * b_stride + column]
            r, c = 2 * fm, 2 * fn
            acc[r, c], acc[r, c + 1], acc[r + 1, c], acc[r + 1, c + 1] = mma_tf32(
                scratch, thread, a0, a1, a2, a3, b0, b1,
                acc[r, c], acc[r, c + 1], acc[r + 1, c], acc[r + 1, c + 1],
            )  # fmt: skip


class _Product:
    """One product's operands and shapes (see :func:`matmul`), and its launch plan for an
    output tile (:meth:`plan`)."""

    __slots__ = ("a", "b", "batches", "blocks", "counters", "done", "out", "parts", "shape",
                 "sizes", "strides", "tile", "transposed")  # fmt: skip

    def __init__(self, a: CudaArray, b: CudaArray, transpose_a: bool, transpose_b: bool) -> None:
        if a.ndim < 2 or b.ndim < 2:
            raise ValueError("cuda matmul needs operands of at least 2 dims")
        if a.dtype != b.dtype:
            raise TypeError(f"cuda matmul: dtypes differ ({a.dtype} and {b.dtype})")
        m, k = (a.shape[-1], a.shape[-2]) if transpose_a else a.shape[-2:]
        k_b, n = (b.shape[-1], b.shape[-2]) if transpose_b else b.shape[-2:]
        if k != k_b:
            raise ValueError(f"cuda matmul: shapes {a.shape} and {b.shape} do not align")
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        if a.shape[:-2] != batch:
            a = broadcast_to(a, batch + a.shape[-2:])
        if b.shape[:-2] != batch:
            b = broadcast_to(b, batch + b.shape[-2:])
        self.a, self.b, self.batches, self.shape = a, b, math.prod(batch), (m, n, k)
        self.transposed = transpose_a, transpose_b
        self.out = empty((*batch, m, n), a.dtype)
        self.done = self.out.size == 0 or k == 0  # nothing to launch
        if k == 0:
            self.out = zeros(self.out.shape, a.dtype)
        a_rows, a_cols = (1, m) if transpose_a else (k, 1)
        b_rows, b_cols = (1, k) if transpose_b else (n, 1)
        batched = self.batches > 1
        self.strides = (m * k if batched else 0, a_rows, a_cols, k * n if batched else 0, b_rows,
                        b_cols)  # fmt: skip

    def splits(self, tile: tuple[int, int, bool]) -> tuple[int, int]:
        """Its output tiles (batches included) for ``tile``, and the parts its contracted axis
        is split into (1: not split; see SPLIT_BLOCKS)."""
        (m, n, k), (rows, columns, _) = self.shape, tile
        tiles = -(-n // columns) * -(-m // rows) * self.batches
        if tiles >= SPLIT_BLOCKS:
            return tiles, 1
        splits = max(1, min(SPLIT_BLOCKS // tiles, k // SPLIT_MIN_CHUNK))
        # As many parts as chunks of ceil(k / splits) cover k: no part starts at or past k (one
        # would, k = 9,248 over 128 parts of 73, and its block read its operands from there on).
        return tiles, -(-k // -(-k // splits))

    def plan(self, tile: tuple[int, int, bool]) -> _Product:
        """Its blocks for output tiles of ``tile`` (rows, columns, on tensor cores): the
        contracted axis split when they are few (see SPLIT_BLOCKS)."""
        (m, n, k), (rows, columns, _) = self.shape, tile
        tiles, splits = self.splits(tile)
        # Split: each part's sums (batch * splits + split, m, n), and a counter for each tile.
        self.parts = (
            self.out if splits == 1 else empty((self.batches * splits, m, n), self.out.dtype)
        )
        self.counters = tiles if splits > 1 else 0
        self.sizes = (m, n, k, -(-k // splits), splits)
        self.blocks = -(-n // columns) * -(-m // rows) * self.batches * splits
        self.tile = tile
        return self


def _vendor(product: _Product) -> bool:
    """Whether cuBLAS computes ``product`` (see ROUTE and KERNEL_OUTPUT)."""
    if ROUTE not in ROUTES:
        raise ValueError(
            f"AUTOCONV_GEMM={ROUTE!r} is not a matrix product route; expected one of "
            f"{', '.join(map(repr, ROUTES))}"
        )
    if (
        ROUTE != "cublas"
        or product.out.dtype.str not in cublas.DATA_TYPES
        or max(*product.shape, product.batches) > cublas.MAX_DIMENSION
    ):
        return False
    m, n, _ = product.shape
    if product.splits(_tile([product]))[1] > 1 and (product.batches > 1 or m * n <= KERNEL_OUTPUT):
        return False
    return cublas.library() is not None


def route() -> str:
    """Who computes float32 and float64 products, in words (for a benchmark's record)."""
    if ROUTE == "autoconv":
        return "autoconv's kernel (AUTOCONV_GEMM=autoconv)"
    library = cublas.library()
    if library is None:
        return f"autoconv's kernel ({cublas.why_not()})"
    return f"cuBLAS {library.version} ({library.path})"


def _cublas(product: _Product) -> None:
    """``product`` (not done) by cuBLAS: one call, launched as a kernel (its grid and block the
    product's shape and batches, for profiles)."""
    (m, n, k), batches = product.shape, product.batches
    if product.out.dtype == np.float64:
        compute = cublas.COMPUTE_64F
    else:
        compute = cublas.COMPUTE_32F_FAST_TF32 if precision.tensor_float32() else cublas.COMPUTE_32F
    strides = (k * n, m * k, m * n) if batches > 1 else (0, 0, 0)
    configure(cublas.GEMM, (m, n, k), batches)(
        product.b.flat, product.a.flat, product.out.flat,
        *cublas.column_major(m, n, k, *product.transposed), *strides, batches, compute,
    )  # fmt: skip


def _on_tensor_cores(product: _Product) -> bool:
    """Whether tensor cores make ``product``: float32 where TensorFloat-32 is chosen
    (autoconv.backends.precision) and the GPU has them, unless its contracted axis would be
    split over blocks in their tiles (a kernel gradient: few output tiles), which then runs in
    float32's: there the tensor-core kernel ran 2-4x slower on an H200 (the flowers classifier's
    kernel gradients 620 us a launch against 171, the stack's 200 against 86;
    bench/results/2026-11-26-gpu-h200-tf32-default.md)."""
    return (
        product.out.dtype == np.float32
        and precision.tensor_float32()
        and tensor_cores.available()
        and product.splits((TC_TILE, TC_TILE, True))[1] == 1
    )


def _tile(products: list[_Product]) -> tuple[int, int, bool]:
    """The output tile of a launch of ``products`` (of one dtype) and whether tensor cores make
    it: TC_TILE x TC_TILE on them where every product may be (see _on_tensor_cores; a
    backward's two products stay in one launch); else BLOCK x BLOCK, or when none has more than
    BLOCK / 2 columns, 2 BLOCK x BLOCK / 2 (no thread on columns that are not there) or, where
    one is split (few output tiles, a long contracted axis: a kernel gradient of 32 filters,
    whose blocks wait on memory), BLOCK x BLOCK / 2: on sm_90 a thread of the single product's
    kernel takes 62 registers there, four blocks a multiprocessor, against 153 and one. When
    none has more than BLOCK / 2 rows, BLOCK / 2 x BLOCK, the same shape turned (a batch of 32's
    split products: a Dense layer's forward over a long input, a Winograd kernel gradient of
    32 input channels, on the GPU where cuBLAS takes the rest): their row tiles are one at
    either height, so the splits and the bits are the square tile's. So too where each product
    is split into as many parts at either height (parts set by the contracted axis's length,
    not by the GPU's width: MNIST's Dense(64) forward over 576 inputs, 9 parts): twice the
    blocks, each entry the same sum in the same order, and one product kernel to compile for
    MNIST's first epoch where there were two (1.15 s less compiling on a 2-vCPU host,
    bench/results/2026-11-27-one-tile-for-mnist.md)."""
    if all(_on_tensor_cores(product) for product in products):
        return TC_TILE, TC_TILE, True
    if max(p.shape[1] for p in products) <= BLOCK // 2:
        narrow = (2 * BLOCK, BLOCK // 2, False)
        if any(p.splits(narrow)[1] > 1 for p in products):
            return BLOCK, BLOCK // 2, False
        return narrow
    square, short = (BLOCK, BLOCK, False), (BLOCK // 2, BLOCK, False)
    if all(
        p.shape[0] <= BLOCK // 2 or 1 < p.splits(short)[1] == p.splits(square)[1] for p in products
    ):
        return short
    return square


def _launch(products: list[_Product], bias: CudaArray | None, epilogue: int) -> None:
    """One launch of the kernel for ``products`` (of one dtype and tile, none done): each its
    blocks from ``first`` along the grid's one axis, and its tiles' counters (split ones) from
    ``counter``; then the column sums of the parts left apart (see APART_PARTS)."""
    first, sizes, blocks, counter = [], [], 0, 0
    parts = max(APART_PARTS, 2)  # a product of one part is not split, whatever the setting
    apart = [p.batches == 1 and p.sizes[4] >= parts for p in products]
    for product, alone in zip(products, apart, strict=True):
        first.append(blocks)
        sizes.append((*product.sizes, -1 if alone else counter))
        blocks += product.blocks
        counter += 0 if alone else product.counters
    arrivals = arrival_counters()
    if counter > len(arrivals):
        raise ValueError(f"cuda matmul: {counter} split tiles in one launch, more than the "
                         f"{len(arrivals)} counters")  # fmt: skip
    head = products[0]
    side = TC_SIDE if head.tile[2] else SIDE
    wide = any(max(p.a.size, p.b.size) >= WIDE_OPERAND for p in products)
    configure(_matmul_kernel(head.out.dtype.str, *head.tile, wide), blocks, (side, side))(
        tuple(p.a.flat for p in products), tuple(p.b.flat for p in products),
        tuple(p.out.flat for p in products), tuple(p.parts.flat for p in products),
        tuple(p.strides for p in products), tuple(sizes), tuple(first),
        head.out.dtype.type(0), (head.a if bias is None else bias).flat, epilogue, arrivals,
    )  # fmt: skip
    for product, alone in zip(products, apart, strict=True):
        if alone:  # the parts (splits, m, n) added down their first axis, then the epilogue
            sums = column_sums(product.parts.reshape(len(product.parts), -1))
            product.out = _epilogue(sums.reshape(product.out.shape), bias, bool(epilogue & 2))


def matmul(
    a: CudaArray, b: CudaArray, transpose_a: bool = False, transpose_b: bool = False,
    bias: CudaArray | None = None, relu: bool = False,
) -> CudaArray:  # fmt: skip
    """``a @ b`` for operands of 2 or more dims (leading axes broadcast); ``transpose_a`` /
    ``transpose_b`` swap an operand's last two axes for free (the kernel reads it strided).
    ``bias`` (one per column) added and ``relu`` applied as each entry is written (after the
    parts of a split contracted axis are added up), or in a pass of their own after cuBLAS's
    product (see ROUTE)."""
    product = _Product(a, b, transpose_a, transpose_b)
    bounds.columns("matmul", "bias", bias, product.out.shape[-1])
    bias = None if bias is None else bias.astype(product.out.dtype, copy=False)
    if product.done or _vendor(product):
        if not product.done:
            _cublas(product)
        return _epilogue(product.out, bias, relu) if product.out.size else product.out
    _launch([product.plan(_tile([product]))], bias, (bias is not None) | relu << 1)
    return product.out


def matmuls(*products: tuple[Any, Any, bool, bool] | None) -> list[CudaArray | None]:
    """Each product (a, b, transpose_a, transpose_b) as :func:`matmul` gives it (None for
    None): those of one dtype in one launch of the kernel (a backward's products, which share
    an operand), or each its own call of cuBLAS (see ROUTE)."""
    planned = [None if product is None else _Product(*product) for product in products]
    by_dtype: dict[np.dtype, list[_Product]] = {}
    for product in planned:
        if product is None or product.done:
            continue
        if _vendor(product):
            _cublas(product)
        else:
            by_dtype.setdefault(product.out.dtype, []).append(product)
    for of_dtype in by_dtype.values():
        tile, together = _tile(of_dtype), []
        for product in of_dtype:
            product.plan(tile)
            if sum(p.blocks for p in together) + product.blocks > MAX_GRID_BLOCKS:
                _launch([product], None, 0)  # alone (the grid has room for it)
            else:
                together.append(product)
        if together:
            _launch(together, None, 0)
    return [None if product is None else product.out for product in planned]


def _epilogue(out: CudaArray, bias: CudaArray | None, relu: bool) -> CudaArray:
    """The epilogue in a pass of its own, in place (a product with nothing to sum, or
    cuBLAS's)."""
    if bias is not None or relu:
        bias_relu(out.reshape(-1, out.shape[-1]), bias, relu)
    return out
