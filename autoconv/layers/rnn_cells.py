"""The recurrent cells: ``SimpleRNNCell``, ``LSTMCell`` and ``GRUCell`` (one time step each),
following Keras 3's ``keras/src/layers/rnn/`` (``simple_rnn.py``, ``lstm.py``, ``gru.py``,
``dropout_rnn_cell.py``); ``StackedRNNCells`` is in :mod:`autoconv.layers.stacked_rnn_cells`.

A cell's ``call(inputs, states)`` takes one step's (batch, features) inputs and the list of its
states (each (batch, size), sizes ``state_size``) and returns ``(output, new_states)``; the
``RNN`` layer (:mod:`autoconv.layers.recurrent`) loops it over time. Everything is composed of
the engine's differentiable ops (matrix products, activations, slices), so it runs on both
devices with autograd. Weights, their names, shapes and gate order are Keras's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv import activations, constraints, initializers, regularizers
from autoconv.layers.layer import Layer, Shape, serialized
from autoconv.layers.serialization import keras_ordered
from autoconv.ops import engine as ops
from autoconv.ops.recurrent import (
    gru_sequence,
    gru_step,
    lstm_sequence,
    lstm_step,
    simple_rnn_sequence,
)
from autoconv.seeds import generator
from autoconv.tensor import Tensor
from autoconv.windows import is_int

# a cell's weights' options: <weight>_<option>, each read by its module's get and serialize
WEIGHTS = ("kernel", "recurrent", "bias")
WEIGHT_OPTIONS = ("initializer", "regularizer", "constraint")
OPTION_MODULES = {
    "initializer": initializers,
    "regularizer": regularizers,
    "constraint": constraints,
}
# their config entries, each option's three in Keras's order
INITIALIZERS, REGULARIZERS, CONSTRAINTS = (
    tuple(f"{weight}_{option}" for weight in WEIGHTS) for option in WEIGHT_OPTIONS
)


def check_units(units: Any) -> int:
    """``units`` as a positive int (Keras's message otherwise)."""
    if not is_int(units) or units <= 0:
        raise ValueError(
            "Received an invalid value for argument `units`, expected a positive integer, got "
            f"{units}."
        )
    return int(units)


def zeros_state(batch_size: int, size: int | tuple[int, ...], dtype: str, device: str) -> Tensor:
    """A (batch_size, size) state of zeros on ``device`` (size a tuple: (batch_size, *size))."""
    shape = (batch_size, *size) if isinstance(size, tuple) else (batch_size, size)
    return Tensor(np.zeros(shape, dtype), device=device)


def gate(z: Tensor, index: int, units: int) -> Tensor:
    """The ``index``-th block of ``units`` entries along the last axis of ``z``: one gate's
    part."""
    return z[..., index * units : (index + 1) * units]


def forget_bias_initializer(init: Any, units: int) -> Callable[..., np.ndarray]:
    """An LSTM's bias initializer with ``unit_forget_bias``: ``init`` for the i, c and o
    gates' parts, ones for the forget gate's."""

    def initializer(shape: Any, dtype: Any = None) -> np.ndarray:
        parts = [init((units,), dtype=dtype), np.ones(units, dtype),
                 init((2 * units,), dtype=dtype)]  # fmt: skip
        return np.concatenate([np.asarray(p, dtype) for p in parts])

    return initializer


class RecurrentCell(Layer):
    """What the cells share (Keras's cell arguments and its ``DropoutRNNCell``):
    ``units``, the activation, the weights' initializers, regularizers and constraints,
    ``dropout`` (of the inputs) and ``recurrent_dropout`` (of the previous output), each mask
    drawn once and kept until reset (the ``RNN`` layer draws them once a sequence, so every
    time step drops the same units), and ``seed`` (None: autoconv's global generator).

    ``dropout_mask_count`` (set by subclasses with ``implementation=1``): that many masks, one
    a gate, instead of one."""

    dropout_mask_count: int | None = None

    def __init__(
        self,
        units: int,
        activation: Any,
        use_bias: bool,
        weight_options: dict[str, Any],
        dropout: float,
        recurrent_dropout: float,
        seed: int | None,
        **kwargs: Any,
    ) -> None:
        units = check_units(units)
        if seed is not None and (not is_int(seed) or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed must be None or a non-negative int")
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        for weight in WEIGHTS:
            for option in WEIGHT_OPTIONS:
                name = f"{weight}_{option}"
                setattr(self, name, OPTION_MODULES[option].get(weight_options[name]))
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = None if seed is None else int(seed)
        self._generator = None if seed is None else np.random.default_rng(self.seed)
        self._dropout_mask: Any = None
        self._recurrent_dropout_mask: Any = None
        self.state_size: Any = self.units
        self.output_size = self.units

    # ------------------------------------------------------------------ weights
    def add_cell_weights(
        self, input_dim: int, width: int, bias_shape: Shape, bias_init: Any, window: Shape = ()
    ) -> None:
        """``kernel`` (*window, input_dim, width), ``recurrent_kernel`` (*window, units,
        width) and, with ``use_bias``, ``bias`` of ``bias_shape`` (initialized by
        ``bias_init``), Keras's order; ``window``: a convolution's kernel size."""
        self.kernel = self.add_weight(
            (*window, input_dim, width), self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint, name="kernel",
        )  # fmt: skip
        self.recurrent_kernel = self.add_weight(
            (*window, self.units, width), self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint,
            name="recurrent_kernel",
        )  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                bias_shape, bias_init, regularizer=self.bias_regularizer,
                constraint=self.bias_constraint, name="bias",
            )  # fmt: skip

    def get_initial_state(self, batch_size: int | None = None) -> list[Tensor]:
        """Zeros for each state, on the device of the cell's weights."""
        device = self.weights[0].device if self.weights else "cpu"
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [zeros_state(batch_size, size, self.dtype, device) for size in sizes]

    # ------------------------------------------------------------------ dropout
    def _draw_masks(self, step_input: Tensor, rate: float) -> Any:
        ones = Tensor(np.ones(step_input.shape, self.dtype), device=step_input.device)
        rng = self._generator or generator()
        if self.dropout_mask_count is None:
            return ops.dropout(ones, rate, rng)
        return [ops.dropout(ones, rate, rng) for _ in range(self.dropout_mask_count)]

    def get_dropout_mask(self, step_input: Tensor) -> Any:
        """The inputs' dropout mask (0 or 1 / (1 - dropout), the shape of one step's inputs),
        drawn at the first request after a reset; None without dropout."""
        if self._dropout_mask is None and 0.0 < self.dropout < 1.0:
            self._dropout_mask = self._draw_masks(step_input, self.dropout)
        return self._dropout_mask

    def get_recurrent_dropout_mask(self, step_input: Tensor) -> Any:
        """The previous output's dropout mask, as :meth:`get_dropout_mask`."""
        if self._recurrent_dropout_mask is None and 0.0 < self.recurrent_dropout < 1.0:
            self._recurrent_dropout_mask = self._draw_masks(step_input, self.recurrent_dropout)
        return self._recurrent_dropout_mask

    def reset_dropout_mask(self) -> None:
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self) -> None:
        self._recurrent_dropout_mask = None

    @property
    def _default_activations(self) -> bool:
        """Whether the step has Keras's default activations (tanh, and sigmoid for the gates),
        which one fused op computes (an LSTM's, a GRU's, a SimpleRNN's sequence)."""
        gates = getattr(self, "recurrent_activation", activations.sigmoid)
        return self.activation is activations.tanh and gates is activations.sigmoid

    def _masked(self, x: Tensor, mask: Any, training: bool) -> list[Tensor]:
        """``x`` times each of ``mask``'s masks in training (one x a mask; ``x`` alone when
        there is no mask or not training)."""
        if not training or mask is None:
            return [x]
        return [x * m for m in (mask if isinstance(mask, list) else [mask])]

    def projections(
        self,
        xs: list[Tensor],
        weight: Tensor,
        gates: int,
        product: Callable[[Tensor, Tensor], Tensor] = ops.matmul,
    ) -> list[Tensor]:
        """``product(x, weight)`` (a matrix product, or a convolution) split into ``gates``
        gates of ``units`` channels (the last axis), for ``xs`` from :meth:`_masked`: one
        product then a split for one x, else each gate's own x with that gate's part of the
        weight (Keras's ``implementation=1``, a mask a gate)."""
        if len(xs) == 1:
            z = product(xs[0], weight)
            return [gate(z, g, self.units) for g in range(gates)]
        return [product(x, gate(weight, g, self.units)) for g, x in enumerate(xs)]

    def fused_sequence(
        self, sequences: Tensor, states: list, training: bool = False, reverse: bool = False,
        keep: Tensor | None = None, zero_output: bool = False,
    ) -> tuple[Tensor, Tensor, list[Tensor]] | None:  # fmt: skip
        """Every step of (batch, time, features) ``sequences`` as one op (last to first with
        ``reverse``; ``keep`` (batch, time) the mask): (the outputs (time, batch, units) in the
        order the steps ran, the last output, the final states); None (here, and where a
        subclass's step is not Keras's default one) where the RNN layer loops the cell."""
        return None

    def _sequence_inputs(
        self, sequences: Tensor, training: bool, own_class: type, bias: Tensor | None, gates: int
    ) -> tuple[Tensor, Tensor | None] | None:
        """What a cell's sequence op takes: (time, batch, gates * units) every step's inputs
        (dropped out in training) @ ``kernel`` + ``bias`` (one product, or one a gate with a
        mask a gate), and in training the recurrent dropout masks (gates, batch, units), one a
        gate (or one for all, repeated), else None. None where a sequence cannot be one op: a
        subclass's own ``call`` or other activations."""
        if type(self).call is not own_class.call or not self._default_activations:
            return None
        x = ops.transpose(sequences, (1, 0, 2))
        steps, batch, features = x.shape
        xs = [m.reshape(-1, features) for m in self._masked(x, self._dropout_mask, training)]
        if len(xs) == 1:
            projected = ops.matmul(xs[0], self.kernel, bias)
        else:
            projected = ops.concatenate(self.projections(xs, self.kernel, gates), -1)
            projected = projected if bias is None else projected + bias
        masks = self._recurrent_dropout_mask if training else None
        if masks is not None:
            masks = masks if isinstance(masks, list) else [masks] * gates
            masks = ops.concatenate([m.reshape(1, *m.shape) for m in masks], 0)
        return projected.reshape(steps, batch, projected.shape[-1]), masks

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        config = super().get_config() | {
            "units": self.units,
            "activation": serialized(activations, self.activation),
            "use_bias": self.use_bias,
        }
        for option in WEIGHT_OPTIONS:
            for weight in WEIGHTS:
                name = f"{weight}_{option}"
                config[name] = serialized(OPTION_MODULES[option], getattr(self, name))
        return config | {
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }


def weight_options(arguments: dict[str, Any]) -> dict[str, Any]:
    """The ``<weight>_<option>`` arguments out of a constructor's ``locals()``."""
    return {f"{w}_{o}": arguments[f"{w}_{o}"] for w in WEIGHTS for o in WEIGHT_OPTIONS}


class SimpleRNNCell(RecurrentCell):
    """One step of a fully-connected RNN: ``h = activation(x @ kernel + bias + h_prev @
    recurrent_kernel)``; the output is the new state h (batch, units).

    Weights: ``kernel`` (features, units), ``recurrent_kernel`` (units, units), ``bias``
    (units,)."""

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation, use_bias, weight_options(locals()), dropout, recurrent_dropout,
            seed, **kwargs,
        )  # fmt: skip

    def build(self, input_shape: Shape) -> None:
        self.add_cell_weights(input_shape[-1], self.units, (self.units,), self.bias_initializer)

    def call(self, sequence: Tensor, states: Any, training: bool = False) -> tuple[Tensor, Any]:
        listed = isinstance(states, list | tuple)
        previous = states[0] if listed else states
        (x,) = self._masked(sequence, self.get_dropout_mask(sequence), training)
        h = ops.matmul(x, self.kernel)
        if self.bias is not None:
            h = h + self.bias
        (previous,) = self._masked(previous, self.get_recurrent_dropout_mask(previous), training)
        output = h + ops.matmul(previous, self.recurrent_kernel)
        output = output if self.activation is None else self.activation(output)
        return output, [output] if listed else output

    def fused_sequence(
        self, sequences: Tensor, states: list, training: bool = False, reverse: bool = False,
        keep: Tensor | None = None, zero_output: bool = False,
    ) -> tuple[Tensor, Tensor, list[Tensor]] | None:  # fmt: skip
        """:func:`~autoconv.ops.recurrent.simple_rnn_sequence` (tanh only), states [h]."""
        inputs = self._sequence_inputs(sequences, training, SimpleRNNCell, self.bias, 1)
        if inputs is None:
            return None
        projected, masks = inputs
        by_time, last, h = simple_rnn_sequence(
            projected, self.recurrent_kernel, states[0], reverse, keep, zero_output, masks
        )
        return by_time, last, [h]


class LSTMCell(RecurrentCell):
    """One step of a long short-term memory: with ``z = x @ kernel + h_prev @ recurrent_kernel
    + bias`` split into the gates i, f, c, o (Keras's order), ``c = f * c_prev + i *
    activation(c)`` and ``h = o * activation(c)``, the gates i, f, o through
    ``recurrent_activation``. States ``[h, c]``, each (batch, units); the output is h.

    Weights: ``kernel`` (features, 4 * units), ``recurrent_kernel`` (units, 4 * units),
    ``bias`` (4 * units,), its forget part initialized to ones with ``unit_forget_bias``."""

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        implementation = kwargs.pop("implementation", 2)
        super().__init__(
            units, activation, use_bias, weight_options(locals()), dropout, recurrent_dropout,
            seed, **kwargs,
        )  # fmt: skip
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.implementation = 1 if self.recurrent_dropout != 0.0 else implementation
        if self.implementation == 1:
            self.dropout_mask_count = 4
        self.state_size = [self.units, self.units]

    def build(self, input_shape: Shape) -> None:
        units, bias_init = self.units, self.bias_initializer
        if self.unit_forget_bias:
            bias_init = forget_bias_initializer(bias_init, units)
        self.add_cell_weights(input_shape[-1], 4 * units, (4 * units,), bias_init)

    def call(self, inputs: Tensor, states: Any, training: bool = False) -> tuple[Tensor, list]:
        h_prev, c_prev = states[0], states[1]
        xs = self._masked(inputs, self.get_dropout_mask(inputs), training)
        hs = self._masked(h_prev, self.get_recurrent_dropout_mask(h_prev), training)
        if len(xs) == len(hs) == 1 and self._default_activations:
            z = ops.matmul(xs[0], self.kernel) + ops.matmul(hs[0], self.recurrent_kernel)
            h, c = lstm_step(z if self.bias is None else z + self.bias, c_prev)  # one kernel
            return h, [h, c]
        x_parts = self.projections(xs, self.kernel, 4)
        h_parts = self.projections(hs, self.recurrent_kernel, 4)
        z = [x + h for x, h in zip(x_parts, h_parts, strict=True)]
        if self.bias is not None:
            z = [part + gate(self.bias, g, self.units) for g, part in enumerate(z)]
        i = self.recurrent_activation(z[0])
        f = self.recurrent_activation(z[1])
        c = f * c_prev + i * self.activation(z[2])
        o = self.recurrent_activation(z[3])
        h = o * self.activation(c)
        return h, [h, c]

    def fused_sequence(
        self, sequences: Tensor, states: list, training: bool = False, reverse: bool = False,
        keep: Tensor | None = None, zero_output: bool = False,
    ) -> tuple[Tensor, Tensor, list[Tensor]] | None:  # fmt: skip
        """:func:`~autoconv.ops.recurrent.lstm_sequence`, states [h, c]."""
        inputs = self._sequence_inputs(sequences, training, LSTMCell, self.bias, 4)
        if inputs is None:
            return None
        projected, masks = inputs
        by_time, last, h, c = lstm_sequence(
            projected, self.recurrent_kernel, *states[:2], reverse, keep, zero_output, masks
        )
        return by_time, last, [h, c]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config() | {
            "recurrent_activation": serialized(activations, self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }
        return keras_ordered(config, LSTM_CELL_CONFIG_ORDER)


class GRUCell(RecurrentCell):
    """One step of a gated recurrent unit, gates z (update), r (reset), h (candidate) in
    Keras's order: ``z = recurrent_activation(x_z + h_prev @ R_z)``, the same for r, the
    candidate ``hh = activation(x_h + r * (h_prev @ R_h + b_h))`` with ``reset_after`` (the
    default, cuDNN's) or ``activation(x_h + (r * h_prev) @ R_h)`` without, and ``h = z * h_prev
    + (1 - z) * hh``; ``x_g = x @ kernel_g + bias_g``. The state and the output are h (batch,
    units).

    Weights: ``kernel`` (features, 3 * units), ``recurrent_kernel`` (units, 3 * units),
    ``bias`` (2, 3 * units) with ``reset_after`` (the inputs' bias, then the recurrent one),
    else (3 * units,)."""

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        reset_after: bool = True,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        implementation = kwargs.pop("implementation", 2)
        super().__init__(
            units, activation, use_bias, weight_options(locals()), dropout, recurrent_dropout,
            seed, **kwargs,
        )  # fmt: skip
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)
        self.implementation = 1 if self.recurrent_dropout != 0.0 else implementation
        if self.implementation == 1:
            self.dropout_mask_count = 3

    def build(self, input_shape: Shape) -> None:
        width = 3 * self.units
        bias_shape = (2, width) if self.reset_after else (width,)
        self.add_cell_weights(input_shape[-1], width, bias_shape, self.bias_initializer)

    def call(self, inputs: Tensor, states: Any, training: bool = False) -> tuple[Tensor, Any]:
        listed = isinstance(states, list | tuple)
        h_prev = states[0] if listed else states
        units, kernel = self.units, self.recurrent_kernel
        input_bias = recurrent_bias = None
        if self.bias is not None:
            input_bias, recurrent_bias = (
                (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
            )
        xs = self._masked(inputs, self.get_dropout_mask(inputs), training)
        hs = self._masked(h_prev, self.get_recurrent_dropout_mask(h_prev), training)
        if len(xs) == len(hs) == 1 and self.reset_after and self._default_activations:
            x = ops.matmul(xs[0], self.kernel)
            recurrent = ops.matmul(hs[0], kernel)
            if input_bias is not None:
                x, recurrent = x + input_bias, recurrent + recurrent_bias
            h = gru_step(x, recurrent, h_prev)  # one kernel
            return h, [h] if listed else h
        x_z, x_r, x_h = self.projections(xs, self.kernel, 3)
        if input_bias is not None:
            x_z, x_r, x_h = (x + gate(input_bias, g, units) for g, x in enumerate((x_z, x_r, x_h)))
        if self.reset_after:
            recurrent = self.projections(hs, kernel, 3)
            if recurrent_bias is not None:
                recurrent = [r + gate(recurrent_bias, g, units) for g, r in enumerate(recurrent)]
            recurrent_z, recurrent_r, recurrent_h = recurrent
        else:
            recurrent_z, recurrent_r = self.projections(hs[:2], kernel[:, : 2 * units], 2)
        z = self.recurrent_activation(x_z + recurrent_z)
        r = self.recurrent_activation(x_r + recurrent_r)
        if self.reset_after:
            candidate = self.activation(x_h + r * recurrent_h)
        else:
            candidate = self.activation(x_h + ops.matmul(r * hs[-1], gate(kernel, 2, units)))
        h = z * h_prev + (1 - z) * candidate
        return h, [h] if listed else h

    def fused_sequence(
        self, sequences: Tensor, states: list, training: bool = False, reverse: bool = False,
        keep: Tensor | None = None, zero_output: bool = False,
    ) -> tuple[Tensor, Tensor, list[Tensor]] | None:  # fmt: skip
        """:func:`~autoconv.ops.recurrent.gru_sequence` (``reset_after`` only), states [h]."""
        if not self.reset_after:
            return None
        input_bias = recurrent_bias = None
        if self.bias is not None:
            input_bias, recurrent_bias = self.bias[0], self.bias[1]
        inputs = self._sequence_inputs(sequences, training, GRUCell, input_bias, 3)
        if inputs is None:
            return None
        projected, masks = inputs
        by_time, last, h = gru_sequence(
            projected, self.recurrent_kernel, recurrent_bias, states[0], reverse, keep,
            zero_output, masks,
        )  # fmt: skip
        return by_time, last, [h]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config() | {
            "recurrent_activation": serialized(activations, self.recurrent_activation),
            "reset_after": self.reset_after,
        }
        return keras_ordered(config, GRU_CELL_CONFIG_ORDER)


# the order of the cells' config entries (after the base layer's) in Keras
LSTM_CELL_CONFIG_ORDER = (
    "units", "activation", "recurrent_activation", "use_bias", "unit_forget_bias",
    *INITIALIZERS, *REGULARIZERS, *CONSTRAINTS, "dropout", "recurrent_dropout", "seed",
)  # fmt: skip
GRU_CELL_CONFIG_ORDER = (
    "units", "activation", "recurrent_activation", "use_bias", *INITIALIZERS, *REGULARIZERS,
    *CONSTRAINTS, "dropout", "recurrent_dropout", "reset_after", "seed",
)  # fmt: skip
