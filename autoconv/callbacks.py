"""Callbacks, as Keras's ``keras.callbacks``: objects whose hooks ``fit``, ``evaluate`` and
``predict`` call at the start and end of training, of each epoch and of each batch.

``History`` (returned by ``fit``) and ``ProgbarLogger`` (the progress display) are added by
``fit`` itself, after the given callbacks, as Keras adds them. Batch hooks get the running logs
only when a callback overrides ``on_train_batch_end`` (or ``on_batch_end``): reading them costs
a device sync per batch on a GPU, which ``fit`` otherwise avoids. So the callbacks that act on
epochs (EarlyStopping, ReduceLROnPlateau, CSVLogger, an epoch-wise ModelCheckpoint ...) never
slow a step down.
"""

from __future__ import annotations

import csv
import math
import operator
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from autoconv import distributed

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "RemoteMonitor",
    "TensorBoard",
    "TerminateOnNaN",
]


class Callback:
    """Base class: override the hooks you need. ``self.model`` is the model being trained,
    ``self.params`` holds ``verbose``, ``epochs`` and ``steps``. As in Keras,
    ``on_train_batch_begin``/``_end`` call ``on_batch_begin``/``_end`` (Keras 2's names)
    unless overridden."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class History(Callback):
    """What ``fit`` returns: ``history.history["loss"]`` etc., one value per epoch, and
    ``history.epoch``; autoconv adds ``history.epoch_seconds``."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.epoch_seconds: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class LambdaCallback(Callback):
    """A callback from functions, e.g. ``LambdaCallback(on_epoch_end=lambda epoch, logs:
    ...)``: ``on_epoch_begin``/``on_epoch_end`` get (epoch, logs), ``on_train_begin``/
    ``on_train_end`` get (logs), ``on_train_batch_begin``/``on_train_batch_end`` get (batch,
    logs=...). Any other hook of :class:`Callback` can be given by name (``on_test_end=...``)."""

    def __init__(
        self,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        on_train_batch_begin: Callable[..., Any] | None = None,
        on_train_batch_end: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        unknown = [name for name in kwargs if name.startswith("on_") and not _is_hook(name)]
        if unknown:
            raise ValueError(f"LambdaCallback: unknown hook(s) {', '.join(unknown)}")
        self.__dict__.update(kwargs)
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for name, function in hooks.items():
            if function is not None:
                setattr(self, name, function)


def _is_hook(name: str) -> bool:
    return name.startswith("on_") and callable(getattr(Callback, name, None))


def interactive() -> bool:
    """True on a terminal or in a Jupyter kernel, where a progress bar can update in place."""
    return bool(getattr(sys.stdout, "isatty", lambda: False)()) or "ipykernel" in sys.modules


class ProgbarLogger(Callback):
    """Keras 3's progress display, plus the samples per second:

    ``938/938 ━━━━━━━━━━━━━━━━━━━━ 9s 10ms/step - accuracy: 0.9851 - loss: 0.0479 - 6,612
    samples/s``. ``verbose=1`` redraws one line in place (on a terminal or in a notebook; a
    plain log gets only the finished line), ``verbose=2`` prints one line per epoch."""

    BAR_WIDTH = 20

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self.stream = stream
        self.drawn = 0

    def _out(self) -> Any:
        return self.stream or sys.stdout

    def _dynamic(self) -> bool:
        return self.stream is None and interactive()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()
        self.drawn = 0
        if self.params.get("verbose") and self.params.get("epochs", 1) > 1:
            self._write(f"Epoch {epoch + 1}/{self.params['epochs']}\n")

    def update(self, step: int, logs: dict[str, float], samples: int, seconds: float) -> None:
        """Redraw the bar after ``step`` steps (verbose=1 on a terminal or in a notebook)."""
        if self.params.get("verbose") == 1 and self._dynamic():
            self._draw(step, logs, samples, seconds, final=False)

    def finish(self, logs: dict[str, float], samples: int, seconds: float) -> None:
        verbose = self.params.get("verbose")
        steps = self.params.get("steps") or 0
        if verbose == 1:
            self._draw(steps, logs, samples, seconds, final=True)
        elif verbose == 2:
            per_step = _per_step(seconds, steps)
            line = f"{_count(steps, steps)} - {seconds:.0f}s -{per_step}{_metrics(logs)}"
            self._write(line + _rate(samples, seconds) + "\n")

    def _draw(self, step: int, logs: dict, samples: int, seconds: float, final: bool) -> None:
        steps = self.params.get("steps") or 0
        dynamic = self._dynamic()
        filled = int(self.BAR_WIDTH * step / steps) if steps else 0
        bar = "━" * filled + "━" * (self.BAR_WIDTH - filled)
        if dynamic:  # Keras's colours: done in green, to do in grey, the count in bold
            bar = f"\x1b[32m{'━' * filled}\x1b[0m\x1b[37m{'━' * (self.BAR_WIDTH - filled)}\x1b[0m"
        per_step = seconds / step if step else 0.0
        if final or not steps:
            when = f"{seconds:.0f}s"
        else:
            when = _eta(per_step * (steps - step))
        text = (
            f"{_count(step, steps)} {bar} {when}{_per_step(seconds, step)}{_metrics(logs)}"
            f"{_rate(samples, seconds)}"
        )
        if not dynamic:
            if final:
                self._write(text + "\n")
            return
        width = len(text)
        padding = " " * max(0, self.drawn - width)
        self._write("\r" + text + padding + ("\n" if final else ""))
        self.drawn = width

    def _write(self, text: str) -> None:
        out = self._out()
        out.write(text)
        out.flush()


def _count(step: int, steps: int) -> str:
    if not steps:  # a dataset of unknown size, as Keras shows it
        return f"{step:7d}/Unknown"
    digits = int(math.log10(steps)) + 1 if steps > 0 else 1
    return f"{step:{digits}d}/{steps}"


def _per_step(seconds: float, steps: int) -> str:
    per = seconds / steps if steps else 0.0
    if per >= 1 or per == 0:
        return f" {per:.0f}s/step"
    if per >= 1e-3:
        return f" {per * 1e3:.0f}ms/step"
    return f" {per * 1e6:.0f}us/step"


def _eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{seconds // 3600:.0f}:{(seconds % 3600) // 60:02.0f}:{seconds % 60:02.0f}"
    if seconds > 60:
        return f"{seconds // 60:.0f}:{seconds % 60:02.0f}"
    return f"{seconds:.0f}s"


def _metrics(logs: dict[str, float]) -> str:
    return "".join(
        f" - {k}: {v:.4f}" if abs(v) > 1e-3 else f" - {k}: {v:.4e}" for k, v in logs.items()
    )


def _rate(samples: int, seconds: float) -> str:
    return f" - {samples / seconds:,.0f} samples/s" if seconds > 0 and samples else ""


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
            for metric in getattr(self.model, "metrics", None) or []:
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
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
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
        if isinstance(save_freq, int):  # only then ask fit for the logs of every batch
            self.on_train_batch_end = self._on_train_batch_end

    def on_train_begin(self, logs: dict | None = None) -> None:
        _check_writable(self.filepath)

    def _on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch: int) -> bool:
        """Whether ``save_freq`` batches have passed since the last save (across epochs)."""
        if batch <= self._last_batch_seen:  # a new epoch
            add_batches = batch + 1
        else:
            add_batches = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add_batches
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

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
    rate to the epoch's logs as ``learning_rate``."""

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
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
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
                old_lr = float(self.model.optimizer.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        _print(
                            f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                            f"to {new_lr}."
                        )
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0


# --------------------------------------------------------------------- other callbacks
class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)`` (epoch from 0,
    lr the current rate), or ``schedule(epoch)`` for a one-argument schedule, which must
    return a float (Keras's ``LearningRateScheduler``). Adds ``learning_rate`` to the
    epoch's logs."""

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
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
        if self.verbose > 0:
            _print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{learning_rate}."
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (Keras's ``CSVLogger``): the columns are
    ``epoch`` (from 0) and the log names sorted, fixed at the first epoch (with ``val_``
    columns added, written "NA", when there is no validation); each row is flushed at once.
    ``append`` continues an existing file (without a second header)."""

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

    autoconv's ``fit`` already guards every step: a non-finite loss or gradient skips the
    update and raises ``TrainingDivergedError``, so this callback matters for logs given
    to it by other loops."""

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


class _Unsupported(Callback):
    """A Keras callback autoconv does not have: constructing it raises, saying why."""

    why = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            f"autoconv.callbacks.{type(self).__name__} is not supported: {self.why}"
        )


class TensorBoard(_Unsupported):
    why = (
        "autoconv writes no TensorBoard event files; CSVLogger, or the History that fit "
        "returns, keeps the same epoch logs"
    )


class RemoteMonitor(_Unsupported):
    why = (
        "autoconv sends nothing over the network; a LambdaCallback(on_epoch_end=...) can post "
        "the logs wherever you need"
    )


class BackupAndRestore(_Unsupported):
    why = (
        "to resume an interrupted fit, save with ModelCheckpoint (a model file keeps the "
        "optimizer state), load it with autoconv.load_model and pass fit's initial_epoch"
    )


def _print(message: str) -> None:
    """A callback's message, on stdout as Keras prints it (by process 0 alone when several
    train together)."""
    if distributed.is_main():
        print(message, flush=True)


# ------------------------------------------------------------------------ the list
class CallbackList:
    """The callbacks of one ``fit``/``evaluate``/``predict`` call, called in order: the given
    ones, then History, then the progress bar (Keras's order, so a value a callback adds to the
    logs, like ``learning_rate``, shows in the history and the bar)."""

    def __init__(
        self,
        callbacks: Iterable[Callback] | Callback | None,
        model: Any,
        verbose: int,
        epochs: int,
        steps: int,
        add_history: History | None = None,
        add_progbar: bool = False,
    ) -> None:
        given = self.checked(callbacks)
        self.progbar = next((c for c in given if isinstance(c, ProgbarLogger)), None)
        added: list[Callback] = [] if add_history is None else [add_history]
        if self.progbar is None and add_progbar and verbose:
            self.progbar = ProgbarLogger()
            added.append(self.progbar)
        self.callbacks = given + added
        params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_params(params)
        users = [c for c in given if not isinstance(c, ProgbarLogger)]
        self.wants_batch_logs = any(
            _overrides(c, "on_train_batch_end", "on_batch_end") for c in users
        )
        self.batch_begins = any(
            _overrides(c, "on_train_batch_begin", "on_batch_begin") for c in users
        )
        self.wants_test_batch_logs = any(_overrides(c, "on_test_batch_end") for c in users)
        self.test_batch_begins = any(_overrides(c, "on_test_batch_begin") for c in users)
        self.predict_batches = any(
            _overrides(c, "on_predict_batch_begin", "on_predict_batch_end") for c in users
        )
        if not distributed.is_main():  # only process 0 shows progress and writes files
            self.callbacks = [c for c in self.callbacks if not isinstance(c, _PROCESS_0_ONLY)]
            self.progbar = None

    @staticmethod
    def checked(callbacks: Iterable[Callback] | Callback | None) -> list[Callback]:
        """``callbacks`` as a list, each one a Callback (checked before any work is done)."""
        given = [callbacks] if isinstance(callbacks, Callback) else list(callbacks or [])
        for callback in given:
            if not isinstance(callback, Callback):
                raise TypeError(
                    "callbacks must be autoconv.callbacks.Callback objects, got "
                    f"{type(callback).__name__}; for a function of (epoch, logs) use "
                    "callbacks.LambdaCallback(on_epoch_end=function)"
                )
        return given

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def on_train_begin(self) -> None:
        self._call("on_train_begin", {})

    def on_train_end(self, logs: dict) -> None:
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch: int) -> None:
        self._call("on_epoch_begin", epoch, {})

    def on_train_batch_begin(self, step: int) -> None:
        if self.batch_begins:
            for callback in self.callbacks:
                callback.on_train_batch_begin(step, logs={})

    def on_train_batch_end(self, step: int, logs: dict, samples: int, seconds: float) -> None:
        """Called at every batch when a callback wants the logs, else at every sync."""
        if self.wants_batch_logs:
            for callback in self.callbacks:
                callback.on_train_batch_end(step, logs=logs)
        if self.progbar is not None:
            self.progbar.update(step + 1, logs, samples, seconds)

    def on_epoch_end(self, epoch: int, logs: dict, samples: int, seconds: float) -> None:
        self._call("on_epoch_end", epoch, logs)
        if self.progbar is not None:
            self.progbar.finish(logs, samples, seconds)

    def on_test_begin(self) -> None:
        self._call("on_test_begin", {})

    def on_test_end(self, logs: dict) -> None:
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, step: int) -> None:
        if self.test_batch_begins:
            self._call("on_test_batch_begin", step, {})

    def on_test_batch_end(self, step: int, logs: dict) -> None:
        """Called at every batch only when a callback wants the logs (a device read)."""
        if self.wants_test_batch_logs:
            self._call("on_test_batch_end", step, logs)

    def on_predict_begin(self) -> None:
        self._call("on_predict_begin", {})

    def on_predict_batch_begin(self, step: int) -> None:
        if self.predict_batches:
            self._call("on_predict_batch_begin", step, {})

    def on_predict_batch_end(self, step: int, outputs: Any) -> None:
        if self.predict_batches:
            self._call("on_predict_batch_end", step, {"outputs": outputs})

    def on_predict_end(self) -> None:
        self._call("on_predict_end", {})


# What only process 0 runs when several processes train together (autoconv.distributed). The
# batch hooks are still decided from every callback, so that all processes read the logs (a
# collective operation) at the same steps.
_PROCESS_0_ONLY = (ProgbarLogger, ModelCheckpoint, CSVLogger)


def _overrides(callback: Callback, *hooks: str) -> bool:
    """Whether ``callback`` replaces any of ``hooks``: in its class, or on the instance (as
    LambdaCallback and ModelCheckpoint(save_freq=int) do)."""
    return any(
        getattr(getattr(callback, hook), "__func__", None) is not getattr(Callback, hook)
        for hook in hooks
    )
