"""The step of a long short-term memory with Keras's default activations, fused into one op:
its gates and new states in one launch, the gradient of its cell state in one and of its
hidden state in one. The names and formulas of :mod:`autoconv.backends.cpu.recurrent` (which
says what they compute), a thread an entry of the state."""

from __future__ import annotations

import math

from numba import cuda

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, empty
from autoconv.backends.cuda.elementwise import ONE, ZERO, _sigmoid
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
def _cell_grad(gates, c_prev, grad_c, units, grad_z, grad_c_prev):
    for k in range(cuda.grid(1), grad_c.size, cuda.gridsize(1)):
        at = k // units * 4 * units + k % units
        i, f, g = gates[at], gates[at + units], gates[at + 2 * units]
        dc = grad_c[k]
        grad_z[at] = dc * g * (i * (ONE - i))
        grad_z[at + units] = dc * c_prev[k] * (f * (ONE - f))
        grad_z[at + 2 * units] = dc * i * (ONE - g * g)
        grad_z[at + 3 * units] = ZERO
        grad_c_prev[k] = dc * f


@cached_kernel
def _hidden_grad(gates, tanh_c, grad_h, units, grad_z, grad_c):
    for k in range(cuda.grid(1), grad_h.size, cuda.gridsize(1)):
        at = k // units * 4 * units + k % units
        o, t, dh = gates[at + 3 * units], tanh_c[k], grad_h[k]
        grad_z[at] = ZERO
        grad_z[at + units] = ZERO
        grad_z[at + 2 * units] = ZERO
        grad_z[at + 3 * units] = dh * t * (o * (ONE - o))
        grad_c[k] = dh * o * (ONE - t * t)


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


def lstm_cell_grad(
    gates: CudaArray, c_prev: CudaArray, grad_c: CudaArray
) -> tuple[CudaArray, CudaArray]:
    """(grad of z, grad of c_prev) from the gradient of :func:`lstm_step`'s c. One launch."""
    bounds.lstm_step("lstm_cell_grad", gates, c_prev, grad_c)
    grad_z, grad_c_prev = empty(gates.shape, gates.dtype), empty(c_prev.shape, c_prev.dtype)
    if grad_c.size:
        launch(_cell_grad, grad_c.size)(
            gates.flat, c_prev.flat, grad_c.flat, c_prev.shape[1], grad_z.flat, grad_c_prev.flat
        )
    return grad_z, grad_c_prev


def lstm_hidden_grad(
    gates: CudaArray, tanh_c: CudaArray, grad_h: CudaArray
) -> tuple[CudaArray, CudaArray]:
    """(grad of z, grad of c) from the gradient of :func:`lstm_step`'s h. One launch."""
    bounds.lstm_step("lstm_hidden_grad", gates, tanh_c, grad_h)
    grad_z, grad_c = empty(gates.shape, gates.dtype), empty(tanh_c.shape, tanh_c.dtype)
    if grad_h.size:
        launch(_hidden_grad, grad_h.size)(
            gates.flat, tanh_c.flat, grad_h.flat, tanh_c.shape[1], grad_z.flat, grad_c.flat
        )
    return grad_z, grad_c
