"""bench/cuda_launches.py counts a course model's kernel launches per training step on the CUDA
simulator (kernels not run): the issue's bound for MNIST, and the bigger models' batches run
whole on the GPU, each step replayed as one graph."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba_cuda")

ROOT = Path(__file__).resolve().parents[2]


def count(*args: str) -> tuple[float, str]:
    """The launches per step the script prints, and its whole output."""
    script = ROOT / "bench" / "cuda_launches.py"
    run = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, cwd=ROOT,
        timeout=600, check=True,
    )  # fmt: skip
    per_step = re.search(r": ([\d.]+) launches per step", run.stdout)
    assert per_step, run.stdout + run.stderr
    return float(per_step.group(1)), run.stdout


@pytest.mark.parametrize(
    ("args", "most", "kernels"),
    [
        ((), 30, 28),  # the reference model at batch 64: at most 30 kernels a step
        # 630 when its convolutions ran one image at a time; its first layer's kernel gradient
        # is 2 kernels, not 1, since it is summed in parts (backends/cuda/conv_pool.py)
        (("--model", "rgb"), 40, 33),
    ],
)
def test_a_step_is_a_few_dozen_launches_replayed_as_one(args, most, kernels):
    per_step, output = count(*args)
    assert per_step <= most, output
    assert f"A replayed step is {kernels} kernels" in output
    # the epoch's replayed steps (8 and 4 here) fit in one launch of 512 kernels
    assert re.search(r"the (\d+) replayed steps in 1 launches of \[\1\] steps", output), output


@pytest.mark.parametrize(
    ("args", "launches"),
    [
        # as many steps as hold 100 kernels (3 of 28) a launch, counted from the epoch's first
        (("--launch-kernels", "100"), "8 replayed steps in 4 launches of [1, 3, 3, 1] steps"),
        # steps_per_execution: whole executions a launch, or each its own with 0
        (("64", "4"), "8 replayed steps in 1 launches of [8] steps"),
        (("64", "4", "--launch-kernels", "0"), "8 replayed steps in 3 launches of [2, 4, 2] steps"),
    ],
)
def test_replayed_steps_are_launched_several_at_once(args, launches):
    _, output = count(*args)
    assert launches in output, output


def test_the_host_part_of_a_replayed_step_is_timed_without_its_kernels():
    _, output = count("--host-time", "1")
    timed = re.search(
        r"host time of a replayed step.*: ([\d.]+) us \(median of 1 epochs of 937", output
    )
    assert timed and float(timed.group(1)) > 0, output


def test_train_on_batch_calls_replay_their_step_from_call_to_call():
    """A custom loop's train_on_batch calls: each replays the step fit replays (26 kernels
    here: fit's epoch gathers its batches on the device, these are copied into place), with
    the metrics' and status's resets of each call launched besides (one launch each)."""
    per_step, output = count("--on-batch")
    assert "replayed: 8 of the epoch's 10 steps" in output, output
    assert "A replayed step is 26 kernels" in output, output
    assert per_step <= 32, output
