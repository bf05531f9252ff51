"""Recording a step's launches and replaying them (autoconv/backends/cuda/capture.py): a replay
computes what the eager step computes, and every way a step can depend on the host beyond its
step inputs is caught by comparing two recordings. On the simulator (or a GPU)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from numba import cuda  # noqa: E402

from autoconv.backends import cuda as cu  # noqa: E402 - needs numba-cuda
from autoconv.backends.cuda import capture, runtime  # noqa: E402


class Loop:
    """A toy training state: ``total`` (persistent, updated in place) += x * scale + step,
    where step is a step input read from ``clock``."""

    def __init__(self, size: int = 5) -> None:
        self.total = cu.zeros((size,), np.float32)
        self.x = cu.asarray(np.arange(size, dtype=np.float32))
        self.clock = 0

    def step(self, scale: float = 2.0, in_place: bool = True) -> None:
        step = capture.step_input(lambda: self.clock, np.float32)
        scaled = self.x * scale + step  # step-local buffers
        if in_place:
            runtime.launch(_add_into, self.total.size)(self.total.flat, scaled.flat)
        else:
            self.total = self.total + scaled
        self.clock += 1


@cuda.jit
def _add_into(total, values):
    for i in range(cuda.grid(1), total.size, cuda.gridsize(1)):
        total[i] += values[i]


def recorded(loop: Loop, **options) -> runtime.Tape:
    with capture.recording() as tape:
        loop.step(**options)
    return tape


def test_a_replay_computes_what_the_eager_steps_compute():
    eager, replayed = Loop(), Loop()
    for _ in range(6):
        eager.step()
    first, second = recorded(replayed), recorded(replayed)
    assert capture.difference(first, second) is None
    replay = capture.Replay(second)
    assert replay.mode == ("launches" if cu.SIMULATED else "graph"), replay.why
    for _ in range(4):
        replay()
        replayed.clock += 1  # the host's own part of the step, as a caller repeats it
    np.testing.assert_array_equal(cu.to_numpy(replayed.total), cu.to_numpy(eager.total))
    # sum over steps 0..5 of x * 2 + step
    np.testing.assert_array_equal(cu.to_numpy(eager.total), np.arange(5) * 12.0 + 15.0)


@pytest.mark.parametrize("together", [2, 3])
def test_steps_staged_together_compute_what_steps_one_by_one_compute(together):
    """Several staged steps, one launch (one graph on a GPU): each step reads its step inputs
    from a slot of its own, so each sees its own clock."""
    eager, replayed = Loop(), Loop()
    groups = [together, 1, together]
    for _ in range(2 + sum(groups)):
        eager.step()
    recorded(replayed)  # the first recording (its step runs eagerly)
    replay = capture.Replay(recorded(replayed))
    for group in groups:
        for _ in range(group):
            replay.stage()
            replayed.clock += 1
        assert replay.staged == group
        replay.launch()
        assert replay.staged == 0
    np.testing.assert_array_equal(cu.to_numpy(replayed.total), cu.to_numpy(eager.total))
    assert len(replay._replicas) == together
    inputs = {
        capture._address(arg)
        for replica in replay._replicas
        for _, _, _, args in replica
        for arg in capture._flatten(args)
        if capture._is_device_array(arg) and arg.size == 1
    }
    assert len(inputs) == together  # a clock per slot


def test_the_tape_holds_its_buffers_so_no_one_else_is_handed_them():
    loop = Loop(size=7)
    tape = recorded(loop)
    held = {id(b) for b in tape.buffers}
    assert held
    others = [cu.empty((7,), np.float32) for _ in range(4)]
    assert not held & {id(a._buffer) for a in others}


@pytest.mark.parametrize(
    ("second", "reason"),
    [
        ({"scale": 3.0}, "changes from step to step"),
        ({"in_place": False}, "replaced instead of updated in place"),
    ],
)
def test_a_step_that_depends_on_the_host_is_not_replayable(second, reason):
    loop = Loop()
    first = recorded(loop, in_place=second.get("in_place", True))
    why = capture.difference(first, recorded(loop, **second))
    assert why is not None and reason in why


@pytest.mark.parametrize("constant", [True, False])
def test_a_value_copied_from_the_host_must_be_the_same_at_every_step(constant):
    """A constant the step uploads stays in its held buffer, so the replay may skip the copy;
    an upload that changes is a value the replay would freeze."""
    loop = Loop()

    def step(value: float) -> runtime.Tape:
        with capture.recording() as tape:
            loop.step()
            runtime.launch(_add_into, 5)(loop.total.flat, cu.asarray(np.full(5, value)).flat)
        return tape

    why = capture.difference(step(1.0), step(1.0 if constant else 2.0))
    assert (why is None) if constant else "changes from step to step" in why


def test_a_read_back_to_the_host_inside_the_step_spoils_it():
    loop = Loop()
    first = recorded(loop)
    with capture.recording() as second:
        loop.step()
        cu.to_numpy(loop.total)
    why = capture.difference(first, second)
    assert why is not None and "to_numpy" in why


def test_a_replay_refuses_an_input_that_changed_shape():
    loop = Loop()
    recorded(loop)
    replay = capture.Replay(recorded(loop))
    loop.clock = np.zeros(2)
    with pytest.raises(RuntimeError, match="changed shape"):
        replay()


def test_recordings_do_not_nest():
    with capture.recording(), pytest.raises(RuntimeError, match="already being recorded"):
        with capture.recording():
            pass


def test_a_copy_from_the_host_inside_the_step_spoils_it():
    """A batch is loaded into its place before its step is recorded, never inside it."""
    loop = Loop()
    first = recorded(loop)
    with capture.recording() as second:
        loop.step()
        cu.copy_from_host(loop.x, np.ones(5, np.float32))
    why = capture.difference(first, second)
    assert why is not None and "copy_from_host" in why


def test_asynchronous_copies_take_the_staging_buffers_in_turn(monkeypatch):
    """Each copy goes through the next pinned staging buffer (made, or made bigger, only when
    too small) and lands in its target; after a whole turn the buffers are reused as they are."""
    monkeypatch.setattr(runtime, "_staging", [runtime._Staging() for _ in range(3)])
    monkeypatch.setattr(runtime, "_staging_turn", 0)
    monkeypatch.setattr(runtime, "STAGING_BUFFERS", 3)
    targets = [cu.zeros((n,), np.float32) for n in (4, 2, 6, 4, 2, 6, 8)]
    made = []
    for k, target in enumerate(targets):
        runtime.copy_async(target.flat, np.full(target.size, k, np.float32))
        made.append([id(s.buffer) for s in runtime._staging])
    for k, target in enumerate(targets):
        np.testing.assert_array_equal(cu.to_numpy(target), np.full(target.size, k))
    assert made[5] == made[2]  # the second turn fits in the buffers of the first
    assert made[6][0] != made[5][0]  # 32 bytes do not fit in the 16 of the first: grown
    assert len(runtime._staging[0].buffer) == 32


# ------------------------------------------------ the queue a recorded step's work waits in
@pytest.fixture
def prepared(monkeypatch) -> list[list]:
    """What each call of compiling.prepare was given, (kernel, arguments) by launch, its
    launches at that time not yet made."""
    calls: list[list] = []
    prepare = runtime.compiling.prepare

    def noting(launches):
        launches = list(launches)
        calls.append(launches)
        return prepare(launches)

    monkeypatch.setattr(runtime.compiling, "prepare", noting)
    return calls


def test_a_recorded_steps_launches_wait_for_its_end_and_are_prepared_together(prepared):
    loop = Loop()
    with capture.recording() as tape:
        loop.step()
        loop.step()
        assert prepared == []  # nothing read back, nothing prepared or launched yet
    assert len(prepared) == 1
    assert [kernel for kernel, _ in prepared[0]] == [launch[0] for launch in tape.launches]
    np.testing.assert_array_equal(cu.to_numpy(loop.total), 2 * 2 * np.arange(5) + 0 + 1)


def test_a_read_inside_a_recording_runs_what_waits_first(prepared):
    total = cu.zeros((5,), np.float32)
    with capture.recording():
        runtime.launch(_add_into, 5)(total.flat, cu.asarray(np.ones(5, np.float32)).flat)
        assert cu.to_numpy(total).tolist() == [1.0] * 5
        assert len(prepared) == 1
        runtime.launch(_add_into, 5)(total.flat, cu.asarray(np.ones(5, np.float32)).flat)
    assert len(prepared) == 2 and len(prepared[1]) == 1
    np.testing.assert_array_equal(cu.to_numpy(total), 2.0)


def test_copies_from_the_host_keep_their_place_among_a_recordings_launches():
    """total = 1 (a launch); total = host values (a copy); total += 1: the copy lands between
    the launches, with the values the host had when it was asked for."""
    total, ones = cu.zeros((4,), np.float32), cu.asarray(np.ones(4, np.float32))
    values = np.array([5.0, 6.0, 7.0, 8.0], np.float32)
    with capture.recording():
        runtime.launch(_add_into, 4)(total.flat, ones.flat)
        runtime.upload(total.flat, values)
        values[:] = -1  # after the copy was asked for: not what it copies
        runtime.launch(_add_into, 4)(total.flat, ones.flat)
    np.testing.assert_array_equal(cu.to_numpy(total), [6.0, 7.0, 8.0, 9.0])


def test_a_step_that_raises_still_runs_what_it_launched_and_ends_the_recording():
    total = cu.zeros((3,), np.float32)
    with pytest.raises(ValueError, match="the step failed"), capture.recording():
        runtime.launch(_add_into, 3)(total.flat, cu.asarray(np.ones(3, np.float32)).flat)
        raise ValueError("the step failed")
    np.testing.assert_array_equal(cu.to_numpy(total), 1.0)
    with capture.recording() as tape:  # (the last one ended)
        pass
    assert tape.launches == []
