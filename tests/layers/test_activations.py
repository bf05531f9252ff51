"""Activation layers: LeakyReLU, PReLU, ELU, and Softmax over any axis and ReLU with arguments
(in core): Keras's formulas and defaults, PyTorch parity, gradients, parameter counts,
configs."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.testing import gradcheck
from tests.conftest import away_from_zero


def round_trip(layer):
    config = layer.get_config()
    clone = layers.deserialize({"class_name": type(layer).__name__, "config": config})
    assert type(clone) is type(layer) and clone.get_config() == config
    return config


def test_leaky_relu_keras_example_and_default_slope():
    x = np.array([-10, -5, 0.0, 5, 10])
    np.testing.assert_array_equal(
        layers.LeakyReLU(negative_slope=0.5)(x).numpy(), [-5.0, -2.5, 0.0, 5.0, 10.0]
    )
    layer = layers.LeakyReLU()
    assert layer.negative_slope == 0.3  # the layer's default (the function's is 0.2)
    np.testing.assert_allclose(layer(x).numpy(), [-3.0, -1.5, 0.0, 5.0, 10.0])
    with pytest.warns(UserWarning, match="`alpha` is deprecated"):
        assert layers.LeakyReLU(alpha=0.1).negative_slope == 0.1
    with pytest.raises(ValueError, match="cannot be None or negative"):
        layers.LeakyReLU(-0.1)
    assert round_trip(layers.LeakyReLU(0.25, name="lr"))["negative_slope"] == 0.25


def test_leaky_relu_and_elu_match_torch(torch, rng):
    x = away_from_zero(rng.standard_normal((3, 4)))
    weights = rng.standard_normal(x.shape)
    for layer, torch_fn in (
        (layers.LeakyReLU(0.3, dtype="float64"), lambda t: torch.nn.functional.leaky_relu(t, 0.3)),
        (layers.ELU(0.7, dtype="float64"), lambda t: torch.nn.functional.elu(t, 0.7)),
    ):
        xa, xt = ac.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, out_t = layer(xa), torch_fn(xt)
        np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-12)
        out.backward(weights)
        out_t.backward(torch.tensor(weights))
        np.testing.assert_allclose(xa.grad, xt.grad.numpy(), rtol=1e-12)
        assert gradcheck(layer, [x])


def test_elu_formula_and_config():
    x = np.array([-2.0, -0.5, 0.0, 1.5])
    want = np.where(x >= 0, x, 0.5 * (np.exp(x) - 1))
    np.testing.assert_allclose(layers.ELU(alpha=0.5)(x).numpy(), want, rtol=1e-6)
    assert layers.ELU().alpha == 1.0
    assert round_trip(layers.ELU(0.5))["alpha"] == 0.5  # kept (Keras's config drops it)


@pytest.mark.parametrize(
    ("shared_axes", "alpha_shape", "params"),
    [(None, (5, 4, 3), 60), ([1, 2], (1, 1, 3), 3), (3, (5, 4, 1), 20), ((1,), (1, 4, 3), 12)],
)
def test_prelu_alpha_shapes_and_counts(shared_axes, alpha_shape, params):
    layer = layers.PReLU(shared_axes=shared_axes)
    out = layer(np.ones((2, 5, 4, 3), np.float32))
    assert out.shape == (2, 5, 4, 3) and out.dtype == np.float32
    assert layer.alpha.shape == alpha_shape and layer.count_params() == params
    assert not layer.alpha.numpy().any()  # "Zeros": a plain ReLU to start
    assert [w.path for w in layer.trainable_weights] == [f"{layer.name}/alpha"]


def test_prelu_matches_torch_prelu_per_channel(torch, rng):
    """shared_axes=[1, 2] on (N, H, W, C) is PyTorch's nn.PReLU(C) on (N, C, H, W)."""
    x = away_from_zero(rng.standard_normal((2, 3, 4, 5)))
    alpha = rng.random(5)
    layer = layers.PReLU(shared_axes=[1, 2], dtype="float64")
    layer(x)  # builds it
    layer.alpha.data = alpha.reshape(1, 1, 5)
    prelu = torch.nn.PReLU(5)
    with torch.no_grad():
        prelu.weight.copy_(torch.tensor(alpha))
    xa = ac.Tensor(x, requires_grad=True)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    out, out_t = layer(xa), prelu(xt)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy().transpose(0, 2, 3, 1), 1e-12)
    weights = rng.standard_normal(x.shape)
    out.backward(weights)
    out_t.backward(torch.tensor(weights.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(xa.grad, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-12)
    np.testing.assert_allclose(layer.alpha.grad.ravel(), prelu.weight.grad.numpy(), rtol=1e-12)


def test_prelu_gradcheck_through_the_layer(rng):
    layer = layers.PReLU(shared_axes=[1], dtype="float64")
    x = away_from_zero(rng.standard_normal((3, 4, 2)))
    layer(x)

    def fn(x, alpha):
        layer.alpha = alpha  # the call reads it: its gradient reaches alpha
        return layer(x)

    assert gradcheck(fn, [x, rng.standard_normal((1, 2))])


def test_prelu_learns_its_slope_and_round_trips(rng):
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = np.where(x > 0, x, 0.5 * x)  # a leaky ReLU with slope 0.5 to recover
    model = ac.Sequential([layers.Input(shape=(3,)), layers.PReLU(name="p")])
    model.compile(ac.optimizers.SGD(0.5), "mse")
    model.fit(x, y, batch_size=32, epochs=60, verbose=0)
    np.testing.assert_allclose(model.layers[0].alpha.numpy(), [0.5, 0.5, 0.5], atol=1e-3)
    config = round_trip(layers.PReLU(alpha_initializer="ones", shared_axes=[1, 2]))
    assert config["shared_axes"] == [1, 2]
    assert config["alpha_initializer"]["class_name"] == "Ones"
    with pytest.raises(ValueError, match="Could not interpret constraint identifier"):
        layers.PReLU(alpha_constraint=1)
    with pytest.raises(ValueError, match="known size"):
        layers.PReLU()._maybe_build((None, None, 3))


@pytest.mark.parametrize(("axis", "joint"), [(1, (1,)), ([1, 2], (1, 2)), ([-1], (2,))])
def test_softmax_over_any_axis(axis, joint, torch, rng):
    x = rng.standard_normal((2, 3, 4))
    out = layers.Softmax(axis=axis, dtype="float64")(x).numpy()
    e = np.exp(x - x.max(axis=joint, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(axis=joint, keepdims=True), rtol=1e-12)
    if len(joint) == 1:
        want = torch.softmax(torch.tensor(x), dim=joint[0]).numpy()
        np.testing.assert_allclose(out, want, rtol=1e-12)
    assert round_trip(layers.Softmax(axis=axis))["axis"] == axis
    assert gradcheck(layers.Softmax(axis=axis, dtype="float64"), [x])


def test_relu_layer_with_keras_arguments_still_works():
    x = np.array([-10.0, -5.0, 0.0, 5.0, 10.0])
    np.testing.assert_array_equal(
        layers.ReLU(max_value=5.0, negative_slope=0.5)(x).numpy(), [-5.0, -2.5, 0.0, 5.0, 5.0]
    )
    np.testing.assert_array_equal(layers.ReLU()(x).numpy(), [0, 0, 0, 5, 10])
    assert round_trip(layers.ReLU(max_value=6.0))["max_value"] == 6.0


def test_activation_layers_in_a_model_save_and_load(tmp_path, rng):
    x = rng.standard_normal((8, 4, 4, 2)).astype(np.float32)
    model = ac.Sequential(
        [
            layers.Input(shape=(4, 4, 2)),
            layers.Conv2D(3, 2),
            layers.PReLU(alpha_initializer="random_normal", shared_axes=[1, 2]),
            layers.LeakyReLU(0.1),
            layers.ELU(0.5),
            layers.Softmax(axis=[1, 2]),
        ]
    )
    model.save(tmp_path / "act.keras")
    loaded = ac.load_model(tmp_path / "act.keras")
    assert loaded.layers[1].alpha.shape == (1, 1, 3)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), 1e-6)
