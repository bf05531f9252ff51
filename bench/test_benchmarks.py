"""pytest-benchmark view of the same cases `autoconv bench` runs (autoconv/benchmarks/cases.py):
every hot op at the reference model's shapes, a training step and inference, for autoconv,
plain NumPy and PyTorch (skipped when it is not installed), grouped so each table compares
the engines on one case.

    pytest bench/ --benchmark-only --benchmark-group-by=group --benchmark-columns=min,median,rounds

Each test first checks its engine's result against autoconv's (a fast wrong kernel fails),
and warms up so that Numba's compilation is never timed.
"""

from __future__ import annotations

import pytest

from autoconv.benchmarks.cases import cpu_cases
from autoconv.benchmarks.runner import ENGINES, check

try:
    import torch

    torch.set_num_threads(2)
except ImportError:
    torch = None

CASES = cpu_cases(torch)
IDS = [f"{case.op} {case.shape}".replace(" ", "_") for case in CASES]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("index", range(len(CASES)), ids=IDS)
def test_case(benchmark, index, engine):
    case = cpu_cases(torch)[index]  # fresh: a training step changes its model's weights
    if engine not in case.engines:
        pytest.skip("PyTorch is not installed")
    fn = case.engines[engine]
    if engine != "autoconv":  # both first calls start from the same weights and inputs
        expected = case.engines["autoconv"]()
        check(case, engine, fn(), expected)
    fn()  # warm-up
    benchmark.group = f"{case.op} {case.shape}"
    benchmark(fn)
