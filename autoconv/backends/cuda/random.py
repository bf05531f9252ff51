"""Random numbers on the GPU (dropout's masks, Gaussian noise): uniform and standard normal
draws from a counter-based hash of a seed the host's generator gives, so no state lives on the
device and the numbers do not depend on the launch shape. The seed reaches the kernel as a step
input (:func:`~autoconv.backends.cuda.capture.step_input`): a replayed step draws a new one
from the same generator, as the eager step does.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends.cuda.array import CudaArray, empty
from autoconv.backends.cuda.capture import step_input
from autoconv.backends.cuda.runtime import cached_kernel, launch


@cuda.jit(device=True)
def _random_bits(seed, i):
    # Counter-based: draw i gets splitmix64(seed + i * golden), so the numbers do not depend on
    # the launch shape and need no per-thread state.
    z = numba.uint64(seed) + numba.uint64(i) * numba.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> numba.uint64(30))) * numba.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> numba.uint64(27))) * numba.uint64(0x94D049BB133111EB)
    return z ^ (z >> numba.uint64(31))


@cache
def _uniform_kernel(dtype: str) -> Any:
    item = numba.from_dtype(np.dtype(dtype))

    @cached_kernel
    def kernel(seeds, out):
        seed = seeds[0]
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            bits = _random_bits(seed, i)
            out[i] = item(bits >> numba.uint64(40)) * item(1.0 / 16777216.0)  # 24 bits in [0, 1)

    return kernel


@cache
def _normal_kernel(dtype: str) -> Any:
    item = numba.from_dtype(np.dtype(dtype))

    @cached_kernel
    def kernel(seeds, out):
        seed = seeds[0]
        # Marsaglia's polar method (no cos, whose float32 code has a float64 path): a point
        # (u, v) uniform in [-1, 1)^2 until it falls inside the unit circle (1.27 tries on
        # average); try k of element i takes the draws 2 * (k * size + i) and the next one.
        for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
            draw = numba.uint64(i)
            while True:
                first = _random_bits(seed, numba.uint64(2) * draw)
                second = _random_bits(seed, numba.uint64(2) * draw + numba.uint64(1))
                u = item(first >> numba.uint64(40)) * item(2.0 / 16777216.0) - item(1.0)
                v = item(second >> numba.uint64(40)) * item(2.0 / 16777216.0) - item(1.0)
                s = u * u + v * v
                if s < item(1.0) and s > item(0.0):
                    break
                draw += numba.uint64(out.size)
            out[i] = u * math.sqrt(item(-2.0) * math.log(s) / s)

    return kernel


def random_uniform(shape: tuple[int, ...], dtype: Any, rng: np.random.Generator) -> CudaArray:
    """Uniform [0, 1) numbers drawn on the GPU; the seed comes from ``rng`` (host, no sync)."""
    out = empty(tuple(shape), dtype)
    if out.size:
        launch(_uniform_kernel(out.dtype.str), out.size)(_seed(rng).flat, out.flat)
    return out


def random_normal(shape: tuple[int, ...], dtype: Any, rng: np.random.Generator) -> CudaArray:
    """Standard normal numbers drawn on the GPU (polar method); the seed comes from ``rng``."""
    out = empty(tuple(shape), dtype)
    if out.size:
        launch(_normal_kernel(out.dtype.str), out.size)(_seed(rng).flat, out.flat)
    return out


def _seed(rng: np.random.Generator) -> CudaArray:
    """A seed from ``rng`` on the device, drawn anew at every step a replay repeats."""
    return step_input(lambda: [rng.integers(2**63)], np.uint64)
