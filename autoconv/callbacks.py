"""Callbacks, as Keras's ``keras.callbacks``: objects whose hooks ``fit``, ``evaluate`` and
``predict`` call at the start and end of training, of each epoch and of each batch.

``History`` (returned by ``fit``) and ``ProgbarLogger`` (the progress display) are added by
``fit`` itself. Batch hooks get the running logs only when a callback overrides
``on_train_batch_end`` (or ``on_batch_end``): reading them costs a device sync per batch on a
GPU, which ``fit`` otherwise avoids.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any


class Callback:
    """Base class: override the hooks you need. ``self.model`` is the model being trained,
    ``self.params`` holds ``verbose``, ``epochs`` and ``steps``."""

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
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    # Keras 2's names, still called by Keras 3 for training batches
    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


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
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks: Callable[..., Any]) -> None:
        super().__init__()
        for name, function in hooks.items():
            if not hasattr(Callback, name) or not name.startswith("on_"):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, function)


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
        from autoconv.training import interactive

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


class CallbackList:
    """The callbacks of one ``fit``/``evaluate``/``predict`` call, called in order."""

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
        if self.progbar is None and add_progbar and verbose:
            self.progbar = ProgbarLogger()
            given.append(self.progbar)
        self.callbacks = ([add_history] if add_history is not None else []) + given
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
            self._call("on_train_batch_begin", step, None)
            self._call("on_batch_begin", step, None)

    def on_train_batch_end(self, step: int, logs: dict, samples: int, seconds: float) -> None:
        """Called at every batch when a callback wants the logs, else at every sync."""
        if self.progbar is not None:
            self.progbar.update(step + 1, logs, samples, seconds)
        if self.wants_batch_logs:
            self._call("on_train_batch_end", step, logs)
            self._call("on_batch_end", step, logs)

    def on_epoch_end(self, epoch: int, logs: dict, samples: int, seconds: float) -> None:
        if self.progbar is not None:
            self.progbar.finish(logs, samples, seconds)
        self._call("on_epoch_end", epoch, logs)

    def on_test_begin(self) -> None:
        self._call("on_test_begin", {})

    def on_test_end(self, logs: dict) -> None:
        self._call("on_test_end", logs)

    def on_predict_begin(self) -> None:
        self._call("on_predict_begin", {})


def _overrides(callback: Callback, *hooks: str) -> bool:
    return any(getattr(type(callback), hook) is not getattr(Callback, hook) for hook in hooks)
