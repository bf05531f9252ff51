"""Tensor's comparison, remainder and ``abs()`` operators: ``keras.ops``'s functions.

``x > 0``, ``x == y``, ``x % 2``, ``x // 2`` and ``abs(x)`` on a Tensor are
:func:`~autoconv.ops.numpy.greater`, :func:`~autoconv.ops.numpy.equal`,
:func:`~autoconv.ops.numpy.mod`, :func:`~autoconv.ops.numpy.floor_divide` and
:func:`~autoconv.ops.numpy.abs`, as a Keras backend tensor's operators are ``keras.ops``'s:
comparisons give NumPy bool arrays (elementwise, broadcast; a one-element result works in an
``if``), the rest Tensors. They are bound onto :class:`~autoconv.tensor.Tensor` here, beside the
functions they call, because the Tensor's module sits below ``autoconv.ops``. A Tensor hashes by
identity (as a PyTorch tensor), so it stays usable as a dict key although ``==`` is elementwise.
``clone()`` is PyTorch's, which Keras code for its PyTorch backend calls on tensors
(``x.clone().detach().requires_grad_(True)``): :func:`~autoconv.ops.numpy.copy`, in the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autoconv.ops.numpy import arrays, math
from autoconv.tensor import Tensor


def _operator(function: Callable[[Any, Any], Any], reflected: bool = False) -> Callable:
    """``function(tensor, other)`` (``function(other, tensor)`` when ``reflected``) as an operator
    method; ``None``, strings and other non-arrays give ``NotImplemented``, so ``x == None`` is
    False and ``x < None`` Python's TypeError."""

    def operator(self: Tensor, other: Any) -> Any:
        if other is None or isinstance(other, str | bytes | dict | set):
            return NotImplemented
        return function(other, self) if reflected else function(self, other)

    operator.__name__ = function.__name__
    return operator


def _bool(tensor: Tensor) -> bool:
    """``if x:`` on a one-element tensor; ambiguous (NumPy's ValueError) on more elements."""
    return bool(tensor.numpy())


OPERATORS: dict[str, Callable] = {
    "__eq__": _operator(math.equal),
    "__ne__": _operator(math.not_equal),
    "__gt__": _operator(math.greater),
    "__ge__": _operator(math.greater_equal),
    "__lt__": _operator(math.less),
    "__le__": _operator(math.less_equal),
    "__mod__": _operator(math.mod),
    "__rmod__": _operator(math.mod, reflected=True),
    "__floordiv__": _operator(math.floor_divide),
    "__rfloordiv__": _operator(math.floor_divide, reflected=True),
    "__abs__": math.abs,
    "__bool__": _bool,
    "__hash__": object.__hash__,
    "clone": arrays.copy,
}
for _name, _method in OPERATORS.items():
    setattr(Tensor, _name, _method)
