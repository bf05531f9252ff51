"""Keras's ``CallbackList``: the callbacks of a training loop of one's own, each hook called on
all of them at once (``fit``, ``evaluate`` and ``predict`` run theirs through
:class:`~autoconv.callbacks.base.CallbackRunner`)."""

from __future__ import annotations

import time
from typing import Any

from autoconv import tree
from autoconv.callbacks.base import Callback, CallbackRunner, History, ProgbarLogger


def _pythonify(logs: dict | None) -> dict[str, Any]:
    """Keras's ``pythonify_logs``: the logs sorted by key, nested dicts flattened, each value
    a Python float where ``float()`` takes it."""
    result: dict[str, Any] = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(_pythonify(value))
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            pass
        result[key] = value
    return result


class CallbackList(Callback):
    """Keras's container for a custom training loop::

        callbacks = CallbackList([EarlyStopping()], add_history=True, model=model, epochs=2)
        callbacks.on_train_begin()
        for epoch in range(2):
            callbacks.on_epoch_begin(epoch)
            ...
            callbacks.on_epoch_end(epoch, logs)
        callbacks.on_train_end()

    ``add_history`` and ``add_progbar`` add a ``History`` (also set as ``model.history``) and
    a ``ProgbarLogger`` after the given callbacks, unless one is among them; ``**params``
    (``epochs``, ``steps``, ``verbose``) go to each callback's ``set_params``. The logs each
    hook hands on are Keras's: sorted by key, nested dicts flattened, values as floats. Hooks
    run in order as they are called (Keras may run batch-end hooks on a thread)."""

    def __init__(
        self,
        callbacks: Any = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.callbacks: list[Callback] = CallbackRunner.checked(
            tree.flatten(callbacks) if callbacks else []
        )
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self._open_blocks = 0
        self._steps_done = 0
        self.set_model(model)
        self.set_params(params)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model: Any) -> None:
        if not model:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def _call(self, hook: str, *args: Any, logs: dict | None = None) -> dict[str, Any]:
        logs = _pythonify(logs)
        for callback in self.callbacks:
            getattr(callback, hook)(*args, logs)
        return logs

    def _begin(self, hook: str, logs: dict | None) -> None:
        self._open_blocks += 1
        self._call(hook, logs=logs)

    def _end(self, hook: str, logs: dict | None) -> None:
        if self._open_blocks == 0:
            raise ValueError("`on_xxx_end` called without corresponding `on_xxx_begin`")
        self._open_blocks -= 1
        self._call(hook, logs=logs)

    def _seconds(self) -> float:
        return time.perf_counter() - getattr(self._progbar, "started", time.perf_counter())

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._begin("on_train_begin", logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._end("on_train_end", logs)

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._begin("on_test_begin", logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        self._end("on_test_end", logs)

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._begin("on_predict_begin", logs)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._end("on_predict_end", logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._steps_done = 0
        self._call("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = self._call("on_epoch_end", epoch, logs=logs)
        if self._progbar is not None:
            self._progbar.finish(logs, 0, self._seconds(), self._steps_done)

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_batch_begin", batch, logs=logs)

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_batch_end", batch, logs=logs)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = self._call("on_train_batch_end", batch, logs=logs)
        self._steps_done = batch + 1
        if self._progbar is not None:
            self._progbar.update(batch + 1, logs, 0, self._seconds())

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_test_batch_end", batch, logs=logs)

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._call("on_predict_batch_end", batch, logs=logs)
