"""``optimizer.learning_rate`` where it is a number: Keras's float32 ``learning_rate``
variable (keras/src/optimizers/base_optimizer.py), as a live view of the optimizer's rate.

Keras code reads it (``float(lr)``, ``lr.numpy()``, ``lr * 0.1``, ``f"{lr:.4f}"``) and sets it
(``lr.assign(1e-4)``, or ``optimizer.learning_rate = 1e-4``); its value is the rate in float32,
as Keras's variable holds it (0.001 reads 0.0010000000474974513), while the optimizer's steps
take the rate as it was given.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv.tensor import variable_repr


def _arithmetic(op: Callable[[Any, Any], Any], reflected: bool = False) -> Callable:
    """The dunder of ``op`` on the variable's float32 value (``reflected``: other op value)."""

    def method(self: LearningRateVariable, other: Any) -> Any:
        other = other.value if isinstance(other, LearningRateVariable) else other
        return op(other, self.value) if reflected else op(self.value, other)

    return method


class LearningRateVariable:
    """The learning rate of ``optimizer`` (a number, not a schedule) as Keras's variable:
    shape (), float32, ``path`` "<optimizer name>/learning_rate"; ``value`` and ``numpy()``
    read it, ``assign`` sets it, and it takes part in arithmetic and comparisons as its
    float32 value."""

    __slots__ = ("_optimizer",)
    name = "learning_rate"
    shape: tuple[int, ...] = ()
    dtype = "float32"
    trainable = False

    def __init__(self, optimizer: Any) -> None:
        self._optimizer = optimizer

    @property
    def path(self) -> str:
        return f"{self._optimizer.name}/learning_rate"

    @property
    def value(self) -> np.float32:
        return np.float32(self._optimizer.learning_rate_value())

    def numpy(self) -> np.ndarray:
        return np.asarray(self.value)

    def assign(self, value: Any) -> LearningRateVariable:
        """Set the optimizer's learning rate to ``value`` (a number, or a 0-d array)."""
        self._optimizer.learning_rate = float(np.asarray(value))
        return self

    def __float__(self) -> float:
        return float(self.value)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.value, dtype)

    def __format__(self, spec: str) -> str:
        return format(float(self.value), spec)

    def __repr__(self) -> str:
        return variable_repr(self.path, (), "float32", np.asarray(self.value, np.float32))

    def __bool__(self) -> bool:
        return bool(self.value)

    __hash__ = None  # type: ignore[assignment]  (equal to numbers, so not hashable, as Keras's)
    __add__, __radd__ = _arithmetic(operator.add), _arithmetic(operator.add, True)
    __sub__, __rsub__ = _arithmetic(operator.sub), _arithmetic(operator.sub, True)
    __mul__, __rmul__ = _arithmetic(operator.mul), _arithmetic(operator.mul, True)
    __truediv__ = _arithmetic(operator.truediv)
    __rtruediv__ = _arithmetic(operator.truediv, True)
    __pow__, __rpow__ = _arithmetic(operator.pow), _arithmetic(operator.pow, True)
    __eq__, __ne__ = _arithmetic(operator.eq), _arithmetic(operator.ne)  # type: ignore[assignment]
    __lt__, __le__ = _arithmetic(operator.lt), _arithmetic(operator.le)
    __gt__, __ge__ = _arithmetic(operator.gt), _arithmetic(operator.ge)

    def __neg__(self) -> np.float32:
        return -self.value
