"""Connectionist temporal classification (CTC): the forward variables and loss of each sample, and
the loss's gradient with respect to the logits. The names and the recursions of
:mod:`autoconv.backends.cpu.ctc` (which says what they compute), a block a sample: its threads
take the extended labels of one step at a time (the steps in order, as the recursions need),
then the gradient's rows a step a thread. Lengths and labels left on the GPU are checked there,
a sample with one out of range getting NaNs, as on the CPU.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, asarray, empty
from autoconv.backends.cuda.runtime import SIMULATED, cached_kernel, configure

# Threads of a sample's block: a warp covers the extended labels of 15 labels in one pass (a
# captcha's or a word's); the simulator runs each thread in Python.
CTC_THREADS = 8 if SIMULATED else 32


@cuda.jit(device=True)
def _log_add(a, b, c):
    top = max(a, b, c)
    if top == -math.inf:
        return top
    return top + math.log(math.exp(a - top) + math.exp(b - top) + math.exp(c - top))


@cuda.jit(device=True)
def _label(targets, n, s, blank):
    return blank if s % 2 == 0 else int(targets[n, s // 2])


@cuda.jit(device=True)
def _can_skip(targets, n, s):
    return s % 2 == 1 and s >= 3 and targets[n, s // 2] != targets[n, s // 2 - 1]


@cuda.jit(device=True)
def _sizes(targets, target_lengths, input_lengths, n, steps_max, classes):
    labels, steps = int(target_lengths[n]), int(input_lengths[n])
    valid = 0 <= labels <= targets.shape[1] and 0 <= steps <= steps_max
    for i in range(labels if valid else 0):
        label = targets[n, i]
        valid = valid and 0 <= label < classes and label == int(label)
    return labels, steps, valid


@cached_kernel
def _forward(log_probs, targets, target_lengths, input_lengths, blank, alpha, loss):
    n, first = cuda.blockIdx.x, cuda.threadIdx.x
    steps_max, classes = log_probs.shape[1], log_probs.shape[2]
    labels, steps, valid = _sizes(targets, target_lengths, input_lengths, n, steps_max, classes)
    width = 2 * labels + 1
    for t in range(steps if valid else 0):  # the same count in every thread of the block
        for s in range(first, width, cuda.blockDim.x):
            k = _label(targets, n, s, blank)
            if t == 0:
                alpha[n, 0, s] = log_probs[n, 0, k] if s < 2 else -math.inf
                continue
            before = alpha[n, t - 1, s - 1] if s >= 1 else -math.inf
            skip = alpha[n, t - 1, s - 2] if _can_skip(targets, n, s) else -math.inf
            alpha[n, t, s] = _log_add(alpha[n, t - 1, s], before, skip) + log_probs[n, t, k]
        cuda.syncthreads()
    if first == 0:
        if not valid:
            loss[n] = math.nan
        elif steps == 0:
            loss[n] = 0.0 if labels == 0 else math.inf
        else:
            last = alpha[n, steps - 1, width - 2] if width >= 2 else -math.inf
            loss[n] = -_log_add(alpha[n, steps - 1, width - 1], last, -math.inf)


@cached_kernel
def _backward(
    log_probs, targets, target_lengths, input_lengths, blank, alpha, loss, grad_loss, beta, grad
):
    n, first = cuda.blockIdx.x, cuda.threadIdx.x
    steps_max, classes = log_probs.shape[1], log_probs.shape[2]
    labels, steps, valid = _sizes(targets, target_lengths, input_lengths, n, steps_max, classes)
    width = 2 * labels + 1
    for t in range(steps - 1 if valid else -1, -1, -1):
        for s in range(first, width, cuda.blockDim.x):
            k = _label(targets, n, s, blank)
            if t == steps - 1:
                beta[n, t, s] = log_probs[n, t, k] if s >= width - 2 else -math.inf
                continue
            after = beta[n, t + 1, s + 1] if s + 1 < width else -math.inf
            over = s + 2 < width and _can_skip(targets, n, s + 2)
            skip = beta[n, t + 1, s + 2] if over else -math.inf
            beta[n, t, s] = _log_add(beta[n, t + 1, s], after, skip) + log_probs[n, t, k]
        cuda.syncthreads()
    for t in range(first, steps_max, cuda.blockDim.x):
        if not valid or t >= steps or loss[n] == math.inf:
            for k in range(classes):
                grad[n, t, k] = 0.0 if valid and t >= steps else math.nan
            continue
        for k in range(classes):
            grad[n, t, k] = math.exp(log_probs[n, t, k])
        for s in range(width):
            k = _label(targets, n, s, blank)
            path = alpha[n, t, s] + beta[n, t, s] - log_probs[n, t, k] + loss[n]
            grad[n, t, k] -= math.exp(path)
        for k in range(classes):
            grad[n, t, k] *= grad_loss[n]


def _on_device(array: object) -> CudaArray:
    """A CudaArray as it is; host arrays (targets and lengths) copied over, their dtype kept."""
    return array if isinstance(array, CudaArray) else asarray(np.asarray(array))


def ctc_loss(
    log_probs: CudaArray,
    targets: object,
    target_lengths: object,
    input_lengths: object,
    blank: int,
) -> tuple[CudaArray, CudaArray]:
    """(alpha (N, T, 2 L + 1), loss (N,)): the CTC forward variables and -log p(labels | input)
    of each sample, from log-probabilities (N, T, C), targets (N, L) (any numeric dtype, integer
    values), and lengths (N,). One launch, a block a sample."""
    targets, target_lengths, input_lengths = map(
        _on_device, (targets, target_lengths, input_lengths)
    )
    bounds.ctc("ctc_loss", log_probs, targets, (target_lengths, input_lengths), blank)
    batch, steps, _ = log_probs.shape
    alpha = empty((batch, steps, 2 * targets.shape[1] + 1), log_probs.dtype)
    loss = empty((batch,), log_probs.dtype)
    if batch:
        configure(_forward, batch, CTC_THREADS)(
            log_probs.nd, targets.nd, target_lengths.nd, input_lengths.nd, blank, alpha.nd, loss.nd
        )
    return alpha, loss


def ctc_loss_grad(
    log_probs: CudaArray,
    targets: object,
    target_lengths: object,
    input_lengths: object,
    blank: int,
    alpha: CudaArray,
    loss: CudaArray,
    grad_loss: CudaArray,
) -> CudaArray:
    """The gradient (N, T, C) of sum(grad_loss * loss) with respect to the logits whose
    log-softmax is ``log_probs``, from :func:`ctc_loss`'s ``alpha`` and ``loss``. One launch."""
    targets, target_lengths, input_lengths = map(
        _on_device, (targets, target_lengths, input_lengths)
    )
    per_sample = (target_lengths, input_lengths, loss, grad_loss)
    bounds.ctc("ctc_loss_grad", log_probs, targets, per_sample, blank, alpha)
    beta, grad = empty(alpha.shape, alpha.dtype), empty(log_probs.shape, log_probs.dtype)
    if grad.size:
        configure(_backward, log_probs.shape[0], CTC_THREADS)(
            log_probs.nd, targets.nd, target_lengths.nd, input_lengths.nd, blank, alpha.nd,
            loss.nd, grad_loss.nd, beta.nd, grad.nd,
        )  # fmt: skip
    return grad
