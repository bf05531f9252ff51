""":class:`CudaArray`, the GPU array the CUDA kernels work on, and its creation and transfer
(``empty``, ``asarray``, ``to_numpy``, ``zeros``, ...). The NumPy-like functions the ops call on
it live beside it by concern, together the names of :mod:`autoconv.backends.cpu.array`:
``elementwise`` (maths with broadcasting, casts, transposes), ``reduce``, ``gemm`` (the matrix
product), ``index`` and ``random``; ``runtime`` holds the buffer pool and the launches.

A CudaArray supports the arithmetic operators and the methods the ops use (``sum``, ``max``,
``reshape``, ``transpose``, ``astype``), each one a kernel launch on the default stream, so
an op's forward and backward are written once for both devices.

Design, in short:
- Every CudaArray is C-contiguous; kernels index a flat view and get shapes and element
  strides as tuples padded to ``MAX_DIMS`` (broadcast axes have stride 0, a transposed view
  permutes them), so one elementwise kernel serves broadcasting, transposes and dtype casts.
- Kernels are float32 when the data is (they are compiled per dtype; scalars are cast to the
  array's dtype before launch, so no literal drags a kernel into float64).
- Its memory comes from the pool of :mod:`autoconv.backends.cuda.runtime` (reused once no array
  holds it), and its kernels are launched through :class:`~autoconv.backends.cuda.runtime.Launch`.
- Nothing here reads a value back to the host except :func:`to_numpy` (and ``float(a)``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.runtime import (
    _Buffer,
    _buffer,
    active_tape,
    cached_kernel,
    copy_async,
    launch,
    transfer,
    upload,
)
from autoconv.backends.references import HELD_IN_POOL, SOLE, references


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
        if flat is None:
            flat = buffer.flat if buffer.key[0] == self.size else buffer.flat[: self.size]
        self.flat = flat
        self.dtype = flat.dtype

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
        transfer("float(a), a read back to the host")
        return float(self.flat.copy_to_host()[0])

    def __getitem__(self, index: Any) -> CudaArray:
        """A run of rows ``a[start:stop]`` is a view (no copy); any other index a copy."""
        if isinstance(index, slice) and self.ndim and index.step in (None, 1):
            start, stop, _ = index.indices(self.shape[0])
            stop = max(start, stop)
            row = self.size // max(self.shape[0], 1)
            flat = self.flat[start * row : stop * row]
            return CudaArray(self._buffer, (stop - start, *self.shape[1:]), flat)
        return _getitem(self, index)

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
        return _matmul(self, other)

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

    def __ne__(self, other: Any) -> CudaArray:  # type: ignore[override]
        return _binary("not_equal", self, other)

    def __and__(self, other: Any) -> CudaArray:  # masks are 0/1 values
        return _binary("mul", self, other)

    __hash__ = None  # type: ignore[assignment]


# ------------------------------------------------------------ the kernels behind the methods
# CudaArray's operators and methods launch the kernels of elementwise.py, reduce.py, gemm.py and
# index.py, and each of those modules imports CudaArray from this one. So that no two modules of
# the package import each other as they load (no import circle), these forwarders import their
# module when they are called. Once it is loaded that import is a lookup in sys.modules, under a
# microsecond beside the tens that numba-cuda takes to launch a kernel. (``import x.y as y``, not
# ``from x.y import f``: the latter first asks the module for a ``__path__``, a failed lookup
# that costs more than the import.)
def _binary(name: str, a: Any, b: Any) -> CudaArray:
    import autoconv.backends.cuda.elementwise as elementwise

    return elementwise._binary(name, a, b)


def _unary(name: str, a: CudaArray) -> CudaArray:
    import autoconv.backends.cuda.elementwise as elementwise

    return elementwise._unary(name, a)


def _copy_strided(
    a: CudaArray, out_shape: tuple[int, ...], strides: tuple[int, ...], dtype: np.dtype
) -> CudaArray:
    import autoconv.backends.cuda.elementwise as elementwise

    return elementwise._copy_strided(a, out_shape, strides, dtype)


def _reduce(name: str, a: CudaArray, axis: Any, keepdims: bool) -> CudaArray:
    import autoconv.backends.cuda.reduce as reduce

    return reduce._reduce(name, a, axis, keepdims)


def _matmul(a: CudaArray, b: CudaArray) -> CudaArray:
    import autoconv.backends.cuda.gemm as gemm

    return gemm.matmul(a, b)


def _getitem(a: CudaArray, index: Any) -> CudaArray:
    import autoconv.backends.cuda.index as index_module

    return index_module.getitem(a, index)


# --------------------------------------------------------------- creation and transfer
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
        upload(out.flat, host.reshape(-1))
    return out


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy copy of a device array (a NumPy array is returned as it is)."""
    if not isinstance(array, CudaArray):
        return np.asarray(array)
    if array.size == 0:
        return np.empty(array.shape, array.dtype)
    transfer("to_numpy, a read back to the host")
    return array.flat.copy_to_host().reshape(array.shape)


def zeros(shape: tuple[int, ...], dtype: Any = np.float32) -> CudaArray:
    out = empty(tuple(shape), dtype)
    launch(_fill, out.size)(out.flat, out.dtype.type(0))
    return out


def zeros_like(array: CudaArray) -> CudaArray:
    return zeros(array.shape, array.dtype)


def zero(array: CudaArray) -> None:
    """array[...] = 0, in place (one launch)."""
    if array.size:
        launch(_fill, array.size)(array.flat, array.dtype.type(0))


def ones_like(array: CudaArray) -> CudaArray:
    out = empty(array.shape, array.dtype)
    launch(_fill, out.size)(out.flat, out.dtype.type(1))
    return out


def ones_constant(like: CudaArray) -> CudaArray:
    """Ones of ``like``'s shape and dtype, to be read only: one array for each shape and
    dtype, filled once (a step's backward starts from it without a launch)."""
    return _ones(like.shape, like.dtype.str)


@functools.cache
def _ones(shape: tuple[int, ...], dtype: str) -> CudaArray:
    return ones_like(empty(shape, dtype))


def copy(array: CudaArray) -> CudaArray:
    return array.copy()


@cached_kernel
def _copy_into(target, source):
    for i in range(cuda.grid(1), target.size, cuda.gridsize(1)):
        target[i] = source[i]


def copy_into(target: CudaArray, source: CudaArray) -> None:
    """target[...] = source, in place (one kernel, so a recorded step replays it)."""
    bounds.shape_is("copy_into", "source", source, target.shape)
    if source.dtype != target.dtype:
        raise TypeError(f"copy_into: dtypes differ ({target.dtype} and {source.dtype})")
    if target.size:
        launch(_copy_into, target.size)(target.flat, source.flat)


def copy_from_host(target: CudaArray, source: np.ndarray) -> None:
    """target[...] = source, a host array of target's shape and dtype, in place, without
    waiting: an asynchronous copy (from pinned staging memory) in order with every kernel, so
    the host goes on to its next batch while the device copies and computes; ``source`` may
    change once this returns. A dataset's batch loaded where a replayed step reads it."""
    bounds.shape_is("copy_from_host", "source", source, target.shape)
    if np.dtype(source.dtype) != target.dtype:
        raise TypeError(f"copy_from_host: dtypes differ ({target.dtype} and {source.dtype})")
    transfer("copy_from_host")
    if target.size:
        copy_async(target.flat, np.asarray(source).reshape(-1))


def owned(array: Any) -> bool:
    """Whether ``array`` may be kept as it is where a copy would otherwise be taken (a leaf's
    gradient): nothing refers to it but the caller's one variable, and no other array to its
    buffer (only the pool, which hands a buffer out again once no array holds it, and the tape
    of a step being recorded, which holds every buffer of the step), so no one else can read
    or write its memory. Call it as ``owned(name)``."""
    if not isinstance(array, CudaArray) or references(array) > SOLE:
        return False
    tape = active_tape()
    taped = tape is not None and any(held is array._buffer for held in tape.buffers)
    return references(array._buffer) <= HELD_IN_POOL + taped


@cached_kernel
def _fill(out, value):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = value


# ------------------------------------------------------------------------------ layout
def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))
