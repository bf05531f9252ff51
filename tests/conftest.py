"""Shared fixtures: a seeded RNG, PyTorch as a reference when it is installed, and the CUDA
device (the simulator, unless this machine has an NVIDIA GPU)."""

from __future__ import annotations

import atexit
import builtins
import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

# The CUDA tests run on numba's CUDA simulator where there is no GPU. The switch must be set
# before numba is first imported, so it is here, at the top of the first conftest pytest
# loads; it changes nothing for the CPU kernels. Set NUMBA_ENABLE_CUDASIM yourself to choose.
if "NUMBA_ENABLE_CUDASIM" not in os.environ and not Path("/dev/nvidiactl").exists():
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import numpy as np
import pytest

# The tests keep Python's compiled modules (__pycache__, ignored by git) even where
# PYTHONDONTWRITEBYTECODE is set, as in many containers: each test worker compiled autoconv and
# rewrote the ~300 test modules' asserts again, 15 of its 30 s of collecting, and each of the
# suite's command-line subprocesses compiled autoconv again (0.7 s); they read the files kept.
sys.dont_write_bytecode = False

# Keras's settings folder ($KERAS_HOME) is a temporary one in the tests: a developer's
# ~/.keras/keras.json (channels_first, float16) would change autoconv's and Keras's defaults,
# and importing either writes that file where there is none.
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="keras-home-")
atexit.register(shutil.rmtree, os.environ["KERAS_HOME"], ignore_errors=True)

# Scripts that make reference data with Keras (not installed for the tests) are not tests, nor
# are the compile scripts tests run in processes of their own (they need the simulator off).
collect_ignore = [
    "keras_reference",
    "backends/disk_cache.py",
    "backends/compile_together.py",
    "backends/sm90.py",
]


def freeze_heap() -> None:
    """Every object alive now (the modules imported: numba's, Keras's, PyTorch's) left out of
    the garbage collector's full collections (``gc.freeze``), which each went through them
    again: 0.4 s a collection once Keras and PyTorch are imported, in every ``clear_session``
    of either library and in Python's own."""
    gc.collect()
    gc.freeze()


def pytest_collection_finish(session: pytest.Session) -> None:
    freeze_heap()  # (the test modules and what they import)


@pytest.fixture(autouse=True)
def float32_products():
    """The GPU's float32 products in float32 ("highest") for every test, which holds them to
    the CPU's and NumPy's at float32's tolerance (``autoconv train`` in a test sets its own).
    TF32 ("high", the default) has tests of its own (tests/backends/test_cuda_tensor_cores.py,
    tests/test_gpu_models.py)."""
    from autoconv import config

    config.set_float32_matmul_precision("highest")


@pytest.fixture(autouse=True)
def fresh_names():
    """Automatic layer names start from ``conv2d``, ``dense``, ... in every test, as in a new
    Python session (Keras numbers them for the whole session)."""
    from autoconv.layers import clear_session

    clear_session(free_memory=False)  # (no garbage collection: it would slow every test)


@pytest.fixture
def matmul_kernel(monkeypatch):
    """Every CUDA matrix product on autoconv's own kernel rather than cuBLAS, for the tests of
    that kernel (on a GPU: the simulator has no cuBLAS, so its products take the kernel anyway)."""
    from autoconv.backends.cuda import gemm

    monkeypatch.setattr(gemm, "ROUTE", "autoconv")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def torch():
    """PyTorch in float64, or skip: it is a reference for the tests, never a requirement. The
    default dtype is put back afterwards (Keras on PyTorch, in other tests, needs float32's)."""
    first = "torch" not in sys.modules
    torch = pytest.importorskip("torch")
    if first:
        freeze_heap()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(previous)


@pytest.fixture
def without_matplotlib(monkeypatch):
    """Imports of matplotlib fail, as where the optional ``viz`` extra is not installed."""
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)


def away_from_zero(array: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """Move values out of (-margin, margin), keeping kinks like ReLU's far from finite steps."""
    return np.where(np.abs(array) < margin, np.sign(array + 1e-12) * margin + array, array)


def distinct(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Values all at least 0.01 apart (no ties for max), in random order."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.01 - size * 0.005).reshape(shape)


@pytest.fixture(scope="session")
def keras():
    """Real Keras 3 on its PyTorch backend, the reference the parity tests compare with, or
    skip (Keras and PyTorch are test extras)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    freeze_heap()
    return keras
