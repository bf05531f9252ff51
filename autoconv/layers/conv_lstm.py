"""The convolutional LSTMs: ``ConvLSTM1D``, ``ConvLSTM2D`` and ``ConvLSTM3D`` (an LSTM whose
products are convolutions, over sequences of 1-D, 2-D or 3-D channels-last frames;
``data_format="channels_first"``: :mod:`.channels`, the cell computing channels-last) and their
cell, following Keras 3's ``keras/src/layers/rnn/conv_lstm.py`` and ``conv_lstm1d/2d/3d.py``.
Composed of the engine's convolutions (the 3-D ones of :mod:`autoconv.ops.volumetric`) and
activations: both devices, autograd.
"""

from __future__ import annotations

from typing import Any

from autoconv import activations
from autoconv.layers.channels import ChannelsFirst, move_channels
from autoconv.layers.convolutional import conv_padding
from autoconv.layers.core import as_tuple
from autoconv.layers.layer import Shape, serialized
from autoconv.layers.recurrent import CellLayer, constructor_arguments
from autoconv.layers.rnn_cells import (
    CONSTRAINTS,
    INITIALIZERS,
    REGULARIZERS,
    RecurrentCell,
    forget_bias_initializer,
    gate,
    weight_options,
    zeros_state,
)
from autoconv.ops import engine as ops
from autoconv.ops import volumetric
from autoconv.ops.convert import standardize_data_format
from autoconv.ops.recurrent import lstm_step
from autoconv.tensor import Tensor
from autoconv.windows import window, window_1d


class ConvLSTMCell(RecurrentCell):
    """One step of a convolutional LSTM over (batch, *spatial, channels) frames of ``rank``
    (1 or 2) spatial axes: an LSTMCell (gates i, f, c, o) whose input products are
    convolutions by ``kernel`` (``strides``, ``padding``, ``dilation_rate``) and whose
    recurrent products are 'same' convolutions by ``recurrent_kernel``. States ``[h, c]``,
    each (batch, *output spatial, filters); the output is h.

    Weights: ``kernel`` (*kernel_size, channels, 4 * filters), ``recurrent_kernel``
    (*kernel_size, filters, 4 * filters), ``bias`` (4 * filters,). Dropout masks: one a
    gate, as Keras's."""

    dropout_mask_count = 4

    def __init__(
        self,
        rank: int,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
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
        owner = type(self).__name__
        if rank not in (1, 2, 3):
            raise ValueError(f"{owner}: rank must be 1, 2 or 3, got rank={rank}")
        super().__init__(
            filters, activation, use_bias, weight_options(locals()), dropout, recurrent_dropout,
            seed, **kwargs,
        )  # fmt: skip
        self.data_format = standardize_data_format(data_format)
        self.rank, self.filters = rank, self.units
        self.kernel_size = as_tuple(kernel_size, rank, "kernel_size", owner)
        self.strides = as_tuple(strides, rank, "strides", owner)
        self.dilation_rate = as_tuple(dilation_rate, rank, "dilation_rate", owner)
        self.padding = conv_padding(padding, owner)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "Specifying `strides > 1` is not compatible with `dilation_rate > 1`. Please "
                f"provide `strides=1` or `dilation_rate=1`. Received: strides={self.strides} "
                f"and dilation_rate={self.dilation_rate}"
            )
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = -1  # as Keras's: the states' shape follows the frames'

    def output_spatial(self, spatial: Shape) -> tuple[int, ...]:
        """The output's spatial sizes for frames of ``spatial`` sizes."""
        owner = type(self).__name__
        if self.rank == 1:
            (size,), (stride,), (dilation,) = self.kernel_size, self.strides, self.dilation_rate
            return (window_1d(owner, spatial[0], size, stride, dilation, self.padding).out[1],)
        if self.rank == 3:
            return volumetric.output_sizes(
                owner, tuple(spatial), self.kernel_size, self.strides, self.dilation_rate,
                self.padding,
            )  # fmt: skip
        return window(
            owner, tuple(spatial), self.kernel_size, self.strides, self.dilation_rate,
            self.padding,
        ).out  # fmt: skip

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != self.rank + 2 or None in input_shape[1:]:
            raise ValueError(
                "ConvLSTM layers only support static input shapes for the spatial dimension "
                f"and the channels. Received invalid input shape: input_shape={input_shape}"
            )
        self._state_spatial = self.output_spatial(input_shape[1:-1])
        width, bias_init = 4 * self.filters, self.bias_initializer
        if self.unit_forget_bias:
            bias_init = forget_bias_initializer(bias_init, self.filters)
        self.add_cell_weights(input_shape[-1], width, (width,), bias_init, self.kernel_size)

    def get_initial_state(self, batch_size: int | None = None) -> list[Tensor]:
        """Zeros (batch, *output spatial, filters) for h and c."""
        device = self.weights[0].device if self.weights else "cpu"
        shape = (*self._state_spatial, self.filters)
        return [zeros_state(batch_size, shape, self.dtype, device) for _ in range(2)]

    def _convolve(self, x: Tensor, w: Tensor, recurrent: bool = False) -> Tensor:
        """x convolved by w: the input convolution, or the recurrent one ('same', unit
        strides and dilation)."""
        conv = {1: ops.conv1d, 2: ops.conv2d, 3: volumetric.conv3d}[self.rank]
        if recurrent:
            return conv(x, w, None, 1, "same", 1)
        return conv(x, w, None, self.strides, self.padding, self.dilation_rate)

    def call(self, inputs: Tensor, states: Any, training: bool = False) -> tuple[Tensor, list]:
        h_prev, c_prev = states[0], states[1]
        xs = self._masked(inputs, self.get_dropout_mask(inputs), training)
        hs = self._masked(h_prev, self.get_recurrent_dropout_mask(h_prev), training)
        if len(xs) == len(hs) == 1 and self._default_activations:
            # one convolution of each, then the LSTM's fused step over every position's gates
            recurrent = self._convolve(hs[0], self.recurrent_kernel, recurrent=True)
            z = self._convolve(xs[0], self.kernel) + recurrent
            if self.bias is not None:
                z = z + self.bias
            gates = ops.reshape(z, (-1, 4 * self.filters))
            h, c = lstm_step(gates, ops.reshape(c_prev, (-1, self.filters)))
            h, c = ops.reshape(h, c_prev.shape), ops.reshape(c, c_prev.shape)
            return h, [h, c]
        x_parts = self.projections(xs, self.kernel, 4, self._convolve)
        recurrent = self.projections(
            hs, self.recurrent_kernel, 4, lambda x, w: self._convolve(x, w, recurrent=True)
        )
        z = [x + h for x, h in zip(x_parts, recurrent, strict=True)]
        if self.bias is not None:
            z = [part + gate(self.bias, g, self.filters) for g, part in enumerate(z)]
        i = self.recurrent_activation(z[0])
        f = self.recurrent_activation(z[1])
        c = f * c_prev + i * self.activation(z[2])
        o = self.recurrent_activation(z[3])
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["units"]
        return config | {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "recurrent_activation": serialized(activations, self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


class ConvLSTM(ChannelsFirst, CellLayer):
    """An RNN of one :class:`ConvLSTMCell` over (batch, time, *spatial, channels): (batch,
    *output spatial, filters), or (batch, time, *output spatial, filters) with
    ``return_sequences``, then the final h and c with ``return_state``. Its arguments,
    Keras's, are the same for the three ranks."""

    CELL, CELL_NAME = ConvLSTMCell, "conv_lstm_cell"
    CONFIG_ORDER = (
        "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
        "activation", "recurrent_activation", "use_bias", *INITIALIZERS, "unit_forget_bias",
        *REGULARIZERS, "activity_regularizer", *CONSTRAINTS, "dropout", "recurrent_dropout",
        "seed",
    )  # fmt: skip
    RANK: int  # the frames' spatial axes (the inputs have RANK + 3 axes: EXACT_RANK)
    # channels-first (the cell computes channels-last): the states too are moved
    moved_arguments = ("initial_state", "initial_state_shape")

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
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
        **kwargs: Any,
    ) -> None:
        super().__init__(constructor_arguments(locals()) | {"rank": self.RANK})

    # (RNN's build and call, named here for ChannelsFirst to run them channels-last)
    def build(self, sequences_shape: Shape, initial_state_shape: Any = None) -> None:
        super().build(sequences_shape, initial_state_shape)

    def call(
        self, sequences: Tensor, initial_state: Any = None, mask: Any = None, training: bool = False
    ) -> Any:
        # A stateful channels-first layer keeps its states channels-first, as Keras's (what
        # ``layer.states`` shows); the cell, channels-last, starts from them moved.
        moved = self.stateful and self.data_format == "channels_first"
        if moved and self.states is not None:
            self.states = move_channels(self.states, self.RANK, to_last=True)
        try:
            return super().call(sequences, initial_state, mask, training)
        finally:
            if moved and self.states is not None:
                self.states = move_channels(self.states, self.RANK, to_last=False)

    def compute_output_shape(self, sequences_shape: Shape, initial_state_shape: Any = None) -> Any:
        self._check_rank(sequences_shape)
        batch = sequences_shape[0]
        state = (batch, *self.cell.output_spatial(sequences_shape[2:-1]), self.cell.filters)
        output = (batch, sequences_shape[1], *state[1:]) if self.return_sequences else state
        return [output, state, state] if self.return_state else output


class ConvLSTM1D(ConvLSTM):
    """A convolutional LSTM over sequences of 1-D frames: (batch, time, steps, channels)."""

    RANK, EXACT_RANK = 1, 4


class ConvLSTM2D(ConvLSTM):
    """A convolutional LSTM over sequences of images: (batch, time, height, width,
    channels)."""

    RANK, EXACT_RANK = 2, 5


class ConvLSTM3D(ConvLSTM):
    """A convolutional LSTM over sequences of volumes: (batch, time, depth, height, width,
    channels)."""

    RANK, EXACT_RANK = 3, 6
