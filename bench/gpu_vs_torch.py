"""(Over ~600 lines on purpose: the parent and every engine's child are this one file, which a
GPU machine runs as it is.)

The course's four models on one device: autoconv against PyTorch eager, PyTorch with the
whole training step in one CUDA graph, and Keras 3 on JAX when JAX is installed; each engine in
its own process, the engines in turn, medians over the rounds (../shared/GPU-NOTES.md's "How to
measure").

    python bench/gpu_vs_torch.py [--device cuda|cpu] [--models mnist,rgb,stack,xception]
        [--engines ...] [--rounds 3] [--steps 20] [--epochs 4] [--infer-images 4096]
        [--mnist-limit N] [--tf32 default|off|on] [--steps-per-execution N] [--json PATH]

Each round runs a child process (``--child ENGINE --models MODEL``: it prints its figures as
JSON) per model and engine, in the order autoconv, torch-eager, torch-graph, keras-jax. A child
trains, then times inference on a freshly built model. Every model starts from autoconv's
initial weights (seed 0): PyTorch's through ``epoch_vs_torch.py``'s mirrors (parameter counts
checked), Keras's through course.py's own builders run with Keras's layers (:func:`keras_builder`).

Training: shuffled batches; RMSprop(lr 1e-3, rho 0.9, eps 1e-7), for the Xception Adam(lr 3e-4,
eps 1e-7); the losses of ``epoch_vs_torch.WORKLOADS``. An epoch is timed from its start until
the device has finished it (a device sync before the clock is read).

- ``mnist``: the course convnet on MNIST's 60,000 training images (or ``--mnist-limit``), batch
  64, ``--epochs`` epochs: the first is the warm-up (compiling included: "first epoch"), the
  steady epoch is the median of the others (three by default: autoconv's second epoch still
  records the step of an epoch's last, shorter batch, a kind of step seen once an epoch, and
  makes its replay; the median leaves such one-off work out); then the accuracy on the 10,000
  test images (or ``--mnist-limit``).
- ``rgb`` (flowers, 180x180x3), ``stack`` (150x150x1), ``xception`` (180x180x3): random images
  (``epoch_vs_torch``'s, seed 0), batch 32, two epochs of ``--steps`` steps, the first the
  warm-up; s/step = the second epoch's seconds / steps: the mean step with one sync at the end
  (a sync per step would add its own cost to engines that queue work ahead, as all these do).

Engines. ``autoconv``: ``model.to(device)``, compiled with the optimizer, the loss and
``metrics=["accuracy"]``; ``model.fit(x, y, batch_size, epochs, shuffle=True)`` on NumPy arrays
(fit puts them on the device once and gathers batches there); the times are
``history.epoch_seconds`` (an epoch ends reading its metrics back from the device: a sync).
``torch-eager``: the whole dataset on the device (NCHW), ``cudnn.benchmark = True``, batches
gathered by a ``torch.randperm`` made on the device; zero_grad, forward, loss, backward, step;
``torch.cuda.synchronize()``. ``torch-graph`` (CUDA only): the same with a ``capturable=True``
optimizer, the whole step run 3 times on a side stream, then captured once in a
``torch.cuda.CUDAGraph`` (as PyTorch's CUDA-graph documentation does; the 3 steps train too) and
replayed per step after the batch is copied into its static inputs; a graph has one batch shape,
so an epoch's last partial batch is skipped (MNIST: 937 of 938 steps). ``keras-jax`` (when
``jax`` is importable): Keras 3 with ``KERAS_BACKEND=jax``, the same optimizer, loss and metric,
``fit`` on NumPy arrays; an epoch ends when a weight's value is back on the host.

Inference: samples/s of a pass over ``--infer-images`` images at batch 256 after a warm-up pass
over them, the outputs back on the host as NumPy at the end. autoconv: ``model.predict(x,
batch_size=256)`` on the images already on the device (``ac.Tensor(x).to(device)``, which
predict takes where it is), as PyTorch's; Keras: ``model.predict`` on NumPy arrays (each batch
goes up to the device, as its users call it); PyTorch: ``model(x)`` under ``eval()`` and
``torch.no_grad()`` on images already on the device, the outputs softmaxed where the model ends
in one; torch-graph replays a captured forward.

``--tf32 default`` leaves each library as its users get it (autoconv's products in TF32, its
``config.set_float32_matmul_precision("high")``; PyTorch's cuDNN convolutions in TF32, its matrix
products in float32; JAX's default precision); ``off`` makes every engine compute in float32
(autoconv's ``"highest"``); ``on`` puts every engine's float32 products on TF32 tensor cores
(autoconv's default, PyTorch's matrix products and convolutions, JAX's default precision).

Output: a line per child; the device (the GPU's or the CPU's name), date, versions, command; a
Markdown table as GPU-NOTES's: workload rows, a column per engine (the median over the rounds,
their range in brackets), and autoconv's time over torch-eager's and torch-graph's (>1: autoconv
takes longer; for samples/s, the inverse of the throughput ratio). A child that fails shows
"failed: <its last error line>": no figure is shown that this run did not measure. ``--json
PATH`` writes every child's figures (or error) by round. Stopped (Ctrl-C, or SIGTERM from
``timeout``), it kills the child at work and reports the children it finished, the rest "—".
A CPU smoke test (2-3 minutes, 2 cores):

    python bench/gpu_vs_torch.py --device cpu --models mnist,rgb --rounds 1 --steps 3 \\
        --mnist-limit 1024 --infer-images 256
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from epoch_vs_torch import WORKLOADS, mnist_images, nchw

import autoconv as ac
from autoconv import course
from autoconv.benchmarks.cases import torch_weight_count

ENGINES = ("autoconv", "torch-eager", "torch-graph", "keras-jax")
MODELS = ("mnist", "rgb", "stack", "xception")
INFER_BATCH = 256
GRAPH_WARMUP = 3  # steps on a side stream before capturing, as PyTorch's documentation does
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------ what every engine shares
def training_data(name: str, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """The training images (NHWC float32) and integer labels of a workload."""
    workload = WORKLOADS[name]
    if name == "mnist":
        return mnist_images(args.mnist_limit or 60_000)
    return workload.data(args.steps * workload.batch)


def targets_of(name: str, labels: np.ndarray) -> np.ndarray:
    """The labels as autoconv's and Keras's loss takes them (one-hot for MNIST's)."""
    workload = WORKLOADS[name]
    if workload.loss == "categorical_crossentropy":
        return ac.utils.to_categorical(labels, workload.classes)
    return labels


def optimizer_of(name: str) -> tuple[str, dict[str, float]]:
    """The course's optimizer for a model: (its class name, Keras's arguments)."""
    if name == "xception":
        return "Adam", {"learning_rate": 3e-4, "epsilon": 1e-7}
    return "RMSprop", {"learning_rate": 1e-3, "rho": 0.9, "epsilon": 1e-7}


def epochs_of(name: str, args: argparse.Namespace) -> int:
    return args.epochs if name == "mnist" else 2


def test_accuracy(
    name: str, args: argparse.Namespace, predict: Callable[[np.ndarray], np.ndarray]
) -> float | None:
    """MNIST's test accuracy (10,000 images, or --mnist-limit) from ``predict``'s outputs;
    None for the other models."""
    if name != "mnist":
        return None
    _, (images, labels) = ac.datasets.mnist.load_data()
    images, labels = images[: args.mnist_limit], labels[: args.mnist_limit]
    outputs = predict(course.prepare(images, labels, "mnist")[0])
    return float(np.mean(np.argmax(outputs, axis=1) == labels))


def training_figures(name: str, seconds: list[float], steps: int, accuracy: float | None) -> dict:
    """A child's training figures from its epochs' seconds (the first is the warm-up)."""
    if name == "mnist":
        steady = statistics.median(seconds[1:])
        return {"epoch_seconds": seconds, "first": seconds[0], "steady": steady,
                "accuracy": accuracy}  # fmt: skip
    return {"epoch_seconds": seconds, "step": seconds[1] / steps}


def samples_per_second(
    predict: Callable[[], np.ndarray], count: int, sync: Callable[[], None] = lambda: None
) -> float:
    """``count`` over the seconds of a call of ``predict`` after a warm-up call; predict
    returns NumPy arrays, so the device has finished when it returns."""
    predict()
    sync()
    started = time.perf_counter()
    predict()
    return count / (time.perf_counter() - started)


def fit_and_predict(
    name: str, args: argparse.Namespace, fresh_model: Callable, optimizers: Any, loss: Any,
    clock: Any = None, placed: Callable[[np.ndarray], Any] = lambda images: images,
) -> tuple[dict, float]:  # fmt: skip
    """The training figures and inference samples/s of a model with Keras's API (autoconv's or
    Keras's): ``fit``, then ``predict`` on ``placed(images)``. The epochs' seconds are
    ``fit``'s ``history.epoch_seconds``, or ``clock.seconds`` when a clock callback is given."""
    workload = WORKLOADS[name]
    x, labels = training_data(name, args)
    kind, settings = optimizer_of(name)
    model = fresh_model()
    model.compile(getattr(optimizers, kind)(**settings), loss, metrics=["accuracy"],
                  steps_per_execution=args.steps_per_execution)  # fmt: skip
    history = model.fit(
        x, targets_of(name, labels), batch_size=workload.batch, epochs=epochs_of(name, args),
        shuffle=True, verbose=0, callbacks=None if clock is None else [clock],
    )  # fmt: skip
    seconds = history.epoch_seconds if clock is None else clock.seconds
    accuracy = test_accuracy(name, args, lambda test: model.predict(test, INFER_BATCH, verbose=0))
    train = training_figures(name, seconds, len(x) // workload.batch, accuracy)
    images = placed(workload.data(args.infer_images)[0])
    inferring = fresh_model()
    infer = samples_per_second(
        lambda: inferring.predict(images, INFER_BATCH, verbose=0), len(images)
    )
    return train, infer


# ------------------------------------------------------------------ autoconv
def autoconv_engine(name: str, args: argparse.Namespace) -> dict:
    workload = WORKLOADS[name]

    ac.config.set_float32_matmul_precision("highest" if args.tf32 == "off" else "high")

    def fresh_model() -> Any:
        ac.utils.set_random_seed(0)
        return workload.build().to(args.device)

    models: list[Any] = []

    def kept_model() -> Any:
        models.append(fresh_model())
        return models[-1]

    train, infer = fit_and_predict(
        name, args, kept_model, ac.optimizers, workload.loss,
        placed=lambda images: ac.Tensor(images).to(args.device),
    )  # fmt: skip
    train["replay"] = replay_state(getattr(models[0], "_step_replay", None))
    device = "cpu"
    if args.device == "cuda":
        from numba import cuda

        from autoconv.backends.cuda import gemm

        device = cuda.get_current_device().name
        device = device.decode() if isinstance(device, bytes) else device
        train["products"] = gemm.route()
    return {"train": train, "infer": infer, "device_name": device}


def replay_state(runner: Any) -> str:
    """How fit's training steps ran: how many were replayed, as a CUDA graph or launch by
    launch, or why none was ("what the last comparison of two recordings found")."""
    if runner is None:
        return "no runner"
    replay = runner.replay
    if replay is None:
        return f"0 replayed: {runner.why}"
    how = replay.mode if not replay.why else f"{replay.mode} ({replay.why})"
    return f"{runner.replayed} replayed, {replay.launches} kernels a step, {how}"


# ------------------------------------------------------------------ PyTorch
def torch_engine(name: str, args: argparse.Namespace, graph: bool) -> dict:
    import torch

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        if args.tf32 == "off":
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        elif args.tf32 == "on":
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cuda.matmul.allow_tf32 = True
    workload = WORKLOADS[name]

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def fresh_model() -> Any:
        """The mirror of a freshly built autoconv model, with its weights, on the device."""
        ac.utils.set_random_seed(0)
        torch.manual_seed(0)
        reference = workload.build()
        model = workload.mirror(torch, reference.get_weights())
        count, expected = torch_weight_count(model), reference.count_params()
        if count != expected:
            raise RuntimeError(f"the PyTorch mirror has {count:,} numbers, autoconv's {expected:,}")
        return model.to(device)

    x, labels = training_data(name, args)
    images, targets = nchw(torch, x).to(device), torch.from_numpy(labels).to(device)
    model = fresh_model().train()
    optimizer = torch_optimizer(torch, name, model, capturable=graph)

    def loss(batch: Any, batch_targets: Any) -> Any:
        return workload.torch_loss(torch, model(batch), batch_targets)

    def eager_step(index: Any) -> None:
        optimizer.zero_grad()
        loss(images[index], targets[index]).backward()
        optimizer.step()

    step = eager_step
    if graph:
        step = graphed_step(torch, optimizer, loss, images, targets, workload.batch)
    batch, count = workload.batch, len(images)
    stop = count - count % batch if graph else count  # a graph runs full batches only
    seconds = []
    for _ in range(epochs_of(name, args)):
        sync()
        started = time.perf_counter()
        for index in torch.randperm(count, device=device)[:stop].split(batch):
            step(index)
        sync()
        seconds.append(time.perf_counter() - started)
    model.eval()
    accuracy = test_accuracy(
        name, args, lambda x: eager_predict(torch, model, nchw(torch, x).to(device), False)()
    )
    train = training_figures(name, seconds, stop // batch, accuracy)

    inferring = fresh_model().eval()
    inputs = nchw(torch, workload.data(args.infer_images)[0]).to(device)
    make = graphed_predict if graph else eager_predict
    predict = make(torch, inferring, inputs, workload.softmax)
    infer = samples_per_second(predict, len(inputs), sync)
    device_name = torch.cuda.get_device_name() if cuda else "cpu"
    return {"train": train, "infer": infer, "device_name": device_name}


def torch_optimizer(torch: ModuleType, name: str, model: Any, capturable: bool) -> Any:
    """PyTorch's RMSprop or Adam with the course's arguments (RMSprop's eps: PyTorch adds it
    outside the square root, Keras inside; Adam's both outside)."""
    kind, settings = optimizer_of(name)
    lr, eps = settings["learning_rate"], settings["epsilon"]
    if kind == "Adam":
        return torch.optim.Adam(model.parameters(), lr=lr, eps=eps, capturable=capturable)
    return torch.optim.RMSprop(
        model.parameters(), lr=lr, alpha=settings["rho"], eps=eps, capturable=capturable
    )


def captured(torch: ModuleType, work: Callable[[], Any]) -> tuple[Any, Any]:
    """(a CUDA graph of ``work``, work's result in it): ``work`` run GRAPH_WARMUP times on a
    side stream, then captured once, as PyTorch's CUDA-graph documentation does."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(GRAPH_WARMUP):
            work()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        result = work()
    return graph, result


def graphed_step(
    torch: ModuleType, optimizer: Any, loss: Callable, images: Any, targets: Any, batch: int
) -> Callable[[Any], None]:
    """The whole training step in one CUDA graph: step(index) copies the batch at ``index``
    into the graph's static inputs and replays it."""
    static_images, static_targets = images[:batch].clone(), targets[:batch].clone()

    def work() -> None:
        optimizer.zero_grad(set_to_none=True)  # in the graph: the backward makes the gradients
        loss(static_images, static_targets).backward()
        optimizer.step()

    graph, _ = captured(torch, work)

    def step(index: Any) -> None:
        static_images.copy_(images[index])
        static_targets.copy_(targets[index])
        graph.replay()

    return step


def eager_predict(torch: ModuleType, model: Any, images: Any, softmax: bool) -> Callable:
    """predict(): the model's outputs for ``images`` at batch 256, as NumPy."""

    def predict() -> np.ndarray:
        with torch.no_grad():
            outputs = torch.cat([model(part) for part in images.split(INFER_BATCH)])
            return (torch.softmax(outputs, dim=1) if softmax else outputs).cpu().numpy()

    return predict


def graphed_predict(torch: ModuleType, model: Any, images: Any, softmax: bool) -> Callable:
    """As :func:`eager_predict`, the forward at batch 256 captured once in a CUDA graph and
    replayed per batch (``--infer-images`` is a multiple of 256)."""
    static = images[:INFER_BATCH].clone()

    def forward() -> Any:
        outputs = model(static)
        return torch.softmax(outputs, dim=1) if softmax else outputs

    with torch.no_grad():
        graph, static_outputs = captured(torch, forward)

    def predict() -> np.ndarray:
        parts = []
        for part in images.split(INFER_BATCH):
            static.copy_(part)
            graph.replay()
            parts.append(static_outputs.clone())
        return torch.cat(parts).cpu().numpy()

    return predict


# ------------------------------------------------------------------ Keras 3 on JAX
def keras_builder(keras: ModuleType, build: Callable) -> Callable:
    """course.py's builder ``build`` making Keras models: course.py's functions read
    ``layers``, ``Sequential`` and ``Model`` from their module's globals, so each is re-made
    over a copy of those globals that names Keras's instead. The same code, the same layers in
    the same order, and so the same weights in the same order."""
    names = dict(vars(course), layers=keras.layers, Sequential=keras.Sequential, Model=keras.Model)
    for name, value in vars(course).items():
        if isinstance(value, types.FunctionType) and value.__module__ == course.__name__:
            names[name] = types.FunctionType(value.__code__, names, name, value.__defaults__)
    return names[build.__name__]


def keras_engine(name: str, args: argparse.Namespace) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"Keras runs on {keras.backend.backend()}, not JAX")
    if args.device == "cuda" and jax.default_backend() != "gpu":
        raise RuntimeError(f"JAX has no GPU here (its backend: {jax.default_backend()})")
    if args.tf32 == "off":
        jax.config.update("jax_default_matmul_precision", "highest")
    workload = WORKLOADS[name]

    def fresh_model() -> Any:
        ac.utils.set_random_seed(0)
        reference = workload.build()
        model = keras_builder(keras, workload.build)()
        model.set_weights(reference.get_weights())
        return model

    class EpochClock(keras.callbacks.Callback):
        """Each epoch's seconds, until a weight's value is back from the device."""

        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            keras.ops.convert_to_numpy(self.model.trainable_variables[-1])
            self.seconds.append(time.perf_counter() - self.started)

    loss: Any = workload.loss
    if not isinstance(loss, str):  # an autoconv loss object: Keras's of the same name
        loss = getattr(keras.losses, type(loss).__name__)(from_logits=loss.from_logits)
    train, infer = fit_and_predict(name, args, fresh_model, keras.optimizers, loss, EpochClock())
    return {"train": train, "infer": infer, "device_name": jax.devices()[0].device_kind}


def measure(engine: str, name: str, args: argparse.Namespace) -> dict:
    """One engine's figures for one model, in this process."""
    if engine == "autoconv":
        return autoconv_engine(name, args)
    if engine == "keras-jax":
        return keras_engine(name, args)
    return torch_engine(name, args, graph=engine == "torch-graph")


# ------------------------------------------------------------------ the rounds
@dataclass(frozen=True)
class Row:
    """A row of the table: a figure of one model's children."""

    label: str
    model: str
    key: tuple[str, ...]  # where the figure is in a child's JSON
    kind: str  # "time" (seconds), "rate" (samples/s) or "accuracy"


TITLES = {"mnist": "MNIST course convnet", "rgb": "flowers 180x180x3",
          "stack": "stack 150x150x1", "xception": "small Xception 180x180x3"}  # fmt: skip


def table_rows(models: list[str], epochs: int) -> list[Row]:
    rows = []
    for name in models:
        if name == "mnist":
            rows += [
                Row(f"{TITLES[name]} b64, steady epoch (s)", name, ("train", "steady"), "time"),
                Row("same, first epoch, warm-up included (s)", name, ("train", "first"), "time"),
                Row(f"same, test accuracy after {epochs} epochs", name, ("train", "accuracy"),
                    "accuracy"),
            ]  # fmt: skip
        else:
            rows.append(Row(f"{TITLES[name]} b32, s/step", name, ("train", "step"), "time"))
    for name in models:
        label = f"{TITLES[name]} inference b{INFER_BATCH}, samples/s"
        rows.append(Row(label, name, ("infer",), "rate"))
    return rows


def run_child(engine: str, name: str, args: argparse.Namespace) -> dict:
    """One child process's figures ({"figures": ...}) or its error ({"error": one line})."""
    command = [
        sys.executable, os.path.abspath(__file__), "--child", engine, "--models", name,
        "--device", args.device, "--steps", str(args.steps), "--epochs", str(args.epochs),
        "--infer-images", str(args.infer_images), "--tf32", args.tf32,
        "--steps-per-execution", str(args.steps_per_execution),
    ]  # fmt: skip
    if args.mnist_limit:
        command += ["--mnist-limit", str(args.mnist_limit)]
    env = dict(os.environ, KERAS_BACKEND="jax") if engine == "keras-jax" else None
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=args.child_timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.child_timeout} s", "seconds": args.child_timeout}
    seconds = time.perf_counter() - started
    if done.returncode:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        error = lines[-1] if lines else f"exit status {done.returncode}"
        if done.returncode < 0:
            error = f"killed by signal {-done.returncode}"
        return {"error": error[:200], "stderr_tail": lines[-20:], "seconds": seconds}
    return {"figures": json.loads(done.stdout.splitlines()[-1]), "seconds": seconds}


def figure(outcome: dict, key: tuple[str, ...]) -> float | None:
    value: Any = outcome.get("figures", {})
    for part in key:
        value = value.get(part) if value is not None else None
    return value


def summary(name: str, outcome: dict) -> str:
    """A child's figures in a line."""
    if "error" in outcome:
        return f"failed: {outcome['error']}"
    train, infer = outcome["figures"]["train"], outcome["figures"]["infer"]
    if name == "mnist":
        text = (f"first epoch {train['first']:.2f} s, steady epoch {train['steady']:.3f} s, "
                f"test accuracy {train['accuracy']:.4f}")  # fmt: skip
    else:
        text = f"{train['step']:.4f} s/step"
    replay = f"; steps: {train['replay']}" if "replay" in train else ""
    return f"{text}, inference {infer:,.0f} samples/s{replay}"


def shown(value: float, kind: str) -> str:
    if kind == "rate":
        return f"{value:,.0f}"
    if kind == "accuracy":
        return f"{value:.4f}"
    return f"{value:.4f}" if value < 0.1 else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def cell(outcomes: list[dict], row: Row) -> tuple[str, float | None]:
    """A table cell (the median over the rounds, their range) and the median, None if no
    child measured it."""
    values = [v for v in (figure(o, row.key) for o in outcomes) if v is not None]
    errors = [o["error"] for o in outcomes if "error" in o]
    if not values:
        return ("failed: " + errors[0][:100].replace("|", "/")) if errors else "—", None
    median = statistics.median(values)
    text = shown(median, row.kind)
    if len(values) > 1:
        text += f" ({shown(min(values), row.kind)}-{shown(max(values), row.kind)})"
    if errors:
        text += f"; {len(errors)} of {len(outcomes)} failed"
    return text, median


def ratio(ours: float | None, theirs: float | None, kind: str) -> str:
    """autoconv's time over the engine's."""
    if ours is None or theirs is None or kind == "accuracy":
        return "—"
    return f"{ours / theirs:.2f}x" if kind == "time" else f"{theirs / ours:.2f}x"


def table(rows: list[Row], results: dict, skipped: dict[str, str]) -> list[str]:
    columns = [*ENGINES, "autoconv / torch-eager", "autoconv / torch-graph"]
    lines = ["| workload | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        cells, medians = [], {}
        for engine in ENGINES:
            if engine in skipped:
                cells.append("skipped")
                continue
            text, medians[engine] = cell(results.get((engine, row.model), []), row)
            cells.append(text)
        ours = medians.get("autoconv")
        cells += [ratio(ours, medians.get(e), row.kind) for e in ("torch-eager", "torch-graph")]
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    return lines


# ------------------------------------------------------------------ the report's header
def cpu_name() -> str:
    """The CPU's model name, as lscpu shows it."""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def versions() -> dict[str, str]:
    found = {}
    for package in ("numpy", "numba", "numba-cuda", "torch", "keras", "jax", "jaxlib"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def autoconv_commit() -> str:
    """``git rev-parse --short HEAD`` of this tree, marked when files differ from it."""
    git = ["git", "-C", ROOT]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        changed = subprocess.run([*git, "diff-index", "--quiet", "HEAD", "--"], capture_output=True)
    except OSError:
        return "unknown (no git)"
    if commit.returncode:
        return "unknown (not a git checkout)"
    return commit.stdout.strip() + (" with uncommitted changes" if changed.returncode else "")


# ------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="timed steps: rgb, stack, xception")
    parser.add_argument("--epochs", type=int, default=4, help="MNIST's epochs, the first warm-up")
    parser.add_argument("--mnist-limit", type=int, help="MNIST's first N images (smoke tests)")
    parser.add_argument("--infer-images", type=int, default=4096, help="a multiple of 256")
    parser.add_argument("--tf32", choices=["default", "off", "on"], default="default")
    parser.add_argument(
        "--steps-per-execution", type=int, default=1,
        help="compile(steps_per_execution=N) for autoconv and Keras",
    )  # fmt: skip
    parser.add_argument("--child-timeout", type=int, default=1200, help="seconds a child may run")
    parser.add_argument("--json", help="write every child's figures here")
    parser.add_argument("--child", choices=ENGINES, help="measure one engine and model here")
    args = parser.parse_args()
    models = args.models.split(",")
    engines = args.engines.split(",")
    if unknown := [m for m in models if m not in MODELS] + [e for e in engines if e not in ENGINES]:
        parser.error(f"unknown models or engines: {', '.join(unknown)}")
    if args.epochs < 2 or args.steps < 1 or args.rounds < 1:
        parser.error("--epochs must be 2 or more (the first is the warm-up), --steps 1 or more")
    if args.infer_images < INFER_BATCH or args.infer_images % INFER_BATCH:
        parser.error(f"--infer-images must be a multiple of {INFER_BATCH}")
    if args.child is not None:
        print(json.dumps(measure(args.child, models[0], args)))
        return

    sys.stdout.reconfigure(line_buffering=True)
    skipped = {e: "not asked for (--engines)" for e in ENGINES if e not in engines}
    if args.device != "cuda":
        skipped["torch-graph"] = "CUDA graphs need a GPU"
    if importlib.util.find_spec("jax") is None:
        skipped["keras-jax"] = "jax is not installed"
    date = f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    command = "python " + shlex.join(sys.argv)
    found, commit = versions(), autoconv_commit()

    results: dict[tuple[str, str], list[dict]] = {}
    children = []
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a stop, as Ctrl-C: report so far
    try:
        for round_ in range(1, args.rounds + 1):
            for name in models:
                for engine in (e for e in ENGINES if e not in skipped):
                    outcome = run_child(engine, name, args)
                    results.setdefault((engine, name), []).append(outcome)
                    children.append({"round": round_, "model": name, "engine": engine, **outcome})
                    print(f"round {round_}/{args.rounds}  {name:<8} {engine:<11} "
                          f"{summary(name, outcome)}  ({outcome['seconds']:.0f} s)")  # fmt: skip
    except KeyboardInterrupt:
        print(f"\nStopped after {len(children)} children: the table shows what they measured.")

    names = {o["figures"]["device_name"] for o in children if "figures" in o}
    device = cpu_name() if args.device == "cpu" else ", ".join(sorted(names - {"cpu"}))
    print(f"\nDevice: {device or 'unknown (no child reported one)'} ({args.device}), {date}")
    print(f"autoconv {commit}; " + ", ".join(f"{n} {v}" for n, v in found.items()))
    routes = {o["figures"]["train"].get("products") for o in children if "figures" in o} - {None}
    if routes:
        print(f"autoconv's matrix products: {'; '.join(sorted(routes))}")
    print(f"Command: {command}\nTF32: {args.tf32}; steps_per_execution: "
          f"{args.steps_per_execution} (autoconv, Keras)\n")  # fmt: skip
    for line in table(table_rows(models, args.epochs), results, skipped):
        print(line)
    print(f"\nMedians over {args.rounds} round(s), the rounds' range in brackets. Ratios: "
          "autoconv's time over the engine's (>1: autoconv takes longer; for samples/s, the "
          "engine's throughput over autoconv's).")  # fmt: skip
    for engine, why in skipped.items():
        print(f"{engine}: skipped, {why}.")
    if args.json:
        report = {"date": date, "command": command, "device": device, "autoconv": commit,
                  "versions": found, "tf32": args.tf32, "children": children}  # fmt: skip
        with open(args.json, "w") as file:
            json.dump(report, file, indent=1)
        print(f"Every child's figures: {args.json}")


if __name__ == "__main__":
    main()
