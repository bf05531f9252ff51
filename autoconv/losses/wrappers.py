"""Keras's loss classes, each a :class:`~autoconv.losses.LossFunctionWrapper` of its function
(the categorical cross-entropies fused with the softmax where they can be), and
:func:`with_logits`."""

from __future__ import annotations

from typing import Any

from autoconv.losses.functions import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_generalized_cross_entropy,
    categorical_hinge,
    check_probability_targets,
    circle,
    constant_like,
    cosine_similarity,
    ctc,
    dice,
    hinge,
    huber,
    kl_divergence,
    labels_of,
    log_cosh,
    loss_pair,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    smooth_categorical,
    sparse_categorical_crossentropy,
    sparse_crossentropy,
    squared_hinge,
    squeeze_or_expand_to_same_rank,
    tversky,
)
from autoconv.losses.loss import Loss, LossFunctionWrapper, as_prediction
from autoconv.ops import engine as ops
from autoconv.ops.loss import one_hot
from autoconv.ops.masks import keras_mask
from autoconv.tensor import Tensor


class MeanSquaredError(LossFunctionWrapper):
    """:func:`mean_squared_error` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction, name, dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """:func:`mean_absolute_error` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction, name, dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """:func:`mean_absolute_percentage_error` as a Loss."""

    def __init__(
        self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None
    ):
        super().__init__(mean_absolute_percentage_error, reduction, name, dtype)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """:func:`mean_squared_logarithmic_error` as a Loss."""

    def __init__(
        self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None
    ):
        super().__init__(mean_squared_logarithmic_error, reduction, name, dtype)


class CosineSimilarity(LossFunctionWrapper):
    """:func:`cosine_similarity` as a Loss."""

    def __init__(
        self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None
    ):
        super().__init__(cosine_similarity, reduction, name, dtype, axis=axis)
        self.axis = axis


class Huber(LossFunctionWrapper):
    """:func:`huber` as a Loss."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, reduction, name, dtype, delta=delta)
        self.delta = delta


class LogCosh(LossFunctionWrapper):
    """:func:`log_cosh` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction, name, dtype)


class Hinge(LossFunctionWrapper):
    """:func:`hinge` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, reduction, name, dtype)


class SquaredHinge(LossFunctionWrapper):
    """:func:`squared_hinge` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction, name, dtype)


class CategoricalHinge(LossFunctionWrapper):
    """:func:`categorical_hinge` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction, name, dtype)


class KLDivergence(LossFunctionWrapper):
    """:func:`kl_divergence` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction, name, dtype)


class Poisson(LossFunctionWrapper):
    """:func:`poisson` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, reduction, name, dtype)


class BinaryCrossentropy(LossFunctionWrapper):
    """:func:`binary_crossentropy` as a Loss."""

    def __init__(
        self, from_logits=False, label_smoothing=0.0, axis=-1,
        reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None,
    ):  # fmt: skip
        super().__init__(
            binary_crossentropy, reduction, name, dtype,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
        )  # fmt: skip
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """:func:`binary_focal_crossentropy` as a Loss."""

    def __init__(
        self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
        label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
        name="binary_focal_crossentropy", dtype=None,
    ):  # fmt: skip
        super().__init__(
            binary_focal_crossentropy, reduction, name, dtype,
            apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
        )  # fmt: skip
        self.apply_class_balancing, self.alpha, self.gamma = apply_class_balancing, alpha, gamma
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """:func:`categorical_focal_crossentropy` as a Loss."""

    def __init__(
        self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
        reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None,
    ):  # fmt: skip
        super().__init__(
            categorical_focal_crossentropy, reduction, name, dtype, alpha=alpha, gamma=gamma,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
        )  # fmt: skip
        self.alpha, self.gamma = alpha, gamma
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CTC(LossFunctionWrapper):
    """:func:`ctc` as a Loss."""

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(ctc, reduction, name, dtype)


class Dice(LossFunctionWrapper):
    """:func:`dice` as a Loss (with ``axis`` None, one value for the whole batch)."""

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(dice, reduction, name, dtype, axis=axis)
        self.axis = axis


class Tversky(LossFunctionWrapper):
    """:func:`tversky` as a Loss."""

    def __init__(
        self,
        alpha=0.5,
        beta=0.5,
        reduction="sum_over_batch_size",
        name="tversky",
        axis=None,
        dtype=None,
    ):
        super().__init__(tversky, reduction, name, dtype, alpha=alpha, beta=beta, axis=axis)
        self.alpha, self.beta, self.axis = alpha, beta, axis


class Circle(LossFunctionWrapper):
    """:func:`circle` as a Loss of a batch's embeddings against each other; the mean
    reductions average over the samples whose loss is above 0 only, as Keras's do."""

    def __init__(
        self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction="sum_over_batch_size",
        name="circle", dtype=None,
    ):  # fmt: skip
        super().__init__(
            circle,
            reduction,
            name,
            dtype,
            gamma=gamma,
            margin=margin,
            remove_diagonal=remove_diagonal,
        )
        self.gamma, self.margin, self.remove_diagonal = gamma, margin, remove_diagonal

    def call_with_mask(self, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Any]:
        values = self.call(y_true, y_pred)
        return values, (values.data > 0).astype(values.dtype, copy=False)


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """:func:`categorical_generalized_cross_entropy` as a Loss (of integer labels); ``q``
    must lie in (0, 1)."""

    def __init__(
        self,
        q=0.5,
        reduction="sum_over_batch_size",
        name="categorical_generalized_cross_entropy",
        dtype=None,
    ):
        if not 0 < q < 1:
            raise ValueError(f"q must be in the interval (0, 1). Received: q={q!r}")
        super().__init__(categorical_generalized_cross_entropy, reduction, name, dtype, q=q)
        self.q = q


def _fused(loss: Loss, y_pred: Tensor, sample_weight: Any) -> bool:
    """Whether a cross-entropy from logits can run as the fused softmax cross-entropy: no
    weights (nor a Keras mask), a mean reduction, classes on the last axis."""
    return (
        loss.from_logits
        and sample_weight is None
        and keras_mask(y_pred) is None
        and loss.reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight")
        and y_pred.ndim >= 1
        and y_pred.size > 0
    )


class CategoricalCrossentropy(LossFunctionWrapper):
    """:func:`categorical_crossentropy` as a Loss (fused from logits when unweighted)."""

    def __init__(
        self, from_logits=False, label_smoothing=0.0, axis=-1,
        reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None,
    ):  # fmt: skip
        super().__init__(
            categorical_crossentropy, reduction, name, dtype,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
        )  # fmt: skip
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_true, y_pred = loss_pair(y_true, as_prediction(y_pred))
        last = self.axis in (-1, y_pred.ndim - 1)
        if _fused(self, y_pred, sample_weight) and last and y_true.shape == y_pred.shape:
            check_probability_targets(y_true, self.name)
            target = smooth_categorical(y_true, self.label_smoothing)
            return ops.softmax_cross_entropy(y_pred, target)
        return super().__call__(y_true, y_pred, sample_weight)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """:func:`sparse_categorical_crossentropy` as a Loss: labels equal to ``ignore_class`` are
    left out of the mean (fused from logits when unweighted); ``axis`` is the classes' axis
    (in the config only when not -1: Keras's config leaves it out, and takes it back)."""

    def __init__(
        self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1,
        name="sparse_categorical_crossentropy", dtype=None,
    ):  # fmt: skip
        super().__init__(
            sparse_categorical_crossentropy, reduction, name, dtype,
            from_logits=from_logits, ignore_class=ignore_class, axis=axis,
        )  # fmt: skip
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self.axis == -1:
            del config["axis"]
        return config

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_pred = as_prediction(y_pred)
        fusable = self.ignore_class is None and self.axis in (-1, y_pred.ndim - 1)
        if _fused(self, y_pred, sample_weight) and fusable:
            labels = labels_of(y_true, y_pred, -1)
            target = constant_like(one_hot(labels, y_pred.shape[-1], y_pred.dtype), y_pred)
            return ops.softmax_cross_entropy(y_pred, target)
        return super().__call__(y_true, y_pred, sample_weight)

    def call_with_mask(self, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Any]:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return sparse_crossentropy(y_true, y_pred, self.from_logits, self.ignore_class, self.axis)


def with_logits(loss: Loss) -> Loss | None:
    """For a model ending in a softmax: the same loss computed from the softmax's logits
    (stable, and fused when unweighted), or None when ``loss`` has no such form. The two agree
    wherever Keras's clipping of probabilities to [1e-7, 1 - 1e-7] does not bite."""
    if not isinstance(loss, CategoricalCrossentropy | SparseCategoricalCrossentropy):
        return None
    if loss.from_logits or getattr(loss, "axis", -1) != -1:
        return None
    return type(loss).from_config({**loss.get_config(), "from_logits": True})
