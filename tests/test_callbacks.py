"""Keras's callbacks: each one driven by real fits of a tiny model and by direct hook calls
with scripted logs, against the behaviour of keras/src/callbacks/*.py.

(Over ~600 lines on purpose: the callbacks share the tiny model, its fits and the scripted
logs; those with more to test have files of their own in tests/callbacks/.)"""

from __future__ import annotations

import csv
import math
import operator
import os
import re

import numpy as np
import pytest

import autoconv as ac
from autoconv import callbacks, layers
from autoconv.callbacks.base import CallbackRunner


def regression(samples=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 2)).astype(np.float32)
    return x, x @ np.array([[1.0], [-2.0]], dtype=np.float32) + 0.5


def tiny_model(learning_rate=0.01):
    model = ac.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(ac.optimizers.SGD(learning_rate=learning_rate), "mse")
    return model


def classifier():
    """A 2-class softmax model with accuracy, after one epoch (its metrics then exist)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 2)).astype(np.float32)
    y = ac.utils.to_categorical((x[:, 0] > 0).astype(np.int32), 2)
    model = ac.Sequential([layers.Dense(2, activation="softmax", input_shape=(2,))])
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy", "mse"])
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, validation_split=0.25)
    return model


def drive(callback, model, values, key="val_loss", weights_per_epoch=False):
    """Run ``callback``'s epoch hooks as fit does, with ``{key: value}`` logs; return the
    logs of the epochs that ran. With ``weights_per_epoch`` every weight is set to the epoch
    number before the epoch ends."""
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin({})
    seen = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch, {})
        if weights_per_epoch:
            model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        logs = {key: value}
        callback.on_epoch_end(epoch, logs)
        seen.append(logs)
        if model.stop_training:
            break
    callback.on_train_end(seen[-1] if seen else {})
    return seen


@pytest.fixture
def model():
    return tiny_model()


# ------------------------------------------------------------------------- EarlyStopping
def test_early_stopping_stops_when_patience_runs_out(model, capsys):
    stopper = callbacks.EarlyStopping(patience=2, verbose=1)
    seen = drive(stopper, model, [1.0, 0.9, 0.95, 0.96, 0.97, 0.98])
    assert len(seen) == 4 and stopper.stopped_epoch == 3 and stopper.best == 0.9
    assert capsys.readouterr().out == "Epoch 4: early stopping\n"


@pytest.mark.parametrize(
    ("kwargs", "values", "epochs_run"),
    [
        ({"patience": 0}, [1.0, 1.0, 0.5], 2),  # an equal value is no improvement
        ({"patience": 1, "min_delta": 0.1}, [1.0, 0.95, 0.5], 2),  # too small a gain
        ({"patience": 1, "min_delta": -0.1}, [1.0, 0.95, 0.5], 2),  # its sign is ignored
        ({"patience": 2}, [0.8, 0.9, 0.9, 0.9], 3),
        ({"patience": 2, "baseline": 0.5}, [0.8, 0.9, 0.9, 0.9], 2),  # never beat 0.5
        ({"patience": 0, "start_from_epoch": 2}, [3.0, 4.0, 2.0, 2.5, 1.0], 4),
        ({"patience": 0, "monitor": "val_accuracy", "mode": "max"}, [0.5, 0.6, 0.6], 3),
    ],
)
def test_early_stopping_epochs_match_keras(model, kwargs, values, epochs_run):
    stopper = callbacks.EarlyStopping(**kwargs)
    seen = drive(stopper, model, values, key=kwargs.get("monitor", "val_loss"))
    assert len(seen) == epochs_run


def test_early_stopping_never_stops_at_the_first_epoch(model):
    stopper = callbacks.EarlyStopping(patience=0)
    drive(stopper, model, [1.0])
    stopper.on_epoch_end(0, {"val_loss": 2.0})  # a second run without on_train_begin
    assert not model.stop_training and stopper.wait == 1


def test_early_stopping_restores_the_best_weights(model, capsys):
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    drive(stopper, model, [1.0, 0.5, 0.7, 0.8, 0.9], weights_per_epoch=True)
    assert all((w == 1).all() for w in model.get_weights())
    assert capsys.readouterr().out == (
        "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"
    )


def test_early_stopping_restores_the_best_weights_also_without_stopping(model, capsys):
    stopper = callbacks.EarlyStopping(patience=5, restore_best_weights=True, verbose=1)
    drive(stopper, model, [1.0, 0.5, 0.7], weights_per_epoch=True)
    assert stopper.stopped_epoch == 0
    assert all((w == 1).all() for w in model.get_weights())
    assert capsys.readouterr().out == (
        "Restoring model weights from the end of the best epoch: 2.\n"
    )


def test_early_stopping_in_a_real_fit_stops_and_restores():
    x, y = regression()
    model = tiny_model()
    snapshots = []
    keep = callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: snapshots.append(model.get_weights())
    )
    # the loss goes down, so in "max" mode epoch 0 stays the best
    stopper = callbacks.EarlyStopping(monitor="loss", mode="max", restore_best_weights=True)
    history = model.fit(x, y, epochs=10, batch_size=4, verbose=0, callbacks=[keep, stopper])
    assert history.epoch == [0, 1] and stopper.stopped_epoch == 1
    assert history.history["loss"][1] < history.history["loss"][0]
    for restored, best in zip(model.get_weights(), snapshots[0], strict=True):
        np.testing.assert_array_equal(restored, best)


def test_early_stopping_is_reusable(model):
    stopper = callbacks.EarlyStopping(patience=1)
    assert len(drive(stopper, model, [1.0, 2.0, 3.0])) == 2
    assert len(drive(stopper, model, [5.0, 4.0, 3.0])) == 3


def test_early_stopping_warns_when_the_monitored_value_is_missing(model):
    stopper = callbacks.EarlyStopping()
    with pytest.warns(UserWarning, match="Early stopping conditioned on metric `val_loss` which"):
        seen = drive(stopper, model, [1.0, 2.0], key="loss")
    assert len(seen) == 2


def test_monitor_mode_auto_follows_the_metrics_direction():
    model = classifier()
    expected = {
        "loss": operator.lt,
        "val_loss": operator.lt,
        "accuracy": operator.gt,
        "val_accuracy": operator.gt,
        "val_mse": operator.lt,
    }
    for monitor, op in expected.items():
        for cls in (callbacks.EarlyStopping, callbacks.ReduceLROnPlateau):
            callback = cls(monitor=monitor)
            callback.set_model(model)
            callback._set_monitor_op()
            assert callback.monitor_op is op, (cls, monitor)
    unknown = callbacks.EarlyStopping(monitor="val_thing")
    unknown.set_model(model)
    with pytest.raises(ValueError, match="received monitor=val_thing, but autoconv isn't able"):
        unknown.on_epoch_end(0, {"val_thing": 1.0})


def test_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="EarlyStopping mode 'up' is unknown, fallback to auto"):
        stopper = callbacks.EarlyStopping(mode="up")
    assert stopper.mode == "auto"


# ----------------------------------------------------------------------- ModelCheckpoint
def test_model_checkpoint_checks_the_filepath_and_save_freq(tmp_path):
    with pytest.raises(ValueError, match=r"must end in `\.keras`"):
        callbacks.ModelCheckpoint(tmp_path / "model.npz")
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`"):
        callbacks.ModelCheckpoint(tmp_path / "model.keras", save_weights_only=True)
    with pytest.raises(ValueError, match="Unrecognized save_freq: often"):
        callbacks.ModelCheckpoint(tmp_path / "model.keras", save_freq="often")
    callbacks.ModelCheckpoint(tmp_path / "model.h5")


def test_model_checkpoint_formats_names_from_epoch_and_logs(tmp_path):
    x, y = regression()
    model = tiny_model()
    pattern = str(tmp_path / "sub" / "model-{epoch:02d}-{val_loss:.2f}.keras")
    history = model.fit(
        x, y, epochs=3, batch_size=4, verbose=0, validation_split=0.25,
        callbacks=[callbacks.ModelCheckpoint(pattern)],
    )  # fmt: skip
    names = [
        f"model-{epoch + 1:02d}-{loss:.2f}.keras"
        for epoch, loss in enumerate(history.history["val_loss"])
    ]
    assert sorted(os.listdir(tmp_path / "sub")) == sorted(names)
    last = ac.load_model(tmp_path / "sub" / names[-1])
    for saved, trained in zip(last.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, trained)


def test_model_checkpoint_save_best_only_writes_improvements(model, tmp_path, capsys):
    path = tmp_path / "best-{epoch}.keras"
    checkpoint = callbacks.ModelCheckpoint(path, save_best_only=True, verbose=1)
    drive(checkpoint, model, [1.0, 0.8, 0.9, 0.7])
    assert sorted(os.listdir(tmp_path)) == ["best-1.keras", "best-2.keras", "best-4.keras"]
    assert capsys.readouterr().out == (
        f"\nEpoch 1: val_loss improved from None to 1.00000, saving model to "
        f"{tmp_path}/best-1.keras\n"
        f"\nEpoch 1: finished saving model to {tmp_path}/best-1.keras\n"
        f"\nEpoch 2: val_loss improved from 1.00000 to 0.80000, saving model to "
        f"{tmp_path}/best-2.keras\n"
        f"\nEpoch 2: finished saving model to {tmp_path}/best-2.keras\n"
        "\nEpoch 3: val_loss did not improve from 0.80000\n"
        f"\nEpoch 4: val_loss improved from 0.80000 to 0.70000, saving model to "
        f"{tmp_path}/best-4.keras\n"
        f"\nEpoch 4: finished saving model to {tmp_path}/best-4.keras\n"
    )


def test_model_checkpoint_initial_value_threshold_and_max_mode(model, tmp_path):
    low = callbacks.ModelCheckpoint(
        tmp_path / "low-{epoch}.keras", save_best_only=True, initial_value_threshold=0.75
    )
    drive(low, model, [1.0, 0.8, 0.9, 0.7])
    high = callbacks.ModelCheckpoint(
        tmp_path / "high-{epoch}.keras", monitor="val_acc", mode="max", save_best_only=True
    )
    drive(high, model, [0.5, 0.4, 0.6, 0.6], key="val_acc")
    assert sorted(os.listdir(tmp_path)) == ["high-1.keras", "high-3.keras", "low-4.keras"]


def test_model_checkpoint_saves_every_epoch_with_a_message(model, tmp_path, capsys):
    checkpoint = callbacks.ModelCheckpoint(tmp_path / "last.keras", verbose=1)
    drive(checkpoint, model, [1.0, 2.0])
    assert os.listdir(tmp_path) == ["last.keras"]
    assert capsys.readouterr().out == "".join(
        f"\nEpoch {e}: saving model to {tmp_path}/last.keras\n"
        f"\nEpoch {e}: finished saving model to {tmp_path}/last.keras\n"
        for e in (1, 2)
    )


def checkpoint_messages(lib, folder, filename, kwargs, epochs, capsys) -> str:
    """What ``lib``'s ModelCheckpoint(verbose=1) prints for ``epochs`` (each epoch's logs,
    given after each of its 3 batches and at its end), its folder written ``<folder>``."""
    model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1)])
    checkpoint = lib.callbacks.ModelCheckpoint(os.path.join(folder, filename), verbose=1, **kwargs)
    checkpoint.set_model(model)
    checkpoint.on_train_begin({})
    for epoch, logs in enumerate(epochs):
        checkpoint.on_epoch_begin(epoch, {})
        for batch in range(3):
            checkpoint.on_train_batch_end(batch, dict(logs))
        checkpoint.on_epoch_end(epoch, dict(logs))
    return capsys.readouterr().out.replace(str(folder), "<folder>")


@pytest.mark.filterwarnings("ignore:Can save best model only")
@pytest.mark.parametrize(
    ("filename", "kwargs", "epochs"),
    [
        ("best-{epoch}.keras", {"save_best_only": True},
         [{"val_loss": v} for v in (1.0, 0.8, 0.9, 0.7)]),
        ("w.weights.h5", {"save_best_only": True, "save_weights_only": True, "mode": "max"},
         [{"val_loss": v} for v in (0.5, 0.4, 0.6)]),
        ("last.keras", {}, [{"val_loss": 1.0}, {"val_loss": 2.0}]),
        ("e{epoch}b{batch}.weights.h5", {"save_weights_only": True, "save_freq": 2},
         [{"loss": 1.0}, {"loss": 0.5}]),
        ("b{batch}.keras", {"save_best_only": True, "monitor": "loss", "save_freq": 2},
         [{"loss": 1.0}, {"loss": 2.0}, {"loss": 0.5}]),
        ("m.keras", {"save_best_only": True}, [{"loss": 1.0}]),  # no val_loss: saved
    ],
)  # fmt: skip
def test_model_checkpoint_prints_kerass_lines(keras, tmp_path, capsys, filename, kwargs, epochs):
    printed = [
        checkpoint_messages(lib, tmp_path / lib.__name__, filename, kwargs, epochs, capsys)
        for lib in (ac, keras)
    ]
    assert "finished saving model to <folder>/" in printed[1]
    assert printed[0] == printed[1]


def test_model_checkpoint_without_the_monitored_value_warns_and_saves(model, tmp_path):
    checkpoint = callbacks.ModelCheckpoint(tmp_path / "m.keras", save_best_only=True)
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        drive(checkpoint, model, [1.0], key="loss")
    assert os.listdir(tmp_path) == ["m.keras"]


def test_model_checkpoint_weights_only(tmp_path):
    x, y = regression()
    model = tiny_model()
    path = tmp_path / "w.weights.h5"
    model.fit(
        x, y, epochs=2, batch_size=4, verbose=0,
        callbacks=[callbacks.ModelCheckpoint(path, save_weights_only=True)],
    )  # fmt: skip
    other = tiny_model()
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_model_checkpoint_by_batches(tmp_path):
    """Keras's test: 5 batches an epoch, save_freq=15 saves at the end of epochs 3 and 6."""
    x, y = regression(samples=30)
    model = tiny_model()
    pattern = str(tmp_path / "e{epoch:02d}.keras")
    model.fit(
        x, y, epochs=7, batch_size=6, verbose=0,
        callbacks=[callbacks.ModelCheckpoint(pattern, save_freq=15)],
    )  # fmt: skip
    assert sorted(os.listdir(tmp_path)) == ["e03.keras", "e06.keras"]


def test_model_checkpoint_batch_field_is_one_based(tmp_path):
    x, y = regression(samples=8)
    model = tiny_model()
    pattern = str(tmp_path / "e{epoch}b{batch}.keras")
    model.fit(
        x, y, epochs=2, batch_size=4, verbose=0,
        callbacks=[callbacks.ModelCheckpoint(pattern, save_freq=1)],
    )  # fmt: skip
    assert sorted(os.listdir(tmp_path)) == ["e1b1.keras", "e1b2.keras", "e2b1.keras", "e2b2.keras"]


def test_model_checkpoint_unknown_field_fails_like_keras(model, tmp_path):
    checkpoint = callbacks.ModelCheckpoint(tmp_path / "{val_acc:.2f}.keras")
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        drive(checkpoint, model, [1.0])


def count_epochs():
    started = []
    return started, callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: started.append(e))


def test_model_checkpoint_unwritable_path_fails_before_training(tmp_path):
    x, y = regression()
    (tmp_path / "file.txt").write_text("not a folder")
    started, counter = count_epochs()
    bad = callbacks.ModelCheckpoint(tmp_path / "file.txt" / "{epoch}" / "m.keras")
    with pytest.raises(NotADirectoryError, match=r"file\.txt is a file, not a folder"):
        tiny_model().fit(x, y, epochs=2, verbose=0, callbacks=[counter, bad])
    assert started == []
    (tmp_path / "taken.keras").mkdir()
    folder = callbacks.ModelCheckpoint(tmp_path / "taken.keras")
    with pytest.raises(OSError, match="Please specify a non-directory filepath for Model"):
        tiny_model().fit(x, y, epochs=2, verbose=0, callbacks=[counter, folder])
    assert started == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_model_checkpoint_read_only_folder_fails_before_training(tmp_path):
    x, y = regression()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="is not writable"):
            tiny_model().fit(
                x, y, verbose=0, callbacks=[callbacks.ModelCheckpoint(locked / "m.keras")]
            )
    finally:
        locked.chmod(0o700)


# --------------------------------------------------------------------- ReduceLROnPlateau
def learning_rates(callback, model, values, start=1.0):
    """The learning rate after each epoch's end (as Keras's variable holds it: in float32)."""
    model.optimizer.learning_rate = start
    rates = []
    callback.set_model(model)
    callback.on_train_begin({})
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {"val_loss": value})
        rates.append(float(model.optimizer.learning_rate))
    return rates


def f32(*values):
    """``values`` as float32 gives them back (Keras's learning rate variable's values)."""
    return [float(np.float32(v)) for v in values]


def test_reduce_lr_after_patience(model):
    reducer = callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    rates = learning_rates(reducer, model, [1.0] * 6)
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_reduce_lr_counts_small_gains_as_plateau(model):
    reducer = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.1)
    assert learning_rates(reducer, model, [1.0, 0.95, 0.5, 0.45]) == [1.0, 0.5, 0.5, 0.25]


def test_reduce_lr_cooldown(model):
    reducer = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2)
    rates = learning_rates(reducer, model, [1.0] * 8)
    assert rates == [1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.0625]


def test_reduce_lr_stops_at_min_lr(model):
    reducer = callbacks.ReduceLROnPlateau(factor=0.1, patience=0, min_lr=0.05)
    rates = learning_rates(reducer, model, [1.0] * 5)
    assert rates == f32(1.0, 0.1, 0.05, 0.05, 0.05)


def test_reduce_lr_message_and_logs(model, capsys):
    reducer = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, verbose=1)
    model.optimizer.learning_rate = 1.0
    seen = drive(reducer, model, [1.0, 1.0])
    assert [logs["learning_rate"] for logs in seen] == [1.0, 1.0]
    assert (
        capsys.readouterr().out == "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.5.\n"
    )


def test_reduce_lr_rejects_a_factor_of_one():
    with pytest.raises(ValueError, match=r"does not support a factor >= 1\.0\. Received factor=1"):
        callbacks.ReduceLROnPlateau(factor=1)


def test_reduce_lr_in_a_real_fit():
    x, y = regression()
    model = tiny_model(learning_rate=0.01)
    reducer = callbacks.ReduceLROnPlateau(monitor="loss", mode="max", patience=0)
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[reducer])
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.001])
    assert model.optimizer.learning_rate == pytest.approx(1e-4)


def test_reduce_lr_warns_when_the_monitored_value_is_missing(model):
    reducer = callbacks.ReduceLROnPlateau()
    with pytest.warns(UserWarning, match="Learning rate reduction is conditioned on metric"):
        drive(reducer, model, [1.0], key="loss")


# ------------------------------------------------------------------ LearningRateScheduler
def test_scheduler_of_epoch_and_rate_in_a_real_fit(capsys):
    x, y = regression()
    model = tiny_model(learning_rate=0.1)
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5, verbose=1)
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[scheduler])
    rates = f32(0.05, 0.025, 0.0125)  # 0.1 in float32, halved: as in Keras, exactly
    assert history.history["learning_rate"] == rates
    assert model.optimizer.learning_rate == np.float32(0.0125)
    assert capsys.readouterr().out == "".join(
        f"\nEpoch {e}: LearningRateScheduler setting learning rate to {lr}.\n"
        for e, lr in zip((1, 2, 3), rates, strict=True)
    )


def test_scheduler_of_epoch_alone_sets_the_rate_the_steps_use():
    x, y = regression()
    model = tiny_model(learning_rate=0.1)
    before = model.get_weights()
    scheduler = callbacks.LearningRateScheduler(lambda epoch: 0.0)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[scheduler])
    for now, then in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(now, then)
    rates = []
    record = callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: rates.append(logs["learning_rate"])
    )
    model.fit(
        x, y, epochs=3, batch_size=4, verbose=0,
        callbacks=[
            callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1)),
            record,
        ],
    )  # fmt: skip
    assert rates == f32(0.1, 0.05, 0.1 / 3)


def test_scheduler_needs_a_float(model):
    scheduler = callbacks.LearningRateScheduler(lambda epoch: 1)
    scheduler.set_model(model)
    with pytest.raises(ValueError, match="The output of the `schedule` function should be a float"):
        scheduler.on_epoch_begin(0)


# ----------------------------------------------------------------------------- CSVLogger
def read_rows(path, separator=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=separator))


def test_csv_logger_writes_keras_columns_and_rows(tmp_path):
    x, y = regression()
    model = tiny_model()
    path = tmp_path / "log.csv"
    history = model.fit(
        x, y, epochs=2, batch_size=4, verbose=0, validation_split=0.25,
        callbacks=[callbacks.CSVLogger(path)],
    )  # fmt: skip
    rows = read_rows(path)
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert rows[1:] == [
        [str(e), str(history.history["loss"][e]), str(history.history["val_loss"][e])]
        for e in (0, 1)
    ]
    assert path.read_bytes().count(b"\r\n") == 3  # csv's excel dialect, as in Keras


def test_csv_logger_without_validation_adds_na_columns(model, tmp_path):
    path = tmp_path / "log.csv"
    drive(callbacks.CSVLogger(path, separator=";"), model, [0.5, 0.25], key="loss")
    assert read_rows(path, ";") == [
        ["epoch", "loss", "val_loss"], ["0", "0.5", "NA"], ["1", "0.25", "NA"],
    ]  # fmt: skip


def test_csv_logger_appends_without_a_second_header(model, tmp_path):
    path = tmp_path / "log.csv"
    drive(callbacks.CSVLogger(path), model, [0.5], key="loss")
    drive(callbacks.CSVLogger(path, append=True), model, [0.25, 0.125], key="loss")
    assert read_rows(path) == [
        ["epoch", "loss", "val_loss"], ["0", "0.5", "NA"], ["0", "0.25", "NA"],
        ["1", "0.125", "NA"],
    ]  # fmt: skip
    drive(callbacks.CSVLogger(path), model, [1.0], key="loss")
    assert read_rows(path) == [["epoch", "loss", "val_loss"], ["0", "1.0", "NA"]]


def test_csv_logger_flushes_every_epoch(tmp_path):
    x, y = regression()
    path = tmp_path / "log.csv"
    counts = []
    peek = callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: counts.append(len(read_rows(path)))
    )
    tiny_model().fit(
        x, y, epochs=3, batch_size=8, verbose=0, callbacks=[callbacks.CSVLogger(path), peek]
    )
    assert counts == [2, 3, 4]


def test_csv_logger_writes_sequences_as_keras(model, tmp_path):
    path = tmp_path / "log.csv"
    drive(callbacks.CSVLogger(path), model, [np.array([1.0, 2.0])], key="val_pr")
    assert read_rows(path) == [["epoch", "val_pr"], ["0", '"[1.0, 2.0]"']]


# ------------------------------------------------------------------------ TerminateOnNaN
@pytest.mark.parametrize("loss", [math.nan, math.inf, -math.inf])
def test_terminate_on_nan_stops_training(model, loss, capsys):
    stop = callbacks.TerminateOnNaN()
    stop.set_model(model)
    model.stop_training = False
    stop.on_train_batch_end(2, logs={"loss": 0.5})
    assert not model.stop_training
    stop.on_train_batch_end(3, logs={"loss": loss})
    assert model.stop_training
    assert capsys.readouterr().out == "Batch 3: Invalid loss, terminating training\n"


def test_terminate_on_nan_can_raise(model):
    stop = callbacks.TerminateOnNaN(raise_error=True)
    stop.set_model(model)
    with pytest.raises(RuntimeError, match=r"NaN or Inf loss encountered at batch 4\. Loss value"):
        stop.on_batch_end(4, logs={"loss": math.nan})


def test_terminate_on_nan_reads_every_batch_of_a_real_fit():
    x, y = regression()
    losses = []

    class Watch(callbacks.TerminateOnNaN):
        def on_batch_end(self, batch, logs=None):
            losses.append(logs["loss"])
            super().on_batch_end(batch, logs)

    history = tiny_model().fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[Watch()])
    assert len(losses) == 8 and all(np.isfinite(losses)) and history.epoch == [0, 1]


# ------------------------------------------------------------ unsupported and the others
@pytest.fixture
def server():
    """A local HTTP server in a thread: yields (its root URL, the requests it got as (path,
    headers, body) and a list of status codes to answer with, 200 once they run out)."""
    import http.server
    import threading

    got, statuses = [], []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, dict(self.headers), body))
            self.send_response(statuses.pop(0) if statuses else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", got, statuses
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("send_as_json", [False, True])
def test_remote_monitor_posts_each_epochs_logs_as_keras_does(server, send_as_json):
    import json
    import urllib.parse

    root, got, _ = server
    monitor = callbacks.RemoteMonitor(root, "/logs/", field="payload", send_as_json=send_as_json,
                                      headers={"X-Run": "seven"})  # fmt: skip
    x, y = regression(samples=8)
    history = tiny_model().fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[monitor])
    assert len(got) == 2
    for epoch, (path, headers, body) in enumerate(got):
        assert path == "/logs/" and headers["X-Run"] == "seven"
        if send_as_json:
            assert headers["Content-Type"] == "application/json"
            sent = json.loads(body)
        else:
            assert headers["Content-Type"] == "application/x-www-form-urlencoded"
            (sent,) = urllib.parse.parse_qs(body.decode())["payload"]
            sent = json.loads(sent)
        assert sent == {"epoch": epoch, "loss": pytest.approx(history.history["loss"][epoch])}


def test_remote_monitor_unwraps_numpy_values_and_warns_where_it_cannot_post(server):
    import json
    import socket
    import urllib.parse

    root, got, statuses = server
    callbacks.RemoteMonitor(root).on_epoch_end(3, {"acc": np.float32(0.5), "n": np.array(2)})
    (path, _, body) = got[0]
    assert path == "/publish/epoch/end/"
    assert json.loads(urllib.parse.parse_qs(body.decode())["data"][0]) == {
        "epoch": 3, "acc": 0.5, "n": 2}  # fmt: skip
    statuses.append(503)
    with pytest.warns(UserWarning, match="RemoteMonitor: the server at .* answered 503"):
        callbacks.RemoteMonitor(root).on_epoch_end(0, {})
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor root server at"):
        callbacks.RemoteMonitor(closed).on_epoch_end(0, {"loss": 1.0})
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor root server at"):
        callbacks.RemoteMonitor("not a url").on_epoch_end(0, {})


def test_lambda_callback_gets_every_hook_of_a_fit():
    x, y = regression(samples=8)
    events = []
    hooks = callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: events.append(f"epoch_begin {epoch}"),
        on_train_batch_begin=lambda batch, logs: events.append(f"batch_begin {batch}"),
        on_train_batch_end=lambda batch, logs: events.append(f"batch_end {batch} {sorted(logs)}"),
        on_epoch_end=lambda epoch, logs: events.append(f"epoch_end {epoch} {sorted(logs)}"),
        on_train_end=lambda logs: events.append(f"train_end {sorted(logs)}"),
    )
    tiny_model().fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=hooks)
    epoch = ["batch_begin 0", "batch_end 0 ['loss']", "batch_begin 1", "batch_end 1 ['loss']"]
    assert events == [
        "train_begin",
        "epoch_begin 0", *epoch, "epoch_end 0 ['loss']",
        "epoch_begin 1", *epoch, "epoch_end 1 ['loss']",
        "train_end ['loss']",
    ]  # fmt: skip


def test_lambda_callback_takes_other_hooks_by_name_and_rejects_typos():
    ended = []
    hooks = callbacks.LambdaCallback(on_test_end=ended.append, note="kept")
    assert hooks.note == "kept"
    hooks.on_test_end({"loss": 1.0})
    assert ended == [{"loss": 1.0}]
    with pytest.raises(ValueError, match="unknown hook"):
        callbacks.LambdaCallback(on_epoch_ends=print)


def test_keras_2_batch_hooks_get_the_logs():
    x, y = regression(samples=8)
    seen = []

    class Old(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append((batch, sorted(logs)))

    tiny_model().fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[Old()])
    assert seen == [(0, ["loss"]), (1, ["loss"])]


# ------------------------------------------------------------------------- CallbackRunner
def test_epoch_callbacks_do_not_ask_for_batch_logs(model, tmp_path):
    epochwise = [
        callbacks.EarlyStopping(),
        callbacks.ModelCheckpoint(tmp_path / "m.keras"),
        callbacks.ReduceLROnPlateau(),
        callbacks.LearningRateScheduler(lambda epoch: 0.1),
        callbacks.CSVLogger(tmp_path / "log.csv"),
        callbacks.LambdaCallback(on_epoch_end=print, on_train_end=print),
        callbacks.History(),
        callbacks.ProgbarLogger(),
    ]
    assert not CallbackRunner(epochwise, model, 1, 2, 3).wants_batch_logs
    batchwise = [
        callbacks.TerminateOnNaN(),
        callbacks.ModelCheckpoint(tmp_path / "m.keras", save_freq=10),
        callbacks.LambdaCallback(on_train_batch_end=print),
    ]
    for callback in batchwise:
        assert CallbackRunner([*epochwise, callback], model, 1, 2, 3).wants_batch_logs
    assert not CallbackRunner(epochwise, model, 1, 2, 3).batch_begins
    assert CallbackRunner(
        [callbacks.LambdaCallback(on_train_batch_begin=print)], model, 1, 2, 3
    ).batch_begins


def test_given_callbacks_run_before_history_and_the_progress_bar(tmp_path, capsys):
    x, y = regression(samples=8)
    model = tiny_model()
    history = model.fit(
        x, y, epochs=2, batch_size=8, verbose=2,
        callbacks=[
            callbacks.ModelCheckpoint(tmp_path / "m.keras", verbose=1),
            callbacks.LearningRateScheduler(lambda epoch, lr: lr, verbose=1),
        ],
    )  # fmt: skip
    assert history.history["learning_rate"] == f32(0.01, 0.01)
    lines = capsys.readouterr().out.split("\n")
    assert lines[:7] == [
        "",
        f"Epoch 1: LearningRateScheduler setting learning rate to {f32(0.01)[0]}.",
        "Epoch 1/2",
        "",
        f"Epoch 1: saving model to {tmp_path}/m.keras",
        "",
        f"Epoch 1: finished saving model to {tmp_path}/m.keras",
    ]
    assert lines[7].startswith("1/1 - ") and "learning_rate: 0.0100" in lines[7]


def test_verbose_2_shows_negative_logs_as_keras_does(keras, capsys):
    """Keras's verbose=2 line writes a log above 1e-3 with .4f and any other, every negative
    one included, with .4e (its bar at verbose=1 compares magnitudes): keras.io's vocal track
    separation logs an SDR of -6.8414e+00."""
    x, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
    found = []
    for lib in (ac, keras):

        def negative(y_true, y_pred, lib=lib):
            return lib.ops.mean(y_true) - 6.8414

        model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1, kernel_initializer="ones")])
        model.compile("sgd", "mse", metrics=[negative])
        capsys.readouterr()
        model.evaluate(x, y, batch_size=4, verbose=2)
        line = capsys.readouterr().out.strip().split("\n")[-1]
        found.append(re.sub(r" - [\d,]+ samples/s$", "", line.split("step")[1]))
    assert found[0] == found[1] == " - loss: 4.0000 - negative: -6.8414e+00"


@pytest.mark.parametrize("given", [[print], ["abc"], "abc", [object()], [3]])
def test_objects_without_any_keras_hook_are_a_type_error(given):
    with pytest.raises(TypeError, match=r"Keras's callback hooks .*LambdaCallback"):
        CallbackRunner.checked(given)


class EpochRecorder:
    """Not a Callback: only Keras's on_epoch_end and set_model (Keras calls any object's)."""

    def __init__(self):
        self.epochs, self.model = [], None

    def set_model(self, model):
        self.model = model

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append((epoch, sorted(logs)))


class BatchCounter:
    """Not a Callback: Keras 2's batch hook only, and no set_model or set_params."""

    def __init__(self):
        self.batches = 0

    def on_batch_end(self, batch, logs=None):
        self.batches += 1


def keras_default(method):
    """keras.src.utils.python_utils.default: marks Keras's Callback's no-op hooks."""
    method._is_default = True
    return method


class KerasStyleCallback:
    """Like a keras.callbacks.Callback subclass: every hook exists, the unused ones are Keras's
    marked no-ops, and set_params stores the params."""

    def __init__(self):
        self.params, self.began = None, 0

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        self.began += 1

    @keras_default
    def on_train_batch_end(self, batch, logs=None): ...

    @keras_default
    def on_test_batch_end(self, batch, logs=None): ...


@pytest.mark.parametrize("single", [False, True], ids=["list", "one object"])
def test_objects_with_keras_hooks_are_callbacks(single):
    """Keras's CallbackList calls the hooks of any object; autoconv skips those it lacks."""
    x, y = regression(samples=8)
    model = tiny_model()
    recorder, counter, keras_style = EpochRecorder(), BatchCounter(), KerasStyleCallback()
    given = recorder if single else [recorder, counter, keras_style]
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=given)
    assert recorder.model is model
    assert recorder.epochs == [(0, ["loss"]), (1, ["loss"])]
    if not single:
        assert counter.batches == 4
        assert keras_style.began == 1 and keras_style.params["epochs"] == 2
    model.evaluate(x, y, verbose=0, callbacks=[counter])  # no test hooks: nothing called
    assert counter.batches == (4 if not single else 0)


def test_real_keras_callbacks_run_in_fit():
    """keras.callbacks objects (Keras 3.15, where installed): their hooks, set_model and
    set_params are called; EarlyStopping stops autoconv's fit."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    x, y = regression(samples=8)
    model = tiny_model(learning_rate=0.1)
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, sorted(logs), self.model is model, self.params["epochs"]))

    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=100.0)
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[Recorder(), stopper])
    assert seen == [(0, ["loss"], True, 5), (1, ["loss"], True, 5)]
    assert len(history.history["loss"]) == 2 and stopper.stopped_epoch == 1


def test_keras_no_op_hooks_do_not_ask_for_batch_logs(model):
    """Keras's marked no-op hooks are skipped, so they do not make fit read every batch's logs
    (as Keras's CallbackList decides its asynchronous dispatch with utils.is_default)."""
    listed = CallbackRunner([KerasStyleCallback()], model, 0, 1, 1)
    assert not listed.wants_batch_logs and not listed.wants_test_batch_logs
    assert CallbackRunner([BatchCounter()], model, 0, 1, 1).wants_batch_logs


@pytest.mark.cudasim
def test_callbacks_with_a_model_on_the_gpu(tmp_path):
    pytest.importorskip("numba_cuda")
    x, y = regression(samples=8)
    model = tiny_model().to("cuda")
    snapshots = []
    keep = callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: snapshots.append(model.get_weights())
    )
    history = model.fit(
        x, y, epochs=5, batch_size=4, verbose=0,
        callbacks=[
            keep,
            callbacks.ModelCheckpoint(tmp_path / "m-{epoch}.keras"),
            callbacks.ReduceLROnPlateau(monitor="loss", mode="max", patience=0),
            callbacks.EarlyStopping(monitor="loss", mode="max", restore_best_weights=True),
        ],
    )  # fmt: skip
    assert history.epoch == [0, 1] and history.history["learning_rate"] == f32(0.01, 0.01)
    assert sorted(os.listdir(tmp_path)) == ["m-1.keras", "m-2.keras"]
    for restored, best in zip(model.get_weights(), snapshots[0], strict=True):
        np.testing.assert_array_equal(restored, best)
    saved = ac.load_model(tmp_path / "m-2.keras")
    for now, then in zip(saved.get_weights(), snapshots[1], strict=True):
        np.testing.assert_array_equal(now, then)


def test_terminate_on_nan_stops_fit_gracefully_with_the_last_good_weights():
    x = np.random.default_rng(0).standard_normal((64, 3)).astype("float32")
    y = np.ones((64, 1), "float32")
    x[40] = np.nan  # the second batch of 32 (no shuffling)
    model = ac.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    model.fit(x[:32], y[:32], batch_size=32, verbose=0)
    good = model.get_weights()
    steps = int(model.optimizer.iterations)  # (the variable is a live view, as Keras's)
    history = model.fit(
        x, y, batch_size=32, epochs=3, shuffle=False, verbose=0,
        callbacks=[ac.callbacks.TerminateOnNaN()],
    )  # fmt: skip
    assert model.stop_training and history.epoch == [0]  # no error: the callback stopped it
    assert model.optimizer.iterations == steps + 1  # the first batch; the NaN step not counted
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert not all(np.array_equal(a, b) for a, b in zip(good, model.get_weights(), strict=True))


def test_evaluate_and_predict_call_their_batch_hooks():
    seen = []
    hooks = ac.callbacks.LambdaCallback(
        on_test_batch_end=lambda batch, logs: seen.append(("test", batch, sorted(logs))),
        on_predict_batch_end=lambda batch, logs: seen.append(("predict", batch)),
        on_predict_end=lambda logs: seen.append("predict end"),
    )
    model = ac.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    model.evaluate(np.ones((4, 2)), np.ones(4), batch_size=2, verbose=0, callbacks=[hooks])
    model.predict(np.ones((3, 2)), batch_size=2, verbose=0, callbacks=[hooks])
    assert seen == [("test", 0, ["loss"]), ("test", 1, ["loss"]), ("predict", 0),
                    ("predict", 1), "predict end"]  # fmt: skip


def multi_optimizer_fit(keras, make_callbacks):
    """Keras's or autoconv's (``keras``) fit of a Dense model whose kernel Adam trains and
    whose bias SGD trains, with ``make_callbacks(keras)``: its history."""
    keras.utils.set_random_seed(0)
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")])
    model.set_weights([np.array([[0.5], [-0.25]], np.float32), np.array([0.1], np.float32)])
    optimizer = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
        keras.optimizers.SGD(0.05), {".*kernel": keras.optimizers.Adam(0.01)}))  # fmt: skip
    model.compile(optimizer, "mse")
    x, y = regression(samples=8)
    fit = model.fit(x, y, epochs=4, batch_size=4, shuffle=False, verbose=0,
                    callbacks=make_callbacks(keras))  # fmt: skip
    return fit.history


@pytest.mark.parametrize(
    "make_callbacks",
    [lambda k: [k.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)],
     lambda k: [k.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=10.0)]],
    ids=["LearningRateScheduler", "ReduceLROnPlateau"],
)  # fmt: skip
def test_learning_rate_callbacks_set_and_log_each_inner_optimizers_rate(keras, make_callbacks):
    ours, theirs = (multi_optimizer_fit(k, make_callbacks) for k in (ac, keras))
    assert sorted(ours) == sorted(theirs)
    assert {"learning_rate_adam", "learning_rate_sgd"} <= set(ours)
    for key, values in theirs.items():
        np.testing.assert_allclose(ours[key], values, rtol=1e-5, err_msg=key)
