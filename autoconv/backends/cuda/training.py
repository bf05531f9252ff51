"""Helpers of the training loop on the GPU: the divergence status, the finiteness checks
that set it, and the running loss and accuracy totals, all without a host round-trip.

``status`` is an int64 device array [code, step]: code 0 while every step was finite,
1 when a loss, 2 when a gradient went non-finite at ``step`` (the first such step).
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda
from numba.cuda import libdevice

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, zeros
from autoconv.backends.cuda.reduce import REDUCE_THREADS, argmax_row, block_sum
from autoconv.backends.cuda.runtime import SIMULATED, cached_kernel, configure, launch


@cached_kernel
def _check_finite(values, code, step, status):
    for i in range(cuda.grid(1), values.size, cuda.gridsize(1)):
        value = values[i]
        if status[0] == 0 and (value != value or value - value != 0):
            status[0] = code  # every thread that writes writes the same values
            status[1] = step


@cached_kernel
def _check_step(loss, grads, starts, steps, status):
    # A status already set stays as it is. Every thread reads the loss (a few values), so all
    # that write in one launch write the same code: 1 for a non-finite loss (whatever the
    # gradients), else 2. ``steps`` is a step input: a replayed step marks its own number.
    if status[0] != 0:
        return
    step = steps[0]
    for i in range(loss.size):
        value = loss[i]
        if value - value != 0:  # NaN for a NaN or an infinity, else 0
            if cuda.grid(1) == 0:
                status[0] = 1
                status[1] = step
            return
    # The gradients' elements numbered one after another (gradient k's from starts[k]): a
    # thread takes one at a time, grid-stride, gradient k found once for its run of elements
    # (a tuple indexed at run time is a switch over its entries), four elements' loads in
    # flight at a time (x - x is 0 for a finite x, else NaN: four such summed without a
    # branch, each load was made only once the last was tested); a thread that found one
    # writes once, at the end.
    bad, j, stride, k = False, cuda.grid(1), cuda.gridsize(1), 0
    while j < starts[len(grads)]:
        while j >= starts[k + 1]:
            k += 1
        grad, first, end = grads[k], starts[k], starts[k + 1]
        while j + 3 * stride < end:
            i = j - first
            v0, v1, v2, v3 = grad[i], grad[i + stride], grad[i + 2 * stride], grad[i + 3 * stride]
            bad |= ((v0 - v0) + (v1 - v1)) + ((v2 - v2) + (v3 - v3)) != 0
            j += 4 * stride
        while j < end:
            value = grad[j - first]
            bad |= value - value != 0
            j += stride
    if bad:
        status[0] = 2  # every thread that writes writes the same values
        status[1] = step


@cached_kernel
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


@cache
def _update_metrics_kernel(dtype: str) -> Any:
    item = numba.from_dtype(np.dtype(dtype))
    # x * y rounded on its own, as the separate kernels this one replaces did: never fused with
    # the addition after it into one FMA (libdevice's explicitly rounded product; the
    # simulator runs Python, which fuses nothing).
    if SIMULATED:
        multiply = cuda.jit(device=True)(_product)
    else:
        multiply = libdevice.fmul_rn if item == numba.float32 else libdevice.dmul_rn

    @cached_kernel
    def kernel(
        loss_total, loss_count, loss, weight, total, count, scores, target, columns, one_hot,
        rows, parts,
    ):  # fmt: skip
        # One block: its threads take the rows in turn and the block adds up their hits, as
        # count_correct; then thread 0 adds the step's values to the totals in place.
        partial = cuda.shared.array(REDUCE_THREADS, numba.int32)
        hits = 0
        if parts & 2:
            for row in range(cuda.threadIdx.x, rows, REDUCE_THREADS):
                truth = argmax_row(target, row * columns, columns) if one_hot else int(target[row])
                hits += argmax_row(scores, row * columns, columns) == truth
        hits = block_sum(partial, hits)
        if cuda.threadIdx.x == 0:
            if parts & 1:
                loss_total[0] = loss_total[0] + multiply(loss[0], weight)
                loss_count[0] = loss_count[0] + weight
            if parts & 2:
                total[0] = total[0] + item(hits)
                count[0] = count[0] + item(rows)

    return kernel


def _product(x, y):
    return x * y


def update_metrics(
    loss_total: CudaArray | None, loss_count: CudaArray | None, loss: Any, weight: float,
    total: CudaArray | None, count: CudaArray | None, scores: CudaArray | None,
    target: CudaArray | None,
) -> None:  # fmt: skip
    """The loss tracker's and an argmax accuracy's states (0-d arrays) updated in place in one
    launch: the same operations, in their dtype, as ``total = total + loss * weight`` and the
    like (see the contract)."""
    states = [a for a in (loss_total, loss_count, total, count) if a is not None]
    if not states:
        return
    dtype = states[0].dtype
    for state in states:
        bounds.shape_is("update_metrics", "a state", state, ())
        if state.dtype != dtype:
            raise TypeError(f"update_metrics: states of dtypes {dtype} and {state.dtype}")
    parts, rows, columns = 0, 0, 1
    if loss_total is not None:
        bounds.shape_is("update_metrics", "loss", loss, ())
        parts, loss = 1, loss.astype(dtype, copy=False)
    else:
        loss_total = loss_count = loss = states[0]  # not read
    if total is not None:
        bounds.targets("update_metrics", scores, target)
        parts, columns = parts | 2, scores.shape[-1]
        rows = scores.size // columns
    else:
        total = count = scores = target = states[0]  # not read
    configure(_update_metrics_kernel(dtype.str), 1, REDUCE_THREADS)(
        loss_total.flat, loss_count.flat, loss.flat, dtype.type(weight), total.flat,
        count.flat, scores.flat, target.flat, columns, target.ndim == scores.ndim, rows, parts,
    )  # fmt: skip


# Kernel parameters: 4 KB, where numba passes each 1-D array in 56 bytes and each start in 8;
# more gradients than fit go to further launches.
CHECKED_AT_ONCE = 60


def check_step(loss: CudaArray, grads: list[CudaArray], step: CudaArray, status: CudaArray) -> None:
    """``check_finite`` of the loss (code 1), then of each gradient (code 2), in one launch
    for the gradients of each dtype: the first non-finite one marks a clean ``status`` with
    the step number ``step[0]`` (a device array)."""
    bounds.shape_is("check_step", "step", step, (1,))
    by_dtype: dict[np.dtype, list[CudaArray]] = {}
    for grad in grads:
        by_dtype.setdefault(grad.dtype, []).append(grad)
    parts = [
        same[first : first + CHECKED_AT_ONCE]
        for same in by_dtype.values()
        for first in range(0, len(same), CHECKED_AT_ONCE)
    ]
    for part in parts or [[loss]]:  # no gradient: the loss alone (and as a gradient: code 1)
        starts = tuple(itertools.accumulate((g.size for g in part), initial=0))
        launch(_check_step, starts[-1])(
            loss.flat, tuple(g.flat for g in part), starts, step.flat, status.flat
        )


def accumulate(totals: CudaArray, loss: CudaArray, correct: CudaArray, count: int, status) -> None:
    """totals (float64 [loss*count, correct, count]) += this batch's, unless status is set."""
    bounds.shape_is("accumulate", "totals", totals, (3,))
    configure(_accumulate, 1, 1)(totals.flat, loss.flat, correct.flat, float(count), status.flat)
