"""Matrix product."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.ops.base import as_tensors
from autoconv.tensor import Tensor, record


def matmul(a: Any, b: Any) -> Tensor:
    """``a @ b`` with NumPy's rules: 1-D operands are vectors, leading axes broadcast.

    (..., n, k) @ (..., k, m) -> (..., n, m).
    """
    a, b = as_tensors(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dim, got {a.shape} and {b.shape}")
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if a.shape[-1] != inner_b:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not align "
            f"({a.shape[-1]} != {inner_b} on the contracted axis)"
        )
    # Work with matrices: a vector a is (1, n), a vector b is (k, 1); their axes are dropped
    # from the result again.
    xp = backend(a)
    a2 = a.data.reshape(1, -1) if a.ndim == 1 else a.data
    b2 = b.data.reshape(-1, 1) if b.ndim == 1 else b.data
    try:
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: batch axes of {a.shape} and {b.shape} cannot broadcast"
        ) from None
    rows, columns = a.shape[-2:-1] if a.ndim > 1 else (), b.shape[-1:] if b.ndim > 1 else ()
    out_shape = batch + rows + columns
    a_is_vector, b_is_vector = a.ndim == 1, b.ndim == 1

    def backward(g):
        g2 = g.reshape((*batch, a2.shape[-2], b2.shape[-1]))
        grad_a = grad_b = None
        if a.requires_grad:
            grad_a = xp.matmul(g2, b2, transpose_b=True)
            grad_a = (
                grad_a.reshape(grad_a.shape[:-2] + grad_a.shape[-1:]) if a_is_vector else grad_a
            )
        if b.requires_grad:
            grad_b = xp.matmul(a2, g2, transpose_a=True)
            grad_b = grad_b.reshape(grad_b.shape[:-1]) if b_is_vector else grad_b
        return grad_a, grad_b

    return record(xp.matmul(a2, b2).reshape(out_shape), (a, b), backward, "matmul")
