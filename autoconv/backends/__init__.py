"""Backends: the kernels behind the ops, one package per device with the same names.

The device is chosen here, in one place: ``namespace(device)`` (or ``backend(tensor)``) returns
the backend module, and ops call ``xp.exp(...)``, ``xp.matmul(...)``, ``xp.im2col(...)`` on it
without ever branching on the device. On the CPU the arrays are NumPy arrays; on the GPU they
are :class:`autoconv.backends.cuda.CudaArray` and every function is a numba.cuda kernel. The
names every backend defines, with their signatures, are the code of
:mod:`autoconv.backends.contract`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

DEVICES = ("cpu", "cuda")
CUDA_INSTALL_HINT = 'pip install "autoconv[cuda]"'


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


def _load_cuda() -> ModuleType:
    try:
        import numba_cuda  # noqa: F401 - the numba-cuda package, which provides numba.cuda
    except ImportError:
        raise DeviceUnavailableError(
            "device 'cuda' needs the numba-cuda package, which is not installed; install it "
            f"with: {CUDA_INSTALL_HINT}"
        ) from None
    from autoconv.backends import cuda

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
