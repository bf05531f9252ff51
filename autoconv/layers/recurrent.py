"""The recurrent layers: ``RNN`` (any cell looped over time), ``SimpleRNN``, ``LSTM`` and
``GRU``, following Keras 3's ``keras/src/layers/rnn/`` (``rnn.py``, ``simple_rnn.py``,
``lstm.py``, ``gru.py``); the cells are in :mod:`autoconv.layers.rnn_cells`, ``Bidirectional``
in :mod:`autoconv.layers.bidirectional`.

``LSTMCell``, ``GRUCell`` and ``SimpleRNNCell`` run a whole sequence as one op where their step
is Keras's default one (their ``fused_sequence``, on :mod:`autoconv.ops.recurrent`); otherwise
the loop is Python over the time steps, each step the cell's differentiable ops. Either way a
recurrent layer runs on both devices and backpropagates through time with the engine's
autograd. Inputs are (batch, time, features); the mask (batch, time) is the input's Keras mask
or a call's ``mask``.
"""

from __future__ import annotations

import inspect
from typing import Any

from autoconv import regularizers
from autoconv.layers import serialization
from autoconv.layers.channels import as_given
from autoconv.layers.layer import Layer, Shape, serialized, to_tensors
from autoconv.layers.rnn_cells import (
    CONSTRAINTS,
    INITIALIZERS,
    REGULARIZERS,
    GRUCell,
    LSTMCell,
    RecurrentCell,
    SimpleRNNCell,
    zeros_state,
)
from autoconv.layers.stacked_rnn_cells import StackedRNNCells, call_cell, check_cell
from autoconv.ops import engine as ops
from autoconv.ops.masks import as_mask
from autoconv.ops.recurrent import stacked_steps, time_steps
from autoconv.tensor import Tensor, no_grad


def _flat(structure: Any) -> list[Any]:
    """The tensors of a nested list of states, in order."""
    if isinstance(structure, list | tuple):
        return [leaf for item in structure for leaf in _flat(item)]
    return [structure]


def _packed(structure: Any, leaves: list[Any]) -> Any:
    """``leaves`` in the nesting of ``structure`` (consumed from the front)."""
    if isinstance(structure, list | tuple):
        return [_packed(item, leaves) for item in structure]
    return leaves.pop(0)


def _where(keep: Tensor, new: Tensor, old: Tensor) -> Tensor:
    """``new`` for the samples where ``keep`` (batch,) is 1, ``old`` where it is 0."""
    keep = keep.reshape((keep.shape[0],) + (1,) * (new.ndim - 1))
    return new * keep + old * (1 - keep)


def _users_cell(cell: Any) -> bool:
    """Whether ``cell`` is (or stacks) a cell of the user's, not one of autoconv's built-in
    ones, whose calls have no side effect to see."""
    if isinstance(cell, StackedRNNCells):
        return any(_users_cell(inner) for inner in cell.cells)
    return not isinstance(cell, RecurrentCell)


class InitialStateBuild(Layer):
    """A layer whose call takes an ``initial_state`` (``RNN``, ``Bidirectional``): Keras builds
    it for each tensor of the call that builds it, so one first called with an initial state
    has the build config ``{"shapes_dict": {"sequences_shape": ..., "initial_state_shape":
    ...}}``; autoconv builds it for the sequences' shape alone."""

    _initial_state_shape: Any = None  # (that of the call that built the layer)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.built:  # Keras builds for every tensor argument: its build config says so
            state = args[1] if len(args) > 1 else kwargs.get("initial_state")
            self._initial_state_shape = None if state is None else _shapes_of(state)
        return super().__call__(*args, **kwargs)

    def get_build_config(self) -> dict[str, Any] | None:
        """``{"input_shape": ...}``, or Keras's ``{"shapes_dict": {"sequences_shape": ...,
        "initial_state_shape": ...}}`` for a layer first called with an ``initial_state``."""
        config = super().get_build_config()
        if config is None or self._initial_state_shape is None:
            return config
        shapes = {"sequences_shape": config["input_shape"]}
        return {"shapes_dict": shapes | {"initial_state_shape": self._initial_state_shape}}

    def build_from_config(self, config: dict[str, Any]) -> None:
        shapes = config.get("shapes_dict")
        if isinstance(shapes, dict) and shapes.get("sequences_shape") is not None:
            state = shapes.get("initial_state_shape")
            self._initial_state_shape = None if state is None else _shape_tuples(state)
            config = {"input_shape": shapes["sequences_shape"]}
        super().build_from_config(config)


class RNN(InitialStateBuild):
    """Loops ``cell`` (a cell, or a list of cells: a ``StackedRNNCells``) over the time axis
    of (batch, time, features) inputs: the states start from ``initial_state`` (a call
    argument), the stored states (``stateful``) or zeros, and each step's output and new
    states come from ``cell(inputs[:, t], states)``.

    Returns the last step's output (batch, output_size), or every step's (batch, time,
    output_size) with ``return_sequences``, followed by the final states with
    ``return_state``. ``go_backwards`` runs the steps last to first (the outputs in that
    order). ``stateful`` keeps the final states of a call as the next call's initial states
    (the batch size fixed by the first call; ``reset_state()`` zeroes them). ``unroll`` is
    accepted and changes nothing (the loop is always unrolled), but for one thing: without
    it, a user's cell is called once more, on the first step before the loop, its result
    discarded, as Keras's backends' loop does to learn the output's structure (a cell that
    records something each call, keras.io's attention scores, sees as many calls as in
    Keras). A call's ``mask`` (batch,
    time), 1 where a step counts: a masked step keeps the previous states and repeats the
    previous output (zeros with ``zero_output_for_mask``). The mask is the input's Keras
    mask where it carries one (``Embedding(mask_zero=True)``, ``Masking``); the output
    sequence carries it on with ``return_sequences``.
    """

    supports_masking = True

    # the inputs' rank where it is fixed: (batch, time, features) for SimpleRNN, LSTM and GRU
    EXACT_RANK: int | None = None

    def __init__(
        self,
        cell: Any,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        if isinstance(cell, list | tuple):
            cell = StackedRNNCells(cell)
        check_cell(cell, "The RNN cell should have a `{attribute}`. Received: cell={cell}")
        super().__init__(**kwargs)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.states: list[Any] | None = None
        state_size = cell.state_size
        if not isinstance(state_size, list | tuple | int):
            raise ValueError(
                "state_size must be an integer, or a list/tuple of integers (one for each state "
                "tensor)."
            )
        self.state_size = [state_size] if isinstance(state_size, int) else list(state_size)

    def _check_rank(self, shape: Shape) -> None:
        rank = self.EXACT_RANK
        if len(shape) < 3 or (rank is not None and len(shape) != rank):
            expected = f"ndim={rank}" if rank is not None else "min_ndim=3"
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                f"{expected}, found ndim={len(shape)}. Full shape received: "
                f"{as_given(self, shape)}"
            )

    def build(self, sequences_shape: Shape, initial_state_shape: Any = None) -> None:
        self._check_rank(sequences_shape)
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell.build((sequences_shape[0], *sequences_shape[2:]))
            self.cell.built = True

    def compute_output_shape(self, sequences_shape: Shape, initial_state_shape: Any = None) -> Any:
        self._check_rank(sequences_shape)
        batch = sequences_shape[0]
        size = getattr(self.cell, "output_size", None) or self.state_size[0]
        if self.return_sequences:
            output = (batch, sequences_shape[1], size)
        else:
            output = (batch, size)
        if not self.return_state:
            return output
        states = [(batch, s) if isinstance(s, int) else [(batch, n) for n in s]
                  for s in self.state_size]  # fmt: skip
        return [output, *states]

    def get_initial_state(self, batch_size: int) -> list[Any]:
        """The states a call starts from without ``initial_state``: the cell's
        ``get_initial_state``, else zeros of each state size."""
        if hasattr(self.cell, "get_initial_state"):
            states = self.cell.get_initial_state(batch_size=batch_size)
            return list(states) if isinstance(states, list | tuple) else [states]
        device = self.weights[0].device if self.weights else "cpu"
        return [zeros_state(batch_size, size, self.dtype, device) for size in self.state_size]

    def reset_state(self) -> None:
        """Zero the kept states of a stateful layer."""
        if self.states is not None:
            self.states = _packed(self.states, [s * 0 for s in _flat(self.states)])

    reset_states = reset_state

    def _start(self, sequences: Tensor, initial_state: Any) -> list[Any]:
        batch = sequences.shape[0]
        if initial_state is None and self.stateful and self.states is not None:
            expected = _flat(self.states)[0].shape[0]
            if batch != expected:
                raise ValueError(
                    "If an RNN is stateful, the batch size of the input sequences must be the "
                    f"same as the batch size of the initial state. \n- Expected batch size: "
                    f"{expected}\n- Received batch size: {batch}"
                )
            return self.states
        if initial_state is None:
            states = self.get_initial_state(batch)
        else:
            states = initial_state if isinstance(initial_state, list | tuple) else [initial_state]
        leaves = [to_tensors(s, self.dtype, sequences.device) for s in _flat(states)]
        on_device = [s if s.device == sequences.device else s.to(sequences.device) for s in leaves]
        return _packed(states, on_device)

    def _dropout_masks(self, cell: Any, step_input: Tensor, states: Any) -> None:
        """Draw the dropout masks of ``cell`` (and of each cell in a stack) for this
        sequence, as Keras's ``_maybe_config_dropout_masks``."""
        state = _flat(states)[0]
        if hasattr(cell, "get_dropout_mask"):
            cell.get_dropout_mask(step_input)
            cell.get_recurrent_dropout_mask(state)
        if isinstance(cell, StackedRNNCells):
            for inner, inner_states in zip(cell.cells, states, strict=True):
                self._dropout_masks(inner, step_input, inner_states)
                listed = isinstance(inner_states, list | tuple)
                with no_grad():  # the next cell's input shape
                    step_input, _ = call_cell(
                        inner, step_input, list(inner_states) if listed else [inner_states], False
                    )

    def _reset_dropout_masks(self, cell: Any) -> None:
        if hasattr(cell, "reset_dropout_mask"):
            cell.reset_dropout_mask()
            cell.reset_recurrent_dropout_mask()
        for inner in getattr(cell, "cells", []):
            self._reset_dropout_masks(inner)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """Keras's: the input's mask on the output sequence (None for the last step alone),
        None for each state."""
        mask = previous_mask[0] if isinstance(previous_mask, list | tuple) else previous_mask
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_size)
        return output_mask

    def call(
        self,
        sequences: Tensor,
        initial_state: Any = None,
        mask: Any = None,
        training: bool = False,
    ) -> Any:
        states = self._start(sequences, initial_state)
        keep = None
        if mask is not None:
            keep = as_mask(mask[0] if isinstance(mask, list | tuple) else mask, sequences)
            if keep.shape != sequences.shape[:2]:
                raise ValueError(
                    f"{self.name}: mask must be (batch, time) = {sequences.shape[:2]}, got "
                    f"{keep.shape}"
                )
        if training or _users_cell(self.cell):  # (Keras runs a stack's cells here, training or not)
            self._dropout_masks(self.cell, sequences[:, 0], states)
        try:
            fused = None
            if isinstance(self.cell, RecurrentCell):
                fused = self.cell.fused_sequence(
                    sequences, states, training, self.go_backwards, keep, self.zero_output_for_mask
                )
            if fused is not None:  # (time, batch, units), the last output, the final states
                by_time, last, states = fused
            else:
                outputs, states = self._loop(sequences, states, keep, training)
        finally:
            self._reset_dropout_masks(self.cell)
        if self.stateful:
            self.states = _packed(states, [s.detach() for s in _flat(states)])
        if fused is not None and self.return_sequences:
            result = ops.transpose(by_time, (1, 0, 2))
        elif fused is not None:
            result = last
        elif self.return_sequences:
            result = stacked_steps(outputs)
        else:
            result = outputs[-1]
        return (result, *states) if self.return_state else result  # (Keras's tuple)

    def _loop(
        self, sequences: Tensor, states: Any, keep: Tensor | None, training: bool
    ) -> tuple[list[Tensor], Any]:
        """The cell called at each step: (each step's output in the order they ran, the final
        states)."""
        steps = list(range(sequences.shape[1]))
        if self.go_backwards:
            steps.reverse()
        inputs = time_steps(sequences)
        if not self.unroll and steps and _users_cell(self.cell):
            call_cell(self.cell, inputs[0], states, training)  # (Keras's time-zero call)
        outputs, output = [], None
        for t in steps:
            new_output, new_states = call_cell(self.cell, inputs[t], states, training)
            if keep is not None:
                kept = keep[:, t]
                old = output if output is not None else new_output * 0
                fill = new_output * 0 if self.zero_output_for_mask else old
                leaves = [_where(kept, new, previous) for new, previous in
                          zip(_flat(new_states), _flat(states), strict=True)]  # fmt: skip
                new_states = _packed(states, leaves)
                output, returned = _where(kept, new_output, old), _where(kept, new_output, fill)
            else:
                output = returned = new_output
                new_states = _packed(states, _flat(new_states))
            outputs.append(returned)
            states = new_states
        return outputs, states

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "cell": serialization.serialize(self.cell),
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> RNN:
        arguments = dict(config)
        cell = serialization.deserialize(arguments.pop("cell"), custom_objects)
        return cls(cell, **serialization.keras_arguments(cls, arguments))


# The options of the layers of one cell (SimpleRNN, LSTM, GRU, the ConvLSTMs) that are the
# cell's.
CELL_OPTIONS = (
    "units", "rank", "filters", "kernel_size", "strides", "padding", "data_format",
    "dilation_rate", "activation", "recurrent_activation", "use_bias", "unit_forget_bias",
    "kernel_initializer", "recurrent_initializer", "bias_initializer", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
    "bias_constraint", "dropout", "recurrent_dropout", "reset_after", "seed",
)  # fmt: skip
LAYER_OPTIONS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll")


class CellLayer(RNN):
    """An RNN of one cell of ``CELL`` made from the layer's own arguments (Keras's
    SimpleRNN, LSTM, GRU and ConvLSTMs): the cell's options are readable on the layer, and
    the config holds them in place of the cell's entry."""

    CELL: type
    CELL_NAME: str
    EXACT_RANK = 3
    CONFIG_SEED = True  # whether the config holds the seed (SimpleRNN's does not)
    CONFIG_ORDER: tuple[str, ...]  # the order of its entries (after the RNN's) in Keras

    def __init__(self, arguments: dict[str, Any]) -> None:
        kwargs = arguments.pop("kwargs")
        use_cudnn = arguments.pop("use_cudnn", "auto")
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                "Invalid valid received for argument `use_cudnn`. Expected one of {'auto', "
                f"True, False}}. Received: use_cudnn={use_cudnn}"
            )
        accepted = inspect.signature(self.CELL.__init__).parameters
        options = {k: v for k, v in arguments.items() if k in accepted and k in CELL_OPTIONS}
        if "implementation" in kwargs:  # LSTM's and GRU's hidden argument
            options["implementation"] = kwargs.pop("implementation")
        cell = self.CELL(
            **options,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name=self.CELL_NAME,
        )
        options = {k: arguments[k] for k in LAYER_OPTIONS if k in arguments}
        super().__init__(
            cell, activity_regularizer=arguments["activity_regularizer"], **options, **kwargs
        )
        self.use_cudnn = use_cudnn

    def __getattr__(self, name: str) -> Any:
        if name in CELL_OPTIONS and "cell" in self.__dict__:
            return getattr(self.__dict__["cell"], name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["cell"]
        cell = self.cell.get_config()
        for key in ("name", "trainable", "dtype", *(() if self.CONFIG_SEED else ("seed",))):
            cell.pop(key)
        activity = {"activity_regularizer": serialized(regularizers, self.activity_regularizer)}
        return serialization.keras_ordered(config | cell | activity, self.CONFIG_ORDER)

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> RNN:
        return cls(**serialization.keras_arguments(cls, config))


def constructor_arguments(values: dict[str, Any]) -> dict[str, Any]:
    """A constructor's ``locals()`` as its arguments."""
    return {k: v for k, v in values.items() if k not in ("self", "__class__")}


class SimpleRNN(CellLayer):
    """An RNN of one :class:`~autoconv.layers.rnn_cells.SimpleRNNCell` (its arguments, then
    the RNN's). (batch, time, features) -> (batch, units), or (batch, time, units) with
    ``return_sequences``. As Keras 3.15's, ``activity_regularizer`` is accepted and dropped
    (neither applied nor in the config)."""

    CELL, CELL_NAME, CONFIG_SEED = SimpleRNNCell, "simple_rnn_cell", False
    CONFIG_ORDER = (
        "units", "activation", "use_bias", *INITIALIZERS, *REGULARIZERS, "activity_regularizer",
        *CONSTRAINTS, "dropout", "recurrent_dropout",
    )  # fmt: skip

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
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        arguments = constructor_arguments(locals())
        arguments["activity_regularizer"] = None  # Keras 3.15's SimpleRNN drops it
        super().__init__(arguments)


class LSTM(CellLayer):
    """An RNN of one :class:`~autoconv.layers.rnn_cells.LSTMCell` (its arguments, then the
    RNN's); ``use_cudnn`` is checked and has no effect. States ``[h, c]``."""

    CELL, CELL_NAME = LSTMCell, "lstm_cell"
    CONFIG_ORDER = (
        "units", "activation", "recurrent_activation", "use_bias", *INITIALIZERS,
        "unit_forget_bias", *REGULARIZERS, "activity_regularizer", *CONSTRAINTS, "dropout",
        "recurrent_dropout", "seed",
    )  # fmt: skip

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
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        use_cudnn: Any = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(constructor_arguments(locals()))


class GRU(CellLayer):
    """An RNN of one :class:`~autoconv.layers.rnn_cells.GRUCell` (its arguments, then the
    RNN's, then ``reset_after``); ``use_cudnn`` is checked and has no effect."""

    CELL, CELL_NAME = GRUCell, "gru_cell"
    CONFIG_ORDER = (
        "units", "activation", "recurrent_activation", "use_bias", *INITIALIZERS, *REGULARIZERS,
        "activity_regularizer", *CONSTRAINTS, "dropout", "recurrent_dropout", "reset_after",
        "seed",
    )  # fmt: skip

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
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        reset_after: bool = True,
        use_cudnn: Any = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(constructor_arguments(locals()))


def _shapes_of(state: Any) -> Any:
    """An ``initial_state``'s shapes in its structure (a tensor's, or a list of them), as
    Keras's build config holds them (the batch size None, as a layer's build shape)."""
    if isinstance(state, list | tuple):
        return [_shapes_of(item) for item in state]
    return (None, *state.shape[1:])


def _shape_tuples(shapes: Any) -> Any:
    """A build config's state shapes (lists, from JSON) as :func:`_shapes_of` gives them."""
    if isinstance(shapes, list | tuple) and shapes and isinstance(shapes[0], list | tuple):
        return [_shape_tuples(item) for item in shapes]
    return tuple(shapes) if isinstance(shapes, list | tuple) else shapes
