"""Keras's ``compile_metrics`` container (keras/src/trainers/compile_utils.py's
``CompileMetrics``) against real Keras 3.15 on PyTorch: ``model.metrics`` and
``metrics_names`` (``["loss", "compile_metrics", ...]``), the container's name, metrics,
``update_state`` (unweighted), ``result`` (a dict, ``out_mae`` for an output), ``reset_state``
and ``variables``; the logs of fit and evaluate (keys, order and values), evaluate's list order,
the progress line, and the guide's custom ``train_step`` that walks ``self.metrics``."""

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
}


def compiled(lib: Any, case: str) -> Any:
    make, loss, metrics, _ = CASES[case]
    model = make(lib)
    model.compile(lib.optimizers.SGD(0.1), loss, metrics=metrics)
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
    if CASES[case][2] is not None:
        our_box, their_box = ours.metrics[1], theirs.metrics[1]
        assert our_box.name == their_box.name == "compile_metrics"
        assert isinstance(our_box, ac.metrics.Metric)
        assert [m.name for m in our_box.metrics] == [m.name for m in their_box.metrics]
        assert len(our_box.variables) == len(their_box.variables)
        _assert_logs_equal(_numbers(our_box.result()), _numbers(their_box.result()))


@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_and_evaluate_log_as_keras(keras, case):
    """The history's keys (in order) and values, evaluate's list (Keras's order) and dict,
    and test_on_batch's list."""
    y = CASES[case][3]()
    runs = []
    for lib in (ac, keras):
        model = compiled(lib, case)
        history = model.fit(X, y, batch_size=10, epochs=2, shuffle=False, verbose=0,
                            validation_data=(X, y)).history  # fmt: skip
        runs.append((
            {name: [float(v) for v in values] for name, values in history.items()},
            _numbers(model.evaluate(X, y, batch_size=10, verbose=0)),
            _numbers(model.evaluate(X, y, batch_size=10, verbose=0, return_dict=True)),
            _numbers(model.test_on_batch(X, y)),
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


@pytest.mark.parametrize("case", ["single", "two_outputs", "repeated"])
def test_the_container_updates_resets_and_reads_as_kerass(keras, case):
    """update_state (the sample weights not applied), result and reset_state called by hand
    on the container of a fitted model."""
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
    assert ours[1] == ours[2]  # unweighted


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
