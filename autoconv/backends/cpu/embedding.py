"""The gradient of ``take``: rows of a gradient added back into the rows they were taken from
(the backward of an embedding lookup). The names of :mod:`autoconv.backends.cuda.embedding`."""

from __future__ import annotations

import numpy as np

from autoconv.backends import bounds
from autoconv.backends.cpu.jit import serial_jit


@serial_jit
def _scatter_add_rows(grad, rows, out):
    # Serial: repeated rows add into one row, which parallel threads would race on.
    for i in range(rows.shape[0]):
        row = rows[i]
        for j in range(grad.shape[1]):
            out[row, j] += grad[i, j]


def scatter_add_rows(grad: np.ndarray, rows: np.ndarray, num_rows: int) -> np.ndarray:
    """Zeros (num_rows, D) with row i of ``grad`` (len(rows), D) added into row rows[i]
    (repeated rows accumulate): the gradient of ``take``. Rows outside [0, num_rows) are a
    ValueError."""
    rows = np.asarray(rows)
    bounds.shape_is("scatter_add_rows", "rows", rows, (rows.size,))
    bounds.shape_is("scatter_add_rows", "grad", grad, (rows.size, grad.shape[-1]))
    bounds.indices_in_range("scatter_add_rows", "rows", rows, num_rows)
    out = np.zeros((num_rows, grad.shape[-1]), grad.dtype)
    _scatter_add_rows(np.ascontiguousarray(grad), rows.astype(np.int64, copy=False), out)
    return out
