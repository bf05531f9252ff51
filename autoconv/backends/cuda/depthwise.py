"""The depthwise convolution on the GPU: its forward, input gradient and kernel gradient (its
parts a run, then the column sums), and both gradients in one pass where the output has the
input's size; the names of :mod:`autoconv.backends.cpu.conv`. The kernels, each compiled for
one window and depth multiplier, are in :mod:`autoconv.backends.cuda.depthwise_kernels`; here
the choices between them and their launches."""

from __future__ import annotations

import numpy as np

from autoconv.backends import bounds
from autoconv.backends.cuda import runtime
from autoconv.backends.cuda.array import CudaArray, empty
from autoconv.backends.cuda.conv import _strips
from autoconv.backends.cuda.depthwise_kernels import (
    GRADS_BLOCKS,
    PARTS_BLOCKS,
    PARTS_LINES,
    STRIP,
    DepthwiseKernels,
    depthwise_kernels,
)
from autoconv.backends.cuda.reduce import column_sums
from autoconv.backends.cuda.runtime import configure, launch_lines
from autoconv.windows import Window

# Whether depthwise_conv_grads takes both gradients in one pass where it can (read at each
# call; False: the two kernels, to compare them on a GPU).
ONE_PASS = True
# Whether the forward and the one-pass gradients walk their strips down the image's columns
# where the window moves down one input row an output row (vertical stride and dilation 1:
# every depthwise convolution of keras-io's Xception), or along its rows (read at each call;
# False: the row walks, to compare them on a GPU). Down a column a thread reads one new input
# row a strip and keeps the window's other rows in registers, where along a row it reads the
# window's kh rows a strip: for a 3x3 strip inside the image, sm_90's path is 82 instructions
# with 6 loads where the row walk's is 123 with 18, and the one pass's 154 with 12 where it
# was 210 with 36 (bench/cuda_resources.py --blocks). Not yet timed on a GPU:
# on an H200 the row walk's largest forward moved 2.1 TB/s of its images where the batch
# normalization moved 3.9 (bench/results/2026-11-27-gpu-h200-lease).
COLUMN_WALK = True


def _depthwise_for(
    win: Window, multiplier: int, dtype: np.dtype, relu: bool, *arrays: CudaArray
) -> DepthwiseKernels:
    """:func:`depthwise_kernels` for ``win`` and ``multiplier`` kernels a channel, walked down
    the columns where :func:`_columns` says, with the offsets that ``arrays`` need."""
    window = (*win.kernel, *win.stride, *win.dilation)
    wide = runtime.wide_offsets(*arrays)
    return depthwise_kernels(*window, multiplier, dtype.str, relu, wide, _columns(win))


def depthwise_conv(x: CudaArray, w: CudaArray, win: Window, relu: bool = False) -> CudaArray:
    """Each channel c of x (N, H, W, C) convolved with its own kernels w[:, :, c, m] (w is
    (KH, KW, C, M)): (N, OH, OW, C*M), output channel c*M + m from kernel m. ``relu``: of
    max(x, 0)."""
    channels = bounds.images("depthwise_conv", "x", x)[3]
    bounds.depthwise_kernel("depthwise_conv", w.shape, channels, win)
    out = empty((x.shape[0], *win.out, x.shape[3] * w.shape[3]), x.dtype)
    if out.size:
        kernels = _depthwise_for(win, w.shape[3], x.dtype, relu, x, out)
        forward = kernels.forward
        launch_lines(forward, out.shape[3], _strips(out.shape, STRIP))(
            x.flat, x.shape, w.flat, win.pad_top, win.pad_left, out.flat, out.shape,
            x.dtype.type(0),
        )  # fmt: skip
    return out


def depthwise_conv_input_grad(
    grad_out: CudaArray, w: CudaArray, x_shape: tuple[int, ...], win: Window,
    relu_of: CudaArray | None = None,
) -> CudaArray:  # fmt: skip
    """The gradient of :func:`depthwise_conv` with respect to x (N, H, W, C); with ``relu_of``
    (the x of a forward with ``relu``), through that ReLU too: 0 where x was not positive."""
    bounds.depthwise_output("depthwise_conv_input_grad", grad_out, x_shape, w.shape, win)
    if relu_of is not None:
        bounds.shape_is("depthwise_conv_input_grad", "relu_of", relu_of, x_shape)
    grad_x = empty(x_shape, grad_out.dtype)
    if grad_x.size:
        kept = grad_x if relu_of is None else relu_of  # grad_x's place: not read
        relu = relu_of is not None
        kernels = _depthwise_for(win, w.shape[3], grad_out.dtype, relu, grad_out, grad_x)
        launch_lines(kernels.input_grad, x_shape[3], _strips(x_shape, STRIP))(
            grad_out.flat, grad_out.shape, w.flat, win.pad_top, win.pad_left, grad_x.flat,
            tuple(x_shape), grad_out.dtype.type(0), kept.flat,
        )  # fmt: skip
    return grad_x


def depthwise_conv_kernel_grad(
    x: CudaArray, grad_out: CudaArray, w_shape: tuple[int, ...], win: Window,
    relu: bool = False,
) -> CudaArray:  # fmt: skip
    """The gradient of :func:`depthwise_conv` (``relu``: of max(x, 0)) with respect to w
    (KH, KW, C, M): each thread
    sums a tap's products over its run of strips of output pixels (PARTS_LINES times as many
    as the line layout's a thread), then the runs' sums are added down their columns (two
    launches, the same bits every run)."""
    bounds.depthwise_output("depthwise_conv_kernel_grad", grad_out, x.shape, w_shape, win)
    depth, taps = grad_out.shape[3], w_shape[0] * w_shape[1]
    per_thread = PARTS_LINES * runtime.RUN_LINES
    span, across, along, run, lanes = runtime.line_layout(
        depth, _strips(grad_out.shape, STRIP), per_thread, PARTS_BLOCKS
    )
    parts = empty((along * lanes, taps * depth), grad_out.dtype)
    kernels = _depthwise_for(win, w_shape[3], grad_out.dtype, relu, x, grad_out)
    configure(kernels.kernel_grad_parts, (across, along), runtime.THREADS)(
        x.flat, x.shape, grad_out.flat, grad_out.shape, win.pad_top, win.pad_left, parts.flat,
        grad_out.dtype.type(0), span, run,
    )  # fmt: skip
    return column_sums(parts).reshape(w_shape)


def _columns(win: Window) -> bool:
    """Whether the forward and the one-pass gradients walk down the columns (COLUMN_WALK and a
    window that moves one input row an output row)."""
    return COLUMN_WALK and win.stride[0] == 1 and win.dilation[0] == 1


def _one_pass(x_shape: tuple[int, ...], w_shape: tuple[int, ...], win: Window) -> bool:
    """Whether :func:`depthwise_conv_grads` takes both gradients in one pass (unless not
    ONE_PASS): the output has the input's size (stride 1) and the padding is centred (an odd
    kernel's "same"), one kernel a channel. Then a strip's window of x and the output
    gradients its input gradient gathers lie at the same places (every SeparableConv2D of
    keras-io's Xception)."""
    kh, kw, _, multiplier = w_shape
    (dh, dw), (pt, pl) = win.dilation, (win.pad_top, win.pad_left)
    return (
        ONE_PASS
        and multiplier == 1
        and win.stride == (1, 1)
        and tuple(win.out) == tuple(x_shape[1:3])
        and kh % 2 == 1
        and kw % 2 == 1
        and 2 * pt == (kh - 1) * dh
        and 2 * pl == (kw - 1) * dw
    )


def depthwise_conv_grads(
    x: CudaArray, grad_out: CudaArray, w: CudaArray, win: Window, relu: bool = False
) -> tuple[CudaArray, CudaArray]:
    """Both gradients of :func:`depthwise_conv` (``relu``: of max(x, 0)): (grad_x through the
    ReLU, grad_w), the values of :func:`depthwise_conv_input_grad` and
    :func:`depthwise_conv_kernel_grad`. Where :func:`_one_pass` holds, one launch reads each
    strip's window of x and of grad_out once for both (two reads of each, and a prologue and
    stepping a strip, saved), then the kernel gradient's column sums; else the two kernels."""
    channels = bounds.images("depthwise_conv_grads", "x", x)[3]
    bounds.depthwise_kernel("depthwise_conv_grads", w.shape, channels, win)
    bounds.depthwise_output("depthwise_conv_grads", grad_out, x.shape, w.shape, win)
    if not _one_pass(x.shape, w.shape, win) or x.size == 0:
        return (
            depthwise_conv_input_grad(grad_out, w, x.shape, win, x if relu else None),
            depthwise_conv_kernel_grad(x, grad_out, w.shape, win, relu),
        )
    grad_x = empty(x.shape, grad_out.dtype)
    taps = w.shape[0] * w.shape[1]
    per_thread = PARTS_LINES * runtime.RUN_LINES
    span, across, along, run, lanes = runtime.line_layout(
        channels, _strips(x.shape, STRIP), per_thread, GRADS_BLOCKS
    )
    parts = empty((along * lanes, taps * channels), grad_out.dtype)
    kernels = _depthwise_for(win, 1, grad_out.dtype, relu, x, grad_out)
    grads_parts = kernels.grads_parts
    configure(grads_parts, (across, along), runtime.THREADS)(
        x.flat, x.shape, grad_out.flat, w.flat, win.pad_top, win.pad_left, grad_x.flat,
        parts.flat, grad_out.dtype.type(0), span, run,
    )  # fmt: skip
    return grad_x, column_sums(parts).reshape(w.shape)
