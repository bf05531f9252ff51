"""The fix to numba-cuda's CUDA simulator (autoconv/backends/cuda/simulator.py): a launch's
threads share one array per ``cuda.shared.array`` line, however the interpreter interleaves
them while the array is made."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("numba_cuda")

from numba import cuda

from autoconv.backends.cuda.runtime import SIMULATED

pytestmark = pytest.mark.skipif(not SIMULATED, reason="a fix to the CUDA simulator")

THREADS = 8


@cuda.jit
def _block_sums(out):
    # Each thread puts its number in the shared array; after the barrier thread 0 adds them.
    shared = cuda.shared.array(THREADS, np.int64)
    t = cuda.threadIdx.x
    shared[t] = t + 1
    cuda.syncthreads()
    if t == 0:
        total = 0
        for i in range(THREADS):
            total += shared[i]
        out[cuda.blockIdx.x] = total


class _SlowLookups(dict):
    """The simulator's dict of a launch's shared arrays, each look-up slowed so that the
    interpreter switches threads between a thread's look-up and its store."""

    def get(self, key, default=None):
        found = dict.get(self, key, default)
        time.sleep(0.002)
        return found


@pytest.mark.parametrize("blocks", [1, 3])
def test_every_thread_of_a_launch_gets_the_one_shared_array(blocks, monkeypatch):
    from numba.cuda.simulator import kernelapi

    made = kernelapi.FakeCUDAShared.__init__

    def slowed(self, *args):
        made(self, *args)
        self._allocations = _SlowLookups()

    monkeypatch.setattr(kernelapi.FakeCUDAShared, "__init__", slowed)
    out = cuda.to_device(np.zeros(blocks, np.int64))
    _block_sums[blocks, THREADS](out)
    np.testing.assert_array_equal(out.copy_to_host(), THREADS * (THREADS + 1) // 2)
