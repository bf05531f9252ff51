"""Image resampling kernels, channels-last (N, H, W, C): resize and affine_transform, forward
and backward, with Keras 3's numbers (see :mod:`autoconv.backends.sampling`).

Every kernel runs over the images in parallel (``prange``) with the channels innermost; each
backward thread adds only into its own images. A resize is separable: one kernel applies a
sparse interpolation matrix along H and another along W, and its backward is the same kernel
with both matrices transposed.
"""

from __future__ import annotations

import numba
import numpy as np

from autoconv.backends import bounds
from autoconv.backends.cpu import workspace
from autoconv.backends.cpu.jit import Kernel
from autoconv.backends.sampling import FILL_MODES, corner, resize_taps, sample_taps


@Kernel
def _resample(x, y_start, y_index, y_weight, x_start, x_index, x_weight, out):
    # out[n, i, k] = sum over the taps p of row i and q of column k of
    # y_weight[p] * x_weight[q] * x[n, y_index[p], x_index[q]]
    n_images, rows, columns, channels = out.shape
    for n in numba.prange(n_images):
        for i in range(rows):
            for k in range(columns):
                cell = out[n, i, k]
                cell[:] = 0
                for p in range(y_start[i], y_start[i + 1]):
                    for q in range(x_start[k], x_start[k + 1]):
                        weight = y_weight[p] * x_weight[q]
                        pixel = x[n, y_index[p], x_index[q]]
                        for c in range(channels):
                            cell[c] += weight * pixel[c]


@Kernel
def _affine_forward(x, transforms, bilinear, fill_mode, fill_value, half, one, out):
    n_images, height, width, channels = x.shape
    corners = 4 if bilinear else 1
    for n in numba.prange(n_images):
        for i in range(height):
            for j in range(width):
                y0, wy0, wy1, x0, wx0, wx1 = sample_taps(transforms[n], i, j, bilinear, half, one)
                cell = out[n, i, j]
                cell[:] = 0
                for k in range(corners):
                    ys, xs, weight = corner(k, y0, x0, wy0, wy1, wx0, wx1, height, width, fill_mode)
                    if ys < 0 or xs < 0:
                        for c in range(channels):
                            cell[c] += weight * fill_value
                    else:
                        pixel = x[n, ys, xs]
                        for c in range(channels):
                            cell[c] += weight * pixel[c]


@Kernel
def _affine_backward(grad_out, transforms, bilinear, fill_mode, half, one, grad_x):
    # The adjoint of _affine_forward: each output gradient added to the pixels it was read from.
    n_images, height, width, channels = grad_x.shape
    corners = 4 if bilinear else 1
    for n in numba.prange(n_images):
        grad_x[n] = 0
        for i in range(height):
            for j in range(width):
                y0, wy0, wy1, x0, wx0, wx1 = sample_taps(transforms[n], i, j, bilinear, half, one)
                g = grad_out[n, i, j]
                for k in range(corners):
                    ys, xs, weight = corner(k, y0, x0, wy0, wy1, wx0, wx1, height, width, fill_mode)
                    if ys >= 0 and xs >= 0:
                        pixel = grad_x[n, ys, xs]
                        for c in range(channels):
                            pixel[c] += weight * g[c]


def resize(x: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    """(N, H, W, C) -> (N, size[0], size[1], C), as ``jax.image.resize`` without antialiasing."""
    n, height, width, channels = bounds.images("resize", "x", x)
    bounds.images("resize", "size", (n, *size, channels))
    rows = resize_taps(height, size[0], interpolation, x.dtype.str, False)
    columns = resize_taps(width, size[1], interpolation, x.dtype.str, False)
    out = workspace.empty((n, *size, channels), x.dtype)
    _resample(x.size + out.size, np.ascontiguousarray(x), *rows, *columns, out)
    return out


def resize_backward(
    grad_out: np.ndarray, x_shape: tuple[int, ...], interpolation: str
) -> np.ndarray:
    """The adjoint of resize: each output gradient spread back over the pixels it read."""
    n, height, width, channels = bounds.images("resize_backward", "x_shape", x_shape)
    _, out_height, out_width, _ = bounds.images("resize_backward", "grad_out", grad_out)
    bounds.shape_is("resize_backward", "grad_out", grad_out, (n, out_height, out_width, channels))
    rows = resize_taps(height, out_height, interpolation, grad_out.dtype.str, True)
    columns = resize_taps(width, out_width, interpolation, grad_out.dtype.str, True)
    grad_x = workspace.empty(x_shape, grad_out.dtype)
    _resample(grad_out.size + grad_x.size, np.ascontiguousarray(grad_out), *rows, *columns, grad_x)
    return grad_x


def affine_transform(
    x: np.ndarray, transforms: np.ndarray, interpolation: str, fill_mode: str, fill_value: float
) -> np.ndarray:
    """Each output pixel (N, H, W, C) sampled from x where its image's transform maps it."""
    bounds.shape_is(
        "affine_transform",
        "transforms",
        transforms,
        (bounds.images("affine_transform", "x", x)[0], 8),
    )
    out = workspace.empty(x.shape, x.dtype)
    real = x.dtype.type
    _affine_forward(
        2 * x.size, np.ascontiguousarray(x), transforms, interpolation == "bilinear",
        FILL_MODES.index(fill_mode), real(fill_value), real(0.5), real(1), out,
    )  # fmt: skip
    return out


def affine_transform_backward(
    grad_out: np.ndarray, transforms: np.ndarray, interpolation: str, fill_mode: str
) -> np.ndarray:
    """The adjoint of affine_transform in x: each output gradient added, times its weight, to
    the pixels it was read from (the fill value takes none)."""
    n = bounds.images("affine_transform_backward", "grad_out", grad_out)[0]
    bounds.shape_is("affine_transform_backward", "transforms", transforms, (n, 8))
    grad_x = workspace.empty(grad_out.shape, grad_out.dtype)
    real = grad_out.dtype.type
    _affine_backward(
        2 * grad_out.size, np.ascontiguousarray(grad_out), transforms,
        interpolation == "bilinear", FILL_MODES.index(fill_mode), real(0.5), real(1), grad_x,
    )  # fmt: skip
    return grad_x
