"""Importing autoconv leaves the process alone; configure_process applies the settings, and
configure_process(enabled=False) keeps fit from applying them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoconv import process

ROOT = Path(__file__).resolve().parents[1]


def run(code: str, **variables: str) -> str:
    unset = ("NUMBA_THREADING_LAYER", "OPENBLAS_THREAD_TIMEOUT")
    env = {k: v for k, v in os.environ.items() if k not in unset} | variables
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# Prints the timeout each OpenBLAS in the process read (0: none set), one per line.
BLAS_TIMEOUTS = (
    "import ctypes\n"
    "from autoconv.backends.cpu.blas import openblas_libraries\n"
    "for library in openblas_libraries():\n"
    "    library.openblas_thread_timeout.restype = ctypes.c_int\n"
    "    print(library.openblas_thread_timeout())\n"
)


def test_importing_autoconv_changes_no_process_setting():
    assert run("import autoconv, numba; print(numba.config.THREADING_LAYER)") == "default"
    assert set(run("import autoconv\n" + BLAS_TIMEOUTS).split()) <= {"0"}


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
     "train_on_batch(x, y)", "predict_on_batch(x)", "__call__(x)"],
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


def test_configure_process_restarts_openblas_threads_to_sleep_sooner():
    """NumPy's OpenBLAS (where it is one) re-reads its thread timeout as BLAS_THREAD_TIMEOUT
    and its products stay right; a timeout the user set is kept, and nothing is restarted."""
    out = run(
        "import numpy as np, autoconv\n"
        "a = np.arange(40000.0, dtype=np.float32).reshape(200, 200) / 4e4\n"
        "before = a @ a\n"
        "settings = autoconv.configure_process()\n"
        "np.testing.assert_array_equal(a @ a, before)\n"
        "print(settings.blas_threads_sleep_sooner)\n" + BLAS_TIMEOUTS
    )
    applied, *timeouts = out.split()
    assert applied == str(bool(timeouts))
    assert set(timeouts) <= {str(process.BLAS_THREAD_TIMEOUT)}
    out = run(
        "import autoconv\n"
        "print(autoconv.configure_process().blas_threads_sleep_sooner)\n" + BLAS_TIMEOUTS,
        OPENBLAS_THREAD_TIMEOUT="9",
    )
    applied, *timeouts = out.split()
    assert applied == "False" and set(timeouts) <= {"9"}
