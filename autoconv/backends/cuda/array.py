""":class:`CudaArray`, the GPU array the CUDA kernels work on, and the NumPy-like functions
the ops call on it: creation and transfer, elementwise maths with broadcasting, reductions,
the matrix product, indexing and random numbers (the names of
:mod:`autoconv.backends.cpu.array`).

A CudaArray supports the arithmetic operators and the methods the ops use (``sum``, ``max``,
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
  because every kernel runs in order on one stream, whichever thread launched it (numba-cuda's
  legacy default stream, shared by the host threads; ``NUMBA_CUDA_PER_THREAD_DEFAULT_STREAM``
  would break this across threads).
- Threads: the pool hands a buffer to one thread at a time (a lock), and kernels are launched
  one at a time (:class:`Launch`).
- Nothing here reads a value back to the host except :func:`to_numpy` (and ``float(a)``).
"""

from __future__ import annotations

import math
import threading
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda
from numba.cuda import device_array  # not cuda.device_array: see Launch

from autoconv.backends import bounds
from autoconv.backends.references import FREE, references

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
# Device allocations by (size, dtype), reused once no array uses them. The rule is the reference
# count (autoconv.backends.references), not a __del__ that returns the memory: a __del__ runs
# after the garbage collector has already run numba-cuda's finalizers for a cycle being torn
# down, so the memory it put back had been freed (on a real GPU: "weakly-referenced object no
# longer exists", and invalid-value copies).
_buffers: dict[tuple[int, str], list[_Buffer]] = {}


class _Buffer:
    """A flat device allocation of ``size`` elements; the arrays on it hold it."""

    __slots__ = ("flat", "key")

    def __init__(self, size: int, dtype: np.dtype) -> None:
        self.key = (size, dtype.str)
        self.flat = device_array(max(size, 1), dtype)


_pool_lock = threading.Lock()


def _buffer(size: int, dtype: np.dtype) -> _Buffer:
    """A free pooled allocation of ``size`` elements of ``dtype``, or a new pooled one. (The
    reference the caller gets back keeps it taken once the lock is let go.)"""
    with _pool_lock:
        pooled = _buffers.setdefault((size, dtype.str), [])
        for buffer in pooled:
            if references(buffer) <= FREE:
                return buffer
        buffer = _Buffer(size, dtype)
        pooled.append(buffer)
        return buffer


def empty_cache() -> None:
    """Free the pooled allocations that no array uses (they are reused otherwise)."""
    with _pool_lock:
        for key, pooled in list(_buffers.items()):
            kept = [buffer for buffer in pooled if references(buffer) > FREE]
            if kept:
                _buffers[key] = kept
            else:
                del _buffers[key]


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
    return CudaArray(_buffer(math.prod(shape), dtype), shape)


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
    launch(_fill, out.size)(out.flat, out.dtype.type(0))
    return out


def zeros_like(array: CudaArray) -> CudaArray:
    return zeros(array.shape, array.dtype)


def ones_like(array: CudaArray) -> CudaArray:
    out = empty(array.shape, array.dtype)
    launch(_fill, out.size)(out.flat, out.dtype.type(1))
    return out


def copy(array: CudaArray) -> CudaArray:
    return array.copy()


def launch(kernel: Any, work: int) -> Launch:
    """``kernel`` configured for a grid-stride loop over ``work`` items."""
    blocks = max(1, min(MAX_BLOCKS, -(-work // THREADS)))
    return configure(kernel, blocks, THREADS)


def configure(kernel: Any, grid: Any, block: Any) -> Launch:
    """``kernel`` on a grid of ``grid`` blocks of ``block`` threads, launched by calling it with
    the kernel's arguments; see :class:`Launch`."""
    return Launch(kernel, grid, block)


_launching = threading.Lock()


class Launch:
    """A kernel and its launch configuration: calling it with the kernel's arguments
    configures the kernel with ``grid`` and ``block`` and launches it, holding the process's one
    launch lock. Threads launch one at a time: numba-cuda's simulator keeps a launch's configuration
    on the kernel object itself and, while the kernel runs, rebinds every global name of the
    kernel's module that refers to ``numba.cuda`` to its in-kernel stand-in, so two launches
    at once break each other (and host code of these modules calls ``device_array`` and
    ``to_device`` by names of their own, never as ``cuda.``). On a GPU the lock costs nothing
    beside numba-cuda's launch, tens of microseconds of Python that hold the GIL anyway."""

    __slots__ = ("block", "grid", "kernel")

    def __init__(self, kernel: Any, grid: Any, block: Any) -> None:
        self.kernel, self.grid, self.block = kernel, grid, block

    def __call__(self, *args: Any) -> None:
        with _launching:
            self.kernel[self.grid, self.block](*args)


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
            launch(arrays, out.size)(
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
        launch(with_scalar, out.size)(
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
        launch(_unary_kernel(fn), out.size)(
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


block_sum = _block_reduce("sum")


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
        configure(kernel, blocks, REDUCE_THREADS)(
            out.flat, a.flat, kept_shape, kept_strides, reduced_shape, reduced_strides, count, init
        )
    return out


@cuda.jit(device=True)
def argmax_row(a, base, columns):
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
        out[row] = argmax_row(a, row * columns, columns)


def argmax(a: CudaArray, axis: int = -1) -> CudaArray:
    """Index of the first maximum along the last axis (int32)."""
    if axis not in (-1, a.ndim - 1):
        raise ValueError("cuda argmax works along the last axis only")
    out = empty(a.shape[:-1], np.int32)
    if out.size:
        launch(_argmax_rows, out.size)(a.flat, a.shape[-1], out.flat)
    return out


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
    configure(_matmul_kernel(a.dtype.str), grid, (SIDE, SIDE))(
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
        launch(_gather, out.size)(a.flat, asarray(positions).flat, out.flat)
    return out


def scatter_add(grad: CudaArray, shape: tuple[int, ...], index: Any) -> CudaArray:
    """Zeros of ``shape`` with ``grad`` added at ``[index]`` (repeated positions accumulate)."""
    positions = _positions(shape, index)
    out = zeros(shape, grad.dtype)
    if positions.size:
        launch(_scatter_add, positions.size)(
            grad.flat, asarray(positions.reshape(-1)).flat, out.flat
        )
    return out


@cuda.jit
def _take_rows(source, row_size, rows, out, fill):
    n_rows = source.size // row_size
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        r = i // row_size
        row = rows[r]
        if 0 <= row < n_rows:  # the guard of rows that stay on the device (see take)
            out[i] = source[row * row_size + i - r * row_size]
        else:
            out[i] = fill


def concatenate_rows(arrays: list[CudaArray]) -> CudaArray:
    """Arrays of one dtype and trailing shape joined along their first axis (a copy: each one
    device-to-device into its run of rows)."""
    first = arrays[0]
    if any(a.shape[1:] != first.shape[1:] or a.dtype != first.dtype for a in arrays):
        raise ValueError(f"concatenate_rows: arrays of shapes {[a.shape for a in arrays]} differ")
    out = empty((sum(len(a) for a in arrays), *first.shape[1:]), first.dtype)
    start = 0
    for a in arrays:
        if a.size:
            out[start : start + len(a)].flat.copy_to_device(a.flat)
        start += len(a)
    return out


def take(a: CudaArray, rows: Any) -> CudaArray:
    """``a[rows]`` for a 1-D array of row numbers (int32/int64) in [0, len(a)): batches from
    a dataset that stays on the GPU. Host rows are checked (a ValueError); device rows are not
    read back (that would wait for the GPU): the kernel never reads outside ``a`` and fills
    the row of an out-of-range number with NaN (0 for integer arrays), which training's
    finiteness check reports."""
    if not isinstance(rows, CudaArray):
        rows = np.asarray(rows)
        bounds.indices_in_range("take", "rows", rows, len(a))
        rows = asarray(rows.astype(np.int64, copy=False))
    row_size = math.prod(a.shape[1:])
    out = empty((len(rows), *a.shape[1:]), a.dtype)
    fill = a.dtype.type(np.nan if a.dtype.kind == "f" else 0)
    if out.size:
        launch(_take_rows, out.size)(a.flat, row_size, rows.flat, out.flat, fill)
    return out


@cuda.jit
def _one_hot(labels, classes, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        row = i // classes
        out[i] = 1 if int(labels[row]) == i - row * classes else 0


def one_hot(labels: CudaArray, num_classes: int, dtype: Any) -> CudaArray:
    """Rows of ``num_classes`` with a 1 at each label. A label is compared with each column,
    never used as an address: one outside [0, num_classes) gives a row of zeros (as Keras's
    ``one_hot`` does), with no read or write out of bounds."""
    out = empty((*labels.shape, num_classes), dtype)
    if out.size:
        launch(_one_hot, out.size)(labels.flat, num_classes, out.flat)
    return out


# ------------------------------------------------------------- random numbers (dropout)
@cuda.jit(device=True)
def _random_bits(seed, i):
    # Counter-based: draw i gets splitmix64(seed + i * golden), so the numbers do not depend on
    # the launch shape and need no per-thread state.
    z = numba.uint64(seed) + numba.uint64(i) * numba.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> numba.uint64(30))) * numba.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> numba.uint64(27))) * numba.uint64(0x94D049BB133111EB)
    return z ^ (z >> numba.uint64(31))


@cache
def _uniform_kernel(dtype: str) -> Any:
    item = numba.from_dtype(np.dtype(dtype))

    @cuda.jit
    def kernel(seed, out):
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            bits = _random_bits(seed, i)
            out[i] = item(bits >> numba.uint64(40)) * item(1.0 / 16777216.0)  # 24 bits in [0, 1)

    return kernel


@cache
def _normal_kernel(dtype: str) -> Any:
    item = numba.from_dtype(np.dtype(dtype))

    @cuda.jit
    def kernel(seed, out):
        # Marsaglia's polar method (no cos, whose float32 code has a float64 path): a point
        # (u, v) uniform in [-1, 1)^2 until it falls inside the unit circle (1.27 tries on
        # average); try k of element i takes the draws 2 * (k * size + i) and the next one.
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            draw = numba.uint64(i)
            while True:
                first = _random_bits(seed, numba.uint64(2) * draw)
                second = _random_bits(seed, numba.uint64(2) * draw + numba.uint64(1))
                u = item(first >> numba.uint64(40)) * item(2.0 / 16777216.0) - item(1.0)
                v = item(second >> numba.uint64(40)) * item(2.0 / 16777216.0) - item(1.0)
                s = u * u + v * v
                if s < item(1.0) and s > item(0.0):
                    break
                draw += numba.uint64(out.size)
            out[i] = u * math.sqrt(item(-2.0) * math.log(s) / s)

    return kernel


def random_uniform(shape: tuple[int, ...], dtype: Any, rng: np.random.Generator) -> CudaArray:
    """Uniform [0, 1) numbers drawn on the GPU; the seed comes from ``rng`` (host, no sync)."""
    out = empty(tuple(shape), dtype)
    if out.size:
        launch(_uniform_kernel(out.dtype.str), out.size)(np.uint64(rng.integers(2**63)), out.flat)
    return out


def random_normal(shape: tuple[int, ...], dtype: Any, rng: np.random.Generator) -> CudaArray:
    """Standard normal numbers drawn on the GPU (polar method); the seed comes from ``rng``."""
    out = empty(tuple(shape), dtype)
    if out.size:
        launch(_normal_kernel(out.dtype.str), out.size)(np.uint64(rng.integers(2**63)), out.flat)
    return out
