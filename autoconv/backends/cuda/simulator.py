"""Fixes to numba-cuda's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, where the tests run the
kernels), applied by :mod:`autoconv.backends.cuda.runtime` when the simulator is on.

The simulator runs each thread of a block as a Python thread of its own and its block waits for
them by polling. Every barrier then handed each thread over through a lock and the interpreter's
lock: about 31 us a thread a barrier, where the thread's own work between two barriers of a
matrix product's k loop is a few microseconds (a product of the simulator's 8 x 8 tiles on 16
threads spent about two thirds of its time handing over). Here (:func:`run_threads_as_greenlets`)
a block's threads are greenlets of the thread that launched the kernel: each runs until it
reaches a barrier or ends, one after another in the simulator's order of threads, and the
barrier opens when every thread still running is at it; a switch between two greenlets takes
about 2 us. The same barriers and errors as the simulator's, and no thread switch inside a
launch but at a barrier, so a launch's threads never interleave as they make its shared arrays
(the simulator's threads could, each making its own array: a race it does not lock). A shared
array is found by its declaring line in the caller's frame (:func:`find_shared_arrays_quickly`),
not in a traceback of the stack; and a device function called from a kernel of its own module
is a plain Python call (:func:`call_device_functions_directly`), not a rebinding of its
module's names each call.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import numpy as np
from greenlet import greenlet


def run_threads_as_greenlets() -> None:
    """Replace the simulator's block runner (``BlockManager.run``: a Python thread started for
    each of a block's threads, polled until they end) with one that runs the block's threads as
    greenlets of the launching thread, and the kernel API's questions about the current thread
    (``threadIdx``, ``blockIdx``, ``laneid``, the barriers, which the simulator asks
    ``threading.current_thread()``) answered by the current greenlet (where the simulator is
    numba-cuda 0.30's; another simulator is left as it is).

    A round runs each thread still running, in the simulator's order, until it reaches a
    barrier (it switches back to the block) or ends; the next round, the barrier open, resumes
    them. A thread that ends is not waited for at later barriers (as on a GPU since Volta). A
    thread's error stops the block: it is raised from the launch naming the thread (``tid=[x,
    y, z] ctaid=[x, y, z]: ...``, as the simulator words it), the block's other threads ended
    where they wait."""
    from numba.cuda.simulator import kernel, kernelapi
    from numba.cuda.simulator.kernelapi import Dim3

    manager, thread = getattr(kernel, "BlockManager", None), getattr(kernel, "BlockThread", None)
    module = getattr(kernelapi, "FakeCUDAModule", None)
    known = (manager, thread, module, getattr(kernelapi, "GridGroup", None))
    if None in known or not isinstance(vars(module).get("threadIdx"), property):
        return

    class CudaThread(greenlet):
        """Thread ``point`` of ``block`` (a BlockManager) at ``grid_point``, running ``run``."""

        def __init__(self, run: Any, block: Any, grid_point: tuple, point: tuple) -> None:
            super().__init__(run)
            x, y, z = point
            width, height, _ = block._block_dim
            self._manager = block  # (the name the simulator's barrier reductions read)
            self.blockIdx, self.threadIdx = Dim3(*grid_point), Dim3(x, y, z)
            self.thread_id = x + width * (y + height * z)

        def syncthreads(self) -> None:
            self.parent.switch()  # back to the block, which resumes it when the barrier opens

        # The reductions over a barrier: the simulator's, on this thread's barrier.
        syncthreads_count = thread.syncthreads_count
        syncthreads_and = thread.syncthreads_and
        syncthreads_or = thread.syncthreads_or

    def run_block(self: Any, grid_point: tuple, *args: Any) -> None:
        def run() -> None:
            self._f(*args)

        running = [CudaThread(run, self, grid_point, p) for p in np.ndindex(*self._block_dim)]
        with np.errstate(divide="raise") if self._debug else contextlib.nullcontext():
            while running:
                for t in running:
                    try:
                        t.switch()
                    except Exception as error:
                        for other in running:
                            if other:  # started, waiting at the barrier: ended there
                                other.throw()
                        raise _named(error, t).with_traceback(error.__traceback__) from None
                running = [t for t in running if not t.dead]  # at the barrier

    def current(name: str) -> property:
        return property(lambda self: getattr(greenlet.getcurrent(), name))

    module.threadIdx, module.blockIdx = current("threadIdx"), current("blockIdx")
    module.laneid = property(lambda self: greenlet.getcurrent().thread_id % 32)
    for barrier in ("syncthreads", "syncthreads_count", "syncthreads_and", "syncthreads_or"):
        setattr(module, barrier, _barrier(barrier))
    kernelapi.GridGroup.sync = lambda self: greenlet.getcurrent().syncthreads()
    manager.run = run_block


def _barrier(name: str) -> Any:
    """The kernel API's barrier ``name``, at the current greenlet (a block's thread)."""

    def barrier(self: Any, *value: Any) -> Any:
        return getattr(greenlet.getcurrent(), name)(*value)

    return barrier


def _named(error: Exception, t: Any) -> Exception:
    """``error`` named by the thread it was raised in, as the simulator words it."""
    where = f"tid={list(t.threadIdx)} ctaid={list(t.blockIdx)}"
    return type(error)(f"{where}: {error}" if str(error) else where)


def find_shared_arrays_quickly() -> None:
    """Replace the simulator's ``cuda.shared.array``, which finds the line declaring the array
    (its key for the launch's arrays) in a traceback of the whole stack, about 80 us a call and
    a call a thread, with one that reads the caller's frame (where the simulator keeps them as
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
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        made = self._allocations.get(key)
        if made is None:
            made = self._allocations[key] = np.empty(shape, dtype)
        return made

    simulated.array = array


def call_device_functions_directly() -> None:
    """Make a device function called from a kernel a plain Python call (where the simulator is
    numba-cuda 0.30's, whose calls go through ``swapped_cuda_module``; another simulator is left
    as it is).

    The simulator runs a kernel with its module's ``cuda`` names bound to its stand-in for the
    launch, and binds them again, under a lock and a count, for every call of a device function:
    2.7 us a call, where a product's tile loads make hundreds of thousands. Here a device
    function of the launched kernel's own module finds them bound already, for the whole
    launch, and one of another module binds its module at its first call, for the rest of the
    launch."""
    from numba.cuda.simulator import kernel

    simulated = getattr(kernel, "FakeCUDAKernel", None)
    if simulated is None or not hasattr(kernel, "swapped_cuda_module"):
        return
    call = simulated.__call__
    bound: set[int] = set()  # the modules (their globals, by id) bound for the launch under way
    bindings: list[contextlib.ExitStack] = []  # the launch's bindings of other modules

    def direct_call(self: Any, *args: Any) -> Any:
        launch = kernel._kernel_context
        if self._device and bindings and launch is not None:
            if id(self.fn.__globals__) not in bound:
                bindings[0].enter_context(kernel.swapped_cuda_module(self.fn, launch))
                bound.add(id(self.fn.__globals__))
            return self.fn(*args)
        if self._device or launch is not None:
            return call(self, *args)
        with contextlib.ExitStack() as launch_bindings:  # a launch: its module bound by it
            bound.add(id(self.fn.__globals__))
            bindings.append(launch_bindings)
            try:
                return call(self, *args)
            finally:
                bindings.clear()
                bound.clear()

    simulated.__call__ = direct_call
