"""The softmax and its log, the softmax cross-entropy of a model's logits in one pass, its
gradient, the sigmoid cross-entropy and its gradient, and the count of correct predictions (the
accuracy) without computing the softmax."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import bounds


def log_softmax(x: np.ndarray) -> np.ndarray:
    """log(softmax(x)) along the last axis, stable (the row maximum is subtracted first)."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(x: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, stable (the maximum along it subtracted first)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_cross_entropy(logits: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, Any]:
    """(log_softmax(logits), the mean over rows of -sum(target * log_softmax)): logits and
    target (N..., C)."""
    bounds.shape_is("softmax_cross_entropy", "target", target, logits.shape)
    log_probs = log_softmax(logits)
    return log_probs, -(target * log_probs).sum(axis=-1).mean()


def softmax_cross_entropy_grad(
    log_probs: np.ndarray, target: np.ndarray, grad_loss: np.ndarray
) -> np.ndarray:
    """The gradient of :func:`softmax_cross_entropy`'s mean loss with respect to the logits,
    times ``grad_loss`` (0-d): (softmax * sum(target) - target) * grad_loss / rows."""
    bounds.shape_is("softmax_cross_entropy_grad", "target", target, log_probs.shape)
    rows = log_probs.size // log_probs.shape[-1]
    mass = target.sum(axis=-1, keepdims=True)
    return (np.exp(log_probs) * mass - target) * (grad_loss / rows)


def sigmoid_cross_entropy(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    """max(x, 0) - x * z + log(1 + exp(-|x|)) of logits x and targets z (one shape)."""
    bounds.shape_is("sigmoid_cross_entropy", "target", target, logits.shape)
    decay = np.exp(-np.abs(logits))  # in (0, 1]: no term overflows
    return np.maximum(logits, 0) - logits * target + np.log(1 + decay)


def sigmoid_cross_entropy_grad(
    grad: np.ndarray, logits: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """grad * (sigmoid(x) - z), sigmoid(x) as exp(min(x, 0)) / (1 + exp(-|x|))."""
    bounds.shape_is("sigmoid_cross_entropy_grad", "logits", logits, np.shape(grad))
    bounds.shape_is("sigmoid_cross_entropy_grad", "target", target, logits.shape)
    sigmoid = np.exp(np.minimum(logits, 0)) / (1 + np.exp(-np.abs(logits)))
    return grad * (sigmoid - target)


def count_correct(scores: np.ndarray, target: np.ndarray) -> int:
    """How many rows of ``scores`` (N..., C) are largest at the true class: ``target`` holds
    class labels (N...) or rows (N..., C) whose largest entry is the class."""
    bounds.targets("count_correct", scores, target)
    truth = target.argmax(axis=-1) if target.ndim == scores.ndim else target
    return int(np.count_nonzero(scores.argmax(axis=-1) == truth))
