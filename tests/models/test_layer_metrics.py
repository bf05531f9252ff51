"""Metrics held by a model's layers (Keras's "endpoint layer" pattern: ``self.tracker =
metrics.Mean(...)`` updated in ``call``): in ``model.metrics`` after the compiled ones, in
``fit``'s history, in ``evaluate``'s list and dict, reset at each epoch's start; against Keras,
and on the CUDA simulator's replayed steps against the CPU."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac

X = np.linspace(-1, 2, 24, dtype=np.float32).reshape(8, 3)
Y = np.linspace(0, 1, 8, dtype=np.float32).reshape(8, 1)


def metric_layers(lib):
    """(a layer updating a Mean of its inputs, one holding a Sum and that layer) of ``lib``."""

    class Tracking(lib.layers.Layer):
        def __init__(self, metric_name, **kwargs):
            super().__init__(**kwargs)
            self.tracker = lib.metrics.Mean(name=metric_name)

        def call(self, x):
            self.tracker.update_state(x)
            return x

    class Outer(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = Tracking("inner_mean")
            self.total = lib.metrics.Sum(name="outer_sum")

        def call(self, x):
            self.total.update_state(x)
            return self.inner(x) * 0.5

    return Tracking, Outer


def one_layer(lib):
    tracking, _ = metric_layers(lib)
    inputs = lib.Input((3,))
    return lib.Model(
        inputs, lib.layers.Dense(1, kernel_initializer="ones")(tracking("my_mean")(inputs))
    )


def nested(lib):
    """A metric two levels down: Keras lists it twice (its layer's and its parent's)."""
    tracking, outer = metric_layers(lib)
    inputs = lib.Input((3,))
    hidden = lib.layers.Dense(2, kernel_initializer="ones")(tracking("first")(inputs))
    return lib.Model(inputs, lib.layers.Dense(1, kernel_initializer="ones")(outer()(hidden)))


def subclassed(lib):
    tracking, _ = metric_layers(lib)

    class Subclassed(lib.Model):
        def __init__(self):
            super().__init__()
            self.tracking = tracking("my_mean")
            self.dense = lib.layers.Dense(1, kernel_initializer="ones")

        def call(self, x):
            return self.dense(self.tracking(x))

    return Subclassed()


CASES = {"one_layer": (one_layer, []), "nested": (nested, ["mae"]), "subclassed": (subclassed, [])}


def trained(lib, case):
    make, compiled = CASES[case]
    lib.backend.clear_session()
    model = make(lib)
    model.compile(lib.optimizers.SGD(0.01), "mse", metrics=compiled)
    history = model.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    return model, history.history


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_layers_metrics_are_the_models_as_in_keras(keras, case):
    """The names, fit's history (each epoch's own: "outer_sum" sums the epoch's outputs, so a
    metric not reset at an epoch's start would differ) and evaluate's list and dict."""
    ours, our_history = trained(ac, case)
    theirs, their_history = trained(keras, case)
    assert [m.name for m in ours.metrics] == [m.name for m in theirs.metrics]
    assert sorted(our_history) == sorted(their_history)
    for name, values in their_history.items():
        np.testing.assert_allclose(our_history[name], values, rtol=1e-5, err_msg=name)
    expected = theirs.evaluate(X, Y, batch_size=4, verbose=0)
    np.testing.assert_allclose(ours.evaluate(X, Y, batch_size=4, verbose=0), expected, rtol=1e-5)
    their_logs = theirs.evaluate(X, Y, batch_size=4, verbose=0, return_dict=True)
    our_logs = ours.evaluate(X, Y, batch_size=4, verbose=0, return_dict=True)
    assert list(our_logs) == sorted(their_logs)
    for name, value in their_logs.items():
        np.testing.assert_allclose(our_logs[name], value, rtol=1e-5, err_msg=name)


def test_an_uncompiled_models_metrics_are_its_layers():
    model = one_layer(ac)
    assert [m.name for m in model.metrics] == ["my_mean"]


def test_a_layers_metric_on_replayed_gpu_steps_is_the_cpus():
    pytest.importorskip("numba_cuda")
    histories = []
    for device in ("cpu", "cuda"):
        model = one_layer(ac).to(device)
        model.compile(ac.optimizers.SGD(0.01), "mse")
        history = model.fit(X, Y, batch_size=2, epochs=3, shuffle=False, verbose=0)
        histories.append(history.history)
    assert model._step_replay.why is None and model._step_replay.replayed > 0
    assert sorted(histories[1]) == ["loss", "my_mean"]
    for name, values in histories[0].items():
        np.testing.assert_allclose(histories[1][name], values, rtol=1e-5, err_msg=name)
