"""The passes ``fit``, ``evaluate`` and ``predict`` make over data that comes in batches: a
:class:`~autoconv.data.Dataset`, a :class:`~autoconv.data.PyDataset` or a Python generator,
as Keras 3's data adapters make them. Each pass yields ``(label, (x, y, sample_weight))``:
the batch's elements (y and sample_weight None where the batch has none) and what an error
about the batch calls it ("batch 3": a PyDataset's ``__getitem__`` index, else the batch's
number in its dataset pass or in the generator's stream)."""

from __future__ import annotations

import itertools
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from autoconv.data.dataset import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from autoconv.data.py_dataset import is_py_dataset
from autoconv.data.streams import parallel_map
from autoconv.seeds import epoch_generator

Triple = tuple[Any, Any, Any]  # (x, y, sample_weight)
_END = object()  # what next() gives at the end of a pass

# Keras's warning where data runs out before the steps asked for.
RAN_OUT = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or "
    "generator can generate at least `steps_per_epoch * epochs` batches. You may need to use "
    "the `.repeat()` function when building your dataset."
)


def kind_of(data: Any) -> str | None:
    """What ``data`` is, for messages: "a dataset", "a PyDataset", "a generator", or None for
    other data (arrays)."""
    if isinstance(data, Dataset):
        return "a dataset"
    if is_py_dataset(data):
        return "a PyDataset"
    if isinstance(data, types.GeneratorType):
        return "a generator"
    if _is_torch_data_loader(data):
        return "a DataLoader"
    return None


def _is_torch_data_loader(data: Any) -> bool:
    """Whether ``data`` is a PyTorch ``DataLoader`` (told by its class, torch not imported)."""
    return any(
        cls.__name__ == "DataLoader" and cls.__module__.startswith("torch.utils.data")
        for cls in type(data).__mro__
    )


def epochs_of(data: Any) -> DatasetEpochs | PyDatasetEpochs | GeneratorEpochs:
    """The passes over ``data``, a Dataset, a PyDataset, a generator or a PyTorch DataLoader
    (see :func:`kind_of`)."""
    kind = kind_of(data)
    if kind == "a dataset":
        return DatasetEpochs(data._elements, data.cardinality())
    if kind == "a DataLoader":  # Keras's TorchDataLoaderAdapter: its batches as NumPy arrays
        size = len(data) if hasattr(data.dataset, "__len__") else UNKNOWN_CARDINALITY
        return DatasetEpochs(lambda: map(_numpy_batch, data), size)
    if kind == "a PyDataset":
        return PyDatasetEpochs(data)
    return GeneratorEpochs(data)


def _numpy_batch(batch: Any) -> Any:
    """A DataLoader's batch (tensors in a list, tuple or dict) as NumPy arrays in a tuple."""
    if isinstance(batch, list | tuple):
        return tuple(_numpy_batch(item) for item in batch)
    if isinstance(batch, dict):
        return {key: _numpy_batch(value) for key, value in batch.items()}
    return np.asarray(batch.numpy(force=True) if hasattr(batch, "numpy") else batch)


class DatasetEpochs:
    """A :class:`Dataset`'s passes (or a DataLoader's), as Keras's epoch iterator takes them:
    without ``steps`` each epoch is a new pass (``elements()``); with ``steps``
    (``steps_per_epoch``) an epoch takes the next ``steps`` elements of a pass that goes on
    from epoch to epoch (a repeated dataset's stream is never restarted), and a pass that ends
    first ends the epoch, with Keras's warning; the next epoch then starts a new pass.
    ``steps`` (the cardinality, ``size``) is None if unknown or infinite."""

    endless = "the dataset repeats forever"

    def __init__(self, elements: Callable[[], Iterator[Any]], size: int) -> None:
        self.elements = elements
        self.steps = size if size >= 0 else None
        self.infinite = size == INFINITE_CARDINALITY
        self._elements: Iterator[Any] | None = None  # the pass under way (with steps)
        self._taken = 0  # its elements taken

    def epoch(
        self, shuffle: bool, steps: int | None, epoch: int, first: int
    ) -> Iterator[tuple[str, Triple]]:
        """One epoch's elements (the dataset shuffles itself: ``shuffle`` does not apply, as
        in Keras), from its element ``first`` on (a resumed epoch's, those before skipped)."""
        if steps is None or self._elements is None:
            self._elements, self._taken = self.elements(), 0
        for number in itertools.count() if steps is None else range(steps):
            element = next(self._elements, _END)
            if element is _END:
                self._elements = None
                if steps is not None:
                    warnings.warn(RAN_OUT, stacklevel=2)
                return
            index, self._taken = self._taken, self._taken + 1
            if number >= first:
                yield f"batch {index}", unpack(element)
        if self.steps is not None and self._taken >= self.steps:
            self._elements = None  # every element taken: the next epoch starts a new pass

    def ran_out(self) -> bool:
        return False


class PyDatasetEpochs:
    """A PyDataset's passes, as Keras's ``PyDatasetAdapter`` and epoch iterator make them:
    each pass is ``on_epoch_begin()``, batches ``dataset[i]`` for the indices of the pass
    (0, 1, ... or, with ``shuffle``, an order drawn from ``epoch``'s generator, see
    :func:`autoconv.seeds.epoch_generator`), then ``on_epoch_end()``. With ``steps`` a pass
    takes that many indices at most, and the next pass goes on with the indices left (a new
    order once they are all taken), as Keras's iterator does for ``steps_per_epoch``. With
    ``workers`` > 1, threads make the pass's batches ahead (``max_queue_size`` at most), never
    beyond its last one, so the hooks never run while a batch is being made."""

    endless = "the PyDataset has no end (num_batches is None)"

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        name = type(dataset).__name__
        if dataset.use_multiprocessing:
            raise ValueError(
                f"{name}: use_multiprocessing=True is not supported: autoconv makes a "
                "PyDataset's batches on threads (workers=N); give use_multiprocessing=False"
            )
        self.workers = _whole(dataset.workers, f"{name}: workers", 0)
        self.ahead = _whole(dataset.max_queue_size, f"{name}: max_queue_size", 1)
        steps = dataset.num_batches
        if steps is not None:
            steps = _whole(steps, f"{name}: num_batches (len)", 1)
        self.steps = steps
        self.infinite = steps is None
        self._left: Iterator[int] | None = None  # the indices the current pass has not taken
        self._count = 0  # how many (a finite dataset's)

    def epoch(
        self, shuffle: bool, steps: int | None, epoch: int, first: int
    ) -> Iterator[tuple[str, Triple]]:
        """One pass from batch ``first`` of it on (a resumed epoch's). Raises what
        ``__getitem__`` raises, with a note naming the index."""
        self.dataset.on_epoch_begin()
        if steps is None or self._left is None:
            self._start(shuffle, epoch)
        if self.steps is None:  # (steps given: checked by the caller)
            indices = list(itertools.islice(self._left, steps))
        else:
            indices = list(itertools.islice(self._left, min(steps or self._count, self._count)))
            self._count -= len(indices)
            if not self._count:
                self._left = None
        for index, batch in self._batches(indices[first:]):
            yield f"batch {index}", _standardized(batch)
        self.dataset.on_epoch_end()

    def _start(self, shuffle: bool, epoch: int) -> None:
        """A new pass: its indices in order, or shuffled (a finite dataset's, as Keras)."""
        if self.steps is None:
            self._left = itertools.count()
            return
        order = epoch_generator(epoch).permutation(self.steps) if shuffle else range(self.steps)
        self._left, self._count = iter([int(i) for i in order]), self.steps

    def _batches(self, indices: list[int]) -> Iterator[tuple[int, Any]]:
        """(index, dataset[index]) in order: made here, or ahead on the worker threads."""
        if self.workers <= 1:
            return ((i, self._get(i)) for i in indices)
        return parallel_map(iter(indices), lambda i: (i, self._get(i)), self.workers, self.ahead)

    def _get(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except Exception as error:
            error.add_note(f"(raised by {type(self.dataset).__name__}.__getitem__({index}))")
            raise

    def ran_out(self) -> bool:
        return False


class GeneratorEpochs:
    """A generator's passes, as Keras's ``GeneratorDataAdapter`` makes them: its first element
    is read at once (to check it, as Keras peeks it); each pass takes the next ``steps``
    elements, or all that are left, so the passes of ``fit`` with ``steps_per_epoch`` go on
    where the last one stopped. ``shuffle`` does not apply."""

    steps = None
    infinite = False

    def __init__(self, generator: Iterator[Any]) -> None:
        self.generator = generator
        self._next: list[Any] = list(itertools.islice(generator, 1))  # read, not yet taken
        self._taken = 0
        if not self._next:
            raise ValueError(
                "When passing a Python generator to a Keras model, the generator must yield at "
                "least one batch. Received an empty generator."
            )

    def epoch(
        self, shuffle: bool, steps: int | None, epoch: int, first: int
    ) -> Iterator[tuple[str, Triple]]:
        """The next ``steps`` elements (all that are left if None), the first ``first``
        skipped; a warning as Keras's where it ends before ``steps``."""
        for number in itertools.count() if steps is None else range(steps):
            if self.ran_out():
                if steps is not None:
                    warnings.warn(RAN_OUT, stacklevel=2)
                return
            element, label = self._next.pop(), f"batch {self._taken}"
            self._taken += 1
            if number >= first:
                yield label, _from_generator(element)

    def ran_out(self) -> bool:
        """Whether the generator has no element left (reading the next one ahead to know)."""
        if not self._next:
            self._next = list(itertools.islice(self.generator, 1))
        return not self._next


def unpack(element: Any) -> Triple:
    """Keras's ``(x, y, sample_weight)`` from a Dataset's element: ``x``, ``(x,)``, ``(x, y)``
    or ``(x, y, sample_weight)``."""
    if isinstance(element, tuple):
        if len(element) > 3 or not element:
            raise ValueError(
                f"a dataset element must be x, (x, y) or (x, y, sample_weight), got a tuple of "
                f"{len(element)}"
            )
        return (*element, None, None)[:3]
    return element, None, None


def _standardized(batch: Any) -> Triple:
    """A PyDataset's batch as Keras's ``PyDatasetAdapter`` reads it: a dict or an array is x;
    a list is a tuple; a tuple is ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    if isinstance(batch, dict | np.ndarray):
        return batch, None, None
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple) or len(batch) not in (1, 2, 3):
        raise ValueError(
            "PyDataset.__getitem__() must return a tuple or a dict. If a tuple, it must be "
            "ordered either (input,) or (inputs, targets) or (inputs, targets, "
            f"sample_weights). Received: {str(batch)[:100]}... of type {type(batch)}"
        )
    return (*batch, None, None)[:3]


def _from_generator(element: Any) -> Triple:
    """A generator's element: a tuple ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, as
    Keras requires (a list is read as a tuple, as Keras does after the first element)."""
    if isinstance(element, list):
        element = tuple(element)
    if not isinstance(element, tuple) or len(element) not in (1, 2, 3):
        raise ValueError(
            "When passing a Python generator to a Keras model, the generator must return a "
            "tuple, either (input,) or (inputs, targets) or (inputs, targets, "
            f"sample_weights). Received: {str(element)[:100]}"
        )
    return (*element, None, None)[:3]


def _whole(value: Any, what: str, minimum: int) -> int:
    """An int setting checked (>= ``minimum``)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")
    return int(value)
