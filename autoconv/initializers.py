"""Weight initializers by name, as Keras's ``keras.initializers`` (the defaults autoconv's
layers use; the full set arrives with the initializers work)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv.random import generator


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) as Keras: a conv kernel's receptive field times its channels."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
    """U(-l, l) with l = sqrt(6 / (fan_in + fan_out)): Keras's default kernel initializer."""
    fan_in, fan_out = compute_fans(shape)
    limit = math.sqrt(6.0 / max(1, fan_in + fan_out))
    return generator().uniform(-limit, limit, shape).astype(dtype)


def zeros(shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
    return np.zeros(shape, dtype)


def ones(shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
    return np.ones(shape, dtype)


INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "glorot_uniform": glorot_uniform,
    "zeros": zeros,
    "ones": ones,
}


def get(identifier: Any) -> Callable[..., np.ndarray]:
    """An initializer from a name or a callable ``(shape, dtype) -> array``."""
    if callable(identifier):
        return identifier
    if identifier not in INITIALIZERS:
        raise ValueError(
            f"unknown initializer {identifier!r}; expected one of {list(INITIALIZERS)}"
        )
    return INITIALIZERS[identifier]


def serialize(initializer: Any) -> Any:
    """The name (or config) ``get`` takes back."""
    for name, fn in INITIALIZERS.items():
        if fn is initializer:
            return name
    return getattr(initializer, "__name__", None)
