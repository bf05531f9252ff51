"""What ``predict`` and ``evaluate`` keep on a GPU model from call to call: the device arrays
their batches are gathered from, predict's outputs and the runner of their steps
(:class:`autoconv.step_replay.StepReplay`), for arrays of one shape, so that a later call's
steps replay what an earlier one recorded."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv import distributed
from autoconv.array_batches import ArrayBatches, resident
from autoconv.backends import namespace


class Kept:
    """A call's batches (its arrays on the device), ``predict``'s outputs and the runner of its
    steps, for arrays of one shape, kept on a GPU model from call to call by ``predict`` and
    ``evaluate`` (:func:`kept_call`): a later call's batches replay the steps an earlier one
    recorded, as a serving loop's or a custom loop's would."""

    __slots__ = ("busy", "data", "predictions", "runner", "used")

    def __init__(self) -> None:
        self.busy = False
        self.used: list[Any] = []
        self.data: Any = None
        self.predictions: Any = None
        self.runner: Any = None


_kept_lock = threading.Lock()
# Arrays from the host up to this size in all are kept on the device between calls (their
# copy is what a later call's replayed steps read); bigger ones are taken as before, their copy
# freed when the call ends.
KEPT_INPUT_BYTES = 256 * 2**20


def kept_call(
    model: Any, kind: str, given: tuple[list, list, Any], size: int,
    outputs: Callable[..., Any] | None = None,
) -> Kept | None:  # fmt: skip
    """The model's kept state for ``kind`` ("predict" or "evaluate") with ``given`` = (inputs,
    targets, sample weights) at batch ``size`` (predict's outputs made by ``outputs(rows=N)``),
    marked busy (the caller clears ``busy``): the
    last call's when every array its recorded steps used is still the model's (the same weight
    arrays and, for evaluate, metrics; the same device arrays of what was given on the device;
    host arrays of the same shapes, copied into its arrays), else made anew. None where nothing
    is replayed (the CPU: it runs each step as it comes, and its batches read the caller's own
    arrays; evaluate over several processes), for host arrays over KEPT_INPUT_BYTES, or while
    another thread makes such a call with the model: that call runs as before, on its own."""
    if model.device == "cpu" or (kind == "evaluate" and distributed.current() is not None):
        return None
    with _kept_lock:
        kept = model.__dict__.setdefault("_kept_calls", {}).setdefault(kind, Kept())
        if kept.busy:
            return None
        kept.busy = True
    try:
        xs, ys, weights = given
        xs = [resident(a) if isinstance(a, np.ndarray) else a for a in xs]
        arrays = [*xs, *ys, weights]
        if sum(a.nbytes for a in arrays if isinstance(a, np.ndarray)) > KEPT_INPUT_BYTES:
            kept.busy = False
            return None
        used = [model.device, size, *(w.data for w in model.weights)]
        used += model.metrics if kind == "evaluate" else []
        used += [(a.shape, a.dtype) if isinstance(a, np.ndarray) else a for a in arrays]
        if len(used) == len(kept.used) and all(
            type(a) is type(b) and (a == b if isinstance(a, tuple | int | str) else a is b)
            for a, b in zip(used, kept.used, strict=True)
        ):
            xp, data = namespace(model.device), kept.data
            for target, a in zip([*data.x, *data.y, data.w], arrays, strict=True):
                if isinstance(a, np.ndarray):  # (one given on the device is the very array)
                    xp.copy_from_host(target, a)
            if kept.predictions is not None:
                kept.predictions.reset()
            return kept
        kept.data = ArrayBatches(model, xs, list(ys), weights, size, shared=kind == "evaluate")
        kept.predictions = None if outputs is None else outputs(rows=kept.data.samples)
        kept.runner = None  # (made by the call, then kept)
        kept.used = used
        return kept
    except BaseException:
        kept.busy = False
        raise
