"""The library path (issue 24, item 4): the MNIST model's second convolution (64x13x13x32 images,
3x3x32x64 kernels, ReLU), forward then backward, in a loop outside ``fit``; prints the median ms
per call of the last 50 of 60. ``plain`` is a program that only imports autoconv; ``tuned``
first applies the process settings ``fit`` applies (``autoconv.configure_process()``: glibc's
malloc keeps freed buffers, Numba's threads sleep, OpenBLAS's sleep sooner). Each in its own
process, alternating:

    for r in 1 2 3 4; do
        python bench/library_path.py plain; python bench/library_path.py tuned
    done
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import autoconv as ac

if sys.argv[1:] == ["tuned"]:
    ac.configure_process()
rng = np.random.default_rng(0)
x = ac.Tensor(rng.standard_normal((64, 13, 13, 32)).astype(np.float32), requires_grad=True)
w = ac.Tensor(rng.standard_normal((3, 3, 32, 64)).astype(np.float32), requires_grad=True)
times = []
for _ in range(60):
    started = time.perf_counter()
    ac.conv2d(x, w, activation="relu").sum().backward()
    x.grad = w.grad = None
    times.append(time.perf_counter() - started)
print(f"{statistics.median(times[10:]) * 1000:.2f}")
