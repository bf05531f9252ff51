"""Backends: the kernels behind the ops, one module per device with the same names.

The device is chosen here, in one place: ``namespace(device)`` (or ``backend(tensor)``) returns
the module, and ops call ``xp.exp(...)``, ``xp.matmul(...)``, ``xp.im2col(...)`` on it without
ever branching on the device. On the CPU the arrays are NumPy arrays and most functions are
NumPy's; on the GPU they are :class:`autoconv.backends.cuda.CudaArray` and every function is
a numba.cuda kernel. Both arrays support the Python operators and ``sum``/``max``/
``reshape``/``transpose``/``astype``.

The contract (every module defines these names):
    arrays: asarray, to_numpy, zeros, zeros_like, ones_like, copy, broadcast_to, expand_dims,
        swapaxes, getitem, scatter_add, take, one_hot, argmax, count_correct, random_uniform
    maths: exp, log, tanh, abs, sqrt, maximum, minimum, matmul(a, b, transpose_a, transpose_b),
        log_softmax, softmax_cross_entropy -> (log_probs, mean loss),
        softmax_cross_entropy_grad
    convolution and pooling: im2col(x, win), col2im(cols, x_shape, win), bias_relu,
        relu_grad_and_column_sums, max_pool_forward(x, win, bias, relu) -> (out, argmax),
        max_pool_backward(grad_out, argmax, x_shape, win), avg_pool_forward(x, win),
        avg_pool_backward(grad_out, x_shape, win)
    optimizers: sgd_update, rmsprop_update, adam_update (in place, skipped once status is set)
    training: new_status, check_finite, accumulate
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoconv.tensor import Tensor

DEVICES = ("cpu", "cuda")
CUDA_INSTALL_HINT = 'pip install "autoconv[cuda]"'


class DeviceUnavailableError(RuntimeError):
    """The device exists in autoconv but cannot be used here (library or GPU missing)."""


_modules: dict[str, ModuleType] = {}


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
    return cuda


def array_device(array: Any) -> str:
    """'cuda' for a CudaArray, 'cpu' for anything else (NumPy arrays, scalars, lists)."""
    return "cuda" if getattr(array, "device", None) == "cuda" else "cpu"


def backend(tensor: Tensor) -> ModuleType:
    """The kernel module for the device ``tensor`` lives on."""
    return namespace(tensor.device)
