"""The metric functions, each a Tensor of per-sample values without a gradient (accuracies,
cosine similarity; the losses' own are in :mod:`autoconv.losses`), the table of those a
:class:`~autoconv.metrics.MeanMetricWrapper`'s config may name, and how a metric takes its
inputs: as arrays on the predictions' device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv import losses
from autoconv.backends import array_device, namespace
from autoconv.losses import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
    squeeze_or_expand_to_same_rank,
)
from autoconv.tensor import Tensor


# ---------------------------------------------------------------------------- arrays
def array_of(value: Any) -> Any:
    """A Tensor's values, a device array as it is, anything else as a NumPy array."""
    if isinstance(value, Tensor):
        return value.data
    return value if array_device(value) != "cpu" else np.asarray(value)


def on_device(device: str, value: Any, dtype: Any = None) -> Any:
    """``value`` as an array on ``device`` (of ``dtype`` if given)."""
    data = array_of(value)
    if array_device(data) != device:
        data = namespace(device).asarray(namespace(array_device(data)).to_numpy(data))
    return data if dtype is None else data.astype(dtype, copy=False)


def metric_inputs(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """(y_true, y_pred) as arrays on y_pred's device; predictions that are not floating point
    become float32, targets keep their dtype."""
    y_pred = array_of(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(np.float32)
    return on_device(array_device(y_pred), y_true), y_pred


def check_two_dimensional(owner: str, y_true: Any, y_pred: Any, classes: int | None) -> None:
    """A ValueError unless y_true and y_pred are both (batch_size, output_dim), of one shape,
    with ``classes`` outputs where the metric's state was made for them (None: not yet). The
    message for ranks is Keras's for ``owner``."""
    if y_pred.ndim != 2 or y_true.ndim != 2:
        raise ValueError(
            f"{owner} expects 2D inputs with shape (batch_size, output_dim). Received input "
            f"shapes: y_pred.shape={y_pred.shape} and y_true.shape={y_true.shape}."
        )
    if y_true.shape != y_pred.shape or classes not in (None, y_pred.shape[1]):
        made = "" if classes is None else f" (its state is for output_dim={classes})"
        raise ValueError(
            f"{owner} expects y_true and y_pred of one shape (batch_size, output_dim){made}. "
            f"Received: y_pred.shape={y_pred.shape} and y_true.shape={y_true.shape}."
        )


def as_float(mask: Any, dtype: Any = np.float32) -> Any:
    """A comparison's result (bool on the CPU, 0/1 on the GPU) as 0/1 numbers of ``dtype``."""
    return mask.astype(dtype, copy=False)


def squeeze_last(a: Any) -> Any:
    return a.reshape(a.shape[:-1])


# ------------------------------------------------------------------- metric functions
def accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """Mean over the last axis of y_true == y_pred (exact equality)."""
    y_true, y_pred = metric_inputs(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.astype(y_pred.dtype), y_pred)
    return Tensor(as_float(y_true == y_pred).mean(axis=-1))


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Tensor:
    """Mean over the last axis of y_true == (y_pred > threshold)."""
    y_true, y_pred = metric_inputs(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    predicted = as_float(y_pred > threshold, y_true.dtype)
    return Tensor(as_float(y_true == predicted).mean(axis=-1))


def _argmax(a: Any) -> Any:
    return namespace(array_device(a)).argmax(a, axis=-1)


def categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1 where the largest entry of y_pred is at the largest entry of the one-hot y_true, else
    0: (N, ..., C) -> (N, ...)."""
    y_true, y_pred = metric_inputs(y_true, y_pred)
    labels = _argmax(y_true)
    shape = labels.shape
    if labels.ndim == y_pred.ndim:
        labels = squeeze_last(labels)
    matches = as_float(labels == _argmax(y_pred).astype(labels.dtype))
    return Tensor(matches.reshape(shape))


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1 where the largest entry of y_pred (N, ..., C) is at the integer label y_true (N, ...)
    or (N, ..., 1), else 0: (N, ...)."""
    y_true, y_pred = metric_inputs(y_true, y_pred)
    shape = y_true.shape
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = squeeze_last(y_true)
    matches = as_float(y_true == _argmax(y_pred).astype(y_true.dtype)).reshape(shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = squeeze_last(matches)
    return Tensor(matches)


def _in_top_k(labels: Any, y_pred: Any, k: int) -> Any:
    """0/1: whether each label's score is at least the k-th largest of its row (ties count),
    i.e. fewer than k scores are larger. labels (M,), y_pred (M, C)."""
    xp = namespace(array_device(y_pred))
    target = xp.one_hot(labels, y_pred.shape[-1], y_pred.dtype)
    score = (y_pred * target).sum(axis=-1, keepdims=True)
    larger = as_float(y_pred > score, y_pred.dtype).sum(axis=-1)
    return as_float(larger < k)


def _top_k_accuracy(labels: Any, y_pred: Any, k: int) -> Tensor:
    shape = labels.shape
    matches = _in_top_k(labels.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k)
    return Tensor(matches.reshape(shape))


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> Tensor:
    """1 where the class of the one-hot y_true is among the k largest entries of y_pred."""
    y_true, y_pred = metric_inputs(y_true, y_pred)
    return _top_k_accuracy(_argmax(y_true), y_pred, k)


def sparse_top_k_categorical_accuracy(
    y_true: Any, y_pred: Any, k: int = 5, from_sorted_ids: bool = False
) -> Tensor:
    """1 where the integer label y_true is among the k largest entries of y_pred; with
    ``from_sorted_ids``, y_pred (batch, N) holds class ids sorted by score, highest first, and
    the label is looked for among its first k."""
    y_true, y_pred = metric_inputs(y_true, y_pred)
    if not from_sorted_ids:
        return _top_k_accuracy(y_true, y_pred, k)
    ids = y_pred.reshape(-1, y_pred.shape[-1])[:, :k]
    labels = y_true.reshape(-1, 1).astype(ids.dtype)
    matches = as_float((ids == labels).sum(axis=-1) > 0, ids.dtype)
    return Tensor(matches.reshape(y_true.shape))


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """sum(l2_normalize(y_true) * l2_normalize(y_pred)) along ``axis`` (1: same direction)."""
    return -losses.cosine_similarity(y_true, y_pred, axis)


# The functions a MeanMetricWrapper's config may name.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    fn.__name__: fn
    for fn in (
        accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
        top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, cosine_similarity,
        binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy,
        categorical_focal_crossentropy, categorical_hinge, hinge, huber, kl_divergence,
        log_cosh, mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
        mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy, squared_hinge,
    )
}  # fmt: skip


def function(name: str) -> Callable[..., Any]:
    if name not in FUNCTIONS:
        raise ValueError(f"unknown metric function {name!r}")
    return FUNCTIONS[name]
