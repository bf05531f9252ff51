"""Matrix product."""

from __future__ import annotations

from typing import Any

import numpy as np

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
    try:
        out = a.data @ b.data
    except ValueError:
        raise ValueError(
            f"matmul: batch axes of {a.shape} and {b.shape} cannot broadcast"
        ) from None
    a_data, b_data = a.data, b.data

    def backward(g: np.ndarray):
        # Work with matrices: a vector a is (1, n), a vector b is (k, 1).
        a2 = a_data[None, :] if a_data.ndim == 1 else a_data
        b2 = b_data[:, None] if b_data.ndim == 1 else b_data
        g2 = g
        if a_data.ndim == 1:
            g2 = g2[..., None, :]
        if b_data.ndim == 1:
            g2 = g2[..., None]
        grad_a = grad_b = None
        if a.requires_grad:
            grad_a = g2 @ np.swapaxes(b2, -1, -2)
            grad_a = grad_a[..., 0, :] if a_data.ndim == 1 else grad_a
        if b.requires_grad:
            grad_b = np.swapaxes(a2, -1, -2) @ g2
            grad_b = grad_b[..., 0] if b_data.ndim == 1 else grad_b
        return grad_a, grad_b

    return record(out, (a, b), backward, "matmul")
