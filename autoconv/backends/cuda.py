"""CUDA kernels (numba.cuda) and :class:`CudaArray`, the GPU array they work on.

This module offers the same names as :mod:`autoconv.backends.cpu`: the array functions the
ops call (``exp``, ``maximum``, ``matmul``, ...), the convolution and pooling contract, the
fused loss, dropout and optimizer kernels, and the training-loop helpers. A CudaArray
supports the arithmetic operators and the methods the ops use (``sum``, ``max``,
``reshape``, ``transpose``, ``astype``), each one a kernel launch on the default stream, so
an op's forward and backward are written once for both devices.

Design, in short:
- Every CudaArray is C-contiguous; kernels index a flat view and get shapes and element
  strides as tuples padded to ``MAX_DIMS`` (broadcast axes have stride 0, a transposed view
  permutes them), so one elementwise kernel serves broadcasting, transposes and dtype casts.
- Kernels are float32 when the data is (they are compiled per dtype; scalars are cast to the
  array's dtype before launch, so no literal drags a kernel into float64).
- Freed buffers go to a pool keyed by (size, dtype) and are reused: a training step asks for
  the same shapes every batch, so after the first step nothing is allocated. Reuse is safe
  because every kernel runs in order on one stream.
- Nothing here reads a value back to the host except :func:`to_numpy` (and ``float(a)``).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends import rules
from autoconv.ops.windows import Window

SIMULATED = bool(numba.config.ENABLE_CUDASIM)
# Threads per block and the most blocks of a grid-stride loop. The simulator runs each thread
# as a Python thread, so it gets small launches.
THREADS = 8 if SIMULATED else 256
MAX_BLOCKS = 2 if SIMULATED else 2048
MAX_DIMS = 6  # the most axes an elementwise op or reduction handles
# Matrix product tiling: a block computes a BLOCK x BLOCK tile of the output with
# (BLOCK/PER_THREAD)^2 threads, each holding a PER_THREAD x PER_THREAD register tile.
BLOCK = 32 if SIMULATED else 64
PER_THREAD = 16 if SIMULATED else 4
TILE_K = 8 if SIMULATED else 16
SIDE = BLOCK // PER_THREAD  # threads along each side of a block
# A product with few output tiles and a long contracted axis (a kernel gradient: 9 x 32 outputs
# summed over 43,264 pixels) splits that axis over up to SPLIT_K blocks, then adds the parts.
SPLIT_K = 4 if SIMULATED else 32
SPLIT_K_MIN_CHUNK = 16 if SIMULATED else 1024
REDUCE_THREADS = 4 if SIMULATED else 128
REDUCE_BLOCKS = 4 if SIMULATED else 16384  # one block per output element, up to this many


def available() -> bool:
    """True when numba.cuda sees a GPU (or the CUDA simulator is on)."""
    return SIMULATED or cuda.is_available()


# ----------------------------------------------------------------------------- memory
_free_buffers: dict[tuple[int, str], list[Any]] = {}


class _Buffer:
    """A flat device allocation, returned to the pool when the last array using it is gone."""

    __slots__ = ("flat", "key")

    def __init__(self, size: int, dtype: np.dtype) -> None:
        self.key = (size, dtype.str)
        free = _free_buffers.get(self.key)
        self.flat = free.pop() if free else cuda.device_array(max(size, 1), dtype)

    def __del__(self) -> None:
        try:
            _free_buffers.setdefault(self.key, []).append(self.flat)
        except (AttributeError, TypeError):  # interpreter shutdown
            pass


def empty_cache() -> None:
    """Free the pooled buffers that no array uses (they are reused otherwise)."""
    _free_buffers.clear()


class CudaArray:
    """A C-contiguous n-d array in GPU memory; operators and methods launch kernels.

    ``a.flat`` is the 1-D device view kernels take; ``a.nd`` the n-d one.
    Comparisons give 0/1 arrays in the operands' float dtype (float32 for integer operands),
    so a mask multiplies straight into a gradient.
    """

    device = "cuda"
    __array_ufunc__ = None  # a NumPy array never silently swallows a CudaArray
    __slots__ = ("_buffer", "dtype", "flat", "shape", "size")

    def __init__(self, buffer: _Buffer, shape: tuple[int, ...], flat: Any = None) -> None:
        self._buffer = buffer
        self.shape = tuple(int(n) for n in shape)
        self.size = math.prod(self.shape)
        self.dtype = buffer.flat.dtype
        if flat is None:
            flat = buffer.flat if buffer.key[0] == self.size else buffer.flat[: self.size]
        self.flat = flat

    # --------------------------------------------------------------- facts and views
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nd(self) -> Any:
        return self.flat.reshape(self.shape) if self.shape else self.flat

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"CudaArray({to_numpy(self)!r})"

    def __float__(self) -> float:
        if self.size != 1:
            raise ValueError(f"only one-element arrays convert to float, got shape {self.shape}")
        return float(self.flat.copy_to_host()[0])

    def __getitem__(self, index: Any) -> CudaArray:
        """A run of rows ``a[start:stop]`` is a view (no copy); any other index a copy."""
        if isinstance(index, slice) and self.ndim and index.step in (None, 1):
            start, stop, _ = index.indices(self.shape[0])
            stop = max(start, stop)
            row = self.size // max(self.shape[0], 1)
            flat = self.flat[start * row : stop * row]
            return CudaArray(self._buffer, (stop - start, *self.shape[1:]), flat)
        return getitem(self, index)

    def reshape(self, *shape: Any) -> CudaArray:
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        shape = tuple(int(n) for n in shape)
        if -1 in shape:
            known = math.prod(n for n in shape if n != -1)
            shape = tuple(self.size // max(known, 1) if n == -1 else n for n in shape)
        if math.prod(shape) != self.size:
            raise ValueError(f"cannot reshape array of size {self.size} into shape {shape}")
        return CudaArray(self._buffer, shape, self.flat)

    def transpose(self, *axes: Any) -> CudaArray:
        if len(axes) == 1 and isinstance(axes[0], tuple | list):
            axes = tuple(axes[0])
        axes = tuple(reversed(range(self.ndim))) if not axes else tuple(a % self.ndim for a in axes)
        strides = _contiguous_strides(self.shape)
        out_shape = tuple(self.shape[a] for a in axes)
        return _copy_strided(self, out_shape, tuple(strides[a] for a in axes), self.dtype)

    @property
    def T(self) -> CudaArray:
        return self.transpose()

    def astype(self, dtype: Any, copy: bool = True) -> CudaArray:
        dtype = np.dtype(dtype)
        if dtype == self.dtype and not copy:
            return self
        return _copy_strided(self, self.shape, _contiguous_strides(self.shape), dtype)

    def copy(self) -> CudaArray:
        return self.astype(self.dtype)

    def sum(self, axis: Any = None, keepdims: bool = False) -> CudaArray:
        return _reduce("sum", self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> CudaArray:
        return _reduce("max", self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> CudaArray:
        total = self.sum(axis, keepdims)
        return total * (total.size / self.size)

    # -------------------------------------------------------------------- operators
    def __add__(self, other: Any) -> CudaArray:
        return _binary("add", self, other)

    def __radd__(self, other: Any) -> CudaArray:
        return _binary("add", other, self)

    def __sub__(self, other: Any) -> CudaArray:
        return _binary("sub", self, other)

    def __rsub__(self, other: Any) -> CudaArray:
        return _binary("sub", other, self)

    def __mul__(self, other: Any) -> CudaArray:
        return _binary("mul", self, other)

    def __rmul__(self, other: Any) -> CudaArray:
        return _binary("mul", other, self)

    def __truediv__(self, other: Any) -> CudaArray:
        return _binary("div", self, other)

    def __rtruediv__(self, other: Any) -> CudaArray:
        return _binary("div", other, self)

    def __pow__(self, other: Any) -> CudaArray:
        return _binary("pow", self, other)

    def __rpow__(self, other: Any) -> CudaArray:
        return _binary("pow", other, self)

    def __neg__(self) -> CudaArray:
        return _unary("neg", self)

    def __matmul__(self, other: CudaArray) -> CudaArray:
        return matmul(self, other)

    def __gt__(self, other: Any) -> CudaArray:  # type: ignore[override]
        return _binary("greater", self, other)

    def __ge__(self, other: Any) -> CudaArray:  # type: ignore[override]
        return _binary("greater_equal", self, other)

    def __lt__(self, other: Any) -> CudaArray:  # type: ignore[override]
        return _binary("greater", other, self)

    def __le__(self, other: Any) -> CudaArray:  # type: ignore[override]
        return _binary("greater_equal", other, self)

    def __eq__(self, other: Any) -> CudaArray:  # type: ignore[override]
        return _binary("equal", self, other)

    def __and__(self, other: Any) -> CudaArray:  # masks are 0/1 values
        return _binary("mul", self, other)

    __hash__ = None  # type: ignore[assignment]


def empty(shape: tuple[int, ...], dtype: Any) -> CudaArray:
    """An uninitialized device array (from the buffer pool when one of its size is free)."""
    dtype = np.dtype(dtype)
    return CudaArray(_Buffer(math.prod(shape), dtype), shape)


def asarray(value: Any, dtype: Any = None) -> CudaArray:
    """``value`` (a NumPy array, a scalar or a CudaArray) on the GPU."""
    if isinstance(value, CudaArray):
        return value if dtype is None else value.astype(dtype, copy=False)
    host = np.asarray(value, dtype=dtype, order="C")
    out = empty(host.shape, host.dtype)
    if host.size:
        out.flat.copy_to_device(host.reshape(-1))
    return out


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy copy of a device array (a NumPy array is returned as it is)."""
    if not isinstance(array, CudaArray):
        return np.asarray(array)
    if array.size == 0:
        return np.empty(array.shape, array.dtype)
    return array.flat.copy_to_host().reshape(array.shape)


def zeros(shape: tuple[int, ...], dtype: Any = np.float32) -> CudaArray:
    out = empty(tuple(shape), dtype)
    _launch(_fill, out.size)(out.flat, out.dtype.type(0))
    return out


def zeros_like(array: CudaArray) -> CudaArray:
    return zeros(array.shape, array.dtype)


def ones_like(array: CudaArray) -> CudaArray:
    out = empty(array.shape, array.dtype)
    _launch(_fill, out.size)(out.flat, out.dtype.type(1))
    return out


def copy(array: CudaArray) -> CudaArray:
    return array.copy()


def _launch(kernel: Any, work: int) -> Any:
    """``kernel`` configured for a grid-stride loop over ``work`` items."""
    blocks = max(1, min(MAX_BLOCKS, -(-work // THREADS)))
    return kernel[blocks, THREADS]


@cuda.jit
def _fill(out, value):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = value


# ------------------------------------------------------- elementwise, with broadcasting
def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


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


def _offset(i, shape, strides):  # the flat input offset of flat output index i
    offset = 0
    for d in range(MAX_DIMS - 1, -1, -1):
        k = i % shape[d]
        i //= shape[d]
        offset += k * strides[d]
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
}
COMPARISONS = ("greater", "greater_equal", "equal")


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


UNARY = {
    "identity": _identity,
    "neg": _neg,
    "exp": _exp,
    "log": _log,
    "tanh": _tanh,
    "abs": _abs,
    "sqrt": _sqrt,
}


@cache
def _binary_kernels(name: str) -> tuple[Any, Any]:
    """(array op array, array op scalar) kernels for the binary function ``name``."""
    fn = cuda.jit(device=True)(BINARY[name])

    @cuda.jit
    def arrays(out, a, a_strides, b, b_strides, shape):
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            out[i] = fn(
                a[_offset_device(i, shape, a_strides)], b[_offset_device(i, shape, b_strides)]
            )

    @cuda.jit
    def with_scalar(out, a, a_strides, scalar, scalar_first, shape):
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            value = a[_offset_device(i, shape, a_strides)]
            out[i] = fn(scalar, value) if scalar_first else fn(value, scalar)

    return arrays, with_scalar


@cache
def _unary_kernel(name: str) -> Any:
    fn = cuda.jit(device=True)(UNARY[name])

    @cuda.jit
    def kernel(out, a, a_strides, shape):
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            out[i] = fn(a[_offset_device(i, shape, a_strides)])

    return kernel


def _result_dtype(name: str, dtype: np.dtype) -> np.dtype:
    if name in COMPARISONS and dtype.kind != "f":
        return np.dtype(np.float32)
    return dtype


def _binary(name: str, a: Any, b: Any) -> CudaArray:
    arrays, with_scalar = _binary_kernels(name)
    if isinstance(a, CudaArray) and isinstance(b, CudaArray):
        if a.dtype != b.dtype:
            raise TypeError(f"cuda {name}: dtypes differ ({a.dtype} and {b.dtype})")
        shape = np.broadcast_shapes(a.shape, b.shape)
        out = empty(shape, _result_dtype(name, a.dtype))
        if out.size:
            a_strides = _broadcast_strides(a.shape, shape)
            b_strides = _broadcast_strides(b.shape, shape)
            _launch(arrays, out.size)(
                out.flat, a.flat, a_strides, b.flat, b_strides, _padded(shape, 1)
            )
        return out
    scalar_first = not isinstance(a, CudaArray)
    array, scalar = (b, a) if scalar_first else (a, b)
    if isinstance(scalar, np.ndarray):
        if scalar.ndim:
            raise TypeError(f"cuda {name}: a NumPy array and a CudaArray cannot be mixed")
        scalar = scalar.item()
    out = empty(array.shape, _result_dtype(name, array.dtype))
    if out.size:
        strides = _broadcast_strides(array.shape, array.shape)
        _launch(with_scalar, out.size)(
            out.flat, array.flat, strides, array.dtype.type(scalar), scalar_first,
            _padded(array.shape, 1),
        )  # fmt: skip
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
        _launch(_unary_kernel(fn), out.size)(
            out.flat, a.flat, _padded(strides, 0), _padded(out_shape, 1)
        )
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


def maximum(a: Any, b: Any) -> CudaArray:
    return _binary("maximum", a, b)


def minimum(a: Any, b: Any) -> CudaArray:
    return _binary("minimum", a, b)


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


# ------------------------------------------------------------------------- reductions
def _normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    return tuple(sorted(int(a) % ndim for a in axes))


@cache
def _block_reduce(name: str) -> Any:
    """A device function ``(partial, value) -> combined`` that combines (``name``: sum or max)
    the ``value`` of every thread of a one-dimensional block of REDUCE_THREADS threads, in a
    fixed order, through the shared array ``partial``; every thread gets the result."""
    combine = cuda.jit(device=True)(_add if name == "sum" else _maximum)

    @cuda.jit(device=True)
    def block_reduce(partial, value):
        t = cuda.threadIdx.x
        partial[t] = value
        cuda.syncthreads()
        step = REDUCE_THREADS // 2
        while step > 0:
            if t < step:
                partial[t] = combine(partial[t], partial[t + step])
            cuda.syncthreads()
            step //= 2
        result = partial[0]
        cuda.syncthreads()  # every thread has read it: ``partial`` may be reused
        return result

    return block_reduce


_block_sum = _block_reduce("sum")


@cache
def _reduce_kernel(name: str, dtype: str) -> Any:
    combine = cuda.jit(device=True)(_add if name == "sum" else _maximum)
    block_reduce = _block_reduce(name)
    item = numba.from_dtype(np.dtype(dtype))

    @cuda.jit
    def kernel(out, a, kept_shape, kept_strides, reduced_shape, reduced_strides, count, init):
        # One block per output element; its threads stride over the reduced elements and
        # combine their partial results in shared memory.
        partial = cuda.shared.array(REDUCE_THREADS, item)
        t = cuda.threadIdx.x
        for o in range(cuda.blockIdx.x, out.size, cuda.gridDim.x):
            base = _offset_device(o, kept_shape, kept_strides)
            acc = init
            for r in range(t, count, REDUCE_THREADS):
                acc = combine(acc, a[base + _offset_device(r, reduced_shape, reduced_strides)])
            acc = block_reduce(partial, acc)
            if t == 0:
                out[o] = acc

    return kernel


def _reduce(name: str, a: CudaArray, axis: Any, keepdims: bool) -> CudaArray:
    axes = _normalize_axes(axis, a.ndim)
    strides = _contiguous_strides(a.shape)
    kept = [d for d in range(a.ndim) if d not in axes]
    out_shape = tuple(1 if d in axes else n for d, n in enumerate(a.shape))
    if not keepdims:
        out_shape = tuple(a.shape[d] for d in kept)
    count = math.prod(a.shape[d] for d in axes)
    if name == "max" and count == 0:
        raise ValueError("zero-size array to reduction operation max which has no identity")
    out = empty(out_shape, a.dtype)
    if out.size:
        init = a.dtype.type(0 if name == "sum" else -np.inf)
        kernel = _reduce_kernel(name, a.dtype.str)
        blocks = max(1, min(out.size, REDUCE_BLOCKS))
        kept_shape = _padded(tuple(a.shape[d] for d in kept), 1)
        kept_strides = _padded(tuple(strides[d] for d in kept), 0)
        reduced_shape = _padded(tuple(a.shape[d] for d in axes), 1)
        reduced_strides = _padded(tuple(strides[d] for d in axes), 0)
        kernel[blocks, REDUCE_THREADS](
            out.flat, a.flat, kept_shape, kept_strides, reduced_shape, reduced_strides, count, init
        )
    return out


@cuda.jit(device=True)
def _argmax_row(a, base, columns):
    """The column of the first maximum of a[base : base + columns] (a NaN counts as the
    largest, as in NumPy)."""
    best = 0
    for c in range(1, columns):
        value, top = a[base + c], a[base + best]
        if value > top or (value != value and top == top):
            best = c
    return best


@cuda.jit
def _argmax_rows(a, columns, out):
    for row in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[row] = _argmax_row(a, row * columns, columns)


def argmax(a: CudaArray, axis: int = -1) -> CudaArray:
    """Index of the first maximum along the last axis (int32)."""
    if axis not in (-1, a.ndim - 1):
        raise ValueError("cuda argmax works along the last axis only")
    out = empty(a.shape[:-1], np.int32)
    if out.size:
        _launch(_argmax_rows, out.size)(a.flat, a.shape[-1], out.flat)
    return out


@cuda.jit
def _count_correct(scores, target, columns, one_hot, count):
    # One block; its threads take the rows in turn and the block adds up their hits.
    partial = cuda.shared.array(REDUCE_THREADS, numba.int32)
    hits = 0
    for row in range(cuda.threadIdx.x, scores.size // columns, REDUCE_THREADS):
        truth = _argmax_row(target, row * columns, columns) if one_hot else int(target[row])
        hits += _argmax_row(scores, row * columns, columns) == truth
    total = _block_sum(partial, hits)
    if cuda.threadIdx.x == 0:
        count[0] = total


def count_correct(scores: CudaArray, target: CudaArray) -> CudaArray:
    """How many rows of ``scores`` (N..., C) are largest at the true class (a 0-d int32
    array): ``target`` holds class labels (N...) or rows (N..., C) whose largest entry is
    the class. One launch."""
    count = empty((), np.int32)
    _count_correct[1, REDUCE_THREADS](
        scores.flat, target.flat, scores.shape[-1], target.ndim == scores.ndim, count.flat
    )
    return count


# ----------------------------------------------------------------------- matrix product
@cache
def _matmul_kernel(dtype: str) -> Any:
    item = numba.from_dtype(np.dtype(dtype))

    @cuda.jit
    def kernel(a, a_batch, a_rows, a_cols, b, b_batch, b_rows, b_cols, out, m, n, k, chunk, zero):
        # Shared-memory tiles of A (BLOCK x TILE_K) and B (TILE_K x BLOCK); each thread keeps a
        # PER_THREAD x PER_THREAD block of the output in registers. Grid axis z is the batch,
        # or, when ``chunk`` < k, the slice [z*chunk, (z+1)*chunk) of the contracted axis.
        tile_a = cuda.shared.array((TILE_K, BLOCK), item)
        tile_b = cuda.shared.array((TILE_K, BLOCK), item)
        acc = cuda.local.array((PER_THREAD, PER_THREAD), item)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        thread, threads = ty * SIDE + tx, SIDE * SIDE
        row0, col0, z = cuda.blockIdx.y * BLOCK, cuda.blockIdx.x * BLOCK, cuda.blockIdx.z
        a_base, b_base = z * a_batch, z * b_batch
        k_begin = z * chunk if chunk < k else 0
        k_end = min(k, k_begin + chunk)
        for r in range(PER_THREAD):
            for c in range(PER_THREAD):
                acc[r, c] = zero
        for k0 in range(k_begin, k_end, TILE_K):
            for e in range(thread, TILE_K * BLOCK, threads):
                kk, rr = e // BLOCK, e % BLOCK
                value = zero
                if row0 + rr < m and k0 + kk < k_end:
                    value = a[a_base + (row0 + rr) * a_rows + (k0 + kk) * a_cols]
                tile_a[kk, rr] = value
                value = zero
                if col0 + rr < n and k0 + kk < k_end:
                    value = b[b_base + (k0 + kk) * b_rows + (col0 + rr) * b_cols]
                tile_b[kk, rr] = value
            cuda.syncthreads()
            for kk in range(TILE_K):
                for r in range(PER_THREAD):
                    left = tile_a[kk, ty + r * SIDE]
                    for c in range(PER_THREAD):
                        acc[r, c] += left * tile_b[kk, tx + c * SIDE]
            cuda.syncthreads()
        for r in range(PER_THREAD):
            row = row0 + ty + r * SIDE
            for c in range(PER_THREAD):
                col = col0 + tx + c * SIDE
                if row < m and col < n:
                    out[z * m * n + row * n + col] = acc[r, c]

    return kernel


def matmul(
    a: CudaArray, b: CudaArray, transpose_a: bool = False, transpose_b: bool = False
) -> CudaArray:
    """``a @ b`` for operands of 2 or more dims (leading axes broadcast); ``transpose_a`` /
    ``transpose_b`` swap an operand's last two axes for free (the kernel reads it strided)."""
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError("cuda matmul needs operands of at least 2 dims")
    if a.dtype != b.dtype:
        raise TypeError(f"cuda matmul: dtypes differ ({a.dtype} and {b.dtype})")
    m, k = (a.shape[-1], a.shape[-2]) if transpose_a else a.shape[-2:]
    k_b, n = (b.shape[-1], b.shape[-2]) if transpose_b else b.shape[-2:]
    if k != k_b:
        raise ValueError(f"cuda matmul: shapes {a.shape} and {b.shape} do not align")
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if a.shape[:-2] != batch:
        a = broadcast_to(a, batch + a.shape[-2:])
    if b.shape[:-2] != batch:
        b = broadcast_to(b, batch + b.shape[-2:])
    batches = math.prod(batch)
    out = empty((*batch, m, n), a.dtype)
    if out.size == 0:
        return out
    if k == 0:
        return zeros(out.shape, a.dtype)
    a_rows, a_cols = (1, m) if transpose_a else (k, 1)
    b_rows, b_cols = (1, k) if transpose_b else (n, 1)
    tiles = -(-n // BLOCK) * -(-m // BLOCK)
    splits = 1
    if batches == 1 and tiles < SPLIT_K:
        splits = max(1, min(SPLIT_K // tiles, k // SPLIT_K_MIN_CHUNK))
    chunk = -(-k // splits)
    parts = out if splits == 1 else empty((splits, m, n), a.dtype)
    grid = (-(-n // BLOCK), -(-m // BLOCK), max(batches, splits))
    _matmul_kernel(a.dtype.str)[grid, (SIDE, SIDE)](
        a.flat, m * k if batches > 1 else 0, a_rows, a_cols,
        b.flat, k * n if batches > 1 else 0, b_rows, b_cols,
        parts.flat, m, n, k, chunk, a.dtype.type(0),
    )  # fmt: skip
    return out if splits == 1 else parts.sum(axis=0).reshape(out.shape)


# ------------------------------------------------------------------------ indexing
def _positions(shape: tuple[int, ...], index: Any) -> np.ndarray:
    """The flat positions ``array[index]`` reads, in the result's shape (host-side)."""
    return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)[index]


@cuda.jit
def _gather(source, positions, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = source[positions[i]]


@cuda.jit
def _scatter_add(values, positions, out):
    for i in range(cuda.grid(1), values.size, cuda.gridsize(1)):
        cuda.atomic.add(out, positions[i], values[i])


def getitem(a: CudaArray, index: Any) -> CudaArray:
    """``a[index]`` (any NumPy basic or integer-array index), as a contiguous copy."""
    positions = _positions(a.shape, index)
    out = empty(positions.shape, a.dtype)
    if out.size:
        _launch(_gather, out.size)(a.flat, asarray(positions).flat, out.flat)
    return out


def scatter_add(grad: CudaArray, shape: tuple[int, ...], index: Any) -> CudaArray:
    """Zeros of ``shape`` with ``grad`` added at ``[index]`` (repeated positions accumulate)."""
    positions = _positions(shape, index)
    out = zeros(shape, grad.dtype)
    if positions.size:
        _launch(_scatter_add, positions.size)(
            grad.flat, asarray(positions.reshape(-1)).flat, out.flat
        )
    return out


@cuda.jit
def _take_rows(source, row_size, rows, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        r = i // row_size
        out[i] = source[rows[r] * row_size + i - r * row_size]


def take(a: CudaArray, rows: CudaArray) -> CudaArray:
    """``a[rows]`` for a 1-D device array of row numbers (int32/int64): batches from a
    dataset that stays on the GPU."""
    row_size = math.prod(a.shape[1:])
    out = empty((len(rows), *a.shape[1:]), a.dtype)
    if out.size:
        _launch(_take_rows, out.size)(a.flat, row_size, rows.flat, out.flat)
    return out


@cuda.jit
def _one_hot(labels, classes, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        row = i // classes
        out[i] = 1 if int(labels[row]) == i - row * classes else 0


def one_hot(labels: CudaArray, num_classes: int, dtype: Any) -> CudaArray:
    """Rows of ``num_classes`` with a 1 at each label (labels checked by the caller)."""
    out = empty((*labels.shape, num_classes), dtype)
    if out.size:
        _launch(_one_hot, out.size)(labels.flat, num_classes, out.flat)
    return out


# ------------------------------------------------------------- random numbers (dropout)
@cache
def _uniform_kernel(dtype: str) -> Any:
    item = numba.from_dtype(np.dtype(dtype))

    @cuda.jit
    def kernel(seed, out):
        # Counter-based: element i gets splitmix64(seed + i * golden), so the numbers do not
        # depend on the launch shape and need no per-thread state.
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            z = numba.uint64(seed) + numba.uint64(i) * numba.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> numba.uint64(30))) * numba.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> numba.uint64(27))) * numba.uint64(0x94D049BB133111EB)
            z = z ^ (z >> numba.uint64(31))
            out[i] = item(z >> numba.uint64(40)) * item(1.0 / 16777216.0)  # 24 bits in [0, 1)

    return kernel


def random_uniform(shape: tuple[int, ...], dtype: Any, rng: np.random.Generator) -> CudaArray:
    """Uniform [0, 1) numbers drawn on the GPU; the seed comes from ``rng`` (host, no sync)."""
    out = empty(tuple(shape), dtype)
    if out.size:
        _launch(_uniform_kernel(out.dtype.str), out.size)(np.uint64(rng.integers(2**63)), out.flat)
    return out


# ------------------------------------------------------- convolution and pooling kernels
@cuda.jit
def _im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, cols, zero):
    _, height, width, channels = x.shape
    columns = kh * kw * channels
    for e in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        row, q = e // columns, e % columns
        n, pixel = row // (oh * ow), row % (oh * ow)
        i, j = pixel // ow, pixel % ow
        a, rest = q // (kw * channels), q % (kw * channels)
        b, c = rest // channels, rest % channels
        y, xx = i * sh - pt + a * dh, j * sw - pl + b * dw
        value = zero
        if 0 <= y < height and 0 <= xx < width:
            value = x[n, y, xx, c]
        cols[row, q] = value


@cuda.jit
def _col2im(cols, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, grad_x, zero):
    # One thread per input cell gathers every column entry read from it: no atomics, and the
    # same sum order every run.
    _, height, width, channels = grad_x.shape
    for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
        c = e % channels
        xx = (e // channels) % width
        y = (e // (channels * width)) % height
        n = e // (channels * width * height)
        total = zero
        for a in range(kh):
            ti = y + pt - a * dh
            if ti < 0 or ti % sh != 0 or ti // sh >= oh:
                continue
            for b in range(kw):
                tj = xx + pl - b * dw
                if tj < 0 or tj % sw != 0 or tj // sw >= ow:
                    continue
                row = (n * oh + ti // sh) * ow + tj // sw
                total += cols[row, (a * kw + b) * channels + c]
        grad_x[n, y, xx, c] = total


@cuda.jit(device=True)
def _activated(value, relu, zero):
    """max(value, 0) if relu (NaN stays NaN, as np.maximum), else value."""
    return value if not relu or value > 0 or value != value else zero


@cuda.jit
def _bias_relu(out, bias, relu, zero):
    columns = bias.size
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        value = out[e // columns, e % columns] + bias[e % columns]
        out[e // columns, e % columns] = _activated(value, relu, zero)


@cuda.jit
def _relu_mask(grad, out, masked, zero):
    for e in range(cuda.grid(1), grad.size, cuda.gridsize(1)):
        masked[e] = grad[e] if out[e] > 0 else zero


@cuda.jit
def _max_pool_forward(x, bias, relu, zero, kh, kw, sh, sw, pt, pl, out, argmax):
    # Pools x, then applies + bias and max(., 0) (if relu) to the maximum: the same values as
    # pooling max(x + bias, 0) (both are monotonic), and the same winners as on the CPU.
    _, height, width, channels = x.shape
    _, oh, ow, _ = out.shape
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        c = e % channels
        j = (e // channels) % ow
        i = (e // (channels * ow)) % oh
        n = e // (channels * ow * oh)
        y_lo, x_lo = max(i * sh - pt, 0), max(j * sw - pl, 0)
        y_hi, x_hi = min(i * sh - pt + kh, height), min(j * sw - pl + kw, width)
        best = x[n, y_lo, x_lo, c]
        where = (y_lo * width + x_lo) * channels + c
        for y in range(y_lo, y_hi):
            for xx in range(x_lo, x_hi):
                value = x[n, y, xx, c]
                if value > best or (value != value and best == best):  # first max; NaN wins
                    best, where = value, (y * width + xx) * channels + c
        out[n, i, j, c] = _activated(best + bias[c], relu, zero)
        argmax[n, i, j, c] = where


@cuda.jit
def _max_pool_backward(grad_out, argmax, kh, kw, sh, sw, pt, pl, grad_x, zero):
    # Each input cell sums the gradients of the windows whose winner it was (a gather).
    _, height, width, channels = grad_x.shape
    _, oh, ow, _ = grad_out.shape
    for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
        c = e % channels
        xx = (e // channels) % width
        y = (e // (channels * width)) % height
        n = e // (channels * width * height)
        me = (y * width + xx) * channels + c
        total = zero
        for i in range(max(0, (y + pt - kh) // sh + 1), min(oh, (y + pt) // sh + 1)):
            for j in range(max(0, (xx + pl - kw) // sw + 1), min(ow, (xx + pl) // sw + 1)):
                if argmax[n, i, j, c] == me:
                    total += grad_out[n, i, j, c]
        grad_x[n, y, xx, c] = total


@cache
def _avg_pool_kernels(dtype: str) -> tuple[Any, Any]:
    """(forward, backward) average-pool kernels for ``dtype``; cell counts are cast to it."""
    item = numba.from_dtype(np.dtype(dtype))

    @cuda.jit
    def forward(x, kh, kw, sh, sw, pt, pl, out):
        _, height, width, channels = x.shape
        _, oh, ow, _ = out.shape
        for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            c = e % channels
            j = (e // channels) % ow
            i = (e // (channels * ow)) % oh
            n = e // (channels * ow * oh)
            y_lo, x_lo = max(i * sh - pt, 0), max(j * sw - pl, 0)
            y_hi, x_hi = min(i * sh - pt + kh, height), min(j * sw - pl + kw, width)
            total = item(0)
            for y in range(y_lo, y_hi):
                for xx in range(x_lo, x_hi):
                    total += x[n, y, xx, c]
            out[n, i, j, c] = total / item((y_hi - y_lo) * (x_hi - x_lo))

    @cuda.jit
    def backward(grad_out, kh, kw, sh, sw, pt, pl, grad_x):
        # Each input cell gathers the share of every window that averaged it.
        _, height, width, channels = grad_x.shape
        _, oh, ow, _ = grad_out.shape
        for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
            c = e % channels
            xx = (e // channels) % width
            y = (e // (channels * width)) % height
            n = e // (channels * width * height)
            total = item(0)
            for i in range(max(0, (y + pt - kh) // sh + 1), min(oh, (y + pt) // sh + 1)):
                rows = min(i * sh - pt + kh, height) - max(i * sh - pt, 0)
                for j in range(max(0, (xx + pl - kw) // sw + 1), min(ow, (xx + pl) // sw + 1)):
                    cells = rows * (min(j * sw - pl + kw, width) - max(j * sw - pl, 0))
                    total += grad_out[n, i, j, c] / item(cells)
            grad_x[n, y, xx, c] = total

    return forward, backward


def _geometry(win: Window) -> tuple[int, ...]:
    (kh, kw), (sh, sw), (dh, dw) = win.kernel, win.stride, win.dilation
    return kh, kw, sh, sw, dh, dw, win.pad_top, win.pad_left, win.out[0], win.out[1]


def im2col(x: CudaArray, win: Window) -> CudaArray:
    """(N, H, W, C) -> (N*OH*OW, KH*KW*C): one row per output pixel, its window unrolled."""
    n, channels = x.shape[0], x.shape[3]
    cols = empty((n * win.out[0] * win.out[1], win.kernel[0] * win.kernel[1] * channels), x.dtype)
    _launch(_im2col, cols.size)(x.nd, *_geometry(win), cols.nd, x.dtype.type(0))
    return cols


def col2im(cols: CudaArray, x_shape: tuple[int, ...], win: Window) -> CudaArray:
    """The adjoint of :func:`im2col`: each input cell sums the entries read from it."""
    grad_x = empty(x_shape, cols.dtype)
    _launch(_col2im, grad_x.size)(cols.nd, *_geometry(win), grad_x.nd, cols.dtype.type(0))
    return grad_x


def bias_relu(out: CudaArray, bias: CudaArray | None, relu: bool) -> CudaArray:
    """In place on a (rows, C) product: add the per-column bias, then max(., 0) if ``relu``."""
    if bias is None:
        bias = zeros((out.shape[1],), out.dtype)
    _launch(_bias_relu, out.size)(out.nd, bias.flat, relu, out.dtype.type(0))
    return out


def relu_grad_and_column_sums(grad: CudaArray, out: CudaArray) -> tuple[CudaArray, CudaArray]:
    """The gradient through a ReLU whose output was ``out`` (rows, C), and its column sums."""
    masked = empty(grad.shape, grad.dtype)
    _launch(_relu_mask, grad.size)(grad.flat, out.flat, masked.flat, grad.dtype.type(0))
    return masked, masked.sum(axis=0)


def max_pool_forward(
    x: CudaArray, win: Window, bias: CudaArray | None = None, relu: bool = False
) -> tuple[CudaArray, CudaArray]:
    """Window maxima (N, OH, OW, C) of x + bias, through max(., 0) if ``relu``, and each one's
    flat offset (y*W + x)*C + c in its image."""
    out = empty((x.shape[0], *win.out, x.shape[3]), x.dtype)
    argmax = empty(out.shape, np.int32)
    if bias is None:
        bias = zeros((x.shape[3],), x.dtype)
    kh, kw, sh, sw, _, _, pt, pl, _, _ = _geometry(win)
    _launch(_max_pool_forward, out.size)(
        x.nd, bias.flat, relu, x.dtype.type(0), kh, kw, sh, sw, pt, pl, out.nd, argmax.nd
    )
    return out, argmax


def max_pool_backward(
    grad_out: CudaArray, argmax: CudaArray, x_shape: tuple[int, ...], win: Window
) -> CudaArray:
    """Route each output gradient to the input cell that won its window."""
    grad_x = empty(x_shape, grad_out.dtype)
    kh, kw, sh, sw, _, _, pt, pl, _, _ = _geometry(win)
    _launch(_max_pool_backward, grad_x.size)(
        grad_out.nd, argmax.nd, kh, kw, sh, sw, pt, pl, grad_x.nd, grad_out.dtype.type(0)
    )
    return grad_x


def avg_pool_forward(x: CudaArray, win: Window) -> CudaArray:
    """Window means over the cells inside the image (N, OH, OW, C)."""
    out = empty((x.shape[0], *win.out, x.shape[3]), x.dtype)
    kh, kw, sh, sw, _, _, pt, pl, _, _ = _geometry(win)
    _launch(_avg_pool_kernels(x.dtype.str)[0], out.size)(x.nd, kh, kw, sh, sw, pt, pl, out.nd)
    return out


def avg_pool_backward(grad_out: CudaArray, x_shape: tuple[int, ...], win: Window) -> CudaArray:
    """Spread each output gradient evenly over the cells its window averaged."""
    grad_x = empty(x_shape, grad_out.dtype)
    kh, kw, sh, sw, _, _, pt, pl, _, _ = _geometry(win)
    backward = _avg_pool_kernels(grad_out.dtype.str)[1]
    _launch(backward, grad_x.size)(grad_out.nd, kh, kw, sh, sw, pt, pl, grad_x.nd)
    return grad_x


# ------------------------------------------------------------- softmax and cross-entropy
@cuda.jit(device=True)
def _log_softmax_row(x, base, columns, out, zero):
    """out[base : base + columns] = log(softmax(x[base : base + columns])), stable."""
    top = x[base]
    for c in range(1, columns):
        top = max(top, x[base + c])
    total = zero
    for c in range(columns):
        total += math.exp(x[base + c] - top)
    shift = top + math.log(total)
    for c in range(columns):
        out[base + c] = x[base + c] - shift


@cuda.jit
def _log_softmax_rows(x, columns, out, zero):
    for row in range(cuda.grid(1), x.size // columns, cuda.gridsize(1)):
        _log_softmax_row(x, row * columns, columns, out, zero)


@cache
def _softmax_cross_entropy_kernel(dtype: str) -> Any:
    item = numba.from_dtype(np.dtype(dtype))

    @cuda.jit
    def kernel(logits, target, columns, rows, log_probs, loss):
        # One block: its threads take the rows in turn (log-softmax, then the row's loss), and
        # the block adds up the losses in a fixed order, so the mean is the same every run.
        partial = cuda.shared.array(REDUCE_THREADS, item)
        total = item(0)
        for row in range(cuda.threadIdx.x, rows, REDUCE_THREADS):
            base = row * columns
            _log_softmax_row(logits, base, columns, log_probs, item(0))
            for c in range(columns):
                total -= target[base + c] * log_probs[base + c]
        total = _block_sum(partial, total)
        if cuda.threadIdx.x == 0:
            loss[0] = total / item(rows)

    return kernel


@cuda.jit
def _softmax_cross_entropy_grad_rows(log_probs, target, columns, grad_loss, rows, grad, zero):
    scale = grad_loss[0] / rows
    for row in range(cuda.grid(1), log_probs.size // columns, cuda.gridsize(1)):
        base = row * columns
        mass = zero
        for c in range(columns):
            mass += target[base + c]
        for c in range(columns):
            grad[base + c] = (math.exp(log_probs[base + c]) * mass - target[base + c]) * scale


def log_softmax(x: CudaArray) -> CudaArray:
    """log(softmax(x)) along the last axis, stable (one thread per row)."""
    out = empty(x.shape, x.dtype)
    if out.size:
        _launch(_log_softmax_rows, out.size // x.shape[-1])(
            x.flat, x.shape[-1], out.flat, x.dtype.type(0)
        )
    return out


def softmax_cross_entropy(logits: CudaArray, target: CudaArray) -> tuple[CudaArray, CudaArray]:
    """(log_softmax(logits), the mean over rows of -sum(target * log_softmax), 0-d): logits
    and target (N..., C). One launch of one block (a batch has few rows)."""
    log_probs, loss = empty(logits.shape, logits.dtype), empty((), logits.dtype)
    rows = logits.size // logits.shape[-1] if logits.shape[-1] else 0
    _softmax_cross_entropy_kernel(logits.dtype.str)[1, REDUCE_THREADS](
        logits.flat, target.flat, logits.shape[-1], rows, log_probs.flat, loss.flat
    )
    return log_probs, loss


def softmax_cross_entropy_grad(
    log_probs: CudaArray, target: CudaArray, grad_loss: CudaArray
) -> CudaArray:
    """The gradient of :func:`softmax_cross_entropy`'s mean loss with respect to the logits,
    times ``grad_loss`` (0-d, read on the device): (softmax * sum(target) - target) *
    grad_loss / rows. One launch."""
    grad = empty(log_probs.shape, log_probs.dtype)
    rows = log_probs.size // log_probs.shape[-1] if log_probs.shape[-1] else 0
    if grad.size:
        _launch(_softmax_cross_entropy_grad_rows, rows)(
            log_probs.flat, target.flat, log_probs.shape[-1], grad_loss.flat,
            log_probs.dtype.type(rows), grad.flat, log_probs.dtype.type(0),
        )  # fmt: skip
    return grad


# ------------------------------------------------------------------ optimizer updates
# The rules of ``rules.py``, one thread per element. Scalars arrive in the parameter's dtype.
# Each update reads ``status`` (see the training helpers below) and does nothing once a step has
# gone non-finite, so the weights of the last good step are kept without a host round-trip.
sgd_rule, rmsprop_rule, adam_rule = (
    cuda.jit(device=True)(rule) for rule in (rules.sgd, rules.rmsprop, rules.adam)
)


@cuda.jit
def _sgd(value, grad, velocity, lr, momentum, nesterov, status):
    if status[0] != 0:
        return
    for i in range(cuda.grid(1), value.size, cuda.gridsize(1)):
        value[i], v = sgd_rule(value[i], grad[i], velocity[i], lr, momentum, nesterov)
        if momentum != 0:
            velocity[i] = v


@cuda.jit
def _rmsprop(
    value, grad, velocity, momentum_slot, lr, rho, one_minus_rho, momentum, epsilon, status
):
    if status[0] != 0:
        return
    for i in range(cuda.grid(1), value.size, cuda.gridsize(1)):
        value[i], velocity[i], step = rmsprop_rule(
            value[i], grad[i], velocity[i], momentum_slot[i], lr, rho, one_minus_rho,
            momentum, epsilon,
        )  # fmt: skip
        if momentum != 0:
            momentum_slot[i] = step


@cuda.jit
def _adam(value, grad, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon, status):
    if status[0] != 0:
        return
    for i in range(cuda.grid(1), value.size, cuda.gridsize(1)):
        value[i], m[i], v[i] = adam_rule(
            value[i], grad[i], m[i], v[i], alpha, one_minus_beta_1, one_minus_beta_2, epsilon
        )


def _scalars(dtype: np.dtype, *values: float) -> list[Any]:
    return [dtype.type(v) for v in values]


def sgd_update(value, grad, velocity, lr, momentum, nesterov, status) -> None:
    """value -= lr*g, or with momentum v = momentum*v - lr*g; value += v (Nesterov:
    momentum*v - lr*g), in place."""
    lr, momentum = _scalars(value.dtype, lr, momentum)
    velocity = value if velocity is None else velocity  # unused without momentum
    _launch(_sgd, value.size)(
        value.flat, grad.flat, velocity.flat, lr, momentum, nesterov, status.flat
    )


def rmsprop_update(
    value, grad, velocity, momentum_slot, lr, rho, momentum, epsilon, status
) -> None:
    """Keras's RMSprop step, in place."""
    scalars = _scalars(value.dtype, lr, rho, 1 - rho, momentum, epsilon)
    momentum_slot = velocity if momentum_slot is None else momentum_slot
    _launch(_rmsprop, value.size)(
        value.flat, grad.flat, velocity.flat, momentum_slot.flat, *scalars, status.flat
    )


def adam_update(value, grad, m, v, alpha, beta_1, beta_2, epsilon, status) -> None:
    """Keras's Adam step with alpha = lr*sqrt(1-b2^t)/(1-b1^t), in place."""
    scalars = _scalars(value.dtype, alpha, 1 - beta_1, 1 - beta_2, epsilon)
    _launch(_adam, value.size)(value.flat, grad.flat, m.flat, v.flat, *scalars, status.flat)


# ----------------------------------------------------------------- training helpers
# ``status`` is an int64 device array [code, step]: code 0 while every step was finite,
# 1 when a loss, 2 when a gradient went non-finite at ``step`` (the first such step).
@cuda.jit
def _check_finite(values, code, step, status):
    for i in range(cuda.grid(1), values.size, cuda.gridsize(1)):
        value = values[i]
        if status[0] == 0 and (value != value or value - value != 0):
            status[0] = code  # every thread that writes writes the same values
            status[1] = step


@cuda.jit
def _accumulate(totals, loss, correct, count, status):
    if cuda.grid(1) == 0 and status[0] == 0:
        totals[0] += loss[0] * count
        totals[1] += correct[0]
        totals[2] += count


def new_status() -> CudaArray:
    return zeros((2,), np.int64)


def check_finite(values: CudaArray, code: int, step: int, status: CudaArray) -> None:
    """Mark ``status`` with (code, step) if ``values`` hold a NaN or infinity and it is clean."""
    _launch(_check_finite, values.size)(values.flat, code, step, status.flat)


def accumulate(totals: CudaArray, loss: CudaArray, correct: CudaArray, count: int, status) -> None:
    """totals (float64 [loss*count, correct, count]) += this batch's, unless status is set."""
    _accumulate[1, 1](totals.flat, loss.flat, correct.flat, float(count), status.flat)
