"""The gradient of ``take``: rows of a gradient added back into the rows they were taken from
(the backward of an embedding lookup). The names of :mod:`autoconv.backends.cpu.embedding`."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, asarray, zeros
from autoconv.backends.cuda.runtime import cached_kernel, launch


@cached_kernel
def _scatter_add_rows(grad, row_size, rows, out):
    n_rows = out.size // row_size
    for i in range(cuda.grid(1), grad.size, cuda.gridsize(1)):
        r = i // row_size
        row = rows[r]
        if 0 <= row < n_rows:  # the guard of rows that stay on the device (see take)
            cuda.atomic.add(out, row * row_size + i - r * row_size, grad[i])


def scatter_add_rows(grad: CudaArray, rows: Any, num_rows: int) -> CudaArray:
    """Zeros (num_rows, D) with row i of ``grad`` (len(rows), D) added into row rows[i]
    (repeated rows accumulate, atomically): the gradient of ``take``. Host rows outside
    [0, num_rows) are a ValueError; device rows are not read back: such a row is skipped (its
    forward ``take`` gave NaN, which training's finiteness check reports)."""
    if not isinstance(rows, CudaArray):
        rows = np.asarray(rows)
        bounds.indices_in_range("scatter_add_rows", "rows", rows, num_rows)
        rows = asarray(rows.astype(np.int64, copy=False))
    bounds.shape_is("scatter_add_rows", "rows", rows, (rows.size,))
    bounds.shape_is("scatter_add_rows", "grad", grad, (rows.size, grad.shape[-1]))
    out = zeros((num_rows, grad.shape[-1]), grad.dtype)
    if grad.size:
        launch(_scatter_add_rows, grad.size)(grad.flat, grad.shape[-1], rows.flat, out.flat)
    return out
