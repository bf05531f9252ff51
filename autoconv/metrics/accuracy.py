"""The accuracies as metrics (Keras's keras/src/metrics/accuracy_metrics.py), and the
training step's fused update of the loss and accuracy."""

from __future__ import annotations

from typing import Any

from autoconv.backends import array_device
from autoconv.metrics.base import Mean, MeanMetricWrapper, Metric
from autoconv.metrics.functions import (
    accuracy,
    array_of,
    binary_accuracy,
    categorical_accuracy,
    metric_inputs,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)


# -------------------------------------------------------------------------- accuracies
class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true exactly."""

    _direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often (y_pred > threshold) equals the 0/1 label."""

    _direction = "up"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if threshold is None or not 0 < threshold < 1:
            raise ValueError(
                f"BinaryAccuracy: threshold must lie in the open interval (0, 1), got {threshold!r}"
            )
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)
        self.threshold = threshold


class _ArgmaxAccuracy(MeanMetricWrapper):
    """Categorical and sparse accuracy: unweighted (N, C) batches are counted in one backend
    call (``count_correct``) instead of through per-sample values."""

    _direction = "up"

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        counted = self._counted(y_true, y_pred) if sample_weight is None else None
        if counted is None:
            super().update_state(y_true, y_pred, sample_weight)
            return
        y_pred, target = counted
        xp = self._to(array_device(y_pred))
        xp.update_metrics(None, None, None, 0, *self._in_place("total", "count"), y_pred, target)

    def _counted(self, y_true: Any, y_pred: Any) -> tuple[Any, Any] | None:
        """(scores, target) of an unweighted batch the backend counts in one pass (in place,
        ``update_metrics``), or None."""
        y_true, y_pred = metric_inputs(y_true, y_pred)
        target = self._target(y_true, y_pred) if y_pred.ndim == 2 else None
        return None if target is None else (y_pred, target)

    def _target(self, y_true: Any, y_pred: Any) -> Any:
        """y_true as count_correct takes it (rows or labels), or None if it cannot."""
        raise NotImplementedError


class CategoricalAccuracy(_ArgmaxAccuracy):
    """How often the largest prediction is at the one-hot label's class."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)

    def _target(self, y_true: Any, y_pred: Any) -> Any:
        return y_true if y_true.shape == y_pred.shape else None


class SparseCategoricalAccuracy(_ArgmaxAccuracy):
    """How often the largest prediction is at the integer label."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)

    def _target(self, y_true: Any, y_pred: Any) -> Any:
        rows = len(y_pred)
        return y_true.reshape(rows) if y_true.shape in ((rows,), (rows, 1)) else None


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the k largest predictions."""

    _direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the k largest predictions (``from_sorted_ids``:
    among the first k of y_pred's class ids, sorted by score)."""

    _direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids=False):  # fmt: skip
        super().__init__(
            sparse_top_k_categorical_accuracy, name, dtype, k=k, from_sorted_ids=from_sorted_ids
        )
        self.k, self.from_sorted_ids = k, from_sorted_ids

    def get_config(self) -> dict[str, Any]:
        """Keras's: ``from_sorted_ids`` only where it is set."""
        config = super().get_config()
        if not self.from_sorted_ids:
            del config["from_sorted_ids"]
        return config


def update_loss_and_accuracy(
    tracker: Metric, loss: Any, weight: Any, metric: Metric, y_true: Any, y_pred: Any
) -> bool:
    """``tracker.update_state(loss, sample_weight=weight)`` and ``metric.update_state(y_true,
    y_pred)`` in one backend call (one launch on the GPU), where ``tracker`` is a plain Mean of
    a number and ``metric`` an argmax accuracy that counts the batch in one pass: what a
    training step with the loss and 'accuracy' updates. False, and nothing done, otherwise."""
    if type(tracker) is not Mean or not isinstance(metric, _ArgmaxAccuracy):
        return False
    counted = metric._counted(y_true, y_pred)
    loss = array_of(loss)
    if counted is None or array_device(loss) != array_device(counted[0]):
        return False
    loss = loss.astype(tracker.dtype, copy=False)
    if not Mean._weighted_scalar(loss, weight) or metric.dtype != tracker.dtype:
        return False
    xp = tracker._to(array_device(loss))
    metric._to(array_device(loss))
    xp.update_metrics(
        *tracker._in_place("total", "count"), loss, weight, *metric._in_place("total", "count"),
        *counted,
    )  # fmt: skip
    return True
