"""Connectionist temporal classification (CTC): the forward variables and loss of each sample, and
the loss's gradient with respect to the logits, in log space. The names of
:mod:`autoconv.backends.cuda.ctc`.

A sample's labels l (its first ``target_lengths[n]`` targets) are read with a blank between and
around them: the extended labels l' of length S = 2 L + 1, l'[s] the blank for even s and
l[s // 2] for odd s. The forward variable alpha[t, s] is the log probability of the paths' first
t + 1 steps that end at l'[s]; the backward variable beta[t, s] that of their steps from t on,
starting at l'[s] (both count step t's own emission). From a label a path steps to itself, to
the next entry, or over the next blank to the next label where that label differs. The loss is
-log of the probability of all paths through the whole input, and its gradient with respect to
the logits at (t, k) is softmax(logits)[t, k] minus the posterior of the entries of l' that are
k at step t (zero beyond the sample's input length), as Graves et al. (2006) derive it.

Lengths or labels out of range (which the wrappers refuse on the host, and a kernel meets only
in arrays left on the GPU) give a NaN loss and NaN gradients; a sample whose labels cannot fit
its input length (fewer steps than labels and repeats need) has an infinite loss and NaN
gradients, as PyTorch's ``ctc_loss`` without ``zero_infinity``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from autoconv.backends import bounds
from autoconv.backends.cpu.jit import Kernel, inline


@inline
def _log_add(a, b, c):
    top = max(a, b, c)
    if top == -math.inf:
        return top
    return top + math.log(math.exp(a - top) + math.exp(b - top) + math.exp(c - top))


@inline
def _label(targets, n, s, blank):
    return blank if s % 2 == 0 else int(targets[n, s // 2])


@inline
def _can_skip(targets, n, s):
    """Whether a path may reach label s (odd) from s - 2, over the blank between."""
    return s % 2 == 1 and s >= 3 and targets[n, s // 2] != targets[n, s // 2 - 1]


@inline
def _sizes(targets, target_lengths, input_lengths, n, steps_max, classes):
    """(L, T, valid) of sample n: its label count and input length, valid when both are in
    range and its labels are classes (integers in [0, classes))."""
    labels, steps = int(target_lengths[n]), int(input_lengths[n])
    valid = 0 <= labels <= targets.shape[1] and 0 <= steps <= steps_max
    for i in range(labels if valid else 0):
        label = targets[n, i]
        valid = valid and 0 <= label < classes and label == int(label)
    return labels, steps, valid


def _forward(log_probs, targets, target_lengths, input_lengths, blank, alpha, loss):
    batch, steps_max, classes = log_probs.shape
    for n in prange(batch):
        labels, steps, valid = _sizes(targets, target_lengths, input_lengths, n, steps_max, classes)
        width = 2 * labels + 1
        if not valid:
            loss[n] = math.nan
            continue
        for t in range(steps):
            for s in range(width):
                k = _label(targets, n, s, blank)
                if t == 0:
                    alpha[n, 0, s] = log_probs[n, 0, k] if s < 2 else -math.inf
                    continue
                before = alpha[n, t - 1, s - 1] if s >= 1 else -math.inf
                skip = alpha[n, t - 1, s - 2] if _can_skip(targets, n, s) else -math.inf
                alpha[n, t, s] = _log_add(alpha[n, t - 1, s], before, skip) + log_probs[n, t, k]
        if steps == 0:
            loss[n] = 0.0 if labels == 0 else math.inf
        else:
            last = alpha[n, steps - 1, width - 2] if width >= 2 else -math.inf
            loss[n] = -_log_add(alpha[n, steps - 1, width - 1], last, -math.inf)


def _backward(
    log_probs, targets, target_lengths, input_lengths, blank, alpha, loss, grad_loss, beta, grad
):
    batch, steps_max, classes = log_probs.shape
    for n in prange(batch):
        labels, steps, valid = _sizes(targets, target_lengths, input_lengths, n, steps_max, classes)
        width = 2 * labels + 1
        for t in range(steps - 1 if valid else -1, -1, -1):
            for s in range(width):
                k = _label(targets, n, s, blank)
                if t == steps - 1:
                    beta[n, t, s] = log_probs[n, t, k] if s >= width - 2 else -math.inf
                    continue
                after = beta[n, t + 1, s + 1] if s + 1 < width else -math.inf
                over = s + 2 < width and _can_skip(targets, n, s + 2)
                skip = beta[n, t + 1, s + 2] if over else -math.inf
                beta[n, t, s] = _log_add(beta[n, t + 1, s], after, skip) + log_probs[n, t, k]
        for t in range(steps_max):
            if not valid or t >= steps or loss[n] == math.inf:
                # NaN where the sample is invalid or cannot be aligned (its whole input)
                grad[n, t, :] = 0.0 if valid and t >= steps else math.nan
                continue
            for k in range(classes):
                grad[n, t, k] = math.exp(log_probs[n, t, k])
            for s in range(width):
                k = _label(targets, n, s, blank)
                path = alpha[n, t, s] + beta[n, t, s] - log_probs[n, t, k] + loss[n]
                grad[n, t, k] -= math.exp(path)
            for k in range(classes):
                grad[n, t, k] *= grad_loss[n]


_forward_kernel = Kernel(_forward)
_backward_kernel = Kernel(_backward)


def ctc_loss(
    log_probs: np.ndarray,
    targets: np.ndarray,
    target_lengths: np.ndarray,
    input_lengths: np.ndarray,
    blank: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(alpha (N, T, 2 L + 1), loss (N,)): the CTC forward variables and -log p(labels | input)
    of each sample, from log-probabilities (N, T, C), targets (N, L) (any numeric dtype, integer
    values), and lengths (N,)."""
    targets, target_lengths, input_lengths = map(
        np.asarray, (targets, target_lengths, input_lengths)
    )
    bounds.ctc("ctc_loss", log_probs, targets, (target_lengths, input_lengths), blank)
    batch, steps, _ = log_probs.shape
    alpha = np.empty((batch, steps, 2 * targets.shape[1] + 1), log_probs.dtype)
    loss = np.empty(batch, log_probs.dtype)
    _forward_kernel(
        alpha.size, log_probs, targets, target_lengths, input_lengths, blank, alpha, loss
    )
    return alpha, loss


def ctc_loss_grad(
    log_probs: np.ndarray,
    targets: np.ndarray,
    target_lengths: np.ndarray,
    input_lengths: np.ndarray,
    blank: int,
    alpha: np.ndarray,
    loss: np.ndarray,
    grad_loss: np.ndarray,
) -> np.ndarray:
    """The gradient (N, T, C) of sum(grad_loss * loss) with respect to the logits whose
    log-softmax is ``log_probs``, from :func:`ctc_loss`'s ``alpha`` and ``loss``."""
    targets, target_lengths, input_lengths = map(
        np.asarray, (targets, target_lengths, input_lengths)
    )
    lengths = (target_lengths, input_lengths, loss, grad_loss)
    bounds.ctc("ctc_loss_grad", log_probs, targets, lengths, blank, alpha)
    beta, grad = np.empty_like(alpha), np.empty_like(log_probs)
    _backward_kernel(
        alpha.size + grad.size, log_probs, targets, target_lengths, input_lengths, blank, alpha,
        loss, grad_loss, beta, grad,
    )  # fmt: skip
    return grad
