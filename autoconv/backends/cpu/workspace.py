"""Big work arrays reused across calls, so that the kernels' outputs do not page-fault.

glibc's malloc hands blocks of more than a few MB to the OS when they are freed and maps fresh
pages for the next request, whose first touch faults: a training step that unrolls the same
(rows, KH*KW*Cin) matrix every batch paid for every page of it every time (the MNIST model's
second convolution, forward + backward outside ``fit``: 1.5x the time of the same call with
the malloc tuning of :func:`autoconv.configure_process`). :func:`empty` keeps such arrays and
hands one out again when nothing in the process refers to it any more.

The pool keeps flat arrays and hands out views: a request takes the smallest free array of its
dtype with as many elements or up to twice as many, whatever the shape. Pooled by exact shape,
keras-io's small Xception's ``predict`` (batches of 100 at 180x180) made some 100 arrays of up
to 830 MB afresh in every batch (one size came as a product's rows, a batch of images and the
depthwise kernels' layout, each kept apart and pushed out by the others): 13-14 s per 200
images; by size, 9.9-11.4 s (26-39 made a batch), and none once its batch normalizations were
folded (7.7 s).

The ownership rule is Python's reference count (:mod:`autoconv.backends.references`): an
array is free when the only reference left is the pool's own. A view (``reshape``, ``.T``, a
slice) refers to the array it views, and a tensor, a backward closure or a user's variable
that holds either keeps it taken, so an array is never handed out twice while still in use,
whoever holds it.

Free arrays are kept up to the most bytes of pooled arrays the process has had in use at once
(a training step's working set, which the next step takes again), and at least MAX_FREE_BYTES;
beyond that the least recently used are released when a new one is made. Keeping only 1 GB
made keras-io's small Xception train at 9.6 s per step against 7.5-8.1 s keeping them all
(batch 32 at 180x180: its batch normalization's gradient alone took 543 ms a step against
121-126, its arrays of 265 MB faulted in afresh). :func:`clear` releases every free array
(``autoconv.utils.clear_session()``, Keras's name, calls it).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from autoconv.backends.references import FREE, references

# Smaller blocks come from malloc's heap, which reuses them without faults.
MIN_BYTES = 1 << 20
MAX_FREE_BYTES = 1 << 30

# Flat arrays by (elements, dtype): any shape of that size is a view of one.
_arrays: OrderedDict[tuple[int, np.dtype], list[np.ndarray]] = OrderedDict()
_lock = threading.Lock()
_peak_in_use = 0  # the most bytes of pooled arrays in use at once, seen when making one


def empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised C-contiguous array, as ``np.empty(shape, dtype)``: a view of the
    smallest free pooled array of that dtype with at least as many elements and at most
    twice as many, else of a new one (pooled if MIN_BYTES or more)."""
    dtype = np.dtype(dtype)
    shape = tuple(int(n) for n in shape)
    elements = math.prod(shape)
    if elements * dtype.itemsize < MIN_BYTES:
        return np.empty(shape, dtype)
    with _lock:
        best = None
        for key, arrays in _arrays.items():
            size, kind = key
            if kind != dtype or not elements <= size <= 2 * elements:
                continue
            if best is not None and size >= best[0][0]:
                continue
            for array in arrays:
                if references(array) <= FREE:
                    best = (key, array)
                    break
        if best is None:
            _release_free(elements * dtype.itemsize)
            key = (elements, dtype)
            _arrays.setdefault(key, []).append(np.empty(elements, dtype))
            best = (key, _arrays[key][-1])
        _arrays.move_to_end(best[0])
        return best[1][:elements].reshape(shape)


def holds(array: np.ndarray) -> bool:
    """Whether ``array`` is one of the pool's own arrays (a view's ``base``)."""
    with _lock:
        return any(own is array for own in _arrays.get((array.size, array.dtype), ()))


def clear() -> None:
    """Release every free pooled array (arrays in use stay pooled) and forget the peak."""
    global _peak_in_use
    with _lock:
        _peak_in_use = 0
        _release_free(0, keep_peak=False)


def pooled_bytes() -> tuple[int, int]:
    """(bytes of pooled arrays in use, bytes of free ones)."""
    with _lock:
        used = free = 0
        for arrays in _arrays.values():
            for array in arrays:
                if references(array) <= FREE:
                    free += array.nbytes
                else:
                    used += array.nbytes
        return used, free


def _release_free(size: int, keep_peak: bool = True) -> None:
    """Before making an array of ``size`` bytes: release free arrays, least recently used
    shapes first, until the free ones left and the new one fit in the larger of
    MAX_FREE_BYTES and the peak in use (nothing is kept with ``keep_peak=False``). The caller
    holds the lock."""
    global _peak_in_use
    free = [(key, array) for key, arrays in _arrays.items() for array in arrays
            if references(array) <= FREE]  # fmt: skip
    free_bytes = sum(array.nbytes for _, array in free)
    in_use = sum(array.nbytes for arrays in _arrays.values() for array in arrays) - free_bytes
    _peak_in_use = max(_peak_in_use, in_use + size)
    excess = free_bytes + size - (max(MAX_FREE_BYTES, _peak_in_use) if keep_peak else size)
    for key, array in free:
        if excess <= 0:
            break
        excess -= array.nbytes
        kept = [other for other in _arrays[key] if other is not array]  # by identity
        if kept:
            _arrays[key] = kept
        else:
            del _arrays[key]
