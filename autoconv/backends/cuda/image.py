"""Image resampling kernels on the GPU: resize and affine_transform, forward and backward, one
thread per output element. The names of :mod:`autoconv.backends.cpu.image`, the same
arithmetic (:mod:`autoconv.backends.sampling`).

A resize's backward is its forward kernel with the transposed interpolation matrices: a
gather, one thread per input element, no atomics. An affine transform's backward scatters
with atomic adds (one thread per output gradient): inverting a general transform with wrap
and reflect fills into a gather is not worth its complexity, so its sums are not in a fixed
order (float32 results may differ in the last bits between runs).
"""

from __future__ import annotations

from functools import cache

from numba import cuda
from numba.cuda import to_device  # not cuda.to_device: see runtime.Launch

from autoconv.backends import bounds
from autoconv.backends.cuda.array import CudaArray, empty, zeros
from autoconv.backends.cuda.runtime import cached_kernel, launch
from autoconv.backends.sampling import FILL_MODES, corner, resize_taps, sample_taps


@cached_kernel
def _resample(x, y_start, y_index, y_weight, x_start, x_index, x_weight, out, zero):
    # out[n, i, k, c] = sum over the taps p of row i and q of column k of
    # y_weight[p] * x_weight[q] * x[n, y_index[p], x_index[q], c]
    _, rows, columns, channels = out.shape
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        c = e % channels
        k = (e // channels) % columns
        i = (e // (channels * columns)) % rows
        n = e // (channels * columns * rows)
        total = zero
        for p in range(y_start[i], y_start[i + 1]):
            for q in range(x_start[k], x_start[k + 1]):
                total += y_weight[p] * x_weight[q] * x[n, y_index[p], x_index[q], c]
        out[n, i, k, c] = total


@cached_kernel
def _affine_forward(x, transforms, bilinear, fill_mode, fill_value, half, one, out):
    _, height, width, channels = x.shape
    corners = 4 if bilinear else 1
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        c = e % channels
        j = (e // channels) % width
        i = (e // (channels * width)) % height
        n = e // (channels * width * height)
        y0, wy0, wy1, x0, wx0, wx1 = sample_taps(transforms[n], i, j, bilinear, half, one)
        total = one - one
        for k in range(corners):
            ys, xs, weight = corner(k, y0, x0, wy0, wy1, wx0, wx1, height, width, fill_mode)
            total += weight * (fill_value if ys < 0 or xs < 0 else x[n, ys, xs, c])
        out[n, i, j, c] = total


@cached_kernel
def _affine_backward(grad_out, transforms, bilinear, fill_mode, half, one, grad_x):
    _, height, width, channels = grad_x.shape
    corners = 4 if bilinear else 1
    for e in range(cuda.grid(1), grad_out.size, cuda.gridsize(1)):
        c = e % channels
        j = (e // channels) % width
        i = (e // (channels * width)) % height
        n = e // (channels * width * height)
        y0, wy0, wy1, x0, wx0, wx1 = sample_taps(transforms[n], i, j, bilinear, half, one)
        g = grad_out[n, i, j, c]
        for k in range(corners):
            ys, xs, weight = corner(k, y0, x0, wy0, wy1, wx0, wx1, height, width, fill_mode)
            if ys >= 0 and xs >= 0:
                cuda.atomic.add(grad_x, (n, ys, xs, c), weight * g)


@cache
def _device_taps(size_in: int, size_out: int, interpolation: str, dtype: str, adjoint: bool):
    """resize_taps on the GPU, copied there once per geometry (outside the buffer pool)."""
    return tuple(
        to_device(part) for part in resize_taps(size_in, size_out, interpolation, dtype, adjoint)
    )


def _resample_with(source: CudaArray, out: CudaArray, interpolation: str, adjoint: bool) -> None:
    image, resized = (out, source) if adjoint else (source, out)
    dtype = source.dtype.str
    rows = _device_taps(image.shape[1], resized.shape[1], interpolation, dtype, adjoint)
    columns = _device_taps(image.shape[2], resized.shape[2], interpolation, dtype, adjoint)
    launch(_resample, out.size)(source.nd, *rows, *columns, out.nd, source.dtype.type(0))


def resize(x: CudaArray, size: tuple[int, int], interpolation: str) -> CudaArray:
    """(N, H, W, C) -> (N, size[0], size[1], C), as ``jax.image.resize`` without antialiasing."""
    n, _, _, channels = bounds.images("resize", "x", x)
    bounds.images("resize", "size", (n, *size, channels))
    out = empty((x.shape[0], *size, x.shape[3]), x.dtype)
    if out.size:
        _resample_with(x, out, interpolation, False)
    return out


def resize_backward(grad_out: CudaArray, x_shape: tuple[int, ...], interpolation: str) -> CudaArray:
    """The adjoint of resize: each input pixel gathers the output gradients that read it."""
    n, _, _, channels = bounds.images("resize_backward", "x_shape", x_shape)
    _, out_height, out_width, _ = bounds.images("resize_backward", "grad_out", grad_out)
    bounds.shape_is("resize_backward", "grad_out", grad_out, (n, out_height, out_width, channels))
    grad_x = empty(x_shape, grad_out.dtype)
    if grad_x.size:
        _resample_with(grad_out, grad_x, interpolation, True)
    return grad_x


def affine_transform(
    x: CudaArray, transforms: CudaArray, interpolation: str, fill_mode: str, fill_value: float
) -> CudaArray:
    """Each output pixel (N, H, W, C) sampled from x where its image's transform maps it."""
    n = bounds.images("affine_transform", "x", x)[0]
    bounds.shape_is("affine_transform", "transforms", transforms, (n, 8))
    out = empty(x.shape, x.dtype)
    if out.size:
        real = x.dtype.type
        launch(_affine_forward, out.size)(
            x.nd, transforms.nd, interpolation == "bilinear", FILL_MODES.index(fill_mode),
            real(fill_value), real(0.5), real(1), out.nd,
        )  # fmt: skip
    return out


def affine_transform_backward(
    grad_out: CudaArray, transforms: CudaArray, interpolation: str, fill_mode: str
) -> CudaArray:
    """The adjoint of affine_transform in x: each output gradient added (atomically), times its
    weight, to the pixels it was read from (the fill value takes none)."""
    n = bounds.images("affine_transform_backward", "grad_out", grad_out)[0]
    bounds.shape_is("affine_transform_backward", "transforms", transforms, (n, 8))
    grad_x = zeros(grad_out.shape, grad_out.dtype)
    if grad_x.size:
        real = grad_out.dtype.type
        launch(_affine_backward, grad_out.size)(
            grad_out.nd, transforms.nd, interpolation == "bilinear", FILL_MODES.index(fill_mode),
            real(0.5), real(1), grad_x.nd,
        )  # fmt: skip
    return grad_x
