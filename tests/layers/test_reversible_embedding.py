"""ReversibleEmbedding against real Keras 3.15 (its PyTorch backend, where installed): the
lookup and the reverse projection, their gradients with the same weights, weights and
parameter counts, masks, configs, errors and files both ways (.keras and .weights.h5); a
float64 gradcheck; and a short fit on the CPU and on the CUDA device (the simulator)."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.layers.reversible_embedding import ReversibleEmbedding
from autoconv.layers.serialization import deserialize
from autoconv.ops.masks import keras_mask
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

VOCABULARY, DIM = 7, 3

# (shape of the hidden states a reverse call takes, arguments)
CASES = [
    ((4, DIM), {}),
    ((2, 5, DIM), {"tie_weights": False}),
    ((2, 3, DIM), {"logit_soft_cap": 1.5}),
    ((3, 2, 2, DIM), {"tie_weights": False, "logit_soft_cap": 0.7, "reverse_dtype": "float32"}),
    ((2, 4, DIM), {"mask_zero": True, "reverse_dtype": "float64"}),
]
IDS = [f"{shape}-{kwargs}" for shape, kwargs in CASES]

# Keras 3's promotion lattice narrows float64 to float32 (backend.result_type): its float64
# projection is a float32 product. autoconv computes in float64 (module docstring of
# autoconv.backend), so the two agree to float32's precision.
FLOAT64_TOLERANCE = {"rtol": 2e-6, "atol": 2e-6}


def weights_for(layer, rng) -> list[np.ndarray]:
    """Random weights away from their initial ones (Keras's uniform(-0.05, 0.05))."""
    return [rng.standard_normal(w.shape) for w in layer.weights]


def both(keras, kwargs, rng, dtype="float64"):
    """autoconv's and Keras's layer (``dtype``), built, with the same random weights."""
    ours = ReversibleEmbedding(VOCABULARY, DIM, dtype=dtype, **kwargs)
    theirs = keras.layers.ReversibleEmbedding(VOCABULARY, DIM, dtype=dtype, **kwargs)
    ours.build(None)
    theirs.build(None)
    values = [v.astype(dtype) for v in weights_for(ours, rng)]
    ours.set_weights(values)
    theirs.set_weights(values)
    return ours, theirs


@pytest.mark.parametrize(("shape", "kwargs"), CASES, ids=IDS)
def test_projection_and_gradients_match_keras(keras, shape, kwargs, rng):
    import torch

    ours, theirs = both(keras, kwargs, rng)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert [w.path.split("/")[0] for w in ours.weights] == [ours.name] * len(ours.weights)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.count_params() == theirs.count_params()
    x = rng.standard_normal(shape)
    upstream = rng.standard_normal((*shape[:-1], VOCABULARY))
    mine = ac.Tensor(x, requires_grad=True)
    out = ours(mine, reverse=True)
    assert out.shape == ours.compute_output_shape(shape, reverse=True)
    (out * upstream).sum().backward()
    reference = torch.tensor(x, requires_grad=True)
    expected = theirs(reference, reverse=True)
    (expected * torch.tensor(upstream, dtype=expected.dtype)).sum().backward()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **FLOAT64_TOLERANCE)
    np.testing.assert_allclose(mine.grad, reference.grad.numpy(), **FLOAT64_TOLERANCE)
    for variable, keras_variable in zip(ours.weights, theirs.weights, strict=True):
        if keras_variable.value.grad is None:  # untied: the projection leaves embeddings out
            assert variable.grad is None
        else:
            np.testing.assert_allclose(variable.grad, keras_variable.value.grad.numpy(),
                                       **FLOAT64_TOLERANCE)  # fmt: skip


@pytest.mark.parametrize(("shape", "kwargs"), CASES, ids=IDS)
def test_lookup_and_its_mask_match_keras(keras, shape, kwargs, rng):
    ours, theirs = both(keras, kwargs, rng, dtype="float32")
    ids = rng.integers(0, VOCABULARY, shape[:-1])
    ids.flat[0] = 0
    out = ours(ids)
    assert out.dtype == np.float32 and out.shape == ours.compute_output_shape(ids.shape)
    np.testing.assert_array_equal(out.numpy(), theirs(ids).detach().numpy())
    expected = getattr(theirs(ids), "_keras_mask", None)
    if kwargs.get("mask_zero"):
        np.testing.assert_array_equal(keras_mask(out).numpy(), expected.numpy())
    else:
        assert keras_mask(out) is None and expected is None
    assert keras_mask(ours(out, reverse=True)) is None  # a reverse call carries no mask
    x = rng.standard_normal(shape).astype(np.float32)
    logits = ours(x, reverse=True)
    assert logits.dtype == kwargs.get("reverse_dtype", "float32")  # Keras's: float32 (lattice)
    np.testing.assert_allclose(logits.numpy(), theirs(x, reverse=True).detach().numpy(),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_reverse_dtype_and_soft_cap_formulas(rng):
    """float64 logits from a float32 layer with reverse_dtype="float64"; the soft cap is
    tanh(logits / cap) * cap on the product by the transposed table (or the untied one)."""
    layer = ReversibleEmbedding(VOCABULARY, DIM, reverse_dtype="float64", logit_soft_cap=2.0)
    x = rng.standard_normal((2, DIM)).astype(np.float32)
    out = layer(x, reverse=True)
    table = layer.embeddings.numpy().astype(np.float64)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), np.tanh(x @ table.T / 2.0) * 2.0, rtol=1e-12)
    untied = ReversibleEmbedding(VOCABULARY, DIM, tie_weights=False, dtype="float64")
    untied.build(None)
    untied.set_weights(weights_for(untied, rng))
    x = rng.standard_normal((3, DIM))
    want = x @ untied.reverse_embeddings.numpy()
    np.testing.assert_allclose(untied(x, reverse=True).numpy(), want, rtol=1e-12)


@pytest.mark.parametrize(("shape", "kwargs"), CASES, ids=IDS)
def test_gradcheck_through_both_calls(shape, kwargs, rng):
    kwargs = {k: v for k, v in kwargs.items() if k != "reverse_dtype"}
    layer = ReversibleEmbedding(VOCABULARY, DIM, dtype="float64", **kwargs)
    layer.build(None)
    names = [w.path.split("/")[-1] for w in layer.weights]
    ids = rng.integers(0, VOCABULARY, shape[:-1])

    def fn(x, *weights):
        for name, weight in zip(names, weights, strict=True):
            setattr(layer, name, weight)  # the calls read them: gradients reach them
        return layer(x, reverse=True) + layer(layer(ids), reverse=True)

    assert gradcheck(fn, [rng.standard_normal(shape), *weights_for(layer, rng)])


CONFIG_CASES = [
    {},
    {"tie_weights": False, "embeddings_initializer": "he_normal", "mask_zero": True},
    {"reverse_dtype": "float32", "logit_soft_cap": 30.0, "embeddings_regularizer": "l2",
     "embeddings_constraint": "unit_norm"},
]  # fmt: skip


@pytest.mark.parametrize("kwargs", CONFIG_CASES)
def test_configs_are_keras_and_read_back(keras, kwargs):
    ours = ac.Sequential([ac.Input((3,)), ReversibleEmbedding(5, 2, **kwargs)]).layers[-1]
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.ReversibleEmbedding(5, 2, **kwargs)])
    config, expected = ours.get_config(), theirs.layers[-1].get_config()
    assert {**config, "name": None} == {**expected, "name": None}
    clone = deserialize({"class_name": "ReversibleEmbedding", "config": expected})
    assert type(clone) is ReversibleEmbedding and clone.get_config() == expected
    unbuilt = keras.layers.ReversibleEmbedding(5, 2, **kwargs).get_config()
    assert {**ReversibleEmbedding(5, 2, **kwargs).get_config(), "name": None} == {
        **unbuilt, "name": None}  # fmt: skip


ERROR_CASES = [
    ({"input_dim": 0}, "input_dim must be a positive int"),
    ({"output_dim": 2.5}, "output_dim must be a positive int"),
    ({"tie_weights": "no"}, "tie_weights must be a bool"),
    ({"reverse_dtype": "bfloat16"}, "reverse_dtype must be None, 'float32' or 'float64'"),
    ({"logit_soft_cap": 0.0}, "logit_soft_cap must be None or a positive number"),
    ({"logit_soft_cap": "big"}, "logit_soft_cap must be None or a positive number"),
    ({"dtype": "int8_from_float32"}, "no mixed precision"),
]


@pytest.mark.parametrize(("kwargs", "message"), ERROR_CASES)
def test_bad_arguments_are_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReversibleEmbedding(**({"input_dim": 5, "output_dim": 2} | kwargs))


@pytest.mark.parametrize("mode", ["int8", "int4", "float8"])
def test_quantization_is_refused_by_name(mode):
    layer = ReversibleEmbedding(5, 2)
    layer.build(None)
    with pytest.raises(ValueError, match=f"quantize\\(mode='{mode}'\\) is not supported"):
        layer.quantize(mode)
    config = {"input_dim": 5, "output_dim": 2, "quantization_config": {"mode": mode}}
    with pytest.raises(ValueError, match=r"quantization_config=.* is not supported"):
        deserialize({"class_name": "ReversibleEmbedding", "config": config})
    with pytest.raises(ValueError, match=r"a reverse call takes inputs \(\.\.\., 2\)"):
        layer(np.ones((2, 3), np.float32), reverse=True)


def language_model(lib, **kwargs):
    """Tokens (5 a sample) -> embedding -> Dense -> the same layer reversed: logits over the
    vocabulary (9), its weights a fixed pattern."""
    inputs = lib.Input((5,), dtype="int32") if lib is not ac else lib.Input((5,))
    embedding = lib.layers.ReversibleEmbedding(9, 4, **kwargs)
    hidden = lib.layers.Dense(4, activation="tanh")(embedding(inputs))
    model = lib.Model(inputs, embedding(hidden, reverse=True))
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape).astype(np.float32)
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def tokens() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return rng.integers(0, 9, (8, 5)), rng.integers(0, 9, (8, 5))


MODEL_CASES = [{}, {"tie_weights": False, "logit_soft_cap": 1.5, "mask_zero": True}]


@pytest.mark.parametrize("kwargs", MODEL_CASES)
def test_a_language_model_trains_as_in_keras_and_travels_both_ways(keras, kwargs, tmp_path):
    x, y = tokens()
    ours, theirs = language_model(ac, **kwargs), language_model(keras, **kwargs)
    histories = []
    for model, lib in ((ours, ac), (theirs, keras)):
        loss = lib.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(lib.optimizers.SGD(0.5), loss)
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0))
    np.testing.assert_allclose(histories[0].history["loss"], histories[1].history["loss"], 1e-5)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, np.asarray(expected), rtol=1e-4, atol=1e-5)
    expected = ours.predict(x, verbose=0)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    ours.save_weights(tmp_path / "ours.weights.h5")
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(np.asarray(from_ours.predict(x, verbose=0)), expected, 1e-5, 1e-6)
    from_theirs = ac.saving.load_model(tmp_path / "theirs.keras")
    assert type(from_theirs.layers[1]) is ReversibleEmbedding
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, 1e-5, 1e-6)
    built = language_model(ac, **kwargs)
    built.load_weights(tmp_path / "theirs.weights.h5")
    np.testing.assert_allclose(built.predict(x, verbose=0), expected, 1e-5, 1e-6)
    keras_built = language_model(keras, **kwargs)
    keras_built.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(np.asarray(keras_built.predict(x, verbose=0)), expected, 1e-5, 1e-6)


@pytest.mark.cudasim
def test_fit_on_the_gpu_gives_the_cpus_losses():
    x, y = tokens()
    loss = ac.losses.SparseCategoricalCrossentropy(from_logits=True)
    fit_on_both_devices(lambda: language_model(ac, tie_weights=False, logit_soft_cap=2.0),
                        x, y, optimizer="sgd", loss=loss)  # fmt: skip
