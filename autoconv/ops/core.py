"""``keras.ops``'s core functions: conversion and dtypes, slicing and scattering, control flow
(run eagerly: autoconv has no graph compiler to stage it for), ``custom_gradient``, and
``rearrange`` (einops's notation).
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autoconv.ops import engine
from autoconv.ops.convert import (
    all_integer,
    float_dtype,
    host_op,
    is_symbolic,
    is_tensor,
    standard_dtype,
    tensor,
    tensors,
    to_numpy,
)
from autoconv.ops.numpy import arrays
from autoconv.tensor import Tensor, no_grad, record

__all__ = [
    "associative_scan",
    "cast",
    "cond",
    "convert_to_numpy",
    "convert_to_tensor",
    "custom_gradient",
    "dtype",
    "fori_loop",
    "is_tensor",
    "map",
    "rearrange",
    "saturate_cast",
    "scan",
    "scatter",
    "scatter_update",
    "shape",
    "slice",
    "slice_update",
    "stop_gradient",
    "switch",
    "unstack",
    "vectorized_map",
    "while_loop",
]


def convert_to_tensor(x: Any, dtype: Any = None, sparse: Any = None, ragged: Any = None) -> Any:
    """x as autoconv's array: a Tensor for reals (float32 unless x is float64 or ``dtype``
    says), a NumPy array for integers and bools (Python ints as int32, as Keras)."""
    if sparse or ragged:
        raise ValueError("convert_to_tensor: autoconv has no sparse or ragged tensors")
    if isinstance(x, Tensor):
        return x if dtype is None else cast(x, dtype)
    values = to_numpy(x)
    wanted = standard_dtype(dtype) or values.dtype
    if wanted.kind == "f":
        return Tensor(values, dtype=float_dtype(wanted))
    return values.astype(wanted, copy=False)


def convert_to_numpy(x: Any) -> np.ndarray:
    return to_numpy(x)


def cast(x: Any, dtype: Any) -> Any:
    """x in ``dtype``: a real dtype gives a Tensor (differentiable), an integer or bool one a
    NumPy array (values truncated towards 0, as Keras's)."""
    wanted = standard_dtype(dtype)
    if wanted.kind == "f":
        return engine.cast(tensor(x), float_dtype(wanted))
    return to_numpy(x).astype(wanted)


def saturate_cast(x: Any, dtype: Any) -> Any:
    """x cast to ``dtype`` after clipping to its range (no wrap-around)."""
    wanted = standard_dtype(dtype)
    info = np.iinfo(wanted) if wanted.kind in "iu" else np.finfo(wanted)
    if isinstance(x, Tensor) and wanted.kind == "f":
        return cast(engine.clip(x, float(info.min), float(info.max)), wanted)
    return cast(np.clip(to_numpy(x), info.min, info.max), wanted)


def dtype(x: Any) -> str:
    """x's dtype's name, as Keras names it ('float32', 'int32', 'bool', ...)."""
    return str(x.dtype if isinstance(x, Tensor) or is_symbolic(x) else to_numpy(x).dtype)


def shape(x: Any) -> tuple[int | None, ...]:
    """x's shape (a graph's symbolic tensor's has None for its unknown sizes)."""
    return tuple(x.shape) if isinstance(x, Tensor) or is_symbolic(x) else np.shape(to_numpy(x))


def stop_gradient(variable: Any) -> Any:
    """The same values, with no gradient flowing back."""
    return variable.detach() if isinstance(variable, Tensor) else variable


def unstack(x: Any, num: int | None = None, axis: int = 0) -> list[Any]:
    """x split along ``axis`` into its slices (that axis removed)."""
    n = shape(x)[axis]
    if num is not None and num != n:
        raise ValueError(f"unstack: num={num} differs from the axis's size {n}")
    head = (builtins.slice(None),) * (axis % len(shape(x)))
    return [arrays.get_item(x, (*head, i)) for i in range(n)]


# ----------------------------------------------------------------- slices and scatters
def _region(start_indices: Any, sizes: Sequence[int]) -> tuple[builtins.slice, ...]:
    starts = [int(s) for s in to_numpy(start_indices).reshape(-1)]
    return tuple(builtins.slice(s, s + int(n)) for s, n in zip(starts, sizes, strict=True))


def slice(inputs: Any, start_indices: Any, shape: Sequence[int]) -> Any:
    """The block of ``shape`` starting at ``start_indices``."""
    return arrays.get_item(inputs, _region(start_indices, shape))


def _written_into(inputs: Any, updates: Any) -> list[Tensor]:
    """``inputs`` and ``updates`` as Tensors on one device, both of the inputs' dtype: the
    updates are written into a copy of the inputs, as Keras's PyTorch backend writes them (a
    float32 array updated with float64 values stays float32)."""
    dtype = tensor(inputs).dtype
    return [engine.cast(t, dtype) if t.dtype != dtype else t for t in tensors(inputs, updates)]


def slice_update(inputs: Any, start_indices: Any, updates: Any) -> Any:
    """inputs with the block at ``start_indices`` replaced by ``updates`` (both differentiable),
    in the inputs' dtype."""
    if all_integer(inputs, updates):
        out = to_numpy(inputs).copy()
        out[_region(start_indices, np.shape(to_numpy(updates)))] = to_numpy(updates)
        return out
    x, u = _written_into(inputs, updates)
    region = _region(start_indices, u.shape)

    def forward(a, b):
        out = a.copy()
        out[region] = b
        return out

    def backward(g, out, a, b):
        kept = g.copy()
        kept[region] = 0
        return kept, g[region]

    return host_op("slice_update", forward, backward, [x, u])


def _positions(indices: Any, rank: int) -> tuple[np.ndarray, ...]:
    """(N, k) indices into the first k axes of an array as a NumPy index tuple."""
    index = to_numpy(indices)
    if index.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got dtype {index.dtype}")
    if index.shape[-1] > rank:
        raise ValueError(f"indices of depth {index.shape[-1]} index an array of {rank} dims")
    return tuple(np.moveaxis(index, -1, 0))


def scatter(indices: Any, values: Any, shape: Sequence[int]) -> Any:
    """Zeros of ``shape`` with ``values`` added at ``indices`` ((N, k): N points into the first
    k axes); repeated indices add up, as Keras's."""
    where = _positions(indices, len(shape))
    if all_integer(values):
        out = np.zeros(tuple(shape), to_numpy(values).dtype)
        np.add.at(out, where, to_numpy(values))
        return out
    v = tensor(values)

    def forward(b):
        out = np.zeros(tuple(shape), b.dtype)
        np.add.at(out, where, b)
        return out

    return host_op("scatter", forward, lambda g, out, b: (g[where],), [v])


REDUCTIONS = {"add": np.add, "max": np.maximum, "min": np.minimum, "mul": np.multiply}


def scatter_update(inputs: Any, indices: Any, updates: Any, reduction: str | None = None) -> Any:
    """inputs with the elements (or slices) at ``indices`` set to ``updates``, or combined with
    them by ``reduction`` ('add', 'max', 'min', 'mul'; repeated indices each count), in the
    inputs' dtype (the reduction's name in any case, as Keras's). Differentiable for a plain
    update and for 'add'."""
    if reduction is not None:
        reduction = reduction.lower()
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"Invalid reduction: {reduction}. "
                "Supported values are: None, 'add', 'max', 'min', 'mul'."
            )
    where = _positions(indices, len(shape(inputs)))

    def forward(a, b):
        out = a.copy()
        if reduction is None:
            out[where] = b
        else:
            REDUCTIONS[reduction].at(out, where, b)
        return out

    if all_integer(inputs, updates):
        return forward(to_numpy(inputs), to_numpy(updates))

    def backward(g, out, a, b):
        if reduction not in (None, "add"):
            raise NotImplementedError(
                f"scatter_update: no gradient for reduction={reduction!r} (only None and 'add')"
            )
        kept = g.copy()
        if reduction is None:
            kept[where] = 0
        return kept, g[where]

    return host_op("scatter_update", forward, backward, _written_into(inputs, updates))


# ----------------------------------------------------------------------- control flow
def cond(pred: Any, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
    return true_fn() if bool(to_numpy(pred)) else false_fn()


def switch(index: Any, branches: Sequence[Callable[..., Any]], *operands: Any) -> Any:
    """``branches[index](*operands)``, the index clipped into range as Keras's."""
    chosen = int(np.clip(int(to_numpy(index)), 0, len(branches) - 1))
    return branches[chosen](*operands)


def while_loop(
    cond: Callable[..., Any],
    body: Callable[..., Any],
    loop_vars: Any,
    maximum_iterations: int | None = None,
) -> Any:
    """Run ``body`` on ``loop_vars`` while ``cond`` holds (at most ``maximum_iterations``)."""
    is_tuple = isinstance(loop_vars, list | tuple)
    values = tuple(loop_vars) if is_tuple else (loop_vars,)
    count = 0
    while bool(to_numpy(cond(*values))):
        if maximum_iterations is not None and count >= maximum_iterations:
            break
        values = body(*values)
        values = tuple(values) if isinstance(values, list | tuple) else (values,)
        count += 1
    return values if is_tuple else values[0]


def fori_loop(lower: int, upper: int, body_fun: Callable[[int, Any], Any], init_val: Any) -> Any:
    value = init_val
    for i in range(int(to_numpy(lower)), int(to_numpy(upper))):
        value = body_fun(i, value)
    return value


def _stacked(values: list[Any]) -> Any:
    """Per-step results stacked on a new first axis (each part of tuple, list or dict results
    on its own, as Keras's nested results)."""
    if values and isinstance(values[0], dict):
        return {k: _stacked([v[k] for v in values]) for k in values[0]}
    if values and isinstance(values[0], tuple | list):
        return type(values[0])(_stacked([v[i] for v in values]) for i in range(len(values[0])))
    return arrays.stack(values, axis=0) if values else values


def scan(
    f: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any = None,
    length: int | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
) -> tuple[Any, Any]:
    """``(carry, y) = f(carry, x)`` over xs's first axis; returns the last carry and the ys
    stacked (JAX's ``lax.scan``)."""
    n = length if xs is None else shape(_first_leaf(xs))[0]
    if n is None:
        raise ValueError("scan: give xs or length")
    steps = range(n - 1, -1, -1) if reverse else range(n)
    carry, ys = init, []
    for i in steps:
        x = None if xs is None else _step(xs, i)
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, (_stacked(ys) if ys and ys[0] is not None else None)


def _step(xs: Any, i: int) -> Any:
    if isinstance(xs, dict):
        return {k: _step(x, i) for k, x in xs.items()}
    if isinstance(xs, list | tuple):
        return type(xs)(_step(x, i) for x in xs)
    return arrays.get_item(xs, i)


def _first_leaf(xs: Any) -> Any:
    if isinstance(xs, dict):
        return _first_leaf(next(iter(xs.values())))
    if isinstance(xs, list | tuple):
        return _first_leaf(xs[0])
    return xs


def map(f: Callable[[Any], Any], xs: Any) -> Any:
    """``f`` of each slice along xs's first axis, stacked (xs and f's results may be nested
    tuples, lists and dicts)."""
    n = shape(_first_leaf(xs))[0]
    return _stacked([f(_step(xs, i)) for i in range(n)])


def vectorized_map(function: Callable[[Any], Any], elements: Any) -> Any:
    return map(function, elements)


def associative_scan(
    f: Callable[[Any, Any], Any], elems: Any, reverse: bool = False, axis: int = 0
) -> Any:
    """The running ``f``-reduction along ``axis``: out[i] = f(out[i-1], elems[i])."""

    def moved(x: Any) -> Any:
        return arrays.moveaxis(x, axis, 0)

    parts = [moved(e) for e in elems] if isinstance(elems, list | tuple) else [moved(elems)]
    n = shape(parts[0])[0]
    order = range(n - 1, -1, -1) if reverse else range(n)
    results, current = [], None
    for i in order:
        item = [arrays.get_item(p, i) for p in parts]
        item = type(elems)(item) if isinstance(elems, list | tuple) else item[0]
        current = item if current is None else f(current, item)
        results.append(current)
    if reverse:
        results.reverse()
    stacked = _stacked(results)
    if isinstance(stacked, list | tuple):
        return type(stacked)(arrays.moveaxis(s, 0, axis) for s in stacked)
    return arrays.moveaxis(stacked, 0, axis)


def custom_gradient(f: Callable[..., tuple[Any, Callable[..., Any]]]) -> Callable[..., Any]:
    """Decorator: ``f(*args)`` returns ``(output, grad_fn)`` and ``grad_fn(upstream)`` gives the
    gradient for each Tensor argument (one, or a tuple), used by autograd instead of the
    gradient of what ``f`` computed."""

    def wrapper(*args: Any) -> Any:
        inputs = [a for a in args if isinstance(a, Tensor)]
        with no_grad():
            output, grad_fn = f(*args)
        output = tensor(output)
        if not inputs:
            return output

        def backward(g):
            grads = grad_fn(Tensor(g, device=output.device))
            grads = grads if isinstance(grads, list | tuple) else (grads,)
            if len(grads) != len(inputs):
                raise ValueError(
                    f"custom_gradient: grad_fn gave {len(grads)} gradients for "
                    f"{len(inputs)} tensor arguments"
                )
            return tuple(
                None if gr is None else tensor(gr, like=t).data
                for gr, t in zip(grads, inputs, strict=True)
            )

        return record(output.data, tuple(inputs), backward, "custom_gradient")

    wrapper.__name__ = getattr(f, "__name__", "custom_gradient")
    wrapper.__doc__ = f.__doc__
    return wrapper


# --------------------------------------------------------------------------- rearrange
_GROUP = re.compile(r"\(([^)]*)\)|(\S+)")


def _parse(side: str) -> list[list[str]]:
    """'b (h w) c' -> [['b'], ['h', 'w'], ['c']]."""
    return [[name] if name else group.split() for group, name in _GROUP.findall(side)]


def rearrange(tensor: Any, pattern: str, **axes_lengths: int) -> Any:
    """einops's ``rearrange``: 'b h w c -> b (h w) c' style reshapes and transposes, with
    ``axes_lengths`` for axes split from a group; differentiable."""
    left, arrow, right = pattern.partition("->")
    if not arrow:
        raise ValueError(f"rearrange: pattern {pattern!r} has no '->'")
    source, target = _parse(left), _parse(right)
    dims = shape(tensor)
    if len(source) != len(dims):
        raise ValueError(
            f"rearrange: pattern {left.strip()!r} has {len(source)} axes, tensor {len(dims)}"
        )
    sizes = dict(axes_lengths)
    for group, n in zip(source, dims, strict=True):
        unknown = [a for a in group if a not in sizes]
        known = int(np.prod([sizes[a] for a in group if a in sizes]))
        if len(unknown) > 1:
            raise ValueError(f"rearrange: give the lengths of all but one of {group}")
        if unknown:
            sizes[unknown[0]] = n // known
        if int(np.prod([sizes[a] for a in group])) != n:
            raise ValueError(f"rearrange: axes {group} do not multiply to {n}")
    flat_source = [a for g in source for a in g]
    flat_target = [a for g in target for a in g]
    if sorted(flat_source) != sorted(flat_target):
        raise ValueError(f"rearrange: {left.strip()!r} and {right.strip()!r} name different axes")
    split = arrays.reshape(tensor, tuple(sizes[a] for a in flat_source))
    moved = arrays.transpose(split, tuple(flat_source.index(a) for a in flat_target))
    return arrays.reshape(moved, tuple(int(np.prod([sizes[a] for a in g])) for g in target))
