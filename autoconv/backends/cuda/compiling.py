"""A batch of launches' kernels made ready before the batch runs: a cold start's kernels compiled
by several processes at once.

A recorded step's launches wait in a queue until the step ends or the host reads the device
(:func:`autoconv.backends.cuda.runtime.recording`); before they run, :func:`prepare` makes sure
each kernel has its code for its arguments' types. On a GPU that is the first process to launch
them, a kernel comes from numba-cuda's disk cache where it is there (as its launch would load
it); the rest are compiled at once, by this process and by worker processes
(:mod:`autoconv.backends.cuda.compile_worker`), each taking the next kernel as it finishes one.
A cold start's first training step is about 20 kernels of 0.1-1.4 s each (numba-cuda's front
end, NVVM, then the assembler: bench/cold_compile.py), which one process compiles one after
another and a GPU machine's many cores can compile side by side.

A worker unpickles the kernel's dispatcher (its Python function and options), compiles it in
its own CUDA context for the GPU this process uses, and sends the compiled kernel back pickled:
its PTX and cubin, as numba-cuda's disk cache keeps them. This process adds it to the kernel's
dispatcher and saves it in the disk cache, as if it had compiled it. A worker that fails,
ends, or sends a kernel this process cannot take costs nothing but time: this process compiles
that kernel after the others. Workers start when a batch has ``MIN_KERNELS`` kernels to compile
(they take about a second to start, this process compiling meanwhile) and end with the batch.

``WORKERS``: the most worker processes (``AUTOCONV_COMPILE_WORKERS`` in the environment, read
at import; 0 compiles every kernel in this process); by default one fewer than the cores this
process may run on, at most 8, the cores shared among the processes of data-parallel training
on this machine (:func:`share_cores`). The simulator compiles nothing, so this does nothing there.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable
from typing import Any, BinaryIO

from numba.cuda.dispatcher import CUDADispatcher


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _default_workers(processes: int) -> int:
    """One fewer than the cores a process has where ``processes`` share this machine's, at
    most 8."""
    return max(0, min(8, _cores() // max(1, processes) - 1))


_variable = os.environ.get("AUTOCONV_COMPILE_WORKERS", "")
WORKERS = int(_variable) if _variable.isdigit() else _default_workers(1)
MIN_KERNELS = 3  # fewer kernels to compile: this process compiles them as they are launched
# How a worker is started (the module run by this Python; the tests start it on a machine
# without a GPU through a script that answers a compile's questions about the GPU).
WORKER_COMMAND = [sys.executable, "-m", "autoconv.backends.cuda.compile_worker"]
# A worker's compile that takes longer than this is given up (this process compiles it).
JOB_SECONDS = 600.0


def share_cores(processes: int) -> None:
    """Size the default number of workers for ``processes`` processes on this machine that
    compile at once (data-parallel training's, each with its workers): they share the cores.
    A number set by ``AUTOCONV_COMPILE_WORKERS`` stays."""
    global WORKERS
    if not _variable.isdigit():
        WORKERS = _default_workers(processes)


def prepare(launches: Iterable[tuple[Any, tuple]]) -> int:
    """Make the kernels of ``launches`` ((kernel, arguments) in launch order) ready for their
    arguments (see :func:`compile_together`). The number of kernels workers compiled."""
    missing: dict[tuple[int, tuple], tuple[Any, tuple]] = {}
    for kernel, args in launches:
        if not isinstance(kernel, CUDADispatcher):  # cuBLAS's product; the simulator's kernels
            continue
        types = tuple(kernel.typeof_pyval(arg) for arg in args)
        if types not in kernel.overloads:
            missing.setdefault((id(kernel), types), (kernel, types))
    return compile_together(list(missing.values()))


def compile_together(kernels: list[tuple[CUDADispatcher, tuple]]) -> int:
    """Give each (dispatcher, argument types) of ``kernels`` that has none its code for those
    types: from the disk cache where it is there, else compiled, by workers and this process
    together where there are ``MIN_KERNELS`` or more to compile (see the module), else left to
    their launches. The number of kernels workers compiled."""
    jobs = [
        (kernel, types)
        for kernel, types in kernels
        if types not in kernel.overloads and not _cached(kernel, types)
    ]
    count = min(WORKERS, len(jobs) - 1)
    if len(jobs) < MIN_KERNELS or count < 1:
        return 0
    return _Workers(count).compile(jobs)


def _cached(kernel: CUDADispatcher, types: tuple) -> bool:
    """Load ``kernel``'s code for ``types`` from the disk cache, as its launch would (numba-cuda's
    dispatcher.compile); whether it was there."""
    compiled = kernel._cache.load_overload(types, kernel.targetctx)
    if compiled is None or getattr(compiled, "launch_config_sensitive", False):
        return False
    kernel.add_overload(compiled, types)
    return True


def _add(kernel: CUDADispatcher, types: tuple, compiled: bytes) -> bool:
    """Add a worker's pickled ``compiled`` kernel to ``kernel`` for ``types`` and save it in the
    disk cache; whether it was added (where not, this process compiles it)."""
    try:
        made = pickle.loads(compiled)
    except Exception:
        return False
    if getattr(made, "launch_config_sensitive", False):
        return False
    made.target_context = kernel.targetctx  # (what its cache key's codegen comes from)
    kernel.add_overload(made, types)
    try:
        kernel._cache.save_overload(types, made)
    except Exception:  # (an unwritable cache: the next process compiles it again)
        pass
    return True


# ----------------------------------------------------------------------------- the workers
def write_message(stream: BinaryIO, message: Any) -> None:
    """Send ``message`` pickled, after its length (8 bytes)."""
    data = pickle.dumps(message)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def read_message(stream: BinaryIO) -> Any:
    """The next message :func:`write_message` sent; EOFError where the stream ended."""
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("the stream ended")
    (size,) = struct.unpack("<Q", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the stream ended inside a message")
    return pickle.loads(data)


def _device() -> int:
    """The number of the GPU this process's context is on."""
    from numba import cuda

    return int(cuda.get_current_device().id)


class _Workers:
    """Worker processes and this one compiling a list of kernels together: each takes the next
    kernel of the list until none is left."""

    def __init__(self, count: int) -> None:
        device = _device()
        self.processes: list[subprocess.Popen] = []
        for _ in range(count):
            try:
                process = subprocess.Popen(
                    WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                write_message(process.stdin, device)
            except OSError:  # (one that cannot start: the others and this process compile)
                continue
            self.processes.append(process)
        self.lock = threading.Lock()
        self.next = 0  # the next kernel of the list to take
        self.stopped = False  # no kernel is handed out any more
        self.working: set[int] = set()  # the workers that took one (the others may be stopped)
        self.results: dict[int, bytes] = {}  # compiled kernels, pickled, by their number

    def _take(self, count: int, worker: int | None = None) -> int | None:
        """The number of the next of ``count`` kernels, taken for ``worker`` (None: this
        process), or None when none is left."""
        with self.lock:
            if self.stopped or self.next >= count:
                return None
            if worker is not None:
                self.working.add(worker)
            self.next += 1
            return self.next - 1

    def _serve(self, worker: int, jobs: list[bytes | None]) -> None:
        """Hand worker ``worker`` kernels until none is left, its results into ``results``.
        Never raises: a worker that ended, answered nonsense or was stopped leaves its kernel
        uncompiled, for :meth:`compile` to compile here."""
        process = self.processes[worker]
        try:
            if read_message(process.stdout) != "ready":
                return
            while (number := self._take(len(jobs), worker)) is not None:
                if jobs[number] is None:  # (not picklable: compiled here)
                    continue
                write_message(process.stdin, jobs[number])
                compiled = read_message(process.stdout)
                if isinstance(compiled, bytes):
                    self.results[number] = compiled
            write_message(process.stdin, None)
        except Exception:
            return

    def compile(self, kernels: list[tuple[CUDADispatcher, tuple]]) -> int:
        """Compile ``kernels`` (dispatcher, argument types); the number workers compiled."""
        kernels = sorted(kernels, key=lambda job: -_size(job[0]))  # the longest first
        jobs = [_pickled(job) for job in kernels]
        servers = [
            threading.Thread(target=self._serve, args=(worker, jobs), daemon=True)
            for worker in range(len(self.processes))
        ]
        for server in servers:
            server.start()
        finished = False
        try:
            while (number := self._take(len(jobs))) is not None:
                kernel, types = kernels[number]
                kernel.compile(types)
            finished = True
        finally:
            self._stop(servers, wait=finished)
        taken = 0
        for number, (kernel, types) in enumerate(kernels):
            compiled = self.results.get(number)
            if compiled is not None and _add(kernel, types, compiled):
                taken += 1
            elif types not in kernel.overloads:  # (a worker's that failed or ended)
                kernel.compile(types)
        return taken

    def _stop(self, servers: list[threading.Thread], wait: bool) -> None:
        """End the workers: those compiling a kernel once it is done where ``wait`` (at most
        JOB_SECONDS), the others (still starting, or all where this process's compile raised)
        at once."""
        with self.lock:
            self.stopped = True
            idle = [p for w, p in enumerate(self.processes) if not wait or w not in self.working]
        for process in idle:
            process.kill()
        for server, process in zip(servers, self.processes, strict=True):
            server.join(JOB_SECONDS)
            process.kill()  # (one that ended already: nothing happens)
            server.join()
            process.wait()
            process.stdin.close()
            process.stdout.close()


def _pickled(job: tuple[CUDADispatcher, tuple]) -> bytes | None:
    """(dispatcher, argument types) pickled for a worker, or None where it cannot be."""
    try:
        return pickle.dumps(job)
    except Exception:
        return None


def _size(kernel: CUDADispatcher) -> int:
    """A guess at how long ``kernel`` takes to compile: its bytecode's length."""
    return len(kernel.py_func.__code__.co_code)
