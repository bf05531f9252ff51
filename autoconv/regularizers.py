"""``keras.regularizers``: penalties on a weight, added to the loss (Keras 3's
``keras/src/regularizers/regularizers.py``).

``regularizer(weight)`` returns a scalar Tensor built from autoconv's ops, so its gradient
flows back into the weight on either device. As in Keras 3, L2 is l2 * sum(w ** 2), without a
factor 1/2.

>>> from autoconv import regularizers
>>> regularizers.L2(2.0)(np.ones((5, 5))).item()
50.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autoconv import registration
from autoconv.ops import engine as ops
from autoconv.ops.base import as_tensor
from autoconv.tensor import Tensor

__all__ = [
    "L1", "L1L2", "L2", "OrthogonalRegularizer", "Regularizer", "deserialize", "get", "l1",
    "l1_l2", "l2", "orthogonal_regularizer", "serialize",
]  # fmt: skip

# Keras's backend.epsilon(): the smallest norm a row is divided by.
EPSILON = 1e-7


def validate_float_arg(value: Any, name: str) -> float:
    """``value`` as a float, or a ValueError unless it is a finite number >= 0."""
    if (
        not isinstance(value, float | int)
        or isinstance(value, bool)
        or math.isinf(value)
        or math.isnan(value)
        or value < 0
    ):
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float. "
            f"Received: {name}={value}"
        )
    return float(value)


class Regularizer:
    """Base class: ``__call__(weight)`` gives the penalty; ``get_config`` the constructor's
    arguments (``from_config(get_config())`` makes the same regularizer)."""

    def __call__(self, x: Any) -> Any:
        return 0.0

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    def __repr__(self) -> str:
        try:
            config = self.get_config()
        except NotImplementedError:
            config = {}
        arguments = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(self).__name__}({arguments})"


def _l1_penalty(x: Tensor, factor: float) -> Tensor:
    return ops.abs(x).sum() * factor


def _l2_penalty(x: Tensor, factor: float) -> Tensor:
    return (x * x).sum() * factor


class L1(Regularizer):
    """l1 * sum(|w|). ``l1`` is kept in float32, as Keras's tensor keeps it (its config gives
    0.009999999776482582 for 0.01)."""

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = float(np.float32(validate_float_arg(0.01 if l1 is None else l1, "l1")))

    def __call__(self, x: Any) -> Tensor:
        return _l1_penalty(as_tensor(x), self.l1)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum(w ** 2)."""

    def __init__(self, l2: float = 0.01) -> None:
        self.l2 = validate_float_arg(0.01 if l2 is None else l2, "l2")

    def __call__(self, x: Any) -> Tensor:
        return _l2_penalty(as_tensor(x), self.l2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """l1 * sum(|w|) + l2 * sum(w ** 2); both factors default to 0 (also by the name
    'l1_l2', as in Keras 3)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = validate_float_arg(0.0 if l1 is None else l1, "l1")
        self.l2 = validate_float_arg(0.0 if l2 is None else l2, "l2")

    def __call__(self, x: Any) -> Tensor:
        x = as_tensor(x)
        penalty = Tensor(0.0, dtype=x.dtype, device=x.device)
        if self.l1:
            penalty = penalty + _l1_penalty(x, self.l1)
        if self.l2:
            penalty = penalty + _l2_penalty(x, self.l2)
        return penalty

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """factor * 0.5 * the mean |cosine| between distinct rows (``mode='rows'``) or columns
    (``'columns'``) of a 2-D weight: factor * sum over pairs i != j of |<u_i, u_j>| /
    (size * (size - 1)), each u the row (or column) divided by its norm. ``factor`` is kept in
    float32, as Keras's tensor keeps it."""

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        self.factor = float(np.float32(validate_float_arg(factor, "factor")))
        if mode not in ("rows", "columns"):
            raise ValueError(
                "Invalid value for argument `mode`. Expected one of "
                f'{{"rows", "columns"}}. Received: mode={mode}'
            )
        self.mode = mode

    def __call__(self, x: Any) -> Tensor:
        x = as_tensor(x)
        if x.ndim != 2:
            raise ValueError(
                "Inputs to OrthogonalRegularizer must have rank 2. "
                f"Received: inputs.shape={x.shape}"
            )
        axis = 1 if self.mode == "rows" else 0
        # Keras's normalize: x * min(1 / sqrt(sum(x ** 2)), 1 / epsilon)
        inverse_norm = ops.clip((x * x).sum(axis=axis, keepdims=True) ** -0.5, 0.0, 1 / EPSILON)
        unit = x * inverse_norm
        product = unit @ unit.T if self.mode == "rows" else unit.T @ unit
        size = x.shape[1 - axis]
        off_diagonal = product * (1.0 - np.eye(size))
        pairs = size * (size - 1.0) / 2.0
        return ops.abs(off_diagonal).sum() * (self.factor * 0.5 / pairs)

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}


# Keras's lower-case names are the classes themselves.
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

# ("l1l2": Keras's snake-cased class name; "l1_l2": its function's name)
ALL_OBJECTS: dict[str, type[Regularizer]] = {
    "Regularizer": Regularizer, "regularizer": Regularizer, "L1": L1, "l1": L1, "L2": L2,
    "l2": L2, "L1L2": L1L2, "l1l2": L1L2, "l1_l2": L1L2,
    "OrthogonalRegularizer": OrthogonalRegularizer, "orthogonal_regularizer": OrthogonalRegularizer,
}  # fmt: skip


def serialize(regularizer: Regularizer) -> dict[str, Any]:
    """Keras's entry for the regularizer (``module``, ``class_name``, ``config``,
    ``registered_name``), which :func:`deserialize` turns back into it."""
    return registration.keras_entry(regularizer, "keras.regularizers", ALL_OBJECTS)


def deserialize(
    config: dict[str, Any] | str, custom_objects: dict[str, Any] | None = None
) -> Regularizer:
    """The regularizer a :func:`serialize` dict (Keras's, or autoconv's older one without
    ``module``), a name, or a registered (or ``custom_objects``') custom regularizer's entry
    makes."""
    return registration.deserialize_object(
        config, ALL_OBJECTS, Regularizer, "regularizer", custom_objects
    )


def get(identifier: Any) -> Any:
    """The regularizer for ``identifier``: a name ('l2', 'L1L2', ...) or config dict made into
    an instance with its defaults, a class instantiated, an instance or any callable
    ``(weight) -> scalar`` returned as it is; None gives None."""
    return registration.get_object(identifier, deserialize, "regularizer")
