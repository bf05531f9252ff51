"""The fused steps of a long short-term memory and of a gated recurrent unit (Keras's default
activations), each one op whose forward and backward are one backend call each (see
``lstm_step`` and ``gru_step`` in :mod:`autoconv.backends.contract`), where the same step
composed of the engine's ops takes about twenty of them. :class:`autoconv.layers.LSTMCell` and
:class:`autoconv.layers.GRUCell` call them; other activations compose."""

from __future__ import annotations

from typing import Any

from autoconv.backends import backend
from autoconv.ops.base import as_tensor
from autoconv.tensor import Tensor, record


def lstm_step(z: Tensor, c_prev: Any) -> tuple[Tensor, Tensor]:
    """(h, c), each (batch, units): ``z`` (batch, 4 units) the pre-activations of the gates
    i, f, g, o in Keras's order; c = sigmoid(f) * c_prev + sigmoid(i) * tanh(g) and
    h = sigmoid(o) * tanh(c). Differentiable in z and c_prev. h is a node of the graph on c,
    so c's gradient (from h, and from the next step) is taken back once."""
    c_prev = as_tensor(c_prev, like=z)
    xp = backend(z)
    h, c, gates, tanh_c = xp.lstm_step(z.data, c_prev.data)
    cell = record(c, (z, c_prev), lambda g: xp.lstm_cell_grad(gates, c_prev.data, g), "lstm_cell")
    hidden = record(h, (z, cell), lambda g: xp.lstm_hidden_grad(gates, tanh_c, g), "lstm_hidden")
    return hidden, cell


def gru_step(x: Tensor, recurrent: Tensor, h_prev: Any) -> Tensor:
    """h (batch, units) of a GRU step (Keras's ``reset_after``): ``x`` and ``recurrent``
    (batch, 3 units) the input's and the previous state's projections with their biases, in
    Keras's gate order z, r, h; z = sigmoid(x_z + recurrent_z), r = sigmoid(x_r +
    recurrent_r), hh = tanh(x_h + r * recurrent_h), h = z * h_prev + (1 - z) * hh.
    Differentiable in all three."""
    h_prev = as_tensor(h_prev, like=x)
    xp = backend(x)
    h, gates = xp.gru_step(x.data, recurrent.data, h_prev.data)
    return record(
        h, (x, recurrent, h_prev),
        lambda g: xp.gru_step_grad(gates, recurrent.data, h_prev.data, g), "gru_step",
    )  # fmt: skip
