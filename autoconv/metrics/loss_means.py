"""The losses as metrics: each the mean of a loss's per-sample values (Keras's
regression_metrics.py, hinge_metrics.py and probabilistic_metrics.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import array_device
from autoconv.losses import (
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    hinge,
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
from autoconv.losses.functions import sparse_crossentropy
from autoconv.losses.loss import apply_mask
from autoconv.metrics.base import Mean, MeanMetricWrapper
from autoconv.metrics.functions import cosine_similarity, metric_inputs, on_device
from autoconv.tensor import no_grad

# ----------------------------------------------------- losses as metrics (their means)


class MeanSquaredError(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.mean_squared_error`."""

    _direction = "down"

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.mean_absolute_error`."""

    _direction = "down"

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name, dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.mean_absolute_percentage_error`."""

    _direction = "down"

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name, dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.mean_squared_logarithmic_error`."""

    _direction = "down"

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, name, dtype)


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of the squared errors."""

    _direction = "down"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = metric_inputs(y_true, y_pred)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.astype(self.dtype), y_pred)
        error = y_pred.astype(self.dtype, copy=False) - y_true
        super().update_state(error * error, sample_weight)

    def result(self) -> Any:
        return np.sqrt(super().result())


class CosineSimilarity(MeanMetricWrapper):
    """The mean of :func:`cosine_similarity`."""

    _direction = "up"

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name, dtype, axis=axis)
        self.axis = axis


class LogCoshError(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.log_cosh`."""

    _direction = "down"

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(log_cosh, name, dtype)


class Hinge(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.hinge`."""

    _direction = "down"

    def __init__(self, name="hinge", dtype=None):
        super().__init__(hinge, name, dtype)


class SquaredHinge(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.squared_hinge`."""

    _direction = "down"

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, name, dtype)


class CategoricalHinge(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.categorical_hinge`."""

    _direction = "down"

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, name, dtype)


class KLDivergence(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.kl_divergence`."""

    _direction = "down"

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, name, dtype)


class Poisson(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.poisson`."""

    _direction = "down"

    def __init__(self, name="poisson", dtype=None):
        super().__init__(poisson, name, dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.binary_crossentropy`."""

    _direction = "down"

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0):  # fmt: skip
        super().__init__(
            binary_crossentropy, name, dtype,
            from_logits=from_logits, label_smoothing=label_smoothing,
        )  # fmt: skip
        self.from_logits, self.label_smoothing = from_logits, label_smoothing


class CategoricalCrossentropy(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.categorical_crossentropy`."""

    _direction = "down"

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0, axis=-1):  # fmt: skip
        super().__init__(
            categorical_crossentropy, name, dtype,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
        )  # fmt: skip
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """The mean of :func:`autoconv.losses.sparse_categorical_crossentropy`. Labels equal to
    ``ignore_class`` count 0, and, as in Keras, are left out of the count only when the batch
    has sample weights (their weights become 0); without, the mean is over every label."""

    _direction = "down"

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 ignore_class=None, axis=-1):  # fmt: skip
        super().__init__(
            sparse_categorical_crossentropy, name, dtype, from_logits=from_logits,
            ignore_class=ignore_class, axis=axis,
        )  # fmt: skip
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if self.ignore_class is None or sample_weight is None:
            return super().update_state(y_true, y_pred, sample_weight)
        with no_grad():
            values, kept = sparse_crossentropy(
                y_true, y_pred, self.from_logits, self.ignore_class, self.axis
            )
        weight = on_device(array_device(kept), sample_weight, kept.dtype)
        Mean.update_state(self, values, apply_mask(weight, kept, "sum"))
