"""The functions of ``keras.ops.nn`` over the spatial axes of images and sequences:
convolutions, pools, ``unfold``/``fold`` and ``depth_to_space``/``space_to_depth``
(re-exported by :mod:`autoconv.ops.nn`; one module would be too long).

Inputs are channels-last (N, *spatial, C) unless ``data_format="channels_first"`` (or None
after ``config.set_image_data_format("channels_first")``, as Keras's), which is transposed in
and out. 1-D convolutions and pools run as the engine's 2-D ones over images of
height 1; 3-D ones as the 2-D and 1-D ones composed by :mod:`autoconv.ops.volumetric`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from autoconv.backends import backend
from autoconv.ops import engine, volumetric
from autoconv.ops.convert import standardize_data_format, tensor, tensors
from autoconv.tensor import Tensor, record
from autoconv.windows import Window, is_int, output_size

# --------------------------------------------------------------------------- arguments
_data_format = standardize_data_format  # (None: config.image_data_format(), as Keras's)


def _tuple(value: Any, n: int, name: str, allow_zero: bool = False) -> tuple[int, ...]:
    """``value`` (an int, or a tuple or list of ``n`` ints) as ``n`` positive ints (or
    non-negative with ``allow_zero``), as Keras's ``standardize_tuple``."""
    values = (value,) * n if is_int(value) else value
    if (
        not isinstance(values, tuple | list)
        or len(values) != n
        or not all(is_int(v) and v >= (0 if allow_zero else 1) for v in values)
    ):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(
            f"The `{name}` argument must be a tuple of {n} {kind} integers. "
            f"Received {name}={value!r}"
        )
    return tuple(int(v) for v in values)


def _window_arg(value: Any, rank: int, name: str, allow_zero: bool = False) -> tuple[int, ...]:
    """A window argument as its op takes it: a 1-D one as the (1, width) pair of the 2-D op it
    runs as, a 2-D or 3-D one as its 2 or 3 values."""
    values = _tuple(value, rank, name, allow_zero)
    return (1, values[0]) if rank == 1 else values


def _padding(padding: Any) -> str:
    value = padding.lower() if isinstance(padding, str) else padding
    if value not in ("valid", "same"):
        raise ValueError(f"Invalid padding '{padding}', must be 'same' or 'valid'.")
    return value


def _rank(x: Tensor, op: str) -> int:
    """The number of spatial axes of x (batch, spatial..., channels): 1, 2 or 3."""
    rank = x.ndim - 2
    if rank not in (1, 2, 3):
        raise ValueError(
            f"Inputs to {op} must have ndim=3, 4 or 5, corresponding to 1D, 2D and 3D inputs. "
            f"Received input shape: {x.shape}."
        )
    return rank


def _channels(x: Tensor, data_format: str) -> int:
    return x.shape[-1] if data_format == "channels_last" else x.shape[1]


def _image_kernel(kernel: Tensor, rank: int, op: str) -> Tensor:
    """A kernel for ``rank`` spatial axes as its op's (a 1-D one gets a height of 1)."""
    if kernel.ndim != rank + 2:
        raise ValueError(
            f"{op}: the kernel must have rank {rank + 2} for inputs with {rank} spatial axes, "
            f"got shape {kernel.shape}"
        )
    return engine.reshape(kernel, (1, *kernel.shape)) if rank == 1 else kernel


def _check_channels(x: Tensor, kernel_channels: int, data_format: str) -> None:
    channels = _channels(x, data_format)
    if channels != kernel_channels:
        raise ValueError(
            "The number of input channels must match the kernel's input channels. Received: "
            f"input channels={channels}, kernel input channels={kernel_channels}, "
            f"data_format='{data_format}'."
        )


def _on_images(x: Tensor, data_format: str, rank: int, fn: Callable[[Tensor], Tensor]) -> Tensor:
    """``fn`` of x as channels-last images (N, H, W, C) (volumes (N, D, H, W, C) for 3-D), its
    result back in x's layout: channels-first transposed in and out, sequences (N, L, C) as
    images of height 1."""
    if data_format == "channels_first":
        x = engine.transpose(x, (0, *range(2, x.ndim), 1))
    if rank == 1:
        x = engine.reshape(x, (x.shape[0], 1, *x.shape[1:]))
    out = fn(x)
    if rank == 1:
        out = engine.reshape(out, (out.shape[0], *out.shape[2:]))
    if data_format == "channels_first":
        out = engine.transpose(out, (0, out.ndim - 1, *range(1, out.ndim - 1)))
    return out


def _windowed(
    op: Callable[..., Tensor],
    volume_op: Callable[..., Tensor],
    images: Tensor,
    kernel: Tensor,
    strides: Any,
    padding: Any,
    dilation_rate: Any,
    rank: int,
    **options: Any,
) -> Tensor:
    """``op`` (engine.conv2d or depthwise_conv2d) at Keras's strides and dilation, both above
    1 too (:func:`autoconv.ops.volumetric.planar`); 3-D by ``volume_op``, its sum over the
    kernel's depth taps (volumetric.conv3d or depthwise_conv3d)."""
    stride = _window_arg(strides, rank, "strides")
    dilation, padding = _window_arg(dilation_rate, rank, "dilation_rate"), _padding(padding)
    if rank == 3:
        return volume_op(images, kernel, None, stride, padding, dilation, **options)
    return volumetric.planar(op, images, kernel, None, stride, padding, dilation, **options)


# --------------------------------------------------------------------- convolutions
def conv(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """1-D, 2-D or 3-D convolution of inputs (N, *spatial, C) with kernel (*window, C/groups, F):
    (N, *out, F). Channels that are a multiple of the kernel's run as grouped convolution."""
    x, kernel = tensors(inputs, kernel)
    data_format, rank = _data_format(data_format), _rank(x, "conv")
    w = _image_kernel(kernel, rank, "conv")
    channels, kernel_channels = _channels(x, data_format), kernel.shape[-2]
    if channels % kernel_channels:
        raise ValueError(
            "The number of input channels must be evenly divisible by kernel's in_channels. "
            f"Received input channels {channels} and kernel in_channels {kernel_channels}."
        )
    groups = channels // kernel_channels
    return _on_images(
        x,
        data_format,
        rank,
        lambda images: _windowed(
            engine.conv2d,
            volumetric.conv3d,
            images,
            w,
            strides,
            padding,
            dilation_rate,
            rank,
            groups=groups,
        ),
    )


def depthwise_conv(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """Each channel c of inputs (N, *spatial, C) convolved with its own M kernels
    kernel[..., c, :] (kernel (*window, C, M)): (N, *out, C*M), channel c*M + m from kernel m."""
    x, kernel = tensors(inputs, kernel)
    data_format, rank = _data_format(data_format), _rank(x, "depthwise_conv")
    w = _image_kernel(kernel, rank, "depthwise_conv")
    _check_channels(x, kernel.shape[-2], data_format)
    return _on_images(
        x,
        data_format,
        rank,
        lambda images: _windowed(
            engine.depthwise_conv2d,
            volumetric.depthwise_conv3d,
            images,
            w,
            strides,
            padding,
            dilation_rate,
            rank,
        ),
    )


def separable_conv(
    inputs: Any,
    depthwise_kernel: Any,
    pointwise_kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """:func:`depthwise_conv` with depthwise_kernel (*window, C, M), then a pointwise
    convolution with pointwise_kernel (1, [1,] C*M, F)."""
    depthwise = depthwise_conv(
        inputs, depthwise_kernel, strides, padding, data_format, dilation_rate
    )
    return conv(depthwise, pointwise_kernel, 1, "valid", data_format, dilation_rate)


def conv_transpose(
    inputs: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    data_format: str | None = None,
    dilation_rate: Any = 1,
) -> Tensor:
    """The transposed 1-D, 2-D or 3-D convolution of inputs (N, *spatial, C) with kernel
    (*window, F, C): (N, *out, F), sized by Keras's rules (see engine.conv2d_transpose)."""
    transpose = engine.conv2d_transpose
    x, kernel = tensors(inputs, kernel)
    data_format, rank = _data_format(data_format), _rank(x, "conv_transpose")
    w = _image_kernel(kernel, rank, "conv_transpose")
    _check_channels(x, kernel.shape[-1], data_format)
    extra = (
        None
        if output_padding is None
        else _window_arg(output_padding, rank, "output_padding", True)
    )
    if rank == 1 and extra is not None:
        extra = (0, extra[1])
    stride, dilation = (
        _window_arg(strides, rank, "strides"),
        _window_arg(dilation_rate, rank, "dilation_rate"),
    )
    if rank == 3:
        transpose = volumetric.conv3d_transpose
    return _on_images(
        x,
        data_format,
        rank,
        lambda images: transpose(images, w, None, stride, _padding(padding), extra, dilation),
    )


# -------------------------------------------------------------------------- pooling
def max_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Maximum over each pool_size window of inputs (N, *spatial, C), 1-D, 2-D or 3-D; strides
    default to pool_size."""
    return _pool(
        engine.max_pool2d,
        volumetric.max_pool3d,
        "max_pool",
        inputs,
        pool_size,
        strides,
        padding,
        data_format,
    )


def average_pool(
    inputs: Any,
    pool_size: Any,
    strides: Any = None,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Mean over each pool_size window of inputs (N, *spatial, C), 1-D, 2-D or 3-D; with 'same'
    padding a border window averages the cells inside the input only (Keras's TensorFlow and
    JAX backends; its PyTorch backend also counts repeated edge cells where the padding is
    uneven)."""
    return _pool(
        engine.avg_pool2d,
        volumetric.avg_pool3d,
        "average_pool",
        inputs,
        pool_size,
        strides,
        padding,
        data_format,
    )


def _pool(
    op: Callable[..., Tensor],
    volume_op: Callable[..., Tensor],
    name: str,
    inputs: Any,
    pool_size: Any,
    strides: Any,
    padding: Any,
    data_format: str | None,
) -> Tensor:
    x = tensor(inputs)
    data_format, rank = _data_format(data_format), _rank(x, name)
    size = _window_arg(pool_size, rank, "pool_size")
    stride = size if strides is None else _window_arg(strides, rank, "strides")
    padding, pool = _padding(padding), volume_op if rank == 3 else op
    return _on_images(x, data_format, rank, lambda images: pool(images, size, stride, padding))


def adaptive_max_pool(inputs: Any, output_size: Any, data_format: str | None = None) -> Tensor:
    """Max pooling of inputs (N, *spatial, C) (1-D, 2-D or 3-D) to ``output_size``: output i of
    an axis of n cells is the max over cells floor(i*n/out) to ceil((i+1)*n/out) - 1."""
    return _adaptive(engine.max, "adaptive_max_pool", inputs, output_size, data_format)


def adaptive_average_pool(inputs: Any, output_size: Any, data_format: str | None = None) -> Tensor:
    """Average pooling of inputs (N, *spatial, C) (1-D, 2-D or 3-D) to ``output_size``, over
    the windows of :func:`adaptive_max_pool`."""
    return _adaptive(engine.mean, "adaptive_average_pool", inputs, output_size, data_format)


def _adaptive(
    reduce: Callable[..., Tensor], name: str, inputs: Any, sizes: Any, data_format: str | None
) -> Tensor:
    """One spatial axis at a time: the max (or mean) over a box of cells is the max (mean) along
    one axis of the maxima (means) along the others."""
    x = tensor(inputs)
    rank, first = x.ndim - 2, 1 if _data_format(data_format) == "channels_last" else 2
    if rank not in (1, 2, 3):
        raise ValueError(
            f"Inputs to {name} must have ndim=3, 4 or 5. Received input shape: {x.shape}."
        )
    for axis, out in zip(
        range(first, first + rank), _tuple(sizes, rank, "output_size"), strict=True
    ):
        n, lead = x.shape[axis], (slice(None),) * axis
        windows = [slice(i * n // out, -(-(i + 1) * n // out)) for i in range(out)]
        x = engine.concatenate([reduce(x[(*lead, w)], axis, keepdims=True) for w in windows], axis)
    return x


# ---------------------------------------------------------------------- rearranging
def depth_to_space(x: Any, block_size: int, data_format: str = "channels_last") -> Tensor:
    """(N, H, W, C*b*b) -> (N, H*b, W*b, C) (pixel shuffle), b = block_size; channels-first
    (N, C*b*b, H, W) -> (N, C, H*b, W*b) with TensorFlow's channel orders."""
    x, data_format, b = _blocks(x, block_size, data_format, "depth_to_space")
    if data_format == "channels_last":
        n, h, w, c = x.shape
        split, order, out = (n, h, w, b, b, c // b**2), (0, 1, 3, 2, 4, 5), (n, h * b, w * b, -1)
    else:
        n, c, h, w = x.shape
        split, order, out = (n, c // b**2, b, b, h, w), (0, 1, 4, 2, 5, 3), (n, -1, h * b, w * b)
    if c % b**2:
        raise ValueError(
            f"The number of channels ({c}) must be divisible by block_size**2 ({b**2})."
        )
    return engine.reshape(engine.transpose(engine.reshape(x, split), order), out)


def space_to_depth(x: Any, block_size: int, data_format: str = "channels_last") -> Tensor:
    """(N, H*b, W*b, C) -> (N, H, W, C*b*b), b = block_size, the inverse of
    :func:`depth_to_space` (channels-first likewise)."""
    x, data_format, b = _blocks(x, block_size, data_format, "space_to_depth")
    if data_format == "channels_last":
        n, h, w, c = x.shape
        split, order, out = (
            (n, h // b, b, w // b, b, c),
            (0, 1, 3, 2, 4, 5),
            (n, h // b, w // b, -1),
        )
    else:
        n, c, h, w = x.shape
        split, order, out = (
            (n, c, h // b, b, w // b, b),
            (0, 1, 3, 5, 2, 4),
            (n, -1, h // b, w // b),
        )
    for name, size in (("Height", h), ("Width", w)):
        if size % b:
            raise ValueError(f"{name} ({size}) must be divisible by block_size ({b}).")
    return engine.reshape(engine.transpose(engine.reshape(x, split), order), out)


def _blocks(x: Any, block_size: int, data_format: str, op: str) -> tuple[Tensor, str, int]:
    data_format = _data_format(data_format)
    if not is_int(block_size) or block_size < 2:
        raise ValueError(f"`block_size` must be at least 2. Received: block_size={block_size}")
    x = tensor(x)
    if x.ndim != 4:
        raise ValueError(f"`{op}` requires a 4D input tensor. Received: x.shape={x.shape}")
    return x, data_format, int(block_size)


def unfold(
    x: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
) -> Tensor:
    """The sliding blocks of channels-first images x (N, C, H, W) as columns (im2col):
    (N, C*kH*kW, L), L the number of blocks, row c*kH*kW + i*kW + j from kernel cell (i, j)."""
    x = tensor(x)
    if x.ndim != 4:
        raise ValueError(f"Input must be a 4D tensor. Received: input.shape={x.shape}")
    n, c, h, w = x.shape
    win = _block_window((h, w), kernel_size, dilation, padding, stride)
    cells, blocks = math.prod(win.kernel), math.prod(win.out)
    images = engine.transpose(x, (0, 2, 3, 1))
    xp, shape = backend(images), images.shape
    cols = record(
        xp.im2col(images.data, win), (images,), lambda g: (xp.col2im(g, shape, win),), "unfold"
    )
    cols = engine.transpose(engine.reshape(cols, (n, blocks, cells, c)), (0, 3, 2, 1))
    return engine.reshape(cols, (n, c * cells, blocks))


def fold(
    x: Any,
    output_size: Any,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> Tensor:
    """The inverse arrangement of :func:`unfold` (col2im): columns x (N, C*kH*kW, L) summed
    back into channels-first images (N, C, *output_size), overlapping blocks adding up."""
    x = tensor(x)
    if x.ndim != 3:
        raise ValueError(f"Input must be a 3D tensor. Received: input.shape={x.shape}")
    size = _tuple(output_size, 2, "output_size")
    win = _block_window(size, kernel_size, dilation, padding, stride)
    (n, rows, blocks), cells = x.shape, math.prod(win.kernel)
    if rows % cells or blocks != math.prod(win.out):
        raise ValueError(
            f"fold: x {x.shape} must be (N, C*{cells}, {math.prod(win.out)}) for blocks "
            f"{win.kernel} over an output of {size}"
        )
    cols = engine.transpose(engine.reshape(x, (n, rows // cells, cells, blocks)), (0, 3, 2, 1))
    cols = engine.reshape(cols, (n * blocks, rows))
    xp, shape = backend(cols), (n, *size, rows // cells)
    images = record(
        xp.col2im(cols.data, shape, win), (cols,), lambda g: (xp.im2col(g, win),), "fold"
    )
    return engine.transpose(images, (0, 3, 1, 2))


def _block_window(
    image: tuple[int, ...], kernel_size: Any, dilation: Any, padding: Any, stride: Any
) -> Window:
    """The window of :func:`unfold`/:func:`fold` over (H, W) images."""
    kernel, dilation = _tuple(kernel_size, 2, "kernel_size"), _tuple(dilation, 2, "dilation")
    padding, stride = _tuple(padding, 2, "padding", allow_zero=True), _tuple(stride, 2, "stride")
    out = tuple(
        output_size(image[a], kernel[a], stride[a], dilation[a], 2 * padding[a]) for a in range(2)
    )
    if min(out) < 1:
        raise ValueError(f"the blocks {kernel} do not fit in images of {image} padded by {padding}")
    return Window(kernel, stride, dilation, padding[0], padding[1], out, padding[0], padding[1])


__all__ = [
    "adaptive_average_pool",
    "adaptive_max_pool",
    "average_pool",
    "conv",
    "conv_transpose",
    "depth_to_space",
    "depthwise_conv",
    "fold",
    "max_pool",
    "separable_conv",
    "space_to_depth",
    "unfold",
]
