"""2-D and 1-D max and average pooling, channels-last (1-D pooling is 2-D pooling of images
of height 1).

``padding='same'`` pads so the output is ceil(H / stride) and uses partial windows at the
border: the max over the cells inside the image, or their mean (dividing by how many there
are, as Keras does). Max pooling saves the arg-max of each window in the forward pass, so its
backward is a scatter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import backend
from autoconv.ops.base import as_tensor
from autoconv.tensor import Tensor, record
from autoconv.windows import Window, pool_window, pool_window_1d

Size = int | tuple[int, int]


def max_pool2d(
    x: Any, pool_size: Size = 2, strides: Size | None = None, padding: str = "valid"
) -> Tensor:
    """Maximum over each pool_size window of x (N, H, W, C) -> (N, OH, OW, C).

    ``strides`` defaults to ``pool_size``. The gradient goes to the window's first maximum in
    row-major order (one winner per window).
    """
    x = as_tensor(x)
    win = pool_window("max_pool2d", x.shape, pool_size, strides, padding)
    return _max_pool(x, win, "max_pool2d")


def avg_pool2d(
    x: Any, pool_size: Size = 2, strides: Size | None = None, padding: str = "valid"
) -> Tensor:
    """Mean over each pool_size window of x (N, H, W, C) -> (N, OH, OW, C).

    ``strides`` defaults to ``pool_size``; border windows with ``padding='same'`` average only
    the cells inside the image.
    """
    x = as_tensor(x)
    win = pool_window("avg_pool2d", x.shape, pool_size, strides, padding)
    return _avg_pool(x, win, "avg_pool2d")


def max_pool1d(
    x: Any, pool_size: int | tuple[int] = 2, strides: int | tuple[int] | None = None,
    padding: str = "valid",
) -> Tensor:  # fmt: skip
    """Maximum over each pool_size window of sequences x (N, L, C) -> (N, OL, C), as
    :func:`max_pool2d` of images of height 1 (Keras's MaxPooling1D)."""
    x = as_tensor(x)
    win = pool_window_1d("max_pool1d", x.shape, pool_size, strides, padding)
    return _max_pool(x, win, "max_pool1d")


def avg_pool1d(
    x: Any, pool_size: int | tuple[int] = 2, strides: int | tuple[int] | None = None,
    padding: str = "valid",
) -> Tensor:  # fmt: skip
    """Mean over each pool_size window of sequences x (N, L, C) -> (N, OL, C), as
    :func:`avg_pool2d` of images of height 1 (Keras's AveragePooling1D)."""
    x = as_tensor(x)
    win = pool_window_1d("avg_pool1d", x.shape, pool_size, strides, padding)
    return _avg_pool(x, win, "avg_pool1d")


def _images(x: Tensor) -> tuple[int, ...]:
    """The image shape pooling sees: x's own, or (N, 1, L, C) for sequences (N, L, C)."""
    return x.shape if x.ndim == 4 else (x.shape[0], 1, *x.shape[1:])


def _pooled(out: Any, x: Tensor) -> Any:
    """The pooled images ``out`` in x's layout (sequences drop the height of 1)."""
    return out if x.ndim == 4 else out.reshape(out.shape[0], out.shape[2], out.shape[3])


def _max_pool(x: Tensor, win: Window, op: str) -> Tensor:
    """Max pooling of images x (N, H, W, C), or sequences (N, L, C), over ``win``."""
    kernels = backend(x)
    images = _images(x)
    out, argmax = kernels.max_pool_forward(x.data.reshape(images), win)
    x_shape = x.shape

    def backward(g: np.ndarray):
        grad = kernels.max_pool_backward(g.reshape(out.shape), argmax, images, win)
        return (grad.reshape(x_shape),)

    return record(_pooled(out, x), (x,), backward, op)


def _avg_pool(x: Tensor, win: Window, op: str) -> Tensor:
    """Average pooling of images x (N, H, W, C), or sequences (N, L, C), over ``win``."""
    kernels = backend(x)
    images = _images(x)
    out = kernels.avg_pool_forward(x.data.reshape(images), win)
    x_shape = x.shape

    def backward(g: np.ndarray):
        grad = kernels.avg_pool_backward(g.reshape(out.shape), images, win)
        return (grad.reshape(x_shape),)

    return record(_pooled(out, x), (x,), backward, op)
