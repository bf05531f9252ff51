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

Written with NumPy's vectorized passes: at a recurrent layer's sizes (a few thousand entries a
step) they beat a loop of scalar exponentials.
"""

from __future__ import annotations

import numpy as np

from autoconv.backends import bounds
from autoconv.backends.cpu.array import sigmoid


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


def lstm_cell_grad(
    gates: np.ndarray, c_prev: np.ndarray, grad_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(grad of z, grad of c_prev) from the gradient of :func:`lstm_step`'s c (the o gate's
    part of z's gradient is 0: it comes from h's)."""
    bounds.lstm_step("lstm_cell_grad", gates, c_prev, grad_c)
    i, f, g, _ = _split(gates)
    grad_z = np.zeros_like(gates)
    grad_i, grad_f, grad_g, _ = _split(grad_z)
    np.multiply(grad_c * g, i * (1 - i), out=grad_i)
    np.multiply(grad_c * c_prev, f * (1 - f), out=grad_f)
    np.multiply(grad_c * i, 1 - g * g, out=grad_g)
    return grad_z, grad_c * f


def lstm_hidden_grad(
    gates: np.ndarray, tanh_c: np.ndarray, grad_h: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(grad of z, grad of c) from the gradient of :func:`lstm_step`'s h = o * tanh(c) (only
    the o gate's part of z's gradient is not 0)."""
    bounds.lstm_step("lstm_hidden_grad", gates, tanh_c, grad_h)
    o = _split(gates)[3]
    grad_z = np.zeros_like(gates)
    np.multiply(grad_h * tanh_c, o * (1 - o), out=_split(grad_z)[3])
    return grad_z, grad_h * o * (1 - tanh_c * tanh_c)


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
