"""cuBLAS's matrix product, the vendor route of :mod:`autoconv.backends.cuda.gemm` (which decides,
product by product, whether it is taken).

On an H200 this package's float32 kernel took 1.8-3.5x cuBLAS's time on the course models'
large products (bench/results/2026-11-26-gpu-h200-first-figures.md, section 4), and they are
most of the bigger models' steps; so where cuBLAS loads, float32 and float64 products go to it
(``cublasGemmStridedBatchedEx``: float32 products in float32, or in TensorFloat-32 on tensor
cores under the "high" precision of :mod:`autoconv.backends.precision`), and the kernel of
gemm.py keeps every other case, the simulator and a machine without cuBLAS.

The library is called through ctypes: ``libcublas`` from NVIDIA's ``nvidia-cublas`` wheel (the
``cuda`` extra's; found by ``cuda.pathfinder``, as numba-cuda finds its own CUDA libraries) or a
CUDA toolkit's. Six functions of its C API, no binding package. It shares numba-cuda's context
(the device's primary one, which the runtime API cuBLAS uses adopts).

A call is launched as a kernel is, through :class:`~autoconv.backends.cuda.runtime.Launch`:
``GEMM[grid, block]`` called with its arguments runs it on the legacy default stream, in order
with every kernel, ``GEMM[grid, block, stream]`` on a stream being captured into a graph (the
"grid" and "block" only label it: gemm.py gives the product's (m, n, k) and batches). So a
recorded step's tape holds it like any launch, two tapes compare its arguments, and a replay
puts it in the step's CUDA graph (cuBLAS's kernels on a stream being captured are captured).
Every call is given the same workspace (WORKSPACE_BYTES of device memory, set after its stream:
setting a stream forgets it), so cuBLAS never allocates, which a graph being captured could not.

cuBLAS is column-major: the row-major ``out (m x n) = op(a) @ op(b)`` is the column-major
``out^T = op(b)^T op(a)^T``, b first (:func:`column_major`). The same call gives the same bits
every run on one GPU (cuBLAS's documented reproducibility with one stream and a set workspace);
not the bits of gemm.py's kernel, which sums in another order.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv.backends.cuda.runtime import SIMULATED, device_array

# cublasOperation_t, cudaDataType and cublasComputeType_t values (cublas_api.h, library_types.h).
NO_TRANSPOSE, TRANSPOSE = 0, 1
DATA_TYPES = {"<f4": 0, "<f8": 1}  # CUDA_R_32F, CUDA_R_64F
COMPUTE_32F, COMPUTE_32F_FAST_TF32, COMPUTE_64F = 68, 77, 70
_GEMM_DEFAULT = -1  # cublasGemmAlgo_t: cuBLAS's heuristics choose the kernel
_LEGACY_STREAM = 1  # cudaStreamLegacy: the legacy default stream every kernel here runs on
# cuBLAS's recommended workspace on Hopper (cuBLAS documentation, cublasSetWorkspace).
WORKSPACE_BYTES = 32 * 2**20
# The most rows, columns or contracted length of one call: cuBLAS's dimensions are C ints.
MAX_DIMENSION = 2**31 - 1

_c_int, _c_ll, _ptr = ctypes.c_int, ctypes.c_longlong, ctypes.c_void_p
_SIGNATURES = {
    "cublasCreate_v2": [ctypes.POINTER(_ptr)],
    "cublasSetStream_v2": [_ptr, _ptr],
    "cublasSetWorkspace_v2": [_ptr, _ptr, ctypes.c_size_t],
    "cublasGetVersion_v2": [_ptr, ctypes.POINTER(_c_int)],
    "cublasGemmStridedBatchedEx": [
        _ptr, _c_int, _c_int, _c_int, _c_int, _c_int,  # handle, transa, transb, m, n, k
        _ptr, _ptr, _c_int, _c_int, _c_ll,  # alpha, A, A's type, lda, A's batch stride
        _ptr, _c_int, _c_int, _c_ll,  # B, B's type, ldb, B's batch stride
        _ptr, _ptr, _c_int, _c_int, _c_ll,  # beta, C, C's type, ldc, C's batch stride
        _c_int, _c_int, _c_int,  # batches, compute type, algorithm
    ],
}  # fmt: skip


def column_major(
    m: int, n: int, k: int, transpose_a: bool, transpose_b: bool
) -> tuple[int, int, int, int, int, int, int, int]:
    """cuBLAS's (transa, transb, m, n, k, lda, ldb, ldc) for the row-major product ``out (m x n)
    = op(a) @ op(b)`` of contiguous operands (a stored (k, m) where ``transpose_a``, else (m, k);
    b (n, k) where ``transpose_b``, else (k, n)): the column-major ``out^T = op(b)^T op(a)^T``,
    whose first operand is b, its second a."""
    return (
        TRANSPOSE if transpose_b else NO_TRANSPOSE,
        TRANSPOSE if transpose_a else NO_TRANSPOSE,
        n, m, k,
        k if transpose_b else n,
        m if transpose_a else k,
        n,
    )  # fmt: skip


class _Library:
    """The loaded libcublas, its handle and the workspace every call is given."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.dll = ctypes.CDLL(path)
        for name, argtypes in _SIGNATURES.items():
            function = getattr(self.dll, name)
            function.argtypes, function.restype = argtypes, _c_int
        from numba import cuda

        cuda.current_context()  # numba-cuda's (the primary) context current first
        self.handle = _ptr()
        self.check("cublasCreate_v2", ctypes.byref(self.handle))
        version = _c_int()
        self.check("cublasGetVersion_v2", self.handle, ctypes.byref(version))
        self.version = version.value
        self.workspace = device_array(WORKSPACE_BYTES, np.uint8)
        self.one = {"<f4": ctypes.c_float(1.0), "<f8": ctypes.c_double(1.0)}
        self.zero = {"<f4": ctypes.c_float(0.0), "<f8": ctypes.c_double(0.0)}

    def check(self, name: str, *arguments: Any) -> None:
        status = getattr(self.dll, name)(*arguments)
        if status != 0:
            raise RuntimeError(f"cuBLAS's {name} failed with status {status}")

    def gemm(self, stream: int, first: Any, second: Any, out: Any, *plan: int) -> None:
        """``out = first @ second`` by ``cublasGemmStridedBatchedEx`` on ``stream`` (a CUstream
        handle), column-major: ``plan`` is (transa, transb, m, n, k, lda, ldb, ldc, first's,
        second's and out's batch strides, batches, compute type)."""
        transa, transb, m, n, k, lda, ldb, ldc, stride_1, stride_2, stride_out, batches, compute = (
            plan
        )
        dtype = out.dtype.str
        code = DATA_TYPES[dtype]
        self.check("cublasSetStream_v2", self.handle, _ptr(stream))
        self.check(
            "cublasSetWorkspace_v2", self.handle, _ptr(_address(self.workspace)), WORKSPACE_BYTES
        )  # after the stream, which forgets it
        self.check(
            "cublasGemmStridedBatchedEx", self.handle, transa, transb, m, n, k,
            ctypes.byref(self.one[dtype]), _ptr(_address(first)), code, lda, stride_1,
            _ptr(_address(second)), code, ldb, stride_2,
            ctypes.byref(self.zero[dtype]), _ptr(_address(out)), code, ldc, stride_out,
            batches, compute, _GEMM_DEFAULT,
        )  # fmt: skip


_why_not = ""
_loading = threading.Lock()


def library() -> _Library | None:
    """libcublas, loaded once a process (by the first thread to ask); None on the simulator or
    where it does not load (:func:`why_not` says why)."""
    with _loading:
        return _load()


@functools.cache
def _load() -> _Library | None:
    global _why_not
    if SIMULATED:
        _why_not = "the CUDA simulator has no cuBLAS"
        return None
    try:
        return _Library(_path())
    except (OSError, RuntimeError, ImportError, AttributeError) as error:
        _why_not = f"cuBLAS did not load ({type(error).__name__}: {error})"
        return None


def why_not() -> str:
    """Why :func:`library` is None ("" before it was asked, or when it loaded)."""
    return _why_not


def _path() -> str:
    """libcublas's path: NVIDIA's wheel's (through cuda.pathfinder), else the loader's."""
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib

        return load_nvidia_dynamic_lib("cublas").abs_path
    except (ImportError, RuntimeError) as error:
        import ctypes.util

        found = ctypes.util.find_library("cublas")
        if found is None:
            raise OSError(f"no libcublas found ({error})") from error
        return found


def _address(array: Any) -> int:
    return int(array.device_ctypes_pointer.value)


def _stream_handle(stream: Any) -> int:
    """The CUstream of a launch's stream slot: the legacy default stream for None, else the
    stream's (a cuda.core graph builder's: the stream it captures)."""
    if stream is None:
        return _LEGACY_STREAM
    return int(stream.__cuda_stream__()[1])


class _Gemm:
    """``cublasGemmStridedBatchedEx`` launched as a kernel (see the module's docstring):
    ``GEMM[grid, block]`` or ``GEMM[grid, block, stream]`` (grid and block unused) gives the
    call, whose arguments are (first, second, out, transa, transb, m, n, k, lda, ldb, ldc,
    first's, second's and out's batch strides, batches, compute type): device arrays of one
    dtype, the operands in cuBLAS's order (:func:`column_major`)."""

    def __getitem__(self, configuration: tuple) -> Callable[..., None]:
        stream = configuration[2] if len(configuration) > 2 else None
        return functools.partial(self.run, _stream_handle(stream))

    @staticmethod
    def run(stream: int, *arguments: Any) -> None:
        lib = library()
        if lib is None:
            raise RuntimeError(why_not())
        lib.gemm(stream, *arguments)

    def __repr__(self) -> str:
        return "cublas_gemm"


GEMM = _Gemm()
