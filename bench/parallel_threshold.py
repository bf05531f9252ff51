"""When should a CPU kernel spread its prange loops over threads? Trains the reference model
(batch 64, RMSprop) with several values of ``autoconv.backends.cpu.jit.PARALLEL_MIN_WORK`` in one
process, alternating them epoch by epoch so the machine's drift hits all alike, and prints the
samples/s of each. 0 runs every kernel call parallel; a huge value runs them all serial.

    python bench/parallel_threshold.py [N=3200] [ROUNDS=6] [THRESHOLD ...]
"""

from __future__ import annotations

import sys
import time

import numpy as np

import autoconv as ac
from autoconv.backends.cpu import jit
from autoconv.course import prepare, reference_model


def main(n: int, rounds: int, thresholds: list[int]) -> None:
    (x, y), _ = ac.datasets.mnist.load_data()
    x, y = prepare(x[:n], y[:n], "mnist")
    model = reference_model()
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    rates: dict[int, list[float]] = {threshold: [] for threshold in thresholds}
    for round_ in range(rounds + 1):  # round 0 compiles both builds and warms up
        for threshold in thresholds:
            jit.PARALLEL_MIN_WORK = threshold
            started = time.perf_counter()
            model.fit(x, y, epochs=1, batch_size=64, verbose=0)
            if round_:
                rates[threshold].append(n / (time.perf_counter() - started))
    print(f"samples/s, one epoch of {n} images, batch 64, {rounds} alternating rounds")
    for threshold, values in rates.items():
        each = ", ".join(f"{v:,.0f}" for v in values)
        print(f"PARALLEL_MIN_WORK={threshold:<20} median {np.median(values):>6,.0f}  ({each})")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args[:2] + [3200, 6][len(args[:2]) :]), args[2:] or [0, 1 << 20, jit.PARALLEL_MIN_WORK])
