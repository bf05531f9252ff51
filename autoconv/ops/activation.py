"""Softmax and log-softmax over one axis, numerically stable (the max is subtracted first)."""

from __future__ import annotations

from typing import Any

from autoconv.backends import backend
from autoconv.ops.base import as_tensor, normalize_axis
from autoconv.tensor import Tensor, record


def softmax(a: Any, axis: int = -1) -> Tensor:
    """exp(a) / sum(exp(a)) along ``axis``."""
    a = as_tensor(a)
    axis = normalize_axis(axis, a.ndim, "softmax")
    shifted = a.data - a.data.max(axis=axis, keepdims=True)
    e = backend(a).exp(shifted)
    out = e / e.sum(axis=axis, keepdims=True)

    def backward(g):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return record(out, (a,), backward, "softmax")


def log_softmax(a: Any, axis: int = -1) -> Tensor:
    """a - log(sum(exp(a))) along ``axis``."""
    a = as_tensor(a)
    axis = normalize_axis(axis, a.ndim, "log_softmax")
    xp = backend(a)
    shifted = a.data - a.data.max(axis=axis, keepdims=True)
    out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g):
        return (g - xp.exp(out) * g.sum(axis=axis, keepdims=True),)

    return record(out, (a,), backward, "log_softmax")
