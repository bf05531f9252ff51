"""Keras's masks on a functional graph's symbolic tensors, against real Keras 3.15 (its
PyTorch backend, where installed): each output's ``_keras_mask`` (a boolean symbolic tensor,
or none), the mask a layer's ``call`` gets while the graph is built and when it runs (the
masking guide's TemporalSoftmax, a custom ``compute_mask``, ``Masking``, a layer that drops
the mask, a mask given by hand), Keras's one warning of a dropped mask, and the error of a
symbolic mask passed on as data."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autoconv as ac

TOKENS = np.array([[1, 0, 3, 0, 5], [2, 2, 0, 0, 0]], dtype="int32")


def _symbolic_mask(tensor: Any) -> tuple[tuple, str] | None:
    """A symbolic tensor's mask as (shape, dtype), or None where it has none."""
    mask = getattr(tensor, "_keras_mask", None)
    return None if mask is None else (tuple(mask.shape), str(mask.dtype))


def _values(lib: Any, tensor: Any) -> np.ndarray:
    return np.asarray(lib.ops.convert_to_numpy(tensor), dtype=float)


def _mask_values(lib: Any, tensor: Any) -> np.ndarray | None:
    mask = getattr(tensor, "_keras_mask", None)
    return None if mask is None else _values(lib, mask).astype(bool)


def _embedded(lib: Any, shape: tuple = (None,)) -> tuple[Any, Any]:
    inputs = lib.Input(shape, dtype="int32")
    return inputs, lib.layers.Embedding(9, 4, mask_zero=True)(inputs)


def _two_embeddings(lib: Any) -> tuple[Any, Any]:
    inputs, embedded = _embedded(lib, (5,))
    return embedded, lib.layers.Embedding(9, 4, mask_zero=True)(inputs)


# Graphs on masked inputs, from a library: the outputs whose masks are compared.
GRAPHS: dict[str, Callable[[Any], Any]] = {
    "lstm-sequences": lambda lib: lib.layers.LSTM(3, return_sequences=True)(_embedded(lib)[1]),
    "lstm-last": lambda lib: lib.layers.LSTM(3)(_embedded(lib)[1]),
    "lstm-states": lambda lib: lib.layers.LSTM(3, return_sequences=True, return_state=True)(
        _embedded(lib)[1]),
    "bidirectional": lambda lib: lib.layers.Bidirectional(
        lib.layers.GRU(2, return_sequences=True))(_embedded(lib)[1]),
    "concatenate-time": lambda lib: lib.layers.Concatenate(axis=1)(list(_two_embeddings(lib))),
    "concatenate-features": lambda lib: lib.layers.Concatenate()(list(_two_embeddings(lib))),
    "add": lambda lib: lib.layers.Add()(list(_two_embeddings(lib))),
    "multi-head-attention": lambda lib: lib.layers.MultiHeadAttention(2, 2)(
        *[_embedded(lib)[1]] * 2),
    "attention": lambda lib: lib.layers.Attention()([_embedded(lib)[1]] * 2),
    "global-average": lambda lib: lib.layers.GlobalAveragePooling1D()(_embedded(lib)[1]),
    "dropout-dense": lambda lib: lib.layers.Dense(2)(lib.layers.Dropout(0.1)(_embedded(lib)[1])),
    "time-distributed": lambda lib: lib.layers.TimeDistributed(lib.layers.Dense(2))(
        _embedded(lib)[1]),
    "conv1d": lambda lib: lib.layers.Conv1D(2, 2)(_embedded(lib, (5,))[1]),
    "masking": lambda lib: lib.layers.Masking()(lib.Input((None, 3))),
    "masking-known-steps": lambda lib: lib.layers.Masking(-1.0)(lib.Input((4, 3))),
    "unmasked": lambda lib: lib.layers.Dense(2)(lib.Input((3,))),
}  # fmt: skip


@pytest.mark.filterwarnings("ignore:Layer 'conv1d'")
@pytest.mark.parametrize("name", list(GRAPHS))
def test_symbolic_outputs_carry_keras_masks(keras, name):
    ours, theirs = GRAPHS[name](ac), GRAPHS[name](keras)
    ours, theirs = ([x] if not isinstance(x, list | tuple) else x for x in (ours, theirs))
    assert [_symbolic_mask(t) for t in ours] == [_symbolic_mask(t) for t in theirs]
    assert [hasattr(t, "_keras_mask") for t in ours] == [hasattr(t, "_keras_mask") for t in theirs]


@pytest.mark.parametrize("lib_name", ["autoconv", "keras"])
def test_a_mask_passed_on_unchanged_is_the_inputs_own(keras, lib_name):
    lib = ac if lib_name == "autoconv" else keras
    _, embedded = _embedded(lib)
    dense = lib.layers.Dense(2)(embedded)
    assert dense._keras_mask is embedded._keras_mask
    assert embedded._keras_mask is not None


class _TemporalSoftmax:
    """The masking guide's layer, for a library: a softmax over time of the kept steps."""

    @staticmethod
    def of(lib: Any) -> type:
        class TemporalSoftmax(lib.layers.Layer):
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self.supports_masking = True

            def call(self, inputs: Any, mask: Any = None) -> Any:
                assert mask is not None
                broadcast_float_mask = lib.ops.expand_dims(lib.ops.cast(mask, "float32"), -1)
                inputs_exp = lib.ops.exp(inputs) * broadcast_float_mask
                inputs_sum = lib.ops.sum(inputs_exp * broadcast_float_mask, axis=-1, keepdims=True)
                return inputs_exp / inputs_sum

        return TemporalSoftmax


def _guide_model(lib: Any) -> Any:
    inputs = lib.Input(shape=(None,), dtype="int32")
    x = lib.layers.Embedding(input_dim=10, output_dim=32, mask_zero=True)(inputs)
    x = lib.layers.Dense(1)(x)
    return lib.Model(inputs, _TemporalSoftmax.of(lib)()(x))


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_the_guides_temporal_softmax_gets_the_mask_at_build_and_run(keras):
    ours, theirs = _guide_model(ac), _guide_model(keras)
    theirs.set_weights(ours.get_weights())
    ids = np.random.default_rng(0).integers(0, 10, (8, 20))
    got, expected = _values(ac, ours(ids)), _values(keras, theirs(ids))
    np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
    assert np.isnan(got[ids == 0]).all() and np.allclose(got[ids != 0], 1.0)
    assert [_symbolic_mask(layer.output) for layer in ours.layers] == [
        _symbolic_mask(layer.output) for layer in theirs.layers
    ]
    assert _symbolic_mask(ours.outputs[0]) == ((None, None), "bool")


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_a_sequential_model_gives_the_guides_layer_its_mask(keras):
    def build(lib: Any) -> Any:
        layers = lib.layers
        return lib.Sequential([lib.Input(shape=(5,), dtype="int32"),
                               layers.Embedding(10, 3, mask_zero=True), layers.Dense(1),
                               _TemporalSoftmax.of(lib)()])  # fmt: skip

    ours, theirs = build(ac), build(keras)
    theirs.set_weights(ours.get_weights())
    got, expected = _values(ac, ours(TOKENS)), _values(keras, theirs(TOKENS))
    np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)


class _Reader:
    """A layer, for a library, that records the rank of the mask its call gets (None: no
    mask) and passes the mask on when ``passes`` (supports_masking)."""

    @staticmethod
    def of(lib: Any) -> type:
        class Reader(lib.layers.Layer):
            def __init__(self, passes: bool = True, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self.supports_masking = passes
                self.got: list[int | None] = []

            def call(self, inputs: Any, mask: Any = None) -> Any:
                self.got.append(None if mask is None else len(mask.shape))
                return inputs

        return Reader


def _custom_embedding(lib: Any) -> type:
    """The guide's CustomEmbedding: its compute_mask makes the mask."""

    class CustomEmbedding(lib.layers.Layer):
        def build(self, input_shape: Any) -> None:
            self.embeddings = self.add_weight(shape=(10, 4), initializer="random_normal")

        def call(self, inputs: Any) -> Any:
            return lib.ops.take(self.embeddings, lib.ops.cast(inputs, "int32"), axis=0)

        def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
            return lib.ops.not_equal(inputs, 0)

    return CustomEmbedding


def _plain(lib: Any) -> type:
    """A layer that does not support masking."""

    class Plain(lib.layers.Layer):
        def call(self, inputs: Any) -> Any:
            return inputs * 2.0

    return Plain


# Graphs whose readers record the masks they get: (inputs, readers, outputs, data).
READ: dict[str, Callable[[Any], tuple[Any, list[Any], Any, np.ndarray]]] = {
    "custom-compute-mask": lambda lib: _read_after(
        lib, lambda x: _custom_embedding(lib)()(x), lib.Input((5,), dtype="int32"), TOKENS),
    "masking": lambda lib: _read_after(
        lib, lib.layers.Masking(mask_value=0.0), lib.Input((None, 3)),
        np.array([[[1, 2, 3], [0, 0, 0], [4, 5, 6]]], dtype="float32")),
    "embedding-dense": lambda lib: _read_after(
        lib, lambda x: lib.layers.Dense(2)(lib.layers.Embedding(9, 4, mask_zero=True)(x)),
        lib.Input((5,), dtype="int32"), TOKENS),
    "no-supports-masking-between": lambda lib: _read_after(
        lib, lambda x: _plain(lib)()(lib.layers.Embedding(9, 4, mask_zero=True)(x)),
        lib.Input((5,), dtype="int32"), TOKENS),
    "a-reader-that-drops-the-mask": lambda lib: _read_after(
        lib, lambda x: lib.layers.Embedding(9, 4, mask_zero=True)(x),
        lib.Input((5,), dtype="int32"), TOKENS, first_passes=False),
}  # fmt: skip


def _read_after(
    lib: Any, before: Any, inputs: Any, data: np.ndarray, first_passes: bool = True
) -> tuple[Any, list[Any], Any, np.ndarray]:
    reader = _Reader.of(lib)
    first, second = reader(first_passes), reader()
    return inputs, [first, second], second(first(before(inputs))), data


def _mask_warnings(caught: list[warnings.WarningMessage]) -> int:
    return sum("does not support masking" in str(w.message) for w in caught)


def test_a_dropped_masks_warning_shows_once_a_layer_as_kerass(keras):
    """Under Python's default filter: at the graph's making, not again when it runs (Keras
    warns at every call from one place)."""
    counts = []
    for lib in (ac, keras):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            inputs, _, outputs, data = READ["no-supports-masking-between"](lib)
            model = lib.Model(inputs, outputs)
            model(data)
            model.predict(data, verbose=0)
        counts.append(_mask_warnings(caught))
    assert counts[0] == counts[1] == 1


@pytest.mark.parametrize("name", list(READ))
def test_a_call_reads_the_mask_at_build_and_run_as_keras(keras, name):
    results = []
    for lib in (ac, keras):
        with warnings.catch_warnings(record=True) as at_build:
            warnings.simplefilter("always")
            inputs, readers, outputs, data = READ[name](lib)
        built = [sorted(set(map(str, reader.got))) for reader in readers]
        for reader in readers:
            reader.got.clear()
        with warnings.catch_warnings(record=True) as at_run:
            warnings.simplefilter("always")
            out = lib.Model(inputs, outputs)(data)
        ran = [reader.got for reader in readers]
        results.append((built, ran, _mask_warnings(at_build), _mask_warnings(at_run),
                        _symbolic_mask(outputs), _mask_values(lib, out)))  # fmt: skip
    ours, theirs = results
    assert ours[:5] == theirs[:5]
    np.testing.assert_array_equal(ours[5], theirs[5])


def test_a_symbolic_mask_given_by_hand_reaches_the_call_at_build_and_run(keras):
    for lib in (ac, keras):
        x, given = lib.Input((5, 2)), lib.Input((5,), dtype="int32")
        reader = _Reader.of(lib)()
        y = reader(x, mask=given)
        assert reader.got and set(reader.got) == {2}
        assert y._keras_mask is given
        reader.got.clear()
        out = lib.Model([x, given], y)([np.ones((1, 5, 2)), TOKENS[:1]])
        assert reader.got == [2]
        np.testing.assert_array_equal(_values(lib, out), np.ones((1, 5, 2)))


def test_a_call_without_a_mask_argument_still_builds_and_runs_without_masks():
    reader = _Reader.of(ac)()
    x = ac.Input((5, 2))
    model = ac.Model(x, reader(x))
    assert set(reader.got) == {None}
    assert not hasattr(model.outputs[0], "_keras_mask")


@pytest.mark.parametrize("use", ["layer", "op"])
def test_a_symbolic_mask_passed_on_as_data_is_refused(use):
    _, embedded = _embedded(ac)
    dense = ac.layers.Dense(1, name="dense_by_hand")
    with pytest.raises(NotImplementedError, match="cannot be passed to a layer or an op"):
        if use == "layer":
            _Reader.of(ac)(name="by_hand")(dense(embedded), mask=embedded._keras_mask)
        else:
            ac.ops.cast(embedded._keras_mask, "float32")
