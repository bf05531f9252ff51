"""Data-parallel training over MPI: one model trained by several processes, on one machine or
many, with mpi4py (``pip install "autoconv[mpi]"`` brings it and an MPI runtime).

Start N copies of a program with ``mpiexec -n N`` (``autoconv train ... --workers N`` does it);
each calls :func:`initialize` (the command line does), then trains as usual::

    import autoconv
    world = autoconv.distributed.initialize()
    model = ...; model.compile(...)
    model.fit(x, y, batch_size=64, epochs=5)   # every process passes the same x and y
    if world.rank == 0:
        model.save("model.keras")

With more than one process, ``fit`` (and ``evaluate``, ``train_on_batch``, ``test_on_batch``):

- copy process 0's weights (and optimizer state) to every process when ``fit`` starts;
- shuffle the same way on every process (process 0's order, every epoch) and cut each global
  batch of ``batch_size`` samples into one contiguous share per process (sizes differ by at
  most one); ``batch_size`` stays the global batch, as in Keras's distribution API;
- after each backward pass, pack every process's gradients, each multiplied by its number of
  samples, into one flat buffer and sum it with one ``Allreduce``; divided by the batch's
  samples this is the gradient of the whole batch's mean loss, so N processes x B/N samples
  take the step one process takes on B samples (for the default loss reduction,
  ``sum_over_batch_size``). The loss is checked for NaN after the sum, so every process
  stops on the same step;
- sum the loss and metric states (all of them are sums) whenever the logs are read, and then
  average the non-trainable float weights (BatchNormalization's moving statistics: each
  process updates them from its own share, and as the update is linear, the average is the
  update from the mean of the shares);
- show progress and run the callbacks that write files (ModelCheckpoint, CSVLogger) on
  process 0 only; the other callbacks run everywhere on the same (summed) logs;
- stop every process when one raises an exception that nothing catches (as
  ``python -m mpi4py`` does): it prints the error and calls ``MPI_Abort``, so no process waits
  forever in a collective its peer will never join.

``initialize(deterministic=True)`` sums in a fixed order (each process adds its slice of the
buffer from every process in rank order, then the slices are gathered), so the results do not
depend on the algorithm the MPI library picks; the bytes sent are those of a ring all-reduce.

On the GPU each process uses the device of its rank on the machine (its local rank, modulo the
GPUs it sees). Gradients go through host memory, unless the MPI library says it is CUDA-aware
(``MPIX_Query_cuda_support``); then the flat buffer is summed in device memory.

Importing this module does not import mpi4py; :func:`initialize` does.
"""

from __future__ import annotations

import ctypes
import importlib.util
import itertools
import shutil
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autoconv.backends import array_device, before_cuda_loads, namespace
from autoconv.metrics.compile_metrics import each_metric

INSTALL_HINT = 'pip install "autoconv[mpi]"'
ABORT_GRACE_SECONDS = 1.0  # see World.abort

# Set by the process managers of MPICH (and Intel MPI), Open MPI and MVAPICH in each process
# they start: how a command line knows it was started by mpiexec.
WORLD_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")

# Tail of the gradient buffer: [loss x samples, samples, process 0 asks to read the logs].
LOSS, SAMPLES, POLL = range(3)

__all__ = [
    "INSTALL_HINT",
    "MPIUnavailableError",
    "World",
    "current",
    "find_mpiexec",
    "initialize",
    "is_main",
    "launched_size",
    "rank",
    "share",
]


class MPIUnavailableError(RuntimeError):
    """mpi4py (or the MPI library under it) is not installed."""


_world: World | None = None


def current() -> World | None:
    """The world ``fit`` trains over: the one :func:`initialize` started, if it has more than one
    process; else None (one process, nothing is distributed)."""
    return _world


def rank() -> int:
    """This process's rank (0 without MPI)."""
    return 0 if _world is None else _world.rank


def is_main() -> bool:
    """Whether this process prints and writes files: process 0, or the only process."""
    return rank() == 0


def initialize(deterministic: bool = False, comm: Any = None) -> World:
    """Start MPI (importing mpi4py) and train over every process of ``comm`` (MPI.COMM_WORLD by
    default) from now on. ``deterministic=True`` sums gradients and logs in rank order.

    An exception that no code catches then stops every process (see the module's docstring).
    Raises MPIUnavailableError, saying how to install MPI, when mpi4py cannot be loaded.
    Called again, it returns the same world (with the new ``deterministic``).
    """
    global _world
    if _world is not None:
        _world.deterministic = deterministic
        return _world
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError) as error:  # RuntimeError: mpi4py without an MPI library
        raise MPIUnavailableError(
            f"autoconv.distributed needs MPI, which is not installed ({error}): {INSTALL_HINT}"
        ) from None
    world = World(MPI.COMM_WORLD if comm is None else comm, deterministic)
    _world = world if world.size > 1 else None
    if world.size > 1:
        _stop_all_on_uncaught_exceptions(world)
        before_cuda_loads(world.select_gpu)  # each process its own GPU
    return world


def launched_size(environ: Mapping[str, str]) -> int:
    """The number of processes mpiexec started, from its variables in ``environ`` (1 when the
    process was not started by mpiexec). The command line passes ``os.environ``."""
    for name in WORLD_SIZE_VARIABLES:
        if environ.get(name, "").isdigit():
            return int(environ[name])
    return 1


def find_mpiexec() -> str | None:
    """The ``mpiexec`` to start workers with: the one installed next to this Python (the mpich
    wheel's, from ``autoconv[mpi]``), else the system's; None if there is none, or if mpi4py
    is not installed."""
    if importlib.util.find_spec("mpi4py") is None:
        return None
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


class World:
    """The processes training one model: ``size``, this process's ``rank`` and ``local_rank``
    (its rank on this machine), and the collective operations ``fit`` uses."""

    def __init__(self, comm: Any, deterministic: bool = False) -> None:
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = comm
        self.size, self.rank = comm.Get_size(), comm.Get_rank()
        node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = node.Get_rank(), node.Get_size()
        node.Free()
        self.deterministic = deterministic
        self.cuda_aware = _cuda_aware(MPI)
        self._buffers: dict[tuple[int, str], np.ndarray] = {}
        self._wants_poll = False  # process 0 wants the logs: sent with the next gradients
        self._poll_due = False  # what process 0 wanted, as received with the last gradients

    def __repr__(self) -> str:
        return f"<World rank={self.rank} of {self.size}, local rank {self.local_rank}>"

    # ------------------------------------------------------------------ batches
    def share(self, start: int, stop: int) -> tuple[int, int]:
        """This process's rows of a global batch's rows [start, stop) (see :func:`share`)."""
        return share(start, stop, self.rank, self.size)

    def broadcast(self, array: np.ndarray) -> np.ndarray:
        """Process 0's ``array`` (same shape and dtype everywhere) on every process, in place."""
        array = np.ascontiguousarray(array)
        self.comm.Bcast(array, root=0)
        return array

    def check_batch_size(self, batch_size: int, what: str) -> None:
        """A ValueError if a global batch is too small to give every process a sample."""
        if batch_size < self.size:
            raise ValueError(
                f"{what}: batch_size {batch_size} is smaller than the number of processes "
                f"({self.size}); batch_size is the global batch, split across the processes, "
                f"so each needs at least one sample: use a batch size of at least {self.size} "
                "or fewer processes"
            )

    # ---------------------------------------------------------------- the weights
    def broadcast_model(self, model: Any) -> None:
        """Copy process 0's weights, its optimizer's slots and step count to every process."""
        optimizer = model.optimizer
        slots = [] if optimizer is None else optimizer.slots
        arrays = [v.data for v in model.weights] + [a for s in slots for a in s.values()]
        sizes = self.comm.allgather([int(np.prod(a.shape)) for a in arrays])
        if any(s != sizes[0] for s in sizes):
            raise ValueError(
                "the processes hold different models (weights or optimizer state differ in "
                "shape): build and compile the same model on every process before fit"
            )
        host = [namespace(array_device(a)).to_numpy(a) for a in arrays]
        flat = np.concatenate([a.reshape(-1).astype(np.float64) for a in host] + [np.zeros(1)])
        flat[-1] = 0 if optimizer is None else int(optimizer.iterations)
        self.broadcast(flat)
        parts = iter(_split(flat, [a.size for a in host]))
        for variable in model.weights:
            variable.assign(next(parts).reshape(variable.shape))
        for per_variable in slots:
            for name, value in per_variable.items():
                device = array_device(value)
                part = next(parts).reshape(value.shape).astype(value.dtype)
                per_variable[name] = namespace(device).asarray(part)
        if optimizer is not None:
            optimizer.iterations = int(flat[-1])

    def average_gradients(
        self, params: Sequence[Any], loss: Any, count: int, device: str
    ) -> tuple[Any, int]:
        """Replace each parameter's ``.grad`` by the gradient of the whole global batch's mean
        loss, from this process's ``count`` samples (``.grad`` the gradient of their mean
        ``loss``; ``count`` 0 and ``loss`` None for a process without samples in a short last
        batch). One ``Allreduce`` of one flat buffer. Returns (the batch's mean loss as an array
        on ``device``, the batch's samples)."""
        xp = namespace(device)
        sizes = [int(np.prod(p.shape)) for p in params]
        total = sum(sizes)
        dtype = np.result_type(np.float32, *[p.dtype for p in params])
        tail = np.zeros(3 + len(params), dtype)  # [LOSS, SAMPLES, POLL, has a gradient ...]
        tail[LOSS] = float(loss) * count if count else 0.0
        tail[SAMPLES], tail[POLL] = count, self._wants_poll
        tail[3:] = [p.grad is not None for p in params]
        if self.cuda_aware and device == "cuda" and not self.deterministic:
            flat = xp.zeros((total + tail.size,), dtype)  # summed in GPU memory
            for param, piece in zip(params, _split(flat.flat, sizes), strict=True):
                if param.grad is not None:
                    piece.copy_to_device((param.grad * count).flat)
            flat.flat[total:].copy_to_device(tail)
            self._sum_device(flat)
            tail = flat.flat[total:].copy_to_host()
            grads = flat[:total] * dtype.type(1.0 / tail[SAMPLES])
        else:
            buffer = self._buffer(total + tail.size, dtype)
            for param, piece in zip(params, _split(buffer, sizes), strict=True):
                if param.grad is None:
                    piece[:] = 0
                else:
                    np.multiply(xp.to_numpy(param.grad).reshape(-1), count, out=piece)
            buffer[total:] = tail
            self._sum(buffer)
            tail = buffer[total:].copy()
            np.multiply(buffer[:total], 1.0 / tail[SAMPLES], out=buffer[:total])
            grads = xp.asarray(buffer[:total])  # on the CPU the buffer itself, not a copy
        for param, piece, summed in zip(params, _split(grads, sizes), tail[3:], strict=True):
            param.grad = piece.reshape(param.shape) if summed > 0 else None
        self._poll_due = bool(tail[POLL])
        samples = round(float(tail[SAMPLES]))
        return xp.asarray(np.array([tail[LOSS] / samples], dtype)), samples

    def _buffer(self, size: int, dtype: np.dtype) -> np.ndarray:
        """The host buffer of the gradients, made once per layout and reused every step."""
        key = (size, np.dtype(dtype).str)
        if key not in self._buffers:
            self._buffers[key] = np.empty(size, dtype)
        return self._buffers[key]

    # -------------------------------------------------------------------- logs
    def poll_due(self, wanted: bool) -> bool:
        """Whether every process reads the logs after this step: what process 0 wanted (its
        ``wanted``, e.g. "a fifth of a second has passed") at the previous step, received with
        this step's gradients, so that all processes read at the same steps."""
        due, self._poll_due = self._poll_due, False
        self._wants_poll = bool(wanted) and self.rank == 0 and not due
        return due

    def logs(self, model: Any) -> dict[str, float]:
        """The model's logs over every process: its metric states summed (one ``Allreduce``,
        with the non-trainable float weights, which are then averaged and kept)."""
        metrics = [(m, name) for m in each_metric(model.metrics) for name in m._shapes]
        states = [m._read(name) for m, name in metrics]
        weights = [v for v in model.non_trainable_weights if np.dtype(v.dtype).kind == "f"]
        values = [namespace(v.device).to_numpy(v.data) for v in weights]
        parts = [np.asarray(a, np.float64).reshape(-1) for a in states + values]
        flat = np.concatenate([*parts, np.zeros(0)])
        self._sum(flat)
        summed = _split(flat, [p.size for p in parts])
        for variable, total in zip(weights, summed[len(states) :], strict=True):
            variable.assign((total / self.size).reshape(variable.shape))
        try:
            for (metric, name), total, state in zip(
                metrics, summed[: len(states)], states, strict=True
            ):
                value = total.reshape(state.shape).astype(metric.dtype)
                setattr(metric, name, namespace(metric.device).asarray(value))
            return model.get_metrics_result()
        finally:  # this process's own states back (a metric takes a new value in place)
            for (metric, name), state in zip(metrics, states, strict=True):
                setattr(metric, name, namespace(metric.device).asarray(state))

    def agree(self, flag: bool) -> bool:
        """True on every process if ``flag`` is True on any (e.g. a callback stopped training)."""
        return bool(self.comm.allreduce(bool(flag), op=self.MPI.LOR))

    # ------------------------------------------------------------------- sums
    def _sum(self, buffer: np.ndarray) -> None:
        """Sum ``buffer`` (a host array) over every process, in place."""
        if not self.deterministic:
            self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
            return
        # Each process sums its slice of every process's buffer in rank order, then the
        # slices are gathered: a reduce-scatter and an all-gather, as a ring all-reduce.
        counts = [len(c) for c in np.array_split(np.arange(buffer.size), self.size)]
        starts = np.cumsum([0, *counts[:-1]]).tolist()
        mine = counts[self.rank]
        received = np.empty(self.size * mine, buffer.dtype)
        self.comm.Alltoallv(
            [buffer, (counts, starts)],
            [received, ([mine] * self.size, [mine * r for r in range(self.size)])],
        )
        rows = received.reshape(self.size, mine)
        total = rows[0].copy()
        for row in rows[1:]:
            total += row
        self.comm.Allgatherv(total, [buffer, (counts, starts)])

    def _sum_device(self, array: Any) -> None:
        """Sum a GPU array over every process in place (a CUDA-aware MPI reads device memory)."""
        from numba import cuda

        cuda.synchronize()  # the kernels that filled it have finished
        self.comm.Allreduce(self.MPI.IN_PLACE, array.flat, op=self.MPI.SUM)

    # ------------------------------------------------------------------- devices
    def select_gpu(self) -> None:
        """Use the GPU of this process's local rank (modulo the GPUs visible), before any
        array is made there (:func:`initialize` has the CUDA backend call it when it loads),
        and share the machine's cores among the local processes' kernel compiles."""
        from numba import cuda

        from autoconv.backends.cuda import compiling

        cuda.select_device(self.local_rank % max(1, len(cuda.gpus)))
        compiling.share_cores(self.local_size)

    # ------------------------------------------------------------------- errors
    def abort(self, message: str) -> None:
        """Print ``message`` with this process's rank and stop every process (MPI_Abort)."""
        sys.stdout.flush()
        print(
            f"autoconv.distributed: process {self.rank} of {self.size} failed: {message}\n"
            f"Stopping all {self.size} processes.",
            file=sys.stderr,
            flush=True,
        )
        # mpiexec forwards each process's output through a pipe, and on MPI_Abort it kills
        # every process and drops what that pipe still holds: the traceback and this message
        # were sometimes cut short. A moment first lets them through.
        time.sleep(ABORT_GRACE_SECONDS)
        self.comm.Abort(1)


def share(start: int, stop: int, rank: int, size: int) -> tuple[int, int]:
    """Process ``rank``'s contiguous part [first, last) of the rows [start, stop), among
    ``size`` processes: the first ``(stop - start) % size`` take one row more than the others.

    >>> [share(0, 10, r, 4) for r in range(4)]
    [(0, 3), (3, 6), (6, 8), (8, 10)]
    """
    count, extra = divmod(stop - start, size)
    first = start + rank * count + min(rank, extra)
    return first, first + count + (rank < extra)


def _stop_all_on_uncaught_exceptions(world: World) -> None:
    """An exception no code catches prints its traceback, then stops every process."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, tb: Any) -> None:
        previous(kind, error, tb)
        world.abort("".join(traceback.format_exception_only(kind, error)).strip())

    sys.excepthook = hook


def _cuda_aware(MPI: Any) -> bool:
    """Whether the MPI library reads and writes GPU memory: ``MPIX_Query_cuda_support``
    (MPICH, Open MPI), asked at run time; False for a library that does not have it."""
    try:
        query = ctypes.CDLL(MPI.__file__).MPIX_Query_cuda_support
    except (AttributeError, OSError):
        return False
    return bool(query())


def _split(flat: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """``flat`` cut into consecutive pieces of ``sizes`` (views)."""
    ends = np.cumsum([0, *sizes]).tolist()
    return [flat[a:b] for a, b in itertools.pairwise(ends)]
