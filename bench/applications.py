"""MobileNetV2 and EfficientNetB0 (224x224x3, 1000 classes, random weights, float32) on the CPU:
inference images/s and fine-tuning seconds per step, against PyTorch/torchvision and Keras 3 on
JAX, each measurement in a fresh process, the engines in turn.

    python bench/applications.py [ROUNDS=4] [--model mobilenet_v2|efficientnet_b0|all]
        [--blas as-is|unset|both] [--warmup 3] [--repeats 5] [--quick]
    python bench/applications.py --profile efficientnet_b0   # where an autoconv step goes

Each child process builds one engine's model, then measures two tasks, one after the other:

- inference: the model's outputs for a batch of 32 images as a NumPy array, in inference mode
  (BatchNormalization's moving statistics, no Dropout), as ``predict`` would return them;
  images/s is 32 over the median seconds of a call;
- fine-tuning: one optimizer step on a batch of 16 (the whole network trainable, Adam with
  Keras's defaults: learning rate 1e-3, epsilon 1e-7; sparse categorical cross-entropy; train
  mode: batch statistics, Dropout, stochastic depth); the median seconds of a step.

Each task runs WARMUP calls first (Numba compiles autoconv's kernels on the first ones, XLA
compiles Keras's functions on the first one; the warm-up's first call is reported as
"first") and then REPEATS timed calls, each on a batch gathered in a shuffled order from a pool
of 64 random images (uniform in [-1, 1], as MobileNetV2's ``preprocess_input`` makes them; seed
0) and random labels, the gathering included in the time.

Engines:

- ``autoconv``: ``autoconv.applications.MobileNetV2`` / ``EfficientNetB0`` with
  ``weights=None``; ``predict_on_batch`` and, after ``compile("adam",
  "sparse_categorical_crossentropy")``, ``train_on_batch`` (both apply autoconv's process
  settings, :func:`autoconv.process.configure_process`, to themselves).
- ``torch``: ``torchvision.models.mobilenet_v2()`` / ``efficientnet_b0()`` as users write it:
  NCHW tensors on 2 threads; ``eval()`` and ``torch.inference_mode()`` with the softmax and
  ``.numpy()`` for inference; ``train()``, ``cross_entropy`` of the logits, ``backward``,
  ``torch.optim.Adam(lr=1e-3, eps=1e-7)`` for fine-tuning.
- ``torch-cl``: tuned PyTorch: the model in channels_last, each gathered batch made
  channels_last (``.contiguous(memory_format=torch.channels_last)``), glibc's malloc keeping
  freed buffers (``configure_process()``), as in ``epoch_vs_torch.py``.
- ``keras-jax``: Keras 3 on the JAX backend (XLA on the CPU): ``keras.applications.MobileNetV2``
  / ``EfficientNetB0`` with ``weights=None``; ``predict_on_batch`` and, after the same
  ``compile``, ``train_on_batch``: what a Keras user calls (both jit-compiled by Keras).

The networks are the same up to details that cost little: torchvision's MobileNetV2 ends in a
Dropout(0.2) where Keras's has none; Keras's EfficientNetB0 starts with Rescaling and
Normalization layers. Each child reports its trainable parameter count; the counts of the four
engines are printed and must agree (MobileNetV2 3,504,872, EfficientNetB0 5,288,548).

torchvision: PyPI's torchvision 0.28.0 (the release for PyTorch 2.13) is a CUDA build whose C++
operators (``torchvision::nms``, ``roi_align``, ...) do not load beside a CPU-only PyTorch, and
its import then fails ("operator torchvision::nms does not exist"). The models need none of
them: :func:`import_torchvision` declares the two schemas the import registers fake kernels for
and imports it again.

``--blas`` (default both): this project's machines set ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``, which users' machines do not. They steer NumPy's OpenBLAS, that is
autoconv's matrix products only (PyTorch and XLA have their own), so only autoconv runs once
per setting ("autoconv" in the environment as it is, "autoconv-unset" with both variables
removed from that child's environment); each autoconv child reports the OpenBLAS core it ran.

Output: the CPU, date, command and versions; one line per child; then a table per model: each
task and engine with the median over the rounds of each child's median, the rounds' range, and
autoconv / that engine as a speed ratio (>1: autoconv is faster; for step times, the engine's
time over autoconv's). A round of both models and five children each takes about 5 minutes on
this 2-vCPU machine when nothing else runs (Keras's children 60-95 s, a third of it XLA
compiling), twice that when other work shares the cores.

``--engine ENGINE --model MODEL`` measures in this process and prints JSON: what each child
runs. ``--profile MODEL`` runs cProfile over one autoconv fine-tuning step after the warm-up and
prints the 15 functions with the most time of their own.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.metadata
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
from epoch_vs_torch import (
    BLAS_VARIABLES,
    child_result,
    header,
    nchw,
    openblas_core,
    threading_layer,
)

import autoconv as ac
from autoconv.process import configure_process

MODELS = {"mobilenet_v2": "MobileNetV2", "efficientnet_b0": "EfficientNetB0"}  # torchvision: Keras
ENGINES = ("autoconv", "autoconv-unset", "torch", "torch-cl", "keras-jax")
SHAPE = (224, 224, 3)
CLASSES = 1000
INFER_BATCH = 32
TRAIN_BATCH = 16
POOL = 64  # images the batches are gathered from
TASKS = {  # task: (what the table calls it, unit)
    "infer": (f"inference, batch {INFER_BATCH}", "images/s"),
    "train": (f"fine-tuning, batch {TRAIN_BATCH}", "s/step"),
}
_TORCHVISION_SCHEMAS: list[Any] = []  # the library that declares them must stay alive


# ------------------------------------------------------------------ data and imports
def pool() -> tuple[np.ndarray, np.ndarray]:
    """POOL random images (NHWC float32 in [-1, 1]) and labels, seed 0."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (POOL, *SHAPE)).astype(np.float32)
    return x, rng.integers(0, CLASSES, POOL)


def batches(size: int) -> Callable[[], np.ndarray]:
    """A function that returns the indices of the next batch: the pool in a shuffled order."""
    rng = np.random.default_rng(1)
    order: list[int] = []

    def next_batch() -> np.ndarray:
        if len(order) < size:
            order.extend(rng.permutation(POOL).tolist())
        index = np.array(order[:size])
        del order[:size]
        return index

    return next_batch


def import_torchvision() -> ModuleType:
    """torchvision, its models importable where its C++ operators are not (a CUDA build of
    torchvision beside a CPU-only PyTorch): then the two operators whose fake kernels the
    import registers are declared first, and the import is tried again."""
    try:
        import torchvision
    except RuntimeError as error:
        if "torchvision::nms" not in str(error):
            raise
        import torch

        for name in [name for name in sys.modules if name.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        library = torch.library.Library("torchvision", "FRAGMENT")
        for op in ("nms", "qnms"):
            library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _TORCHVISION_SCHEMAS.append(library)
        import torchvision
    return torchvision


def timed(call: Callable[[], Any], warmup: int, repeats: int) -> tuple[float, list[float]]:
    """The seconds of the first call and of each of ``repeats`` calls after ``warmup``."""
    seconds = []
    for _ in range(warmup + repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds[0], seconds[warmup:]


# ------------------------------------------------------------------ the engines
def keras_like(module: Any, model_name: str, args: argparse.Namespace) -> dict:
    """autoconv or Keras: ``predict_on_batch`` then ``train_on_batch``, as users call them."""
    model = getattr(module.applications, MODELS[model_name])(weights=None, input_shape=SHAPE)
    x, labels = pool()
    infer_batch, train_batch = batches(INFER_BATCH), batches(TRAIN_BATCH)
    first_infer, infer = timed(
        lambda: model.predict_on_batch(x[infer_batch()]), args.warmup, args.repeats
    )
    model.compile("adam", "sparse_categorical_crossentropy")

    def step() -> None:
        index = train_batch()
        model.train_on_batch(x[index], labels[index])

    first_train, train = timed(step, args.warmup, args.repeats)
    params = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    return {"infer": infer, "train": train, "first": [first_infer, first_train], "params": params}


def autoconv_engine(model_name: str, args: argparse.Namespace) -> dict:
    return keras_like(ac, model_name, args)


def keras_engine(model_name: str, args: argparse.Namespace) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"Keras runs on {keras.backend.backend()}, not JAX")
    return keras_like(keras, model_name, args)


def torch_engine(model_name: str, args: argparse.Namespace, tuned: bool) -> dict:
    import torch

    torchvision = import_torchvision()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    if tuned:
        configure_process()  # what fit applies for itself: malloc keeps freed buffers
    model = getattr(torchvision.models, model_name)()
    as_input: Callable[[Any], Any] = lambda batch: batch  # noqa: E731
    if tuned:
        model = model.to(memory_format=torch.channels_last)
        as_input = lambda batch: batch.contiguous(memory_format=torch.channels_last)  # noqa: E731
    x, labels = pool()
    images, targets = nchw(torch, x), torch.from_numpy(labels)
    infer_batch, train_batch = batches(INFER_BATCH), batches(TRAIN_BATCH)

    def predict() -> np.ndarray:
        with torch.inference_mode():
            index = torch.from_numpy(infer_batch())
            return torch.softmax(model(as_input(images[index])), dim=1).numpy()

    model.eval()
    first_infer, infer = timed(predict, args.warmup, args.repeats)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

    def step() -> None:
        index = torch.from_numpy(train_batch())
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(as_input(images[index])), targets[index])
        loss.backward()
        optimizer.step()

    first_train, train = timed(step, args.warmup, args.repeats)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"infer": infer, "train": train, "first": [first_infer, first_train], "params": params}


def measure(engine: str, model_name: str, args: argparse.Namespace) -> dict:
    """One engine's figures for one model, in this process."""
    core = openblas_core()  # before PyTorch loads its own libraries
    ac.utils.set_random_seed(0)
    if engine.startswith("autoconv"):
        result = autoconv_engine(model_name, args)
    elif engine == "keras-jax":
        result = keras_engine(model_name, args)
    else:
        result = torch_engine(model_name, args, tuned=engine == "torch-cl")
    return {
        "infer": INFER_BATCH / statistics.median(result["infer"]),
        "train": statistics.median(result["train"]),
        "infer_s": result["infer"],
        "train_s": result["train"],
        "first": result["first"],
        "params": result["params"],
        "openblas_core": core,
        "numba_threading_layer": threading_layer(),
    }


def profile(model_name: str, args: argparse.Namespace) -> None:
    """cProfile of one autoconv fine-tuning step after the warm-up: the top 15 by own time."""
    model = getattr(ac.applications, MODELS[model_name])(weights=None, input_shape=SHAPE)
    model.compile("adam", "sparse_categorical_crossentropy")
    x, labels = pool()
    train_batch = batches(TRAIN_BATCH)

    def step() -> None:
        index = train_batch()
        model.train_on_batch(x[index], labels[index])

    timed(step, args.warmup, 0)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(step)
    print(f"{model_name}: one autoconv fine-tuning step (batch {TRAIN_BATCH}) under cProfile: "
          f"{time.perf_counter() - started:.3f} s")  # fmt: skip
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


# ------------------------------------------------------------------ the rounds
def run_child(engine: str, model_name: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    if engine == "autoconv-unset":
        for name in BLAS_VARIABLES:
            env.pop(name, None)
    if engine == "keras-jax":
        env["KERAS_BACKEND"] = "jax"
    command = [
        sys.executable, __file__, "--engine", engine, "--model", model_name,
        "--warmup", str(args.warmup), "--repeats", str(args.repeats),
    ]  # fmt: skip
    return child_result(command, env)


def shown(value: float, unit: str) -> str:
    return f"{value:.3f}" if unit == "s/step" else f"{value:.1f}"


def compare(model_name: str, engines: list[str], args: argparse.Namespace) -> None:
    """The rounds of one model, then its table."""
    rounds = f"{args.rounds} round" + ("s" if args.rounds > 1 else "")
    print(f"\n{model_name} ({MODELS[model_name]}), {rounds}")
    results: dict[str, list[dict]] = {engine: [] for engine in engines}
    for round_ in range(1, args.rounds + 1):
        for engine in engines:
            started = time.perf_counter()
            result = run_child(engine, model_name, args)
            results[engine].append(result)
            core = f", OpenBLAS {result['openblas_core']}" if engine.startswith("autoconv") else ""
            print(
                f"  round {round_}  {engine:<15}{result['infer']:8.1f} images/s"
                f"{result['train']:8.3f} s/step   first calls {result['first'][0]:.1f} s, "
                f"{result['first'][1]:.1f} s; child {time.perf_counter() - started:.0f} s{core}"
            )
    params = {engine: results[engine][0]["params"] for engine in engines}
    agree = "agree" if len(set(params.values())) == 1 else "DIFFER"
    print(f"  trainable parameters ({agree}): "
          + ", ".join(f"{engine} {count:,}" for engine, count in params.items()))  # fmt: skip
    layers = {r["numba_threading_layer"] for e in engines if e.startswith("autoconv")
              for r in results[e]} - {None}  # fmt: skip
    print(f"  autoconv's Numba threading layer: {', '.join(sorted(layers)) or 'none ran'}")
    mine = [engine for engine in engines if engine.startswith("autoconv")]
    others = [engine for engine in engines if not engine.startswith("autoconv")]
    heads = " | ".join(f"{a} / {o}" for a in mine for o in others)
    print(f"\n| task | engine | median | range | {heads} |")
    print("|---|---|---|---|" + "---|" * (len(mine) * len(others)))
    for task, (label, unit) in TASKS.items():
        medians = {e: statistics.median(r[task] for r in results[e]) for e in engines}
        speed = {e: 1 / m if unit == "s/step" else m for e, m in medians.items()}
        for engine in engines:
            values = [r[task] for r in results[engine]]
            spread = f"{shown(min(values), unit)}-{shown(max(values), unit)}"
            ratios = " | ".join(
                f"{speed[a] / speed[o]:.2f}x" if engine == a else "" for a in mine for o in others
            )
            figure = f"{shown(medians[engine], unit)} {unit}"
            print(f"| {label} | {engine} | {figure} | {spread} | {ratios} |")


def versions() -> None:
    names = ("torchvision", "jax", "jaxlib", "keras")
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    here = os.path.dirname(os.path.abspath(__file__))
    git = ["git", "-C", here]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
    state = " with uncommitted work" if dirty.stdout.strip() else ""
    print(f"Also: {', '.join(found)}; autoconv {commit.stdout.strip()}{state}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rounds", nargs="?", type=int, default=4, help="rounds (4)")
    parser.add_argument("--model", choices=[*MODELS, "all"])
    parser.add_argument("--blas", choices=["as-is", "unset", "both"], default="both")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per task (3)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per task (5)")
    parser.add_argument(
        "--quick", action="store_true",
        help="a smoke run: 1 round, 2 warm-up and 2 timed calls, blas as-is, mobilenet_v2",
    )  # fmt: skip
    parser.add_argument("--engine", choices=ENGINES, help="measure in this process, as JSON")
    parser.add_argument("--profile", choices=MODELS, help="cProfile one autoconv step")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.warmup, args.repeats, args.blas = 1, 2, 2, "as-is"
    if args.profile:
        profile(args.profile, args)
        return
    if args.engine is not None:
        if args.model in (None, "all"):
            parser.error("--engine measures one --model")
        print(json.dumps(measure(args.engine, args.model, args)))
        return
    sys.stdout.reconfigure(line_buffering=True)  # each round as it ends, also into a file
    header()
    versions()
    model = args.model or ("mobilenet_v2" if args.quick else "all")
    engines = list(ENGINES)
    if args.blas == "as-is" or not any(name in os.environ for name in BLAS_VARIABLES):
        engines.remove("autoconv-unset")  # where neither is set, as-is is unset
    elif args.blas == "unset":
        engines.remove("autoconv")
    print(f"Warm-up {args.warmup} and {args.repeats} timed calls per task; engines in turn: "
          + ", ".join(engines))  # fmt: skip
    for name in MODELS if model == "all" else [model]:
        compare(name, engines, args)


if __name__ == "__main__":
    main()
