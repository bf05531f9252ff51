"""Fixes to numba-cuda's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, where the tests run the
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

The simulator also starts a Python thread for every thread of every block and waits for them by
polling: its main thread checks every thread (``is_alive``, a flag for "blocked at a barrier")
in a loop, taking the interpreter's lock from the threads it waits for, and opens a barrier
when it sees every thread there. Starting, polling and switching those threads was most of a
simulated launch's time. Here (:func:`run_threads_in_turn`) a block without barriers runs its
threads one after another on one Python thread, a block with them each on one of its own, the
last thread to reach a barrier opens it, the Python threads wait to run later blocks' threads
rather than end, and a block waits for them on one condition: the same barriers and errors,
and the test suite in 0.6 of the time (bench/results/2026-11-27-simulator-threads.md). And a
device function called from a kernel of its own module is a plain Python call
(:func:`call_device_functions_directly`), not a rebinding of its module's names each call.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
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


def run_threads_in_turn() -> None:
    """Replace the simulator's block runner (``BlockManager.run``: a Python thread started for
    each of a block's threads, polled until they end) with one that runs the block's threads in
    turn on as few Python threads as its barriers allow, kept for later blocks, and whose
    barriers open themselves (where the simulator is numba-cuda 0.30's: a polling
    ``BlockManager`` of ``BlockThread``s with a flag and an event each for barriers; another
    simulator is left as it is).

    A Python thread runs one of the block's threads, then the next not yet started, and so on:
    a block without barriers runs on one Python thread, one CUDA thread after another (an order
    a GPU may run them in too). Once a kernel has been seen at a barrier (its first block's
    first thread waits there alone), every one of its blocks' threads gets a Python thread of
    its own at once, as the simulator gave them. The last thread to reach a barrier opens it
    for all, the block's threads still running; a Python thread done with a block waits to be
    given a later block's thread (starting one cost about a tenth of a simulated launch). The
    block's own thread waits, on one condition, only for threads to start, an error, or the
    end."""
    from numba.cuda.simulator import kernel
    from numba.cuda.simulator.kernelapi import Dim3

    manager, thread = getattr(kernel, "BlockManager", None), getattr(kernel, "BlockThread", None)
    polls = manager is not None and "livethreads" in manager.run.__code__.co_varnames
    if not (polls and thread is not None and "syncthreads" in vars(thread)):
        return
    thread_run = thread.run

    def settle(block: Any) -> None:
        """With the block's lock held, once no thread of the block runs: open the barrier
        for the ones waiting at it when every thread has started, else ask for the next."""
        if block.waiting_at_barrier and block.started_all:
            for t in block.waiting_at_barrier:
                t.syncthreads_blocked = False
                t.gate.release()
            block.running, block.waiting_at_barrier = len(block.waiting_at_barrier), []
        else:
            block.changed.notify()  # the next thread to start, or the end

    def place(t: Any, point: tuple) -> None:
        """Python thread ``t`` becomes thread ``point`` of its block."""
        x, y, z = point
        width, height, _ = t._manager._block_dim
        t.threadIdx, t.thread_id = Dim3(x, y, z), x + width * (y + height * z)

    def run_block_threads(self: Any) -> None:
        """Run the block's thread this Python thread was given, then the next not yet started,
        until none is left or one fails."""
        block, simulated = self._manager, self._target
        try:
            while True:
                self._target, self._args, self._kwargs = simulated, (), {}  # Thread.run drops
                thread_run(self)  # the simulator's: keeps the kernel's error for the block
                if self.exception is not None:
                    return
                with block.changed:
                    point = next(block.waiting, None)
                    block.started_all = point is None
                if point is None:
                    return
                place(self, point)  # this Python thread is now the block's next thread
        finally:
            with block.changed:
                block.running -= 1
                if self.exception is not None:
                    block.failed = block.failed or self
                    block.changed.notify()
                elif not block.running:
                    settle(block)

    def run_thread(self: Any) -> None:
        """A Python thread's life: a block's threads, then back to the idle ones until another
        block gives it one (the simulator's debug mode: one block's)."""
        while True:
            run_block_threads(self)
            if self.debug:
                return
            self._manager = self._target = None  # nothing of the block kept alive
            with _idle_lock:
                _idle.append(self)
            self.given.wait()
            self.given.clear()

    def give(block: Any, grid_point: Any, point: Any, target: Any) -> Any:
        """A Python thread for thread ``point`` of ``block``: an idle one, else a new one."""
        with _idle_lock:
            idle = _idle.pop() if _idle and not block._debug else None
        if idle is None:
            made = thread(target, block, grid_point, point, block._debug)
            made.given, made.new, made.gate = threading.Event(), True, threading.Lock()
            made.gate.acquire()  # held but while a barrier lets the thread through
            return made
        idle._manager, idle._target, idle.blockIdx = block, target, Dim3(*grid_point)
        place(idle, point)
        idle.exception, idle.abort, idle.syncthreads_blocked = None, False, False
        idle.new = False
        return idle

    def syncthreads(self: Any) -> None:
        if self.abort:
            raise RuntimeError("abort flag set on syncthreads call")
        block = self._manager
        with block.changed:
            _with_barriers.add(block._f)
            self.syncthreads_blocked = True
            block.waiting_at_barrier.append(self)
            block.running -= 1
            if not block.running:
                settle(block)
        self.gate.acquire()  # (a lock, not the simulator's event: half the time to hand over)
        if self.abort:
            raise RuntimeError("abort flag set on syncthreads clear")

    def run_block(self: Any, grid_point: Any, *args: Any) -> None:
        self.changed = changed = threading.Condition(threading.Lock())
        self.waiting = iter(np.ndindex(*self._block_dim))  # the threads not yet started
        self.started_all, self.running, self.waiting_at_barrier, self.failed = False, 0, [], None

        def target() -> None:
            self._f(*args)

        threads: list[Any] = []
        with changed:
            while True:
                if self.failed is not None:  # the others stopped at their next barrier, as there
                    for t in threads:
                        t.abort = True
                    for t in self.waiting_at_barrier:
                        t.syncthreads_blocked = False
                        t.gate.release()
                    self.waiting_at_barrier = []
                    raise self.failed.exception[0].with_traceback(self.failed.exception[1])
                if not self.running:
                    # The next thread on a Python thread of its own; every thread at once (one
                    # each, as the simulator does) once this kernel has been seen at a barrier.
                    points = list(self.waiting) if self._f in _with_barriers else []
                    points = points or [p for p in [next(self.waiting, None)] if p is not None]
                    self.started_all = not points or self._f in _with_barriers
                    if not points and not self.waiting_at_barrier:
                        return  # every thread ended
                    if not points:
                        settle(self)  # (a thread that ended last left them waiting)
                    started = [give(self, grid_point, p, target) for p in points]
                    threads += started
                    self.running += len(started)
                    for t in started:
                        t.start() if t.new else t.given.set()
                changed.wait()

    thread.run, thread.syncthreads, manager.run = run_thread, syncthreads, run_block


def call_device_functions_directly() -> None:
    """Make a device function called from a kernel of its own module a plain Python call (where
    the simulator is numba-cuda 0.30's, whose calls go through ``swapped_cuda_module``; another
    simulator is left as it is).

    The simulator runs a kernel with its module's ``cuda`` names bound to its stand-in for the
    launch, and binds them again, under a lock and a count, for every call of a device function:
    2.7 us a call, where a product's tile loads make hundreds of thousands. A device function of
    the launched kernel's own module finds them bound already, for the whole launch; one of
    another module still goes through the simulator's binding."""
    from numba.cuda.simulator import kernel, kernelapi

    simulated = getattr(kernel, "FakeCUDAKernel", None)
    if simulated is None or not hasattr(kernelapi, "swapped_cuda_module"):
        return
    call = simulated.__call__
    launched: set[int] = set()  # the globals (by id) of the kernel being launched

    def direct_call(self: Any, *args: Any) -> Any:
        if self._device and id(self.fn.__globals__) in launched:
            return self.fn(*args)
        if self._device or kernel._kernel_context:
            return call(self, *args)
        module = id(self.fn.__globals__)  # a launch: its module bound for all of it
        launched.add(module)
        try:
            return call(self, *args)
        finally:
            launched.discard(module)

    simulated.__call__ = direct_call


_with_barriers: weakref.WeakSet = weakref.WeakSet()  # the kernels seen calling syncthreads
_idle: list = []  # Python threads that ran a block's threads and wait to be given more
_idle_lock = threading.Lock()


def _forget_idle_threads() -> None:
    """In a forked child: the parent's idle Python threads are not there."""
    global _idle_lock
    _idle.clear()
    _idle_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_idle_threads)
