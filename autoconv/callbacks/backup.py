"""Keras's ``BackupAndRestore``: fault tolerance for ``fit``. The training state is backed up in
a folder as training goes; when the same script runs again after an interruption (an error, a
kill, a lost machine), ``fit`` resumes from the last backup instead of starting over."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from autoconv import distributed
from autoconv.atomic import write_atomically
from autoconv.callbacks.base import BatchCountdown, Callback
from autoconv.seeds import generator

WEIGHTS = "latest.weights.h5"
METADATA = "training_metadata.json"
PENDING = "pending.weights.h5"  # the next backup's weights, until its metadata is written
PREVIOUS = ".bkp"  # the suffix of double_checkpoint's copies of the previous backup


class BackupAndRestore(Callback):
    """Back up the training state in ``backup_dir`` (Keras's ``BackupAndRestore``): at the end
    of every epoch (``save_freq="epoch"``) or every ``save_freq`` batches, each backup replacing
    the last. A ``fit`` that finds a backup there resumes from it: the weights and the
    optimizer's state (its step count and slots), the epoch, and autoconv's additions: the
    batch inside the epoch (a backup made every N batches resumes at the next batch of the same
    shuffled order, not at the epoch's start as in Keras) and the random generators' states
    (autoconv's, which dropout draws from, and those of layers given a ``seed``). So a run
    interrupted at any moment, with ``autoconv.utils.set_random_seed`` called, ends with the
    weights of a run never interrupted. Not restored, as in Keras: the other callbacks' state
    and, after a mid-epoch resume, the running metrics of the batches done before.

    The files are Keras's: ``latest.weights.h5`` (``model.save_weights``, optimizer included)
    and ``training_metadata.json`` (``{"epoch", "batch"}`` as Keras writes them, plus an
    ``"autoconv"`` entry: the batches done in the epoch, the weights file's SHA-256 and the
    random states). ``double_checkpoint`` keeps the backup before the last as
    ``latest.weights.h5.bkp`` and ``training_metadata.json.bkp``; ``delete_checkpoint`` removes
    ``backup_dir`` when ``fit`` ends normally (not after an error, which leaves it to resume).

    Crash safety: every file is written under a temporary name and renamed over its target.
    A backup is committed by its metadata: the weights go to ``pending.weights.h5``, then the
    metadata naming their SHA-256 replaces the old one, then the weights are renamed to
    ``latest.weights.h5``. A run killed before the metadata was replaced resumes from the
    previous backup (the pending file is discarded); one killed after it finishes the rename.
    A backup whose weights are not those its metadata names (damaged or replaced) falls back,
    with a warning, to the ``.bkp`` pair when that one is whole (Keras's fallback), else it is
    an error: nothing resumes from a state that does not match. Weights without metadata are
    no backup (a first backup killed midway, or a deletion interrupted, which removes the
    metadata first): training starts from the beginning, with a warning.

    As in Keras, the model must be built before ``fit``, and the script must train the same
    model with the same compile and fit arguments; a backup made mid-epoch is refused when the
    batches per epoch differ. Not supported over several processes (autoconv.distributed).
    """

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        save_freq: str | int = "epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
    ) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ValueError(
                "Invalid value for argument `save_freq`. "
                f"Received: save_freq={save_freq}. "
                "Expected either 'epoch' or an integer value."
            )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        folder = Path(self.backup_dir)
        self._weights_path = folder / WEIGHTS
        self._training_metadata_path = folder / METADATA
        self._pending_path = folder / PENDING
        self._prev_weights_path = folder / (WEIGHTS + PREVIOUS)
        self._prev_training_metadata_path = folder / (METADATA + PREVIOUS)
        self._countdown = BatchCountdown(save_freq) if isinstance(save_freq, int) else None
        self._current_epoch = 0
        self._epoch_draws: dict[str, Any] = {}  # autoconv's generator as the epoch began
        self._draws_at_step: dict[str, Any] | None = None  # to restore before the next batch
        if isinstance(save_freq, int):  # only then ask fit for the logs of every batch
            self.on_train_batch_end = self._on_train_batch_end

    # ---------------------------------------------------------------- restoring
    def on_train_begin(self, logs: dict | None = None) -> None:
        if distributed.current() is not None:
            raise NotImplementedError(
                "BackupAndRestore is not supported over several processes "
                "(autoconv.distributed) yet"
            )
        if not self.model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, your model must be built before you "
                f"call `fit()`. Model {self.model.name} is unbuilt. You can build it "
                "beforehand by calling it on a batch of data."
            )
        _check_folder(self.backup_dir)
        if self._countdown is not None:
            self._countdown.reset()
        self._current_epoch = 0
        self._draws_at_step = None
        metadata = self._backup_to_resume()
        if metadata is not None:
            self._restore(metadata)

    def _backup_to_resume(self) -> dict[str, Any] | None:
        """The metadata of the backup to resume from (an interrupted backup finished first, or
        the previous one put back), None if there is none; an error if it cannot be used."""
        if not self._training_metadata_path.exists():
            stray = [p.name for p in (self._weights_path, self._pending_path) if p.exists()]
            if stray:
                warnings.warn(
                    f"BackupAndRestore: {self.backup_dir} holds {', '.join(stray)} but no "
                    f"{METADATA} (a first backup or a deletion was interrupted): training "
                    "starts from the beginning",
                    stacklevel=2,
                )
            self._pending_path.unlink(missing_ok=True)
            return None
        metadata, problem = _read(self._training_metadata_path)
        if metadata is not None and self._pending_path.exists():
            if _sha256(self._pending_path) == _expected_sha256(metadata):
                os.replace(self._pending_path, self._weights_path)  # the rename it was killed in
            else:
                self._pending_path.unlink()  # killed before its metadata: never committed
        if metadata is not None:
            problem = _mismatch(self._weights_path, metadata)
        if problem is None:
            return metadata
        previous, previous_problem = _read(self._prev_training_metadata_path)
        if previous is not None:
            previous_problem = _mismatch(self._prev_weights_path, previous)
        if previous_problem is None:
            warnings.warn(
                f"BackupAndRestore: the last backup in {self.backup_dir} cannot be used "
                f"({problem}); resuming from the one before it",
                stacklevel=2,
            )
            _copy(self._prev_weights_path, self._weights_path)
            _copy(self._prev_training_metadata_path, self._training_metadata_path)
            return previous
        raise ValueError(
            f"BackupAndRestore cannot resume from the backup in {self.backup_dir}: {problem}, "
            "and there is no whole previous backup (double_checkpoint=True keeps one). Delete "
            "the folder to train from the beginning."
        )

    def _restore(self, metadata: dict[str, Any]) -> None:
        """Load the backup's weights and optimizer state, and tell ``fit`` where to resume."""
        ours = metadata.get("autoconv", {})
        epoch, step = metadata["epoch"], ours.get("step", 0)
        steps = (self.params or {}).get("steps")
        if step and ours["steps"] != steps:
            raise ValueError(
                f"BackupAndRestore: the backup in {self.backup_dir} was made after batch {step} "
                f"of an epoch of {ours['steps']} batches, but this fit has "
                f"{steps} batches per epoch (batch_size, steps_per_epoch or "
                "the data changed); it cannot resume inside that epoch"
            )
        self.model.load_weights(self._weights_path)
        if "random" in ours:
            self._restore_draws(ours["random"], step)
        self.model._initial_epoch, self.model._initial_step = epoch, step
        self._current_epoch = epoch
        if self._countdown is not None:
            self._countdown.reset(last_batch=step - 1 if step else 0)

    def _restore_draws(self, random: dict[str, Any], step: int) -> None:
        """Put the random generators back as they were at the backup. Mid-epoch, autoconv's
        generator is first put back as the epoch began, so that an unseeded shuffle draws that
        epoch's order again, and then as it was at the backup, before the next batch."""
        layers = _random_layers(self.model)
        if len(layers) != len(random["layers"]):
            raise ValueError(
                f"BackupAndRestore: the backup in {self.backup_dir} is of a model with "
                f"{len(random['layers'])} seeded random layers, not {len(layers)}"
            )
        for layer, state in zip(layers, random["layers"], strict=True):
            layer._generator.bit_generator.state = state
        if step:
            generator().bit_generator.state = random["epoch_start"]
            self._draws_at_step = random["global"]
        else:
            generator().bit_generator.state = random["global"]

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self._draws_at_step is not None:  # the first batch after a mid-epoch resume
            generator().bit_generator.state = self._draws_at_step
            self._draws_at_step = None

    # ---------------------------------------------------------------- backing up
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch
        self._epoch_draws = generator().bit_generator.state

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._countdown is not None:
            self._countdown.new_epoch()
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0)

    def _on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._countdown.due(batch):
            self._save(self._current_epoch, batch + 1)

    def _save(self, epoch: int, step: int) -> None:
        """Back up the state after ``step`` batches of ``epoch`` (0: before its first), in
        the order that keeps a backup whole whenever the process dies (see the class)."""
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            if self._weights_path.exists():
                _copy(self._weights_path, self._prev_weights_path)
            if self._training_metadata_path.exists():
                _copy(self._training_metadata_path, self._prev_training_metadata_path)
        self.model.save_weights(self._pending_path, overwrite=True)
        random = {
            "global": generator().bit_generator.state,
            "layers": [x._generator.bit_generator.state for x in _random_layers(self.model)],
        }
        if step:
            random["epoch_start"] = self._epoch_draws
        metadata = {
            "epoch": epoch,
            "batch": max(step - 1, 0),  # Keras's: the last batch done, 0 at an epoch's end
            "autoconv": {
                "step": step,
                "steps": (self.params or {}).get("steps"),
                "weights_sha256": _sha256(self._pending_path),
                "random": random,
            },
        }
        text = json.dumps(metadata).encode()
        write_atomically(self._training_metadata_path, lambda f: f.write(text))
        os.replace(self._pending_path, self._weights_path)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            self._training_metadata_path.unlink(missing_ok=True)  # first: no backup from here
            shutil.rmtree(self.backup_dir)


# ------------------------------------------------------------------------ helpers
def _check_folder(backup_dir: str) -> None:
    """Make ``backup_dir`` (and its parents) if needed; a clear error, before training, if it
    cannot hold the backups."""
    path = Path(backup_dir)
    for folder in (path, *path.parents):
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(
                f"BackupAndRestore cannot back up in {backup_dir}: {folder} is a file"
            )
    os.makedirs(path, exist_ok=True)
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(
            f"BackupAndRestore cannot back up in {backup_dir}: the folder is not writable"
        )


def _read(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the metadata in ``path``, None) or (None, why it is not usable)."""
    if not path.exists():
        return None, f"{path.name} is missing"
    try:
        metadata = json.loads(path.read_bytes())
        counts = [metadata["epoch"]]
        if "autoconv" in metadata:  # absent from a backup Keras wrote
            ours = metadata["autoconv"]
            counts.append(ours["step"])
            if not isinstance(ours["weights_sha256"], str) or not {"steps", "random"} <= set(ours):
                raise ValueError("it does not hold what BackupAndRestore writes")
        if not all(_is_count(count) for count in counts):
            raise ValueError("its epoch or batch is not a count")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        return None, f"{path.name} is unreadable ({error})"
    return metadata, None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _expected_sha256(metadata: dict[str, Any]) -> str | None:
    """The weights' SHA-256 the metadata names (None in a backup Keras wrote)."""
    return metadata.get("autoconv", {}).get("weights_sha256")


def _mismatch(weights: Path, metadata: dict[str, Any]) -> str | None:
    """Why ``weights`` are not the weights ``metadata`` describes, or None if they are."""
    if not weights.exists():
        return f"{weights.name} is missing"
    expected = _expected_sha256(metadata)
    if expected is not None and _sha256(weights) != expected:
        return f"{weights.name} is not the file its metadata names (damaged or replaced)"
    return None


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _copy(source: Path, target: Path) -> None:
    """Copy ``source`` over ``target`` atomically."""

    def write(f: Any) -> None:
        with open(source, "rb") as read:
            shutil.copyfileobj(read, f)

    write_atomically(target, write)


def _random_layers(layer: Any) -> list[Any]:
    """The layers inside ``layer`` with their own random generator (given a ``seed``)."""
    found = []
    for sub in layer._layers:
        if isinstance(getattr(sub, "_generator", None), np.random.Generator):
            found.append(sub)
        found += _random_layers(sub)
    return found
