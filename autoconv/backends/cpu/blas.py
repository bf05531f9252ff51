"""NumPy's OpenBLAS: every product autoconv runs, and the restart of OpenBLAS's threads that
:func:`autoconv.configure_process` asks for, kept from meeting.

OpenBLAS reads how long its idle threads spin (``OPENBLAS_THREAD_TIMEOUT``) only when it starts
them, so :func:`restart_threads` shuts them down for the next product to start again. A shutdown
while a product of another thread runs on them hangs the process (measured: three threads
multiplying 600x600 matrices in a loop and a fourth restarting the threads every half
millisecond hung within seconds, every time). So every product autoconv runs goes through
:func:`run`, and a restart waits until none is in flight and holds new ones back until it is
done; after the one restart a process has, :func:`run` skips that bookkeeping. Products a
program runs on threads of its own, outside autoconv, are not seen (:mod:`autoconv.process`
says what such a program does).

Products of several threads run at once, each on all of OpenBLAS's threads. Letting only one
run at a time was measured and dropped: serving the MNIST model from two threads on the 2-core
machine, batches of one image went from 2,100-2,200 requests/s to 1,350-1,550 (each of a
request's small products waited for the lock), and batches of 64 stayed where they were.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable
from typing import Any

# The bookkeeping costs a product a few list operations, no lock: appending to and popping from
# a list are atomic, and a product registers itself before it looks whether a restart is on,
# while a restart says so before it looks for registered products, so one of the two always
# sees the other (a lock and a condition took 0.75 us a product, 3 us a call of the MNIST
# model on one image).
_in_flight: list[None] = []  # an entry for each product running now
_restarting = False
_restarted = False  # from then on products run without the bookkeeping
_restart_done = threading.Event()
_one_restart = threading.Lock()


def run(product: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``product(*args, **kwargs)`` (a NumPy function that may call OpenBLAS), never while
    :func:`restart_threads` is restarting OpenBLAS's threads."""
    if _restarted:
        return product(*args, **kwargs)
    _in_flight.append(None)
    while _restarting:
        _in_flight.pop()
        _restart_done.wait()
        _in_flight.append(None)
    try:
        return product(*args, **kwargs)
    finally:
        _in_flight.pop()


def restarted() -> bool:
    """Whether OpenBLAS's threads were restarted, so that products need no :func:`run`."""
    return _restarted


def restart_threads(timeout: int) -> bool:
    """Have each OpenBLAS in the process re-read its settings with OPENBLAS_THREAD_TIMEOUT =
    ``timeout`` (the variable is set for that read only) and shut its threads down (the next
    product starts them again, and they read it), once no product of autoconv's is in flight.
    False where no library mapped into the process is an OpenBLAS with these entry points
    (nothing is changed)."""
    global _restarting, _restarted
    libraries = openblas_libraries()
    with _one_restart:
        _restart_done.clear()
        _restarting = True
        try:
            while _in_flight:  # the products in flight end (a restart happens once a process)
                time.sleep(0.0002)
            for library in libraries:
                os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(timeout)
                try:
                    library.openblas_read_env()
                finally:
                    del os.environ["OPENBLAS_THREAD_TIMEOUT"]
                library.blas_thread_shutdown_()
        finally:
            _restarting, _restarted = False, True
            _restart_done.set()
    return bool(libraries)


def openblas_libraries() -> list[ctypes.CDLL]:
    """The OpenBLAS builds loaded in this process (NumPy's; Linux's /proc/self/maps names them)
    that can re-read their settings and restart their threads."""
    import numpy  # noqa: F401  (loads NumPy's OpenBLAS, if it has one)

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return []
    libraries = []
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        if hasattr(library, "openblas_read_env") and hasattr(library, "blas_thread_shutdown_"):
            libraries.append(library)
    return libraries
