"""Metrics over a confusion matrix at thresholds: the four counts (TruePositives ...),
Precision, Recall, a rate at a constraint on another (PrecisionAtRecall, RecallAtPrecision,
SensitivityAtSpecificity, SpecificityAtSensitivity) and AUC (Keras's
keras/src/metrics/confusion_metrics.py and metrics_utils.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import array_device, namespace
from autoconv.config import epsilon
from autoconv.losses import squeeze_or_expand_to_same_rank
from autoconv.metrics.base import Metric
from autoconv.metrics.functions import array_of, as_float, metric_inputs, on_device

NEG_INF = -1e10  # the score Keras gives predictions outside the top k


# ------------------------------------------------------------ confusion-matrix metrics
def _evenly_spaced(thresholds: list[float]) -> bool:
    """Whether thresholds are i / (n - 1) for i = 0 .. n - 1 (Keras then counts by bucket)."""
    count = len(thresholds)
    if count < 3:
        return False
    even = np.arange(count, dtype=np.float32) / (count - 1)
    return bool(np.allclose(thresholds, even, atol=epsilon()))


def _check_thresholds(thresholds: Any, default: float) -> list[float]:
    values = [default] if thresholds is None else list(np.atleast_1d(thresholds))
    bad = [t for t in values if t is None or not 0 <= t <= 1]
    if thresholds is not None and bad:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return [float(t) for t in values]


def _top_k_only(y_pred: Any, k: int) -> Any:
    """y_pred with every entry outside the k largest of its row (the lower index first among
    ties) set to NEG_INF. Pairwise: (..., C, C) comparisons."""
    xp = namespace(array_device(y_pred))
    classes = y_pred.shape[-1]
    row = y_pred.reshape((*y_pred.shape[:-1], 1, classes))  # [..., i, j] reads entry j
    column = y_pred.reshape((*y_pred.shape, 1))  # [..., i, j] reads entry i
    earlier = xp.asarray(np.tri(classes, k=-1, dtype=y_pred.dtype))  # [i, j] = 1 if j < i
    ahead = as_float(row > column, y_pred.dtype) + as_float(row == column, y_pred.dtype) * earlier
    kept = as_float(ahead.sum(axis=-1) < k, y_pred.dtype)
    return y_pred * kept + NEG_INF * (1 - kept)


def _confusion(
    y_true: Any, y_pred: Any, thresholds: list[float], evenly: bool, dtype: Any,
    sample_weight: Any = None, top_k: int | None = None, class_id: int | None = None,
    multi_label: bool = False, label_weights: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """This batch's weighted true/false positives/negatives at each threshold, as Keras's
    update_confusion_matrix_variables counts them: a prediction is positive above a threshold,
    a label is positive when nonzero. Shapes (T,), or (T, labels) with ``multi_label``.

    ``evenly`` spaced thresholds (i / (T - 1), the end ones possibly just outside [0, 1]) count
    as Keras's bucketed path does: predictions clipped to [0, 1], and p above threshold i when
    p * (T - 1) > i (the first threshold takes every prediction when it lies below 0)."""
    y_true, y_pred = metric_inputs(y_true, y_pred)
    device = array_device(y_pred)
    xp = namespace(device)
    y_true, y_pred = y_true.astype(dtype, copy=False), y_pred.astype(dtype, copy=False)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "y_true and y_pred must have the same shape (a last axis of 1 aside), got "
            f"y_true.shape={y_true.shape} and y_pred.shape={y_pred.shape}"
        )
    weights = 1.0
    if sample_weight is not None:
        sample_weight = on_device(device, sample_weight, dtype)
        sample_weight = sample_weight.reshape((*sample_weight.shape, 1))
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, False)
    if top_k is not None:
        y_pred = _top_k_only(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape "
                f"(num_samples, num_classes), found shape: {y_pred.shape}"
            )
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    if sample_weight is not None:
        weights = xp.broadcast_to(sample_weight, y_pred.shape)
    if label_weights is not None and not multi_label:
        weights = weights * xp.broadcast_to(on_device(device, label_weights, dtype), y_pred.shape)
    count = len(thresholds)
    if evenly:
        y_pred = xp.minimum(xp.maximum(y_pred, 0), 1) * (count - 1)
        levels = np.arange(count, dtype=dtype)
        levels[0] = -1 if thresholds[0] < 0 else 0
    else:
        levels = np.asarray(thresholds, dtype=dtype)
    if not multi_label:
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
        weights = weights if isinstance(weights, float) else weights.reshape(-1)
    levels = xp.asarray(levels.reshape((count,) + (1,) * y_pred.ndim))
    predicted = as_float(y_pred > levels, dtype)  # (T, M) or (T, N, labels)
    positive = 1 - as_float(y_true == 0, dtype)
    true_weights, false_weights = positive * weights, (1 - positive) * weights
    tp = (predicted * true_weights).sum(axis=1)
    fp = (predicted * false_weights).sum(axis=1)
    return {
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": true_weights.sum(axis=0) - tp,
        "true_negatives": false_weights.sum(axis=0) - fp,
    }


class _Confusion(Metric):
    """A metric of confusion-matrix counts at thresholds: ``counts`` names the state arrays
    it keeps (true_positives ...), each of shape (thresholds,)."""

    counts: tuple[str, ...] = ()

    def __init__(self, thresholds, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = _check_thresholds(thresholds, 0.5 if top_k is None else NEG_INF)
        self._evenly = _evenly_spaced(self.thresholds)
        for count in self.counts:
            self._add_state((len(self.thresholds),), count)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add a batch: y_true and y_pred of one shape (a last axis of 1 aside), every entry a
        prediction; ``sample_weight`` broadcast to y_true (per sample, or per entry)."""
        self._to(array_device(array_of(y_pred)))
        batch = _confusion(
            y_true, y_pred, self.thresholds, self._evenly, self.dtype, sample_weight,
            self.top_k, self.class_id,
        )  # fmt: skip
        for count in self.counts:
            setattr(self, count, getattr(self, count) + batch[count])

    def _one_or_all(self, values: np.ndarray) -> Any:
        """A scalar for one threshold, else the array of one value per threshold."""
        return values[0] if len(self.thresholds) == 1 else values

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class _Count(_Confusion):
    """The (weighted) number of predictions of one cell of the confusion matrix, the state
    array ``counts[0]``, at each threshold (0.5 by default): a prediction is positive above
    it, a label when nonzero. ``result()``: a scalar for one threshold, else shape
    (thresholds,)."""

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds, name=name, dtype=dtype)

    def result(self) -> Any:
        return self._one_or_all(self._read(self.counts[0]))


class TruePositives(_Count):
    """Positive labels predicted positive (see :class:`_Count`)."""

    counts = ("true_positives",)


class TrueNegatives(_Count):
    """Negative labels predicted negative (see :class:`_Count`)."""

    counts = ("true_negatives",)


class FalsePositives(_Count):
    """Negative labels predicted positive (see :class:`_Count`)."""

    counts = ("false_positives",)


class FalseNegatives(_Count):
    """Positive labels predicted negative (see :class:`_Count`)."""

    counts = ("false_negatives",)


class _Rate(_Confusion):
    """counts[0] / (counts[0] + counts[1]) at each threshold (0 where both are 0); ``top_k``
    and ``class_id`` choose the predictions counted (see :class:`Precision`)."""

    _direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self) -> Any:
        hits, misses = self._read(self.counts[0]), self._read(self.counts[1])
        total = hits + misses
        return self._one_or_all(np.divide(hits, total, out=np.zeros_like(hits), where=total != 0))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "top_k": self.top_k, "class_id": self.class_id}


class Precision(_Rate):
    """true positives / predicted positives at each threshold (0.5 by default; with ``top_k``,
    the k largest predictions of a row are the positive ones; ``class_id`` looks at one class
    of a multi-class prediction)."""

    counts = ("true_positives", "false_positives")


class Recall(_Rate):
    """true positives / actual positives at each threshold (see :class:`Precision`)."""

    counts = ("true_positives", "false_negatives")


class _AtConstraint(_Confusion):
    """The best of one rate among the thresholds where another meets a constraint:
    ``result()`` is the largest ``dependent`` rate at the thresholds whose ``constrained``
    rate is at least ``value`` (0 if none), from the four counts at ``num_thresholds``
    thresholds evenly spaced in [0, 1] (one: 0.5). ``class_id`` looks at one class of a
    multi-class prediction. Subclasses name the two rates (``_rates``) and the argument."""

    counts = ("true_positives", "false_positives", "true_negatives", "false_negatives")
    _direction = "up"
    argument = ""

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if not 0 <= value <= 1:
            raise ValueError(
                f"Argument `{self.argument}` must be in the range [0, 1]. "
                f"Received: {self.argument}={value}"
            )
        if num_thresholds <= 0:
            raise ValueError(
                "Argument `num_thresholds` must be an integer > 0. "
                f"Received: num_thresholds={num_thresholds}"
            )
        inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        thresholds = [0.5] if num_thresholds == 1 else [0.0, *inner, 1.0]
        super().__init__(thresholds, class_id=class_id, name=name, dtype=dtype)
        self._evenly = num_thresholds > 1  # Keras counts by bucket for two thresholds too
        self.value, self.num_thresholds = value, num_thresholds
        setattr(self, self.argument, value)

    @staticmethod
    def _rates(tp: Any, fp: Any, tn: Any, fn: Any) -> tuple[Any, Any]:
        """(the constrained rate, the dependent one) at each threshold."""
        raise NotImplementedError

    def result(self) -> Any:
        constrained, dependent = self._rates(*(self._read(count) for count in self.counts))
        feasible = np.where(constrained >= self.value, dependent, 0)
        return np.max(feasible, initial=0).astype(self.dtype)[()]

    def get_config(self) -> dict[str, Any]:
        return {
            **Metric.get_config(self),
            "class_id": self.class_id,
            "num_thresholds": self.num_thresholds,
            self.argument: self.value,
        }


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall) where the specificity is at least ``specificity``
    (see :class:`_AtConstraint`)."""

    argument = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    @staticmethod
    def _rates(tp, fp, tn, fn):
        return _no_nan(tn, tn + fp), _no_nan(tp, tp + fn)


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity where the sensitivity (recall) is at least ``sensitivity``
    (see :class:`_AtConstraint`)."""

    argument = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    @staticmethod
    def _rates(tp, fp, tn, fn):
        return _no_nan(tp, tp + fn), _no_nan(tn, tn + fp)


class PrecisionAtRecall(_AtConstraint):
    """The best precision where the recall is at least ``recall`` (see
    :class:`_AtConstraint`)."""

    argument = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    @staticmethod
    def _rates(tp, fp, tn, fn):
        return _no_nan(tp, tp + fn), _no_nan(tp, tp + fp)


class RecallAtPrecision(_AtConstraint):
    """The best recall where the precision is at least ``precision`` (see
    :class:`_AtConstraint`)."""

    argument = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    @staticmethod
    def _rates(tp, fp, tn, fn):
        return _no_nan(tp, tp + fp), _no_nan(tp, tp + fn)


class AUC(Metric):
    """Area under the ROC (or precision-recall) curve, approximated as Keras does: the
    confusion counts at ``num_thresholds`` thresholds evenly spaced in [0, 1] (the end ones just
    outside), then a Riemann sum: 'interpolation' (trapezoids for ROC; for PR, Davis &
    Goadrich's interpolation of true and false positives), 'minoring' or 'majoring'.
    ``multi_label`` averages one AUC per label (weighted by ``label_weights``); otherwise every
    label-prediction pair counts as a sample. ``from_logits`` applies a sigmoid first."""

    _direction = "up"

    def __init__(
        self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None,
        dtype=None, thresholds=None, multi_label=False, num_labels=None, label_weights=None,
        from_logits=False,
    ):  # fmt: skip
        if curve not in ("ROC", "roc", "PR", "pr"):
            raise ValueError(
                f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC"]'
            )
        methods = ("interpolation", "Interpolation", "majoring", "Majoring", "minoring")
        if summation_method not in (*methods, "Minoring"):
            raise ValueError(
                f'Invalid AUC summation method value: "{summation_method}". Expected values '
                'are ["interpolation", "majoring", "minoring"]'
            )
        super().__init__(name=name, dtype=dtype)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_check_thresholds(thresholds, 0.5))
            self.num_thresholds = len(inner) + 2
            self._evenly = _evenly_spaced([0.0, *inner, 1.0])
        else:
            if num_thresholds <= 1:
                raise ValueError(
                    "Argument `num_thresholds` must be an integer > 1. "
                    f"Received: num_thresholds={num_thresholds}"
                )
            self.num_thresholds = num_thresholds
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = [0.0 - epsilon(), *inner, 1.0 + epsilon()]
        self.curve = curve.upper()
        self.summation_method = summation_method.lower()
        self.multi_label, self.num_labels = multi_label, num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights)
        self.from_logits = from_logits
        if num_labels and not multi_label:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        if not multi_label or num_labels:
            self._build(num_labels)

    @property
    def thresholds(self) -> list[float]:
        return list(self._thresholds)

    def _build(self, num_labels: int | None) -> None:
        shape = (self.num_thresholds, num_labels) if self.multi_label else (self.num_thresholds,)
        for count in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            self._add_state(shape, count)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = array_of(y_pred)
        if not self._shapes:
            if y_pred.ndim != 2:
                raise ValueError(
                    f"AUC: y_pred must have rank 2 when multi_label=True, got shape {y_pred.shape}"
                )
            self._build(y_pred.shape[1])
        xp = self._to(array_device(y_pred))
        y_pred = y_pred.astype(self.dtype, copy=False)
        if self.from_logits:
            y_pred = xp.exp(xp.minimum(y_pred, 0)) / (1 + xp.exp(-xp.abs(y_pred)))
        batch = _confusion(
            y_true, y_pred, self._thresholds, self._evenly, self.dtype, sample_weight,
            multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights,
        )  # fmt: skip
        for name, value in batch.items():
            setattr(self, name, getattr(self, name) + value)

    def reset_state(self) -> None:
        if self._shapes:
            super().reset_state()

    def _interpolate_pr_auc(self, tp, fp, fn) -> Any:
        """Davis & Goadrich's PR interpolation in Keras's closed form."""
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _no_nan(p[:-1], np.maximum(p[1:], 0)), np.ones_like(p[1:]))
        return _no_nan(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))

    def result(self) -> Any:
        if not self._shapes:
            return np.zeros((), self.dtype)[()]
        tp, fp = self._read("true_positives"), self._read("false_positives")
        tn, fn = self._read("true_negatives"), self._read("false_negatives")
        if self.curve == "PR" and self.summation_method == "interpolation":
            terms = self._interpolate_pr_auc(tp, fp, fn)
        else:
            recall = _no_nan(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _no_nan(fp, fp + tn), recall
            else:
                x, y = recall, _no_nan(tp, tp + fp)
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:-1], y[1:])
            else:
                heights = np.maximum(y[:-1], y[1:])
            terms = (x[:-1] - x[1:]) * heights
        if not self.multi_label:
            return terms.sum()[()]
        by_label = terms.sum(axis=0)
        if self.label_weights is None:
            return by_label.mean()[()]
        weights = self.label_weights.astype(self.dtype)
        return _no_nan((by_label * weights).sum(), weights.sum())[()]

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
            "from_logits": self.from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self._thresholds[1:-1]
        return config


def _no_nan(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (host arrays)."""
    numerator, denominator = np.asarray(numerator), np.asarray(denominator)
    out = np.zeros(np.broadcast_shapes(numerator.shape, denominator.shape), numerator.dtype)
    return np.divide(numerator, denominator, out=out, where=denominator != 0)
