"""Elementwise ops with NumPy broadcasting: each forward beside its VJP.

Gradients may come back in the broadcast shape; the engine reduces them to each input's
shape (``autoconv.tensor.unbroadcast``). Array functions come from the tensor's backend
(``xp``: NumPy on the CPU, numba.cuda kernels on the GPU).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.ops.base import as_tensor, as_tensors
from autoconv.tensor import Tensor, record


def broadcast_shape(a: Tensor, b: Tensor, op: str) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast") from None


def add(a: Any, b: Any) -> Tensor:
    """a + b, broadcasting."""
    a, b = as_tensors(a, b, "add")
    broadcast_shape(a, b, "add")
    return record(a.data + b.data, (a, b), lambda g: (g, g), "add")


def sub(a: Any, b: Any) -> Tensor:
    """a - b, broadcasting."""
    a, b = as_tensors(a, b, "sub")
    broadcast_shape(a, b, "sub")
    return record(a.data - b.data, (a, b), lambda g: (g, -g), "sub")


def mul(a: Any, b: Any) -> Tensor:
    """a * b, broadcasting."""
    a, b = as_tensors(a, b, "mul")
    broadcast_shape(a, b, "mul")
    a_data, b_data = a.data, b.data

    def backward(g):
        return (
            g * b_data if a.requires_grad else None,
            g * a_data if b.requires_grad else None,
        )

    return record(a_data * b_data, (a, b), backward, "mul")


def div(a: Any, b: Any) -> Tensor:
    """a / b, broadcasting."""
    a, b = as_tensors(a, b, "div")
    broadcast_shape(a, b, "div")
    a_data, b_data = a.data, b.data
    out = a_data / b_data

    def backward(g):
        g_over_b = g / b_data
        return g_over_b, (-g_over_b * out if b.requires_grad else None)

    return record(out, (a, b), backward, "div")


def pow(a: Any, b: Any) -> Tensor:
    """a ** b, broadcasting. The gradient for b needs a > 0 (it uses log a)."""
    a, b = as_tensors(a, b, "pow")
    broadcast_shape(a, b, "pow")
    a_data, b_data = a.data, b.data
    out = a_data**b_data

    def backward(g):
        grad_a = g * b_data * a_data ** (b_data - 1) if a.requires_grad else None
        grad_b = g * out * backend(a).log(a_data) if b.requires_grad else None
        return grad_a, grad_b

    return record(out, (a, b), backward, "pow")


def neg(a: Any) -> Tensor:
    """-a."""
    a = as_tensor(a)
    return record(-a.data, (a,), lambda g: (-g,), "neg")


def abs(a: Any) -> Tensor:
    """|a|; the gradient at exactly 0 is taken as 0 (sign(0))."""
    a = as_tensor(a)
    a_data = a.data
    sign = lambda g: g * (a_data > 0) - g * (a_data < 0)  # noqa: E731
    return record(backend(a).abs(a_data), (a,), lambda g: (sign(g),), "abs")


def exp(a: Any) -> Tensor:
    """e ** a."""
    a = as_tensor(a)
    out = backend(a).exp(a.data)
    return record(out, (a,), lambda g: (g * out,), "exp")


def log(a: Any) -> Tensor:
    """Natural logarithm."""
    a = as_tensor(a)
    a_data = a.data
    return record(backend(a).log(a_data), (a,), lambda g: (g / a_data,), "log")


def tanh(a: Any) -> Tensor:
    """Hyperbolic tangent."""
    a = as_tensor(a)
    out = backend(a).tanh(a.data)
    return record(out, (a,), lambda g: (g * (1 - out * out),), "tanh")


def sigmoid(a: Any) -> Tensor:
    """1 / (1 + e ** -a), computed as e ** min(a, 0) / (1 + e ** -|a|): no overflow."""
    a = as_tensor(a)
    xp = backend(a)
    out = xp.exp(xp.minimum(a.data, 0)) / (1 + xp.exp(-xp.abs(a.data)))
    return record(out, (a,), lambda g: (g * out * (1 - out),), "sigmoid")


def relu(a: Any) -> Tensor:
    """max(a, 0); the gradient at exactly 0 is taken as 0."""
    a = as_tensor(a)
    out = backend(a).maximum(a.data, 0)
    return record(out, (a,), lambda g: (g * (out > 0),), "relu")


def clip(a: Any, low: float, high: float) -> Tensor:
    """a limited to [low, high]; the gradient is 0 where a was clipped."""
    a = as_tensor(a)
    a_data = a.data
    xp = backend(a)
    out = xp.minimum(xp.maximum(a_data, low), high)
    return record(out, (a,), lambda g: (g * ((a_data >= low) & (a_data <= high)),), "clip")


def dropout(a: Any, rate: float, rng: np.random.Generator) -> Tensor:
    """Zero each element with probability ``rate`` and scale the rest by 1 / (1 - rate).

    The mask is drawn on the tensor's device (on the GPU from a seed ``rng`` gives)."""
    a = as_tensor(a)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate!r}")
    uniform = backend(a).random_uniform(a.shape, a.dtype, rng)
    keep = (uniform >= rate).astype(a.dtype) * (1.0 / (1.0 - rate))
    return record(a.data * keep, (a,), lambda g: (g * keep,), "dropout")
