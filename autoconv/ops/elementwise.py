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


def cast(a: Any, dtype: Any) -> Tensor:
    """``a`` in another float dtype (float32 or float64); the gradient comes back in ``a``'s.

    >>> cast(Tensor(np.ones(2)), "float64").dtype
    dtype('float64')
    """
    a = as_tensor(a)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"cast: dtype must be float32 or float64, got {dtype}")
    if dtype == a.dtype:
        return a
    original = a.dtype
    return record(a.data.astype(dtype), (a,), lambda g: (g.astype(original),), "cast")


def neg(a: Any) -> Tensor:
    """-a."""
    a = as_tensor(a)
    return record(-a.data, (a,), lambda g: (-g,), "neg")


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
    """1 / (1 + e ** -a), without overflow for very negative a (the backend's sigmoid)."""
    a = as_tensor(a)
    out = backend(a).sigmoid(a.data)
    return record(out, (a,), lambda g: (g * out * (1 - out),), "sigmoid")


def abs(a: Any) -> Tensor:
    """|a|; the gradient is sign(a) (0 at 0)."""
    a = as_tensor(a)
    a_data = a.data

    def backward(g):
        return (g * (a_data > 0) - g * (a_data < 0),)

    return record(backend(a).abs(a_data), (a,), backward, "abs")


def relu(
    a: Any, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0
) -> Tensor:
    """Keras's relu: max(a, 0) with the defaults. Otherwise a where a > threshold, else 0;
    clipped to [0, max_value] when one is given; plus negative_slope * (a - threshold) where
    a < threshold. With only a negative_slope it is :func:`leaky_relu`, as in Keras.
    The gradient at a kink is taken as 0 (negative_slope below the threshold).

    >>> relu(Tensor([-10.0, -5.0, 0.0, 5.0, 10.0]), negative_slope=0.5, max_value=5.0).data
    array([-5. , -2.5,  0. ,  5. ,  5. ], dtype=float32)
    """
    a = as_tensor(a)
    a_data, xp = a.data, backend(a)
    if max_value is None and threshold == 0:
        if negative_slope != 0:
            return leaky_relu(a, negative_slope)
        out = xp.maximum(a_data, 0)
        return record(out, (a,), lambda g: (xp.relu_grad(g, out),), "relu")
    kept = a_data > threshold
    out = a_data * kept if threshold != 0 else xp.maximum(a_data, 0)
    passes = kept
    if max_value is not None:
        out = xp.minimum(xp.maximum(out, 0), max_value)
        passes = kept & (a_data > 0) & (a_data < max_value)
    if negative_slope != 0:
        out = out - xp.maximum(threshold - a_data, 0) * negative_slope

    def backward(g):
        grad = g * passes
        if negative_slope != 0:
            grad = grad + (g * negative_slope) * (a_data < threshold)
        return (grad,)

    return record(out, (a,), backward, "relu")


def leaky_relu(a: Any, negative_slope: float = 0.2) -> Tensor:
    """max(a, negative_slope * a), as Keras defines it: for a slope in [0, 1], a where a >= 0
    and negative_slope * a below. The gradient at 0 is negative_slope (as PyTorch's)."""
    a = as_tensor(a)
    a_data = a.data
    scaled = a_data * negative_slope
    takes_a = a_data > scaled

    def backward(g):
        return (g * takes_a + (g * negative_slope) * (a_data <= scaled),)

    return record(backend(a).maximum(a_data, scaled), (a,), backward, "leaky_relu")


def clip(a: Any, low: float, high: float) -> Tensor:
    """a limited to [low, high]; the gradient is 0 where a was clipped."""
    a = as_tensor(a)
    a_data = a.data
    xp = backend(a)
    out = xp.minimum(xp.maximum(a_data, low), high)
    return record(out, (a,), lambda g: (g * ((a_data >= low) & (a_data <= high)),), "clip")


def dropout(
    a: Any, rate: float, rng: np.random.Generator, noise_shape: tuple[int, ...] | None = None
) -> Tensor:
    """Zero each element with probability ``rate`` and scale the rest by 1 / (1 - rate).

    ``noise_shape`` (broadcastable to a's shape, e.g. (N, 1, 1, C) to drop whole channels of
    (N, H, W, C) images) draws one keep-or-drop per element of that shape, shared along its
    size-1 axes; None: one per element of a. The mask is drawn on the tensor's device (on the
    GPU from a seed ``rng`` gives)."""
    a = as_tensor(a)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate!r}")
    shape = a.shape if noise_shape is None else tuple(noise_shape)
    if noise_shape is not None and (
        len(shape) != a.ndim or any(n not in (1, m) for n, m in zip(shape, a.shape, strict=True))
    ):
        raise ValueError(f"dropout: noise_shape {shape} does not broadcast to x's shape {a.shape}")
    uniform = backend(a).random_uniform(shape, a.dtype, rng)
    keep = (uniform >= rate).astype(a.dtype) * (1.0 / (1.0 - rate))
    return record(a.data * keep, (a,), lambda g: (g * keep,), "dropout")


def gaussian_noise(
    a: Any, stddev: float, rng: np.random.Generator, mean: float = 0.0, multiply: bool = False
) -> Tensor:
    """a + noise, or a * noise with ``multiply``, for noise drawn from a normal distribution
    N(mean, stddev**2), one number per element, on the tensor's device (Keras's GaussianNoise
    adds N(0, stddev**2); its GaussianDropout multiplies by N(1, rate / (1 - rate)))."""
    a = as_tensor(a)
    noise = backend(a).random_normal(a.shape, a.dtype, rng) * stddev + mean
    if multiply:
        return record(a.data * noise, (a,), lambda g: (g * noise,), "gaussian_noise")
    return record(a.data + noise, (a,), lambda g: (g,), "gaussian_noise")
