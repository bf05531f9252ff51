"""Reading a folder of images: autoconv's Dataset against grain, each in its own process.

One pass over FOLDER (e.g. the MNIST export: ``autoconv.datasets.export("mnist", FOLDER)``)
in batches of 64, resized to SIZE x SIZE (default 28) in COLOR_MODE (default grayscale),
shuffled, with every engine decoding and resizing through
the same ``ImageLoader`` (so only the pipelines differ), in a process set up as ``fit`` sets
it up (``configure_process``). For each engine it prints samples/s
and the process's peak resident memory (and its largest worker process's), twice:

- ``idle``: the consumer does nothing, so this is the loader's own throughput;
- ``busy``: the consumer holds one core for BUSY_MS per batch without the GIL, as a training
  step does (11.4 ms per 64 images is the 5,600 samples/s autoconv trains the MNIST convnet
  at on one core), so this shows whether loading overlaps the step.

Engines: ``autoconv`` (``image_dataset_from_directory``), ``grain-keras`` (the pipeline Keras
3 builds for ``format="grain"``: per-image map, ``to_iter_dataset()`` with grain's default
16 threads, then batch), ``grain-2threads`` (the same on 2 threads), ``grain-2procs``
(2 worker processes through ``mp_prefetch``). The grain engines need ``pip install grain``.

    python bench/image_folder_loading.py FOLDER [ROUNDS=2] [SIZE=28] [COLOR_MODE=grayscale]
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numba
import numpy as np

from autoconv.process import configure_process

BATCH = 64
BUSY_MS = 11.4
ENGINES = ("autoconv", "grain-keras", "grain-2threads", "grain-2procs")


@numba.njit(nogil=True, cache=True)
def _spin(n: int) -> float:
    """Hold one core for ``n`` loop turns without the GIL (a stand-in for a training step)."""
    total = 0.0
    for i in range(n):
        total += np.sqrt(i + total * 1e-9)
    return total


def turns_for(seconds: float) -> int:
    """The number of ``_spin`` turns that takes ``seconds`` on this machine."""
    _spin(10)
    started = time.perf_counter()
    _spin(10**7)
    return int(seconds * 10**7 / (time.perf_counter() - started))


def batches(engine: str, folder: str, size: int, color_mode: str):
    from autoconv.data.directory import ALLOWLIST_FORMATS, CHANNELS, ImageLoader, index_directory

    if engine == "autoconv":
        from autoconv.utils import image_dataset_from_directory

        return image_dataset_from_directory(
            folder,
            color_mode=color_mode,
            image_size=(size, size),
            batch_size=BATCH,
            seed=0,
            verbose=False,
        )
    import grain
    from absl import flags

    flags.FLAGS.mark_as_parsed()  # grain's worker processes read its flags
    paths, labels, _ = index_directory(
        folder, "inferred", ALLOWLIST_FORMATS, shuffle=True, seed=0, verbose=False
    )
    loader = ImageLoader((size, size), CHANNELS[color_mode], "bilinear", False, False, False)
    ds = grain.MapDataset.source(list(zip(paths, labels.tolist(), strict=True))).shuffle(seed=0)
    ds = ds.map(lambda pair: (loader(pair[0]), np.int32(pair[1])))
    if engine == "grain-keras":
        return ds.to_iter_dataset().batch(BATCH)
    ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=2, prefetch_buffer_size=4 * BATCH))
    ds = ds.batch(BATCH)
    if engine == "grain-2procs":
        ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=2))
    return ds


def one_run(engine: str, folder: str, busy: bool, size: int, color_mode: str) -> dict:
    configure_process()  # as fit does: glibc keeps freed buffers instead of unmapping them
    turns = turns_for(BUSY_MS / 1000) if busy else 0
    data = batches(engine, folder, size, color_mode)
    started = time.perf_counter()
    count = 0
    for images, _ in data:
        count += len(images)
        if busy:
            _spin(turns)
    elapsed = time.perf_counter() - started
    return {
        "samples_per_s": count / elapsed,
        "images": count,
        "peak_mb": peak_resident_mb(),
        "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def peak_resident_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from
    the process that started it)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    if sys.argv[1] == "--child":
        engine, folder, mode, size, color_mode = sys.argv[2:7]
        print(json.dumps(one_run(engine, folder, mode == "busy", int(size), color_mode)))
        return
    folder = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    size = sys.argv[3] if len(sys.argv) > 3 else "28"
    color_mode = sys.argv[4] if len(sys.argv) > 4 else "grayscale"
    try:
        import grain  # noqa: F401

        engines = ENGINES
    except ImportError:
        engines = ("autoconv",)
    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(rounds):  # alternate engines so the machine's drift hits all alike
        for mode in ("idle", "busy"):
            for engine in engines:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", engine, folder, mode, size, color_mode],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=os.environ,
                )
                run = json.loads(out.stdout.strip().splitlines()[-1])
                results.setdefault((engine, mode), []).append(run)
                print(
                    f"{engine:15s} {mode:5s} {run['samples_per_s']:8.0f} samples/s "
                    f"peak {run['peak_mb']:6.0f} MB, workers {run['worker_peak_mb']:4.0f} MB",
                    flush=True,
                )
    print("\nmedians:")
    for (engine, mode), runs in results.items():
        rate = statistics.median(r["samples_per_s"] for r in runs)
        peak = statistics.median(r["peak_mb"] for r in runs)
        print(f"{engine:15s} {mode:5s} {rate:8.0f} samples/s  peak {peak:6.0f} MB")


if __name__ == "__main__":
    main()
