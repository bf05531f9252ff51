"""Backends: the kernels behind the ops, one package per device with the same names.

The device is chosen here, in one place: ``namespace(device)`` (or ``backend(tensor)``) returns
the backend module, and ops call ``xp.exp(...)``, ``xp.matmul(...)``, ``xp.im2col(...)`` on it
without ever branching on the device. On the CPU the arrays are NumPy arrays; on the GPU they
are :class:`autoconv.backends.cuda.CudaArray` and every function is a numba.cuda kernel. The
names every backend defines, with their signatures, are the code of
:mod:`autoconv.backends.contract`. :func:`gpu_usable` says whether a real GPU can run here (what
the device "auto" of :mod:`autoconv.config` picks by).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from importlib import metadata
from types import ModuleType
from typing import Any

DEVICES = ("cpu", "cuda")
CUDA_INSTALL_HINT = 'pip install "autoconv[cuda]"'
NUMPY_FIX = 'pip install "numpy<2.5"'


class DeviceUnavailableError(RuntimeError):
    """The device exists in autoconv but cannot be used here (library or GPU missing)."""


_modules: dict[str, ModuleType] = {}
_cuda_setup: list[Callable[[], None]] = []


def before_cuda_loads(action: Callable[[], None]) -> None:
    """Run ``action`` when the CUDA backend loads, before anything is made on the GPU (now, if it
    already has). :func:`autoconv.distributed.initialize` gives each process its own GPU so."""
    if "cuda" in _modules:
        action()
    else:
        _cuda_setup.append(action)


def namespace(device: str) -> ModuleType:
    """The kernel module for ``device`` ('cpu' or 'cuda'); a clear error if it cannot run."""
    module = _modules.get(device)
    if module is not None:
        return module
    if device == "cpu":
        from autoconv.backends import cpu as module
    elif device == "cuda":
        module = _load_cuda()
    else:
        raise ValueError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    _modules[device] = module
    return module


def check_device(device: str) -> str:
    """Return ``device`` if autoconv can run on it here, else raise a clear error: ValueError
    for an unknown name, DeviceUnavailableError saying what is missing and how to fix it."""
    namespace(device)
    return device


def gpu_usable() -> bool:
    """Whether a real NVIDIA GPU can run the CUDA backend here: numba-cuda installed, at a
    version that works with this NumPy, and a GPU it sees. The CUDA simulator does not count
    (it runs the CUDA code on the CPU, far slower, for the tests). Never raises."""
    try:
        if importlib.util.find_spec("numba_cuda") is None or numpy_conflict() is not None:
            return False
        import numba

        if numba.config.ENABLE_CUDASIM:
            return False
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # a broken CUDA install is no usable GPU
        return False


def gpu_name() -> str:
    """The name of the GPU the CUDA backend runs on ("NVIDIA H200"), or "numba-cuda's
    simulator" under the simulator. Call it where the CUDA backend can run."""
    from numba import cuda

    name = getattr(cuda.get_current_device(), "name", "numba-cuda's simulator")
    return name.decode() if isinstance(name, bytes) else str(name)


def numpy_conflict() -> str | None:
    """Why the installed numba-cuda cannot run with the installed NumPy (numba-cuda 0.30 and
    older fail with NumPy 2.5 and newer), in one line with the fix; None when they work
    together, or numba-cuda is not installed."""
    try:
        numba_cuda = metadata.version("numba-cuda")
    except metadata.PackageNotFoundError:
        return None
    numpy = metadata.version("numpy")
    if _release(numpy) >= (2, 5) and _release(numba_cuda) < (0, 31):
        return (
            f"device 'cuda': numba-cuda {numba_cuda} does not work with NumPy {numpy} (NumPy "
            f"2.5 and newer need a later numba-cuda); install an older NumPy with: {NUMPY_FIX}"
        )
    return None


def _release(version: str) -> tuple[int, ...]:
    """The release numbers a version starts with: ``"2.5.0rc1"`` -> (2, 5, 0)."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(n) for n in match.group().split(".")) if match else ()


def _load_cuda() -> ModuleType:
    conflict = numpy_conflict()
    if conflict is not None:
        raise DeviceUnavailableError(conflict)
    try:
        import numba_cuda  # noqa: F401 - the numba-cuda package, which provides numba.cuda
    except ImportError:
        raise DeviceUnavailableError(
            "device 'cuda' needs the numba-cuda package, which is not installed; install it "
            f"with: {CUDA_INSTALL_HINT}"
        ) from None
    try:
        from autoconv.backends import cuda
    except ModuleNotFoundError as missing:
        if missing.name != "greenlet":
            raise
        raise DeviceUnavailableError(
            "device 'cuda' on numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) runs a block's "
            f"threads as greenlets, and the greenlet package is not installed; install it with: "
            f"{CUDA_INSTALL_HINT}"
        ) from None
    if not cuda.available():
        raise DeviceUnavailableError(
            "device 'cuda': numba-cuda is installed but sees no usable NVIDIA GPU. Check that "
            "`nvidia-smi` lists one (install or update the NVIDIA driver), and that the CUDA "
            f"runtime libraries are installed ({CUDA_INSTALL_HINT} brings them). "
            "To run the CUDA code without a GPU, on the slow simulator, set "
            "NUMBA_ENABLE_CUDASIM=1 before starting Python."
        )
    for action in _cuda_setup:
        action()
    return cuda


def release_work_arrays() -> None:
    """Release the big arrays the CPU backend keeps for reuse while nothing uses them
    (:mod:`autoconv.backends.cpu.workspace`); arrays in use are not touched."""
    from autoconv.backends.cpu import workspace

    workspace.clear()


def array_device(array: Any) -> str:
    """'cuda' for a CudaArray, 'cpu' for anything else (NumPy arrays, scalars, lists)."""
    return "cuda" if getattr(array, "device", None) == "cuda" else "cpu"


def backend(tensor: Any) -> ModuleType:
    """The kernel module for the device ``tensor`` (anything with a ``.device``) lives on."""
    return namespace(tensor.device)
