"""Where a replayed GPU step's time goes, kernel by kernel (needs a real GPU).

Fits a course model on the GPU (``bench/gpu_vs_torch.py``'s batch size, optimizer and loss, on
random images) until its training step is replayed as one CUDA graph, then predicts at batch 256
on images already on the device until the prediction step is replayed too. For each of the two
recorded steps it times, with CUDA events on the stream the graphs are launched on:

- the whole step: its graph launched ``--repeats`` times back to back (the host queues graph
  launches faster than the device runs steps of more than a few microseconds, so this is the
  device's time per step);
- each kernel alone: a graph of that one launch repeated ``--repeats`` times (kernels that
  update in place, an optimizer's, run on the values they left: the time is the same);
- with ``--in-step``, each kernel in the step: the whole step's time less that of the step
  without that kernel's launches (its inputs no longer warm in the cache from the kernel before,
  its neighbours', the step's own effects; the sum of these need not be the step's time).

Beside them, the host's time per step in ``fit`` (the last epoch's seconds over its steps) and
in ``predict``: where it is above the graph's time, the host is the bottleneck, not the kernels.
``--host-profile ROWS`` fits one more epoch under cProfile and prints its ROWS busiest
functions by their own time (of the host's per step): where a host-bound epoch's time goes
(numba-cuda's copies, the graph launch, the step inputs, the training loop).
Prints each step's kernels slowest first (the same kernel at the same launch shape is one row,
with its count) and the sum against the whole graph.

    python bench/gpu_step_kernels.py [--model mnist|rgb|stack|xception] [--steps 40]
                                     [--repeats 50] [--rows 20] [--in-step] [--json PATH]
                                     [--set MODULE.NAME=VALUE ...]
                                     [--precision high|highest] [--host-profile ROWS]

``--set`` changes a setting of a module of ``autoconv.backends.cuda`` (or of any module named
from ``autoconv.``) before the model is made, to compare a guess with its alternative in two
runs: those read when a launch is planned (``gemm.SPLIT_MIN_CHUNK=256``, ``gemm.SPLIT_BLOCKS``,
``runtime.RUN_LINES``, ``reduce.CHUNK_ROWS``, ``reduce.MAX_ROW_CHUNKS``,
``conv_pool.PARTS_ROUTE_ENTRIES=0``) or a route is chosen
(``autoconv.ops.convolution.WINOGRAD_MIN_CHANNELS=16``). A
constant compiled into a kernel (``gemm.BLOCK``, ``gemm.TILE_K``) needs an empty
``NUMBA_CACHE_DIR`` too, or the cached kernels keep the old one.

On numba-cuda's simulator (``NUMBA_ENABLE_CUDASIM=1``, a smoke test of the script: ``--steps 3
--repeats 2`` at a small ``--batch``) there are no graphs: the launches run one by one and the
times mean nothing.
"""

from __future__ import annotations

import argparse
import ast
import cProfile
import importlib
import io
import json
import pstats
import time
from typing import Any

import numpy as np
from epoch_vs_torch import WORKLOADS
from numba import cuda

import autoconv as ac
from autoconv.backends.cuda import capture, gemm, runtime

INFER_BATCH = 256


def launched(launches: list[tuple], repeats: int) -> Any:
    """A function that runs ``launches`` ``repeats`` times on the device: one CUDA graph launch
    (the launches one by one on the simulator)."""
    work = launches * repeats
    if runtime.SIMULATED:
        return lambda: [runtime.Launch(k, g, b)(*args) for k, g, b, args in work]
    graph, stream = capture._build_graph(work)  # the graph a replay makes of a tape
    return lambda: graph.launch(stream)


def device_ms(run: Any, rounds: int = 3) -> float:
    """The device's milliseconds for one ``run()`` (after a warm-up run): the median of
    ``rounds``, each timed with events around it."""
    run()
    times = []
    for _ in range(rounds):
        start, end = cuda.event(), cuda.event()
        start.record()
        run()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times))


def kernel_name(kernel: Any) -> str:
    function = getattr(kernel, "py_func", None) or getattr(kernel, "fn", None)
    name = getattr(function, "__qualname__", None) or repr(kernel)  # cuBLAS: cublas_gemm
    return name.replace(".<locals>", "")  # a factory's kernel: factory.kernel


def profile(replay: Any, repeats: int, in_step: bool) -> dict:
    """The step's graph time and each kernel's, both in microseconds per step; with
    ``in_step``, each kernel's time in the step too: the whole graph's time less that of the
    graph without the kernel's launches (what the step saves without them, caches and all)."""
    launches = replay.tape.launches
    whole = device_ms(launched(launches, repeats)) * 1e3 / repeats
    rows: dict[tuple, dict] = {}
    for at, (kernel, grid, block, args) in enumerate(launches):
        key = (kernel_name(kernel), str(grid), str(block))
        row = rows.get(key)
        if row is None:
            alone = device_ms(launched([(kernel, grid, block, args)], repeats)) * 1e3 / repeats
            row = rows[key] = {"kernel": key[0], "grid": key[1], "block": key[2], "us": alone,
                               "count": 0, "at": []}  # fmt: skip
        row["count"] += 1
        row["at"].append(at)
    if in_step:
        for row in rows.values():
            rest = [launch for at, launch in enumerate(launches) if at not in row["at"]]
            row["in_step_us"] = whole - device_ms(launched(rest, repeats)) * 1e3 / repeats
    ordered = sorted(rows.values(), key=lambda row: -row["us"] * row["count"])
    return {"launches": len(launches), "graph_us": whole, "kernels": ordered}


def table(title: str, figures: dict, host_us: float, rows: int) -> list[str]:
    total = sum(row["us"] * row["count"] for row in figures["kernels"])
    lines = [
        "",
        f"{title}: {figures['launches']} kernels a step; device {figures['graph_us']:.1f} us a "
        f"step as one graph (kernels alone: {total:.1f} us in all); host {host_us:.1f} us a step",
        "",
        "| kernel | grid | block | launches | us each | us a step | share | in the step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in figures["kernels"][:rows]:
        step = row["us"] * row["count"]
        in_step = f"{row['in_step_us']:.1f}" if "in_step_us" in row else ""
        lines.append(
            f"| {row['kernel']} | {row['grid']} | {row['block']} | {row['count']} | "
            f"{row['us']:.1f} | {step:.1f} | {step / max(total, 1e-9):.0%} | {in_step} |"
        )
    return lines


def host_profile(model: Any, x: Any, y: Any, batch: int, rows: int) -> list[str]:
    """One more epoch of ``fit`` under cProfile: its ``rows`` functions with the most time of
    their own, in microseconds per step."""
    profiler = cProfile.Profile()
    profiler.enable()
    history = model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    profiler.disable()
    steps = len(x) // batch
    per_step = history.epoch_seconds[-1] / steps * 1e6
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(rows)
    lines = ["", f"host profile of one epoch of fit ({steps} steps, {per_step:.1f} us a step "
             "under the profiler; seconds for the whole epoch):", "", "```"]  # fmt: skip
    table_lines = text.getvalue().splitlines()
    start = next((i for i, line in enumerate(table_lines) if "ncalls" in line), 0)
    return [*lines, *table_lines[start:], "```"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(WORKLOADS), default="mnist")
    parser.add_argument("--steps", type=int, default=40, help="training steps an epoch")
    parser.add_argument("--batch", type=int, help="the workload's batch size by default")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--rows", type=int, default=20, help="kernels shown per step")
    parser.add_argument("--in-step", action="store_true",
                        help="each kernel's time in the step too (a graph without it)")  # fmt: skip
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--host-profile", type=int, default=0, metavar="ROWS",
                        help="profile one more epoch of fit (ROWS functions)")  # fmt: skip
    parser.add_argument("--set", action="append", default=[], metavar="MODULE.NAME=VALUE",
                        help="a setting of backends.cuda.MODULE or autoconv.X")  # fmt: skip
    parser.add_argument("--precision", choices=ac.config.FLOAT32_MATMUL_PRECISIONS,
                        default=ac.config.DEFAULT_FLOAT32_MATMUL_PRECISION,
                        help="float32 products: high (TF32) or highest (float32)")  # fmt: skip
    args = parser.parse_args()
    ac.config.set_float32_matmul_precision(args.precision)
    for setting in args.set:
        where, _, value = setting.partition("=")
        module, _, name = where.rpartition(".")
        if not module.startswith("autoconv."):
            module = f"autoconv.backends.cuda.{module}"
        target = importlib.import_module(module)
        if not name or not hasattr(target, name):
            raise SystemExit(f"--set {setting}: no setting {name!r} in {module}")
        setattr(target, name, ast.literal_eval(value))
    workload = WORKLOADS[args.model]
    batch = args.batch or workload.batch
    x, labels = workload.data(args.steps * batch)
    y = ac.utils.to_categorical(labels, workload.classes)
    if workload.loss != "categorical_crossentropy":
        y = labels
    ac.utils.set_random_seed(0)
    model = workload.build().to("cuda")
    optimizer = ac.optimizers.Adam(3e-4) if args.model == "xception" else ac.optimizers.RMSprop()
    model.compile(optimizer, workload.loss, metrics=["accuracy"])
    history = model.fit(x, y, batch_size=batch, epochs=3, verbose=0)
    train_host = history.epoch_seconds[-1] / (len(x) // batch) * 1e6
    runner = model._step_replay
    if runner.replay is None:
        raise SystemExit(f"the training step was not replayed: {runner.why}")

    images = ac.Tensor(x[: max(INFER_BATCH, len(x) // INFER_BATCH * INFER_BATCH)]).to("cuda")
    model.predict(images, INFER_BATCH, verbose=0)  # records the prediction step
    started = time.perf_counter()
    model.predict(images, INFER_BATCH, verbose=0)
    predict_host = (time.perf_counter() - started) / -(-len(images) // INFER_BATCH) * 1e6
    predictor = model._predict_replay

    device = getattr(cuda.get_current_device(), "name", "numba-cuda's simulator")
    device = device.decode() if isinstance(device, bytes) else device
    predicted = (
        predictor.replay.mode
        if predictor.replay
        else "not replayed: " + str(predictor.why or "too few batches")
    )
    print(f"Device: {device}; model {args.model}, batch {batch}; training step "
          f"{runner.replay.mode}, prediction step {predicted}")  # fmt: skip
    print(f"Matrix products: {gemm.route()}")
    results = {"device": device, "model": args.model, "batch": batch, "set": args.set,
               "precision": args.precision, "products": gemm.route()}  # fmt: skip
    print("Settings: " + ", ".join([f"float32 products at {args.precision!r}", *args.set]))
    results["train"] = profile(runner.replay, args.repeats, args.in_step) | {"host_us": train_host}
    lines = table(f"training step (batch {batch})", results["train"], train_host, args.rows)
    if predictor.replay is not None:
        results["predict"] = profile(predictor.replay, args.repeats, args.in_step)
        results["predict"]["host_us"] = predict_host
        lines += table(f"prediction step (batch {INFER_BATCH})", results["predict"],
                       predict_host, args.rows)  # fmt: skip
    if args.host_profile:
        lines += host_profile(model, x, y, batch, args.host_profile)
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
