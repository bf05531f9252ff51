"""Layers: shapes, parameter counts, initializers, modes, configs, activation names."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.testing import gradcheck


@pytest.mark.parametrize(
    ("layer", "in_shape", "out_shape", "params"),
    [
        (layers.Conv2D(32, (3, 3)), (28, 28, 1), (26, 26, 32), 320),
        (layers.Conv2D(64, 3, padding="same", strides=2), (13, 13, 32), (7, 7, 64), 18496),
        (layers.Conv2D(8, 3, dilation_rate=2, use_bias=False), (9, 9, 2), (5, 5, 8), 144),
        (layers.MaxPooling2D((2, 2)), (26, 26, 32), (13, 13, 32), 0),
        (layers.MaxPooling2D(padding="same"), (11, 11, 64), (6, 6, 64), 0),
        (layers.AveragePooling2D(3, strides=1), (5, 5, 4), (3, 3, 4), 0),
        (layers.GlobalAveragePooling2D(), (5, 5, 4), (4,), 0),
        (layers.Flatten(), (3, 3, 64), (576,), 0),
        (layers.Dense(64), (576,), (64,), 36928),
        (layers.Dropout(0.5), (10,), (10,), 0),
        (layers.Rescaling(1 / 255), (4, 4, 3), (4, 4, 3), 0),
        (layers.ReLU(), (7,), (7,), 0),
    ],
)
def test_shapes_and_params(layer, in_shape, out_shape, params):
    layer.build(in_shape)
    assert layer.output_shape(in_shape) == out_shape
    assert layer.count_params() == params
    out = layer(np.random.default_rng(0).random((2, *in_shape)), training=False)
    assert out.shape == (2, *out_shape) and out.dtype == np.float32


def test_glorot_uniform_limits_and_zero_bias():
    ac.utils.set_random_seed(3)
    layer = layers.Dense(200)
    layer.build((300,))
    limit = np.sqrt(6 / 500)
    kernel = layer.weights["kernel"].data
    assert kernel.dtype == np.float32 and np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit  # really spread over the range
    assert not layer.weights["bias"].data.any()


def test_seed_makes_weights_reproducible():
    def weights():
        ac.utils.set_random_seed(11)
        layer = layers.Conv2D(4, 3)
        layer.build((5, 5, 2))
        return layer.weights["kernel"].data

    np.testing.assert_array_equal(weights(), weights())


def test_dropout_only_in_training_and_keeps_expectation():
    ac.utils.set_random_seed(0)
    layer = layers.Dropout(0.25)
    x = ac.Tensor(np.ones((200, 100), np.float32))
    assert layer(x, training=False) is x
    out = layer(x, training=True).data
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.02 and abs(out.mean() - 1) < 0.03


def test_dropout_gradient_uses_the_same_mask():
    ac.utils.set_random_seed(1)
    x = ac.Tensor(np.ones((4, 5)), requires_grad=True)
    out = layers.Dropout(0.5)(x, training=True)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, out.data)


def test_activations_by_name_and_unknown():
    x = ac.Tensor(np.array([[-1.0, 0.5]], np.float32))
    assert layers.Activation("tanh")(x).data[0, 1] == np.tanh(np.float32(0.5))
    assert layers.Softmax()(x).data.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        layers.Dense(3, activation="gelu")


def test_dense_gradcheck():
    layer = layers.Dense(3, activation="tanh")
    layer.build((4,))
    x = np.random.default_rng(0).standard_normal((2, 4))

    def fn(x, w, b):
        layer.weights = {"kernel": w, "bias": b}
        return layer(x)

    w = layer.weights["kernel"].data.astype(np.float64)
    assert gradcheck(fn, [x, w, np.array([0.1, -0.2, 0.3])])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: layers.Conv2D(0, 3), "filters must be a positive int"),
        (lambda: layers.Dense(-1), "units must be a positive int"),
        (lambda: layers.Dropout(1.0), r"rate must be in \[0, 1\)"),
        (lambda: layers.MaxPooling2D(padding="full"), "padding must be 'valid' or 'same'"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_dense_on_images_says_flatten():
    with pytest.raises(ValueError, match="add a Flatten layer"):
        layers.Dense(3).build((4, 4, 1))


def test_config_round_trip():
    layer = layers.Conv2D(8, (2, 3), strides=2, padding="same", activation="relu", name="c")
    clone = layers.from_config("Conv2D", layer.get_config())
    assert clone.get_config() == layer.get_config()
