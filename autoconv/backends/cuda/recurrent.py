"""The steps of a long short-term memory and of a gated recurrent unit with Keras's default
activations, each fused into one op: an LSTM's gates and new states in one launch and their
gradients in one; a GRU's step in one and its gradients in one. The names and formulas of
:mod:`autoconv.backends.cpu.recurrent` (which says what they compute), a thread an entry of the
state."""

from __future__ import annotations

import math

from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, empty
from autoconv.backends.cuda.elementwise import ONE, _sigmoid
from autoconv.backends.cuda.runtime import cached_kernel, launch

sigmoid = cuda.jit(device=True)(_sigmoid)


@cached_kernel
def _step(z, c_prev, units, h, c, gates, tanh_c):
    for k in range(cuda.grid(1), c.size, cuda.gridsize(1)):
        at = k // units * 4 * units + k % units  # gate i of entry k; f, g, o a units apart
        i, f = sigmoid(z[at]), sigmoid(z[at + units])
        g, o = math.tanh(z[at + 2 * units]), sigmoid(z[at + 3 * units])
        gates[at] = i
        gates[at + units] = f
        gates[at + 2 * units] = g
        gates[at + 3 * units] = o
        cell = f * c_prev[k] + i * g
        t = math.tanh(cell)
        c[k] = cell
        tanh_c[k] = t
        h[k] = o * t


@cached_kernel
def _step_grad(gates, c_prev, tanh_c, grad_h, grad_c, units, grad_z, grad_c_prev):
    for k in range(cuda.grid(1), grad_c.size, cuda.gridsize(1)):
        at = k // units * 4 * units + k % units
        i, f, g, o = gates[at], gates[at + units], gates[at + 2 * units], gates[at + 3 * units]
        t, dh = tanh_c[k], grad_h[k]
        dc = grad_c[k] + dh * o * (ONE - t * t)
        grad_z[at] = dc * g * (i * (ONE - i))
        grad_z[at + units] = dc * c_prev[k] * (f * (ONE - f))
        grad_z[at + 2 * units] = dc * i * (ONE - g * g)
        grad_z[at + 3 * units] = dh * t * (o * (ONE - o))
        grad_c_prev[k] = dc * f


@cached_kernel
def _gru_step(x, recurrent, h_prev, units, h, gates):
    for k in range(cuda.grid(1), h.size, cuda.gridsize(1)):
        at = k // units * 3 * units + k % units  # gate z of entry k; r, hh a units apart
        z = sigmoid(x[at] + recurrent[at])
        r = sigmoid(x[at + units] + recurrent[at + units])
        candidate = math.tanh(x[at + 2 * units] + r * recurrent[at + 2 * units])
        gates[at] = z
        gates[at + units] = r
        gates[at + 2 * units] = candidate
        h[k] = candidate + z * (h_prev[k] - candidate)


@cached_kernel
def _gru_step_grad(gates, recurrent, h_prev, grad_h, units, grad_x, grad_recurrent, grad_prev):
    for k in range(cuda.grid(1), grad_h.size, cuda.gridsize(1)):
        at = k // units * 3 * units + k % units
        z, r, candidate = gates[at], gates[at + units], gates[at + 2 * units]
        dh = grad_h[k]
        dz = dh * (h_prev[k] - candidate) * (z * (ONE - z))
        dc = dh * (ONE - z) * (ONE - candidate * candidate)
        dr = dc * recurrent[at + 2 * units] * (r * (ONE - r))
        grad_x[at] = dz
        grad_x[at + units] = dr
        grad_x[at + 2 * units] = dc
        grad_recurrent[at] = dz
        grad_recurrent[at + units] = dr
        grad_recurrent[at + 2 * units] = dc * r
        grad_prev[k] = dh * z


def gru_step(x: CudaArray, recurrent: CudaArray, h_prev: CudaArray) -> tuple[CudaArray, CudaArray]:
    """(h, gates) of a GRU step: h (batch, units), the activations z, r, hh (batch, 3 units)
    kept for the backward pass. One launch."""
    bounds.gru_step("gru_step", x, recurrent, h_prev)
    h, gates = empty(h_prev.shape, h_prev.dtype), empty(x.shape, x.dtype)
    if h.size:
        launch(_gru_step, h.size)(
            x.flat, recurrent.flat, h_prev.flat, h_prev.shape[1], h.flat, gates.flat
        )
    return h, gates


def gru_step_grad(
    gates: CudaArray, recurrent: CudaArray, h_prev: CudaArray, grad_h: CudaArray
) -> tuple[CudaArray, CudaArray, CudaArray]:
    """(grad of x, grad of recurrent, grad of h_prev) of :func:`gru_step`. One launch."""
    bounds.gru_step("gru_step_grad", gates, recurrent, h_prev, grad_h)
    grad_x, grad_recurrent = empty(gates.shape, gates.dtype), empty(gates.shape, gates.dtype)
    grad_prev = empty(h_prev.shape, h_prev.dtype)
    if grad_h.size:
        launch(_gru_step_grad, grad_h.size)(
            gates.flat, recurrent.flat, h_prev.flat, grad_h.flat, h_prev.shape[1], grad_x.flat,
            grad_recurrent.flat, grad_prev.flat,
        )  # fmt: skip
    return grad_x, grad_recurrent, grad_prev


def lstm_step(z: CudaArray, c_prev: CudaArray) -> tuple[CudaArray, CudaArray, CudaArray, CudaArray]:
    """(h, c, gates, tanh(c)) of an LSTM step: h and c (batch, units), the gates' activations
    (batch, 4 units), from the pre-activations ``z`` and the previous cell state ``c_prev``.
    One launch."""
    bounds.lstm_step("lstm_step", z, c_prev)
    h, c, tanh_c = (empty(c_prev.shape, c_prev.dtype) for _ in range(3))
    gates = empty(z.shape, z.dtype)
    if c.size:
        launch(_step, c.size)(
            z.flat, c_prev.flat, c_prev.shape[1], h.flat, c.flat, gates.flat, tanh_c.flat
        )
    return h, c, gates, tanh_c


def lstm_step_grad(
    gates: CudaArray, c_prev: CudaArray, tanh_c: CudaArray, grad_h: CudaArray, grad_c: CudaArray
) -> tuple[CudaArray, CudaArray]:
    """(grad of z, grad of c_prev) of :func:`lstm_step` from the gradients of its h and c. One
    launch."""
    bounds.lstm_step("lstm_step_grad", gates, c_prev, tanh_c, grad_h, grad_c)
    grad_z, grad_c_prev = empty(gates.shape, gates.dtype), empty(c_prev.shape, c_prev.dtype)
    if grad_c.size:
        launch(_step_grad, grad_c.size)(
            gates.flat, c_prev.flat, tanh_c.flat, grad_h.flat, grad_c.flat, c_prev.shape[1],
            grad_z.flat, grad_c_prev.flat,
        )  # fmt: skip
    return grad_z, grad_c_prev
