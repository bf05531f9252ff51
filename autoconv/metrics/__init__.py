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
from typing import Any

from autoconv import registration
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
)
from autoconv.metrics.accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    update_loss_and_accuracy,
)
from autoconv.metrics.base import Mean, MeanMetricWrapper, Metric, Sum
from autoconv.metrics.confusion import (
    AUC,
    NEG_INF,
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from autoconv.metrics.correlation import (
    ConcordanceCorrelation,
    PearsonCorrelation,
    concordance_correlation,
    pearson_correlation,
)
from autoconv.metrics.f_score import F1Score, FBetaScore
from autoconv.metrics.functions import (
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    cosine_similarity,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from autoconv.metrics.iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from autoconv.metrics.loss_means import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    RootMeanSquaredError,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from autoconv.metrics.regression import R2Score
from autoconv.naming import to_snake_case

# ------------------------------------------------------------------ lookup by name
_CLASSES: tuple[type[Metric], ...] = (
    Mean, Sum, MeanMetricWrapper, MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, LogCoshError,
    R2Score, AUC, FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives,
    TruePositives, Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson,
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, Accuracy,
    BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, F1Score, FBetaScore, PrecisionAtRecall, RecallAtPrecision,
    SensitivityAtSpecificity, SpecificityAtSensitivity, ConcordanceCorrelation,
    PearsonCorrelation, IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU,
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


def serialize(metric: Metric) -> dict[str, Any]:
    """Keras's entry for the metric (``module``, ``class_name``, ``config``,
    ``registered_name``), which :func:`get` turns back into it."""
    return registration.keras_entry(metric, "keras.metrics", METRICS)


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Metric:
    """The metric an entry of :func:`serialize` (or a registered or ``custom_objects``' custom
    metric's) makes."""
    name = config.get("class_name")
    cls = registration.find_class(config, METRICS, Metric, custom_objects)
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


def check(identifier: Any) -> None:
    """Refuse what :func:`get` refuses (an unknown name), without making the metric: compile
    checks its metrics at once and makes them at the first batch, as Keras's, so that each is
    made (and numbered: 'auc', then 'auc_1') once."""
    if isinstance(identifier, str):
        if identifier not in METRICS:
            raise ValueError(f"Could not interpret metric identifier: {identifier!r}")
    elif not (inspect.isclass(identifier) and issubclass(identifier, Metric)):
        get(identifier)


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


__all__ = [
    "AUC", "METRICS", "NEG_INF", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "BinaryIoU",
    "CategoricalAccuracy", "CategoricalCrossentropy", "CategoricalHinge",
    "ConcordanceCorrelation", "CosineSimilarity", "F1Score", "FBetaScore", "FalseNegatives",
    "FalsePositives", "Hinge", "IoU", "KLDivergence", "LogCoshError", "Mean",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanIoU", "MeanMetricWrapper",
    "MeanSquaredError", "MeanSquaredLogarithmicError", "Metric", "OneHotIoU", "OneHotMeanIoU",
    "PearsonCorrelation", "Poisson", "Precision", "PrecisionAtRecall", "R2Score", "Recall",
    "RecallAtPrecision", "RootMeanSquaredError", "SensitivityAtSpecificity",
    "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy", "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity", "SquaredHinge", "Sum", "TopKCategoricalAccuracy",
    "TrueNegatives", "TruePositives", "accuracy", "binary_accuracy", "binary_crossentropy",
    "binary_focal_crossentropy", "categorical_accuracy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "check", "concordance_correlation",
    "cosine_similarity", "deserialize",
    "get", "hinge", "huber", "kl_divergence", "log_cosh", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "pearson_correlation", "poisson", "resolve", "serialize", "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy", "sparse_top_k_categorical_accuracy", "squared_hinge",
    "top_k_categorical_accuracy", "update_loss_and_accuracy",
]  # fmt: skip
