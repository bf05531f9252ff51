"""A user's callback's hooks against real Keras 3.15 on PyTorch, as keras.io's "Writing your own
callbacks" guide writes them: every hook of ``fit`` (with validation), ``evaluate`` and
``predict``, in order, with its arguments, log keys and values; ``on_predict_batch_end``'s
``outputs`` (one array for one output, a list for several); ``stop_training`` set in a batch
hook ending ``fit`` after that batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac

RNG = np.random.default_rng(0)
X = RNG.random((20, 6)).astype("float32")
Y = RNG.random((20, 1)).astype("float32")
HOOKS = [f"on_{what}_{when}" for what in ("train", "test", "predict") for when in ("begin", "end")]
HOOKS += [f"on_{what}_batch_{when}" for what in ("train", "test", "predict")
          for when in ("begin", "end")]  # fmt: skip
HOOKS += ["on_epoch_begin", "on_epoch_end"]


def _model(lib: Any, outputs: int = 1) -> Any:
    inputs = lib.Input((6,))
    heads = [lib.layers.Dense(n + 1, name=f"out{n}")(inputs) for n in range(outputs)]
    model = lib.Model(inputs, heads[0] if outputs == 1 else heads)
    model.set_weights([np.cos(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.1
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    model.compile(lib.optimizers.RMSprop(0.01), "mse", metrics=["mean_absolute_error"] * outputs)
    return model


def _recorder(lib: Any, seen: list) -> Any:
    """A callback that records each hook's name, arguments and logs (outputs as their type,
    shapes and values)."""

    def hook(name: str) -> Any:
        def record(self: Any, *args: Any, **logs_by_name: Any) -> None:
            args = (*args, *logs_by_name.values())  # (logs= by name, or not)
            logs = dict(args[-1])
            if "outputs" in logs:
                out = logs["outputs"]
                arrays = out if isinstance(out, list) else [out]
                logs["outputs"] = (type(out).__name__, [np.asarray(a) for a in arrays])
            seen.append((name, *args[:-1], logs))

        return record

    return type("Recorder", (lib.callbacks.Callback,), {name: hook(name) for name in HOOKS})()


def _same(ours: list, theirs: list) -> None:
    assert [entry[:-1] for entry in ours] == [entry[:-1] for entry in theirs]
    for (*_, a), (*_, b) in zip(ours, theirs, strict=True):
        assert list(a) == list(b)
        for key in a:
            if key == "outputs":
                assert a[key][0] == b[key][0]
                for x, y in zip(a[key][1], b[key][1], strict=True):
                    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
            else:
                assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-5)


def test_every_hook_of_fit_evaluate_and_predict_as_keras(keras):
    seen: dict[str, list] = {"ac": [], "keras": []}
    for name, lib in (("ac", ac), ("keras", keras)):
        model, callback = _model(lib), _recorder(lib, seen[name])
        model.fit(X, Y, batch_size=4, epochs=2, verbose=0, shuffle=False,
                  validation_split=0.4, callbacks=[callback])  # fmt: skip
        model.evaluate(X, Y, batch_size=8, verbose=0, callbacks=[callback])
        model.predict(X, batch_size=8, verbose=0, callbacks=[callback])
    _same(seen["ac"], seen["keras"])


def test_predict_batch_end_outputs_of_several_outputs_as_keras(keras):
    seen: dict[str, list] = {"ac": [], "keras": []}
    for name, lib in (("ac", ac), ("keras", keras)):
        _model(lib, outputs=2).predict(
            X, batch_size=8, verbose=0, callbacks=[_recorder(lib, seen[name])]
        )
    assert seen["ac"][2][-1]["outputs"][0] == "list"
    _same(seen["ac"], seen["keras"])


def test_stop_training_in_a_batch_hook_ends_fit_after_that_batch(keras):
    class StopAtThird(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.model.stop_training = batch == 2

    histories = []
    for lib in (ac, keras):
        stop = type("Stop", (lib.callbacks.Callback,), dict(StopAtThird.__dict__))()
        model = _model(lib)
        history = model.fit(X, Y, batch_size=4, epochs=3, verbose=0, shuffle=False,
                            callbacks=[stop])  # fmt: skip
        histories.append((history.epoch, history.history, int(model.optimizer.iterations)))
    assert histories[0][0] == histories[1][0] == [0]
    assert histories[0][2] == histories[1][2] == 3
    assert histories[0][1]["loss"] == pytest.approx(histories[1][1]["loss"], rel=1e-5)


def test_stop_evaluating_and_stop_predicting_end_their_loops_as_keras(keras):
    """Keras's flags a callback sets to end ``evaluate`` (also ``fit``'s validation) and
    ``predict`` after a batch: the loss of the batches run, the rows predicted."""

    def stop_at_second(lib: Any) -> Any:
        class Stop(lib.callbacks.Callback):
            def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
                self.model.stop_evaluating = batch == 1

            def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
                self.model.stop_predicting = batch == 1

        return Stop()

    results = []
    for lib in (ac, keras):
        model = _model(lib)
        stop = stop_at_second(lib)
        history = model.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False,
                            validation_split=0.4, callbacks=[stop])  # fmt: skip
        evaluated = model.evaluate(X, Y, batch_size=4, verbose=0, callbacks=[stop])
        predicted = model.predict(X, batch_size=4, verbose=0, callbacks=[stop])
        full = model.evaluate(X, Y, batch_size=4, verbose=0)  # (the flag reset: every batch)
        results.append((history.history["val_loss"], evaluated, predicted, full))
    ours, theirs = results
    assert ours[2].shape == theirs[2].shape == (8, 1)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours[1], ours[3])


def test_a_history_given_is_the_one_fit_returns_as_keras(keras):
    """Keras's CallbackList takes a History among the callbacks as fit's own: fit returns it
    and sets it as ``model.history``; each fit lists its own epochs, the values add up."""
    seen = []
    for lib in (ac, keras):
        model, history = _model(lib), lib.callbacks.History()
        first = model.fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[history])
        second = model.fit(X, Y, batch_size=4, epochs=1, verbose=0, callbacks=[history])
        assert first is history and second is history and model.history is history
        seen.append((history.epoch, {k: len(v) for k, v in history.history.items()}))
    assert seen[0] == seen[1] == ([0], {"loss": 3, "mean_absolute_error": 3})


def test_model_history_is_this_fits_history_while_it_runs_as_keras(keras):
    """A callback reads ``self.model.history`` during fit: this fit's History from the first
    epoch on (Keras's CallbackList sets it when it is made), not the previous fit's."""
    seen = []
    for lib in (ac, keras):

        class Read(lib.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                history = self.model.history
                seen.append((epoch, list(history.epoch), len(history.history.get("loss", []))))

        model = _model(lib)
        for _ in range(2):
            model.fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[Read()])
    assert seen[:4] == seen[4:] == [(0, [], 0), (1, [0], 1)] * 2


@pytest.mark.parametrize(
    ("hook", "when"),
    [("on_train_begin", None), ("on_epoch_begin", 1), ("on_train_batch_begin", 1)],
)
def test_stop_training_set_in_any_hook_ends_fit_after_the_batch_as_keras(keras, hook, when):
    """Keras's fit reads ``stop_training`` after every batch, wherever a callback set it: in
    ``on_train_begin`` one step is taken, in ``on_epoch_begin`` one more epoch's first."""

    def run(lib: Any) -> tuple:
        def stop(self: Any, *args: Any, **kwargs: Any) -> None:
            if when is None or args[0] == when:
                self.model.stop_training = True

        callback = type("Stop", (lib.callbacks.Callback,), {hook: stop})()
        model = _model(lib)
        history = model.fit(X, Y, batch_size=4, epochs=3, verbose=0, shuffle=False,
                            callbacks=[callback])  # fmt: skip
        return history.epoch, int(model.optimizer.iterations), history.history["loss"]

    ours, theirs = run(ac), run(keras)
    assert ours[:2] == theirs[:2]
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5)
