"""predict at batch 1000 of a small conv + BatchNormalization model, planned with and without
the plan's batch-norm folding rule (autoconv/models/graph.py), in one process, alternating.

Two models, the same weights (trained a little so the moving statistics are not 0 and 1):
``chain``: (Conv2D, BatchNormalization, ReLU, MaxPooling2D) x 2, Flatten, Dense, which folds
into two conv2d_max_pool ops; ``bn``: (Conv2D, BatchNormalization, tanh) x 2, Flatten, Dense,
where only the batch normalization's pass goes away.

    python bench/fold_batch_norm.py [chain|bn] [ROUNDS=12]
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import autoconv as ac
from autoconv import layers
from autoconv.models import graph


def model(kind: str) -> ac.Sequential:
    ac.utils.set_random_seed(0)
    stack: list[layers.Layer] = [layers.Input(shape=(28, 28, 1))]
    for filters in (32, 64):
        after = (
            [layers.ReLU(), layers.MaxPooling2D()]
            if kind == "chain"
            else [layers.Activation("tanh")]
        )
        stack += [layers.Conv2D(filters, 3, use_bias=False), layers.BatchNormalization(), *after]
    return ac.Sequential([*stack, layers.Flatten(), layers.Dense(10)])


def main(kind: str = "chain", rounds: int = 12) -> None:
    x = np.random.default_rng(0).random((1000, 28, 28, 1)).astype(np.float32)
    folded = model(kind)
    folded.compile("sgd", "mse")
    folded.fit(x[:256], np.zeros((256, 10)), batch_size=64, verbose=0)
    rule = graph._foldable_batch_norm
    graph._foldable_batch_norm = lambda *args: []
    try:
        plain = model(kind)
    finally:
        graph._foldable_batch_norm = rule
    plain.set_weights(folded.get_weights())
    print(folded.plan, "\n")
    difference = np.abs(folded.predict(x, 1000, 0) - plain.predict(x, 1000, 0)).max()
    print(f"max |folded - plain| = {difference:.3g}")
    times: dict[str, list[float]] = {"plain": [], "folded": []}
    for i in range(rounds):
        pair = [("plain", plain), ("folded", folded)]
        for name, m in pair if i % 2 == 0 else pair[::-1]:
            started = time.perf_counter()
            m.predict(x, batch_size=1000, verbose=0)
            times[name].append(time.perf_counter() - started)
    for name, seconds in times.items():
        print(
            f"{name:7s} median {statistics.median(seconds) * 1e3:7.1f} ms, "
            f"min {min(seconds) * 1e3:7.1f} ms"
        )
    ratios = [p / f for p, f in zip(times["plain"], times["folded"], strict=True)]
    print(f"plain / folded, per round: median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "chain", int(sys.argv[2]) if len(sys.argv) > 2 else 12
    )
