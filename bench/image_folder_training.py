"""Training the course's MNIST convnet from the exported PNG folder against from the arrays.

Each engine trains ``course.image_model("reference", (28, 28, 1), 10)`` (the reference convnet
behind a ``Rescaling(1/255)``, as ``autoconv train`` builds it for a folder) with RMSprop,
sparse categorical cross-entropy and accuracy, batch 64, for EPOCHS epochs in a fresh process,
and reports the samples/s of the epochs after the first (the first compiles and, with
``cache()``, fills the cache). Both feed the model float32 images in 0-255 and int labels,
so both do the same model work:

- ``arrays``: ``autoconv.datasets.mnist.load_data()`` as float32 (N, 28, 28, 1), ``fit(x, y)``
  (shuffled batches gathered from the arrays each epoch);
- ``folder-cache``: ``image_dataset_from_directory(FOLDER, color_mode="grayscale",
  image_size=(28, 28), batch_size=64).cache()``, ``fit(ds)``: the first epoch decodes, the
  later ones replay the cached batches;
- ``folder``: the same without ``cache()``: every epoch decodes the 60,000 PNGs, on threads
  behind a prefetch queue, while the model trains.

FOLDER is the MNIST export's training folder (``autoconv datasets export mnist DIR``, then
DIR/train). Engines alternate, each run in its own process; medians over ROUNDS, then each
folder engine's median over the arrays' median.

    python bench/image_folder_training.py FOLDER [ROUNDS=3] [EPOCHS=3] [ENGINES=arrays,...]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import autoconv as ac
from autoconv import course, losses
from autoconv.callbacks import Callback

BATCH = 64
ENGINES = ("arrays", "folder-cache", "folder")


class CpuSeconds(Callback):
    """The process's CPU seconds (all its threads) in each epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.process_time()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.process_time() - self.started)


def one_run(engine: str, folder: str, epochs: int) -> dict:
    """Per-epoch seconds (wall and CPU) and the samples/s of the epochs after the first."""

    model = course.image_model("reference", (28, 28, 1), 10)
    model.compile(
        "rmsprop", losses.SparseCategoricalCrossentropy(), metrics=["accuracy"]
    )  # as `autoconv train FOLDER` compiles it
    cpu = CpuSeconds()
    if engine == "arrays":
        (x, y), _ = ac.datasets.mnist.load_data()
        x = x.reshape(-1, 28, 28, 1).astype(np.float32)  # 0-255, as the folder gives them
        samples = len(x)
        y = y.astype(np.int32)
        history = model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[cpu])
    else:
        ds = ac.utils.image_dataset_from_directory(
            folder,
            color_mode="grayscale",
            image_size=(28, 28),
            batch_size=BATCH,
            seed=0,
            verbose=False,
        )
        samples = len(ds.file_paths)
        if engine == "folder-cache":
            ds = ds.cache()
        history = model.fit(ds, epochs=epochs, verbose=0, callbacks=[cpu])
    steady = history.epoch_seconds[1:]
    return {
        "epoch_seconds": history.epoch_seconds,
        "cpu_seconds": cpu.seconds,
        "samples_per_s": samples * len(steady) / sum(steady),
        "samples_per_cpu_s": samples * len(steady) / sum(cpu.seconds[1:]),
        "accuracy": history.history["accuracy"][-1],
    }


def load_average() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def main() -> None:
    if sys.argv[1] == "--child":
        engine, folder, epochs = sys.argv[2], sys.argv[3], int(sys.argv[4])
        print(json.dumps(one_run(engine, folder, epochs)))
        return
    folder = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    engines = sys.argv[4].split(",") if len(sys.argv) > 4 else ENGINES
    rates: dict[str, list[float]] = {engine: [] for engine in engines}
    for round_ in range(rounds):  # alternate engines so the machine's drift hits all alike
        for engine in engines if round_ % 2 == 0 else engines[::-1]:
            out = subprocess.run(
                [sys.executable, __file__, "--child", engine, folder, str(epochs)],
                capture_output=True,
                text=True,
                check=True,
            )
            run = json.loads(out.stdout.strip().splitlines()[-1])
            rates[engine].append(run["samples_per_s"])
            seconds = ", ".join(f"{s:.1f}" for s in run["epoch_seconds"])
            cpu = ", ".join(f"{s:.1f}" for s in run["cpu_seconds"])
            print(
                f"{engine:13s} {run['samples_per_s']:7.0f} samples/s "
                f"({run['samples_per_cpu_s']:5.0f} per CPU s)  epochs {seconds} s, CPU {cpu} s  "
                f"acc {run['accuracy']:.3f}  load {load_average()}",
                flush=True,
            )
    print("\nmedians (min-max):")
    reference = statistics.median(rates["arrays"]) if "arrays" in rates else None
    for engine, values in rates.items():
        median = statistics.median(values)
        ratio = f"  {median / reference:.2f}x arrays" if reference else ""
        print(f"{engine:13s} {median:7.0f} ({min(values):.0f}-{max(values):.0f}){ratio}")
    if reference:
        for engine in rates:
            if engine != "arrays":  # the ratio within each round, then their median
                per_round = [a / b for a, b in zip(rates[engine], rates["arrays"], strict=True)]
                spread = ", ".join(f"{r:.2f}" for r in per_round)
                print(f"{engine}/arrays per round: {spread}")


if __name__ == "__main__":
    main()
