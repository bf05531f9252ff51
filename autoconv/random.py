"""Randomness: the one seedable generator behind initializers, dropout and shuffling, and
Keras's ``keras.random`` namespace (``keras/src/random/``) on top of it.

``normal``, ``uniform``, ``truncated_normal``, ``randint``, ``shuffle``, ``dropout``,
``categorical``, ``gamma``, ``beta``, ``binomial`` and ``SeedGenerator`` take Keras's
arguments, defaults and checks. Their ``seed`` works as Keras's:

- an int: the same values on every call with that seed;
- a :class:`SeedGenerator`: its state advances on each draw (two draws differ), and a new
  generator with the same seed repeats the sequence. ``seed=s`` draws as the first draw of
  ``SeedGenerator(s)``;
- ``None``: autoconv's global generator (:func:`generator`), which
  ``autoconv.utils.set_random_seed`` reseeds so that a run is reproducible.

Draws come from NumPy's ``Generator`` (seeded with ``[seed, counter]``): the distributions
are Keras's, the values are not (Keras's backends each have their own random streams).

Results: floats are :class:`~autoconv.tensor.Tensor` on the CPU, float32 unless ``dtype``
says float64 (Tensors hold only those two, so float16 or bfloat16 is an error); integers
(``randint``, and ``categorical`` or ``binomial`` with an integer ``dtype``) are NumPy arrays
of that dtype, since Tensors hold floats. ``dropout`` and ``shuffle`` are autograd ops on
their input's device.

>>> normal((2, 3), seed=7).shape
(2, 3)
>>> bool((uniform((4,), seed=7).numpy() == uniform((4,), seed=7).numpy()).all())
True
>>> randint((2, 2), 0, 10, seed=1).dtype
dtype('int32')
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autoconv.host_array import host_array
from autoconv.ops import engine as ops
from autoconv.ops.base import as_tensor, normalize_axis
from autoconv.seeds import SeedGenerator, draw, epoch_generator, generator, set_random_seed
from autoconv.tensor import Tensor
from autoconv.windows import is_int

__all__ = [
    "SeedGenerator",
    "beta",
    "binomial",
    "categorical",
    "dropout",
    "epoch_generator",
    "gamma",
    "generator",
    "normal",
    "randint",
    "set_random_seed",
    "shuffle",
    "truncated_normal",
    "uniform",
]


# ------------------------------------------------------------------ argument checks
def _shape(shape: Any, fn: str) -> tuple[int, ...]:
    values = (shape,) if is_int(shape) else shape
    try:
        dims = tuple(values)
    except TypeError:
        dims = (None,)
    if not all(is_int(n) and n >= 0 for n in dims):
        raise ValueError(f"`{fn}`: `shape` must be a tuple of non-negative ints. Received: {shape}")
    return tuple(int(n) for n in dims)


def _dtype(dtype: Any) -> np.dtype | None:
    """``dtype`` as a NumPy dtype; None for what NumPy does not know (e.g. bfloat16)."""
    try:
        return np.dtype(dtype)
    except TypeError:
        return None


def _float_dtype(dtype: Any, fn: str) -> np.dtype:
    """float32 for None, else float32 or float64, the dtypes a Tensor holds."""
    if dtype is None:
        return np.dtype(np.float32)
    if _dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(
            f"`{fn}` requires a floating point `dtype`: float32 or float64 (autoconv Tensors "
            f"hold those). Received: dtype={dtype}"
        )
    return np.dtype(dtype)


def _int_dtype(dtype: Any, fn: str) -> np.dtype:
    numpy_dtype = None if dtype is None else _dtype(dtype)
    if numpy_dtype is None or not np.issubdtype(numpy_dtype, np.integer):
        raise ValueError(f"`{fn}` requires an integer `dtype`. Received: dtype={dtype}")
    return numpy_dtype


def _result(values: np.ndarray, dtype: Any, fn: str) -> Tensor | np.ndarray:
    """An integer ``dtype``'s values as a NumPy array, a float one's as a Tensor."""
    numpy_dtype = None if dtype is None else _dtype(dtype)
    if numpy_dtype is not None and np.issubdtype(numpy_dtype, np.integer):
        return values.astype(numpy_dtype)
    if dtype is not None and numpy_dtype not in (np.float32, np.float64):
        raise ValueError(
            f"`{fn}` requires an integer `dtype` (a NumPy array) or float32 or float64 (a "
            f"Tensor). Received: dtype={dtype}"
        )
    return Tensor(values.astype(_float_dtype(dtype, fn)))


def _parameter(value: Any, name: str, shape: tuple[int, ...], fn: str) -> np.ndarray:
    """A distribution parameter (a number or an array broadcastable to ``shape``) in float64."""
    array = np.asarray(value, dtype=np.float64)
    try:
        fits = np.broadcast_shapes(shape, array.shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"`{fn}`: `{name}` of shape {array.shape} does not broadcast to shape {shape}"
        )
    return array


def _require(condition: Any, message: str) -> None:
    if not np.all(condition):
        raise ValueError(message)


# ---------------------------------------------------------------- distributions
def normal(
    shape: Any, mean: Any = 0.0, stddev: Any = 1.0, dtype: Any = None, seed: Any = None
) -> Tensor:
    """Samples of N(mean, stddev**2) in ``shape`` (mean, stddev: numbers or arrays that
    broadcast to it)."""
    dtype, shape = _float_dtype(dtype, "normal"), _shape(shape, "normal")
    loc = _parameter(mean, "mean", shape, "normal")
    scale = _parameter(stddev, "stddev", shape, "normal")
    _require(scale >= 0, f"`normal`: `stddev` must be non-negative. Received: stddev={stddev}")
    return Tensor((loc + scale * draw(seed).standard_normal(shape)).astype(dtype))


def uniform(
    shape: Any, minval: Any = 0.0, maxval: Any = 1.0, dtype: Any = None, seed: Any = None
) -> Tensor:
    """Samples uniform in [minval, maxval) in ``shape`` (numbers or arrays that broadcast to
    it); maxval itself is never drawn, even after rounding to float32."""
    dtype, shape = _float_dtype(dtype, "uniform"), _shape(shape, "uniform")
    low = _parameter(minval, "minval", shape, "uniform")
    high = _parameter(maxval, "maxval", shape, "uniform")
    values = (low + (high - low) * draw(seed).random(shape)).astype(dtype)
    low, high = low.astype(dtype), high.astype(dtype)
    return Tensor(np.where(values == high, np.nextafter(high, low), values))


def truncated_normal(
    shape: Any, mean: Any = 0.0, stddev: Any = 1.0, dtype: Any = None, seed: Any = None
) -> Tensor:
    """Samples of N(mean, stddev**2) in ``shape``, each one more than 2 stddev from the mean
    discarded and drawn again."""
    fn = "truncated_normal"
    dtype, shape = _float_dtype(dtype, fn), _shape(shape, fn)
    loc, scale = _parameter(mean, "mean", shape, fn), _parameter(stddev, "stddev", shape, fn)
    _require(scale >= 0, f"`{fn}`: `stddev` must be non-negative. Received: stddev={stddev}")
    rng, size = draw(seed), math.prod(shape)
    kept = np.empty(0)
    while kept.size < size:  # about 95.4% of the draws are kept
        draws = rng.standard_normal((size - kept.size) * 11 // 10 + 16)
        kept = np.concatenate([kept, draws[np.abs(draws) <= 2.0]])
    return Tensor((loc + scale * kept[:size].reshape(shape)).astype(dtype))


def gamma(shape: Any, alpha: Any, dtype: Any = None, seed: Any = None) -> Tensor:
    """Samples of Gamma(alpha, scale=1) in ``shape``: mean alpha, variance alpha."""
    dtype, shape = _float_dtype(dtype, "gamma"), _shape(shape, "gamma")
    alpha = _parameter(alpha, "alpha", shape, "gamma")
    _require(alpha > 0, f"`gamma`: `alpha` must be positive. Received: alpha={alpha}")
    return Tensor(draw(seed).standard_gamma(alpha, shape).astype(dtype))


def beta(shape: Any, alpha: Any, beta: Any, dtype: Any = None, seed: Any = None) -> Tensor:
    """Samples of Beta(alpha, beta) in ``shape``: mean alpha / (alpha + beta)."""
    dtype, shape = _float_dtype(dtype, "beta"), _shape(shape, "beta")
    a, b = _parameter(alpha, "alpha", shape, "beta"), _parameter(beta, "beta", shape, "beta")
    _require(a > 0, f"`beta`: `alpha` must be positive. Received: alpha={alpha}")
    _require(b > 0, f"`beta`: `beta` must be positive. Received: beta={beta}")
    return Tensor(draw(seed).beta(a, b, shape).astype(dtype))


def binomial(
    shape: Any, counts: Any, probabilities: Any, dtype: Any = None, seed: Any = None
) -> Tensor | np.ndarray:
    """Successes in ``counts`` trials of probability ``probabilities`` (numbers or arrays that
    broadcast to ``shape``): a float Tensor by default, a NumPy array for an integer dtype."""
    shape = _shape(shape, "binomial")
    n = _parameter(counts, "counts", shape, "binomial")
    p = _parameter(probabilities, "probabilities", shape, "binomial")
    _require(
        (n >= 0) & (n == np.floor(n)),
        f"`binomial`: `counts` must be non-negative integers. Received: counts={counts}",
    )
    _require(
        (p >= 0) & (p <= 1),
        f"`binomial`: `probabilities` must be in [0, 1]. Received: probabilities={probabilities}",
    )
    return _result(draw(seed).binomial(n.astype(np.int64), p, shape), dtype, "binomial")


def randint(
    shape: Any, minval: Any, maxval: Any, dtype: Any = "int32", seed: Any = None
) -> np.ndarray:
    """Integers uniform in [minval, maxval) in ``shape``, as a NumPy array of ``dtype``."""
    dtype, shape = _int_dtype(dtype, "randint"), _shape(shape, "randint")
    _require(
        np.asarray(maxval) > np.asarray(minval),
        f"`randint`: `maxval` must be greater than `minval`. Received: minval={minval}, "
        f"maxval={maxval}",
    )
    return draw(seed).integers(minval, maxval, shape, dtype=dtype)


def categorical(
    logits: Any, num_samples: int, dtype: Any = "int32", seed: Any = None
) -> np.ndarray | Tensor:
    """(batch_size, num_samples) class indices, row i drawn from softmax(logits[i]) for
    ``logits`` of shape (batch_size, num_classes): a NumPy array of an integer ``dtype``."""
    values = np.asarray(logits, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] == 0:
        raise ValueError(
            "`logits` should be a 2-D tensor with shape [batch_size, num_classes], "
            "num_classes >= 1. "
            f"Received: logits={logits}"
        )
    if not is_int(num_samples) or num_samples < 0:
        raise ValueError(
            f"`num_samples` must be a non-negative int. Received: num_samples={num_samples}"
        )
    cdf = np.cumsum(np.exp(values - values.max(axis=1, keepdims=True)), axis=1)
    cdf /= cdf[:, -1:]  # each row ends at exactly 1, above every uniform draw
    draws = draw(seed).random((len(values), int(num_samples)))
    samples = np.empty(draws.shape, dtype=np.int64)
    for row, (row_cdf, row_draws) in enumerate(zip(cdf, draws, strict=True)):
        samples[row] = np.searchsorted(row_cdf, row_draws, side="right")
    return _result(samples, dtype, "categorical")


# ------------------------------------------------------------------ autograd ops
def dropout(inputs: Any, rate: float, noise_shape: Any = None, seed: Any = None) -> Tensor:
    """``inputs`` with each element zeroed with probability ``rate`` and the rest scaled by
    1 / (1 - rate), differentiably, on the input's device. ``noise_shape`` is the mask's shape,
    broadcast over the input (a None entry takes the input's size); rate 1 gives zeros
    (``inputs * 0``), rate 0 the input itself."""
    x = as_tensor(inputs)
    if (
        isinstance(rate, bool)
        or not isinstance(rate, int | float | np.number)
        or not 0 <= rate <= 1
    ):
        raise ValueError(
            "Invalid value received for argument `rate`. Expected a float value between 0 "
            f"and 1. Received: rate={rate}"
        )
    if rate == 0:
        return x
    if rate == 1:
        return ops.mul(x, 0.0)
    if noise_shape is not None:
        if len(noise_shape) != x.ndim:
            raise ValueError(
                f"`noise_shape` {tuple(noise_shape)} must have one entry per axis of the "
                f"inputs, of shape {x.shape}"
            )
        noise_shape = tuple(
            m if n is None else n for n, m in zip(noise_shape, x.shape, strict=True)
        )
    return ops.dropout(x, float(rate), draw(seed), noise_shape)


def shuffle(x: Any, axis: int = 0, seed: Any = None) -> Tensor:
    """``x`` with its slices along ``axis`` in a random order (one permutation for the whole
    axis, as Keras's TensorFlow backend), differentiably, on the input's device. Integers and
    booleans given as an array keep their dtype, as Keras's (shuffled on the host)."""
    if not is_int(axis):
        raise ValueError(f"`axis` must be an int. Received: axis={axis}")
    if not isinstance(x, Tensor) and np.asarray(x).dtype.kind in "biu":
        values = np.asarray(x)
        axis = normalize_axis(int(axis), values.ndim, "shuffle")
        return host_array(np.take(values, draw(seed).permutation(values.shape[axis]), axis))
    x = as_tensor(x)
    axis = normalize_axis(int(axis), x.ndim, "shuffle")
    order = draw(seed).permutation(x.shape[axis])
    return ops.getitem(x, (slice(None),) * axis + (order,))
