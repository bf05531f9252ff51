"""Where a training step (or a prediction) of a course model goes: time per CPU backend call.

Trains the model (RMSprop, the harness's data, loss and batch size: ``epoch_vs_torch.py``'s
workloads) for REPEATS epochs of N images with every array function of the CPU backend wrapped
in a timer, and prints the milliseconds per step of each (function, first argument's shape)
pair, slowest first: the median over the epochs (this machine's noise moves single epochs by
up to 50%). ``--predict`` times ``model.predict`` over the N images at the harness's inference
batch instead, per batch. What the backend calls do not account for is Python: the autograd
graph, layers, the optimizer loop. The timers add a few microseconds per call.

    python bench/step_profile.py [N=6400] [REPEATS=3] [--model mnist|rgb|stack|xception]
                                 [--predict]

The big models take N=128 or so (four steps of 32).
"""

from __future__ import annotations

import argparse
import collections
import functools
import time
from collections.abc import Callable

import numpy as np
from epoch_vs_torch import WORKLOADS, Workload

import autoconv as ac
from autoconv.backends import cpu


def timed(name: str, function: Callable, totals: dict) -> Callable:
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        totals[name, getattr(args[0], "shape", None) if args else None] += (
            time.perf_counter() - started
        )
        return result

    return wrapper


def runner(workload: Workload, n: int, predict: bool) -> tuple[Callable[[], None], int]:
    """A warmed-up function that runs one epoch (or one prediction) of n images, and its
    number of steps (batches)."""
    x, labels = workload.data(n)
    model = workload.build()
    model.compile("rmsprop", workload.loss, metrics=["accuracy"])
    if predict:
        batch = workload.infer_batch
        model.predict(x[:batch], batch_size=batch, verbose=0)  # compile, warm up
        return lambda: model.predict(x, batch_size=batch, verbose=0), -(-n // batch)
    y = labels
    if workload.loss == "categorical_crossentropy":
        y = ac.utils.to_categorical(labels, workload.classes)
    warm = min(n, 2 * workload.batch)
    model.fit(x[:warm], y[:warm], epochs=1, batch_size=workload.batch, verbose=0)
    epoch = lambda: model.fit(x, y, epochs=1, batch_size=workload.batch, verbose=0)  # noqa: E731
    return epoch, -(-n // workload.batch)


def main(n: int, repeats: int, model: str, predict: bool) -> None:
    run, steps = runner(WORKLOADS[model], n, predict)
    totals: dict = collections.defaultdict(float)
    for name in cpu.__all__:
        if callable(getattr(cpu, name)):  # not the constants (WHOLE_BATCH_BYTES)
            setattr(cpu, name, timed(name, getattr(cpu, name), totals))
    per_epoch = collections.defaultdict(list)  # ms per step, each epoch
    for _ in range(repeats):
        totals.clear()
        started = time.perf_counter()
        run()
        per_epoch["step"].append((time.perf_counter() - started) / steps * 1e3)
        per_epoch["backend calls"].append(sum(totals.values()) / steps * 1e3)
        for key, seconds in totals.items():
            per_epoch[key].append(seconds / steps * 1e3)
    what = "batch of predict" if predict else "step"
    print(
        f"{model}: ms per {what}, each repeat:", ", ".join(f"{ms:.2f}" for ms in per_epoch["step"])
    )
    medians = {key: float(np.median(ms)) for key, ms in per_epoch.items()}
    for key, ms in sorted(medians.items(), key=lambda item: -item[1])[:30]:
        label = " ".join(map(str, key)) if isinstance(key, tuple) else key
        print(f"{ms:8.3f} ms  {label}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, nargs="?", default=6400, help="images")
    parser.add_argument("repeats", type=int, nargs="?", default=3)
    parser.add_argument("--model", choices=sorted(WORKLOADS), default="mnist")
    parser.add_argument("--predict", action="store_true", help="time model.predict")
    args = parser.parse_args()
    main(args.n, args.repeats, args.model, args.predict)
