"""End to end against PyTorch CPU: training and inference of the course's models, each
measurement in a fresh process, the engines in turn.

    python bench/epoch_vs_torch.py [N=6400] [ROUNDS=2] [--model mnist|rgb|stack|xception|all]
        [--what train|infer|both] [--blas as-is|unset|both] [--steps 10] [--infer-images 1000]

Engines:

- ``autoconv``: ``model.fit`` over shuffled batches with the accuracy metric, as the command
  line trains; ``model.predict(x, batch_size=1000)`` for inference. Both apply autoconv's
  process settings (:func:`autoconv.process.configure_process`) to themselves.
- ``torch``: PyTorch as users write it: NCHW tensors, a Python loop over mini-batches
  shuffled by ``torch.randperm`` (``images[index]``), the process's default malloc.
- ``torch-cl``: tuned PyTorch: the model in channels_last, each shuffled batch gathered from
  the NCHW data then made channels_last (``.contiguous(memory_format=torch.channels_last)``),
  and glibc's malloc keeping freed buffers (``configure_process()``, what ``fit`` does for
  autoconv).

MNIST training's rounds also start a ``peak`` child, which times NumPy's float32 matrix
product on 2048x2048 (``autoconv.benchmarks.runner.matmul_peak_gflops``): autoconv's share of
the bound, ``STEP_FLOPS`` (16.376 MFLOP a training sample, ``autoconv.benchmarks.cases``) at
that round's peak, is printed per round and as a median (PERF-NOTES' 60%-of-peak goal).

The PyTorch engines run on 2 threads (``torch.set_num_threads(2)``) from the autoconv model's
initial weights (seed 0; the child checks that the parameter counts agree), train with
RMSprop(lr=1e-3, alpha=0.9 (Keras's rho), eps=1e-7) and cross-entropy from logits (binary for
``xception``) in train mode (BatchNorm's batch statistics, Dropout), as ``fit`` does, and infer
under ``model.eval()`` and ``torch.no_grad()``, with the softmax where the autoconv model ends
in one.

Models (``--model``, default mnist):

- ``mnist``: the reference model (``course.reference_model``), batch 64, categorical
  cross-entropy on one-hot labels as the command line trains it; training samples/s over one
  epoch of the first N MNIST training images after a 10-step warm-up, inference samples/s
  over the same N images.
- ``rgb``: the flowers tutorial's classifier (``course.rgb_classifier``: Rescaling(1/255),
  three 'same' convs, 5 logits) on 180x180x3 random pixels in 0-255 (seed 0; the model
  rescales them itself, the PyTorch mirror too), sparse cross-entropy from logits.
- ``stack``: the 150x150x1 stack (``course.large_model``: Dropout, Dense(512), a softmax over
  10 classes) on random images in 0-1 (seed 0), sparse cross-entropy.
- ``xception``: keras-io's small Xception of "Image classification from scratch"
  (``course.xception``: Rescaling(1/255), residual blocks of SeparableConv2D and
  BatchNormalization, one logit for cats vs dogs) on 180x180x3 random pixels in 0-255 (seed 0)
  with labels 0 or 1, ``BinaryCrossentropy(from_logits=True)`` as keras-io trains it
  (``BCEWithLogitsLoss`` in PyTorch).

For ``rgb``, ``stack`` and ``xception``, training reports the median seconds per step (batch
32) over STEPS steps after 2 warm-up steps, a step's time including the gathering of the next
batch; inference, the samples/s of one pass over INFER_IMAGES images. Inference runs at batch
1000 (``xception``: 100, as autoconv's activations of a batch of 1000 would need some 90 GB),
after a warm-up pass over the first batch of the images.

``--blas`` (default both): this project's machines set ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` in the environment, which users' machines do not. ``as-is`` runs the
children in this environment, ``unset`` with both variables removed from the children's
environment only; where neither is set (a user's machine, and some of ours) the two are one and
``both`` runs them once. Each child reports the core type NumPy's OpenBLAS runs with (its
``openblas_get_corename``); it is printed once per setting.

``--engine ENGINE`` runs one measurement (one model, one task) in this process and prints it
as JSON: what each child runs. The rounds run every engine under every BLAS setting in turn,
so that the machine's drift hits all alike (single runs move by a third here). The output: the
CPU (and whether it has AVX-512), the date, the command and versions; one line per child;
the Numba threading layer autoconv's kernels ran on; then for each model, task and BLAS
setting each engine's median and autoconv / each PyTorch engine
as a speed ratio: >1 means autoconv is faster (for step times, PyTorch's time over autoconv's).

The full measurement, a model at a time: each child starts Python, imports, compiles and warms
up in 5-10 s; on this 2-core machine a child of the big models' inference takes about a
minute (two passes over 1000 images, 6-9 GB at the peak). mnist: 10 rounds x 2 tasks x 2 BLAS
settings x 3 engines = 120 children, about 25 minutes; rgb and stack: 5 rounds, 60 children
each, about 35 minutes each; xception (steps of some 10 s, inference at 8-12 images/s and
near 10 GB at the peak): 5 rounds, 60 children, two to three hours.

    python bench/epoch_vs_torch.py 6400 10 --model mnist
    python bench/epoch_vs_torch.py 6400 5 --model rgb
    python bench/epoch_vs_torch.py 6400 5 --model stack
    python bench/epoch_vs_torch.py 6400 5 --model xception
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import functools
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numba
import numpy as np

import autoconv as ac
from autoconv import course, losses
from autoconv.benchmarks.cases import (
    STEP_FLOPS,
    torch_large_model,
    torch_reference_model,
    torch_rgb_classifier,
    torch_weight_count,
    torch_xception,
)
from autoconv.benchmarks.runner import matmul_peak_gflops
from autoconv.process import configure_process

ENGINES = ("autoconv", "torch", "torch-cl")
PEAK = "peak"  # a child that measures the float32 matmul peak (MNIST training's rounds)
BLAS_SETTINGS = ("as-is", "unset")
BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
CORENAME_SYMBOLS = (  # as NumPy's scipy-openblas and plain OpenBLAS builds export it
    "scipy_openblas_get_corename64_",
    "scipy_openblas_get_corename",
    "openblas_get_corename64_",
    "openblas_get_corename",
)


# ------------------------------------------------------------------ the models and their data
def mnist_images(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` MNIST training images (float32 in [0, 1]) and their labels."""
    (images, labels), _ = ac.datasets.mnist.load_data()
    x, _ = course.prepare(images[:count], labels[:count], "mnist")
    return x, labels[:count].astype(np.int64)


def random_images(shape: tuple[int, ...], high: float, classes: int) -> Callable:
    def make(count: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(0)
        x = rng.random((count, *shape), dtype=np.float32) * np.float32(high)
        return x, rng.integers(0, classes, count)

    return make


def torch_rgb(torch: ModuleType, weights: list[np.ndarray]) -> Any:
    """The flowers classifier in PyTorch behind the autoconv model's Rescaling(1/255)."""

    class Rescaling(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return x * (1 / 255)

    return torch.nn.Sequential(Rescaling(), torch_rgb_classifier(torch, weights, 180))


def cross_entropy(torch: ModuleType, logits: Any, labels: Any) -> Any:
    return torch.nn.functional.cross_entropy(logits, labels)


def binary_cross_entropy(torch: ModuleType, logits: Any, labels: Any) -> Any:
    """BCEWithLogitsLoss of one logit per sample against labels 0 or 1."""
    return torch.nn.functional.binary_cross_entropy_with_logits(
        logits[:, 0], labels.to(logits.dtype)
    )


@dataclass(frozen=True)
class Workload:
    """A model to time: its autoconv builder, its PyTorch mirror, its data and its training."""

    build: Callable[[], Any]  # a fresh autoconv model
    mirror: Callable[[ModuleType, list[np.ndarray]], Any]  # (torch, autoconv's weights)
    data: Callable[[int], tuple[np.ndarray, np.ndarray]]  # count -> (images NHWC, labels)
    classes: int
    loss: Any  # autoconv's; one-hot targets for categorical cross-entropy, else labels
    softmax: bool  # the autoconv model ends in a softmax
    batch: int
    warmup: int  # training steps before the clock starts
    per_step: bool  # report seconds per step (else samples/s over an epoch of N images)
    torch_loss: Callable[[ModuleType, Any, Any], Any] = cross_entropy  # (torch, logits, labels)
    infer_batch: int = 1000

    def images(self, what: str, n: int, steps: int, infer_images: int) -> int:
        """How many images a measurement of ``what`` uses."""
        if not self.per_step:
            return n
        return steps * self.batch if what == "train" else infer_images

    def unit(self, what: str) -> str:
        return "s/step" if self.per_step and what == "train" else "samples/s"


WORKLOADS = {
    "mnist": Workload(
        course.reference_model, torch_reference_model, mnist_images, 10,
        "categorical_crossentropy", softmax=True, batch=64, warmup=10, per_step=False,
    ),
    "rgb": Workload(
        course.rgb_classifier, torch_rgb, random_images((180, 180, 3), 255, 5), 5,
        losses.SparseCategoricalCrossentropy(from_logits=True),
        softmax=False, batch=32, warmup=2, per_step=True,
    ),
    "stack": Workload(
        course.large_model, torch_large_model, random_images((150, 150, 1), 1, 10), 10,
        "sparse_categorical_crossentropy", softmax=True, batch=32, warmup=2, per_step=True,
    ),
    "xception": Workload(
        course.xception, torch_xception, random_images((180, 180, 3), 255, 2), 2,
        losses.BinaryCrossentropy(from_logits=True), softmax=False, batch=32, warmup=2,
        per_step=True, torch_loss=binary_cross_entropy, infer_batch=100,
    ),
}  # fmt: skip


# ------------------------------------------------------------------ the engines
@dataclass(frozen=True)
class Timing:
    seconds: float  # the whole timed epoch
    steps: list[float]  # each step's seconds, the gathering of the next batch included


class StepClock(ac.callbacks.Callback):
    """The time at each training batch's start and at the epoch's end."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.times.append(time.perf_counter())

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.times.append(time.perf_counter())


def autoconv_train(workload: Workload, x: np.ndarray, labels: np.ndarray) -> Timing:
    model = workload.build()
    model.compile("rmsprop", workload.loss, metrics=["accuracy"])
    y = labels
    if workload.loss == "categorical_crossentropy":
        y = ac.utils.to_categorical(labels, workload.classes)
    warm = workload.warmup * workload.batch
    model.fit(x[:warm], y[:warm], epochs=1, batch_size=workload.batch, verbose=0)
    clock = StepClock()
    started = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=workload.batch, verbose=0, callbacks=[clock])
    return Timing(time.perf_counter() - started, np.diff(clock.times).tolist())


def autoconv_infer(workload: Workload, x: np.ndarray) -> float:
    """Seconds of ``model.predict`` over x."""
    model = workload.build()
    batch = workload.infer_batch
    model.predict(x[:batch], batch_size=batch, verbose=0)  # compile, warm up
    started = time.perf_counter()
    model.predict(x, batch_size=batch, verbose=0)
    return time.perf_counter() - started


def torch_setup(workload: Workload, tuned: bool) -> tuple[ModuleType, Any, Callable]:
    """PyTorch on 2 threads, the workload's mirror with autoconv's initial weights (in
    channels_last when tuned), and the function that makes a gathered batch the model's input."""
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    if tuned:
        configure_process()  # what fit applies for itself: malloc keeps freed buffers
    reference = workload.build()
    model = workload.mirror(torch, reference.get_weights())
    count = torch_weight_count(model)
    if count != reference.count_params():
        expected = reference.count_params()
        raise RuntimeError(f"the PyTorch mirror has {count:,} parameters, autoconv's {expected:,}")
    if not tuned:
        return torch, model, lambda batch: batch
    model = model.to(memory_format=torch.channels_last)
    return torch, model, lambda batch: batch.contiguous(memory_format=torch.channels_last)


def nchw(torch: ModuleType, x: np.ndarray) -> Any:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def torch_train(workload: Workload, x: np.ndarray, labels: np.ndarray, tuned: bool) -> Timing:
    torch, model, as_input = torch_setup(workload, tuned)
    images, targets = nchw(torch, x), torch.from_numpy(labels)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)

    def epoch(n: int) -> list[float]:
        """Trains on the first n images, shuffled; the time at each step's start and at the
        end."""
        order = torch.randperm(n)
        times = []
        for start in range(0, n, workload.batch):
            times.append(time.perf_counter())
            index = order[start : start + workload.batch]
            optimizer.zero_grad()
            loss = workload.torch_loss(torch, model(as_input(images[index])), targets[index])
            loss.backward()
            optimizer.step()
        return [*times, time.perf_counter()]

    epoch(workload.warmup * workload.batch)
    started = time.perf_counter()
    times = epoch(len(images))
    return Timing(time.perf_counter() - started, np.diff(times).tolist())


def torch_infer(workload: Workload, x: np.ndarray, tuned: bool) -> float:
    """Seconds of the forward pass over x in the workload's inference batches, as NumPy (as
    predict returns)."""
    torch, model, as_input = torch_setup(workload, tuned)
    batch = workload.infer_batch
    model.eval()
    images = nchw(torch, x)

    def predict(images: Any) -> np.ndarray:
        with torch.no_grad():
            outputs = torch.cat(
                [
                    model(as_input(images[start : start + batch]))
                    for start in range(0, len(images), batch)
                ]
            )
            return (torch.softmax(outputs, dim=1) if workload.softmax else outputs).numpy()

    predict(images[:batch])  # warm up
    started = time.perf_counter()
    predict(images)
    return time.perf_counter() - started


TRAIN = {
    "autoconv": autoconv_train,
    "torch": functools.partial(torch_train, tuned=False),
    "torch-cl": functools.partial(torch_train, tuned=True),
}
INFER = {
    "autoconv": autoconv_infer,
    "torch": functools.partial(torch_infer, tuned=False),
    "torch-cl": functools.partial(torch_infer, tuned=True),
}


def openblas_core() -> str:
    """The core type NumPy's OpenBLAS runs with: ``openblas_get_corename`` of the OpenBLAS
    libraries this process has loaded (found in /proc/self/maps, as threadpoolctl does)."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1]}
    for path in sorted(paths):
        library = ctypes.CDLL(path)
        for symbol in CORENAME_SYMBOLS:
            corename = getattr(library, symbol, None)
            if corename is not None:
                corename.restype = ctypes.c_char_p
                return corename().decode()
    return "unknown (no OpenBLAS found)"


def measure(engine: str, model: str, what: str, args: argparse.Namespace) -> dict:
    """One engine's figure for one model and task, in this process."""
    core = openblas_core()  # before PyTorch loads its own libraries
    if engine == PEAK:
        return {"value": matmul_peak_gflops(), "openblas_core": core, "numba_threading_layer": None}
    workload = WORKLOADS[model]
    ac.utils.set_random_seed(0)
    x, labels = workload.data(workload.images(what, args.n, args.steps, args.infer_images))
    if what == "train":
        timing = TRAIN[engine](workload, x, labels)
        value = statistics.median(timing.steps) if workload.per_step else len(x) / timing.seconds
    else:
        value = len(x) / INFER[engine](workload, x)
    return {"value": value, "openblas_core": core, "numba_threading_layer": threading_layer()}


def threading_layer() -> str | None:
    """The threading layer Numba's parallel kernels ran on, None if none ran."""
    try:
        return numba.threading_layer()
    except ValueError:
        return None


# ------------------------------------------------------------------ the rounds
def run_child(engine: str, model: str, what: str, blas: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    if blas == "unset":
        for name in BLAS_VARIABLES:
            env.pop(name, None)
    command = [
        sys.executable, __file__, str(args.n), "--engine", engine, "--model", model,
        "--what", what, "--steps", str(args.steps), "--infer-images", str(args.infer_images),
    ]  # fmt: skip
    return child_result(command, env)


def child_result(command: list[str], env: dict[str, str]) -> dict:
    """Run one measuring child process; its last line of output is its JSON result."""
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"{shlex.join(command)} failed (exit status {done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def shown(value: float, unit: str) -> str:
    return f"{value:.3f}" if unit == "s/step" else f"{value:,.0f}"


def compare(model: str, what: str, settings: list[str], args: argparse.Namespace, cores: dict):
    """The rounds of one model and task; ``cores`` (BLAS setting: OpenBLAS core) is shared
    between calls so that each setting's core is printed once."""
    workload = WORKLOADS[model]
    unit = workload.unit(what)
    count = workload.images(what, args.n, args.steps, args.infer_images)
    if what == "train" and workload.per_step:
        task = f"training, median seconds per step of {args.steps} (batch {workload.batch})"
    elif what == "train":
        task = f"training, samples/s over one epoch of {count} images (batch {workload.batch})"
    else:
        task = f"inference, samples/s over {count} images (batch {workload.infer_batch})"
    print(f"\n{model}: {task}")
    values: dict[tuple[str, str], list[float]] = {}
    layers = set()
    with_peak = model == "mnist" and what == "train"  # STEP_FLOPS is this model's
    for round_ in range(1, args.rounds + 1):
        for blas in settings:
            for engine in (*ENGINES, PEAK) if with_peak else ENGINES:
                result = run_child(engine, model, what, blas, args)
                core = result["openblas_core"]
                if blas not in cores:
                    cores[blas] = core
                    print(f"  blas {blas}: NumPy's OpenBLAS runs core {core}")
                elif cores[blas] != core:
                    print(f"  note: blas {blas}: this child's OpenBLAS ran core {core}")
                values.setdefault((blas, engine), []).append(result["value"])
                layers.add(result["numba_threading_layer"])
                if engine == PEAK:
                    share = values[blas, "autoconv"][-1] / bound(result["value"])
                    values.setdefault((blas, "share"), []).append(share)
                    print(f"  round {round_}  blas {blas:<6}  {engine:<9}{result['value']:>12.0f} "
                          f"GFLOP/s: autoconv at {share:.0%} of the bound")  # fmt: skip
                    continue
                figure = shown(result["value"], unit)
                print(f"  round {round_}  blas {blas:<6}  {engine:<9}{figure:>12} {unit}")
    print(f"  autoconv's Numba threading layer: {', '.join(sorted(layers - {None})) or 'none ran'}")
    for blas in settings:
        medians = {engine: statistics.median(values[blas, engine]) for engine in ENGINES}
        speed = {e: 1 / m if unit == "s/step" else m for e, m in medians.items()}
        figures = "  ".join(f"{e} {shown(m, unit)}" for e, m in medians.items())
        print(f"  median, blas {blas} (OpenBLAS core {cores[blas]}): {figures} {unit}")
        ratios = "  ".join(
            f"autoconv / {e} {speed['autoconv'] / speed[e]:.2f}x" for e in ENGINES[1:]
        )
        print(f"    speed ratio (>1: autoconv is faster): {ratios}")
        if with_peak:
            shares = values[blas, "share"]
            print(
                f"    autoconv's share of the matmul-peak bound ({STEP_FLOPS / 1e6:.3f} MFLOP "
                f"a sample at each round's peak): median {statistics.median(shares):.0%} "
                f"(rounds {min(shares):.0%}-{max(shares):.0%})"
            )


def bound(peak_gflops: float) -> float:
    """The samples/s of MNIST training if every FLOP ran at the matmul peak."""
    return peak_gflops * 1e9 / STEP_FLOPS


def header() -> None:
    with open("/proc/cpuinfo") as cpuinfo:  # the last CPU's fields
        pairs = (line.split(":", 1) for line in cpuinfo if ":" in line)
        fields = {key.strip(): value.strip() for key, value in pairs}
    cpu = fields.get("model name", "unknown")
    avx512f = "avx512f" in fields.get("flags", "").split()
    print(f"CPU: {cpu} ({os.cpu_count()} cores), avx512f: {'yes' if avx512f else 'no'}")
    print(f"Date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"Command: python {shlex.join(sys.argv)}")
    versions = {
        "Python": platform.python_version(),
        "NumPy": np.__version__,
        "Numba": numba.__version__,
        "PyTorch": importlib.metadata.version("torch"),
    }
    print("Versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()))
    blas = ", ".join(f"{name}={os.environ.get(name, '(not set)')}" for name in BLAS_VARIABLES)
    print(f"Environment as-is: {blas}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=6400, help="MNIST images (6400)")
    parser.add_argument("rounds", nargs="?", type=int, default=2, help="rounds (2)")
    parser.add_argument("--model", choices=[*WORKLOADS, "all"], default="mnist")
    parser.add_argument("--what", choices=["train", "infer", "both"], default="both")
    parser.add_argument("--blas", choices=[*BLAS_SETTINGS, "both"], default="both")
    parser.add_argument("--steps", type=int, default=10, help="timed steps, the big models")
    parser.add_argument("--infer-images", type=int, default=1000, help="the big models")
    parser.add_argument(
        "--engine", choices=[*ENGINES, PEAK], help="measure in this process, as JSON"
    )
    args = parser.parse_args()
    if args.engine is not None:
        if args.model == "all" or args.what == "both":
            parser.error("--engine measures one --model and one --what")
        print(json.dumps(measure(args.engine, args.model, args.what, args)))
        return
    sys.stdout.reconfigure(line_buffering=True)  # each round as it ends, also into a file
    header()
    models = list(WORKLOADS) if args.model == "all" else [args.model]
    whats = ["train", "infer"] if args.what == "both" else [args.what]
    settings = list(BLAS_SETTINGS) if args.blas == "both" else [args.blas]
    if args.blas == "both" and not any(name in os.environ for name in BLAS_VARIABLES):
        settings = ["as-is"]
        print("Neither variable is set here: as-is is also unset, and runs once")
    cores: dict[str, str] = {}
    for model in models:
        for what in whats:
            compare(model, what, settings, args, cores)


if __name__ == "__main__":
    main()
