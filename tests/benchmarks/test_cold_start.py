"""bench/cold_start.py splits a GPU process's phases by what it was doing: its ledger books each
timed call's seconds to the innermost kind, its hooks sit where numba-cuda compiles (checked
here on the real CUDA target without a GPU: NVVM), and without a GPU it stops with one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import cold_start  # noqa: E402


class Clock:
    """A perf_counter that moves only when work "takes" seconds: exact figures."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(cold_start, "time", fake)
    return fake


def taking(clock, seconds, inner=None):
    def work():
        clock.now += seconds
        if inner is not None:
            inner()
        clock.now += seconds

    return work


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_nested_seconds_count_for_the_innermost_kind(clock, depth):
    ledger = cold_start.Ledger()
    work = None
    kinds = ["front end", "NVVM", "assembly"][:depth]
    for kind in reversed(kinds):  # the first kind outermost
        work = ledger.timed(kind, taking(clock, 1.0, work))
    row = ledger.phase("nested", taking(clock, 0.5, work))
    assert row["wall"] == 2 * depth + 1.0
    assert {kind: row["split"][kind] for kind in kinds} == dict.fromkeys(kinds, 2.0)
    assert row["rest"] == 1.0
    assert row["counts"]["front end"] == 1


def test_counts_follow_the_result_and_phases_are_differences():
    ledger = cold_start.Ledger()
    load = ledger.timed("cache loads", lambda hit: hit, counts=lambda kernel: kernel)
    first = ledger.phase("one hit", lambda: (load(True), load(None)))
    second = ledger.phase("two hits", lambda: (load(True), load(True)))
    assert first["counts"]["cache loads"] == 1 and second["counts"]["cache loads"] == 2


def test_an_exception_still_books_its_seconds(clock):
    ledger = cold_start.Ledger()

    def fails():
        clock.now += 0.25
        raise ValueError("no")

    failing = ledger.timed("cuBLAS", fails)
    with pytest.raises(ValueError):
        failing()
    assert ledger.seconds["cuBLAS"] == 0.25 and ledger.counts["cuBLAS"] == 1


def run_python(code: str, simulated: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": simulated,
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "bench")])}  # fmt: skip
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_the_hooks_see_numba_cudas_nvvm_compile():
    pytest.importorskip("numba_cuda")
    done = run_python(
        """
        import sys
        import cold_start
        from numba import cuda
        from numba.cuda.cudadrv.error import NvvmSupportError

        ledger = cold_start.Ledger()
        cold_start.time_compiles(ledger)

        def kernel(out):
            out[cuda.grid(1)] = 1.0

        try:
            row = ledger.phase("ptx", lambda: cuda.compile_ptx(kernel, "(float32[:],)", cc=(9, 0)))
        except NvvmSupportError:
            sys.exit(3)
        print(row["split"]["NVVM"], row["split"]["front end"])
        """,
        simulated="0",
    )
    if done.returncode == 3:
        pytest.skip("no NVVM to compile with")
    assert done.returncode == 0, done.stderr[-2000:]
    nvvm, front_end = map(float, done.stdout.split())
    assert nvvm > 0 and front_end == 0  # compile_ptx makes no _Kernel: no kernel to load


@pytest.mark.parametrize("simulated", ["0", "1"])
def test_without_a_gpu_it_stops_with_one_line(simulated):
    pytest.importorskip("numba_cuda")
    if simulated == "0":
        probe = run_python("from numba import cuda; print(cuda.is_available())", simulated)
        if probe.stdout.strip() == "True":
            pytest.skip("a GPU is here: the tool would measure it")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": simulated}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "cold_start.py")], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 3, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        "no GPU to start on: this measures a GPU process (the simulator compiles nothing)"
    ]
