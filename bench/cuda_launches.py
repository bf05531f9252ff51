"""Count the CUDA kernel launches of one training step of the reference model, by kernel.

On a GPU each launch costs the host several microseconds in numba-cuda, whatever the kernel
does, so at batch 64 the launch count bounds how fast a step can be. This counts them on numba's
CUDA simulator (no GPU needed) without running the kernels, which would take hours there: the
sequence of launches does not depend on the data, only on the shapes, and the launch constants
are set to the real GPU's (the simulator's own are smaller), so the count is the GPU's. The
first fit's one-off launches (the optimizer's slots, the backward's array of ones kept for
later steps) are not counted; an epoch's own (its status, the metrics' reset) are, spread over
its steps. Then how fit replays the step (autoconv/step_replay.py): after two recorded steps,
each step is one CUDA graph launch from the host on a GPU, after one copy of its step inputs;
here, without graphs, the replayed kernels are launched (and counted) one by one.

With ``steps_per_execution`` N (compile's), the replayed steps of an execution are staged and
launched together: it counts those launches (on a GPU each is one graph of N steps' kernels).

    python bench/cuda_launches.py [batch_size] [steps_per_execution]
"""

from __future__ import annotations

import collections
import os
import sys

os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # before numba is imported

import numpy as np
from numba.cuda.simulator import kernel as simulated

from autoconv.backends.cuda import capture, gemm, runtime
from autoconv.course import reference_model

# The GPU's launch constants, as the backend sets them off the simulator. Each is a global of
# the module that reads it at launch time (runtime.launch, gemm.matmul), so it is set there.
runtime.THREADS, runtime.MAX_BLOCKS = 256, 2048
gemm.BLOCK, gemm.SPLIT_K, gemm.SPLIT_K_MIN_CHUNK = 64, 32, 1024

counts: collections.Counter[str] = collections.Counter()
configure = simulated.FakeCUDAKernel.__getitem__


def counting_configure(kernel, config):
    launcher = configure(kernel, config)
    name = kernel.fn.__qualname__.replace(".<locals>", "")

    def launch(*args):
        counts[name] += 1
        if name == "_fill":  # zeros() must hold zeros (the status and totals start so), ones ones
            launcher(*args)

    return launch


simulated.FakeCUDAKernel.__getitem__ = counting_configure
executions: list[int] = []  # the steps of each launch of replayed steps
launch_replayed = capture.Replay.launch


def counting_launch(replay: capture.Replay) -> None:
    if replay.staged:
        executions.append(replay.staged)
    launch_replayed(replay)


capture.Replay.launch = counting_launch


def main(batch_size: int, steps_per_execution: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((10 * batch_size, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, len(x))]
    model = reference_model().to("cuda")
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)  # fmt: skip
    model.fit(x[:batch_size], y[:batch_size], epochs=1, batch_size=batch_size, verbose=0)
    counts.clear()  # the first fit's one-off launches (optimizer slots) are not counted
    executions.clear()
    model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
    steps = len(x) // batch_size
    total = sum(counts.values())
    print(f"reference model, batch {batch_size}, RMSprop: {total / steps:g} launches per step")
    print(f"({total} over one epoch of {steps} steps, the epoch's own launches included)")
    for name, n in counts.most_common():
        print(f"{n / steps:6.2f}  {name}")
    runner = model._step_replay
    replay = runner.replay
    if replay is None:
        print(f"no step was replayed: {runner.why}")
        return
    print(
        f"replayed: {runner.replayed} of the epoch's {steps} steps (the first two are recorded). "
        f"A replayed step is {replay.launches} kernels launched from the host one by one here "
        "(the simulator has no graphs); on a GPU, 1 host launch (one CUDA graph of them) after "
        f"1 copy of {replay.tape.used} bytes of step inputs"
    )
    print(
        f"steps_per_execution={steps_per_execution}: the {runner.replayed} replayed steps in "
        f"{len(executions)} launches of {executions} steps: on a GPU, "
        f"{len(executions) / runner.replayed:.3g} host launches (and copies) per replayed step"
    )


if __name__ == "__main__":
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    every = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    main(batch, every)
