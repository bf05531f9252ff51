"""The CUDA backend's runtime, with no kernel of its own: whether there is a GPU (or the
simulator), the grid-stride launch size, the pool of device buffers every CudaArray lives on, and
:class:`Launch`, through which every kernel of the package is launched (each compiled with
``cached_kernel``, cached on disk).

- Freed buffers go to a pool keyed by (size, dtype) and are reused: a training step asks for
  the same shapes every batch, so after the first step nothing is allocated. Reuse is safe
  because every kernel runs in order on one stream, whichever thread launched it (numba-cuda's
  legacy default stream, shared by the host threads; ``NUMBA_CUDA_PER_THREAD_DEFAULT_STREAM``
  would break this across threads).
- Threads: the pool hands a buffer to one thread at a time (a lock), and kernels are launched
  one at a time (:class:`Launch`).
- Copies from the host that a step waits for (a replayed step's inputs, a dataset's batch) go
  through pinned staging memory, asynchronously on that stream (:func:`copy_async`): the host
  goes on (to the next batch) while the device copies and computes.
- Recording: while a thread records a :class:`Tape` (:func:`recording`), every kernel it launches
  and every pooled buffer it is handed are written on the tape, and a copy between host and
  device spoils it; :mod:`autoconv.backends.cuda.capture` replays tapes. The launches and copies
  from the host of a recorded step wait in a queue, in order, until the step ends or the host
  reads the device: then their kernels are made ready together (:mod:`compiling`: the first
  steps' kernels compiled by several processes at once) and the queue runs.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import Any

import numba
import numpy as np
from numba import cuda
from numba.cuda import device_array, event, legacy_default_stream, pinned_array  # see Launch

from autoconv.backends.cuda import compiling
from autoconv.backends.references import FREE, references

SIMULATED = bool(numba.config.ENABLE_CUDASIM)
if SIMULATED:
    from autoconv.backends.cuda.simulator import (
        call_device_functions_directly,
        find_shared_arrays_quickly,
        run_threads_as_greenlets,
    )

    find_shared_arrays_quickly()  # by the caller's frame, not a traceback (see there)
    call_device_functions_directly()  # within the launched kernel's module
    run_threads_as_greenlets()  # a block's threads as greenlets of the launching thread
# Threads per block and the most blocks of a grid-stride loop. The simulator runs each thread's
# code in Python, so it gets small launches.
THREADS = 8 if SIMULATED else 256
MAX_BLOCKS = 2 if SIMULATED else 2048
# The alignment of shared arrays that a kernel reads in vector loads (16 bytes: four float32s;
# the simulator takes no alignment).
SHARED_ALIGN = None if SIMULATED else 16
# An array index known to be >= 0, cast unsigned so that numba adds no negative-index fix-up to
# the access. On the simulator a plain int: numba's uint64 there is a NumPy scalar, whose
# arithmetic is slow in the per-element loops the simulator runs in Python.
unsigned = int if SIMULATED else numba.uint64
# The same, 32 bits wide, where a kernel knows its offsets stay under 2**32: the arithmetic
# truncated to it (``unsigned32(a * b + c)``) is done in 32-bit instructions, and a division by
# a constant of a value cast to it is one multiply-high, not the 64-bit sequence. A value below
# 0 wraps to 2**32 minus it, on the simulator too (where numba's uint32 would be a NumPy scalar,
# slow): kernels that test "0 <= y < height" as one unsigned compare are tested as they run.
_TWO_32 = 2**32


def _wrapped32(value: int) -> int:
    return int(value) % _TWO_32


unsigned32 = _wrapped32 if SIMULATED else numba.uint32


# Every kernel of the package is compiled with ``@cached_kernel``: numba.cuda.jit with the
# on-disk cache on. The first process compiles each kernel it launches (NVVM, then the linker:
# tenths of a second each, seconds for a training step's kernels) and saves the cubin in
# __pycache__ beside the source (or under NUMBA_CACHE_DIR, or the user's cache folder where that
# is read-only); later processes load it. The key: the kernel's bytecode and closure values (each
# kernel a factory makes is its own entry), its argument types, the GPU's compute capability, the
# CUDA runtime's and numba-cuda's versions; editing a source file invalidates its entries. Device
# functions stay plain ``cuda.jit(device=True)``: they are compiled into the kernels calling them.
cached_kernel = cuda.jit(cache=True)


def cached_kernel_holding(blocks: int) -> Any:
    """``cached_kernel`` with its registers capped so that ``blocks`` blocks of THREADS threads
    fit on a multiprocessor (65,536 registers, given to a thread 8 at a time: at most 64 a
    thread for 4 blocks, 48 for 5), for a kernel that waits on memory and needs the warps more
    than the registers (the depthwise convolution's strips: 74 registers and 3 blocks, or 64
    and 4 with no spill and 2% more instructions on sm_90; CUDA's launch bounds, the other
    way to ask, made NVVM's loop 49% longer). The simulator has no such cap."""
    if SIMULATED:
        return cached_kernel
    return cuda.jit(cache=True, max_registers=65536 // (THREADS * blocks) // 8 * 8)


def available() -> bool:
    """True when numba.cuda sees a GPU (or the CUDA simulator is on)."""
    return SIMULATED or cuda.is_available()


# ----------------------------------------------------------------------------- memory
# Device allocations by (size, dtype), reused once no array uses them. The rule is the reference
# count (autoconv.backends.references), not a __del__ that returns the memory: a __del__ runs
# after the garbage collector has already run numba-cuda's finalizers for a cycle being torn
# down, so the memory it put back had been freed (on a real GPU: "weakly-referenced object no
# longer exists", and invalid-value copies).
_buffers: dict[tuple[int, str], list[_Buffer]] = {}


class _Buffer:
    """A flat device allocation of ``size`` elements; the arrays on it hold it."""

    __slots__ = ("flat", "key")

    def __init__(self, size: int, dtype: np.dtype) -> None:
        self.key = (size, dtype.str)
        self.flat = device_array(max(size, 1), dtype)


_pool_lock = threading.Lock()


def _buffer(size: int, dtype: np.dtype) -> _Buffer:
    """A free pooled allocation of ``size`` elements of ``dtype``, or a new pooled one. (The
    reference the caller gets back keeps it taken once the lock is let go.)"""
    with _pool_lock:
        pooled = _buffers.setdefault((size, dtype.str), [])
        for buffer in pooled:
            if references(buffer) <= FREE:
                break
        else:
            buffer = _Buffer(size, dtype)
            pooled.append(buffer)
        tape = getattr(_recording, "tape", None)
        if tape is not None:
            tape.buffers.append(buffer)  # the tape's: held, so never handed out again
        return buffer


def empty_cache() -> None:
    """Free the pooled allocations that no array uses (they are reused otherwise)."""
    with _pool_lock:
        for key, pooled in list(_buffers.items()):
            kept = [buffer for buffer in pooled if references(buffer) > FREE]
            if kept:
                _buffers[key] = kept
            else:
                del _buffers[key]


# ----------------------------------------------------------------------------- launching
def launch(kernel: Any, work: int) -> Launch:
    """``kernel`` configured for a grid-stride loop over ``work`` items."""
    blocks = max(1, min(MAX_BLOCKS, -(-work // THREADS)))
    return configure(kernel, blocks, THREADS)


# Kernels over lines (rows of a (rows, C) array, pixels of images) of entries (columns,
# channels) that a thread can follow one entry of: thread t of a block takes entry
# blockIdx.x * span + t % span of lines t // span, t // span + lanes, ... (lanes = THREADS //
# span lines at a time) of the block's run of lines (grid axis y), so what the entry's lines
# share is found once a thread and, for pixels, each line is stepped from the last without a
# division. A warp reads and writes adjacent entries of a line.
#
# A thread takes up to RUN_LINES lines, but never so many that the GPU's resident threads go
# idle: with fewer entries than it holds threads at once, a thread takes one line. (Measured on
# an H200: the MNIST convnet's fused conv + pool kernel, 10,816 pooled pixels x 32 filters, ran
# 32 lines a thread on 11,008 threads, 4% of the GPU's 270,336, in 236 us: 21% of the step;
# bench/results/2026-11-26-gpu-h200-first-figures.md.) The simulator counts one resident thread,
# so its launches keep RUN_LINES and the tests cover runs of many lines.
RUN_LINES = 32  # lines a thread takes, at most
MAX_GRID_Y = 65535  # the most blocks along a grid's second axis


@functools.cache
def resident_threads(blocks: int | None = None) -> int:
    """The threads the GPU runs at once (multiprocessors x threads each; with ``blocks``, of a
    kernel whose registers let a multiprocessor hold that many blocks of THREADS); 1 on the
    simulator."""
    if SIMULATED:
        return 1
    device = cuda.get_current_device()
    each = device.MAX_THREADS_PER_MULTIPROCESSOR if blocks is None else blocks * THREADS
    return device.MULTIPROCESSOR_COUNT * each


def line_layout(
    width: int, length: int, per_thread: int | None = None, blocks: int | None = None
) -> tuple[int, ...]:
    """How ``length`` lines of ``width`` entries are laid out (see above), each thread taking
    at most ``per_thread`` lines (RUN_LINES by default), fewer where that would leave resident
    threads idle. With ``blocks`` (a kernel of long runs, each adding a row of parts to sum
    after, whose registers let a multiprocessor hold that many blocks), no fewer than keep its
    blocks within one wave of what the GPU holds at once: a few more would run a last wave as
    long as a full one (the small Xception's depthwise kernel gradient had 1,069 blocks where
    an H200 holds 528). (span, blocks across, blocks along, run, lanes) = (entries a block,
    the grid, lines a block, lines a block takes at a time)."""
    span = max(1, min(width, THREADS))
    lanes = THREADS // span
    most = RUN_LINES if per_thread is None else per_thread
    if blocks is None:
        fill = width * length // resident_threads()
    else:  # (the threads launched: whole spans)
        fill = -(-(-(-width // span) * span * length) // resident_threads(blocks))
    per_thread = max(1, min(most, fill))
    along = max(1, min(MAX_GRID_Y, -(-length // (per_thread * lanes))))
    return span, -(-width // span), along, -(-length // along), lanes


def launch_lines(kernel: Any, width: int, length: int, per_thread: int | None = None) -> Any:
    """``kernel`` configured over ``length`` lines of ``width`` entries (see
    :func:`line_layout`), launched by calling it with the kernel's arguments, to which (span,
    run) are added: span entries a block, run lines a block (see :func:`line_run`)."""
    span, across, along, run, _ = line_layout(width, length, per_thread)
    launch = configure(kernel, (across, along), THREADS)
    return lambda *args: launch(*args, span, run)


@cuda.jit(device=True)
def line_run(span, run, length):
    """In a kernel of :func:`launch_lines`: this thread's (entry, first line, lanes, end): its
    lines first, first + lanes, ... before end (none when first >= end)."""
    t = cuda.threadIdx.x
    lanes = cuda.blockDim.x // span
    end = min(length, (cuda.blockIdx.y + 1) * run)
    first = cuda.blockIdx.y * run + t // span if t // span < lanes else end
    return cuda.blockIdx.x * span + t % span, first, lanes, end


@cuda.jit(device=True)
def line_chunk(span, run, length):
    """In a kernel of :func:`launch_lines` that walks its lines in order: this thread's (entry,
    lane, first line, end): the lines first .. end - 1 one after another, its lane's share of
    its block's run (lane l of L takes the l-th of L shares side by side; none when first >=
    end). A warp's threads are one lane's where span >= 32: its loads are side by side as in
    :func:`line_run`'s interleaved lanes."""
    t = cuda.threadIdx.x
    lanes, lane = cuda.blockDim.x // span, t // span
    share = -(-run // lanes)
    first = cuda.blockIdx.y * run + lane * share
    end = min(length, (cuda.blockIdx.y + 1) * run, first + share)
    return cuda.blockIdx.x * span + t % span, lane, first, end if lane < lanes else first


def wide_offsets(*arrays: Any) -> bool:
    """Whether a kernel over ``arrays`` is compiled with 64-bit offsets (``unsigned``), not
    32-bit ones (``unsigned32``): an array of 2**31 entries or more."""
    return max(a.size for a in arrays) >= 2**31


@cuda.jit(device=True)
def four_lines(r, lanes, width, e):
    """Entry e's offsets in lines r, r + lanes, r + 2 lanes, r + 3 lanes of ``width`` entries:
    a thread of :func:`launch_lines` reads four of its lines before it writes any, so their
    loads are in flight together (a write between them keeps the next line's load behind it)."""
    step = lanes * width
    at = unsigned(r * width + e)
    return at, unsigned(at + step), unsigned(at + 2 * step), unsigned(at + 3 * step)


def configure(kernel: Any, grid: Any, block: Any) -> Launch:
    """``kernel`` on a grid of ``grid`` blocks of ``block`` threads, launched by calling it with
    the kernel's arguments; see :class:`Launch`."""
    return Launch(kernel, grid, block)


_launching = threading.Lock()


class Launch:
    """A kernel and its launch configuration: calling it with the kernel's arguments
    configures the kernel with ``grid`` and ``block`` and launches it, holding the process's one
    launch lock. Threads launch one at a time: numba-cuda's simulator keeps a launch's configuration
    on the kernel object itself and, while the kernel runs, rebinds every global name of the
    kernel's module that refers to ``numba.cuda`` to its in-kernel stand-in, so two launches
    at once break each other (and host code of these modules calls ``device_array`` and
    ``to_device`` by names of their own, never as ``cuda.``). On a GPU the lock costs nothing
    beside numba-cuda's launch, tens of microseconds of Python that hold the GIL anyway."""

    __slots__ = ("block", "grid", "kernel")

    def __init__(self, kernel: Any, grid: Any, block: Any) -> None:
        self.kernel, self.grid, self.block = kernel, grid, block

    def __call__(self, *args: Any) -> None:
        queue = getattr(_recording, "queue", None)
        if queue is not None:  # (a recording's: run by settle)
            queue.append((self, args))
            _recording.tape.launches.append((self.kernel, self.grid, self.block, args))
            return
        with _launching:
            self.now(*args)

    def now(self, *args: Any) -> None:
        """Launch at once, queue or not; the caller holds the launch lock."""
        self.kernel[self.grid, self.block](*args)

    def onto(self, stream: Any, *args: Any) -> None:
        """Launch on ``stream`` (a graph being built, see :mod:`~autoconv.backends.cuda.capture`)
        rather than the default stream; never recorded."""
        with _launching:
            self.kernel[self.grid, self.block, stream](*args)


# ----------------------------------------------------------------------------- copies
# Pinned host buffers that asynchronous copies are made from, used in turn: a buffer is
# written again only once the copy made from it last has finished (its event), so a host that
# runs ahead of the device waits only when it is STAGING_BUFFERS copies ahead.
STAGING_BUFFERS = 8


class _Staging:
    __slots__ = ("buffer", "done")

    def __init__(self) -> None:
        self.buffer: np.ndarray = np.empty(0, np.uint8)
        self.done: Any = None  # the event recorded after the last copy from ``buffer``


_staging = [_Staging() for _ in range(STAGING_BUFFERS)]
_staging_turn = 0
_staging_lock = threading.Lock()


def copy_async(target: Any, host: np.ndarray) -> None:
    """``target`` (a C-contiguous device array) = ``host`` (the same shape and dtype), copied on
    the legacy default stream, in order with every kernel, without waiting for it: from a pinned
    staging buffer that ``host`` is first copied into, so ``host`` may change as soon as this
    returns. (The simulator copies at once.)"""
    global _staging_turn
    data = np.ascontiguousarray(host).reshape(-1).view(np.uint8)
    with _staging_lock:
        staging = _staging[_staging_turn]
        _staging_turn = (_staging_turn + 1) % STAGING_BUFFERS
        if staging.done is not None:
            staging.done.synchronize()
        if len(staging.buffer) < len(data):
            staging.buffer = pinned_array(max(len(data), 2 * len(staging.buffer)), np.uint8)
        staged = staging.buffer[: len(data)]
        staged[:] = data
        stream = legacy_default_stream()
        target.copy_to_device(staged.view(target.dtype).reshape(target.shape), stream=stream)
        staging.done = staging.done or event()
        staging.done.record(stream)


# ----------------------------------------------------------------------------- recording
class Tape:
    """What one thread's step did on the GPU, recorded while it ran: ``launches`` (kernel, grid,
    block, arguments) in order, ``buffers`` (every pooled buffer the step was handed: the tape
    holds them, so no one else is handed them while it may be replayed), ``inputs`` (the values
    the host computes for each step, see :func:`autoconv.backends.cuda.capture.step_input`), and
    ``spoiled``: why the step cannot be replayed from its launches alone (a copy between host
    and device inside it), or None."""

    __slots__ = ("arena", "buffers", "inputs", "launches", "spoiled", "uploads", "used")

    def __init__(self) -> None:
        self.launches: list[tuple[Any, Any, Any, tuple]] = []
        self.uploads: list[tuple[Any, np.ndarray]] = []  # (device array, the host values)
        self.buffers: list[_Buffer] = []
        self.inputs: list[tuple[int, Any, Any]] = []  # (byte offset, host shape/dtype, compute)
        self.arena: _Buffer | None = None  # the inputs' device bytes, one copy per replay
        self.used = 0
        self.spoiled: str | None = None


_recording = threading.local()


@contextlib.contextmanager
def recording() -> Iterator[Tape]:
    """Record this thread's launches and buffers on a new :class:`Tape` while the block runs.
    Its launches and copies from the host (:func:`copy_in`) wait in a queue, run in order by
    :func:`settle`: at the block's end, and before the host reads the device or copies to it
    otherwise (:func:`transfer`)."""
    if getattr(_recording, "tape", None) is not None:
        raise RuntimeError("a step is already being recorded in this thread")
    tape = _recording.tape = Tape()
    _recording.queue = []
    try:
        yield tape
    finally:
        try:
            settle()
        finally:
            _recording.tape = _recording.queue = None


def settle() -> None:
    """Run what this thread's recording has queued: its kernels made ready together
    (:func:`compiling.prepare`), then its launches and copies in order."""
    queue = getattr(_recording, "queue", None)
    if not queue:
        return
    entries = queue[:]
    queue.clear()
    with _launching:
        compiling.prepare((launch.kernel, args) for launch, args in entries if launch is not None)
        for launch, args in entries:
            if launch is None:  # a copy from the host: (target, values)
                args[0].copy_to_device(args[1])
            else:
                launch.now(*args)


def copy_in(target: Any, host: np.ndarray) -> None:
    """``target`` (a device array) = ``host`` (the same size), in order with this thread's
    launches: now, or in a recording's queue (a copy of ``host`` taken now)."""
    queue = getattr(_recording, "queue", None)
    if queue is None:
        target.copy_to_device(host)
    else:
        queue.append((None, (target, np.array(host, copy=True))))


def active_tape() -> Tape | None:
    """The tape this thread records, or None."""
    return getattr(_recording, "tape", None)


def upload(target: Any, host: np.ndarray) -> None:
    """Copy ``host`` into the device array ``target``; a recording notes it."""
    tape = getattr(_recording, "tape", None)
    if tape is not None:
        tape.uploads.append((target, host.copy()))
    copy_in(target, host)


def transfer(what: str) -> None:
    """Note a copy between host and device (``what`` says which), made next: a recorded step
    that makes one cannot be replayed from its launches alone, and what it queued runs first
    (:func:`settle`)."""
    settle()
    tape = getattr(_recording, "tape", None)
    if tape is not None and tape.spoiled is None:
        tape.spoiled = what
