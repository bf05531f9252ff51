"""The step of a long short-term memory with Keras's default activations, fused into one op:
its gates and new states, and the gradients of its cell and hidden states. The names of
:mod:`autoconv.backends.cuda.recurrent`.

``z`` (batch, 4 units) holds the pre-activations of the gates in Keras's order i, f, g, o;
with i, f, o = sigmoid and g = tanh of theirs (``gates``, kept for the backward pass),
``c = f * c_prev + i * g`` and ``h = o * tanh(c)``. Written with NumPy's vectorized passes: at
an LSTM's sizes (a few thousand entries a step) they beat a loop of scalar exponentials.
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
