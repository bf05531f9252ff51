"""Models that override ``train_step``, ``test_step`` or ``predict_step`` (Keras's "customizing
what happens in fit()" guide, in its PyTorch backend's words) against real Keras 3.15 (its
PyTorch backend, where installed): the logged losses and metrics and the weights after fit and
evaluate; Keras's default steps called through ``super()`` giving what autoconv's own fused
steps give; a step's returned logs in the history; and the same on the CUDA device (the
simulator)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac
from tests.layers.devices import fit_on_both_devices


def _tracked(model: Any, loss: Any, y: Any, y_pred: Any) -> dict[str, Any]:
    """The guide's end of both steps: every metric updated, their results returned."""
    for metric in model.metrics:
        if metric.name == "loss":
            metric.update_state(loss)
        else:
            metric.update_state(y, y_pred)
    return {m.name: m.result() for m in model.metrics}


def _guide_model(lib: Any, no_grad: Any) -> Any:
    """The guide's CustomModel: its own train_step and test_step, mae as a compiled metric."""

    class CustomModel(lib.Model):
        def train_step(self, data: Any) -> dict[str, Any]:
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [v.value.grad for v in trainable_weights]
            with no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            return _tracked(self, loss, y, y_pred)

        def test_step(self, data: Any) -> dict[str, Any]:
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            return _tracked(self, loss, y, y_pred)

    inputs = lib.Input(shape=(3,))
    hidden = lib.layers.Dense(4, activation="tanh")(inputs)
    model = CustomModel(inputs, lib.layers.Dense(1)(hidden))
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    model.set_weights([np.cos(np.arange(w.size) * 0.9 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def _flat(logs: dict[str, Any]) -> dict[str, float]:
    """Keras's logs with its compile_metrics dict opened."""
    out = {}
    for name, value in logs.items():
        out |= _flat(value) if isinstance(value, dict) else {name: float(value)}
    return out


def test_the_guides_custom_steps_match_keras(keras):
    import torch

    rng = np.random.default_rng(0)
    x, y = rng.random((16, 3)).astype("float32"), rng.random((16, 1)).astype("float32")
    runs = []
    for lib, no_grad in ((ac, ac.no_grad), (keras, torch.no_grad)):
        model = _guide_model(lib, no_grad)
        history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
        evaluated = model.evaluate(x, y, verbose=0, return_dict=True)
        runs.append(({k: v for k, v in history.history.items()}, _flat(evaluated),
                     model.get_weights()))  # fmt: skip
    (ours, our_eval, our_weights), (theirs, their_eval, their_weights) = runs
    for key in ("loss", "mae"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=2e-5, err_msg=key)
        np.testing.assert_allclose(our_eval[key], their_eval[key], rtol=2e-5, err_msg=key)
    for mine, keras_weight in zip(our_weights, their_weights, strict=True):
        np.testing.assert_allclose(mine, keras_weight, rtol=2e-5, atol=1e-7)


def test_a_steps_compiled_metrics_come_before_its_loss_in_the_history(keras):
    """A train_step that returns every metric's result (``{"loss": ..., "compile_metrics":
    {...}}``, as keras-io's ShiftViT) gives Keras's history in Keras's order with validation
    too: the compiled metrics' entries where ``compile_metrics`` sorts, before ``loss``."""
    import torch

    rng = np.random.default_rng(0)
    x, y = rng.random((8, 3)).astype("float32"), rng.random((8, 1)).astype("float32")
    orders = []
    for lib, no_grad in ((ac, ac.no_grad), (keras, torch.no_grad)):
        model = _guide_model(lib, no_grad)
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse", metrics=["mae", "mse"])
        history = model.fit(x, y, batch_size=4, epochs=1, validation_data=(x, y), verbose=0)
        orders.append(list(history.history))
    assert orders[0] == orders[1] == ["mae", "mse", "loss", "val_loss", "val_mae", "val_mse"]


def test_evaluate_ends_with_a_steps_logs_sorted_as_keras(keras, capsys):
    """The guide's test_step returns ``{"loss": ..., "compile_metrics": {"mae": ...}}``:
    evaluate returns them in that order, flattened, while on_test_end and verbose=2's line get
    them sorted by name (Keras's callbacks sort them again): ``loss`` before ``mae``."""
    import torch

    x, y = np.ones((4, 3), "float32"), np.ones((4, 1), "float32")
    seen = []
    for lib, no_grad in ((ac, ac.no_grad), (keras, torch.no_grad)):
        model = _guide_model(lib, no_grad)
        ended = lib.callbacks.LambdaCallback(on_test_end=lambda logs: seen.append(list(logs)))
        returned = model.evaluate(x, y, verbose=2, return_dict=True, callbacks=[ended])
        seen.append(list(returned))
        line = capsys.readouterr().out.strip().splitlines()[-1]
        seen.append(line.index("loss:") < line.index("mae:"))
    assert seen[:3] == seen[3:] == [["loss", "mae"], ["mae", "loss"], True]


def _guide_gan(lib: Any, no_grad: Any) -> Any:
    """The guide's end-to-end GAN (tiny): a discriminator and a generator, an optimizer for
    each, compile(d_optimizer, g_optimizer, loss_fn), loss trackers; its latent vectors and
    label noise drawn from NumPy, so that both libraries see the same."""
    L, ops = lib.layers, lib.ops
    discriminator = lib.Sequential([lib.Input((4, 4, 1)),
                                    L.Conv2D(3, 3, strides=2, padding="same"),
                                    L.LeakyReLU(negative_slope=0.2), L.GlobalMaxPooling2D(),
                                    L.Dense(1)])  # fmt: skip
    generator = lib.Sequential([lib.Input((3,)), L.Dense(2 * 2 * 2),
                                L.LeakyReLU(negative_slope=0.2), L.Reshape((2, 2, 2)),
                                L.Conv2DTranspose(2, 4, strides=2, padding="same"),
                                L.Conv2D(1, 3, padding="same", activation="sigmoid")])  # fmt: skip
    rng = np.random.default_rng(1)

    def noise(*shape: int) -> Any:
        return ops.convert_to_tensor(rng.standard_normal(shape).astype("float32"))

    class GAN(lib.Model):
        def __init__(self) -> None:
            super().__init__()
            self.discriminator, self.generator = discriminator, generator
            self.d_loss_tracker = lib.metrics.Mean(name="d_loss")
            self.g_loss_tracker = lib.metrics.Mean(name="g_loss")
            self.built = True

        @property
        def metrics(self) -> list[Any]:
            return [self.d_loss_tracker, self.g_loss_tracker]

        def compile(self, d_optimizer: Any, g_optimizer: Any, loss_fn: Any) -> None:
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

        def train_step(self, real_images: Any) -> dict[str, Any]:
            batch_size = real_images.shape[0]
            generated_images = self.generator(noise(batch_size, 3))
            combined_images = ops.concatenate([generated_images, real_images], axis=0)
            labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))])
            labels = labels + 0.05 * ops.abs(noise(2 * batch_size, 1))
            self.zero_grad()
            d_loss = self.loss_fn(labels, self.discriminator(combined_images))
            d_loss.backward()
            grads = [v.value.grad for v in self.discriminator.trainable_weights]
            with no_grad():
                self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
            self.zero_grad()
            predictions = self.discriminator(self.generator(noise(batch_size, 3)))
            g_loss = self.loss_fn(ops.zeros((batch_size, 1)), predictions)
            g_loss.backward()
            grads = [v.value.grad for v in self.generator.trainable_weights]
            with no_grad():
                self.g_optimizer.apply(grads, self.generator.trainable_weights)
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    gan = GAN()
    gan.compile(lib.optimizers.Adam(0.01), lib.optimizers.Adam(0.01),
                lib.losses.BinaryCrossentropy(from_logits=True))  # fmt: skip
    gan.set_weights([np.cos(np.arange(w.size) * 0.7 + i).reshape(w.shape) * 0.4
                     for i, w in enumerate(gan.get_weights())])  # fmt: skip
    return gan


def test_the_guides_gan_trains_as_keras(keras):
    """Two networks trained in one step, each by its own optimizer: the logs, the weights
    and the optimizers' variables (the compiled one too: fit builds it) as Keras's."""
    import torch

    images = np.random.default_rng(0).random((12, 4, 4, 1)).astype("float32")
    runs = []
    for lib, no_grad in ((ac, ac.no_grad), (keras, torch.no_grad)):
        gan = _guide_gan(lib, no_grad)
        history = gan.fit(images, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        counts = [len(o.variables) for o in (gan.optimizer, gan.d_optimizer, gan.g_optimizer)]
        runs.append((history, gan.get_weights(), counts))
    (ours, our_weights, our_counts), (theirs, their_weights, their_counts) = runs
    assert list(ours) == list(theirs) == ["d_loss", "g_loss"]
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=2e-5, err_msg=key)
    for mine, keras_weight in zip(our_weights, their_weights, strict=True):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-4, atol=1e-6)
    assert our_counts == their_counts


def _through_super(base: type) -> Any:
    class Passing(base):
        def train_step(self, data: Any) -> dict[str, Any]:
            return super().train_step(data)

        def test_step(self, data: Any) -> dict[str, Any]:
            return super().test_step(data)

        def predict_step(self, data: Any) -> Any:
            return super().predict_step(data) * 2.0

    return Passing


@pytest.mark.parametrize("weighted", [False, True])
def test_kerass_default_steps_give_autoconvs_own(weighted):
    """A model whose steps call Keras's defaults through super() trains as the plain model
    that runs autoconv's fused steps."""
    rng = np.random.default_rng(1)
    x = rng.random((12, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 12)]
    weights = rng.random(12).astype("float32") if weighted else None
    results = []
    for model_class in (ac.Model, _through_super(ac.Model)):
        inputs = ac.Input((3,))
        model = model_class(inputs, ac.layers.Dense(3, activation="softmax")(inputs))
        model.set_weights([np.full(w.shape, 0.1 * (i + 1)) for i, w in
                           enumerate(model.get_weights())])  # fmt: skip
        model.compile(ac.optimizers.Adam(0.05), "categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, sample_weight=weights, batch_size=4, epochs=2, shuffle=False,
                            verbose=0, validation_data=(x, y)).history  # fmt: skip
        results.append((history, model.predict(x, verbose=0), model.get_weights()))
    (plain, plain_predictions, plain_weights), (passing, predictions, weights_after) = results
    assert sorted(plain) == sorted(passing)
    for key in plain:
        np.testing.assert_allclose(passing[key], plain[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(predictions, plain_predictions * 2.0, rtol=1e-5)
    for mine, plain_weight in zip(weights_after, plain_weights, strict=True):
        np.testing.assert_allclose(mine, plain_weight, rtol=1e-5, atol=1e-7)


def test_a_steps_returned_logs_are_the_history():
    class Counting(ac.Model):
        def train_step(self, data: Any) -> dict[str, Any]:
            logs = super().train_step(data)
            return {**logs, "seen": float(len(data[0]))}

    inputs = ac.Input((2,))
    model = Counting(inputs, ac.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    history = model.fit(np.ones((6, 2)), np.ones((6, 1)), batch_size=3, epochs=2, verbose=0)
    assert history.history["seen"] == [3.0, 3.0]
    assert len(history.history["loss"]) == 2


def _device_model() -> Any:
    model = _guide_model(ac, ac.no_grad)
    return model


def test_a_subclassed_model_of_several_outputs_trains_through_its_own_steps(keras):
    """keras.io's Real NVP: ``call`` gives a pair, which only the model's own train_step and
    test_step read (compiled without a loss); fit with validation_split logs as Keras's."""

    def flow(lib: Any) -> Any:
        ops = lib.ops

        class Flow(lib.Model):
            def __init__(self) -> None:
                super().__init__()
                self.dense = lib.layers.Dense(2)
                self.tracker = lib.metrics.Mean(name="loss")

            @property
            def metrics(self) -> list[Any]:
                return [self.tracker]

            def call(self, x: Any) -> Any:
                return self.dense(x), ops.sum(x, axis=1)

            def step_loss(self, x: Any) -> Any:
                y, total = self(x)
                return ops.mean(ops.square(y)) + ops.mean(total)

            def train_step(self, data: Any) -> dict[str, Any]:
                self.zero_grad()
                loss = self.step_loss(data)
                loss.backward()
                grads = [v.value.grad for v in self.trainable_weights]
                self.optimizer.apply(grads, self.trainable_weights)
                self.tracker.update_state(loss)
                return {"loss": self.tracker.result()}

            def test_step(self, data: Any) -> dict[str, Any]:
                self.tracker.update_state(self.step_loss(data))
                return {"loss": self.tracker.result()}

        model = Flow()
        model.compile(lib.optimizers.SGD(0.1))
        model(np.zeros((1, 2), np.float32))
        model.set_weights([np.full(w.shape, 0.3) for w in model.get_weights()])
        return model

    x = np.random.default_rng(0).normal(size=(10, 2)).astype("float32")
    ours, theirs = (
        flow(lib).fit(x, batch_size=4, epochs=2, validation_split=0.2, shuffle=False, verbose=0)
        for lib in (ac, keras)
    )
    ours, theirs = ours.history, theirs.history
    assert list(ours) == list(theirs) == ["loss", "val_loss"]
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)


def test_a_subclassed_models_dict_outputs_reach_its_compute_loss_and_predict_as_keras(keras):
    """keras.io's AdaIN: ``call`` gives a dict, which ``compute_loss`` reads by key as
    ``y_pred`` (fit on x alone) and ``predict`` returns, in the call's order."""

    def model_of(lib: Any) -> Any:
        class Keyed(lib.Model):
            def __init__(self) -> None:
                super().__init__()
                self.dense = lib.layers.Dense(2)
                self.tracker = lib.metrics.Mean(name="total")

            def call(self, x: Any, training: bool = False) -> Any:
                return {"twice": x * 2.0, "dense": self.dense(x)}

            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
                loss = lib.ops.mean(lib.ops.square(y_pred["dense"] - y_pred["twice"]))
                self.tracker.update_state(loss)
                return loss

            @property
            def metrics(self) -> list[Any]:
                return [self.tracker]

        model = Keyed()
        model.compile(lib.optimizers.SGD(0.1))
        model(np.zeros((1, 2), np.float32))
        model.set_weights([np.full(w.shape, 0.2) for w in model.get_weights()])
        return model

    x = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    runs = []
    for lib in (ac, keras):
        model = model_of(lib)
        history = model.fit(x, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        predicted = model.predict(x, verbose=0)
        runs.append((history, list(predicted), np.asarray(predicted["dense"])))
    (ours, our_keys, our_dense), (theirs, their_keys, their_dense) = runs
    assert our_keys == their_keys == ["twice", "dense"]
    assert list(ours) == list(theirs) == ["total"]
    np.testing.assert_allclose(ours["total"], theirs["total"], rtol=1e-5)
    np.testing.assert_allclose(our_dense, their_dense, rtol=1e-5)


@pytest.mark.cudasim
def test_custom_steps_train_alike_on_the_gpu():
    rng = np.random.default_rng(2)
    x, y = rng.random((8, 3)).astype("float32"), rng.random((8, 1)).astype("float32")
    fit_on_both_devices(_device_model, x, y, optimizer=None, loss="mse")


def _normalized_model(lib: Any, takes_training: bool) -> Any:
    """A subclassed model with BatchNormalization and Dropout whose ``call`` takes ``training``
    or not."""

    class Normalized(lib.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = lib.layers.Dense(4)
            self.norm = lib.layers.BatchNormalization()
            self.drop = lib.layers.Dropout(0.5)
            self.out = lib.layers.Dense(1)

        def forward(self, x: Any) -> Any:
            return self.out(self.drop(self.norm(self.dense(x))))

    if takes_training:
        Normalized.call = lambda self, x, training=None: self.forward(x)
    else:
        Normalized.call = lambda self, x: self.forward(x)
    model = Normalized()
    model(np.zeros((1, 3), np.float32))
    model.set_weights([np.cos(np.arange(w.size) * 0.7 + i).reshape(w.shape) * 0.5 + (i == 3)
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


@pytest.mark.parametrize("steps", ["fused", "keras_s"])
def test_a_call_without_training_trains_its_layers_in_inference_mode(keras, steps):
    """Keras's trainers call ``self(x, training=True)`` only when ``call`` takes ``training``;
    otherwise ``self(x)``, and BatchNormalization and Dropout run in inference mode even in
    fit: the same losses as Keras, moving statistics unchanged, and evaluate's loss equal to
    fit's first-batch loss."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    runs = []
    for lib in (ac, keras):
        model = _normalized_model(lib, takes_training=False)
        if steps == "keras_s" and lib is ac:  # Keras's own train_step, called per batch
            type(model).train_step = lambda self, data: ac.Model.train_step(self, data)
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        before = model.evaluate(x, y, batch_size=8, verbose=0)
        set_moving = [np.asarray(w).copy() for w in model.norm.non_trainable_weights]
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        moving = [np.asarray(w) for w in model.norm.non_trainable_weights]
        for now, was in zip(moving, set_moving, strict=True):
            np.testing.assert_array_equal(now, was)  # the moving statistics never updated
        runs.append((before, history.history["loss"]))
    (before, losses), (their_before, their_losses) = runs
    np.testing.assert_allclose(losses, their_losses, rtol=1e-5)
    np.testing.assert_allclose(losses[0], before, rtol=1e-6)
    np.testing.assert_allclose(before, their_before, rtol=1e-6)


def _spied_model(lib: Any, seen: list) -> Any:
    """A subclassed model whose call takes no ``training``, around a layer that records the
    ``training`` it gets."""

    class Spy(lib.layers.Layer):
        def call(self, inputs, training=None):
            seen.append(training)
            return inputs

    class Spied(lib.Model):
        def __init__(self) -> None:
            super().__init__()
            self.spy = Spy()

        def call(self, x, **kwargs):
            return self.spy(x)

    return Spied()


def test_predict_of_a_call_without_training_leaves_its_layers_training_none(keras):
    """Keras's predict_step calls ``self(x)`` when ``call`` takes no ``training``: a layer
    inside whose call defaults to ``training=None`` gets None there (keras.io's GCViT, whose
    DropPath tests ``not training``), as in fit and evaluate."""
    found = []
    for lib in (ac, keras):
        seen: list = []
        model = _spied_model(lib, seen)
        model(np.zeros((1, 2), np.float32))
        seen.clear()
        model.predict(np.zeros((2, 2), np.float32), verbose=0)
        found.append(set(seen))
    assert found[0] == found[1] == {None}


def test_a_call_with_training_trains_its_layers_in_training_mode():
    model = _normalized_model(ac, takes_training=True)
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(4).normal(size=(8, 3)).astype("float32")
    moving_mean = np.asarray(model.norm.moving_mean).copy()
    model.fit(x, np.zeros((8, 1), np.float32), batch_size=8, epochs=1, verbose=0)
    assert not np.array_equal(np.asarray(model.norm.moving_mean), moving_mean)


def test_fit_runs_no_predict_step_of_the_users():
    """A subclassed model is run once on its first batch to show its outputs: through its
    call, as Keras's symbolic build, not through a ``predict_step`` of the user's, which only
    ``predict`` runs (once a batch)."""
    steps = []

    class Counted(ac.Model):
        def __init__(self):
            super().__init__()
            self.dense = ac.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def predict_step(self, data):
            steps.append(len(data))
            return self(data)

    model = Counted()
    model.compile("sgd", "mse")
    x = np.ones((6, 3), np.float32)
    model.fit(x, np.ones((6, 1), np.float32), batch_size=4, verbose=0)
    model.evaluate(x, np.ones((6, 1), np.float32), verbose=0)
    assert steps == []
    assert model.predict(x, batch_size=4, verbose=0).shape == (6, 1)
    assert steps == [4, 2]


def _data_kinds(data: Any) -> Any:
    """The types a step was given: a tuple's items' names, or "bare" for data not in a tuple."""
    return tuple(type(d).__name__ for d in data) if isinstance(data, tuple) else "bare"


def _steps_data(lib: Any) -> list[Any]:
    """What a model's own steps are given by the ``*_on_batch`` calls, then by ``fit(x)``."""
    seen = []

    class Steps(lib.Model):
        def __init__(self):
            super().__init__()
            self.dense = lib.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            seen.append(_data_kinds(data))
            return {}

        def test_step(self, data):
            seen.append(_data_kinds(data))
            return {}

        def predict_step(self, data):
            seen.append(_data_kinds(data))
            return self(data[0])

    model = Steps()
    model.compile("sgd")
    x, y = np.ones((2, 3), np.float32), np.ones((2, 1), np.float32)
    model(x)
    model.train_on_batch(x)
    model.train_on_batch(x, y)
    model.train_on_batch(x, y, sample_weight=np.ones(2, np.float32))
    model.test_on_batch(x, y)
    assert model.predict_on_batch(x).shape == (2, 1)
    model.fit(x, verbose=0)
    return seen


@pytest.mark.parametrize("lib_name", ["autoconv", "keras"])
def test_the_on_batch_calls_give_a_users_step_kerass_packed_data(keras, lib_name):
    """``train_on_batch`` and ``test_on_batch`` hand a user's step ``(x, y, sample_weight)``,
    Nones included, and ``predict_on_batch`` hands ``predict_step`` ``(x,)``, as Keras's do
    (``fit`` gives ``x`` alone when there are no targets)."""
    lib, a = (ac, "Tensor") if lib_name == "autoconv" else (keras, "ndarray")  # (Keras's torch
    # backend leaves these NumPy's)
    assert _steps_data(lib) == [
        (a, "NoneType", "NoneType"), (a, a, "NoneType"), (a, a, a), (a, a, "NoneType"), (a,),
        "bare",
    ]  # fmt: skip
