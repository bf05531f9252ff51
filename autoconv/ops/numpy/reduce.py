"""``keras.ops``'s reductions, running and order statistics, sorting and searching.

Sums, means, maxima and what is built from them are the engine's (GPU kernels, autograd);
sorting and quantiles gather the values in sorted order (:func:`arrays.rearranged`), so they are
differentiable too; indices (argmax, argsort, nonzero, ...) are NumPy int32 arrays.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from autoconv.ops import engine
from autoconv.ops.convert import INDEX_DTYPE, all_integer, host_op, tensor, tensors, to_numpy
from autoconv.ops.numpy.arrays import diagonal, rearranged, take_along_axis, where
from autoconv.tensor import Tensor

Axis = int | tuple[int, ...] | list[int] | None


def _axis(axis: Axis) -> int | tuple[int, ...] | None:
    return tuple(axis) if isinstance(axis, list) else axis


def _total_dtype(x: np.ndarray, dtype: Any, running: bool = False) -> Any:
    """The dtype of a sum or product of integers or bools, Keras's: ``dtype`` when given,
    else the input's (NumPy widens int32 to int64), bool widened to int32, and for a total
    (not ``running``) int8 and int16 to int32, uint8 and uint16 to uint32."""
    if dtype is not None:
        return dtype
    widened = {"bool": "int32"} if running else {
        "bool": "int32", "int8": "int32", "int16": "int32", "uint8": "uint32", "uint16": "uint32"
    }  # fmt: skip
    return widened.get(x.dtype.name, x.dtype)


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    if all_integer(x):
        x = to_numpy(x)
        return np.sum(x, axis=_axis(axis), keepdims=keepdims, dtype=_total_dtype(x, None))
    return engine.sum(tensor(x), _axis(axis), keepdims)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return engine.mean(tensor(x), _axis(axis), keepdims)


def max(x: Any, axis: Axis = None, keepdims: bool = False, initial: Any = None) -> Any:
    """The maximum over ``axis`` (at least ``initial``); ties share the gradient."""
    if all_integer(x):
        return np.max(to_numpy(x), axis=_axis(axis), keepdims=keepdims, initial=initial)
    out = engine.max(tensor(x), _axis(axis), keepdims)
    if initial is None:
        return out
    from autoconv.ops.numpy.math import maximum

    return maximum(out, initial)


def min(x: Any, axis: Axis = None, keepdims: bool = False, initial: Any = None) -> Any:
    if all_integer(x):
        return np.min(to_numpy(x), axis=_axis(axis), keepdims=keepdims, initial=initial)
    negated_initial = None if initial is None else -to_numpy(initial)
    return engine.neg(max(engine.neg(tensor(x)), axis, keepdims, negated_initial))


def amax(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    return max(x, axis, keepdims)


def amin(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    return min(x, axis, keepdims)


def prod(x: Any, axis: Axis = None, keepdims: bool = False, dtype: Any = None) -> Any:
    """The product over ``axis``; its gradient is the product of the other elements (exact
    where elements are zero)."""
    if all_integer(x):
        x = to_numpy(x)
        return np.prod(x, axis=_axis(axis), keepdims=keepdims, dtype=_total_dtype(x, dtype))
    axis = _axis(axis)

    def backward(g, out, a):
        g = g if keepdims else np.expand_dims(g, _reduced(a.ndim, axis))
        return (g * _product_of_others(a, axis),)

    return host_op(
        "prod", lambda a: np.prod(a, axis=axis, keepdims=keepdims), backward, [tensor(x)]
    )


def _reduced(ndim_: int, axis: Any) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim_))
    axes = (axis,) if isinstance(axis, int | np.integer) else axis
    return tuple(int(a) % ndim_ for a in axes)


def _product_of_others(a: np.ndarray, axis: Any) -> np.ndarray:
    """For each element, the product of the others it was reduced with: exclusive cumulative
    products from both sides, over the reduced axes moved last and flattened."""
    axes = _reduced(a.ndim, axis)
    kept = [i for i in range(a.ndim) if i not in axes]
    moved = np.transpose(a, kept + list(axes))
    flat = moved.reshape(*moved.shape[: len(kept)], -1)
    ones = np.ones((*flat.shape[:-1], 1), a.dtype)
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    others = (before * after).reshape(moved.shape)
    return np.transpose(others, np.argsort(kept + list(axes)))


def var(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """The (population) variance over ``axis``."""
    x = tensor(x)
    centred = x - engine.mean(x, _axis(axis), True)
    return engine.mean(centred * centred, _axis(axis), keepdims)


def std(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return engine.pow(var(x, axis, keepdims), 0.5)


def average(x: Any, axis: Axis = None, weights: Any = None) -> Tensor:
    """The mean over ``axis`` weighted by ``weights`` (x's shape, or 1-D along one axis)."""
    x = tensor(x)
    if weights is None:
        return engine.mean(x, _axis(axis))
    w = tensor(weights, like=x)
    if w.shape != x.shape:
        if axis is None or w.ndim != 1:
            raise ValueError(
                f"average: weights of shape {w.shape} differ from x's {x.shape}; 1-D weights "
                "need an axis"
            )
        shape = [1] * x.ndim
        shape[int(axis) % x.ndim] = w.shape[0]
        w = engine.reshape(w, tuple(shape))
    return engine.sum(x * w, _axis(axis)) / engine.sum(w * 1.0 + x * 0.0, _axis(axis))


def ptp(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """max - min over ``axis``."""
    if all_integer(x):
        return np.ptp(to_numpy(x), axis=_axis(axis), keepdims=keepdims)
    return max(x, axis, keepdims) - min(x, axis, keepdims)


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The sum of the ``offset`` diagonal over ``axis1`` and ``axis2``."""
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def all(x: Any, axis: Axis = None, keepdims: bool = False) -> np.ndarray:
    return np.all(to_numpy(x), axis=_axis(axis), keepdims=keepdims)


def any(x: Any, axis: Axis = None, keepdims: bool = False) -> np.ndarray:
    return np.any(to_numpy(x), axis=_axis(axis), keepdims=keepdims)


def count_nonzero(x: Any, axis: Axis = None) -> np.ndarray:
    return np.asarray(np.count_nonzero(to_numpy(x), axis=_axis(axis)), dtype=INDEX_DTYPE)


def _index(numpy_function: Any) -> Any:
    def op(x: Any, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
        values = to_numpy(x)
        return numpy_function(values, axis=axis, keepdims=keepdims).astype(INDEX_DTYPE)

    op.__name__ = op.__qualname__ = numpy_function.__name__
    op.__doc__ = f"``np.{numpy_function.__name__}`` as an int32 NumPy array."
    return op


argmax, argmin = _index(np.argmax), _index(np.argmin)
nanargmax, nanargmin = _index(np.nanargmax), _index(np.nanargmin)


# --------------------------------------------------------------------- running totals
def cumsum(x: Any, axis: int | None = None, dtype: Any = None) -> Any:
    """Running sums along ``axis`` (of the flattened x when None); the gradient is the
    reversed running sum of the output gradient."""
    if all_integer(x):
        x = to_numpy(x)
        return np.cumsum(x, axis=axis, dtype=_total_dtype(x, dtype, running=True))
    x = tensor(x)
    if axis is None:
        x, axis = engine.reshape(x, (-1,)), 0

    def backward(g, out, a):
        return (np.flip(np.cumsum(np.flip(g, axis), axis), axis),)

    return host_op("cumsum", lambda a: np.cumsum(a, axis=axis), backward, [x])


def cumprod(x: Any, axis: int | None = None, dtype: Any = None) -> Any:
    """Running products along ``axis``; the gradient of element i is the sum over j >= i of
    g_j times the product of the first j elements but i (exact with zeros, O(n^2) per lane)."""
    if all_integer(x):
        x = to_numpy(x)
        return np.cumprod(x, axis=axis, dtype=_total_dtype(x, dtype, running=True))
    x = tensor(x)
    if axis is None:
        x, axis = engine.reshape(x, (-1,)), 0

    def backward(g, out, a):
        a_last, g_last = np.moveaxis(a, axis, -1), np.moveaxis(g, axis, -1)
        n = a_last.shape[-1]
        grad = np.zeros_like(a_last)
        for i in range(n):
            without_i = a_last.copy()
            without_i[..., i] = 1
            partial = np.cumprod(without_i, axis=-1)
            grad[..., i] = (g_last[..., i:] * partial[..., i:]).sum(axis=-1)
        return (np.moveaxis(grad, -1, axis),)

    return host_op("cumprod", lambda a: np.cumprod(a, axis=axis), backward, [x])


def nancumsum(x: Any, axis: int | None = None, dtype: Any = None) -> Any:
    return cumsum(_nan_as(x, 0.0), axis, dtype)


def nancumprod(x: Any, axis: int | None = None, dtype: Any = None) -> Any:
    return cumprod(_nan_as(x, 1.0), axis, dtype)


def _nan_as(x: Any, value: float) -> Any:
    """x with its NaNs replaced by ``value`` (whose gradient is 0)."""
    if all_integer(x):
        return x
    x = tensor(x)
    return where(np.isnan(x.numpy()), value, x)


def nansum(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    return sum(_nan_as(x, 0.0), axis, keepdims)


def nanprod(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    return prod(_nan_as(x, 1.0), axis, keepdims)


def nanmax(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    return max(_nan_as(x, -np.inf), axis, keepdims)


def nanmin(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    return min(_nan_as(x, np.inf), axis, keepdims)


def nanmean(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = tensor(x)
    count = np.sum(~np.isnan(x.numpy()), axis=_axis(axis), keepdims=keepdims)
    return nansum(x, axis, keepdims) / count.astype(x.dtype)


def nanvar(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = tensor(x)
    centred = x - nanmean(x, axis, keepdims=True)
    return nanmean(centred * centred, axis, keepdims)


def nanstd(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return engine.pow(nanvar(x, axis, keepdims), 0.5)


# ------------------------------------------------------------------- order statistics
def sort(x: Any, axis: int = -1) -> Any:
    """x sorted along ``axis`` (NaN last); the gradient goes back to where each value was."""
    if all_integer(x):
        return np.sort(to_numpy(x), axis=axis)
    x = tensor(x)
    order = np.argsort(x.numpy(), axis=axis, kind="stable")
    return rearranged(x, lambda p: np.take_along_axis(p, order, axis))


def argsort(x: Any, axis: int = -1) -> np.ndarray:
    return np.argsort(to_numpy(x), axis=axis, kind="stable").astype(INDEX_DTYPE)


def argpartition(x: Any, kth: int, axis: int = -1) -> np.ndarray:
    return np.argpartition(to_numpy(x), kth, axis=axis).astype(INDEX_DTYPE)


METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(
    x: Any, q: Any, axis: Axis = None, method: str = "linear", keepdims: bool = False
) -> Tensor:
    """The ``q`` quantiles (in [0, 1]) over ``axis``, interpolated by ``method`` as NumPy's;
    a q array adds its axes in front. Differentiable: the result mixes sorted values."""
    return _quantile(x, q, axis, method, keepdims, skip_nan=False)


def percentile(
    x: Any, q: Any, axis: Axis = None, method: str = "linear", keepdims: bool = False
) -> Tensor:
    return quantile(x, to_numpy(q) / 100.0, axis, method, keepdims)


def median(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return quantile(x, 0.5, axis, keepdims=keepdims)


def nanquantile(
    x: Any, q: Any, axis: Axis = None, method: str = "linear", keepdims: bool = False
) -> Tensor:
    return _quantile(x, q, axis, method, keepdims, skip_nan=True)


def nanpercentile(
    x: Any, q: Any, axis: Axis = None, method: str = "linear", keepdims: bool = False
) -> Tensor:
    return nanquantile(x, to_numpy(q) / 100.0, axis, method, keepdims)


def nanmedian(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return nanquantile(x, 0.5, axis, keepdims=keepdims)


def _quantile(x: Any, q: Any, axis: Axis, method: str, keepdims: bool, skip_nan: bool) -> Tensor:
    if method not in METHODS:
        raise ValueError(f"quantile: method must be one of {METHODS}, got {method!r}")
    qs = np.asarray(to_numpy(q), dtype=np.float64)
    if np.any((qs < 0) | (qs > 1)):
        raise ValueError(f"quantile: q must be in [0, 1], got {q!r}")
    x = tensor(x)
    axes = _reduced(x.ndim, _axis(axis))
    kept = [i for i in range(x.ndim) if i not in axes]
    lanes = engine.reshape(engine.transpose(x, (*kept, *axes)), (*(x.shape[i] for i in kept), -1))
    values = lanes.numpy()
    nan = np.isnan(values)
    count = (~nan).sum(axis=-1, keepdims=True)
    if not skip_nan:
        count = np.full_like(count, values.shape[-1])
    ordered = sort(lanes, axis=-1)
    results = []
    for fraction in qs.reshape(-1):
        position = (count - 1) * fraction
        low, high = np.floor(position), np.ceil(position)
        weight = {
            "linear": position - low,
            "lower": np.zeros_like(position),
            "higher": np.ones_like(position),
            "midpoint": np.full_like(position, 0.5),
            "nearest": (np.round(position) == high).astype(np.float64),
        }[method]
        if method in ("lower", "higher", "nearest"):
            high = np.where(weight > 0, high, low)
        lower = take_along_axis(ordered, np.maximum(low, 0).astype(np.int64), -1)
        upper = take_along_axis(ordered, np.maximum(high, 0).astype(np.int64), -1)
        mixed = lower + (upper - lower) * weight.astype(x.dtype)
        if not skip_nan and nan.any():
            mixed = mixed + np.where(nan.any(axis=-1, keepdims=True), np.nan, 0).astype(x.dtype)
        results.append(engine.reshape(mixed, mixed.shape[:-1]))
    out = (
        results[0]
        if len(results) == 1
        else engine.concatenate([engine.reshape(r, (1, *r.shape)) for r in results], axis=0)
    )
    if keepdims:
        shape = list(x.shape)
        for a in axes:
            shape[a] = 1
        out = engine.reshape(out, (*qs.shape, *shape))
    elif qs.ndim:
        out = engine.reshape(out, (*qs.shape, *out.shape[1:]))
    return out


def corrcoef(x: Any) -> Tensor:
    """Pearson correlation coefficients of x's rows (variables) over its columns."""
    x = tensor(x)
    if x.ndim == 1:
        x = engine.reshape(x, (1, -1))
    centred = x - engine.mean(x, 1, True)
    covariance = engine.matmul(centred, engine.transpose(centred))
    scale = engine.pow(engine.sum(centred * centred, 1, True), 0.5)
    return covariance / engine.matmul(scale, engine.transpose(scale))


# -------------------------------------------------------------------- searching
def nonzero(x: Any) -> tuple[np.ndarray, ...]:
    return tuple(i.astype(INDEX_DTYPE) for i in np.nonzero(to_numpy(x)))


def searchsorted(sorted_sequence: Any, values: Any, side: str = "left") -> np.ndarray:
    if side not in ("left", "right"):
        raise ValueError(f"`side` must be either 'left' or 'right'. Received: side={side}")
    sequence = to_numpy(sorted_sequence)
    if sequence.ndim != 1:
        raise ValueError(
            f"`searchsorted` only supports 1-D sorted sequences, got shape {sequence.shape}"
        )
    return np.searchsorted(sequence, to_numpy(values), side=side).astype(INDEX_DTYPE)


def digitize(x: Any, bins: Any) -> np.ndarray:
    return np.digitize(to_numpy(x), to_numpy(bins)).astype(INDEX_DTYPE)


def bincount(x: Any, weights: Any = None, minlength: int = 0, sparse: bool = False) -> Any:
    """Counts of each non-negative int in x (1-D, or each row of 2-D), weighted by
    ``weights``; integers without weights, a Tensor with them."""
    if sparse:
        raise ValueError("bincount: sparse=True is not supported (autoconv has no sparse arrays)")
    values = to_numpy(x)
    if values.dtype.kind not in "iu":
        raise TypeError(f"bincount: x must hold integers, got dtype {values.dtype}")
    if values.size and values.min() < 0:
        raise ValueError("bincount: x must be non-negative")
    length = builtins.max(int(values.max()) + 1 if values.size else 0, minlength)
    rows = values.reshape(-1, values.shape[-1]) if values.ndim == 2 else values.reshape(1, -1)
    if weights is None:
        counts = np.stack([np.bincount(r, minlength=length) for r in rows]).astype(INDEX_DTYPE)
        return counts if values.ndim == 2 else counts[0]
    w = tensor(weights)
    one_hot = (rows[..., None] == np.arange(length)).astype(w.dtype)
    counted = engine.sum(
        engine.reshape(w, (*rows.shape, 1)) * Tensor(one_hot, device=w.device), axis=1
    )
    return counted if values.ndim == 2 else engine.reshape(counted, (length,))


def histogram(x: Any, bins: int = 10, range: tuple[float, float] | None = None) -> tuple:
    """(counts, bin edges) of a 1-D x, as ``np.histogram``: counts int32, edges a Tensor."""
    values = to_numpy(x)
    if values.ndim != 1:
        raise ValueError(f"histogram: x must be 1-D, got shape {values.shape}")
    counts, edges = np.histogram(values, bins=bins, range=range)
    return counts.astype(INDEX_DTYPE), tensor(edges.astype(np.float32))


def unique(
    x: Any,
    sorted: bool = True,
    return_index: bool = False,
    return_inverse: bool = False,
    return_counts: bool = False,
    axis: int | None = None,
    size: int | None = None,
    fill_value: Any = None,
) -> Any:
    """The distinct values of x (no gradient), with the first indices, the inverse indices and
    the counts on request;
    ``size`` pads (with ``fill_value``, else the first value) or cuts the result to a length."""
    values = to_numpy(x)
    found = np.unique(
        values,
        return_index=return_index,
        return_inverse=return_inverse,
        return_counts=return_counts,
        axis=axis,
    )
    parts = list(found) if isinstance(found, tuple) else [found]
    if size is not None:
        first = parts[0]
        fill = first.flat[0] if fill_value is None and first.size else (fill_value or 0)
        padded = np.full((size, *first.shape[1:]), fill, first.dtype)
        padded[: builtins.min(size, len(first))] = first[:size]
        parts[0] = padded
        if return_counts:
            counts = np.zeros(size, parts[-1].dtype)
            counts[: builtins.min(size, len(parts[-1]))] = parts[-1][:size]
            parts[-1] = counts
    parts = [p if p.dtype.kind != "f" else tensor(p) for p in parts]
    parts = [
        p.astype(INDEX_DTYPE) if i and not isinstance(p, Tensor) else p for i, p in enumerate(parts)
    ]
    return parts[0] if len(parts) == 1 else tuple(parts)


def unravel_index(indices: Any, shape: Any) -> tuple[np.ndarray, ...]:
    return tuple(i.astype(INDEX_DTYPE) for i in np.unravel_index(to_numpy(indices), tuple(shape)))


def diff(a: Any, n: int = 1, axis: int = -1) -> Any:
    """The n-th differences along ``axis``."""
    if all_integer(a):
        return np.diff(to_numpy(a), n=n, axis=axis)
    out = tensor(a)
    for _ in range(n):
        length = out.shape[axis]
        head = (slice(None),) * (axis % out.ndim)
        out = engine.getitem(out, (*head, slice(1, length))) - engine.getitem(
            out, (*head, slice(0, length - 1))
        )
    return out


def trapezoid(y: Any, x: Any = None, dx: float = 1.0, axis: int = -1) -> Tensor:
    """The integral of y along ``axis`` by the trapezoid rule (spacing x or dx)."""
    y = tensor(y)
    axis = axis % y.ndim
    head = (slice(None),) * axis
    n = y.shape[axis]
    pairs = engine.getitem(y, (*head, slice(1, n))) + engine.getitem(y, (*head, slice(0, n - 1)))
    if x is None:
        return engine.sum(pairs, axis) * (dx / 2)
    steps = diff(tensor(x, like=y), axis=-1 if tensors(x)[0].ndim == 1 else axis)
    if steps.ndim == 1:
        shape = [1] * y.ndim
        shape[axis] = steps.shape[0]
        steps = engine.reshape(steps, tuple(shape))
    return engine.sum(pairs * steps, axis) * 0.5
