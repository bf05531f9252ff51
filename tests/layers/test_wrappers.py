"""TimeDistributed, SpectralNormalization and Pipeline (and the abstract Wrapper) against real
Keras 3.15 (its PyTorch backend, where installed): outputs, gradients and the state a training
call leaves (BatchNormalization's moving statistics inside TimeDistributed, the normalized
kernel and ``vector_u``) with the same weights in float64, output shapes and parameter counts,
configs, errors, files both ways and a short fit; a float64 gradcheck; and the same fit on the
CPU and on the CUDA device (the simulator)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv.layers import Pipeline, SpectralNormalization, TimeDistributed, Wrapper
from autoconv.layers.serialization import deserialize, serialize
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

F64 = "float64"
# Keras's float64 Dense and Conv2D on PyTorch agree with NumPy's float64 to about float32's
# precision only (a float32 step inside); autoconv computes in float64.
FLOAT64_TOLERANCE = {"rtol": 2e-6, "atol": 2e-6}


def weights_for(layer, rng) -> list[np.ndarray]:
    """Random weights away from their initial ones (a variance kept positive)."""
    values = []
    for w in layer.weights:
        value = rng.uniform(0.5, 1.5, w.shape)
        values.append(value if "variance" in w.name else value * rng.choice([-1, 1], w.shape))
    return values


# (builder of the layer from a layers module, input shape, training): every wrapper over the
# layer types autoconv has, in both modes where they differ
CASES: dict[str, tuple[Callable[[Any], Any], tuple[int, ...], bool]] = {
    "td-dense": (lambda L: L.TimeDistributed(L.Dense(3, dtype=F64), dtype=F64), (2, 3, 4), False),
    "td-conv2d": (lambda L: L.TimeDistributed(L.Conv2D(2, 2, strides=2, padding="same",
                                                       dtype=F64), dtype=F64), (2, 3, 5, 4, 2),
                  True),
    "td-max-pooling": (lambda L: L.TimeDistributed(L.MaxPooling2D(2, dtype=F64), dtype=F64),
                       (2, 2, 4, 4, 2), False),
    "td-flatten": (lambda L: L.TimeDistributed(L.Flatten(dtype=F64), dtype=F64), (2, 3, 2, 2),
                   False),
    "td-batch-norm-training": (lambda L: L.TimeDistributed(L.BatchNormalization(
        momentum=0.5, dtype=F64), dtype=F64), (4, 3, 2, 2), True),
    "td-batch-norm-inference": (lambda L: L.TimeDistributed(L.BatchNormalization(dtype=F64),
                                                            dtype=F64), (2, 3, 2), False),
    "sn-dense-training": (lambda L: L.SpectralNormalization(L.Dense(3, dtype=F64), dtype=F64),
                          (2, 4), True),
    "sn-conv2d-training": (lambda L: L.SpectralNormalization(L.Conv2D(3, 2, dtype=F64),
                                                             power_iterations=3, dtype=F64),
                           (2, 4, 4, 2), True),
    "sn-dense-inference": (lambda L: L.SpectralNormalization(L.Dense(3, dtype=F64), dtype=F64),
                           (2, 3, 4), False),
    "pipeline": (lambda L: L.Pipeline([L.Dense(4, dtype=F64), L.Activation("tanh", dtype=F64),
                                       L.Dense(3, dtype=F64)]), (2, 5), False),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_outputs_gradients_and_state_match_keras(keras, case, rng):
    import torch

    build, shape, training = CASES[case]
    ours, theirs = build(ac.layers), build(keras.layers)
    ours.build((None, *shape[1:]))
    theirs(torch.zeros(shape, dtype=torch.float64), training=False)  # Keras's Pipeline.build
    # builds none of its layers
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert [w.trainable for w in ours.weights] == [w.trainable for w in theirs.weights]
    assert ours.count_params() == theirs.count_params()
    values = weights_for(ours, rng)
    ours.set_weights(values)
    theirs.set_weights(values)
    x = rng.standard_normal(shape)
    mine = ac.Tensor(x, requires_grad=True)
    out = ours(mine, training=training)
    upstream = rng.standard_normal(out.shape)
    (out * upstream).sum().backward()
    reference = torch.tensor(x, requires_grad=True)
    expected = theirs(reference, training=training)
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **FLOAT64_TOLERANCE)
    assert ours.compute_output_shape((None, *shape[1:])) == (None, *expected.shape[1:])
    np.testing.assert_allclose(mine.grad, reference.grad.numpy(), **FLOAT64_TOLERANCE)
    for w, their in zip(ours.weights, theirs.weights, strict=True):  # after the call
        np.testing.assert_allclose(w.numpy(), their.numpy(), **FLOAT64_TOLERANCE)
        if w.trainable:
            np.testing.assert_allclose(w.grad, their.value.grad.numpy(), **FLOAT64_TOLERANCE)


def test_spectral_normalization_divides_by_the_largest_singular_value(rng):
    """Many power iterations find the largest singular value: the kernel ends with spectral
    norm 1 in training; inference leaves it alone; an all-zero kernel is kept."""
    layer = SpectralNormalization(ac.layers.Dense(4, dtype=F64), power_iterations=50, dtype=F64)
    layer.build((None, 6))
    kernel = rng.standard_normal((6, 4))
    layer.layer.kernel.assign(kernel)
    layer(rng.standard_normal((2, 6)))
    np.testing.assert_array_equal(layer.kernel.numpy(), kernel)  # inference: as it was
    layer(rng.standard_normal((2, 6)), training=True)
    np.testing.assert_allclose(
        layer.layer.kernel.numpy(), kernel / np.linalg.norm(kernel, 2), rtol=1e-10
    )
    assert layer.kernel is layer.layer.kernel and len(layer.weights) == 3
    zero = SpectralNormalization(ac.layers.Dense(2, kernel_initializer="zeros"))
    zero.build((None, 3))
    u = zero.vector_u.numpy()
    zero(np.ones((1, 3)), training=True)
    np.testing.assert_array_equal(zero.vector_u.numpy(), u)
    np.testing.assert_array_equal(zero.kernel.numpy(), 0.0)


def _variable_owners(layer) -> list[tuple[Any, str, Any]]:
    """(layer, attribute, variable) for every attribute of ``layer`` and the layers below it
    that holds one of its weights (SpectralNormalization's kernel is held twice)."""
    found = []
    for owner in [layer, *(getattr(layer, "_layers", []))]:
        found += [(owner, name, value) for name, value in vars(owner).items()
                  if isinstance(value, ac.layers.Variable)]  # fmt: skip
        if owner is not layer:
            found += [item for item in _variable_owners(owner) if item[0] is not owner]
    return found


GRADCHECK_CASES = ["td-dense", "td-conv2d", "td-batch-norm-training", "sn-dense-inference",
                   "pipeline"]  # fmt: skip


@pytest.mark.parametrize("case", GRADCHECK_CASES)
def test_gradcheck_through_the_layer(case, rng):
    build, shape, training = CASES[case]
    layer = build(ac.layers)
    shape = (1, *shape[1:]) if "conv2d" in case else shape
    layer.build((None, *shape[1:]))
    trainable = [w for w in layer.weights if w.trainable]
    owners = _variable_owners(layer)

    def fn(x, *weights):
        for variable, weight in zip(trainable, weights, strict=True):
            for owner, name, value in owners:
                if value is variable:  # the call reads it: gradients reach it
                    owner.__dict__[name] = weight
        return layer(x, training=training)

    values = [rng.uniform(0.5, 1.5, w.shape) * rng.choice([-1, 1], w.shape) for w in trainable]
    assert gradcheck(fn, [rng.standard_normal(shape), *values])


def _without_names(entry: Any, nested: bool = False) -> Any:
    """A config with every layer's name left out, and the build_config of the layers inside
    (Keras writes one for some layers without weights, such as Flatten, and not for others,
    such as the pooling layers; autoconv's differ; Keras's symbolic build of a Pipeline's
    layers gives them a made-up batch size)."""
    if isinstance(entry, dict):
        return {
            key: _without_names(value, nested or key == "config")
            for key, value in entry.items()
            if key != "name" and not (nested and key == "build_config")
        }
    if isinstance(entry, list | tuple):
        return [_without_names(item, nested) for item in entry]
    return entry


# (builder, one sample's input shape): each wrapper in the options that change what Keras writes
CONFIG_CASES = [
    (lambda L: L.TimeDistributed(L.Conv2D(2, 3, padding="same", activation="relu")), (3, 5, 5, 1)),
    (lambda L: L.TimeDistributed(L.BatchNormalization(momentum=0.9), trainable=False), (2, 4)),
    (lambda L: L.TimeDistributed(L.Flatten()), (2, 2, 3)),
    (lambda L: L.TimeDistributed(L.MaxPooling2D(2, strides=1)), (2, 3, 3, 2)),
    (lambda L: L.SpectralNormalization(L.Dense(3, use_bias=False)), (4,)),
    (lambda L: L.SpectralNormalization(L.Conv2D(2, 2), power_iterations=4), (4, 4, 1)),
    (lambda L: L.SpectralNormalization(L.Embedding(5, 3)), (2,)),
    (lambda L: L.Pipeline([L.Dense(3), L.Dropout(0.5), L.Dense(2)]), (4,)),
    (lambda L: L.Pipeline([L.RandomFlip(seed=1), L.Rescaling(0.5)], name="augment"), (3, 3, 1)),
]


@pytest.mark.parametrize(("build", "shape"), CONFIG_CASES, ids=range(len(CONFIG_CASES)))
def test_configs_are_keras_and_read_back(keras, build, shape):
    ours = ac.Sequential([ac.Input(shape), build(ac.layers)]).layers[-1]
    theirs = keras.Sequential([keras.Input(shape), build(keras.layers)]).layers[-1]
    entry = serialize(ours)
    expected = keras.layers.serialize(theirs)
    assert _without_names(json.loads(json.dumps(entry))) == _without_names(
        json.loads(json.dumps(expected))
    )
    clone = deserialize(entry)
    assert type(clone) is type(ours) and clone.get_config() == ours.get_config()
    assert clone.built and [w.shape for w in clone.weights] == [w.shape for w in ours.weights]
    unbuilt = build(keras.layers).get_config()
    assert _without_names(build(ac.layers).get_config()) == _without_names(unbuilt)


def test_bad_arguments_raise_keras_errors(keras):
    cases = [
        (lambda L: L.TimeDistributed("dense"), (3, 2), "Please initialize `TimeDistributed`"),
        (lambda L: L.SpectralNormalization(np.ones(3)), (3,), "supplied to Wrapper isn't"),
        (lambda L: L.SpectralNormalization(L.Dense(2), power_iterations=0), (3,),
         "`power_iterations` should be greater than zero"),
        (lambda L: L.SpectralNormalization(L.MaxPooling1D(2)), (4, 2),
         "MaxPooling1D object has no attribute 'kernel' nor 'embeddings'"),
        (lambda L: L.TimeDistributed(L.Dense(2)), (4,), "with at least 3 dimensions"),
    ]  # fmt: skip
    for build, shape, message in cases:
        for lib in (keras, ac):
            with pytest.raises(ValueError, match=message):
                lib.Sequential([lib.Input(shape), build(lib.layers)])
    for lib in (keras.layers, ac.layers):
        with pytest.raises(ValueError, match="must contain a `layers` key"):
            lib.Pipeline.from_config({"layers": None, "name": "p"})


def test_other_argument_checks():
    with pytest.raises(ValueError, match="power_iterations"):
        SpectralNormalization(ac.layers.Dense(2), power_iterations=1.5)
    with pytest.raises(ValueError, match="expects a list of layers"):
        Pipeline([ac.layers.Dense(2), "relu"])
    with pytest.raises(NotImplementedError, match="abstract base class"):
        Wrapper(ac.layers.Dense(2))(np.ones((1, 3)))
    with pytest.raises(ValueError, match="with at least 3 dimensions"):
        TimeDistributed(ac.layers.Dense(2)).compute_output_shape((None, 4))


def test_pipeline_augments_when_called_on_its_own_and_not_in_predict():
    pipeline = Pipeline([ac.layers.Dropout(0.5, seed=1)])
    x = np.ones((4, 50), np.float32)
    assert (pipeline(x).numpy() == 0).any()  # call's training defaults to True
    model = ac.Sequential([ac.Input((50,)), pipeline])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert pipeline.layers[0] is pipeline._pipeline_layers[0] and not pipeline.weights


def video_model(lib: Any) -> Any:
    """A small video classifier with every wrapper, its weights a fixed pattern."""
    L = lib.layers
    model = lib.Sequential([
        lib.Input((3, 4, 4, 1)), L.TimeDistributed(L.Conv2D(2, 2)),
        L.TimeDistributed(L.BatchNormalization()), L.TimeDistributed(L.MaxPooling2D(2)),
        L.TimeDistributed(L.Flatten()), L.SpectralNormalization(L.Dense(3)),
        L.Pipeline([L.Dense(2), L.Activation("tanh")]), L.Flatten(), L.Dense(2),
    ])  # fmt: skip
    model.set_weights([np.abs(np.sin(np.arange(w.size) * 0.37 + i)).reshape(w.shape) * 0.5 + 0.1
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def training_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.standard_normal((4, 3, 4, 4, 1)).astype(np.float32), rng.standard_normal(
        (4, 2)
    ).astype(np.float32)


def test_summary_is_keras(keras, monkeypatch):
    """Output shapes and parameter counts (SpectralNormalization's kernel counted once)."""
    monkeypatch.setenv("COLUMNS", "80")  # summary() sizes its table to the terminal, as Keras
    texts = []
    for lib, clear_session in ((ac, ac.layers.clear_session), (keras, keras.backend.clear_session)):
        clear_session()  # the same layer names in both
        lines: list[str] = []
        video_model(lib).summary(print_fn=lines.append)
        texts.append("\n".join(lines).strip())
    assert texts[0] == texts[1]
    assert "│ pipeline (Pipeline)  " in texts[0] and "Total params: 52 " in texts[0]


def test_a_model_of_them_trains_as_in_keras_and_travels_both_ways(keras, tmp_path):
    x, y = training_data()
    ours, theirs = video_model(ac), video_model(keras)
    expected = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    theirs.save(tmp_path / "theirs.keras")
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    from_theirs = ac.saving.load_model(tmp_path / "theirs.keras")
    assert [type(layer).__name__ for layer in from_theirs.layers] == [
        type(layer).__name__ for layer in ours.layers
    ]
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, 1e-5, 1e-6)
    built = video_model(ac)
    built.set_weights([np.zeros(w.shape) for w in built.weights])
    built.load_weights(tmp_path / "theirs.weights.h5")
    np.testing.assert_allclose(built.predict(x, verbose=0), expected, 1e-5, 1e-6)
    histories = []
    for model, lib in ((ours, ac), (theirs, keras)):
        model.compile(lib.optimizers.SGD(0.05), "mse")
        histories.append(model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0))
    np.testing.assert_allclose(histories[0].history["loss"], histories[1].history["loss"], 1e-5)
    for mine, theirs_weight in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, np.asarray(theirs_weight), rtol=1e-4, atol=1e-5)
    ours.save(tmp_path / "ours.keras")
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(
        np.asarray(from_ours.predict(x, verbose=0)), ours.predict(x, verbose=0), 1e-5, 1e-6
    )


@pytest.mark.cudasim
def test_fit_on_the_gpu_gives_the_cpus_losses():
    x, y = training_data()
    # SpectralNormalization's zero-kernel check is made on the device: the steps replay
    fit_on_both_devices(lambda: video_model(ac), x, y, loss="mse", batch_size=2, replayed=True)
