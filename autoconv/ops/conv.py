"""2-D convolution (cross-correlation, no kernel flip), channels-last, by im2col + GEMM.

Forward: every output pixel's window is unrolled into a row of ``cols`` (the backend's
im2col kernel), so the convolution is one matrix product with the kernel reshaped to
(KH*KW*Cin, Cout). Backward reuses ``cols`` for the kernel gradient and runs the adjoint
scatter (col2im) for the input gradient. With ``activation='relu'`` the bias and ReLU are
applied in one pass over the product, and their gradients taken in one pass too.

``conv2d_max_pool`` is ``max_pool2d(conv2d(...))`` with the bias and ReLU applied inside the
pooling pass: the full-size activation is never written back, and the backward masks the
pooled gradient (a quarter of the size for 2x2 pools) before routing it to the winners. Output
rows and columns that no pooling window reads (the last of 11 under 2x2 'valid' pools) are
not computed at all.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np  # noqa: F401 - the docstring example uses it

from autoconv.backends import backend
from autoconv.ops.base import as_tensor, as_tensors
from autoconv.ops.pool import Size
from autoconv.tensor import Tensor, record
from autoconv.windows import Window, pool_window, window


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
    return _conv2d(x, w, b, stride, padding, dilation, activation, pool=None)


def conv2d_max_pool(
    x: Any,
    w: Any,
    b: Any = None,
    stride: int | tuple[int, int] = 1,
    padding: str | int | tuple[int, int] = "valid",
    dilation: int | tuple[int, int] = 1,
    activation: str | None = None,
    pool_size: Size = 2,
    pool_strides: Size | None = None,
    pool_padding: str = "valid",
) -> Tensor:
    """``max_pool2d(conv2d(x, w, b, stride, padding, dilation, activation), pool_size,
    pool_strides, pool_padding)`` in fewer passes over the convolution's output.

    The same values and gradients, up to the summation order of the matrix products (which
    skip the rows and columns no pooling window reads) and of the bias gradient.
    ``Sequential`` uses it for a Conv2D followed by a MaxPooling2D.

    >>> x = Tensor(np.arange(36.0).reshape(1, 6, 6, 1))
    >>> conv2d_max_pool(x, np.ones((3, 3, 1, 1))).numpy()[0, :, :, 0]
    array([[126., 144.],
           [234., 252.]])
    """
    return _conv2d(
        x, w, b, stride, padding, dilation, activation, (pool_size, pool_strides, pool_padding)
    )


def _conv2d(x, w, b, stride, padding, dilation, activation, pool) -> Tensor:
    """The convolution, optionally followed by max pooling with ``pool`` = (size, strides,
    padding); the bias and ReLU go in the pass after the product (the pooling's, if any)."""
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
    pool_win = None
    if pool is not None:
        pool_win = pool_window("conv2d_max_pool", (n, *win.out, c_out), *pool)
        win = _read_by(pool_win, win, x.shape[1:3])
    conv_shape = (n, *win.out, c_out)
    kernels = backend(x)

    relu = activation == "relu"
    bias = None if b is None else b.data
    cols = kernels.im2col(x.data, win)  # (N*OH*OW, KH*KW*Cin)
    w_matrix = w.data.reshape(kh * kw * c_in, c_out)
    out = kernels.matmul(cols, w_matrix)  # (N*OH*OW, Cout)
    if pool_win is not None:
        out, argmax = kernels.max_pool_forward(out.reshape(conv_shape), pool_win, bias, relu)
    elif b is not None or relu:
        kernels.bias_relu(out, bias, relu)
    x_shape = x.shape

    def backward(g):
        g_out = g.reshape(-1, c_out)  # (rows of this op's output, Cout)
        if relu:  # masked where the ReLU cut (at the pooled size when pooled), and summed
            g_out, g_bias = kernels.relu_grad_and_column_sums(g_out, out.reshape(-1, c_out))
        elif b is not None and b.requires_grad:
            g_bias = g_out.sum(axis=0)
        g_matrix = g_out  # (N*OH*OW, Cout): the gradient of the product
        if pool_win is not None:  # each pooled gradient goes to its window's winner
            g_pooled = g_out.reshape(out.shape)
            g_matrix = kernels.max_pool_backward(g_pooled, argmax, conv_shape, pool_win)
            g_matrix = g_matrix.reshape(-1, c_out)
        grad_x = grad_w = grad_b = None
        if x.requires_grad:
            grad_cols = kernels.matmul(g_matrix, w_matrix, transpose_b=True)
            grad_x = kernels.col2im(grad_cols, x_shape, win)
        if w.requires_grad:
            grad_w = kernels.matmul(cols, g_matrix, transpose_a=True).reshape(w.shape)
        if b is not None and b.requires_grad:
            grad_b = g_bias
        return (grad_x, grad_w, grad_b)[: len(parents)]

    if pool_win is None:
        return record(out.reshape(conv_shape), parents, backward, "conv2d")
    return record(out, parents, backward, "conv2d_max_pool")


def _read_by(pool_win: Window, win: Window, image: tuple[int, int]) -> Window:
    """The convolution window ``win`` over ``image`` (H, W), cut down to the output rows and
    columns that pooling with ``pool_win`` reads: 'valid' windows that do not tile the output
    (2x2 on 11x11) leave out the last ones, whose values are never used and whose gradient is
    zero, so they are not computed."""
    read = tuple(
        min(out, (pooled - 1) * stride - pad + size)
        for out, pooled, stride, pad, size in zip(
            win.out, pool_win.out, pool_win.stride, (pool_win.pad_top, pool_win.pad_left),
            pool_win.kernel, strict=True,
        )
    )  # fmt: skip
    if read == win.out:
        return win
    pad_after = tuple(
        max(0, (out - 1) * stride + dilation * (kernel - 1) + 1 - size - pad)
        for out, stride, dilation, kernel, size, pad in zip(
            read, win.stride, win.dilation, win.kernel, image, (win.pad_top, win.pad_left),
            strict=True,
        )
    )  # fmt: skip
    return dataclasses.replace(win, out=read, pad_bottom=pad_after[0], pad_right=pad_after[1])
