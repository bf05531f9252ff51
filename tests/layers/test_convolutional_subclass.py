"""Subclassing a convolution layer as Keras's ``Conv.convolution_op`` API allows: a Conv2D or
Conv3D whose subclass overrides ``convolution_op`` runs it in ``call`` (then the bias and the
activation), a subclass's ``call`` may call it, and Keras's Conv1D convolves in its own
``call``; outputs and one training step against Keras with the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac


def standardized(lib, base, via):
    """A weight-standardized ``base`` (Conv1D/2D/3D of ``lib``), through an overridden
    ``convolution_op`` (``via="override"``) or a ``call`` that calls it (``via="call"``)."""
    ops, layer_class = lib.ops, getattr(lib.layers, base)

    def standardize(kernel):
        axes = list(range(len(kernel.shape) - 1))
        mean, var = ops.moments(kernel, axes=axes, keepdims=True)
        return (kernel - mean) / ops.sqrt(var + 1e-10)

    class Override(layer_class):
        def convolution_op(self, inputs, kernel):
            return ops.conv(
                inputs, standardize(kernel), padding="valid", strides=list(self.strides),
                dilation_rate=list(self.dilation_rate),
            )  # fmt: skip

    class Call(layer_class):
        def call(self, inputs):
            result = self.convolution_op(inputs, standardize(self.kernel))
            return result + self.bias if self.use_bias else result

    return {"override": Override, "call": Call}[via]


CASES = [("Conv2D", (7, 6, 3), 3), ("Conv3D", (5, 4, 4, 2), 2), ("Conv1D", (9, 3), 3)]


def _pair(keras, base, shape, kernel, via, activation):
    """The same standardized layer in both libraries, built, with the same weights."""
    built = []
    for lib in (ac, keras):
        layer = standardized(lib, base, via)(4, kernel, strides=2, activation=activation)
        layer.build((None, *shape))
        built.append(layer)
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in built[1].get_weights()]
    for layer in built:
        layer.set_weights(weights)
    return built


@pytest.mark.parametrize(("base", "shape", "kernel"), CASES)
@pytest.mark.parametrize("via", ["override", "call"])
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_outputs_as_keras(keras, base, shape, kernel, via, activation):
    ours, theirs = _pair(keras, base, shape, kernel, via, activation)
    x = np.random.default_rng(1).normal(size=(2, *shape)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(theirs(x))
    np.testing.assert_allclose(np.asarray(ours(x)), expected, rtol=1e-5, atol=1e-5)
    plain = getattr(ac.layers, base)(4, kernel, strides=2, activation=activation)
    plain.build((None, *shape))
    plain.set_weights(ours.get_weights())
    skipped = base == "Conv1D" and via == "override"  # Keras's Conv1D convolves in its call
    assert np.allclose(np.asarray(plain(x)), expected, atol=1e-5) == skipped


@pytest.mark.parametrize(("base", "shape", "kernel"), CASES)
@pytest.mark.parametrize("via", ["override", "call"])
def test_a_training_step_as_keras(keras, base, shape, kernel, via):
    models = []
    for lib, layer in zip((ac, keras), _pair(keras, base, shape, kernel, via, "relu"), strict=True):
        model = lib.Sequential([lib.Input(shape), layer, lib.layers.Flatten()])
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        models.append(model)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, *shape)).astype(np.float32)
    y = rng.normal(size=(4, *models[1].output_shape[1:])).astype(np.float32)
    for model in models:
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for ours, theirs in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: ac.layers.Conv1D(3, 3, strides=2, padding="same"), (9, 2)),
        (lambda: ac.layers.Conv2D(3, (3, 2), dilation_rate=2, use_bias=False), (8, 7, 2)),
        (lambda: ac.layers.Conv2D(4, 3, padding="same", groups=2), (5, 5, 4)),
        (lambda: ac.layers.Conv3D(2, 2, strides=(1, 2, 1)), (4, 5, 3, 1)),
    ],
)
def test_the_default_convolution_op_is_the_layers_convolution(make, shape):
    layer = make()
    x = np.random.default_rng(3).normal(size=(2, *shape)).astype(np.float32)
    out = np.asarray(layer(x))
    bias = 0 if layer.bias is None else np.asarray(layer.bias)
    np.testing.assert_allclose(np.asarray(layer.convolution_op(x, layer.kernel)) + bias, out,
                               rtol=1e-5, atol=1e-5)  # fmt: skip
