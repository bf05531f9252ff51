"""Every float32 CUDA kernel compiles for an H100 (sm_90) without one float64 instruction:
literals and scalars are cast, so no kernel silently computes in double precision. And every
kernel a process compiled is loaded from numba-cuda's on-disk cache by the next process (the
warm-up of a second run).

Compiling needs NVVM and nvJitLink (``pip install "autoconv[cuda]"``) but no GPU. The kernels
are compiled in processes of their own (tests/backends/disk_cache.py, its list of kernels in
tests/backends/ptx_float64.py) because this one may have the CUDA simulator on: the first
compiles every kernel into an empty cache and counts float64 instructions in their PTX, the
next loads them; skipped where NVVM is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim


def compiled(script_name: str, **environment: str) -> dict:
    """The JSON a script of this folder prints, run without the simulator."""
    script = Path(__file__).with_name(script_name)
    env = os.environ | {"NUMBA_ENABLE_CUDASIM": "0"} | environment
    root = str(script.parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600
    )
    if done.returncode == 3:
        pytest.skip(f"no NVVM to compile with: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def first_compile(tmp_path_factory) -> tuple[Path, dict]:
    """Every kernel compiled in a new process with an empty disk cache: the cache folder and
    the process's report (each kernel's source, the float64 instructions of its PTX)."""
    cache = tmp_path_factory.mktemp("numba-cache")
    return cache, compiled("disk_cache.py", NUMBA_CACHE_DIR=str(cache))


def test_the_check_sees_float64(first_compile):
    assert first_compile[1]["float64"]["control"] > 0


def test_float32_kernels_have_no_float64_instruction(first_compile):
    counts = first_compile[1]["float64"]
    kernels = {name: n for name, n in counts.items() if name != "control"}
    assert len(kernels) >= 30 and kernels.keys() == first_compile[1]["sources"].keys()
    assert {name: n for name, n in kernels.items() if n} == {}


def test_every_kernel_loads_from_the_disk_cache_in_the_next_process(first_compile):
    cache, first = first_compile
    assert len(first["sources"]) >= 30
    assert set(first["sources"].values()) == {"miss"}
    assert list(cache.rglob("*.nbc"))  # the cubins, under the cache folder asked for
    second = compiled("disk_cache.py", NUMBA_CACHE_DIR=str(cache))
    assert second["sources"] == dict.fromkeys(first["sources"], "hit")
    assert second["float64"].keys() == {"control"}  # nothing compiled: every kernel loaded
