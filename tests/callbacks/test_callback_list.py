"""Keras's public CallbackList, as a custom training loop uses it, against Keras's own."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac


def custom_loop(lib, add_progbar: bool = False, verbose: int = 0):
    """Two epochs of two batches through ``lib.callbacks.CallbackList``: the hooks a recording
    callback saw (with the logs and params it was given), the history set on the model, and
    the list's callbacks by class."""
    calls = []

    class Recorder(lib.callbacks.Callback):
        def on_train_begin(self, logs=None):
            calls.append(("train_begin", logs))

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(("epoch_begin", epoch, logs))

        def on_train_batch_end(self, batch, logs=None):
            calls.append(("batch_end", batch, logs))

        def on_epoch_end(self, epoch, logs=None):
            calls.append(("epoch_end", epoch, logs, dict(self.params)))

        def on_train_end(self, logs=None):
            calls.append(("train_end", logs, self.model.name))

    model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1)], name="looped")
    callbacks = lib.callbacks.CallbackList(
        [Recorder()], add_history=True, add_progbar=add_progbar, model=model,
        epochs=2, steps=2, verbose=verbose,
    )  # fmt: skip
    callbacks.on_train_begin()
    for epoch in range(2):
        callbacks.on_epoch_begin(epoch)
        for batch in range(2):
            callbacks.on_train_batch_begin(batch)
            logs = {"loss": np.float32(0.5 + batch), "more": {"b": 2, "a": np.array(1.0)}}
            callbacks.on_train_batch_end(batch, logs)
        callbacks.on_epoch_end(epoch, {"loss": 0.25 * (epoch + 1), "acc": np.array(0.5)})
    callbacks.on_train_end()
    kinds = [type(c).__name__ for c in callbacks.callbacks]
    return calls, model.history.history, kinds


def test_a_custom_loop_calls_the_hooks_with_kerass_logs_and_params(keras):
    ours, theirs = custom_loop(ac), custom_loop(keras)
    assert ours == theirs
    calls, history, kinds = ours
    assert kinds == ["Recorder", "History"]
    assert history == {"acc": [0.5, 0.5], "loss": [0.25, 0.5]}
    assert calls[2] == ("batch_end", 0, {"a": 1.0, "b": 2.0, "loss": 0.5})  # sorted, flattened


def test_an_end_without_its_begin_is_kerass_error(keras):
    for lib in (ac, keras):
        callbacks = lib.callbacks.CallbackList([lib.callbacks.History()])
        with pytest.raises(ValueError, match="called without corresponding `on_xxx_begin`"):
            callbacks.on_train_end()


def test_the_progress_bar_draws_each_epochs_line(capsys):
    _, _, kinds = custom_loop(ac, add_progbar=True, verbose=1)
    assert kinds == ["Recorder", "History", "ProgbarLogger"]
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "2/2" in out and "loss: 0.2500" in out and "loss: 0.5000" in out


def test_params_are_none_until_set_and_a_bar_without_them_draws_as_kerass(keras, capsys):
    """Keras's ``Callback.params`` is None until ``set_params``; a list given no params sets
    none, and its progress bar draws with Keras's defaults (verbose 1, one epoch)."""
    for lib in (ac, keras):
        assert lib.callbacks.Callback().params is None
        listed = lib.callbacks.CallbackList([lib.callbacks.History()], add_progbar=True)
        assert listed.params == {} and [c.params for c in listed.callbacks] == [None, None]
    capsys.readouterr()
    listed = ac.callbacks.CallbackList(add_progbar=True)
    listed.on_train_begin()
    listed.on_epoch_begin(0)
    for batch in range(2):
        listed.on_train_batch_begin(batch)
        listed.on_train_batch_end(batch, {"loss": 0.5})
    listed.on_epoch_end(0, {"loss": 0.5})
    listed.on_train_end()
    out = capsys.readouterr().out
    assert "2/2" in out and "loss: 0.5000" in out
