"""Elements of a Dataset: an array, or nested tuples and dicts of arrays (a list counts as one
array, as in ``tf.data``), and :class:`DatasetArray`, the arrays a Dataset yields to its user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from autoconv.host_array import HostArray


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


def copied(element: Any) -> Any:
    """``element`` with its arrays copied: how a Dataset hands out data it keeps (its source
    arrays, its in-memory cache), so that a map changing its input in place (``x += noise``)
    changes neither the user's arrays nor later passes, as ``tf.data``'s immutable elements."""
    return map_structure(
        lambda leaf: leaf.copy() if isinstance(leaf, np.ndarray) else leaf, element
    )


def to_numpy(leaf: Any) -> np.ndarray:
    """A leaf as a NumPy array (a Tensor through its ``.numpy()``)."""
    if not isinstance(leaf, np.ndarray) and hasattr(leaf, "numpy"):
        return leaf.numpy()
    return np.asarray(leaf)


class DatasetArray(HostArray):
    """A NumPy array as iterating a Dataset yields it: an ``np.ndarray`` in every way, plus
    the ``numpy()`` of TensorFlow's eager tensors, so ``images[i].numpy()`` runs as in the
    tutorials. Indexing keeps the class: a slice is a DatasetArray view, a single item a 0-d
    DatasetArray (as TF's scalar tensor), a text batch's item a :class:`DatasetText`.
    ``np.asarray`` gives the plain array."""

    def __getitem__(self, key: Any) -> Any:
        item = super().__getitem__(key)
        if isinstance(item, str):  # a text batch's item: a str, as the batch holds it
            return DatasetText(item)
        return item if isinstance(item, np.ndarray) else _scalar(item, self.dtype)


class DatasetText(str):
    """A text as a Dataset yields it (a text batch's item, or an element of a dataset of
    texts): a ``str`` in every way (``text[:200]``), plus TensorFlow's ``numpy()``, which gives
    the ``str`` (TensorFlow's gives bytes)."""

    def numpy(self) -> str:
        return str(self)


def yielded(leaf: Any) -> Any:
    """A leaf as a Dataset hands it to its user: a NumPy array or scalar (a Python number or
    bytes too) as a :class:`DatasetArray`, a text as a :class:`DatasetText`; anything else (a
    Tensor, which has its own ``numpy()``) as it is."""
    if type(leaf) is np.ndarray:
        return leaf.view(DatasetArray)
    if isinstance(leaf, str):
        return DatasetText(leaf)
    if isinstance(leaf, bytes):
        return _scalar(leaf, np.dtype(object))
    if isinstance(leaf, np.generic | int | float):
        return np.asarray(leaf).view(DatasetArray)
    return leaf


def _scalar(item: Any, dtype: np.dtype) -> DatasetArray:
    """``item`` in a 0-d DatasetArray of ``dtype`` (an object array holds it as it is)."""
    array = np.empty((), dtype)
    array[()] = item
    return array.view(DatasetArray)
