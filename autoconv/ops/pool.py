"""2-D max and average pooling, channels-last.

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
from autoconv.windows import pool_window

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
    kernels = backend(x)
    out, argmax = kernels.max_pool_forward(x.data, win)
    x_shape = x.shape

    def backward(g: np.ndarray):
        return (kernels.max_pool_backward(g, argmax, x_shape, win),)

    return record(out, (x,), backward, "max_pool2d")


def avg_pool2d(
    x: Any, pool_size: Size = 2, strides: Size | None = None, padding: str = "valid"
) -> Tensor:
    """Mean over each pool_size window of x (N, H, W, C) -> (N, OH, OW, C).

    ``strides`` defaults to ``pool_size``; border windows with ``padding='same'`` average only
    the cells inside the image.
    """
    x = as_tensor(x)
    win = pool_window("avg_pool2d", x.shape, pool_size, strides, padding)
    kernels = backend(x)
    x_shape = x.shape

    def backward(g: np.ndarray):
        return (kernels.avg_pool_backward(g, x_shape, win),)

    return record(kernels.avg_pool_forward(x.data, win), (x,), backward, "avg_pool2d")
