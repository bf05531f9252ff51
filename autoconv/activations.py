"""Activations by name, as Keras's ``keras.activations`` (the full set arrives with the
activations work): ``get("relu")`` gives the function, ``serialize(fn)`` its name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autoconv import ops
from autoconv.tensor import Tensor


def relu(x: Any) -> Tensor:
    return ops.relu(x)


def softmax(x: Any, axis: int = -1) -> Tensor:
    return ops.softmax(x, axis=axis)


def sigmoid(x: Any) -> Tensor:
    return ops.sigmoid(x)


def tanh(x: Any) -> Tensor:
    return ops.tanh(x)


def linear(x: Any) -> Any:
    return x


ALL: dict[str, Callable[..., Any]] = {
    "relu": relu,
    "softmax": softmax,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "linear": linear,
}


def get(identifier: Any) -> Callable[..., Any]:
    """The activation function for a name (None means linear) or a callable."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if identifier not in ALL:
        raise ValueError(
            f"Could not interpret activation function identifier: {identifier!r}; known: "
            f"{', '.join(ALL)}"
        )
    return ALL[identifier]


def serialize(activation: Callable[..., Any]) -> str:
    """The name ``get`` takes back (a custom function's ``__name__``)."""
    for name, fn in ALL.items():
        if fn is activation:
            return name
    return getattr(activation, "__name__", "custom")
