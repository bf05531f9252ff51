"""The matrix product on the GPU, the one home of matrix products in this backend: one tiled
kernel (shared-memory tiles of both operands, a register tile of the output per thread) that
batches over leading axes, reads a transposed operand strided, and splits a long contracted axis
over blocks when there are few output tiles. Its tile constants are globals of this module:
``matmul`` reads ``BLOCK`` and ``SPLIT_K*`` at each call, the kernel its tile sizes when it is
compiled (at its first launch).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends.cuda.array import CudaArray, empty, zeros
from autoconv.backends.cuda.elementwise import broadcast_to
from autoconv.backends.cuda.runtime import SIMULATED, configure

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
