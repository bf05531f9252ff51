"""How the CPU kernels are compiled: every Numba option in one place, and :class:`Kernel`,
which compiles a kernel both parallel and serial and picks one per call by its size.

Every kernel writes into an output array it is given (allocated by the wrapper below it),
and every backward kernel parallelizes over the batch, so each thread scatters into its own
images only: no two threads ever add into the same element.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable
from typing import Any

import numba

# fastmath stays off: it assumes no NaN, and the NaN guard of training must see them.
# error_model "numpy": a float division by zero gives inf or NaN (which that guard reports)
# instead of a check that raises ZeroDivisionError; the check also kept loops with a division
# from vectorizing (the RMSprop update of 36,864 floats: 90 -> 13 us).
options = {"cache": True, "nogil": True, "error_model": "numpy"}

# Only fused multiply-adds, for the direct convolution's inner loops (a * b + c in one rounding,
# never a reordered sum; NaN and inf behave as without it): its forward over MNIST's first layer
# ran 1.67 -> 1.29 ms with them and zero-padded images (serial build, batch 64).
multiply_add = {**options, "fastmath": {"contract"}}

# Waking Numba's sleeping workqueue threads costs ~70 us a call on the 2-core machine we measure
# on (an empty prange loop: 74 us; 1.6 us with spinning OpenMP threads, which starve OpenBLAS's),
# and our passes, bound by memory traffic, gain little from the second core while OpenBLAS's
# threads linger on it after each product. Measured there, alternating in one process: training
# the reference model at batch 64 ran at 5,289 samples/s with every kernel parallel, 5,613 with
# calls under 2**20 elements serial, 5,834 with all serial; inference at batch 1000 took the same
# time either way. So a call runs on the calling thread unless it touches at least this many
# elements (64 MB of float32), where the launch is negligible and more cores can pay.
PARALLEL_MIN_WORK = 1 << 24


class Kernel:
    """A kernel compiled twice from one function: with its ``prange`` loops spread over
    Numba's threads, and as plain loops. ``kernel(work, *args)`` runs the parallel one when the
    call touches at least PARALLEL_MIN_WORK elements (read plus written). ``fma`` compiles it
    with :data:`multiply_add`'s options. A closure's constants are compiled in (and keyed in
    Numba's cache)."""

    def __init__(self, function: Callable, fma: bool = False) -> None:
        serial = types.FunctionType(
            function.__code__, function.__globals__, function.__name__, function.__defaults__,
            function.__closure__,
        )  # fmt: skip
        serial.__qualname__ = f"{function.__qualname__}_serial"  # its own Numba cache entry
        chosen = multiply_add if fma else options
        self.parallel = numba.njit(parallel=True, **chosen)(function)
        self.serial = numba.njit(**chosen)(serial)

    def __call__(self, work: int, *args: Any) -> None:
        if work < PARALLEL_MIN_WORK:
            self.serial(*args)
            return
        with parallel_region:
            self.parallel(*args)


# One parallel region at a time in the process. Numba's workqueue threading layer (the one
# autoconv.configure_process chooses) aborts the whole process when two threads launch parallel
# regions at once ("Concurrent access has been detected"), so a model served from a thread pool
# would die on its first two big batches. Serializing only the parallel launches keeps every
# serial kernel (nogil: most calls, and every call of a small batch) running in all threads at
# once, while a parallel region already spreads over every core: on the 2-core machine, taking
# turns there costs nothing a second region could have used. The lock is uncontended in a
# single-threaded program (tens of nanoseconds beside a region's ~70 us launch).
parallel_region = threading.Lock()


serial_jit = numba.njit(**options)
inline = numba.njit(inline="always")  # small helpers inlined into the kernels that call them
