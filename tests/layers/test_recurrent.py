"""The recurrent layers and cells (SimpleRNN, LSTM, GRU, RNN over any cell, StackedRNNCells,
Bidirectional) against real Keras 3.15 (its PyTorch backend, where installed): outputs, final
states and gradients with the same weights in float64 (with initial states, explicit masks,
going backwards), weight names, shapes and parameter counts, configs, errors, functional
models of several outputs, and files both ways; a float64 gradcheck; dropout's per-sequence
masks, stateful layers and initializers; and a short fit on the CPU and on the CUDA device
(the simulator) giving the same losses.

(Over ~600 lines on purpose: the layers run on one cell machinery, and their cases share the
helpers that pair them with Keras's.)
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv.layers.layer import Variable
from autoconv.layers.serialization import deserialize, serialize
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

F64 = "float64"
# Keras's float64 matmul on PyTorch agrees with NumPy's float64 to about float32's precision
# only in some shapes (SimpleRNN, GRU without reset_after); autoconv computes in float64.
FLOAT64_TOLERANCE = {"rtol": 2e-6, "atol": 2e-6}


def _gated(lib: Any, name: str) -> Callable[..., Any]:
    return getattr(lib.layers, name)


# (builder from a layers module, input shape (batch, time, features), call arguments' kind)
CASES: dict[str, tuple[Callable[[Any], Any], tuple[int, ...], str]] = {
    "simple": (lambda L: L.SimpleRNN(3, dtype=F64), (2, 3, 2), ""),
    "simple-relu-backwards": (lambda L: L.SimpleRNN(2, activation="relu", use_bias=False,
                                                    return_sequences=True, go_backwards=True,
                                                    dtype=F64), (2, 4, 3), ""),
    "lstm-state": (lambda L: L.LSTM(3, return_state=True, dtype=F64), (2, 3, 2), ""),
    "lstm-sequences-backwards": (lambda L: L.LSTM(2, return_sequences=True, go_backwards=True,
                                                  recurrent_activation="hard_sigmoid",
                                                  dtype=F64), (3, 3, 2), ""),
    "lstm-initial-state": (lambda L: L.LSTM(2, return_sequences=True, return_state=True,
                                            dtype=F64), (2, 3, 2), "initial_state"),
    "gru": (lambda L: L.GRU(3, dtype=F64), (2, 3, 2), ""),
    "gru-reset-before": (lambda L: L.GRU(2, reset_after=False, return_sequences=True,
                                         return_state=True, dtype=F64), (2, 3, 3), ""),
    "gru-no-bias-backwards": (lambda L: L.GRU(2, use_bias=False, go_backwards=True,
                                              activation="softsign", dtype=F64), (2, 3, 2), ""),
    "gru-mask": (lambda L: L.GRU(2, return_sequences=True, return_state=True, dtype=F64),
                 (3, 4, 2), "mask"),
    "lstm-mask-backwards": (lambda L: L.LSTM(2, go_backwards=True, return_state=True,
                                             dtype=F64), (3, 4, 2), "mask"),
    "rnn-simple-zero-output": (lambda L: L.RNN(L.SimpleRNNCell(2, dtype=F64),
                                               return_sequences=True, zero_output_for_mask=True,
                                               dtype=F64), (3, 4, 2), "mask"),
    "rnn-lstm-cell": (lambda L: L.RNN(L.LSTMCell(2, dtype=F64), return_state=True, dtype=F64),
                      (2, 3, 3), ""),
    # (a list of cells makes a StackedRNNCells of the default dtype, float32, as in Keras)
    "rnn-stacked": (lambda L: L.RNN(L.StackedRNNCells([L.SimpleRNNCell(2, dtype=F64),
                                                       L.GRUCell(3, dtype=F64)], dtype=F64),
                                    return_sequences=True, dtype=F64), (2, 3, 2), ""),
    "bidirectional-lstm": (lambda L: L.Bidirectional(L.LSTM(2, return_sequences=True,
                                                            dtype=F64), dtype=F64),
                           (2, 3, 2), ""),
    "bidirectional-gru-mul": (lambda L: L.Bidirectional(L.GRU(2, dtype=F64), merge_mode="mul",
                                                        dtype=F64), (2, 3, 2), ""),
    "bidirectional-none-state": (lambda L: L.Bidirectional(
        L.SimpleRNN(2, return_state=True, return_sequences=True, dtype=F64), merge_mode=None,
        dtype=F64), (2, 3, 2), ""),
    "bidirectional-backward-layer": (lambda L: L.Bidirectional(
        L.LSTM(2, dtype=F64), merge_mode="sum",
        backward_layer=L.SimpleRNN(2, go_backwards=True, dtype=F64), dtype=F64), (2, 3, 2), ""),
    "bidirectional-ave-initial-state": (lambda L: L.Bidirectional(
        L.GRU(2, return_sequences=True, dtype=F64), merge_mode="ave", dtype=F64), (2, 3, 2),
        "initial_state"),
    "conv-lstm2d": (lambda L: L.ConvLSTM2D(2, 2, dtype=F64), (2, 2, 3, 3, 1), ""),
    "conv-lstm2d-strided-mask": (lambda L: L.ConvLSTM2D(2, (2, 3), strides=2, padding="same",
                                                        return_sequences=True, dtype=F64),
                                 (2, 3, 4, 5, 1), "mask"),
    "conv-lstm1d-state": (lambda L: L.ConvLSTM1D(2, 2, padding="same", return_sequences=True,
                                                 return_state=True, go_backwards=True,
                                                 dtype=F64), (2, 3, 4, 2), ""),
    "conv-lstm1d-dilated": (lambda L: L.ConvLSTM1D(3, 2, dilation_rate=2, use_bias=False,
                                                   dtype=F64), (2, 2, 5, 1), ""),
    "conv-lstm3d": (lambda L: L.ConvLSTM3D(2, 2, dtype=F64), (2, 2, 3, 3, 2, 1), ""),
    "conv-lstm3d-strided-state": (lambda L: L.ConvLSTM3D(2, (2, 1, 3), strides=(1, 2, 1),
                                                         padding="same", return_sequences=True,
                                                         return_state=True, dtype=F64),
                                  (2, 2, 3, 4, 3, 1), ""),
}  # fmt: skip


def weights_for(layer: Any, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.uniform(0.3, 1.0, w.shape) * rng.choice([-1, 1], w.shape) for w in layer.weights]


def _state_sizes(layer: Any) -> list[int]:
    """The sizes of a layer's (or both directions') states, flattened."""
    if hasattr(layer, "forward_layer"):
        return _state_sizes(layer.forward_layer) + _state_sizes(layer.backward_layer)
    return [size for size in layer.state_size]


def _unnumbered(path: str) -> str:
    """A weight's path without the layers' name counters (``lstm_3`` -> ``lstm``)."""
    return re.sub(r"_\d+(?=/)", "", path)


def _outputs(result: Any) -> list[Any]:
    return list(result) if isinstance(result, list | tuple) else [result]


@pytest.mark.parametrize("case", CASES)
def test_outputs_states_and_gradients_match_keras(keras, case, rng):
    import torch

    build, shape, extra = CASES[case]
    ours, theirs = build(ac.layers), build(keras.layers)
    ours.build((None, *shape[1:]))
    theirs.build((None, *shape[1:]))
    assert [_unnumbered(w.path) for w in ours.weights] == [
        _unnumbered(w.path) for w in theirs.weights
    ]
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.count_params() == theirs.count_params()
    values = weights_for(ours, rng)
    ours.set_weights(values)
    theirs.set_weights(values)
    x = rng.standard_normal(shape)
    sizes = _state_sizes(ours) if extra == "initial_state" else []
    states = [rng.standard_normal((shape[0], n)) for n in sizes]
    mask = rng.random(shape[:2]) > 0.4
    mine, reference = ac.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    my_states = [ac.Tensor(s, requires_grad=True) for s in states]
    their_states = [torch.tensor(s, requires_grad=True) for s in states]
    if extra == "initial_state":
        out = _outputs(ours(mine, initial_state=my_states))
        expected = _outputs(theirs(reference, initial_state=their_states))
    elif extra == "mask":
        out = _outputs(ours(mine, mask=mask))
        expected = _outputs(theirs(reference, mask=torch.tensor(mask)))
    else:
        out, expected = _outputs(ours(mine)), _outputs(theirs(reference))
    assert len(out) == len(expected)
    upstreams = [rng.standard_normal(o.shape) for o in out]
    sum((o * u).sum() for o, u in zip(out, upstreams, strict=True)).backward()
    sum((e * torch.tensor(u)).sum() for e, u in zip(expected, upstreams, strict=True)).backward()
    for o, e in zip(out, expected, strict=True):
        np.testing.assert_allclose(o.numpy(), e.detach().numpy(), **FLOAT64_TOLERANCE)
    np.testing.assert_allclose(mine.grad, reference.grad.numpy(), **FLOAT64_TOLERANCE)
    for w, v in zip(ours.weights, theirs.weights, strict=True):
        np.testing.assert_allclose(w.grad, v.value.grad.numpy(), **FLOAT64_TOLERANCE)
    if extra == "initial_state":
        for s, t in zip(my_states, their_states, strict=True):
            np.testing.assert_allclose(s.grad, t.grad.numpy(), **FLOAT64_TOLERANCE)


@pytest.mark.parametrize("name", ["SimpleRNNCell", "LSTMCell", "GRUCell"])
def test_a_cell_called_on_its_own_is_keras_step(keras, name, rng):
    import torch

    ours, theirs = _gated(ac, name)(3, dtype=F64), _gated(keras, name)(3, dtype=F64)
    ours.build((None, 2))
    theirs.build((None, 2))
    values = weights_for(ours, rng)
    ours.set_weights(values)
    theirs.set_weights(values)
    x = rng.standard_normal((4, 2))
    sizes = ours.state_size if isinstance(ours.state_size, list) else [ours.state_size]
    states = [rng.standard_normal((4, n)) for n in sizes]
    output, new_states = ours(x, states)
    expected, expected_states = theirs(torch.tensor(x), [torch.tensor(s) for s in states])
    np.testing.assert_allclose(output.numpy(), expected.detach().numpy(), **FLOAT64_TOLERANCE)
    for s, e in zip(new_states, expected_states, strict=True):
        np.testing.assert_allclose(s.numpy(), e.detach().numpy(), **FLOAT64_TOLERANCE)
    assert [i.shape for i in ours.get_initial_state(4)] == [(4, n) for n in sizes]


def _variable_owners(layer: Any) -> list[tuple[Any, str, Variable]]:
    """(object, attribute, variable) for every variable held by ``layer`` or a layer in it."""
    found, stack = [], [layer]
    while stack:
        current = stack.pop()
        for name, value in vars(current).items():
            if isinstance(value, Variable):
                found.append((current, name, value))
        stack.extend(current._layers)
    return found


GRADCHECK_CASES = ["simple-relu-backwards", "lstm-state", "gru-reset-before", "gru-mask",
                   "rnn-stacked", "bidirectional-lstm", "conv-lstm1d-state"]  # fmt: skip


@pytest.mark.parametrize("case", GRADCHECK_CASES)
def test_gradcheck_through_the_layer(case, rng):
    build, shape, extra = CASES[case]
    layer = build(ac.layers)
    layer.build((None, *shape[1:]))
    owners = _variable_owners(layer)
    mask = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 1]], bool)[: shape[0], : shape[1]]

    def fn(x, *weights):
        for variable, weight in zip(layer.weights, weights, strict=True):
            for owner, name, value in owners:
                if value is variable:  # the call reads it: gradients reach it
                    owner.__dict__[name] = weight
        result = layer(x, mask=mask) if extra == "mask" else layer(x)
        return ac.ops.concatenate([o.reshape(-1) for o in _outputs(result)], 0)

    assert gradcheck(fn, [rng.standard_normal(shape), *weights_for(layer, rng)])


def _without_names(entry: Any) -> Any:
    """A config without the layers' names, its floats to float32's precision (Keras keeps
    regularizers' factors as float32)."""
    if isinstance(entry, dict):
        return {key: _without_names(value) for key, value in entry.items() if key != "name"}
    if isinstance(entry, list | tuple):
        return [_without_names(item) for item in entry]
    return float(np.float32(entry)) if isinstance(entry, float) else entry


# (builder, one sample's input shape): the options that change what Keras writes
CONFIG_CASES = [
    (lambda L: L.SimpleRNN(3, activation="relu", use_bias=False, dropout=0.2, seed=3,
                           kernel_regularizer="l2", recurrent_constraint="unit_norm",
                           bias_initializer="ones", activity_regularizer="l1"), (4, 2)),
    (lambda L: L.LSTM(2, unit_forget_bias=False, recurrent_activation="hard_sigmoid",
                      go_backwards=True, unroll=True, seed=1,
                      recurrent_dropout=0.1, use_cudnn=False), (3, 2)),
    (lambda L: L.GRU(2, reset_after=False, return_sequences=True, stateful=True,
                     kernel_initializer="he_normal", bias_regularizer="l1"), (3, 2)),
    (lambda L: L.RNN(L.GRUCell(2, seed=2, recurrent_initializer="glorot_normal"),
                     zero_output_for_mask=True), (3, 2)),
    (lambda L: L.RNN([L.SimpleRNNCell(2), L.LSTMCell(3, bias_constraint="non_neg")],
                     return_sequences=True), (3, 2)),
    (lambda L: L.Bidirectional(L.LSTM(2, return_sequences=True), merge_mode="sum"), (3, 2)),
    (lambda L: L.Bidirectional(L.GRU(2), merge_mode="mul",
                               backward_layer=L.GRU(2, go_backwards=True)), (3, 2)),
    (lambda L: L.ConvLSTM2D(2, 3, strides=(1, 2), padding="same", recurrent_dropout=0.1,
                            seed=3, unit_forget_bias=False, activity_regularizer="l2"),
     (2, 5, 5, 1)),
    (lambda L: L.ConvLSTM1D(3, 2, dilation_rate=2, return_sequences=True,
                            kernel_regularizer="l2", recurrent_activation="tanh"), (3, 6, 2)),
    (lambda L: L.ConvLSTM3D(2, 2, dilation_rate=(1, 2, 1), go_backwards=True), (2, 3, 5, 3, 1)),
]  # fmt: skip


@pytest.mark.parametrize(("build", "shape"), CONFIG_CASES, ids=range(len(CONFIG_CASES)))
def test_configs_are_keras_and_read_back(keras, build, shape):
    ours = ac.Sequential([ac.Input(shape, batch_size=2), build(ac.layers)]).layers[-1]
    theirs = keras.Sequential([keras.Input(shape, batch_size=2), build(keras.layers)]).layers[-1]
    entry = json.loads(json.dumps(serialize(ours)))
    expected = json.loads(json.dumps(keras.layers.serialize(theirs)))
    if entry["build_config"] != expected["build_config"]:  # Keras keeps the batch size
        assert entry.pop("build_config") == {"input_shape": [None, *shape]}
        expected.pop("build_config")
    assert _without_names(entry) == _without_names(expected)
    clone = deserialize(entry)
    assert type(clone) is type(ours) and clone.get_config() == ours.get_config()
    assert [w.shape for w in clone.weights] == [w.shape for w in ours.weights]
    unbuilt = json.loads(json.dumps(build(keras.layers).get_config()))
    ours_unbuilt = _without_names(json.loads(json.dumps(build(ac.layers).get_config())))
    assert ours_unbuilt == _without_names(unbuilt)
    assert json.dumps(ours_unbuilt) == json.dumps(_without_names(unbuilt))  # Keras's order too


ERROR_CASES = [
    (lambda L: L.LSTM(0), "expected a positive integer, got 0"),
    (lambda L: L.SimpleRNNCell(-2), "expected a positive integer, got -2"),
    (lambda L: L.GRU(2, use_cudnn="yes"), "Expected one of {'auto', True, False}"),
    (lambda L: L.Bidirectional(L.LSTM(2), merge_mode="max"), "Invalid merge mode"),
    (lambda L: L.Bidirectional("lstm"), "with a `keras.layers.Layer` instance"),
    (lambda L: L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2)),
     "should have different `go_backwards` value"),
    (lambda L: L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2, go_backwards=True,
                                                                 return_sequences=True)),
     'the same value for attribute "return_sequences"'),
    (lambda L: L.RNN(L.Dense(2)), "state_size"),
    (lambda L: L.ConvLSTM2D(2, 3, strides=2, dilation_rate=2),
     "Specifying `strides > 1` is not compatible with `dilation_rate > 1`"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "message"), ERROR_CASES, ids=range(len(ERROR_CASES)))
def test_bad_arguments_raise_keras_errors(keras, build, message):
    for lib in (keras, ac):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("{", r"\{")):
            build(lib.layers)


def test_a_sequence_must_be_three_dimensional(keras):
    for lib in (keras, ac):
        with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
            lib.Sequential([lib.Input((4,)), lib.layers.LSTM(2)])
    with pytest.raises(ValueError, match="Bidirectional: `weights` is not supported"):
        ac.layers.Bidirectional(ac.layers.LSTM(2), weights=[np.zeros(2)])
    with pytest.raises(ValueError, match="expected ndim=5, found ndim=4"):
        ac.Sequential([ac.Input((3, 4, 2)), ac.layers.ConvLSTM2D(2, 2)])
    with pytest.raises(ValueError, match="mask must be"):
        ac.layers.GRU(2)(np.ones((2, 3, 1)), mask=np.ones((2, 4), bool))


def test_dropout_masks_are_drawn_once_a_sequence(rng):
    """A linear SimpleRNN (identity kernel, no recurrence) outputs each step's inputs times
    the dropout mask: in training every step shows the same mask, redrawn at the next call;
    in inference nothing is dropped."""
    layer = ac.layers.SimpleRNN(6, activation=None, use_bias=False, dropout=0.5,
                                return_sequences=True, seed=4, dtype=F64)  # fmt: skip
    layer.build((None, 5, 6))
    layer.set_weights([np.eye(6), np.zeros((6, 6))])
    x = np.ones((3, 5, 6))
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    for out in (first, second):
        assert set(np.unique(out)) <= {0.0, 2.0} and 0 < (out == 0).mean() < 1
        np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1], out.shape))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    lstm = ac.layers.LSTM(3, dropout=0.3, recurrent_dropout=0.4, seed=1, dtype=F64)
    assert lstm.cell.implementation == 1 and lstm.cell.dropout_mask_count == 4
    y = rng.standard_normal((2, 4, 3))
    inference = lstm(y).numpy()
    assert not np.allclose(lstm(y, training=True).numpy(), inference)
    assert lstm.cell._dropout_mask is None  # reset after the call
    np.testing.assert_array_equal(lstm(y).numpy(), inference)


def test_stateful_layers_carry_their_states_between_calls(rng):
    layer = ac.layers.GRU(3, stateful=True, return_sequences=True, dtype=F64)
    whole = ac.layers.GRU(3, return_sequences=True, dtype=F64)
    x = rng.standard_normal((2, 6, 2))
    whole.build((None, 6, 2))
    layer.build((None, 6, 2))
    layer.set_weights(whole.get_weights())
    parts = np.concatenate([layer(x[:, :3]).numpy(), layer(x[:, 3:]).numpy()], axis=1)
    np.testing.assert_allclose(parts, whole(x).numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="Expected batch size: 2"):
        layer(x[:1])
    layer.reset_state()
    np.testing.assert_allclose(layer(x[:, :3]).numpy(), whole(x[:, :3]).numpy(), rtol=1e-12)


def test_initializers_and_regularizers():
    lstm = ac.layers.LSTM(3, kernel_regularizer=ac.regularizers.L2(0.5), bias_constraint="non_neg")
    lstm.build((None, 4, 2))
    bias = lstm.cell.bias.numpy()
    np.testing.assert_array_equal(bias, np.r_[np.zeros(3), np.ones(3), np.zeros(6)])
    recurrent = lstm.cell.recurrent_kernel.numpy()  # orthogonal: (3, 12), orthonormal rows
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-6)
    assert len(lstm.losses) == 1
    assert lstm.units == 3 and lstm.recurrent_activation is ac.activations.sigmoid
    gru = ac.layers.GRU(2)
    gru.build((None, 3, 4))
    assert gru.cell.bias.shape == (2, 6) and gru.reset_after


def test_a_custom_cell_runs_as_in_keras(keras, rng):
    """A user's cell (a layer with ``state_size`` and ``call(inputs, states)``) in RNN."""
    import torch

    def make(lib):
        class MinimalRNNCell(lib.layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units, self.state_size = units, units

            def build(self, input_shape):
                self.kernel = self.add_weight((input_shape[-1], self.units), name="kernel")
                self.recurrent_kernel = self.add_weight((self.units, self.units),
                                                        name="recurrent_kernel")  # fmt: skip

            def call(self, inputs, states):
                output = lib.ops.matmul(inputs, self.kernel) + lib.ops.matmul(
                    states[0], self.recurrent_kernel
                )
                return output, [output]

        return lib.layers.RNN(MinimalRNNCell(3, dtype=F64), return_sequences=True, dtype=F64)

    ours, theirs = make(ac), make(keras)
    ours.build((None, 3, 2))
    theirs.build((None, 3, 2))
    values = weights_for(ours, rng)
    ours.set_weights(values)
    theirs.set_weights(values)
    x = rng.standard_normal((2, 3, 2))
    expected = theirs(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours(x).numpy(), expected, **FLOAT64_TOLERANCE)


@pytest.mark.parametrize("unroll", [False, True])
def test_a_custom_cell_is_called_as_many_times_as_in_keras(keras, unroll):
    """Keras's loop calls a cell once more, on the first step before the loop (not when
    unrolled): a cell that records each call (keras.io's temporal latent bottleneck keeps its
    attention scores, and drops the first) sees as many calls, also in a stack of cells,
    whose cells Keras runs once more before the loop (where it draws their dropout masks)."""

    def calls(lib, stacked):
        class CountingCell(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.state_size, self.calls = 2, 0

            def call(self, inputs, states):
                self.calls += 1
                return inputs + states[0], [inputs + states[0]]

        cell = CountingCell()
        cells = [cell, lib.layers.SimpleRNNCell(2)] if stacked else cell
        lib.layers.RNN(cells, unroll=unroll)(np.ones((1, 3, 2), "float32"))
        return cell.calls

    for stacked in (False, True):  # (a stack's cells are also run once to draw dropout masks)
        assert calls(ac, stacked) == calls(keras, stacked) == 3 + (not unroll) + stacked


def encoder_decoder(lib: Any) -> Any:
    """A functional model of them: an LSTM's final states (one layer, several outputs) start
    a GRU, then a Bidirectional and an RNN of stacked cells, a Dense; weights a fixed
    pattern."""
    encoded = lib.Input((4, 2))
    decoded = lib.Input((3, 2))
    _, h, c = lib.layers.LSTM(3, return_state=True)(encoded)
    sequence = lib.layers.GRU(3, return_sequences=True)(decoded, initial_state=h)
    both = lib.layers.Bidirectional(lib.layers.SimpleRNN(2, return_sequences=True))(sequence)
    stacked = lib.layers.RNN([lib.layers.LSTMCell(2), lib.layers.SimpleRNNCell(2)])(both)
    merged = lib.layers.Concatenate()([stacked, c])
    model = lib.Model([encoded, decoded], lib.layers.Dense(2)(merged))
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def test_a_functional_model_of_them_trains_as_in_keras_and_travels_both_ways(keras, tmp_path):
    rng = np.random.default_rng(5)
    x = [rng.standard_normal((6, 4, 2)).astype(np.float32),
         rng.standard_normal((6, 3, 2)).astype(np.float32)]  # fmt: skip
    y = rng.standard_normal((6, 2)).astype(np.float32)
    ours, theirs = encoder_decoder(ac), encoder_decoder(keras)
    expected = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    theirs.save(tmp_path / "theirs.keras")
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    from_theirs = ac.saving.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, 1e-5, 1e-6)
    built = encoder_decoder(ac)
    built.set_weights([np.zeros(w.shape) for w in built.weights])
    built.load_weights(tmp_path / "theirs.weights.h5")
    np.testing.assert_allclose(built.predict(x, verbose=0), expected, 1e-5, 1e-6)
    histories = []
    for model, lib in ((ours, ac), (theirs, keras)):
        model.compile(lib.optimizers.SGD(0.05), "mse")
        histories.append(model.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0))
    np.testing.assert_allclose(histories[0].history["loss"], histories[1].history["loss"], 1e-5)
    for mine, theirs_weight in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, np.asarray(theirs_weight), rtol=1e-4, atol=1e-5)
    ours.save(tmp_path / "ours.keras")
    ours.save_weights(tmp_path / "ours.weights.h5")
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    predicted = ours.predict(x, verbose=0)
    np.testing.assert_allclose(np.asarray(from_ours.predict(x, verbose=0)), predicted, 1e-5, 1e-6)
    weights_only = encoder_decoder(keras)
    weights_only.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(np.asarray(weights_only.predict(x, verbose=0)), predicted, 1e-5,
                               1e-6)  # fmt: skip


def test_a_layer_first_called_with_an_initial_state_has_kerass_build_config(keras, tmp_path):
    """Keras builds a layer for each of its call's tensors: an RNN or a Bidirectional first
    called with ``initial_state`` has a build config ``{"shapes_dict": {"sequences_shape": ...,
    "initial_state_shape": ...}}`` (a tensor's shape, or a list of them), kept by a loaded
    model, whichever library wrote the file."""

    def build_configs(model: Any) -> list[Any]:
        return [layer.get_build_config() for layer in model.layers]

    def listed(lib: Any) -> Any:  # (states as a list: an LSTM's, a Bidirectional's)
        x, h = lib.Input((3, 2)), lib.Input((3,))
        y = lib.layers.LSTM(3, return_sequences=True)(x, initial_state=[h, h])
        both = lib.layers.Bidirectional(lib.layers.GRU(3))(y, initial_state=[h, h])
        return lib.Model([x, h], both)

    assert build_configs(listed(ac)) == build_configs(listed(keras))
    assert listed(ac).layers[-1].get_build_config()["shapes_dict"]["initial_state_shape"] == [
        (None, 3), (None, 3)
    ]  # fmt: skip
    ours, theirs = encoder_decoder(ac), encoder_decoder(keras)
    assert build_configs(ours) == build_configs(theirs)
    (gru,) = [layer for layer in ours.layers if isinstance(layer, ac.layers.GRU)]
    assert gru.get_build_config() == {
        "shapes_dict": {"sequences_shape": (None, 3, 2), "initial_state_shape": (None, 3)}
    }
    ours.save(tmp_path / "ours.keras"), theirs.save(tmp_path / "theirs.keras")
    assert build_configs(ac.saving.load_model(tmp_path / "theirs.keras")) == build_configs(ours)
    assert build_configs(ac.saving.load_model(tmp_path / "ours.keras")) == build_configs(ours)
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    assert json.loads(json.dumps(build_configs(from_ours))) == json.loads(
        json.dumps(build_configs(ours))
    )


def test_bidirectional_states_in_a_functional_model(keras):
    """merge_mode=None with return_state: six outputs (both directions' outputs, then the
    forward h and c, then the backward ones), as Keras's."""

    def make(lib):
        sequences = lib.Input((3, 2))
        layer = lib.layers.Bidirectional(lib.layers.LSTM(2, return_state=True), merge_mode=None)
        model = lib.Model(sequences, list(layer(sequences)))
        model.set_weights([np.sin(np.arange(w.size) * 0.3 + i).reshape(w.shape)
                           for i, w in enumerate(model.get_weights())])  # fmt: skip
        return model

    x = np.random.default_rng(0).standard_normal((2, 3, 2)).astype(np.float32)
    ours, theirs = make(ac).predict(x, verbose=0), make(keras).predict(x, verbose=0)
    assert len(ours) == len(theirs) == 6
    for mine, expected in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, np.asarray(expected), rtol=1e-5, atol=1e-6)


def sequence_model() -> Any:
    model = ac.Sequential([
        ac.Input((3, 2)), ac.layers.LSTM(3, return_sequences=True),
        ac.layers.Bidirectional(ac.layers.GRU(2, reset_after=False, return_sequences=True)),
        ac.layers.SimpleRNN(3), ac.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def dropout_model() -> Any:
    """Each layer's sequence one op, with its inputs' and recurrent dropout."""
    model = ac.Sequential([
        ac.Input((3, 2)),
        ac.layers.LSTM(3, dropout=0.2, recurrent_dropout=0.3, seed=1, return_sequences=True),
        ac.layers.GRU(3, recurrent_dropout=0.4, seed=2, return_sequences=True),
        ac.layers.SimpleRNN(3, recurrent_dropout=0.5, seed=3),
        ac.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def frames_model() -> Any:
    model = ac.Sequential([
        ac.Input((2, 4, 4, 1)), ac.layers.ConvLSTM2D(2, 3, padding="same"),
        ac.layers.Flatten(), ac.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


@pytest.mark.cudasim
@pytest.mark.parametrize(
    ("make", "shape"),
    [(sequence_model, (3, 2)), (frames_model, (2, 4, 4, 1))],
)
def test_fit_on_the_gpu_gives_the_cpus_losses(make, shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, *shape)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    fit_on_both_devices(make, x, y, replayed=True)  # the sequence ops and the loop replay


@pytest.mark.cudasim
def test_a_gpu_fit_with_recurrent_dropout_replays_and_is_the_loops(monkeypatch):
    """The GPU draws its dropout masks on the device (not the CPU's numbers), so the fused
    sequences with recurrent dropout are compared with the cells stepped by the loop there."""
    pytest.importorskip("numba_cuda")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 3, 2)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    losses, trained, sequence_ops = [], [], []
    for fused in (True, False):
        for cell_class in (ac.layers.LSTMCell, ac.layers.GRUCell, ac.layers.SimpleRNNCell):
            replaced = kept(cell_class, sequence_ops) if fused else (lambda *a, **k: None)
            monkeypatch.setattr(cell_class, "fused_sequence", replaced)
        ac.utils.set_random_seed(5)
        model = dropout_model().to("cuda")
        model.compile("adam", "categorical_crossentropy")
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        assert model._step_replay.why is None and model._step_replay.replayed > 0
        losses.append(history.history["loss"])
        trained.append(model.get_weights())
        monkeypatch.undo()
    assert sequence_ops and all(op is not None for op in sequence_ops)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    for fused, looped in zip(*trained, strict=True):
        np.testing.assert_allclose(fused, looped, rtol=1e-4, atol=1e-5)


NAMES = ["SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "RNN", "SimpleRNN", "LSTM",
         "GRU", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_arguments_are_keras_in_order_with_its_defaults(keras, name):
    def arguments(cls):
        parameters = inspect.signature(cls.__init__).parameters.values()
        return [(p.name, p.default) for p in parameters if p.name != "self"]

    assert arguments(getattr(ac.layers, name)) == arguments(getattr(keras.layers, name))


# An LSTM's, a GRU's or a SimpleRNN's whole sequence runs as one op (ops.recurrent's
# lstm_sequence, gru_sequence, simple_rnn_sequence) where the step is Keras's default one; the
# layer's results are the cell's, looped.
FUSED_CASES = {
    "lstm": lambda: ac.layers.LSTM(4, return_sequences=True, return_state=True, dtype=F64),
    "lstm-backwards-dropout": lambda: ac.layers.LSTM(3, go_backwards=True, dropout=0.4, seed=2,
                                                     return_state=True, dtype=F64),
    "gru": lambda: ac.layers.GRU(4, return_sequences=True, return_state=True, dtype=F64),
    "gru-no-bias-backwards": lambda: ac.layers.GRU(3, use_bias=False, go_backwards=True,
                                                   return_sequences=True, dtype=F64),
    "gru-dropout": lambda: ac.layers.GRU(3, dropout=0.3, seed=5, dtype=F64),
    "bidirectional": lambda: ac.layers.Bidirectional(
        ac.layers.LSTM(3, return_sequences=True, dtype=F64), dtype=F64),
    "simple-rnn": lambda: ac.layers.SimpleRNN(4, return_sequences=True, return_state=True,
                                              dropout=0.2, seed=3, dtype=F64),
    "simple-rnn-backwards": lambda: ac.layers.SimpleRNN(3, go_backwards=True, use_bias=False,
                                                        dtype=F64),
    # recurrent dropout: Keras's implementation=1, a mask a gate (inputs' and state's)
    "lstm-recurrent-dropout": lambda: ac.layers.LSTM(3, dropout=0.3, recurrent_dropout=0.4,
                                                     seed=4, return_state=True, dtype=F64),
    "lstm-recurrent-dropout-only": lambda: ac.layers.LSTM(3, recurrent_dropout=0.5, seed=6,
                                                          return_sequences=True, dtype=F64),
    "gru-recurrent-dropout": lambda: ac.layers.GRU(3, dropout=0.2, recurrent_dropout=0.5, seed=7,
                                                   go_backwards=True, return_sequences=True,
                                                   dtype=F64),
    "gru-recurrent-dropout-no-bias": lambda: ac.layers.GRU(3, recurrent_dropout=0.3, seed=8,
                                                           use_bias=False, dtype=F64),
    "simple-rnn-recurrent-dropout": lambda: ac.layers.SimpleRNN(4, dropout=0.2, seed=9,
                                                                recurrent_dropout=0.5,
                                                                return_sequences=True, dtype=F64),
    "bidirectional-recurrent-dropout": lambda: ac.layers.Bidirectional(
        ac.layers.LSTM(3, recurrent_dropout=0.4, seed=10, return_sequences=True, dtype=F64),
        dtype=F64),
}  # fmt: skip


def kept(cell_class, results):
    """``cell_class.fused_sequence``, appending each result to ``results``."""
    own = cell_class.fused_sequence

    def fused_sequence(*args, **kwargs):
        results.append(own(*args, **kwargs))
        return results[-1]

    return fused_sequence


@pytest.mark.parametrize("case", FUSED_CASES)
@pytest.mark.parametrize("training", [False, True])
def test_a_whole_sequence_in_one_op_gives_the_cells_steps(case, training, rng, monkeypatch):
    x_values = rng.standard_normal((3, 5, 2))
    initial = None
    results, sequence_ops = [], []
    cell_classes = (ac.layers.LSTMCell, ac.layers.GRUCell, ac.layers.SimpleRNNCell)
    for fused in (True, False):
        layer = FUSED_CASES[case]()
        for cell_class in cell_classes:
            if fused:  # each sequence's op, to see that one ran
                monkeypatch.setattr(cell_class, "fused_sequence", kept(cell_class, sequence_ops))
            else:  # the cells stepped by the RNN layer's loop
                monkeypatch.setattr(cell_class, "fused_sequence", lambda *a, **k: None)
        layer.build((None, 5, 2))
        initial = initial or weights_for(layer, rng)
        layer.set_weights(initial)
        x = ac.Tensor(x_values, requires_grad=True)
        outputs = _outputs(layer(x, training=training))
        sum(((o * o).sum() * (k + 1) for k, o in enumerate(outputs))).backward()
        results.append([o.numpy() for o in outputs] + [x.grad] + [w.grad for w in layer.weights])
        monkeypatch.undo()
    assert sequence_ops and all(op is not None for op in sequence_ops)
    for fused, looped in zip(*results, strict=True):
        np.testing.assert_allclose(fused, looped, rtol=1e-12, atol=1e-13)


def test_steps_keras_does_not_fuse_stay_the_cells(rng):
    """Other activations, GRU's reset_before and a subclass's own step have no whole-sequence
    op: the RNN layer calls the cell at each step."""
    x = ac.Tensor(rng.standard_normal((2, 3, 4)), dtype="float32")
    states = [ac.Tensor(np.zeros((2, 3)), dtype="float32")] * 2

    class Doubled(ac.layers.LSTMCell):
        def call(self, inputs, states, training=False):
            h, new_states = super().call(inputs, states, training)
            return h * 2, new_states

    unfused = [ac.layers.LSTMCell(3, activation="relu"), ac.layers.GRUCell(3, reset_after=False),
               ac.layers.GRUCell(3, recurrent_activation="hard_sigmoid"), Doubled(3),
               ac.layers.SimpleRNNCell(3, activation="relu")]  # fmt: skip
    for cell in unfused:
        cell.build((None, 4))
        assert cell.fused_sequence(x, states, training=False) is None
    doubled = ac.layers.RNN(Doubled(3), return_sequences=True)
    plain = ac.layers.RNN(ac.layers.LSTMCell(3), return_sequences=True)
    plain.build(x.shape)
    doubled.build(x.shape)
    doubled.set_weights(plain.get_weights())
    np.testing.assert_allclose(doubled(x).numpy(), 2 * plain(x).numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    "build",
    [
        lambda L: L.LSTM(2, return_state=True),
        lambda L: L.GRU(2, return_state=True, return_sequences=True),
        lambda L: L.SimpleRNN(2, return_state=True),
        lambda L: L.Bidirectional(L.LSTM(2, return_state=True)),
        lambda L: L.Bidirectional(L.LSTM(2), merge_mode=None),
    ],
    ids=["lstm", "gru", "simple", "bidirectional", "bidirectional-unmerged"],
)
def test_several_results_come_as_a_tuple_as_kerass(keras, build):
    """``return_state`` (and an unmerged Bidirectional) give a tuple, on data and on symbolic
    tensors, as Keras's."""
    x = np.zeros((2, 4, 3), np.float32)
    found = []
    for lib in (ac, keras):
        eager, symbolic = build(lib.layers)(x), build(lib.layers)(lib.Input((4, 3)))
        found.append((type(eager).__name__, type(symbolic).__name__, len(eager)))
    assert found[0] == found[1]
