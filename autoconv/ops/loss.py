"""The loss ops: fused cross-entropies with their VJPs, and the batch-mean losses.

``autoconv.losses`` builds Keras's per-sample losses and their reductions on these and the
other ops; the batch means here (``categorical_crossentropy`` ...) are what ``autoconv.<name>``
has always returned. Targets never need a gradient here; predictions do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv import config
from autoconv.backends import array_device, backend, namespace
from autoconv.ops import elementwise, reduce
from autoconv.ops.base import as_tensor
from autoconv.tensor import Tensor, record


def check_pair(y_true: Any, y_pred: Any, op: str) -> None:
    """A ValueError naming ``op`` unless y_true and y_pred have one shape with a class axis."""
    if y_true.shape != y_pred.shape:
        hint = ""
        if y_true.shape == y_pred.shape[:-1] and ("categorical" in op or "softmax" in op):
            hint = (
                "; for integer labels use sparse_categorical_crossentropy, or one-hot them "
                "with autoconv.utils.to_categorical"
            )
        raise ValueError(f"{op}: y_true shape {y_true.shape} != y_pred shape {y_pred.shape}{hint}")
    if y_pred.ndim < 1:
        raise ValueError(f"{op}: y_pred needs a class axis, got shape {y_pred.shape}")


def softmax_cross_entropy(logits: Any, y_true: Any) -> Tensor:
    """mean over the batch of -sum(y_true * log_softmax(logits)), fused and stable.

    logits, y_true: (N, ..., C). The gradient is (softmax(logits) * sum(y_true) - y_true) / N.
    """
    logits = as_tensor(logits)
    y_true = as_tensor(y_true, like=logits)
    check_pair(y_true, logits, "softmax_cross_entropy")
    xp = backend(logits)
    target = y_true.data
    log_probs, loss = xp.softmax_cross_entropy(logits.data, target)  # one fused pass
    rows = log_probs.size // max(log_probs.shape[-1], 1)

    def backward(g):
        grad_logits = xp.softmax_cross_entropy_grad(log_probs, target, g)
        grad_target = -log_probs * (g / rows) if y_true.requires_grad else None
        return grad_logits, grad_target

    return record(loss, (logits, y_true), backward, "softmax_cross_entropy")


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> Tensor:
    """Cross-entropy of one-hot (or soft) targets, averaged over the batch.

    y_true, y_pred: (N, ..., C). From probabilities, as Keras does: y_pred is rescaled to sum
    to 1 over the class axis and clipped to [eps, 1 - eps] (``config.epsilon()``) before the log.
    """
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true, like=y_pred)
    check_pair(y_true, y_pred, "categorical_crossentropy")
    if from_logits:
        return softmax_cross_entropy(y_pred, y_true)
    return reduce.mean(-reduce.sum(y_true * log_probabilities(y_pred), axis=-1))


def log_probabilities(y_pred: Tensor, axis: int = -1) -> Tensor:
    """log of y_pred taken as probabilities, as Keras does: rescaled to sum to 1 along ``axis``
    and clipped to [eps, 1 - eps] first (``config.epsilon()``: a 0 gives log(eps), not -inf)."""
    probs, eps = y_pred / reduce.sum(y_pred, axis=axis, keepdims=True), config.epsilon()
    return elementwise.log(elementwise.clip(probs, eps, 1.0 - eps))


def sigmoid_cross_entropy(logits: Any, target: Any) -> Tensor:
    """Elementwise -target*log(sigmoid(x)) - (1-target)*log(1-sigmoid(x)) of logits x, computed
    without overflow as max(x, 0) - x*target + log(1 + exp(-|x|)).

    logits, target: one shape. The gradient is sigmoid(x) - target for the logits (and -x for
    the target)."""
    logits = as_tensor(logits)
    target = as_tensor(target, like=logits)
    if target.shape != logits.shape:
        raise ValueError(
            f"sigmoid_cross_entropy: target shape {target.shape} != logits shape {logits.shape}"
        )
    xp = backend(logits)
    x, z = logits.data, target.data

    def backward(g):
        return xp.sigmoid_cross_entropy_grad(g, x, z), (-g * x if target.requires_grad else None)

    out = xp.sigmoid_cross_entropy(x, z)
    return record(out, (logits, target), backward, "sigmoid_cross_entropy")


def one_hot(labels: Any, num_classes: int, dtype: Any = np.float32) -> Any:
    """Integer labels of shape S as one-hot rows of shape S + (num_classes,).

    Labels on the GPU (a cuda Tensor or array) give rows on the GPU; their range is not
    checked there (that would read them back): check them before uploading."""
    labels = labels.data if isinstance(labels, Tensor) else labels
    if array_device(labels) != "cpu":
        return namespace(array_device(labels)).one_hot(labels, num_classes, dtype)
    return np.eye(num_classes, dtype=dtype)[checked_labels(labels, num_classes)]


def checked_labels(labels: Any, num_classes: int | None) -> np.ndarray:
    """Class labels as an integer array, after checking they lie in [0, num_classes) (the
    range is not checked when ``num_classes`` is None). Float labels are cut toward zero, as
    Keras casts them to int64 (a segmentation mask resized bilinearly, keras.io's FCN, holds
    2.5 between classes 2 and 3: class 2); a NaN or an infinity is refused."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)):
            raise ValueError("one_hot: labels must be whole numbers (finite), got NaN or inf")
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got dtype {labels.dtype}")
    if (
        num_classes is not None
        and labels.size
        and (labels.min() < 0 or labels.max() >= num_classes)
    ):
        raise ValueError(
            f"one_hot: labels must lie in [0, {num_classes}), got range "
            f"[{labels.min()}, {labels.max()}]"
        )
    return labels


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> Tensor:
    """Cross-entropy of integer class labels y_true (N, ...) against y_pred (N, ..., C)."""
    y_pred = as_tensor(y_pred)
    labels = y_true.data if isinstance(y_true, Tensor) else y_true
    labels = labels if array_device(labels) != "cpu" else np.asarray(labels)
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"sparse_categorical_crossentropy: labels shape {labels.shape} does not match "
            f"y_pred shape {y_pred.shape} without its class axis"
        )
    target = one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
    return categorical_crossentropy(target, y_pred, from_logits=from_logits)


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """mean((y_true - y_pred) ** 2) over every axis."""
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true, like=y_pred)
    check_pair(y_true, y_pred, "mean_squared_error")
    diff = y_pred - y_true
    return reduce.mean(diff * diff)
