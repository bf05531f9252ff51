"""A/B of one setting in one process: a module-level value of autoconv (a threshold, a size, a
kernel choice) set to each of several values in turn, block after block, while a course model
trains (or predicts), so the machine's drift hits every value alike. Prints the median step
(or prediction) time of each value and its ratio to the first.

    python bench/alternate.py MODULE.NAME VALUE VALUE ... [--model mnist|rgb|stack|xception]
                              [--blocks 8] [--steps 3] [--predict N]

For example, im2col's loop order by channels, and the parallel threshold of the CPU kernels:

    python bench/alternate.py autoconv.backends.cpu.conv.BY_PIXEL_MIN_CHANNELS 1000000000 16 \\
        --model rgb --blocks 8 --steps 3
    python bench/alternate.py autoconv.backends.cpu.jit.PARALLEL_MIN_WORK 16777216 \\
        4611686018427387904 --model mnist --predict 6400

Each value runs ``--steps`` training steps per block (the workload's batch, RMSprop, the data of
``epoch_vs_torch.py``), or one ``predict`` of ``--predict`` images at its inference batch; the
order of the values is reversed every other block. The setting must be read where it is used
(a module global looked up per call), not copied at import.
"""

from __future__ import annotations

import argparse
import importlib
import time

import numpy as np
from epoch_vs_torch import WORKLOADS

import autoconv as ac
from autoconv.training import StepState


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".e") else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "setting", help="MODULE.NAME, e.g. autoconv.backends.cpu.jit.PARALLEL_MIN_WORK"
    )
    parser.add_argument("values", nargs="+", type=_number)
    parser.add_argument("--model", choices=sorted(WORKLOADS), default="mnist")
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--predict", type=int, metavar="N", help="time predict of N images")
    args = parser.parse_args()
    module_name, _, name = args.setting.rpartition(".")
    module = importlib.import_module(module_name)
    if not hasattr(module, name):
        parser.error(f"{module_name} has no setting {name!r}")

    workload = WORKLOADS[args.model]
    batch = workload.batch
    x, labels = workload.data(args.predict or 4 * batch)
    model = workload.build()
    if args.predict:
        model.predict(x[:batch], batch_size=workload.infer_batch, verbose=0)  # compile

        def run() -> float:
            started = time.perf_counter()
            model.predict(x, batch_size=workload.infer_batch, verbose=0)
            return time.perf_counter() - started

    else:
        y = labels
        if workload.loss == "categorical_crossentropy":
            y = ac.utils.to_categorical(labels, workload.classes)
        model.compile("rmsprop", workload.loss, metrics=["accuracy"])
        model.fit(x[: 2 * batch], y[: 2 * batch], epochs=1, batch_size=batch, verbose=0)
        state = StepState(model)
        step = [0]

        def run() -> float:
            i = step[0] % 4 * batch
            step[0] += 1
            started = time.perf_counter()
            model._train_batch([x[i : i + batch]], [y[i : i + batch]], None, state)
            return time.perf_counter() - started

    times: dict[int | float, list[float]] = {value: [] for value in args.values}
    for block in range(args.blocks):
        order = args.values if block % 2 == 0 else args.values[::-1]
        for value in order:
            setattr(module, name, value)
            times[value] += [run() for _ in range(1 if args.predict else args.steps)]
    what = (
        f"predict of {args.predict} images, s" if args.predict else f"ms per step (batch {batch})"
    )
    scale = 1 if args.predict else 1e3
    print(f"{args.model}: {what}, {args.blocks} alternating blocks")
    first = np.median(times[args.values[0]])
    for value, values in times.items():
        median = np.median(values)
        print(
            f"  {name}={value:<20} median {median * scale:9.3f}  ({first / median:.3f}x the first)"
        )


if __name__ == "__main__":
    main()
