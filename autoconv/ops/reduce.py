"""Reductions over axes: sum, mean, max."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.ops.base import as_tensor, normalize_axes
from autoconv.tensor import Tensor, record

Axis = int | tuple[int, ...] | None


def _keep_dims(g: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    """Re-insert the reduced axes (as size 1) so ``g`` broadcasts against the input."""
    return g if keepdims else g.reshape(_kept_shape(g.shape, axes))


def _kept_shape(reduced: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    shape = list(reduced)
    for axis in axes:
        shape.insert(axis, 1)
    return tuple(shape)


def sum(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes when None)."""
    a = as_tensor(a)
    axes = normalize_axes(axis, a.ndim, "sum")
    shape, xp = a.shape, backend(a)

    def backward(g):
        return (xp.broadcast_to(_keep_dims(g, axes, keepdims), shape),)

    return record(a.data.sum(axis=axes, keepdims=keepdims), (a,), backward, "sum")


def mean(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes when None)."""
    a = as_tensor(a)
    axes = normalize_axes(axis, a.ndim, "mean")
    count = int(np.prod([a.shape[ax] for ax in axes]))
    # The mean of nothing is NaN, as in NumPy, PyTorch and each of Keras's backends.
    return sum(a, axis=axes, keepdims=keepdims) * (1.0 / count if count else float("nan"))


def max(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; ties share the gradient equally."""
    a = as_tensor(a)
    axes = normalize_axes(axis, a.ndim, "max")
    if a.size == 0:
        raise ValueError(f"max: reducing an empty tensor of shape {a.shape}")
    a_data = a.data
    out = a_data.max(axis=axes, keepdims=True)

    def backward(g):
        winners = a_data == out
        share = winners / winners.sum(axis=axes, keepdims=True).astype(a_data.dtype)
        return (share * _keep_dims(g, axes, keepdims),)

    squeezed = tuple(n for ax, n in enumerate(out.shape) if ax not in axes)
    return record(out if keepdims else out.reshape(squeezed), (a,), backward, "max")
