"""Where a cold start's seconds go on a GPU: a model's first ``fit``, phase by phase, each
phase's wall-clock seconds split by what the process was doing.

``bench/cold_compile.py`` times the compiles alone, on any CPU; a fresh GPU machine's first epoch
takes longer than they do (MNIST: 22.8 s on a bare H200 against about 10 s of compiles on this
project's 2-core host, bench/results/2026-11-27-gpu-h200-filter-groups.md), and this says where
the rest goes. Each phase's seconds are shared among:

- front end: numba's typing and lowering of a kernel and of the device functions it is the first
  to call (``_Kernel`` made), and the disk cache's writes;
- NVVM: LLVM IR to PTX (``nvvm.compile_ir``);
- assembly: PTX to a cubin (numba-cuda's linker: ``get_cubin`` less the NVVM inside it);
- module loads: a cubin loaded onto the device (``create_module_image``);
- cache loads: kernels read back from the disk cache (a warm start's whole compile);
- imports: Python modules imported in the phase (those numba-cuda imports on its first compile);
- cuBLAS: loading libcublas and making its handle (``cublas._Library``);
- graphs: CUDA graphs of recorded steps built (``capture._build_graph``);
- compile workers: starting the worker processes that compile a step's kernels beside this one,
  waiting for them, and taking their kernels (``compiling._Workers``; this process's own
  compiles meanwhile count as above);
- the rest: the steps themselves, copies, the host's own work.

Time inside a nested item counts for the innermost (NVVM inside a compile is NVVM's). Two
processes share one empty kernel cache folder: the first compiles every kernel (cold), the
second loads them (warm). The phases: importing numba-cuda and autoconv; the CUDA context; the
model built on the device and compiled; ``fit``'s first and second epochs (the protocol's data,
batch size and optimizer: ``gpu_vs_torch.py``'s).

    python bench/cold_start.py [--model mnist|rgb|stack|xception] [--mnist-limit N]

Exit status 3 where there is no GPU to start on (the simulator compiles nothing).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
KINDS = ("front end", "NVVM", "assembly", "module loads", "cache loads", "imports", "cuBLAS",
         "graphs", "compile workers")  # fmt: skip
COUNTED = {"front end": "kernels compiled", "cache loads": "kernels loaded", "imports": "modules",
           "compile workers": "kernels from workers"}  # fmt: skip


class Ledger:
    """Seconds by kind of work, exclusive: a timed call's seconds less those of the timed calls
    inside it (each thread its own nesting)."""

    def __init__(self) -> None:
        self.seconds: collections.Counter = collections.Counter()
        self.counts: collections.Counter = collections.Counter()
        self._nesting = threading.local()

    def timed(
        self, kind: str, function: Callable, counts: Callable[[Any], bool] = lambda result: True
    ) -> Callable:
        """``function``, its seconds booked to ``kind``; a call counts where ``counts(result)``."""

        @functools.wraps(function)
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            stack = self._nesting.__dict__.setdefault("stack", [])
            stack.append(0.0)  # the seconds of the timed calls inside this one
            started = time.perf_counter()
            result = None
            try:
                result = function(*args, **kwargs)
                return result
            finally:
                elapsed = time.perf_counter() - started
                self.seconds[kind] += elapsed - stack.pop()
                self.counts[kind] += bool(counts(result))
                if stack:
                    stack[-1] += elapsed

        return timed_call

    def snapshot(self) -> tuple:
        """Now, for :meth:`since`."""
        return time.perf_counter(), self.seconds.copy(), self.counts.copy()

    def since(self, name: str, snapshot: tuple) -> dict:
        """The wall-clock seconds since ``snapshot`` and their split (the kinds' seconds)."""
        started, seconds, counts = snapshot
        wall = time.perf_counter() - started
        split = {kind: self.seconds[kind] - seconds[kind] for kind in KINDS}
        return {
            "phase": name, "wall": wall, "split": split,
            "rest": wall - sum(split.values()),
            "counts": {kind: self.counts[kind] - counts[kind] for kind in COUNTED},
        }  # fmt: skip

    def phase(self, name: str, work: Callable[[], Any]) -> dict:
        """Run ``work``: :meth:`since` its start."""
        snapshot = self.snapshot()
        work()
        return self.since(name, snapshot)


def time_imports(ledger: Ledger) -> None:
    """Book every module import (a module not yet loaded) to "imports"."""
    import importlib._bootstrap as bootstrap

    bootstrap._find_and_load = ledger.timed("imports", bootstrap._find_and_load)


def time_compiles(ledger: Ledger) -> None:
    """Book numba-cuda's compile stages, the cache, cuBLAS's load and graph builds."""
    from numba.cuda import codegen, dispatcher
    from numba.cuda.cudadrv import driver, nvvm

    from autoconv.backends.cuda import capture, compiling, cublas

    def wrap(owner: Any, name: str, kind: str, **options: Any) -> None:
        setattr(owner, name, ledger.timed(kind, getattr(owner, name), **options))

    wrap(dispatcher._Kernel, "__init__", "front end")
    wrap(dispatcher.CUDACache, "save_overload", "front end", counts=lambda result: False)
    wrap(nvvm, "compile_ir", "NVVM", counts=lambda result: False)
    wrap(codegen.CUDACodeLibrary, "get_cubin", "assembly")
    wrap(driver.Context, "create_module_image", "module loads")

    def loaded(kernel: Any) -> bool:  # a cache miss returns None
        return kernel is not None

    wrap(dispatcher.CUDACache, "load_overload", "cache loads", counts=loaded)
    wrap(cublas._Library, "__init__", "cuBLAS")
    wrap(capture, "_build_graph", "graphs")
    wrap(compiling._Workers, "__init__", "compile workers", counts=lambda result: False)
    wrap(compiling._Workers, "compile", "compile workers", counts=lambda result: False)
    wrap(compiling, "_add", "compile workers", counts=bool)  # a kernel taken from a worker


def child(model_name: str, mnist_limit: int | None) -> None:
    """One process's phases, printed as JSON lines."""
    ledger = Ledger()
    time_imports(ledger)
    modules: dict[str, Any] = {}

    def import_all() -> None:
        import gpu_vs_torch
        import numba.cuda

        import autoconv

        modules.update(cuda=numba.cuda, ac=autoconv, bench=gpu_vs_torch)

    rows = [ledger.phase("import numba-cuda, autoconv", import_all)]
    cuda, ac, bench = modules["cuda"], modules["ac"], modules["bench"]
    from autoconv.backends.cuda.runtime import SIMULATED

    if SIMULATED or not cuda.is_available():
        print("no GPU to start on: this measures a GPU process (the simulator compiles nothing)",
              file=sys.stderr)  # fmt: skip
        sys.exit(3)
    rows.append(ledger.phase("the CUDA context", cuda.current_context))
    time_compiles(ledger)
    workload = bench.WORKLOADS[model_name]
    args = argparse.Namespace(mnist_limit=mnist_limit, steps=20, epochs=2)
    data: list[Any] = []
    rows.append(ledger.phase("the training data, on the host", lambda: data.extend(
        bench.training_data(model_name, args))))  # fmt: skip
    x, y = data[0], bench.targets_of(model_name, data[1])
    model: list[Any] = []

    def build() -> None:
        ac.utils.set_random_seed(0)
        kind, settings = bench.optimizer_of(model_name)
        model.append(workload.build().to("cuda"))
        model[0].compile(getattr(ac.optimizers, kind)(**settings), workload.loss,
                         metrics=["accuracy"])  # fmt: skip

    rows.append(ledger.phase("model built on the GPU, compiled", build))
    marks = [ledger.snapshot()]

    def epoch_begins(epoch: int, logs: dict | None) -> None:
        if epoch == 0:
            rows.append(ledger.since("fit, before its first epoch", marks[0]))
        marks.append(ledger.snapshot())

    def epoch_ends(epoch: int, logs: dict | None) -> None:
        rows.append(ledger.since(f"fit, epoch {epoch + 1}", marks[-1]))

    clock = ac.callbacks.LambdaCallback(on_epoch_begin=epoch_begins, on_epoch_end=epoch_ends)
    model[0].fit(x, y, batch_size=workload.batch, epochs=2, shuffle=True, verbose=0,
                 callbacks=[clock])  # fmt: skip
    name = cuda.get_current_device().name
    for row in rows:
        row["device"] = name.decode() if isinstance(name, bytes) else name
        print(json.dumps(row))


def table(run: str, rows: list[dict]) -> list[str]:
    """A run's phases as a Markdown table."""
    lines = [
        f"| {run} | wall | "
        + " | ".join(KINDS)
        + " | the rest | "
        + " | ".join(COUNTED.values())
        + " |",
        "|---" * (len(KINDS) + 3 + len(COUNTED)) + "|",
    ]
    for row in rows:
        split = " | ".join(f"{row['split'][kind]:.2f}" for kind in KINDS)
        counts = " | ".join(str(row["counts"][kind]) for kind in COUNTED)
        lines.append(f"| {row['phase']} | {row['wall']:.2f} | {split} | {row['rest']:.2f} | "
                     f"{counts} |")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mnist", "rgb", "stack", "xception"], default="mnist")
    parser.add_argument("--mnist-limit", type=int, help="MNIST's first N training images")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.model, args.mnist_limit)
    command = [sys.executable, __file__, "--child", "--model", args.model]
    if args.mnist_limit:
        command += ["--mnist-limit", str(args.mnist_limit)]
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "NUMBA_CACHE_DIR": folder,
               "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}  # fmt: skip
        runs = {}
        for run in ("cold", "warm"):
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode:
                sys.stderr.write(done.stderr[-3000:])
                sys.exit(done.returncode)
            runs[run] = [json.loads(line) for line in done.stdout.splitlines() if line[:1] == "{"]
    device = runs["cold"][0]["device"]
    print(f"{args.model}: a cold start's seconds on {device}, {time.strftime('%Y-%m-%d')} "
          "(cold: an empty kernel cache folder; warm: the same folder after it)")  # fmt: skip
    for run, rows in runs.items():
        print()
        print("\n".join(table(run, rows)))


if __name__ == "__main__":
    main()
