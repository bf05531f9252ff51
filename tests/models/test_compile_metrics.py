"""Keras's ``compile_metrics`` container (keras/src/trainers/compile_utils.py's
``CompileMetrics``) against real Keras 3.15 on PyTorch: ``model.metrics`` and
``metrics_names`` (``["loss", "compile_metrics", ...]``), the container's name, metrics,
``update_state`` (``metrics`` unweighted, ``weighted_metrics`` weighed), ``result`` (a dict,
``out_mae`` for an output, ``weighted_mae`` for a name taken), ``reset_state`` and
``variables``; the logs of fit and evaluate (keys, order and values, with sample and class
weights), evaluate's list order, the progress line, the guide's custom ``train_step`` that walks
``self.metrics``, a flat list of one entry per output, compiling again, and the optimizer built
by evaluate, test_on_batch and load_model."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import autoconv as ac

RNG = np.random.default_rng(0)
X = RNG.random((40, 6)).astype("float32")
Y = RNG.random((40, 1)).astype("float32")
Y2 = RNG.random((40, 2)).astype("float32")
SW = RNG.random(40).astype("float32")


def _weighted(model: Any) -> Any:
    model.set_weights([np.cos(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.1
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def single(lib: Any, cls: Any = None) -> Any:
    inputs = lib.Input((6,))
    return _weighted((cls or lib.Model)(inputs, lib.layers.Dense(1, name="out")(inputs)))


def two_outputs(lib: Any) -> Any:
    inputs = lib.Input((6,))
    out = lib.layers.Dense(1, name="out")(inputs)
    return _weighted(lib.Model(inputs, [out, lib.layers.Dense(2, name="aux")(inputs)]))


# (model, loss, metrics, y) of each case
CASES = {
    "single": (single, "mse", ["mse", "mae"], lambda: Y),
    "no_metrics": (single, "mse", None, lambda: Y),
    "empty_metrics": (single, "mse", [], lambda: Y),
    "repeated": (single, "mse", ["mae", "mae", "mean_absolute_error"], lambda: Y),
    "two_outputs": (two_outputs, ["mse", "mse"], [["mse", "mae"], ["mae"]], lambda: [Y, Y2]),
    "by_name": (two_outputs, ["mse", "mse"], {"aux": ["mae", "mse"]}, lambda: [Y, Y2]),
    "one_entry_per_output": (two_outputs, "mse", ["mae", ["mse", "mae"]], lambda: [Y, Y2]),
    "weighted": (single, "mse", ["mae"], lambda: Y),
    "weighted_only": (single, "mse", None, lambda: Y),
    "weighted_two_outputs": (two_outputs, ["mse", "mse"], ["mae", None], lambda: [Y, Y2]),
}
# each case's weighted_metrics (None where it has none)
WEIGHTED = {
    "weighted": ["mae", "mse", "mae"],
    "weighted_only": ["mae"],
    "weighted_two_outputs": {"aux": ["mae"], "out": "mae"},
}


def compiled(lib: Any, case: str) -> Any:
    make, loss, metrics, _ = CASES[case]
    model = make(lib)
    model.compile(
        lib.optimizers.SGD(0.1), loss, metrics=metrics, weighted_metrics=WEIGHTED.get(case)
    )
    return model


def _numbers(logs: Any) -> Any:
    if isinstance(logs, dict):
        return {name: float(value) for name, value in logs.items()}
    return [float(v) for v in logs] if isinstance(logs, list) else float(logs)


def _assert_logs_equal(ours: Any, theirs: Any) -> None:
    """The same keys in the same order (or a list of the same length) and close values."""
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        ours, theirs = list(ours.values()), list(theirs.values())
    np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_metrics_and_names_are_kerass(keras, case):
    """``model.metrics`` after compile and after fit: the loss tracker, the container (for
    any ``metrics`` given), the per-output loss trackers once the losses are made."""
    ours, theirs = compiled(ac, case), compiled(keras, case)
    assert ours.metrics_names == theirs.metrics_names
    y = CASES[case][3]()
    for model in (ours, theirs):
        model.fit(X, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    assert ours.metrics_names == theirs.metrics_names
    assert [type(m).__name__ for m in ours.metrics] == [type(m).__name__ for m in theirs.metrics]
    if CASES[case][2] is not None or case in WEIGHTED:
        our_box, their_box = ours.metrics[1], theirs.metrics[1]
        assert our_box.name == their_box.name == "compile_metrics"
        assert isinstance(our_box, ac.metrics.Metric)
        assert [m.name for m in our_box.metrics] == [m.name for m in their_box.metrics]
        assert [v.name for v in our_box.variables] == [v.name for v in their_box.variables]
        _assert_logs_equal(_numbers(our_box.result()), _numbers(their_box.result()))


@pytest.mark.parametrize("weights", [None, SW], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_and_evaluate_log_as_keras(keras, case, weights):
    """The history's keys (in order) and values, evaluate's list (Keras's order) and dict,
    and test_on_batch's list, without and with sample weights (which weigh the loss and the
    weighted metrics only)."""
    y = CASES[case][3]()
    runs = []
    for lib in (ac, keras):
        model = compiled(lib, case)
        history = model.fit(X, y, batch_size=10, epochs=2, shuffle=False, verbose=0,
                            sample_weight=weights,
                            validation_data=(X, y, weights)).history  # fmt: skip
        runs.append((
            {name: [float(v) for v in values] for name, values in history.items()},
            _numbers(model.evaluate(X, y, batch_size=10, verbose=0, sample_weight=weights)),
            _numbers(model.evaluate(X, y, batch_size=10, verbose=0, return_dict=True)),
            _numbers(model.test_on_batch(X, y, sample_weight=weights)),
        ))  # fmt: skip
    (our_history, *ours), (their_history, *theirs) = runs
    assert list(our_history) == list(their_history)
    for name, values in their_history.items():
        np.testing.assert_allclose(our_history[name], values, rtol=2e-5, err_msg=name)
    for mine, keras_logs in zip(ours, theirs, strict=True):
        _assert_logs_equal(mine, keras_logs)


def _guide_class(lib: Any, no_grad: Any, weighted: bool) -> type:
    """The guide's CustomModel (keras.io, custom_train_step_in_torch): a train_step that
    updates every metric of ``self.metrics`` (with the batch's sample weights if
    ``weighted``, as the guide's second version) and returns their results."""

    class CustomModel(lib.Model):
        def train_step(self, data: Any) -> dict[str, Any]:
            x, y, *rest = data
            sample_weight = rest[0] if rest and weighted else None
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
            loss.backward()
            trainable_weights = list(self.trainable_weights)
            gradients = [v.value.grad for v in trainable_weights]
            with no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred, sample_weight=sample_weight)
            return {m.name: m.result() for m in self.metrics}

    return CustomModel


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "sample_weight"])
def test_the_guides_train_step_over_self_metrics_is_kerass(keras, capsys, weighted):
    """Its history (the compiled metrics unweighted even when the step passes the sample
    weights on, as Keras's), the order of its keys and of the progress line, and the names."""
    import torch

    runs = []
    for lib, no_grad in ((ac, ac.no_grad), (keras, torch.no_grad)):
        model = single(lib, _guide_class(lib, no_grad, weighted))
        model.compile(lib.optimizers.Adam(0.01), "mse", metrics=["mae"])
        capsys.readouterr()
        history = model.fit(X, Y, sample_weight=SW if weighted else None, batch_size=10,
                            epochs=2, shuffle=False, verbose=2).history  # fmt: skip
        line = capsys.readouterr().out.splitlines()[1]
        runs.append((history, re.findall(r"(\w+): [\d.]+", line), model.metrics_names))
    (ours, our_line, our_names), (theirs, their_line, their_names) = runs
    assert list(ours) == list(theirs) == ["mae", "loss"]
    for name, values in theirs.items():
        np.testing.assert_allclose(ours[name], values, rtol=2e-5, err_msg=name)
    assert our_line == their_line == ["mae", "loss"]
    assert our_names == their_names == ["loss", "compile_metrics"]


def _batch(lib: Any, case: str) -> tuple[Any, Any, Any]:
    """(y_true, y_pred, sample_weight) as tensors of ``lib``, one per output."""
    tensor = lib.ops.convert_to_tensor
    y = CASES[case][3]()
    ys = y if isinstance(y, list) else [y]
    y_true = [tensor(a) for a in ys]
    y_pred = [tensor(a * 0.5 + 0.1) for a in ys]
    if len(ys) == 1:
        return y_true[0], y_pred[0], tensor(SW)
    return y_true, y_pred, tensor(SW)


@pytest.mark.parametrize("case", ["single", "two_outputs", "repeated", "weighted"])
def test_the_container_updates_resets_and_reads_as_kerass(keras, case):
    """update_state (the sample weights applied to the weighted metrics only), result and
    reset_state called by hand on the container of a fitted model."""
    results = []
    for lib in (ac, keras):
        model = compiled(lib, case)
        model.fit(X, CASES[case][3](), batch_size=10, epochs=1, shuffle=False, verbose=0)
        box = model.metrics[1]
        box.reset_state()
        zeros = _numbers(box.result())
        y_true, y_pred, weights = _batch(lib, case)
        box.update_state(y_true, y_pred)
        once = _numbers(box.result())
        box.update_state(y_true, y_pred, sample_weight=weights)
        results.append((zeros, once, _numbers(box.result())))
    ours, theirs = results
    assert all(value == 0.0 for value in ours[0].values())
    for mine, keras_logs in zip(ours, theirs, strict=True):
        _assert_logs_equal(mine, keras_logs)
    unweighted = ["mae"] if case == "weighted" else list(ours[1])
    assert all(ours[1][name] == ours[2][name] for name in unweighted)
    if case == "weighted":  # (the weighted ones moved: the weights are not all equal)
        assert ours[1]["weighted_mae"] != ours[2]["weighted_mae"]


def test_an_unbuilt_container_is_empty_and_has_no_result(keras):
    """Before any data: no metrics or variables, and Keras's error for its result (and so
    for the model's get_metrics_result)."""
    for lib in (ac, keras):
        model = compiled(lib, "single")
        box = model.metrics[1]
        assert (box.metrics, box.variables) == ([], [])
        message = "Cannot get result() since the metric has not yet been built."
        with pytest.raises(ValueError, match=re.escape(message)):
            box.result()
        with pytest.raises(ValueError, match=re.escape(message)):
            model.get_metrics_result()


def test_a_container_used_before_any_fit_builds_itself(keras):
    """update_state on a fresh model's container makes the metrics for the batch given, as
    Keras's (here 'accuracy' becomes binary accuracy for one unit)."""
    tensor_of = {ac: ac.ops.convert_to_tensor, keras: keras.ops.convert_to_tensor}
    results = []
    for lib in (ac, keras):
        model = single(lib)
        model.compile("sgd", "mse", metrics=["accuracy"])
        box = model.metrics[1]
        box.update_state(tensor_of[lib](np.round(Y)), tensor_of[lib](Y))
        results.append((type(box.metrics[0]).__name__, _numbers(box.result())))
    assert results[0][0] == results[1][0] == "BinaryAccuracy"
    _assert_logs_equal(results[0][1], results[1][1])


def test_compiled_metrics_and_compiled_loss_are_absent_as_in_kerass_torch_backend(keras):
    """Keras's PyTorch backend has neither (only its TensorFlow trainer keeps them,
    deprecated)."""
    for lib in (ac, keras):
        model = compiled(lib, "single")
        assert not hasattr(model, "compiled_metrics")
        assert not hasattr(model, "compiled_loss")


def classifier(lib: Any) -> Any:
    inputs = lib.Input((6,))
    return _weighted(lib.Model(inputs, lib.layers.Dense(3, activation="softmax")(inputs)))


def test_class_weight_weighs_the_weighted_metrics_as_kerass(keras):
    """fit's ``class_weight`` becomes the sample weights the weighted accuracy (and the loss)
    take, and not the plain accuracy: Keras's history, key for key."""
    labels = (np.arange(40) % 3).astype("int32")
    histories = []
    for lib in (ac, keras):
        model = classifier(lib)
        model.compile(lib.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                      metrics=["accuracy"], weighted_metrics=["accuracy"])  # fmt: skip
        history = model.fit(X, labels, batch_size=10, epochs=3, shuffle=False, verbose=0,
                            class_weight={0: 1.0, 1: 3.0, 2: 0.25}).history  # fmt: skip
        histories.append(history)
    ours, theirs = histories
    assert list(ours) == list(theirs) == ["accuracy", "loss", "weighted_accuracy"]
    for name, values in theirs.items():
        np.testing.assert_allclose(ours[name], values, rtol=2e-5, err_msg=name)


@pytest.mark.parametrize("argument", ["metrics", "weighted_metrics"])
@pytest.mark.parametrize("given", [["mae"], ["mae", "mse", "mae"], "mae"])
def test_a_list_that_is_not_one_entry_per_output_is_refused(keras, argument, given):
    """Two outputs and a list of another length: refused at the first batch, as Keras's (a
    model so compiled still saves and loads), naming the argument; no list at all: refused
    at compile, as Keras's."""
    for lib in (ac, keras):
        model = two_outputs(lib)
        with pytest.raises(ValueError, match=argument):
            model.compile("sgd", "mse", **{argument: given})
            model.fit(X, [Y, Y2], batch_size=10, verbose=0)
        if isinstance(given, list) and lib is ac:
            assert model.compiled


def test_compiling_again_without_metrics_keeps_them_and_their_state(keras):
    """Compiled again with only a new optimizer (as the transfer learning guide does), the
    model keeps its container, its metrics and their values, as Keras's."""
    for lib in (ac, keras):
        model = compiled(lib, "weighted")
        model.fit(X, Y, batch_size=10, epochs=1, shuffle=False, verbose=0, sample_weight=SW)
        box, inner = model.metrics[1], list(model.metrics[1].metrics)
        before = _numbers(box.result())
        model.compile(lib.optimizers.Adam(1e-3))
        assert model.metrics[1] is box
        assert all(a is b for a, b in zip(box.metrics, inner, strict=True))
        assert _numbers(box.result()) == before
        logs = model.fit(X, Y, batch_size=10, epochs=1, verbose=0, sample_weight=SW).history
        assert list(logs) == ["loss", "mae", "mse", "weighted_mae", "weighted_mae_1"]


def _optimizer_variables(model: Any) -> list[tuple[str, tuple[int, ...]]]:
    return [(v.name, tuple(v.shape)) for v in model.optimizer.variables]


class _OwnStep:
    """A train_step of one's own that never uses ``self.optimizer`` (a GAN's, with an
    optimizer of its own for each network)."""

    def train_step(self, data):
        return {"steps": 1.0}


@pytest.mark.parametrize("call", ["evaluate", "test_on_batch", "load_model", "fit_own_step"])
def test_the_optimizer_is_built_as_keras_builds_it(keras, tmp_path, call):
    """evaluate, test_on_batch, a loaded compiled model and fit (even with a train_step that
    never uses the optimizer, as keras.io's GANs) build the optimizer for the trainable
    weights before any training step, as Keras's: its variables (names, shapes)."""
    found = []
    for lib in (ac, keras):
        own = type("Own", (_OwnStep, lib.Model), {}) if call == "fit_own_step" else None
        model = single(lib, own)
        model.compile(lib.optimizers.Adam(1e-3), "mse", metrics=["mae"])
        if call == "fit_own_step":
            model.fit(X, Y, batch_size=10, epochs=1, verbose=0)
        elif call == "evaluate":
            model.evaluate(X, Y, batch_size=10, verbose=0)
        elif call == "test_on_batch":
            model.test_on_batch(X, Y)
        else:
            path = tmp_path / f"{lib.__name__}.keras"
            model.save(path)
            model = lib.saving.load_model(path)
        found.append(_optimizer_variables(model))
    assert len(found[0]) == 2 + 2 * 2  # iteration, learning rate, then m and v of 2 weights
    assert found[0] == found[1]
