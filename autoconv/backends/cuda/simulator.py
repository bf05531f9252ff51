"""Two fixes to numba-cuda's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, where the tests run the
kernels), applied by :mod:`autoconv.backends.cuda.runtime` when the simulator is on.

The simulator runs each thread of a block as a Python thread and makes a launch's shared array
at the first thread that reaches the line declaring it: it looks the line up in a dict, makes
the array if it is not there, and stores it, without a lock (numba-cuda 0.30.4,
``FakeCUDAShared.array``). Two threads of a launch's first block that both look before either
stores get two different arrays, so the block's threads do not meet in shared memory: a
reduction of that block adds values from an uninitialized array, a product's first tile reads
a tile no thread wrote. It happens when the interpreter switches threads inside that window:
rarely, more often on a loaded machine, and never the same way twice (the flaky step-replay and
training tests it caused gave a wrong first output row). Here (:func:`make_shared_arrays_once`)
the look-up and the store are one step under a lock.

The simulator also waits for a block's threads by polling: its main thread checks every thread
(``is_alive``, a flag for "blocked at a barrier") in a loop, taking the interpreter's lock from
the threads it waits for; most of a simulated launch's time went there. Here
(:func:`wait_without_polling`) each thread tells the block, through one condition, when it
reaches a barrier or ends, and the block waits on that condition: the same barriers and
errors, the threads run while the block waits.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np

_lock = threading.Lock()


def make_shared_arrays_once() -> None:
    """Replace the simulator's ``cuda.shared.array`` with one that makes each of a launch's
    shared arrays once, whichever threads reach it together (where the simulator keeps them as
    numba-cuda 0.30 does: a dict by declaring line; another simulator is left as it is)."""
    from numba.core import types
    from numba.cuda.simulator import kernelapi
    from numba.np import numpy_support

    simulated = getattr(kernelapi, "FakeCUDAShared", None)
    try:
        kept = simulated(0)._allocations  # (the dynamic shared memory's size, 0 bytes)
    except (TypeError, AttributeError):
        kept = None
    if not isinstance(kept, dict):
        return  # another simulator than the one this fixes: left as it is
    dynamic = simulated.array

    def array(self: Any, shape: Any, dtype: Any, alignment: Any = None) -> np.ndarray:
        if shape == 0 or alignment is not None:  # dynamic shared memory, or the refusal
            return dynamic(self, shape, dtype, alignment)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)  # an array per declaring line, as the simulator keys them
        key = (caller.f_code.co_filename, caller.f_lineno)
        with _lock:
            made = self._allocations.get(key)
            if made is None:
                made = self._allocations[key] = np.empty(shape, dtype)
        return made

    simulated.array = array


def wait_without_polling() -> None:
    """Replace the simulator's block runner (``BlockManager.run``, which polls its threads) with
    one that waits for them to reach a barrier or end (where the simulator is numba-cuda 0.30's:
    a polling ``BlockManager`` of ``BlockThread``s with a flag and an event each for barriers;
    another simulator is left as it is)."""
    from numba.cuda.simulator import kernel

    manager, thread = getattr(kernel, "BlockManager", None), getattr(kernel, "BlockThread", None)
    polls = manager is not None and "livethreads" in manager.run.__code__.co_varnames
    if not (polls and thread is not None and "syncthreads" in vars(thread)):
        return
    thread_run = thread.run

    def run_thread(self: Any) -> None:
        try:
            thread_run(self)  # the simulator's: keeps the kernel's error for the block
        finally:
            with self._manager.changed:
                self.ended = True
                self._manager.changed.notify()

    def syncthreads(self: Any) -> None:
        if self.abort:
            raise RuntimeError("abort flag set on syncthreads call")
        with self._manager.changed:
            self.syncthreads_blocked = True
            self._manager.changed.notify()
        self.syncthreads_event.wait()
        self.syncthreads_event.clear()
        if self.abort:
            raise RuntimeError("abort flag set on syncthreads clear")

    def run_block(self: Any, grid_point: Any, *args: Any) -> None:
        self.changed = changed = threading.Condition()

        def target() -> None:
            self._f(*args)

        threads = [thread(target, self, grid_point, point, self._debug)
                   for point in np.ndindex(*self._block_dim)]  # fmt: skip
        for t in threads:
            t.ended = False
            t.start()
        with changed:
            while True:
                failed = next((t for t in threads if t.exception), None)
                if failed is not None:  # the others stopped at their next barrier, as there
                    for t in threads:
                        t.abort, t.syncthreads_blocked = True, False
                        t.syncthreads_event.set()
                    raise failed.exception[0].with_traceback(failed.exception[1])
                live = [t for t in threads if not t.ended]
                if not live:
                    return
                if all(t.syncthreads_blocked for t in live):  # every live thread at the barrier
                    for t in live:
                        t.syncthreads_blocked = False
                        t.syncthreads_event.set()
                changed.wait()

    thread.run, thread.syncthreads, manager.run = run_thread, syncthreads, run_block
