"""The measurements behind docs/distributed.md: what data-parallel training costs here.

    mpiexec -n 2 python bench/mpi_scaling.py allreduce      # one Allreduce of the gradients
    python bench/mpi_scaling.py compare [ROUNDS] [LIMIT]    # 2 processes x 1 thread against
                                                            # 1 process x 2 threads, alternating
    python bench/mpi_scaling.py step                        # one process: seconds per step
    python bench/mpi_scaling.py model                       # the throughput model's tables

``allreduce`` times ``MPI.Allreduce`` (in place, float32 sum) of the gradients of the MNIST
model (93,322 floats) and of the 150x150 stack (8,459,242), and autoconv's whole exchange
(``World.average_gradients``: pack, Allreduce, unpack), with MPI's sum and in rank order.
Set ``MPIR_CVAR_NOLOCAL=1`` (MPICH) to go through the network module over loopback instead of
shared memory. ``compare`` runs ``autoconv train mnist --json`` in fresh processes, the two
set-ups in turn, and prints each round's samples/s and the medians. ``step`` times
``train_on_batch`` of both models at a few batch sizes (the compute side of the model).
Each prints one JSON object per result, after a line saying what was run. ``model`` prints
docs/distributed.md's tables from the measured constants below (MEASURED) and the assumed
link figures (LINKS): it measures nothing.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

SIZES = {"mnist": 93_322, "stack150": 8_459_242}
THREADS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


# Measured on one 2-vCPU machine (bench/results/2026-11-23-mpi-cpu.md), one process x 2 threads:
# a training step takes t0 + b * per_sample seconds at batch b (fitted to `step`); `pack` is
# autoconv's own cost of an exchange besides the Allreduce (average_gradients minus Allreduce,
# shared memory, medians).
MEASURED = {
    "mnist": {"t0": 0.44e-3, "per_sample": 0.221e-3, "pack": 0.23e-3},
    "stack150": {"t0": 52e-3, "per_sample": 13.7e-3, "pack": 17.4e-3},
}
# Assumed, not measured: bandwidth in bytes/s and latency per message in seconds. 10 Gbit/s
# Ethernet through the kernel's TCP; 100 Gbit/s with RDMA (InfiniBand or RoCE). "this VM's TCP"
# is the effective rate TCP over loopback reached here (33.8 MB in a median 156 ms).
LINKS = {
    "10 Gbit/s": (10e9 / 8, 25e-6),
    "100 Gbit/s": (100e9 / 8, 3e-6),
    "this VM's TCP (1.7 Gbit/s)": (33_836_968 / 0.156, 25e-6),
}
HOSTS = (1, 2, 4, 8, 16, 32, 64)


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def allreduce() -> None:
    from mpi4py import MPI

    from autoconv import Tensor, distributed

    world = distributed.initialize()
    comm = world.comm
    for name, size in SIZES.items():
        repeats = 200 if size < 1e6 else 20
        buffer = np.ones(size, np.float32)

        def once(buffer=buffer):
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)

        params = [Tensor(np.zeros(size, np.float32), requires_grad=True)]
        grad = np.ones(size, np.float32)

        def exchange(params=params, grad=grad):
            params[0].grad = grad
            world.average_gradients(params, np.float32(1.0), 32, "cpu")

        rows = {"Allreduce": once, "average_gradients": exchange}
        for deterministic in (False, True):
            world.deterministic = deterministic
            for what, fn in rows.items():
                if deterministic and what == "Allreduce":
                    continue
                timed(fn, 3)  # warm up
                comm.Barrier()
                times = timed(fn, repeats)
                if world.rank == 0:
                    print(json.dumps({
                        "what": what, "model": name, "floats": size, "processes": world.size,
                        "deterministic": deterministic, "median_ms": statistics.median(times) * 1e3,
                        "min_ms": min(times) * 1e3, "repeats": repeats,
                        "nolocal": os.environ.get("MPIR_CVAR_NOLOCAL", "0"),
                    }), flush=True)  # fmt: skip


def compare(rounds: int, limit: int) -> None:
    base = [sys.executable, "-m", "autoconv", "train", "mnist", "--json", "--epochs", "3"]
    base += ["--limit", str(limit), "--seed", "1"]
    setups = {
        "1 process x 2 threads": (base, dict.fromkeys(THREADS, "2")),
        "2 processes x 1 thread": ([*base, "--workers", "2"], dict.fromkeys(THREADS, "1")),
    }
    results: dict[str, list[float]] = {name: [] for name in setups}
    for round_ in range(rounds):
        for name, (command, threads) in setups.items():
            env = os.environ | threads
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
            report = json.loads(done.stdout.strip().splitlines()[-1])
            results[name].append(report["samples_per_second"])
            row = {"round": round_ + 1, "setup": name}
            row |= {k: report[k] for k in ("samples_per_second", "epoch_seconds", "test_accuracy")}
            print(json.dumps(row), flush=True)
    for name, values in results.items():
        print(json.dumps({"setup": name, "median_samples_per_second": statistics.median(values)}))


def step() -> None:
    from autoconv import course, optimizers, utils

    rng = np.random.default_rng(0)
    for name, make, shape, batches in [
        ("mnist", course.reference_model, (28, 28, 1), (16, 32, 64, 128)),
        ("stack150", course.large_model, (150, 150, 1), (4, 8, 16, 32)),
    ]:
        utils.set_random_seed(0)
        model = make()
        model.compile(optimizers.RMSprop(), "categorical_crossentropy")
        for batch in batches:
            x = rng.random((batch, *shape), dtype=np.float32)
            y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
            model.train_on_batch(x, y)  # compile and warm up
            repeats = 20 if name == "mnist" else 4
            times = timed(lambda m=model, x=x, y=y: m.train_on_batch(x, y), repeats)
            print(json.dumps({
                "model": name, "batch": batch, "median_s": statistics.median(times),
                "seconds_per_sample": statistics.median(times) / batch, "repeats": repeats,
            }), flush=True)  # fmt: skip


def ring_allreduce(hosts: int, nbytes: float, bandwidth: float, latency: float) -> float:
    """Seconds of a ring all-reduce: 2(N-1)/N of the bytes through each link, 2(N-1) steps."""
    if hosts == 1:
        return 0.0
    return 2 * (hosts - 1) / hosts * nbytes / bandwidth + 2 * (hosts - 1) * latency


def model() -> None:
    """Markdown tables: samples/s and efficiency on N hosts, and the per-host batch sizes past
    which the exchange costs under 10% of a step (autoconv: it follows the backward) or would
    be hidden behind the backward (an implementation overlapping them; backward = 2/3 step)."""
    for name, m in MEASURED.items():
        nbytes = 4 * SIZES[name]
        batch = 64 if name == "mnist" else 32
        step = m["t0"] + batch * m["per_sample"]
        size = f"{SIZES[name]:,} floats ({nbytes / 1e6:.2f} MB)"
        print(f"\n{name}: {size}, {batch} samples per host\n")
        print("| link | hosts | exchange ms | samples/s | efficiency | b for 90% | b hidden |")
        print("|---|---|---|---|---|---|---|")
        for link, (bandwidth, latency) in LINKS.items():
            for hosts in HOSTS:
                exchange = ring_allreduce(hosts, nbytes, bandwidth, latency)
                exchange += m["pack"] if hosts > 1 else 0.0
                rate = hosts * batch / (step + exchange)
                b90 = max(1.0, (9 * exchange - m["t0"]) / m["per_sample"])
                hidden = max(1.0, (1.5 * exchange - m["t0"]) / m["per_sample"])
                batches = f"{b90:,.0f} | {hidden:,.0f}" if hosts > 1 else "- | -"
                print(
                    f"| {link} | {hosts} | {exchange * 1e3:.2f} | {rate:,.0f} "
                    f"| {step / (step + exchange):.0%} | {batches} |"
                )


if __name__ == "__main__":
    task = sys.argv[1] if len(sys.argv) > 1 else "compare"
    print(f"# {platform.processor() or platform.machine()}: bench/mpi_scaling.py {task}")
    if task == "allreduce":
        allreduce()
    elif task == "compare":
        rounds, limit = (int(a) for a in [*sys.argv[2:4], 5, 12800][:2])
        compare(rounds, limit)
    elif task == "step":
        step()
    elif task == "model":
        model()
    else:
        raise SystemExit(__doc__)
