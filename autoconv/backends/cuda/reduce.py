"""Reductions on CudaArrays: ``sum`` and ``max`` over any axes (one block per output element;
a sum over a run of axes before the last, as columns below), sums down the columns of a
(rows, C) array (``column_sums``, and ``sum_columns``, which other modules' kernels sum their
columns through: a device function of their own gives each entry), ``block_sum`` (the
block-wide sum that kernels of the other modules call, with blocks of ``REDUCE_THREADS``
threads), and ``argmax`` (with ``argmax_row``, which the loss kernels call).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda
from numba.cuda import to_device  # not cuda.to_device: see runtime.Launch

from autoconv.backends.cuda import runtime
from autoconv.backends.cuda.array import CudaArray, _contiguous_strides, empty
from autoconv.backends.cuda.elementwise import (
    _add,
    _coalesced,
    _maximum,
    _offset_device,
    _padded,
)
from autoconv.backends.cuda.runtime import (
    SIMULATED,
    cached_kernel,
    cached_kernel_holding,
    configure,
    launch,
)

REDUCE_THREADS = 4 if SIMULATED else 128
REDUCE_BLOCKS = 4 if SIMULATED else 16384  # one block per output element, up to this many


def _normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    return tuple(sorted(int(a) % ndim for a in axes))


@cache
def _block_reduce(name: str) -> Any:
    """A device function ``(partial, value) -> combined`` that combines (``name``: sum or max)
    the ``value`` of every thread of a one-dimensional block of REDUCE_THREADS threads, in a
    fixed order, through the shared array ``partial``; every thread gets the result."""
    combine = cuda.jit(device=True)(_add if name == "sum" else _maximum)

    @cuda.jit(device=True)
    def block_reduce(partial, value):
        t = cuda.threadIdx.x
        partial[t] = value
        cuda.syncthreads()
        step = REDUCE_THREADS // 2
        while step > 0:
            if t < step:
                partial[t] = combine(partial[t], partial[t + step])
            cuda.syncthreads()
            step //= 2
        result = partial[0]
        cuda.syncthreads()  # every thread has read it: ``partial`` may be reused
        return result

    return block_reduce


block_sum = _block_reduce("sum")


@cache
def _reduce_kernel(name: str, dtype: str) -> Any:
    combine = cuda.jit(device=True)(_add if name == "sum" else _maximum)
    block_reduce = _block_reduce(name)
    item = numba.from_dtype(np.dtype(dtype))

    @cached_kernel
    def kernel(out, a, kept_shape, kept_strides, reduced_shape, reduced_strides, count, init):
        # One block per output element; its threads stride over the reduced elements and
        # combine their partial results in shared memory.
        partial = cuda.shared.array(REDUCE_THREADS, item)
        t = cuda.threadIdx.x
        for o in range(cuda.blockIdx.x, out.size, cuda.gridDim.x):
            base = _offset_device(o, kept_shape, kept_strides)
            acc = init
            for r in range(t, count, REDUCE_THREADS):
                acc = combine(acc, a[base + _offset_device(r, reduced_shape, reduced_strides)])
            acc = block_reduce(partial, acc)
            if t == 0:
                out[o] = acc

    return kernel


def _reduce(name: str, a: CudaArray, axis: Any, keepdims: bool) -> CudaArray:
    axes = _normalize_axes(axis, a.ndim)
    strides = _contiguous_strides(a.shape)
    kept = [d for d in range(a.ndim) if d not in axes]
    out_shape = tuple(1 if d in axes else n for d, n in enumerate(a.shape))
    if not keepdims:
        out_shape = tuple(a.shape[d] for d in kept)
    count = math.prod(a.shape[d] for d in axes)
    if name == "max" and count == 0:
        raise ValueError("zero-size array to reduction operation max which has no identity")
    # A run of axes before the last (a global average pool's (H, W) of (N, H, W, C), a bias
    # gradient's (N, H, W)) is summed as columns: a warp reads adjacent entries.
    run = bool(axes) and axes == tuple(range(axes[0], axes[-1] + 1)) and axes[-1] < a.ndim - 1
    columns = a.size // max(count, 1)
    if name == "sum" and run and count and a.size and columns <= COLUMN_TILE * MAX_COLUMN_TILES:
        trail = math.prod(a.shape[axes[-1] + 1 :])
        args = (a.flat, count, trail)
        sums = sum_columns(_run_entry, args, count, columns, a.dtype, column=_run_column)
        return sums.reshape(out_shape)
    out = empty(out_shape, a.dtype)
    if out.size:
        init = a.dtype.type(0 if name == "sum" else -np.inf)
        kernel = _reduce_kernel(name, a.dtype.str)
        blocks = max(1, min(out.size, REDUCE_BLOCKS))
        kept_shape, kept_strides = _coalesced(
            _padded(tuple(a.shape[d] for d in kept), 1), _padded(tuple(strides[d] for d in kept), 0)
        )
        reduced_shape, reduced_strides = _coalesced(
            _padded(tuple(a.shape[d] for d in axes), 1), _padded(tuple(strides[d] for d in axes), 0)
        )
        configure(kernel, blocks, REDUCE_THREADS)(
            out.flat, a.flat, kept_shape, kept_strides, reduced_shape, reduced_strides, count, init
        )
    return out


# ------------------------------------------------------------------------ column sums
# Sums down the columns of a (rows, C) array: a bias's gradient, a product's rows added up. A
# block per column (as above) reads a column's rows C elements apart, one transaction a thread,
# and with few columns (16 filters) leaves most of the GPU idle. Here a block is COLUMN_TILE
# adjacent columns x ROW_THREADS threads down the rows (a warp reads 32 adjacent values of a
# row), and grid axis y cuts the rows into up to MAX_ROW_CHUNKS chunks of at least CHUNK_ROWS
# rows (a thread sums CHUNK_ROWS / ROW_THREADS of them, one after another), or of fewer, down to
# a row a thread, where CHUNK_ROWS would leave the GPU's resident threads idle (a Winograd bias
# gradient of MNIST's, 64 columns x 1,600 rows, ran on 12,800 threads in 37 us on an H200:
# bench/results/2026-11-26-gpu-h200-first-figures.md). Each block adds its threads' sums in a
# fixed order; the last block of a column tile to finish (counted in ``arrival_counters``,
# which it sets back to 0) adds the chunks' sums in a fixed order (see _chunk_sum). So one
# launch, and the same bits every run, whichever block finishes last.
COLUMN_TILE = 2 if SIMULATED else 32
ROW_THREADS = 2 if SIMULATED else 8  # a power of two
CHUNK_ROWS = 4 if SIMULATED else 64
MAX_ROW_CHUNKS = 4 if SIMULATED else 1024
MAX_COLUMN_TILES = 65536  # columns up to COLUMN_TILE * MAX_COLUMN_TILES


@cache
def arrival_counters() -> Any:
    """A counter per column tile of the chunks done, 0 between launches: made once, outside
    the buffer pool (a step recorded while it is made finds it as persistent as a weight)."""
    return to_device(np.zeros(MAX_COLUMN_TILES, np.int32))


@cuda.jit(device=True)
def count_arrival(arrivals, counter, count):
    """By one thread of a block whose threads have written its part for other blocks (after
    a barrier): the block counted at arrivals[counter], and whether it is the last of
    ``count`` (which sets the counter back to 0 once done). The fence before the count
    makes the whole block's writes, ordered before it by the barrier, visible to every block
    (a fence is cumulative: CUTLASS's split-k semaphore releases so), the one after it the
    other blocks' parts to the last block. Once a block, where every thread's fence had been
    one sequentially consistent fence and L1 invalidation each (MEMBAR.SC.GPU, CCTL.IVALL on
    sm_90): 256 a block of the product kernel, whose split launches each took ~165 us more in
    an H200's training step than alone (bench/results/2026-11-26-gpu-h200-tf32-default.md;
    the fences are a suspect, not measured)."""
    cuda.threadfence()
    last = cuda.atomic.add(arrivals, counter, 1) + 1 == count
    if last:
        cuda.threadfence()
    return last


@cuda.jit(device=True)
def _store(sums, c, value):
    """sums = (head, tail, split): column c's sum into head[c], or tail[c - split] past it."""
    head, tail, split = sums
    if c < split:
        head[c] = value
    else:
        tail[c - split] = value


@cuda.jit(device=True)
def _block_sum(partial, value):
    """Column tx's sum over the block's ROW_THREADS threads of ``value`` (this thread's), in a
    fixed order through the shared (ROW_THREADS, COLUMN_TILE) array ``partial``; every thread
    of the block calls it, and every thread of column tx gets the sum."""
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    partial[ty, tx] = value
    cuda.syncthreads()
    step = ROW_THREADS // 2
    while step > 0:
        if ty < step:
            partial[ty, tx] += partial[ty + step, tx]
        cuda.syncthreads()
        step //= 2
    total = partial[0, tx]
    cuda.syncthreads()  # read before ``partial`` is written again
    return total


@cuda.jit(device=True)
def _chunk_sum(partial, total, zero, c, columns, sums, partials, arrivals):
    """Add the block's ROW_THREADS sums of column ``c`` (``total``, this thread's) into
    ``sums`` (one chunk; see :func:`_store`) or partials[chunk, c], the last chunk's block then
    adding the chunks into ``sums``: its ROW_THREADS threads of a column each take every
    ROW_THREADS-th chunk in four running sums (four loads in flight, not one at a time down a
    thousand chunks), added as the block's own sums are. A fixed order: the same bits every run.
    Every thread of the block calls it (columns past the end with 0)."""
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    added = _block_sum(partial, total)
    chunks = cuda.gridDim.y
    if chunks == 1:
        if ty == 0 and c < columns:
            _store(sums, c, added)
        return
    if ty == 0 and c < columns:
        partials[cuda.blockIdx.y, c] = added
    cuda.syncthreads()  # every sum of the block written
    if tx == 0 and ty == 0:  # the count of chunks done, read back as a flag for the block
        partial[0, 0] = 1 if count_arrival(arrivals, cuda.blockIdx.x, chunks) else 0
    cuda.syncthreads()
    last = partial[0, 0] == 1
    cuda.syncthreads()  # the flag read before _block_sum writes over it
    if last:  # the last chunk of this tile: every chunk's sums are written
        s0, s1, s2, s3 = zero, zero, zero, zero
        if c < columns:
            chunk = ty
            while chunk + 3 * ROW_THREADS < chunks:
                s0 += partials[chunk, c]
                s1 += partials[chunk + ROW_THREADS, c]
                s2 += partials[chunk + 2 * ROW_THREADS, c]
                s3 += partials[chunk + 3 * ROW_THREADS, c]
                chunk += 4 * ROW_THREADS
            while chunk < chunks:
                s0 += partials[chunk, c]
                chunk += ROW_THREADS
        added = _block_sum(partial, (s0 + s1) + (s2 + s3))
        if ty == 0 and c < columns:
            _store(sums, c, added)
        if tx == 0 and ty == 0:
            arrivals[cuda.blockIdx.x] = 0


@cuda.jit(device=True)
def _same(args, c):
    return args


@cache
def _column_sum_kernel(element: Any, dtype: str, column: Any = _same, gathers: bool = False
                       ) -> Any:  # fmt: skip
    """The kernel summing ``element(column(args, c), r, c)`` (device functions: the value of
    row r of column c, which may write elsewhere as it goes; what of ``args`` a column's
    entries share, found once a thread) down the columns in the layout above. With
    ``gathers`` (an entry that loads from an address another load gave, and writes nothing),
    a thread finds four of its rows' entries before it adds them, in row order (the same
    sums): four rows' loads in flight, not one (MNIST's first kernel gradient waited on three
    rounds of loads a row, 30 us of a 237 us step on an H200). The compiler unrolls a plain
    entry's loop so itself; an entry that writes could not overlap its rows anyway (a row's
    loads wait for the store before them), and holding four rows costs it registers."""
    item = numba.from_dtype(np.dtype(dtype))

    # five blocks an SM for four rows' gathers (63 registers, 4 blocks; 48 and 5 with no spill)
    @(cached_kernel_holding(5) if gathers else cached_kernel)
    def kernel(args, rows, zero, columns, sums, partials, arrivals):
        partial = cuda.shared.array((ROW_THREADS, COLUMN_TILE), item)
        c = cuda.blockIdx.x * COLUMN_TILE + cuda.threadIdx.x
        total = zero
        if c < columns:
            shared = column(args, c)
            step = cuda.gridDim.y * ROW_THREADS
            first = cuda.blockIdx.y * ROW_THREADS + cuda.threadIdx.y
            if gathers:
                while first + 3 * step < rows:
                    e0, e1 = element(shared, first, c), element(shared, first + step, c)
                    e2 = element(shared, first + 2 * step, c)
                    e3 = element(shared, first + 3 * step, c)
                    total = (((total + e0) + e1) + e2) + e3
                    first += 4 * step
            for r in range(first, rows, step):
                total += element(shared, r, c)
        _chunk_sum(partial, total, zero, c, columns, sums, partials, arrivals)

    return kernel


def _chunks(rows: int, tiles: int) -> int:
    """How many chunks the rows of ``tiles`` column tiles are cut into (grid axis y): of
    CHUNK_ROWS rows, or fewer where that leaves resident threads idle, down to ROW_THREADS (a row
    a thread); at most MAX_ROW_CHUNKS."""
    threads = tiles * COLUMN_TILE * ROW_THREADS  # one chunk's blocks'
    chunk_rows = max(ROW_THREADS, min(CHUNK_ROWS, rows * threads // runtime.resident_threads()))
    return max(1, min(MAX_ROW_CHUNKS, rows // chunk_rows))


def sum_columns(
    element: Any, args: tuple, rows: int, columns: int, dtype: Any, split: int | None = None,
    column: Any = _same, gathers: bool = False,
) -> Any:  # fmt: skip
    """The sums (C,) down ``columns`` columns of ``rows`` rows of ``element(column(args, c),
    r, c)`` (device functions; ``column`` by default hands ``args`` on as they are), in one
    launch in the layout above. With ``split``, two arrays (the first ``split`` sums, the
    rest), each an array of its own (a kernel's gradient and its bias's). ``gathers``: see
    :func:`_column_sum_kernel`."""
    tiles = max(1, -(-columns // COLUMN_TILE))
    if tiles > MAX_COLUMN_TILES:
        raise ValueError(f"column sums: {columns} columns, more than the {MAX_COLUMN_TILES} "
                         f"tiles of {COLUMN_TILE}")  # fmt: skip
    dtype = np.dtype(dtype)
    chunks = _chunks(rows, tiles)
    head = empty((columns if split is None else split,), dtype)
    tail = head if split is None else empty((columns - split,), dtype)
    partials = empty((chunks, columns), dtype) if chunks > 1 else head.reshape(1, -1)
    sums = (head.flat, tail.flat, len(head))
    kernel = _column_sum_kernel(element, dtype.str, column, gathers)
    configure(kernel, (tiles, chunks), (COLUMN_TILE, ROW_THREADS))(
        args, rows, dtype.type(0), columns, sums, partials.nd, arrival_counters()
    )
    return head if split is None else (head, tail)


@cuda.jit(device=True)
def _entry(args, r, c):
    return args[0][r, c]


@cuda.jit(device=True)
def _run_column(args, c):
    """Where column c of a run's sums starts (see :func:`_reduce`), and its rows' step."""
    a, count, trail = args
    return a, (c // trail) * count * trail + c % trail, trail


@cuda.jit(device=True)
def _run_entry(column, r, c):
    a, start, trail = column
    return a[start + r * trail]


def column_sums(a: CudaArray, split: int | None = None) -> Any:
    """a (rows, C) summed over its rows: (C,); with ``split``, two arrays (the first ``split``
    sums, the rest)."""
    rows, columns = a.shape
    return sum_columns(_entry, (a.nd,), rows, columns, a.dtype, split)


@cuda.jit(device=True)
def argmax_row(a, base, columns):
    """The column of the first maximum of a[base : base + columns] (a NaN counts as the
    largest, as in NumPy)."""
    best = 0
    for c in range(1, columns):
        value, top = a[base + c], a[base + best]
        if value > top or (value != value and top == top):
            best = c
    return best


@cached_kernel
def _argmax_rows(a, columns, out):
    for row in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[row] = argmax_row(a, row * columns, columns)


def argmax(a: CudaArray, axis: int = -1) -> CudaArray:
    """Index of the first maximum along the last axis (int32)."""
    if axis not in (-1, a.ndim - 1):
        raise ValueError("cuda argmax works along the last axis only")
    out = empty(a.shape[:-1], np.int32)
    if out.size:
        launch(_argmax_rows, out.size)(a.flat, a.shape[-1], out.flat)
    return out
