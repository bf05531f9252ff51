"""GroupNormalization, UnitNormalization and RMSNormalization against real Keras 3.15 (its
PyTorch backend, where installed): outputs and gradients with the same weights, weights and
parameter counts, configs, errors and files both ways; a float64 gradcheck; and a short fit
on the CPU and on the CUDA device (the simulator) giving the same losses."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import autoconv as ac
from autoconv.layers.sample_normalization import (
    GroupNormalization,
    RMSNormalization,
    UnitNormalization,
)
from autoconv.layers.serialization import deserialize
from autoconv.testing import gradcheck
from tests.layers.devices import fit_on_both_devices

CLASSES = {cls.__name__: cls for cls in (GroupNormalization, UnitNormalization, RMSNormalization)}
OURS = SimpleNamespace(**CLASSES)  # in place of keras.layers


def weights_for(layer, rng) -> list[np.ndarray]:
    """Random weights away from their initial ones, so that a wrong broadcast shows."""
    return [rng.uniform(0.5, 1.5, w.shape) * rng.choice([-1, 1], w.shape) for w in layer.weights]


def both_with_gradients(keras, name, kwargs, x, rng):
    """The layer ``name`` of autoconv and of Keras (float64, the same weights) on x: each
    one's output, gradient of x and gradients of the weights for one random upstream."""
    import torch

    ours = CLASSES[name](dtype="float64", **kwargs)
    theirs = getattr(keras.layers, name)(dtype="float64", **kwargs)
    ours.build((None, *x.shape[1:]))
    theirs.build((None, *x.shape[1:]))
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert ours.count_params() == theirs.count_params()
    values = weights_for(ours, rng)
    ours.set_weights(values)
    theirs.set_weights(values)
    upstream = rng.standard_normal(x.shape)
    mine = ac.Tensor(x, requires_grad=True)
    out = ours(mine)
    (out * upstream).sum().backward()
    reference = torch.tensor(x, requires_grad=True)
    expected = theirs(reference)
    (expected * torch.tensor(upstream)).sum().backward()
    return (
        [out.numpy(), mine.grad, *(w.grad for w in ours.weights)],
        [expected.detach().numpy(), reference.grad.numpy(),
         *(w.value.grad.numpy() for w in theirs.weights)],
    )  # fmt: skip


# (shape, arguments): channels last and elsewhere, one group to one a channel, options
GROUP_CASES = [
    ((2, 5, 3, 8), {"groups": 4}),
    ((2, 6, 4), {"groups": 3, "axis": 1}),
    ((3, 6, 8), {"groups": 8}),
    ((2, 4, 3, 6), {"groups": -1, "epsilon": 1e-5}),
    ((2, 3, 4, 6), {"groups": 2, "axis": -2}),
    ((2, 3, 6, 2), {"groups": 3, "axis": 2, "center": False}),
    ((2, 4, 4), {"groups": 1, "scale": False}),
    ((3, 2, 6), {"groups": 2, "center": False, "scale": False}),
]
UNIT_CASES = [((3, 5), {}), ((2, 3, 4), {"axis": [1, 2]}), ((2, 3, 4), {"axis": 1}),
              ((2, 3, 2, 4), {"axis": (1, 3)})]  # fmt: skip
# trailing axes only: Keras's PyTorch backend hands these to F.rms_norm, which normalizes the
# last axes whatever `axis` says (other axes are checked against Keras's formula below)
RMS_CASES = [((3, 5), {}), ((2, 3, 4), {"axis": [1, 2]}), ((2, 3, 2, 4), {"axis": [-2, -1]}),
             ((2, 3, 4), {"epsilon": 1e-2})]  # fmt: skip
CASES = (
    [("GroupNormalization", *case) for case in GROUP_CASES]
    + [("UnitNormalization", *case) for case in UNIT_CASES]
    + [("RMSNormalization", *case) for case in RMS_CASES]
)
IDS = [f"{name}-{shape}-{kwargs}" for name, shape, kwargs in CASES]


# Keras's promotion rules make backend.result_type(float64, "float32") and float64 with a
# Python float float32: its float64 GroupNormalization and RMSNormalization compute in float32,
# and its UnitNormalization's floor min(1 / norm, 1e12) rounds to float32. autoconv computes in
# the layer's dtype, so they agree to float32's precision.
FLOAT64_TOLERANCE = {"rtol": 2e-6, "atol": 2e-6}


@pytest.mark.parametrize(("name", "shape", "kwargs"), CASES, ids=IDS)
def test_outputs_and_gradients_match_keras(keras, name, shape, kwargs, rng):
    x = rng.standard_normal(shape) * 2 + 0.5
    ours, theirs = both_with_gradients(keras, name, kwargs, x, rng)
    assert len(ours) == len(theirs)
    for mine, expected in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, expected, **FLOAT64_TOLERANCE)


@pytest.mark.parametrize(("name", "shape", "kwargs"), CASES, ids=IDS)
def test_float32_outputs_match_keras(keras, name, shape, kwargs, rng):
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    ours, theirs = CLASSES[name](**kwargs), getattr(keras.layers, name)(**kwargs)
    ours.build((None, *shape[1:]))
    theirs.build((None, *shape[1:]))
    values = [v.astype(np.float32) for v in weights_for(ours, rng)]
    ours.set_weights(values)
    theirs.set_weights(values)
    out = ours(x)
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_allclose(out.numpy(), np.asarray(theirs(x).detach()), rtol=1e-5, atol=2e-6)
    np.testing.assert_array_equal(ours(x, training=True).numpy(), out.numpy())  # no mode


@pytest.mark.parametrize(("name", "shape", "kwargs"), CASES, ids=IDS)
def test_gradcheck_through_the_layer(name, shape, kwargs, rng):
    layer = CLASSES[name](dtype="float64", **kwargs)
    layer.build((None, *shape[1:]))
    names = [w.path.split("/")[-1] for w in layer.weights]

    def fn(x, *weights):
        for weight_name, weight in zip(names, weights, strict=True):
            setattr(layer, weight_name, weight)  # the call reads them: gradients reach them
        return layer(x)

    assert gradcheck(fn, [rng.standard_normal(shape), *weights_for(layer, rng)])


def test_formulas_and_shapes(rng):
    """GroupNormalization with one group a channel is instance normalization; each
    UnitNormalization output has norm 1 (and zeros stay zeros: the norm's floor); the scale of
    RMSNormalization spans its axes."""
    x = rng.standard_normal((2, 4, 3, 6))
    out = GroupNormalization(6, dtype="float64")(x).numpy()
    mean, variance = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(variance + 1e-3), rtol=1e-10)
    unit = UnitNormalization(axis=[1, 3], dtype="float64")(x).numpy()
    np.testing.assert_allclose((unit**2).sum(axis=(1, 3)), np.ones((2, 3)), rtol=1e-12)
    np.testing.assert_array_equal(UnitNormalization()(np.zeros((2, 3))).numpy(), 0.0)
    rms = RMSNormalization(axis=[1, 2])
    rms.build((None, 4, 3, 6))
    assert rms.scale.shape == (4, 3) and rms.count_params() == 12
    assert GroupNormalization(3).compute_output_shape((None, 5, 6)) == (None, 5, 6)


@pytest.mark.parametrize(("axis", "scale_shape"), [(1, (3,)), ([-1, 1], (4, 3)), ([2, 1], (3, 5))])
def test_rms_normalization_over_other_axes_is_keras_formula(axis, scale_shape, rng):
    """Keras's ops.rms_normalization (its JAX and NumPy path): x * rsqrt(mean(x ** 2) +
    epsilon) * scale, the scale's axes in the order of the sorted axis list."""
    x = rng.standard_normal((2, 3, 5, 4))
    layer = RMSNormalization(axis=axis, dtype="float64")
    layer.build((None, 3, 5, 4))
    assert layer.scale.shape == scale_shape and layer.axis == sorted(np.atleast_1d(axis).tolist())
    scale = rng.standard_normal(scale_shape)
    layer.set_weights([scale])
    axes = tuple(sorted(a % 4 for a in np.atleast_1d(axis)))
    if scale_shape == (4, 3):  # axis [-1, 1]: the last axis first
        scale = scale.T
    spanned = [n if d in axes else 1 for d, n in enumerate(x.shape)]
    want = x / np.sqrt((x**2).mean(axis=axes, keepdims=True) + 1e-6) * scale.reshape(spanned)
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-12)


CONFIG_CASES = [
    ("GroupNormalization", {"groups": 2, "axis": 1, "epsilon": 1e-5, "center": False,
                            "gamma_initializer": "he_normal", "beta_regularizer": "l2",
                            "gamma_constraint": "non_neg"}, (4, 3)),
    ("GroupNormalization", {"groups": -1}, (3, 6)),  # built: groups=6, as Keras writes
    ("GroupNormalization", {"groups": 4, "beta_initializer": "ones",
                            "gamma_regularizer": {"class_name": "L1L2",
                                                  "config": {"l1": 0.1, "l2": 0.2}}}, (8,)),
    ("UnitNormalization", {}, (3, 4)),
    ("UnitNormalization", {"axis": (1, 2)}, (3, 4)),
    ("RMSNormalization", {}, (3, 4)),
    ("RMSNormalization", {"axis": [2, 1], "epsilon": 1e-3}, (3, 4)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "shape"), CONFIG_CASES)
def test_configs_are_keras_and_read_back(keras, name, kwargs, shape):
    ours = ac.Sequential([ac.Input(shape), CLASSES[name](**kwargs)]).layers[-1]
    theirs = keras.Sequential([keras.Input(shape), getattr(keras.layers, name)(**kwargs)])
    config, expected = ours.get_config(), theirs.layers[-1].get_config()
    assert {**config, "name": None} == {**expected, "name": None}
    clone = deserialize({"class_name": name, "config": config})
    assert type(clone) is CLASSES[name] and clone.get_config() == config
    unbuilt = getattr(keras.layers, name)(**kwargs).get_config()
    assert {**CLASSES[name](**kwargs).get_config(), "name": None} == {**unbuilt, "name": None}


ERROR_CASES = [
    ("GroupNormalization", {"groups": 0}, (4,), "expected a positive integer"),
    ("GroupNormalization", {"groups": 1.5}, (4,), "expected a positive integer"),
    ("GroupNormalization", {"groups": -2}, (4,), "expected a positive integer"),
    ("GroupNormalization", {"groups": 3}, (4,), "must be a multiple of the number of channels"),
    ("GroupNormalization", {}, (3, 16), r"Number of groups \(32\) cannot be more than"),
    ("GroupNormalization", {"groups": 2, "axis": 1}, (None, 4), "should have a defined dim"),
    ("UnitNormalization", {"axis": 2}, (4,), "Axis 2 is out of bounds"),
]


@pytest.mark.parametrize(("name", "kwargs", "shape", "message"), ERROR_CASES)
def test_bad_arguments_raise_keras_errors(keras, name, kwargs, shape, message):
    with pytest.raises(ValueError, match=message):
        keras.Sequential([keras.Input(shape), getattr(keras.layers, name)(**kwargs)])
    with pytest.raises(ValueError, match=message):
        ac.Sequential([ac.Input(shape), CLASSES[name](**kwargs)])


def test_other_argument_checks():
    with pytest.raises(TypeError, match="expected an int or a list/tuple of ints"):
        UnitNormalization(axis="last")
    with pytest.raises(TypeError, match="axis must be an int"):
        GroupNormalization(2, axis=[1])  # Keras's build indexes the shape with it
    with pytest.raises(ValueError, match="Axis 3 is out of bounds"):
        RMSNormalization(axis=3).build((None, 4))
    layer = GroupNormalization(2)
    layer(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="expected ndim=2 and axis -1 of size 4"):
        layer(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="expected ndim=2 and axis -1 of size 4"):
        layer(np.ones((2, 6), np.float32))


def test_weight_regularizers_and_constraints_reach_the_loss_and_the_weights(rng):
    layer = GroupNormalization(
        2, gamma_regularizer=ac.regularizers.L2(0.5), beta_constraint="non_neg"
    )
    model = ac.Sequential([ac.Input((4,)), layer, ac.layers.Dense(1)])
    assert len(layer.losses) == 1 and layer.losses[0].item() == pytest.approx(2.0)  # 0.5 * 4
    layer.set_weights([np.ones(4), np.array([-1.0, 2.0, -3.0, 4.0])])
    model.compile(ac.optimizers.SGD(1e-9), "mse")
    model.train_on_batch(rng.standard_normal((8, 4)), rng.standard_normal((8, 1)))
    np.testing.assert_allclose(layer.beta.numpy(), [0.0, 2.0, 0.0, 4.0], atol=1e-6)


def normalizing_model(lib, front) -> object:
    """A small sequence model with the three layers, its weights a fixed pattern."""
    model = lib.Sequential([
        lib.Input((6, 4)), lib.layers.Conv1D(6, 3, padding="same"), *front,
        lib.layers.Flatten(), lib.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def fronts(module) -> list:
    """The layers under test from ``module`` (keras.layers, or :data:`OURS`)."""
    return [module.GroupNormalization(3, center=False), module.RMSNormalization(axis=[1, 2]),
            module.UnitNormalization(), module.GroupNormalization(2, axis=1)]  # fmt: skip


def training_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 6, 4)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 12)]


def test_a_model_of_them_trains_as_in_keras_and_travels_both_ways(keras, tmp_path):
    x, y = training_data()
    ours = normalizing_model(ac, fronts(OURS))
    theirs = normalizing_model(keras, fronts(keras.layers))
    histories = []
    for model, lib in ((ours, ac), (theirs, keras)):
        model.compile(lib.optimizers.SGD(0.1), "categorical_crossentropy")
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0))
    np.testing.assert_allclose(histories[0].history["loss"], histories[1].history["loss"], 1e-5)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, np.asarray(expected), rtol=1e-4, atol=1e-5)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    expected = ours.predict(x, verbose=0)
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(np.asarray(from_ours.predict(x, verbose=0)), expected, 1e-5, 1e-6)
    from_theirs = ac.saving.load_model(tmp_path / "theirs.keras")
    loaded = [type(layer).__name__ for layer in from_theirs.layers[1:5]]
    assert loaded == [type(layer).__name__ for layer in ours.layers[1:5]]
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, 1e-5, 1e-6)


@pytest.mark.cudasim
def test_fit_on_the_gpu_gives_the_cpus_losses():
    x, y = training_data()
    fit_on_both_devices(lambda: normalizing_model(ac, fronts(OURS)), x, y, replayed=True)
