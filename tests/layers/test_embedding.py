"""Embedding and its op, embedding_lookup: Keras 3's shapes, parameter counts and config, the
gather against NumPy and PyTorch's embedding, the scatter-add gradient (a float64 gradcheck,
repeated indices), clear errors (indices out of range, an unknown constraint), and
a model that trains, saves and loads."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.layers.embedding import embedding_lookup
from autoconv.testing import gradcheck


@pytest.mark.parametrize(
    ("make", "in_shape", "out_shape", "params"),
    [
        (lambda: layers.Embedding(1000, 64), (10,), (10, 64), 64000),  # Keras's docstring
        (lambda: layers.Embedding(7, 3), (), (3,), 21),
        (lambda: layers.Embedding(5, 2), (3, 4), (3, 4, 2), 10),
    ],
)
def test_shapes_and_params_as_keras(make, in_shape, out_shape, params, rng):
    layer = make()
    assert layer.compute_output_shape((None, *in_shape)) == (None, *out_shape)
    x = rng.integers(0, layer.input_dim, (4, *in_shape))
    out = layer(x)
    assert out.shape == (4, *out_shape) and out.dtype == np.float32
    assert layer.count_params() == params
    np.testing.assert_array_equal(out.numpy(), layer.embeddings.numpy()[x])
    assert layer.get_weights()[0].shape == (layer.input_dim, layer.output_dim)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float32, np.float64])
def test_lookup_gathers_rows_as_torch_embedding(dtype, rng, torch):
    table = rng.standard_normal((9, 4))
    indices = rng.integers(0, 9, (3, 5)).astype(dtype)
    out = embedding_lookup(ac.Tensor(table), indices)
    want = torch.nn.functional.embedding(
        torch.tensor(indices.astype(np.int64)), torch.tensor(table)
    )
    np.testing.assert_array_equal(out.numpy(), want.numpy())


def test_float_indices_are_truncated_as_keras_casts_them():
    """Keras casts non-integer inputs to int32: 1.7 looks up row 1."""
    table = np.arange(8.0).reshape(4, 2)
    out = embedding_lookup(ac.Tensor(table), np.array([[1.7, 3.0, 0.2]]))
    np.testing.assert_array_equal(out.numpy(), table[[[1, 3, 0]]])


@pytest.mark.parametrize("indices", [[[0, 2, 2], [1, 2, 0]], [[3]], [4, 4, 4, 4]])
def test_gradient_scatter_adds_into_the_rows_taken(indices, rng):
    """Repeated indices accumulate; rows never looked up get zero."""
    indices = np.array(indices)
    table = rng.standard_normal((5, 3))
    assert gradcheck(lambda t: embedding_lookup(t, indices), [table])
    t = ac.Tensor(table, requires_grad=True)
    weights = rng.standard_normal((*indices.shape, 3))
    (embedding_lookup(t, indices) * weights).sum().backward()
    want = np.zeros_like(table)
    np.add.at(want, indices.reshape(-1), weights.reshape(-1, 3))
    np.testing.assert_allclose(t.grad, want, rtol=1e-12)


def test_gradcheck_through_the_layer_in_float64(rng):
    layer = layers.Embedding(6, 3, dtype="float64")
    x = np.array([[0, 5, 5], [2, 1, 0]])
    layer(x)

    def fn(table):
        return embedding_lookup(table, x) ** 2

    assert gradcheck(fn, [layer.embeddings.numpy()])
    out = layer(x)
    assert out.dtype == np.float64


@pytest.mark.parametrize("indices", [[[0, 6]], [[-1, 2]], [[3, 100]]])
def test_indices_out_of_range_are_a_clear_error(indices):
    layer = layers.Embedding(6, 2)
    with pytest.raises(ValueError, match=r"embedding_lookup: indices must lie in \[0, 6\)"):
        layer(np.array(indices))


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: layers.Embedding(10, 3, embeddings_constraint="nope"), ValueError,
         "Could not interpret constraint identifier"),
        (lambda: layers.Embedding(0, 3), ValueError, "input_dim must be a positive int"),
        (lambda: layers.Embedding(10, 2.5), ValueError, "output_dim must be a positive int"),
        (lambda: embedding_lookup(np.ones(3), [0]), ValueError, "table must be"),
    ],
)  # fmt: skip
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_config_as_keras_writes_it_and_round_trip():
    layer = layers.Embedding(
        10, 4, embeddings_initializer="glorot_uniform", embeddings_regularizer="l2", name="e"
    )
    config = layer.get_config()
    clone = layers.deserialize({"class_name": "Embedding", "config": config})
    assert type(clone) is layers.Embedding and clone.get_config() == config
    assert {k: config[k] for k in ("input_dim", "output_dim", "mask_zero")} == {
        "input_dim": 10, "output_dim": 4, "mask_zero": False}  # fmt: skip
    for key in ("embeddings_constraint", "activity_regularizer", "quantization_config"):
        assert config[key] is None  # Keras writes each
    default = layers.Embedding(3, 2).get_config()["embeddings_initializer"]
    assert default["class_name"] == "RandomUniform"
    assert default["config"] == {"seed": None, "minval": -0.05, "maxval": 0.05}


def test_initial_weights_and_the_deprecated_input_length():
    table = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    layer = layers.Embedding(3, 2, weights=[table])
    np.testing.assert_array_equal(layer(np.array([[2, 0]])).numpy(), table[[[2, 0]]])
    with pytest.warns(UserWarning, match="`input_length` is deprecated"):
        layers.Embedding(3, 2, input_length=5)


@pytest.mark.parametrize("input_dtype", [None, "int32", "int64"])
def test_a_text_classifier_trains_saves_and_loads(tmp_path, input_dtype, rng):
    """Also from Keras's Input(dtype="int32"): the Embedding casts the indices it gets."""
    x = rng.integers(0, 20, (96, 6))
    y = (x < 10).sum(axis=1) > 3  # which half of the vocabulary dominates
    model = ac.Sequential([
        layers.Input((6,), dtype=input_dtype), layers.Embedding(20, 4),
        layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid"),
    ])  # fmt: skip
    model.compile(ac.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    before = model.layers[0].get_weights()[0].copy()
    history = model.fit(x, y.astype(np.float32), epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] * 0.7
    assert not np.allclose(model.layers[0].get_weights()[0], before)
    model.save(tmp_path / "m.keras")
    loaded = ac.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.inputs[0].dtype == (input_dtype or "float32")
