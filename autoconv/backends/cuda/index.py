"""Indexing CudaArrays: ``getitem`` (any NumPy index, as a gather of host-computed positions),
``scatter_add`` (its gradient), ``take`` (rows by device or host row numbers),
``concatenate_rows`` and ``one_hot``, with their kernels.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, asarray, empty, zeros
from autoconv.backends.cuda.elementwise import _elementwise_kernel
from autoconv.backends.cuda.runtime import cached_kernel, launch, transfer, unsigned


def _positions(shape: tuple[int, ...], index: Any) -> np.ndarray:
    """The flat positions ``array[index]`` reads, in the result's shape (host-side)."""
    return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)[index]


@cached_kernel
def _gather(source, positions, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = source[positions[i]]


@cached_kernel
def _scatter_add(values, positions, out):
    for i in range(cuda.grid(1), values.size, cuda.gridsize(1)):
        cuda.atomic.add(out, positions[i], values[i])


def getitem(a: CudaArray, index: Any) -> CudaArray:
    """``a[index]`` (any NumPy basic or integer-array index), as a contiguous copy."""
    positions = _positions(a.shape, index)
    out = empty(positions.shape, a.dtype)
    if out.size:
        launch(_gather, out.size)(a.flat, asarray(positions).flat, out.flat)
    return out


def scatter_add(grad: CudaArray, shape: tuple[int, ...], index: Any) -> CudaArray:
    """Zeros of ``shape`` with ``grad`` added at ``[index]`` (repeated positions accumulate)."""
    positions = _positions(shape, index)
    out = zeros(shape, grad.dtype)
    if positions.size:
        launch(_scatter_add, positions.size)(
            grad.flat, asarray(positions.reshape(-1)).flat, out.flat
        )
    return out


@cuda.jit(device=True)
def _row_entry(args, i):
    # Entry i of the output: of output row r, source row rows[start[0] + r]; start is a device
    # array, so a recorded step that gathers its batch at a step input is replayed at each
    # step's own rows.
    source, row_size, n_rows, rows, start, fill = args
    r = i // row_size
    k = start[0] + r
    row = rows[k] if 0 <= k < rows.size else -1
    if 0 <= row < n_rows:  # the guard of rows that stay on the device (see take)
        return source[unsigned(row * row_size + i - r * row_size)]
    return fill


def concatenate_rows(arrays: list[CudaArray]) -> CudaArray:
    """Arrays of one dtype and trailing shape joined along their first axis (a copy: each one
    device-to-device into its run of rows)."""
    first = arrays[0]
    if any(a.shape[1:] != first.shape[1:] or a.dtype != first.dtype for a in arrays):
        raise ValueError(f"concatenate_rows: arrays of shapes {[a.shape for a in arrays]} differ")
    out = empty((sum(len(a) for a in arrays), *first.shape[1:]), first.dtype)
    start = 0
    for a in arrays:
        if a.size:
            transfer("concatenate_rows, a device-to-device copy")
            out[start : start + len(a)].flat.copy_to_device(a.flat)
        start += len(a)
    return out


def take(a: CudaArray, rows: Any) -> CudaArray:
    """``a[rows]`` for a 1-D array of row numbers (int32/int64) in [0, len(a)): batches from
    a dataset that stays on the GPU. Host rows are checked (a ValueError); device rows are not
    read back (that would wait for the GPU): the kernel never reads outside ``a`` and fills
    the row of an out-of-range number with NaN (0 for integer arrays), which training's
    finiteness check reports."""
    if not isinstance(rows, CudaArray):
        rows = np.asarray(rows)
        bounds.indices_in_range("take", "rows", rows, len(a))
        rows = asarray(rows.astype(np.int64, copy=False))
    return _take(a, rows, _zero(), len(rows))


def take_window(a: CudaArray, order: CudaArray, start: CudaArray, count: int) -> CudaArray:
    """``a[order[start : start + count]]``, ``start`` a one-element integer array on the
    device (a step input: a replayed step gathers each batch at its own place). Neither
    ``order`` nor ``start`` is read back; a row number out of range gives a row of NaN (0 for
    integer arrays), as :func:`take`."""
    bounds.shape_is("take_window", "start", start, (1,))
    return _take(a, order, start, count)


@cached_kernel
def _put_rows(source, row_size, target, start):
    # Source row r goes to target row start[0] + r (a device array: a replayed step writes each
    # batch's rows at its own place); a row outside target is not written.
    offset = start[0] * row_size
    for i in range(cuda.grid(1), source.size, cuda.gridsize(1)):
        k = offset + i
        if 0 <= k < target.size:
            target[k] = source[i]


def put_rows(target: CudaArray, source: CudaArray, start: CudaArray) -> None:
    """``target[start : start + len(source)] = source`` in place, ``start`` a one-element
    integer array on the device (a step input), not read back: a row that would fall
    outside ``target`` is not written."""
    bounds.rows_of("put_rows", target, source, start)
    if source.size:
        row_size = math.prod(source.shape[1:])
        launch(_put_rows, source.size)(source.flat, row_size, target.flat, start.flat)


def _take(a: CudaArray, rows: CudaArray, start: CudaArray, count: int) -> CudaArray:
    row_size = math.prod(a.shape[1:])
    out = empty((count, *a.shape[1:]), a.dtype)
    fill = a.dtype.type(np.nan if a.dtype.kind == "f" else 0)
    if out.size:
        launch(_elementwise_kernel(_row_entry), out.size)(
            out.flat, (a.flat, row_size, len(a), rows.flat, start.flat, fill)
        )
    return out


@cache
def _zero() -> CudaArray:
    return asarray(np.zeros(1, np.int64))


@cached_kernel
def _one_hot(labels, classes, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        row = i // classes
        out[i] = 1 if int(labels[row]) == i - row * classes else 0


def one_hot(labels: CudaArray, num_classes: int, dtype: Any) -> CudaArray:
    """Rows of ``num_classes`` with a 1 at each label. A label is compared with each column,
    never used as an address: one outside [0, num_classes) gives a row of zeros (as Keras's
    ``one_hot`` does), with no read or write out of bounds."""
    out = empty((*labels.shape, num_classes), dtype)
    if out.size:
        launch(_one_hot, out.size)(labels.flat, num_classes, out.flat)
    return out
