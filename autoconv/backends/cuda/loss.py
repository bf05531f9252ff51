"""The softmax of short rows and its log in one kernel each, the softmax cross-entropy of logits
with its batch mean in one kernel, its gradient in one, the sigmoid cross-entropy and its
gradient in one each, and the count of correct predictions in one. The names of
:mod:`autoconv.backends.cpu.loss`."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, empty
from autoconv.backends.cuda.elementwise import ONE, ZERO, _maximum, _minimum, exp
from autoconv.backends.cuda.reduce import REDUCE_THREADS, argmax_row, block_sum
from autoconv.backends.cuda.runtime import cached_kernel, configure, launch


@cached_kernel
def _count_correct(scores, target, columns, one_hot, count):
    # One block; its threads take the rows in turn and the block adds up their hits.
    partial = cuda.shared.array(REDUCE_THREADS, numba.int32)
    hits = 0
    for row in range(cuda.threadIdx.x, scores.size // columns, REDUCE_THREADS):
        truth = argmax_row(target, row * columns, columns) if one_hot else int(target[row])
        hits += argmax_row(scores, row * columns, columns) == truth
    total = block_sum(partial, hits)
    if cuda.threadIdx.x == 0:
        count[0] = total


def count_correct(scores: CudaArray, target: CudaArray) -> CudaArray:
    """How many rows of ``scores`` (N..., C) are largest at the true class (a 0-d int32
    array): ``target`` holds class labels (N...) or rows (N..., C) whose largest entry is
    the class. One launch."""
    bounds.targets("count_correct", scores, target)
    count = empty((), np.int32)
    configure(_count_correct, 1, REDUCE_THREADS)(
        scores.flat, target.flat, scores.shape[-1], target.ndim == scores.ndim, count.flat
    )
    return count


@cuda.jit(device=True)
def _log_softmax_row(x, base, columns, out, zero):
    """out[base : base + columns] = log(softmax(x[base : base + columns])), stable."""
    top = x[base]
    for c in range(1, columns):
        top = max(top, x[base + c])
    total = zero
    for c in range(columns):
        total += math.exp(x[base + c] - top)
    shift = top + math.log(total)
    for c in range(columns):
        out[base + c] = x[base + c] - shift


@cached_kernel
def _log_softmax_rows(x, columns, out, zero):
    for row in range(cuda.grid(1), x.size // columns, cuda.gridsize(1)):
        _log_softmax_row(x, row * columns, columns, out, zero)


@cached_kernel
def _softmax_rows(x, columns, out, zero):
    # A thread a row: its maximum, the exponentials of the entries less it (kept in out) and
    # their sum, then each divided by the sum (as the CPU: a NaN or an infinity in a row makes
    # the sum, so the whole row, NaN).
    for row in range(cuda.grid(1), x.size // columns, cuda.gridsize(1)):
        base = row * columns
        top = x[base]
        for c in range(1, columns):
            top = max(top, x[base + c])
        total = zero
        for c in range(columns):
            e = math.exp(x[base + c] - top)
            out[base + c] = e
            total += e
        for c in range(columns):
            out[base + c] = out[base + c] / total


# Rows along the last axis at most this long get one launch, a thread a row (a classifier's
# output: 5 launches of the CPU's steps took MNIST's prediction step 19 of its 141 us on an
# H200); longer rows take those steps, each a launch over every entry.
ROW_SOFTMAX_COLUMNS = 64


def softmax(x: CudaArray, axis: int | tuple[int, ...]) -> CudaArray:
    """exp(x) / sum(exp(x)) along ``axis``, stable (the maximum along it subtracted first): the
    last axis, in rows of at most ROW_SOFTMAX_COLUMNS, in one launch; else as the CPU writes it
    (maximum, difference, exponential, sum, quotient)."""
    columns = x.shape[-1] if x.ndim else 0
    if axis in (x.ndim - 1, (x.ndim - 1,)) and 0 < columns <= ROW_SOFTMAX_COLUMNS:
        out = empty(x.shape, x.dtype)
        if out.size:
            launch(_softmax_rows, out.size // columns)(x.flat, columns, out.flat, x.dtype.type(0))
        return out
    e = exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@cache
def _softmax_cross_entropy_kernel(dtype: str) -> Any:
    item = numba.from_dtype(np.dtype(dtype))

    @cached_kernel
    def kernel(logits, target, columns, rows, log_probs, loss):
        # One block: its threads take the rows in turn (log-softmax, then the row's loss), and
        # the block adds up the losses in a fixed order, so the mean is the same every run.
        partial = cuda.shared.array(REDUCE_THREADS, item)
        total = item(0)
        for row in range(cuda.threadIdx.x, rows, REDUCE_THREADS):
            base = row * columns
            _log_softmax_row(logits, base, columns, log_probs, item(0))
            for c in range(columns):
                total -= target[base + c] * log_probs[base + c]
        total = block_sum(partial, total)
        if cuda.threadIdx.x == 0:
            loss[0] = total / item(rows)

    return kernel


@cached_kernel
def _softmax_cross_entropy_grad_rows(log_probs, target, columns, grad_loss, rows, grad, zero):
    scale = grad_loss[0] / rows
    for row in range(cuda.grid(1), log_probs.size // columns, cuda.gridsize(1)):
        base = row * columns
        mass = zero
        for c in range(columns):
            mass += target[base + c]
        for c in range(columns):
            grad[base + c] = (math.exp(log_probs[base + c]) * mass - target[base + c]) * scale


maximum = cuda.jit(device=True)(_maximum)  # NaN wins, as np.maximum
minimum = cuda.jit(device=True)(_minimum)


@cached_kernel
def _sigmoid_cross_entropy(logits, target, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        x = logits[i]
        decay = math.exp(-math.fabs(x))  # in (0, 1]: no term overflows
        out[i] = maximum(x, ZERO) - x * target[i] + math.log(ONE + decay)


@cached_kernel
def _sigmoid_cross_entropy_grad(grad, logits, target, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        x = logits[i]
        sigmoid = math.exp(minimum(x, ZERO)) / (ONE + math.exp(-math.fabs(x)))
        out[i] = grad[i] * (sigmoid - target[i])


def sigmoid_cross_entropy(logits: CudaArray, target: CudaArray) -> CudaArray:
    """max(x, 0) - x * z + log(1 + exp(-|x|)) of logits x and targets z (one shape): one
    launch."""
    bounds.shape_is("sigmoid_cross_entropy", "target", target, logits.shape)
    out = empty(logits.shape, logits.dtype)
    if out.size:
        launch(_sigmoid_cross_entropy, out.size)(logits.flat, target.flat, out.flat)
    return out


def sigmoid_cross_entropy_grad(grad: CudaArray, logits: CudaArray, target: CudaArray) -> CudaArray:
    """grad * (sigmoid(x) - z), sigmoid(x) as exp(min(x, 0)) / (1 + exp(-|x|)): one launch."""
    bounds.shape_is("sigmoid_cross_entropy_grad", "logits", logits, grad.shape)
    bounds.shape_is("sigmoid_cross_entropy_grad", "target", target, logits.shape)
    out = empty(logits.shape, logits.dtype)
    if out.size:
        launch(_sigmoid_cross_entropy_grad, out.size)(grad.flat, logits.flat, target.flat, out.flat)
    return out


def log_softmax(x: CudaArray) -> CudaArray:
    """log(softmax(x)) along the last axis, stable (one thread per row)."""
    out = empty(x.shape, x.dtype)
    if out.size:
        launch(_log_softmax_rows, out.size // x.shape[-1])(
            x.flat, x.shape[-1], out.flat, x.dtype.type(0)
        )
    return out


def softmax_cross_entropy(logits: CudaArray, target: CudaArray) -> tuple[CudaArray, CudaArray]:
    """(log_softmax(logits), the mean over rows of -sum(target * log_softmax), 0-d): logits
    and target (N..., C). One launch of one block (a batch has few rows)."""
    bounds.shape_is("softmax_cross_entropy", "target", target, logits.shape)
    log_probs, loss = empty(logits.shape, logits.dtype), empty((), logits.dtype)
    rows = logits.size // logits.shape[-1] if logits.shape[-1] else 0
    configure(_softmax_cross_entropy_kernel(logits.dtype.str), 1, REDUCE_THREADS)(
        logits.flat, target.flat, logits.shape[-1], rows, log_probs.flat, loss.flat
    )
    return log_probs, loss


def softmax_cross_entropy_grad(
    log_probs: CudaArray, target: CudaArray, grad_loss: CudaArray
) -> CudaArray:
    """The gradient of :func:`softmax_cross_entropy`'s mean loss with respect to the logits,
    times ``grad_loss`` (0-d, read on the device): (softmax * sum(target) - target) *
    grad_loss / rows. One launch."""
    bounds.shape_is("softmax_cross_entropy_grad", "target", target, log_probs.shape)
    grad = empty(log_probs.shape, log_probs.dtype)
    rows = log_probs.size // log_probs.shape[-1] if log_probs.shape[-1] else 0
    if grad.size:
        launch(_softmax_cross_entropy_grad_rows, rows)(
            log_probs.flat, target.flat, log_probs.shape[-1], grad_loss.flat,
            log_probs.dtype.type(rows), grad.flat, log_probs.dtype.type(0),
        )  # fmt: skip
    return grad
