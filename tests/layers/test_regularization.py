"""Dropout (with noise_shape), SpatialDropout2D, AlphaDropout, GaussianNoise and
GaussianDropout: active in training only, Keras's masks and noise, PyTorch's Dropout2d
semantics, gradients, arguments and configs."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.testing import gradcheck


def round_trip(layer):
    config = layer.get_config()
    clone = layers.deserialize({"class_name": type(layer).__name__, "config": config})
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
    assert config["noise_shape"] == [None, 1] and config["seed"] == 4 and config["rate"] == 0.3
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
        "rate": 0.3, "seed": 2, "noise_shape": [None, 1]}  # fmt: skip
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
