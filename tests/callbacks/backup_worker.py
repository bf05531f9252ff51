"""The training script tests/callbacks/test_backup.py runs in child processes, as a user runs
one under BackupAndRestore: killed (SIGKILL) at a chosen moment, then run again unchanged.

    python tests/callbacks/backup_worker.py CONFIG_JSON

CONFIG_JSON holds ``backup_dir``, ``out`` (where the final weights go, as .npz), the callback's
``save_freq``, ``double_checkpoint`` and ``delete_checkpoint``, and ``kill``: None, or where
the process kills itself: ``["batch", epoch, batch]`` as that batch begins, or
``["replace", n, name]`` just before the n-th (from 1) rename of a file onto ``name`` in the
backup folder, that is while a backup is being written (a write's bytes are all in its
temporary file before it is renamed).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere

import autoconv as ac
from autoconv import callbacks, layers, models

EPOCHS, SAMPLES, BATCH = 3, 40, 8  # 5 batches per epoch


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((SAMPLES, 6), dtype=np.float32), rng.integers(0, 3, SAMPLES)


def model() -> models.Sequential:
    """A small classifier with both kinds of dropout: one drawing from autoconv's generator,
    one from its own (seeded)."""
    net = models.Sequential(
        [
            layers.Input((6,)),
            layers.Dense(8, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(8, activation="relu"),
            layers.Dropout(0.2, seed=3),
            layers.Dense(3, activation="softmax"),
        ]
    )
    net.compile("adam", "sparse_categorical_crossentropy")
    return net


def kill_before_replace(count: int, name: str) -> None:
    """Kill the process just before the ``count``-th rename onto a file called ``name``."""
    replace, seen = os.replace, [0]

    def patched(source: str | os.PathLike, target: str | os.PathLike) -> None:
        if Path(target).name == name:
            seen[0] += 1
            if seen[0] == count:
                os.kill(os.getpid(), signal.SIGKILL)
        replace(source, target)

    os.replace = patched


def main(config: dict) -> None:
    ac.utils.set_random_seed(7)
    x, y = data()
    net = model()
    kill = config["kill"]
    extra = []
    if kill and kill[0] == "batch":

        def die(batch: int, logs: dict | None = None) -> None:
            if (epoch[0], batch) == (kill[1], kill[2]):
                os.kill(os.getpid(), signal.SIGKILL)

        epoch = [0]
        extra.append(
            callbacks.LambdaCallback(
                on_epoch_begin=lambda e, logs: epoch.__setitem__(0, e), on_train_batch_begin=die
            )
        )
    elif kill:
        kill_before_replace(kill[1], kill[2])
    backup = callbacks.BackupAndRestore(
        config["backup_dir"],
        save_freq=config["save_freq"],
        double_checkpoint=config["double_checkpoint"],
        delete_checkpoint=config["delete_checkpoint"],
    )
    history = net.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[backup, *extra])
    np.savez(
        config["out"],
        *net.get_weights(),
        iterations=net.optimizer.iterations,
        epochs=np.array(history.epoch),
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
