"""The callbacks that act on training: those that watch a metric (``EarlyStopping``,
``ModelCheckpoint``, ``ReduceLROnPlateau``), ``LearningRateScheduler``, ``CSVLogger``,
``TerminateOnNaN`` and ``RemoteMonitor``."""

from __future__ import annotations

import csv
import json
import operator
import os
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from autoconv.callbacks.base import (
    BatchCountdown,
    Callback,
    _print,
    learning_rate_keys,
    learning_rates,
)
from autoconv.metrics.compile_metrics import each_metric


# ------------------------------------------------------------------- monitoring a metric
class MonitorCallback(Callback):
    """Base of the callbacks that watch one logged quantity (Keras's ``MonitorCallback``).

    ``mode`` "min" or "max" says which way is better; "auto" takes "min" for ``loss`` and
    ``val_loss``, else the direction (``_direction``) of the compiled metric of that name (an
    accuracy goes up, an error down). The direction is settled at the first epoch's end, when
    the metrics exist. ``baseline`` is the initial best value (None: the first value seen).
    A value improves on ``best`` when it is better by more than ``min_delta``."""

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        baseline: float | None = None,
        min_delta: float = 0,
    ) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                stacklevel=3,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op: Callable[[Any, Any], bool] | None = None

    def _set_monitor_op(self) -> None:
        if self.mode == "min":
            self.monitor_op = operator.lt
        elif self.mode == "max":
            self.monitor_op = operator.gt
        else:
            name = self.monitor.removeprefix("val_")
            if name == "loss":
                self.monitor_op = operator.lt
            for metric in each_metric(getattr(self.model, "metrics", None) or []):
                if metric.name == name and hasattr(metric, "_direction"):
                    self.monitor_op = operator.gt if metric._direction == "up" else operator.lt
            if self.monitor_op is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but "
                    "autoconv isn't able to automatically determine whether that metric "
                    "should be maximized or minimized. Pass `mode='max'` in order to monitor "
                    "based on the highest metric value, or pass `mode='min'` in order to use "
                    "the lowest value."
                )
        if self.monitor_op is operator.lt:
            self.min_delta *= -1

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if np.ndim(value) != 0:
            raise ValueError(
                f"{type(self).__name__}: monitor={self.monitor!r} has {np.size(value)} values "
                "(one per class or output), not one number; monitor a metric averaged to one "
                "(F1Score(average='macro'), say)"
            )
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs (Keras's
    ``EarlyStopping``): ``fit`` ends after the epoch that sets ``model.stop_training``.

    An epoch improves when it beats the best so far by more than ``min_delta``; the wait
    restarts only if it also beats ``baseline`` (when given). Epochs before
    ``start_from_epoch`` are not watched. With ``restore_best_weights``, the weights of the best
    epoch are put back when training ends, whether or not it stopped early."""

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, None, min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: dict | None) -> float | None:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not "
                f"available. Available metrics are: {','.join(logs)}",
                stacklevel=2,
            )
        return value


class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save``) or its weights (``model.save_weights``) during
    training (Keras's ``ModelCheckpoint``).

    ``filepath`` may hold format fields filled from ``epoch`` (1-based), ``batch`` (1-based,
    when saving by batch) and the logs: ``"ckpt/{epoch:02d}-{val_loss:.2f}.keras"``. As in
    Keras 3 it must end in ``.keras`` for a model (Keras's archive; ``.h5`` writes Keras 2's
    legacy file) and in ``.weights.h5`` for weights, written atomically.
    Missing folders
    are made. ``save_best_only`` saves only when ``monitor`` improves (see
    :class:`MonitorCallback`; ``initial_value_threshold`` is the best to beat at first).
    ``save_freq`` is "epoch" or a number of batches (which makes ``fit`` read the logs back
    after every batch). A folder that can never be written is reported before training."""

    process_0_only = True

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, initial_value_threshold)
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._current_epoch = 0
        if save_freq != "epoch" and not isinstance(save_freq, int):
            raise ValueError(
                f"Unrecognized save_freq: {save_freq}. Expected save_freq are 'epoch' or "
                "integer values"
            )
        if save_weights_only:
            if not self.filepath.endswith(".weights.h5"):
                raise ValueError(
                    "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath "
                    "provided must end in `.weights.h5` (Keras weights format). Received: "
                    f"filepath={self.filepath}"
                )
        elif not self.filepath.endswith((".keras", ".h5")):
            raise ValueError(
                "The filepath provided must end in `.keras` (Keras model format). Received: "
                f"filepath={self.filepath}"
            )
        self._countdown = BatchCountdown(save_freq) if isinstance(save_freq, int) else None
        if isinstance(save_freq, int):  # only then ask fit for the logs of every batch
            self.on_train_batch_end = self._on_train_batch_end

    def on_train_begin(self, logs: dict | None = None) -> None:
        _check_writable(self.filepath)

    def _on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._countdown.due(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_model(self, epoch: int, logs: dict, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=2)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                _print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                    f"{current:.5f}, saving model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch: int, batch: int | None, logs: dict | None) -> None:
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, logs, filepath):
            return
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if os.path.isdir(filepath):
            raise OSError(_IS_A_FOLDER + filepath)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _get_file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as error:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {error}'
            ) from None


_IS_A_FOLDER = (
    "Please specify a non-directory filepath for ModelCheckpoint. Filepath used is an existing "
    "directory: "
)


def _check_writable(filepath: str) -> None:
    """Raise if no file could ever be saved at ``filepath`` (its folder, up to its first
    format field, is under a file or not writable, or the path is a folder): autoconv says so
    before training, where Keras would fail at the first save."""
    if "{" not in filepath and os.path.isdir(filepath):
        raise OSError(_IS_A_FOLDER + filepath)
    folder = Path(os.path.dirname(filepath.split("{", 1)[0]) or ".").absolute()
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(
            f"ModelCheckpoint cannot save to {filepath}: {existing} is a file, not a folder"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(
            f"ModelCheckpoint cannot save to {filepath}: the folder {existing} is not writable"
        )


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the optimizer's learning rate by ``factor`` when ``monitor`` has not improved
    (by more than ``min_delta``) for ``patience`` epochs (Keras's ``ReduceLROnPlateau``), never
    below ``min_lr``; then wait ``cooldown`` epochs before counting again. Adds the learning
    rate to the epoch's logs as ``learning_rate`` (a ``MultiOptimizer``'s: each inner
    optimizer's reduced, and logged as ``learning_rate_<its name>``, as Keras)."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.cooldown_counter = 0
        self.wait = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = {} if logs is None else logs
        logs.update(learning_rates(self.model.optimizer))
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                f"not available. Available metrics are: {','.join(logs)}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                multi = hasattr(self.model.optimizer, "optimizers")
                reduced = [self._reduce(each, epoch, each.name if multi else "")
                           for each, _ in learning_rate_keys(self.model.optimizer)]  # fmt: skip
                if any(reduced):
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def _reduce(self, optimizer: Any, epoch: int, name: str) -> bool:
        """``optimizer``'s learning rate times ``factor`` (not below ``min_lr``) where it is
        above ``min_lr``; whether it was."""
        old_lr = float(optimizer.learning_rate)
        if old_lr <= np.float32(self.min_lr):
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        optimizer.learning_rate = new_lr
        if self.verbose > 0:
            named = f" {name}" if name else ""
            _print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing{named} learning rate to "
                   f"{new_lr}.")  # fmt: skip
        return True

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0


# --------------------------------------------------------------------- other callbacks
class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)`` (epoch from 0,
    lr the current rate), or ``schedule(epoch)`` for a one-argument schedule, which must
    return a float (Keras's ``LearningRateScheduler``). Adds ``learning_rate`` to the
    epoch's logs (a ``MultiOptimizer``'s: each inner optimizer's set, and logged as
    ``learning_rate_<its name>``, as Keras)."""

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        multi = hasattr(self.model.optimizer, "optimizers")
        for optimizer, _ in learning_rate_keys(self.model.optimizer):
            learning_rate = self._update(optimizer, epoch)
            if self.verbose > 0:
                named = f"{optimizer.name} " if multi else ""
                _print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting {named}learning "
                       f"rate to {learning_rate}.")  # fmt: skip

    def _update(self, optimizer: Any, epoch: int) -> float:
        """``optimizer``'s learning rate set to the schedule's for ``epoch``."""
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # a schedule of the epoch alone
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, float | np.float32 | np.float64):
            raise ValueError(
                f"The output of the `schedule` function should be a float. Got: {learning_rate}"
            )
        optimizer.learning_rate = learning_rate
        return learning_rate

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs.update(learning_rates(self.model.optimizer))


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (Keras's ``CSVLogger``): the columns are
    ``epoch`` (from 0) and the log names sorted, fixed at the first epoch (with ``val_``
    columns added, written "NA", when there is no validation); each row is flushed at once.
    ``append`` continues an existing file (without a second header)."""

    process_0_only = True

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer: csv.DictWriter | None = None
        self.keys: list[str] | None = None
        self.append_header = True
        self.csv_file: Any = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not f.readline()
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += ["val_" + key for key in self.keys]
        if self.writer is None:
            dialect = type("Dialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch", *self.keys], dialect=dialect
            )
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value: Any) -> Any:
    """A log value as Keras's CSVLogger writes it: a sequence as ``"[a, b]"``."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value
    return f'"[{", ".join(map(str, value))}]"'


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss is NaN or infinite (Keras's ``TerminateOnNaN``):
    ``model.stop_training`` is set, or with ``raise_error`` a RuntimeError is raised at once.

    With this callback, ``fit`` stops on a NaN or infinite loss as Keras's does (its message,
    and ``fit`` returns its History), but the weights are those of the last good step: the
    bad step's update is skipped. Without it, ``fit`` raises ``TrainingDivergedError`` there;
    a non-finite gradient under a finite loss, which this callback does not watch, is always
    that error."""

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and (np.isnan(loss) or np.isinf(loss)):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                    "Terminating training immediately."
                )
            _print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class RemoteMonitor(Callback):
    """Posts each epoch's logs to a server (Keras's ``RemoteMonitor``): an HTTP POST to
    ``root + path`` of ``{"epoch": epoch, **logs}`` as JSON, as a JSON body with
    ``send_as_json``, else a form whose ``field`` holds it; ``headers`` added. Sent with
    Python's own ``urllib`` (Keras needs ``requests``). A server that cannot be reached or
    does not answer within :attr:`timeout` seconds is Keras's warning, one that answers with
    an error status another (Keras says nothing); training goes on."""

    timeout = 10.0  # seconds a post may take (Keras's requests.post waits without end)

    def __init__(
        self,
        root: str = "http://localhost:9000",
        path: str = "/publish/epoch/end/",
        field: str = "data",
        headers: dict[str, str] | None = None,
        send_as_json: bool = False,
    ) -> None:
        super().__init__()
        self.root, self.path, self.field = root, path, field
        self.headers, self.send_as_json = headers, send_as_json

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        send = {"epoch": epoch}
        for key, value in (logs or {}).items():
            send[key] = value.item() if isinstance(value, np.ndarray | np.generic) else value
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode()
        url = self.root + self.path
        try:
            request = urllib.request.Request(url, body, headers, method="POST")
            with urllib.request.urlopen(request, timeout=self.timeout):
                pass
        except urllib.error.HTTPError as error:  # it was reached: Keras says nothing of it
            warnings.warn(
                f"RemoteMonitor: the server at {self.root} answered {error.code} {error.reason}",
                stacklevel=2,
            )
        except (OSError, ValueError):  # not reached, or not in time; a malformed URL
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)
