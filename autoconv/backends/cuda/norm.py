"""Batch normalization on the GPU: the forward (column statistics, then the normalization) and
its gradient. The names of :mod:`autoconv.backends.cpu.norm`.

Every pass over x runs in runtime's line layout (a thread takes one channel down a run of rows,
four rows' loads in flight; a warp reads adjacent channels of one row, a block whole rows):
the layout of the passes that ran at the H200's bandwidth (the normalization at 3.9 TB/s, the
gradient pass at 4.2), where the column sums of reduce.py took the statistics at about 2.4
(bench/results/2026-11-26-gpu-h200-tf32-default.md). Each thread's run gives parts (a row of
them a run), added up by a small launch after: the same bits every run.

The statistics are one pass: a thread's run gives its count, mean and sum of squared
deviations (M2), four rows at a time, each group's own mean and M2 merged into the run's by
Chan's formula; the runs' parts merged so too (_combine_moments). Robust in float32 where the
mean is large against the spread, as the two-pass sums it replaces (the mean first, then the
sums of x - mean and of their squares: x read three times, not twice, by the forward); the
CPU's float64 sums afford a shifted one-pass. Training: three launches forward (parts,
combined, normalized), four backward (the gradient's sums' parts, added up, the gradient pass,
the bias's parts added up); inference: one forward. A ReLU after it runs in the same launches:
the forward writes max(out, 0), the backward finds the forward's output again from x (the same
device functions, so the same bits) and gates the gradient by it. The bias of a layer before (a
convolution that left it out) is added to x as every pass reads it.
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
from autoconv.backends.cuda.reduce import column_sums
from autoconv.backends.cuda.runtime import (
    cached_kernel,
    cached_kernel_holding,
    configure,
    four_lines,
    launch,
    launch_lines,
    line_run,
    unsigned,
)


@cuda.jit(device=True)
def _merged(n_a, mean_a, m2_a, n_b, mean_b, m2_b, zero):
    """The (count, mean, M2) of two groups' values together from each group's (Chan's
    formula: no difference of large sums); an empty group changes nothing."""
    n = n_a + n_b
    weight = n_b / n if n > zero else zero
    delta = mean_b - mean_a
    return n, mean_a + delta * weight, (m2_a + m2_b) + delta * delta * (n_a * weight)


@cuda.jit(device=True)
def _shift(x, channels, c, added, zero):
    """Channel c's first value (of x + added; 0 without rows): the statistics' runs take their
    means and merge them less it, so that the merges' differences of means are of numbers the
    size of the spread, not of the mean (a mean 10^4 times the spread lost half the variance's
    digits to them: 5e-5 of it, 3e-7 so)."""
    return x[unsigned(c)] + added if x.size >= channels else zero


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
def _gated_lines(grad, x, at, added, mean, scale, shift, relu, zero):
    """Four lines' (at: their offsets) x + added and grad gated by the forward's ReLU (see
    _gated), their loads made first: in flight together."""
    a0, a1, a2, a3 = at
    x0, x1, x2, x3 = x[a0] + added, x[a1] + added, x[a2] + added, x[a3] + added
    g0, g1, g2, g3 = grad[a0], grad[a1], grad[a2], grad[a3]
    g0 = _gated(g0, x0, mean, scale, shift, relu, zero)
    g1 = _gated(g1, x1, mean, scale, shift, relu, zero)
    g2 = _gated(g2, x2, mean, scale, shift, relu, zero)
    g3 = _gated(g3, x3, mean, scale, shift, relu, zero)
    return (x0, x1, x2, x3), (g0, g1, g2, g3)


@cache
def _batch_norm_kernels(dtype: str) -> tuple[Any, Any, Any, Any]:
    """(moments, forward, gradient_sums, backward): the batch normalization's passes over x
    (flat, rows x channels) for ``dtype``, in runtime's line layout: a thread takes one channel
    down a run of rows, what the channel's rows share found once, four rows at a time (their
    loads in flight together; one at a time, the small Xception's took 182 and 262 us each on
    an H200, 0.9 ms of its step). A thread's run's row of parts (moments, gradient_sums, and
    backward's bias_parts) is blockIdx.y * lanes + its lane. ``relu``: the forward writes
    max(out, 0), the backward gates grad by it (see _gated); ``biased``: x + bias stands for
    x."""
    item = numba.from_dtype(np.dtype(dtype))
    zero, one, four, quarter = item(0), item(1), item(4), item(0.25)

    @cuda.jit(device=True)
    def output(x, mean, scale, shift, relu):
        value = _normalized(x, mean, scale, shift)
        return zero if relu and value < zero else value  # max(value, 0), a NaN kept

    # eight blocks an SM (32 registers; 40 and six without the cap): 4 KB a block in flight,
    # as the normalization that ran at the H200's bandwidth; the spills are outside the loop
    @cached_kernel_holding(8)
    def moments(x, channels, bias, biased, counts, parts, span, run):
        # parts (2, runs, channels): the mean and M2 of the thread's rows less the channel's
        # first (see _shift), merged four rows (each group's own mean and M2) at a time; counts
        # (runs,): how many rows (the same for each channel's thread of a run: the first
        # channel's writes it).
        rows = x.size // channels
        c, first, lanes, end = line_run(span, run, rows)
        lane = cuda.threadIdx.x // span
        if c >= channels or lane >= lanes:
            return
        added = bias[c] if biased else zero
        shift = _shift(x, channels, c, added, zero)
        n, mean, m2 = zero, zero, zero
        r = first
        while r + 3 * lanes < end:
            a0, a1, a2, a3 = four_lines(r, lanes, channels, c)
            v0, v1 = (x[a0] + added) - shift, (x[a1] + added) - shift
            v2, v3 = (x[a2] + added) - shift, (x[a3] + added) - shift
            group = ((v0 + v1) + (v2 + v3)) * quarter
            d0, d1, d2, d3 = v0 - group, v1 - group, v2 - group, v3 - group
            squares = (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
            n, mean, m2 = _merged(n, mean, m2, four, group, squares, zero)
            r += 4 * lanes
        while r < end:
            value = (x[unsigned(r * channels + c)] + added) - shift
            n, mean, m2 = _merged(n, mean, m2, one, value, zero, zero)
            r += lanes
        row = cuda.blockIdx.y * lanes + lane
        at = unsigned(row * channels + c)
        parts[at], parts[unsigned(parts.size // 2 + at)] = mean, m2
        if c == 0:
            counts[row] = n

    @cached_kernel
    def forward(x, channels, bias, biased, gamma, beta, epsilon, relu, mean, variance, out, span,
                run):  # fmt: skip
        rows = x.size // channels
        c, first, lanes, end = line_run(span, run, rows)
        if c >= channels:
            return
        m, scale, shift = mean[c], _scale(gamma[c], variance[c], epsilon), beta[c]
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
    def gradient_sums(grad, x, channels, bias, biased, gamma, beta, mean, variance, epsilon,
                      relu, parts, span, run):  # fmt: skip
        # parts (runs, 2 * channels): the thread's sums of grad (column c) and of grad * (x -
        # mean) (column channels + c), grad gated by the forward's ReLU with ``relu``.
        rows = x.size // channels
        c, first, lanes, end = line_run(span, run, rows)
        lane = cuda.threadIdx.x // span
        if c >= channels or lane >= lanes:
            return
        m = mean[c]
        scale = _scale(gamma[c], variance[c], epsilon) if relu else zero  # the forward's
        shift, added = beta[c], bias[c] if biased else zero
        total, centered = zero, zero
        r = first
        while r + 3 * lanes < end:
            at = four_lines(r, lanes, channels, c)
            (x0, x1, x2, x3), (g0, g1, g2, g3) = _gated_lines(
                grad, x, at, added, m, scale, shift, relu, zero
            )
            total = (((total + g0) + g1) + g2) + g3
            centered = (((centered + g0 * (x0 - m)) + g1 * (x1 - m)) + g2 * (x2 - m)) + g3 * (
                x3 - m
            )
            r += 4 * lanes
        while r < end:
            at = unsigned(r * channels + c)
            value = x[at] + added
            g = _gated(grad[at], value, m, scale, shift, relu, zero)
            total += g
            centered += g * (value - m)
            r += lanes
        at = unsigned((cuda.blockIdx.y * lanes + lane) * 2 * channels + c)
        parts[at], parts[unsigned(at + channels)] = total, centered

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
            a0, a1, a2, a3 = at = four_lines(r, lanes, channels, c)
            (x0, x1, x2, x3), (g0, g1, g2, g3) = _gated_lines(
                grad, x, at, added, m, scale, out_shift, relu, zero
            )
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

    return moments, forward, gradient_sums, backward


# The runs' moments are merged by blocks of MERGE_CHANNELS channels x MERGE_ROWS threads down
# the runs (a thread merges every MERGE_ROWS-th run, four at a time pairwise, then the block's
# threads in a fixed tree): one launch, the same bits every run. Each round of four waits on
# its loads, so the threads down a channel are many: the small Xception's largest batch norm
# has 8,100 runs of 256 channels, 16 rounds a thread in 32 blocks (with 32 x 32 blocks: 64
# rounds, 8 blocks). Eight channels are a 32-byte sector of a run's row.
MERGE_CHANNELS = 2 if runtime.SIMULATED else 8
MERGE_ROWS = 2 if runtime.SIMULATED else 128  # a power of two


@cache
def _merge_moments(dtype: str) -> Any:
    """The kernel merging ``moments``' parts into each channel's mean and (biased) variance."""
    item = numba.from_dtype(np.dtype(dtype))
    zero = item(0)

    @cuda.jit(device=True)
    def run_of(counts, parts, channels, k, c):
        at = unsigned(k * channels + c)
        return counts[k], parts[at], parts[unsigned(parts.size // 2 + at)]

    # at most 64 registers a thread, so that a block's 1,024 threads fit a multiprocessor
    # whatever the dtype (float64's took 64 uncapped)
    @cached_kernel_holding(4)
    def merge(x, channels, bias, biased, counts, parts, means, variances):
        merging = cuda.shared.array((3, MERGE_ROWS, MERGE_CHANNELS), item)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        c, runs = cuda.blockIdx.x * MERGE_CHANNELS + tx, counts.size
        n, mean, m2 = zero, zero, zero
        if c < channels:
            k = ty
            while k + 3 * MERGE_ROWS < runs:  # four runs' loads in flight, merged pairwise
                n0, mean0, q0 = run_of(counts, parts, channels, k, c)
                n1, mean1, q1 = run_of(counts, parts, channels, k + MERGE_ROWS, c)
                n2, mean2, q2 = run_of(counts, parts, channels, k + 2 * MERGE_ROWS, c)
                n3, mean3, q3 = run_of(counts, parts, channels, k + 3 * MERGE_ROWS, c)
                n0, mean0, q0 = _merged(n0, mean0, q0, n1, mean1, q1, zero)
                n2, mean2, q2 = _merged(n2, mean2, q2, n3, mean3, q3, zero)
                n0, mean0, q0 = _merged(n0, mean0, q0, n2, mean2, q2, zero)
                n, mean, m2 = _merged(n, mean, m2, n0, mean0, q0, zero)
                k += 4 * MERGE_ROWS
            while k < runs:
                n0, mean0, q0 = run_of(counts, parts, channels, k, c)
                n, mean, m2 = _merged(n, mean, m2, n0, mean0, q0, zero)
                k += MERGE_ROWS
        merging[0, ty, tx], merging[1, ty, tx], merging[2, ty, tx] = n, mean, m2
        cuda.syncthreads()
        step = MERGE_ROWS // 2
        while step > 0:
            if ty < step:
                n, mean, m2 = _merged(
                    merging[0, ty, tx], merging[1, ty, tx], merging[2, ty, tx],
                    merging[0, ty + step, tx], merging[1, ty + step, tx],
                    merging[2, ty + step, tx], zero,
                )  # fmt: skip
                merging[0, ty, tx], merging[1, ty, tx], merging[2, ty, tx] = n, mean, m2
            cuda.syncthreads()
            step //= 2
        if ty == 0 and c < channels:
            means[c] = mean + _shift(x, channels, c, bias[c] if biased else zero, zero)
            variances[c] = m2 / n

    return merge


def _statistics(x: CudaArray, read: tuple) -> tuple[CudaArray, CudaArray]:
    """The mean and biased variance of each column of x (rows, C), read as ``read`` says (see
    :func:`_reading`): x read once, each run's moments, then merged (two launches)."""
    (rows, channels), dtype = x.shape, x.dtype
    span, across, along, run, lanes = runtime.line_layout(channels, rows)
    counts, parts = empty((along * lanes,), dtype), empty((2, along * lanes, channels), dtype)
    configure(_batch_norm_kernels(dtype.str)[0], (across, along), runtime.THREADS)(
        *read, counts.flat, parts.flat, span, run
    )
    mean, variance = empty((channels,), dtype), empty((channels,), dtype)
    configure(
        _merge_moments(dtype.str), -(-channels // MERGE_CHANNELS), (MERGE_CHANNELS, MERGE_ROWS)
    )(*read, counts.flat, parts.flat, mean.flat, variance.flat)
    return mean, variance


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
    read = _reading(x, bias)
    if mean is None:
        mean, variance = _statistics(x, read)
    gamma = ones_like(mean) if gamma is None else gamma
    beta = zeros((channels,), x.dtype) if beta is None else beta
    out = empty(x.shape, x.dtype)
    if out.size:
        launch_lines(_batch_norm_kernels(x.dtype.str)[1], channels, rows)(
            *read, gamma.flat, beta.flat, x.dtype.type(epsilon), relu, mean.flat,
            variance.flat, out.flat,
        )  # fmt: skip
    return out, mean, variance


def _reading(x: CudaArray, bias: CudaArray | None) -> tuple:
    """How the kernels read x (rows, C): (x flat, C, the bias, whether there is one)."""
    biased = bias is not None
    added = bias.astype(x.dtype, copy=False) if biased else x  # x's place: not read
    return x.flat, x.shape[1], added.flat, biased


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
    epsilon = x.dtype.type(epsilon)
    read, biased = _reading(x, bias), bias is not None
    _, _, gradient_sums, backward = _batch_norm_kernels(x.dtype.str)
    span, across, along, run, lanes = runtime.line_layout(channels, rows)
    grid, statistics = (across, along), (gamma.flat, beta.flat, mean.flat, variance.flat, epsilon)
    parts = empty((along * lanes, 2 * channels), x.dtype)
    configure(gradient_sums, grid, runtime.THREADS)(
        grad.flat, *read, *statistics, relu, parts.flat, span, run
    )
    grad_beta, centered = column_sums(parts, split=channels)
    grad_x, grad_gamma = empty(x.shape, x.dtype), empty((channels,), x.dtype)
    if not grad_x.size:
        return grad_x, grad_gamma, grad_beta, zeros((channels,), x.dtype) if biased else None
    bias_parts = empty((along * lanes, channels), x.dtype) if biased else grad_gamma
    configure(backward, grid, runtime.THREADS)(
        grad.flat, *read, *statistics, training, relu, grad_beta.flat, centered.flat,
        grad_x.flat, grad_gamma.flat, bias_parts.flat, span, run,
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
