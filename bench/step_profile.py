"""Where a training step of the reference model goes: time per CPU backend call, in the step.

Trains the reference model (batch 64, RMSprop) on the first N MNIST images for REPEATS
epochs with every array function of the CPU backend wrapped in a timer, and prints the
milliseconds per step of each (function, first argument's shape) pair, slowest first: the
median over the epochs (this machine's noise moves single epochs by up to 50%). What the
backend calls do not account for is Python: the autograd graph, layers, the optimizer loop.
The timers add a few microseconds per call.

    python bench/step_profile.py [N=6400] [REPEATS=3]
"""

from __future__ import annotations

import collections
import functools
import sys
import time
from collections.abc import Callable

import numpy as np

import autoconv as ac
from autoconv.backends import cpu
from autoconv.course import prepare, reference_model

# The functions a training step calls that do real work (the rest are views and scalars).
TIMED = (
    "im2col", "col2im", "matmul", "bias_relu", "relu_grad_and_column_sums",
    "max_pool_forward", "max_pool_backward", "softmax_cross_entropy", "rmsprop_update",
    "check_finite", "accumulate", "take", "one_hot", "argmax", "getitem",
)  # fmt: skip


def timed(name: str, function: Callable, totals: dict) -> Callable:
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        totals[name, getattr(args[0], "shape", None)] += time.perf_counter() - started
        return result

    return wrapper


def main(n: int, repeats: int) -> None:
    (x, y), _ = ac.datasets.mnist.load_data()
    x, y = prepare(x[:n], y[:n], "mnist")
    model = reference_model()
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:640], y[:640], epochs=1, batch_size=64, verbose=0)  # compile, warm up
    totals: dict = collections.defaultdict(float)
    for name in TIMED:
        setattr(cpu, name, timed(name, getattr(cpu, name), totals))
    steps = -(-n // 64)
    per_epoch = collections.defaultdict(list)  # ms per step, each epoch
    for _ in range(repeats):
        totals.clear()
        started = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        per_epoch["step"].append((time.perf_counter() - started) / steps * 1e3)
        per_epoch["backend calls"].append(sum(totals.values()) / steps * 1e3)
        for key, seconds in totals.items():
            per_epoch[key].append(seconds / steps * 1e3)
    print("ms per step, each epoch:", ", ".join(f"{ms:.2f}" for ms in per_epoch["step"]))
    medians = {key: float(np.median(ms)) for key, ms in per_epoch.items()}
    for key, ms in sorted(medians.items(), key=lambda item: -item[1]):
        label = " ".join(map(str, key)) if isinstance(key, tuple) else key
        print(f"{ms:8.3f} ms  {label}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [6400, 3][len(args) :]))
