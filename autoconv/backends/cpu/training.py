"""Helpers of the training loop that keep its state where the data is: the divergence status,
the finiteness checks that set it, and the running loss and accuracy totals.

``status`` is an int64 array [code, step]: code 0 while every step was finite, 1 when a
loss, 2 when a gradient went non-finite at ``step`` (the first such step).
"""

from __future__ import annotations

import numpy as np

from autoconv.backends import bounds


def new_status() -> np.ndarray:
    return np.zeros(2, dtype=np.int64)


def check_finite(values: np.ndarray, code: int, step: int, status: np.ndarray) -> None:
    """Mark ``status`` with (code, step) if ``values`` hold a NaN or infinity and it is clean."""
    if not status[0] and not np.isfinite(values).all():
        status[:] = code, step


def accumulate(totals: np.ndarray, loss: np.ndarray, correct: object, count: int, status) -> None:
    """totals (float64 [loss*count, correct, count]) += this batch's, unless status is set."""
    bounds.shape_is("accumulate", "totals", totals, (3,))
    if not status[0]:
        totals += (float(loss) * count, float(correct), count)
