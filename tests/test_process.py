"""Importing autoconv leaves the process alone; configure_process applies the settings, and
configure_process(enabled=False) keeps fit from applying them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_autoconv_changes_no_process_setting():
    assert run("import autoconv, numba; print(numba.config.THREADING_LAYER)") == "default"


def test_configure_process_chooses_sleeping_threads_and_is_idempotent():
    out = run(
        "import autoconv, numba\n"
        "first = autoconv.configure_process()\n"
        "assert autoconv.configure_process() is first\n"
        "print(first.threading_layer, numba.config.THREADING_LAYER)"
    )
    assert out == "workqueue workqueue"


@pytest.mark.parametrize(
    "call",
    ["fit(x, y, verbose=0)", "evaluate(x, y, verbose=0)", "predict(x, verbose=0)",
     "train_on_batch(x, y)", "predict_on_batch(x)"],
)  # fmt: skip
@pytest.mark.parametrize(("enabled", "expected"), [(True, "workqueue"), (False, "default")])
def test_model_work_applies_the_settings_unless_the_program_said_no(call, enabled, expected):
    out = run(
        "import numpy as np, numba, autoconv as ac\n"
        f"ac.configure_process(enabled={enabled})\n"
        "model = ac.Sequential([ac.layers.Dense(2, input_shape=(3,))])\n"
        "model.compile('sgd', 'mse')\n"
        "x, y = np.ones((4, 3)), np.ones((4, 2))\n"
        f"model.{call}\n"
        "print(numba.config.THREADING_LAYER)"
    )
    assert out == expected
