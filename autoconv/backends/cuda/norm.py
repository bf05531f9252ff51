"""Batch normalization on the GPU: the forward (column statistics and the normalization) in one
launch and its gradient in one. The names of :mod:`autoconv.backends.cpu.norm`.

One block per channel (column of the (rows, C) array): its threads take the rows in turn, the
block adds up their partial sums in shared memory in a fixed order (so a run gives the same
bits every time), then every thread writes its rows. The sums accumulate in the data's dtype
(float32 kernels hold no float64 instruction), so the variance is two-pass, robust in float32:
the mean first, then the sums of x - mean and of its squares (the CPU's float64 sums afford
one pass).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, empty, ones_like, zeros
from autoconv.backends.cuda.reduce import REDUCE_BLOCKS, REDUCE_THREADS, block_sum
from autoconv.backends.cuda.runtime import configure


@cache
def _batch_norm_kernels(dtype: str) -> tuple[Any, Any]:
    """(forward, backward) batch normalization kernels for ``dtype``."""
    item = numba.from_dtype(np.dtype(dtype))

    @cuda.jit
    def forward(x, rows, channels, gamma, beta, epsilon, training, mean, variance, out):
        partial = cuda.shared.array(REDUCE_THREADS, item)
        t = cuda.threadIdx.x
        for c in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
            if training:
                total = item(0)
                for r in range(t, rows, REDUCE_THREADS):
                    total += x[r * channels + c]
                m = block_sum(partial, total) / item(rows)
                linear, squares = item(0), item(0)
                for r in range(t, rows, REDUCE_THREADS):
                    d = x[r * channels + c] - m
                    linear += d
                    squares += d * d
                linear = block_sum(partial, linear)
                squares = block_sum(partial, squares)
                v = max(squares - linear * linear / item(rows), item(0)) / item(rows)
                if t == 0:
                    mean[c], variance[c] = m, v
            else:
                m, v = mean[c], variance[c]
            scale = gamma[c] / math.sqrt(v + epsilon)
            for r in range(t, rows, REDUCE_THREADS):
                i = r * channels + c
                out[i] = (x[i] - m) * scale + beta[c]

    @cuda.jit
    def backward(grad, x, rows, channels, gamma, mean, variance, epsilon, training, grad_x,
                 grad_gamma, grad_beta):  # fmt: skip
        partial = cuda.shared.array(REDUCE_THREADS, item)
        t = cuda.threadIdx.x
        for c in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
            m, inv = mean[c], item(1) / math.sqrt(variance[c] + epsilon)
            total, centered = item(0), item(0)
            for r in range(t, rows, REDUCE_THREADS):
                i = r * channels + c
                total += grad[i]
                centered += grad[i] * (x[i] - m)
            total = block_sum(partial, total)
            g_gamma = block_sum(partial, centered) * inv
            if t == 0:
                grad_gamma[c], grad_beta[c] = g_gamma, total
            g_scale = gamma[c] * inv
            x_scale, shift = item(0), item(0)
            if training:
                x_scale = -g_scale * inv * g_gamma / item(rows)
                shift = -g_scale * total / item(rows)
            for r in range(t, rows, REDUCE_THREADS):
                i = r * channels + c
                grad_x[i] = (x[i] - m) * x_scale + grad[i] * g_scale + shift

    return forward, backward


def _blocks(channels: int) -> int:
    return max(1, min(channels, REDUCE_BLOCKS))


def batch_norm_forward(
    x: CudaArray,
    gamma: CudaArray | None,
    beta: CudaArray | None,
    epsilon: float,
    mean: CudaArray | None = None,
    variance: CudaArray | None = None,
) -> tuple[CudaArray, CudaArray, CudaArray]:
    """Normalize each column of x (rows, C): (out, mean, variance) with out = (x - mean) /
    sqrt(variance + epsilon) * gamma + beta. Without ``mean`` and ``variance`` they are the
    columns' mean and biased variance; given, they are used and returned as they are. One
    launch."""
    bounds.statistics("batch_norm_forward", x, gamma, beta, mean, variance)
    rows, channels = x.shape
    training = mean is None
    if training:
        mean, variance = empty((channels,), x.dtype), empty((channels,), x.dtype)
    gamma = ones_like(mean) if gamma is None else gamma
    beta = zeros((channels,), x.dtype) if beta is None else beta
    out = empty(x.shape, x.dtype)
    configure(_batch_norm_kernels(x.dtype.str)[0], _blocks(channels), REDUCE_THREADS)(
        x.flat, rows, channels, gamma.flat, beta.flat, x.dtype.type(epsilon), training,
        mean.flat, variance.flat, out.flat,
    )  # fmt: skip
    return out, mean, variance


def batch_norm_backward(
    grad: CudaArray,
    x: CudaArray,
    gamma: CudaArray | None,
    mean: CudaArray,
    variance: CudaArray,
    epsilon: float,
    training: bool,
) -> tuple[CudaArray, CudaArray, CudaArray]:
    """(grad_x, grad_gamma, grad_beta) of :func:`batch_norm_forward`; ``training``: the
    statistics were x's own, so grad_x flows through them too. One launch."""
    bounds.statistics("batch_norm_backward", x, gamma, None, mean, variance)
    bounds.shape_is("batch_norm_backward", "grad", grad, x.shape)
    rows, channels = x.shape
    gamma = ones_like(mean) if gamma is None else gamma
    grad_x = empty(x.shape, x.dtype)
    grad_gamma, grad_beta = empty((channels,), x.dtype), empty((channels,), x.dtype)
    configure(_batch_norm_kernels(x.dtype.str)[1], _blocks(channels), REDUCE_THREADS)(
        grad.flat, x.flat, rows, channels, gamma.flat, mean.flat, variance.flat,
        x.dtype.type(epsilon), training, grad_x.flat, grad_gamma.flat, grad_beta.flat,
    )  # fmt: skip
    return grad_x, grad_gamma, grad_beta
