"""Elements of a Dataset: an array, or nested tuples and dicts of arrays (a list counts as one
array, as in ``tf.data``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


def leaves(element: Any) -> list[Any]:
    """The arrays of ``element``, depth first."""
    if isinstance(element, tuple):
        return [leaf for item in element for leaf in leaves(item)]
    if isinstance(element, dict):
        return [leaf for value in element.values() for leaf in leaves(value)]
    return [element]


def rebuild(structure: Any, new_leaves: Iterator[Any]) -> Any:
    """``structure`` with its leaves replaced, in order, by those ``new_leaves`` yields."""
    if isinstance(structure, tuple):
        return tuple(rebuild(item, new_leaves) for item in structure)
    if isinstance(structure, dict):
        return {key: rebuild(value, new_leaves) for key, value in structure.items()}
    return next(new_leaves)


def map_structure(fn: Callable[[Any], Any], element: Any) -> Any:
    """``element`` with ``fn`` applied to each leaf."""
    return rebuild(element, iter([fn(leaf) for leaf in leaves(element)]))


def to_numpy(leaf: Any) -> np.ndarray:
    """A leaf as a NumPy array (a Tensor through its ``.numpy()``)."""
    if not isinstance(leaf, np.ndarray) and hasattr(leaf, "numpy"):
        return leaf.numpy()
    return np.asarray(leaf)
