"""Normalization: batch normalization and layer normalization, as Keras 3's BatchNormalization
and LayerNormalization layers compute them (keras/src/layers/normalization/).

Batch normalization runs on the backend's fused kernels (``batch_norm_forward``/``_backward``:
the statistics and the normalization in one call, its gradient in one) on the input seen as
(rows, C), the channel axis last. Layer normalization is composed of existing ops (mean,
subtract, multiply, power): it is not on the hot path of the convnets in view, autograd gives
its gradient, and a kernel of its own would add code without adding accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.ops.base import as_tensor, as_tensors, normalize_axes, normalize_axis
from autoconv.ops.reshaping import reshape
from autoconv.tensor import Tensor, record

Array = Any  # numpy.ndarray or CudaArray


def batch_norm(
    x: Any,
    gamma: Any = None,
    beta: Any = None,
    axis: int = -1,
    epsilon: float = 1e-3,
    training: bool = True,
    moving_mean: Any = None,
    moving_variance: Any = None,
    relu: bool = False,
    bias: Any = None,
) -> tuple[Tensor, Array, Array]:
    """Batch normalization of x over every axis but ``axis``: returns (out, mean, variance).

    ``out = gamma * (x - mean) / sqrt(variance + epsilon) + beta``, with ``gamma`` and ``beta``
    of shape (C,), C = x.shape[axis], broadcast along ``axis`` (None: no scale, as Keras's
    ``scale=False``; no offset, as ``center=False``). Channels-last images (N, H, W, C) are
    normalized over N, H, W; features (N, C) over N.

    ``training=True``: mean and variance are the batch's, per channel: the mean and the
    *biased* variance (divided by the count, not count - 1), as ``keras.ops.moments``; the
    gradient of x flows through them. ``training=False``: they are ``moving_mean`` and
    ``moving_variance`` (shape (C,), arrays or tensors; constants, never differentiated;
    ignored in training). Gradients reach x, gamma and beta in both modes (inference mode
    while fine-tuning a frozen BatchNormalization).

    As a model's plan fuses them, in the same passes over x: ``relu=True`` gives relu(out)
    (NaN kept); ``bias`` (C,), the layer before's, makes it ``batch_norm(x + bias)`` with
    ``x + bias`` never written (the bias's gradient: x's summed over the rows).

    ``mean`` and ``variance`` come back as arrays of x's dtype on x's device, outside the
    graph: the batch statistics in training, the moving ones otherwise. Keras's
    BatchNormalization then updates its moving statistics with that same biased variance:
    ``moving = moving * momentum + batch * (1 - momentum)`` (PyTorch's running variance uses
    the unbiased one instead).

    >>> out, mean, variance = batch_norm(Tensor([[1.0, 2.0], [3.0, 6.0]]))
    >>> mean, variance
    (array([2., 4.], dtype=float32), array([1., 4.], dtype=float32))
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: x needs a batch axis and a channel axis, got {x.shape}")
    axis = normalize_axis(axis, x.ndim, "batch_norm")
    channels = x.shape[axis]
    if x.size == 0:
        raise ValueError(f"batch_norm: x is empty (shape {x.shape})")
    rows = x.size // channels
    gamma = _per_channel(gamma, x, channels, "gamma")
    beta = _per_channel(beta, x, channels, "beta")
    bias = _per_channel(bias, x, channels, "bias")
    mean = variance = None
    if not training:
        if moving_mean is None or moving_variance is None:
            raise ValueError("batch_norm: training=False needs moving_mean and moving_variance")
        mean = _per_channel(moving_mean, x, channels, "moving_mean").data
        variance = _per_channel(moving_variance, x, channels, "moving_variance").data

    # (..., C, ...) -> (rows, C): the channel axis moved last (a copy unless it is last).
    order = (*(d for d in range(x.ndim) if d != axis), axis)
    moved_shape = tuple(x.shape[d] for d in order)
    inverse = tuple(int(d) for d in np.argsort(order))

    def to_rows(a: Array) -> Array:
        return (a if axis == x.ndim - 1 else a.transpose(order)).reshape(rows, channels)

    def from_rows(a: Array) -> Array:
        a = a.reshape(moved_shape)
        return a if axis == x.ndim - 1 else a.transpose(inverse)

    kernels = backend(x)
    x_rows = to_rows(x.data)
    gamma_data = None if gamma is None else gamma.data
    beta_data = None if beta is None else beta.data
    bias_data = None if bias is None else bias.data
    out, mean, variance = kernels.batch_norm_forward(
        x_rows, gamma_data, beta_data, epsilon, mean, variance, relu=relu, bias=bias_data
    )
    inputs = (x, gamma, beta, bias)

    def backward(g: Array):
        grad_x, grad_gamma, grad_beta, grad_bias = kernels.batch_norm_backward(
            to_rows(g), x_rows, gamma_data, mean, variance, epsilon, bool(training),
            beta=beta_data, relu=relu, bias=bias_data,
        )  # fmt: skip
        grads = [from_rows(grad_x), grad_gamma, grad_beta, grad_bias]
        return [grad for grad, t in zip(grads, inputs, strict=True) if t is not None]

    parents = tuple(t for t in inputs if t is not None)
    return record(from_rows(out), parents, backward, "batch_norm"), mean, variance


def _per_channel(value: Any, x: Tensor, channels: int, name: str) -> Tensor | None:
    """``value`` (None, an array or a tensor) as a tensor of shape (channels,) like x."""
    if value is None:
        return None
    value = as_tensors(x, value, "batch_norm")[1]
    if value.shape != (channels,):
        raise ValueError(
            f"batch_norm: {name} must have shape ({channels},) for x of shape {x.shape}, "
            f"got {value.shape}"
        )
    return value


def layer_norm(
    x: Any,
    gamma: Any = None,
    beta: Any = None,
    axis: int | tuple[int, ...] = -1,
    epsilon: float = 1e-3,
    rms_scaling: bool = False,
) -> Tensor:
    """Layer normalization of each sample of x over ``axis`` (an int or a tuple of ints), as
    Keras 3's LayerNormalization (and ``keras.ops.layer_normalization``) computes it.

    ``out = (x - mean) / sqrt(variance + epsilon) * gamma + beta`` with the mean and the biased
    variance taken over the ``axis`` axes (``keras.ops.moments``), separately for every index
    of the other axes. ``gamma`` and ``beta`` span the ``axis`` axes: shape
    ``tuple(x.shape[a] for a in sorted(axis))``, e.g. (C,) for axis=-1, (H, W, C) for
    axis=(1, 2, 3) on (N, H, W, C) (or that shape with 1 on the other axes); None leaves the
    scale (``scale=False``) or the offset (``center=False``) out. ``epsilon`` defaults to the
    layer's 1e-3 (``keras.ops.layer_normalization`` defaults to 1e-7).

    ``rms_scaling=True`` is Keras's deprecated option of that name, reproduced: x itself (not
    x - mean) divided by sqrt(variance + epsilon), times gamma; beta is ignored, as in Keras.

    The gradient comes from the ops it is made of.
    """
    x = as_tensor(x)
    if axis is None:
        raise TypeError("layer_norm: axis must be an int or a tuple of ints, got None")
    axes = normalize_axes(axis, x.ndim, "layer_norm")
    kept = tuple(n if d in axes else 1 for d, n in enumerate(x.shape))
    gamma = _spanning(gamma, x, axes, kept, "gamma")
    beta = _spanning(beta, x, axes, kept, "beta")
    mean = x.mean(axes, keepdims=True)
    centered = x - mean
    inv = ((centered * centered).mean(axes, keepdims=True) + epsilon) ** -0.5
    out = (x if rms_scaling else centered) * inv
    if gamma is not None:
        out = out * gamma
    if beta is not None and not rms_scaling:
        out = out + beta
    return out


def _spanning(
    value: Any, x: Tensor, axes: tuple[int, ...], kept: tuple[int, ...], name: str
) -> Tensor | None:
    """``value`` (None, an array or a tensor spanning ``axes``) as a tensor of shape ``kept``."""
    if value is None:
        return None
    value = as_tensors(x, value, "layer_norm")[1]
    spanned = tuple(x.shape[a] for a in axes)
    if value.shape not in (spanned, kept):
        raise ValueError(
            f"layer_norm: {name} must have shape {spanned} (or {kept}) to span axes {axes} of x "
            f"with shape {x.shape}, got {value.shape}"
        )
    return reshape(value, kept)
