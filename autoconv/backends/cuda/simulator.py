"""A fix to numba-cuda's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, where the tests run the
kernels), applied by :mod:`autoconv.backends.cuda.runtime` when the simulator is on.

The simulator runs each thread of a block as a Python thread and makes a launch's shared array
at the first thread that reaches the line declaring it: it looks the line up in a dict, makes
the array if it is not there, and stores it, without a lock (numba-cuda 0.30.4,
``FakeCUDAShared.array``). Two threads of a launch's first block that both look before either
stores get two different arrays, so the block's threads do not meet in shared memory: a
reduction of that block adds values from an uninitialized array, a product's first tile reads
a tile no thread wrote. It happens when the interpreter switches threads inside that window:
rarely, more often on a loaded machine, and never the same way twice (the flaky step-replay and
training tests it caused gave a wrong first output row). Here the look-up and the store are one
step under a lock; everything else is the simulator's.
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
