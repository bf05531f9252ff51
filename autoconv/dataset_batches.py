"""Data that comes in batches for ``fit``, ``evaluate`` and ``predict``: a Dataset, a PyDataset,
a Python generator or a PyTorch DataLoader, each batch checked as it comes with the checks the
arrays of :mod:`autoconv.batches` get, and what Keras refuses or ignores beside such data."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from autoconv.array_batches import Batch, Places, resident_inputs
from autoconv.backends import namespace
from autoconv.batches import (
    build_for,
    input_arrays,
    sample_weights,
    target_arrays,
)
from autoconv.data.epochs import epochs_of, kind_of


class DatasetBatches:
    """The batches of data that comes in batches: an :class:`autoconv.data.Dataset`, a
    :class:`autoconv.data.PyDataset` or a Python generator (their passes:
    :mod:`autoconv.data.epochs`), whose batches are ``x``, ``(x, y)`` or
    ``(x, y, sample_weight)``, each checked (an error names the batch) and put on the model's
    device as it comes (inputs as :func:`resident` keeps them): uploaded for a step run as it
    comes, or, for a step recorded or replayed, copied into the arrays every batch of its
    shapes is read from (on the GPU without waiting for the device). ``shuffle`` reorders a
    PyDataset's batches each pass (a dataset shuffles itself, a generator cannot: it does not
    apply to them, as in Keras). One pass is an epoch, or ``steps_per_epoch`` batches. Without
    ``targets`` (``predict``'s) a batch's y and sample weights are ignored, as in Keras; with
    ``class_weight`` (a PyDataset's, in ``fit``) each batch's samples are weighted by class."""

    def __init__(
        self, model: Any, data: Any, what: str, targets: bool = True, class_weight: Any = None
    ) -> None:
        self.model, self.what, self.targets = model, what, targets
        self.class_weight = class_weight
        self.xp = namespace(model.device)
        self.passes = epochs_of(data)
        self.steps = self.passes.steps  # None: infinite or unknown
        self._places = Places(self.xp)

    def batches(
        self, shuffle: bool, steps: int | None = None, epoch: int = 0, first: int = 0
    ) -> Iterator[Batch]:
        if steps is None and self.passes.infinite:
            give = (
                "steps"
                if self.what == "predict"
                else "steps_per_epoch (and validation_steps for validation data)"
            )
            raise ValueError(f"{self.what}: {self.passes.endless}; give {give}")
        for label, (x, y, w) in self.passes.epoch(shuffle, steps, epoch, first):
            what = f"{self.what}: {label}"
            if not self.targets:
                y = w = None
            if w is not None and self.class_weight is not None:
                raise ValueError(
                    f"{what}: the batch holds sample weights and fit was given class_weight; "
                    "give one or the other"
                )
            xs = input_arrays(self.model, x, what, batched=True)
            build_for(self.model, xs)
            # (a batch's targets are not counted against its inputs, as Keras's: a graph's
            # nodes and edges, and a target per graph; sample weights are the targets')
            ys = target_arrays(self.model, y, None, what) if self.targets else []
            ws = sample_weights(self.model, w, self.class_weight, ys, None, what)
            yield self._places.batch((resident_inputs(self.model, xs), ys, ws), len(xs[0]))

    def ran_out(self) -> bool:
        """Whether a generator's batches are all taken (by the passes before): then a warning
        says that the pass ``fit`` was to make next does not happen."""
        if not self.passes.ran_out():
            return False
        then = (
            "its validation is skipped from now on"
            if "validation" in self.what
            else "training stops here"
        )
        warnings.warn(
            f"{self.what}: the generator has no batches left, so {then} (give "
            "steps_per_epoch/validation_steps and a generator with enough batches for every "
            "epoch, or a PyDataset, which starts anew each pass)",
            stacklevel=4,  # (the caller of model.fit)
        )
        return True


def is_dataset(x: Any) -> bool:
    """Whether ``x`` comes in batches: a Dataset, a PyDataset or a generator."""
    return kind_of(x) is not None


# Keras's warnings of fit's shuffle=True (its default) beside data that shuffles itself
SHUFFLE_IGNORED = {
    "a dataset": "a Dataset. The Dataset is expected to already be shuffled (via "
    "`.shuffle(buffer_size)`).",
    "a generator": "a generator. The generator is expected to yield already-shuffled data.",
    "a DataLoader": "a torch DataLoader. The DataLoader is expected to already be shuffled.",
    "a PyDataset": "an infinite PyDataset. The PyDataset is expected to already be shuffled.",
}


def check_dataset_arguments(
    what: str, x: Any, y: Any, batch_size: Any, sample_weight: Any, class_weight: Any,
    split: float, shuffle: bool = False,
) -> None:  # fmt: skip
    """What Keras refuses when ``x`` comes in batches (its batches hold the targets and
    weights; a Dataset's or a PyDataset's may be weighted by class). A ``batch_size`` is
    ignored, as Keras ignores it (keras.io's training guide passes one with a PyDataset),
    with a warning saying so; so is fit's ``shuffle`` (True by default) for data that cannot
    be shuffled by batches (all but a PyDataset of known length), with Keras's warning."""
    kind = kind_of(x)
    endless = kind == "a PyDataset" and getattr(x, "num_batches", None) is None
    if shuffle and (kind != "a PyDataset" or endless):
        warnings.warn(
            "`shuffle=True` was passed, but will be ignored since the data `x` was provided as "
            + SHUFFLE_IGNORED[kind],
            stacklevel=4,  # (the caller of model.fit)
        )
    if kind in ("a dataset", "a PyDataset"):
        class_weight = None
    for name, value in (("y", y), ("sample_weight", sample_weight),
                        ("class_weight", class_weight)):  # fmt: skip
        if value is not None:
            raise ValueError(
                f"{what}: {name} must not be given when x is {kind}: its batches are x, "
                "(x, y) or (x, y, sample_weight), and it makes its own batches"
            )
    if batch_size is not None:
        warnings.warn(
            f"{what}: batch_size={batch_size!r} is ignored: x is {kind}, which makes its own "
            "batches",
            stacklevel=4,  # (the caller of model.fit)
        )
    if split:
        raise ValueError(
            f"{what}: validation_split is only supported for arrays, not {kind}; give "
            "validation_data (e.g. image_dataset_from_directory(..., subset='validation'), or "
            "a PyDataset of the validation batches)"
        )
