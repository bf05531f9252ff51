"""``keras.ops``'s functions that make arrays or move values: creation, shapes, joining and
splitting, indexing, padding, and the products (matmul, dot, tensordot, einsum, ...).

Most moves are one mechanism, :func:`rearranged`: the NumPy function is applied to an array of
positions, and the result gathers the tensor's values at those positions (the engine's
``getitem``, which runs on the GPU and whose VJP scatter-adds the gradient back). Integer arrays
alone are moved by NumPy itself (:mod:`autoconv.ops.convert`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autoconv.ops import engine
from autoconv.ops.convert import (
    all_integer,
    float_dtype,
    host_op,
    int32_holds,
    is_symbolic,
    standard_dtype,
    tensor,
    tensors,
    to_numpy,
)
from autoconv.tensor import Tensor


def rearranged(x: Tensor, arrange: Callable[[np.ndarray], np.ndarray], fill: bool = False) -> Any:
    """``arrange`` applied to x's values, for any function that only moves values (and, with
    ``fill``, also puts zeros where it pads or masks): ``arrange`` runs on the array of x's
    flat positions (from 1 with ``fill``, where its 0s are the zeros it adds) and x's values are
    gathered at the positions it returns. A list of arrays (``split``) gives a list."""
    positions = np.arange(int(fill), x.size + int(fill)).reshape(x.shape)
    moved = arrange(positions)
    flat = engine.reshape(x, (-1,))
    if fill:
        zero = Tensor(np.zeros(1, x.dtype), device=x.device)
        flat = engine.concatenate([zero, flat], axis=0)

    def gather(index: np.ndarray) -> Tensor:
        index = np.asarray(index)
        return engine.reshape(engine.getitem(flat, index.reshape(-1)), index.shape)

    return [gather(m) for m in moved] if isinstance(moved, list) else gather(moved)


def _move(x: Any, numpy_function: Callable, *args: Any, fill: bool = False, **kwargs: Any) -> Any:
    """``numpy_function(x, *args, **kwargs)`` for a function that only moves values (NumPy's own
    on integers; see :func:`rearranged`)."""
    if all_integer(x):
        return numpy_function(to_numpy(x), *args, **kwargs)
    return rearranged(tensor(x), lambda p: numpy_function(p, *args, **kwargs), fill)


def tile(x: Any, repeats: Any) -> Any:
    return _move(x, np.tile, to_numpy(repeats).tolist())


def flip(x: Any, axis: int | Sequence[int] | None = None) -> Any:
    return _move(x, np.flip, axis)


def fliplr(x: Any) -> Any:
    return _move(x, np.fliplr)


def flipud(x: Any) -> Any:
    return _move(x, np.flipud)


def roll(x: Any, shift: Any, axis: int | Sequence[int] | None = None) -> Any:
    return _move(x, np.roll, shift, axis)


def rot90(array: Any, k: int = 1, axes: tuple[int, int] = (0, 1)) -> Any:
    return _move(array, np.rot90, k, axes)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    return _move(x, np.diagonal, offset, axis1, axis2)


def tril(x: Any, k: int = 0) -> Any:
    return _move(x, np.tril, k, fill=True)


def triu(x: Any, k: int = 0) -> Any:
    return _move(x, np.triu, k, fill=True)


def diagflat(x: Any, k: int = 0) -> Any:
    return _move(x, np.diagflat, k, fill=True)


def diag(x: Any, k: int = 0) -> Any:
    """A 1-D x: the matrix with x on its k-th diagonal; a 2-D x: its k-th diagonal."""
    if np.ndim(to_numpy(x) if not isinstance(x, Tensor) else x.data) not in (1, 2):
        raise ValueError(f"diag: x must be 1-D or 2-D, got shape {np.shape(x)}")
    return _move(x, np.diag, k, fill=True)


def repeat(x: Any, repeats: Any, axis: int | None = None) -> Any:
    """Each element repeated ``repeats`` times along ``axis`` (of the flattened x when None)."""
    if all_integer(x):
        return np.repeat(to_numpy(x), to_numpy(repeats), axis)
    return engine.repeat(tensor(x), to_numpy(repeats), axis)


def take(x: Any, indices: Any, axis: int | None = None) -> Any:
    """x's values at ``indices`` along ``axis`` (of the flattened x when None); negative
    indices count from the end."""
    return _move(x, np.take, _indices(indices, "take"), axis)


def take_along_axis(x: Any, indices: Any, axis: int | None = None) -> Any:
    return _move(x, np.take_along_axis, _indices(indices, "take_along_axis"), axis)


def _indices(indices: Any, op: str) -> np.ndarray:
    array = to_numpy(indices)
    if array.dtype.kind not in "iu":
        if array.dtype.kind == "f" and np.all(array == np.round(array)):
            return array.astype(np.int64)
        raise TypeError(f"{op}: indices must be integers, got dtype {array.dtype}")
    return array


def get_item(x: Any, key: Any) -> Any:
    """``x[key]`` (a list of slices, ints and ``...``, as Keras's files hold a key, is the
    tuple it stands for)."""
    if isinstance(key, list) and any(isinstance(k, slice) or k is Ellipsis for k in key):
        key = tuple(key)
    if all_integer(x):
        return to_numpy(x)[key]
    return engine.getitem(tensor(x), key)


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    return _move(x, np.broadcast_to, tuple(shape))


def pad(
    x: Any, pad_width: Any, mode: str = "constant", constant_values: float | None = None
) -> Any:
    """x padded by ``pad_width`` ((before, after) per axis, or one pair or number for all) in
    ``mode``: 'constant' (with ``constant_values``, 0 by default), 'edge', 'reflect',
    'symmetric', 'wrap', 'maximum', 'mean', 'median', 'minimum', 'linear_ramp', 'empty' as
    NumPy's (Keras's backends accept 'constant', 'edge', 'reflect', 'symmetric' and more)."""
    if constant_values is not None and mode != "constant":
        raise ValueError(
            "Argument `constant_values` can only be provided when `mode == 'constant'`. "
            f"Received: mode={mode}"
        )
    widths = np.asarray(to_numpy(pad_width)).astype(np.int64)
    if all_integer(x):
        value = 0 if constant_values is None else constant_values
        extra = {"constant_values": value} if mode == "constant" else {}
        return np.pad(to_numpy(x), widths, mode=mode, **extra)
    x = tensor(x)
    if mode != "constant":
        if mode not in ("edge", "reflect", "symmetric", "wrap"):
            return host_op("pad", lambda a: np.pad(a, widths, mode=mode), None, [x])
        return rearranged(x, lambda p: np.pad(p, widths, mode=mode))
    padded = rearranged(x, lambda p: np.pad(p, widths), fill=True)
    if not constant_values:
        return padded
    border = np.pad(np.zeros(x.shape, x.dtype), widths, constant_values=1)
    return padded + Tensor(border * constant_values, device=x.device)


# -------------------------------------------------------------------------- shapes
def reshape(x: Any, newshape: Any) -> Any:
    shape = (newshape,) if isinstance(newshape, int) else tuple(int(n) for n in newshape)
    if all_integer(x):
        return to_numpy(x).reshape(shape)
    return engine.reshape(tensor(x), shape)


def ravel(x: Any) -> Any:
    return reshape(x, (-1,))


def transpose(x: Any, axes: Sequence[int] | None = None) -> Any:
    if all_integer(x):
        return np.transpose(to_numpy(x), axes)
    return engine.transpose(tensor(x), None if axes is None else tuple(axes))


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    n = ndim(x)
    sources = [int(a) % n for a in np.atleast_1d(source)]
    destinations = [int(a) % n for a in np.atleast_1d(destination)]
    order = [a for a in range(n) if a not in sources]
    for to, moved in sorted(zip(destinations, sources, strict=True)):
        order.insert(to, moved)
    return transpose(x, tuple(order))


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    order = list(range(ndim(x)))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return transpose(x, tuple(order))


def expand_dims(x: Any, axis: int | Sequence[int]) -> Any:
    return reshape(x, np.expand_dims(np.empty(np.shape(values_of(x)), np.bool_), axis).shape)


def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> Any:
    shape = np.shape(values_of(x))
    axes = tuple(range(len(shape))) if axis is None else axis
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    for a in axes:
        if axis is not None and shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} of shape {shape} is not 1")
    kept = [
        n for i, n in enumerate(shape) if not (n == 1 and (i in axes or i - len(shape) in axes))
    ]
    return reshape(x, tuple(kept))


def values_of(x: Any) -> Any:
    """Something with x's shape (a Tensor's array, without copying it from the GPU)."""
    return x.data if isinstance(x, Tensor) else to_numpy(x)


def ndim(x: Any) -> int:
    return len(x.shape) if is_symbolic(x) else len(np.shape(values_of(x)))


def size(x: Any) -> int:
    return int(np.prod(np.shape(values_of(x))))


def copy(x: Any) -> Any:
    return to_numpy(x).copy() if all_integer(x) else engine.mul(tensor(x), 1.0)


def view(x: Any, dtype: Any = None) -> Any:
    """x's bytes read as ``dtype`` (no gradient), as NumPy's ``view``."""
    if dtype is None:
        return x
    viewed = to_numpy(x).view(standard_dtype(dtype))
    return tensor(viewed) if viewed.dtype.kind == "f" else viewed


# --------------------------------------------------------------- joining and splitting
def concatenate(xs: Sequence[Any], axis: int | None = 0) -> Any:
    if all_integer(*xs):
        return np.concatenate([to_numpy(x) for x in xs], axis=axis)
    parts = tensors(*xs)
    if axis is None:
        parts, axis = [engine.reshape(t, (-1,)) for t in parts], 0
    return engine.concatenate(parts, axis=axis)


def stack(x: Sequence[Any], axis: int = 0) -> Any:
    if all_integer(*x):
        return np.stack([to_numpy(v) for v in x], axis=axis)
    return concatenate([expand_dims(t, axis) for t in tensors(*x)], axis=axis)


def _stacker(at_least: Callable, axis: int, name: str) -> Callable[[Sequence[Any]], Any]:
    def op(xs: Sequence[Any]) -> Any:
        parts = [x if all_integer(x) else tensor(x) for x in xs]
        shaped = [
            reshape(p, at_least(np.empty(np.shape(values_of(p)), np.bool_)).shape) for p in parts
        ]
        joined_axis = (
            0 if name == "hstack" and all(np.ndim(values_of(p)) == 1 for p in shaped) else axis
        )
        return concatenate(shaped, axis=joined_axis)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``np.{name}``, differentiable."
    return op


hstack = _stacker(np.atleast_1d, 1, "hstack")
vstack = _stacker(np.atleast_2d, 0, "vstack")
dstack = _stacker(np.atleast_3d, 2, "dstack")


def append(x1: Any, x2: Any, axis: int | None = None) -> Any:
    return concatenate([x1, x2], axis=axis)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> Any:
    """x split along ``axis`` into equal sections (a count) or at the given indices."""
    return _move(x, np.split, to_numpy(indices_or_sections).tolist(), axis)


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> Any:
    return _move(x, np.array_split, to_numpy(indices_or_sections).tolist(), axis)


def hsplit(x: Any, indices_or_sections: Any) -> Any:
    return split(x, indices_or_sections, axis=1 if ndim(x) > 1 else 0)


def vsplit(x: Any, indices_or_sections: Any) -> Any:
    return split(x, indices_or_sections, axis=0)


def dsplit(x: Any, indices_or_sections: Any) -> Any:
    return split(x, indices_or_sections, axis=2)


def where(condition: Any, x1: Any = None, x2: Any = None) -> Any:
    """x1 where ``condition`` holds, else x2 (broadcast); with neither, :func:`nonzero`."""
    if x1 is None and x2 is None:
        return tuple(i.astype(np.int32) for i in np.nonzero(to_numpy(condition)))
    if x1 is None or x2 is None:
        raise ValueError("x1 and x2 must either both be set or both be None")
    mask = to_numpy(condition).astype(bool)
    if all_integer(x1, x2):
        return np.where(mask, to_numpy(x1), to_numpy(x2))
    a, b = tensors(x1, x2)

    def backward(g, out, a_values, b_values):
        return np.where(mask, g, 0), np.where(mask, 0, g)

    return host_op("where", lambda u, v: np.where(mask, u, v), backward, [a, b])


def select(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> Any:
    """The choice of the first condition that holds, else ``default``, elementwise."""
    if len(condlist) != len(choicelist):
        raise ValueError(
            "condlist and choicelist must have the same length. "
            f"Received: len(condlist)={len(condlist)}, len(choicelist)={len(choicelist)}"
        )
    result = default
    for condition, choice in zip(reversed(condlist), reversed(choicelist), strict=True):
        result = where(condition, choice, result)
    return result


# ------------------------------------------------------------------------- creation
def _made(array: np.ndarray, dtype: Any) -> Any:
    """A created array: a Tensor when it holds reals, else the NumPy array (convert.py)."""
    dtype = standard_dtype(dtype)
    if dtype is not None:
        array = array.astype(dtype)
    if array.dtype.kind == "f":
        return Tensor(array.astype(float_dtype(array.dtype if dtype else np.float32)))
    return array


def zeros(shape: Any, dtype: Any = None) -> Any:
    return _made(np.zeros(shape, np.float32), dtype)


def ones(shape: Any, dtype: Any = None) -> Any:
    return _made(np.ones(shape, np.float32), dtype)


def empty(shape: Any, dtype: Any = None) -> Any:
    """Zeros (autoconv never hands out uninitialised memory)."""
    return zeros(shape, dtype)


def full(shape: Any, fill_value: Any, dtype: Any = None) -> Any:
    return _made(np.full(shape, to_numpy(fill_value)), dtype)


def zeros_like(x: Any, dtype: Any = None) -> Any:
    return _made(np.zeros(np.shape(values_of(x)), _like_dtype(x)), dtype)


def ones_like(x: Any, dtype: Any = None) -> Any:
    return _made(np.ones(np.shape(values_of(x)), _like_dtype(x)), dtype)


def empty_like(x: Any, dtype: Any = None) -> Any:
    return zeros_like(x, dtype)


def full_like(x: Any, fill_value: Any, dtype: Any = None) -> Any:
    return _made(np.full(np.shape(values_of(x)), to_numpy(fill_value), _like_dtype(x)), dtype)


def _like_dtype(x: Any) -> np.dtype:
    return x.dtype if isinstance(x, Tensor) else to_numpy(x).dtype


def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> Any:
    """Evenly spaced values in [start, stop); integers (int32) for integer arguments (int64
    past int32's range, where Keras's PyTorch backend wraps them)."""
    if step == 0:
        raise ValueError("arange: step must not be 0")
    args = [a for a in (start, stop, step) if a is not None]
    values = np.arange(*args)
    if values.dtype.kind in "iu" and int32_holds(values):
        values = values.astype(np.int32)
    return _made(values, dtype)


def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    values, step = np.linspace(
        to_numpy(start), to_numpy(stop), num, endpoint=endpoint, retstep=True, axis=axis
    )
    made = _made(values.astype(np.float32) if dtype is None else values, dtype)
    return (made, step) if retstep else made


def logspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    base: float = 10,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    values = np.logspace(to_numpy(start), to_numpy(stop), num, endpoint, base, axis=axis)
    return _made(values.astype(np.float32) if dtype is None else values, dtype)


def geomspace(
    start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Any = None, axis: int = 0
) -> Any:
    values = np.geomspace(to_numpy(start), to_numpy(stop), num, endpoint, axis=axis)
    return _made(values.astype(np.float32) if dtype is None else values, dtype)


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> Any:
    return _made(np.eye(N, M, k, np.float32), dtype)


def identity(n: int, dtype: Any = None) -> Any:
    return eye(n, dtype=dtype)


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> Any:
    return _made(np.tri(N, M, k, np.float32), dtype)


def array(x: Any, dtype: Any = None) -> Any:
    """x as an array: a Tensor for reals, a NumPy array for integers and bools."""
    values = to_numpy(x)
    return _made(values, dtype) if dtype or values.dtype.kind != "f" else tensor(values)


def meshgrid(*x: Any, indexing: str = "xy") -> list[Any]:
    """Coordinate grids from 1-D arrays (differentiable: each grid gathers its vector)."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"Valid values for `indexing` are 'xy' and 'ij'. Received: {indexing}")
    grids = np.meshgrid(*(np.arange(np.size(values_of(v))) for v in x), indexing=indexing)
    return [take(v, grid) for v, grid in zip(x, grids, strict=True)]


def _window(numpy_function: Callable, x: int, *args: Any) -> Tensor:
    """NumPy's window of ``x`` points, float32."""
    return Tensor(numpy_function(int(x), *args).astype(np.float32))


def bartlett(x: int) -> Tensor:
    return _window(np.bartlett, x)


def blackman(x: int) -> Tensor:
    return _window(np.blackman, x)


def hamming(x: int) -> Tensor:
    return _window(np.hamming, x)


def hanning(x: int) -> Tensor:
    return _window(np.hanning, x)


def kaiser(x: int, beta: float) -> Tensor:
    return _window(np.kaiser, x, beta)


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Any:
    """Columns x**(N-1), ..., x**0 (or increasing powers)."""
    if all_integer(x):
        return np.vander(to_numpy(x), N, increasing)
    x = tensor(x)
    n = x.shape[0] if N is None else N
    powers = np.arange(n) if increasing else np.arange(n)[::-1]
    columns = [engine.pow(x, float(p)) if p else x * 0.0 + 1.0 for p in powers]
    return stack(columns, axis=1) if columns else zeros((x.shape[0], 0), x.dtype)


def vectorize(pyfunc: Callable, *, excluded: Any = None, signature: str | None = None) -> Callable:
    """``pyfunc`` mapped over its arguments' elements (``np.vectorize``; no gradient): for
    functions of scalars, on the host."""
    vectorized = np.vectorize(pyfunc, excluded=excluded, signature=signature)

    def op(*args: Any, **kwargs: Any) -> Any:
        result = vectorized(*(to_numpy(a) for a in args), **kwargs)
        return tensor(result) if np.asarray(result).dtype.kind == "f" else result

    return op
