"""Activation functions, each forward beside its VJP, with Keras 3's definitions
(``keras/src/activations/activations.py`` and ``keras/src/backend/numpy/nn.py``).

The relu family (relu with Keras's arguments, leaky_relu), sigmoid and tanh live in
:mod:`autoconv.ops.elementwise`. Everything here is stable for large |a|: the exponentials are
of non-positive numbers only (softmax subtracts the max, softplus and sigmoid are backend
functions written that way).
"""

from __future__ import annotations

import math
from typing import Any

from autoconv.backends import backend
from autoconv.ops.base import as_tensor, normalize_axis
from autoconv.ops.elementwise import mul, relu
from autoconv.tensor import Tensor, record

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_2 = math.sqrt(2.0)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
GELU_CUBIC = 0.044715


def _axes(axis: int | tuple[int, ...], ndim: int, op: str) -> int | tuple[int, ...]:
    if isinstance(axis, tuple | list):
        return tuple(normalize_axis(a, ndim, op) for a in axis)
    return normalize_axis(axis, ndim, op)


def softmax(a: Any, axis: int | tuple[int, ...] = -1) -> Tensor:
    """exp(a) / sum(exp(a)) along ``axis`` (a tuple of axes: one softmax over all of them)."""
    a = as_tensor(a)
    axis = _axes(axis, a.ndim, "softmax")
    out = backend(a).softmax(a.data, axis)

    def backward(g):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return record(out, (a,), backward, "softmax")


def log_softmax(a: Any, axis: int | tuple[int, ...] = -1) -> Tensor:
    """a - log(sum(exp(a))) along ``axis`` (or a tuple of axes)."""
    a = as_tensor(a)
    axis = _axes(axis, a.ndim, "log_softmax")
    xp = backend(a)
    shifted = a.data - a.data.max(axis=axis, keepdims=True)
    out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g):
        return (g - xp.exp(out) * g.sum(axis=axis, keepdims=True),)

    return record(out, (a,), backward, "log_softmax")


def elu(a: Any, alpha: float = 1.0) -> Tensor:
    """a where a >= 0, alpha * (exp(a) - 1) below (Keras: ``where(a >= 0, a, alpha*expm1(a))``).

    >>> elu(Tensor([-1.0, 0.0, 1.0])).data
    array([-0.63212055,  0.        ,  1.        ], dtype=float32)
    """
    a = as_tensor(a)
    a_data, xp = a.data, backend(a)
    negative = xp.minimum(a_data, 0)
    out = xp.maximum(a_data, 0) + xp.expm1(negative) * alpha  # no exp of a large a

    def backward(g):
        return (g * (a_data >= 0) + g * xp.exp(negative) * alpha * (a_data < 0),)

    return record(out, (a,), backward, "elu")


def selu(a: Any) -> Tensor:
    """scale * elu(a, alpha) with Keras's constants (alpha 1.67326..., scale 1.05070...)."""
    return mul(elu(a, SELU_ALPHA), SELU_SCALE)


def gelu(a: Any, approximate: bool = False) -> Tensor:
    """a * P(X <= a) for X ~ N(0, 1) = 0.5 * a * (1 + erf(a / sqrt(2))), Keras's default for
    ``keras.activations.gelu``; with ``approximate``, 0.5 * a * (1 + tanh(sqrt(2/pi) *
    (a + 0.044715 * a**3)))."""
    a = as_tensor(a)
    a_data, xp = a.data, backend(a)
    if approximate:
        t = xp.tanh((a_data + a_data * a_data * a_data * GELU_CUBIC) * SQRT_2_OVER_PI)
        cdf = (t + 1) * 0.5
        # d cdf / da = 0.5 * (1 - t**2) * sqrt(2/pi) * (1 + 3 * 0.044715 * a**2)
        density = (1 - t * t) * (a_data * a_data * (3 * GELU_CUBIC) + 1) * (0.5 * SQRT_2_OVER_PI)
    else:
        cdf = (xp.erf(a_data * (1 / SQRT_2)) + 1) * 0.5
        density = xp.exp(a_data * a_data * -0.5) * INV_SQRT_2PI
    out = a_data * cdf

    def backward(g):
        return (g * (cdf + a_data * density),)

    return record(out, (a,), backward, "gelu")


def silu(a: Any) -> Tensor:
    """a * sigmoid(a) (also called swish)."""
    a = as_tensor(a)
    a_data = a.data
    s = backend(a).sigmoid(a_data)
    out = a_data * s

    def backward(g):
        return (g * (s + out * (1 - s)),)

    return record(out, (a,), backward, "silu")


swish = silu


def softplus(a: Any) -> Tensor:
    """log(1 + exp(a)), stable for large |a|; its gradient is sigmoid(a)."""
    a = as_tensor(a)
    xp = backend(a)
    a_data = a.data
    return record(xp.softplus(a_data), (a,), lambda g: (g * xp.sigmoid(a_data),), "softplus")


def softsign(a: Any) -> Tensor:
    """a / (1 + |a|)."""
    a = as_tensor(a)
    denominator = backend(a).abs(a.data) + 1
    out = a.data / denominator
    return record(out, (a,), lambda g: (g / (denominator * denominator),), "softsign")


def relu6(a: Any) -> Tensor:
    """min(max(a, 0), 6)."""
    return relu(a, max_value=6.0)


def hard_sigmoid(a: Any) -> Tensor:
    """Keras 3's hard sigmoid: a / 6 + 0.5 clipped to [0, 1] (0 for a <= -3, 1 for a >= 3;
    Keras 2 used 0.2 * a + 0.5)."""
    a = as_tensor(a)
    out, inside = _hard_sigmoid(a)
    return record(out, (a,), lambda g: (g * (1 / 6) * inside,), "hard_sigmoid")


def hard_silu(a: Any) -> Tensor:
    """a * hard_sigmoid(a) (also called hard swish): 0 below -3, a above 3,
    a * (a + 3) / 6 between."""
    a = as_tensor(a)
    a_data = a.data
    hard, inside = _hard_sigmoid(a)

    def backward(g):
        return (g * hard + (g * a_data) * (1 / 6) * inside,)

    return record(a_data * hard, (a,), backward, "hard_silu")


hard_swish = hard_silu


def _hard_sigmoid(a: Tensor) -> tuple[Any, Any]:
    """(hard_sigmoid(a), the mask where it is not clipped) as arrays."""
    xp = backend(a)
    linear = a.data / 6 + 0.5
    return xp.minimum(xp.maximum(linear, 0), 1), (linear > 0) & (linear < 1)


def mish(a: Any) -> Tensor:
    """a * tanh(softplus(a))."""
    a = as_tensor(a)
    a_data, xp = a.data, backend(a)
    t = xp.tanh(xp.softplus(a_data))
    out = a_data * t

    def backward(g):
        # d/da tanh(softplus(a)) = (1 - t**2) * sigmoid(a)
        return (g * (t + a_data * (1 - t * t) * xp.sigmoid(a_data)),)

    return record(out, (a,), backward, "mish")
