"""F-scores, the weighted harmonic means of precision and recall: FBetaScore and F1Score
(Keras's keras/src/metrics/f_score_metrics.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.config import epsilon
from autoconv.metrics.base import Metric
from autoconv.metrics.functions import (
    as_float,
    metric_inputs,
    on_device,
)

AVERAGES = (None, "micro", "macro", "weighted")
STATE = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")


class FBetaScore(Metric):
    """(1 + beta**2) * precision * recall / (beta**2 * precision + recall), from the counts of
    y_true (N, C) of 0/1 labels against y_pred (N, C): a prediction is positive above
    ``threshold``, or where ``threshold`` is None at its row's largest value (ties all count;
    0 never does). Every ratio's denominator has Keras's epsilon added.

    ``average``: None gives one score per class, shape (C,); "micro" one score of the counts
    over every class; "macro" the mean of the classes' scores; "weighted" their mean weighted
    by each class's (weighted) count of positive labels. ``sample_weight``: shape (N,). The
    state is made for C classes at the first batch (``reset_state`` keeps C)."""

    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        if average not in AVERAGES:
            raise ValueError(
                "Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                f"'weighted'}}. Received: average={average}"
            )
        if not isinstance(beta, float):
            raise ValueError(
                "Invalid `beta` argument value. It should be a Python float. "
                f"Received: beta={beta} of type '{type(beta)}'"
            )
        if beta <= 0.0:
            raise ValueError(
                f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}"
            )
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(
                    "Invalid `threshold` argument value. It should be a Python float. "
                    f"Received: threshold={threshold} of type '{type(threshold)}'"
                )
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(
                    "Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                    f"Received: threshold={threshold}"
                )
        super().__init__(name=name, dtype=dtype)
        self.average, self.beta, self.threshold = average, beta, threshold
        self._classes: int | None = None

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add a batch: y_true and y_pred (N, C), ``sample_weight`` None or (N,)."""
        y_true, y_pred = metric_inputs(y_true, y_pred)
        xp = self._state_per_class(y_true, y_pred, STATE, per_class=self.average != "micro")
        y_true = y_true.astype(self.dtype, copy=False)
        y_pred = y_pred.astype(self.dtype, copy=False)
        if self.threshold is None:
            top = y_pred.max(axis=-1, keepdims=True)
            nonzero = as_float(xp.abs(y_pred) > 1e-9, self.dtype)
            predicted = as_float(y_pred >= top, self.dtype) * nonzero
        else:
            predicted = as_float(y_pred > self.threshold, self.dtype)
        if sample_weight is not None:
            sample_weight = on_device(self.device, sample_weight, self.dtype)
            if sample_weight.shape != y_true.shape[:1]:
                raise ValueError(
                    f"{type(self).__name__}: sample_weight must have shape (batch_size,) = "
                    f"{y_true.shape[:1]}, got {sample_weight.shape}"
                )
            sample_weight = sample_weight.reshape((-1, 1))
        axis = None if self.average == "micro" else 0

        def summed(values: Any) -> Any:
            weighted = values if sample_weight is None else values * sample_weight
            return weighted.sum(axis=axis)

        self.true_positives = self.true_positives + summed(predicted * y_true)
        self.false_positives = self.false_positives + summed(predicted * (1 - y_true))
        self.false_negatives = self.false_negatives + summed((1 - predicted) * y_true)
        self.intermediate_weights = self.intermediate_weights + summed(y_true)

    def result(self) -> Any:
        """The score: shape (C,) for ``average=None``, else a scalar (0 before any batch)."""
        if self._classes is None:
            return np.zeros((), self.dtype)[()]
        tp, fp, fn, support = (self._read(name) for name in STATE)
        eps, beta2 = epsilon(), self.beta**2
        precision = tp / (tp + fp + eps)
        recall = tp / (tp + fn + eps)
        score = precision * recall / (beta2 * precision + recall + eps) * (1 + beta2)
        if self.average == "weighted":
            score = (score * (support / (support.sum() + eps))).sum()
        elif self.average is not None:
            score = score.mean()
        return score.astype(self.dtype, copy=False)[()]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """The F-score of beta = 1, 2 * precision * recall / (precision + recall) (see
    :class:`FBetaScore`)."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average, 1.0, threshold, name, dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["beta"]
        return config
