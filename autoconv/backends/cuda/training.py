"""Helpers of the training loop on the GPU: the divergence status, the finiteness checks
that set it, and the running loss and accuracy totals, all without a host round-trip.

``status`` is an int64 device array [code, step]: code 0 while every step was finite,
1 when a loss, 2 when a gradient went non-finite at ``step`` (the first such step).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, zeros
from autoconv.backends.cuda.runtime import configure, launch


@cuda.jit
def _check_finite(values, code, step, status):
    for i in range(cuda.grid(1), values.size, cuda.gridsize(1)):
        value = values[i]
        if status[0] == 0 and (value != value or value - value != 0):
            status[0] = code  # every thread that writes writes the same values
            status[1] = step


@cuda.jit
def _accumulate(totals, loss, correct, count, status):
    if cuda.grid(1) == 0 and status[0] == 0:
        totals[0] += loss[0] * count
        totals[1] += correct[0]
        totals[2] += count


def new_status() -> CudaArray:
    return zeros((2,), np.int64)


def check_finite(values: CudaArray, code: int, step: int, status: CudaArray) -> None:
    """Mark ``status`` with (code, step) if ``values`` hold a NaN or infinity and it is clean."""
    launch(_check_finite, values.size)(values.flat, code, step, status.flat)


def accumulate(totals: CudaArray, loss: CudaArray, correct: CudaArray, count: int, status) -> None:
    """totals (float64 [loss*count, correct, count]) += this batch's, unless status is set."""
    bounds.shape_is("accumulate", "totals", totals, (3,))
    configure(_accumulate, 1, 1)(totals.flat, loss.flat, correct.flat, float(count), status.flat)
