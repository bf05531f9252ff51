"""R2Score, the coefficient of determination: the regression metric of Keras's
keras/src/metrics/regression_metrics.py that is no loss's mean (those are in loss_means.py)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from autoconv.losses import squeeze_or_expand_to_same_rank
from autoconv.metrics.base import Metric
from autoconv.metrics.functions import metric_inputs, on_device

AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")
STATE = ("squared_sum", "sum", "residual", "count")  # each (C,), made at the first batch


class R2Score(Metric):
    """1 - sum((y_true - y_pred)**2) / sum((y_true - mean(y_true))**2) per output (the last
    axis of y_true and y_pred (N, C); a last axis of 1 may be missing on one), weighted by
    ``sample_weight`` (a number, (N,), or broadcast to (N, C)). An output whose targets do not
    vary scores 0 (nan where the errors are 0 too, as Keras's).

    ``class_aggregation``: None gives the scores, shape (C,); "uniform_average" their mean;
    "variance_weighted_average" their mean weighted by each output's sum of squares about its
    mean. ``num_regressors`` p > 0 gives the adjusted score 1 - (1 - R2) (n - 1) / (n - p - 1),
    n the number of entries of y_true seen (Keras's count): the plain one, with a warning,
    where p >= n - 1."""

    _direction = "up"

    def __init__(
        self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None
    ):
        if class_aggregation not in AGGREGATIONS:
            raise ValueError(
                "Invalid value for argument `class_aggregation`. Expected one of "
                f"{AGGREGATIONS}. Received: class_aggregation={class_aggregation}"
            )
        if num_regressors < 0:
            raise ValueError(
                "Invalid value for argument `num_regressors`. Expected a value >= 0. "
                f"Received: num_regressors={num_regressors}"
            )
        super().__init__(name=name, dtype=dtype)
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self._add_state((), "num_samples")
        self._classes: int | None = None

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add a batch: y_true and y_pred (N, C) (or (N,) beside (N, 1))."""
        y_true, y_pred = metric_inputs(y_true, y_pred)
        y_true = y_true.astype(self.dtype, copy=False)
        y_pred = y_pred.astype(self.dtype, copy=False)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        xp = self._state_per_class(y_true, y_pred, STATE)
        error = y_true - y_pred
        if sample_weight is None:
            weighted, squared_errors, count = y_true, error * error, y_true.shape[0]
        else:
            sample_weight = on_device(self.device, sample_weight, self.dtype)
            if sample_weight.ndim == 1:
                sample_weight = sample_weight.reshape((-1, 1))
            try:
                fits = np.broadcast_shapes(sample_weight.shape, y_true.shape) == y_true.shape
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(
                    f"R2Score: sample_weight of shape {sample_weight.shape} does not broadcast "
                    f"to y_true's {y_true.shape}"
                )
            sample_weight = xp.broadcast_to(sample_weight, y_true.shape)
            weighted, squared_errors = y_true * sample_weight, error * error * sample_weight
            count = sample_weight.sum(axis=0)
        self.sum = self.sum + weighted.sum(axis=0)
        self.squared_sum = self.squared_sum + (y_true * weighted).sum(axis=0)
        self.residual = self.residual + squared_errors.sum(axis=0)
        self.count = self.count + count
        self.num_samples = self.num_samples + y_true.shape[0] * y_true.shape[1]

    def result(self) -> Any:
        """The score: shape (C,) for ``class_aggregation=None``, else a scalar (nan before any
        batch)."""
        if self._classes is None:
            return np.full((), np.nan, self.dtype)[()]
        squared_sum, total_sum, residual, count = (self._read(name) for name in STATE)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total_sum / count
            total = squared_sum - total_sum * mean
            scores = 1 - residual / total
            scores = np.where(np.isinf(scores), np.zeros((), self.dtype), scores)
            if self.class_aggregation == "uniform_average":
                scores = scores.mean()
            elif self.class_aggregation == "variance_weighted_average":
                scores = (total * scores).sum() / total.sum()
        if self.num_regressors != 0:
            n, p = self._read("num_samples")[()], np.float32(self.num_regressors)
            if p > n - 1:
                warnings.warn(
                    "More independent predictors than datapoints in adjusted R2 score. "
                    "Falling back to standard R2 score.",
                    stacklevel=2,
                )
            elif p == n - 1:
                warnings.warn(
                    "Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                    stacklevel=2,
                )
            else:
                scores = 1 - (1 - scores) * (n - 1) / (n - p - 1)
        return np.asarray(scores, self.dtype)[()]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }
