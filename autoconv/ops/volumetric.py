"""3-D (volumetric) convolutions, transposed convolutions and pools of channels-last volumes
(N, D, H, W, C), and their zero padding and cropping: what Keras 3's ``keras.ops.nn`` conv,
depthwise_conv, conv_transpose, max_pool and average_pool compute for 5-D inputs
(keras/src/ops/nn.py) and its 3-D layers use (:mod:`autoconv.layers.volumetric`).

Everything is composed from the engine's differentiable 2-D and 1-D ops, so it runs on either
device with autograd and has no kernels of its own:

- a convolution is the sum over the kernel's depth taps a of the 2-D convolution, by
  kernel[a], of the depth slices a*dilation, a*dilation + stride, ... (all OD of them at once,
  as N*OD images);
- a transposed convolution is the sum over the taps a of the 2-D transposed convolution of
  every depth slice by kernel[a], slice i placed at output depth i*stride + a*dilation - cut;
- a pool is separable: the 2-D pool over (H, W) of the N*D images, then the 1-D pool over D.
  A 'same' average stays Keras's mean of the cells inside the volume: a border box's count
  of inside cells is the product of its counts along each axis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autoconv.ops import engine
from autoconv.ops.base import as_tensor, as_tensors
from autoconv.tensor import Tensor
from autoconv.windows import is_int, output_size, padding_amounts, transpose_window

Triple = tuple[int, int, int]
Borders = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


# --------------------------------------------------------------------------- arguments
def triple(value: Any, name: str, op: str, allow_zero: bool = False) -> Triple:
    """``value`` (an int or 3 ints) as 3 ints, each > 0 (>= 0 with ``allow_zero``)."""
    values = (value,) * 3 if is_int(value) else value
    if (
        not isinstance(values, tuple | list)
        or len(values) != 3
        or not all(is_int(v) and v >= (0 if allow_zero else 1) for v in values)
    ):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{op}: {name} must be an int or 3 {kind} ints, got {value!r}")
    return (int(values[0]), int(values[1]), int(values[2]))


def _padding(padding: Any, op: str) -> str:
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def _volumes(x: Any, w: Any, op: str, kernel_axes: str) -> tuple[Tensor, Tensor]:
    x, w = as_tensors(x, w, op)
    if x.ndim != 5:
        raise ValueError(f"{op}: x must be volumes (N, D, H, W, C), got shape {x.shape}")
    if w.ndim != 5:
        raise ValueError(f"{op}: w must be {kernel_axes}, got shape {w.shape}")
    return x, w


def output_sizes(
    op: str, sizes: Triple, kernel: Triple, strides: Triple, dilation: Triple, padding: str
) -> Triple:
    """(OD, OH, OW) of a convolution or pool over volumes of ``sizes``: ceil(n / stride) for
    'same', else floor((n - dilation*(k-1) - 1) / stride) + 1; an empty output is an error."""
    out = tuple(
        output_size(n, k, s, d, sum(padding_amounts(padding, n, k, s, d, op)))
        for n, k, s, d in zip(sizes, kernel, strides, dilation, strict=True)
    )
    if min(out) < 1:
        raise ValueError(
            f"{op}: the output would be empty: input {sizes}, window {kernel}, strides "
            f"{strides}, dilation {dilation}, padding {padding!r}"
        )
    return out  # type: ignore[return-value]


# ---------------------------------------------------------------------- zero padding
def _depth_as_height(x: Tensor) -> Tensor:
    """(N, D, H, W, C) as images (N, D, H*W, C): depth is their height."""
    n, d, h, w, c = x.shape
    return engine.reshape(x, (n, d, h * w, c))


def _slices_as_images(x: Tensor) -> Tensor:
    """(N, D, H, W, C) as the N*D images (N*D, H, W, C)."""
    n, d, h, w, c = x.shape
    return engine.reshape(x, (n * d, h, w, c))


def _pad_depth(x: Tensor, front: int, back: int) -> Tensor:
    """Volumes (N, D, H, W, C) with ``front`` and ``back`` slices of zeros."""
    n, d, h, w, c = x.shape
    deeper = engine.pad2d(_depth_as_height(x), ((front, back), (0, 0)))
    return engine.reshape(deeper, (n, d + front + back, h, w, c))


def pad3d(x: Any, padding: Borders) -> Tensor:
    """Volumes (N, D, H, W, C) with zeros around them, ``padding`` ((front, back), (top,
    bottom), (left, right)) (Keras's ZeroPadding3D): pad2d of depth, then of (H, W)."""
    (front, back), rows, columns = padding
    deeper = _pad_depth(as_tensor(x), front, back)
    out = engine.pad2d(_slices_as_images(deeper), (rows, columns))
    return engine.reshape(out, (*deeper.shape[:2], *out.shape[1:]))


def crop3d(x: Any, cropping: Borders) -> Tensor:
    """Volumes (N, D, H, W, C) without ``cropping`` ((front, back), (top, bottom), (left,
    right)) cells at their borders (Keras's Cropping3D)."""
    x = as_tensor(x)
    n, d, h, w, c = x.shape
    (front, back), rows, columns = cropping
    shallower = engine.crop2d(_depth_as_height(x), ((front, back), (0, 0)))
    depth = d - front - back
    out = engine.crop2d(engine.reshape(shallower, (n * depth, h, w, c)), (rows, columns))
    return engine.reshape(out, (n, depth, *out.shape[1:]))


def _shift_depth(x: Tensor, before: int, after: int) -> Tensor:
    """Images (N, L, M, C) with ``before`` zero rows added before (or -before rows cut when
    negative) and ``after`` likewise after."""
    x = engine.pad2d(x, ((max(before, 0), max(after, 0)), (0, 0)))
    if before < 0 or after < 0:
        x = engine.crop2d(x, ((max(-before, 0), max(-after, 0)), (0, 0)))
    return x


# ---------------------------------------------------------------------- convolutions
def planar(
    op: Callable[..., Tensor],
    images: Tensor,
    kernel: Any,
    bias: Any,
    strides: tuple[int, int],
    padding: str,
    dilation: tuple[int, int],
    **options: Any,
) -> Tensor:
    """``op`` (engine.conv2d or depthwise_conv2d) of images (N, H, W, C) at any strides and
    dilation. The engine's windows take a stride or a dilation above 1, not both: then it runs
    at stride 1 over the images padded as 'same' pads for the stride, keeping every stride-th
    output."""
    if max(strides) == 1 or max(dilation) == 1:
        return op(
            images, kernel, bias, stride=strides, padding=padding, dilation=dilation, **options
        )
    if padding == "same":
        amounts = [
            padding_amounts(
                "same", images.shape[1 + a], kernel.shape[a], strides[a], dilation[a], "conv"
            )
            for a in range(2)
        ]
        images = engine.pad2d(images, amounts)
    full = op(images, kernel, bias, stride=1, padding="valid", dilation=dilation, **options)
    return full[:, :: strides[0], :: strides[1], :]


def _by_depth_taps(
    op: Callable[..., Tensor],
    name: str,
    x: Tensor,
    w: Tensor,
    b: Any,
    strides: Any,
    padding: Any,
    dilation: Any,
    **options: Any,
) -> Tensor:
    """The sum over w's depth taps of ``op`` (a 2-D convolution) of the depth slices each tap
    reads, by that tap's 2-D kernel; the bias is added by the first tap's."""
    strides, dilation = triple(strides, "strides", name), triple(dilation, "dilation", name)
    padding = _padding(padding, name)
    n, d, h, width, _ = x.shape
    kd, sd, dd = w.shape[0], strides[0], dilation[0]
    sizes = output_sizes(name, (d, h, width), w.shape[:3], strides, dilation, padding)
    depth = sizes[0]
    front, back = padding_amounts(padding, d, kd, sd, dd, name)
    if front or back:
        x = _pad_depth(x, front, back)
    total = None
    for a in range(kd):
        start = a * dd
        taken = _slices_as_images(x[:, start : start + (depth - 1) * sd + 1 : sd])
        out = planar(
            op, taken, w[a], b if a == 0 else None, strides[1:], padding, dilation[1:], **options
        )
        total = out if total is None else total + out
    return engine.reshape(total, (n, depth, *total.shape[1:]))


def conv3d(
    x: Any,
    w: Any,
    b: Any = None,
    strides: Any = 1,
    padding: str = "valid",
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """Convolve volumes x (N, D, H, W, Cin) with kernels w (KD, KH, KW, Cin/groups, Cout), plus
    bias b (Cout,): (N, OD, OH, OW, Cout), sizes as :func:`output_sizes`. With ``groups``, the
    channels and the filters split into that many consecutive groups."""
    x, w = _volumes(x, w, "conv3d", "(KD, KH, KW, Cin/groups, Cout)")
    return _by_depth_taps(
        engine.conv2d, "conv3d", x, w, b, strides, padding, dilation, groups=groups
    )


def depthwise_conv3d(
    x: Any, w: Any, b: Any = None, strides: Any = 1, padding: str = "valid", dilation: Any = 1
) -> Tensor:
    """Convolve each channel c of volumes x (N, D, H, W, C) with its own M kernels
    w[..., c, :] (w (KD, KH, KW, C, M)), plus bias b (C*M,): (N, OD, OH, OW, C*M), output
    channel c*M + m from kernel m."""
    x, w = _volumes(x, w, "depthwise_conv3d", "(KD, KH, KW, C, depth_multiplier)")
    return _by_depth_taps(
        engine.depthwise_conv2d, "depthwise_conv3d", x, w, b, strides, padding, dilation
    )


def conv3d_transpose_size(
    sizes: Triple,
    kernel: Triple,
    strides: Any,
    padding: Any,
    output_padding: Any,
    dilation: Any,
    op: str = "conv3d_transpose",
) -> tuple[Triple, int]:
    """(OD, OH, OW) of a transposed convolution of volumes of ``sizes`` by Keras's rules (see
    engine.conv2d_transpose, axis by axis), and the depth cut before its first output."""
    strides, dilation = triple(strides, "strides", op), triple(dilation, "dilation", op)
    extra = None if output_padding is None else triple(output_padding, "output_padding", op, True)
    padding = _padding(padding, op)
    win, (depth, _) = transpose_window(
        op,
        (sizes[0], 1),
        (kernel[0], 1),
        (strides[0], 1),
        (dilation[0], 1),
        padding,
        None if extra is None else (extra[0], 0),
    )
    _, (height, width) = transpose_window(
        op,
        sizes[1:],
        kernel[1:],
        strides[1:],
        dilation[1:],
        padding,
        None if extra is None else extra[1:],
    )
    return (depth, height, width), win.pad_top


def conv3d_transpose(
    x: Any,
    w: Any,
    b: Any = None,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    dilation: Any = 1,
) -> Tensor:
    """The transposed convolution of volumes x (N, D, H, W, Cin) with kernels w (KD, KH, KW,
    Cout, Cin) (Keras's Conv3DTranspose layout), plus bias b (Cout,): (N, OD, OH, OW, Cout),
    sized by Keras's rules (:func:`conv3d_transpose_size`); the adjoint of :func:`conv3d`."""
    op = "conv3d_transpose"
    x, w = _volumes(x, w, op, "(KD, KH, KW, Cout, Cin)")
    strides, dilation = triple(strides, "strides", op), triple(dilation, "dilation", op)
    extra = None if output_padding is None else triple(output_padding, "output_padding", op, True)
    padding = _padding(padding, op)
    (depth, _, _), cut = conv3d_transpose_size(
        x.shape[1:4], w.shape[:3], strides, padding, extra, dilation
    )
    if b is not None:
        b = as_tensor(b, like=x)
        if b.shape != (w.shape[3],):
            raise ValueError(f"{op}: b must have shape ({w.shape[3]},), got {b.shape}")
    n, d = x.shape[:2]
    images, sd = _slices_as_images(x), strides[0]
    total = None
    for a in range(w.shape[0]):
        out = engine.conv2d_transpose(
            images,
            w[a],
            None,
            strides[1:],
            padding,
            None if extra is None else extra[1:],
            dilation[1:],
        )
        _, oh, ow, f = out.shape
        # each slice's output followed by sd - 1 zero slices: slice i lands at i*sd
        spread = engine.pad2d(engine.reshape(out, (n * d, 1, oh * ow, f)), ((0, sd - 1), (0, 0)))
        spread = engine.reshape(spread, (n, d * sd, oh * ow, f))
        start = a * dilation[0] - cut
        placed = _shift_depth(spread, start, depth - start - d * sd)
        total = placed if total is None else total + placed
    out = engine.reshape(total, (n, depth, oh, ow, f))
    return out if b is None else out + b


# --------------------------------------------------------------------------- pooling
def _separable_pool(
    planar_pool: Callable[..., Tensor],
    linear_pool: Callable[..., Tensor],
    op: str,
    x: Any,
    pool_size: Any,
    strides: Any,
    padding: str,
) -> Tensor:
    x = as_tensor(x)
    if x.ndim != 5:
        raise ValueError(f"{op}: x must be volumes (N, D, H, W, C), got shape {x.shape}")
    size = triple(pool_size, "pool_size", op)
    stride = size if strides is None else triple(strides, "strides", op)
    padding = _padding(padding, op)
    n, d, h, w, c = x.shape
    output_sizes(op, (d, h, w), size, stride, (1, 1, 1), padding)
    pooled = planar_pool(_slices_as_images(x), size[1:], stride[1:], padding)
    _, oh, ow, _ = pooled.shape
    out = linear_pool(engine.reshape(pooled, (n, d, oh * ow * c)), size[0], stride[0], padding)
    return engine.reshape(out, (n, out.shape[1], oh, ow, c))


def max_pool3d(x: Any, pool_size: Any = 2, strides: Any = None, padding: str = "valid") -> Tensor:
    """Maximum over each pool_size window of volumes x (N, D, H, W, C): (N, OD, OH, OW, C);
    ``strides`` defaults to ``pool_size``."""
    return _separable_pool(
        engine.max_pool2d, engine.max_pool1d, "max_pool3d", x, pool_size, strides, padding
    )


def avg_pool3d(x: Any, pool_size: Any = 2, strides: Any = None, padding: str = "valid") -> Tensor:
    """Mean over each pool_size window of volumes x (N, D, H, W, C): (N, OD, OH, OW, C);
    border windows of 'same' average the cells inside the volume only."""
    return _separable_pool(
        engine.avg_pool2d, engine.avg_pool1d, "avg_pool3d", x, pool_size, strides, padding
    )


__all__ = [
    "avg_pool3d",
    "conv3d",
    "conv3d_transpose",
    "conv3d_transpose_size",
    "crop3d",
    "depthwise_conv3d",
    "max_pool3d",
    "output_sizes",
    "pad3d",
    "planar",
    "triple",
]
