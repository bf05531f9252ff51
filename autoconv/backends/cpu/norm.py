"""Batch normalization kernels on a (rows, C) array, one column per channel (channels-last
images reshaped to (N*H*W, C)): the column statistics, the normalization and its gradient.

Two loops do all the work, each over the rows with the channels innermost (contiguous, so
they vectorize): :func:`_column_sums` adds up a column expression into per-row-block float64
partial sums, and :func:`_combine` writes a per-column affine combination of two arrays. The
per-channel arithmetic between them (C numbers) is NumPy, in float64.

Sums accumulate in float64 whatever the data's dtype. A float32 running sum over a batch of
convolution outputs (43,264 rows at batch 64 of the reference model) carries a rounding error
that grows with the row count; float64 sums give float32 statistics within float32 rounding of
the exact ones for any batch, as Keras's backends get them with their tree-shaped float32
reductions. The price, measured on a 43,264 x 32 float32 array: 0.68 ms for the sums pass
against 0.46 ms in float32. It buys back a pass: with float64 sums the variance is computed in
one pass, shifted by the first row (sums of d = x - x[0] and of d * d, then mean = x[0] +
sum(d) / n and variance = (sum(d * d) - sum(d)**2 / n) / n, exact in exact arithmetic; the
shift keeps the subtraction from cancelling where the mean is large against the spread), so
the forward reads x twice, not three times (1.0 ms there, from 2.0 two-pass).

Both loops also take what a model's plan fuses in: the bias of the layer before, added to x as
it is read, and a ReLU after, applied as the output is written (the gradient gated by the
forward's output, found again from x with the same per-column numbers, so the same bits).
"""

from __future__ import annotations

import numba
import numpy as np

from autoconv.backends import bounds
from autoconv.backends.cpu import workspace
from autoconv.backends.cpu.jit import Kernel, inline

# Rows are summed in this many blocks (one thread each in the parallel build), whose partial
# sums are then added in order: the result does not depend on the number of threads.
ROW_BLOCKS = 16


@Kernel
def _column_sums(a, a_bias, a_center, b, b_bias, b_center, gate, gated, sums):
    # For each block k of rows: sums[k, 0, c] = sum of (a' - a_center[c]) over column c and
    # sums[k, 1, c] = sum of (a' - a_center[c]) * (b' - b_center[c]); float64 centers and sums.
    # b' is b + b_bias[c] (a bias of the layer before, or 0); a' is a + a_bias[c], if
    # ``gated`` times whether _gate_open(b', gate) (a ReLU's mask).
    rows, channels = a.shape
    blocks = sums.shape[0]
    for k in numba.prange(blocks):
        linear, products = sums[k, 0], sums[k, 1]
        linear[:] = 0
        products[:] = 0
        for r in range(k * rows // blocks, (k + 1) * rows // blocks):
            a_row, b_row = a[r], b[r]
            for c in range(channels):
                value, other = a_row[c] + a_bias[c], b_row[c] + b_bias[c]
                if gated:  # times the mask, as relu_grad (a NaN stays NaN)
                    value = value * _gate_open(other, gate, c)
                d = value - a_center[c]
                linear[c] += d
                products[c] += d * (other - b_center[c])


@inline
def _gate_open(x, gate, c):
    """Whether the forward's normalized value of x in column c, (x - center[c]) * scale[c] +
    shift[c] (gate = (center, scale, shift), in x's dtype), was positive."""
    center, scale, shift = gate
    return (x - center[c]) * scale[c] + shift[c] > 0


@Kernel
def _combine(x, x_bias, center, x_scale, g, g_scale, shift, gate, gated, rectify, out):
    # out[:, c] = (x'[:, c] - center[c]) * x_scale[c] + g'[:, c] * g_scale[c] + shift[c], x' =
    # x + x_bias[c], g' as a' of _column_sums; ``rectify``: max(out, 0) (NaN kept).
    rows, channels = x.shape
    for r in numba.prange(rows):
        x_row, g_row, out_row = x[r], g[r], out[r]
        for c in range(channels):
            x_value, g_value = x_row[c] + x_bias[c], g_row[c]
            if gated:
                g_value = g_value * _gate_open(x_value, gate, c)
            value = (x_value - center[c]) * x_scale[c] + g_value * g_scale[c] + shift[c]
            out_row[c] = 0 if rectify and value < 0 else value


def _sums(a, a_bias, a_center, b, b_bias, b_center, gate=None) -> tuple[np.ndarray, np.ndarray]:
    """Column sums of a' - a_center and of (a' - a_center) * (b' - b_center), float64, with a'
    = a + a_bias and b' = b + b_bias; with ``gate`` (see _gate_open), a' counted only where
    b's gate is open."""
    sums = np.empty((ROW_BLOCKS, 2, a.shape[1]))
    gated = gate is not None
    gate = gate if gated else _no_gate(b.dtype)
    _column_sums(2 * a.size, a, a_bias, a_center, b, b_bias, b_center, gate, gated, sums)
    linear, products = sums.sum(axis=0)
    return linear, products


def _added(bias: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    """What the kernels add to x's columns as they read them: ``bias`` in x's dtype, or 0s."""
    return np.zeros(x.shape[1], x.dtype) if bias is None else bias.astype(x.dtype, copy=False)


def _no_gate(dtype: np.dtype) -> tuple[np.ndarray, ...]:
    """A gate's place where there is none (in the data's dtype: one compiled kernel)."""
    return (np.zeros(1, dtype),) * 3


def _moments(x: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and biased variance of x + bias, float64, in one pass over x."""
    rows = x.shape[0]
    shift = (x[0] + bias).astype(np.float64)
    linear, squares = _sums(x, bias, shift, x, bias, shift)
    return shift + linear / rows, np.maximum(squares - linear * linear / rows, 0.0) / rows


def _affine(
    mean: np.ndarray, variance: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
    epsilon: float, dtype: np.dtype,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:  # fmt: skip
    """The normalization out = (x - center) * scale + shift as (center, scale, shift) in
    ``dtype`` (taken in float64 from the statistics in x's dtype, so that the backward finds
    the forward's values again), and 1 / sqrt(variance + epsilon) in float64."""
    inv = 1.0 / np.sqrt(variance.astype(np.float64) + epsilon)
    scale = inv if gamma is None else inv * gamma
    shift = np.zeros(len(mean), dtype) if beta is None else beta.astype(dtype)
    return (mean.astype(dtype), scale.astype(dtype), shift), inv


def batch_norm_forward(
    x: np.ndarray,
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
    epsilon: float,
    mean: np.ndarray | None = None,
    variance: np.ndarray | None = None,
    relu: bool = False,
    bias: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalize each column of x (rows, C): (out, mean, variance) with out = (x - mean) /
    sqrt(variance + epsilon) * gamma + beta (``relu``: max(out, 0); ``bias``: x + bias stands
    for x, added as x is read). Without ``mean`` and ``variance`` they are the columns' mean and
    biased variance (float64 sums, returned in x's dtype); given, they are used and returned as
    they are."""
    bounds.statistics("batch_norm_forward", x, gamma, beta, mean, variance)
    bounds.columns("batch_norm_forward", "bias", bias, x.shape[1])
    x = np.ascontiguousarray(x)
    dtype = x.dtype
    bias = _added(bias, x)
    if mean is None:
        mean64, variance64 = _moments(x, bias)
        mean, variance = mean64.astype(dtype), variance64.astype(dtype)
    gate, _ = _affine(mean, variance, gamma, beta, epsilon, dtype)
    center, scale, shift = gate
    out = workspace.empty(x.shape, x.dtype)
    no_g = np.zeros(len(mean), dtype)  # the pass reads x again as its gradient term, times 0
    _combine(2 * x.size, x, bias, center, scale, x, no_g, shift, gate, False, relu, out)
    return out, mean, variance


def batch_norm_backward(
    grad: np.ndarray,
    x: np.ndarray,
    gamma: np.ndarray | None,
    mean: np.ndarray,
    variance: np.ndarray,
    epsilon: float,
    training: bool,
    beta: np.ndarray | None = None,
    relu: bool = False,
    bias: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(grad_x, grad_gamma, grad_beta, grad_bias) of :func:`batch_norm_forward`. With x_hat =
    (x - mean) * inv, inv = 1 / sqrt(variance + epsilon): grad_beta = sum(grad), grad_gamma =
    sum(grad * x_hat) over the rows, and grad_x = gamma * inv * (grad - (grad_beta + x_hat *
    grad_gamma) / rows) when ``training`` (the statistics were x's own), gamma * inv * grad
    otherwise. ``relu``: grad where the forward's output (with ``beta``) was positive, else 0,
    in those same passes; ``bias``: the forward's (x + bias stands for x), its gradient
    grad_x's column sums (else None)."""
    bounds.statistics("batch_norm_backward", x, gamma, beta, mean, variance)
    bounds.columns("batch_norm_backward", "bias", bias, x.shape[1])
    bounds.shape_is("batch_norm_backward", "grad", grad, x.shape)
    grad, x = np.ascontiguousarray(grad), np.ascontiguousarray(x)
    dtype, (rows, channels) = x.dtype, x.shape
    biased, bias, mean64 = bias is not None, _added(bias, x), mean.astype(np.float64)
    gate, inv = _affine(mean, variance, gamma, beta, epsilon, dtype)
    no_bias = np.zeros(channels, dtype)
    grad_beta, centered = _sums(
        grad, no_bias, np.zeros(channels), x, bias, mean64, gate if relu else None
    )
    grad_gamma = centered * inv
    g_scale = inv if gamma is None else inv * gamma
    x_scale, shift = np.zeros(channels), np.zeros(channels)
    if training:
        x_scale = -g_scale * inv * grad_gamma / rows
        shift = -g_scale * grad_beta / rows
    grad_x = workspace.empty(x.shape, x.dtype)
    _combine(
        3 * x.size, x, bias, gate[0], x_scale.astype(dtype), grad, g_scale.astype(dtype),
        shift.astype(dtype), gate, relu, False, grad_x,
    )  # fmt: skip
    grad_bias = grad_x.sum(axis=0) if biased else None
    return grad_x, grad_gamma.astype(dtype), grad_beta.astype(dtype), grad_bias


def moving_averages(averages: list[np.ndarray], values: list[np.ndarray], momentum: float) -> None:
    """Each average = average * momentum + value * (1 - momentum), in place (a
    BatchNormalization's moving statistics: Keras's ``moving * momentum + batch * (1 -
    momentum)``, the float scalars applied in the arrays' dtype)."""
    bounds.pairs("moving_averages", averages, values)
    for average, value in zip(averages, values, strict=True):
        average[...] = average * momentum + value * (1.0 - momentum)
