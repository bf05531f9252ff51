"""The per-sample loss functions (Keras's keras/src/losses/losses.py), each a Tensor of one
value per sample, differentiable in y_pred, the helpers they share (and that the metrics use),
and the table of those a :class:`~autoconv.losses.LossFunctionWrapper`'s config may name.
``eps`` below is Keras's fuzz factor, ``autoconv.config.epsilon()`` (1e-7 by default)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv.backends import array_device, namespace
from autoconv.config import epsilon
from autoconv.naming import to_snake_case
from autoconv.ops import engine as ops
from autoconv.ops.base import as_tensor
from autoconv.ops.ctc import ctc_loss
from autoconv.ops.loss import check_pair, log_probabilities, one_hot
from autoconv.tensor import Tensor
from autoconv.windows import is_int


# ---------------------------------------------------------------------------------- helpers
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


def constant_like(value: Any, like: Tensor) -> Tensor:
    """``value`` (a Tensor, an array of either device, a list or a number) as a Tensor without
    a gradient, of like's dtype on like's device."""
    data = value.data if isinstance(value, Tensor) else value
    return Tensor(data, dtype=like.dtype, device=like.device)


def loss_pair(y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """(y_true, y_pred) as tensors of y_pred's dtype and device. Targets are constants, except
    a target computed from trainable weights (a distillation's teacher's output), which the
    loss differentiates through, as Keras does."""
    y_pred = as_tensor(y_pred)
    if isinstance(y_true, Tensor) and y_true.requires_grad and y_true.device == y_pred.device:
        return ops.cast(y_true, y_pred.dtype), y_pred
    return constant_like(y_true, y_pred), y_pred


def _elementwise_pair(name: str, y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """The pair of a loss that compares values elementwise: ranks made equal as Keras does
    (so (N,) targets fit (N, 1) predictions), then shapes that must broadcast."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*loss_pair(y_true, y_pred))
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


def divide_no_nan(numerator: Any, denominator: Any) -> Any:
    """numerator / denominator (an array), and 0 where the denominator is 0 (computed on the
    device: nothing is read back)."""
    zero = _as_float(denominator == 0, denominator.dtype)
    return numerator / (denominator + zero) * (1 - zero)


def smooth_categorical(y_true: Tensor, label_smoothing: float) -> Tensor:
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
    """100 * mean(|(y_true - y_pred) / max(|y_true|, eps)|) over the last axis."""
    y_true, y_pred = _elementwise_pair("mean_absolute_percentage_error", y_true, y_pred)
    scale = ops.clip(ops.abs(y_true), epsilon(), math.inf)
    return 100.0 * ops.mean(ops.abs((y_true - y_pred) / scale), axis=-1)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Tensor:
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)) ** 2) over the last
    axis."""
    y_true, y_pred = _elementwise_pair("mean_squared_logarithmic_error", y_true, y_pred)
    diff = ops.log(ops.clip(y_pred, epsilon(), math.inf) + 1.0) - ops.log(
        ops.clip(y_true, epsilon(), math.inf) + 1.0
    )
    return ops.mean(diff * diff, axis=-1)


def _l2_normalize(x: Tensor, axis: int) -> Tensor:
    """x / max(||x||, eps) along ``axis`` (Keras's ops.normalize)."""
    squares = ops.sum(x * x, axis=axis, keepdims=True)
    return x / ops.clip(squares, epsilon() ** 2, math.inf) ** 0.5


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
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [eps, 1]."""
    y_true, y_pred = loss_pair(y_true, y_pred)
    y_true = ops.clip(y_true, epsilon(), 1.0)
    return ops.sum(y_true * ops.log(y_true / ops.clip(y_pred, epsilon(), 1.0)), axis=-1)


def poisson(y_true: Any, y_pred: Any) -> Tensor:
    """mean(y_pred - y_true * log(y_pred + eps)) over the last axis."""
    y_true, y_pred = loss_pair(y_true, y_pred)
    return ops.mean(y_pred - y_true * ops.log(y_pred + epsilon()), axis=-1)


def _hinge_targets(y_true: Tensor) -> Tensor:
    """Keras's hinge labels: targets that are all 0 or 1 become -1 or 1 (decided on the device,
    without reading the values back)."""
    data, dtype = y_true.data, y_true.dtype
    if data.size == 0:
        return y_true
    zero_or_one = _as_float(data == 0, dtype) + _as_float(data == 1, dtype)
    all_binary = 1 - (1 - zero_or_one).max()  # 2y - 1 when binary, else y (differentiably)
    return y_true * constant_like(1 + all_binary, y_true) - constant_like(all_binary, y_true)


def hinge(y_true: Any, y_pred: Any) -> Tensor:
    """mean(max(1 - y_true * y_pred, 0)) over the last axis; y_true is -1 or 1 (0/1 labels are
    converted)."""
    y_true, y_pred = loss_pair(y_true, y_pred)
    return ops.mean(ops.relu(1.0 - _hinge_targets(y_true) * y_pred), axis=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> Tensor:
    """mean(max(1 - y_true * y_pred, 0) ** 2) over the last axis (0/1 labels converted)."""
    y_true, y_pred = loss_pair(y_true, y_pred)
    margin = ops.relu(1.0 - _hinge_targets(y_true) * y_pred)
    return ops.mean(margin * margin, axis=-1)


def categorical_hinge(y_true: Any, y_pred: Any) -> Tensor:
    """max(neg - pos + 1, 0) with pos = sum(y_true * y_pred) and neg = max((1 - y_true) *
    y_pred) over the last axis; y_true one-hot."""
    y_true, y_pred = loss_pair(y_true, y_pred)
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
    [eps, 1 - eps]; from logits, it goes through a stable log-softmax. ``label_smoothing``
    s turns the targets into y_true * (1 - s) + s / C. Targets below zero are a ValueError."""
    _check_axis("categorical_crossentropy", axis)
    check_probability_targets(y_true, "categorical_crossentropy")
    y_true, y_pred = loss_pair(y_true, y_pred)
    check_pair(y_true, y_pred, "categorical_crossentropy")
    return _crossentropy(smooth_categorical(y_true, label_smoothing), y_pred, from_logits, axis)


def labels_of(
    y_true: Any, y_pred: Tensor, axis: int, op: str = "sparse_categorical_crossentropy"
) -> Any:
    """Integer class labels as an array of shape y_pred.shape[:-1] (a trailing axis of 1 is
    dropped), on the device they came from; ``op`` names the loss in errors."""
    if axis not in (-1, y_pred.ndim - 1):
        raise ValueError(
            f"{op}: only the last axis can be the class axis, got "
            f"axis={axis} for y_pred of shape {y_pred.shape}"
        )
    labels = y_true.data if isinstance(y_true, Tensor) else y_true
    labels = labels if array_device(labels) != "cpu" else np.asarray(labels)
    if labels.ndim == y_pred.ndim and labels.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"{op}: labels shape {labels.shape} does not match "
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


def sparse_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool, ignore_class: int | None, axis: int
) -> tuple[Tensor, Any]:
    """(per-sample cross-entropy of integer labels, the mask of the labels kept or None);
    ``axis`` is y_pred's class axis (moved last first, as Keras's PyTorch backend moves it)."""
    y_pred = as_tensor(y_pred)
    if not is_int(axis) or not -y_pred.ndim <= axis < y_pred.ndim:
        raise ValueError(
            f"sparse_categorical_crossentropy: axis={axis} is not an axis of y_pred of shape "
            f"{y_pred.shape}"
        )
    if axis < y_pred.ndim - 1 and axis != -1:
        order = [d for d in range(y_pred.ndim) if d != axis % y_pred.ndim]
        y_pred, axis = ops.transpose(y_pred, (*order, axis % y_pred.ndim)), -1
    labels = labels_of(y_true, y_pred, axis)
    kept = None
    if ignore_class is not None:
        labels, kept = _without_class(labels, ignore_class, y_pred.dtype)
    target = constant_like(one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype), y_pred)
    values = _crossentropy(target, y_pred, from_logits, -1)
    if kept is None:
        return values, None
    kept = constant_like(kept, y_pred).data
    return values * kept, kept


def sparse_categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, ignore_class: int | None = None,
    axis: int = -1,
) -> Tensor:  # fmt: skip
    """Cross-entropy of integer class labels y_true (N, ...) or (N, ..., 1) against y_pred
    (N, ..., C): (N, ...). Samples labelled ``ignore_class`` get 0 (and the loss objects
    leave them out of the mean)."""
    return sparse_crossentropy(y_true, y_pred, from_logits, ignore_class, axis)[0]


def binary_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:  # fmt: skip
    """mean over ``axis`` of -y_true*log(p) - (1-y_true)*log(1-p): p = y_pred clipped to
    [eps, 1 - eps], or, from logits, the stable max(x, 0) - x*y_true + log(1 + exp(-|x|)).
    ``label_smoothing`` s squeezes the targets towards 0.5: y_true * (1 - s) + s / 2."""
    y_true, y_pred = loss_pair(y_true, y_pred)
    check_pair(y_true, y_pred, "binary_crossentropy")
    y_true = _smooth_binary(y_true, label_smoothing)
    return ops.mean(_binary_crossentropy(y_true, y_pred, from_logits), axis=axis)


def _binary_crossentropy(target: Tensor, y_pred: Tensor, from_logits: bool) -> Tensor:
    if from_logits:
        return ops.sigmoid_cross_entropy(y_pred, target)
    probs = ops.clip(y_pred, epsilon(), 1.0 - epsilon())
    return -(target * ops.log(probs) + (1.0 - target) * ops.log(1.0 - probs))


def categorical_focal_crossentropy(
    y_true: Any, y_pred: Any, alpha: Any = 0.25, gamma: float = 2.0, from_logits: bool = False,
    label_smoothing: float = 0.0, axis: int = -1,
) -> Tensor:  # fmt: skip
    """sum over ``axis`` of alpha * (1 - p)**gamma * -y_true * log(p), for p the (softmaxed,
    rescaled, clipped) probabilities; ``alpha`` a number or one weight per class."""
    _check_axis("categorical_focal_crossentropy", axis)
    y_true, y_pred = loss_pair(y_true, y_pred)
    check_pair(y_true, y_pred, "categorical_focal_crossentropy")
    y_true = smooth_categorical(y_true, label_smoothing)
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=axis)
    probs = ops.clip(y_pred / ops.sum(y_pred, axis=axis, keepdims=True), epsilon(), 1.0 - epsilon())
    weighting = (1.0 - probs) ** gamma * constant_like(alpha, y_pred)
    return ops.sum(weighting * -(y_true * ops.log(probs)), axis=axis)


def binary_focal_crossentropy(
    y_true: Any, y_pred: Any, apply_class_balancing: bool = False, alpha: float = 0.25,
    gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
) -> Tensor:  # fmt: skip
    """mean over ``axis`` of (1 - p_t)**gamma * binary_crossentropy, p_t = y_true * p +
    (1 - y_true) * (1 - p); with ``apply_class_balancing`` also weighted alpha for class 1 and
    1 - alpha for class 0. From logits, p = sigmoid(y_pred) (then clipped, as Keras does)."""
    y_true, y_pred = loss_pair(y_true, y_pred)
    check_pair(y_true, y_pred, "binary_focal_crossentropy")
    y_true = _smooth_binary(y_true, label_smoothing)
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = (1.0 - p_t) ** gamma * _binary_crossentropy(y_true, y_pred, from_logits=False)
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return ops.mean(focal, axis=axis)


def _axes(axis: Any) -> Any:
    """An axis or axes as the ops take them (a config's list of axes as a tuple)."""
    return tuple(axis) if isinstance(axis, list) else axis


def dice(y_true: Any, y_pred: Any, axis: Any = None) -> Tensor:
    """1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + eps), the sums over
    ``axis`` (an int, a tuple, or None: all axes, one value)."""
    y_true, y_pred = _elementwise_pair("dice", y_true, y_pred)
    axis = _axes(axis)
    intersection = ops.sum(y_true * y_pred, axis=axis)
    total = ops.sum(y_true, axis=axis) + ops.sum(y_pred, axis=axis)
    return 1.0 - intersection * 2.0 / (total + epsilon())


def tversky(
    y_true: Any, y_pred: Any, alpha: float = 0.5, beta: float = 0.5, axis: Any = None
) -> Tensor:
    """1 - TP / (TP + alpha * sum(y_true * (1 - y_pred)) + beta * sum((1 - y_true) * y_pred)
    + eps), TP = sum(y_true * y_pred), the sums over ``axis``: Keras's weighting (its alpha
    weighs the missed targets); alpha = beta = 0.5 is :func:`dice`."""
    y_true, y_pred = _elementwise_pair("tversky", y_true, y_pred)
    axis = _axes(axis)
    intersection = ops.sum(y_true * y_pred, axis=axis)
    missed = ops.sum((1.0 - y_pred) * y_true, axis=axis)
    extra = ops.sum(y_pred * (1.0 - y_true), axis=axis)
    return 1.0 - intersection / (intersection + missed * alpha + extra * beta + epsilon())


def _shape(x: Any) -> tuple[int, ...]:
    """A Tensor's or array's shape (never copying a GPU tensor to the host)."""
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def ctc(y_true: Any, y_pred: Any) -> Tensor:
    """The CTC loss of each sample (N,), as Keras's: labels ``y_true`` (N, L) padded with 0, the
    blank (the count of its other entries is each sample's label length), and logits
    ``y_pred`` (N, T, C), every sample using all T steps (see :func:`autoconv.ops.ctc_loss`)."""
    if len(_shape(y_true)) != 2:
        raise ValueError(
            "Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` "
            f"in integer format. Received: y_true.shape={_shape(y_true)}"
        )
    if len(_shape(y_pred)) != 3:
        raise ValueError(
            "Logits `y_pred` are expected to be a tensor of shape "
            f"`(batch_size, max_length, num_classes)`. Received: y_pred.shape={_shape(y_pred)}"
        )
    y_pred = as_tensor(y_pred)
    y_true = as_tensor(y_true, like=y_pred)
    xp = namespace(y_pred.device)
    label_length = (y_true.data != 0).sum(axis=-1)
    input_length = xp.zeros((y_pred.shape[0],), y_pred.dtype) + y_pred.shape[1]
    return ctc_loss(y_true, y_pred, label_length, input_length, mask_index=0)


# Stands in for -inf in a masked log-sum-exp (exp of it minus a row's largest entry is 0).
_EXCLUDED = -1e30


def _masked_logsumexp(x: Tensor, mask: Any) -> tuple[Tensor, Any]:
    """(log(sum(exp(x))) of each row of (N, M) ``x`` over the entries where the 0/1 array
    ``mask`` is 1, the 0/1 column of rows with any). A row of none gives 0, not -inf, so
    that nothing downstream is infinite; the gradient reaches the kept entries only."""
    some = _as_float(mask.sum(axis=1, keepdims=True) > 0, x.dtype)
    kept = x * constant_like(mask, x) + constant_like((mask - 1) * -_EXCLUDED, x)
    top = constant_like(kept.data.max(axis=1, keepdims=True) * some, x)
    sums = ops.sum(ops.exp(kept - top), axis=1, keepdims=True) + constant_like(1 - some, x)
    return ops.log(sums) + top, some


def circle(
    y_true: Any, y_pred: Any, ref_labels: Any = None, ref_embeddings: Any = None,
    remove_diagonal: bool = True, gamma: float = 80, margin: float = 0.4,
) -> Tensor:  # fmt: skip
    """The Circle loss (Sun et al., 2020) of (N, D) L2-normalized embeddings ``y_pred`` and
    their (N,) or (N, 1) integer labels, against the (M, D) ``ref_embeddings`` labelled
    ``ref_labels`` (y_pred and y_true by default): (N,), softplus(logsumexp over the positive
    pairs + logsumexp over the negative ones) of the cosine distances d = max(1 - cos, 0)
    scaled by ``gamma`` and weighted around ``margin``; 0 for a sample with no positive or no
    negative pair. ``remove_diagonal`` leaves each sample out of its own positives."""
    y_true, y_pred = loss_pair(y_true, y_pred)
    ref_embeddings = y_pred if ref_embeddings is None else as_tensor(ref_embeddings)
    ref_labels = y_true if ref_labels is None else constant_like(ref_labels, y_pred)
    if y_pred.ndim != 2 or ref_embeddings.ndim != 2 or y_pred.shape[1] != ref_embeddings.shape[1]:
        raise ValueError(
            f"circle: y_pred and ref_embeddings must be (N, D) and (M, D) embeddings, got "
            f"shapes {y_pred.shape} and {ref_embeddings.shape}"
        )
    if y_true.size != y_pred.shape[0] or ref_labels.size != ref_embeddings.shape[0]:
        raise ValueError(
            f"circle: one label per embedding is needed, got labels of shapes {y_true.shape} "
            f"and {ref_labels.shape} for embeddings {y_pred.shape} and {ref_embeddings.shape}"
        )
    distances = ops.relu(1.0 - ops.matmul(y_pred, ops.transpose(ref_embeddings)))
    same = y_true.data.reshape(-1, 1) == ref_labels.data.reshape(1, -1)
    positive = _as_float(same, y_pred.dtype)
    negative = 1 - positive
    if remove_diagonal:
        eye = np.eye(y_true.size, ref_labels.size)
        positive = positive * constant_like(1 - eye, y_pred).data
    pos_weights = ops.relu((distances + margin) * constant_like(positive, y_pred))
    neg_weights = ops.relu((1.0 + margin - distances) * constant_like(negative, y_pred))
    pos_loss, pos_some = _masked_logsumexp(pos_weights * (distances - margin) * gamma, positive)
    neg_loss, neg_some = _masked_logsumexp(
        neg_weights * (1.0 - margin - distances) * gamma, negative
    )
    both = constant_like(pos_some * neg_some, y_pred)
    return (ops.softplus(pos_loss + neg_loss) * both).reshape((y_pred.shape[0],))


def categorical_generalized_cross_entropy(y_true: Any, y_pred: Any, q: float) -> Tensor:
    """(1 - p**q) / q for p the probability y_pred (N, ..., C) gives each sample's integer
    label y_true (N, ...) or (N, ..., 1): (N, ...). Near q = 0 the cross-entropy, at q = 1
    the mean absolute error (Zhang & Sabuncu, 2018)."""
    y_pred = as_tensor(y_pred)
    labels = labels_of(y_true, y_pred, -1, "categorical_generalized_cross_entropy")
    target = constant_like(one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype), y_pred)
    p = ops.sum(y_pred * target, axis=-1)
    return (1.0 - p**q) / q


# The functions a LossFunctionWrapper's config may name.
FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    fn.__name__: fn
    for fn in (
        binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy,
        categorical_focal_crossentropy, categorical_hinge, cosine_similarity, hinge, huber,
        kl_divergence, log_cosh, mean_absolute_error, mean_absolute_percentage_error,
        mean_squared_error, mean_squared_logarithmic_error, poisson,
        sparse_categorical_crossentropy, squared_hinge, dice, tversky, circle,
        categorical_generalized_cross_entropy,
    )
}  # fmt: skip


def function(name: str) -> Callable[..., Tensor]:
    """The loss function a LossFunctionWrapper's config names."""
    if name not in FUNCTIONS:
        raise ValueError(f"unknown loss function {name!r}")
    return FUNCTIONS[name]
