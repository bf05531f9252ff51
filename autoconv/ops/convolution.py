"""2-D and 1-D convolution (cross-correlation, no kernel flip), channels-last, by im2col +
GEMM.

Forward: every output pixel's window is unrolled into a row of ``cols`` (the backend's
im2col kernel), so the convolution is one matrix product with the kernel reshaped to
(KH*KW*Cin, Cout). It runs a slice of images at a time (the backend's SLICE_BYTES: the CPU's
stay in cache), forward and backward: the backward unrolls each slice again for the kernel
gradient (a batch within the backend's WHOLE_BATCH_BYTES runs whole and keeps its windows) and
the adjoint scatter (col2im) gives the input gradient. With ``activation='relu'`` the bias and
ReLU are applied in one pass over the product, and their gradients taken in one pass too.

``conv2d_max_pool`` is ``max_pool2d(conv2d(...))`` with the bias and ReLU applied inside the
pooling pass: the full-size activation is never written back, and the backward masks the
pooled gradient (a quarter of the size for 2x2 pools) before routing it to the winners. Output
rows and columns that no pooling window reads (the last of 11 under 2x2 'valid' pools) are
not computed at all. Over images of few channels that need no gradient (a model's first layer),
with a 2x2 pool, it runs as a direct convolution that never unrolls the images nor writes the
full-size output, and whose backward takes the kernel gradient from each window's winner
(DIRECT_MAX_CHANNELS); a 3x3 one at stride 1 over many channels runs by Winograd F(2x2, 3x3),
each pool window's outputs from the 4x4 tile under it (WINOGRAD_MIN_CHANNELS).

Grouped convolution (``groups``) unrolls every group with one im2col and multiplies each
group's columns by its own kernel matrix in one batched product. ``conv1d`` is the 2-D
convolution of images of height 1. A pointwise convolution (1x1, stride 1) multiplies the
images themselves, unrolling nothing, the whole batch at once.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.ops import single_filter
from autoconv.ops.base import as_tensor, as_tensors
from autoconv.ops.pool import Size
from autoconv.tensor import Tensor, is_grad_enabled, record
from autoconv.windows import Window, is_int, pool_window, window, window_1d

# A Conv2D + 2x2 MaxPooling2D over images of at most DIRECT_MAX_CHANNELS channels, into at least
# DIRECT_MIN_FILTERS filters, whose input needs no gradient (a model's first layer) runs as a
# direct convolution fused with the pool (the backend's ``conv_max_pool_2x2``): im2col would
# unroll each pixel 9 times into a product of depth 9 or 27, which BLAS runs slowly. Training
# steps alternating with the unrolled route: MNIST 1.11x, flowers 1.08x, the 150x150 stack
# 1.25x (the kernels have got faster since). Below 16 filters its loops ran at 2-4 GFLOP/s.
DIRECT_MAX_CHANNELS = 4
DIRECT_MIN_FILTERS = 16

# A 3x3 Conv2D at stride 1 + 2x2 MaxPooling2D over images of at least WINOGRAD_MIN_CHANNELS
# channels runs by Winograd F(2x2, 3x3) (_winograd_conv_max_pool): 2.25x fewer multiplications
# in its products than im2col's, and nothing unrolled. Alternating with the unrolled route in
# one process: training steps MNIST 1.145x, the 150x150 stack 1.175x, the flowers classifier
# 1.004x (from 16 channels, its 16 -> 32 conv too: 0.964x); predict MNIST 1.089x, stack 1.159x,
# flowers 1.021x (16: 1.052x). See bench/results/2026-11-23-cpu-winograd.md.
WINOGRAD_MIN_CHANNELS = 32

# G g G^T of every 3x3 kernel g as one matrix product: row 4a + b of kron(G, G) (16, 9) weighs
# the kernel's tap (i, j) by G[a, i] * G[b, j] (Winograd F(2x2, 3x3)).
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
KERNEL_TRANSFORM = np.kron(_G, _G)


def conv2d(
    x: Any,
    w: Any,
    b: Any = None,
    stride: int | tuple[int, int] = 1,
    padding: str | int | tuple[int, int] = "valid",
    dilation: int | tuple[int, int] = 1,
    activation: str | None = None,
    groups: int = 1,
) -> Tensor:
    """Convolve images x (N, H, W, Cin) with kernels w (KH, KW, Cin/groups, Cout), plus bias
    b (Cout,).

    Returns (N, OH, OW, Cout) with OH = floor((H + pad_h - dilation*(KH-1) - 1) / stride) + 1.
    ``padding``: 'valid' (none), 'same' (output ceil(H / stride), the odd extra row/column at
    the bottom/right, as Keras), an int or an (h, w) pair of ints for symmetric zero padding.
    ``activation='relu'`` fuses max(., 0) into the same pass as the bias (and its gradient
    into the bias gradient's pass): the same values as ``relu(conv2d(...))``, less memory.
    ``groups`` (Keras's Conv2D ``groups``): the input channels and the filters are split into
    that many consecutive groups, and filters k*Cout/groups ... (k+1)*Cout/groups - 1 see only
    input channels k*Cin/groups ... (k+1)*Cin/groups - 1.

    >>> x = Tensor(np.arange(16.0).reshape(1, 4, 4, 1))
    >>> conv2d(x, np.ones((3, 3, 1, 1))).shape
    (1, 2, 2, 1)
    """
    x, w, b = _conv_operands("conv2d", x, w, b, groups, spatial_dims=2)
    win = window("conv2d", x.shape[1:3], w.shape[:2], stride, dilation, padding)
    if single_filter.takes(x, w, groups):  # one filter: see autoconv/ops/single_filter.py
        relu = _is_relu("conv2d", activation)
        return single_filter.conv2d(x, w, b, stride, padding, dilation, relu)
    return _windowed_conv(x, w, b, win, "conv2d", activation, groups)


def conv1d(
    x: Any,
    w: Any,
    b: Any = None,
    stride: int | tuple[int] = 1,
    padding: str | int = "valid",
    dilation: int | tuple[int] = 1,
    groups: int = 1,
) -> Tensor:
    """Convolve sequences x (N, L, Cin) with kernels w (K, Cin/groups, Cout), plus bias b
    (Cout,): :func:`conv2d` on x as images of height 1, giving (N, OL, Cout).

    ``padding``: 'valid', 'same', an int, or 'causal' (Keras's Conv1D): dilation*(K-1) zeros
    before the sequence only, so output t depends on no input after t and OL = ceil(L/stride).

    >>> x = np.arange(5.0).reshape(1, 5, 1)
    >>> conv1d(x, np.ones((2, 1, 1)), padding="causal").numpy()[0, :, 0]
    array([0., 1., 3., 5., 7.])
    """
    x, w, b = _conv_operands("conv1d", x, w, b, groups, spatial_dims=1)
    win = window_1d("conv1d", x.shape[1], w.shape[0], stride, dilation, padding)
    return _windowed_conv(x, w, b, win, "conv1d", None, groups)


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
    x, w, b = _conv_operands("conv2d", x, w, b, 1, spatial_dims=2)
    win = window("conv2d", x.shape[1:3], w.shape[:2], stride, dilation, padding)
    pool_win = pool_window(
        "conv2d_max_pool", (x.shape[0], *win.out, w.shape[-1]), pool_size, pool_strides,
        pool_padding,
    )  # fmt: skip
    win = _read_by(pool_win, win, x.shape[1:3])
    route = _fused_route(x, w, win, pool_win)
    if route == "direct":
        return _direct_conv_max_pool(x, w, b, win, activation)
    if route == "winograd":
        return _winograd_conv_max_pool(x, w, b, win, activation)
    return _windowed_conv(x, w, b, win, "conv2d_max_pool", activation, 1, pool_win)


def _fused_route(x: Tensor, w: Tensor, win: Window, pool_win: Window) -> str:
    """Which kernels run conv2d_max_pool: 'direct' (see DIRECT_MAX_CHANNELS), 'winograd' (see
    WINOGRAD_MIN_CHANNELS) or 'unrolled' (im2col, product, pool). The first two need a 2x2 pool
    at stride 2 that tiles the convolution's output, at stride 1 without dilation."""
    tiled = (
        pool_win.kernel == pool_win.stride == (2, 2)
        and win.out == (2 * pool_win.out[0], 2 * pool_win.out[1])
        and win.stride == win.dilation == (1, 1)
    )
    if not tiled:
        return "unrolled"
    channels = x.shape[-1]
    if (
        channels <= DIRECT_MAX_CHANNELS
        and w.shape[-1] >= DIRECT_MIN_FILTERS
        and not (x.requires_grad and is_grad_enabled())
    ):
        return "direct"
    return "winograd" if win.kernel == (3, 3) and channels >= WINOGRAD_MIN_CHANNELS else "unrolled"


def _direct_conv_max_pool(
    x: Tensor, w: Tensor, b: Tensor | None, win: Window, activation: str | None
) -> Tensor:
    """conv2d_max_pool of checked operands by the backend's direct kernels: the pooled output
    (N, OH/2, OW/2, Cout); its backward gives the kernel's and the bias's gradients only."""
    kernels, relu = backend(x), _is_relu("conv2d_max_pool", activation)
    parents = (x, w) if b is None else (x, w, b)
    bias = None if b is None else b.data
    if not (is_grad_enabled() and any(p.requires_grad for p in parents)):
        # Without a gradient nothing keeps the arg-max: slices of images of about SLICE_BYTES
        # (outputs, arg-max and padded images) stay in cache and bound the memory, whatever the
        # batch (the flowers classifier's predict at batch 1000: 1.24x whole; MNIST's 1.02x).
        per_image = x.size // x.shape[0] + math.prod(win.out) // 2 * w.shape[-1]
        parts = _slices(kernels, len(x.data), per_image * x.data.dtype.itemsize)
        pooled = [kernels.conv_max_pool_2x2(x.data[p], w.data, bias, relu, win)[0] for p in parts]
        return record(_joined(kernels, pooled), parents, _no_gradient, "conv2d_max_pool")
    out, argmax = kernels.conv_max_pool_2x2(x.data, w.data, bias, relu, win)

    def backward(g):
        grad_w, grad_b = kernels.conv_max_pool_2x2_kernel_grad(
            x.data, g, out, argmax, relu, w.shape, win
        )
        return (None, grad_w, grad_b)[: len(parents)]

    return record(out, parents, backward, "conv2d_max_pool")


def _winograd_conv_max_pool(
    x: Tensor, w: Tensor, b: Tensor | None, win: Window, activation: str | None
) -> Tensor:
    """conv2d_max_pool of checked operands, a 3x3 kernel, by Winograd F(2x2, 3x3): each pooling
    window's 2x2 outputs from the 4x4 tile of images under it, Y = A^T [U * (B^T d B)] A with
    the kernel's U = G g G^T, as 16 matrix products (tiles, Cin) x (Cin, Cout) between the
    backend's transforms (:mod:`autoconv.backends.cpu.winograd`). The pooled output (N, OH/2,
    OW/2, Cout); its backward runs the same steps' adjoints. A slice of images at a time
    (:func:`_slices`): the backward transforms each slice's tiles again (a whole batch's kept)."""
    kernels, relu = backend(x), _is_relu("conv2d_max_pool", activation)
    parents = (x, w) if b is None else (x, w, b)
    bias = None if b is None else b.data
    c_in, c_out = w.shape[2:]
    transform = kernels.asarray(KERNEL_TRANSFORM, w.data.dtype)  # (16, 9)
    u = kernels.matmul(transform, w.data.reshape(9, -1)).reshape(16, c_in, c_out)

    per_image = 4 * math.prod(win.out) * (c_in + c_out) * x.data.dtype.itemsize
    slices = _slices(kernels, len(x.data), per_image)
    keep = len(slices) == 1 and w.requires_grad and is_grad_enabled()  # the tiles, if whole
    pooled = (len(x.data), win.out[0] // 2, win.out[1] // 2, c_out)
    out, argmax = kernels.empty(pooled, x.data.dtype), kernels.empty(pooled, np.int32)

    def forward(part: slice) -> Any:
        """Images ``part`` -> their rows of ``out`` and ``argmax``; their tiles if kept."""
        images = x.data[part]
        tiles = kernels.winograd_input(images, win)  # (16, tiles, Cin)
        products = kernels.matmul(tiles, u)
        rows = (out[part], argmax[part])
        kernels.winograd_max_pool_2x2(products, len(images), win, bias, relu, out=rows)
        return tiles if keep else None

    kept = [forward(part) for part in slices]

    def backward(g):
        grad_u = grad_b = None
        grad_x = kernels.empty(x.shape, x.data.dtype) if x.requires_grad else None
        for part in slices:
            grad_products, part_b = kernels.winograd_max_pool_2x2_grad(
                g[part], out[part], argmax[part], relu
            )
            grad_b = part_b if grad_b is None else grad_b + part_b
            if w.requires_grad:
                tiles = kept[0] if keep else kernels.winograd_input(x.data[part], win)
            grad_tiles, part_u = kernels.matmuls(  # both at once (one launch on the GPU)
                (grad_products, u, False, True) if x.requires_grad else None,
                (tiles, grad_products, True, False) if w.requires_grad else None,
            )
            if x.requires_grad:
                kernels.winograd_input_grad(grad_tiles, x.data[part].shape, win, grad_x[part])
            if w.requires_grad:
                grad_u = part_u if grad_u is None else grad_u + part_u
        grad_w = None
        if w.requires_grad:
            grad_u = grad_u.reshape(16, -1)
            grad_w = kernels.matmul(transform, grad_u, transpose_a=True).reshape(w.shape)
        return (grad_x, grad_w, grad_b)[: len(parents)]

    return record(out, parents, backward, "conv2d_max_pool")


def _slices(kernels: Any, n: int, per_image: int) -> list[slice]:
    """A batch of ``n`` images in slices of about the backend's SLICE_BYTES (``per_image``
    bytes an image), or whole if it has at most its WHOLE_BATCH_BYTES: on the CPU slices that
    stay in cache, on the GPU the whole batch (its slices would only add launches)."""
    whole = n * per_image <= kernels.WHOLE_BATCH_BYTES
    step = n if whole else max(1, kernels.SLICE_BYTES // per_image)
    return [slice(i, i + step) for i in range(0, n, step)]


def _joined(kernels: Any, parts: Any) -> Any:
    """Arrays of slices of images joined along their first axis (the one, unchanged): outputs
    that are not written into their batch's rows (unpooled products, grouped gradients)."""
    return parts[0] if len(parts) == 1 else kernels.concatenate_rows(list(parts))


def _conv_operands(
    op: str, x: Any, w: Any, b: Any, groups: int, spatial_dims: int
) -> tuple[Tensor, Tensor, Tensor | None]:
    """x, w and b as tensors of one dtype and device, checked for a convolution with
    ``spatial_dims`` (1 or 2) window axes in ``groups`` groups (errors name ``op``)."""
    x, w = as_tensors(x, w, op)
    x_axes, w_axes = {1: ("(N, L, Cin)", "(K, Cin, Cout)"),
                      2: ("(N, H, W, Cin)", "(KH, KW, Cin, Cout)")}[spatial_dims]  # fmt: skip
    if x.ndim != spatial_dims + 2:
        raise ValueError(f"{op}: x must be {x_axes}, got shape {x.shape}")
    if w.ndim != spatial_dims + 2:
        raise ValueError(f"{op}: w must be {w_axes}, got shape {w.shape}")
    c_in, (w_c_in, c_out) = x.shape[-1], w.shape[-2:]
    if not is_int(groups) or groups < 1:
        raise ValueError(
            f"{op}: the number of groups must be a positive integer. Received: groups={groups}."
        )
    if c_out % groups:
        raise ValueError(
            f"{op}: the number of filters must be evenly divisible by the number of groups. "
            f"Received: groups={groups}, filters={c_out}."
        )
    if c_in % groups:
        raise ValueError(
            f"{op}: the number of input channels must be evenly divisible by the number of "
            f"groups. Received groups={groups}, but the input has {c_in} channels (full input "
            f"shape is {x.shape})."
        )
    if w_c_in * groups != c_in:
        in_groups = f" in {groups} groups of {c_in // groups}" if groups > 1 else ""
        raise ValueError(
            f"{op}: x has {c_in} channels (shape {x.shape}){in_groups} but w expects {w_c_in} "
            f"(shape {w.shape})"
        )
    if min(w.shape) < 1 or x.shape[0] < 1:
        raise ValueError(f"{op}: empty input or kernel: x {x.shape}, w {w.shape}")
    if b is not None:
        b = as_tensor(b, like=x)
        if b.shape != (c_out,):
            raise ValueError(f"{op}: b must have shape ({c_out},), got {b.shape}")
    return x, w, b


def _windowed_conv(
    x: Tensor,
    w: Tensor,
    b: Tensor | None,
    win: Window,
    op: str,
    activation: str | None = None,
    groups: int = 1,
    pool_win: Window | None = None,
) -> Tensor:
    """The convolution of checked operands over ``win``: images x (N, H, W, Cin) with w (KH,
    KW, Cin/groups, Cout), or sequences x (N, L, Cin) with w (K, Cin/groups, Cout) as images of
    height 1; optionally followed by max pooling over ``pool_win`` (images only). The bias and
    ReLU go in the pass after the product (the pooling's, if any). A slice of images at a
    time (:func:`_slices`): each slice's windows are unrolled again in the backward (a whole
    batch's are kept)."""
    relu = _is_relu(op, activation)
    n, c_in, c_out = x.shape[0], x.shape[-1], w.shape[-1]
    images = x.shape if x.ndim == 4 else (n, 1, x.shape[1], c_in)  # a sequence: height 1
    parents = (x, w) if b is None else (x, w, b)
    kernels = backend(x)
    bias = None if b is None else b.data
    depth = w.size // c_out  # KH*KW*Cin/G: one row of the unrolled images
    w_matrix = _by_group(w.data.reshape(depth, c_out), groups)  # (G, KH*KW*Cin/G, Cout/G)
    data = x.data.reshape(images)
    # A 1x1 window at stride 1 without padding (SeparableConv2D's pointwise step) reads each
    # pixel once: its unrolled images are the images themselves, no im2col or col2im needed.
    pointwise = win.kernel == (1, 1) and win.stride == (1, 1) and win.out == images[1:3]
    per_image = groups * math.prod(win.out) * depth * x.data.dtype.itemsize
    slices = [slice(0, n)] if pointwise else _slices(kernels, n, per_image)
    keep = len(slices) == 1 and w.requires_grad and is_grad_enabled()  # the windows, if whole

    def unrolled(grouped: Any) -> Any:
        """Images by group (G*s, H, W, Cin/G) -> their windows ((G,) s*OH*OW, KH*KW*Cin/G)."""
        cols = grouped.reshape(-1, depth) if pointwise else kernels.im2col(grouped, win)
        return cols if groups == 1 else cols.reshape(groups, -1, depth)

    if pool_win is not None:  # written slice by slice
        pooled = (n, *pool_win.out, c_out)
        out, argmax = kernels.empty(pooled, x.data.dtype), kernels.empty(pooled, np.int32)

    def forward(part: slice) -> tuple[Any, Any]:
        """Images ``part`` -> their output (None when pooled: written into their rows of
        ``out`` and ``argmax``) and their windows if kept."""
        # With groups, the channels of group k become images k*s ... k*s + s - 1 of a batch of
        # (G*s, H, W, Cin/G), so one im2col unrolls every group and one batched product (a
        # matrix per group) convolves them. With one group the helpers change nothing.
        cols = unrolled(_images_by_group(data[part], groups))
        fused = groups == 1 and pool_win is None  # the bias and ReLU as the product is written
        product = kernels.matmul(cols, w_matrix, bias=bias if fused else None, relu=relu and fused)
        product = _from_groups(product, groups)  # (s*OH*OW, Cout)
        if pool_win is not None:
            product = product.reshape((len(data[part]), *win.out, c_out))
            kernels.max_pool_forward(product, pool_win, bias, relu, (out[part], argmax[part]))
            return None, cols if keep else None
        if not fused and (b is not None or relu):
            kernels.bias_relu(product, bias, relu)
        return product, cols if keep else None

    products, kept = zip(*(forward(part) for part in slices), strict=True)
    if pool_win is None:
        out = _joined(kernels, products)

    def backward(g):
        g_out, g_bias = g.reshape(-1, c_out), None  # (rows of this op's output, Cout)
        if relu:  # masked where the ReLU cut (at the pooled size when pooled), and summed
            g_out, g_bias = kernels.relu_grad_and_column_sums(g_out, out.reshape(-1, c_out))
        elif b is not None and b.requires_grad:
            g_bias = g_out.sum(axis=0)
        g_out = g_out.reshape(n, -1)  # a row per image
        direct = groups == 1 and not pointwise  # col2im adds into its slice's rows of grad_x
        grad_x = kernels.empty(images, x.data.dtype) if x.requires_grad and direct else None
        grad_images, grad_w = [], None
        for part in slices:
            grouped = _images_by_group(data[part], groups)
            g_matrix = g_out[part].reshape(-1, c_out)  # (s*OH*OW, Cout): the product's
            if pool_win is not None:  # each pooled gradient goes to its window's winner
                pooled = g_matrix.reshape((-1, *pool_win.out, c_out))
                conv_shape = (len(pooled), *win.out, c_out)
                g_matrix = kernels.max_pool_backward(pooled, argmax[part], conv_shape, pool_win)
            g_matrix = _by_group(g_matrix.reshape(-1, c_out), groups)  # (G, s*OH*OW, Cout/G)
            grad_cols, part_w = kernels.matmuls(  # with kept windows, at once (one launch)
                (g_matrix, w_matrix, False, True) if x.requires_grad else None,
                (kept[0], g_matrix, True, False) if keep else None,
            )
            if x.requires_grad:  # each row times the kernel matrix, added back where read
                grad_cols = grad_cols.reshape(-1, depth)
                if direct:
                    kernels.col2im(grad_cols, grouped.shape, win, grad_x[part])
                else:  # each group's images' gradient, then the images'
                    grad = (
                        grad_cols.reshape(grouped.shape) if pointwise
                        else kernels.col2im(grad_cols, grouped.shape, win)
                    )  # fmt: skip
                    grad_images.append(_images_from_groups(grad, groups))
                    del grad
                del grad_cols  # (its array goes back to the pool for the windows below)
            if w.requires_grad:
                if not keep:  # (the windows' array back to the pool for the next slice)
                    part_w = kernels.matmul(unrolled(grouped), g_matrix, transpose_a=True)
                grad_w = part_w if grad_w is None else grad_w + part_w
        if x.requires_grad:
            grad_x = (grad_x if direct else _joined(kernels, grad_images)).reshape(x.shape)
        if w.requires_grad:
            grad_w = _from_groups(grad_w, groups).reshape(w.shape)
        return (grad_x, grad_w, g_bias)[: len(parents)]

    out_shape = (n, *win.out, c_out) if x.ndim == 4 else (n, win.out[1], c_out)
    return record(out if pool_win is not None else out.reshape(out_shape), parents, backward, op)


def _is_relu(op: str, activation: str | None) -> bool:
    """Whether a convolution's fused ``activation`` is ReLU; anything but None or 'relu' is a
    ValueError naming ``op``."""
    if activation not in (None, "relu"):
        raise ValueError(f"{op}: activation must be None or 'relu', got {activation!r}")
    return activation == "relu"


def _no_gradient(g: Any) -> tuple[()]:
    """The backward of an output recorded where no gradient is wanted (never called)."""
    raise RuntimeError("no gradient was recorded for this convolution")


def _by_group(matrix: Any, groups: int) -> Any:
    """(rows, G*k) -> (G, rows, k): the columns of each group as a matrix of its own."""
    if groups == 1:
        return matrix
    rows, columns = matrix.shape
    return matrix.reshape(rows, groups, columns // groups).transpose(1, 0, 2)


def _from_groups(matrices: Any, groups: int) -> Any:
    """(G, rows, k) -> (rows, G*k), the inverse of :func:`_by_group`."""
    if groups == 1:
        return matrices
    _, rows, columns = matrices.shape
    return matrices.transpose(1, 0, 2).reshape(rows, groups * columns)


def _images_by_group(x: Any, groups: int) -> Any:
    """(N, H, W, G*k) -> (G*N, H, W, k): the channels of group g as images g*N ... g*N + N-1."""
    if groups == 1:
        return x
    n, height, width, channels = x.shape
    x = x.reshape(n, height, width, groups, channels // groups).transpose(3, 0, 1, 2, 4)
    return x.reshape(groups * n, height, width, channels // groups)


def _images_from_groups(x: Any, groups: int) -> Any:
    """(G*N, H, W, k) -> (N, H, W, G*k), the inverse of :func:`_images_by_group`."""
    if groups == 1:
        return x
    batch, height, width, channels = x.shape
    x = x.reshape(groups, batch // groups, height, width, channels).transpose(1, 2, 3, 0, 4)
    return x.reshape(batch // groups, height, width, groups * channels)


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
