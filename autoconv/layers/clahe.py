"""ContrastLimitedAdaptiveHistogramEqualization (CLAHE), following Keras 3's
``keras/src/layers/preprocessing/image_preprocessing/clahe.py``: arguments, defaults, config
and numbers are Keras's.

A histogram of each tile is no differentiable op (Keras's is not differentiable either): the
layer computes on the host with NumPy, in float32 as Keras does, and its output is a constant
to autograd, on the images' device.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from autoconv.layers.color_augmentation import UnrandomLayer, checked_range
from autoconv.layers.preprocessing import image_batch
from autoconv.ops import engine as ops
from autoconv.ops.convert import host_op
from autoconv.tensor import Tensor

BINS = 256  # a histogram's bins: the integer values 0 ... 255 of the (0, 255) scale


class ContrastLimitedAdaptiveHistogramEqualization(UnrandomLayer):
    """Equalizes each channel of each image tile by tile: the image (its values in
    ``value_range``, moved to (0, 255)) is cut into ``tile_grid_size`` (rows, columns) tiles
    (padded at the bottom and right by mirroring to whole tiles); each tile's histogram of the
    truncated values is clipped at ``clip_limit`` times its mean count (the excess spread over
    all bins; no clipping when ``clip_limit <= 0``) and its cumulative sum stretched to (0,
    255); each pixel's value is read from the four nearest tiles' mappings, bilinearly. Images
    (N, H, W, C) or one (H, W, C) -> the same shape. Not random, and applied in inference too,
    as Keras's."""

    def __init__(
        self,
        value_range: Sequence[float] = (0, 255),
        clip_limit: float = 4.0,
        tile_grid_size: Sequence[int] = (8, 8),
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        if not isinstance(clip_limit, numbers.Real) or isinstance(clip_limit, bool):
            raise ValueError(f"{owner}: clip_limit must be a number, got {clip_limit!r}")
        if not (
            isinstance(tile_grid_size, list | tuple)
            and len(tile_grid_size) == 2
            and all(isinstance(n, int | np.integer) and not isinstance(n, bool) and n > 0
                    for n in tile_grid_size)
        ):  # fmt: skip
            raise ValueError(
                f"{owner}: tile_grid_size must be a tuple of 2 positive ints (rows, columns), "
                f"got {tile_grid_size!r}"
            )
        super().__init__(data_format, **kwargs)
        self.value_range = checked_range(value_range, sort=False)
        self.clip_limit = clip_limit
        self.tile_grid_size = tile_grid_size

    def call(self, inputs: Tensor, training: bool = True) -> Tensor:
        images, single = image_batch(self, inputs)
        out = self.transform_images(images)
        return ops.reshape(out, out.shape[1:]) if single else out

    def transform_images(self, images: Tensor, transformation: Any = None) -> Tensor:
        """``images`` (N, H, W, C) equalized (a constant: no gradient)."""
        return host_op("clahe", self._equalize, None, [images])

    def _equalize(self, images: np.ndarray) -> np.ndarray:
        """Keras's ``transform_images`` on a batch (N, H, W, C), in float32."""
        scaled = _rescaled(images.astype(np.float32), self.value_range, (0, 255))
        equalized = clahe(scaled, float(self.clip_limit), tuple(self.tile_grid_size))
        return _rescaled(equalized, (0, 255), self.value_range)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "data_format": self.data_format,
            "value_range": self.value_range,
            "clip_limit": self.clip_limit,
            "tile_grid_size": self.tile_grid_size,
        }


def _rescaled(images: np.ndarray, source: Sequence[float], target: Sequence[float]) -> np.ndarray:
    """Keras's ``_transform_value_range`` in float32 (unchanged when the ranges are equal)."""
    (source_low, source_high), (target_low, target_high) = (np.float32(source), np.float32(target))
    if (source_low, source_high) == (target_low, target_high):
        return images
    unit = (images - source_low) / (source_high - source_low)
    return unit * (target_high - target_low) + target_low


def clahe(images: np.ndarray, clip_limit: float, grid: tuple[int, int]) -> np.ndarray:
    """Keras's ``_clahe`` of float32 ``images`` (N, H, W, C) in the scale (0, 255), with
    ``grid`` (rows, columns) tiles: (N, H, W, C) float32."""
    n, height, width, channels = images.shape
    grid_h, grid_w = grid
    tile_h, tile_w = -(-height // grid_h), -(-width // grid_w)
    padded = np.pad(
        images, ((0, 0), (0, tile_h * grid_h - height), (0, tile_w * grid_w - width), (0, 0)),
        mode="symmetric",
    )  # fmt: skip
    # each tile's histogram: (N, grid_h, grid_w, C, BINS), counted in float32
    tiles = padded.reshape(n, grid_h, tile_h, grid_w, tile_w, channels)
    tiles = tiles.transpose(0, 1, 3, 5, 2, 4).reshape(-1, tile_h * tile_w)
    values = np.clip(tiles.astype(np.int32), 0, BINS - 1)  # truncated, as Keras's cast
    rows = np.arange(len(values))[:, None] * BINS
    counts = np.bincount((rows + values).ravel(), minlength=len(values) * BINS)
    histograms = counts.reshape(n, grid_h, grid_w, channels, BINS).astype(np.float32)
    if clip_limit > 0:
        limit = np.float32(clip_limit * (tile_h * tile_w) / 256.0)
        clipped = np.clip(histograms, 0, limit)
        excess = (histograms - clipped).sum(axis=-1, keepdims=True)
        histograms = clipped + excess / np.float32(256.0)
    cdf = np.cumsum(histograms, axis=-1)
    cdf_min = cdf.min(axis=-1, keepdims=True)
    denominator = np.float32(tile_h * tile_w) - cdf_min
    denominator[denominator == 0] = 1
    mapping = np.clip((cdf - cdf_min) * np.float32(255.0) / denominator, 0, 255)
    # the edge tiles' mappings repeated around the grid: (N, grid_h + 2, grid_w + 2, C, BINS)
    mapping = np.pad(mapping, ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0)), mode="edge")
    y0, y1, wy = _neighbours(tile_h * grid_h, tile_h, grid_h)
    x0, x1, wx = _neighbours(tile_w * grid_w, tile_w, grid_w)
    pixels = np.clip(padded, 0, 255).astype(np.int32)
    b = np.arange(n)[:, None, None, None]
    c = np.arange(channels)[None, None, None, :]
    y0, y1, wy = y0[None, :, None, None], y1[None, :, None, None], wy[None, :, None, None]
    x0, x1, wx = x0[None, None, :, None], x1[None, None, :, None], wx[None, None, :, None]
    top = mapping[b, y0, x0, c, pixels] * (1 - wx) + mapping[b, y0, x1, c, pixels] * wx
    bottom = mapping[b, y1, x0, c, pixels] * (1 - wx) + mapping[b, y1, x1, c, pixels] * wx
    result = top * (1 - wy) + bottom * wy
    return result[:, :height, :width, :]


def _neighbours(size: int, tile: int, grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row (or column) of ``size``: the two tiles (of the edge-padded grid) whose
    centres surround it, and the second one's weight (float32), as Keras computes them."""
    place = (np.arange(size, dtype=np.float32) - np.float32(tile / 2.0)) / np.float32(tile)
    place = place + np.float32(1.0)
    first = np.floor(place)
    weight = place - first
    low = np.clip(first, 0, grid + 1).astype(np.int32)
    high = np.clip(first + 1, 0, grid + 1).astype(np.int32)
    return low, high, weight
