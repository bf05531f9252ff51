"""What a saved file's architecture may make autoconv allocate while it is rebuilt, so that no
file (a hostile one included) makes autoconv allocate much more than the file holds
(:func:`autoconv.saving.files.weight_budget` sets the budget while a file is read).

``WEIGHT_BUDGET``: [the most elements one weight may have, the elements all the weights still
to be made may have together], from the file's arrays; None (no file being read): no limit.
A layer, operation or model that is sized or built by a trial run on stand-in inputs runs it
on at most ``MAX_TRIAL_ELEMENTS`` values while a file is read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

WEIGHT_BUDGET: list[int] | None = None
MAX_TRIAL_ELEMENTS = 2**24


def take_weight(shape: Sequence[int], name: str) -> None:
    """Count a weight of ``shape`` against the budget: a ValueError where it is larger than
    any array the file holds, or more than the file has left."""
    if WEIGHT_BUDGET is None:
        return
    size = math.prod(shape)
    if size > WEIGHT_BUDGET[0]:
        raise ValueError(
            f"weight {name} of shape {tuple(shape)} is larger than any array the file holds"
        )
    if size > WEIGHT_BUDGET[1]:
        raise ValueError(
            f"weight {name} of shape {tuple(shape)} is one more than the file holds: the "
            "architecture has more weights than the file"
        )
    WEIGHT_BUDGET[1] -= size


def check_trial(elements: int, what: str) -> None:
    """A ValueError naming ``what`` where a trial run on ``elements`` values is too large
    while a file is read."""
    if WEIGHT_BUDGET is not None and elements > MAX_TRIAL_ELEMENTS:
        raise ValueError(f"{what} reads {elements} values: too many while a file is read")


def trial_allowed(elements: int) -> bool:
    """Whether a trial run on ``elements`` values is small enough (always, unless a file is
    being read): for a run that only refines what others found, skipped where it is not."""
    return WEIGHT_BUDGET is None or elements <= MAX_TRIAL_ELEMENTS
