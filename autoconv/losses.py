"""Loss objects and names, as Keras has them: ``loss(y_true, y_pred)`` -> scalar Tensor."""

from __future__ import annotations

from typing import Any

from autoconv import ops
from autoconv.tensor import Tensor


class Loss:
    """Base class; ``sparse`` losses take integer labels instead of one-hot rows."""

    name = "loss"
    sparse = False

    def __call__(self, y_true: Any, y_pred: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}


class CategoricalCrossentropy(Loss):
    """Cross-entropy of one-hot targets; from probabilities unless ``from_logits``."""

    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = from_logits

    def __call__(self, y_true: Any, y_pred: Tensor) -> Tensor:
        return ops.categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits}


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Cross-entropy of integer labels; from probabilities unless ``from_logits``."""

    name = "sparse_categorical_crossentropy"
    sparse = True

    def __call__(self, y_true: Any, y_pred: Tensor) -> Tensor:
        return ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)


class MeanSquaredError(Loss):
    """mean((y_true - y_pred) ** 2)."""

    name = "mean_squared_error"

    def __call__(self, y_true: Any, y_pred: Tensor) -> Tensor:
        return ops.mean_squared_error(y_true, y_pred)


LOSSES: dict[str, type[Loss]] = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}


def get(loss: str | Loss) -> Loss:
    """A loss object from a name or an instance."""
    if isinstance(loss, Loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
    return LOSSES[loss]()
