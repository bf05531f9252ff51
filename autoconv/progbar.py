"""``keras.utils.Progbar``: Keras 3's progress bar, printing the same text for the same calls.

>>> bar = Progbar(3, verbose=2)
>>> for step in range(3):
...     bar.update(step + 1, values=[("loss", 0.5)])  # doctest: +ELLIPSIS
3/3 - 0s - ...s/step - loss: 0.5000

Where a bar may redraw in place (``_dynamic_display``, decided as Keras decides it: a
terminal, a notebook, PyCharm, or any POSIX system) ``verbose=1`` rewrites its line with
backspaces and a carriage return, at most every ``interval`` seconds; elsewhere each drawing
is a new line. With interactive logging off (``autoconv.config.disable_interactive_logging``)
the text goes to the ``autoconv`` logger instead of stdout.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from autoconv import config

LOG = logging.getLogger("autoconv")


def print_msg(message: str, line_break: bool = True) -> None:
    """Keras's ``io_utils.print_msg``: ``message`` on stdout, or to the log where interactive
    logging is off; where stdout cannot encode the bar's "━", it prints "=" instead."""
    if not config.is_interactive_logging_enabled():
        LOG.info(message)
        return
    message = f"{message}\n" if line_break else message
    try:
        sys.stdout.write(message)
    except UnicodeEncodeError:
        encoding = sys.stdout.encoding or "utf-8"
        message = message.replace("━", "=").encode(encoding, errors="ignore").decode(encoding)
        sys.stdout.write(message)
    sys.stdout.flush()


class Progbar:
    """A progress bar to ``target`` steps (None: unknown), ``width`` characters wide.

    ``verbose``: 0 silent, 1 a bar redrawn as it goes, 2 one line when done. Metrics passed to
    :meth:`update` are averaged over the steps so far, except those named in
    ``stateful_metrics``, shown as given (or, with ``stateless_metrics``, only those named
    there are averaged; give one of the two). ``unit_name`` names a step in the time per step.
    """

    def __init__(
        self,
        target: int | None,
        width: int = 20,
        verbose: int = 1,
        interval: float = 0.05,
        stateful_metrics: Iterable[str] | None = None,
        stateless_metrics: Iterable[str] | None = None,
        unit_name: str = "step",
    ) -> None:
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Only one of `stateful_metrics` or `stateless_metrics` can be provided: "
                "`stateful_metrics` names the metrics shown as given (the rest averaged), "
                "`stateless_metrics` the metrics averaged (the rest shown as given)."
            )
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics: set[str] | None = None
        self.stateless_metrics: set[str] | None = None
        if stateless_metrics is not None:
            self.stateless_metrics = set(stateless_metrics)
        else:
            self.stateful_metrics = set(stateful_metrics or ())
        self._dynamic_display = (
            (hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
            or "ipykernel" in sys.modules
            or "posix" in sys.modules
            or "PYCHARM_HOSTED" in os.environ
        )
        self._seen_so_far = 0
        self._values: dict[str, list[Any]] = {}  # name -> [sum of value * steps, steps]
        self._values_order: list[str] = []
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step: float | None = None
        self._prev_total_width = 0

    def update(
        self,
        current: int,
        values: list[tuple[str, Any]] | None = None,
        finalize: bool | None = None,
    ) -> None:
        """Show step ``current`` with ``values``, a list of ``(name, value of this step)``;
        ``finalize`` (default: ``current >= target``) ends the bar."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or []:
            if name not in self._values_order:
                self._values_order.append(name)
            if self.stateful_metrics is not None:
                stateless = name not in self.stateful_metrics
            else:
                stateless = name in self.stateless_metrics
            if stateless and not finalize:
                # weighted by the steps since the last update (at least 1, as Keras's)
                steps = max(current - self._seen_so_far, 1)
                if name not in self._values:
                    self._values[name] = [value * steps, steps]
                else:
                    self._values[name][0] += value * steps
                    self._values[name][1] += steps
            else:
                self._values[name] = [value, 1]
        self._seen_so_far = current

        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._draw(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target is not None and self.target > 0:
            info = f"{self._count(current)} - {now - self._start:.0f}s"
            info += f" -{self._format_time(time_per_unit)}{self._metrics(by_magnitude=False)}"
            print_msg(info + "\n", line_break=False)
        self._last_update = now

    def add(self, n: int, values: list[tuple[str, Any]] | None = None) -> None:
        """:meth:`update` to ``n`` steps further."""
        self.update(self._seen_so_far + n, values)

    def _draw(self, current: int, now: float, time_per_unit: float, finalize: bool) -> None:
        """verbose=1's line: the count, the bar (green done, grey to do), the ETA or the time
        taken, the time per step and the metrics; escape codes do not count in its width."""
        message = "\b" * self._prev_total_width + "\r" if self._dynamic_display else "\n"
        hidden = 0  # characters of escape codes
        known = self.target is not None and self.target > 0
        if known:
            bar = f"\x1b[1m{self._count(current)}\x1b[0m "
            done = int(self.width * (float(current) / self.target))
            hidden += 8
            if done > 0:
                bar += f"\x1b[32m{'━' * done}\x1b[0m"
                hidden += 9
            bar += f"\x1b[37m{'━' * (self.width - done)}\x1b[0m"
            hidden += 9
        else:
            bar = f"{int(current):7d}/Unknown"
        if known and not finalize:
            eta = time_per_unit * (self.target - current)
            if eta > 3600:
                when = f"{int(eta // 3600)}:{int((eta % 3600) // 60):02d}:{int(eta % 60):02d}"
            elif eta > 60:
                when = f"{int(eta // 60)}:{int(eta % 60):02d}"
            else:
                when = f"{int(eta)}s"
            info = f" \x1b[1m{when}\x1b[0m"
        else:
            info = f" \x1b[1m{now - self._start:.0f}s\x1b[0m"
        hidden += 8
        info += self._format_time(time_per_unit) + self._metrics(by_magnitude=True)
        width = len(bar) + len(info) - hidden
        message += bar + info + " " * max(self._prev_total_width - width, 0)
        if finalize:
            message += "\n"
        print_msg(message, line_break=False)
        self._prev_total_width = width

    def _count(self, current: int) -> str:
        """``current/target``, ``current`` right-aligned to the target's digits."""
        digits = int(math.log10(self.target)) + 1
        return f"{int(current):{digits}d}/{int(self.target)}"

    def _metrics(self, by_magnitude: bool) -> str:
        """`` - loss: 0.1234`` for each metric's average (``.4e`` from 1e-3 down, compared by
        magnitude for verbose=1, by signed value for verbose=2, as Keras does)."""
        text = ""
        for name in self._values_order:
            total, count = self._values[name]
            if not isinstance(total, float):
                total = np.mean(total)
            average = total / max(1, count)
            large = (abs(average) if by_magnitude else average) > 1e-3
            text += f" - {name}: {average:.4f}" if large else f" - {name}: {average:.4e}"
        return text

    def _format_time(self, time_per_unit: float) -> str:
        """`` 3s/step``, `` 12ms/step`` or `` 80us/step`` (with ``unit_name``)."""
        if time_per_unit >= 1 or time_per_unit == 0:
            return f" {time_per_unit:.0f}s/{self.unit_name}"
        if time_per_unit >= 1e-3:
            return f" {time_per_unit * 1000.0:.0f}ms/{self.unit_name}"
        return f" {time_per_unit * 1000000.0:.0f}us/{self.unit_name}"

    def _estimate_step_duration(self, current: int, now: float) -> float:
        """Seconds per step: from the end of step 1 on once past it (the first step, often
        slower, left out), else from the start; 0 before any step."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit
