"""``keras.utils.PyDataset`` (alias ``Sequence``): a dataset of batches made by Python code.

A subclass defines ``__len__`` (the number of batches) and ``__getitem__(index)`` (batch
``index``: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, each of ``batch`` rows),
and optionally ``on_epoch_begin`` / ``on_epoch_end``, which ``fit``, ``evaluate`` and
``predict`` call around each pass they make over it::

    class Images(PyDataset):
        def __init__(self, x, y, batch_size, **kwargs):
            super().__init__(**kwargs)  # workers, use_multiprocessing, max_queue_size
            self.x, self.y, self.batch_size = x, y, batch_size

        def __len__(self):
            return math.ceil(len(self.x) / self.batch_size)

        def __getitem__(self, index):
            part = slice(index * self.batch_size, (index + 1) * self.batch_size)
            return self.x[part], self.y[part]

``workers`` > 1 makes that many threads call ``__getitem__`` ahead of the training, up to
``max_queue_size`` batches ahead, which the model takes in the same order as with one.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from typing import Any


class PyDataset:
    """Keras 3's ``PyDataset``: subclass it and define ``__len__`` and ``__getitem__`` (see the
    module). ``workers``: threads that make batches ahead (0 or 1: made as the model asks for
    them); ``use_multiprocessing``: processes instead, which autoconv refuses when the dataset
    is used (threads only); ``max_queue_size``: batches made ahead at most. As in Keras, these
    are read by ``fit``/``evaluate``/``predict``; iterating the dataset yourself makes its
    batches in order, on the calling thread."""

    def __init__(
        self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ) -> None:
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self) -> None:
        """Keras's defaults for a subclass whose ``__init__`` did not call ``super().__init__``,
        with Keras's warning."""
        missing = False
        for name, default in (("_workers", 1), ("_use_multiprocessing", False),
                              ("_max_queue_size", 10)):  # fmt: skip
            if not hasattr(self, name):
                setattr(self, name, default)
                missing = True
        if missing:
            warnings.warn(
                "Your `PyDataset` class should call `super().__init__(**kwargs)` in its "
                "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                "`max_queue_size`. Do not pass these arguments to `fit()`, as they will be "
                "ignored.",
                stacklevel=3,
            )

    @property
    def workers(self) -> int:
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        self._max_queue_size = value

    def __getitem__(self, index: int) -> Any:
        """Batch ``index`` (0 <= index < ``num_batches``): ``x``, ``(x,)``, ``(x, y)`` or
        ``(x, y, sample_weight)``, arrays whose first axis is the batch's samples (x may be a
        list of arrays or a dict by input name for a model of several inputs)."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Any]:
        """The batches in order: ``num_batches`` of them, or without end if it is None."""
        try:
            count = self.num_batches
        except NotImplementedError:
            count = None
        for index in itertools.count() if count is None else range(count):
            yield self[index]

    @property
    def num_batches(self) -> int | None:
        """The number of batches (``len(self)``), or None for a dataset without end (which
        ``fit`` needs ``steps_per_epoch`` for)."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            "You need to implement the `num_batches` property:\n\n"
            "@property\ndef num_batches(self):\n  return ..."
        )

    def on_epoch_begin(self) -> None:
        """Called before each pass ``fit`` (each epoch, each validation), ``evaluate`` or
        ``predict`` makes over the dataset."""

    def on_epoch_end(self) -> None:
        """Called after each pass (see :meth:`on_epoch_begin`) that ran to its end."""


Sequence = PyDataset


def is_py_dataset(x: Any) -> bool:
    """Whether ``x`` is a PyDataset: autoconv's, or Keras's own (``keras.utils.PyDataset``,
    the same interface) where a program mixes the two."""
    return isinstance(x, PyDataset) or any(
        cls.__name__ == "PyDataset" and cls.__module__.startswith("keras.")
        for cls in type(x).__mro__
    )
