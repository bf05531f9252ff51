"""Helpers every op uses to turn its arguments into tensors of one dtype."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.tensor import Tensor


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor; a scalar or array takes the dtype of ``like`` (no gradient)."""
    if isinstance(value, Tensor):
        return value
    return Tensor(value) if like is None else Tensor(value, dtype=like.dtype, device=like.device)


def as_tensors(a: Any, b: Any, op: str) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as tensors of one dtype on one device.

    Python scalars and arrays take the other operand's dtype, so ``float32_tensor * 2.0``
    stays float32. Two tensors of different dtypes or devices are an error rather than a
    silent promotion to float64.
    """
    if not isinstance(a, Tensor):
        a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    if not isinstance(b, Tensor):
        b = as_tensor(b, like=a)
    if a.dtype != b.dtype:
        raise TypeError(
            f"{op}: operands have different dtypes ({a.dtype} and {b.dtype}); "
            "convert one explicitly, e.g. Tensor(x.numpy(), dtype='float32')"
        )
    if a.device != b.device:
        raise ValueError(f"{op}: operands are on different devices ({a.device} and {b.device})")
    return a, b


def normalize_axis(axis: int, ndim: int, op: str) -> int:
    """``axis`` as a non-negative index into ``ndim`` axes."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dims")
    return axis % ndim


def normalize_axes(axis: int | tuple[int, ...] | None, ndim: int, op: str) -> tuple[int, ...]:
    """``axis`` (an int, a sequence of ints, or None for all) as sorted non-negative indices."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    normalized = tuple(sorted(normalize_axis(int(ax), ndim, op) for ax in axes))
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return normalized
