"""The steps of a long short-term memory and of a gated recurrent unit with Keras's default
activations, each fused into one op: their gates and new states, and their gradients. The
names of :mod:`autoconv.backends.cuda.recurrent`.

LSTM: ``z`` (batch, 4 units) holds the pre-activations of the gates in Keras's order i, f, g, o;
with i, f, o = sigmoid and g = tanh of theirs (``gates``, kept for the backward pass),
``c = f * c_prev + i * g`` and ``h = o * tanh(c)``.

GRU (Keras's ``reset_after``, cuDNN's): ``x`` and ``recurrent`` (batch, 3 units) hold the
input's and the previous state's projections (each with its bias) for the gates z, r and the
candidate; z = sigmoid(x_z + recurrent_z), r = sigmoid(x_r + recurrent_r), the candidate
hh = tanh(x_h + r * recurrent_h), and ``h = z * h_prev + (1 - z) * hh``.

The forward steps are NumPy's vectorized passes: at a recurrent layer's sizes (a few thousand
entries a step) they beat a loop of scalar exponentials (an LSTM step at batch 32 and 128
units: 36 us, Numba's loop 180 us).
"""

from __future__ import annotations

import numpy as np

from autoconv.backends import bounds
from autoconv.backends.cpu.array import sigmoid
from autoconv.backends.cpu.jit import serial_jit


def _split(gates: np.ndarray) -> list[np.ndarray]:
    units = gates.shape[1] // 4
    return [gates[:, k * units : (k + 1) * units] for k in range(4)]


def lstm_step(
    z: np.ndarray, c_prev: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(h, c, gates, tanh(c)) of an LSTM step: h and c (batch, units), the gates' activations
    (batch, 4 units), from the pre-activations ``z`` and the previous cell state ``c_prev``."""
    bounds.lstm_step("lstm_step", z, c_prev)
    gates = sigmoid(z).copy()  # (sigmoid's result is a reused work array)
    units = c_prev.shape[1]
    np.tanh(z[:, 2 * units : 3 * units], out=gates[:, 2 * units : 3 * units])
    i, f, g, o = _split(gates)
    c = f * c_prev
    c += i * g
    tanh_c = np.tanh(c)
    return o * tanh_c, c, gates, tanh_c


@serial_jit
def _lstm_step_grad(gates, c_prev, tanh_c, grad_h, grad_c, grad_z, grad_c_prev):
    batch, units = c_prev.shape
    for b in range(batch):
        for k in range(units):
            i, f = gates[b, k], gates[b, units + k]
            g, o = gates[b, 2 * units + k], gates[b, 3 * units + k]
            t, dh = tanh_c[b, k], grad_h[b, k]
            dc = grad_c[b, k] + dh * o * (1 - t * t)  # c's gradient: its own and through h
            grad_z[b, k] = dc * g * (i * (1 - i))
            grad_z[b, units + k] = dc * c_prev[b, k] * (f * (1 - f))
            grad_z[b, 2 * units + k] = dc * i * (1 - g * g)
            grad_z[b, 3 * units + k] = dh * t * (o * (1 - o))
            grad_c_prev[b, k] = dc * f


def lstm_step_grad(
    gates: np.ndarray,
    c_prev: np.ndarray,
    tanh_c: np.ndarray,
    grad_h: np.ndarray,
    grad_c: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(grad of z, grad of c_prev) of :func:`lstm_step` from the gradients of its h and c. One
    loop (no transcendental functions: Numba's loop beats NumPy's passes here, 15 against 37 us
    at batch 32 and 128 units)."""
    bounds.lstm_step("lstm_step_grad", gates, c_prev, tanh_c, grad_h, grad_c)
    grad_z, grad_c_prev = np.empty_like(gates), np.empty_like(c_prev)
    arrays = [np.ascontiguousarray(a) for a in (gates, c_prev, tanh_c, grad_h, grad_c)]
    _lstm_step_grad(*arrays, grad_z, grad_c_prev)
    return grad_z, grad_c_prev


def gru_step(
    x: np.ndarray, recurrent: np.ndarray, h_prev: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(h, gates) of a GRU step: h (batch, units), the activations z, r, hh (batch, 3 units)
    kept for the backward pass."""
    bounds.gru_step("gru_step", x, recurrent, h_prev)
    units = h_prev.shape[1]
    gates = sigmoid(x + recurrent).copy()
    np.tanh(
        x[:, 2 * units :] + gates[:, units : 2 * units] * recurrent[:, 2 * units :],
        out=gates[:, 2 * units :],
    )
    z, candidate = gates[:, :units], gates[:, 2 * units :]
    return candidate + z * (h_prev - candidate), gates


def gru_step_grad(
    gates: np.ndarray, recurrent: np.ndarray, h_prev: np.ndarray, grad_h: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grad of x, grad of recurrent, grad of h_prev) of :func:`gru_step`."""
    bounds.gru_step("gru_step_grad", gates, recurrent, h_prev, grad_h)
    units = h_prev.shape[1]
    z, r, candidate = (gates[:, k * units : (k + 1) * units] for k in range(3))
    grad_x = np.empty_like(gates)
    grad_z, grad_r, grad_candidate = (grad_x[:, k * units : (k + 1) * units] for k in range(3))
    np.multiply(grad_h * (h_prev - candidate), z * (1 - z), out=grad_z)
    np.multiply(grad_h * (1 - z), 1 - candidate * candidate, out=grad_candidate)
    np.multiply(grad_candidate * recurrent[:, 2 * units :], r * (1 - r), out=grad_r)
    grad_recurrent = grad_x.copy()
    grad_recurrent[:, 2 * units :] *= r
    return grad_x, grad_recurrent, grad_h * z
