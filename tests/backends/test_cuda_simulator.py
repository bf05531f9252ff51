"""The fixes to numba-cuda's CUDA simulator (autoconv/backends/cuda/simulator.py): a block's
threads run as greenlets of the launching Python thread, one after another in the simulator's
order, round by round between barriers, with the simulator's barriers (the reductions over one
too) and errors, and no Python thread started; a launch's threads share one array per
``cuda.shared.array`` line, however slowly it is made; a device function of the launched
kernel's module is a plain call."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

pytest.importorskip("numba_cuda")

from numba import cuda

from autoconv.backends.cuda.runtime import SIMULATED, line_run

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


@cuda.jit
def _fails_in_one_thread(out):
    t = cuda.threadIdx.x
    cuda.syncthreads()
    out[t + (THREADS if t == 3 else 0)] = 1  # thread 3 writes past the end
    cuda.syncthreads()
    out[t] = 2  # no thread gets here: the block stops at the barrier


def test_a_kernels_error_reaches_the_launch_names_the_thread_and_stops_the_block():
    out = cuda.to_device(np.zeros(THREADS, np.int64))
    with pytest.raises(IndexError, match=r"tid=\[3, 0, 0\] ctaid=\[0, 0, 0\]: index"):
        _fails_in_one_thread[1, THREADS](out)
    assert 2 not in out.copy_to_host()
    _rotations[1, THREADS](out, 2)  # the simulator still runs launches after it
    np.testing.assert_array_equal(out.copy_to_host(), (np.arange(THREADS) + 2) % THREADS)


_ran_on: list = []  # (block, thread, Python thread) of _coordinates and _noted_rotations


def _note_python_thread(block, t):
    # Called from the kernels below: on the simulator they are Python, run where a thread runs.
    _ran_on.append((block, t, threading.get_ident()))


@cuda.jit
def _coordinates(out):
    # No barrier: each thread writes its block's and its own coordinates at its place.
    x, y, z = cuda.threadIdx.x, cuda.threadIdx.y, cuda.threadIdx.z
    block = cuda.blockIdx.x
    place = ((block * cuda.blockDim.z + z) * cuda.blockDim.y + y) * cuda.blockDim.x + x
    out[place, 0], out[place, 1], out[place, 2], out[place, 3] = block, x, y, z
    _note_python_thread(block, place)


@cuda.jit
def _noted_rotations(out):
    shared = cuda.shared.array(THREADS, np.int64)
    t = cuda.threadIdx.x
    _note_python_thread(cuda.blockIdx.x, t)
    shared[t] = t
    cuda.syncthreads()
    out[t] = shared[(t + 1) % THREADS]
    _note_python_thread(cuda.blockIdx.x, t)


@pytest.mark.parametrize("block", [(8, 1, 1), (2, 3, 2)])
def test_a_block_without_barriers_runs_its_threads_in_turn_on_one_python_thread(block):
    _ran_on.clear()
    size = int(np.prod(block))
    out = cuda.to_device(np.full((3 * size, 4), -1, np.int64))
    _coordinates[3, block](out)
    expected = [(b, x, y, z) for b in range(3) for z in range(block[2])
                for y in range(block[1]) for x in range(block[0])]  # fmt: skip
    np.testing.assert_array_equal(out.copy_to_host(), expected)
    width, height, depth = block
    in_turn = [((b * depth + z) * height + y) * width + x
               for b in range(3) for x, y, z in np.ndindex(*block)]  # fmt: skip
    assert [place for _, place, _ in _ran_on] == in_turn  # the simulator's order of threads
    assert {ident for _, _, ident in _ran_on} == {threading.get_ident()}  # the launching one


def test_a_block_with_barriers_runs_its_threads_round_by_round_on_the_launching_thread():
    out = cuda.to_device(np.zeros(THREADS, np.int64))
    _ran_on.clear()
    _noted_rotations[2, THREADS](out)
    np.testing.assert_array_equal(out.copy_to_host(), (np.arange(THREADS) + 1) % THREADS)
    rounds = [(block, t) for block in range(2) for _ in range(2) for t in range(THREADS)]
    assert [(block, t) for block, t, _ in _ran_on] == rounds  # every thread, then the barrier
    assert {ident for _, _, ident in _ran_on} == {threading.get_ident()}


def test_a_launch_starts_no_python_thread(monkeypatch):
    started = []
    start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda t: started.append(t) or start(t))
    _noted_rotations[3, THREADS](cuda.to_device(np.zeros(THREADS, np.int64)))
    _coordinates[2, THREADS](cuda.to_device(np.zeros((2 * THREADS, 4), np.int64)))
    assert started == []


@cuda.jit
def _barrier_reductions(out, threshold):
    # Each thread's vote (its number above the threshold), counted, and-ed and or-ed over the
    # block; and its lane and the 3-D block's coordinates as the kernel sees them.
    t = cuda.threadIdx.x + cuda.blockDim.x * cuda.threadIdx.y
    vote = t > threshold
    out[t, 0] = cuda.syncthreads_count(vote)
    out[t, 1] = cuda.syncthreads_and(vote)
    out[t, 2] = cuda.syncthreads_or(vote)
    out[t, 3] = cuda.laneid
    out[t, 4] = cuda.threadIdx.y


@pytest.mark.parametrize("threshold", [-1, 3, 40, 100])
def test_the_reductions_over_a_barrier_count_and_and_or_the_blocks_votes(threshold):
    out = cuda.to_device(np.zeros((48, 5), np.int64))
    _barrier_reductions[1, (16, 3)](out, threshold)
    votes = np.arange(48) > threshold
    reduced = [np.full(48, votes.sum()), np.full(48, votes.all()), np.full(48, votes.any())]
    expected = np.stack([*reduced, np.arange(48) % 32, np.arange(48) // 16], 1)
    np.testing.assert_array_equal(out.copy_to_host(), expected)


@cuda.jit
def _late_starters(out, early):
    # Threads below ``early`` end before the barrier; the others meet there and then read
    # what the last of them wrote.
    shared = cuda.shared.array(THREADS, np.int64)
    t = cuda.threadIdx.x
    if t < early:
        out[t] = -1
        return
    shared[t] = t
    cuda.syncthreads()
    out[t] = shared[THREADS - 1 - (t - early)]


@pytest.mark.parametrize("early", [0, 1, 5, THREADS - 1])
def test_threads_that_end_before_a_barrier_leave_the_others_to_meet(early):
    out = cuda.to_device(np.zeros(THREADS, np.int64))
    _late_starters[1, THREADS](out, early)
    expected = [-1] * early + [THREADS - 1 - (t - early) for t in range(early, THREADS)]
    np.testing.assert_array_equal(out.copy_to_host(), expected)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_runs_kernels():
    out = cuda.to_device(np.zeros(THREADS, np.int64))
    _noted_rotations[1, THREADS](out)  # greenlets made and ended in this process
    pid = os.fork()
    if pid == 0:  # the child: its launches must run as the parent's did
        try:
            _noted_rotations[1, THREADS](out)
            _coordinates[1, THREADS](cuda.to_device(np.zeros((THREADS, 4), np.int64)))
        finally:
            os._exit(0 if np.array_equal(out.copy_to_host(), (np.arange(THREADS) + 1) % THREADS)
                     else 1)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    pytest.fail("the forked child's launch hung")


@cuda.jit(device=True)
def _place_of_thread():
    return cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x


@cuda.jit
def _places_and_lines(out):
    i = _place_of_thread()  # this module's device function
    entry, first, lanes, end = line_run(2, 8, 100)  # another module's
    out[i, 0], out[i, 1], out[i, 2], out[i, 3], out[i, 4] = i, entry, first, lanes, end


def test_device_functions_are_plain_calls_their_modules_bound_once_a_launch(monkeypatch):
    from numba.cuda.simulator import kernel

    bound = []
    swapped = kernel.swapped_cuda_module

    def binding(fn, fake):
        bound.append(fn.__name__)
        return swapped(fn, fake)

    monkeypatch.setattr(kernel, "swapped_cuda_module", binding)
    out = cuda.to_device(np.zeros((2 * THREADS, 5), np.int64))
    _places_and_lines[2, THREADS](out)
    expected = [(b * THREADS + t, 2 * b + t % 2, t // 2, THREADS // 2, 8)
                for b in range(2) for t in range(THREADS)]  # fmt: skip
    np.testing.assert_array_equal(out.copy_to_host(), expected)
    assert bound.count("_places_and_lines") == 1  # the launch binds this module's names once
    assert bound.count("line_run") == 1  # runtime's at its first call, for the rest of it
    _places_and_lines[1, THREADS](out)
    assert bound.count("_places_and_lines") == bound.count("line_run") == 2  # a launch each
    assert "_place_of_thread" not in bound
    from autoconv.backends.cuda import runtime

    assert runtime.cuda is cuda and globals()["cuda"] is cuda  # both let go after the launch
