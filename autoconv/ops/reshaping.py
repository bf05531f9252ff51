"""Ops that move values without changing them: reshape, transpose, flatten, indexing."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.ops.base import as_tensor, normalize_axis
from autoconv.tensor import Tensor, record


def reshape(a: Any, shape: tuple[int, ...]) -> Tensor:
    """The same values in a new shape (one dimension may be -1)."""
    a = as_tensor(a)
    try:
        out = a.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape {a.shape} into {tuple(shape)}") from None
    in_shape = a.shape
    return record(out, (a,), lambda g: (g.reshape(in_shape),), "reshape")


def transpose(a: Any, axes: tuple[int, ...] | None = None) -> Tensor:
    """Permute axes (reverse them when ``axes`` is None)."""
    a = as_tensor(a)
    if axes is None:
        axes = tuple(reversed(range(a.ndim)))
    if sorted(int(ax) % max(a.ndim, 1) for ax in axes) != list(range(a.ndim)):
        raise ValueError(f"transpose: axes {tuple(axes)} are not a permutation of {a.ndim} dims")
    inverse = tuple(np.argsort([int(ax) % a.ndim for ax in axes]))
    return record(a.data.transpose(axes), (a,), lambda g: (g.transpose(inverse),), "transpose")


def flatten(a: Any) -> Tensor:
    """(N, ...) -> (N, prod(...)): keeps the batch axis, like Keras's Flatten."""
    a = as_tensor(a)
    if a.ndim < 1:
        raise ValueError("flatten: needs a tensor with a batch axis, got a scalar")
    return reshape(a, (a.shape[0], -1))


def getitem(a: Any, index: Any) -> Tensor:
    """``a[index]`` for basic slicing and integer (array) indexing."""
    a = as_tensor(a)
    if isinstance(index, Tensor):
        index = index.numpy().astype(np.intp)
    xp = backend(a)
    try:
        out = xp.getitem(a.data, index)
    except IndexError as error:
        raise IndexError(f"getitem: {error} (tensor shape {a.shape})") from None
    shape = a.shape

    def backward(g):
        return (xp.scatter_add(g, shape, index),)  # repeated integer indices accumulate

    return record(out, (a,), backward, "getitem")


def concatenate(tensors: list[Any], axis: int = -1) -> Tensor:
    """Join tensors along ``axis``; every other axis must match. Each input is placed into its
    slice of the output (``scatter_add``), and its gradient is that slice back."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    first = tensors[0]
    ndim = first.ndim
    axis = normalize_axis(axis, ndim, "concatenate")
    for t in tensors[1:]:
        if t.ndim != ndim or t.shape[:axis] + t.shape[axis + 1 :] != (
            first.shape[:axis] + first.shape[axis + 1 :]
        ):
            raise ValueError(
                f"concatenate: shapes {[x.shape for x in tensors]} differ off axis {axis}"
            )
        if t.dtype != first.dtype or t.device != first.device:
            raise TypeError("concatenate: tensors differ in dtype or device")
    xp = backend(first)
    sizes = [t.shape[axis] for t in tensors]
    out_shape = (*first.shape[:axis], sum(sizes), *first.shape[axis + 1 :])
    slices, start = [], 0
    for size in sizes:
        slices.append((slice(None),) * axis + (slice(start, start + size),))
        start += size
    out = xp.scatter_add(tensors[0].data, out_shape, slices[0])
    for t, index in zip(tensors[1:], slices[1:], strict=True):
        out = out + xp.scatter_add(t.data, out_shape, index)

    def backward(g):
        return tuple(xp.getitem(g, index) for index in slices)

    return record(out, tuple(tensors), backward, "concatenate")
