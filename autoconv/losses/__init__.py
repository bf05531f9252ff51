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
from collections.abc import Callable
from typing import Any

from autoconv import registration
from autoconv.losses.functions import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_generalized_cross_entropy,
    categorical_hinge,
    check_probability_targets,
    circle,
    cosine_similarity,
    ctc,
    dice,
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
    tversky,
)
from autoconv.losses.loss import (
    REDUCTIONS,
    Loss,
    LossFunctionWrapper,
    apply_mask,
    reduce_values,
    reduce_weighted_values,
    standardize_reduction,
)
from autoconv.losses.wrappers import (
    CTC,
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    CategoricalGeneralizedCrossEntropy,
    CategoricalHinge,
    Circle,
    CosineSimilarity,
    Dice,
    Hinge,
    Huber,
    KLDivergence,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
    Tversky,
    with_logits,
)

# ------------------------------------------------------------------ lookup by name
_CLASSES: tuple[type[Loss], ...] = (
    BinaryCrossentropy, BinaryFocalCrossentropy, CategoricalCrossentropy,
    CategoricalFocalCrossentropy, CategoricalGeneralizedCrossEntropy, CategoricalHinge, Circle,
    CosineSimilarity, CTC, Dice, Hinge, Huber, KLDivergence, LogCosh, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError, Poisson,
    SparseCategoricalCrossentropy, SquaredHinge, Tversky,
)  # fmt: skip
# Each function's name (and Keras's short aliases) -> the class that wraps it.
_FUNCTION_CLASSES: dict[str, type[Loss]] = {
    "binary_crossentropy": BinaryCrossentropy,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "categorical_generalized_cross_entropy": CategoricalGeneralizedCrossEntropy,
    "categorical_hinge": CategoricalHinge,
    "circle": Circle,
    "cosine_similarity": CosineSimilarity,
    "ctc": CTC,
    "dice": Dice,
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
    "tversky": Tversky,
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


def serialize(loss: Loss) -> dict[str, Any]:
    """Keras's entry for the loss (``module``, ``class_name``, ``config``,
    ``registered_name``), which :func:`get` (or :func:`deserialize`) turns back into it."""
    return registration.keras_entry(loss, "keras.losses", LOSSES)


def deserialize(name: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Loss:
    """The loss an entry of :func:`serialize` (or a registered or ``custom_objects``' custom
    loss's) makes (Keras's parameter names: the entry is ``name``)."""
    config = name
    name = config.get("class_name")
    cls = registration.find_class(config, LOSSES, Loss, custom_objects)
    if (
        cls is None
        or (LOSSES.get(name) is cls and name != cls.__name__)
        or not isinstance(config.get("config", {}), dict)
    ):
        raise ValueError(f"Could not interpret loss config: {config!r}")
    return cls.from_config(config.get("config", {}))


def loss_object(identifier: Any) -> Loss | None:
    """The Loss object Keras's compile makes of a name, a class, an instance, a serialized
    config or a function.

    Function names and aliases ('categorical_crossentropy', 'mse') give the class with that
    function, named as given; class names ('CategoricalCrossentropy') give the class with its
    defaults. A function ``fn(y_true, y_pred)`` of per-sample values is wrapped in a
    :class:`LossFunctionWrapper`. None gives None.
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


def get(identifier: Any) -> Loss | Callable[..., Any] | None:
    """Keras's ``losses.get``: a function's name or alias ('categorical_crossentropy', 'mse')
    gives the function of per-sample values (``mean_squared_error``), a class name
    ('CategoricalCrossentropy') or a class an instance with its defaults, a serialized config
    the loss it describes; a Loss, a function and None are given back. An unknown name is a
    ValueError. (What compile makes of a name is :func:`loss_object`.)"""
    if isinstance(identifier, str):
        loss = loss_object(identifier)
        return loss.fn if identifier in _FUNCTION_CLASSES else loss
    if identifier is None or (callable(identifier) and not inspect.isclass(identifier)):
        return identifier
    return loss_object(identifier)


def resolve(identifier: Any, y_true: Any, y_pred: Any) -> Loss | None:
    """The loss Keras's compile makes of ``identifier`` for a batch of targets and predictions
    (arrays, tensors or their shapes): 'crossentropy' or 'ce' become the binary, sparse or
    categorical cross-entropy by :func:`is_binary_or_sparse_categorical`, named as given;
    anything else is :func:`loss_object`."""
    if identifier is None or str(identifier).lower() not in ("crossentropy", "ce"):
        return loss_object(identifier)
    binary, sparse = is_binary_or_sparse_categorical(y_true, y_pred)
    if binary:
        return BinaryCrossentropy(name=identifier)
    if sparse:
        return SparseCategoricalCrossentropy(name=identifier)
    return CategoricalCrossentropy(name=identifier)


__all__ = [
    "CTC", "LOSSES", "REDUCTIONS", "BinaryCrossentropy", "BinaryFocalCrossentropy",
    "CategoricalCrossentropy", "CategoricalFocalCrossentropy",
    "CategoricalGeneralizedCrossEntropy", "CategoricalHinge", "Circle", "CosineSimilarity",
    "Dice", "Hinge", "Huber", "KLDivergence", "LogCosh", "Loss", "LossFunctionWrapper",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "Poisson", "SparseCategoricalCrossentropy", "SquaredHinge",
    "Tversky", "apply_mask", "binary_crossentropy", "binary_focal_crossentropy",
    "categorical_crossentropy", "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy", "categorical_hinge", "check_probability_targets",
    "circle", "cosine_similarity", "ctc", "deserialize", "dice", "get", "hinge", "huber",
    "is_binary_or_sparse_categorical", "kl_divergence", "log_cosh", "loss_object",
    "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "object_name", "poisson", "reduce_values", "reduce_weighted_values", "resolve", "serialize",
    "sparse_categorical_crossentropy", "squared_hinge", "squeeze_or_expand_to_same_rank",
    "standardize_reduction", "to_snake_case", "tversky", "with_logits",
]  # fmt: skip
