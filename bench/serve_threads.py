"""Serving a model from threads: N threads each predicting batches of B images from the course's
MNIST convnet, as a threaded web server (or a ``ThreadPoolExecutor``) serves a classifier; the
total requests/s (and the median latency) for N = 1, 2, 4, 8 and B = 1, 8, 64, autoconv next to
PyTorch, each engine in its own process, in turn.

    python bench/serve_threads.py [ROUNDS=3] [--seconds 2] [--threads 1,2,4,8] [--batches 1,8,64]
        [--engines autoconv,torch,torch-cl] [--call predict_on_batch|predict|call]
        [--op-threads default,1]

Engines (the model's weights are autoconv's initial ones, seed 0; the children check that the
parameter counts agree):

- ``autoconv``: ``model.predict_on_batch(x)`` (``--call predict``: ``model.predict(x,
  verbose=0)``; ``--call call``: ``model(x)``), the process settings ``predict`` applies.
- ``torch``: PyTorch as users write it: the NCHW model in ``eval()``, ``model(x)`` under
  ``torch.no_grad()``, softmax, ``.numpy()``; PyTorch's default 2 threads for each op.
- ``torch-cl``: the same in channels_last, each request made channels_last.

``--op-threads``: ``default`` runs each op on the engine's own threads (OpenBLAS's, one a core,
for autoconv's products; PyTorch's 2); ``1`` runs each op on the calling thread, what a server
of many threads is advised to set (``OPENBLAS_NUM_THREADS=1`` in autoconv's environment;
``torch.set_num_threads(1)`` and ``OMP_NUM_THREADS=1`` for PyTorch). Both by default.

A child (``--engine ENGINE --batch B``) warms up, then for each N starts N threads that call the
model on batches of the MNIST test images (each thread its own rotation) for SECONDS, and
prints one JSON line: per N the requests served, the wall seconds and the median latency. The
rounds run every (engine, batch) child in turn, so that the machine's drift hits all alike.
Printed: each child's figures, then per batch size and N each engine's median requests/s over
the rounds and autoconv's ratio to each PyTorch engine (>1: autoconv serves more).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import numpy as np
from epoch_vs_torch import header, nchw, torch_setup

import autoconv as ac
from autoconv import course

ENGINES = ("autoconv", "torch", "torch-cl")


def test_images() -> np.ndarray:
    """The 10,000 MNIST test images, float32 in [0, 1], (N, 28, 28, 1)."""
    _, (images, labels) = ac.datasets.mnist.load_data()
    return course.prepare(images, labels, "mnist")[0]


def autoconv_server(call: str) -> Callable[[np.ndarray], np.ndarray]:
    ac.utils.set_random_seed(0)
    model = course.reference_model()
    if call == "predict":
        return lambda x: model.predict(x, verbose=0)
    if call == "call":
        return lambda x: model(x).numpy()
    return model.predict_on_batch


def torch_server(tuned: bool, op_threads: str) -> Callable[[np.ndarray], np.ndarray]:
    from epoch_vs_torch import WORKLOADS

    ac.utils.set_random_seed(0)
    torch, model, as_input = torch_setup(WORKLOADS["mnist"], tuned)
    if op_threads == "1":
        torch.set_num_threads(1)
    model.eval()

    def serve(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(model(as_input(nchw(torch, x))), dim=1).numpy()

    return serve


def serve(engine: str, call: str, op_threads: str) -> Callable[[np.ndarray], np.ndarray]:
    if engine == "autoconv":
        return autoconv_server(call)
    return torch_server(engine == "torch-cl", op_threads)


def measure(
    engine: str, batch: int, threads: list[int], seconds: float, call: str, op_threads: str
) -> dict:
    """Per thread count: requests, wall seconds and median latency, in this process."""
    predict = serve(engine, call, op_threads)
    images = test_images()
    batches = [images[i : i + batch] for i in range(0, len(images) - batch + 1, batch)]
    for x in batches[:20]:  # compile and warm up
        predict(x)
    return {count: serve_from_threads(predict, batches, count, seconds) for count in threads}


def serve_from_threads(
    predict: Callable[[np.ndarray], np.ndarray], batches: list[np.ndarray], count: int,
    seconds: float,
) -> dict:  # fmt: skip
    """``count`` threads calling ``predict`` on ``batches`` for ``seconds``, started at once:
    the requests they served, the wall seconds, the median latency."""
    served = [0] * count
    latencies: list[list[float]] = [[] for _ in range(count)]
    start, stop = threading.Barrier(count + 1), threading.Event()

    def worker(index: int) -> None:
        start.wait()
        position = index * 97
        while not stop.is_set():
            x = batches[position % len(batches)]
            began = time.perf_counter()
            predict(x)
            latencies[index].append(time.perf_counter() - began)
            served[index] += 1
            position += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in pool:
        thread.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - began
    every = [latency for per_thread in latencies for latency in per_thread]
    return {"requests": sum(served), "seconds": wall, "median_latency": statistics.median(every)}


def median(figures: dict, *key: object) -> float:
    return statistics.median(figures[key])


def run_child(engine: str, batch: int, op_threads: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable, __file__, "--engine", engine, "--batch", str(batch), "--seconds",
        str(args.seconds), "--threads", args.threads, "--call", args.call,
        "--op-threads", op_threads,
    ]  # fmt: skip
    env = dict(os.environ)
    if op_threads == "1":  # read when NumPy's OpenBLAS (or PyTorch's OpenMP) starts
        env |= {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"{shlex.join(command)} failed (exit status {done.returncode}):\n{done.stderr}")
    return {int(n): figure for n, figure in json.loads(done.stdout.splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rounds", nargs="?", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per thread count (2)")
    parser.add_argument("--threads", default="1,2,4,8", help="thread counts (1,2,4,8)")
    parser.add_argument("--batches", default="1,8,64", help="batch sizes (1,8,64)")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--call", choices=["predict_on_batch", "predict", "call"],
                        default="predict_on_batch")  # fmt: skip
    parser.add_argument("--op-threads", default="default,1", help="default,1 (both)")
    parser.add_argument("--engine", choices=ENGINES, help="one child's measurement")
    parser.add_argument("--batch", type=int, help="the child's batch size")
    args = parser.parse_args()
    threads = [int(n) for n in args.threads.split(",")]
    if args.engine:
        figures = measure(
            args.engine, args.batch, threads, args.seconds, args.call, args.op_threads
        )
        print(json.dumps(figures))
        return
    header()
    print(f"autoconv's call: {args.call}")
    engines = args.engines.split(",")
    batches = [int(b) for b in args.batches.split(",")]
    settings = args.op_threads.split(",")
    results: dict[tuple, list[float]] = {}
    latency: dict[tuple, list[float]] = {}
    for round_ in range(1, args.rounds + 1):
        for setting in settings:
            for batch in batches:
                for engine in engines:
                    figures = run_child(engine, batch, setting, args)
                    line = []
                    for n, figure in figures.items():
                        rate = figure["requests"] / figure["seconds"]
                        key = (setting, engine, batch, n)
                        results.setdefault(key, []).append(rate)
                        latency.setdefault(key, []).append(figure["median_latency"])
                        line.append(f"N={n} {rate:,.0f}")
                    print(f"  round {round_}  op threads {setting:<7}  batch {batch:>3}  "
                          f"{engine:<9} requests/s: " + "  ".join(line))  # fmt: skip
    print("\nmedian over the rounds: requests/s (median latency, ms)")
    for setting in settings:
        print(f"op threads {setting}:")
        for batch in batches:
            for n in threads:
                cells = []
                for engine in engines:
                    rate = median(results, setting, engine, batch, n)
                    ms = median(latency, setting, engine, batch, n) * 1e3
                    cells.append(f"{engine} {rate:,.0f} ({ms:.2f})")
                ours = (
                    median(results, setting, "autoconv", batch, n) if "autoconv" in engines else 0
                )
                ratios = "  ".join(
                    f"autoconv/{e} {ours / median(results, setting, e, batch, n):.2f}x"
                    for e in engines
                    if e != "autoconv" and ours
                )
                print(f"  batch {batch:>3}  N={n}:  " + "  ".join(cells) + f"   {ratios}")


if __name__ == "__main__":
    main()
