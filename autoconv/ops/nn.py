"""``keras.ops.nn`` for autoconv: Keras 3's neural-network functions with Keras's signatures,
defaults and argument checks, composed of the engine's differentiable ops (so they run on
either device and autograd gives their gradients). The convolutions, pools and other functions
over spatial axes are in :mod:`autoconv.ops.nn_spatial`, re-exported here.

Arguments and results follow :mod:`autoconv.ops.convert`: arrays become Tensors (integers and
bools float32), a real-valued result is a Tensor, an integer one (``one_hot`` with an int dtype)
a NumPy array. The activations follow Keras's NumPy backend; at a kink the gradient is the
engine op's. ``ctc_loss`` and ``ctc_decode`` are :mod:`autoconv.ops.ctc`'s. Not implemented
(NotImplementedError): ``polar`` (its result is complex).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from autoconv import config
from autoconv.backends import backend
from autoconv.ops import engine
from autoconv.ops.base import normalize_axes, normalize_axis
from autoconv.ops.convert import (
    float_dtype,
    not_implemented,
    standard_dtype,
    tensor,
    tensors,
    to_numpy,
)
from autoconv.ops.ctc import ctc_decode, ctc_loss  # noqa: F401 - re-exported
from autoconv.ops.loss import log_probabilities
from autoconv.ops.nn_spatial import *  # noqa: F403 - re-exported
from autoconv.ops.nn_spatial import __all__ as SPATIAL
from autoconv.tensor import Tensor
from autoconv.windows import is_int

# Keras's additive mask for attention logits left out (``_get_large_negative``).
LARGE_NEGATIVE = -0.7 * 3.38953e38


# ------------------------------------------------------------------------ activations
def relu(x: Any) -> Tensor:
    """max(x, 0)."""
    return engine.relu(tensor(x))


def relu6(x: Any) -> Tensor:
    """min(max(x, 0), 6)."""
    return engine.relu6(tensor(x))


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + exp(-x))."""
    return engine.sigmoid(tensor(x))


def sparse_sigmoid(x: Any) -> Tensor:
    """0 for x <= -1, 1 for x >= 1, (x + 1) / 2 between."""
    return engine.clip((tensor(x) + 1.0) * 0.5, 0.0, 1.0)


def softplus(x: Any) -> Tensor:
    """log(1 + exp(x))."""
    return engine.softplus(tensor(x))


def softsign(x: Any) -> Tensor:
    """x / (1 + |x|)."""
    return engine.softsign(tensor(x))


def soft_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """x - threshold above threshold, x + threshold below -threshold, 0 between."""
    x = tensor(x)
    return x - engine.clip(x, -threshold, threshold)


def sparse_plus(x: Any) -> Tensor:
    """0 for x <= -1, x for x >= 1, (x + 1)**2 / 4 between."""
    x = tensor(x)
    inside = engine.clip(x, -1.0, 1.0) + 1.0
    return inside * inside * 0.25 + engine.relu(x - 1.0)


def silu(x: Any) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    return engine.silu(tensor(x))


swish = silu


def squareplus(x: Any, b: float = 4) -> Tensor:
    """(x + sqrt(x**2 + b)) / 2."""
    x = tensor(x)
    return (x + (x * x + b) ** 0.5) * 0.5


def log_sigmoid(x: Any) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -engine.softplus(-tensor(x))


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Tensor:
    """x for x >= 0, negative_slope * x below (for a slope above 1 too, unlike the engine's
    max(x, negative_slope * x))."""
    x = tensor(x)
    if negative_slope <= 1:
        return engine.leaky_relu(x, negative_slope)
    return engine.relu(x) - engine.relu(-x) * negative_slope


def hard_sigmoid(x: Any) -> Tensor:
    """x / 6 + 0.5 clipped to [0, 1]."""
    return engine.hard_sigmoid(tensor(x))


def hard_silu(x: Any) -> Tensor:
    """x * hard_sigmoid(x) (also called hard swish)."""
    return engine.hard_silu(tensor(x))


hard_swish = hard_silu


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x >= 0, alpha * (exp(x) - 1) below."""
    return engine.elu(tensor(x), alpha)


def selu(x: Any) -> Tensor:
    """scale * elu(x, alpha) with alpha 1.67326... and scale 1.05070..."""
    return engine.selu(tensor(x))


def gelu(x: Any, approximate: bool = True) -> Tensor:
    """x * P(X <= x), X ~ N(0, 1); by default (unlike ``keras.activations.gelu``) the tanh
    approximation 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))."""
    return engine.gelu(tensor(x), approximate)


def celu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x >= 0, alpha * (exp(x / alpha) - 1) below: alpha * elu(x / alpha)."""
    return engine.elu(tensor(x) * (1.0 / alpha)) * alpha


def glu(x: Any, axis: int = -1) -> Tensor:
    """a * sigmoid(b) for x split into halves a and b along ``axis``."""
    x = tensor(x)
    axis = normalize_axis(axis, x.ndim, "glu")
    half, lead = x.shape[axis] // 2, (slice(None),) * axis
    if x.shape[axis] % 2:
        raise ValueError(
            f"axis size must be divisible by 2. Received: x.shape={x.shape} with axis={axis}"
        )
    return x[(*lead, slice(None, half))] * engine.sigmoid(x[(*lead, slice(half, None))])


def tanh_shrink(x: Any) -> Tensor:
    """x - tanh(x)."""
    x = tensor(x)
    return x - engine.tanh(x)


def hard_tanh(x: Any) -> Tensor:
    """x clipped to [-1, 1]."""
    return engine.clip(tensor(x), -1.0, 1.0)


def hard_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """x where |x| > threshold, else 0."""
    x = tensor(x)
    return _where(backend(x).abs(x.data) > threshold, x, 0.0)


def threshold(x: Any, threshold: float, default_value: float) -> Tensor:
    """x where x > threshold, else default_value."""
    x = tensor(x)
    return _where(x.data > threshold, x, default_value)


def _where(condition: Any, x: Tensor, otherwise: float) -> Tensor:
    """x where ``condition`` (an array on x's device) holds, else ``otherwise``; the gradient
    reaches x where it holds."""
    kept = Tensor(condition, dtype=x.dtype, device=x.device)
    return x * kept if otherwise == 0 else x * kept + (1.0 - kept) * otherwise


def softmax(x: Any, axis: int | tuple[int, ...] | None = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis`` (a tuple: one softmax over those axes; None: over
    all)."""
    x = tensor(x)
    warn_if_softmax_of_one(x.shape, axis)
    return engine.softmax(x, tuple(range(x.ndim)) if axis is None else axis)


def warn_if_softmax_of_one(shape: tuple[int, ...], axis: Any) -> None:
    """Keras's warning for a softmax along an axis of size 1 (always 1: a binary classifier's
    ``Dense(1, activation="softmax")``, which wants a sigmoid)."""
    if isinstance(axis, int) and -len(shape) <= axis < len(shape) and shape[axis] == 1:
        warnings.warn(
            f"You are using a softmax over axis {axis} of a tensor of shape {shape}. This axis "
            "has size 1. The softmax operation will always return the value 1, which is likely "
            "not what you intended. Did you mean to use a sigmoid instead?",
            stacklevel=3,
        )


def log_softmax(x: Any, axis: int | tuple[int, ...] | None = -1) -> Tensor:
    """x - log(sum(exp(x))) along ``axis`` (a tuple of axes, or None for all)."""
    x = tensor(x)
    return engine.log_softmax(x, tuple(range(x.ndim)) if axis is None else axis)


def sparsemax(x: Any, axis: int = -1) -> Tensor:
    """max(x - tau, 0) along ``axis``, tau such that the result sums to 1: the projection onto
    the simplex (Martins & Astudillo, 2016). The support, the k largest entries for the largest
    k with 1 + k * x_(k) > x_(1) + ... + x_(k), is found on the host; tau is then the ops' (its
    sum - 1) / k, which gives the gradient. Keras 3.15's backends sum the cumulative sums over
    the support instead, wrong for k > 1 (keras-team/keras#23425, fixed by #23469)."""
    x = tensor(x)
    axis = normalize_axis(axis, x.ndim, "sparsemax")
    values = x.numpy()
    ranked = -np.sort(-values, axis=axis)
    ranks = np.arange(1, x.shape[axis] + 1).reshape([-1 if d == axis else 1 for d in range(x.ndim)])
    k = (1 + ranks * ranked > np.cumsum(ranked, axis=axis)).sum(axis, keepdims=True)
    kept = values >= np.take_along_axis(ranked, k - 1, axis)  # ties with x_(k) are in it too
    kept, size = (Tensor(a, dtype=x.dtype, device=x.device) for a in (kept, k))
    return engine.relu(x - (engine.sum(x * kept, axis, keepdims=True) - 1.0) / size)


def _with_optional(*values: Any) -> list[Tensor | None]:
    """:func:`tensors` of the values that are not None (one dtype and device), None kept."""
    converted = iter(tensors(*(v for v in values if v is not None)))
    return [None if v is None else next(converted) for v in values]


# ------------------------------------------------------------------ normalization
def moments(
    x: Any, axes: int | Sequence[int], keepdims: bool = False, synchronized: bool = False
) -> tuple[Tensor, Tensor]:
    """(mean, variance) of x over ``axes``: the biased variance, taken as the mean of the
    squared deviations (Keras takes E[x^2] - E[x]^2: the same up to rounding, less stable)."""
    if synchronized:
        raise NotImplementedError("Argument synchronized=True is not supported with autoconv.")
    x = tensor(x)
    axes = normalize_axes(axes, x.ndim, "moments")
    mean = engine.mean(x, axes, keepdims=True)
    centered = x - mean
    variance = engine.mean(centered * centered, axes, keepdims=keepdims)
    return (mean if keepdims else engine.reshape(mean, variance.shape)), variance


def batch_normalization(
    x: Any,
    mean: Any,
    variance: Any,
    axis: int,
    offset: Any = None,
    scale: Any = None,
    epsilon: float = 1e-3,
) -> Tensor:
    """(x - mean) / sqrt(variance + epsilon) * scale + offset, the vectors (C,) along ``axis``.
    Differentiable in every argument; with constant mean and variance it is the engine's fused
    batch_norm."""
    x, mean, variance, offset, scale = _with_optional(x, mean, variance, offset, scale)
    axis = normalize_axis(axis, x.ndim, "batch_normalization")
    expected = (x.shape[axis],)
    for name, v in (("mean", mean), ("variance", variance), ("offset", offset), ("scale", scale)):
        if v is not None and v.shape != expected:
            raise ValueError(
                f"Arguments `{name}` must be a vector of length `x.shape[axis]`. Expected: "
                f"`{expected}`. Received: `{v.shape}."
            )
    if x.ndim >= 2 and not (mean.requires_grad or variance.requires_grad):
        return engine.batch_norm(x, scale, offset, axis, epsilon, False, mean, variance)[0]
    shape = tuple(n if d == axis else 1 for d, n in enumerate(x.shape))
    inv = (engine.reshape(variance, shape) + epsilon) ** -0.5
    if scale is not None:
        inv = inv * engine.reshape(scale, shape)
    out = (x - engine.reshape(mean, shape)) * inv
    return out if offset is None else out + engine.reshape(offset, shape)


def layer_normalization(
    x: Any,
    gamma: Any = None,
    beta: Any = None,
    axis: int | Sequence[int] = -1,
    epsilon: float | None = None,
    **kwargs: Any,
) -> Tensor:
    """(x - mean) / sqrt(variance + epsilon) * gamma + beta, the statistics of each sample over
    ``axis`` (engine.layer_norm); ``rms_scaling=True`` is Keras's deprecated keyword."""
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"layer_normalization: unexpected keyword arguments {sorted(kwargs)}")
    if rms_scaling:
        warnings.warn(
            "You passed `rms_scaling=True`, which is deprecated. This argument incorrectly scales "
            "the input by the variance, not the root mean square. To correctly use RMS "
            "Normalization, please use `ops.rms_normalization` instead.",
            stacklevel=2,
        )
    x, gamma, beta = _with_optional(x, gamma, beta)
    epsilon = config.epsilon() if epsilon is None else epsilon
    return engine.layer_norm(x, gamma, beta, axis, epsilon, rms_scaling)


def rms_normalization(
    x: Any, scale: Any = None, axis: int | Sequence[int] = -1, epsilon: float | None = None
) -> Tensor:
    """x / sqrt(mean(x**2) + epsilon) * scale, the mean over ``axis``; ``scale`` spans those
    axes (or broadcasts against x)."""
    x, scale = _with_optional(x, scale)
    axes = normalize_axes(axis, x.ndim, "rms_normalization")
    epsilon = config.epsilon() if epsilon is None else epsilon
    out = x * (engine.mean(x * x, axes, keepdims=True) + epsilon) ** -0.5
    if scale is None:
        return out
    if scale.shape == tuple(x.shape[a] for a in axes):
        scale = engine.reshape(scale, tuple(n if d in axes else 1 for d, n in enumerate(x.shape)))
    return out * scale


def normalize(
    x: Any, axis: int | Sequence[int] | None = -1, order: int = 2, epsilon: float | None = None
) -> Tensor:
    """x / max(norm(x), epsilon), the ``order``-norm over ``axis`` (None: every axis; two axes
    with order 1: the matrix 1-norm, the largest column sum, as Keras's)."""
    if not is_int(order) or order < 1:
        raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order}")
    x = tensor(x)
    if x.ndim == 0:
        x = engine.reshape(x, (1,))
    epsilon = config.epsilon() if epsilon is None else epsilon
    axes = tuple(range(x.ndim)) if axis is None else (axis,) if is_int(axis) else tuple(axis)
    if order == 2:
        with np.errstate(divide="ignore"):  # a zero vector's inf, clipped: silent, as Keras's
            inv = engine.sum(x * x, axes, keepdims=True) ** -0.5
        return x * engine.clip(inv, -np.inf, 1.0 / epsilon)
    if len(axes) == 2 and order == 1:
        norm = engine.max(engine.sum(engine.abs(x), axes[0], True), axes[1], True)
    elif len(axes) == 1:
        norm = engine.sum(engine.abs(x) ** order, axes, keepdims=True) ** (1.0 / order)
    else:
        raise ValueError(f"normalize: order {order} is not a norm over the axes {axis}")
    return x / engine.clip(norm, epsilon, np.inf)


# -------------------------------------------------------------------- encodings
def one_hot(
    x: Any, num_classes: int, axis: int = -1, dtype: Any = None, sparse: bool = False
) -> Any:
    """Integer labels x (S) as one-hot vectors along ``axis`` (S with num_classes inserted);
    negative labels give vectors of 0s. float32 unless ``dtype``; an int or bool dtype gives a
    NumPy array."""
    if sparse:
        raise ValueError("Unsupported value `sparse=True` with autoconv (no sparse tensors)")
    if not is_int(num_classes) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive int, got {num_classes!r}")
    labels = to_numpy(x).astype(np.int64)
    if labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"one_hot: class values must be smaller than num_classes={num_classes}, got "
            f"{labels.max()}"
        )
    if not -1 <= axis <= labels.ndim:
        raise ValueError(f"axis must be -1 or between [0, {labels.ndim}], but received {axis}.")
    encoded = np.moveaxis(labels[..., None] == np.arange(num_classes), -1, axis)
    return _encoded(encoded, x, dtype)


def multi_hot(
    inputs: Any,
    num_classes: int | None = None,
    axis: int = -1,
    dtype: Any = None,
    sparse: bool = False,
    **kwargs: Any,
) -> Any:
    """Labels (L) or a batch of them (N, L) as vectors with a 1 at each label present:
    (num_classes,) or (N, num_classes) (``num_tokens`` is Keras's other name)."""
    if num_classes is None and "num_tokens" in kwargs:
        num_classes = kwargs.pop("num_tokens")
    if kwargs:
        raise TypeError(f"multi_hot: unexpected keyword arguments {sorted(kwargs)}")
    if num_classes is None:
        raise ValueError("Argument `num_classes` must be specified.")
    labels = to_numpy(inputs)
    encoded = one_hot(labels, num_classes, axis, np.int32, sparse)
    return _encoded(encoded.max(axis=1 if labels.ndim > 1 else 0), inputs, dtype)


def _encoded(encoded: np.ndarray, like: Any, dtype: Any) -> Any:
    """0/1 codes in ``dtype`` (default float32): a Tensor on ``like``'s device, or a NumPy
    array for an integer or bool dtype."""
    wanted = standard_dtype(dtype) or np.dtype(np.float32)
    if wanted.kind in "biu":
        return encoded.astype(wanted)
    device = like.device if isinstance(like, Tensor) else "cpu"
    return Tensor(encoded.astype(float_dtype(wanted)), device=device)


# --------------------------------------------------------------------------- losses
def binary_crossentropy(target: Any, output: Any, from_logits: bool = False) -> Tensor:
    """Elementwise -target*log(p) - (1-target)*log(1-p), p = output clipped to [eps, 1 - eps]
    (``config.epsilon()``; or sigmoid(output), computed stably, with ``from_logits``)."""
    target, output = tensors(target, output)
    _same_shape(target, output)
    if from_logits:
        return engine.sigmoid_cross_entropy(output, target)
    eps = config.epsilon()
    p = engine.clip(output, eps, 1.0 - eps)
    return -(target * engine.log(p) + (1.0 - target) * engine.log(1.0 - p))


def categorical_crossentropy(
    target: Any, output: Any, from_logits: bool = False, axis: int = -1
) -> Tensor:
    """-sum(target * log(p)) along ``axis``, p = output rescaled to sum to 1 and clipped to
    [1e-7, 1-1e-7] (or log_softmax(output) with ``from_logits``): one loss per sample."""
    target, output = tensors(target, output)
    _same_shape(target, output)
    if target.ndim < 1:
        raise ValueError(
            "Arguments `target` and `output` must be at least rank 1. Received: "
            f"target.shape={target.shape}, output.shape={output.shape}"
        )
    log_p = engine.log_softmax(output, axis) if from_logits else log_probabilities(output, axis)
    return -engine.sum(target * log_p, axis)


def sparse_categorical_crossentropy(
    target: Any, output: Any, from_logits: bool = False, axis: int = -1
) -> Tensor:
    """:func:`categorical_crossentropy` of integer labels ``target`` (output's shape without
    ``axis``, or with it of size 1) in [0, classes)."""
    output = tensor(output)
    labels = to_numpy(target).astype(np.int64)
    if output.ndim < 1:
        raise ValueError(f"Argument `output` must be at least rank 1. Received: {output.shape}")
    axis = normalize_axis(axis, output.ndim, "sparse_categorical_crossentropy")
    if labels.ndim == output.ndim and labels.shape[axis] == 1:
        labels = labels.squeeze(axis)
    if labels.shape != output.shape[:axis] + output.shape[axis + 1 :]:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape up until the last "
            f"dimension: target.shape={labels.shape}, output.shape={output.shape}"
        )
    classes = output.shape[axis]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"sparse_categorical_crossentropy: labels must lie in [0, {classes}), got range "
            f"[{labels.min()}, {labels.max()}]"
        )
    encoded = one_hot(labels, classes, axis, output.dtype)
    return categorical_crossentropy(encoded.to(output.device), output, from_logits, axis)


def _same_shape(target: Tensor, output: Tensor) -> None:
    if target.shape != output.shape:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape. Received: "
            f"target.shape={target.shape}, output.shape={output.shape}"
        )


def psnr(x1: Any, x2: Any, max_val: Any) -> Tensor:
    """Peak signal-to-noise ratio 20*log10(max_val) - 10*log10(mean((x1 - x2)**2)) (a scalar)."""
    x1, x2 = tensors(x1, x2)
    if x1.shape != x2.shape:
        raise ValueError(
            f"Input shapes {x1.shape} and {x2.shape} must match for PSNR calculation. "
        )
    difference = x1 - x2
    mse = engine.mean(difference * difference)
    peak = tensor(max_val, like=x1)
    return (engine.log(peak) * 20.0 - engine.log(mse) * 10.0) * (1.0 / math.log(10.0))


# ------------------------------------------------------------------------ attention
def dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    bias: Any = None,
    mask: Any = None,
    scale: float | None = None,
    is_causal: bool = False,
    flash_attention: bool | None = None,
    attn_logits_soft_cap: float | None = None,
) -> Tensor:
    """softmax(query . key * scale + bias) . value per head: query (B, T, N, H), key and value
    (B, S, K, H) with N a multiple of K (grouped-query attention) -> (B, T, N, H). ``scale``
    defaults to 1/sqrt(H); ``mask`` (broadcasting to (B, N, T, S)) keeps logits where True,
    ``is_causal`` those of keys s <= t."""
    if attn_logits_soft_cap is not None:
        raise ValueError(
            "attn_logits_soft_cap is only supported for JAX on TPU. Set "
            "attn_logits_soft_cap=None when not using JAX on TPU."
        )
    if flash_attention:
        raise ValueError("Flash attention is not supported in autoconv.")
    query, key, value, bias = _with_optional(query, key, value, bias)
    if query.ndim != 4 or key.ndim != 4 or value.ndim != 4:
        raise ValueError(
            "`dot_product_attention` only supports 4D inputs. Received: "
            f"query.shape={query.shape}, key.shape={key.shape}, value.shape={value.shape}."
        )
    if bias is not None and mask is not None:
        raise ValueError("Only one of `bias` and `mask` can be provided. Received both.")
    heads, kv_heads = query.shape[2], key.shape[2]
    if value.shape != key.shape or heads % kv_heads or query.shape[3] != key.shape[3]:
        raise ValueError(
            "dot_product_attention: key and value must have one shape (B, S, K, H), with the "
            f"query's heads a multiple of K: query {query.shape}, key {key.shape}, value "
            f"{value.shape}"
        )
    if kv_heads != heads:
        key, value = (engine.repeat(t, heads // kv_heads, axis=2) for t in (key, value))
    scale = 1.0 / math.sqrt(query.shape[3]) if scale is None else scale
    heads_first = (0, 2, 1, 3)
    logits = (
        engine.matmul(engine.transpose(query, heads_first), engine.transpose(key, (0, 2, 3, 1)))
        * scale
    )  # (B, N, T, S)
    if bias is not None:
        logits = logits + bias
    if mask is not None or is_causal:
        kept = np.ones(logits.shape[2:], bool) if mask is None else to_numpy(mask).astype(bool)
        if is_causal:
            kept = kept & np.tril(np.ones(logits.shape[2:], bool))
        logits = logits + Tensor(
            np.where(kept, 0.0, LARGE_NEGATIVE), dtype=logits.dtype, device=logits.device
        )
    attended = engine.matmul(engine.softmax(logits, -1), engine.transpose(value, heads_first))
    return engine.transpose(attended, heads_first)


# ------------------------------------------------------------------ not implemented
@not_implemented("its result is complex, and autoconv's tensors are real (float32 or float64)")
def polar(abs_: Any, angle: Any) -> Any:
    """abs_ * exp(i angle)."""


__all__ = sorted([
    *SPATIAL,
    "batch_normalization", "binary_crossentropy", "categorical_crossentropy", "celu",
    "ctc_decode", "ctc_loss", "dot_product_attention", "elu", "gelu", "glu", "hard_shrink",
    "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "layer_normalization", "leaky_relu",
    "log_sigmoid", "log_softmax", "moments", "multi_hot", "normalize", "one_hot", "polar", "psnr",
    "relu", "relu6", "rms_normalization", "selu", "sigmoid", "silu", "soft_shrink", "softmax",
    "softplus", "softsign", "sparse_categorical_crossentropy", "sparse_plus", "sparse_sigmoid",
    "sparsemax", "squareplus", "swish", "tanh_shrink", "threshold",
])  # fmt: skip
