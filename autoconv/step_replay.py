"""``fit``'s training steps (and ``evaluate``'s, ``predict``'s, ``train_on_batch``'s and
``test_on_batch``'s), replayed where the device can: record a step, replay it.

On the GPU a step is ~30 kernel launches whose Python costs more than their work, so ``fit``
records steps while they run (the backend's ``recording``) until two consecutive ones are the
same program (``difference``), then replays the later one for every step of the same kind
(``replay``: one CUDA graph launch) and repeats on the host only what the step does there (the
model's ``_replayed_batch``). Replayed steps wait to be launched together (one copy of their
inputs, one graph launch) until nothing may read the device before them: those of one
execution of ``compile(steps_per_execution=N)``, and where no batch callback runs between them,
those of as many executions as hold ``LAUNCH_KERNELS`` kernels (:meth:`StepReplay.executed`).

A batch's ``key`` says which steps are of one kind: a shuffled epoch's full batches, or its
last, shorter one; an unshuffled pass's (``evaluate``'s, say); each gathered at a step input
from arrays that stay the same from epoch to epoch (the shuffled order is refilled in place),
so a step recorded in the first epoch replays in every epoch. A training step's kind also has
the optimizer's (``Optimizer.step_kind``: with ``gradient_accumulation_steps`` the steps that
add up gradients and those that update are two kinds) and the count of changes of a layer's
or weight's ``trainable`` so far (a layer frozen mid-fit has its steps recorded anew). The
last ``KINDS`` kinds are remembered, so a pass's last batch does not make its full batches
record anew. A dataset's
batches are each loaded into the arrays of their shapes (``load``, an asynchronous copy on the
GPU) before their step is recorded or replayed, so their steps replay too, launched one step at
a time (the next batch is loaded where the last one was read). Every step on the CPU runs as it
comes.

A step that cannot be replayed (it copies between host and device, replaces a state array
instead of updating it in place, or launches other kernels each time) keeps running eagerly
after ``ATTEMPTS`` recordings; ``why`` says what was found.
"""

from __future__ import annotations

from typing import Any

from autoconv.backends import namespace
from autoconv.layers import layer

ATTEMPTS = 3  # recordings per kind of step before it is run eagerly for good
# Kinds of step remembered: a pass's full batches and its last, shorter one, times the kinds of
# optimizer step (an accumulation or an update; an overwrite of the averages or not). Only the
# kinds that occur hold a replay (and the buffers of its step).
KINDS = 8
# The kernels one launch of replayed steps holds, where no batch callback runs between them:
# the host's copy of the inputs and its graph launch, and the device's gap between graphs, come
# once a launch, not once a step (a replayed MNIST step is 34 kernels, about 240 us of an
# H200's time, and one launch a step left the host's part of an epoch above the device's:
# bench/results/2026-11-26-gpu-h200-tf32-default.md). A graph of steps is made once, in time
# about proportional to its kernels.
LAUNCH_KERNELS = 512


class _Kind:
    """What is known of one kind of step: its last recording, its replay once two agreed,
    the recordings tried."""

    __slots__ = ("attempts", "previous", "replay")

    def __init__(self) -> None:
        self.previous: Any = None
        self.replay: Any = None
        self.attempts = 0


class StepReplay:
    """Runs steps of one kind of ``model``'s, eagerly or replayed (see the module): ``fit``'s
    training steps by default; ``step(inputs, targets, weights, state)`` runs one eagerly and
    ``replayed(count, state)`` does its host's part after a replay (``evaluate`` passes the
    model's test step and its own). ``replay`` is the last replay made, ``why`` what the last
    comparison of two recordings found (None: they agreed); ``status`` the divergence status
    its passes share (:class:`autoconv.training.StepState` resets it in place)."""

    def __init__(
        self, model: Any, step: Any = None, replayed: Any = None, enabled: bool = True
    ) -> None:
        self.model = model
        self.step = model._train_batch if step is None else step
        self.replayed_part = model._replayed_batch if replayed is None else replayed
        self.step_kind = model.optimizer.step_kind if step is None else tuple
        self.xp = namespace(model.device)
        self.enabled = enabled
        self.kinds: dict[Any, _Kind] = {}  # by batch key, the oldest first
        self.replay: Any = None
        self.pending: Any = None  # the replay whose staged steps wait for flush()
        # Steps of one kind since the last point where a later pass launches too (a flush, a
        # change of kind), the recorded ones included: the steps such a launch takes then, up
        # to the steps of a whole launch (see executed).
        self.window, self.window_kind, self.launch_steps = 0, None, 1
        self.why: str | None = None
        self.replayed = 0  # steps replayed, over the runner's life
        self.status = self.xp.new_status()  # every pass's divergence status, reset in place

    def run(self, batch: Any, state: Any) -> None:
        """One step on ``batch`` (an :class:`autoconv.array_batches.Batch`). A replayed step may
        wait for :meth:`flush` (see :meth:`executed`, which the passes call after each
        execution of ``steps_per_execution`` steps): its inputs are staged and the host's part
        is done, the device's part is launched with the steps staged after it."""
        if not self.enabled or batch.key is None or state.world is not None:
            self.flush()
            self.step(*batch.arrays(), state)
            return
        kind = self._kind((batch.key, self.step_kind(), layer.trainable_changes))
        if kind is not self.window_kind:
            self.flush()
            self.window_kind = kind
        if batch.load is not None and (kind.replay is not None or kind.attempts < ATTEMPTS):
            self.flush()  # the steps staged so far read the arrays the batch is loaded into
            batch.load()
        if kind.replay is not None:  # (pending: None or this replay, since a kind change flushes)
            kind.replay.stage()
            self.pending = kind.replay
            self.window += 1
            self.replayed_part(batch.count, state)
            self.replayed += 1
            return
        if kind.attempts >= ATTEMPTS:
            self.step(*batch.arrays(), state)
            return
        kind.attempts += 1
        with self.xp.recording() as tape:
            self.step(*batch.replayable(), state)
        self.window += 1
        if tape is None:  # a backend that runs each step as it comes
            self.enabled, self.why = False, self.xp.difference(None, None)
            return
        if kind.previous is not None:
            self.why = self.xp.difference(kind.previous, tape)
            if self.why is None:
                kind.replay = self.replay = self.xp.replay(tape)
                kind.previous = None
                return
        kind.previous = tape

    def executed(self, number: int, size: int, hooked: bool) -> bool:
        """After the ``number``-th execution (from 1) of a pass of executions of ``size`` steps:
        launch the steps staged, unless they may wait for the next executions' (see the module)
        and ``hooked`` (a batch callback runs before the next execution) is False. Whether they
        were launched: only then may the caller read the device. A launch takes as many
        executions as hold LAUNCH_KERNELS kernels counted from the pass's first, so an epoch's
        launches take the same steps as the last epoch's (see :meth:`flush` for the first's)."""
        replay = self.pending
        if replay is None:
            return True  # (nothing staged)
        executions = 1 if hooked else max(1, LAUNCH_KERNELS // (replay.launches * size))
        self.launch_steps = executions * size
        if number % executions:
            return False
        self.flush()
        return True

    def _kind(self, key: Any) -> _Kind:
        """The kind of step of batches of ``key``, new ones replacing the oldest known."""
        kind = self.kinds.get(key)
        if kind is None:
            self.flush()
            kind = self.kinds[key] = _Kind()
            while len(self.kinds) > KINDS:
                del self.kinds[next(iter(self.kinds))]
        return kind

    def flush(self) -> None:
        """Launch the replayed steps staged since the last launch (before anything reads what
        they change, or another step runs). A later pass launches here too, with the steps
        recorded in this one's window: the replay makes that launch's graph now (a first
        epoch's first launch is short by the steps recorded; the next epoch's would make it)."""
        if self.pending is not None:
            self.pending.launch(whole=min(self.window, self.launch_steps))
            self.pending = None
        self.window = 0
