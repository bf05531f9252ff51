"""A step recorded once and replayed on the GPU: one CUDA graph launch for one or several steps.

A training step launches the same kernels on the same arrays every batch; only a few values
the host computes change (the batch's place in the epoch, a dropout seed, a learning rate). So:

1. The step runs eagerly while its thread records a :class:`~autoconv.backends.cuda.runtime.Tape`
   (every launch with its arguments, every buffer the pool hands it, which the tape then holds).
   A value that changes from step to step reaches the kernels through :func:`step_input`: a
   device array the host refills before each replay, from the function that computed it.
2. Two consecutive steps' tapes are compared (:func:`difference`): the same kernels, launch
   shapes and scalars, the same persistent arrays (weights, slots, totals: updated in place),
   step-local buffers that correspond one to one, and the same host values copied into them
   (constants, which the held buffers keep). If they differ, something the step did depends
   on the host in a way a replay would freeze, and the step keeps running eagerly.
3. :class:`Replay` replays the second tape: the step inputs refreshed with one host-to-device
   copy (asynchronous, from pinned memory: the host does not wait for the device), then the
   launches as one CUDA graph (built with ``cuda.core``'s graph builder, which numba-cuda
   accepts in a launch's stream slot) launched on the legacy default stream, in order with
   every other kernel. On the simulator, or where a graph cannot be built, the launches are
   replayed one by one: the same semantics, so the simulator tests them.

What the host does besides launching (the optimizer's step count, the samples seen) is the
caller's to repeat: a replay only does the device's work.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv.backends.cuda.array import CudaArray, asarray
from autoconv.backends.cuda.runtime import (
    SIMULATED,
    Launch,
    Tape,
    _Buffer,
    _launching,
    active_tape,
    copy_async,
    copy_in,
    recording,
)

__all__ = ["Replay", "difference", "recording", "replay", "step_input"]

# Room for a step's inputs: scalars, seeds, hyperparameters and the augmentation layers' draws
# (an affine transform is 32 bytes an image: three such layers over a batch of 512 take 48 KB).
ARENA_BYTES = 65536
_ALIGN = 8
_SLOT_ALIGN = 256  # bytes between the slots of several steps' inputs
GRAPHS = not SIMULATED  # whether replays are made into CUDA graphs (the simulator has none)


# --------------------------------------------------------------------- step inputs
def step_input(compute: Callable[[], Any], dtype: Any) -> CudaArray:
    """``compute()`` (a scalar or small array the host computes each step) as a device array of
    ``dtype``. Recorded in a step, it lives in the tape's arena and a replay calls ``compute``
    again and copies its value in, so ``compute`` must read the live state (the current step,
    the optimizer's iterations), never a value captured when it was made."""
    value = np.ascontiguousarray(compute(), dtype=dtype)
    tape = active_tape()
    if tape is None:
        return asarray(value)
    offset = tape.used
    if offset + value.nbytes > ARENA_BYTES:
        tape.spoiled = tape.spoiled or f"more than {ARENA_BYTES} bytes of step inputs"
        return asarray(value)
    if tape.arena is None:
        tape.arena = _Buffer(ARENA_BYTES, np.dtype(np.uint8))
    tape.used = offset + -(-max(value.nbytes, 1) // _ALIGN) * _ALIGN
    flat = tape.arena.flat[offset : offset + value.nbytes].view(value.dtype)
    out = CudaArray(tape.arena, value.shape, flat)
    if value.size:
        copy_in(out.flat, value.reshape(-1))  # the eager step's own value
    tape.inputs.append((offset, (value.shape, value.dtype), compute))
    return out


# ------------------------------------------------------------- comparing two tapes
def _address(array: Any) -> int:
    """The device address of a device array's first element."""
    if SIMULATED:
        return int(array._ary.ctypes.data)
    return int(array.device_ctypes_pointer.value or 0)


def _is_device_array(value: Any) -> bool:
    return hasattr(value, "copy_to_host") and hasattr(value, "shape")


class _Regions:
    """The tape's own memory (its buffers and its arena) by address, to tell a step-local
    array (which may differ from one recording to the next) from a persistent one."""

    def __init__(self, tape: Tape) -> None:
        buffers = {id(b): b for b in tape.buffers}
        if tape.arena is not None:
            buffers[id(tape.arena)] = tape.arena
        spans = sorted(
            (_address(b.flat), _address(b.flat) + b.flat.nbytes) for b in buffers.values()
        )
        self.starts = [start for start, _ in spans]
        self.spans = spans

    def locate(self, array: Any) -> tuple[str, int, int]:
        """('local', region, offset) or ('fixed', address, 0) for a device array."""
        address = _address(array)
        k = bisect.bisect_right(self.starts, address) - 1
        if k >= 0 and address < self.spans[k][1]:
            return "local", k, address - self.spans[k][0]
        return "fixed", address, 0


def _flatten(args: tuple) -> list[Any]:
    flat: list[Any] = []
    for arg in args:
        if isinstance(arg, tuple):
            flat.extend(_flatten(arg))
        else:
            flat.append(arg)
    return flat


def _same_value(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    return bool(a == b) or (a != a and b != b)  # NaN scalars are the same value


def difference(first: Tape, second: Tape) -> str | None:
    """Why ``second`` is not a replayable recording of the step ``first`` recorded before it,
    or None when it is: the same launches, scalars and persistent arrays, and local buffers
    that map one to one."""
    for tape in (first, second):
        if tape.spoiled is not None:
            return f"the step copies between host and device ({tape.spoiled})"
    if len(first.launches) != len(second.launches):
        return f"the steps launch {len(first.launches)} and {len(second.launches)} kernels"
    if len(first.uploads) != len(second.uploads):
        return f"the steps copy {len(first.uploads)} and {len(second.uploads)} host values"
    regions = _Regions(first), _Regions(second)
    forward: dict[int, int] = {}
    backward: dict[int, int] = {}

    def same_array(a: Any, b: Any, where: str) -> str | None:
        """None if ``a`` and ``b`` are one persistent array, or step-local ones that
        correspond (the first time each is met, they are paired), else why not."""
        if not _is_device_array(b) or a.shape != b.shape or a.dtype != b.dtype:
            return f"{where} is another array"
        kind_a, place_a, offset_a = regions[0].locate(a)
        kind_b, place_b, offset_b = regions[1].locate(b)
        if kind_a != kind_b or offset_a != offset_b:
            return f"{where} is a persistent array in one step only"
        if kind_a == "fixed":
            if place_a != place_b:
                return (
                    f"{where} is another persistent array in each step (an array replaced "
                    "instead of updated in place)"
                )
        elif forward.setdefault(place_a, place_b) != place_b or (
            backward.setdefault(place_b, place_a) != place_a
        ):
            return f"{where}: the steps share their buffers differently"
        return None

    for i, ((target_a, host_a), (target_b, host_b)) in enumerate(
        zip(first.uploads, second.uploads, strict=True)
    ):
        if not _same_value(host_a, host_b):
            return f"copy {i} from the host changes from step to step ({host_a}, {host_b})"
        why = same_array(target_a, target_b, f"copy {i} from the host")
        if why is not None:
            return why
    for i, (one, two) in enumerate(zip(first.launches, second.launches, strict=True)):
        name = getattr(getattr(one[0], "py_func", None), "__qualname__", None) or repr(one[0])
        where = f"launch {i} ({name})"
        if one[0] is not two[0] or one[1] != two[1] or one[2] != two[2]:
            return f"{where}: another kernel or launch shape"
        args_one, args_two = _flatten(one[3]), _flatten(two[3])
        if len(args_one) != len(args_two):
            return f"{where}: another number of arguments"
        for k, (a, b) in enumerate(zip(args_one, args_two, strict=True)):
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                return f"{where}: argument {k} is a host array (copied at each launch)"
            if not _is_device_array(a):
                if _is_device_array(b) or not _same_value(a, b):
                    return f"{where}: argument {k} changes from step to step ({a!r}, {b!r})"
                continue
            why = same_array(a, b, f"{where}: argument {k}")
            if why is not None:
                return why
    return None


# ------------------------------------------------------------------------ replay
class Replay:
    """A recorded step, replayed: :meth:`stage` computes the next step's inputs on the host
    (after which the caller does the host's part of that step), :meth:`launch` runs the steps
    staged since the last launch: their inputs refreshed with one copy, then their launches as
    one CUDA graph (``mode`` 'graph'; a graph per number of steps, made at its first launch or
    with a launch short by the steps recorded before it: see :meth:`launch`) or,
    on the simulator or where the graph could not be built, one by one (``mode`` 'launches';
    ``why`` says why not a graph). Calling it stages and launches one step. It holds the tape,
    so the step's buffers stay its own while it lives.

    One step reads its inputs from the tape's arena; several steps in one launch each read
    theirs from their own slot of a wider buffer, ``stride`` bytes apart (every launch's
    arguments that lie in the arena are moved to the slot), and share every other buffer: the
    steps run one after another on one stream."""

    def __init__(self, tape: Tape) -> None:
        self.tape = tape
        self.stride = -(-max(tape.used, 1) // _SLOT_ALIGN) * _SLOT_ALIGN
        self.staging = np.zeros(self.stride, np.uint8)
        self.staged = 0  # steps staged since the last launch
        self._slots: _Buffer | None = None  # the inputs of several steps, a slot each
        self._replicas: list[list[tuple[Any, Any, Any, tuple]]] = []  # launches, slot by slot
        self._graphs: dict[int, Any] = {}
        self.mode, self.why = "launches", "the CUDA simulator has no graphs"
        if GRAPHS:
            try:
                self._graphs[1] = _build_graph(tape.launches)
                self.mode, self.why = "graph", ""
            except Exception as error:
                self.why = f"the CUDA graph could not be built ({type(error).__name__}: {error})"

    @property
    def launches(self) -> int:
        """Kernels in one step."""
        return len(self.tape.launches)

    def __call__(self) -> None:
        self.stage()
        self.launch()

    def stage(self) -> None:
        """Compute the next step's inputs (the step inputs' functions read the live state, so
        the host's part of each step comes between two calls)."""
        at = self.staged * self.stride
        if at + self.stride > len(self.staging):
            self.staging = np.concatenate([self.staging, np.zeros_like(self.staging)])
        for offset, (shape, dtype), compute in self.tape.inputs:
            value = np.ascontiguousarray(compute(), dtype=dtype)
            if value.shape != shape:
                raise RuntimeError(
                    f"a step input changed shape from {shape} to {value.shape}: the recorded "
                    "step cannot be replayed"
                )
            place = at + offset
            self.staging[place : place + value.nbytes] = value.reshape(-1).view(np.uint8)
        self.staged += 1

    def launch(self, whole: int = 0) -> None:
        """Run the staged steps (one copy of their inputs, then one graph launch on a GPU).
        ``whole``: the steps a launch here takes where none were recorded, if more (their graph
        is made now too, and the slots of their inputs)."""
        steps, self.staged = self.staged, 0
        if steps == 0:
            return
        whole = max(whole, steps)
        tape = self.tape
        if steps == 1:
            if tape.inputs:
                copy_async(tape.arena.flat[: tape.used], self.staging[: tape.used])
            launches = tape.launches
        else:
            launches = self._prepare(steps, whole)
            if tape.inputs:
                size = steps * self.stride
                copy_async(self._slots.flat[:size], self.staging[:size])
        graph = self._graphs.get(steps)
        if self.mode == "graph" and (graph is None or whole not in self._graphs):
            try:
                if graph is None:
                    graph = self._graphs[steps] = _build_graph(launches)
                if whole not in self._graphs:  # (on slots made wide enough above, if steps > 1)
                    self._graphs[whole] = _build_graph(self._prepare(whole))
            except Exception as error:  # launched one by one instead, and said why
                self.mode = "launches"
                self.why = f"the CUDA graph could not be built ({type(error).__name__}: {error})"
        if graph is not None and self.mode == "graph":
            with _launching:
                graph[0].launch(graph[1])
            return
        for kernel, grid, block, args in launches:
            Launch(kernel, grid, block)(*args)

    def _prepare(self, steps: int, room: int = 0) -> list[tuple[Any, Any, Any, tuple]]:
        """The launches of ``steps`` steps, each step's reading its inputs from its own slot
        (the slots made, or made wider, first, for ``room`` steps if more: graphs made on
        narrower ones are dropped)."""
        wide = max(steps, room) * self.stride
        if self._slots is None or self._slots.flat.size < wide:
            self._slots = _Buffer(wide, np.dtype(np.uint8))
            self._replicas.clear()
            self._graphs = {k: v for k, v in self._graphs.items() if k == 1}
        arena = self.tape.arena
        begin = _address(arena.flat) if arena is not None else 0
        while len(self._replicas) < steps:
            slot = len(self._replicas) * self.stride

            def moved(value: Any, slot: int = slot) -> Any:
                if not _is_device_array(value):
                    return value
                offset = _address(value) - begin
                if arena is None or not 0 <= offset < ARENA_BYTES:
                    return value
                start = slot + offset
                view = self._slots.flat[start : start + value.nbytes].view(value.dtype)
                return view.reshape(value.shape)

            self._replicas.append(
                [(k, g, b, _mapped(args, moved)) for k, g, b, args in self.tape.launches]
            )
        return [launch for replica in self._replicas[:steps] for launch in replica]


def _mapped(args: tuple, change: Callable[[Any], Any]) -> tuple:
    """``args`` with ``change`` applied to each leaf (tuples of arguments kept as tuples)."""
    return tuple(_mapped(a, change) if isinstance(a, tuple) else change(a) for a in args)


def replay(tape: Tape) -> Replay:
    """The :class:`Replay` of a recorded step."""
    return Replay(tape)


def _build_graph(launches: list[tuple[Any, Any, Any, tuple]]) -> tuple[Any, Any]:
    """The launches as one executable CUDA graph, and the stream to launch it on (the legacy
    default stream, which every other launch of the backend uses)."""
    from cuda.core import LEGACY_DEFAULT_STREAM, Device

    device = Device()
    device.set_current()
    builder = device.create_graph_builder()
    builder.begin_building("thread_local")
    try:
        for kernel, grid, block, args in launches:
            Launch(kernel, grid, block).onto(builder, *args)
    finally:
        builder.end_building()
    return builder.complete(), LEGACY_DEFAULT_STREAM
