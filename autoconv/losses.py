"""Losses as Keras 3 has them (keras/src/losses/losses.py and loss.py).

The functions (``losses.categorical_crossentropy(y_true, y_pred)`` ...) return one value per
sample: y_pred's shape without the axis the loss reduces (the last one, or ``axis``), e.g. (N,)
for (N, C) predictions. A :class:`Loss` object adds the reduction:
``loss(y_true, y_pred, sample_weight=None)`` multiplies the per-sample values by the weights and
reduces them: ``'sum_over_batch_size'`` (the default) and ``'mean'`` sum and divide by the number
of values (weights do not change the divisor), ``'sum'`` sums, ``'mean_with_sample_weight'``
divides the sum by the sum of the weights, ``'none'`` or None keeps the values.

Every loss is made of autoconv ops, so it runs on y_pred's device and is differentiable in
y_pred; y_true (and sample_weight) are constants, cast to y_pred's dtype. With
``from_logits=True`` and no sample weights, the categorical cross-entropies run as one fused op.

>>> y_true, y_pred = [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
>>> categorical_crossentropy(y_true, y_pred).numpy()
array([0.05129331, 2.3025851 ], dtype=float32)
>>> round(CategoricalCrossentropy()(y_true, y_pred).item(), 4)
1.1769
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv import registration
from autoconv.backends import array_device, namespace
from autoconv.ops import engine as ops
from autoconv.ops.base import as_tensor
from autoconv.ops.loss import EPSILON, check_pair, log_probabilities, one_hot
from autoconv.tensor import Tensor

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


# ---------------------------------------------------------------------------------- helpers
def to_snake_case(name: str) -> str:
    """Keras's default object names: 'KLDivergence' -> 'kl_divergence'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def object_name(obj: Any) -> str:
    """The name Keras gives an object in logs: its ``name``, or its snake-cased function or
    class name."""
    if hasattr(obj, "name"):
        return obj.name
    if hasattr(obj, "__name__"):
        return to_snake_case(obj.__name__)
    return to_snake_case(type(obj).__name__)


def squeeze_or_expand_to_same_rank(x1: Any, x2: Any, expand_rank_1: bool = True) -> tuple:
    """Keras's rank fix between two arrays or tensors whose ranks differ by one: the one with
    a trailing axis of size 1 loses it, unless the other is 1-D (and ``expand_rank_1``), which
    then gains one. (N, 1) and (N,) -> (N, 1) and (N, 1)."""
    rank_1, rank_2 = len(x1.shape), len(x2.shape)
    if rank_1 == rank_2 + 1 and x1.shape[-1] == 1:
        if rank_2 == 1 and expand_rank_1:
            x2 = x2.reshape((*x2.shape, 1))
        else:
            x1 = x1.reshape(x1.shape[:-1])
    if rank_2 == rank_1 + 1 and x2.shape[-1] == 1:
        if rank_1 == 1 and expand_rank_1:
            x1 = x1.reshape((*x1.shape, 1))
        else:
            x2 = x2.reshape(x2.shape[:-1])
    return x1, x2


def is_binary_or_sparse_categorical(y_true: Any, y_pred: Any) -> tuple[bool, bool]:
    """(binary, sparse) as Keras's compile decides them from the shapes (arrays, tensors or
    shape tuples) of a batch of targets and predictions: binary when y_pred has one unit,
    sparse when y_true has fewer axes than y_pred, or a last axis of 1 where y_pred's is more."""
    true_shape = tuple(y_true) if isinstance(y_true, tuple | list) else tuple(y_true.shape)
    pred_shape = tuple(y_pred) if isinstance(y_pred, tuple | list) else tuple(y_pred.shape)
    binary = pred_shape[-1] == 1
    sparse = len(true_shape) < len(pred_shape) or (true_shape[-1] == 1 and pred_shape[-1] > 1)
    return binary, sparse


def _constant(value: Any, like: Tensor) -> Tensor:
    """``value`` (a Tensor, an array of either device, a list or a number) as a Tensor without
    a gradient, of like's dtype on like's device."""
    data = value.data if isinstance(value, Tensor) else value
    return Tensor(data, dtype=like.dtype, device=like.device)


def _pair(y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    y_pred = as_tensor(y_pred)
    return _constant(y_true, y_pred), y_pred


def _elementwise_pair(name: str, y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """The pair of a loss that compares values elementwise: ranks made equal as Keras does
    (so (N,) targets fit (N, 1) predictions), then shapes that must broadcast."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
    try:
        np.broadcast_shapes(y_true.shape, y_pred.shape)
    except ValueError:
        raise ValueError(
            f"{name}: y_true shape {y_true.shape} and y_pred shape {y_pred.shape} cannot be "
            "broadcast"
        ) from None
    return y_true, y_pred


def _as_float(mask: Any, dtype: Any) -> Any:
    """A comparison's result (bool on the CPU, 0/1 on the GPU) as 0/1 numbers of ``dtype``."""
    return mask.astype(dtype, copy=False)


def _divide_no_nan(numerator: Any, denominator: Any) -> Any:
    """numerator / denominator (an array), and 0 where the denominator is 0 (computed on the
    device: nothing is read back)."""
    zero = _as_float(denominator == 0, denominator.dtype)
    return numerator / (denominator + zero) * (1 - zero)


def _smooth_categorical(y_true: Tensor, label_smoothing: float) -> Tensor:
    """Keras's smoothing towards the uniform distribution over the last axis."""
    if not label_smoothing:
        return y_true
    return y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]


def _smooth_binary(y_true: Tensor, label_smoothing: float) -> Tensor:
    """Keras's smoothing towards 0.5."""
    if not label_smoothing:
        return y_true
    return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing


def _check_axis(name: str, axis: Any) -> None:
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise ValueError(f"{name}: axis must be an int, got {axis!r}")


# ------------------------------------------------------------------ per-sample losses
def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """mean((y_true - y_pred) ** 2) over the last axis: (N, ..., D) -> (N, ...)."""
    y_true, y_pred = _elementwise_pair("mean_squared_error", y_true, y_pred)
    diff = y_true - y_pred
    return ops.mean(diff * diff, axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """mean(|y_true - y_pred|) over the last axis."""
    y_true, y_pred = _elementwise_pair("mean_absolute_error", y_true, y_pred)
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> Tensor:
    """100 * mean(|(y_true - y_pred) / max(|y_true|, 1e-7)|) over the last axis."""
    y_true, y_pred = _elementwise_pair("mean_absolute_percentage_error", y_true, y_pred)
    xp = namespace(y_true.device)
    scale = xp.maximum(xp.abs(y_true.data), EPSILON)
    return 100.0 * ops.mean(ops.abs((y_true - y_pred) / scale), axis=-1)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Tensor:
    """mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1)) ** 2) over the last
    axis."""
    y_true, y_pred = _elementwise_pair("mean_squared_logarithmic_error", y_true, y_pred)
    diff = ops.log(ops.clip(y_pred, EPSILON, math.inf) + 1.0) - ops.log(
        ops.clip(y_true, EPSILON, math.inf) + 1.0
    )
    return ops.mean(diff * diff, axis=-1)


def _l2_normalize(x: Tensor, axis: int) -> Tensor:
    """x / max(||x||, 1e-7) along ``axis`` (Keras's ops.normalize)."""
    squares = ops.sum(x * x, axis=axis, keepdims=True)
    return x / ops.clip(squares, EPSILON * EPSILON, math.inf) ** 0.5


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) along ``axis``: -1 for vectors pointing
    the same way, 0 for orthogonal ones (or a zero vector), 1 for opposite ones."""
    y_true, y_pred = _elementwise_pair("cosine_similarity", y_true, y_pred)
    return -ops.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Tensor:
    """mean over the last axis of 0.5 * e**2 where |e| <= delta, else delta * |e| -
    0.5 * delta**2, for the error e = y_pred - y_true."""
    y_true, y_pred = _elementwise_pair("huber", y_true, y_pred)
    size = ops.abs(y_pred - y_true)
    inner = ops.clip(size, 0.0, delta)  # |e| up to delta: the quadratic part
    return ops.mean(0.5 * inner * inner + delta * (size - inner), axis=-1)


def log_cosh(y_true: Any, y_pred: Any) -> Tensor:
    """mean(log(cosh(y_pred - y_true))) over the last axis, computed without overflow as
    |e| + log(1 + exp(-2|e|)) - log(2)."""
    y_true, y_pred = _elementwise_pair("log_cosh", y_true, y_pred)
    size = ops.abs(y_pred - y_true)
    return ops.mean(size + ops.log(1.0 + ops.exp(-2.0 * size)) - math.log(2.0), axis=-1)


def kl_divergence(y_true: Any, y_pred: Any) -> Tensor:
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [1e-7, 1]."""
    y_true, y_pred = _pair(y_true, y_pred)
    y_true = ops.clip(y_true, EPSILON, 1.0)
    return ops.sum(y_true * ops.log(y_true / ops.clip(y_pred, EPSILON, 1.0)), axis=-1)


def poisson(y_true: Any, y_pred: Any) -> Tensor:
    """mean(y_pred - y_true * log(y_pred + 1e-7)) over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(y_pred - y_true * ops.log(y_pred + EPSILON), axis=-1)


def _hinge_targets(y_true: Tensor) -> Tensor:
    """Keras's hinge labels: targets that are all 0 or 1 become -1 or 1 (decided on the device,
    without reading the values back)."""
    data, dtype = y_true.data, y_true.dtype
    if data.size == 0:
        return y_true
    zero_or_one = _as_float(data == 0, dtype) + _as_float(data == 1, dtype)
    all_binary = 1 - (1 - zero_or_one).max()
    return _constant(data + all_binary * (data - 1), y_true)  # 2y - 1 when binary, else y


def hinge(y_true: Any, y_pred: Any) -> Tensor:
    """mean(max(1 - y_true * y_pred, 0)) over the last axis; y_true is -1 or 1 (0/1 labels are
    converted)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.relu(1.0 - _hinge_targets(y_true) * y_pred), axis=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> Tensor:
    """mean(max(1 - y_true * y_pred, 0) ** 2) over the last axis (0/1 labels converted)."""
    y_true, y_pred = _pair(y_true, y_pred)
    margin = ops.relu(1.0 - _hinge_targets(y_true) * y_pred)
    return ops.mean(margin * margin, axis=-1)


def categorical_hinge(y_true: Any, y_pred: Any) -> Tensor:
    """max(neg - pos + 1, 0) with pos = sum(y_true * y_pred) and neg = max((1 - y_true) *
    y_pred) over the last axis; y_true one-hot."""
    y_true, y_pred = _pair(y_true, y_pred)
    positive = ops.sum(y_true * y_pred, axis=-1)
    negative = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return ops.relu(negative - positive + 1.0)


def _crossentropy(target: Tensor, y_pred: Tensor, from_logits: bool, axis: int) -> Tensor:
    """-sum(target * log(probabilities)) along ``axis``: the probabilities are softmax(y_pred)
    from logits, else y_pred rescaled and clipped as Keras does."""
    if from_logits:
        return -ops.sum(target * ops.log_softmax(y_pred, axis=axis), axis=axis)
    return -ops.sum(target * log_probabilities(y_pred, axis=axis), axis=axis)


def check_probability_targets(y_true: Any, op: str) -> None:
    """A ValueError naming ``op`` when targets hold a value below zero: a categorical
    cross-entropy's targets are probabilities (Keras takes negative ones silently). Targets on
    a GPU are not read here (a device sync): fit checks every target array on the host."""
    data = y_true.data if isinstance(y_true, Tensor) else y_true
    if array_device(data) != "cpu" or not np.size(data):
        return
    lowest = np.min(data)
    if lowest < 0:
        raise ValueError(
            f"{op}: y_true holds values below zero (min {lowest:g}); its targets are "
            "probabilities (one-hot or soft labels), never negative"
        )


def categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:  # fmt: skip
    """Cross-entropy of one-hot (or soft) targets along ``axis``: (N, ..., C) -> (N, ...).

    From probabilities (the default), y_pred is rescaled to sum to 1 and clipped to
    [1e-7, 1 - 1e-7]; from logits, it goes through a stable log-softmax. ``label_smoothing``
    s turns the targets into y_true * (1 - s) + s / C. Targets below zero are a ValueError."""
    _check_axis("categorical_crossentropy", axis)
    check_probability_targets(y_true, "categorical_crossentropy")
    y_true, y_pred = _pair(y_true, y_pred)
    check_pair(y_true, y_pred, "categorical_crossentropy")
    return _crossentropy(_smooth_categorical(y_true, label_smoothing), y_pred, from_logits, axis)


def _labels(y_true: Any, y_pred: Tensor, axis: int) -> Any:
    """Integer class labels as an array of shape y_pred.shape[:-1] (a trailing axis of 1 is
    dropped), on the device they came from."""
    if axis not in (-1, y_pred.ndim - 1):
        raise ValueError(
            f"sparse_categorical_crossentropy: only the last axis can be the class axis, got "
            f"axis={axis} for y_pred of shape {y_pred.shape}"
        )
    labels = y_true.data if isinstance(y_true, Tensor) else y_true
    labels = labels if array_device(labels) != "cpu" else np.asarray(labels)
    if labels.ndim == y_pred.ndim and labels.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"sparse_categorical_crossentropy: labels shape {labels.shape} does not match "
            f"y_pred shape {y_pred.shape} without its class axis"
        )
    return labels


def _without_class(labels: Any, ignore_class: int, dtype: Any) -> tuple[Any, Any]:
    """(labels with ``ignore_class`` replaced by 0, 0/1 mask of the labels kept, of dtype)."""
    if array_device(labels) == "cpu":
        ignored = labels == ignore_class
        return np.where(ignored, 0, labels), (~ignored).astype(dtype)
    labels = labels.astype(dtype, copy=False)  # on the GPU: float labels, 0/1 masks
    kept = 1 - (labels == ignore_class)
    return labels * kept, kept


def _sparse_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool, ignore_class: int | None, axis: int
) -> tuple[Tensor, Any]:
    """(per-sample cross-entropy of integer labels, the mask of the labels kept or None)."""
    y_pred = as_tensor(y_pred)
    labels = _labels(y_true, y_pred, axis)
    kept = None
    if ignore_class is not None:
        labels, kept = _without_class(labels, ignore_class, y_pred.dtype)
    target = _constant(one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype), y_pred)
    values = _crossentropy(target, y_pred, from_logits, -1)
    if kept is None:
        return values, None
    kept = _constant(kept, y_pred).data
    return values * kept, kept


def sparse_categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, ignore_class: int | None = None,
    axis: int = -1,
) -> Tensor:  # fmt: skip
    """Cross-entropy of integer class labels y_true (N, ...) or (N, ..., 1) against y_pred
    (N, ..., C): (N, ...). Samples labelled ``ignore_class`` get 0 (and the loss objects
    leave them out of the mean)."""
    return _sparse_crossentropy(y_true, y_pred, from_logits, ignore_class, axis)[0]


def binary_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:  # fmt: skip
    """mean over ``axis`` of -y_true*log(p) - (1-y_true)*log(1-p): p = y_pred clipped to
    [1e-7, 1 - 1e-7], or, from logits, the stable max(x, 0) - x*y_true + log(1 + exp(-|x|)).
    ``label_smoothing`` s squeezes the targets towards 0.5: y_true * (1 - s) + s / 2."""
    y_true, y_pred = _pair(y_true, y_pred)
    check_pair(y_true, y_pred, "binary_crossentropy")
    y_true = _smooth_binary(y_true, label_smoothing)
    return ops.mean(_binary_crossentropy(y_true, y_pred, from_logits), axis=axis)


def _binary_crossentropy(target: Tensor, y_pred: Tensor, from_logits: bool) -> Tensor:
    if from_logits:
        return ops.sigmoid_cross_entropy(y_pred, target)
    probs = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    return -(target * ops.log(probs) + (1.0 - target) * ops.log(1.0 - probs))


def categorical_focal_crossentropy(
    y_true: Any, y_pred: Any, alpha: Any = 0.25, gamma: float = 2.0, from_logits: bool = False,
    label_smoothing: float = 0.0, axis: int = -1,
) -> Tensor:  # fmt: skip
    """sum over ``axis`` of alpha * (1 - p)**gamma * -y_true * log(p), for p the (softmaxed,
    rescaled, clipped) probabilities; ``alpha`` a number or one weight per class."""
    _check_axis("categorical_focal_crossentropy", axis)
    y_true, y_pred = _pair(y_true, y_pred)
    check_pair(y_true, y_pred, "categorical_focal_crossentropy")
    y_true = _smooth_categorical(y_true, label_smoothing)
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=axis)
    probs = ops.clip(y_pred / ops.sum(y_pred, axis=axis, keepdims=True), EPSILON, 1.0 - EPSILON)
    weighting = (1.0 - probs) ** gamma * _constant(alpha, y_pred)
    return ops.sum(weighting * -(y_true * ops.log(probs)), axis=axis)


def binary_focal_crossentropy(
    y_true: Any, y_pred: Any, apply_class_balancing: bool = False, alpha: float = 0.25,
    gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
) -> Tensor:  # fmt: skip
    """mean over ``axis`` of (1 - p_t)**gamma * binary_crossentropy, p_t = y_true * p +
    (1 - y_true) * (1 - p); with ``apply_class_balancing`` also weighted alpha for class 1 and
    1 - alpha for class 0. From logits, p = sigmoid(y_pred) (then clipped, as Keras does)."""
    y_true, y_pred = _pair(y_true, y_pred)
    check_pair(y_true, y_pred, "binary_focal_crossentropy")
    y_true = _smooth_binary(y_true, label_smoothing)
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = (1.0 - p_t) ** gamma * _binary_crossentropy(y_true, y_pred, from_logits=False)
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return ops.mean(focal, axis=axis)


# ------------------------------------------------------------------------ reductions
def standardize_reduction(reduction: str | None) -> str | None:
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of {REDUCTIONS}. "
            f"Received: reduction={reduction!r}"
        )
    return reduction


def apply_mask(sample_weight: Any, mask: Any, reduction: str | None) -> Any:
    """Fold a 0/1 mask of kept values into the sample weights (arrays). For the mean
    reductions the kept values are scaled by count / kept, so the mean runs over them only."""
    if reduction in ("mean", "sum_over_batch_size"):
        mask = mask * _divide_no_nan(mask.size, mask.sum())
    if sample_weight is None:
        return mask
    mask, sample_weight = squeeze_or_expand_to_same_rank(mask, sample_weight)
    return sample_weight * mask


def reduce_values(
    values: Tensor, sample_weight: Any = None, reduction: str | None = "sum_over_batch_size"
) -> Tensor:
    """Reduce (already weighted) per-sample values; a scalar or empty tensor is kept."""
    if reduction in (None, "none") or values.shape in ((), (0,)):
        return values
    loss = ops.sum(values)
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return _divide_no_nan(loss, sample_weight.sum())
    if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight") and values.size:
        loss = loss / values.size
    return loss


def reduce_weighted_values(
    values: Tensor,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str | None = "sum_over_batch_size",
) -> Tensor:
    """Weight per-sample ``values`` by ``sample_weight`` (ranks matched as Keras does, then
    broadcast) and by the 0/1 ``mask`` of kept values, and reduce them."""
    reduction = standardize_reduction(reduction)
    if sample_weight is not None:
        sample_weight = _constant(sample_weight, values).data
    if mask is not None:
        sample_weight = apply_mask(sample_weight, mask, reduction)
    if sample_weight is not None:
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        values = values * sample_weight
    return reduce_values(values, sample_weight, reduction)


# --------------------------------------------------------------------------- objects
class Loss:
    """A loss with a reduction: ``loss(y_true, y_pred, sample_weight=None)`` -> Tensor.

    Subclasses define ``call(y_true, y_pred)``, the per-sample values (y_true arrives as a
    constant Tensor of y_pred's dtype). ``sparse`` losses take integer labels instead of
    one-hot rows (a model uploads their targets as int32); ``probability_targets`` losses take
    no target below zero (fit checks them before training)."""

    sparse = False
    probability_targets = False

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size"):
        self.name = name or to_snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_true, y_pred = _pair(y_true, y_pred)
        values, mask = self.call_with_mask(y_true, y_pred)
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        raise NotImplementedError

    def call_with_mask(self, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Any]:
        """(per-sample values, the 0/1 mask of values the reduction keeps, or None)."""
        return self.call(y_true, y_pred), None

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class LossFunctionWrapper(Loss):
    """A per-sample loss function ``fn(y_true, y_pred, **kwargs)`` as a Loss (ranks of y_true
    and y_pred are matched first, as Keras does)."""

    def __init__(
        self,
        fn: Callable[..., Tensor],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, reduction=reduction)
        self.fn = fn
        self._fn_kwargs = kwargs
        self.sparse = fn is sparse_categorical_crossentropy
        self.probability_targets = fn is categorical_crossentropy

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is LossFunctionWrapper:
            config["fn"] = self.fn.__name__
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        if "fn" in config:
            config = {**config, "fn": _function(config["fn"])}
        return cls(**config)


class MeanSquaredError(LossFunctionWrapper):
    """:func:`mean_squared_error` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(mean_squared_error, reduction, name)


class MeanAbsoluteError(LossFunctionWrapper):
    """:func:`mean_absolute_error` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(mean_absolute_error, reduction, name)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """:func:`mean_absolute_percentage_error` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error"):
        super().__init__(mean_absolute_percentage_error, reduction, name)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """:func:`mean_squared_logarithmic_error` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error"):
        super().__init__(mean_squared_logarithmic_error, reduction, name)


class CosineSimilarity(LossFunctionWrapper):
    """:func:`cosine_similarity` as a Loss."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity"):
        super().__init__(cosine_similarity, reduction, name, axis=axis)
        self.axis = axis


class Huber(LossFunctionWrapper):
    """:func:`huber` as a Loss."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(huber, reduction, name, delta=delta)
        self.delta = delta


class LogCosh(LossFunctionWrapper):
    """:func:`log_cosh` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh"):
        super().__init__(log_cosh, reduction, name)


class Hinge(LossFunctionWrapper):
    """:func:`hinge` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge"):
        super().__init__(hinge, reduction, name)


class SquaredHinge(LossFunctionWrapper):
    """:func:`squared_hinge` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge"):
        super().__init__(squared_hinge, reduction, name)


class CategoricalHinge(LossFunctionWrapper):
    """:func:`categorical_hinge` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge"):
        super().__init__(categorical_hinge, reduction, name)


class KLDivergence(LossFunctionWrapper):
    """:func:`kl_divergence` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence"):
        super().__init__(kl_divergence, reduction, name)


class Poisson(LossFunctionWrapper):
    """:func:`poisson` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson"):
        super().__init__(poisson, reduction, name)


class BinaryCrossentropy(LossFunctionWrapper):
    """:func:`binary_crossentropy` as a Loss."""

    def __init__(
        self, from_logits=False, label_smoothing=0.0, axis=-1,
        reduction="sum_over_batch_size", name="binary_crossentropy",
    ):  # fmt: skip
        super().__init__(
            binary_crossentropy, reduction, name,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
        )  # fmt: skip
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """:func:`binary_focal_crossentropy` as a Loss."""

    def __init__(
        self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
        label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
        name="binary_focal_crossentropy",
    ):  # fmt: skip
        super().__init__(
            binary_focal_crossentropy, reduction, name,
            apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
        )  # fmt: skip
        self.apply_class_balancing, self.alpha, self.gamma = apply_class_balancing, alpha, gamma
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """:func:`categorical_focal_crossentropy` as a Loss."""

    def __init__(
        self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
        reduction="sum_over_batch_size", name="categorical_focal_crossentropy",
    ):  # fmt: skip
        super().__init__(
            categorical_focal_crossentropy, reduction, name, alpha=alpha, gamma=gamma,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
        )  # fmt: skip
        self.alpha, self.gamma = alpha, gamma
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


def _fused(loss: Loss, y_pred: Tensor, sample_weight: Any) -> bool:
    """Whether a cross-entropy from logits can run as the fused softmax cross-entropy: no
    weights, a mean reduction, classes on the last axis."""
    return (
        loss.from_logits
        and sample_weight is None
        and loss.reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight")
        and y_pred.ndim >= 1
        and y_pred.size > 0
    )


class CategoricalCrossentropy(LossFunctionWrapper):
    """:func:`categorical_crossentropy` as a Loss (fused from logits when unweighted)."""

    def __init__(
        self, from_logits=False, label_smoothing=0.0, axis=-1,
        reduction="sum_over_batch_size", name="categorical_crossentropy",
    ):  # fmt: skip
        super().__init__(
            categorical_crossentropy, reduction, name,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
        )  # fmt: skip
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_true, y_pred = _pair(y_true, y_pred)
        last = self.axis in (-1, y_pred.ndim - 1)
        if _fused(self, y_pred, sample_weight) and last and y_true.shape == y_pred.shape:
            check_probability_targets(y_true, self.name)
            target = _smooth_categorical(y_true, self.label_smoothing)
            return ops.softmax_cross_entropy(y_pred, target)
        return super().__call__(y_true, y_pred, sample_weight)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """:func:`sparse_categorical_crossentropy` as a Loss: labels equal to ``ignore_class`` are
    left out of the mean (fused from logits when unweighted)."""

    def __init__(
        self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
        name="sparse_categorical_crossentropy",
    ):  # fmt: skip
        super().__init__(
            sparse_categorical_crossentropy, reduction, name,
            from_logits=from_logits, ignore_class=ignore_class,
        )  # fmt: skip
        self.from_logits, self.ignore_class = from_logits, ignore_class

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_pred = as_tensor(y_pred)
        if _fused(self, y_pred, sample_weight) and self.ignore_class is None:
            labels = _labels(y_true, y_pred, -1)
            target = _constant(one_hot(labels, y_pred.shape[-1], y_pred.dtype), y_pred)
            return ops.softmax_cross_entropy(y_pred, target)
        return super().__call__(y_true, y_pred, sample_weight)

    def call_with_mask(self, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Any]:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return _sparse_crossentropy(y_true, y_pred, self.from_logits, self.ignore_class, -1)


def with_logits(loss: Loss) -> Loss | None:
    """For a model ending in a softmax: the same loss computed from the softmax's logits
    (stable, and fused when unweighted), or None when ``loss`` has no such form. The two agree
    wherever Keras's clipping of probabilities to [1e-7, 1 - 1e-7] does not bite."""
    if not isinstance(loss, CategoricalCrossentropy | SparseCategoricalCrossentropy):
        return None
    if loss.from_logits or getattr(loss, "axis", -1) != -1:
        return None
    return type(loss).from_config({**loss.get_config(), "from_logits": True})


# ------------------------------------------------------------------ lookup by name
_CLASSES: tuple[type[Loss], ...] = (
    BinaryCrossentropy, BinaryFocalCrossentropy, CategoricalCrossentropy,
    CategoricalFocalCrossentropy, CategoricalHinge, CosineSimilarity, Hinge, Huber,
    KLDivergence, LogCosh, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredError,
    MeanSquaredLogarithmicError, Poisson, SparseCategoricalCrossentropy, SquaredHinge,
)  # fmt: skip
# Each function's name (and Keras's short aliases) -> the class that wraps it.
_FUNCTION_CLASSES: dict[str, type[Loss]] = {
    "binary_crossentropy": BinaryCrossentropy,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "categorical_hinge": CategoricalHinge,
    "cosine_similarity": CosineSimilarity,
    "hinge": Hinge,
    "huber": Huber,
    "kl_divergence": KLDivergence,
    "log_cosh": LogCosh,
    "mean_absolute_error": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mean_squared_error": MeanSquaredError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "poisson": Poisson,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "squared_hinge": SquaredHinge,
    **{alias: cls for cls, names in [
        (BinaryCrossentropy, ("bce", "BCE")), (KLDivergence, ("kld", "KLD")),
        (MeanAbsoluteError, ("mae", "MAE")), (MeanSquaredError, ("mse", "MSE")),
        (MeanAbsolutePercentageError, ("mape", "MAPE")),
        (MeanSquaredLogarithmicError, ("msle", "MSLE")),
    ] for alias in names},
}  # fmt: skip
# Every class name, function name, alias and default loss name (Huber's is 'huber_loss').
LOSSES: dict[str, type[Loss]] = {
    **{cls.__name__: cls for cls in (Loss, LossFunctionWrapper, *_CLASSES)},
    **_FUNCTION_CLASSES,
    "huber_loss": Huber,
}


def _function(name: str) -> Callable[..., Tensor]:
    function = globals().get(name)
    if name not in _FUNCTION_CLASSES or not inspect.isfunction(function):
        raise ValueError(f"unknown loss function {name!r}")
    return function


def serialize(loss: Loss) -> dict[str, Any]:
    """Keras's entry for the loss (``module``, ``class_name``, ``config``,
    ``registered_name``), which :func:`get` (or :func:`deserialize`) turns back into it."""
    return registration.keras_entry(loss, "keras.losses", LOSSES)


def deserialize(config: dict[str, Any]) -> Loss:
    """The loss an entry of :func:`serialize` (or a registered custom loss's) makes."""
    name = config.get("class_name")
    cls = registration.find_class(config, LOSSES, Loss)
    if (
        cls is None
        or (LOSSES.get(name) is cls and name != cls.__name__)
        or not isinstance(config.get("config", {}), dict)
    ):
        raise ValueError(f"Could not interpret loss config: {config!r}")
    return cls.from_config(config.get("config", {}))


def get(identifier: Any) -> Loss | None:
    """A Loss object from a name, a class, an instance, a serialized config or a function.

    Names are Keras's: function names and aliases ('categorical_crossentropy', 'mse') give the
    class with that function, named as given (what Keras's compile builds from them; Keras's
    own ``get`` returns the bare function there), class names ('CategoricalCrossentropy') give
    the class with its defaults. A function ``fn(y_true, y_pred)`` of per-sample values is
    wrapped in a :class:`LossFunctionWrapper`. None gives None.
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = LOSSES.get(identifier)
        if cls is None or cls in (Loss, LossFunctionWrapper):
            raise ValueError(
                f"Could not interpret loss identifier: {identifier!r} (unknown loss; known "
                f"names: {', '.join(sorted(_FUNCTION_CLASSES))}, and the class names)"
            )
        return cls(name=identifier) if identifier in _FUNCTION_CLASSES else cls()
    if inspect.isclass(identifier) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier, name=object_name(identifier))
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def resolve(identifier: Any, y_true: Any, y_pred: Any) -> Loss | None:
    """The loss Keras's compile makes of ``identifier`` for a batch of targets and predictions
    (arrays, tensors or their shapes): 'crossentropy' or 'ce' become the binary, sparse or
    categorical cross-entropy by :func:`is_binary_or_sparse_categorical`, named as given;
    anything else is :func:`get`."""
    if identifier is None or str(identifier).lower() not in ("crossentropy", "ce"):
        return get(identifier)
    binary, sparse = is_binary_or_sparse_categorical(y_true, y_pred)
    if binary:
        return BinaryCrossentropy(name=identifier)
    if sparse:
        return SparseCategoricalCrossentropy(name=identifier)
    return CategoricalCrossentropy(name=identifier)
