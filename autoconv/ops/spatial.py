"""Image ops, channels-last: images (N, H, W, C) or one image (H, W, C), with the numbers of
Keras 3 on its JAX backend. They are what Resizing, UpSampling2D, ZeroPadding2D, Cropping2D,
CenterCrop and the augmentation layers (RandomFlip, RandomRotation, RandomZoom,
RandomTranslation, RandomCrop) compute; RandomContrast and RandomBrightness need no op of
their own (a mean over H and W, arithmetic and ``clip``).

- :func:`resize`: ``keras.ops.image.resize`` (``jax.image.resize``, no antialiasing);
- :func:`affine_transform`: ``keras.ops.image.affine_transform``
  (``jax.scipy.ndimage.map_coordinates``): rotations, zooms, translations;
- :func:`pad2d` and :func:`crop2d`, each the other's VJP; :func:`flip` and :func:`repeat`
  (``keras.ops.flip``, ``keras.ops.repeat``: UpSampling2D's 'nearest').
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.backends.sampling import FILL_MODES, INTERPOLATIONS
from autoconv.ops.base import as_tensor, normalize_axis
from autoconv.ops.reshaping import getitem, reshape
from autoconv.tensor import Tensor, record

# Accepted by keras.ops.image.resize, not computed by autoconv (yet).
UNSUPPORTED_RESIZE = ("lanczos3", "lanczos5", "bicubic")
Amounts = int | Sequence[int] | Sequence[Sequence[int]]


def _check_images(x: Tensor, op: str) -> None:
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{op}: expected images (N, H, W, C) or one image (H, W, C), got shape {x.shape}"
        )


def _as_batch(x: Tensor, op: str) -> tuple[Tensor, bool]:
    """(x as a batch (N, H, W, C), whether it was one image (H, W, C))."""
    _check_images(x, op)
    return (x, False) if x.ndim == 4 else (reshape(x, (1, *x.shape)), True)


def _choice(value: Any, choices: tuple[str, ...], name: str, op: str) -> str:
    if value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{op}: {name} must be one of {expected}, got {value!r}")
    return value


def resize(x: Any, size: Sequence[int], interpolation: str = "bilinear") -> Tensor:
    """Images (N, H, W, C) resampled to ``size`` = (height, width), as
    ``keras.ops.image.resize`` (antialias=False, Keras's default) computes them with
    ``jax.image.resize``:

    - 'bilinear': output pixel i samples the input at (i + 0.5) * H / height - 0.5 (half-pixel
      centres), reading the edge pixel beyond the first and last centres; downscaling also
      reads only the two nearest pixels (no antialiasing);
    - 'nearest': output pixel i reads input pixel floor((i + 0.5) * H / height).

    Its VJP spreads each output gradient back with the same weights (the adjoint).

    >>> resize(np.arange(2.0).reshape(1, 1, 2, 1), (1, 4)).numpy().ravel().tolist()
    [0.0, 0.25, 0.75, 1.0]
    """
    x = as_tensor(x)
    if interpolation in UNSUPPORTED_RESIZE:
        raise ValueError(
            f"resize: interpolation {interpolation!r} is not supported by autoconv yet "
            f"(Keras's {', '.join(UNSUPPORTED_RESIZE)}); use 'bilinear' or 'nearest'"
        )
    _choice(interpolation, INTERPOLATIONS, "interpolation", "resize")
    size = tuple(size)
    if len(size) != 2 or not all(isinstance(n, int | np.integer) and n > 0 for n in size):
        raise ValueError(f"resize: size must be two positive ints (height, width), got {size}")
    batch, single = _as_batch(x, "resize")
    size = (int(size[0]), int(size[1]))
    kernels = backend(batch)
    x_shape = batch.shape

    def backward(g):
        return (kernels.resize_backward(g, x_shape, interpolation),)

    out = record(kernels.resize(batch.data, size, interpolation), (batch,), backward, "resize")
    return reshape(out, out.shape[1:]) if single else out


def affine_transform(
    x: Any,
    transforms: Any,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    fill_value: float = 0.0,
) -> Tensor:
    """Images (N, H, W, C) resampled through one transform each, as
    ``keras.ops.image.affine_transform`` on JAX.

    ``transforms`` (N, 8), or (8,) / (1, 8) for every image, holds Keras's rows
    [a0, a1, a2, b0, b1, b2, c0, c1]: output pixel (row y, column x) reads the input at column
    a0*x + a1*y + a2, row b0*x + b1*y + b2 ('bilinear' from the 4 pixels around it, 'nearest'
    from the closest, halves rounding up). Only affine transforms: c0 = c1 = 0, as every Keras
    layer builds them (Keras's JAX backend does not apply c0, c1 as a projection either).
    Outside the image ``fill_mode`` reads: 'constant' (``fill_value``), 'nearest'
    (a a a | a b c d | d d d), 'wrap' (a b c d | a b c d), 'mirror' (c b | a b c d | c b),
    'reflect' (b a | a b c d | d c). ``transforms`` are data (NumPy, a list, or a Tensor),
    never differentiated, or a function giving them, which a replayed step calls again (a
    step input: the augmentation layers' draws); the VJP in x adds each output gradient,
    times its weight, to the pixels it was read from.
    """
    x = as_tensor(x)
    _choice(interpolation, INTERPOLATIONS, "interpolation", "affine_transform")
    _choice(fill_mode, FILL_MODES, "fill_mode", "affine_transform")
    batch, single = _as_batch(x, "affine_transform")
    kernels = backend(batch)
    given = transforms if callable(transforms) else lambda: transforms
    rows = kernels.step_input(lambda: _transform_rows(given(), batch.shape[0]), x.dtype)

    def backward(g):
        return (kernels.affine_transform_backward(g, rows, interpolation, fill_mode),)

    out = kernels.affine_transform(batch.data, rows, interpolation, fill_mode, float(fill_value))
    out = record(out, (batch,), backward, "affine_transform")
    return reshape(out, out.shape[1:]) if single else out


def _transform_rows(transforms: Any, n_images: int) -> np.ndarray:
    """``transforms`` as a host array (n_images, 8), checked."""
    if isinstance(transforms, Tensor):
        transforms = backend(transforms).to_numpy(transforms.data)
    rows = np.asarray(transforms, dtype=np.float64)
    if rows.ndim == 1:
        rows = rows[None]
    if rows.ndim != 2 or rows.shape[1] != 8 or rows.shape[0] not in (1, n_images):
        raise ValueError(
            f"affine_transform: transforms must have shape (8,), (1, 8) or ({n_images}, 8) "
            f"for {n_images} images, got {np.shape(transforms)}"
        )
    if not np.isfinite(rows).all():
        raise ValueError("affine_transform: transforms hold a NaN or an infinity")
    if (rows[:, 6:] != 0).any():
        raise ValueError(
            "affine_transform: only affine transforms are supported (c0 = c1 = 0, the last "
            "two of each row, as Keras's layers build them); got projective terms "
            f"{rows[:, 6:].tolist()}"
        )
    return np.ascontiguousarray(np.broadcast_to(rows, (n_images, 8)))


def _amounts(amounts: Amounts, name: str, op: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras's forms: an int, (height, width) for both sides, or ((top, bottom), (left, right))."""
    if isinstance(amounts, int | np.integer):
        amounts = (amounts, amounts)
    try:
        pairs = [(a, a) if isinstance(a, int | np.integer) else tuple(a) for a in amounts]
        (top, bottom), (left, right) = pairs
    except (TypeError, ValueError):
        raise ValueError(
            f"{op}: {name} must be an int, (height, width) or ((top, bottom), (left, right)), "
            f"got {amounts!r}"
        ) from None
    values = (top, bottom, left, right)
    if not all(isinstance(v, int | np.integer) and v >= 0 for v in values):
        raise ValueError(f"{op}: {name} must be non-negative ints, got {amounts!r}")
    return (int(top), int(bottom)), (int(left), int(right))


def _inside(ndim: int, top: int, height: int, left: int, width: int) -> tuple[slice, ...]:
    """The index of the (height, width) window at (top, left) of images with ``ndim`` axes."""
    lead = (slice(None),) * (ndim - 3)
    return (*lead, slice(top, top + height), slice(left, left + width), slice(None))


def pad2d(x: Any, padding: Amounts, value: float = 0.0) -> Tensor:
    """Images (N, H, W, C) with ``padding`` rows and columns of ``value`` (0 for Keras's
    ZeroPadding2D) added around them: ((top, bottom), (left, right)), (height, width) or an
    int. Its VJP is the crop of the gradient."""
    x = as_tensor(x)
    _check_images(x, "pad2d")
    (top, bottom), (left, right) = _amounts(padding, "padding", "pad2d")
    *lead, height, width, channels = x.shape
    shape = (*lead, height + top + bottom, width + left + right, channels)
    inside = _inside(x.ndim, top, height, left, width)
    xp = backend(x)
    out = xp.scatter_add(x.data, shape, inside)
    if value:  # value - value = 0 exactly inside: x keeps its bits
        out = out + (value - xp.scatter_add(xp.ones_like(x.data), shape, inside) * value)
    return record(out, (x,), lambda g: (xp.getitem(g, inside),), "pad2d")


def crop2d(x: Any, cropping: Amounts) -> Tensor:
    """Images (N, H, W, C) without ``cropping`` rows and columns at their borders (Keras's
    Cropping2D): ((top, bottom), (left, right)), (height, width) or an int. Its VJP pads the
    gradient with zeros."""
    x = as_tensor(x)
    _check_images(x, "crop2d")
    (top, bottom), (left, right) = _amounts(cropping, "cropping", "crop2d")
    height, width = x.shape[-3] - top - bottom, x.shape[-2] - left - right
    if height <= 0 or width <= 0:
        raise ValueError(
            f"crop2d: cropping (({top}, {bottom}), ({left}, {right})) leaves nothing of "
            f"images of shape {x.shape}"
        )
    inside = _inside(x.ndim, top, height, left, width)
    xp, shape = backend(x), x.shape
    return record(
        xp.getitem(x.data, inside), (x,), lambda g: (xp.scatter_add(g, shape, inside),), "crop2d"
    )


def flip(x: Any, axis: int | Sequence[int] | None = None) -> Tensor:
    """``x`` with the order of its elements reversed along ``axis`` (an int or several; every
    axis when None), as ``keras.ops.flip``: RandomFlip's horizontal flip is axis -2 of
    (N, H, W, C), its vertical flip axis -3. Its VJP flips the gradient back."""
    x = as_tensor(x)
    if axis is None:
        axis = range(x.ndim)
    elif isinstance(axis, int | np.integer):
        axis = (axis,)
    flipped = {normalize_axis(int(a), x.ndim, "flip") for a in axis}
    index = tuple(slice(None, None, -1) if d in flipped else slice(None) for d in range(x.ndim))
    xp = backend(x)
    return record(xp.getitem(x.data, index), (x,), lambda g: (xp.getitem(g, index),), "flip")


def repeat(x: Any, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """Each element of ``x`` repeated ``repeats`` times in place along ``axis`` (of the
    flattened ``x`` when None), as ``keras.ops.repeat``; ``repeats`` may also give one count
    per element along the axis. UpSampling2D's 'nearest' is a repeat along H, then W. Its VJP
    sums each element's copies."""
    x = as_tensor(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = normalize_axis(axis, x.ndim, "repeat")
    counts = np.asarray(repeats)
    if counts.ndim == 1 and counts.shape[0] == 1:
        counts = counts[0]
    if counts.dtype.kind not in "iu" or (counts < 0).any():
        raise ValueError(f"repeat: repeats must be non-negative ints, got {repeats!r}")
    n = x.shape[axis]
    if counts.ndim:  # one count per element: an integer index, whose VJP is a scatter-add
        if counts.shape != (n,):
            raise ValueError(f"repeat: {counts.shape[0]} counts for {n} elements along axis {axis}")
        return getitem(x, (slice(None),) * axis + (np.repeat(np.arange(n), counts),))
    times = int(counts)
    if times == 1:
        return x
    xp = backend(x)
    spread = (*x.shape[: axis + 1], times, *x.shape[axis + 1 :])  # each element, `times` times
    single = (*x.shape[: axis + 1], 1, *x.shape[axis + 1 :])
    out = xp.broadcast_to(x.data.reshape(single), spread).reshape(
        (*x.shape[:axis], n * times, *x.shape[axis + 1 :])
    )
    return record(out, (x,), lambda g: (g.reshape(spread).sum(axis=axis + 1),), "repeat")
