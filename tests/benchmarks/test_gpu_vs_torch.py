"""bench/gpu_vs_torch.py stopped mid-run (a lease's ``timeout`` sends SIGTERM) kills the child at
work and still prints the table and writes the JSON of the children it finished."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_stopped_run_reports_the_children_it_finished(tmp_path):
    report = tmp_path / "bench.json"
    command = [
        sys.executable, str(ROOT / "bench" / "gpu_vs_torch.py"), "--device", "cpu",
        "--engines", "autoconv", "--models", "mnist,rgb", "--rounds", "1", "--epochs", "2",
        "--steps", "2", "--mnist-limit", "256", "--infer-images", "256", "--json", str(report),
    ]  # fmt: skip
    bench = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    lines = []
    for line in bench.stdout:  # until MNIST's child has reported: the rgb one is at work
        lines.append(line)
        if line.startswith("round 1/1  mnist"):
            break
    bench.send_signal(signal.SIGTERM)
    rest, _ = bench.communicate(timeout=120)
    output = "".join(lines) + rest
    assert bench.returncode == 0, output
    assert "Stopped after 1 children" in output, output
    mnist = next(
        line for line in output.splitlines() if line.startswith("| MNIST course convnet b64")
    )
    rgb = next(line for line in output.splitlines() if line.startswith("| flowers 180x180x3 b32"))
    assert mnist.split("|")[2].strip() not in ("—", "") and rgb.split("|")[2].strip() == "—"
    children = json.loads(report.read_text())["children"]
    assert [(c["model"], c["engine"]) for c in children] == [("mnist", "autoconv")]
