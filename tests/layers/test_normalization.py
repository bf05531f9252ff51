"""BatchNormalization, LayerNormalization and Normalization: weights and parameter counts as
Keras's summary shows them, Keras's formulas, PyTorch parity, gradients, training against
inference, the moving statistics through fit, configs, and saving."""

from __future__ import annotations

import io
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.testing import gradcheck


def summary_text(model) -> str:
    with redirect_stdout(io.StringIO()) as out:
        model.summary()
    return out.getvalue()


def build(layer, input_shape):
    """Build as a first call does (a direct ``layer.build`` does not mark it built)."""
    layer._maybe_build(input_shape)
    return layer


def names(layer) -> list[str]:
    return [w.path.split("/")[-1] for w in layer.weights]


# ------------------------------------------------------------------ BatchNormalization
@pytest.mark.parametrize(
    ("kwargs", "weights", "params", "trainable"),
    [
        ({}, ["gamma", "beta", "moving_mean", "moving_variance"], 32, 16),
        ({"center": False}, ["gamma", "moving_mean", "moving_variance"], 24, 8),
        ({"scale": False, "center": False}, ["moving_mean", "moving_variance"], 16, 0),
    ],
)
def test_batch_norm_weights_and_counts_as_keras(kwargs, weights, params, trainable):
    layer = build(layers.BatchNormalization(**kwargs), (None, 6, 6, 8))
    assert names(layer) == weights and layer.count_params() == params
    assert sum(w.size for w in layer.trainable_weights) == trainable
    assert sum(w.size for w in layer.non_trainable_weights) == 16
    assert layer.compute_output_shape((None, 6, 6, 8)) == (None, 6, 6, 8)
    np.testing.assert_array_equal(layer.moving_variance.numpy(), np.ones(8))


def test_batch_norm_summary_counts_non_trainable_params():
    model = ac.Sequential(
        [
            layers.Input(shape=(8, 8, 3)),
            layers.Conv2D(16, 3, use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
        ]
    )
    text = summary_text(model)
    assert "batch_normalization" in text and model.layers[1].count_params() == 64
    assert "Total params: 496 (1.94 KB)" in text
    assert "Trainable params: 464 (1.81 KB)" in text
    assert "Non-trainable params: 32 (128.00 B)" in text


def keras_batch_norm(x, gamma, beta, mean, variance, epsilon=1e-3):
    return gamma * (x - mean) / np.sqrt(variance + epsilon) + beta


@pytest.mark.parametrize(("shape", "axis"), [((6, 4, 3, 5), -1), ((7, 3), -1), ((4, 3, 2, 2), 1)])
def test_batch_norm_training_and_inference_follow_keras(shape, axis, rng):
    x = rng.standard_normal(shape) * 3 + 1
    layer = layers.BatchNormalization(axis=axis, momentum=0.9, dtype="float64")
    build(layer, (None, *shape[1:]))
    channels = shape[axis]
    gamma, beta = rng.standard_normal(channels), rng.standard_normal(channels)
    layer.set_weights([gamma, beta, np.zeros(channels), np.ones(channels)])
    axes = tuple(d for d in range(len(shape)) if d != axis % len(shape))
    along = [channels if d == axis % len(shape) else 1 for d in range(len(shape))]

    def per_channel(v):
        return v.reshape(along)

    mean, variance = x.mean(axis=axes), x.var(axis=axes)  # the biased variance, as Keras
    out = layer(x, training=True).numpy()
    want = keras_batch_norm(x, *(per_channel(v) for v in (gamma, beta, mean, variance)))
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 + 0.1 * variance, rtol=1e-12)

    moving = [layer.moving_mean.numpy(), layer.moving_variance.numpy()]
    out = layer(x, training=False).numpy()  # inference: the moving statistics, no update
    want = keras_batch_norm(x, *(per_channel(v) for v in (gamma, beta, *moving)))
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), moving[0])
    assert layer(x).numpy().tolist() == out.tolist()  # inference unless told otherwise


def test_batch_norm_matches_torch_batch_norm_2d_in_train_and_eval(torch, rng):
    """Keras's momentum 0.99 is PyTorch's 0.01; PyTorch's running variance takes the unbiased
    batch variance where Keras's moving variance takes the biased one."""
    x = rng.standard_normal((4, 5, 3, 6)) * 2 + 0.5  # NHWC
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    layer = layers.BatchNormalization(dtype="float64")
    build(layer, (None, 5, 3, 6))
    layer.set_weights([gamma, beta, np.zeros(6), np.ones(6)])
    bn = torch.nn.BatchNorm2d(6, eps=1e-3, momentum=1 - 0.99)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    xa = ac.Tensor(x, requires_grad=True)
    upstream = rng.standard_normal(x.shape)
    for _ in range(3):  # three training steps: the running statistics move
        out = layer(xa, training=True)
        out_t = bn.train()(xt)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy().transpose(0, 2, 3, 1), 1e-10)
    out.backward(upstream)
    out_t.backward(torch.tensor(upstream.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(xa.grad, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-9)
    np.testing.assert_allclose(layer.gamma.grad, bn.weight.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(layer.beta.grad, bn.bias.grad.numpy(), rtol=1e-9)

    np.testing.assert_allclose(layer.moving_mean.numpy(), bn.running_mean.numpy(), rtol=1e-12)
    n = x.size // 6
    variance = x.var(axis=(0, 1, 2))
    momentum = 0.99**3  # what is left of the initial 1 after three updates
    np.testing.assert_allclose(
        layer.moving_variance.numpy(), momentum + (1 - momentum) * variance, rtol=1e-12
    )
    np.testing.assert_allclose(
        bn.running_var.numpy(), momentum + (1 - momentum) * variance * n / (n - 1), rtol=1e-12
    )

    with torch.no_grad():  # eval: the same moving statistics give the same outputs
        bn.running_var.copy_(torch.tensor(layer.moving_variance.numpy()))
        out_t = bn.eval()(xt)
    np.testing.assert_allclose(
        layer(x, training=False).numpy(), out_t.numpy().transpose(0, 2, 3, 1), rtol=1e-10
    )


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("axis", [-1, 1])
def test_batch_norm_gradcheck_through_the_layer(training, axis, rng):
    layer = layers.BatchNormalization(axis=axis, dtype="float64")
    x = rng.standard_normal((3, 4, 2, 3))
    build(layer, (None, 4, 2, 3))
    channels = x.shape[axis]
    moving = [rng.standard_normal(channels), rng.random(channels) + 0.5]
    layer.set_weights([rng.standard_normal(channels), rng.standard_normal(channels), *moving])

    weights = ac.Tensor(np.linspace(-1, 1, x.size).reshape(x.shape))  # sum(out) is constant

    def fn(x, gamma, beta):
        layer.gamma, layer.beta = gamma, beta  # the call reads them: gradients reach them
        layer.moving_mean.data, layer.moving_variance.data = moving[0].copy(), moving[1].copy()
        return layer.call(x, training=training) * weights

    assert gradcheck(fn, [x, layer.gamma.numpy(), layer.beta.numpy()])


def test_batch_norm_float32_stays_float32(rng):
    layer = layers.BatchNormalization()
    x = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    assert layer(x, training=True).dtype == np.float32
    assert all(w.dtype == np.float32 for w in layer.weights)
    assert layer(x).dtype == np.float32


def test_moving_statistics_after_fit_follow_the_formula(rng):
    """The BatchNormalization reads the model's input, so its moving statistics after fit are
    Keras's update applied to each batch in order, whatever the other weights do."""
    x = (rng.standard_normal((10, 3)) * [1, 2, 3] + [0, 5, -1]).astype(np.float32)
    y = rng.standard_normal((10, 2)).astype(np.float32)
    bn = layers.BatchNormalization(momentum=0.8)
    model = ac.Sequential([layers.Input(shape=(3,)), bn, layers.Dense(2)])
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    mean, variance = np.zeros(3), np.ones(3)
    for _ in range(3):
        for start in range(0, 10, 4):
            batch = x[start : start + 4].astype(np.float64)
            mean = 0.8 * mean + 0.2 * batch.mean(axis=0)
            variance = 0.8 * variance + 0.2 * batch.var(axis=0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), variance, rtol=1e-5)
    before = [bn.moving_mean.numpy(), bn.moving_variance.numpy()]
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    after = [bn.moving_mean.numpy(), bn.moving_variance.numpy()]
    np.testing.assert_array_equal(after[0], before[0])  # inference leaves them alone
    np.testing.assert_array_equal(after[1], before[1])


def test_frozen_batch_norm_runs_in_inference_mode_and_keeps_its_state(rng):
    """Keras: trainable = False on a BatchNormalization makes it run in inference mode, even
    in fit or with training=True, and freezes gamma, beta and the moving statistics."""
    x = (rng.standard_normal((8, 4)) * 3 + 2).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    bn = layers.BatchNormalization()
    model = ac.Sequential([layers.Input(shape=(4,)), bn, layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    bn.trainable = False
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4
    assert len(model.trainable_weights) == 2
    frozen = bn.get_weights()
    np.testing.assert_array_equal(bn(x, training=True).numpy(), bn(x, training=False).numpy())
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    for before, after in zip(frozen, bn.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    bn.trainable = True
    bn(x, training=True)
    assert not np.array_equal(bn.moving_mean.numpy(), frozen[2])


def test_batch_norm_called_with_training_false_in_a_graph_stays_in_inference(rng):
    """Keras's fine-tuning pattern: ``bn(x, training=False)`` in a functional model runs in
    inference mode even in fit, so its moving statistics do not move (gamma and beta train)."""
    x = (rng.standard_normal((8, 3)) * 2 + 1).astype(np.float32)
    inputs = ac.Input(shape=(3,))
    bn = layers.BatchNormalization()
    model = ac.Model(inputs, layers.Dense(1)(bn(inputs, training=False)))
    model.compile("sgd", "mse")
    model.fit(x, rng.standard_normal((8, 1)), batch_size=4, epochs=2, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(bn.moving_variance.numpy(), np.ones(3))
    assert not np.array_equal(bn.gamma.numpy(), np.ones(3))


def test_batch_norm_arguments_and_config():
    layer = layers.BatchNormalization(
        axis=1, momentum=0.9, epsilon=1e-5, center=False, gamma_initializer="he_normal",
        gamma_regularizer="l2", name="bn",
    )  # fmt: skip
    config = layer.get_config()
    assert config["momentum"] == 0.9 and config["axis"] == 1 and config["synchronized"] is False
    clone = layers.deserialize({"class_name": "BatchNormalization", "config": config})
    assert clone.get_config() == config
    with pytest.raises(ValueError, match="synchronized=True is only supported"):
        layers.BatchNormalization(synchronized=True)
    with pytest.raises(ValueError, match="Could not interpret constraint identifier"):
        layers.BatchNormalization(gamma_constraint="no_such_constraint")
    with pytest.raises(ValueError, match="axis 4 is out of bounds"):
        layers.BatchNormalization(axis=4)(np.ones((2, 3, 3, 2)))
    built = layers.BatchNormalization(gamma_regularizer=ac.regularizers.L2(0.5))
    build(built, (None, 3))
    assert len(built.losses) == 1 and built.losses[0].item() == pytest.approx(1.5)


def bn_model() -> ac.Sequential:
    return ac.Sequential(
        [
            layers.Input(shape=(6, 6, 2)),
            layers.Conv2D(4, 3, use_bias=False),
            layers.BatchNormalization(momentum=0.5),
            layers.ReLU(),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )


def test_save_and_load_a_model_with_batch_norm(tmp_path, rng):
    x = rng.standard_normal((12, 6, 6, 2)).astype(np.float32) + 1
    y = ac.utils.to_categorical(np.arange(12) % 3, 3)
    model = bn_model()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    model.layers[1].trainable = False  # a frozen layer stays frozen
    model.save(tmp_path / "bn.keras")
    loaded = ac.load_model(tmp_path / "bn.keras")
    bn, loaded_bn = model.layers[1], loaded.layers[1]
    assert names(loaded_bn) == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert not loaded_bn.trainable and loaded_bn.trainable_weights == []
    np.testing.assert_array_equal(loaded_bn.moving_mean.numpy(), bn.moving_mean.numpy())
    np.testing.assert_array_equal(loaded_bn.moving_variance.numpy(), bn.moving_variance.numpy())
    assert not np.array_equal(bn.moving_mean.numpy(), np.zeros(4))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), 1e-6)


# ------------------------------------------------------------------ LayerNormalization
@pytest.mark.parametrize(
    ("axis", "shape", "weight_shape"),
    [(-1, (2, 3, 4, 5), (5,)), ([1, 2, 3], (2, 3, 4, 5), (3, 4, 5)), (1, (2, 3, 4), (3,))],
)
def test_layer_norm_matches_keras_formula_and_torch(axis, shape, weight_shape, rng, torch):
    x = rng.standard_normal(shape) * 2 + 1
    layer = build(layers.LayerNormalization(axis=axis, dtype="float64"), (None, *shape[1:]))
    assert layer.gamma.shape == weight_shape and layer.count_params() == 2 * np.prod(weight_shape)
    gamma, beta = rng.standard_normal(weight_shape), rng.standard_normal(weight_shape)
    layer.set_weights([gamma, beta])
    axes = tuple(axis) if isinstance(axis, list) else (axis,)
    along = [1] * len(shape)
    for a in axes:
        along[a] = shape[a]
    mean, variance = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    want = (x - mean) / np.sqrt(variance + 1e-3) * gamma.reshape(along) + beta.reshape(along)
    out = layer(x).numpy()
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(layer(x, training=True).numpy(), out)
    if axes in ((-1,), (1, 2, 3)):  # PyTorch normalizes over trailing axes only
        norm = torch.nn.LayerNorm(weight_shape, eps=1e-3)
        with torch.no_grad():
            norm.weight.copy_(torch.tensor(gamma))
            norm.bias.copy_(torch.tensor(beta))
        np.testing.assert_allclose(out, norm(torch.tensor(x)).detach().numpy(), rtol=1e-10)


def test_layer_norm_rms_scaling_and_options(rng):
    x = rng.standard_normal((3, 4)) + 2
    with pytest.warns(UserWarning, match="`rms_scaling=True`, which is deprecated"):
        layer = layers.LayerNormalization(rms_scaling=True, scale=False, dtype="float64")
    build(layer, (None, 4))
    assert names(layer) == ["gamma"]  # rms_scaling keeps gamma, drops beta, as Keras
    gamma = rng.standard_normal(4)
    layer.set_weights([gamma])
    want = x / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-3) * gamma
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-12)
    plain = layers.LayerNormalization(center=False, scale=False)
    build(plain, (None, 4))
    assert plain.weights == []
    # Keras's signature has no rms_scaling (a keyword only): the fifth argument is beta's
    # initializer
    positional = layers.LayerNormalization(-1, 1e-3, True, True, "ones")
    assert positional.get_config()["beta_initializer"]["class_name"] == "Ones"
    assert positional.get_config()["rms_scaling"] is False
    with pytest.raises(TypeError, match="Expected an int or a list/tuple of ints"):
        layers.LayerNormalization(axis="last")
    with pytest.raises(ValueError, match="Axis 3 is out of bounds"):
        layers.LayerNormalization(axis=3).build((None, 4))


def test_layer_norm_gradcheck_and_config(rng):
    layer = layers.LayerNormalization(axis=[1, 2], dtype="float64", name="ln")
    x = rng.standard_normal((2, 3, 4))
    build(layer, (None, 3, 4))

    def fn(x, gamma, beta):
        layer.gamma, layer.beta = gamma, beta  # the call reads them: gradients reach them
        return layer(x)

    assert gradcheck(fn, [x, rng.standard_normal((3, 4)), rng.standard_normal((3, 4))])
    config = layer.get_config()
    clone = layers.deserialize({"class_name": "LayerNormalization", "config": config})
    assert clone.get_config() == config and config["axis"] == [1, 2]
    assert layers.LayerNormalization()(np.ones((2, 3), np.float32)).dtype == np.float32


# ------------------------------------------------------------------------ Normalization
def test_normalization_keras_examples():
    """The examples of Keras's Normalization docstring, values included."""
    layer = layers.Normalization(axis=None)
    layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype="float32"))
    np.testing.assert_allclose(
        layer(np.array([1.0, 2.0, 3.0])).numpy(), [-1.4142135, -0.70710677, 0.0], rtol=1e-6
    )
    data = np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]])
    layer = layers.Normalization(axis=-1)
    layer.adapt(data)
    np.testing.assert_allclose(layer(np.array([[0.0, 7.0, 4.0]])).numpy(), [[-1, -1, -1]])
    layer = layers.Normalization(mean=3.0, variance=2.0)
    np.testing.assert_allclose(
        layer(np.array([[1.0], [2.0], [3.0]])).numpy().ravel(), [-1.4142135, -0.70710677, 0.0]
    )
    layer = layers.Normalization(axis=-1, invert=True)
    layer.adapt(data)
    np.testing.assert_allclose(layer(np.array([[1.0, 2.0, 3.0]])).numpy(), [[2.0, 10.0, 8.0]])


def test_normalization_weights_counts_and_summary():
    layer = layers.Normalization()
    layer.adapt(np.random.default_rng(0).random((20, 9)))
    assert names(layer) == ["mean", "variance", "count"] and layer.count_params() == 19
    assert layer.trainable_weights == []
    model = ac.Sequential([layers.Input(shape=(9,)), layer, layers.Dense(1)])
    assert "Non-trainable params: 19 (76.00 B)" in summary_text(model)
    given = build(layers.Normalization(mean=[1.0, 2.0], variance=[1.0, 4.0]), (None, 2))
    assert given.weights == [] and given.count_params() == 0


def test_normalization_divides_by_sqrt_variance_floored_at_keras_epsilon():
    """Keras: (x - mean) / maximum(sqrt(variance), 1e-7), so a constant feature is not a
    division by zero (and the epsilon is not added to the variance)."""
    layer = layers.Normalization(dtype="float64")
    layer.adapt(np.array([[1.0, 5.0], [3.0, 5.0]]))
    out = layer(np.array([[2.0, 5.0], [3.0, 5.0 + 1e-9]])).numpy()
    np.testing.assert_allclose(out, [[0.0, 0.0], [1.0, 1e-9 / 1e-7]], rtol=1e-6, atol=1e-12)
    tiny = layers.Normalization(mean=0.0, variance=1e-6, dtype="float64")
    np.testing.assert_allclose(tiny(np.array([[1.0]])).numpy(), [[1000.0]])


@pytest.mark.parametrize("axis", [-1, (1, 2), None, 1])
def test_adapt_batch_by_batch_equals_the_whole_array(axis, rng):
    data = rng.standard_normal((23, 4, 3)) * [1, 2, 3] + [0, 1, 2]
    whole = layers.Normalization(axis=axis, dtype="float64")
    whole.adapt(data)
    keep = () if axis is None else tuple(np.atleast_1d(axis) % 3)
    reduce = tuple(d for d in range(3) if d not in keep)
    np.testing.assert_allclose(whole.adapt_mean.numpy(), data.mean(axis=reduce), rtol=1e-12)
    np.testing.assert_allclose(whole.adapt_variance.numpy(), data.var(axis=reduce), rtol=1e-12)
    batches = layers.Normalization(axis=axis, dtype="float64")
    batches.adapt((data[i : i + 5], np.zeros(5)) for i in range(0, 23, 5))  # (x, y) batches
    for mine, theirs in zip(batches.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-13)
    listed = layers.Normalization(axis=axis, dtype="float64")
    listed.adapt([ac.Tensor(data[:10]), data[10:]])
    np.testing.assert_allclose(listed.adapt_mean.numpy(), whole.adapt_mean.numpy(), rtol=1e-12)


def test_normalization_before_adapt_is_the_identity_as_in_keras():
    """Keras 3 builds the weights as mean 0 and variance 1, so an un-adapted layer passes its
    inputs through (it does not raise)."""
    x = np.array([[1.0, -2.0, 3.0]], np.float32)
    np.testing.assert_array_equal(layers.Normalization()(x).numpy(), x)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: layers.Normalization(mean=1.0), ValueError, "both `mean` and `variance`"),
        (
            lambda: layers.Normalization(mean=[1.0, 2.0], variance=[1.0]),
            ValueError,
            "must have the same shape",
        ),
        (
            lambda: layers.Normalization(mean=np.ones((2, 2)), variance=np.ones((2, 2))),
            ValueError,
            "rank of `mean` must be less than or equal",
        ),
        (lambda: layers.Normalization().adapt([]), ValueError, "received an empty iterable"),
        (lambda: layers.Normalization().adapt([[1.0, 2.0]]), TypeError, "`.shape` attribute"),
        (lambda: layers.Normalization().adapt(3.0), TypeError, "Unsupported data type"),
        (
            lambda: layers.Normalization(mean=0.0, variance=1.0).adapt(np.ones((2, 2))),
            ValueError,
            "adapt\\(\\) cannot change them",
        ),
        (
            lambda: layers.Normalization(axis=3).adapt(np.ones((2, 2))),
            ValueError,
            "must be in the range",
        ),
    ],
)
def test_normalization_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_adapt_again_checks_the_shape():
    layer = layers.Normalization()
    layer.adapt(np.ones((4, 3)))
    layer.adapt(np.zeros((7, 3)))  # another number of samples is fine
    with pytest.raises(ValueError, match="adapt\\(\\) is being called with data with an"):
        layer.adapt(np.ones((4, 2)))
    with pytest.raises(ValueError, match="yielded a batch with incompatible shape"):
        layer.adapt([np.ones((4, 3)), np.ones((4, 2))])


def test_normalization_gradcheck_config_and_saving(tmp_path, rng):
    layer = layers.Normalization(axis=-1, dtype="float64")
    layer.adapt(rng.standard_normal((10, 3)) * 2)
    weights = ac.Tensor(np.arange(6.0).reshape(2, 3))
    assert gradcheck(lambda x: layer(x) * weights, [rng.standard_normal((2, 3))])
    given = layers.Normalization(axis=1, mean=[1.0, 2.0], variance=[4.0, 9.0], invert=True)
    config = given.get_config()
    assert config["mean"] == [1.0, 2.0] and config["axis"] == (1,)
    clone = layers.deserialize({"class_name": "Normalization", "config": config})
    assert clone.get_config() == config
    x = rng.standard_normal((6, 2)).astype(np.float32)
    np.testing.assert_allclose(clone(x).numpy(), [1.0, 2.0] + x * [2.0, 3.0], rtol=1e-6)

    adapted = layers.Normalization()
    adapted.adapt(x * 3 + 1)
    model = ac.Sequential([layers.Input(shape=(2,)), adapted, given, layers.Dense(1)])
    model.save(tmp_path / "norm.keras")
    loaded = ac.load_model(tmp_path / "norm.keras")
    np.testing.assert_array_equal(loaded.layers[0].adapt_mean.numpy(), adapted.adapt_mean.numpy())
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), 1e-6)


def test_layers_build_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for layer in (layers.BatchNormalization(), layers.LayerNormalization()):
            layer(np.ones((2, 3), np.float32), training=True)


def test_adapt_on_an_array_builds_for_its_shape_as_keras(keras):
    """Keras's adapt builds the layer for the array's whole shape, which its build config
    records (keras.io's EANet: ``input_shape`` (50000, 32, 32, 3) in the saved config)."""
    data = np.arange(24, dtype=np.float32).reshape(2, 2, 2, 3)
    found = []
    for lib in (ac, keras):
        layer = lib.layers.Normalization()
        layer.adapt(data)
        found.append(layer.get_build_config())
    assert found[0] == found[1] == {"input_shape": (2, 2, 2, 3)}


@pytest.mark.parametrize(
    ("given", "axis", "data"),
    [
        ({}, -1, np.array([[0.1, 0.2, 0.3], [0.8, 0.9, 1.0], [1.5, 1.6, 1.7]])),
        ({}, (1, 2), np.arange(24, dtype=np.float32).reshape(2, 3, 4)),
        ({"mean": [1.0, 2.0], "variance": [4.0, 9.0]}, -1, np.ones((3, 2))),
    ],
)
def test_mean_and_variance_are_kerass(keras, given, axis, data):
    """``layer.mean`` / ``layer.variance``: None before the layer is built, then the given or
    adapted statistics in the inputs' rank, as Keras's (keras.io's preprocessing guide)."""
    ours = layers.Normalization(axis=axis, **given)
    theirs = keras.layers.Normalization(axis=axis, **given)
    assert ours.mean is None and theirs.mean is None
    for layer in (ours, theirs):
        layer.build(data.shape) if given else layer.adapt(data)
    for name in ("mean", "variance"):
        expected = np.asarray(getattr(theirs, name))
        got = getattr(ours, name).numpy()
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6)
