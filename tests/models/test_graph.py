"""The plan's batch-normalization rules: a linear Conv2D, SeparableConv2D or Dense followed by a
BatchNormalization (then a ReLU, then a MaxPooling2D) runs in inference as one op with the
batch normalization folded into the kernel and bias; training runs the layers one by one, a
ReLU inside its batch norm's op, as any other BatchNormalization that a ReLU alone reads runs
in both modes."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.models import graph

# The convolution before the first batch norm and the pooling after it: the course's, and
# keras-io's Xception's (a SeparableConv2D over two kernels per channel here, 'same' padding
# and a strided 3x3 pooling).
CONVS = {
    "conv2d": lambda use_bias: (layers.Conv2D(4, 3, use_bias=use_bias), layers.MaxPooling2D(2)),
    "separable_conv2d": lambda use_bias: (
        layers.SeparableConv2D(4, 3, padding="same", depth_multiplier=2, use_bias=use_bias),
        layers.MaxPooling2D(3, strides=2, padding="same"),
    ),
}


def conv_bn_model(use_bias: bool = False, conv: str = "conv2d") -> ac.Sequential:
    ac.utils.set_random_seed(3)
    conv_layer, pool = CONVS[conv](use_bias)
    return ac.Sequential(
        [
            layers.Input(shape=(9, 9, 2)),
            conv_layer,
            layers.BatchNormalization(momentum=0.5),
            layers.ReLU(),
            pool,
            layers.Flatten(),
            layers.Dense(5),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Dense(3, activation="softmax"),
        ]
    )


def unfolded_twin(model_fn, monkeypatch, **kwargs) -> ac.Sequential:
    """The same model, planned without the rules (the folding, the ReLU run in a batch norm)."""
    with monkeypatch.context() as patch:
        patch.setattr(graph, "_foldable_batch_norm", lambda *args: [])
        patch.setattr(graph, "_rectifying_relu", lambda *args: None)
        patch.setattr(graph, "_reading_separable", lambda *args: None)
        return model_fn(**kwargs)


def layer_by_layer(model, x, training):
    out = ac.Tensor(x)
    for layer in model.layers:
        out = layer(out, training=training)
    return out


def data(rng, n=12):
    x = rng.standard_normal((n, 9, 9, 2)).astype(np.float32) + 0.5
    return x, ac.utils.to_categorical(np.arange(n) % 3, 3)


@pytest.mark.parametrize("conv", CONVS)
def test_the_plan_folds_batch_norms_into_the_layer_before(conv):
    model = conv_bn_model(conv=conv)
    steps = model.plan.steps
    assert [step.rule for step in steps] == ["fold_batch_norm", None, "fold_batch_norm", None]
    assert [n.layer.name for n in steps[0].nodes] == [
        conv, "batch_normalization", "re_lu", "max_pooling2d",
    ]  # fmt: skip
    assert len(steps[2].nodes) == 3 and steps[0].fused
    kind = type(model.layers[0]).__name__
    assert f"batch norm folded into the {kind} at inference" in str(model.plan)


@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("use_bias", [False, True])
def test_folded_inference_equals_the_layers_one_by_one(use_bias, conv, rng):
    x, y = data(rng)
    model = conv_bn_model(use_bias, conv)
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)  # moving statistics away from 0 and 1
    assert not np.allclose(model.layers[1].moving_variance.numpy(), 1)
    expected = layer_by_layer(model, x, training=False).numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    loss = model.evaluate(x, y, verbose=0)
    want = -np.mean(np.sum(y * np.log(expected), axis=1))
    assert loss == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("conv", CONVS)
def test_folded_inference_gradients_reach_kernels_gamma_and_beta(conv, rng):
    x, _ = data(rng, 4)
    model = conv_bn_model(conv=conv)
    gamma, beta, mean, variance = rng.random(4) + 0.5, *rng.standard_normal((2, 4)), rng.random(4)
    model.layers[1].set_weights([gamma, beta, mean, variance + 0.5])
    grads = []
    for out in (model(x, training=False), layer_by_layer(model, x, training=False)):
        for w in model.trainable_weights:
            w.grad = None
        (out * ac.Tensor(np.arange(12.0).reshape(4, 3).astype(np.float32))).sum().backward()
        grads.append([w.grad.copy() for w in model.trainable_weights])
    for folded, plain in zip(*grads, strict=True):
        np.testing.assert_allclose(folded, plain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("use_bias", [False, True])
def test_training_is_unaffected_by_the_rule(conv, use_bias, monkeypatch, rng):
    """Fitted with the rule (the batch norm adding the layer's bias as it reads, the ReLU in
    its passes) and without: the same bits, the biases' and the moving statistics included."""
    x, y = data(rng)
    folded = conv_bn_model(use_bias, conv)
    plain = unfolded_twin(conv_bn_model, monkeypatch, use_bias=use_bias, conv=conv)
    assert not any(step.fused for step in plain.plan.steps)
    weights = folded.get_weights()
    if use_bias:  # not 0 (as initialized), or what adds them would not show
        first = len(folded.layers[0].get_weights()) - 1
        weights[first] = weights[first] + rng.standard_normal(4).astype(np.float32) * 3
    for model in (folded, plain):
        model.set_weights(weights)
    np.testing.assert_array_equal(
        folded(x, training=True).numpy(), layer_by_layer(plain, x, training=True).numpy()
    )
    for model in (folded, plain):
        model.set_weights(weights)
        model.compile("adam", "categorical_crossentropy")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for mine, theirs in zip(folded.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)  # moving statistics included


@pytest.mark.parametrize(
    ("model_layers", "folds"),
    [
        # an activation between the conv and the batch norm: nothing to fold
        ([layers.Conv2D(2, 3, activation="relu"), layers.BatchNormalization()], False),
        # a batch norm over another axis than the channels
        ([layers.Conv2D(2, 3), layers.BatchNormalization(axis=1)], False),
        # the batch norm is the model's output: folded, nothing after it
        ([layers.Conv2D(2, 3), layers.BatchNormalization()], True),
        # a tanh after the batch norm stays a layer of its own
        ([layers.Conv2D(2, 3), layers.BatchNormalization(), layers.Activation("tanh")], True),
        # a grouped convolution: the folded op has no groups
        ([layers.Conv2D(2, 3, groups=2), layers.BatchNormalization()], False),
        # a frozen batch norm folds too (it always runs in inference mode)
        ([layers.Dense(2), layers.BatchNormalization(trainable=False)], True),
    ],
)
def test_which_models_fold(model_layers, folds, rng):
    model = ac.Sequential([layers.Input(shape=(5, 5, 2)), *model_layers])
    assert model.plan.steps[0].fused == folds
    if folds:
        assert len(model.plan.steps[0].nodes) == 2
    x = rng.standard_normal((3, 5, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), layer_by_layer(model, x, False).numpy(), rtol=1e-5, atol=1e-6
    )


def test_a_conv_read_twice_or_a_batch_norm_called_with_training_does_not_fold(rng):
    inputs = ac.Input(shape=(5, 5, 2))
    conv = layers.Conv2D(2, 3)(inputs)
    twice = ac.Model(inputs, layers.add([layers.BatchNormalization()(conv), conv]))
    assert not twice.plan.steps[0].fused
    told = ac.Model(inputs, layers.BatchNormalization()(conv, training=False))
    assert not told.plan.steps[0].fused


def batch_norm_relu_model() -> ac.Model:
    """Batch norms that no layer before them folds (after an activated Conv2D, after an add),
    each read by a ReLU alone, and one read by a ReLU and a concatenation (left alone)."""
    ac.utils.set_random_seed(5)
    inputs = ac.Input(shape=(9, 9, 2))
    conv = layers.Conv2D(4, 3, activation="relu")(inputs)
    x = layers.ReLU()(layers.BatchNormalization(momentum=0.5)(conv))
    x = layers.Activation("relu")(layers.BatchNormalization()(layers.add([x, conv])))
    normed = layers.BatchNormalization()(layers.Dense(6, activation="tanh")(layers.Flatten()(x)))
    both = layers.concatenate([layers.ReLU()(normed), normed])
    return ac.Model(inputs, layers.Dense(3, activation="softmax")(both))


def test_a_batch_norm_read_by_a_relu_alone_runs_with_it_in_training_and_inference(monkeypatch, rng):
    """Two steps of the plan are a batch norm with its ReLU; fitted, the model's weights
    (moving statistics included) and predictions are the same bits as its twin's planned
    without the rule, and as its layers' one by one."""
    x, y = data(rng)
    fused = batch_norm_relu_model()
    plain = unfolded_twin(batch_norm_relu_model, monkeypatch)
    rules = [step.rule for step in fused.plan.steps]
    assert rules.count("batch_norm_relu") == 2 and not any(s.fused for s in plain.plan.steps)
    assert "batch norm with its ReLU in the same pass" in str(fused.plan)
    for model in (fused, plain):
        model.set_weights(batch_norm_relu_model().get_weights())
        model.compile("adam", "categorical_crossentropy")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for mine, theirs in zip(fused.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert not np.allclose(fused.layers[2].moving_mean.numpy(), 0)
    np.testing.assert_array_equal(fused.predict(x, verbose=0), plain.predict(x, verbose=0))
    np.testing.assert_array_equal(fused(x).numpy(), plain(x).numpy())


def relu_separable_model() -> ac.Model:
    """keras-io's Xception block heads: a ReLU read by a SeparableConv2D alone (whose batch
    norm then folds), another before a SeparableConv2D with a ReLU of its own, and one read by
    a SeparableConv2D and an add (left alone)."""
    ac.utils.set_random_seed(7)
    inputs = ac.Input(shape=(9, 9, 2))
    x = layers.Conv2D(4, 3, padding="same")(inputs)
    y = layers.SeparableConv2D(4, 3, padding="same")(layers.ReLU()(x))
    y = layers.add([layers.BatchNormalization()(y), x])
    y = layers.SeparableConv2D(4, 3, padding="same", activation="relu")(layers.ReLU()(y))
    shared = layers.Activation("relu")(y)
    z = layers.add([layers.SeparableConv2D(4, 3, padding="same")(shared), shared])
    return ac.Model(inputs, layers.Dense(3, activation="softmax")(layers.Flatten()(z)))


def test_a_relu_read_by_a_separable_conv_alone_runs_in_its_depthwise_pass(monkeypatch, rng):
    """Two steps run the ReLU before them (one a folded batch norm's); fitted, the weights and
    moving statistics are the same bits as the twin's planned without the rule, and so are the
    predictions; the third ReLU, read twice, stays a step of its own."""
    x, y = data(rng)
    fused = relu_separable_model()
    plain = unfolded_twin(relu_separable_model, monkeypatch)
    befores = [step for step in fused.plan.steps if step.before is not None]
    assert [step.rule for step in befores] == ["fold_batch_norm", None]
    assert sum(type(s.nodes[0].layer).__name__ == "Activation" for s in fused.plan.steps) == 1
    assert "the ReLU before it in its depthwise pass" in str(fused.plan)
    assert not any(step.fused for step in plain.plan.steps)
    weights = [w + rng.standard_normal(w.shape).astype(np.float32) * 0.5 if w.ndim == 1 else w
               for w in fused.get_weights()]  # fmt: skip
    weights = [np.abs(w) if "variance" in v.path else w
               for w, v in zip(weights, fused.weights, strict=True)]  # fmt: skip
    for model in (fused, plain):
        model.set_weights(weights)
        model.compile("adam", "categorical_crossentropy")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for mine, theirs in zip(fused.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    with monkeypatch.context() as patch:  # folded as the fused model's, the ReLU a step
        patch.setattr(graph, "_reading_separable", lambda *args: None)
        folded = relu_separable_model()
    folded.set_weights(fused.get_weights())
    np.testing.assert_array_equal(fused.predict(x, verbose=0), folded.predict(x, verbose=0))
