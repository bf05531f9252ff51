"""``fit``'s training steps, replayed where the device can: record a step, replay it.

On the GPU a step is ~30 kernel launches whose Python costs more than their work, so ``fit``
records steps while they run (the backend's ``recording``) until two consecutive ones are the
same program (``difference``), then replays the later one for every step of the same kind
(``replay``: one CUDA graph launch) and repeats on the host only what the step does there (the
model's ``_replayed_batch``). A batch's ``key`` says which steps are of one kind: a shuffled
epoch's full batches, gathered at a step input; the last, shorter batch, a dataset's batches
and every step on the CPU run as they come.

A step that cannot be replayed (it copies between host and device, replaces a state array
instead of updating it in place, or launches other kernels each time) keeps running eagerly
after ``ATTEMPTS`` recordings; ``why`` says what was found.
"""

from __future__ import annotations

from typing import Any

from autoconv.backends import namespace

ATTEMPTS = 3  # recordings per kind of step before it is run eagerly for good


class StepReplay:
    """Runs one ``fit``'s training steps of ``model``: eagerly, or replayed (see the module)."""

    def __init__(self, model: Any, enabled: bool = True) -> None:
        self.model = model
        self.xp = namespace(model.device)
        self.enabled = enabled
        self.key: Any = None
        self.replay: Any = None
        self.previous: Any = None
        self.attempts = 0
        self.why: str | None = None
        self.replayed = 0  # steps replayed, over the fit

    def train(self, batch: Any, state: Any) -> None:
        """One optimizer step on ``batch`` (an :class:`autoconv.batches.Batch`)."""
        model = self.model
        if not self.enabled or batch.key is None or state.world is not None:
            model._train_batch(*batch.arrays(), state)
            return
        if batch.key != self.key:  # another kind of step: record anew
            self.key, self.replay, self.previous, self.attempts = batch.key, None, None, 0
        if self.replay is not None:
            self.replay()
            model._replayed_batch(batch.count, state)
            self.replayed += 1
            return
        if self.attempts >= ATTEMPTS:
            model._train_batch(*batch.arrays(), state)
            return
        self.attempts += 1
        with self.xp.recording() as tape:
            model._train_batch(*batch.arrays(), state)
        if tape is None:  # a backend that runs each step as it comes
            self.enabled, self.why = False, self.xp.difference(None, None)
            return
        if self.previous is not None:
            self.why = self.xp.difference(self.previous, tape)
            if self.why is None:
                self.replay, self.previous = self.xp.replay(tape), None
                return
        self.previous = tape
