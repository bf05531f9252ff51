"""A 2-D convolution into one filter, as the depthwise convolution of its input's channels,
summed over them (:func:`autoconv.ops.convolution.conv2d` takes this route).

An autoencoder's, a denoiser's or a binary segmentation model's last layer (``Conv2D(1, 3)``
over many channels) makes a matrix product of one column from unrolled windows (im2col) and, in
its backward, an outer product scattered back (col2im): every window unrolled, written and read
again for one multiply-add each. The depthwise kernels read the images in place. Forward and
backward on this 2-vCPU host (``bench/results/2026-11-28-cpu-recurrent-dropout-and-one-filter.md``,
OpenBLAS variables unset), im2col against this route: 3x3 over (128, 28, 28, 32) 46.5 -> 27.3 ms,
(32, 64, 64, 16) 40.7 -> 26.6, 5x5 over (32, 128, 128, 32) 565 -> 255; but over 1 to 3 channels
im2col stays ahead (4.8 against 13.4 ms at 1), and with 2 or more filters the depthwise kernels'
depth multiplier is slower.
"""

from __future__ import annotations

from typing import Any

from autoconv.ops.conv_variants import depthwise_conv2d
from autoconv.ops.elementwise import relu as relu_of
from autoconv.ops.reduce import sum as sum_of
from autoconv.tensor import Tensor

# Images of at least this many channels convolved into one filter take this route.
MIN_CHANNELS = 16


def takes(x: Tensor, w: Tensor, groups: int) -> bool:
    """Whether conv2d of images ``x`` (N, H, W, Cin) with ``w`` (KH, KW, Cin, Cout) takes
    this route: one filter, one group, at least :data:`MIN_CHANNELS` channels."""
    return groups == 1 and w.shape[-1] == 1 and x.shape[-1] >= MIN_CHANNELS


def conv2d(
    x: Tensor, w: Tensor, b: Tensor | None, stride: Any, padding: Any, dilation: Any, relu: bool
) -> Tensor:
    """(N, OH, OW, 1): each channel of ``x`` convolved with its own (KH, KW) slice of ``w``,
    summed over the channels, plus ``b`` (1,), through a ReLU with ``relu``."""
    out = sum_of(depthwise_conv2d(x, w, None, stride, padding, dilation), axis=3, keepdims=True)
    out = out if b is None else out + b
    return relu_of(out) if relu else out
