"""The correlation metrics: PearsonCorrelation and ConcordanceCorrelation, the means of their
functions' values (Keras's keras/src/metrics/correlation_metrics.py)."""

from __future__ import annotations

from typing import Any

from autoconv.backends import array_device, namespace
from autoconv.config import epsilon
from autoconv.losses import squeeze_or_expand_to_same_rank
from autoconv.metrics.base import MeanMetricWrapper
from autoconv.metrics.functions import metric_inputs
from autoconv.tensor import Tensor


def _pair(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """(y_true, y_pred) as arrays of y_pred's dtype on its device, ranks matched as Keras's."""
    y_true, y_pred = metric_inputs(y_true, y_pred)
    return squeeze_or_expand_to_same_rank(y_true.astype(y_pred.dtype, copy=False), y_pred)


def _centered(x: Any, axis: int) -> Any:
    return x - x.mean(axis=axis, keepdims=True)


def _variance(x: Any, axis: int) -> Any:
    """The population variance along ``axis``, kept as an axis of 1."""
    centered = _centered(x, axis)
    return (centered * centered).mean(axis=axis, keepdims=True)


def pearson_correlation(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """Pearson's correlation coefficient of y_true and y_pred along ``axis`` (their
    covariance over the product of their standard deviations): one value per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    xp = namespace(array_device(y_pred))
    y_true, y_pred = _centered(y_true, axis), _centered(y_pred, axis)
    y_true = y_true / xp.sqrt(_variance(y_true, axis))
    y_pred = y_pred / xp.sqrt(_variance(y_pred, axis))
    return Tensor((y_true * y_pred).mean(axis=axis))


def concordance_correlation(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """Lin's concordance correlation along ``axis``, as Keras computes it: the mean of
    2 (y_true - mean(y_pred)) (y_pred - mean(y_pred)) / (var(y_true) + var(y_pred) +
    (mean(y_true) - mean(y_pred))**2 + eps), one value per sample."""
    y_true, y_pred = _pair(y_true, y_pred)
    true_mean = y_true.mean(axis=axis, keepdims=True)
    pred_mean = y_pred.mean(axis=axis, keepdims=True)
    gap = true_mean - pred_mean
    norm = _variance(y_true, axis) + _variance(y_pred, axis) + gap * gap
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)
    return Tensor((covariance * 2 / (norm + epsilon())).mean(axis=axis))


class PearsonCorrelation(MeanMetricWrapper):
    """The mean of :func:`pearson_correlation` over the samples (weighted)."""

    _direction = "up"

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name, dtype, axis=axis)
        self.axis = axis


class ConcordanceCorrelation(MeanMetricWrapper):
    """The mean of :func:`concordance_correlation` over the samples (weighted)."""

    _direction = "up"

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name, dtype, axis=axis)
        self.axis = axis
