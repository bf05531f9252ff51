"""The Loss base class and how it reduces per-sample values (Keras's
keras/src/losses/loss.py), and :class:`LossFunctionWrapper`, a per-sample function as a Loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv import tree
from autoconv.config import floatx
from autoconv.losses.functions import (
    categorical_crossentropy,
    categorical_generalized_cross_entropy,
    constant_like,
    divide_no_nan,
    function,
    loss_pair,
    sparse_categorical_crossentropy,
    squeeze_or_expand_to_same_rank,
    to_snake_case,
)
from autoconv.naming import unique_name
from autoconv.ops import engine as ops
from autoconv.ops.masks import as_mask, keras_mask
from autoconv.tensor import Tensor

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


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
        mask = mask * divide_no_nan(mask.size, mask.sum())
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
        return divide_no_nan(loss, sample_weight.sum())
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
        sample_weight = constant_like(sample_weight, values).data
    if mask is not None:
        sample_weight = apply_mask(sample_weight, mask, reduction)
    if sample_weight is not None:
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        values = values * sample_weight
    return reduce_values(values, sample_weight, reduction)


# --------------------------------------------------------------------------- objects
class Loss:
    """A loss with a reduction: ``loss(y_true, y_pred, sample_weight=None)`` -> Tensor. A
    Keras mask on ``y_pred`` (a sequence model's output) leaves the masked entries out.

    Subclasses define ``call(y_true, y_pred)``, the per-sample values (y_true arrives as a
    constant Tensor of y_pred's dtype). ``sparse`` losses take integer labels instead of
    one-hot rows (a model uploads their targets as int32); ``probability_targets`` losses take
    no target below zero (fit checks them before training)."""

    sparse = False
    probability_targets = False

    def __init__(
        self,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ):
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.reduction = standardize_reduction(reduction)
        # Keras's dtype (a name or a DTypePolicy's compute dtype; floatx by default), kept as
        # its attribute: predictions given as arrays are converted to floatx, as Keras 3.15
        # computes even with dtype="float64"
        self.dtype = floatx() if dtype is None else getattr(dtype, "compute_dtype", dtype)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_pred = as_prediction(y_pred)
        if _tensor_structure(y_pred):
            # Keras converts each tensor of a structure (a discriminator's list of feature
            # maps, keras.io's GauGAN) and hands the structures to call as they are
            y_true = tree.map_structure(_as_loss_tensor, y_true)
            values = self.call(y_true, tree.map_structure(_as_loss_tensor, y_pred))
            return reduce_weighted_values(values, sample_weight, None, self.reduction)
        predicted_mask = keras_mask(y_pred)
        y_true, y_pred = loss_pair(y_true, y_pred)
        values, mask = self.call_with_mask(y_true, y_pred)
        if predicted_mask is not None:  # Keras's: y_pred's mask leaves masked entries out
            predicted_mask = as_mask(predicted_mask, values).data
            mask = predicted_mask if mask is None else mask * predicted_mask
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


def _tensor_structure(value: Any) -> bool:
    """Whether ``value`` is a list, tuple or dict of tensors or arrays (not of numbers: the
    values of one tensor written as a list)."""
    if not isinstance(value, list | tuple | dict):
        return False
    leaves = tree.flatten(value)
    return bool(leaves) and all(
        isinstance(leaf, Tensor) or hasattr(leaf, "ndim") for leaf in leaves
    )


def as_prediction(value: Any) -> Any:
    """Predictions given as an array or a list as a tensor of ``floatx`` (Keras's Loss
    converts its inputs to its dtype, so NumPy's float64 gives a float32 loss); a Tensor or a
    structure of them is kept as it is (a float64 model's loss stays float64)."""
    if isinstance(value, Tensor) or _tensor_structure(value):
        return value
    return Tensor(np.asarray(value), dtype=floatx())


def _as_loss_tensor(value: Any) -> Any:
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor(np.asarray(value, dtype=np.float32))


class LossFunctionWrapper(Loss):
    """A per-sample loss function ``fn(y_true, y_pred, **kwargs)`` as a Loss (ranks of y_true
    and y_pred are matched first, as Keras does)."""

    def __init__(
        self,
        fn: Callable[..., Tensor],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs
        self.sparse = fn in (sparse_categorical_crossentropy, categorical_generalized_cross_entropy)
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
            config = {**config, "fn": function(config["fn"])}
        return cls(**config)
