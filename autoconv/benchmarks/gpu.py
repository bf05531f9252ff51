"""GPU benchmark: autoconv's numba.cuda kernels next to PyTorch eager CUDA, in one run.

Kernel level, at batch 64: each conv layer of the reference model forward (bias and ReLU
included) and forward+backward (gradients of input, kernel and bias), each max pool forward
and forward+backward. End to end: one training step, and a steady-state epoch over MNIST
(autoconv: ``Sequential.fit``; PyTorch: the loop users write, the data already on the GPU).

Both engines compute in float32: PyTorch's TF32 shortcut for convolutions and matmuls is
switched off, and autoconv's (TF32 products, its GPU default) for the run, so the numbers
compare like for like. Each engine's forward result is checked
against autoconv's before timing, and the clock stops only after the GPU has finished
(``synchronize``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

import numpy as np

import autoconv as ac
from autoconv import training
from autoconv.benchmarks.cases import BATCH, CONVS, POOLS, torch_reference_model
from autoconv.benchmarks.runner import WrongResultError


@dataclass
class GpuRow:
    """Median milliseconds of one operation for autoconv and (when available) PyTorch CUDA."""

    op: str
    shape: str
    autoconv_ms: float
    torch_ms: float | None

    @property
    def ratio(self) -> float | None:
        """autoconv / PyTorch: below 1, autoconv is faster."""
        return None if self.torch_ms is None else self.autoconv_ms / self.torch_ms


def torch_cuda(torch: ModuleType | None) -> ModuleType | None:
    """``torch`` if it can run on this GPU (TF32 off), else None."""
    if torch is None or not torch.cuda.is_available():
        return None
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch


def synchronize(torch: ModuleType | None) -> None:
    """Wait until both engines' GPU work is done."""
    from numba import cuda

    cuda.synchronize()
    if torch is not None:
        torch.cuda.synchronize()


def time_ms(fn: Callable[[], Any], torch: ModuleType | None, rounds: int) -> float:
    """Median wall time of ``fn()`` until the GPU is idle again, after two warm-up calls."""
    times = []
    for i in range(rounds + 2):
        synchronize(torch)
        started = time.perf_counter()
        fn()
        synchronize(torch)
        if i >= 2:
            times.append(time.perf_counter() - started)
    return 1e3 * float(np.median(times))


def _check(op: str, ours: np.ndarray, theirs: np.ndarray) -> None:
    if ours.shape != theirs.shape or not np.allclose(ours, theirs, rtol=1e-3, atol=1e-3):
        raise WrongResultError(f"{op}: PyTorch CUDA differs from autoconv")


def layer_rows(
    torch: ModuleType | None,
    rounds: int,
    rng: np.random.Generator,
    convs: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = CONVS,
    pools: dict[str, tuple[int, ...]] = POOLS,
) -> list[GpuRow]:
    """Conv layers (with bias and ReLU) and 2x2 max pools, forward and forward+backward."""
    functional = None if torch is None else torch.nn.functional
    rows = []
    for name, (x_shape, w_shape) in convs.items():
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
        b = (rng.standard_normal(w_shape[-1]) * 0.1).astype(np.float32)
        xt, wt, bt = (ac.Tensor(a, requires_grad=True, device="cuda") for a in (x, w, b))
        g = ac.Tensor(np.ones(ac.conv2d(x[:1], w).shape[1:], np.float32), device="cuda")
        shape = f"{'x'.join(map(str, x_shape))} * {'x'.join(map(str, w_shape))}"

        def forward(xt=xt, wt=wt, bt=bt):
            with ac.no_grad():
                return ac.conv2d(xt, wt, bt, activation="relu")

        def both(xt=xt, wt=wt, bt=bt, g=g):
            out = ac.conv2d(xt, wt, bt, activation="relu")
            (out * g).sum().backward()

        torch_forward = torch_both = None
        if torch is not None:
            tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).cuda()
            tw = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).cuda()
            tb = torch.from_numpy(b).cuda()
            for t in (tx, tw, tb):
                t.requires_grad_(True)

            def torch_forward(tx=tx, tw=tw, tb=tb):
                with torch.no_grad():
                    return functional.relu(functional.conv2d(tx, tw, tb))

            def torch_both(tx=tx, tw=tw, tb=tb):
                functional.relu(functional.conv2d(tx, tw, tb)).sum().backward()

            ours = forward().numpy()
            _check(f"{name} forward", ours, torch_forward().cpu().numpy().transpose(0, 2, 3, 1))
        rows += _pair(f"{name} forward", shape, forward, torch_forward, torch, rounds)
        rows += _pair(f"{name} fwd+bwd", shape, both, torch_both, torch, rounds)
    for name, x_shape in pools.items():
        x = rng.standard_normal(x_shape).astype(np.float32)
        xt = ac.Tensor(x, requires_grad=True, device="cuda")
        shape = "x".join(map(str, x_shape))

        def pool_forward(xt=xt):
            with ac.no_grad():
                return ac.max_pool2d(xt)

        def pool_both(xt=xt):
            ac.max_pool2d(xt).sum().backward()

        torch_pool = torch_pool_both = None
        if torch is not None:
            tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).cuda()
            tx.requires_grad_(True)

            def torch_pool(tx=tx):
                with torch.no_grad():
                    return functional.max_pool2d(tx, 2)

            def torch_pool_both(tx=tx):
                functional.max_pool2d(tx, 2).sum().backward()

            ours = pool_forward().numpy()
            _check(f"{name} forward", ours, torch_pool().cpu().numpy().transpose(0, 2, 3, 1))
        rows += _pair(f"{name} max forward", shape, pool_forward, torch_pool, torch, rounds)
        rows += _pair(f"{name} max fwd+bwd", shape, pool_both, torch_pool_both, torch, rounds)
    return rows


def _pair(op, shape, ours, theirs, torch, rounds) -> list[GpuRow]:
    torch_ms = None if theirs is None else time_ms(theirs, torch, rounds)
    return [GpuRow(op, shape, time_ms(ours, torch, rounds), torch_ms)]


def step_row(torch: ModuleType | None, rounds: int, rng: np.random.Generator) -> GpuRow:
    """One training step of the reference model (forward, backward, RMSprop) at batch 64."""
    from autoconv.course import reference_model

    model = reference_model()
    weights = model.get_weights()
    model.to("cuda").compile("rmsprop", "categorical_crossentropy")
    x = rng.random((BATCH, 28, 28, 1)).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 10, BATCH), 10)

    def step() -> None:  # the step fit runs (it reads back its loss, as train_on_batch does)
        model.train_on_batch(x, y)

    torch_step = None
    if torch is not None:
        torch_model = torch_reference_model(torch, weights).cuda()
        optimizer = torch.optim.RMSprop(torch_model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
        tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).cuda()
        ty = torch.from_numpy(y.argmax(axis=1)).cuda()

        def torch_step() -> None:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(torch_model(tx), ty).backward()
            optimizer.step()

    return _pair("train step", "reference model, batch 64", step, torch_step, torch, rounds)[0]


def epoch_rows(torch: ModuleType | None, x: np.ndarray, y: np.ndarray) -> list[GpuRow]:
    """Steady-state epoch seconds (the second of two epochs) over (x, y), batch 64."""
    from autoconv.course import reference_model

    model = reference_model().to("cuda")
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    training.warm_up(model, x[:BATCH], y[:BATCH])
    history = model.fit(x, y, epochs=2, batch_size=BATCH, verbose=0)
    ours = 1e3 * history.epoch_seconds[1]
    theirs = None
    if torch is not None:
        weights = reference_model().get_weights()
        torch_model = torch_reference_model(torch, weights).cuda()
        optimizer = torch.optim.RMSprop(torch_model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
        images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).cuda()
        labels = torch.from_numpy(y.argmax(axis=1)).cuda()
        for _ in range(2):
            synchronize(torch)
            started = time.perf_counter()
            order = torch.randperm(len(x), device="cuda")
            for start in range(0, len(x), BATCH):
                index = order[start : start + BATCH]
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(torch_model(images[index]), labels[index])
                loss.backward()
                optimizer.step()
            synchronize(torch)
            theirs = 1e3 * (time.perf_counter() - started)
    return [GpuRow("epoch (steady state)", f"{len(x)} samples, batch {BATCH}", ours, theirs)]


def run(torch: ModuleType | None, quick: bool = False, seed: int = 0) -> list[GpuRow]:
    """Every GPU row; with ``quick``, fewer rounds and no MNIST epoch."""
    torch = torch_cuda(torch)
    rng = np.random.default_rng(seed)
    rounds = 5 if quick else 20
    precision = ac.config.get_float32_matmul_precision()
    ac.config.set_float32_matmul_precision("highest")
    try:
        rows = [*layer_rows(torch, rounds, rng), step_row(torch, rounds, rng)]
        if not quick:
            from autoconv.course import load

            (x, y), _ = load("mnist", None, None)
            rows += epoch_rows(torch, x, y)
    finally:
        ac.config.set_float32_matmul_precision(precision)
    return rows


def as_dicts(rows: list[GpuRow]) -> list[dict]:
    return [asdict(row) | {"ratio_torch": row.ratio} for row in rows]


def table(rows: list[GpuRow]) -> str:
    """The rows as a fixed-width table; ratio = autoconv / PyTorch (below 1: autoconv wins)."""
    header = f"{'op':24s} {'shape':30s} {'autoconv ms':>11s} {'torch ms':>9s} {'ratio':>6s}"
    lines = [header, "-" * len(header)]
    for row in rows:
        torch_ms = "-" if row.torch_ms is None else f"{row.torch_ms:9.3f}"
        ratio = "-" if row.ratio is None else f"{row.ratio:6.2f}"
        lines.append(
            f"{row.op:24s} {row.shape:30s} {row.autoconv_ms:11.3f} {torch_ms:>9s} {ratio:>6s}"
        )
    return "\n".join(lines)
