"""2-D convolution (cross-correlation, no kernel flip), channels-last, by im2col + GEMM.

Forward: every output pixel's window is unrolled into a row of ``cols`` (the backend's
im2col kernel), so the convolution is one matrix product with the kernel reshaped to
(KH*KW*Cin, Cout). Backward reuses ``cols`` for the kernel gradient and runs the adjoint
scatter (col2im) for the input gradient. With ``activation='relu'`` the bias and ReLU are
applied in one pass over the product, and their gradients taken in one pass too.
"""

from __future__ import annotations

from typing import Any

import numpy as np  # noqa: F401 - the docstring example uses it

from autoconv.backends import backend
from autoconv.ops.base import as_tensor, as_tensors
from autoconv.ops.windows import window
from autoconv.tensor import Tensor, record


def conv2d(
    x: Any,
    w: Any,
    b: Any = None,
    stride: int | tuple[int, int] = 1,
    padding: str | int | tuple[int, int] = "valid",
    dilation: int | tuple[int, int] = 1,
    activation: str | None = None,
) -> Tensor:
    """Convolve images x (N, H, W, Cin) with kernels w (KH, KW, Cin, Cout), plus bias b (Cout,).

    Returns (N, OH, OW, Cout) with OH = floor((H + pad_h - dilation*(KH-1) - 1) / stride) + 1.
    ``padding``: 'valid' (none), 'same' (output ceil(H / stride), the odd extra row/column at
    the bottom/right, as Keras), an int or an (h, w) pair of ints for symmetric zero padding.
    ``activation='relu'`` fuses max(., 0) into the same pass as the bias (and its gradient
    into the bias gradient's pass): the same values as ``relu(conv2d(...))``, less memory.

    >>> x = Tensor(np.arange(16.0).reshape(1, 4, 4, 1))
    >>> conv2d(x, np.ones((3, 3, 1, 1))).shape
    (1, 2, 2, 1)
    """
    x, w = as_tensors(x, w, "conv2d")
    if x.ndim != 4:
        raise ValueError(f"conv2d: x must be (N, H, W, Cin), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"conv2d: w must be (KH, KW, Cin, Cout), got shape {w.shape}")
    n, _, _, c_in = x.shape
    kh, kw, w_c_in, c_out = w.shape
    if w_c_in != c_in:
        raise ValueError(
            f"conv2d: x has {c_in} channels (shape {x.shape}) but w expects {w_c_in} "
            f"(shape {w.shape})"
        )
    if activation not in (None, "relu"):
        raise ValueError(f"conv2d: activation must be None or 'relu', got {activation!r}")
    if min(w.shape) < 1 or n < 1:
        raise ValueError(f"conv2d: empty input or kernel: x {x.shape}, w {w.shape}")
    parents: tuple[Tensor, ...] = (x, w)
    if b is not None:
        b = as_tensor(b, like=x)
        if b.shape != (c_out,):
            raise ValueError(f"conv2d: b must have shape ({c_out},), got {b.shape}")
        parents = (x, w, b)
    win = window("conv2d", x.shape[1:3], (kh, kw), stride, dilation, padding)
    kernels = backend(x)

    relu = activation == "relu"
    cols = kernels.im2col(x.data, win)  # (N*OH*OW, KH*KW*Cin)
    w_matrix = w.data.reshape(kh * kw * c_in, c_out)
    out = kernels.matmul(cols, w_matrix)  # (N*OH*OW, Cout)
    if b is not None or relu:
        kernels.bias_relu(out, None if b is None else b.data, relu)
    x_shape = x.shape

    def backward(g):
        g_matrix = g.reshape(-1, c_out)  # (N*OH*OW, Cout)
        if relu:
            g_matrix, column_sums = kernels.relu_grad_and_column_sums(g_matrix, out)
        grad_x = grad_w = grad_b = None
        if x.requires_grad:
            grad_cols = kernels.matmul(g_matrix, w_matrix, transpose_b=True)
            grad_x = kernels.col2im(grad_cols, x_shape, win)
        if w.requires_grad:
            grad_w = kernels.matmul(cols, g_matrix, transpose_a=True).reshape(w.shape)
        if b is not None and b.requires_grad:
            grad_b = column_sums if relu else g_matrix.sum(axis=0)
        return (grad_x, grad_w, grad_b)[: len(parents)]

    return record(out.reshape(n, *win.out, c_out), parents, backward, "conv2d")
