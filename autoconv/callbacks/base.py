"""The callback machinery: the ``Callback`` base class, ``History``, ``LambdaCallback``, the
progress bar (``ProgbarLogger``) and ``CallbackRunner``, which calls them in order."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from autoconv import config, distributed


class Callback:
    """Base class: override the hooks you need. ``self.model`` is the model being trained,
    ``self.params`` holds ``verbose``, ``epochs`` and ``steps``. As in Keras,
    ``on_train_batch_begin``/``_end`` call ``on_batch_begin``/``_end`` (Keras 2's names)
    unless overridden."""

    # Whether only process 0 runs it when several processes train together
    # (autoconv.distributed): so are those that show progress or write files. The batch hooks
    # are still decided from every callback, so that all processes read the logs (a collective
    # operation) at the same steps.
    process_0_only = False

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] | None = None  # Keras's: None until set_params

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

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Each fit lists its own epochs (the values go on adding up, as Keras's, where one
        History is given to several fits)."""
        self.epoch, self.epoch_seconds = [], []

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


HOOKS = tuple(name for name in vars(Callback) if _is_hook(name))


def _has_hooks(obj: Any) -> bool:
    return isinstance(obj, Callback) or any(callable(getattr(obj, name, None)) for name in HOOKS)


class DuckCallback(Callback):
    """Any object with some of Keras's hooks (``on_epoch_end`` ...), as a Callback: Keras's
    CallbackList calls an object's hooks whatever its class. The hooks it has are called (and
    its ``set_model``/``set_params`` if it has them); those it lacks, and Keras's own no-op
    hooks (marked ``_is_default`` by Keras's ``utils.default``), are skipped."""

    def __init__(self, wrapped: Any) -> None:
        super().__init__()
        self.wrapped = wrapped
        self.process_0_only = bool(getattr(wrapped, "process_0_only", False))
        for name in HOOKS:
            hook = getattr(wrapped, name, None)
            if callable(hook) and not getattr(hook, "_is_default", False):
                setattr(self, name, hook)

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        if callable(getattr(self.wrapped, "set_model", None)):
            self.wrapped.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        if callable(getattr(self.wrapped, "set_params", None)):
            self.wrapped.set_params(params)


class BatchCountdown:
    """Keras's ``save_freq=N`` of ModelCheckpoint and BackupAndRestore: ``due(batch)`` says
    whether N batches have passed since it last said so, counting across epochs (a batch index
    not above the last one seen starts a new epoch)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.reset()

    def reset(self, last_batch: int = 0) -> None:
        """Start counting again; ``last_batch``: the index of the last batch already done."""
        self.since_due = 0
        self.last_batch = last_batch

    def new_epoch(self) -> None:
        self.last_batch = 0

    def due(self, batch: int) -> bool:
        if batch <= self.last_batch:  # a new epoch
            self.since_due += batch + 1
        else:
            self.since_due += batch - self.last_batch
        self.last_batch = batch
        if self.since_due >= self.every:
            self.since_due = 0
            return True
        return False


LOG = logging.getLogger("autoconv")  # where messages go with interactive logging off


def interactive() -> bool:
    """True on a terminal or in a Jupyter kernel, where a progress bar can update in place."""
    return bool(getattr(sys.stdout, "isatty", lambda: False)()) or "ipykernel" in sys.modules


class ProgbarLogger(Callback):
    """Keras 3's progress display, plus the samples per second:

    ``938/938 ━━━━━━━━━━━━━━━━━━━━ 9s 10ms/step - accuracy: 0.9851 - loss: 0.0479 - 6,612
    samples/s``. ``verbose=1`` redraws one line in place (on a terminal or in a notebook; a
    plain log gets only the finished line), ``verbose=2`` prints one line per epoch."""

    process_0_only = True

    BAR_WIDTH = 20

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self.stream = stream
        self.drawn = 0

    def _out(self) -> Any:
        return self.stream or sys.stdout

    def _dynamic(self) -> bool:
        return self.stream is None and interactive() and config.is_interactive_logging_enabled()

    @property
    def _settings(self) -> dict[str, Any]:
        """``params``, or Keras's defaults where no loop has set them (a ``CallbackList`` of
        one's own)."""
        return self.params or {"verbose": 1, "epochs": 1}

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()
        self.drawn = 0
        if self._settings.get("verbose") and self._settings.get("epochs", 1) > 1:
            self._write(f"Epoch {epoch + 1}/{self._settings['epochs']}\n")

    def update(self, step: int, logs: dict[str, float], samples: int, seconds: float) -> None:
        """Redraw the bar after ``step`` steps (verbose=1 on a terminal or in a notebook)."""
        if self._settings.get("verbose") == 1 and self._dynamic():
            self._draw(step, logs, samples, seconds, final=False)

    def finish(self, logs: dict[str, float], samples: int, seconds: float, done: int) -> None:
        """The epoch's last line, after ``done`` steps. A dataset of unknown size counts as
        that many steps from then on (Keras's bar: ``12/12``, not ``12/Unknown``)."""
        verbose = self._settings.get("verbose")
        if not self._settings.get("steps"):
            self.params = {**self._settings, "steps": done}  # (this bar's copy alone)
        steps = self.params["steps"]
        if verbose == 1:
            self._draw(steps, logs, samples, seconds, final=True)
        elif verbose == 2:
            per_step = _per_step(seconds, steps)
            line = f"{_count(steps, steps)} - {seconds:.0f}s -{per_step}"
            line += _metrics(logs, by_magnitude=False)
            self._write(line + _rate(samples, seconds) + "\n")

    def _draw(self, step: int, logs: dict, samples: int, seconds: float, final: bool) -> None:
        steps = self._settings.get("steps") or 0
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
        if self.stream is None and not config.is_interactive_logging_enabled():
            LOG.info(text.strip("\r\n"))
            return
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


def _metrics(logs: dict[str, Any], by_magnitude: bool = True) -> str:
    """The logs as Keras's bar shows them: a metric of several values by their mean, ``.4e``
    from 1e-3 down. ``by_magnitude`` False: compared by value, not magnitude, as Keras's
    ``verbose=2`` line compares them (a negative metric, an SDR of -6.8, shows -6.8414e+00)."""
    shown = {k: float(np.mean(v)) for k, v in logs.items()}
    return "".join(
        f" - {k}: {v:.4f}" if (abs(v) if by_magnitude else v) > 1e-3 else f" - {k}: {v:.4e}"
        for k, v in shown.items()
    )


def _rate(samples: int, seconds: float) -> str:
    return f" - {samples / seconds:,.0f} samples/s" if seconds > 0 and samples else ""


def learning_rate_keys(optimizer: Any) -> list[tuple[Any, str]]:
    """(optimizer, its log key) for each optimizer whose learning rate the learning-rate
    callbacks set and log, as Keras's: a ``MultiOptimizer``'s inner ones, each logged as
    ``learning_rate_<its name>``, else the optimizer itself, ``learning_rate``."""
    inner = getattr(optimizer, "optimizers", None)
    if inner is not None:
        return [(each, f"learning_rate_{each.name}") for each in inner]
    return [(optimizer, "learning_rate")]


def learning_rates(optimizer: Any) -> dict[str, float]:
    """Each of :func:`learning_rate_keys`'s learning rates by its log key."""
    return {key: float(each.learning_rate) for each, key in learning_rate_keys(optimizer)}


def _print(message: str) -> None:
    """A callback's message, on stdout as Keras prints it, or to the log where interactive
    logging is off (by process 0 alone when several train together)."""
    if not distributed.is_main():
        return
    if config.is_interactive_logging_enabled():
        print(message, flush=True)
    else:
        LOG.info(message)


# ------------------------------------------------------------------------ the list
class CallbackRunner:
    """The callbacks of one ``fit``/``evaluate``/``predict`` call (autoconv's own runner; the
    public :class:`CallbackList` is Keras's container for custom loops), called in order: the given
    ones, then History (unless one was given), then the progress bar (Keras's order, so a value
    a callback adds to the logs, like ``learning_rate``, shows in the history and the bar)."""

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
        added: list[Callback] = [] if add_history in (None, *given) else [add_history]
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
            self.callbacks = [c for c in self.callbacks if not getattr(c, "process_0_only", False)]
            self.progbar = None

    @staticmethod
    def checked(callbacks: Iterable[Any] | Any | None) -> list[Callback]:
        """``callbacks`` as a list of Callbacks (checked before any work is done): an object
        of another class with at least one of Keras's hooks becomes a :class:`DuckCallback`;
        one with none of them is a TypeError."""
        given = [callbacks] if _has_hooks(callbacks) else list(callbacks or [])
        checked = []
        for callback in given:
            if isinstance(callback, Callback):
                checked.append(callback)
            elif _has_hooks(callback):
                checked.append(DuckCallback(callback))
            else:
                raise TypeError(
                    "callbacks must be Callback objects or objects with Keras's callback hooks "
                    f"(on_epoch_end, on_train_batch_end, ...), got {type(callback).__name__}; "
                    "for a function of (epoch, logs) use "
                    "callbacks.LambdaCallback(on_epoch_end=function)"
                )
        return checked

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

    def on_epoch_end(
        self, epoch: int, logs: dict, samples: int, seconds: float, steps: int
    ) -> None:
        """``steps``: how many the epoch ran."""
        self._call("on_epoch_end", epoch, logs)
        if self.progbar is not None:
            self.progbar.finish(logs, samples, seconds, steps)

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


def _overrides(callback: Callback, *hooks: str) -> bool:
    """Whether ``callback`` replaces any of ``hooks``: in its class, or on the instance (as
    LambdaCallback and ModelCheckpoint(save_freq=int) do)."""
    return any(
        getattr(getattr(callback, hook), "__func__", None) is not getattr(Callback, hook)
        for hook in hooks
    )
