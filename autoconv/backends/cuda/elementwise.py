"""Elementwise maths on CudaArrays, with broadcasting: the binary and unary device functions,
their kernels (compiled per function, and by numba per dtype), the public functions (``exp``,
``log``, ..., ``maximum``, ``minimum``), and the strided copy behind transposes, casts and
``broadcast_to`` (with ``expand_dims`` and ``swapaxes``).

A kernel indexes a flat view of its output and reads each operand at the offset its element
strides give (padded to ``MAX_DIMS``; 0 on broadcast axes, permuted for a transposed view), so one
kernel serves broadcasting, transposes and dtype casts. ``_offset_device`` and the binary
functions serve the reductions too.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, _contiguous_strides, empty
from autoconv.backends.cuda.runtime import SIMULATED, cached_kernel, launch, unsigned

MAX_DIMS = 6  # the most axes an elementwise op or reduction handles


def _padded(values: tuple[int, ...], fill: int) -> tuple[int, ...]:
    if len(values) > MAX_DIMS:
        raise ValueError(f"cuda arrays support at most {MAX_DIMS} dims, got {len(values)}")
    return (fill,) * (MAX_DIMS - len(values)) + tuple(values)


def _broadcast_strides(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides reading a contiguous array of ``shape`` in ``out_shape`` (0 on
    broadcast axes), padded to MAX_DIMS."""
    strides = [0] * len(out_shape)
    for back, (n, step) in enumerate(
        zip(reversed(shape), reversed(_contiguous_strides(shape)), strict=True)
    ):
        strides[len(out_shape) - 1 - back] = step if n != 1 else 0
    return _padded(tuple(strides), 0)


def _coalesced(shape: tuple[int, ...], *strides: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """``shape`` and each operand's element ``strides`` over it with the axes of length 1
    dropped and each axis merged into the one before wherever every operand steps over the two
    as over one (a contiguous array: one axis; a bias over (N, H, W, C): two), padded to
    MAX_DIMS: the same offsets, found with fewer divisions (see :func:`_offset`)."""
    axes = [(n, [s[d] for s in strides]) for d, n in enumerate(shape) if n != 1]
    merged: list[tuple[int, list[int]]] = []
    for n, steps in axes:
        if merged and all(o == step * n for o, step in zip(merged[-1][1], steps, strict=True)):
            merged[-1] = (merged[-1][0] * n, steps)
        else:
            merged.append((n, steps))
    lengths = tuple(n for n, _ in merged)
    return (_padded(lengths, 1), *(_padded(tuple(st[k] for _, st in merged), 0)
                                    for k in range(len(strides))))  # fmt: skip


def _offset(i, shape, strides):  # the flat input offset of flat output index i
    offset = 0
    for d in range(MAX_DIMS - 1, -1, -1):
        if i < shape[d]:  # the rest of the index is along this axis: no division
            return offset + i * strides[d]
        offset += (i % shape[d]) * strides[d]
        i //= shape[d]
    return offset


_offset_device = cuda.jit(device=True)(_offset)


def _add(x, y):
    return x + y


def _sub(x, y):
    return x - y


def _mul(x, y):
    return x * y


def _div(x, y):
    return x / y


def _pow(x, y):
    return x**y


def _maximum(x, y):  # NaN wins, as np.maximum
    return x if (x > y or x != x) else y


def _minimum(x, y):
    return x if (x < y or x != x) else y


def _greater(x, y):
    return x > y


def _greater_equal(x, y):
    return x >= y


def _equal(x, y):
    return x == y


def _not_equal(x, y):
    return x != y


def _relu_grad(g, out):  # g * (out > 0), as NumPy has it: -0.0, NaN where g * 0 gives them
    return g if out > 0 else g * ZERO


BINARY = {
    "add": _add,
    "sub": _sub,
    "mul": _mul,
    "div": _div,
    "pow": _pow,
    "maximum": _maximum,
    "minimum": _minimum,
    "greater": _greater,
    "greater_equal": _greater_equal,
    "equal": _equal,
    "not_equal": _not_equal,
    "relu_grad": _relu_grad,
}
COMPARISONS = ("greater", "greater_equal", "equal", "not_equal")


def _identity(x):
    return x


def _neg(x):
    return -x


def _exp(x):
    return math.exp(x)


def _log(x):
    return math.log(x)


def _tanh(x):
    return math.tanh(x)


def _abs(x):
    return math.fabs(x)  # not abs(): this module's abs() below shadows the builtin


def _sqrt(x):
    return math.sqrt(x)


def _erf(x):
    return math.erf(x)


def _expm1(x):
    return math.expm1(x)


def _log1p(x):
    return math.log1p(x)


# A 1 that keeps each kernel in its dtype: on the GPU a float32 constant (numba computes
# float32 + float32 in float32, float32 + float64 in float64; an int 1 would make both float64);
# on the simulator, where NumPy would compute float32 + float64 in float32, a Python float.
ONE = 1.0 if SIMULATED else np.float32(1)
ZERO = 0.0 if SIMULATED else np.float32(0)


def _sigmoid(x):  # exp of a non-positive number only: no overflow
    if x >= 0:
        return ONE / (ONE + math.exp(-x))
    e = math.exp(x)
    return e / (ONE + e)


def _softplus(x):  # log(1 + e**x) = x + log(1 + e**-x): exp of a non-positive number only
    if x > 0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


UNARY = {
    "identity": _identity,
    "neg": _neg,
    "exp": _exp,
    "log": _log,
    "tanh": _tanh,
    "abs": _abs,
    "sqrt": _sqrt,
    "erf": _erf,
    "expm1": _expm1,
    "log1p": _log1p,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
}


@cuda.jit(device=True)
def _three_after(i0, stride, size):
    """The three indices after i0 of a grid-stride loop, each at or past ``size`` replaced by
    i0 (then read again, never written)."""
    i1, i2, i3 = i0 + stride, i0 + 2 * stride, i0 + 3 * stride
    return (i1 if i1 < size else i0), (i2 if i2 < size else i0), (i3 if i3 < size else i0)


@cache
def _elementwise_kernel(element: Any) -> Any:
    """The kernel writing out[i] = element(args, i) (a device function) for every i of the flat
    ``out``, grid-stride, four entries a thread at a time: the four computed, their loads all
    issued, before any is written. One at a time, each thread had one load in flight: the
    small Xception's ReLUs (32 x 90 x 90 x 128 floats) ran at about 2 TB/s on an H200, 126 us
    each (bench/results/2026-11-26-gpu-h200-second-figures.md)."""

    def kernel(out, args):
        size, stride = out.size, cuda.gridsize(1)
        for i0 in range(cuda.grid(1), size, 4 * stride):
            i1, i2, i3 = _three_after(i0, stride, size)
            r0, r1 = element(args, i0), element(args, i1)
            r2, r3 = element(args, i2), element(args, i3)
            out[unsigned(i0)] = r0
            if i1 != i0:
                out[unsigned(i1)] = r1
            if i2 != i0:
                out[unsigned(i2)] = r2
            if i3 != i0:
                out[unsigned(i3)] = r3

    # Named for its element (profiles and launch counts tell a ReLU from a gather by it).
    kernel.__qualname__ = f"_elementwise_kernel.{element.__name__}"
    return cached_kernel(kernel)


# How a kernel reads an operand, known when it is compiled (see _read_mode): entry i at i
# (READ_FLAT: one axis, step 1, as the output is written), its one entry (READ_ONE: a single
# number broadcast, a scalar made a tensor: Rescaling's 1/255), or at the offset its strides
# give (READ_STRIDED: the index split over the axes, a division an axis; the flowers
# classifier's Rescaling, read so, took 131 us of its 3.24 ms prediction step on an H200).
READ_STRIDED, READ_FLAT, READ_ONE = 0, 1, 2


def _reader(mode: int) -> Any:
    """A device function reading entry i of an operand (x, its strides, the shape) by ``mode``."""

    @cuda.jit(device=True)
    def read(x, strides, shape, i):
        if mode == READ_FLAT:
            return x[unsigned(i)]
        if mode == READ_ONE:
            return x[0]
        return x[_offset_device(i, shape, strides)]

    return read


@cache
def _binary_kernels(
    name: str, a_mode: int = READ_STRIDED, b_mode: int = READ_STRIDED
) -> tuple[Any, Any]:
    """(array op array, array op scalar) kernels for the binary function ``name``: args (a,
    a_strides, b, b_strides, shape) and (a, a_strides, scalar, scalar_first, shape), each array
    read by its mode (see READ_STRIDED; the scalar kernel's by ``a_mode``)."""
    fn = cuda.jit(device=True)(BINARY[name])
    read_a, read_b = _reader(a_mode), _reader(b_mode)

    @cuda.jit(device=True)
    def arrays(args, i):
        a, a_strides, b, b_strides, shape = args
        return fn(read_a(a, a_strides, shape, i), read_b(b, b_strides, shape, i))

    @cuda.jit(device=True)
    def with_scalar(args, i):
        a, a_strides, scalar, scalar_first, shape = args
        value = read_a(a, a_strides, shape, i)
        return fn(scalar, value) if scalar_first else fn(value, scalar)

    return _elementwise_kernel(arrays), _elementwise_kernel(with_scalar)


@cache
def _unary_kernel(name: str, mode: int = READ_STRIDED) -> Any:
    """The kernel of the unary function ``name``: args (a, a_strides, shape), ``a`` read by
    ``mode`` (see READ_STRIDED)."""
    fn = cuda.jit(device=True)(UNARY[name])
    read = _reader(mode)

    @cuda.jit(device=True)
    def unary(args, i):
        a, a_strides, shape = args
        return fn(read(a, a_strides, shape, i))

    return _elementwise_kernel(unary)


def _read_mode(lengths: tuple[int, ...], strides: tuple[int, ...]) -> int:
    """How to read an operand of coalesced ``lengths`` and ``strides`` (see _coalesced):
    READ_FLAT, READ_ONE or READ_STRIDED."""
    if all(n == 1 for n in lengths[:-1]) and strides[-1] == 1:
        return READ_FLAT
    if not any(strides):
        return READ_ONE
    return READ_STRIDED


def _result_dtype(name: str, dtype: np.dtype) -> np.dtype:
    if name in COMPARISONS and dtype.kind != "f":
        return np.dtype(np.float32)
    return dtype


def _binary(name: str, a: Any, b: Any) -> CudaArray:
    if isinstance(a, CudaArray) and isinstance(b, CudaArray):
        if a.dtype != b.dtype:
            raise TypeError(f"cuda {name}: dtypes differ ({a.dtype} and {b.dtype})")
        shape = np.broadcast_shapes(a.shape, b.shape)
        out = empty(shape, _result_dtype(name, a.dtype))
        if out.size:
            lengths, a_strides, b_strides = _coalesced(
                _padded(shape, 1), _broadcast_strides(a.shape, shape),
                _broadcast_strides(b.shape, shape),
            )  # fmt: skip
            modes = _read_mode(lengths, a_strides), _read_mode(lengths, b_strides)
            arrays = _binary_kernels(name, *modes)[0]
            launch(arrays, out.size)(out.flat, (a.flat, a_strides, b.flat, b_strides, lengths))
        return out
    scalar_first = not isinstance(a, CudaArray)
    array, scalar = (b, a) if scalar_first else (a, b)
    if isinstance(scalar, np.ndarray):
        if scalar.ndim:
            raise TypeError(f"cuda {name}: a NumPy array and a CudaArray cannot be mixed")
        scalar = scalar.item()
    out = empty(array.shape, _result_dtype(name, array.dtype))
    if out.size:
        lengths, strides = _coalesced(
            _padded(array.shape, 1), _broadcast_strides(array.shape, array.shape)
        )
        with_scalar = _binary_kernels(name, _read_mode(lengths, strides))[1]
        launch(with_scalar, out.size)(
            out.flat, (array.flat, strides, array.dtype.type(scalar), scalar_first, lengths)
        )
    return out


def _unary(name: str, a: CudaArray) -> CudaArray:
    return _copy_strided(a, a.shape, _contiguous_strides(a.shape), a.dtype, name)


def _copy_strided(
    a: CudaArray,
    out_shape: tuple[int, ...],
    strides: tuple[int, ...],
    dtype: np.dtype,
    fn: str = "identity",
) -> CudaArray:
    """out[index] = fn(a.flat[sum(index * strides)]): copies, transposes, broadcasts, casts."""
    out = empty(out_shape, dtype)
    if out.size:
        lengths, strides = _coalesced(_padded(out_shape, 1), _padded(strides, 0))
        kernel = _unary_kernel(fn, _read_mode(lengths, strides))
        launch(kernel, out.size)(out.flat, (a.flat, strides, lengths))
    return out


def exp(a: CudaArray) -> CudaArray:
    return _unary("exp", a)


def log(a: CudaArray) -> CudaArray:
    return _unary("log", a)


def tanh(a: CudaArray) -> CudaArray:
    return _unary("tanh", a)


def abs(a: CudaArray) -> CudaArray:
    return _unary("abs", a)


def sqrt(a: CudaArray) -> CudaArray:
    return _unary("sqrt", a)


def erf(a: CudaArray) -> CudaArray:
    return _unary("erf", a)


def expm1(a: CudaArray) -> CudaArray:
    return _unary("expm1", a)


def log1p(a: CudaArray) -> CudaArray:
    return _unary("log1p", a)


def sigmoid(a: CudaArray) -> CudaArray:
    return _unary("sigmoid", a)


def softplus(a: CudaArray) -> CudaArray:
    return _unary("softplus", a)


def maximum(a: Any, b: Any) -> CudaArray:
    return _binary("maximum", a, b)


def minimum(a: Any, b: Any) -> CudaArray:
    return _binary("minimum", a, b)


def relu_grad(grad: CudaArray, out: CudaArray) -> CudaArray:
    """grad * (out > 0) in one pass."""
    bounds.shape_is("relu_grad", "out", out, grad.shape)
    return _binary("relu_grad", grad, out)


def broadcast_to(a: CudaArray, shape: tuple[int, ...]) -> CudaArray:
    """A contiguous copy of ``a`` broadcast to ``shape``."""
    shape = tuple(shape)
    np.broadcast_shapes(a.shape, shape)  # raises if impossible
    return _copy_strided(
        a, shape, _broadcast_strides(a.shape, shape)[MAX_DIMS - len(shape) :], a.dtype
    )


def expand_dims(a: CudaArray, axes: tuple[int, ...]) -> CudaArray:
    shape = list(a.shape)
    for axis in sorted(axes):
        shape.insert(axis, 1)
    return a.reshape(tuple(shape))


def swapaxes(a: CudaArray, first: int, second: int) -> CudaArray:
    axes = list(range(a.ndim))
    axes[first], axes[second] = axes[second], axes[first]
    return a.transpose(tuple(axes))
