"""fit's replayed steps (autoconv/step_replay.py, autoconv/backends/cuda/capture.py): on the GPU
(the simulator here) a fit whose steps are replayed ends with the weights, optimizer state,
metrics and history of a fit whose steps all ran eagerly, to the bit; steps that cannot be
replayed say why and run eagerly."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers, step_replay

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim


def data(samples: int = 30, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((samples, 6, 6, 1), dtype=np.float32)
    return x, np.eye(classes, dtype=np.float32)[rng.integers(0, classes, samples)]


def convnet(optimizer, extra=()) -> ac.Model:
    ac.utils.set_random_seed(0)
    model = ac.Sequential(
        [
            layers.Input((6, 6, 1)),
            layers.Conv2D(2, 3, activation="relu"),
            *extra,
            layers.Flatten(),
            layers.Dense(4, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ]
    ).to("cuda")
    model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    return model


def state_of(model: ac.Model) -> list[np.ndarray]:
    slots = [np.asarray(ac.backends.namespace("cuda").to_numpy(s)) for own in
             model.optimizer.slots for s in own.values()]  # fmt: skip
    return [w.numpy() for w in model.weights] + slots


def fit_both(make, monkeypatch, **fit):
    x, y = data()
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager = make()
        eager_history = eager.fit(x, y, verbose=0, **fit).history
    replayed = make()
    history = replayed.fit(x, y, verbose=0, **fit).history
    return eager, eager_history, replayed, history


OPTIMIZERS = {
    "rmsprop": lambda: "rmsprop",
    "adam with a schedule": lambda: ac.optimizers.Adam(
        ac.optimizers.schedules.ExponentialDecay(1e-2, 3, 0.5)
    ),
    "sgd with momentum": lambda: ac.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS), ids=list(OPTIMIZERS))
def test_replayed_steps_train_as_the_eager_ones(optimizer, monkeypatch):
    eager, eager_history, replayed, history = fit_both(
        lambda: convnet(OPTIMIZERS[optimizer]()), monkeypatch, epochs=2, batch_size=4
    )
    runner = replayed._step_replay
    assert runner.why is None, runner.why
    # 7 full batches an epoch, recorded twice (the first epoch's first step is recorded and
    # differs: it makes the optimizer's slots), then replayed; the last batch of 2 is eager
    assert runner.replayed >= 6
    assert replayed.optimizer.iterations == eager.optimizer.iterations == 16
    assert history == eager_history
    for got, want in zip(state_of(replayed), state_of(eager), strict=True):
        np.testing.assert_array_equal(got, want)


def test_dropout_and_batch_norm_replay_with_a_new_mask_each_step(monkeypatch):
    eager, eager_history, replayed, history = fit_both(
        lambda: convnet("adam", (layers.BatchNormalization(), layers.Dropout(0.5))),
        monkeypatch, epochs=1, batch_size=4,
    )  # fmt: skip
    assert replayed._step_replay.replayed >= 3, replayed._step_replay.why
    assert history == eager_history
    for got, want in zip(state_of(replayed), state_of(eager), strict=True):
        np.testing.assert_array_equal(got, want)


def test_any_metric_replays_as_its_state_is_updated_in_place(monkeypatch):
    """A binary classifier (Xception's and the cats-vs-dogs tutorial's kind) with metrics that
    keep several state arrays: every metric writes into the arrays the replay recorded."""

    def make() -> ac.Model:
        ac.utils.set_random_seed(0)
        model = ac.Sequential(
            [layers.Input((6, 6, 1)), layers.Flatten(), layers.Dense(1, activation="sigmoid")]
        ).to("cuda")
        metrics = ["accuracy", ac.metrics.Precision(), ac.metrics.AUC(num_thresholds=5)]
        model.compile("adam", "binary_crossentropy", metrics=metrics)
        return model

    x, y = data()
    labels = y[:, :1]
    with monkeypatch.context() as eager_only:
        eager_only.setattr(step_replay, "ATTEMPTS", 0)
        eager_history = make().fit(x, labels, epochs=1, batch_size=4, verbose=0).history
    replayed = make()
    history = replayed.fit(x, labels, epochs=1, batch_size=4, verbose=0).history
    assert replayed._step_replay.replayed >= 4, replayed._step_replay.why
    assert history == eager_history


def test_a_step_that_cannot_be_replayed_says_why_and_trains_eagerly(monkeypatch):
    """Gradient accumulation alternates two kinds of step, so no two recordings agree."""
    make = lambda: convnet(ac.optimizers.SGD(0.1, gradient_accumulation_steps=2))  # noqa: E731
    _, eager_history, replayed, history = fit_both(make, monkeypatch, epochs=1, batch_size=4)
    runner = replayed._step_replay
    assert runner.replayed == 0 and "launch" in runner.why
    assert history == eager_history


def test_the_cpu_runs_every_step_as_it_comes():
    x, y = data()
    ac.utils.set_random_seed(0)
    model = ac.Sequential([layers.Input((6, 6, 1)), layers.Flatten(), layers.Dense(3)]).to("cpu")
    model.compile("sgd", ac.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert model._step_replay.replayed == 0 and "CPU" in model._step_replay.why
