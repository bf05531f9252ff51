"""Keras's masks (Embedding(mask_zero=True), Masking, and how layers read and pass them on)
against real Keras 3.15 (its PyTorch backend, where installed): the outputs and output masks
of sequence models with the same weights in float64 (RNNs, Bidirectional, TimeDistributed,
GlobalAveragePooling1D, attention, merges, normalizations), a masked fit's losses, metrics
and weights, BatchNormalization's masked statistics, the warning of a layer that drops a
mask; a float64 gradcheck of the masked ops; and the same fit on the CPU and the CUDA device
(the simulator)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv.ops.masks import keras_mask
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

F64 = "float64"
TIME, VOCABULARY = 5, 7


def _tokens(rng: np.random.Generator, batch: int = 4) -> np.ndarray:
    """(batch, TIME) indices with trailing padding 0s (each row keeps at least one step)."""
    tokens = rng.integers(1, VOCABULARY, (batch, TIME))
    for row, length in enumerate(rng.integers(1, TIME + 1, batch)):
        tokens[row, length:] = 0
    return tokens


def _same_weights(ours: Any, theirs: Any) -> None:
    values = [np.sin(np.arange(w.size) * 0.61 + i).reshape(w.shape) * 0.6
              for i, w in enumerate(ours.get_weights())]  # fmt: skip
    values = [np.abs(v) + 0.5 if w.path.endswith("variance") else v
              for v, w in zip(values, ours.weights, strict=True)]  # fmt: skip
    ours.set_weights(values)
    theirs.set_weights(values)


def _keras_mask_of(keras: Any, tensor: Any) -> np.ndarray | None:
    mask = keras.src.backend.get_keras_mask(tensor)
    return None if mask is None else np.asarray(mask.cpu()).astype(bool)


def _our_mask_of(tensor: Any) -> np.ndarray | None:
    mask = keras_mask(tensor)
    return None if mask is None else mask.numpy().astype(bool)


# A stack after Embedding(VOCABULARY, 3, mask_zero=True), from a layers module, in float64.
STACKS: dict[str, Callable[[Any], list[Any]]] = {
    "lstm-sequences-dense": lambda L: [L.LSTM(3, return_sequences=True, dtype=F64),
                                       L.Dense(2, dtype=F64)],
    "gru-last": lambda L: [L.GRU(3, dtype=F64), L.Dense(2, dtype=F64)],
    "simple-rnn-backwards": lambda L: [L.SimpleRNN(2, return_sequences=True, go_backwards=True,
                                                   dtype=F64)],
    "time-distributed": lambda L: [L.SimpleRNN(3, return_sequences=True, dtype=F64),
                                   L.TimeDistributed(L.Dense(2, dtype=F64), dtype=F64)],
    "bidirectional-average": lambda L: [L.Bidirectional(L.LSTM(2, return_sequences=True,
                                                               dtype=F64), dtype=F64),
                                        L.GlobalAveragePooling1D(dtype=F64)],
    "bidirectional-none": lambda L: [L.Bidirectional(L.GRU(2, return_sequences=True, dtype=F64),
                                                     merge_mode="sum", dtype=F64)],
    "pass-through": lambda L: [L.Dropout(0.5, dtype=F64), L.Activation("tanh", dtype=F64),
                               L.LayerNormalization(dtype=F64), L.Dense(2, dtype=F64)],
    "batch-norm-average": lambda L: [L.BatchNormalization(dtype=F64),
                                     L.GlobalAveragePooling1D(dtype=F64)],
    "stacked-lstms": lambda L: [L.LSTM(3, return_sequences=True, dtype=F64),
                                L.LSTM(2, dtype=F64)],
}  # fmt: skip


def _sequence_model(lib: Any, stack: Callable[[Any], list[Any]]) -> Any:
    inputs = lib.Input((TIME,), dtype="int32")
    embedded = lib.layers.Embedding(VOCABULARY, 3, mask_zero=True, dtype=F64)
    return lib.Sequential([inputs, embedded, *stack(lib.layers)])


@pytest.mark.parametrize("name", list(STACKS))
def test_masked_sequence_models_match_keras(keras, name):
    ours, theirs = _sequence_model(ac, STACKS[name]), _sequence_model(keras, STACKS[name])
    _same_weights(ours, theirs)
    tokens = _tokens(np.random.default_rng(1))
    expected = theirs(tokens)
    got = ours(tokens)
    np.testing.assert_allclose(got.numpy(), np.asarray(expected.detach()), rtol=1e-6, atol=1e-7)
    assert (_our_mask_of(got) is None) == (_keras_mask_of(keras, expected) is None)
    if _our_mask_of(got) is not None:
        np.testing.assert_array_equal(_our_mask_of(got), _keras_mask_of(keras, expected))


def test_embedding_mask_is_where_the_index_is_not_zero():
    layer = ac.layers.Embedding(5, 2, mask_zero=True)
    tokens = np.array([[3, 0, 1], [0, 0, 4]])
    out = layer(tokens)
    np.testing.assert_array_equal(_our_mask_of(out), tokens != 0)
    np.testing.assert_array_equal(layer.compute_mask(tokens).numpy(), tokens != 0)
    assert ac.layers.Embedding(5, 2).compute_mask(tokens) is None
    assert layer.get_config()["mask_zero"] is True


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking_matches_keras(keras, mask_value):
    x = np.random.default_rng(2).standard_normal((3, 4, 2))
    x[0, 1] = x[2, 3] = x[2, 0] = mask_value
    x[1, 2, 0] = mask_value  # one feature alone does not mask the step
    ours = ac.layers.Masking(mask_value, name="masking")
    theirs = keras.layers.Masking(mask_value, name="masking")
    got, expected = ours(x), theirs(x)
    np.testing.assert_allclose(got.numpy(), np.asarray(expected), rtol=1e-7)
    np.testing.assert_array_equal(_our_mask_of(got), _keras_mask_of(keras, expected))
    assert ours.get_config() == theirs.get_config() | {"dtype": ours.get_config()["dtype"]}
    np.testing.assert_array_equal(ours.compute_mask(x).numpy(), _our_mask_of(got))


def test_masking_then_lstm_matches_keras(keras):
    x = np.random.default_rng(3).standard_normal((3, 4, 2))
    x[0, 2:] = 0.0
    x[1, 0] = 0.0

    def build(lib: Any) -> Any:
        return lib.Sequential([lib.Input((4, 2)), lib.layers.Masking(dtype=F64),
                               lib.layers.LSTM(3, return_sequences=True, dtype=F64)])  # fmt: skip

    ours, theirs = build(ac), build(keras)
    _same_weights(ours, theirs)
    got, expected = ours(x), theirs(x)
    np.testing.assert_allclose(got.numpy(), np.asarray(expected.detach()), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(_our_mask_of(got), _keras_mask_of(keras, expected))


def _attention_model(lib: Any, kind: str) -> Any:
    tokens = lib.Input((TIME,), dtype="int32")
    other = lib.Input((TIME - 1,), dtype="int32")
    query = lib.layers.Embedding(VOCABULARY, 4, mask_zero=True, dtype=F64)(tokens)
    value = lib.layers.Embedding(VOCABULARY, 4, mask_zero=True, dtype=F64)(other)
    if kind == "multi-head":
        out = lib.layers.MultiHeadAttention(2, 2, dtype=F64)(query, value)
    elif kind == "multi-head-scores":  # Keras's unfused path: masked queries get 0 weights
        attention = lib.layers.MultiHeadAttention(2, 2, dtype=F64)
        out, _ = attention(query, value, return_attention_scores=True)
    elif kind == "multi-head-self":
        out = lib.layers.MultiHeadAttention(2, 3, dtype=F64)(query, query, use_causal_mask=True)
    elif kind == "grouped-query":
        out = lib.layers.GroupQueryAttention(2, 4, 2, dtype=F64)(query, value)
    else:
        out = lib.layers.Attention(use_scale=True, dtype=F64)([query, value])
    return lib.Model([tokens, other], lib.layers.Dense(2, dtype=F64)(out))


@pytest.mark.parametrize(
    "kind", ["multi-head", "multi-head-self", "multi-head-scores", "grouped-query", "dot"]
)
def test_attention_reads_its_inputs_masks_as_keras(keras, kind):
    ours, theirs = _attention_model(ac, kind), _attention_model(keras, kind)
    _same_weights(ours, theirs)
    rng = np.random.default_rng(4)
    tokens, other = _tokens(rng), _tokens(rng)[:, : TIME - 1]
    other[:, 0] = 1  # every query position attends to something
    got, expected = ours([tokens, other]), theirs([tokens, other])
    # (a masked query position attends to every key alike, as Keras's fused attention)
    np.testing.assert_allclose(got.numpy(), np.asarray(expected.detach()), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(_our_mask_of(got), _keras_mask_of(keras, expected))


@pytest.mark.parametrize(
    "merge", ["Add", "Maximum", "Minimum", "Concatenate", "ConcatenateTime", "Dot"]
)
@pytest.mark.parametrize("both_masked", [True, False])
def test_merges_combine_masks_as_keras(keras, merge, both_masked):
    def build(lib: Any) -> Any:
        left, right = lib.Input((TIME,), dtype="int32"), lib.Input((TIME,), dtype="int32")
        a = lib.layers.Embedding(VOCABULARY, 2, mask_zero=True, dtype=F64)(left)
        b = lib.layers.Embedding(VOCABULARY, 2, mask_zero=both_masked, dtype=F64)(right)
        if merge == "ConcatenateTime":
            layer = lib.layers.Concatenate(axis=1, dtype=F64)
        elif merge == "Dot":
            layer = lib.layers.Dot(axes=2, dtype=F64)
        else:
            layer = getattr(lib.layers, merge)(dtype=F64)
        return lib.Model([left, right], layer([a, b]))

    ours, theirs = build(ac), build(keras)
    _same_weights(ours, theirs)
    rng = np.random.default_rng(5)
    inputs = [_tokens(rng), _tokens(rng)]
    got, expected = ours(inputs), theirs(inputs)
    np.testing.assert_allclose(got.numpy(), np.asarray(expected.detach()), rtol=1e-6, atol=1e-8)
    want = _keras_mask_of(keras, expected)
    assert (_our_mask_of(got) is None) == (want is None)
    if want is not None:
        np.testing.assert_array_equal(_our_mask_of(got), want)


def test_softmax_with_a_mask_matches_keras(keras):
    x = np.random.default_rng(6).standard_normal((2, 3, 4))
    mask = np.array([[1, 0, 1, 1], [0, 0, 0, 0]], bool)[:, None, :]
    got = ac.layers.Softmax(dtype=F64)(x, mask=mask)
    expected = keras.layers.Softmax(dtype=F64)(x, mask=mask)
    np.testing.assert_allclose(got.numpy(), np.asarray(expected), rtol=1e-7, atol=1e-12)
    with pytest.raises(ValueError, match="must be broadcastable"):
        ac.layers.Softmax()(x, mask=np.ones((2, 3)))


@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_with_a_mask_matches_keras(keras, training):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 2)) * 2 + 1
    mask = rng.random((3, 4)) > 0.4
    ours, theirs = (lib.layers.BatchNormalization(momentum=0.5, dtype=F64) for lib in (ac, keras))
    got = ours(x, training=training, mask=mask)
    expected = theirs(x, training=training, mask=mask)
    np.testing.assert_allclose(got.numpy(), np.asarray(expected.detach()), rtol=1e-6, atol=1e-9)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-7)
    with pytest.raises(ValueError, match="one dimension less than the inputs"):
        ours(x, training=True, mask=np.ones((3, 4, 2)))


def test_a_layer_that_does_not_support_masking_drops_the_mask_with_keras_warning():
    embedded = ac.layers.Embedding(5, 2, mask_zero=True)(np.array([[1, 0]]))
    with pytest.warns(UserWarning, match="does not support masking and will therefore destroy"):
        flat = ac.layers.Flatten()(embedded)
    assert keras_mask(flat) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert keras_mask(ac.layers.Dense(3)(embedded)) is not None


def test_lambda_passes_and_sets_masks_as_keras():
    embedded = ac.layers.Embedding(5, 2, mask_zero=True)(np.array([[1, 0, 2]]))
    seen = []

    def double(x: Any, mask: Any = None) -> Any:
        seen.append(mask)
        return x * 2

    assert keras_mask(ac.layers.Lambda(double)(embedded)) is None  # Keras's default: dropped
    np.testing.assert_array_equal(seen[0].numpy(), [[1, 0, 1]])
    kept = ac.layers.Lambda(lambda x: x, mask=lambda inputs, mask: mask)(embedded)
    np.testing.assert_array_equal(_our_mask_of(kept), [[True, False, True]])


def _tagger(lib: Any) -> Any:
    """A sequence tagger: a label per step, padding masked out of the loss and metrics."""
    model = lib.Sequential([
        lib.Input((TIME,), dtype="int32"),
        lib.layers.Embedding(VOCABULARY, 3, mask_zero=True, dtype=F64),
        lib.layers.GRU(4, return_sequences=True, dtype=F64),
        lib.layers.Dense(3, activation="softmax", dtype=F64),
    ])  # fmt: skip
    return model


def test_a_masked_fit_matches_keras(keras):
    ours, theirs = _tagger(ac), _tagger(keras)
    _same_weights(ours, theirs)
    rng = np.random.default_rng(8)
    x, y = _tokens(rng, 12), rng.integers(0, 3, (12, TIME))
    histories = []
    for model, lib in ((ours, ac), (theirs, keras)):
        model.compile(lib.optimizers.SGD(0.5), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])  # fmt: skip
        fit = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        histories.append(fit.history)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-5)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-7)
    ours_eval = ours.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(ours_eval, theirs.evaluate(x, y, verbose=0), rtol=1e-5)


def test_a_loss_leaves_masked_entries_out():
    y_pred = ac.Tensor(np.full((2, 3, 2), 0.5))
    y_pred._keras_mask = ac.Tensor(np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    y_true = np.zeros((2, 3), int)
    loss = ac.losses.SparseCategoricalCrossentropy()(y_true, y_pred)
    np.testing.assert_allclose(loss.numpy(), np.log(2), rtol=1e-6)  # the mean of the 3 kept


@pytest.mark.parametrize("case", ["average", "softmax", "batch-norm"])
def test_masked_ops_gradcheck(case):
    rng = np.random.default_rng(9)
    mask = np.array([[1, 1, 0, 1], [1, 0, 0, 0]], bool)
    if case == "average":
        layer = ac.layers.GlobalAveragePooling1D(dtype=F64)
        gradcheck(lambda x: layer(x, mask=mask), [rng.standard_normal((2, 4, 3))])
    elif case == "softmax":
        layer = ac.layers.Softmax(dtype=F64)
        gradcheck(lambda x: layer(x, mask=mask) * np.arange(4.0),
                  [rng.standard_normal((2, 4))])  # fmt: skip
    else:
        layer = ac.layers.BatchNormalization(dtype=F64)
        layer.build((None, 4, 3))
        gradcheck(lambda x: layer(x, training=True, mask=mask) * np.arange(3.0),
                  [rng.standard_normal((2, 4, 3))])  # fmt: skip


def _device_tagger() -> Any:
    model = ac.Sequential([
        ac.Input((TIME,)), ac.layers.Embedding(VOCABULARY, 3, mask_zero=True),
        ac.layers.LSTM(3, return_sequences=True),
        ac.layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


@pytest.mark.cudasim
def test_a_masked_fit_on_the_gpu_gives_the_cpus_losses():
    rng = np.random.default_rng(10)
    x = _tokens(rng, 8).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, (8, TIME))]
    fit_on_both_devices(_device_tagger, x, y, replayed=True)  # masks stay on the device


def _book_transformer(lib: Any) -> Any:
    """The text classifier of Deep Learning with Python's chapter on Transformers, as its
    Keras 3 code writes it: a position embedding whose compute_mask marks padding, an encoder
    whose call takes that mask, on sequences of any length (Input(shape=(None,)))."""
    layers, ops = lib.layers, lib.ops

    class PositionalEmbedding(layers.Layer):
        def __init__(self, sequence_length: int, input_dim: int, output_dim: int) -> None:
            super().__init__(dtype=F64)
            self.token_embeddings = layers.Embedding(input_dim, output_dim, dtype=F64)
            self.position_embeddings = layers.Embedding(sequence_length, output_dim, dtype=F64)

        def call(self, inputs: Any) -> Any:
            positions = ops.arange(0, ops.shape(inputs)[-1], 1)
            return self.token_embeddings(inputs) + self.position_embeddings(positions)

        def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
            return ops.not_equal(inputs, 0)

    class TransformerEncoder(layers.Layer):
        def __init__(self, embed_dim: int, dense_dim: int, num_heads: int) -> None:
            super().__init__(dtype=F64)
            self.attention = layers.MultiHeadAttention(num_heads, embed_dim, dtype=F64)
            self.dense_proj = lib.Sequential([layers.Dense(dense_dim, activation="relu",
                                                           dtype=F64),
                                              layers.Dense(embed_dim, dtype=F64)])  # fmt: skip
            self.layernorm_1 = layers.LayerNormalization(dtype=F64)
            self.layernorm_2 = layers.LayerNormalization(dtype=F64)

        def call(self, inputs: Any, mask: Any = None) -> Any:
            if mask is not None:
                mask = ops.expand_dims(mask, axis=1)
            attention_output = self.attention(inputs, inputs, attention_mask=mask)
            proj_input = self.layernorm_1(inputs + attention_output)
            return self.layernorm_2(proj_input + self.dense_proj(proj_input))

    inputs = lib.Input(shape=(None,), dtype="int64")
    x = PositionalEmbedding(TIME, VOCABULARY, 4)(inputs)
    x = TransformerEncoder(4, 6, 2)(x)
    x = layers.GlobalMaxPooling1D(dtype=F64)(x)
    return lib.Model(inputs, layers.Dense(1, activation="sigmoid", dtype=F64)(x))


def _book_bidirectional_lstm(lib: Any) -> Any:
    """The same chapter's bidirectional LSTM over embeddings with mask_zero=True."""
    inputs = lib.Input(shape=(None,), dtype="int64")
    embedded = lib.layers.Embedding(VOCABULARY, 4, mask_zero=True, dtype=F64)(inputs)
    x = lib.layers.Bidirectional(lib.layers.LSTM(3, dtype=F64), dtype=F64)(embedded)
    return lib.Model(inputs, lib.layers.Dense(1, activation="sigmoid", dtype=F64)(x))


@pytest.mark.filterwarnings("ignore:Layer 'transformer_encoder'")
@pytest.mark.parametrize("build", [_book_transformer, _book_bidirectional_lstm])
def test_the_books_text_models_match_keras_on_padded_batches(keras, build):
    ours, theirs = build(ac), build(keras)
    _same_weights(ours, theirs)
    tokens = _tokens(np.random.default_rng(11))
    for batch in (tokens, tokens[:, :3]):  # sequences of any length
        np.testing.assert_allclose(ours(batch).numpy(), np.asarray(theirs(batch).detach()),
                                   rtol=1e-6, atol=1e-8)  # fmt: skip


def _masks_given(lib):
    """The masks a call ``layer(embedded, array)`` gives a ``call(inputs, other, mask=None)``
    and a ``call(inputs, other, inputs_mask=None)``."""
    seen = {}

    class Both(lib.layers.Layer):
        def call(self, inputs, other, mask=None):
            seen["mask"] = mask
            return inputs

    class ByName(lib.layers.Layer):
        def call(self, inputs, other, inputs_mask=None):
            seen["inputs_mask"] = inputs_mask
            return inputs

    embedded = lib.layers.Embedding(5, 2, mask_zero=True)(np.array([[1, 2, 0]]))
    other = np.ones((1, 3, 2), "float32")
    Both()(embedded, other)
    ByName()(embedded, other)
    return {k: None if v is None else np.asarray(v).tolist() for k, v in seen.items()}


@pytest.mark.filterwarnings("ignore:Layer .* was passed an input with a mask")
def test_an_array_beside_a_masked_tensor_is_a_tensor_argument_as_in_keras(keras):
    """An eager call ``layer(embedded, array)``: Keras makes the array a tensor first, so the
    call has two tensor arguments: ``mask`` is not filled in, ``inputs_mask`` is (autoconv
    counted the array as no tensor and gave ``mask``)."""
    expected = {"mask": None, "inputs_mask": [[True, True, False]]}
    assert _masks_given(ac) == _masks_given(keras) == expected
