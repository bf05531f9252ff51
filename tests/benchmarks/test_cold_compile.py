"""bench/cold_compile.py lists a model's cold-start kernels on the simulator and compiles each for
sm_90 without a GPU: every recorded kernel is made again from its factory call and compiled,
and the Winograd images' gradient compiles its gather's terms through one device function."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba_cuda")

ROOT = Path(__file__).resolve().parents[2]


def test_every_kernel_of_mnists_cold_start_is_compiled():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cold_compile.py"), "--functions"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    if done.returncode == 3:
        pytest.skip(f"no NVVM to compile with: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = re.findall(r"^\| (fit, epoch \d|predict) \| (\S+) \| (\d+)", done.stdout, re.M)
    assert "left out" not in done.stdout, done.stdout
    for phase in ("fit, epoch 1", "predict"):
        kernels = sum(row[0] == phase for row in rows)
        assert kernels > 0 and f"{phase}: {kernels} kernels," in done.stdout, done.stdout
    names = {name for _, name, _ in rows}
    assert {"_conv_max_pool_2x2", "_matmul_kernel", "_check_step"} <= names, names
    gather = [int(count) for _, name, count in rows if name == "_input_tiles_grad"]
    assert gather and gather[0] <= 8, done.stdout  # 21 when each tile's terms had a function


def test_the_first_epochs_kernels_compile_as_on_a_gpu_with_workers():
    """--workers: every kernel of the first epoch ready through compiling.compile_together (its
    workers tested in tests/backends/test_cuda_compiling.py), timed."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cold_compile.py"), "--workers", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    if done.returncode == 3:
        pytest.skip(f"no NVVM to compile with: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(
        r"^fit, epoch 1: (\d+) kernels compiled in [\d.]+ s by this process and 1 workers "
        r"\((\d+) by the workers\)$", done.stdout, re.M,
    )  # fmt: skip
    assert found and int(found[1]) >= 15 and int(found[2]) <= int(found[1]), done.stdout
