"""A bidirectional LSTM's (GRU's, SimpleRNN's) training step on the CPU, autoconv against
PyTorch: forward over a sequence batch (return_sequences) and the backward of its sum, the
median of 10 steps (``--steps``) after 3 unmeasured ones, in this process (run each engine in
its own), and the fastest of them (on a shared host, the step least slowed by other work).

    python bench/lstm_step.py autoconv|torch|torch-tuned [--layer lstm|gru|simple] [--source DIR]
        [--steps N]

Sizes: batch 32, 50 steps, 64 features, 128 units a direction (keras-io's captcha OCR's first
recurrent layer). PyTorch runs ``torch.nn.LSTM`` (``GRU``, ``RNN``) with ``bidirectional=True``
on 2 threads. autoconv applies its process settings first (``autoconv.configure_process()``, as
``fit`` and the command line do: glibc's malloc keeps freed buffers, OpenBLAS's threads sleep
sooner); ``torch-tuned`` is PyTorch with the same settings, ``torch`` PyTorch as it comes.
``--source DIR`` imports autoconv from DIR (another checkout: before and after a change; without
it a script imports the installed autoconv, not the working directory's)."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

BATCH, STEPS, FEATURES, UNITS = 32, 50, 64, 128


def step_of(engine: str, kind: str, x: np.ndarray):
    """The engine's training step of a ``kind`` layer on ``x``, a function of no arguments."""
    if engine == "autoconv":
        import autoconv as ac

        if hasattr(ac, "configure_process"):
            ac.configure_process()
        layers = ac.layers
        recurrent = {"lstm": layers.LSTM, "gru": layers.GRU, "simple": layers.SimpleRNN}[kind]
        layer = ac.layers.Bidirectional(recurrent(UNITS, return_sequences=True))
        inputs = ac.Tensor(x)

        def step() -> None:
            layer(inputs, training=True).sum().backward()

        return step
    import torch

    if engine == "torch-tuned":
        from autoconv.process import configure_process

        configure_process()
    torch.set_num_threads(2)
    recurrent = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple": torch.nn.RNN}[kind]
    layer = recurrent(FEATURES, UNITS, batch_first=True, bidirectional=True)
    inputs = torch.tensor(x)

    def step() -> None:
        layer(inputs)[0].sum().backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("engine", choices=["autoconv", "torch", "torch-tuned"])
    parser.add_argument("--layer", choices=["lstm", "gru", "simple"], default="lstm")
    parser.add_argument("--source", help="import autoconv from this checkout")
    parser.add_argument("--steps", type=int, default=10, help="measured steps")
    args = parser.parse_args()
    if args.source:  # ahead of an editable install's finder
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
        sys.path.insert(0, args.source)
    x = np.random.default_rng(0).standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)
    step = step_of(args.engine, args.layer, x)
    for _ in range(3):
        step()
    times = []
    for _ in range(args.steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    where = f" ({args.source})" if args.source else ""
    median, fastest = np.median(times) * 1000, np.min(times) * 1000
    print(f"{args.engine}{where} {args.layer}: {median:.1f} ms a step (fastest {fastest:.1f})")


if __name__ == "__main__":
    main()
