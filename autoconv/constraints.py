"""``keras.constraints``: projections of a weight that the optimizer applies after each update
(Keras 3's ``keras/src/constraints/constraints.py``).

``constraint(w)`` takes a weight (a Tensor on either device, or an array) and returns the
projected weight, a Tensor of w's shape and dtype built from autoconv's ops on w's device. A
layer's weight made with ``add_weight(constraint=...)`` (a Dense's ``kernel_constraint``, ...)
is set to ``constraint(weight)`` in place after each optimizer step (see
:meth:`autoconv.optimizers.Optimizer.apply`), as Keras's optimizer does.

The norms are L2 over ``axis`` (an int, a list of ints, or None for every axis), kept as size-1
axes: for a Dense kernel (inputs, units) ``axis=0`` gives each unit's incoming weights, for a
Conv2D kernel (kh, kw, in, filters) ``axis=[0, 1, 2]`` each filter's. A norm is divided with
Keras's epsilon 1e-7 added, so a projection leaves a norm within bounds slightly smaller.

>>> import numpy as np
>>> from autoconv import constraints
>>> constraints.NonNeg()(np.array([-1.0, 1.0])).numpy()
array([0., 1.])
>>> constraints.MaxNorm(1.0)(np.array([[3.0], [4.0]])).numpy().round(6)
array([[0.6],
       [0.8]])
"""

from __future__ import annotations

from typing import Any

from autoconv import registration
from autoconv.ops import engine as ops
from autoconv.ops.base import as_tensor
from autoconv.tensor import Tensor

__all__ = [
    "Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "deserialize", "get",
    "max_norm", "min_max_norm", "non_neg", "serialize", "unit_norm",
]  # fmt: skip

# Keras's backend.epsilon(): added to a norm before dividing by it.
EPSILON = 1e-7


class Constraint:
    """Base class: ``__call__(w)`` gives the projected weight (the base returns ``w`` as it
    is); ``get_config`` the constructor's arguments (``from_config(get_config())`` makes the
    same constraint)."""

    def __call__(self, w: Any) -> Any:
        return w

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**config)


def _norms(w: Tensor, axis: Any) -> Tensor:
    """sqrt(sum(w ** 2)) over ``axis``, the reduced axes kept with size 1."""
    return ops.pow(ops.sum(w * w, axis=axis, keepdims=True), 0.5)


class MaxNorm(Constraint):
    """Each norm over ``axis`` at most ``max_value``: w * clip(norm, 0, max_value) / (epsilon +
    norm)."""

    def __init__(self, max_value: float = 2, axis: Any = 0) -> None:
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w: Any) -> Tensor:
        w = as_tensor(w)
        norms = _norms(w, self.axis)
        desired = ops.clip(norms, 0, self.max_value)
        return w * (desired / (norms + EPSILON))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Every element at least 0: max(w, 0)."""

    def __call__(self, w: Any) -> Tensor:
        return ops.relu(as_tensor(w))  # max(w, 0), NaN kept, as Keras's ops.maximum(w, 0)


class UnitNorm(Constraint):
    """Each norm over ``axis`` 1: w / (epsilon + norm)."""

    def __init__(self, axis: Any = 0) -> None:
        self.axis = axis

    def __call__(self, w: Any) -> Tensor:
        w = as_tensor(w)
        return w / (_norms(w, self.axis) + EPSILON)

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Each norm over ``axis`` moved towards [min_value, max_value]: w * desired / (epsilon +
    norm) with desired = rate * clip(norm, min_value, max_value) + (1 - rate) * norm (rate 1
    enforces the bounds at once, a smaller rate a step of the way each update)."""

    def __init__(
        self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Any = 0
    ) -> None:
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w: Any) -> Tensor:
        w = as_tensor(w)
        norms = _norms(w, self.axis)
        clipped = ops.clip(norms, self.min_value, self.max_value)
        desired = self.rate * clipped + (1 - self.rate) * norms
        return w * (desired / (norms + EPSILON))

    def get_config(self) -> dict[str, Any]:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


# Keras's lower-case names are the classes themselves.
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm

ALL_OBJECTS: dict[str, type[Constraint]] = {
    "Constraint": Constraint, "constraint": Constraint, "MaxNorm": MaxNorm, "max_norm": MaxNorm,
    "MinMaxNorm": MinMaxNorm, "min_max_norm": MinMaxNorm, "NonNeg": NonNeg, "non_neg": NonNeg,
    "UnitNorm": UnitNorm, "unit_norm": UnitNorm,
}  # fmt: skip


def serialize(constraint: Constraint | None) -> dict[str, Any] | None:
    """Keras's entry for the constraint (``module``, ``class_name``, ``config``,
    ``registered_name``), which :func:`deserialize` turns back into it; None for None."""
    if constraint is None:
        return None
    return registration.keras_entry(constraint, "keras.constraints", ALL_OBJECTS)


def deserialize(
    config: dict[str, Any] | str, custom_objects: dict[str, Any] | None = None
) -> Constraint:
    """The constraint a :func:`serialize` dict, a name ('max_norm', 'MaxNorm', ...), or a
    registered (or ``custom_objects``') custom constraint's entry makes."""
    return registration.deserialize_object(
        config, ALL_OBJECTS, Constraint, "constraint", custom_objects
    )


def get(identifier: Any) -> Any:
    """The constraint for ``identifier``: a name or config dict made into an instance (a name
    with its defaults), a class instantiated, an instance or any callable ``(weight) ->
    weight`` returned as it is; None gives None. Anything else is a ValueError."""
    return registration.get_object(identifier, deserialize, "constraint")
