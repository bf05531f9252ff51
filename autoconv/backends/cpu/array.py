"""The array functions the ops call, on NumPy arrays: creation, device transfer, indexing,
elementwise maths and the matrix product. The CUDA backend has the same names
(:mod:`autoconv.backends.cuda.array`); most of these are NumPy's own, named here so that
both backends share one contract (:mod:`autoconv.backends.contract`)."""

from __future__ import annotations

import math
import types
from typing import Any

import numba
import numpy as np

from autoconv.backends import bounds
from autoconv.backends.cpu import blas, workspace
from autoconv.backends.cpu.conv import bias_relu
from autoconv.backends.cpu.jit import Kernel
from autoconv.backends.references import SOLE, VIEWED, references


# ------------------------------------------------------------------- creation and transfer
def asarray(value: Any, dtype: Any = None) -> np.ndarray:
    """``value`` as a NumPy array (no copy when it already is one of ``dtype``)."""
    return np.asarray(value, dtype=dtype)


def to_numpy(array: Any) -> np.ndarray:
    return np.asarray(array)


def empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised C-contiguous array (a pooled one when big: :mod:`workspace`), for
    kernels to write whole, e.g. a batch's output slice by slice (their ``out``)."""
    return workspace.empty(shape, dtype)


def zeros(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    return np.zeros(shape, dtype)


def zeros_like(array: np.ndarray) -> np.ndarray:
    return np.zeros_like(array)


def zero(array: np.ndarray) -> None:
    """array[...] = 0, in place."""
    array[...] = 0


def ones_like(array: np.ndarray) -> np.ndarray:
    return np.ones_like(array)


def ones_constant(like: np.ndarray) -> np.ndarray:
    """Ones of ``like``'s shape and dtype, to be read only (made afresh: that costs nothing)."""
    return np.ones_like(like)


def copy_into(target: np.ndarray, source: np.ndarray) -> None:
    """target[...] = source, in place."""
    bounds.shape_is("copy_into", "source", source, target.shape)
    np.copyto(target, source)


def copy_from_host(target: np.ndarray, source: np.ndarray) -> None:
    """target[...] = source, an array of target's shape and dtype, in place."""
    bounds.shape_is("copy_from_host", "source", source, target.shape)
    if np.dtype(source.dtype) != target.dtype:
        raise TypeError(f"copy_from_host: dtypes differ ({target.dtype} and {source.dtype})")
    np.copyto(target, source)


def copy(array: np.ndarray) -> np.ndarray:
    """A contiguous copy (also of a read-only broadcast view), into a pooled array: a leaf's
    gradient is one, made again each step (the 150x150 stack's Dense kernel, 33.5 MB: 4.2 ms
    a step into a fresh array, 2.7 into a pooled one)."""
    array = np.asarray(array)
    out = workspace.empty(array.shape, array.dtype)
    np.copyto(out, array)
    return out


def owned(array: Any) -> bool:
    """Whether ``array`` may be kept as it is where a copy would otherwise be taken (a leaf's
    gradient): a writeable C-contiguous ndarray that nothing refers to but the caller's one
    variable, and whose memory nothing else refers to either (the array it views, if any, is
    referred to by it alone, and by the pool if it is one of :mod:`.workspace`'s, which hands
    it out again only once no view of it is left). Call it as ``owned(name)``."""
    if not isinstance(array, np.ndarray) or references(array) > SOLE:
        return False
    if not (array.flags.writeable and array.flags.c_contiguous):
        return False
    base = array.base  # NumPy's views refer to the array owning the memory (or Numba's record)
    while base is not None:
        pooled = isinstance(base, np.ndarray) and workspace.holds(base)
        if references(base) > VIEWED + pooled:
            return False
        base = getattr(base, "base", None)
    return True


# ---------------------------------------------------------------------------- shapes
def broadcast_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(a, shape)


def expand_dims(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    return np.expand_dims(a, axes)


def swapaxes(a: np.ndarray, first: int, second: int) -> np.ndarray:
    return np.swapaxes(a, first, second)


# -------------------------------------------------------------------------- indexing
def getitem(a: np.ndarray, index: Any) -> np.ndarray:
    """``array[index]`` as a contiguous array."""
    return np.asarray(a[index], order="C")


# Indices that select a view (basic indexing): an LSTM's step x[..., t:t + 1] among them
BASIC_INDEX = (int, np.integer, slice, types.EllipsisType, types.NoneType)


def scatter_add(grad: np.ndarray, shape: tuple[int, ...], index: Any) -> np.ndarray:
    """Zeros of ``shape`` with ``grad`` added at ``[index]`` (repeated positions accumulate)."""
    out = np.zeros(shape, dtype=grad.dtype)
    if all(isinstance(i, BASIC_INDEX) for i in (index if isinstance(index, tuple) else (index,))):
        out[index] += grad  # a basic index never repeats a position: no need for np.add.at
    else:
        np.add.at(out, index, grad)
    return out


def concatenate_rows(arrays: list[np.ndarray]) -> np.ndarray:
    """Arrays of one dtype and trailing shape joined along their first axis (a copy, into a
    pooled array)."""
    first = arrays[0]
    if any(a.shape[1:] != first.shape[1:] or a.dtype != first.dtype for a in arrays):
        raise ValueError(f"concatenate_rows: arrays of shapes {[a.shape for a in arrays]} differ")
    out = workspace.empty((sum(len(a) for a in arrays), *first.shape[1:]), first.dtype)
    return np.concatenate(arrays, axis=0, out=out)


def take(a: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` for a 1-D array of row numbers in [0, len(a))."""
    rows = np.asarray(rows)
    bounds.indices_in_range("take", "rows", rows, len(a))
    return np.take(a, rows.astype(np.intp, copy=False), axis=0)


def take_window(a: np.ndarray, order: np.ndarray, start: np.ndarray, count: int) -> np.ndarray:
    """``a[order[start : start + count]]`` (``start`` a one-element integer array)."""
    bounds.shape_is("take_window", "start", start, (1,))
    first = int(start[0])
    return take(a, order[first : first + count])


def put_rows(target: np.ndarray, source: np.ndarray, start: np.ndarray) -> None:
    """``target[start : start + len(source)] = source`` in place (``start`` a one-element
    integer array); rows past ``target``'s end are a ValueError."""
    bounds.rows_of("put_rows", target, source, start)
    first = int(start[0])
    if not 0 <= first <= len(target) - len(source):
        raise ValueError(
            f"put_rows: rows {first}..{first + len(source)} are outside the {len(target)} rows"
        )
    target[first : first + len(source)] = source


def one_hot(labels: np.ndarray, num_classes: int, dtype: Any) -> np.ndarray:
    """Rows of ``num_classes`` with a 1 at each (integer-valued) label in [0, num_classes)."""
    labels = np.asarray(labels)
    bounds.indices_in_range("one_hot", "labels", labels, num_classes)
    return np.eye(num_classes, dtype=dtype)[labels.astype(np.intp, copy=False)]


def argmax(a: np.ndarray, axis: int = -1) -> np.ndarray:
    return a.argmax(axis=axis)


def random_uniform(shape: tuple[int, ...], dtype: Any, rng: np.random.Generator) -> np.ndarray:
    """Uniform [0, 1) numbers of ``dtype`` from ``rng``."""
    return rng.random(shape, dtype=np.float32).astype(dtype, copy=False)


def random_normal(shape: tuple[int, ...], dtype: Any, rng: np.random.Generator) -> np.ndarray:
    """Standard normal numbers of ``dtype`` from ``rng``."""
    return rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)


# ---------------------------------------------------------------------------- maths
def exp(a: np.ndarray) -> np.ndarray:
    return np.exp(a)


def log(a: np.ndarray) -> np.ndarray:
    return np.log(a)


def tanh(a: np.ndarray) -> np.ndarray:
    return np.tanh(a)


def abs(a: np.ndarray) -> np.ndarray:
    return np.abs(a)


def sqrt(a: np.ndarray) -> np.ndarray:
    return np.sqrt(a)


@Kernel
def _erf(a, out):
    for i in numba.prange(a.size):
        out[i] = math.erf(a[i])


def erf(a: np.ndarray) -> np.ndarray:
    """The error function (NumPy has none; Numba compiles ``math.erf``)."""
    a = np.ascontiguousarray(a)
    out = workspace.empty(a.shape, a.dtype)
    _erf(2 * a.size, a.reshape(-1), out.reshape(-1))
    return out


def expm1(a: np.ndarray) -> np.ndarray:
    return np.expm1(a)


def log1p(a: np.ndarray) -> np.ndarray:
    return np.log1p(a)


def sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + e ** -a), in four NumPy passes over one array (SIMD exp; the two-exp
    e ** min(a, 0) / (1 + e ** -|a|) it replaces took half of EfficientNetB0's inference:
    bench/results/2026-11-25-applications-cpu.md). Where e ** -a overflows (a < -88 in
    float32) the result is 0, the nearest normal number to the true one."""
    out = np.negative(a, out=workspace.empty(np.shape(a), a.dtype))
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def softplus(a: np.ndarray) -> np.ndarray:
    """log(e ** a + e ** 0), which NumPy computes as max(a, 0) + log1p(e ** -|a|)."""
    return np.logaddexp(a, 0)


def maximum(a: Any, b: Any) -> np.ndarray:
    """The elementwise maximum (a ReLU's pass), into a pooled array."""
    return np.maximum(a, b, out=_broadcast_result(a, b))


def minimum(a: Any, b: Any) -> np.ndarray:
    return np.minimum(a, b, out=_broadcast_result(a, b))


def relu_grad(grad: np.ndarray, out: np.ndarray) -> np.ndarray:
    """grad * (out > 0), into a pooled array."""
    bounds.shape_is("relu_grad", "out", out, grad.shape)
    return np.multiply(grad, out > 0, out=_broadcast_result(grad, out))


def _broadcast_result(a: Any, b: Any) -> np.ndarray | None:
    """A pooled array for a big elementwise result of a and b (:mod:`.workspace`); None (NumPy
    allocates, and gives scalars for scalars) for a small one."""
    shape, dtype = np.broadcast_shapes(np.shape(a), np.shape(b)), np.result_type(a, b)
    if math.prod(shape) * dtype.itemsize < workspace.MIN_BYTES:
        return None
    return workspace.empty(shape, dtype)


def matmul(
    a: np.ndarray, b: np.ndarray, transpose_a: bool = False, transpose_b: bool = False,
    bias: np.ndarray | None = None, relu: bool = False,
) -> np.ndarray:  # fmt: skip
    """``a @ b``; ``transpose_a`` / ``transpose_b`` swap an operand's last two axes (a view).
    The product of matrices is written into a pooled array (:mod:`.workspace`); ``bias`` (one
    per column) and ``relu`` then go over it in place, in one pass (:func:`.conv.bias_relu`)."""
    a = np.swapaxes(a, -1, -2) if transpose_a else a
    b = np.swapaxes(b, -1, -2) if transpose_b else b
    out = None  # vectors, or NumPy's own error
    if a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == b.shape[-2]:
        shape = (*np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), a.shape[-2], b.shape[-1])
        out = workspace.empty(shape, np.result_type(a, b))
    elif bias is not None or relu:
        raise ValueError(f"matmul: a bias or ReLU needs matrices, got {a.shape} and {b.shape}")
    if out is not None and a.shape[-1] == 1:  # an outer product: BLAS's gemm is 4x slower
        out = np.multiply(a, b, out=out)
    elif blas.restarted():
        out = np.matmul(a, b, out=out)
    else:
        out = blas.run(np.matmul, a, b, out=out)
    if bias is not None or relu:
        bias_relu(out.reshape(-1, out.shape[-1]), bias, relu)
    return out


def matmuls(*products: tuple[np.ndarray, np.ndarray, bool, bool] | None) -> list[Any]:
    """Each product (a, b, transpose_a, transpose_b) as :func:`matmul` gives it (None for
    None), one after the other (the GPU makes them in one launch)."""
    return [None if product is None else matmul(*product) for product in products]
