"""Helpers of the training loop that keep its state where the data is: the divergence status,
the finiteness checks that set it, the running loss and accuracy totals, and the step inputs.
The CPU runs each step as it comes: it records nothing and replays nothing (the GPU's
``capture`` does).

``status`` is an int64 array [code, step]: code 0 while every step was finite, 1 when a
loss, 2 when a gradient went non-finite at ``step`` (the first such step).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from autoconv.backends import bounds
from autoconv.backends.cpu.loss import count_correct


def new_status() -> np.ndarray:
    return np.zeros(2, dtype=np.int64)


def check_finite(values: np.ndarray, code: int, step: int, status: np.ndarray) -> None:
    """Mark ``status`` with (code, step) if ``values`` hold a NaN or infinity and it is clean."""
    if not status[0] and not np.isfinite(values).all():
        status[:] = code, step


def check_step(
    loss: np.ndarray, grads: list[np.ndarray], step: np.ndarray, status: np.ndarray
) -> None:
    """``check_finite`` of the loss (code 1), then of each gradient (code 2): the first
    non-finite one marks a clean ``status`` with the step number ``step[0]``."""
    if status[0]:
        return
    if not np.isfinite(loss).all():
        status[:] = 1, step[0]
        return
    for grad in grads:
        if not np.isfinite(grad).all():
            status[:] = 2, step[0]
            return


def update_metrics(
    loss_total: np.ndarray | None, loss_count: np.ndarray | None, loss: Any, weight: float,
    total: np.ndarray | None, count: np.ndarray | None, scores: np.ndarray | None,
    target: np.ndarray | None,
) -> None:  # fmt: skip
    """The loss tracker's and an argmax accuracy's states (0-d arrays) updated in place: the
    same operations, in their dtype, as ``total = total + loss * weight`` and the like."""
    for state in (loss_total, loss_count, total, count):
        if state is not None:
            bounds.shape_is("update_metrics", "a state", state, ())
    if loss_total is not None:
        dtype = loss_total.dtype.type
        np.add(loss_total, np.multiply(loss, dtype(weight)), out=loss_total)
        np.add(loss_count, dtype(weight), out=loss_count)
    if total is not None:
        dtype = total.dtype.type
        np.add(total, dtype(count_correct(scores, target)), out=total)
        np.add(count, dtype(len(scores)), out=count)


def accumulate(totals: np.ndarray, loss: np.ndarray, correct: object, count: int, status) -> None:
    """totals (float64 [loss*count, correct, count]) += this batch's, unless status is set."""
    bounds.shape_is("accumulate", "totals", totals, (3,))
    if not status[0]:
        totals += (float(loss) * count, float(correct), count)


def step_input(compute: Callable[[], Any], dtype: Any) -> np.ndarray:
    """``compute()`` as an array of ``dtype``."""
    return np.asarray(compute(), dtype=dtype)


@contextlib.contextmanager
def recording() -> Iterator[None]:
    yield None


def difference(first: Any, second: Any) -> str | None:
    return "the CPU runs each step as it comes"


def replay(tape: Any) -> Any:
    raise NotImplementedError("the CPU backend does not replay steps")
