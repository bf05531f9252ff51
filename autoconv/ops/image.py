"""``keras.ops.image``: resizing, warping, cropping and padding, color spaces, patches, blurs,
edges and SSIM, with Keras's signatures, defaults and argument checks.

Images are (N, H, W, C) or one image (H, W, C); ``data_format="channels_first"`` takes
(N, C, H, W) or (C, H, W) (it is transposed around the channels-last computation), and None
means channels-last. Results are Tensors on the images' device, differentiable in the images
(transforms, coordinates, scales and points are data, never differentiated). Integer images are
computed as float32 (autoconv's Tensors hold floats) and not rounded back.

Where Keras's backends disagree these follow its JAX backend, as the engine's ops do
(:mod:`autoconv.ops.spatial`): ``resize`` with 'bicubic', 'lanczos3', 'lanczos5' or
``antialias=True`` is ``jax.image.resize`` (Keys cubic a = -0.5; PyTorch's backend uses
a = -0.75); ``gaussian_blur`` pads with zeros by Keras's 'same' rule and ``sobel_edges`` with
zeros, as the JAX and PyTorch backends do.

(Over 600 lines on purpose: it is Keras's one ``ops.image`` module, 16 functions with their full
signatures and checks sharing one set of layout helpers; split, the helpers would need a third
module that no reader looks for.)
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autoconv.ops.conv_variants import depthwise_conv2d
from autoconv.ops.convert import standardize_data_format, tensor, tensors, to_numpy
from autoconv.ops.convolution import conv2d
from autoconv.ops.elementwise import abs as absolute
from autoconv.ops.elementwise import clip
from autoconv.ops.masks import choose, floored, mask
from autoconv.ops.products import matmul
from autoconv.ops.reduce import max as reduce_max
from autoconv.ops.reduce import mean
from autoconv.ops.reshaping import concatenate, getitem, reshape, transpose
from autoconv.ops.spatial import affine_transform as engine_affine_transform
from autoconv.ops.spatial import pad2d
from autoconv.ops.spatial import resize as engine_resize
from autoconv.seeds import draw
from autoconv.tensor import Tensor

__all__ = [
    "affine_transform",
    "crop_images",
    "elastic_transform",
    "extract_patches",
    "extract_patches_3d",
    "gaussian_blur",
    "hsv_to_rgb",
    "map_coordinates",
    "pad_images",
    "perspective_transform",
    "resize",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "scale_and_translate",
    "sobel_edges",
    "ssim",
]

RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic")
SAMPLING_ORDERS = {"nearest": 0, "bilinear": 1}
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)
SOBEL_Y = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])


# ------------------------------------------------------------------------------ helpers
def _choice(value: Any, choices: Sequence[str], arg: str, name: str) -> None:
    if value not in choices:
        raise ValueError(
            f"{name}: Invalid value for argument `{arg}`. Expected one of {sorted(choices)}. "
            f"Received: {arg}={value!r}"
        )


def _rank(x: Tensor, ranks: tuple[int, ...], name: str, arg: str = "images") -> None:
    if x.ndim not in ranks:
        raise ValueError(
            f"{name}: Invalid {arg} rank: expected rank {' or '.join(map(str, ranks))}. "
            f"Received input with shape: {arg}.shape={x.shape}"
        )


def _move_channels(x: Tensor, data_format: str, last: bool) -> Tensor:
    """A channels-first batch (N, C, ...) as (N, ..., C) (``last``), or back."""
    if data_format == "channels_last":
        return x
    order = (0, *range(2, x.ndim), 1) if last else (0, x.ndim - 1, *range(1, x.ndim - 1))
    return transpose(x, order)


def _batch(
    images: Any, name: str, data_format: str | None, rank: int = 2, arg: str = "images"
) -> tuple[Tensor, bool, str]:
    """(images as a channels-last batch, whether they were one image, the data format)."""
    x = tensor(images)
    _rank(x, (rank + 1, rank + 2), name, arg)
    data_format = standardize_data_format(data_format)
    single = x.ndim == rank + 1
    batch = reshape(x, (1, *x.shape)) if single else x
    return _move_channels(batch, data_format, True), single, data_format


def _unbatch(x: Tensor, single: bool, data_format: str) -> Tensor:
    x = _move_channels(x, data_format, False)
    return reshape(x, x.shape[1:]) if single else x


def _constant(values: Any, like: Tensor) -> Tensor:
    return tensor(np.asarray(values, dtype=like.dtype), like=like)


def _plane(x: Tensor, channel: int) -> Tensor:
    return getitem(x, (*(slice(None),) * (x.ndim - 1), channel))


def _stack_planes(planes: Sequence[Tensor]) -> Tensor:
    return concatenate([reshape(p, (*p.shape, 1)) for p in planes], axis=-1)


def _positive(value: Any, n: int, arg: str, name: str, kind: type = int) -> tuple:
    """``value`` (one or ``n`` positive numbers of ``kind``) as a tuple of ``n``."""
    values = (value,) * n if np.ndim(value) == 0 else tuple(value)
    integers = kind is float or all(isinstance(v, int | np.integer) for v in values)
    if len(values) != n or not integers or not all(v > 0 for v in values):
        raise ValueError(
            f"{name}: `{arg}` must be one or {n} positive {kind.__name__}s; got {value!r}"
        )
    return tuple(kind(v) for v in values)


def gaussian_taps(size: int, sigma: float) -> np.ndarray:
    """The normalized 1-D Gaussian of ``size`` taps around the centre, Keras's kernels."""
    offsets = np.arange(size) - (size - 1) / 2
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


# ---------------------------------------------------------------------------- color spaces
def rgb_to_grayscale(images: Any, data_format: str | None = None) -> Tensor:
    """RGB images (..., 3) to grayscale (..., 1): 0.2989 R + 0.587 G + 0.114 B; a
    one-channel image comes back as it is."""
    x, single, data_format = _batch(images, "rgb_to_grayscale", data_format)
    if x.shape[-1] not in (1, 3):
        raise ValueError(
            "rgb_to_grayscale: Invalid channel size: expected 3 (RGB) or 1 (Grayscale). "
            f"Received input with shape: images.shape={tensor(images).shape}"
        )
    if x.shape[-1] == 3:
        x = matmul(x, _constant(np.reshape(GRAY_WEIGHTS, (3, 1)), x))
    return _unbatch(x, single, data_format)


def _three_float_channels(
    images: Any, name: str, data_format: str | None
) -> tuple[Tensor, bool, str]:
    if not isinstance(images, Tensor) and np.asarray(images).dtype.kind != "f":
        raise ValueError(
            f"{name}: Invalid images dtype: expected float dtype. "
            f"Received: images.dtype={np.asarray(images).dtype}"
        )
    x, single, data_format = _batch(images, name, data_format)
    if x.shape[-1] != 3:
        raise ValueError(
            f"{name}: Input images must have 3 channels, but received images with "
            f"{x.shape[-1]} channels."
        )
    return x, single, data_format


def rgb_to_hsv(images: Any, data_format: str | None = None) -> Tensor:
    """RGB images (values in [0, 1]) to HSV, every channel in [0, 1] (hue 0 red, 1/3 green,
    2/3 blue), as Keras's (dm_pix's) formulas."""
    x, single, data_format = _three_float_channels(images, "rgb_to_hsv", data_format)
    eps = np.finfo(x.dtype).eps
    x = x * mask((x.data >= eps) + (x.data <= -eps), x)  # |x| >= eps; the two are disjoint
    red, green, blue = (_plane(x, c) for c in range(3))
    value = reduce_max(x, axis=-1)
    spread = value + reduce_max(-x, axis=-1)
    lit, spread_out = mask(value.data > 0, x), mask(spread.data > 0, x)
    saturation = choose(lit, spread / choose(lit, value, 1.0), 0.0)
    norm = 1.0 / (6.0 * choose(spread_out, spread, 1.0))
    hue = choose(
        mask(value.data == green.data, x),
        norm * (blue - red) + 2.0 / 6.0,
        norm * (red - green) + 4.0 / 6.0,
    )
    hue = choose(mask(value.data == red.data, x), norm * (green - blue), hue)
    hue = choose(spread_out, hue, 0.0)
    hue = hue + mask(hue.data < 0, x)
    return _unbatch(_stack_planes([hue, saturation, value]), single, data_format)


def hsv_to_rgb(images: Any, data_format: str | None = None) -> Tensor:
    """HSV images (values in [0, 1]) to RGB, the inverse of :func:`rgb_to_hsv`."""
    x, single, data_format = _three_float_channels(images, "hsv_to_rgb", data_format)
    hue, saturation, value = (_plane(x, c) for c in range(3))
    sixths = (hue - floored(hue)) * 6.0
    red = clip(absolute(sixths - 3.0) - 1.0, 0.0, 1.0)
    green = clip(2.0 - absolute(sixths - 2.0), 0.0, 1.0)
    blue = clip(2.0 - absolute(sixths - 4.0), 0.0, 1.0)
    planes = [value * (1.0 - saturation + saturation * d) for d in (red, green, blue)]
    return _unbatch(_stack_planes(planes), single, data_format)


# ----------------------------------------------------------------------------- resampling
def _triangle(x: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, 1.0 - np.abs(x))


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    out = ((1.5 * x - 2.5) * x) * x + 1.0
    out = np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
    return np.where(x >= 2.0, 0.0, out)


def _lanczos(radius: float, x: np.ndarray) -> np.ndarray:
    y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius)
    out = np.where(x > 1e-3, y / np.where(x != 0, np.pi**2 * x**2, 1.0), 1.0)
    return np.where(x > radius, 0.0, out)


Kernel = Callable[[np.ndarray], np.ndarray]
KERNELS: dict[str, Kernel] = {
    **dict.fromkeys(("linear", "bilinear", "trilinear"), _triangle),
    **dict.fromkeys(("cubic", "bicubic", "tricubic"), _keys_cubic),
    **{f"lanczos{r}": functools.partial(_lanczos, float(r)) for r in (3, 5)},
}


def _weights(
    n_in: int, n_out: int, scale: float, translation: float, kernel: Kernel, antialias: bool
) -> np.ndarray:
    """Keras's (``jax.image``'s) resampling matrix (n_in, n_out) along one axis."""
    inv_scale = 1.0 / scale
    kernel_scale = max(inv_scale, 1.0) if antialias else 1.0
    sample = (np.arange(n_out) + 0.5) * inv_scale - translation * inv_scale - 0.5
    weights = kernel(np.abs(sample[None, :] - np.arange(n_in)[:, None]) / kernel_scale)
    total = weights.sum(axis=0, keepdims=True)
    weights = np.where(
        np.abs(total) > 1000.0 * np.finfo(np.float32).eps,
        weights / np.where(total != 0, total, 1.0),
        0.0,
    )
    return np.where(((sample >= -0.5) & (sample <= n_in - 0.5))[None, :], weights, 0.0)


def _resample(
    x: Tensor, axes: Sequence[tuple[int, int, float, float]], kernel: Kernel, antialias: bool
) -> Tensor:
    """x resampled along each (axis, size, scale, translation), one matrix product each."""
    for axis, size, scale, translation in axes:
        order = (*(d for d in range(x.ndim) if d != axis), axis)
        w = _constant(_weights(x.shape[axis], size, scale, translation, kernel, antialias), x)
        x = transpose(matmul(transpose(x, order), w), tuple(np.argsort(order)))
    return x


def resize(
    images: Any,
    size: Sequence[int],
    interpolation: str = "bilinear",
    antialias: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    fill_mode: str = "constant",
    fill_value: float = 0.0,
    data_format: str | None = None,
) -> Tensor:
    """Images resized to ``size`` = (height, width) with half-pixel centres ('nearest',
    'bilinear', 'bicubic', 'lanczos3', 'lanczos5'; ``antialias`` widens the filter when
    downsampling). ``crop_to_aspect_ratio`` first crops the largest centred window of the
    target aspect ratio; ``pad_to_aspect_ratio`` pads the short side evenly with
    ``fill_value`` (``fill_mode`` 'constant' only). Integer images (uint8 pixels) are
    resized as float32 and come back rounded, in their dtype, as Keras's (a NumPy array)."""
    integer = None if isinstance(images, Tensor) else to_numpy(images).dtype
    if len(size) != 2:
        raise ValueError(f"resize: Expected `size` to be a tuple of 2 integers. Received: {size}")
    target_height, target_width = (int(n) for n in size)
    if target_height <= 0 or target_width <= 0:
        raise ValueError(f"resize: `size` must have positive height and width. Received: {size}")
    _choice(interpolation, RESIZE_INTERPOLATIONS, "interpolation", "resize")
    _choice(fill_mode, ("constant",), "fill_mode", "resize")
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError(
            "resize: Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`."
        )
    x, single, data_format = _batch(images, "resize", data_format)
    height, width = x.shape[1:3]
    if crop_to_aspect_ratio:
        crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
        crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
        top, left = int((height - crop_height) / 2), int((width - crop_width) / 2)
        x = getitem(x, (slice(None), slice(top, top + crop_height), slice(left, left + crop_width)))
    elif pad_to_aspect_ratio:
        pad_height = max(height, int(float(width * target_height) / target_width))
        pad_width = max(width, int(float(height * target_width) / target_height))
        top, left = int((pad_height - height) / 2), int((pad_width - width) / 2)
        x = pad2d(x, ((top, top), (left, left)), value=float(fill_value))
    if interpolation == "nearest" or (interpolation == "bilinear" and not antialias):
        out = engine_resize(x, (target_height, target_width), interpolation)
    else:
        axes = [
            (axis, n, n / x.shape[axis], 0.0)
            for axis, n in ((1, target_height), (2, target_width))
            if n != x.shape[axis]
        ]
        out = _resample(x, axes, KERNELS[interpolation], antialias)
    out = _unbatch(out, single, data_format)
    if integer is None or integer.kind not in "iu":
        return out
    limits = np.iinfo(integer)  # (bicubic and lanczos overshoot: kept in the dtype's range)
    return np.clip(np.round(out.numpy()), limits.min, limits.max).astype(integer)


def scale_and_translate(
    images: Any,
    output_shape: Sequence[int],
    scale: Any,
    translation: Any,
    spatial_dims: Sequence[int],
    method: str,
    antialias: bool = True,
) -> Tensor:
    """``jax.image.scale_and_translate``: along each axis d = spatial_dims[i], output pixel
    centre y reads the input at (y - translation[i]) / scale[i] (half-pixel centres) through
    the ``method`` filter ('linear'/'bilinear'/'trilinear', 'cubic'/'bicubic'/'tricubic'
    (Keys), 'lanczos3', 'lanczos5'), widened when downsampling with ``antialias``; outside
    the input it is 0. Any rank; the other axes keep their sizes."""
    _choice(method, tuple(KERNELS), "method", "scale_and_translate")
    x = tensor(images)
    output_shape = tuple(int(n) for n in output_shape)
    scale, translation = (np.ravel(np.asarray(v, dtype=np.float64)) for v in (scale, translation))
    dims = [int(d) % x.ndim for d in spatial_dims]
    if len(output_shape) != x.ndim or not len(scale) == len(translation) == len(dims):
        raise ValueError(
            f"scale_and_translate: `output_shape` must have {x.ndim} sizes and `scale`, "
            f"`translation` one value per spatial dim {tuple(spatial_dims)}; received "
            f"output_shape={output_shape}, scale={scale}, translation={translation}"
        )
    fixed = [d for d in range(x.ndim) if d not in dims and output_shape[d] != x.shape[d]]
    if fixed:
        raise ValueError(
            f"scale_and_translate: output_shape {output_shape} changes axes {fixed} of images "
            f"{x.shape} that are not in spatial_dims {tuple(spatial_dims)}"
        )
    axes = [(d, output_shape[d], s, t) for d, s, t in zip(dims, scale, translation, strict=True)]
    return _resample(x, axes, KERNELS[method], antialias)


# ------------------------------------------------------------------------------ warping
def _fix_mirror(index: np.ndarray, size: int) -> np.ndarray:
    if size == 1:
        return np.zeros_like(index)
    half = size - 1  # a triangular wave of period 2 * (size - 1)
    return np.abs((index + half) % (2 * half) - half)


INDEX_FIXERS = {
    "constant": lambda index, size: np.clip(index, 0, size - 1),
    "nearest": lambda index, size: np.clip(index, 0, size - 1),
    "wrap": lambda index, size: index % size,
    "mirror": _fix_mirror,
    "reflect": lambda index, size: (_fix_mirror(2 * index + 1, 2 * size + 1) - 1) // 2,
}


def _sample(
    x: Tensor, coordinates: Sequence[np.ndarray], order: int, fill_mode: str, fill: float
) -> Tensor:
    """x read at ``coordinates`` (one array per axis, of one shape): the nearest element
    (order 0; halves away from zero, as JAX's) or the linear blend of the 2^ndim around
    (order 1); outside, ``fill_mode``. One gather per neighbour, whose VJP adds the gradient
    back where it was read."""
    nodes = []
    for coordinate in coordinates:
        if order == 0:
            nearest = np.sign(coordinate) * np.floor(np.abs(coordinate) + 0.5)
            nodes.append([(nearest.astype(np.int64), 1.0)])
            continue
        lower = np.floor(coordinate)
        upper = coordinate - lower
        pairs = [(lower.astype(np.int64), 1.0 - upper), (lower.astype(np.int64) + 1, upper)]
        nodes.append([(index, weight) for index, weight in pairs if np.any(weight)])
    shape = np.broadcast_shapes(*(np.shape(c) for c in coordinates))
    out, outside = None, np.zeros(shape)
    for corner in itertools.product(*nodes):
        weight, inside, index = np.ones(shape), np.ones(shape, dtype=bool), []
        for (position, w), size in zip(corner, x.shape, strict=True):
            weight = weight * w
            if fill_mode == "constant":
                inside &= (position >= 0) & (position < size)
            index.append(INDEX_FIXERS[fill_mode](position, size))
        part = getitem(x, tuple(np.broadcast_arrays(*index))) * _constant(weight * inside, x)
        out = part if out is None else out + part
        outside += weight * ~inside
    return out + _constant(float(fill) * outside, x) if outside.any() else out


def map_coordinates(
    inputs: Any, coordinates: Any, order: int, fill_mode: str = "constant", fill_value: float = 0
) -> Tensor:
    """``inputs`` (any rank R) read at ``coordinates`` (R, ...): output[...] = inputs at
    (coordinates[0][...], ..., coordinates[R-1][...]); ``order`` 0 is the nearest element,
    1 linear interpolation; outside, ``fill_mode`` 'constant' (``fill_value``), 'nearest',
    'wrap', 'mirror' or 'reflect'. Differentiable in ``inputs``."""
    x = tensor(inputs)
    coordinates = tensor(coordinates).numpy().astype(np.float64)
    if len(coordinates) != x.ndim:
        raise ValueError(
            "map_coordinates: First dim of `coordinates` must be the same as the rank of "
            f"`inputs`. Received inputs with shape: {x.shape} and coordinate leading dim of "
            f"{len(coordinates)}"
        )
    if coordinates.ndim < 2:
        raise ValueError(
            "map_coordinates: Invalid coordinates rank: expected at least rank 2. Received "
            f"input with shape: {coordinates.shape}"
        )
    _choice(fill_mode, FILL_MODES, "fill_mode", "map_coordinates")
    if order not in (0, 1):
        raise ValueError(f"map_coordinates: `order` must be 0 or 1. Received: order={order}")
    return _sample(x, list(coordinates), order, fill_mode, fill_value)


def _read_batch(
    x: Tensor, rows: np.ndarray, columns: np.ndarray, order: int, mode: str, fill: float
) -> Tensor:
    """A channels-last batch (N, H, W, C) read at (rows, columns) (N, H, W) of each image."""
    n, _, _, c = x.shape
    images, channels = np.arange(n).reshape(n, 1, 1, 1), np.arange(c).reshape(1, 1, 1, c)
    return _sample(x, [images, rows[..., None], columns[..., None], channels], order, mode, fill)


def affine_transform(
    images: Any,
    transform: Any,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    fill_value: float = 0,
    data_format: str | None = None,
) -> Tensor:
    """Images resampled through transforms (8,) or (N, 8) [a0, a1, a2, b0, b1, b2, c0, c1]:
    output pixel (x, y) reads the input at (a0 x + a1 y + a2, b0 x + b1 y + b2) ('nearest' or
    'bilinear'; ``fill_mode`` outside). Affine only: c0 = c1 = 0 (Keras's JAX and PyTorch
    backends ignore them; autoconv raises). See :func:`autoconv.ops.spatial.affine_transform`."""
    _choice(interpolation, tuple(SAMPLING_ORDERS), "interpolation", "affine_transform")
    _choice(fill_mode, FILL_MODES, "fill_mode", "affine_transform")
    x, single, data_format = _batch(images, "affine_transform", data_format)
    if np.ndim(transform) not in (1, 2):
        raise ValueError(
            "affine_transform: Invalid transform rank: expected rank 1 (single transform) or "
            f"rank 2 (batch of transforms). Received input with shape: {np.shape(transform)}"
        )
    out = engine_affine_transform(x, transform, interpolation, fill_mode, float(fill_value))
    return _unbatch(out, single, data_format)


def _homographies(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The (M, 8) projective maps taking each set of 4 end points to its start points."""
    (sx, sy), (ex, ey) = (np.moveaxis(p.reshape(-1, 4, 2), -1, 0) for p in (start, end))
    one, zero = np.ones_like(ex), np.zeros_like(ex)
    rows_x = np.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], axis=-1)
    rows_y = np.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], axis=-1)
    system = np.stack([rows_x, rows_y], axis=2).reshape(-1, 8, 8)
    return np.linalg.solve(system, start.reshape(-1, 8, 1))[..., 0]


def perspective_transform(
    images: Any,
    start_points: Any,
    end_points: Any,
    interpolation: str = "bilinear",
    fill_value: float = 0,
    data_format: str | None = None,
) -> Tensor:
    """Images warped so that ``start_points`` (4, 2) or (N, 4, 2) (x, y) land on
    ``end_points``: output pixel (x, y) reads the input at the projective map of the end
    points onto the start points, ``fill_value`` outside."""
    _choice(interpolation, tuple(SAMPLING_ORDERS), "interpolation", "perspective_transform")
    x, single, data_format = _batch(images, "perspective_transform", data_format)
    points = [np.asarray(tensor(p).numpy(), dtype=x.dtype) for p in (start_points, end_points)]
    shape = points[0].shape
    if shape != points[1].shape or shape[-2:] != (4, 2) or shape[:-2] not in ((), (len(x),)):
        raise ValueError(
            "perspective_transform: start_points and end_points must both have shape (4, 2) "
            f"or ({len(x)}, 4, 2). Received start_points.shape={shape}, "
            f"end_points.shape={points[1].shape}"
        )
    maps = np.broadcast_to(_homographies(*points), (len(x), 8))[:, :, None, None]
    rows, columns = np.indices(x.shape[1:3], dtype=x.dtype)
    denominator = maps[:, 6] * columns + maps[:, 7] * rows + 1.0
    read_x = (maps[:, 0] * columns + maps[:, 1] * rows + maps[:, 2]) / denominator
    read_y = (maps[:, 3] * columns + maps[:, 4] * rows + maps[:, 5]) / denominator
    order = SAMPLING_ORDERS[interpolation]
    out = _read_batch(x, read_y, read_x, order, "constant", fill_value)
    return _unbatch(out, single, data_format)


def elastic_transform(
    images: Any,
    alpha: float = 20.0,
    sigma: float = 5.0,
    interpolation: str = "bilinear",
    fill_mode: str = "reflect",
    fill_value: float = 0.0,
    seed: Any = None,
    data_format: str | None = None,
) -> Tensor:
    """Images displaced by a random field: each pixel reads the input ``alpha`` times a
    N(0, sigma^2) noise blurred by a Gaussian of ``sigma`` (kernel int(6 sigma) | 1) away,
    as Keras's; ``seed`` as :mod:`autoconv.random`'s (the noise is autoconv's, not Keras's)."""
    _choice(interpolation, tuple(SAMPLING_ORDERS), "interpolation", "elastic_transform")
    _choice(fill_mode, FILL_MODES, "fill_mode", "elastic_transform")
    x, single, data_format = _batch(images, "elastic_transform", data_format)
    n, height, width, _ = x.shape
    noise = Tensor((sigma * draw(seed).standard_normal((n, height, width, 2))).astype(x.dtype))
    size = int(6 * sigma) | 1
    shifts = alpha * gaussian_blur(noise, (size, size), (sigma, sigma)).numpy()
    rows, columns = np.indices((height, width), dtype=x.dtype)
    order = SAMPLING_ORDERS[interpolation]
    out = _read_batch(
        x, rows + shifts[..., 1], columns + shifts[..., 0], order, fill_mode, fill_value
    )
    return _unbatch(out, single, data_format)


# --------------------------------------------------------------------- crops and padding
def _borders(x: Tensor, name: str, kind: str, *axes: tuple[Any, Any, Any]) -> list[tuple[int, int]]:
    """((top, bottom), (left, right)) of a batch x from two of (start, end, target size) per
    axis, Keras's rule: target = size + start + end when padding, size - start - end when
    cropping."""
    sign = 1 if kind == "padding" else -1
    borders = []
    for (start, end, target), size, (first, second, axis) in zip(
        axes, x.shape[1:3], (("top", "bottom", "height"), ("left", "right", "width")), strict=True
    ):
        names = (f"{first}_{kind}", f"{second}_{kind}", f"target_{axis}")
        if sum(v is None for v in (start, end, target)) != 1:
            given = ", ".join(f"{k}={v}" for k, v in zip(names, (start, end, target), strict=True))
            raise ValueError(
                f"{name}: Must specify exactly two of {', '.join(names)}. Received: {given}"
            )
        if target is None:
            target = size + sign * (start + end)
        elif start is None:
            start = sign * (target - size) - end
        else:
            end = sign * (target - size) - start
        for key, value in zip(names, (start, end, target), strict=True):
            if value < 0:
                raise ValueError(f"{name}: {key} must be >= 0. Received: {key}={value}")
        borders.append((int(start), int(end)))
    return borders


def pad_images(
    images: Any,
    top_padding: int | None = None,
    left_padding: int | None = None,
    bottom_padding: int | None = None,
    right_padding: int | None = None,
    target_height: int | None = None,
    target_width: int | None = None,
    data_format: str | None = None,
) -> Tensor:
    """Images padded with zeros: per axis two of (top/left padding, bottom/right padding,
    target size)."""
    x, single, data_format = _batch(images, "pad_images", data_format)
    rows, columns = _borders(
        x,
        "pad_images",
        "padding",
        (top_padding, bottom_padding, target_height),
        (left_padding, right_padding, target_width),
    )
    return _unbatch(pad2d(x, (rows, columns)), single, data_format)


def crop_images(
    images: Any,
    top_cropping: int | None = None,
    left_cropping: int | None = None,
    bottom_cropping: int | None = None,
    right_cropping: int | None = None,
    target_height: int | None = None,
    target_width: int | None = None,
    data_format: str | None = None,
) -> Tensor:
    """Images cropped: per axis two of (top/left cropping, bottom/right cropping, target
    size)."""
    x, single, data_format = _batch(images, "crop_images", data_format)
    (top, bottom), (left, right) = _borders(
        x,
        "crop_images",
        "cropping",
        (top_cropping, bottom_cropping, target_height),
        (left_cropping, right_cropping, target_width),
    )
    height, width = x.shape[1:3]
    out = getitem(x, (slice(None), slice(top, height - bottom), slice(left, width - right)))
    return _unbatch(out, single, data_format)


# ------------------------------------------------------------------- patches and filters
def _patches(
    images: Any,
    size: Any,
    strides: Any,
    dilation_rate: Any,
    padding: str,
    data_format: str | None,
    name: str,
    rank: int,
) -> Tensor:
    """Every (dilated) window of ``size`` at ``strides``, its values (window position by
    position, channels last) along one last axis, as Keras's identity-kernel convolution."""
    x, single, data_format = _batch(images, name, data_format, rank)
    size = _positive(size, rank, "size", name)
    strides = _positive(strides, rank, "strides", name)
    dilation = _positive(dilation_rate, rank, "dilation_rate", name)
    padding = str(padding).lower()
    _choice(padding, ("valid", "same"), "padding", name)
    grids, inside, outs = [], np.ones((1,) * 2 * rank, dtype=bool), []
    for axis, (n, k, s, d) in enumerate(zip(x.shape[1:-1], size, strides, dilation, strict=True)):
        span = d * (k - 1) + 1
        out = (n - span) // s + 1 if padding == "valid" else -(-n // s)
        if out <= 0:
            raise ValueError(f"{name}: patches of {size} (dilation {dilation}) exceed {x.shape}")
        before = max((out - 1) * s + span - n, 0) // 2 if padding == "same" else 0
        positions = np.arange(out)[:, None] * s + np.arange(k)[None, :] * d - before
        shape = [1] * 2 * rank
        shape[axis], shape[rank + axis] = out, k
        positions = positions.reshape(shape)
        inside = inside & (positions >= 0) & (positions < n)
        grids.append(np.clip(positions, 0, n - 1))
        outs.append(out)
    patches = getitem(x, (slice(None), *np.broadcast_arrays(*grids), slice(None)))
    if not inside.all():
        patches = patches * _constant(inside[None, ..., None], x)
    patches = reshape(patches, (len(x), *outs, -1))
    return _unbatch(patches, single, data_format)


def extract_patches(
    images: Any,
    size: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    dilation_rate: int | Sequence[int] = 1,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Patches of images (N, H, W, C) or (H, W, C): (N, OH, OW, PH*PW*C), each patch's values
    in (row, column, channel) order; ``size`` an int or (PH, PW), or (PD, PH, PW) for volumes
    (:func:`extract_patches_3d`). ``strides`` default to ``size``; 'valid' or 'same' padding."""
    if not isinstance(size, int):
        if not isinstance(size, tuple | list):
            raise TypeError(
                "extract_patches: Invalid `size` argument. Expected an int or a tuple. "
                f"Received: size={size} of type {type(size).__name__}"
            )
        if len(size) not in (2, 3):
            raise ValueError(
                "extract_patches: Invalid `size` argument. Expected a tuple of length 2 or 3. "
                f"Received: size={size} with length {len(size)}"
            )
        if len(size) == 3:
            return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    strides = strides or size
    return _patches(
        images, size, strides, dilation_rate, padding, data_format, "extract_patches", 2
    )


def extract_patches_3d(
    volumes: Any,
    size: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    dilation_rate: int | Sequence[int] = 1,
    padding: str = "valid",
    data_format: str | None = None,
) -> Tensor:
    """Patches of volumes (N, D, H, W, C) or (D, H, W, C): (N, OD, OH, OW, PD*PH*PW*C);
    arguments as :func:`extract_patches` with 3 sizes."""
    strides = size if strides is None else strides
    return _patches(
        volumes, size, strides, dilation_rate, padding, data_format, "extract_patches_3d", 3
    )


def gaussian_blur(
    images: Any,
    kernel_size: int | Sequence[int] = (3, 3),
    sigma: float | Sequence[float] = (1.0, 1.0),
    data_format: str | None = None,
) -> Tensor:
    """Images convolved with a normalized Gaussian, zero 'same' padding. As Keras computes
    it, ``kernel_size[0]`` and ``sigma[0]`` apply along the width, ``[1]`` along the height."""
    x, single, data_format = _batch(images, "gaussian_blur", data_format)
    size_x, size_y = _positive(kernel_size, 2, "kernel_size", "gaussian_blur")
    sigma_x, sigma_y = _positive(sigma, 2, "sigma", "gaussian_blur", float)
    kernel = np.outer(gaussian_taps(size_y, sigma_y), gaussian_taps(size_x, sigma_x))
    kernels = np.broadcast_to(kernel[:, :, None, None], (*kernel.shape, x.shape[-1], 1))
    out = depthwise_conv2d(x, _constant(kernels, x), padding="same")
    return _unbatch(out, single, data_format)


def sobel_edges(images: Any, data_format: str | None = None) -> Tensor:
    """The Sobel gradients of images (N, H, W, C): (N, H, W, C, 2) holding [dy, dx] (zero
    padding); channels-first images (N, C, H, W) give (N, C, H, W, 2)."""
    x = tensor(images)
    _rank(x, (4,), "sobel_edges")
    data_format = standardize_data_format(data_format)
    x = _move_channels(x, data_format, True)
    n, height, width, channels = x.shape
    kernels = np.stack([SOBEL_Y, SOBEL_Y.T], axis=-1)[:, :, None, :]
    edges = depthwise_conv2d(
        x, _constant(np.broadcast_to(kernels, (3, 3, channels, 2)), x), padding="same"
    )
    edges = reshape(edges, (n, height, width, channels, 2))
    return edges if data_format == "channels_last" else transpose(edges, (0, 3, 1, 2, 4))


def ssim(
    image1: Any,
    image2: Any,
    max_val: float = 1.0,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    data_format: str | None = None,
) -> Tensor:
    """The structural similarity of two images (or batches): per image, the mean over
    channels and valid ``filter_size`` Gaussian windows of Wang et al.'s SSIM; (N,) for
    batches, a scalar for single images. Differentiable in both."""
    first, second = tensors(image1, image2)
    a, single, _ = _batch(first, "ssim", data_format, arg="image1")
    b, _, _ = _batch(second, "ssim", data_format, arg="image2")
    if first.shape != second.shape:
        raise ValueError(f"ssim: image1 {first.shape} and image2 {second.shape} differ in shape")
    n, height, width, channels = a.shape
    if not isinstance(filter_size, int) or not 0 < filter_size <= min(height, width):
        raise ValueError(
            f"ssim: `filter_size` must be a positive int at most the images' height and width "
            f"({height}, {width}); received {filter_size!r}"
        )
    kernel = _constant(
        np.outer(*[gaussian_taps(filter_size, filter_sigma)] * 2)[:, :, None, None], a
    )

    def planes(x: Tensor) -> Tensor:
        return reshape(transpose(x, (0, 3, 1, 2)), (n * channels, height, width, 1))

    def blur(x: Tensor) -> Tensor:
        return conv2d(x, kernel)

    a, b = planes(a), planes(b)
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a * mu_a, blur(b * b) - mu_b * mu_b
    covariance = blur(a * b) - mu_a * mu_b
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    numerator = (2.0 * mu_a * mu_b + c1) * (2.0 * covariance + c2)
    denominator = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    per_plane = mean(numerator / denominator, axis=(1, 2, 3))
    per_image = mean(reshape(per_plane, (n, channels)), axis=-1)
    return reshape(per_image, ()) if single else per_image
