"""Keras's default names: class names in snake case (``MaxPooling2D`` -> ``max_pooling2d``),
and numbered ones for layers, models and symbolic tensors (the first ``conv2d``, then
``conv2d_1``, ... for the whole session, until ``clear_session``); and how Keras shows a
variable by its path (:func:`variable_repr`)."""

from __future__ import annotations

import collections
import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

_name_uids: collections.defaultdict[str, int] = collections.defaultdict(int)
_naming = threading.Lock()  # layers made in several threads at once get distinct names


def to_snake_case(name: str) -> str:
    """``"MaxPooling2D"`` -> ``"max_pooling2d"``, as Keras names layers, losses and metrics."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix: str) -> str:
    """Keras's automatic names: the first ``conv2d``, then ``conv2d_1``, ``conv2d_2``, ... for
    the whole session (until ``clear_session``)."""
    with _naming:
        name = prefix if prefix not in _name_uids else f"{prefix}_{_name_uids[prefix]}"
        _name_uids[prefix] += 1
    return name


def get_uid(prefix: str = "") -> int:
    """How many times ``prefix`` has been numbered, this call included (``keras.backend.get_uid``:
    1 the first time; the numbers :func:`unique_name` gives count with these)."""
    with _naming:
        _name_uids[prefix] += 1
        return _name_uids[prefix]


def reset_names() -> None:
    """Number every prefix from the start again (``keras.utils.clear_session()``)."""
    with _naming:
        _name_uids.clear()


def missing_names(module: str, names: frozenset[str], reason: str) -> Any:
    """A module's ``__getattr__`` for the names Keras's ``keras.<module>`` has and autoconv's
    does not: each an AttributeError saying so, and ``reason`` (why); other names Python's."""

    def __getattr__(name: str) -> Any:
        if name in names:
            raise AttributeError(f"keras.{module}.{name} is not implemented by autoconv, {reason}")
        raise AttributeError(f"module 'autoconv.{module}' has no attribute {name!r}")

    return __getattr__


def variable_repr(path: str, shape: Sequence[int], dtype: Any, value: np.ndarray) -> str:
    """Keras's repr of a variable, its value included (a number as Python shows it)."""
    shown = value.item() if value.ndim == 0 else value
    return f"<Variable path={path}, shape={tuple(shape)}, dtype={dtype}, value={shown}>"
