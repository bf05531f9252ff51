"""Times the cases: checks every engine against autoconv, warms up (JIT compile never counts),
takes the median of repeated runs, and relates the results to this machine's measured matmul
peak, all in one run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import ModuleType

import numpy as np

from autoconv.benchmarks.cases import Case, cpu_cases
from autoconv.process import configure_process

ENGINES = ("autoconv", "numpy", "torch")


class WrongResultError(AssertionError):
    """An engine's result differs from autoconv's: a fast wrong kernel must not pass."""


@dataclass
class Row:
    op: str
    shape: str
    ms: dict[str, float]  # median milliseconds per engine that ran
    best_ms: dict[str, float]  # fastest round: steadier under noise, used by the CI check
    gflops: float | None  # autoconv's GFLOP/s
    peak_percent: float | None  # of the matmul peak measured in the same run

    def ratio(self, engine: str, best: bool = False) -> float | None:
        """autoconv's time over ``engine``'s (below 1: autoconv is faster), of the medians or
        of the fastest rounds."""
        times = self.best_ms if best else self.ms
        if engine not in times or "autoconv" not in times:
            return None
        return times["autoconv"] / times[engine]


def timings(fn: Callable[[], object], warmup: int, min_rounds: int, min_time: float) -> list[float]:
    """Wall times of ``fn`` (seconds) after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_rounds or time.perf_counter() - started < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 1000:
            break
    return times


def matmul_peak_gflops(size: int = 2048, quick: bool = False) -> float:
    """float32 GFLOP/s of a large NumPy (BLAS) matrix product: this machine's practical peak."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(np.float32)
    b = rng.standard_normal((size, size)).astype(np.float32)
    out = np.empty_like(a)
    seconds = min(timings(lambda: np.matmul(a, b, out=out), 1, 3 if quick else 7, 0.0))
    return 2.0 * size**3 / seconds / 1e9


def check(case: Case, engine: str, result: np.ndarray, expected: np.ndarray) -> None:
    if result.shape != expected.shape or not np.allclose(
        result, expected, rtol=case.rtol, atol=case.atol
    ):
        worst = np.max(np.abs(result - expected)) if result.shape == expected.shape else "shape"
        raise WrongResultError(
            f"{case.op} ({case.shape}): {engine} differs from autoconv (max abs diff {worst})"
        )


def run_case(case: Case, quick: bool, peak: float | None) -> Row:
    expected = case.engines["autoconv"]()
    for engine, fn in case.engines.items():
        if engine != "autoconv":
            check(case, engine, fn(), expected)
    rounds, min_time = (5, 0.1) if quick else (10, 0.3)
    times = {engine: timings(fn, 2, rounds, min_time) for engine, fn in case.engines.items()}
    ms = {engine: 1e3 * float(np.median(t)) for engine, t in times.items()}
    best_ms = {engine: 1e3 * min(t) for engine, t in times.items()}
    gflops = case.flops / (ms["autoconv"] / 1e3) / 1e9 if case.flops else None
    percent = 100 * gflops / peak if gflops is not None and peak else None
    return Row(case.op, case.shape, ms, best_ms, gflops, percent)


def run(torch: ModuleType | None, quick: bool = False) -> tuple[list[Row], float]:
    """All rows, and the matmul peak they are related to. The process settings ``fit`` applies
    (:func:`autoconv.configure_process`) are applied first, so every engine is timed the way
    training runs."""
    configure_process()
    peak = matmul_peak_gflops(quick=quick)
    return [run_case(case, quick, peak) for case in cpu_cases(torch)], peak


def as_dicts(rows: list[Row]) -> list[dict]:
    return [
        asdict(row)
        | {f"ratio_{e}": row.ratio(e) for e in ENGINES if e != "autoconv"}
        | {f"best_ratio_{e}": row.ratio(e, best=True) for e in ENGINES if e != "autoconv"}
        for row in rows
    ]


def table(rows: list[Row], peak: float) -> str:
    """The rows as a fixed-width table, with ratios autoconv/engine (below 1: autoconv wins)."""

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    header = (
        f"{'op':30s} {'shape':27s} {'autoconv ms':>11s} {'numpy ms':>9s} {'torch ms':>9s} "
        f"{'/numpy':>7s} {'/torch':>7s} {'GFLOP/s':>8s} {'% peak':>7s}"
    )
    lines = [f"float32 matmul peak measured in this run: {peak:.0f} GFLOP/s", header]
    lines.append("-" * len(header))
    for row in rows:
        lines.append(
            f"{row.op:30s} {row.shape:27s} {row.ms['autoconv']:11.3f} "
            f"{fmt(row.ms.get('numpy'), '9.3f'):>9s} {fmt(row.ms.get('torch'), '9.3f'):>9s} "
            f"{fmt(row.ratio('numpy'), '7.2f'):>7s} {fmt(row.ratio('torch'), '7.2f'):>7s} "
            f"{fmt(row.gflops, '8.1f'):>8s} {fmt(row.peak_percent, '7.1f'):>7s}"
        )
    return "\n".join(lines)
