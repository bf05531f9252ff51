"""A NumPy array with the ``numpy()`` of Keras's backend tensors (and TensorFlow's eager
ones), for values Keras hands its users as tensors and autoconv computes on the host: the
arrays a Dataset yields, a metric's result, an initializer's values."""

from __future__ import annotations

from typing import Any

import numpy as np


class HostArray(np.ndarray):
    """An ``np.ndarray`` in every way, plus ``numpy()``, so ``metric.result().numpy()`` and
    ``images[i].numpy()`` run as in Keras's tutorials. ``np.asarray`` gives the plain array;
    it prints as the plain array."""

    def __getitem__(self, key: Any) -> Any:
        """An item keeps ``numpy()``, as a tensor's item does (``ops.argmax(p, -1)[i].numpy()``,
        keras.io's PointNet): a number is a 0-d array of this class (hashed as its value, so
        ``Counter(labels)`` and ``names[label]`` still work); a text or another object stays
        as the array holds it."""
        item = super().__getitem__(key)
        if isinstance(item, np.number | np.bool_):
            return np.asarray(item).view(type(self))
        return item

    def __hash__(self) -> int:
        """A 0-d array's: its value's hash (it equals its value); a larger one is unhashable,
        as NumPy's."""
        if self.ndim:
            raise TypeError(f"unhashable type: '{type(self).__name__}'")
        return hash(self.view(np.ndarray)[()])

    def numpy(self) -> Any:
        """The plain ``np.ndarray`` (a view, no copy); of a 0-d array its item, as a
        tensor's ``.numpy()`` of a scalar: a NumPy scalar, or the Python object it holds."""
        plain = self.view(np.ndarray)
        return plain[()] if plain.ndim == 0 else plain

    def __float__(self) -> float:
        """The value of a one-element array of any shape, as ``float`` of a Keras tensor
        (``float(initializer(shape=(1, 1)))``); NumPy's TypeError for more elements."""
        plain = self.view(np.ndarray)
        return float(plain.reshape(()) if plain.size == 1 else plain)

    def __int__(self) -> int:
        """As :meth:`__float__`, an ``int``."""
        plain = self.view(np.ndarray)
        return int(plain.reshape(()) if plain.size == 1 else plain)

    # Printed as the plain array (NumPy's printing indexes items, which must be scalars).
    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))

    def __str__(self) -> str:
        return str(self.view(np.ndarray))


def host_array(value: Any) -> Any:
    """A NumPy array or scalar as a :class:`HostArray`; anything else (a Tensor, which has
    its own ``numpy()``, a dict of results) as it is."""
    if isinstance(value, np.ndarray | np.generic) and not isinstance(value, HostArray):
        return np.asarray(value).view(HostArray)
    return value
