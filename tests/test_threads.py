"""A model used from many threads at once: the stress run of tests/threads_worker.py in a child
process (on the CPU, and on the CUDA device, the simulator here), then each piece that makes it
safe on its own: per-thread recording and call state, one build, one fit per model at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.layers.calls import current_training, name_scope, outermost_call, training_context

ROOT = Path(__file__).resolve().parents[1]


def run_worker(device: str, threads: int, rounds: int, **variables: str) -> str:
    env = os.environ | variables
    done = subprocess.run(
        [sys.executable, "-W", "ignore", str(ROOT / "tests" / "threads_worker.py"), device,
         str(threads), str(rounds)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


def test_a_model_served_from_16_threads_answers_as_from_one():
    """predict (batches of 1 to 300, whose first convolution runs its parallel kernel), model(x),
    predict_on_batch, evaluate and the op functions from 16 threads, with a fit in another:
    every answer and the fit's weights exactly as single-threaded, and no abort."""
    out = run_worker("cpu", threads=16, rounds=3)
    assert out.splitlines()[-1] == "ok"
    assert "predict: 12 answers from 16 threads" in out


@pytest.mark.cudasim
def test_a_model_on_the_gpu_served_from_8_threads_answers_as_from_one():
    pytest.importorskip("numba_cuda")
    simulated = {} if Path("/dev/nvidiactl").exists() else {"NUMBA_ENABLE_CUDASIM": "1"}
    out = run_worker("cuda", threads=8, rounds=1, **simulated)
    assert out.splitlines()[-1] == "ok"


# ------------------------------------------------------------- per-thread state
def in_thread(function):
    """function() run in a new thread; its result (or its exception, raised here)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function).result()


def test_no_grad_stops_recording_in_its_own_thread_only():
    x = ac.Tensor(np.ones(3, np.float32), requires_grad=True)
    inside, other_thread = threading.Event(), threading.Event()

    def record_while_the_other_is_inside():
        inside.wait()
        try:
            return ac.is_grad_enabled(), (x * 2).requires_grad
        finally:
            other_thread.set()

    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(record_while_the_other_is_inside)
        with ac.no_grad():
            inside.set()
            other_thread.wait()
            assert not (x * 2).requires_grad
        assert result.result() == (True, True)


def test_training_flags_and_name_scopes_are_per_thread():
    with training_context(True), name_scope("outer"):
        assert current_training(None) is True
        assert in_thread(lambda: current_training(None)) is None
        assert in_thread(lambda: layers.Dense(2, name="d").add_weight((1,), name="w").path) == (
            "d/w"
        )
        assert layers.Dense(2, name="e").add_weight((1,), name="w").path == "outer/w"


def test_layers_made_in_many_threads_get_distinct_names():
    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lambda _: layers.Dense(1).name, range(400)))
    assert len(set(names)) == 400


class SlowBuild(layers.Layer):
    """Counts its builds; the build yields to other threads half way."""

    builds = 0

    def build(self, input_shape):
        type(self).builds += 1
        self.w = self.add_weight((input_shape[-1], 2), initializer="glorot_uniform", name="w")
        threading.Event().wait(0.05)
        self.b = self.add_weight((2,), initializer="ones", name="b")

    def call(self, inputs):
        return inputs @ self.w + self.b


def test_threads_calling_an_unbuilt_layer_wait_for_one_build():
    layer = SlowBuild()
    x = np.ones((2, 3), np.float32)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: layer(x).numpy(), range(6)))
    assert SlowBuild.builds == 1 and len(layer.weights) == 2
    for answer in answers:
        np.testing.assert_array_equal(answer, layer(x).numpy())


def test_an_unbuilt_sequential_model_called_from_threads_is_built_once():
    model = ac.Sequential([layers.Dense(4), layers.Dense(2)])
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: model.predict(x, verbose=0), range(6)))
    assert len(model.weights) == 4
    for answer in answers:
        np.testing.assert_array_equal(answer, model.predict(x, verbose=0))


# ------------------------------------------------------- penalties of a call (Keras's)
def regularized_model() -> ac.Model:
    inputs = ac.Input((3,))
    outputs = layers.Dense(2, activity_regularizer="l2", kernel_initializer="ones")(inputs)
    return ac.Model(inputs, outputs)


def test_losses_are_those_of_the_last_call_as_in_keras():
    """Keras clears a model's penalties when a call from outside any layer starts: after two
    calls ``model.losses`` holds the second's (autoconv kept both, and kept every predict's)."""
    model = regularized_model()
    model(np.ones((1, 3), np.float32))
    model(np.full((2, 3), 2.0, np.float32))
    assert len(model.losses) == 1
    np.testing.assert_allclose(model.losses[0].item(), 0.01 * 4 * 36 / 2)  # l2 * sum(6^2) / batch
    for _ in range(3):
        model.predict(np.ones((4, 3)), verbose=0)
    assert len(model.losses) == 1


def test_a_training_step_reads_the_penalties_of_its_own_thread():
    """Another thread's call of the same model, between this thread's forward pass and its
    reading of the penalties, changes neither the penalties it reads nor their count."""
    model = regularized_model()
    forward_done, other_done = threading.Event(), threading.Event()

    def other_call():
        forward_done.wait()
        model(np.full((1, 3), 10.0, np.float32))
        other_done.set()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(other_call)
        with outermost_call(model) as penalties:
            model(np.ones((1, 3), np.float32))
        forward_done.set()
        other_done.wait()
    assert [p.item() for p in penalties] == pytest.approx([0.01 * 2 * 9])


# ------------------------------------------------------ one fit per model at a time
def compiled_model() -> ac.Model:
    model = ac.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


X, Y = np.ones((16, 3), np.float32), np.zeros(16, np.int64)


class Pause(ac.callbacks.Callback):
    """Holds its thread at the first training (or test) batch until released."""

    def __init__(self, test: bool = False) -> None:
        super().__init__()
        self.test = test
        self.reached, self.release = threading.Event(), threading.Event()

    def pause(self) -> None:
        self.reached.set()
        assert self.release.wait(30)

    def on_train_batch_begin(self, batch, logs=None):
        if not self.test:
            self.pause()

    def on_test_batch_begin(self, batch, logs=None):
        if self.test:
            self.pause()


@pytest.mark.parametrize(
    "call",
    [lambda m: m.fit(X, Y, verbose=0), lambda m: m.evaluate(X, Y, verbose=0),
     lambda m: m.train_on_batch(X, Y), lambda m: m.test_on_batch(X, Y)],
    ids=["fit", "evaluate", "train_on_batch", "test_on_batch"],
)  # fmt: skip
def test_a_model_being_fit_in_another_thread_refuses_fit_and_evaluate(call):
    model, pause = compiled_model(), Pause()
    with ThreadPoolExecutor(1, thread_name_prefix="trainer") as pool:
        fitting = pool.submit(model.fit, X, Y, epochs=2, verbose=0, callbacks=[pause])
        assert pause.reached.wait(30)
        try:
            with pytest.raises(RuntimeError, match=r"being trained by fit\(\) in another thread"):
                call(model)
            predicted = model.predict(X, verbose=0)  # predict is fine meanwhile
        finally:
            pause.release.set()
        fitting.result()
    assert predicted.shape == (16, 2)
    model.fit(X, Y, verbose=0)  # and once fit returned, everything is
    model.evaluate(X, Y, verbose=0)


def test_evaluate_from_two_threads_takes_turns_and_gives_each_its_own_answer():
    model = compiled_model()
    other_x = np.full((16, 3), 3.0, np.float32)
    alone = [model.evaluate(X, Y, verbose=0), model.evaluate(other_x, Y, verbose=0)]
    pause = Pause(test=True)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(model.evaluate, X, Y, verbose=0, callbacks=[pause])
        assert pause.reached.wait(30)
        second = pool.submit(model.evaluate, other_x, Y, verbose=0)
        threading.Event().wait(0.2)
        assert not second.done()  # it waits for the first
        pause.release.set()
        assert [first.result(30), second.result(30)] == alone


def test_a_callback_of_fit_may_evaluate_the_model_in_the_same_thread():
    model = compiled_model()
    seen = []

    class EvaluateEachEpoch(ac.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.evaluate(X, Y, verbose=0))

    model.fit(X, Y, epochs=2, verbose=0, callbacks=[EvaluateEachEpoch()])
    assert len(seen) == 2


def test_after_a_fit_in_a_thread_the_main_thread_predicts_with_its_weights():
    model = compiled_model()
    in_thread(lambda: model.fit(X, Y, epochs=3, verbose=0))
    weights = model.get_weights()
    expected = np.exp(X @ weights[0] + weights[1])
    np.testing.assert_allclose(
        model.predict(X, verbose=0), expected / expected.sum(1, keepdims=True), rtol=1e-6
    )
