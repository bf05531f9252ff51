"""Backends: the kernels behind the ops, one module per device with the same function names.

The device is chosen here, in one place; ops call ``backend(tensor).im2col(...)`` and never
branch on the device themselves.

The contract (each takes and returns the device's arrays):
    im2col(x, win), col2im(cols, x_shape, win),
    max_pool_forward(x, win) -> (out, argmax), max_pool_backward(grad_out, argmax, x_shape, win),
    avg_pool_forward(x, win), avg_pool_backward(grad_out, x_shape, win).
"""

from __future__ import annotations

from types import ModuleType

from autoconv.tensor import Tensor, check_device


def backend(tensor: Tensor) -> ModuleType:
    """The kernel module for the device ``tensor`` lives on."""
    check_device(tensor.device)
    from autoconv.backends import cpu

    return cpu
