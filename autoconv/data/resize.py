"""Resizing images in NumPy the way Keras's ``image_dataset_from_directory`` does on load.

Keras reads image folders with ``tf.image.resize`` (half-pixel centres, no antialiasing), and
with ``pad_to_aspect_ratio`` / ``crop_to_aspect_ratio`` with ``tf.image.resize_with_pad`` and
``keras.preprocessing.image.smart_resize``. This module follows those definitions (sample
positions computed in float32 as TensorFlow does), one axis at a time: every output pixel is
a weighted sum of a few input pixels along the axis, its *taps*.

- ``nearest``: input pixel ``floor((i + 0.5) * in / out)``.
- ``bilinear``, ``bicubic`` (Keys, a = -0.5, its fraction rounded to 1/1024 as TensorFlow's
  table does), ``lanczos3``, ``lanczos5``, ``gaussian`` (sigma 0.5), ``mitchellcubic``
  (B = C = 1/3): the kernel at distance ``|j - p|`` from the sample position
  ``p = (i + 0.5) * in / out - 0.5``; taps outside the image are dropped and the weights
  renormalized (TensorFlow's rule for all of them).
- ``area``: each output pixel averages the input cells it covers, partial cells weighted by
  their overlap (``tf.image.resize(method="area")``).

Results equal TensorFlow's up to float32 rounding (a few 1e-5 on 0-255 values).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numba
import numpy as np

INTERPOLATIONS = (
    "bilinear",
    "nearest",
    "bicubic",
    "area",
    "lanczos3",
    "lanczos5",
    "gaussian",
    "mitchellcubic",
)


def _triangle(x: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, 1.0 - x)


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    return np.where(
        x >= 2.0,
        0.0,
        np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, (1.5 * x - 2.5) * x * x + 1.0),
    )


def _mitchell_cubic(x: np.ndarray) -> np.ndarray:
    outer = ((-7.0 / 18.0 * x + 2.0) * x - 10.0 / 3.0) * x + 16.0 / 9.0
    inner = (7.0 / 6.0 * x - 2.0) * x * x + 8.0 / 9.0
    return np.where(x >= 2.0, 0.0, np.where(x >= 1.0, outer, inner))


def _gaussian(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 1.5, 0.0, np.exp(-x * x / (2 * 0.5**2)))


def _lanczos(radius: int) -> Callable[[np.ndarray], np.ndarray]:
    def kernel(x: np.ndarray) -> np.ndarray:
        return np.where(x >= radius, 0.0, np.sinc(x) * np.sinc(x / radius))

    return kernel


# name -> (radius, kernel of the distance in input pixels)
KERNELS: dict[str, tuple[float, Callable[[np.ndarray], np.ndarray]]] = {
    "bilinear": (1.0, _triangle),
    "bicubic": (2.0, _keys_cubic),
    "lanczos3": (3.0, _lanczos(3)),
    "lanczos5": (5.0, _lanczos(5)),
    "gaussian": (1.5, _gaussian),
    "mitchellcubic": (2.0, _mitchell_cubic),
}


def taps(in_size: int, out_size: int, interpolation: str) -> tuple[np.ndarray, np.ndarray]:
    """Input indices (out_size, k) and float32 weights (out_size, k) resizing one axis.

    >>> index, weights = taps(4, 2, "bilinear")
    >>> index.tolist(), weights.tolist()
    ([[0, 1], [2, 3]], [[0.5, 0.5], [0.5, 0.5]])
    """
    scale = np.float32(in_size) / np.float32(out_size)
    out = np.arange(out_size, dtype=np.float32)
    if interpolation == "nearest":
        index = np.minimum(np.floor((out + np.float32(0.5)) * scale), in_size - 1)
        return index.astype(np.intp)[:, None], np.ones((out_size, 1), np.float32)
    if interpolation == "area":
        start, end = out * scale, (out + np.float32(1.0)) * scale
        first = np.floor(start).astype(np.intp)
        k = int(np.max(np.ceil(end).astype(np.intp) - first))
        index = first[:, None] + np.arange(k)
        overlap = np.minimum(index + 1, end[:, None]) - np.maximum(index, start[:, None])
        weights = np.maximum(overlap, 0) / scale
        return np.minimum(index, in_size - 1), weights.astype(np.float32)
    radius, kernel = KERNELS[interpolation]
    position = (out + np.float32(0.5)) * scale - np.float32(0.5)
    if interpolation == "bicubic":  # TensorFlow reads its weights from a 1024-entry table
        whole = np.floor(position)
        position = whole + np.rint((position - whole) * np.float32(1024)) / np.float32(1024)
    first = np.floor(position - np.float32(radius)).astype(np.intp) + 1
    index = first[:, None] + np.arange(math.ceil(2 * radius))
    weights = kernel(np.abs(index - position[:, None].astype(np.float64)))
    weights[(index < 0) | (index >= in_size)] = 0.0  # taps outside the image are dropped
    total = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, total, out=weights, where=np.abs(total) > 1e-30)
    return np.clip(index, 0, in_size - 1), weights.astype(np.float32)


@functools.lru_cache(maxsize=64)
def _flat_taps(in_size: int, out_size: int, interpolation: str, stride: int) -> tuple:
    """:func:`taps` for rows of ``stride`` values per pixel, flattened: output value
    ``j * stride + c`` reads input values ``index[j, k] * stride + c``. Offsets as unsigned
    ints (the kernels then skip negative-index checks); cached, read-only: the images of a
    folder come in a few sizes, and computing the taps costs more than applying them."""
    index, weights = taps(in_size, out_size, interpolation)
    offsets = index[:, None, :] * stride + np.arange(stride)[None, :, None]
    offsets = offsets.reshape(-1, index.shape[1]).astype(np.uintp)
    weights = np.repeat(weights, stride, axis=0)
    offsets.flags.writeable = weights.flags.writeable = False
    return offsets, weights


def _resize_axis(image: np.ndarray, axis: int, size: int, interpolation: str) -> np.ndarray:
    if image.shape[axis] == size and interpolation in ("nearest", "bilinear", "area"):
        return image  # these leave an image of the same size unchanged (the others filter it)
    height, width, channels = image.shape
    rows = np.ascontiguousarray(image).reshape(height, width * channels)
    if axis == 0:
        out = np.empty((size, width, channels), np.float32)
        index, weights = _flat_taps(height, size, interpolation, 1)
        _weighted_rows(rows, index, weights, out.reshape(size, width * channels))
    else:
        out = np.empty((height, size, channels), np.float32)
        offsets, weights = _flat_taps(width, size, interpolation, channels)
        _weighted_columns(rows, offsets, weights, out.reshape(height, size * channels))
    return out


# Both kernels sum the taps in float32 in the order of k, as NumPy's ``a * w0 + b * w1 ...``
# would, and run without the GIL, so loader threads resize images in parallel.
@numba.njit(cache=True, nogil=True)
def _weighted_rows(image: np.ndarray, index: np.ndarray, weights: np.ndarray, out: np.ndarray):
    """out[i] = sum over k of image[index[i, k]] * weights[i, k], for 2-d arrays."""
    for i in range(out.shape[0]):
        row, weight = image[index[i, 0]], weights[i, 0]
        for j in range(out.shape[1]):
            out[i, j] = np.float32(row[j]) * weight
        for k in range(1, index.shape[1]):
            row, weight = image[index[i, k]], weights[i, k]
            for j in range(out.shape[1]):
                out[i, j] += np.float32(row[j]) * weight


@numba.njit(cache=True, nogil=True)
def _weighted_columns(image: np.ndarray, offsets: np.ndarray, weights: np.ndarray, out: np.ndarray):
    """out[:, j] = sum over k of image[:, offsets[j, k]] * weights[j, k], for 2-d arrays."""
    for r in range(out.shape[0]):
        row, out_row = image[r], out[r]
        for j in range(out.shape[1]):
            out_row[j] = np.float32(row[offsets[j, 0]]) * weights[j, 0]
        for k in range(1, offsets.shape[1]):
            for j in range(out.shape[1]):
                out_row[j] += np.float32(row[offsets[j, k]]) * weights[j, k]


def resize(image: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """A (height, width, channels) image resized to ``size`` = (h, w): float32 (h, w, channels),
    as ``tf.image.resize(image, size, method=interpolation)``.

    >>> resize(np.array([[[0], [10]]], np.uint8), (1, 4))[..., 0]
    array([[ 0. ,  2.5,  7.5, 10. ]], dtype=float32)
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"resize: interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}"
        )
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = image.astype(np.float32, copy=False)
    image = _resize_axis(image, 0, size[0], interpolation)
    return _resize_axis(image, 1, size[1], interpolation).astype(np.float32, copy=False)


def crop_box(height: int, width: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width): the largest centred window of a height x width
    image with the aspect ratio of ``size``, as Keras's ``smart_resize`` computes it."""
    target_height, target_width = size
    crop_height = int(np.float32(width * target_height) / np.float32(target_width))
    crop_width = int(np.float32(height * target_width) / np.float32(target_height))
    crop_height = max(min(height, crop_height), 1)
    crop_width = max(min(width, crop_width), 1)
    return (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width


def smart_resize(
    image: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear"
) -> np.ndarray:
    """Resize without distorting: crop the largest centred window with the target aspect
    ratio, then resize it (``keras.preprocessing.image.smart_resize``). (h, w, c) float32."""
    top, left, height, width = crop_box(image.shape[0], image.shape[1], size)
    return resize(image[top : top + height, left : left + width], size, interpolation)


def resize_with_pad(
    image: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear"
) -> np.ndarray:
    """Resize to fit inside ``size`` keeping the aspect ratio, then pad with zeros, centred
    (``tf.image.resize_with_pad``, float32 arithmetic as TensorFlow). (h, w, c) float32."""
    height, width = np.float32(image.shape[0]), np.float32(image.shape[1])
    target_height, target_width = np.float32(size[0]), np.float32(size[1])
    ratio = max(width / target_width, height / target_height)
    inner_height, inner_width = height / ratio, width / ratio
    top = max(0, int(np.floor((target_height - inner_height) / np.float32(2))))
    left = max(0, int(np.floor((target_width - inner_width) / np.float32(2))))
    inner = resize(image, (int(np.floor(inner_height)), int(np.floor(inner_width))), interpolation)
    out = np.zeros((size[0], size[1], image.shape[2]), np.float32)
    out[top : top + inner.shape[0], left : left + inner.shape[1]] = inner
    return out
