"""Reductions on CudaArrays: ``sum`` and ``max`` over any axes (one block per output element),
``block_sum`` (the block-wide sum that kernels of the other modules call, with blocks of
``REDUCE_THREADS`` threads), and ``argmax`` (with ``argmax_row``, which the loss kernels call).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends.cuda.array import CudaArray, _contiguous_strides, empty
from autoconv.backends.cuda.elementwise import _add, _maximum, _offset_device, _padded
from autoconv.backends.cuda.runtime import SIMULATED, configure, launch

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

    @cuda.jit
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
    out = empty(out_shape, a.dtype)
    if out.size:
        init = a.dtype.type(0 if name == "sum" else -np.inf)
        kernel = _reduce_kernel(name, a.dtype.str)
        blocks = max(1, min(out.size, REDUCE_BLOCKS))
        kept_shape = _padded(tuple(a.shape[d] for d in kept), 1)
        kept_strides = _padded(tuple(strides[d] for d in kept), 0)
        reduced_shape = _padded(tuple(a.shape[d] for d in axes), 1)
        reduced_strides = _padded(tuple(strides[d] for d in axes), 0)
        configure(kernel, blocks, REDUCE_THREADS)(
            out.flat, a.flat, kept_shape, kept_strides, reduced_shape, reduced_strides, count, init
        )
    return out


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


@cuda.jit
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
