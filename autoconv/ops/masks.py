"""0/1 masks made from comparisons of a tensor's values on its own device, and the choices
they make: Keras's ``ops.where`` and integer casts as the image ops and the augmentation layers
need them inside a training step, without reading a value back to the host (a step the GPU
replays runs them again on the new batch).

A condition is a comparison of backend arrays, ``x.data > 0``: a NumPy bool array on the CPU,
a 0/1 array on the GPU. The masks are constants (no gradient flows into a condition);
:func:`choose` is differentiable in both of its choices.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.tensor import Tensor


def mask(condition: Any, like: Tensor) -> Tensor:
    """``condition`` (a comparison of backend arrays) as a constant 0/1 tensor of ``like``'s
    dtype on its device."""
    return Tensor(condition.astype(like.dtype, copy=False), device=like.device)


def choose(chosen: Tensor, a: Tensor | float, b: Tensor | float) -> Tensor:
    """``a`` where the 0/1 mask ``chosen`` is 1, else ``b`` (both finite), differentiable in
    each: Keras's ``ops.where``."""
    return a * chosen + b * (1.0 - chosen)


def truncated(x: Tensor) -> Tensor:
    """x rounded toward zero, as a constant (Keras's cast to an integer type: no gradient)."""
    return Tensor(x.data.astype(np.int32).astype(x.dtype), device=x.device)


def floored(x: Tensor) -> Tensor:
    """x rounded down, as a constant (``floor``: no gradient)."""
    toward_zero = truncated(x)
    return toward_zero - mask(x.data < toward_zero.data, x)
