"""Batch normalization on the GPU: the forward (column statistics, then the normalization) and
its gradient. The names of :mod:`autoconv.backends.cpu.norm`.

The statistics are sums down the columns of the (rows, C) array in reduce.py's column-sum
layout (a warp reads adjacent channels of one row; the rows in chunks over the whole GPU; the
same bits every run), then one pass over every element normalizes (or takes the gradient),
each thread computing its channel's mean, variance and scale from the sums. The sums
accumulate in the data's dtype (float32 kernels hold no float64 instruction), so the variance
is two-pass, robust in float32: the mean first, then the sums of x - mean and of its squares
(the CPU's float64 sums afford one pass). Training: three launches forward, two backward;
inference: one forward.
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
from autoconv.backends.cuda.reduce import column_sums, sum_columns
from autoconv.backends.cuda.runtime import (
    cached_kernel,
    four_lines,
    launch,
    launch_lines,
    line_run,
    unsigned,
)


@cuda.jit(device=True)
def _centered_entry(args, r, e):
    # Paired columns of channel c = e // 2: x - mean (e even), (x - mean)^2 (odd); mean =
    # sums[c] / count.
    x, sums, count = args
    c = e // 2
    d = x[r, c] - sums[c] / count
    return d if e % 2 == 0 else d * d


@cuda.jit(device=True)
def _gradient_entry(args, r, e):
    # Paired columns of channel c = e // 2: grad (e even), grad * (x - mean) (odd).
    grad, x, mean = args
    c = e // 2
    return grad[r, c] if e % 2 == 0 else grad[r, c] * (x[r, c] - mean[c])


@cache
def _batch_norm_kernels(dtype: str) -> tuple[Any, Any]:
    """(forward, backward) elementwise batch normalization kernels for ``dtype``, over x (flat,
    rows x channels) in runtime's line layout: a thread takes one channel down a run of rows,
    its mean, variance and scale found once (the thread of row 0 writing the channel's
    statistics or gamma's gradient), four rows at a time (their loads in flight together; one
    at a time, the small Xception's took 182 and 262 us each on an H200, 0.9 ms of its step)."""
    item = numba.from_dtype(np.dtype(dtype))

    @cached_kernel
    def forward(x, channels, gamma, beta, epsilon, training, sums, linear, squares, mean,
                variance, out, span, run):  # fmt: skip
        # Training: the channel's mean and biased variance from the column sums; else those
        # given.
        rows = x.size // channels
        c, first, lanes, end = line_run(span, run, rows)
        if c >= channels:
            return
        if training:
            m = sums[c] / item(rows)
            v = max(squares[c] - linear[c] * linear[c] / item(rows), item(0)) / item(rows)
            if first == 0:
                mean[c], variance[c] = m, v
        else:
            m, v = mean[c], variance[c]
        scale, shift = gamma[c] / math.sqrt(v + epsilon), beta[c]
        r = first
        while r + 3 * lanes < end:  # four lines' loads in flight, then their writes
            a0, a1, a2, a3 = four_lines(r, lanes, channels, c)
            v0, v1, v2, v3 = x[a0], x[a1], x[a2], x[a3]
            out[a0], out[a1] = (v0 - m) * scale + shift, (v1 - m) * scale + shift
            out[a2], out[a3] = (v2 - m) * scale + shift, (v3 - m) * scale + shift
            r += 4 * lanes
        while r < end:
            at = unsigned(r * channels + c)
            out[at] = (x[at] - m) * scale + shift
            r += lanes

    @cached_kernel
    def backward(grad, x, channels, gamma, mean, variance, epsilon, training, total, centered,
                 grad_x, grad_gamma, span, run):  # fmt: skip
        rows = x.size // channels
        c, first, lanes, end = line_run(span, run, rows)
        if c >= channels:
            return
        inv = item(1) / math.sqrt(variance[c] + epsilon)
        g_gamma = centered[c] * inv
        if first == 0:
            grad_gamma[c] = g_gamma
        g_scale = gamma[c] * inv
        x_scale, shift = item(0), item(0)
        if training:
            x_scale = -g_scale * inv * g_gamma / item(rows)
            shift = -g_scale * total[c] / item(rows)
        m = mean[c]
        r = first
        while r + 3 * lanes < end:  # four lines' loads in flight, then their writes
            a0, a1, a2, a3 = four_lines(r, lanes, channels, c)
            x0, x1, x2, x3 = x[a0], x[a1], x[a2], x[a3]
            g0, g1, g2, g3 = grad[a0], grad[a1], grad[a2], grad[a3]
            grad_x[a0] = (x0 - m) * x_scale + g0 * g_scale + shift
            grad_x[a1] = (x1 - m) * x_scale + g1 * g_scale + shift
            grad_x[a2] = (x2 - m) * x_scale + g2 * g_scale + shift
            grad_x[a3] = (x3 - m) * x_scale + g3 * g_scale + shift
            r += 4 * lanes
        while r < end:
            at = unsigned(r * channels + c)
            grad_x[at] = (x[at] - m) * x_scale + grad[at] * g_scale + shift
            r += lanes

    return forward, backward


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
    columns' mean and biased variance (three launches); given, they are used and returned as
    they are (one)."""
    bounds.statistics("batch_norm_forward", x, gamma, beta, mean, variance)
    rows, channels = x.shape
    training = mean is None
    if training:
        mean, variance = empty((channels,), x.dtype), empty((channels,), x.dtype)
        sums = column_sums(x)
        args = (x.nd, sums.flat, x.dtype.type(rows))
        linear, squares = sum_columns(
            _centered_entry, args, rows, 2 * channels, x.dtype, paired=True
        )
    else:
        sums = linear = squares = mean  # not read
    gamma = ones_like(mean) if gamma is None else gamma
    beta = zeros((channels,), x.dtype) if beta is None else beta
    out = empty(x.shape, x.dtype)
    if out.size:
        launch_lines(_batch_norm_kernels(x.dtype.str)[0], channels, rows)(
            x.flat, channels, gamma.flat, beta.flat, x.dtype.type(epsilon), training, sums.flat,
            linear.flat, squares.flat, mean.flat, variance.flat, out.flat,
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
    statistics were x's own, so grad_x flows through them too. Two launches."""
    bounds.statistics("batch_norm_backward", x, gamma, None, mean, variance)
    bounds.shape_is("batch_norm_backward", "grad", grad, x.shape)
    rows, channels = x.shape
    gamma = ones_like(mean) if gamma is None else gamma
    args = (grad.nd, x.nd, mean.flat)
    grad_beta, centered = sum_columns(
        _gradient_entry, args, rows, 2 * channels, x.dtype, paired=True
    )
    grad_x, grad_gamma = empty(x.shape, x.dtype), empty((channels,), x.dtype)
    if grad_x.size:
        launch_lines(_batch_norm_kernels(x.dtype.str)[1], channels, rows)(
            grad.flat, x.flat, channels, gamma.flat, mean.flat, variance.flat,
            x.dtype.type(epsilon), training, grad_beta.flat, centered.flat, grad_x.flat,
            grad_gamma.flat,
        )  # fmt: skip
    return grad_x, grad_gamma, grad_beta


@cached_kernel
def _moving_averages(averages, values, momentum, rest):
    for k in range(len(averages)):
        average, value = averages[k], values[k]
        for i in range(cuda.grid(1), average.size, cuda.gridsize(1)):
            average[i] = average[i] * momentum + value[i] * rest


def moving_averages(averages: list[CudaArray], values: list[CudaArray], momentum: float) -> None:
    """Each average = average * momentum + value * (1 - momentum), in place, in one launch
    (the scalars in the arrays' dtype, 1 - momentum taken before, as NumPy's would be)."""
    bounds.pairs("moving_averages", averages, values)
    if not averages:
        return
    if any(a.dtype != averages[0].dtype for a in (*averages, *values)):
        raise TypeError("moving_averages: the arrays' dtypes differ")
    kind = averages[0].dtype.type
    launch(_moving_averages, max(a.size for a in averages))(
        tuple(a.flat for a in averages), tuple(v.flat for v in values), kind(momentum),
        kind(1.0 - momentum),
    )  # fmt: skip
