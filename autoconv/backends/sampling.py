"""Where image resampling reads, shared by the image kernels of both backends (the numbers of
Keras 3 on its JAX backend).

- :func:`resize_taps`: along one axis, the input pixels each output pixel of a resize reads and
  their weights, as ``jax.image.resize(..., antialias=False)`` computes them (Keras's
  ``ops.image.resize``). Built on the host, once per geometry.
- :func:`sample_taps`, :func:`first_tap`, :func:`source` and :func:`corner`: the arithmetic
  of one sample of ``affine_transform`` (``jax.scipy.ndimage.map_coordinates``), written once
  in plain Python and registered with Numba, so the CPU and the CUDA kernels run the same code.
  Scalars arrive in the image's dtype (``half``, ``one``) and ints are cast to it
  (:func:`to_float`), so float32 kernels stay float32. Numba's cache keys a CPU kernel on its
  own file only: after editing these, clear the ``__pycache__`` of ``backends/cpu``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from numba.extending import overload, register_jitable

INTERPOLATIONS = ("bilinear", "nearest")
# Keras's fill modes, numbered as the kernels see them.
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


class Taps(NamedTuple):
    """A sparse interpolation matrix, by rows: row r reads column ``index[p]`` with weight
    ``weight[p]`` for p in range(start[r], start[r + 1])."""

    start: np.ndarray  # int32 (rows + 1,)
    index: np.ndarray  # int32
    weight: np.ndarray  # the image's dtype


@lru_cache(maxsize=256)
def resize_taps(size_in: int, size_out: int, interpolation: str, dtype: str, adjoint: bool) -> Taps:
    """The (size_out x size_in) matrix a resize applies along one axis, or its transpose when
    ``adjoint`` (which the backward pass applies). Mirrors ``jax.image.resize``:

    - 'bilinear': output pixel i samples s = (i + 0.5) * size_in / size_out - 0.5 (half-pixel
      centres) with the triangle kernel max(0, 1 - |s - j|), normalized over the pixels inside
      the image, so samples before the first centre (or after the last) read the edge pixel.
      No antialiasing: downscaling also reads the two nearest pixels only.
    - 'nearest': output pixel i reads pixel floor((i + 0.5) * size_in / size_out), computed in
      float32 as JAX does.
    """
    rows = np.arange(size_out)
    if interpolation == "nearest":
        position = (rows.astype(np.float32) + np.float32(0.5)) * np.float32(size_in)
        columns = np.floor(position / np.float32(size_out)).astype(np.int64)
        weights = np.ones(size_out, dtype)
    else:
        real = np.dtype(dtype).type
        inverse_scale = real(1.0 / (size_out / size_in))  # as JAX: 1 / scale
        sample = (rows.astype(dtype) + real(0.5)) * inverse_scale - real(0.5)
        lower = np.floor(sample).astype(np.int64)
        pair = np.stack([lower, lower + 1], axis=1)  # the two pixels the triangle can reach
        weights = np.maximum(0, 1 - np.abs(sample[:, None] - pair.astype(dtype)))
        weights[(pair < 0) | (pair >= size_in)] = 0
        weights /= weights.sum(axis=1, keepdims=True)  # >= 0.5: one pixel is always in reach
        keep = weights > 0
        rows, columns, weights = np.nonzero(keep)[0], pair[keep], weights[keep]
    if adjoint:
        rows, columns = columns, rows
    n_rows = size_in if adjoint else size_out
    order = np.lexsort((columns, rows))
    start = np.searchsorted(rows[order], np.arange(n_rows + 1)).astype(np.int32)
    return Taps(start, columns[order].astype(np.int32), weights[order])


def to_float(value: Any, like: Any) -> Any:
    """``value`` as a float of ``like``'s type (in compiled code a cast to its Numba type), so
    that an int meets a float32 without making it float64."""
    return type(like)(value)


@overload(to_float)
def _to_float(value, like):  # no annotations: Numba matches them with the lambda's
    cast = like  # the Numba type of ``like``: calling it casts
    return lambda value, like: cast(value)


@register_jitable
def first_tap(coord: Any, bilinear: bool, half: Any, one: Any) -> tuple[int, Any, Any]:
    """(index of the first pixel a sample at ``coord`` reads, its weight, the weight of the
    pixel after it). Bilinear reads floor(c) and floor(c) + 1 with weights 1 - f and f,
    f = c - floor(c); nearest reads floor(c + 0.5) alone (halves round up, as JAX does)."""
    if bilinear:
        lower = math.floor(coord)  # an int on the CPU, a float on CUDA: cast either way
        upper = coord - to_float(lower, one)
        return int(lower), one - upper, upper
    return int(math.floor(coord + half)), one, one - one  # noqa: RUF046 - a float on CUDA


@register_jitable
def sample_taps(
    transform: Any, i: int, j: int, bilinear: bool, half: Any, one: Any
) -> tuple[int, Any, Any, int, Any, Any]:
    """(y0, wy0, wy1, x0, wx0, wx1): the first taps of output pixel (row i, column j) through
    ``transform`` = [a0, a1, a2, b0, b1, b2, ...], which reads column a0*j + a1*i + a2 and row
    b0*j + b1*i + b2 of the input."""
    row, column = to_float(i, one), to_float(j, one)
    y = transform[3] * column + transform[4] * row + transform[5]
    x = transform[0] * column + transform[1] * row + transform[2]
    y0, wy0, wy1 = first_tap(y, bilinear, half, one)
    x0, wx0, wx1 = first_tap(x, bilinear, half, one)
    return y0, wy0, wy1, x0, wx0, wx1


@register_jitable
def source(index: int, size: int, fill_mode: int) -> int:
    """The pixel read for ``index`` along an axis of ``size`` pixels, or -1 where the fill
    value is read (JAX's index fixers; a b c d stands for the image):
    constant (k k k | a b c d | k k k), nearest (a a a | a b c d | d d d),
    wrap (b c d | a b c d | a b c), mirror (d c b | a b c d | c b a),
    reflect (c b a | a b c d | d c b)."""
    if 0 <= index < size:
        return index
    if fill_mode == 0:
        return -1
    if fill_mode == 1:
        return min(max(index, 0), size - 1)
    if fill_mode == 2:
        period = size
    elif fill_mode == 3:
        period = 2 * size - 2
        if period == 0:
            return 0
    else:
        period = 2 * size
    k = index % period
    if k < 0:  # the same on every target, whatever its sign convention for %
        k += period
    if k < size:
        return k
    return period - k if fill_mode == 3 else period - 1 - k


@register_jitable
def corner(
    t: int, y0: int, x0: int, wy0: Any, wy1: Any, wx0: Any, wx1: Any, height: int, width: int,
    fill_mode: int,
) -> tuple[int, int, Any]:  # fmt: skip
    """The t-th pixel a sample reads, row-major (t < 4 for bilinear, t = 0 for nearest), from
    its first taps (y0, x0) and their weights: (row, column, weight); row or column is -1
    where the fill value is read."""
    dy, dx = t // 2, t % 2
    weight = (wy1 if dy else wy0) * (wx1 if dx else wx0)
    return source(y0 + dy, height, fill_mode), source(x0 + dx, width, fill_mode), weight
