"""End-to-end training throughput: autoconv vs PyTorch CPU, in turn, each in its own process.

Trains the reference model (batch 64, RMSprop) for one epoch over the first N MNIST training
images with each engine and prints samples/s, REPEATS rounds, then each engine's median
and autoconv's median over each PyTorch's (higher is faster). Engines:

- ``autoconv``: ``model.fit``, as the CLI trains.
- ``torch``: PyTorch written the way users write it (NCHW, a Python loop over shuffled
  mini-batches), with the process's default malloc.
- ``torch-tuned``: the same with channels_last tensors and glibc told to keep freed buffers
  (what autoconv's ``fit`` does for itself): the tuned PyTorch of issue 8.

Each epoch runs in a fresh child process, so no engine inherits another's thread pools or
malloc settings; the rounds alternate engines so the machine's drift hits all alike.

    python bench/epoch_vs_torch.py [N=6400] [REPEATS=2]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import numpy as np

import autoconv as ac
from autoconv.benchmarks.cases import torch_reference_model
from autoconv.course import prepare, reference_model
from autoconv.process import configure_process

ENGINES = ("autoconv", "torch", "torch-tuned")


def autoconv_epoch(x: np.ndarray, y: np.ndarray) -> float:
    model = reference_model()
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:640], y[:640], epochs=1, batch_size=64, verbose=0)  # compile, warm up
    started = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    return len(x) / (time.perf_counter() - started)


def torch_epoch(x: np.ndarray, y: np.ndarray, tuned: bool) -> float:
    import torch

    torch.set_num_threads(2)
    nn = torch.nn
    # The same model, starting from autoconv's (Keras's) initial weights.
    model = torch_reference_model(torch, reference_model().get_weights())
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    if tuned:
        configure_process()  # what fit applies for itself: malloc keeps freed buffers
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
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


def one_epoch(engine: str, n: int) -> float:
    """Samples/s of one steady-state epoch of ``engine`` over the first n images."""
    (x, y), _ = ac.datasets.mnist.load_data()
    x, y = prepare(x[:n], y[:n], "mnist")
    if engine == "autoconv":
        return autoconv_epoch(x, y)
    return torch_epoch(x, y, tuned=engine == "torch-tuned")


def run_in_child(engine: str, n: int) -> str:
    command = [sys.executable, __file__, "--engine", engine, str(n)]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def main(n: int, repeats: int) -> None:
    print("samples/s, one epoch of", n, "images, batch 64; each in a fresh process")
    print("  ".join(f"{engine:>12}" for engine in ENGINES))
    rounds = []
    for _ in range(repeats):
        rounds.append([float(run_in_child(engine, n)) for engine in ENGINES])
        print("  ".join(f"{rate:>12,.0f}" for rate in rounds[-1]))
    medians = [statistics.median(column) for column in zip(*rounds, strict=True)]
    print("  ".join(f"{rate:>12,.0f}" for rate in medians), " median")
    print(
        "autoconv / torch, medians:",
        "  ".join(
            f"{medians[0] / rate:.2f}x {engine}"
            for engine, rate in zip(ENGINES[1:], medians[1:], strict=True)
        ),
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--engine"]:
        print(one_epoch(sys.argv[2], int(sys.argv[3])))
    else:
        args = [int(a) for a in sys.argv[1:]]
        main(*(args + [6400, 2][len(args) :]))
