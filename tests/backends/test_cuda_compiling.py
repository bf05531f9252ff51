"""A batch of launches' kernels compiled together (autoconv/backends/cuda/compiling.py): by this
process and worker processes at once, each worker's kernel the same code as this process's,
saved in the disk cache for the next process; a worker that fails costs nothing but time.

The compiles run in processes of their own without the simulator and without a GPU
(tests/backends/compile_together.py, answered as an H100 by sm90.py); skipped where NVVM or
nvJitLink is missing. The queue that hands a recorded step's launches to ``prepare`` is tested
with the recordings, in test_cuda_capture.py."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from autoconv.backends.cuda import compiling  # noqa: E402 - needs numba-cuda

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# A worker that starts, then answers every kernel with None (a compile that failed).
FAILING = """
import sys
from autoconv.backends.cuda.compiling import read_message, write_message
replies = sys.stdout.buffer
read_message(sys.stdin.buffer)
write_message(replies, "ready")
while read_message(sys.stdin.buffer) is not None:
    write_message(replies, None)
"""


def compile_together(cache: Path, workers: int, *command: str) -> dict:
    """compile_together.py's report: six kernels compiled with ``workers`` workers started by
    ``command`` (the real worker by default), with the disk cache in ``cache``."""
    env = os.environ | {"NUMBA_ENABLE_CUDASIM": "0", "NUMBA_CACHE_DIR": str(cache)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(HERE / "compile_together.py"), str(workers), *command],
        capture_output=True, text=True, env=env, cwd=HERE, timeout=600,
    )  # fmt: skip
    if done.returncode == 3:
        pytest.skip(f"no NVVM or nvJitLink to compile with: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def sources(report: dict) -> dict[str, str]:
    return {name: kernel["source"] for name, kernel in report["kernels"].items()}


@pytest.fixture(scope="module")
def cold(tmp_path_factory) -> tuple[Path, dict]:
    """The six kernels compiled into an empty disk cache by this process and one worker."""
    cache = tmp_path_factory.mktemp("numba-cache")
    return cache, compile_together(cache, 1)


def test_a_worker_and_this_process_compile_the_kernels_together(cold):
    report = cold[1]
    assert set(sources(report).values()) == {"worker", "here"}, report
    assert report["workers"] == list(sources(report).values()).count("worker")


def test_a_workers_kernel_is_the_code_this_process_compiles(cold):
    assert all(kernel["same_ptx"] for kernel in cold[1]["kernels"].values()), cold[1]


def test_the_next_process_loads_every_kernel_from_the_disk_cache(cold):
    cache, first = cold
    second = compile_together(cache, 1)
    assert sources(second) == dict.fromkeys(first["kernels"], "cache")
    assert second["workers"] == 0
    assert all(kernel["same_ptx"] for kernel in second["kernels"].values()), second


@pytest.mark.parametrize(
    "worker",
    [
        pytest.param([sys.executable, "-c", "import sys; sys.exit(1)"], id="ends-at-once"),
        pytest.param([sys.executable, "-c", FAILING], id="fails-every-compile"),
        pytest.param([str(HERE / "no-such-worker")], id="cannot-start"),
    ],
)
def test_kernels_a_worker_leaves_are_compiled_here(tmp_path, worker):
    report = compile_together(tmp_path, 2, *worker)
    assert report["workers"] == 0
    assert sources(report) == dict.fromkeys(report["kernels"], "here")
    assert all(kernel["same_ptx"] for kernel in report["kernels"].values()), report


def test_messages_go_through_a_pipe_whole():
    stream = io.BytesIO()
    messages = ["ready", 3, None, b"\x00" * 70_000]
    for message in messages:
        compiling.write_message(stream, message)
    stream.seek(0)
    assert [compiling.read_message(stream) for _ in messages] == messages
    with pytest.raises(EOFError):
        compiling.read_message(stream)
    compiling.write_message(truncated := io.BytesIO(), "a message")
    with pytest.raises(EOFError, match="inside a message"):
        compiling.read_message(io.BytesIO(truncated.getvalue()[:-2]))


@pytest.mark.parametrize(("variable", "workers"), [("0", 0), ("5", 5)])
def test_the_environment_sets_the_number_of_workers(variable, workers):
    code = "from autoconv.backends.cuda import compiling; print(compiling.WORKERS)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, timeout=120,
        env=os.environ | {"AUTOCONV_COMPILE_WORKERS": variable, "NUMBA_ENABLE_CUDASIM": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) == workers


@pytest.mark.parametrize(("variable", "processes"), [("", 1), ("", 2), ("", 10_000), ("5", 2)])
def test_processes_on_one_machine_share_its_cores(variable, processes):
    code = (
        "import os; from autoconv.backends.cuda import compiling; print(compiling.WORKERS); "
        f"compiling.share_cores({processes}); print(compiling.WORKERS)"
    )
    env = os.environ | {"AUTOCONV_COMPILE_WORKERS": variable, "NUMBA_ENABLE_CUDASIM": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    alone, shared = map(int, done.stdout.split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert alone == (5 if variable else max(0, min(8, cores - 1)))
    assert shared == (5 if variable else max(0, min(8, cores // processes - 1)))
    if processes == 10_000 and not variable:
        assert shared == 0


# A cold start of MNIST's course model on a GPU: two epochs of six batches, the kernels that
# workers compiled counted.
COLD_START = """
import json
import numpy as np
import autoconv as ac
from autoconv import course
from autoconv.backends.cuda import compiling
taken = []
add = compiling._add
compiling._add = lambda *args: taken.append(add(*args)) or taken[-1]
ac.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.random((6 * 64, 28, 28, 1), dtype=np.float32)
y = ac.utils.to_categorical(rng.integers(0, 10, len(x)), 10)
model = course.reference_model((28, 28, 1)).to("cuda")
model.compile("rmsprop", "categorical_crossentropy")
history = model.fit(x, y, batch_size=64, epochs=2, verbose=0).history
print(json.dumps({"loss": history["loss"], "from_workers": sum(taken)}))
"""


@pytest.mark.gpu
def test_a_cold_start_on_a_gpu_compiles_with_workers_and_trains_as_without(tmp_path):
    from autoconv.backends import cuda as cu

    if cu.SIMULATED:
        pytest.skip("needs a real GPU (this run uses the CUDA simulator)")
    runs = {}
    for workers in (0, 4):
        env = os.environ | {
            "NUMBA_CACHE_DIR": str(tmp_path / str(workers)),  # empty: every kernel compiled
            "AUTOCONV_COMPILE_WORKERS": str(workers),
        }
        done = subprocess.run(
            [sys.executable, "-c", COLD_START], capture_output=True, text=True, env=env,
            timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        runs[workers] = json.loads(done.stdout.splitlines()[-1])
    assert runs[0]["from_workers"] == 0
    assert runs[4]["from_workers"] >= 4, runs  # of the first step's ~19 kernels
    assert runs[4]["loss"] == runs[0]["loss"]  # the same kernels: the same bits
