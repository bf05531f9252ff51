"""Count the CUDA kernel launches of one training step of a course model, by kernel.

On a GPU each launch costs the host several microseconds in numba-cuda, whatever the kernel
does, so at batch 64 the launch count bounds how fast a step can be. This counts them on numba's
CUDA simulator (no GPU needed) without running the kernels, which would take hours there: the
sequence of launches does not depend on the data, only on the shapes, and the launch constants
are set to the real GPU's (the simulator's own are smaller), so the count is the GPU's. The
first fit's one-off launches (the optimizer's slots, the backward's array of ones kept for
later steps) are not counted; an epoch's own (its status, the metrics' reset) are, spread over
its steps. Then how fit replays the step (autoconv/step_replay.py): after two recorded steps,
the replayed steps are staged and launched together, as many as hold the replay's
``LAUNCH_KERNELS`` kernels (``--launch-kernels K`` sets it; 0: a launch an execution), each
launch one CUDA graph of their kernels on a GPU after one copy of their step inputs; here,
without graphs, the replayed kernels are launched (and counted) one by one. With
``steps_per_execution`` N (compile's), a launch takes whole executions of N steps.

The reference MNIST model by default; ``--model rgb|stack|xception`` counts one of the bigger
models of ``bench/gpu_vs_torch.py`` (its batch size, optimizer and loss), on random images.

``--dataset`` hands ``fit`` the data as a Dataset of batches (as an image folder's come): each
batch is copied to the device before its step, counted with the step inputs' copies.

``--on-batch`` trains with ``train_on_batch`` calls, one per batch (a custom training loop's
way, and ``autoconv bench --device cuda``'s train step): each call's batch is copied into the
device arrays of its shape, then its step is recorded or replayed as ``fit``'s.

``--host-time EPOCHS`` then times the host's own part of replayed steps: EPOCHS epochs (after
a first, which records the step) of a 60,000-image fit (MNIST's size; a tenth for the bigger
models) with the replayed launches and the copies of the data not made (a GPU does those while
the host goes on), and prints the median microseconds per step: the floor, on this machine's
CPU, under a step on a GPU when the device keeps up.

    python bench/cuda_launches.py [batch_size] [steps_per_execution] [--model NAME] [--dataset]
                                  [--on-batch] [--host-time EPOCHS] [--launch-kernels K]
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import time

os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # before numba is imported

import numpy as np
from epoch_vs_torch import WORKLOADS
from numba.cuda.simulator import kernel as simulated

import autoconv as ac
from autoconv import step_replay
from autoconv.backends.cuda import array, capture, gemm, reduce, runtime

# The GPU's launch constants, as the backend sets them off the simulator. Each is a global of
# the module that reads it at launch time (runtime.launch, gemm.matmul, reduce.sum_columns), so
# it is set there. (The product's tiles stay the simulator's: a tile's size changes which block
# computes an entry, not how many launches a step makes.)
runtime.THREADS, runtime.MAX_BLOCKS = 256, 2048
gemm.SPLIT_BLOCKS, gemm.SPLIT_MIN_CHUNK = 256, 64
reduce.COLUMN_TILE, reduce.CHUNK_ROWS, reduce.MAX_ROW_CHUNKS = 32, 256, 1024

counts: collections.Counter[str] = collections.Counter()


def counting_configure(kernel, config):
    name = kernel.fn.__qualname__.replace(".<locals>", "")

    def launch(*args):
        counts[name] += 1
        if name == "_fill":  # zeros() must hold zeros (the status and totals start so), ones ones
            args[0]._ary.fill(args[1])  # the simulator's array, filled at NumPy's speed

    return launch


simulated.FakeCUDAKernel.__getitem__ = counting_configure
executions: list[int] = []  # the steps of each launch of replayed steps
launch_replayed = capture.Replay.launch


def counting_launch(replay: capture.Replay, whole: int = 0) -> None:
    if replay.staged:
        executions.append(replay.staged)
    launch_replayed(replay, whole)


capture.Replay.launch = counting_launch
copies: list[int] = []  # the bytes of each asynchronous copy from the host
copy_async = runtime.copy_async


def counting_copy(target, host) -> None:
    copies.append(host.nbytes)
    copy_async(target, host)


array.copy_async = capture.copy_async = counting_copy  # where the backend calls it


def host_time(model, x, y, batch_size: int, epochs: int) -> None:
    """Time the epochs after the first of a fit of x, y over ``epochs`` + 1 epochs, with replayed
    steps launched by no one and the data's copies to the device not made: the host's part of
    each step (see the module)."""
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    capture.Replay.launch = lambda replay, whole=0: setattr(replay, "staged", 0)
    copy_to_device = FakeCUDAArray.copy_to_device

    def small_copies_only(self, ary, *args, **kwargs):
        if getattr(ary, "nbytes", 0) <= 1 << 20:  # a step's inputs, a status: made
            copy_to_device(self, ary, *args, **kwargs)

    FakeCUDAArray.copy_to_device = small_copies_only
    begins, times = [], []
    clock = ac.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: begins.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: times.append(time.perf_counter() - begins[-1]),
    )
    model.fit(x, y, epochs=epochs + 1, batch_size=batch_size, verbose=0, callbacks=[clock])
    steps = len(x) // batch_size
    per_step = statistics.median(times[1:]) / steps
    print(
        f"host time of a replayed step, kernels and the data's copies not made: "
        f"{per_step * 1e6:.1f} us (median of {epochs} epochs of {steps} steps, this CPU)"
    )


def main(
    name: str, batch_size: int | None, steps_per_execution: int, dataset: bool, on_batch: bool,
    epochs: int,
) -> None:  # fmt: skip
    workload = WORKLOADS[name]
    batch_size = batch_size or workload.batch
    if name == "mnist":
        rng = np.random.default_rng(0)
        x = rng.random((10 * batch_size, 28, 28, 1), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, len(x))]
    else:  # the images as gpu_vs_torch.py trains on them, 6 batches (fewer to simulate)
        x, y = workload.data(6 * batch_size)
    optimizer = ac.optimizers.Adam(3e-4) if name == "xception" else ac.optimizers.RMSprop(1e-3)
    model = workload.build().to("cuda")
    model.compile(optimizer, workload.loss, metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)  # fmt: skip
    model.fit(x[:batch_size], y[:batch_size], epochs=1, batch_size=batch_size, verbose=0)
    counts.clear()  # the first fit's one-off launches (optimizer slots) are not counted
    executions.clear()
    copies.clear()
    steps = len(x) // batch_size
    if dataset:  # the batches handed over by the host, as an image folder's are
        model.fit(ac.data.Dataset.from_tensor_slices((x, y)).batch(batch_size), verbose=0)
    elif on_batch:  # a custom training loop's calls
        for at in range(0, steps * batch_size, batch_size):
            model.train_on_batch(x[at : at + batch_size], y[at : at + batch_size])
    else:
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
    total = sum(counts.values())
    kind = type(optimizer).__name__
    print(f"{name} model, batch {batch_size}, {kind}: {total / steps:g} launches per step")
    print(f"({total} over one epoch of {steps} steps, the epoch's own launches included)")
    for kernel, n in counts.most_common():
        print(f"{n / steps:6.2f}  {kernel}")
    runner = model._one_batch_steps["train"][0] if on_batch else model._step_replay
    replay = runner.replay
    if replay is None:
        print(f"no step was replayed: {runner.why}")
        return
    print(
        f"replayed: {runner.replayed} of the epoch's {steps} steps (the first two are recorded). "
        f"A replayed step is {replay.launches} kernels launched from the host one by one here "
        "(the simulator has no graphs); on a GPU, a launch of replayed steps is one CUDA graph "
        f"of their kernels after one copy of their step inputs ({replay.tape.used} bytes a step)"
    )
    print(
        f"asynchronous copies from the host: {len(copies) / steps:g} per step, "
        f"{sum(copies) / steps:,.0f} bytes per step"
    )
    print(
        f"steps_per_execution={steps_per_execution}: the {runner.replayed} replayed steps in "
        f"{len(executions)} launches of {executions} steps: on a GPU, "
        f"{len(executions) / runner.replayed:.3g} host launches (and copies) per replayed step"
    )
    if epochs and not on_batch:
        images = 60_000 if name == "mnist" else 6_000
        count = images // batch_size * batch_size
        repeats = -(-count // len(x))
        x, y = (np.concatenate([data] * repeats)[:count] for data in (x, y))
        host_time(model, x, y, batch_size, epochs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("batch_size", nargs="?", type=int, help="the workload's by default")
    parser.add_argument("steps_per_execution", nargs="?", type=int, default=1)
    parser.add_argument("--model", choices=sorted(WORKLOADS), default="mnist")
    parser.add_argument("--dataset", action="store_true", help="fit on a Dataset of batches")
    parser.add_argument("--on-batch", action="store_true", help="train_on_batch, batch by batch")
    parser.add_argument("--host-time", type=int, default=0, metavar="EPOCHS",
                        help="then time the host's part of replayed steps")  # fmt: skip
    parser.add_argument(
        "--launch-kernels",
        type=int,
        metavar="K",
        help="the kernels a launch of replayed steps holds (0: an execution's)",
    )
    args = parser.parse_args()
    if args.launch_kernels is not None:
        step_replay.LAUNCH_KERNELS = args.launch_kernels
    main(args.model, args.batch_size, args.steps_per_execution, args.dataset, args.on_batch,
         args.host_time)  # fmt: skip
