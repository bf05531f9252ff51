"""A convolution into one filter, forward and backward (the sum of the output's squares), by
the route conv2d takes for it (the depthwise convolution of the channels, summed:
``autoconv/ops/single_filter.py``) and by unrolled windows (im2col), alternating in this
process, the median of 5 after a warm-up each.

    python bench/single_filter_conv.py

Shapes: (images, size, channels, kernel, stride), 'same' padding."""

from __future__ import annotations

import time

import numpy as np

import autoconv as ac
from autoconv.ops import engine as ops
from autoconv.ops import single_filter

SHAPES = [(128, 28, 32, 3, 1), (32, 64, 16, 3, 1), (32, 64, 64, 3, 2), (32, 128, 32, 5, 1),
          (128, 28, 3, 3, 1), (128, 28, 1, 3, 1)]  # fmt: skip


def step(x_values: np.ndarray, w_values: np.ndarray, stride: int) -> None:
    x = ac.Tensor(x_values, requires_grad=True)
    w = ac.Tensor(w_values, requires_grad=True)
    out = ops.conv2d(x, w, stride=stride, padding="same")
    (out * out).sum().backward()


def main() -> None:
    rng = np.random.default_rng(0)
    routed = single_filter.MIN_CHANNELS
    print("images size channels kernel stride | im2col ms | one-filter route ms")
    for n, size, channels, kernel, stride in SHAPES:
        x = rng.random((n, size, size, channels), dtype=np.float32)
        w = (rng.standard_normal((kernel, kernel, channels, 1)) * 0.1).astype(np.float32)
        times: dict[str, list[float]] = {"im2col": [], "route": []}
        for _ in range(6):
            for route, minimum in (("im2col", 10**9), ("route", 1)):
                single_filter.MIN_CHANNELS = minimum
                started = time.perf_counter()
                step(x, w, stride)
                times[route].append(time.perf_counter() - started)
        single_filter.MIN_CHANNELS = routed
        ms = {route: np.median(values[1:]) * 1e3 for route, values in times.items()}
        print(f"{n} {size} {channels} {kernel} {stride} | {ms['im2col']:.1f} | {ms['route']:.1f}")


if __name__ == "__main__":
    main()
