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

:func:`one_thread` runs a loop's small products on one of OpenBLAS's threads (a recurrent
layer's steps), where handing each to both costs more than it gains.

Products of several threads run at once, each on all of OpenBLAS's threads. Letting only one
run at a time was measured and dropped: serving the MNIST model from two threads on the 2-core
machine, batches of one image went from 2,100-2,200 requests/s to 1,350-1,550 (each of a
request's small products waited for the lock), and batches of 64 stayed where they were.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
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


@functools.cache
def _thread_count_setters() -> tuple[Any, ...]:
    """Each loaded OpenBLAS's ``openblas_set_num_threads_local`` (OpenBLAS 0.3.27 and later):
    it sets the count of threads a product runs on and returns the previous one."""
    setters = []
    for library in openblas_libraries():
        setter = getattr(library, "openblas_set_num_threads_local", None)
        if setter is not None:
            setter.restype, setter.argtypes = ctypes.c_int, [ctypes.c_int]
            setters.append(setter)
    return tuple(setters)


_one_thread_open = 0  # one_thread contexts open now, in any thread
_one_thread_lock = threading.Lock()
_counts_before: list[int] = []  # each OpenBLAS's thread count before the first of them


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Within it, OpenBLAS runs each product on the calling thread alone; after the last one
    open in the process, as before. For loops of small products: a recurrent layer's step,
    (32, 128) @ (128, 512), took ?? us handed to both of the 2-core machine's threads and ??
    us on one.

    The count is OpenBLAS's own, one for the process despite the function's name (measured:
    another Python thread's products ran on one thread meanwhile), so products of other threads
    in that time run on one thread too, with the same results. Set through :func:`run`, never
    during a restart of the threads. Nothing where no OpenBLAS has the function."""
    global _one_thread_open, _counts_before
    setters = _thread_count_setters()
    with _one_thread_lock:
        if _one_thread_open == 0:
            _counts_before = [run(setter, 1) for setter in setters]
        _one_thread_open += 1
    try:
        yield
    finally:
        with _one_thread_lock:
            _one_thread_open -= 1
            if _one_thread_open == 0:
                for setter, count in zip(setters, _counts_before, strict=True):
                    run(setter, count)
