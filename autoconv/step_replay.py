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
        self.why: str | None = None
        self.replayed = 0  # steps replayed, over the runner's life
        self.status = self.xp.new_status()  # every pass's divergence status, reset in place

    def run(self, batch: Any, state: Any) -> None:
        """One step on ``batch`` (an :class:`autoconv.batches.Batch`). A replayed step may
        wait for :meth:`flush` (see :meth:`executed`, which the passes call after each
        execution of ``steps_per_execution`` steps): its inputs are staged and the host's part
        is done, the device's part is launched with the steps staged after it."""
        if not self.enabled or batch.key is None or state.world is not None:
            self.flush()
            self.step(*batch.arrays(), state)
            return
        kind = self._kind((batch.key, self.step_kind(), layer.trainable_changes))
        if batch.load is not None and (kind.replay is not None or kind.attempts < ATTEMPTS):
            self.flush()  # the steps staged so far read the arrays the batch is loaded into
            batch.load()
        if kind.replay is not None:
            if self.pending is not kind.replay:
                self.flush()
            kind.replay.stage()
            self.pending = kind.replay
            self.replayed_part(batch.count, state)
            self.replayed += 1
            return
        self.flush()
        if kind.attempts >= ATTEMPTS:
            self.step(*batch.arrays(), state)
            return
        kind.attempts += 1
        with self.xp.recording() as tape:
            self.step(*batch.replayable(), state)
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
        launches take the same steps as the last epoch's, whose graphs are made."""
        replay = self.pending
        if replay is not None and not hooked:
            executions = max(1, LAUNCH_KERNELS // (replay.launches * size))
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
        they change, or another step runs)."""
        if self.pending is not None:
            self.pending.launch()
            self.pending = None
