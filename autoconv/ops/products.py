"""Matrix product."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.ops.base import as_tensors
from autoconv.tensor import Tensor, record


def matmul(a: Any, b: Any, bias: Any = None, relu: bool = False) -> Tensor:
    """``a @ b`` with NumPy's rules: 1-D operands are vectors, leading axes broadcast.

    (..., n, k) @ (..., k, m) -> (..., n, m); then + ``bias`` (m,) and max(., 0) if ``relu``
    (Dense's), in the product's pass, and back through them in one pass (``bias_relu_grad``).
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
    if b.ndim == 1:  # a vector: a matrix of one column, which the result drops
        out = matmul(a, b.reshape(-1, 1), bias, relu)
        return out.reshape(out.shape[:-1])
    if a.ndim == 1:  # a matrix of one row
        out = matmul(a.reshape(1, -1), b, bias, relu)
        return out.reshape(out.shape[:-2] + out.shape[-1:])
    parents = (a, b) if bias is None else (a, b, as_tensors(bias, a, "matmul")[0])
    if bias is not None and parents[2].shape != b.shape[-1:]:
        raise ValueError(f"matmul: bias of shape {parents[2].shape} for columns of {b.shape}")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: batch axes of {a.shape} and {b.shape} cannot broadcast"
        ) from None
    xp = backend(a)
    out = xp.matmul(a.data, b.data, bias=None if bias is None else parents[2].data, relu=relu)

    def backward(g):
        grad_bias = None
        if len(parents) == 3 or relu:  # through the epilogue: the mask and the bias's sums
            matrix = (-1, out.shape[-1])
            g, grad_bias = xp.bias_relu_grad(g.reshape(matrix), out.reshape(matrix), relu)
            g = g.reshape(out.shape)
        grad_a, grad_b = xp.matmuls(  # one launch on the GPU
            (g, b.data, False, True) if a.requires_grad else None,
            (a.data, g, True, False) if b.requires_grad else None,
        )
        return (grad_a, grad_b, grad_bias)[: len(parents)]

    return record(out, parents, backward, "matmul")
