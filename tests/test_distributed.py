"""Data-parallel training over MPI (autoconv.distributed). The tests marked ``mpi`` start
``mpiexec -n 2`` on tests/mpi_worker.py (or the command line) and compare what the two
processes did with the same training in this one process; they skip where MPI is not installed
(``pip install "autoconv[mpi]"``). The rest need no MPI."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from autoconv import distributed
from autoconv.cli import main
from tests import mpi_worker

ROOT = Path(__file__).resolve().parents[1]
MPIEXEC = distributed.find_mpiexec()


def needs_mpi(test):
    """Marked ``mpi``, and skipped where MPI is not installed."""
    reason = 'MPI is not installed: pip install "autoconv[mpi]"'
    return pytest.mark.mpi(pytest.mark.skipif(MPIEXEC is None, reason=reason)(test))


def run(*args: str, cwd: Path = ROOT, processes: int = 2) -> tuple[Any, float]:
    """``mpiexec -n processes python args...`` (or ``python args...`` with processes 0), with this
    checkout on the path; returns the finished process and the seconds it took."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    launcher = [MPIEXEC, "-n", str(processes)] if processes else []
    started = time.perf_counter()
    done = subprocess.run(
        [*launcher, sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd,
        timeout=300,
    )  # fmt: skip
    return done, time.perf_counter() - started


def weights(path: Path) -> list[np.ndarray]:
    with np.load(path) as arrays:
        return [arrays[f"arr_{i}"] for i in range(len(arrays.files))]


# ---------------------------------------------------------------------- without MPI
def test_importing_autoconv_does_not_import_mpi4py():
    code = "import sys, autoconv; print('mpi4py' in sys.modules, autoconv.distributed.current())"
    done, _ = run("-c", code, processes=0)
    assert done.stdout.split() == ["False", "None"], done.stderr


@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize(("start", "stop"), [(0, 64), (64, 86), (128, 129), (5, 5)])
def test_shares_cover_a_batch_in_order_within_one_sample(start, stop, size):
    shares = [distributed.share(start, stop, rank, size) for rank in range(size)]
    assert shares[0][0] == start and shares[-1][1] == stop
    assert all(a[1] == b[0] for a, b in itertools.pairwise(shares))
    counts = [last - first for first, last in shares]
    assert max(counts) - min(counts) <= 1 and counts == sorted(counts, reverse=True)


@pytest.mark.parametrize(
    ("environ", "size"),
    [({}, 1), ({"PMI_SIZE": "4"}, 4), ({"OMPI_COMM_WORLD_SIZE": "2"}, 2), ({"PMI_SIZE": ""}, 1)],
)
def test_launched_size_reads_the_process_managers_variables(environ, size):
    assert distributed.launched_size(environ) == size


def test_initialize_without_mpi4py_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now fails
    with pytest.raises(distributed.MPIUnavailableError, match=r'pip install "autoconv\[mpi\]"'):
        distributed.initialize()
    assert distributed.current() is None


def test_workers_without_mpi_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(distributed, "find_mpiexec", lambda: None)
    result = CliRunner().invoke(main, ["train", "mnist", "--workers", "2"])
    assert result.exit_code == 1
    assert result.output == (
        'Error: --workers needs MPI, which is not installed: pip install "autoconv[mpi]"\n'
    )


def test_more_workers_than_samples_per_batch_is_a_usage_error():
    result = CliRunner().invoke(main, ["train", "mnist", "--workers", "3", "--batch-size", "2"])
    assert result.exit_code == 2
    assert "3 workers for a --batch-size of 2" in result.output


def test_workers_must_match_the_processes_mpiexec_started(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    result = CliRunner().invoke(main, ["train", "mnist", "--workers", "3"])
    assert result.exit_code == 2
    assert "--workers 3, but mpiexec started 2 processes" in result.output


def test_a_folder_or_a_dataset_is_not_split_between_processes(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    result = CliRunner().invoke(main, ["train", str(tmp_path), "--workers", "2"])
    assert result.exit_code == 2 and "a FOLDER trains in one process" in result.output

    import autoconv as ac

    model = ac.Sequential([ac.Input(shape=(2,)), ac.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    data = ac.data.Dataset.from_tensor_slices((np.ones((4, 2), np.float32), np.zeros(4))).batch(2)
    monkeypatch.setattr(distributed, "current", lambda: object())  # as if under mpiexec
    with pytest.raises(ValueError, match="a Dataset is not split between processes"):
        model.fit(data, verbose=0)


# ------------------------------------------------------------- two processes (mpiexec)
@pytest.fixture(scope="module", params=["train", "train-polled"])
def trained(tmp_path_factory, request):
    """Both runs of tests/mpi_worker.py's ``train`` over two processes: (folder, stdout); the
    logs read over the processes a fifth of a second apart, or after every step (as a busy
    machine's slow steps have them: a read once added every process's metric totals into
    each process's own, for good)."""
    out = tmp_path_factory.mktemp("mpi")
    done, _ = run("tests/mpi_worker.py", request.param, str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done.stdout


@pytest.mark.parametrize("name", sorted(mpi_worker.RUNS))
@needs_mpi
def test_two_processes_at_32_train_as_one_process_at_64(trained, name):
    """ "uneven": 150 samples, batches of 64, 64, 22 (shares 32/32 and 11/11), MPI's sum.
    "idle": 129 samples, a last batch of one sample (process 1 has none), the sum in rank
    order. Both start from different weights on each process (fit sends process 0's)."""
    out, _ = trained
    samples, _ = mpi_worker.RUNS[name]
    expected = mpi_worker.train(samples)
    got = weights(out / f"{name}-weights-0.npz")
    trainable = [0, 1, 3, 4]  # conv kernel and bias, dense kernel and bias; 2: the moving mean
    for i in trainable:
        np.testing.assert_allclose(got[i], expected["weights"][i], rtol=1e-5, atol=1e-6)
    if name == "uneven":  # equal shares: the average of the moving means is the moving mean
        np.testing.assert_allclose(got[2], expected["weights"][2], rtol=1e-5, atol=1e-6)
    report = json.loads((out / f"{name}-0.json").read_text())
    for key, values in expected["history"].items():
        np.testing.assert_allclose(report["history"][key], values, rtol=1e-5)
    np.testing.assert_allclose(report["evaluate"], expected["evaluate"], rtol=1e-5)


@needs_mpi
def test_every_process_ends_with_the_same_weights_and_logs(trained):
    out, _ = trained
    for name in mpi_worker.RUNS:
        first, second = (weights(out / f"{name}-weights-{rank}.npz") for rank in (0, 1))
        assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
        reports = [json.loads((out / f"{name}-{rank}.json").read_text()) for rank in (0, 1)]
        assert reports[0] == reports[1]


@needs_mpi
def test_only_process_0_prints_and_writes_files(trained):
    out, stdout = trained
    assert stdout.count("Epoch 1/3") == len(mpi_worker.RUNS)
    assert stdout.count("3/3 - ") == 3 * len(mpi_worker.RUNS)
    assert sorted(p.name for p in (out / "rank0").iterdir()) == sorted(
        f"{name}{suffix}" for name in mpi_worker.RUNS for suffix in (".csv", ".weights.h5")
    )
    assert list((out / "rank1").iterdir()) == []
    rows = (out / "rank0" / "uneven.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # the header and one row per epoch, written once


@needs_mpi
def test_a_batch_smaller_than_the_processes_is_a_clear_error(trained):
    out, _ = trained
    for rank in (0, 1):
        message = (out / f"batch-error-{rank}.txt").read_text()
        assert message.startswith("fit: batch_size 1 is smaller than the number of processes (2)")


@needs_mpi
def test_a_failing_process_stops_every_process_within_seconds(tmp_path):
    done, seconds = run("tests/mpi_worker.py", "fail", str(tmp_path))
    assert done.returncode != 0
    assert seconds < 60  # process 0 would otherwise wait in the next Allreduce forever
    assert "RuntimeError: a failure on process 1 only" in done.stderr
    assert "process 1 of 2 failed: RuntimeError: a failure on process 1 only" in done.stderr
    assert "Stopping all 2 processes." in done.stderr


@needs_mpi
@pytest.mark.cudasim
def test_gpu_gradients_through_host_memory_or_on_the_device(tmp_path):
    """Two processes on the CUDA device (the simulator where there is no GPU) train as one
    process on the CPU: with the gradients through host memory, and summed on the device (the
    path of a CUDA-aware MPI, whose own sum of device memory is stubbed here)."""
    done, _ = run("tests/mpi_worker.py", "gpu", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    expected = mpi_worker.train_gpu("cpu")
    for path, rank in itertools.product(("host", "direct"), (0, 1)):
        got = weights(tmp_path / f"gpu-{path}-weights-{rank}.npz")
        for a, b in zip(got, expected["weights"], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        history = json.loads((tmp_path / f"gpu-{path}-{rank}.json").read_text())
        np.testing.assert_allclose(history["loss"], expected["history"]["loss"], rtol=1e-5)


@pytest.mark.cudasim
def test_processes_on_one_machine_share_its_cores_for_kernel_compiles(monkeypatch):
    """Choosing this process's GPU also sizes its compile workers for the processes beside it
    (autoconv/backends/cuda/compiling.py: share_cores)."""
    pytest.importorskip("numba_cuda")
    from autoconv.backends.cuda import compiling

    shared: list[int] = []
    monkeypatch.setattr(compiling, "share_cores", shared.append)
    world = distributed.World.__new__(distributed.World)  # (no MPI needed to choose a GPU)
    world.local_rank, world.local_size = 0, 3
    world.select_gpu()
    assert shared == [3]


@needs_mpi
def test_cli_workers_starts_mpiexec_and_process_0_reports(tmp_path):
    args = ["train", "mnist", "--workers", "2", "--limit", "128", "--epochs", "1", "--seed", "1"]
    done, _ = run("-m", "autoconv", *args, "--json", "--save", "m.keras", cwd=tmp_path, processes=0)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()  # one report: process 0's
    report = json.loads(line)
    assert report["workers"] == 2 and report["train_samples"] == 128
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]
    done, _ = run("-m", "autoconv", *args, cwd=tmp_path, processes=0)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Workers: 2 processes (MPI), each batch of 64 split among them") == 1
    assert done.stdout.count("Test accuracy:") == 1
