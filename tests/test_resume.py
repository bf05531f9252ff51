"""Resuming training (issue: train 2 epochs == train 1, save, load in a new process, train 1
more with initial_epoch=1): the same weights, as the optimizer state, the step count and the
shuffles all carry over."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import sys
import numpy as np
import autoconv as ac
from autoconv.course import prepare, reference_model

mode, path = sys.argv[1], sys.argv[2]
ac.utils.set_random_seed(7)
(x, y), _ = ac.datasets.mnist.load_data(download=False)
x, y = prepare(x[:640], y[:640], "mnist")
if mode == "resume":
    model = ac.load_model(path)
    model.fit(x, y, batch_size=64, epochs=2, initial_epoch=1, verbose=0)
else:
    model = reference_model()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=1 if mode == "first" else 2, verbose=0)
model.save(path)
np.savez(path + ".weights.npz", *model.get_weights(), iterations=model.optimizer.iterations)
"""


def run(mode: str, path: Path) -> dict:
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, str(path)], capture_output=True, text=True, env=env,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with np.load(str(path) + ".weights.npz") as f:
        return dict(f)


def test_two_epochs_equal_one_then_resume_in_a_new_process(tmp_path):
    straight = run("both", tmp_path / "straight.keras")
    run("first", tmp_path / "resumed.keras")
    resumed = run("resume", tmp_path / "resumed.keras")
    assert straight["iterations"] == resumed["iterations"] == 20
    for key in straight:
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-5, atol=1e-7, err_msg=key)
