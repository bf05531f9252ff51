"""Process-wide settings, decided here and applied only when asked.

Importing autoconv changes nothing outside autoconv. Three settings of the whole process make
training on the CPU faster, and :func:`configure_process` applies them:

- Numba's threading layer: ``workqueue``, whose idle threads sleep. Numba's default, OpenMP,
  keeps its threads spinning after each parallel region while OpenBLAS's threads run the
  matrix products that follow; on a 2-core machine the two pools starve each other (conv
  64->64 on 5x5, forward+backward: ~16 ms spinning, ~1.1 ms otherwise). It can be chosen only
  before Numba's first parallel call; a layer the user chose (``NUMBA_THREADING_LAYER``) is kept.
- glibc's malloc keeps freed buffers of up to 32 MB for reuse instead of returning them to the
  OS. A training step frees and re-allocates the same large arrays every batch; without this
  each one comes back as fresh pages whose first touch faults (about 15% of a step of the
  reference model). Memory stays at the peak of one step.
- OpenBLAS's idle threads (NumPy's matrix products) spin 2**22 cycles, about a millisecond, before
  they sleep, instead of 2**28 (about 0.1 s): long enough to stay awake from one product to
  the next, short enough to give the cores to the Numba kernels between them, which ran up to
  1.8x slower beside a spinning thread (the flowers classifier's first layer, parallel: 41-45
  ms right after a product, 23-25 once the thread slept). OpenBLAS reads the timeout when it
  starts its threads, so they are restarted, once no product of autoconv's is in flight, in
  any thread (:mod:`autoconv.backends.cpu.blas`; a restart during a product hangs the process).
  A program that runs NumPy products on threads of its own while it starts ``fit`` or
  ``predict`` sets ``OPENBLAS_THREAD_TIMEOUT`` itself, which is kept, or opts out.

The command line applies them at start-up, and ``fit``, ``evaluate`` and ``predict`` apply them
for a model on the CPU.
A program that embeds autoconv and wants its process left alone calls
``configure_process(enabled=False)`` first: then nothing in autoconv changes either setting.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass

import numba

from autoconv.backends.cpu import blas

_enabled = True
_applied: ProcessSettings | None = None
_applying = threading.Lock()  # threads starting model work at once: one applies, the others wait


@dataclass(frozen=True)
class ProcessSettings:
    """What :func:`configure_process` did: the Numba threading layer in force (or the one that
    will be used at the first parallel call), whether glibc's malloc was tuned, and whether
    OpenBLAS's threads were restarted to sleep sooner."""

    threading_layer: str
    malloc_tuned: bool
    blas_threads_sleep_sooner: bool


def configure_process(enabled: bool = True) -> ProcessSettings | None:
    """Apply autoconv's process-wide settings (idempotent), or with ``enabled=False`` promise
    never to: later calls (from ``fit`` or the command line) then do nothing.

    Returns what was applied, or None when disabled.

    >>> configure_process().malloc_tuned in (True, False)
    True
    """
    global _enabled, _applied
    if not enabled:
        _enabled = False
        return None
    if _enabled and _applied is not None:
        return _applied
    with _applying:
        _enabled = True
        if _applied is None:
            _applied = ProcessSettings(
                _choose_threading_layer(), _keep_freed_memory(), _blas_threads_sleep_sooner()
            )
        return _applied


def configure_for_model() -> None:
    """What ``fit``, ``evaluate``, ``predict`` and the ``*_on_batch`` calls run first for a model
    on the CPU: :func:`configure_process`, unless the program said
    ``configure_process(enabled=False)``. (Before the first parallel call, since the threading
    layer cannot change after it: a ``predict`` before ``fit`` would otherwise fix OpenMP's.)"""
    if _enabled:
        configure_process()


def _choose_threading_layer() -> str:
    try:
        return numba.threading_layer()  # already started by a parallel call: it stays
    except ValueError:
        pass
    if numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "workqueue"  # read at Numba's first parallel call
    return str(numba.config.THREADING_LAYER)


def _keep_freed_memory() -> bool:
    """mallopt: keep freed blocks up to 32 MB (M_MMAP_THRESHOLD) and do not trim the heap
    below 256 MB (M_TRIM_THRESHOLD). False where there is no glibc (nothing is changed)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
        return bool(
            libc.mallopt(m_mmap_threshold, 32 * 2**20)
            and libc.mallopt(m_trim_threshold, 256 * 2**20)
        )
    except (OSError, AttributeError):
        return False


# OpenBLAS's idle threads spin 2**BLAS_THREAD_TIMEOUT cycles before they sleep. In the training
# step, alternating in one process against OpenBLAS's 28: 22 ran the flowers classifier 1.083x
# (23: 1.087x, 24: 1.070x, 25: 1.067x; 20: 1.024x, its threads asleep between the products of
# one-image slices), keras-io's Xception 1.078x, the 150x150 stack 1.033x, MNIST 0.996x; the
# flowers classifier's predict 1.027x.
BLAS_THREAD_TIMEOUT = 22


def _blas_threads_sleep_sooner() -> bool:
    """Restart each OpenBLAS's threads with OPENBLAS_THREAD_TIMEOUT = BLAS_THREAD_TIMEOUT, once
    no product of autoconv's is in flight (:mod:`autoconv.backends.cpu.blas`). False where the
    user set the variable, or where no OpenBLAS with these entry points is loaded."""
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return False
    return blas.restart_threads(BLAS_THREAD_TIMEOUT)
