"""A model that overrides ``compute_loss`` (Keras 3's backend-agnostic way to train with a
loss of one's own) against real Keras 3.15 (its PyTorch backend, where installed): the losses,
the metrics the model holds as attributes and the weights after fit and evaluate, for a
subclassed model with a penalty, a functional model that adds to ``super().compute_loss``, and
a variational autoencoder whose decoder runs inside ``compute_loss``; on the CPU and the CUDA
device (the simulator)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac
from tests.layers.devices import fit_on_both_devices

F64 = "float64"


def _penalized(lib: Any) -> Any:
    class Penalized(lib.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = lib.layers.Dense(2, dtype=F64)
            self.penalty_tracker = lib.metrics.Mean(name="penalty")

        def call(self, x: Any) -> Any:
            return self.dense(x)

        def compute_loss(self, x, y, y_pred, sample_weight=None, training=True):
            penalty = lib.ops.mean(lib.ops.abs(y_pred))
            self.penalty_tracker.update_state(penalty)
            return lib.ops.mean(lib.ops.square(y - y_pred)) + 0.1 * penalty

    model = Penalized()
    model.compile(lib.optimizers.SGD(0.1))
    return model


def _added_to_the_compiled_loss(lib: Any) -> Any:
    class Functional(lib.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            compiled = super().compute_loss(x, y, y_pred, sample_weight, training)
            return compiled + 0.01 * lib.ops.sum(lib.ops.square(y_pred))

    inputs = lib.Input((3,))
    hidden = lib.layers.Dense(4, activation="tanh", dtype=F64)(inputs)
    model = Functional(inputs, lib.layers.Dense(2, activation="softmax", dtype=F64)(hidden))
    model.compile(lib.optimizers.SGD(0.2), "categorical_crossentropy", metrics=["accuracy"])
    return model


def _variational_autoencoder(lib: Any) -> Any:
    """keras-io's VAE, small: the encoder's (z_mean, z_log_var), a sample (a fixed noise here,
    the same in both libraries), the decoder run in compute_loss, two trackers."""
    layers, ops = lib.layers, lib.ops

    class VAE(lib.Model):
        def __init__(self) -> None:
            super().__init__()
            self.encoder_hidden = layers.Dense(4, activation="relu", dtype=F64)
            self.z_mean = layers.Dense(2, dtype=F64)
            self.z_log_var = layers.Dense(2, dtype=F64)
            self.decoder = lib.Sequential(
                [lib.Input((2,)), layers.Dense(4, activation="relu", dtype=F64),
                 layers.Dense(6, activation="sigmoid", dtype=F64)]
            )  # fmt: skip
            self.reconstruction_tracker = lib.metrics.Mean(name="reconstruction_loss")
            self.kl_tracker = lib.metrics.Mean(name="kl_loss")

        def call(self, inputs: Any) -> Any:
            hidden = self.encoder_hidden(inputs)
            return self.z_mean(hidden), self.z_log_var(hidden)

        def compute_loss(self, x, y, y_pred, sample_weight=None, training=True):
            z_mean, z_log_var = y_pred
            z = z_mean + ops.exp(0.5 * z_log_var) * 0.3
            reconstruction = self.decoder(z)
            per_value = lib.losses.binary_crossentropy(x[..., None], reconstruction[..., None])
            reconstruction_loss = ops.mean(ops.sum(per_value, axis=1))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            self.reconstruction_tracker.update_state(reconstruction_loss)
            self.kl_tracker.update_state(kl_loss)
            return reconstruction_loss + kl_loss

    model = VAE()
    model.compile(lib.optimizers.Adam(0.05))
    return model


def _weights(model: Any) -> list[np.ndarray]:
    return [np.sin(np.arange(w.size) * 0.43 + i).reshape(w.shape) * 0.5
            for i, w in enumerate(model.get_weights())]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "with_y"),
    [(_penalized, True), (_added_to_the_compiled_loss, True), (_variational_autoencoder, False)],
)
def test_fit_and_evaluate_match_keras(keras, build, with_y):
    rng = np.random.default_rng(0)
    x = rng.random((12, 6 if build is _variational_autoencoder else 3))
    y = np.eye(2)[rng.integers(0, 2, 12)] if with_y else None
    runs = []
    for lib in (ac, keras):
        model = build(lib)
        model(x[:1])  # built, so its weights can be set
        model.set_weights(_weights(model))
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        evaluated = model.evaluate(x, y, verbose=0, return_dict=True)
        runs.append((history, evaluated, model.get_weights()))
    (ours, our_eval, our_weights), (theirs, their_eval, their_weights) = runs
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-6, err_msg=key)
    assert sorted(our_eval) == sorted(their_eval)
    for key in their_eval:
        np.testing.assert_allclose(our_eval[key], their_eval[key], rtol=1e-6, err_msg=key)
    for mine, keras_weight in zip(our_weights, their_weights, strict=True):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-6, atol=1e-9)


def test_trackers_are_model_metrics_reset_each_epoch():
    model = _penalized(ac)
    assert [m.name for m in model.metrics] == ["loss", "penalty"]
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    model.penalty_tracker.update_state(100.0)
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    assert model.penalty_tracker.result() < 10  # reset when the epoch began


def test_without_an_override_a_loss_is_still_required():
    model = ac.Sequential([ac.Input((3,)), ac.layers.Dense(2)])
    model.compile("sgd")
    with pytest.raises(ValueError, match=r"No loss to compute\. Provide a `loss` argument"):
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)


def test_a_compute_loss_that_returns_no_tensor_is_named():
    class Broken(ac.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = ac.layers.Dense(1)

        def call(self, x: Any) -> Any:
            return self.dense(x)

        def compute_loss(self, x, y, y_pred, sample_weight=None):
            return 0.0

    model = Broken()
    model.compile("sgd")
    with pytest.raises(TypeError, match=r"Broken\.compute_loss must return the loss as a Tensor"):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)


def _device_vae() -> Any:
    model = _variational_autoencoder(ac)
    model(np.ones((1, 6), "float32"))
    model.set_weights(_weights(model))
    return model


@pytest.mark.cudasim
def test_the_autoencoder_trains_alike_on_the_gpu():
    x = np.random.default_rng(1).random((8, 6)).astype(np.float32)
    fit_on_both_devices(_device_vae, x, None, optimizer=None)


def test_layers_a_compute_loss_builds_are_trained_from_the_first_step():
    """A decoder first called inside compute_loss gets its weights in the first step; the
    optimizer, yet to update, is built for them too (Keras 3.15 refuses them instead)."""

    class Lazy(ac.Model):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = ac.layers.Dense(2)
            self.decoder = ac.layers.Dense(3)

        def call(self, x: Any) -> Any:
            return self.encoder(x)

        def compute_loss(self, x, y, y_pred, sample_weight=None, training=True):
            return ac.ops.mean(ac.ops.square(self.decoder(y_pred) - x))

    model = Lazy()
    model.compile(ac.optimizers.SGD(0.1))
    x = np.random.default_rng(2).random((8, 3)).astype(np.float32)
    model.fit(x, epochs=1, batch_size=8, verbose=0)
    first = model.decoder.get_weights()[0].copy()
    history = model.fit(x, epochs=2, batch_size=8, verbose=0).history
    assert not np.array_equal(model.decoder.get_weights()[0], first)
    assert history["loss"][1] < history["loss"][0]


@pytest.mark.parametrize(
    ("loss", "y"),
    [("sparse_categorical_crossentropy", [0, 2, 1, 2]), ("mse", [[0.1, 0.2, 0.7]] * 4)],
)
def test_compute_loss_right_after_compile_is_keras_s(keras, loss, y):
    """Called before any fit (a loop of one's own), compute_loss makes the compiled loss for
    the given y and y_pred, as Keras's builds on its first call."""
    x, y = np.linspace(-1, 1, 8, dtype="float32").reshape(4, 2), np.asarray(y)
    values = []
    for lib in (ac, keras):
        model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(3, activation="softmax")])
        model.set_weights([np.full((2, 3), 0.3) * [1, -1, 2], np.array([0.1, 0.0, -0.1])])
        model.compile("sgd", loss, metrics=["accuracy"])
        values.append(lib.ops.convert_to_numpy(model.compute_loss(x, y, model(x))))
    np.testing.assert_allclose(values[0], values[1], rtol=1e-6)


def test_one_target_for_several_outputs_reaches_compute_loss_as_given(keras):
    """keras.io's BASNet: a functional subclass of eight outputs whose compute_loss compares
    each with the one mask given, compiled with a metric per output. Keras hands the one
    target to compute_loss as given, and its metrics zip the targets with the outputs, so only
    the first output's metric is made and logged."""

    def run(lib: Any) -> list[Any]:
        class Heads(lib.Model):
            def __init__(self) -> None:
                inputs = lib.Input((3,), name="x")
                outputs = [lib.layers.Dense(2, activation="sigmoid", name=f"o{i}")(inputs)
                           for i in range(3)]  # fmt: skip
                super().__init__(inputs=inputs, outputs=outputs, name="heads")
                self.bce = lib.losses.BinaryCrossentropy()

            def compute_loss(self, x, y, y_pred, sample_weight=None, training=False):
                return sum(self.bce(y, p) for p in y_pred)

        model = Heads()
        model.set_weights([np.cos(np.arange(w.size) + i).reshape(w.shape)
                           for i, w in enumerate(model.get_weights())])  # fmt: skip
        maes = [lib.metrics.MeanAbsoluteError(name="mae") for _ in range(3)]
        model.compile(lib.optimizers.SGD(0.5, name="sgd"), metrics=maes)
        x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
        y = (np.arange(16).reshape(8, 2) % 2).astype("float32")
        fitted = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        return [fitted, model.evaluate(x, y, verbose=0)]

    keras.backend.clear_session()
    ours, theirs = run(ac), run(keras)
    assert sorted(ours[0]) == sorted(theirs[0]) == ["loss", "o0_mae"]
    for name in theirs[0]:
        np.testing.assert_allclose(ours[0][name], theirs[0][name], rtol=1e-5)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5)


def test_a_loss_the_model_keeps_as_its_loss_attribute_outlives_compile(keras):
    """The book's diffusion model sets ``self.loss = keras.losses.MeanAbsoluteError()`` in
    ``__init__`` and calls it in ``compute_loss``; ``compile`` without a loss leaves it, as
    Keras's (which sets ``self.loss`` only when given one): the same loss in training."""
    x = np.linspace(-1, 1, 12).reshape(4, 3)

    def trained(lib: Any) -> tuple[Any, list[Any]]:
        class OwnLoss(lib.Model):
            def __init__(self) -> None:
                super().__init__()
                self.dense = lib.layers.Dense(3, kernel_initializer="ones", dtype=F64)
                self.loss = lib.losses.MeanAbsoluteError()

            def call(self, x: Any) -> Any:
                return self.dense(x)

            def compute_loss(self, x, y, y_pred, sample_weight=None, training=True):
                return self.loss(x, y_pred)

        model = OwnLoss()
        model.compile(lib.optimizers.SGD(0.1))
        losses = [model.train_on_batch(x) for _ in range(2)]
        return type(model.loss).__name__, losses

    ours, theirs = trained(ac), trained(keras)
    assert ours[0] == theirs[0] == "MeanAbsoluteError"
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)
