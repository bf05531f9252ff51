"""Batch normalization on the GPU: the forward (column statistics, then the normalization) and
its gradient. The names of :mod:`autoconv.backends.cpu.norm`.

The statistics are sums down the columns of the (rows, C) array in reduce.py's column-sum
layout (a warp reads adjacent channels of one row; the rows in chunks over the whole GPU; the
same bits every run), then one pass over every element normalizes (or takes the gradient),
each thread computing its channel's mean, variance and scale from the sums. The sums
accumulate in the data's dtype (float32 kernels hold no float64 instruction), so the variance
is two-pass, robust in float32: the mean first, then the sums of x - mean and of its squares
(the CPU's float64 sums afford one pass). Training: three launches forward, two backward;
inference: one forward. A ReLU after it runs in the same launches: the forward writes max(out,
0), the backward finds the forward's output again from x (the same device functions, so the
same bits) and gates the gradient by it. The bias of a layer before (a convolution that left
it out) is added to x as every pass reads it.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda import runtime
from autoconv.backends.cuda.array import CudaArray, empty, ones_like, zeros
from autoconv.backends.cuda.reduce import column_sums, sum_columns
from autoconv.backends.cuda.runtime import (
    cached_kernel,
    configure,
    four_lines,
    launch,
    launch_lines,
    line_run,
    unsigned,
)


# The sums' entries read x (flat, rows x channels) plus what the layer before would have added:
# its bias of channel c where ``biased`` (see batch_norm_forward), else 0.
@cuda.jit(device=True)
def _biased_column(args, c):
    x, channels, bias, biased, zero = args
    return x, channels, c, bias[c] if biased else zero


@cuda.jit(device=True)
def _biased_entry(column, r, c):
    x, channels, c, added = column
    return x[unsigned(r * channels + c)] + added


@cuda.jit(device=True)
def _centered_column(args, e):
    # What a thread of paired column e (channel c = e // 2) finds once: see _centered_entry.
    x, channels, bias, biased, zero, sums, count = args
    c = e // 2
    return x, channels, c, e % 2 == 1, bias[c] if biased else zero, sums[c] / count


@cuda.jit(device=True)
def _centered_entry(column, r, e):
    # Paired columns of channel c: x - mean (e even), (x - mean)^2 (odd).
    x, channels, c, odd, added, mean = column
    d = (x[unsigned(r * channels + c)] + added) - mean
    return d * d if odd else d


@cuda.jit(device=True)
def _scale(gamma, variance, epsilon):
    """The normalization's scale gamma / sqrt(variance + epsilon), one expression for the
    forward and for the backward that finds the forward's values again (a ReLU's mask)."""
    return gamma / math.sqrt(variance + epsilon)


@cuda.jit(device=True)
def _normalized(x, mean, scale, shift):
    return (x - mean) * scale + shift


@cuda.jit(device=True)
def _gated(g, x, mean, scale, shift, relu, zero):
    """g, or with ``relu`` g where the forward's output of x was positive and g * 0 elsewhere
    (as relu_grad: a NaN stays NaN)."""
    if relu and not _normalized(x, mean, scale, shift) > 0:
        return g * zero
    return g


@cuda.jit(device=True)
def _gradient_column(args, e):
    # What a thread of paired column e (channel c = e // 2) finds once: see _gradient_entry.
    grad, x, channels, bias, biased, mean, gamma, beta, variance, epsilon, relu, zero = args
    c = e // 2
    scale = _scale(gamma[c], variance[c], epsilon) if relu else zero
    added = bias[c] if biased else zero
    return grad, x, channels, c, e % 2 == 1, added, mean[c], scale, beta[c], relu, zero


@cuda.jit(device=True)
def _gradient_entry(column, r, e):
    # Paired columns of channel c (grad flat as x): grad (e even), grad * (x - mean) (odd);
    # grad gated by the forward's ReLU with ``relu``.
    grad, x, channels, c, odd, added, mean, scale, shift, relu, zero = column
    at = unsigned(r * channels + c)
    value = x[at] + added
    g = _gated(grad[at], value, mean, scale, shift, relu, zero)
    return g * (value - mean) if odd else g


@cache
def _batch_norm_kernels(dtype: str) -> tuple[Any, Any]:
    """(forward, backward) elementwise batch normalization kernels for ``dtype``, over x (flat,
    rows x channels) in runtime's line layout: a thread takes one channel down a run of rows,
    its mean, variance and scale found once (the thread of row 0 writing the channel's
    statistics or gamma's gradient), four rows at a time (their loads in flight together; one
    at a time, the small Xception's took 182 and 262 us each on an H200, 0.9 ms of its step).
    ``relu``: the forward writes max(out, 0), the backward gates grad by it (see _gated);
    ``biased``: x + bias stands for x."""
    item = numba.from_dtype(np.dtype(dtype))
    zero = item(0)

    @cuda.jit(device=True)
    def output(x, mean, scale, shift, relu):
        value = _normalized(x, mean, scale, shift)
        return zero if relu and value < zero else value  # max(value, 0), a NaN kept

    @cached_kernel
    def forward(x, channels, bias, biased, gamma, beta, epsilon, training, relu, sums, linear,
                squares, mean, variance, out, span, run):  # fmt: skip
        # Training: the channel's mean and biased variance from the column sums; else those
        # given.
        rows = x.size // channels
        c, first, lanes, end = line_run(span, run, rows)
        if c >= channels:
            return
        if training:
            m = sums[c] / item(rows)
            v = max(squares[c] - linear[c] * linear[c] / item(rows), zero) / item(rows)
            if first == 0:
                mean[c], variance[c] = m, v
        else:
            m, v = mean[c], variance[c]
        scale, shift = _scale(gamma[c], v, epsilon), beta[c]
        added = bias[c] if biased else zero
        r = first
        while r + 3 * lanes < end:  # four lines' loads in flight, then their writes
            a0, a1, a2, a3 = four_lines(r, lanes, channels, c)
            v0, v1, v2, v3 = x[a0], x[a1], x[a2], x[a3]
            out[a0] = output(v0 + added, m, scale, shift, relu)
            out[a1] = output(v1 + added, m, scale, shift, relu)
            out[a2] = output(v2 + added, m, scale, shift, relu)
            out[a3] = output(v3 + added, m, scale, shift, relu)
            r += 4 * lanes
        while r < end:
            at = unsigned(r * channels + c)
            out[at] = output(x[at] + added, m, scale, shift, relu)
            r += lanes

    @cached_kernel
    def backward(grad, x, channels, bias, biased, gamma, beta, mean, variance, epsilon, training,
                 relu, total, centered, grad_x, grad_gamma, bias_parts, span, run):  # fmt: skip
        # ``biased``: also grad_x's sum over the thread's rows, in order, into bias_parts at its
        # run's row (blockIdx.y * lanes + its lane): the bias's gradient once summed down them.
        rows = x.size // channels
        c, first, lanes, end = line_run(span, run, rows)
        if c >= channels:
            return
        inv = item(1) / math.sqrt(variance[c] + epsilon)
        g_gamma = centered[c] * inv
        if first == 0:
            grad_gamma[c] = g_gamma
        g_scale = gamma[c] * inv
        x_scale, shift = zero, zero
        if training:
            x_scale = -g_scale * inv * g_gamma / item(rows)
            shift = -g_scale * total[c] / item(rows)
        m = mean[c]
        scale = _scale(gamma[c], variance[c], epsilon) if relu else zero  # the forward's
        out_shift, added = beta[c], bias[c] if biased else zero
        summed = zero
        r = first
        while r + 3 * lanes < end:  # four lines' loads in flight, then their writes
            a0, a1, a2, a3 = four_lines(r, lanes, channels, c)
            x0, x1, x2, x3 = x[a0] + added, x[a1] + added, x[a2] + added, x[a3] + added
            g0, g1, g2, g3 = grad[a0], grad[a1], grad[a2], grad[a3]
            g0 = _gated(g0, x0, m, scale, out_shift, relu, zero)
            g1 = _gated(g1, x1, m, scale, out_shift, relu, zero)
            g2 = _gated(g2, x2, m, scale, out_shift, relu, zero)
            g3 = _gated(g3, x3, m, scale, out_shift, relu, zero)
            d0 = (x0 - m) * x_scale + g0 * g_scale + shift
            d1 = (x1 - m) * x_scale + g1 * g_scale + shift
            d2 = (x2 - m) * x_scale + g2 * g_scale + shift
            d3 = (x3 - m) * x_scale + g3 * g_scale + shift
            grad_x[a0], grad_x[a1], grad_x[a2], grad_x[a3] = d0, d1, d2, d3
            summed = (((summed + d0) + d1) + d2) + d3
            r += 4 * lanes
        while r < end:
            at = unsigned(r * channels + c)
            value = x[at] + added
            g = _gated(grad[at], value, m, scale, out_shift, relu, zero)
            d = (value - m) * x_scale + g * g_scale + shift
            grad_x[at] = d
            summed += d
            r += lanes
        lane = cuda.threadIdx.x // span
        if biased and lane < lanes:
            bias_parts[unsigned((cuda.blockIdx.y * lanes + lane) * channels + c)] = summed

    return forward, backward


def batch_norm_forward(
    x: CudaArray,
    gamma: CudaArray | None,
    beta: CudaArray | None,
    epsilon: float,
    mean: CudaArray | None = None,
    variance: CudaArray | None = None,
    relu: bool = False,
    bias: CudaArray | None = None,
) -> tuple[CudaArray, CudaArray, CudaArray]:
    """Normalize each column of x (rows, C): (out, mean, variance) with out = (x - mean) /
    sqrt(variance + epsilon) * gamma + beta (``relu``: max(out, 0); ``bias``: x + bias stands
    for x, added as x is read). Without ``mean`` and ``variance`` they are the columns' mean and
    biased variance (three launches); given, they are used and returned as they are (one)."""
    bounds.statistics("batch_norm_forward", x, gamma, beta, mean, variance)
    bounds.columns("batch_norm_forward", "bias", bias, x.shape[1])
    rows, channels = x.shape
    training = mean is None
    read = _reading(x, bias)
    if training:
        mean, variance = empty((channels,), x.dtype), empty((channels,), x.dtype)
        sums = sum_columns(_biased_entry, read, rows, channels, x.dtype, column=_biased_column)
        args = (*read, sums.flat, x.dtype.type(rows))
        linear, squares = sum_columns(
            _centered_entry, args, rows, 2 * channels, x.dtype, column=_centered_column,
            paired=True,
        )  # fmt: skip
    else:
        sums = linear = squares = mean  # not read
    gamma = ones_like(mean) if gamma is None else gamma
    beta = zeros((channels,), x.dtype) if beta is None else beta
    out = empty(x.shape, x.dtype)
    if out.size:
        launch_lines(_batch_norm_kernels(x.dtype.str)[0], channels, rows)(
            *read[:4], gamma.flat, beta.flat, x.dtype.type(epsilon), training, relu, sums.flat,
            linear.flat, squares.flat, mean.flat, variance.flat, out.flat,
        )  # fmt: skip
    return out, mean, variance


def _reading(x: CudaArray, bias: CudaArray | None) -> tuple:
    """How the kernels read x (rows, C): (x flat, C, the bias, whether there is one, zero)."""
    biased = bias is not None
    added = bias.astype(x.dtype, copy=False) if biased else x  # x's place: not read
    return x.flat, x.shape[1], added.flat, biased, x.dtype.type(0)


def batch_norm_backward(
    grad: CudaArray,
    x: CudaArray,
    gamma: CudaArray | None,
    mean: CudaArray,
    variance: CudaArray,
    epsilon: float,
    training: bool,
    beta: CudaArray | None = None,
    relu: bool = False,
    bias: CudaArray | None = None,
) -> tuple[CudaArray, CudaArray, CudaArray, CudaArray | None]:
    """(grad_x, grad_gamma, grad_beta, grad_bias) of :func:`batch_norm_forward`; ``training``:
    the statistics were x's own, so grad_x flows through them too; ``relu``: of the forward with
    ``relu`` and ``beta`` (grad gated where its output was not positive, found again from x);
    ``bias``: the forward's, whose gradient (grad_x's column sums, else None) comes fourth:
    summed as grad_x is written, the threads' sums then added up (one launch more)."""
    bounds.statistics("batch_norm_backward", x, gamma, beta, mean, variance)
    bounds.columns("batch_norm_backward", "bias", bias, x.shape[1])
    bounds.shape_is("batch_norm_backward", "grad", grad, x.shape)
    rows, channels = x.shape
    gamma = ones_like(mean) if gamma is None else gamma
    beta = zeros((channels,), x.dtype) if beta is None else beta
    epsilon, zero = x.dtype.type(epsilon), x.dtype.type(0)
    _, _, added, biased, _ = read = _reading(x, bias)
    args = (grad.flat, x.flat, channels, added, biased, mean.flat, gamma.flat, beta.flat,
            variance.flat, epsilon, relu, zero)  # fmt: skip
    grad_beta, centered = sum_columns(
        _gradient_entry, args, rows, 2 * channels, x.dtype, column=_gradient_column, paired=True
    )
    grad_x, grad_gamma = empty(x.shape, x.dtype), empty((channels,), x.dtype)
    if not grad_x.size:
        return grad_x, grad_gamma, grad_beta, zeros((channels,), x.dtype) if biased else None
    span, across, along, run, lanes = runtime.line_layout(channels, rows)
    bias_parts = empty((along * lanes, channels), x.dtype) if biased else grad_gamma
    configure(_batch_norm_kernels(x.dtype.str)[1], (across, along), runtime.THREADS)(
        grad.flat, *read[:4], gamma.flat, beta.flat, mean.flat, variance.flat, epsilon,
        training, relu, grad_beta.flat, centered.flat, grad_x.flat, grad_gamma.flat,
        bias_parts.flat, span, run,
    )  # fmt: skip
    return grad_x, grad_gamma, grad_beta, column_sums(bias_parts) if biased else None


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
