"""A model's integer and bool Inputs take their data in their dtype, as Keras's functional
models convert their inputs (``Functional._convert_inputs_to_tensors``): integer arithmetic
gives integers, int64 keys past float32's 2**24 stay exact (hashed, looked up, compared), float
data are truncated; in ``predict``, ``predict_on_batch``, a direct call, ``fit`` and
``evaluate``, against Keras 3 (on its PyTorch backend) where it has the layers without
TensorFlow, else against the layers called outside a model."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac

BIG = 2**40  # BIG and BIG + 1 are one float32


def outputs_of(model, x) -> list[list[np.ndarray]]:
    """The model's outputs for ``x`` by predict (two batches), predict_on_batch and a call."""
    called = [np.asarray(o.numpy()) for o in listed(model(x))]
    return [
        listed(model.predict(x, batch_size=1, verbose=0)),
        listed(model.predict_on_batch(x)),
        called,
    ]


def listed(outputs) -> list:
    return outputs if isinstance(outputs, list) else [outputs]


def test_integer_arithmetic_and_int64_keys_as_kerass(keras):
    x = np.array([[BIG + 1, 3, -2], [BIG, 7, 0]], dtype=np.int64)
    models = []
    for lib in (ac, keras):
        inputs = lib.Input((3,), dtype="int64")
        outputs = [
            inputs * 2,
            lib.ops.sum(inputs, axis=-1),
            inputs - 1,
            lib.ops.cast(lib.ops.equal(inputs, BIG + 1), "float32"),
        ]
        models.append(lib.Model(inputs, outputs))
    ours, theirs = models
    want = theirs.predict(x, verbose=0)
    assert want[0].dtype == np.int64 and want[0][0, 0] == 2 * BIG + 2
    for got in outputs_of(ours, x):
        assert [g.dtype for g in got] == [w.dtype for w in want]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize(
    ("dtype", "data"),
    [
        ("int32", np.array([[1.7, -1.7, 2.0]], np.float32)),  # truncated, as Keras casts
        ("int32", np.array([[1, 255, 2]], np.uint8)),
        ("bool", np.array([[0, 1, 2]], np.int64)),
        ("float32", np.array([[1, -1, 2]], np.int64)),  # integers for a float Input: floats
    ],
    ids=["floats-to-int32", "uint8-to-int32", "ints-to-bool", "ints-to-float32"],
)
def test_data_take_the_inputs_dtype_as_in_keras(keras, dtype, data):
    models = []
    for lib in (ac, keras):
        inputs = lib.Input((3,), dtype=dtype)
        models.append(lib.Model(inputs, [inputs, lib.ops.cast(inputs, "int32") + 1]))
    ours, theirs = models
    want = theirs.predict(data, verbose=0)
    for got in outputs_of(ours, data):
        assert [g.dtype for g in got] == [w.dtype for w in want]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_a_sequential_models_integer_input(keras):
    x = np.array([[BIG + 1, 5]], dtype=np.int64)
    models = [
        lib.Sequential([lib.Input((2,), dtype="int64"), lib.layers.Lambda(lambda t: t - BIG)])
        for lib in (ac, keras)
    ]
    want = models[1].predict(x, verbose=0)
    assert want.dtype == np.int64 and want[0, 0] == 1
    for got in outputs_of(models[0], x):
        assert got[0].dtype == np.int64
        np.testing.assert_array_equal(got[0], want)


def test_fit_and_evaluate_see_int64_keys_as_kerass(keras):
    """A feature that only an exact int64 key gives (BIG + 1, not BIG), trained on by SGD:
    Keras's losses (float32 keys would give every row the feature)."""
    x = np.array([[BIG + 1], [BIG], [BIG + 1], [7]], dtype=np.int64)
    y = np.array([[1.0], [0.0], [1.0], [0.0]], dtype=np.float32)
    histories = []
    for lib in (ac, keras):
        inputs = lib.Input((1,), dtype="int64")
        feature = lib.ops.cast(lib.ops.equal(inputs, BIG + 1), "float32")
        dense = lib.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros")
        model = lib.Model(inputs, dense(feature))
        model.compile(lib.optimizers.SGD(0.5), "mse")
        history = model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0).history
        histories.append((history["loss"], model.evaluate(x, y, verbose=0)))
    (ours, our_eval), (theirs, their_eval) = histories
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(our_eval, their_eval, rtol=1e-6)
    assert their_eval < 0.05  # learnt: the feature told the classes apart


def test_hashing_and_lookup_in_a_model_are_the_layers_outside():
    """Keras's Hashing and IntegerLookup need TensorFlow: a model of them gives what they give
    called on the array (int64 bins and indices, Keras's output spec), the keys past 2**24
    exact."""
    x = np.array([[BIG + 1, BIG, 7]], dtype=np.int64)
    hashing = ac.layers.Hashing(num_bins=1000)
    lookup = ac.layers.IntegerLookup(vocabulary=[BIG, BIG + 1])
    inputs = ac.Input((3,), dtype="int64")
    model = ac.Model(inputs, [hashing(inputs), lookup(inputs)])
    assert [t.dtype for t in model.outputs] == ["int64", "int64"]
    want = [np.asarray(hashing(x)), np.asarray(lookup(x))]
    assert len(set(want[0][0].tolist())) == 3 and want[1].tolist() == [[2, 1, 0]]
    for got in outputs_of(model, x):
        for g, w in zip(got, want, strict=True):
            assert g.dtype == np.int64
            np.testing.assert_array_equal(g, w)


def test_an_embedding_reads_the_rows_of_ids_past_float32s_integers():
    """Ids 2**24 and 2**24 + 1 (one float32) read their own rows, in a model as outside."""
    rows = 2**24 + 2
    embedding = ac.layers.Embedding(rows, 1)
    inputs = ac.Input((2,), dtype="int64")
    model = ac.Model(inputs, embedding(inputs))
    embedding.embeddings.assign((np.arange(rows) % 1000).astype(np.float32).reshape(rows, 1))
    x = np.array([[2**24 + 1, 2**24]], dtype=np.int64)
    want = np.array([[[(2**24 + 1) % 1000], [2**24 % 1000]]], dtype=np.float32)
    for got in outputs_of(model, x):
        np.testing.assert_array_equal(got[0], want)


@pytest.mark.cudasim
def test_integer_outputs_of_a_gpu_model_have_their_dtype(keras):
    """On the GPU the engine computes integers in float32 (exact to 2**24): predict and
    predict_on_batch give them in their dtype, Keras's values."""
    pytest.importorskip("numba_cuda")
    x = np.array([[1, 2, 3], [4, 0, -2]], dtype=np.int32)
    models = []
    for lib in (ac, keras):
        inputs = lib.Input((3,), dtype="int32")
        sums = lib.ops.sum(inputs, axis=-1)
        models.append(lib.Model(inputs, [inputs * 2, sums, sums > 2, inputs - 1]))
    ours, theirs = models
    ours.to("cuda")
    want = theirs.predict(x, verbose=0)
    for got in (ours.predict(x, batch_size=1, verbose=0), ours.predict_on_batch(x)):
        assert [g.dtype for g in got] == [w.dtype for w in want]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def stepped(lib, inputs, outputs, seen: list):
    """A functional model of ``lib`` whose own steps note the dtype of the inputs they get."""

    class Stepped(lib.Model):
        def train_step(self, data):
            seen.append(lib.backend.standardize_dtype(data[0].dtype))
            return super().train_step(data)

        def test_step(self, data):
            seen.append(lib.backend.standardize_dtype(data[0].dtype))
            return super().test_step(data)

    return Stepped(inputs, outputs)


def test_a_users_train_step_gets_the_integer_inputs_as_kerass(keras):
    """A functional model's own ``train_step`` and ``test_step`` get integer inputs as they
    are (the targets and weights as floats), and train to Keras's losses."""
    x = np.array([[BIG + 1], [BIG], [BIG + 1], [7]], dtype=np.int64)
    y = np.array([[1.0], [0.0], [1.0], [0.0]], dtype=np.float32)
    results = []
    for lib in (ac, keras):
        seen: list = []
        inputs = lib.Input((1,), dtype="int64")
        feature = lib.ops.cast(lib.ops.equal(inputs, BIG + 1), "float32")
        dense = lib.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros")
        model = stepped(lib, inputs, dense(feature), seen)
        model.compile(lib.optimizers.SGD(0.5), "mse")
        history = model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0).history
        results.append((history["loss"], model.evaluate(x, y, sample_weight=np.ones(4), verbose=0)))
        assert set(seen) == {"int64"}, lib.__name__
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6)
