"""Dropout (with noise_shape), SpatialDropout1D, SpatialDropout2D, AlphaDropout, GaussianNoise
and GaussianDropout: active in training only, Keras's masks and noise, PyTorch's Dropout2d
semantics, gradients, arguments and configs; ActivityRegularization's penalty in the loss as
Keras's (real Keras 3.15, where installed); the new layers on the CUDA device (the simulator)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.layers.regularization import ActivityRegularization, SpatialDropout1D
from autoconv.layers.serialization import deserialize
from autoconv.testing import gradcheck
from tests.conftest import away_from_zero
from tests.layers.devices import fit_on_both_devices

# the layers under test, in place of keras.layers
OURS = SimpleNamespace(
    SpatialDropout1D=SpatialDropout1D, ActivityRegularization=ActivityRegularization
)


def round_trip(layer):
    config = layer.get_config()
    clone = deserialize({"class_name": type(layer).__name__, "config": config})
    assert type(clone) is type(layer) and clone.get_config() == config
    return config


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: layers.Dropout(0.5, noise_shape=(None, 1, 4)), (2, 3, 4)),
        (lambda: layers.SpatialDropout2D(0.5), (2, 3, 3, 4)),
        (lambda: layers.GaussianNoise(0.5), (2, 3)),
        (lambda: layers.GaussianDropout(0.5), (2, 3, 4)),
        (lambda: layers.AlphaDropout(0.5, noise_shape=(None, 1, 4)), (2, 3, 4)),
    ],
)
def test_identity_in_inference_float32_in_training(make, shape, rng):
    ac.utils.set_random_seed(1)
    layer = make()
    x = ac.Tensor(rng.standard_normal(shape).astype(np.float32))
    assert layer(x) is x and layer(x, training=False) is x
    out = layer(x, training=True)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert not np.array_equal(out.numpy(), x.numpy())
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *shape[1:])


def test_dropout_noise_shape_broadcasts_one_mask_over_the_size_one_axes():
    """Keras: noise_shape=(None, 1, features) drops the same features at every timestep, the
    None taken from the input's batch size."""
    ac.utils.set_random_seed(2)
    layer = layers.Dropout(0.4, noise_shape=(None, 1, 50))
    x = np.ones((8, 6, 50), np.float32)
    out = layer(x, training=True).numpy()
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.6)}
    np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1], out.shape))  # same per step
    assert not all(np.array_equal(out[0], out[i]) for i in range(1, 8))  # not per sample
    assert abs((out[:, 0] == 0).mean() - 0.4) < 0.08
    assert layer._concrete_noise_shape(ac.Tensor(x)) == (8, 1, 50)


def test_dropout_with_noise_shape_gradient_is_the_mask(rng):
    x = rng.standard_normal((4, 3, 5))

    def fn(x):  # the same seed every call: the same mask
        return layers.Dropout(0.5, noise_shape=(4, 1, 5), seed=3, dtype="float64")(x, training=True)

    assert gradcheck(fn, [x])
    xt = ac.Tensor(x, requires_grad=True)
    out = fn(xt)
    out.sum().backward()
    np.testing.assert_array_equal(xt.grad, out.numpy() / x)


@pytest.mark.parametrize(
    ("noise_shape", "message"),
    [
        ("abc", "Expected a tuple or list of integers"),
        (3, "Expected an iterable of integers"),
        ((2, 1.5), "Expected all elements to be integers or None"),
        ((2, 0), "Received negative or zero value at index 1"),
    ],
)
def test_dropout_noise_shape_is_checked_as_keras(noise_shape, message):
    with pytest.raises(ValueError, match=message):
        layers.Dropout(0.5, noise_shape=noise_shape)


def test_dropout_noise_shape_must_fit_the_inputs():
    with pytest.raises(ValueError, match="noise_shape"):
        layers.Dropout(0.5, noise_shape=(None, 3))(np.ones((2, 4)), training=True)
    with pytest.raises(ValueError, match="one entry per axis"):
        layers.Dropout(0.5, noise_shape=(None,))(np.ones((2, 4)), training=True)


def test_dropout_config_keeps_noise_shape_and_seed():
    config = round_trip(layers.Dropout(0.3, noise_shape=(None, 1), seed=4, name="d"))
    assert config["noise_shape"] == (None, 1) and config["seed"] == 4 and config["rate"] == 0.3
    assert layers.Dropout(0.5)(np.ones(3), training=True).shape == (3,)


def test_spatial_dropout_drops_whole_channels_like_torch_dropout2d(torch):
    """Each (sample, channel) feature map is kept whole (scaled by 1 / (1 - rate)) or zeroed,
    as PyTorch's nn.Dropout2d does to channels-first maps; about ``rate`` of them are zeroed."""
    ac.utils.set_random_seed(5)
    x = np.random.default_rng(0).random((40, 3, 4, 25)) + 0.5  # NHWC
    out = layers.SpatialDropout2D(0.3, dtype="float64")(x, training=True).numpy()
    torch.manual_seed(0)
    theirs = torch.nn.Dropout2d(0.3).train()(torch.tensor(x.transpose(0, 3, 1, 2)))
    theirs = theirs.numpy().transpose(0, 2, 3, 1)
    for result in (out, theirs):
        kept = (result != 0).all(axis=(1, 2))
        dropped = (result == 0).all(axis=(1, 2))
        assert (kept | dropped).all()  # whole maps only
        where = np.broadcast_to(kept[:, None, None], x.shape)
        np.testing.assert_allclose(result[where], x[where] / 0.7)  # scaled by 1 / (1 - rate)
        assert abs(dropped.mean() - 0.3) < 0.06


def test_spatial_dropout_channels_first_and_its_checks():
    ac.utils.set_random_seed(6)
    out = layers.SpatialDropout2D(0.5, data_format="channels_first")(
        np.ones((4, 6, 3, 3), np.float32), training=True
    ).numpy()
    assert ((out == 0).all(axis=(2, 3)) | (out != 0).all(axis=(2, 3))).all()
    with pytest.raises(ValueError, match="expected ndim=4, found ndim=3"):
        layers.SpatialDropout2D(0.5)(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="must be one of"):
        layers.SpatialDropout2D(0.5, data_format="nhwc")
    config = round_trip(layers.SpatialDropout2D(0.2, seed=1, name="sd"))
    assert config["data_format"] == "channels_last" and "noise_shape" not in config


def test_gaussian_noise_adds_zero_mean_noise_of_stddev(rng):
    ac.utils.set_random_seed(7)
    x = ac.Tensor(np.full((200, 100), 3.0, np.float32), requires_grad=True)
    out = layers.GaussianNoise(0.5)(x, training=True)
    noise = out.numpy() - 3.0
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.5) < 0.01
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((200, 100)))  # additive: gradient 1
    first = layers.GaussianNoise(0.2, seed=9)(np.zeros((3, 4)), training=True).numpy()
    again = layers.GaussianNoise(0.2, seed=9)(np.zeros((3, 4)), training=True).numpy()
    np.testing.assert_array_equal(first, again)
    assert layers.GaussianNoise(0.0)(x, training=True) is x
    with pytest.raises(ValueError, match="Expected a float value between 0 and 1"):
        layers.GaussianNoise(1.5)  # Keras bounds stddev by 1 too
    assert round_trip(layers.GaussianNoise(0.1, seed=2))["stddev"] == 0.1


def test_gaussian_dropout_multiplies_by_noise_of_mean_one(rng):
    ac.utils.set_random_seed(8)
    x = ac.Tensor(np.full((200, 100), 2.0), requires_grad=True)
    out = layers.GaussianDropout(0.2, dtype="float64")(x, training=True)
    factor = out.numpy() / 2.0
    assert abs(factor.mean() - 1) < 0.01 and abs(factor.std() - np.sqrt(0.2 / 0.8)) < 0.01
    out.sum().backward()
    np.testing.assert_allclose(x.grad, factor)  # d(x * noise)/dx = noise

    def fn(x):
        return layers.GaussianDropout(0.3, seed=1, dtype="float64")(x, training=True)

    assert gradcheck(fn, [rng.standard_normal((3, 4))])
    assert round_trip(layers.GaussianDropout(0.1, seed=2))["rate"] == 0.1


# Keras 3.15's AlphaDropout in training (torch backend, float64): a * x + b where kept, the
# dropped value a * alpha' + b elsewhere (alpha' = -1.7580993408473766, SELU's saturation).
KERAS_ALPHA_DROPOUT = {  # rate: (a, b, dropped)
    0.1: (0.9212845161497112, 0.16197097005757047, -1.457738730518),
    0.5: (0.8864048946659319, 0.7791939305180311, -0.779193930518),
}


@pytest.mark.parametrize("rate", sorted(KERAS_ALPHA_DROPOUT))
def test_alpha_dropout_is_keras_affine_map_of_the_kept_and_dropped(rate):
    a, b, dropped = KERAS_ALPHA_DROPOUT[rate]
    x = ac.Tensor(np.linspace(-2, 2, 4000).reshape(40, 100), requires_grad=True)
    out = layers.AlphaDropout(rate, seed=1, dtype="float64")(x, training=True)
    kept = ~np.isclose(out.numpy(), dropped, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out.numpy()[kept], a * x.numpy()[kept] + b, atol=1e-12)
    assert abs((1 - kept.mean()) - rate) < 0.03
    out.sum().backward()
    np.testing.assert_allclose(x.grad, np.where(kept, a, 0.0), atol=1e-14)  # d(a x kept)/dx


def test_alpha_dropout_keeps_selu_activations_normalized(rng):
    """Its purpose: standard normal inputs keep mean 0 and variance 1 (Klambauer et al.)."""
    ac.utils.set_random_seed(4)
    out = layers.AlphaDropout(0.2)(rng.standard_normal((400, 500)), training=True).numpy()
    assert abs(out.mean()) < 0.01 and abs(out.var() - 1) < 0.01


def test_alpha_dropout_noise_shape_seed_gradient_and_config(rng):
    def fn(x):
        layer = layers.AlphaDropout(0.4, noise_shape=(None, 1, 5), seed=3, dtype="float64")
        return layer(x, training=True)

    x = rng.standard_normal((4, 3, 5))
    assert gradcheck(fn, [x])
    xt = ac.Tensor(x, requires_grad=True)
    out = fn(xt)
    np.testing.assert_array_equal(fn(x).numpy(), out.numpy())  # the seed: the same mask
    out.sum().backward()
    kept = xt.grad != 0  # a where kept, 0 where dropped: one mask for every step
    np.testing.assert_array_equal(kept, np.broadcast_to(kept[:, :1], kept.shape))
    assert kept.any() and not kept.all()
    config = round_trip(layers.AlphaDropout(0.3, noise_shape=(None, 1), seed=2))
    assert {k: config[k] for k in ("rate", "seed", "noise_shape")} == {
        "rate": 0.3, "seed": 2, "noise_shape": (None, 1)}  # fmt: skip
    with pytest.raises(ValueError, match="Expected a float value between 0 and 1"):
        layers.AlphaDropout(1.5)
    with pytest.raises(ValueError, match="rate=1 drops every input"):
        layers.AlphaDropout(1.0)(x, training=True)
    assert layers.AlphaDropout(1.0)(x) is not None  # inference: the identity


def test_regularization_layers_in_a_model_train_and_predict_deterministically(rng):
    x = rng.standard_normal((16, 4, 4, 2)).astype(np.float32)
    y = ac.utils.to_categorical(np.arange(16) % 2, 2)
    model = ac.Sequential(
        [
            layers.Input(shape=(4, 4, 2)),
            layers.GaussianNoise(0.1),
            layers.Conv2D(3, 2),
            layers.SpatialDropout2D(0.2),
            layers.Flatten(),
            layers.GaussianDropout(0.2),
            layers.Dropout(0.2, noise_shape=(None, 1)),
            layers.AlphaDropout(0.1),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------ SpatialDropout1D, ActivityRegularization
def assert_whole_channels_dropped(out: np.ndarray, x: np.ndarray, rate: float) -> None:
    """(batch, steps, channels): each (sample, channel) kept at every step (scaled by
    1 / (1 - rate)) or dropped at every step, one draw each."""
    kept = (out != 0).all(axis=1)
    assert (kept | (out == 0).all(axis=1)).all()
    where = np.broadcast_to(kept[:, None], x.shape)
    np.testing.assert_allclose(out[where], x[where] / (1 - rate), rtol=1e-6)
    assert abs((1 - kept.mean()) - rate) < 0.06


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_spatial_dropout_1d_drops_each_channel_at_every_step(rate):
    ac.utils.set_random_seed(9)
    x = np.random.default_rng(0).random((60, 7, 30)).astype(np.float32) + 0.5
    layer = SpatialDropout1D(rate)
    out = layer(x, training=True)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert_whole_channels_dropped(out.numpy(), x, rate)
    assert not np.array_equal(out.numpy(), layer(x, training=True).numpy())  # a draw a call
    assert layer._concrete_noise_shape(ac.Tensor(x)) == (60, 1, 30)
    tensor = ac.Tensor(x)
    assert layer(tensor) is tensor and layer(tensor, training=False) is tensor  # inference
    assert SpatialDropout1D(0.0)(tensor, training=True) is tensor
    np.testing.assert_array_equal(SpatialDropout1D(1.0)(x, training=True).numpy(), 0.0)
    assert layer.compute_output_shape((None, None, 30)) == (None, None, 30)


def test_spatial_dropout_1d_seed_repeats_and_its_gradient_is_the_mask(rng):
    x = rng.standard_normal((4, 5, 6))

    def fn(x):  # the same seed every call: the same mask
        return SpatialDropout1D(0.4, seed=7, dtype="float64")(x, training=True)

    np.testing.assert_array_equal(fn(x).numpy(), fn(x).numpy())
    assert gradcheck(fn, [x])
    xt = ac.Tensor(x, requires_grad=True)
    out = fn(xt)
    out.sum().backward()
    np.testing.assert_allclose(xt.grad, out.numpy() / x)
    kept = xt.grad != 0
    np.testing.assert_array_equal(kept, np.broadcast_to(kept[:, :1], kept.shape))


@pytest.mark.parametrize(
    ("make", "shape", "message"),
    [
        (lambda lib: lib.SpatialDropout1D(1.5), (3, 4), "Expected a float value between 0 and 1"),
        (lambda lib: lib.SpatialDropout1D(-0.1), (3, 4), "Expected a float value between 0 and 1"),
        (lambda lib: lib.SpatialDropout1D(0.5), (4,), "expected ndim=3, found ndim=2"),
        (lambda lib: lib.SpatialDropout1D(0.5), (2, 3, 4), "expected ndim=3, found ndim=4"),
        (lambda lib: lib.ActivityRegularization(l1=-1.0), (4,), "Invalid value for argument l1"),
        (lambda lib: lib.ActivityRegularization(l2="a"), (4,), "Invalid value for argument l2"),
    ],
)
def test_bad_arguments_raise_keras_errors(keras, make, shape, message):
    with pytest.raises(ValueError, match=message):
        keras.Sequential([keras.Input(shape), make(keras.layers)])
    with pytest.raises(ValueError, match=message):
        ac.Sequential([ac.Input(shape), make(OURS)])


@pytest.mark.parametrize(
    ("name", "kwargs", "shape"),
    [
        ("SpatialDropout1D", {"rate": 0.3}, (5, 4)),
        ("SpatialDropout1D", {"rate": 0.5, "seed": 3}, (5, 4)),
        ("ActivityRegularization", {}, (4,)),
        ("ActivityRegularization", {"l1": 0.01, "l2": 1}, (3, 4)),
    ],
)
def test_configs_are_keras_and_read_back(keras, name, kwargs, shape):
    ours = ac.Sequential([ac.Input(shape), getattr(OURS, name)(**kwargs)]).layers[-1]
    theirs = keras.Sequential([keras.Input(shape), getattr(keras.layers, name)(**kwargs)])
    config = round_trip(ours)
    assert {**config, "name": None} == {**theirs.layers[-1].get_config(), "name": None}


def test_activity_regularization_takes_no_other_activity_regularizer(keras):
    for module in (keras.layers, OURS):  # the layer's own is its L1L2(l1, l2)
        with pytest.raises(TypeError, match="multiple values for keyword argument"):
            module.ActivityRegularization(activity_regularizer="l2")
    assert OURS.ActivityRegularization(0.5).activity_regularizer.get_config() == {
        "l1": 0.5, "l2": 0.0}  # fmt: skip


def penalty(x: np.ndarray, l1: float, l2: float) -> float:
    return (l1 * np.abs(x).sum() + l2 * (x**2).sum()) / len(x)


@pytest.mark.parametrize(("l1", "l2"), [(0.1, 0.0), (0.0, 0.2), (0.05, 0.3)])
def test_activity_regularization_penalty_and_gradient_are_keras(keras, l1, l2, rng):
    import torch

    x = away_from_zero(rng.standard_normal((4, 3, 2)))
    layer = ActivityRegularization(l1, l2, dtype="float64")
    mine = ac.Tensor(x, requires_grad=True)
    assert layer(mine) is mine and layer(mine) is mine  # the identity; one penalty a call
    assert len(layer.losses) == 1
    theirs = keras.layers.ActivityRegularization(l1, l2, dtype="float64")
    reference = torch.tensor(x, requires_grad=True)
    theirs(reference)
    np.testing.assert_allclose(layer.losses[0].item(), penalty(x, l1, l2), rtol=1e-12)
    np.testing.assert_allclose(layer.losses[0].item(), theirs.losses[0].item(), rtol=1e-6)
    layer.losses[0].backward()
    theirs.losses[0].backward()
    np.testing.assert_allclose(mine.grad, (l1 * np.sign(x) + 2 * l2 * x) / 4, rtol=1e-12)
    np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-6)


def regularized_model(lib, module):
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, activation="tanh"),
                            module.ActivityRegularization(l1=0.05, l2=0.1),
                            lib.layers.Dense(2)])  # fmt: skip
    model.set_weights([np.cos(np.arange(w.size) * 0.7 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    model.compile(lib.optimizers.SGD(0.05), "mse")
    return model


def regression_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return rng.standard_normal((10, 4)).astype(np.float32), rng.standard_normal((10, 2))


def test_activity_penalty_in_the_reported_loss_is_keras(keras):
    """fit's, evaluate's and train_on_batch's losses (the mean squared error plus the penalty
    of each batch's activations) are Keras's."""
    x, y = regression_data()
    ours, theirs = regularized_model(ac, OURS), regularized_model(keras, keras.layers)
    without = regularized_model(ac, OURS)
    without.layers[1].activity_regularizer = None
    assert ours.evaluate(x, y, verbose=0) > without.evaluate(x, y, verbose=0) + 0.05
    assert ours.evaluate(x, y, batch_size=4, verbose=0) == pytest.approx(
        theirs.evaluate(x, y, batch_size=4, verbose=0), rel=1e-6
    )
    fits = [model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history["loss"]
            for model in (ours, theirs)]  # fmt: skip
    np.testing.assert_allclose(fits[0], fits[1], rtol=1e-5)
    np.testing.assert_allclose(ours.train_on_batch(x, y), theirs.train_on_batch(x, y), 1e-5)
    for mine, expected in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_a_frozen_layers_weight_regularizer_adds_no_penalty_as_in_keras(keras):
    """Keras counts the regularizers of trainable weights only: keras.io's SimSiam trains a
    linear classifier on its frozen, L2-regularized backbone, and its losses are the
    cross-entropy's alone."""
    x, y = regression_data()
    found = []
    for lib in (ac, keras):
        lib.utils.set_random_seed(1)
        inputs = lib.Input((4,))
        hidden = lib.layers.Dense(3, kernel_regularizer=lib.regularizers.l2(0.5), name="frozen")
        outputs = lib.layers.Dense(2, kernel_regularizer=lib.regularizers.l2(0.1))(hidden(inputs))
        model = lib.Model(inputs, outputs)
        model.set_weights([np.full(w.shape, 0.3, np.float32) for w in model.weights])
        hidden.trainable = False
        model.compile(lib.optimizers.SGD(0.1), "mse")
        found.append([
            len(model.losses), float(lib.ops.convert_to_numpy(sum(model.losses))),
            model.evaluate(x, y, verbose=0),
            model.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0).history["loss"],
        ])  # fmt: skip
    assert found[0][0] == found[1][0] == 1
    np.testing.assert_allclose(found[0][1:3], found[1][1:3], rtol=1e-6)
    np.testing.assert_allclose(found[0][3], found[1][3], rtol=1e-5)


@pytest.mark.cudasim
def test_activity_regularization_fits_on_the_gpu_as_on_the_cpu():
    x, y = regression_data()
    fit_on_both_devices(lambda: regularized_model(ac, OURS), x, y, optimizer=None, epochs=3)


def spatial_dropout_model(seed: int | None = None) -> ac.Sequential:
    ac.utils.set_random_seed(0)
    model = ac.Sequential([
        ac.Input((6, 3)), ac.layers.Conv1D(4, 3, activation="relu"), SpatialDropout1D(0.4, seed),
        ac.layers.Flatten(), ac.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.compile("adam", "categorical_crossentropy")
    return model


@pytest.mark.cudasim
@pytest.mark.parametrize("seed", [None, 5])
def test_spatial_dropout_1d_on_the_gpu_replays_a_new_mask_each_step(monkeypatch, seed):
    """On the GPU a replayed step stages the step's draws as SpatialDropout2D's: the fit whose
    steps are replayed ends as the one whose steps all ran eagerly, to the bit."""
    pytest.importorskip("numba_cuda")
    from autoconv import step_replay

    rng = np.random.default_rng(0)
    x = rng.random((20, 6, 3), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 20)]
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager = spatial_dropout_model(seed).to("cuda")
        eager_history = eager.fit(x, y, batch_size=4, epochs=2, verbose=0).history
    replayed = spatial_dropout_model(seed).to("cuda")
    history = replayed.fit(x, y, batch_size=4, epochs=2, verbose=0).history
    assert replayed._step_replay.why is None and replayed._step_replay.replayed >= 3
    assert history == eager_history
    for got, want in zip(replayed.get_weights(), eager.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    maps = ac.Tensor(np.ones((40, 5, 30), np.float32), device="cuda")
    out = SpatialDropout1D(0.5)(maps, training=True)
    assert out.device == "cuda"
    assert_whole_channels_dropped(out.numpy(), np.ones((40, 5, 30)), 0.5)


@pytest.mark.parametrize(
    ("name", "args"),
    [("SpatialDropout1D", (0.2, 3)), ("SpatialDropout2D", (0.2, None, 3)),
     ("SpatialDropout3D", (0.2, None, 3))],
)  # fmt: skip
def test_spatial_dropout_takes_name_and_dtype_positionally_as_keras(keras, name, args):
    for lib in (keras, ac):
        layer = getattr(lib.layers, name)(*args, "drop", "float64")
        assert (layer.name, layer.dtype, layer.get_config()["seed"]) == ("drop", "float64", 3)
