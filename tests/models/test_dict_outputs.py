"""Functional models whose outputs are a dict, as Keras 3's (``Model(inputs, {"aa": a, "bb":
b})``), against real Keras 3.15 on its PyTorch backend, the same weights in both: the outputs
flattened by sorted key (``outputs``, ``output_names``, ``output_shape``), dicts out of a call,
``predict`` and ``predict_on_batch``, compile's losses, loss weights and metrics and the targets
matched by the dict's keys (and the logs named by them), ``summary``, the config and ``.keras``
files both ways, ``clone_model``, a nested model's dict of symbolic tensors, and the errors for
keys that are not the outputs'."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac

X = np.linspace(-1, 1, 48, dtype="float32").reshape(12, 4)
Y = {"aa": np.cos(X[:, :1] * 3), "bb": np.sin(X[:, 1:3] * 2)}


def _model(lib: Any, keys: tuple[str, str] = ("bb", "aa"), cls: Any = None) -> Any:
    """One input, two Dense heads given in a dict (the first key to ``a``, the second to
    ``b``): with ("bb", "aa") the flattened order, by sorted key, is b's then a's. ``cls``: a
    Model subclass to make it with."""
    layers = lib.layers
    inputs = lib.Input((4,), name="x")
    hidden = layers.Dense(5, activation="tanh", name="hidden")(inputs)
    a = layers.Dense(2, name="a")(hidden)
    b = layers.Dense(1, name="b")(hidden)
    return (cls or lib.Model)(inputs, {keys[0]: a, keys[1]: b}, name="heads")


def _same_weights(ours: Any, theirs: Any) -> None:
    """Both models' layers (by name, nested models' too) set to the same weights."""
    for layer in theirs.layers:
        if hasattr(layer, "layers"):
            _same_weights(ours.get_layer(layer.name), layer)
            continue
        weights = [
            np.cos(np.arange(w.size) * 0.37 + i).reshape(tuple(w.shape)) * 0.4
            for i, w in enumerate(layer.get_weights())
        ]
        layer.set_weights(weights)
        ours.get_layer(layer.name).set_weights(weights)


def _pair(keras: Any, keys: tuple[str, str] = ("bb", "aa")) -> tuple[Any, Any]:
    keras.backend.clear_session()
    ours, theirs = _model(ac, keys), _model(keras, keys)
    _same_weights(ours, theirs)
    return ours, theirs


def _close(ours: Any, theirs: Any) -> None:
    """The same structure (dict keys in the same order, list lengths) and values."""
    assert type(ours) is type(theirs)
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        for key in theirs:
            _close(ours[key], theirs[key])
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs)
        for mine, their in zip(ours, theirs, strict=True):
            _close(mine, their)
    else:
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol=1e-5)


def _numpy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _numpy(v) for k, v in value.items()}
    if hasattr(value, "detach"):  # a Tensor of either library
        value = value.detach()
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


@pytest.mark.parametrize("keys", [("bb", "aa"), ("aa", "bb")])
def test_the_outputs_are_flattened_by_sorted_key_as_kerass(keras, keys):
    ours, theirs = _pair(keras, keys)
    assert ours.output_names == theirs.output_names
    assert ours.output_shape == theirs.output_shape
    assert [t.shape for t in ours.outputs] == [tuple(t.shape) for t in theirs.outputs]
    assert sorted(ours.output) == sorted(theirs.output)


@pytest.mark.parametrize(
    "run",
    [
        lambda m: m.predict(X, verbose=0),
        lambda m: m.predict(X, batch_size=5, verbose=0),
        lambda m: m.predict_on_batch(X),
        lambda m: _numpy(m(X)),
    ],
    ids=["predict", "predict_batches", "predict_on_batch", "call"],
)
def test_outputs_leave_the_model_as_a_dict_by_key(keras, run):
    ours, theirs = _pair(keras)
    predicted = run(ours)
    assert list(predicted) == ["aa", "bb"]
    _close(_numpy(predicted), _numpy(run(theirs)))


def test_a_single_entry_dict_stays_a_dict(keras):
    keras.backend.clear_session()
    models = []
    for lib in (ac, keras):
        inputs = lib.Input((4,), name="x")
        models.append(lib.Model(inputs, {"only": lib.layers.Dense(2, name="a")(inputs)}))
    _same_weights(*models)
    ours, theirs = models
    assert ours.output_names == theirs.output_names == ["a"]
    assert ours.output_shape == theirs.output_shape == (None, 2)
    _close(ours.predict(X, verbose=0), theirs.predict(X, verbose=0))
    assert ours.get_config()["output_layers"] == theirs.get_config()["output_layers"]
    for model in models:
        model.compile(optimizer="sgd", loss={"only": "mse"}, metrics={"only": ["mae"]})
    histories = [m.fit(X, {"only": Y["bb"]}, epochs=2, verbose=0).history for m in models]
    _close(histories[0], histories[1])
    assert sorted(histories[0]) == ["loss", "mae"]


COMPILES = {
    "dicts": {
        "loss": {"aa": "mse", "bb": "mae"},
        "loss_weights": {"aa": 1.0, "bb": 0.2},
        "metrics": {"aa": "mae"},
    },
    "lists": {"loss": ["mse", "mae"], "loss_weights": [1.0, 0.2], "metrics": [["mae"], []]},
    "one_loss": {"loss": "mse", "metrics": {"bb": ["mae", "mse"]}},
    "weighted": {"loss": "mse", "metrics": ["mae", None], "weighted_metrics": {"bb": "mae"}},
}
TARGETS = {"dict": Y, "list": [Y["aa"], Y["bb"]]}
FIT = {"batch_size": 4, "validation_split": 0.25, "shuffle": False}
QUIET = {"shuffle": False, "verbose": 0}


@pytest.mark.parametrize("targets", TARGETS)
@pytest.mark.parametrize("compiled", COMPILES)
def test_fit_and_evaluate_match_by_key_as_kerass(keras, compiled, targets):
    """Compile's per-output arguments and the targets (a dict by key, or a list in the
    flattened order) go to the outputs by the dict's keys, and the logs are named by them."""
    models = _pair(keras)
    histories, evaluations = [], []
    for model in models:
        model.compile(optimizer="sgd", **COMPILES[compiled])
        fitted = model.fit(X, TARGETS[targets], epochs=2, verbose=0, **FIT)
        histories.append(fitted.history)
        evaluations.append(model.evaluate(X, TARGETS[targets], batch_size=5, verbose=0))
        evaluations.append(model.evaluate(X, Y, verbose=0, return_dict=True))
    _close(histories[0], histories[1])
    _close(evaluations[:2], evaluations[2:])
    assert "val_aa_loss" in histories[0] and "val_bb_loss" in histories[0]


@pytest.mark.parametrize("steps", [1, 2])
def test_on_batch_and_steps_per_execution_as_kerass(keras, steps):
    """The batch steps as Keras's; steps_per_execution (which Keras's PyTorch backend does not
    take: its results are its one-step ones) changes nothing."""
    models = _pair(keras)
    results = []
    for model in models:
        per_execution = steps if model is models[0] else 1
        model.compile(
            optimizer="sgd",
            loss={"aa": "mse", "bb": "mse"},
            metrics={"bb": "mae"},
            steps_per_execution=per_execution,
        )
        results.append(model.train_on_batch(X, Y, return_dict=True))
        results.append(model.test_on_batch(X, [Y["aa"], Y["bb"]]))
        results.append(model.fit(X, Y, batch_size=3, epochs=2, **QUIET).history)
        results.append(model.evaluate(X, Y, batch_size=5, verbose=0))
        results.append(model.predict(X, batch_size=3, verbose=0))
    assert sorted(results[0]) == ["aa_loss", "bb_loss", "bb_mae", "loss"]
    _close(results[:5], results[5:])


def test_a_callback_monitors_an_outputs_loss_by_key(keras):
    models = _pair(keras)
    stopped = []
    for lib, model in zip((ac, keras), models, strict=True):
        model.compile(optimizer=lib.optimizers.SGD(0.5), loss={"aa": "mse", "bb": "mse"})
        stop = lib.callbacks.EarlyStopping(monitor="val_aa_loss", patience=0, mode="min")
        validation = (X[:4], {key: y[:4] for key, y in Y.items()})
        fitted = model.fit(X, Y, epochs=20, validation_data=validation, callbacks=[stop], **QUIET)
        history = fitted.history
        stopped.append(history["val_aa_loss"])
    assert len(stopped[0]) < 20  # the monitored loss was there to stop on
    _close(stopped[0], stopped[1])


class _OwnStep(ac.Model):
    """Keras's train_step, run as a step of the user's: y and y_pred are dicts by key."""

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        if sorted(y) != ["aa", "bb"] or sorted(self(x)) != ["aa", "bb"]:
            raise AssertionError(f"the step's y and y_pred are not dicts by key: {y}")
        return super().train_step(data)


def test_a_train_step_of_ones_own_computes_the_loss_and_metrics_by_key():
    plain, own = _model(ac), _model(ac, cls=_OwnStep)
    own.set_weights(plain.get_weights())
    histories = []
    for model in (plain, own):
        model.compile(optimizer="sgd", loss={"aa": "mse", "bb": "mae"}, metrics={"aa": "mae"})
        histories.append(model.fit(X, Y, batch_size=4, epochs=2, **QUIET).history)
    for name in ("loss", "aa_mae"):
        np.testing.assert_allclose(histories[1][name], histories[0][name], rtol=1e-5)


def _summary(model: Any) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda text, **_: lines.append(text))
    return "\n".join(lines)


def test_summary_and_config_are_kerass(keras):
    ours, theirs = _pair(keras)
    assert _summary(ours).strip() == _summary(theirs).strip()
    config, their_config = ours.get_config(), theirs.get_config()
    assert (
        config["output_layers"]
        == their_config["output_layers"]
        == {"aa": ["b", 0, 0], "bb": ["a", 0, 0]}
    )
    assert [e["name"] for e in config["layers"]] == [e["name"] for e in their_config["layers"]]


def test_keras_files_both_ways(keras, tmp_path):
    """A file of autoconv's read by Keras and one of Keras's read by autoconv give the same
    predictions, dicts by key, and compiled by key."""
    ours, theirs = _pair(keras)
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss={"aa": "mse", "bb": "mae"}, metrics={"aa": "mae"})
        model.fit(X, Y, epochs=1, verbose=0)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    read_by_keras = keras.saving.load_model(tmp_path / "ours.keras")
    read_by_us = ac.saving.load_model(tmp_path / "theirs.keras")
    _close(read_by_keras.predict(X, verbose=0), ours.predict(X, verbose=0))
    _close(read_by_us.predict(X, verbose=0), theirs.predict(X, verbose=0))
    _close(
        read_by_us.evaluate(X, Y, verbose=0, return_dict=True),
        theirs.evaluate(X, Y, verbose=0, return_dict=True),
    )
    back = ac.saving.load_model(tmp_path / "ours.keras")
    _close(back.evaluate(X, Y, verbose=0), ours.evaluate(X, Y, verbose=0))


def test_a_clone_keeps_the_dict(keras):
    ours, theirs = _pair(keras)
    clone = ac.models.clone_model(ours)
    their_clone = keras.models.clone_model(theirs)
    clone.set_weights(ours.get_weights())
    their_clone.set_weights(theirs.get_weights())
    assert clone.output_names == their_clone.output_names
    _close(clone.predict(X, verbose=0), their_clone.predict(X, verbose=0))


def _outer(lib: Any, inner: Any) -> tuple[Any, Any]:
    """``inner`` called inside other models: its dict's entries read by a layer each, and
    its dict as the outer model's outputs."""
    inputs = lib.Input((4,), name="outer_x")
    made = inner(inputs)
    mixed = lib.layers.Add(name="mix")([made["bb"], lib.layers.Dense(2, name="up")(made["aa"])])
    return lib.Model(inputs, mixed, name="outer"), lib.Model(inputs, made, name="passing")


def test_a_nested_model_gives_a_dict_of_symbolic_tensors(keras, tmp_path):
    ours, theirs = _pair(keras)
    (mixing, passing), (their_mixing, their_passing) = _outer(ac, ours), _outer(keras, theirs)
    _same_weights(mixing, their_mixing)
    _close(mixing.predict(X, verbose=0), their_mixing.predict(X, verbose=0))
    assert _summary(mixing).strip() == _summary(their_mixing).strip()
    assert passing.output_names == their_passing.output_names
    assert passing.get_config()["output_layers"] == their_passing.get_config()["output_layers"]
    _close(passing.predict(X, verbose=0), their_passing.predict(X, verbose=0))
    their_mixing.save(tmp_path / "theirs.keras")
    mixing.save(tmp_path / "ours.keras")
    expected = mixing.predict(X, verbose=0)
    _close(ac.saving.load_model(tmp_path / "theirs.keras").predict(X, verbose=0), expected)
    _close(keras.saving.load_model(tmp_path / "ours.keras").predict(X, verbose=0), expected)
    _close(
        ac.models.clone_model(passing, clone_function=lambda layer: layer).predict(X, verbose=0),
        passing.predict(X, verbose=0),
    )


def test_the_guides_model_of_several_inputs_and_outputs(keras):
    """Keras's functional API guide: inputs and outputs given as dicts, a loss and a loss
    weight for each output by key."""
    keras.backend.clear_session()
    models = []
    for lib in (ac, keras):
        layers = lib.layers
        title, body = lib.Input((6,), name="title"), lib.Input((5,), name="body")
        tags = lib.Input((3,), name="tags")
        x = layers.concatenate([title, body, tags], name="joined")
        priority = layers.Dense(1, name="priority")(x)
        department = layers.Dense(4, activation="softmax", name="department")(x)
        model = lib.Model([title, body, tags], {"priority": priority, "department": department})
        models.append(model)
    _same_weights(*models)
    rng = np.random.default_rng(0)
    x = {"title": rng.random((8, 6)), "body": rng.random((8, 5)), "tags": rng.random((8, 3))}
    y = {"priority": rng.random((8, 1)), "department": np.eye(4)[rng.integers(0, 4, 8)]}
    histories = []
    for model in models:
        model.compile(
            optimizer="rmsprop",
            loss={"priority": "mse", "department": "categorical_crossentropy"},
            loss_weights={"priority": 1.0, "department": 0.2},
        )
        histories.append(model.fit(x, y, epochs=2, batch_size=4, **QUIET).history)
    _close(histories[0], histories[1])
    assert sorted(histories[0]) == ["department_loss", "loss", "priority_loss"]


@pytest.mark.parametrize(
    ("compiled", "y", "message"),
    [
        ({"loss": {"aa": "mse", "zz": "mse"}}, Y, r"loss names outputs \['zz'\]"),
        ({"loss": "mse", "loss_weights": {"b": 1.0}}, Y, r"loss_weights names outputs \['b'\]"),
        ({"loss": "mse", "metrics": {"a": "mae"}}, Y, r"metrics names outputs \['a'\]"),
        ({"loss": "mse"}, {"aa": Y["aa"]}, r"y has no targets for the outputs \['bb'\]"),
        ({"loss": "mse"}, {**Y, "cc": Y["aa"]}, r"y names outputs \['cc'\]"),
    ],
)
def test_keys_that_are_not_the_outputs_are_one_clear_error_before_any_work(compiled, y, message):
    """Keys the outputs were not given by (the output layers' names among them) fail at
    ``compile`` or before ``fit`` changes anything."""
    model = _model(ac)
    before = model.get_weights()
    with pytest.raises(ValueError, match=message):
        model.compile(optimizer="sgd", **compiled)
        model.fit(X, y, epochs=1, verbose=0)
    for weight, was in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(weight, was)
