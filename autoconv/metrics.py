"""Metrics as Keras 3 has them (keras/src/metrics/*.py): objects that accumulate a statistic
over batches with ``update_state(y_true, y_pred, sample_weight=None)``, report it with
``result()`` and start over with ``reset_state()``.

The state lives on the device of the predictions: ``update_state`` only launches array
operations there (nothing is read back, so a training loop on the GPU never waits for it), and
``result()`` reads the state back and finishes in NumPy, returning a NumPy scalar (or array).
Per-batch work is vectorized array code: no Python loop over samples or thresholds.

The function forms (``binary_accuracy(y_true, y_pred)`` ...) return per-sample values as a
Tensor without a gradient. :func:`resolve` is Keras's compile-time choice of the accuracy
metric behind 'accuracy' / 'acc'.

>>> m = BinaryAccuracy()
>>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
>>> float(m.result())
0.75
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv import losses, registration
from autoconv.backends import array_device, namespace
from autoconv.losses import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    is_binary_or_sparse_categorical,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    object_name,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
    squeeze_or_expand_to_same_rank,
    to_snake_case,
)
from autoconv.tensor import Tensor, no_grad

NEG_INF = -1e10  # the score Keras gives predictions outside the top k


# ---------------------------------------------------------------------------- arrays
def _data(value: Any) -> Any:
    """A Tensor's values, a device array as it is, anything else as a NumPy array."""
    if isinstance(value, Tensor):
        return value.data
    return value if array_device(value) != "cpu" else np.asarray(value)


def _on(device: str, value: Any, dtype: Any = None) -> Any:
    """``value`` as an array on ``device`` (of ``dtype`` if given)."""
    data = _data(value)
    if array_device(data) != device:
        data = namespace(device).asarray(namespace(array_device(data)).to_numpy(data))
    return data if dtype is None else data.astype(dtype, copy=False)


def _inputs(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """(y_true, y_pred) as arrays on y_pred's device; predictions that are not floating point
    become float32, targets keep their dtype."""
    y_pred = _data(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(np.float32)
    return _on(array_device(y_pred), y_true), y_pred


def _as_float(mask: Any, dtype: Any = np.float32) -> Any:
    """A comparison's result (bool on the CPU, 0/1 on the GPU) as 0/1 numbers of ``dtype``."""
    return mask.astype(dtype, copy=False)


def _squeeze(a: Any) -> Any:
    return a.reshape(a.shape[:-1])


# ------------------------------------------------------------------- metric functions
def accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """Mean over the last axis of y_true == y_pred (exact equality)."""
    y_true, y_pred = _inputs(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.astype(y_pred.dtype), y_pred)
    return Tensor(_as_float(y_true == y_pred).mean(axis=-1))


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Tensor:
    """Mean over the last axis of y_true == (y_pred > threshold)."""
    y_true, y_pred = _inputs(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    predicted = _as_float(y_pred > threshold, y_true.dtype)
    return Tensor(_as_float(y_true == predicted).mean(axis=-1))


def _argmax(a: Any) -> Any:
    return namespace(array_device(a)).argmax(a, axis=-1)


def categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1 where the largest entry of y_pred is at the largest entry of the one-hot y_true, else
    0: (N, ..., C) -> (N, ...)."""
    y_true, y_pred = _inputs(y_true, y_pred)
    labels = _argmax(y_true)
    shape = labels.shape
    if labels.ndim == y_pred.ndim:
        labels = _squeeze(labels)
    matches = _as_float(labels == _argmax(y_pred).astype(labels.dtype))
    return Tensor(matches.reshape(shape))


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Tensor:
    """1 where the largest entry of y_pred (N, ..., C) is at the integer label y_true (N, ...)
    or (N, ..., 1), else 0: (N, ...)."""
    y_true, y_pred = _inputs(y_true, y_pred)
    shape = y_true.shape
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = _squeeze(y_true)
    matches = _as_float(y_true == _argmax(y_pred).astype(y_true.dtype)).reshape(shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = _squeeze(matches)
    return Tensor(matches)


def _in_top_k(labels: Any, y_pred: Any, k: int) -> Any:
    """0/1: whether each label's score is at least the k-th largest of its row (ties count),
    i.e. fewer than k scores are larger. labels (M,), y_pred (M, C)."""
    xp = namespace(array_device(y_pred))
    target = xp.one_hot(labels, y_pred.shape[-1], y_pred.dtype)
    score = (y_pred * target).sum(axis=-1, keepdims=True)
    larger = _as_float(y_pred > score, y_pred.dtype).sum(axis=-1)
    return _as_float(larger < k)


def _top_k_accuracy(labels: Any, y_pred: Any, k: int) -> Tensor:
    shape = labels.shape
    matches = _in_top_k(labels.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k)
    return Tensor(matches.reshape(shape))


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> Tensor:
    """1 where the class of the one-hot y_true is among the k largest entries of y_pred."""
    y_true, y_pred = _inputs(y_true, y_pred)
    return _top_k_accuracy(_argmax(y_true), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> Tensor:
    """1 where the integer label y_true is among the k largest entries of y_pred."""
    y_true, y_pred = _inputs(y_true, y_pred)
    return _top_k_accuracy(y_true, y_pred, k)


# ------------------------------------------------------------------------ base classes
class Metric:
    """Base class: state variables (device arrays, made by ``add_variable``), updated by
    ``update_state``, read by ``result``. Calling a metric updates it and returns the result.
    ``_direction`` ("up" or "down", as in Keras) tells callbacks with ``mode="auto"`` whether
    the metric improves by growing or shrinking; a metric without one needs an explicit mode."""

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or to_snake_case(type(self).__name__)
        self.dtype = np.dtype(dtype or np.float32)
        self.device = "cpu"
        self._shapes: dict[str, tuple[int, ...]] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        """A state variable given a new value of its shape, dtype and device takes it in place
        (``self.total = self.total + x`` writes into the array ``total`` already is): a step
        the GPU replays (autoconv/step_replay.py) updates the arrays it recorded."""
        old = self.__dict__.get(name)
        if (
            name in self.__dict__.get("_shapes", ())
            and old is not None
            and not isinstance(old, np.generic)
            and array_device(old) == array_device(value)
            and np.shape(value) == old.shape
            and getattr(value, "dtype", None) == old.dtype
        ):
            namespace(array_device(old)).copy_into(old, value)
            return
        object.__setattr__(self, name, value)

    def add_variable(self, shape: tuple[int, ...], name: str) -> None:
        """A state array of zeros, kept as ``self.<name>``."""
        self._shapes[name] = tuple(shape)
        setattr(self, name, namespace(self.device).zeros(tuple(shape), self.dtype))

    @property
    def variables(self) -> list[Any]:
        return [getattr(self, name) for name in self._shapes]

    def reset_state(self) -> None:
        for name, shape in self._shapes.items():
            setattr(self, name, namespace(self.device).zeros(shape, self.dtype))

    def _to(self, device: str) -> Any:
        """Move the state to ``device`` (once, when the data first comes from there); return
        that device's backend module."""
        if device != self.device:
            for name in self._shapes:
                setattr(self, name, _on(device, getattr(self, name)))
            self.device = device
        return namespace(device)

    def _in_place(self, *names: str) -> list[Any]:
        """The state arrays ``names``, as arrays a backend updates in place (an update out of
        place may have left a NumPy scalar: arithmetic on a 0-d array gives one)."""
        for name in names:
            if isinstance(getattr(self, name), np.generic):
                setattr(self, name, np.array(getattr(self, name)))
        return [getattr(self, name) for name in names]

    def _read(self, name: str) -> np.ndarray:
        return np.asarray(namespace(self.device).to_numpy(getattr(self, name)))

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def result(self) -> Any:
        raise NotImplementedError

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _samplewise(values: Any, sample_weight: Any, reduce: str, dtype: Any) -> tuple[Any, Any]:
    """Keras's reduce_to_samplewise_values: weight the values, then reduce values and weights
    to one per sample (``reduce``: 'mean' or 'sum' over the trailing axes)."""

    def reduced(a: Any, axes: range) -> Any:
        return getattr(a, reduce)(axis=tuple(axes)) if len(axes) else a

    if sample_weight is not None:
        sample_weight = _on(array_device(values), sample_weight, dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim = sample_weight.ndim
        values = reduced(values, range(weight_ndim, values.ndim))
        sample_weight = namespace(array_device(values)).broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        sample_weight = reduced(sample_weight, range(1, weight_ndim))
    return reduced(values, range(1, values.ndim)), sample_weight


class Sum(Metric):
    """The (weighted) sum of the values given."""

    def __init__(self, name: str = "sum", dtype: Any = None) -> None:
        super().__init__(name, dtype)
        self.add_variable((), "total")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values = _data(values)
        self._to(array_device(values))
        values, _ = _samplewise(values.astype(self.dtype), sample_weight, "sum", self.dtype)
        self.total = self.total + values.sum()

    def result(self) -> Any:
        return self._read("total")[()]


class Mean(Metric):
    """The (weighted) mean of the values given: sum(values * weights) / sum(weights)."""

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name, dtype)
        self.add_variable((), "total")
        self.add_variable((), "count")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values = _data(values)
        xp = self._to(array_device(values))
        values = values.astype(self.dtype, copy=False)
        if self._weighted_scalar(values, sample_weight):
            # A batch's mean loss weighted by its size: nothing to reduce; added in place.
            xp.update_metrics(
                *self._in_place("total", "count"), values, sample_weight, None, None, None, None
            )
            return
        values, sample_weight = _samplewise(values, sample_weight, "mean", self.dtype)
        self.total = self.total + values.sum()
        if sample_weight is not None:
            self.count = self.count + sample_weight.sum()
        else:
            self.count = self.count + (values.shape[0] if values.ndim else 1)

    def result(self) -> Any:
        total, count = self._read("total"), self._read("count")
        return (total / count if count != 0 else np.zeros_like(total))[()]

    @staticmethod
    def _weighted_scalar(values: Any, sample_weight: Any) -> bool:
        """Whether ``values`` is one number weighted by a number (a batch's mean loss by its
        size), which the backend's ``update_metrics`` adds in place."""
        return isinstance(sample_weight, int | float) and values.ndim == 0


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)``, a function of per-sample values (a loss
    function, an accuracy ...), weighted by the sample weights."""

    def __init__(
        self, fn: Callable[..., Any], name: str | None = None, dtype: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(name, dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        with no_grad():
            values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is MeanMetricWrapper:
            config["fn"] = self._fn.__name__
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        if "fn" in config:
            config = {**config, "fn": _function(config["fn"])}
        return cls(**config)


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
        y_true, y_pred = _inputs(y_true, y_pred)
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
    """How often the integer label is among the k largest predictions."""

    _direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=k)
        self.k = k


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
    loss = _data(loss)
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


# ----------------------------------------------------- losses as metrics (their means)
def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """sum(l2_normalize(y_true) * l2_normalize(y_pred)) along ``axis`` (1: same direction)."""
    return -losses.cosine_similarity(y_true, y_pred, axis)


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
        super().__init__(name, dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _inputs(y_true, y_pred)
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
    """The mean of :func:`autoconv.losses.sparse_categorical_crossentropy`."""

    _direction = "down"

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 axis=-1):  # fmt: skip
        super().__init__(
            sparse_categorical_crossentropy, name, dtype, from_logits=from_logits, axis=axis
        )
        self.from_logits, self.axis = from_logits, axis


# ------------------------------------------------------------ confusion-matrix metrics
def _evenly_spaced(thresholds: list[float]) -> bool:
    """Whether thresholds are i / (n - 1) for i = 0 .. n - 1 (Keras then counts by bucket)."""
    count = len(thresholds)
    if count < 3:
        return False
    even = np.arange(count, dtype=np.float32) / (count - 1)
    return bool(np.allclose(thresholds, even, atol=losses.EPSILON))


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
    ahead = _as_float(row > column, y_pred.dtype) + _as_float(row == column, y_pred.dtype) * earlier
    kept = _as_float(ahead.sum(axis=-1) < k, y_pred.dtype)
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
    y_true, y_pred = _inputs(y_true, y_pred)
    device = array_device(y_pred)
    xp = namespace(device)
    y_true, y_pred = y_true.astype(dtype, copy=False), y_pred.astype(dtype, copy=False)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    weights = 1.0
    if sample_weight is not None:
        sample_weight = _on(device, sample_weight, dtype)
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
        weights = weights * xp.broadcast_to(_on(device, label_weights, dtype), y_pred.shape)
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
    predicted = _as_float(y_pred > levels, dtype)  # (T, M) or (T, N, labels)
    positive = 1 - _as_float(y_true == 0, dtype)
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
        super().__init__(name, dtype)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = _check_thresholds(thresholds, 0.5 if top_k is None else NEG_INF)
        self._evenly = _evenly_spaced(self.thresholds)
        for count in self.counts:
            self.add_variable((len(self.thresholds),), count)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        self._to(array_device(_data(y_pred)))
        batch = _confusion(
            y_true, y_pred, self.thresholds, self._evenly, self.dtype, sample_weight,
            self.top_k, self.class_id,
        )  # fmt: skip
        for count in self.counts:
            setattr(self, count, getattr(self, count) + batch[count])

    def _rate(self, numerator: str, other: str) -> Any:
        """numerator / (numerator + other) (0 where both are 0), a scalar for one threshold."""
        hits, misses = self._read(numerator), self._read(other)
        total = hits + misses
        rate = np.divide(hits, total, out=np.zeros_like(hits), where=total != 0)
        return rate[0] if len(self.thresholds) == 1 else rate

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Precision(_Confusion):
    """true positives / predicted positives at each threshold (0.5 by default; with ``top_k``,
    the k largest predictions of a row are the positive ones; ``class_id`` looks at one class
    of a multi-class prediction)."""

    _direction = "up"

    counts = ("true_positives", "false_positives")

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self) -> Any:
        return self._rate("true_positives", "false_positives")


class Recall(_Confusion):
    """true positives / actual positives at each threshold (see :class:`Precision`)."""

    _direction = "up"

    counts = ("true_positives", "false_negatives")

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self) -> Any:
        return self._rate("true_positives", "false_negatives")


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
        super().__init__(name, dtype)
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
        self._thresholds = [0.0 - losses.EPSILON, *inner, 1.0 + losses.EPSILON]
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
            self.add_variable(shape, count)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = _data(y_pred)
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


# ------------------------------------------------------------------ lookup by name
_CLASSES: tuple[type[Metric], ...] = (
    Mean, Sum, MeanMetricWrapper, MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, LogCoshError,
    AUC, Precision, Recall, Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson,
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, Accuracy,
    BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
)  # fmt: skip
METRICS: dict[str, type[Metric]] = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{to_snake_case(cls.__name__): cls for cls in _CLASSES},
    **{alias: cls for cls, names in [
        (BinaryCrossentropy, ("bce", "BCE")), (MeanSquaredError, ("mse", "MSE")),
        (MeanAbsoluteError, ("mae", "MAE")), (MeanAbsolutePercentageError, ("mape", "MAPE")),
        (MeanSquaredLogarithmicError, ("msle", "MSLE")), (Accuracy, ("acc",)),
    ] for alias in names},
}  # fmt: skip
# The functions a MeanMetricWrapper's config may name.
_FUNCTIONS: dict[str, Callable[..., Any]] = {
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


def _function(name: str) -> Callable[..., Any]:
    if name not in _FUNCTIONS:
        raise ValueError(f"unknown metric function {name!r}")
    return _FUNCTIONS[name]


def serialize(metric: Metric) -> dict[str, Any]:
    """Keras's entry for the metric (``module``, ``class_name``, ``config``,
    ``registered_name``), which :func:`get` turns back into it."""
    return registration.keras_entry(metric, "keras.metrics", METRICS)


def deserialize(config: dict[str, Any]) -> Metric:
    """The metric an entry of :func:`serialize` (or a registered custom metric's) makes."""
    name = config.get("class_name")
    cls = registration.find_class(config, METRICS, Metric)
    if (
        cls is None
        or (METRICS.get(name) is cls and name != cls.__name__)
        or not isinstance(config.get("config", {}), dict)
    ):
        raise ValueError(f"Could not interpret metric config: {config!r}")
    return cls.from_config(config.get("config", {}))


def get(identifier: Any) -> Metric | None:
    """A Metric from a name, a class, an instance, a serialized config or a function.

    Names are Keras's: class names ('AUC'), their snake case ('auc', 'binary_accuracy') and the
    aliases 'mse', 'mae', 'mape', 'msle', 'bce' (and 'acc' for 'accuracy', i.e. exact-match
    :class:`Accuracy`; what compile means by 'accuracy' is :func:`resolve`'s). A function
    ``fn(y_true, y_pred)`` of per-sample values (or a Loss) is wrapped in a
    :class:`MeanMetricWrapper` named after it. None gives None.
    """
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier not in METRICS:
            raise ValueError(f"Could not interpret metric identifier: {identifier!r}")
        return METRICS[identifier]()
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=object_name(identifier))
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def resolve(identifier: Any, y_true: Any, y_pred: Any) -> Metric | None:
    """The metric Keras's compile makes of ``identifier`` for a batch of targets and
    predictions (arrays, tensors or their shapes; Keras's compile_utils.get_metric).

    'accuracy' and 'acc' (any case) become :class:`BinaryAccuracy` when y_pred has one unit,
    else :class:`SparseCategoricalAccuracy` when y_true has fewer axes than y_pred or a last
    axis of 1, else :class:`CategoricalAccuracy`. Anything else is :func:`get`'s. Keras 3 looks
    only at these shapes, not at the loss. The metric is named after a string identifier as
    given (so the logs say 'acc' or 'mae'), else after the object."""
    if identifier is None:
        return None
    if str(identifier).lower() not in ("accuracy", "acc"):
        metric = get(identifier)
    else:
        binary, sparse = is_binary_or_sparse_categorical(y_true, y_pred)
        if binary:
            metric = BinaryAccuracy()
        elif sparse:
            metric = SparseCategoricalAccuracy()
        else:
            metric = CategoricalAccuracy()
    metric.name = identifier if isinstance(identifier, str) else object_name(metric)
    return metric
