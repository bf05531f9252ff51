"""The fixes to numba-cuda's CUDA simulator (autoconv/backends/cuda/simulator.py): a launch's
threads share one array per ``cuda.shared.array`` line, however the interpreter interleaves
them while the array is made; a block waits for its threads at barriers without polling them,
with the simulator's barriers and errors."""

from __future__ import annotations

import threading
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


@cuda.jit
def _rotations(out, turns):
    # The block's values rotated by one place per turn through shared memory, two barriers a
    # turn; threads past ``out.size`` end early (the others' barriers then wait for the rest).
    shared = cuda.shared.array(THREADS, np.int64)
    t = cuda.threadIdx.x
    if t >= out.size:
        return
    value = t + 100 * cuda.blockIdx.x
    for _ in range(turns):
        shared[t] = value
        cuda.syncthreads()
        value = shared[(t + 1) % out.size]
        cuda.syncthreads()
    out[t] = value


@pytest.mark.parametrize("live", [THREADS, 5])
@pytest.mark.parametrize("turns", [0, 1, 7])
def test_barriers_hold_every_thread_until_the_block_arrives(live, turns):
    out = cuda.to_device(np.zeros(live, np.int64))
    _rotations[1, THREADS](out, turns)
    np.testing.assert_array_equal(out.copy_to_host(), (np.arange(live) + turns) % live)


def test_a_block_waits_for_its_threads_without_polling_them(monkeypatch):
    polls = []
    alive = threading.Thread.is_alive
    monkeypatch.setattr(threading.Thread, "is_alive", lambda t: polls.append(t) or alive(t))
    out = cuda.to_device(np.zeros(THREADS, np.int64))
    _rotations[2, THREADS](out, 3)
    np.testing.assert_array_equal(out.copy_to_host(), (np.arange(THREADS) + 3) % THREADS + 100)
    assert polls == []


@cuda.jit
def _fails_in_one_thread(out):
    t = cuda.threadIdx.x
    cuda.syncthreads()
    out[t + (THREADS if t == 3 else 0)] = 1  # thread 3 writes past the end
    cuda.syncthreads()


def test_a_kernels_error_reaches_the_launch_and_names_the_thread():
    out = cuda.to_device(np.zeros(THREADS, np.int64))
    with pytest.raises(IndexError, match=r"tid=\[3, 0, 0\] ctaid=\[0, 0, 0\]"):
        _fails_in_one_thread[1, THREADS](out)
    _rotations[1, THREADS](out, 2)  # the simulator still runs launches after it
    np.testing.assert_array_equal(out.copy_to_host(), (np.arange(THREADS) + 2) % THREADS)
