"""The matrix products of one training step of each course model: autoconv's product kernel
against the vendor's (cuBLAS through PyTorch's ``torch.matmul`` on a GPU; on the CPU, PyTorch's
BLAS), shape by shape, each engine in its own process. What the issue's vendor-GEMM route (a
cuBLAS call where it "measures faster than ours") would change, before it is built.

    python bench/gemm_vs_vendor.py [--device cuda|cpu] [--models mnist,rgb,stack,xception]
                                   [--repeats 20] [--json PATH]

1. A ``shapes`` child per model runs one training step (``train_on_batch`` on the model's batch
   of its images, eagerly) with the backend's ``matmul`` and ``matmuls`` wrapped to note each
   product: its batch, rows m, columns n, contracted k, which operand is read transposed, and
   how many times the step makes it.
2. An ``autoconv`` child times each shape with the backend's ``matmul`` on random float32
   operands laid out as the step's (the median of ``--repeats`` calls, each ended by a device
   sync); a ``torch`` child the same shapes with ``torch.matmul`` on operands of the same
   layout (a transposed operand as a transposed view), once with TF32 off (float32, as
   autoconv's child computes, ``config.set_float32_matmul_precision("highest")``) and once with
   TF32 on (PyTorch's cuDNN default; on a GPU only); on a GPU an ``autoconv-tf32`` child times
   autoconv's TF32 products too (``"high"``, its default).
3. The parent prints a table per model: each shape, its count, the milliseconds of each
   engine and autoconv's over the vendor's (float32 over float32, and on a GPU TF32 over
   TF32); and the step's sums (time x count).

Times exclude the bias and ReLU epilogue autoconv fuses into some products (the shapes are
timed bare). A CPU smoke test (a minute on 2 cores): ``--device cpu --models mnist --repeats 3``.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
from epoch_vs_torch import WORKLOADS
from gpu_vs_torch import optimizer_of, targets_of

import autoconv as ac

Shape = tuple[tuple[int, ...], int, int, int, bool, bool]  # batch, m, n, k, transposes


def noted_shape(a: Any, b: Any, transpose_a: bool, transpose_b: bool) -> Shape:
    """A product's (batch, m, n, k, transpose_a, transpose_b), as the backend reads it."""
    m, k = (a.shape[-1], a.shape[-2]) if transpose_a else a.shape[-2:]
    n = b.shape[-2] if transpose_b else b.shape[-1]
    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    return batch, int(m), int(n), int(k), bool(transpose_a), bool(transpose_b)


def step_shapes(name: str, device: str) -> list[tuple[Shape, int]]:
    """The products of one eager training step of model ``name`` on ``device``, with counts."""
    workload = WORKLOADS[name]
    ac.utils.set_random_seed(0)
    model = workload.build().to(device)
    kind, settings = optimizer_of(name)
    model.compile(getattr(ac.optimizers, kind)(**settings), workload.loss)
    x, labels = workload.data(workload.batch)
    y = targets_of(name, labels)
    model.train_on_batch(x, y)  # builds the model and the optimizer's slots
    xp = ac.backends.namespace(device)
    counts: collections.Counter[Shape] = collections.Counter()
    matmul, matmuls = xp.matmul, xp.matmuls

    def noting_matmul(a, b, transpose_a=False, transpose_b=False, *args, **kwargs):
        counts[noted_shape(a, b, transpose_a, transpose_b)] += 1
        return matmul(a, b, transpose_a, transpose_b, *args, **kwargs)

    def noting_matmuls(*products):
        for product in products:
            if product is not None:
                counts[noted_shape(*product)] += 1
        return matmuls(*products)

    xp.matmul, xp.matmuls = noting_matmul, noting_matmuls
    try:
        model.train_on_batch(x, y)
    finally:
        xp.matmul, xp.matmuls = matmul, matmuls
    return sorted(counts.items(), key=lambda item: -np.prod(item[0][0] or (1,)) * item[0][1]
                  * item[0][2] * item[0][3])  # fmt: skip


def operands(shape: Shape, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random float32 operands of a product of ``shape``, each stored as the step stores it."""
    batch, m, n, k, transpose_a, transpose_b = shape
    a = rng.standard_normal((*batch, *((k, m) if transpose_a else (m, k))), np.float32)
    b = rng.standard_normal((*batch, *((n, k) if transpose_b else (k, n))), np.float32)
    return a, b


def median_ms(run: Any, sync: Any, repeats: int) -> float:
    """The median milliseconds of ``run()`` followed by ``sync()``, after one warm-up call."""
    run()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def autoconv_times(shapes: list[Shape], device: str, repeats: int) -> list[float]:
    xp = ac.backends.namespace(device)
    sync: Any = lambda: None  # noqa: E731 - the CPU's products return when done
    if device == "cuda":
        from numba import cuda

        sync = cuda.synchronize
    rng, times = np.random.default_rng(0), []
    for shape in shapes:
        a, b = (xp.asarray(operand) for operand in operands(shape, rng))
        times.append(median_ms(lambda a=a, b=b, s=shape: xp.matmul(a, b, s[4], s[5]), sync,
                               repeats))  # fmt: skip
    return times


def torch_times(shapes: list[Shape], device: str, repeats: int, tf32: bool) -> list[float]:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = tf32
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rng, times = np.random.default_rng(0), []
    for shape in shapes:
        a, b = (torch.from_numpy(operand).to(device) for operand in operands(shape, rng))
        a = a.transpose(-1, -2) if shape[4] else a
        b = b.transpose(-1, -2) if shape[5] else b
        times.append(median_ms(lambda a=a, b=b: torch.matmul(a, b), sync, repeats))
    return times


def child(args: argparse.Namespace) -> None:
    if args.child == "shapes":
        result: Any = [[list(shape[0]), *shape[1:], count]
                       for shape, count in step_shapes(args.models, args.device)]  # fmt: skip
    else:
        shapes = [(tuple(s[0]), *s[1:6]) for s in json.loads(args.shapes)]
        if args.child.startswith("autoconv"):
            tf32 = args.child == "autoconv-tf32"
            ac.config.set_float32_matmul_precision("high" if tf32 else "highest")
            result = autoconv_times(shapes, args.device, args.repeats)
        else:
            result = torch_times(shapes, args.device, args.repeats, args.child == "torch-tf32")
    print(json.dumps(result))


def run_child(args: argparse.Namespace, which: str, model: str, shapes: Any = None) -> Any:
    command = [sys.executable, __file__, "--child", which, "--models", model, "--device",
               args.device, "--repeats", str(args.repeats)]  # fmt: skip
    if shapes is not None:
        command += ["--shapes", json.dumps(shapes)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"failed: {lines[-1] if lines else done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(args: argparse.Namespace) -> None:
    tf32 = ["autoconv-tf32", "torch-tf32"] if args.device == "cuda" else []
    engines = ["autoconv", "torch", *tf32]
    pairs = [("autoconv", "torch"), *([tuple(tf32)] if tf32 else [])]
    print(f"Date: {datetime.date.today()}; device: {args.device}; command: "
          f"python bench/gemm_vs_vendor.py {' '.join(sys.argv[1:])}")  # fmt: skip
    report = {}
    for model in args.models.split(","):
        shapes = run_child(args, "shapes", model)
        if isinstance(shapes, str):
            print(f"\n{model}: {shapes}")
            report[model] = shapes
            continue
        times = {engine: run_child(args, engine, model, shapes) for engine in engines}
        print(f"\n{model} (batch {WORKLOADS[model].batch}): the products of one training step")
        print("| batch x m x n x k (transposed) | per step | "
              + " | ".join(f"{e} ms" for e in engines) + " | "
              + " | ".join(f"{a} / {b}" for a, b in pairs) + " |")  # fmt: skip
        print("|---" * (len(engines) + 2 + len(pairs)) + "|")
        for i, (batch, m, n, k, ta, tb, count) in enumerate(shapes):
            flags = "".join(f for f, on in (("A", ta), ("B", tb)) if on) or "-"
            cells = [t if isinstance(t, str) else f"{t[i]:.3f}" for t in times.values()]
            ratios = ["—" if isinstance(times[a], str) or isinstance(times[b], str)
                      else f"{times[a][i] / times[b][i]:.2f}" for a, b in pairs]  # fmt: skip
            size = " x ".join(map(str, [*batch, m, n, k]))
            print(f"| {size} ({flags}) | {count} | " + " | ".join(cells + ratios) + " |")
        sums = {e: (t if isinstance(t, str) else sum(v * s[-1] for v, s in zip(t, shapes,
                strict=True))) for e, t in times.items()}  # fmt: skip
        print(
            "| the step's sum | | "
            + " | ".join(s if isinstance(s, str) else f"{s:.3f}" for s in sums.values())
            + " |" * (len(pairs) + 1)
        )
        report[model] = {"shapes": shapes, "times": times, "sums": sums}
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--models", default="mnist,rgb,stack,xception")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", help="write the shapes and times here")
    parser.add_argument("--child", choices=["shapes", "autoconv", "autoconv-tf32", "torch",
                                            "torch-tf32"],
                        help=argparse.SUPPRESS)  # fmt: skip
    parser.add_argument("--shapes", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments)
    else:
        main(arguments)
