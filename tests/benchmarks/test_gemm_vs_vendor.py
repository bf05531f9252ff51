"""bench/gemm_vs_vendor.py: one training step's matrix products noted shape by shape and timed
with autoconv's product and PyTorch's, each in its own process (on the CPU here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


def test_the_mnist_steps_products_are_noted_and_timed_by_both_engines(tmp_path):
    report = tmp_path / "gemm.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gemm_vs_vendor.py"), "--device", "cpu",
         "--models", "mnist", "--repeats", "1", "--json", str(report)],
        capture_output=True, text=True, cwd=ROOT / "bench", timeout=600, check=True,
    )  # fmt: skip
    # The first dense layer's forward product (batch 64, 576 features in, 64 out), once per
    # step, among the step's products, each timed by both engines.
    row = r"^\| ([\d x]+) \(([-AB]+)\) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$"
    rows = re.findall(row, run.stdout, re.M)
    assert ("64 x 64 x 576", "-", "1") in [row[:3] for row in rows], run.stdout
    assert len(rows) >= 6 and all(float(row[3]) > 0 and float(row[4]) > 0 for row in rows)
    assert re.search(r"^\| the step's sum \| \| [\d.]+ \| [\d.]+ \| \|$", run.stdout, re.M)
    assert report.exists()
