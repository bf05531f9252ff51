"""callbacks.BackupAndRestore: a training script killed at any moment (SIGKILL, mid-epoch and
mid-backup included) and run again ends with the weights of a run never interrupted; Keras's
files and arguments (save_freq, double_checkpoint, delete_checkpoint); a damaged backup is
never resumed from silently."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import autoconv.seeds
from autoconv import array_batches, callbacks
from autoconv.training import TrainingDivergedError
from tests.callbacks import backup_worker

WORKER = Path(backup_worker.__file__)
EPOCHS = backup_worker.EPOCHS


def config(tmp_path: Path, name: str, **overrides) -> dict:
    return {
        "backup_dir": str(tmp_path / name),
        "out": str(tmp_path / f"{name}.npz"),
        "save_freq": "epoch",
        "double_checkpoint": False,
        "delete_checkpoint": True,
        "kill": None,
    } | overrides


def run_child(settings: dict) -> int:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", str(WORKER), json.dumps(settings)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.returncode


def results(settings: dict) -> dict[str, np.ndarray]:
    with np.load(settings["out"]) as f:
        return dict(f)


def assert_same_training(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    """The same weights, to the bit, and the same step count."""
    assert got["iterations"] == expected["iterations"]
    for key in expected:
        if key.startswith("arr_"):
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, np.ndarray]:
    settings = config(tmp_path_factory.mktemp("reference"), "reference")
    backup_worker.main(settings)
    assert not os.path.exists(settings["backup_dir"])  # deleted at the end
    got = results(settings)
    assert list(got["epochs"]) == list(range(EPOCHS))
    return got


# The batches per epoch are 5; "pending.weights.h5" is renamed when a backup's weights are
# written, "training_metadata.json" when its metadata is (the backup is then committed),
# "latest.weights.h5" when the weights take their place.
KILLS = {
    "as the last epoch begins": ("epoch", False, ["batch", 2, 0], [2]),
    "mid-epoch": ("epoch", False, ["batch", 1, 3], [1, 2]),
    "writing the weights": ("epoch", False, ["replace", 2, "pending.weights.h5"], [1, 2]),
    "writing the metadata": ("epoch", False, ["replace", 2, "training_metadata.json"], [1, 2]),
    "before the last rename": ("epoch", False, ["replace", 2, "latest.weights.h5"], [2]),
    "copying the previous backup": ("epoch", True, ["replace", 2, "latest.weights.h5.bkp"], [2]),
    "every 2 batches, mid-epoch": (2, False, ["batch", 1, 4], [1, 2]),
    "every 2 batches, before the rename": (2, False, ["replace", 5, "latest.weights.h5"], [1, 2]),
}


@pytest.mark.parametrize("case", list(KILLS))
def test_killed_run_resumes_to_the_weights_of_an_uninterrupted_run(case, tmp_path, uninterrupted):
    save_freq, double, kill, epochs_after = KILLS[case]
    settings = config(tmp_path, "run", save_freq=save_freq, double_checkpoint=double)
    assert run_child(settings | {"kill": kill}) == -signal.SIGKILL
    assert (tmp_path / "run" / "training_metadata.json").exists()
    assert not os.path.exists(settings["out"])
    assert run_child(settings) == 0
    got = results(settings)
    assert list(got["epochs"]) == epochs_after
    assert_same_training(got, uninterrupted)
    assert not os.path.exists(settings["backup_dir"])


def test_a_backup_every_n_batches_resumes_inside_the_epoch(tmp_path, uninterrupted):
    settings = config(tmp_path, "run", save_freq=2)
    run_child(settings | {"kill": ["batch", 1, 4]})
    metadata = json.loads((tmp_path / "run" / "training_metadata.json").read_text())
    # 9 batches done, the last backup after the 8th: batch index 2 of epoch 1 (Keras's keys)
    assert (metadata["epoch"], metadata["batch"], metadata["autoconv"]["step"]) == (1, 2, 3)
    assert sorted(os.listdir(tmp_path / "run")) == ["latest.weights.h5", "training_metadata.json"]


# ------------------------------------------------------------- in one process
def train(tmp_path: Path, **overrides) -> dict[str, np.ndarray]:
    settings = config(tmp_path, "backup", **overrides)
    backup_worker.main(settings)
    return results(settings)


def test_delete_checkpoint_false_keeps_the_last_backup(tmp_path, uninterrupted):
    assert_same_training(train(tmp_path, delete_checkpoint=False), uninterrupted)
    folder = tmp_path / "backup"
    assert sorted(os.listdir(folder)) == ["latest.weights.h5", "training_metadata.json"]
    metadata = json.loads((folder / "training_metadata.json").read_text())
    assert (metadata["epoch"], metadata["batch"]) == (EPOCHS, 0)
    again = train(tmp_path, delete_checkpoint=False)  # resumes after the last epoch
    assert list(again["epochs"]) == []
    assert_same_training(again, uninterrupted)


def test_double_checkpoint_falls_back_on_the_previous_backup(tmp_path, uninterrupted):
    train(tmp_path, delete_checkpoint=False, double_checkpoint=True)
    folder = tmp_path / "backup"
    assert sorted(os.listdir(folder)) == [
        "latest.weights.h5", "latest.weights.h5.bkp",
        "training_metadata.json", "training_metadata.json.bkp",
    ]  # fmt: skip
    previous = json.loads((folder / "training_metadata.json.bkp").read_text())
    assert previous["epoch"] == EPOCHS - 1
    weights = folder / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    with pytest.warns(UserWarning, match="cannot be used .*resuming from the one before"):
        got = train(tmp_path, double_checkpoint=True)
    assert list(got["epochs"]) == [EPOCHS - 1]
    assert_same_training(got, uninterrupted)


@pytest.mark.parametrize(
    "damage",
    ["truncated weights", "replaced weights", "metadata without weights", "unreadable metadata"],
)
def test_a_damaged_backup_without_a_previous_one_is_an_error(damage, tmp_path):
    train(tmp_path, delete_checkpoint=False)
    folder = tmp_path / "backup"
    weights, metadata = folder / "latest.weights.h5", folder / "training_metadata.json"
    if damage == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "replaced weights":  # a whole weights file, but not the one backed up
        backup_worker.model().save_weights(weights)
    elif damage == "metadata without weights":
        weights.unlink()
    else:
        metadata.write_text('{"epoch": 2, "batch"')
    with pytest.raises(ValueError, match="cannot resume from the backup"):
        train(tmp_path)


def test_weights_without_metadata_are_no_backup(tmp_path, uninterrupted):
    train(tmp_path, delete_checkpoint=False)
    (tmp_path / "backup" / "training_metadata.json").unlink()  # as a deletion interrupted
    with pytest.warns(UserWarning, match="starts from the beginning"):
        got = train(tmp_path)
    assert list(got["epochs"]) == list(range(EPOCHS))
    assert_same_training(got, uninterrupted)


def test_a_mid_epoch_backup_needs_the_same_batches_per_epoch(tmp_path):
    train(tmp_path, save_freq=2, delete_checkpoint=False)  # the last backup: 4 batches in
    x, y = backup_worker.data()
    net = backup_worker.model()
    backup = callbacks.BackupAndRestore(tmp_path / "backup", save_freq=2)
    with pytest.raises(ValueError, match="after batch 4 of an epoch of 5 batches, but this fit"):
        net.fit(x, y, batch_size=4, epochs=EPOCHS, verbose=0, callbacks=[backup])
    assert net.optimizer.iterations == 0


def test_errors_before_training(tmp_path):
    with pytest.raises(ValueError, match="Empty `backup_dir`"):
        callbacks.BackupAndRestore("")
    for save_freq in ("batch", 0, True, 1.5):
        with pytest.raises(ValueError, match="Invalid value for argument `save_freq`"):
            callbacks.BackupAndRestore(tmp_path, save_freq=save_freq)
    (tmp_path / "file").write_text("")
    x, y = backup_worker.data()
    net = backup_worker.model()
    backup = callbacks.BackupAndRestore(tmp_path / "file" / "backup")
    with pytest.raises(NotADirectoryError, match="is a file"):
        net.fit(x, y, epochs=1, verbose=0, callbacks=[backup])
    assert net.optimizer.iterations == 0


def test_an_unseeded_shuffle_resumes_the_order_of_the_interrupted_epoch(tmp_path, monkeypatch):
    """Without set_random_seed, an epoch's order comes from autoconv's generator: a run
    resumed inside the epoch draws the order the interrupted run had."""
    monkeypatch.setattr(autoconv.seeds, "_seed", None)
    monkeypatch.setattr(autoconv.seeds, "_generator", np.random.default_rng(1))
    orders = []
    epoch_generator = array_batches.epoch_generator

    def recording(epoch: int) -> np.random.Generator:
        rng = epoch_generator(epoch)
        twin = np.random.default_rng()
        twin.bit_generator.state = rng.bit_generator.state
        orders.append((epoch, twin.permutation(backup_worker.SAMPLES)))
        return rng

    monkeypatch.setattr(array_batches, "epoch_generator", recording)

    def interrupt(batch: int, logs: dict | None = None) -> None:
        if len(orders) == 2 and batch == 3:
            raise RuntimeError("interrupted")

    x, y = backup_worker.data()
    net = backup_worker.model()
    fit_with = [
        callbacks.BackupAndRestore(tmp_path, save_freq=2),
        callbacks.LambdaCallback(on_train_batch_begin=interrupt),
    ]
    with pytest.raises(RuntimeError, match="interrupted"):
        net.fit(x, y, batch_size=8, epochs=EPOCHS, verbose=0, callbacks=fit_with)
    assert [epoch for epoch, _ in orders] == [0, 1]
    net.fit(x, y, batch_size=8, epochs=EPOCHS, verbose=0, callbacks=fit_with[:1])
    assert [epoch for epoch, _ in orders] == [0, 1, 1, 2]  # resumed after batch 3 of epoch 1
    np.testing.assert_array_equal(orders[2][1], orders[1][1])


def test_a_dataset_resumes_inside_the_epoch(tmp_path):
    """A Dataset's batches done before a mid-epoch backup are skipped when training resumes."""
    x, y = backup_worker.data()
    dataset = autoconv.data.Dataset.from_tensor_slices((x, y)).batch(backup_worker.BATCH)

    def interrupt(batch: int, logs: dict | None = None) -> None:
        if net.optimizer.iterations == 8:
            raise RuntimeError("interrupted")

    weights = []
    for interrupted in (False, True):
        autoconv.utils.set_random_seed(7)
        net = backup_worker.model()
        backup = callbacks.BackupAndRestore(tmp_path / str(interrupted), save_freq=3)
        if interrupted:
            stop = callbacks.LambdaCallback(on_train_batch_begin=interrupt)
            with pytest.raises(RuntimeError, match="interrupted"):
                net.fit(dataset, epochs=EPOCHS, verbose=0, callbacks=[backup, stop])
            net = backup_worker.model()  # as a new process builds it
        history = net.fit(dataset, epochs=EPOCHS, verbose=0, callbacks=[backup])
        weights.append(net.get_weights())
    assert history.epoch == [1, 2]  # from the backup after 6 batches: 1 of epoch 1
    for got, expected in zip(weights[1], weights[0], strict=True):
        np.testing.assert_array_equal(got, expected)


def test_a_divergence_after_a_resume_names_the_batch_of_the_whole_epoch(tmp_path):
    """Resumed inside an epoch, a NaN loss at that epoch's batch 5 is reported as batch 5 (not
    as the third batch run since the restart), and the optimizer's step count is the last good
    step's."""
    x, y = backup_worker.data()
    x[32:] = np.nan  # the last batch of every epoch (batches of 8, in order)

    def interrupt(batch: int, logs: dict | None = None) -> None:
        if batch == 3:
            raise RuntimeError("interrupted")

    net = backup_worker.model()
    backup = callbacks.BackupAndRestore(tmp_path, save_freq=2)
    stop = callbacks.LambdaCallback(on_train_batch_begin=interrupt)
    with pytest.raises(RuntimeError, match="interrupted"):
        net.fit(
            x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=[backup, stop]
        )
    net = backup_worker.model()
    with pytest.raises(TrainingDivergedError, match="at epoch 1, batch 5"):
        net.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=[backup])
    assert net.optimizer.iterations == 4
