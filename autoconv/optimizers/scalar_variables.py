"""An optimizer's two scalar variables as Keras 3 has them (keras/src/optimizers/
base_optimizer.py), each a live view of the optimizer's own number:

- ``optimizer.learning_rate`` where it is a number: Keras's float32 ``learning_rate``
  variable. Keras code reads it (``float(lr)``, ``lr.numpy()``, ``lr * 0.1``, ``f"{lr:.4f}"``)
  and sets it (``lr.assign(1e-4)``, or ``optimizer.learning_rate = 1e-4``); its value is the
  rate in float32, as Keras's variable holds it (0.001 reads 0.0010000000474974513), while
  the optimizer's steps take the rate as it was given.
- ``optimizer.iterations``: Keras's int32 ``iteration`` variable, the steps taken
  (``int(it)``, ``it.numpy()``, ``it + 1``, ``it.assign(0)``, ``optimizer.iterations = n``);
  its arithmetic gives Python ints.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv.layers.layer import Variable
from autoconv.naming import variable_repr


def _arithmetic(op: Callable[[Any, Any], Any], reflected: bool = False) -> Callable:
    """The dunder of ``op`` on the variable's number (``reflected``: other op number)."""

    def method(self: ScalarVariable, other: Any) -> Any:
        other = other.number() if isinstance(other, ScalarVariable) else other
        return op(other, self.number()) if reflected else op(self.number(), other)

    return method


class ScalarVariable:
    """A read-write view of one number of ``optimizer`` as a Keras variable of shape ():
    ``name``, ``path`` "<optimizer name>/<name>", ``dtype``, ``value`` and ``numpy()``,
    ``assign``; it takes part in arithmetic and comparisons as :meth:`number`."""

    __slots__ = ("_optimizer",)
    name: str
    dtype: str
    shape: tuple[int, ...] = ()
    trainable = False

    def __init__(self, optimizer: Any) -> None:
        self._optimizer = optimizer

    def number(self) -> Any:
        """The value as arithmetic takes it."""
        raise NotImplementedError

    def assign(self, value: Any) -> ScalarVariable:
        raise NotImplementedError

    @property
    def path(self) -> str:
        return f"{self._optimizer.name}/{self.name}"

    @property
    def value(self) -> Any:
        return np.dtype(self.dtype).type(self.number())

    def numpy(self) -> np.ndarray:
        return np.asarray(self.value)

    def __float__(self) -> float:
        return float(self.number())

    def __int__(self) -> int:
        return int(self.number())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.value, dtype)

    def __format__(self, spec: str) -> str:
        return format(self.number(), spec) if spec else repr(self)

    def __repr__(self) -> str:
        return variable_repr(self.path, (), self.dtype, np.asarray(self.value))

    def __bool__(self) -> bool:
        return bool(self.number())

    __hash__ = None  # type: ignore[assignment]  (equal to numbers, so not hashable, as Keras's)
    __add__, __radd__ = _arithmetic(operator.add), _arithmetic(operator.add, True)
    __sub__, __rsub__ = _arithmetic(operator.sub), _arithmetic(operator.sub, True)
    __mul__, __rmul__ = _arithmetic(operator.mul), _arithmetic(operator.mul, True)
    __truediv__ = _arithmetic(operator.truediv)
    __rtruediv__ = _arithmetic(operator.truediv, True)
    __floordiv__ = _arithmetic(operator.floordiv)
    __rfloordiv__ = _arithmetic(operator.floordiv, True)
    __mod__, __rmod__ = _arithmetic(operator.mod), _arithmetic(operator.mod, True)
    __pow__, __rpow__ = _arithmetic(operator.pow), _arithmetic(operator.pow, True)
    __eq__, __ne__ = _arithmetic(operator.eq), _arithmetic(operator.ne)  # type: ignore[assignment]
    __lt__, __le__ = _arithmetic(operator.lt), _arithmetic(operator.le)
    __gt__, __ge__ = _arithmetic(operator.gt), _arithmetic(operator.ge)

    def __neg__(self) -> Any:
        return -self.number()

    def __round__(self, ndigits: int | None = None) -> Any:
        """``round(lr, 5)``, as Keras's variable rounds its value (keras.io's
        LearningRateScheduler example): a number of the variable's dtype."""
        return np.dtype(self.dtype).type(np.round(self.number(), ndigits or 0))


class LearningRateVariable(ScalarVariable):
    """The learning rate of ``optimizer`` (a number, not a schedule): float32."""

    __slots__ = ()
    name, dtype = "learning_rate", "float32"

    def number(self) -> np.float32:
        return np.float32(self._optimizer.learning_rate_value())

    def assign(self, value: Any) -> LearningRateVariable:
        """Set the optimizer's learning rate to ``value`` (a number, or a 0-d array)."""
        self._optimizer.learning_rate = float(np.asarray(value))
        return self


class IterationVariable(ScalarVariable):
    """The steps ``optimizer`` has taken: int32, a Python int in arithmetic."""

    __slots__ = ()
    name, dtype = "iteration", "int32"

    def number(self) -> int:
        return self._optimizer._iterations

    def assign(self, value: Any) -> IterationVariable:
        """Set the optimizer's step count to ``value`` (an int >= 0, or a 0-d array)."""
        self._optimizer.iterations = value
        return self


Variable.register(ScalarVariable)  # isinstance(optimizer.learning_rate, Variable), as Keras's
