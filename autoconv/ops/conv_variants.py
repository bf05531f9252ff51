"""Depthwise and transposed 2-D convolution, channels-last (Keras's DepthwiseConv2D and
Conv2DTranspose; SeparableConv2D is a depthwise convolution followed by a 1x1 ``conv2d``).

A depthwise convolution convolves each input channel with its own kernels and never mixes
channels, so it is a direct per-channel convolution (its own backend kernels) rather than a
matrix product. A transposed convolution is the adjoint of a convolution: its forward is the
convolution's input gradient (a matrix product, then col2im) and its input gradient is the
convolution's forward (im2col, then a matrix product).
"""

from __future__ import annotations

from typing import Any

import numpy as np  # noqa: F401 - the docstring examples use it

from autoconv.backends import backend
from autoconv.ops.base import as_tensor, as_tensors
from autoconv.tensor import Tensor, record
from autoconv.windows import transpose_window, window


def depthwise_conv2d(
    x: Any,
    w: Any,
    b: Any = None,
    stride: int | tuple[int, int] = 1,
    padding: str | int | tuple[int, int] = "valid",
    dilation: int | tuple[int, int] = 1,
    relu_input: bool = False,
) -> Tensor:
    """Convolve each channel c of images x (N, H, W, C) with its own M kernels w[:, :, c, :]
    (w is (KH, KW, C, M), M the depth multiplier), plus bias b (C*M,).

    Returns (N, OH, OW, C*M): output channel c*M + m is channel c convolved with kernel m, as
    in Keras. Output size and ``padding`` as :func:`autoconv.conv2d`. ``relu_input=True``:
    of ``relu(x)``, applied as the kernels read x (a model's plan fuses a ReLU so).

    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)  # channels [0, 2, 4, 6] and [1, 3, 5, 7]
    >>> depthwise_conv2d(x, np.ones((2, 2, 2, 1))).numpy().reshape(-1)
    array([12., 16.])
    """
    x, w = as_tensors(x, w, "depthwise_conv2d")
    if x.ndim != 4:
        raise ValueError(f"depthwise_conv2d: x must be (N, H, W, C), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(
            f"depthwise_conv2d: w must be (KH, KW, C, depth_multiplier), got shape {w.shape}"
        )
    n, _, _, channels = x.shape
    kh, kw, w_channels, multiplier = w.shape
    if w_channels != channels:
        raise ValueError(
            "depthwise_conv2d: the number of input channels must match the kernel's input "
            f"channels. Received: input channels={channels}, kernel input channels={w_channels} "
            f"(x {x.shape}, w {w.shape})"
        )
    if min(w.shape) < 1 or n < 1:
        raise ValueError(f"depthwise_conv2d: empty input or kernel: x {x.shape}, w {w.shape}")
    depth = channels * multiplier
    parents: tuple[Tensor, ...] = (x, w)
    if b is not None:
        b = as_tensor(b, like=x)
        if b.shape != (depth,):
            raise ValueError(f"depthwise_conv2d: b must have shape ({depth},), got {b.shape}")
        parents = (x, w, b)
    win = window("depthwise_conv2d", x.shape[1:3], (kh, kw), stride, dilation, padding)
    kernels = backend(x)

    out = kernels.depthwise_conv(x.data, w.data, win, relu_input)  # (N, OH, OW, C*M)
    if b is not None:
        kernels.bias_relu(out.reshape(-1, depth), b.data, False)  # in place
    x_shape, w_shape = x.shape, w.shape

    def backward(g):
        grad_x = grad_w = grad_b = None
        if x.requires_grad and w.requires_grad:  # (one pass over x and g where it can)
            grad_x, grad_w = kernels.depthwise_conv_grads(x.data, g, w.data, win, relu_input)
        elif x.requires_grad:
            kept = x.data if relu_input else None
            grad_x = kernels.depthwise_conv_input_grad(g, w.data, x_shape, win, kept)
        elif w.requires_grad:
            grad_w = kernels.depthwise_conv_kernel_grad(x.data, g, w_shape, win, relu_input)
        if b is not None and b.requires_grad:
            grad_b = g.reshape(-1, depth).sum(axis=0)
        return (grad_x, grad_w, grad_b)[: len(parents)]

    return record(out, parents, backward, "depthwise_conv2d")


def conv2d_transpose(
    x: Any,
    w: Any,
    b: Any = None,
    stride: int | tuple[int, int] = 1,
    padding: str = "valid",
    output_padding: int | tuple[int, int] | None = None,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """The transposed convolution of images x (N, H, W, Cin) with kernels w (KH, KW, Cout,
    Cin) (Keras's Conv2DTranspose layout), plus bias b (Cout,): (N, OH, OW, Cout).

    Input pixel (i, j) adds x[n, i, j] @ w[a, b].T to output pixel (i*sh + a*dh - top,
    j*sw + b*dw - left): the adjoint of ``conv2d`` with the same kernel, stride and dilation.
    Output size per axis, with k' = dilation*(k-1) + 1 (Keras's rule): 'valid' gives
    (n-1)*s + k' + output_padding (None: max(k', s) - k'); 'same' gives n*s, or
    (n-1)*s + k' % 2 + output_padding when output_padding is given. ``output_padding`` must
    be less than the stride.

    >>> x = np.ones((1, 2, 2, 1))
    >>> conv2d_transpose(x, np.ones((2, 2, 1, 1)), stride=2).numpy()[0, :, :, 0].shape
    (4, 4)
    """
    x, w = as_tensors(x, w, "conv2d_transpose")
    if x.ndim != 4:
        raise ValueError(f"conv2d_transpose: x must be (N, H, W, Cin), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"conv2d_transpose: w must be (KH, KW, Cout, Cin), got shape {w.shape}")
    n, _, _, c_in = x.shape
    kh, kw, c_out, w_c_in = w.shape
    if w_c_in != c_in:
        raise ValueError(
            "conv2d_transpose: the number of input channels must match the kernel's input "
            f"channels. Received: input channels={c_in}, kernel input channels={w_c_in} "
            f"(x {x.shape}, w {w.shape}; w is (KH, KW, Cout, Cin))"
        )
    if min(w.shape) < 1 or min(x.shape) < 1:
        raise ValueError(f"conv2d_transpose: empty input or kernel: x {x.shape}, w {w.shape}")
    parents: tuple[Tensor, ...] = (x, w)
    if b is not None:
        b = as_tensor(b, like=x)
        if b.shape != (c_out,):
            raise ValueError(f"conv2d_transpose: b must have shape ({c_out},), got {b.shape}")
        parents = (x, w, b)
    # ``win`` is the window of the convolution this is the adjoint of: it reads the output
    # (N, OH, OW, Cout) and gives x's (H, W).
    win, out_size = transpose_window(
        "conv2d_transpose", x.shape[1:3], (kh, kw), stride, dilation, padding, output_padding
    )
    out_shape = (n, *out_size, c_out)
    kernels = backend(x)

    x_rows = x.data.reshape(-1, c_in)  # (N*H*W, Cin)
    w_matrix = w.data.reshape(kh * kw * c_out, c_in)
    cols = kernels.matmul(x_rows, w_matrix, transpose_b=True)  # (N*H*W, KH*KW*Cout)
    out = kernels.col2im(cols, out_shape, win)  # each window's values added where it reads
    if b is not None:
        kernels.bias_relu(out.reshape(-1, c_out), b.data, False)  # in place
    x_shape = x.shape

    def backward(g):
        g_cols = kernels.im2col(g, win)  # (N*H*W, KH*KW*Cout)
        grad_x = grad_w = grad_b = None
        if x.requires_grad:
            grad_x = kernels.matmul(g_cols, w_matrix).reshape(x_shape)
        if w.requires_grad:
            grad_w = kernels.matmul(g_cols, x_rows, transpose_a=True).reshape(w.shape)
        if b is not None and b.requires_grad:
            grad_b = g.reshape(-1, c_out).sum(axis=0)
        return (grad_x, grad_w, grad_b)[: len(parents)]

    return record(out, parents, backward, "conv2d_transpose")
