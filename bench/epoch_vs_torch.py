"""End-to-end training throughput, autoconv vs PyTorch CPU, in one process.

Trains the reference model (batch 64, RMSprop) for one epoch over the first N MNIST training
images with each engine, alternating, and prints samples/s. PyTorch is written the way users
write it (NCHW, a Python loop over shuffled mini-batches).

    python bench/epoch_vs_torch.py [N=6400] [REPEATS=2]
"""

from __future__ import annotations

import sys
import time

import numpy as np

import autoconv as ac
from autoconv.benchmarks.cases import torch_reference_model
from autoconv.cli import prepare, reference_model


def autoconv_epoch(x: np.ndarray, y: np.ndarray) -> float:
    model = reference_model()
    model.compile("rmsprop", "categorical_crossentropy", ["accuracy"])
    model.fit(x[:640], y[:640], epochs=1, batch_size=64, verbose=0)  # compile, warm up
    started = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    return len(x) / (time.perf_counter() - started)


def torch_epoch(torch, x: np.ndarray, y: np.ndarray) -> float:
    nn = torch.nn
    # The same model, NCHW as users write it, starting from autoconv's (Keras's) initial weights.
    model = torch_reference_model(torch, [p.numpy() for p in reference_model().parameters()])
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    labels = torch.from_numpy(y.argmax(axis=1))

    def epoch(n: int) -> None:
        order = torch.randperm(n)
        for start in range(0, n, 64):
            index = order[start : start + 64]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(images[index]), labels[index])
            loss.backward()
            optimizer.step()

    epoch(640)  # warm up
    started = time.perf_counter()
    epoch(len(x))
    return len(x) / (time.perf_counter() - started)


def main(n: int, repeats: int) -> None:
    import torch

    torch.set_num_threads(2)
    (x, y), _ = ac.datasets.mnist.load_data()
    x, y = prepare(x[:n], y[:n], "mnist")
    for _ in range(repeats):
        ours, theirs = autoconv_epoch(x, y), torch_epoch(torch, x, y)
        print(f"autoconv {ours:,.0f} samples/s   PyTorch {theirs:,.0f} samples/s")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [6400, 2][len(args) :]))
