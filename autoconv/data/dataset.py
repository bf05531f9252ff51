"""``Dataset``: an input pipeline with the ``tf.data`` methods the Keras tutorials call.

A Dataset is a recipe for an iterator: every ``iter(ds)`` starts a new pass (an epoch) and
yields elements, usually ``(images, labels)`` tuples of NumPy arrays (with TensorFlow's
``.numpy()``: see :class:`~autoconv.data.structure.DatasetArray`). Each method returns a
new Dataset wrapping this one, so pipelines read as in TensorFlow::

    ds = Dataset.from_tensor_slices((x, y)).shuffle(1000, seed=0).batch(32).prefetch(AUTOTUNE)
    for images, labels in ds: ...

Work runs off the consumer's thread where asked: ``map(fn, num_parallel_calls=k)`` runs ``fn``
on a pool of k threads (results in input order), ``prefetch(n)`` runs everything upstream on a
background thread that keeps up to n elements ready. Every stage holds a bounded number of
elements, so memory stays flat whatever the dataset's size (``cache()`` aside).
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from autoconv.data import shapes, streams
from autoconv.data.structure import copied, leaves, map_structure, rebuild, to_numpy, yielded
from autoconv.seeds import generator

AUTOTUNE = -1
INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2
# What AUTOTUNE stands for: threads of a parallel map, elements a prefetch keeps ready.
AUTOTUNE_THREADS = min(8, os.cpu_count() or 1)
AUTOTUNE_PREFETCH = 2


class NumpyIterator:
    """An iterator with ``tf.data``'s ``next()`` besides Python's ``next(iterator)``."""

    def __init__(self, elements: Iterator[Any]) -> None:
        self._elements = elements

    def __iter__(self) -> NumpyIterator:
        return self

    def __next__(self) -> Any:
        return next(self._elements)

    def next(self) -> Any:
        return next(self._elements)


class Dataset:
    """A re-iterable pipeline of elements (arrays, or nested tuples/dicts of arrays).

    ``iterate()`` returns a fresh iterator for one pass; ``cardinality`` is the number of
    elements, or INFINITE_CARDINALITY (-1) / UNKNOWN_CARDINALITY (-2) as in ``tf.data``.
    ``class_names`` and ``file_paths`` are set on datasets made from image folders.
    """

    class_names: list[str] | None = None
    file_paths: list[str] | None = None
    batch_size: int | None = None  # set on what batch() returns (tf.data's BatchDataset)

    def __init__(self, iterate: Callable[[], Iterator[Any]], cardinality: int) -> None:
        self._iterate = iterate
        self._cardinality = cardinality

    @staticmethod
    def from_tensor_slices(tensors: Any) -> Dataset:
        """One element per row of ``tensors`` (an array, or a nested tuple/dict of arrays of
        equal length), like ``tf.data.Dataset.from_tensor_slices``."""
        arrays = [np.asarray(leaf) for leaf in leaves(tensors)]
        lengths = {len(array) if array.ndim else None for array in arrays}
        if len(lengths) != 1 or None in lengths:
            shapes = [array.shape for array in arrays]
            raise ValueError(f"from_tensor_slices: arrays of unequal lengths {shapes}")
        structure = rebuild(tensors, iter(arrays))
        (length,) = lengths

        def iterate() -> Iterator[Any]:
            if isinstance(structure, np.ndarray):
                return (copied(row) for row in structure)
            return (map_structure(lambda a, i=i: copied(a[i]), structure) for i in range(length))

        return Dataset(iterate, length)

    @staticmethod
    def zip(*args: Any, datasets: Any = None, name: str | None = None) -> Dataset:
        """The elements of several datasets in lockstep, as ``tf.data.Dataset.zip``: each
        element has the structure the datasets are given in (``zip(a, b)`` or ``zip((a, b))``
        gives ``(a_element, b_element)``; a dict or nested tuple of datasets its like). The
        shortest dataset ends it; its cardinality is the smallest, unknown if any is.
        ``name`` is accepted for TensorFlow compatibility."""
        del name
        if args and datasets is not None:
            raise TypeError("zip: give the datasets as arguments or as `datasets`, not both")
        if args:
            datasets = args[0] if len(args) == 1 else args
        inputs = leaves(datasets)
        if datasets is None or not inputs:
            raise TypeError("zip: give at least one dataset")
        for dataset in inputs:
            if not isinstance(dataset, Dataset):
                raise TypeError(
                    "zip: the inputs must be Datasets, in a (nested) tuple or dict (a Python "
                    f"list is not supported: use a tuple), got {type(dataset).__name__}"
                )

        def iterate() -> Iterator[Any]:
            for items in zip(*[dataset._elements() for dataset in inputs], strict=False):
                yield rebuild(datasets, iter(items))

        return Dataset(iterate, _shortest([dataset._cardinality for dataset in inputs]))

    @staticmethod
    def range(*args: int, dtype: Any = np.int64, name: str | None = None) -> Dataset:
        """The numbers of Python's ``range(stop)``, ``range(start, stop)`` or
        ``range(start, stop, step)``, each a NumPy scalar of ``dtype``, as
        ``tf.data.Dataset.range``. ``name`` is accepted for TensorFlow compatibility."""
        del name
        if not 1 <= len(args) <= 3 or not all(isinstance(a, int | np.integer) for a in args):
            raise ValueError(f"range: give 1 to 3 ints (stop, or start, stop[, step]), got {args}")
        numbers = range(*[int(a) for a in args])
        kind = np.dtype(dtype).type
        return Dataset(lambda: (kind(n) for n in numbers), len(numbers))

    @staticmethod
    def from_tensors(tensors: Any, name: str | None = None) -> Dataset:
        """One element: ``tensors`` (an array, or a nested tuple/dict of arrays) whole, as
        ``tf.data.Dataset.from_tensors``."""
        del name
        element = rebuild(tensors, iter([to_numpy(leaf) for leaf in leaves(tensors)]))
        return Dataset(lambda: iter((copied(element),)), 1)

    @staticmethod
    def from_generator(
        generator: Callable[..., Iterator[Any]],
        output_types: Any = None,
        output_shapes: Any = None,
        args: tuple | None = None,
        output_signature: Any = None,
        name: str | None = None,
    ) -> Dataset:
        """The elements ``generator(*args)`` yields, called anew for every pass, as
        ``tf.data.Dataset.from_generator``. ``output_signature`` (a structure of
        :class:`TensorSpec`, or the older ``output_types`` and ``output_shapes``) gives each
        element's dtypes and checks its structure and shapes; without one, elements are taken
        as yielded. The cardinality is unknown."""
        del name
        if not callable(generator):
            raise TypeError(f"from_generator: `generator` must be callable, got {generator!r}")
        if output_signature is not None and (output_types, output_shapes) != (None, None):
            raise TypeError(
                "from_generator: give `output_signature`, or the older `output_types` (and "
                "`output_shapes`), not both"
            )
        if output_signature is None and output_types is not None:
            output_signature = shapes.signature(output_types, output_shapes)
        elif output_shapes is not None:
            raise TypeError("from_generator: `output_shapes` needs `output_types`")
        specs = [] if output_signature is None else leaves(output_signature)
        if not all(isinstance(spec, shapes.TensorSpec) for spec in specs):
            raise TypeError(
                f"from_generator: {output_signature!r} is not a structure of TensorSpecs"
            )
        arguments = () if args is None else tuple(args)

        def iterate() -> Iterator[Any]:
            elements = generator(*arguments)
            if output_signature is None:
                return iter(elements)
            return (shapes.conformed(element, output_signature) for element in elements)

        return Dataset(iterate, UNKNOWN_CARDINALITY)

    def __iter__(self) -> Iterator[Any]:
        """One pass, each array (and scalar) handed out as a NumPy array with TF's ``.numpy()``
        (:class:`~autoconv.data.structure.DatasetArray`)."""
        return (map_structure(yielded, element) for element in self._elements())

    def _elements(self) -> Iterator[Any]:
        """One pass of the elements as made: plain NumPy arrays, as the stages of a pipeline,
        its ``map`` functions and the training loop take them."""
        return iter(self._iterate())

    def __len__(self) -> int:
        if self._cardinality == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite.")
        if self._cardinality == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset length is unknown.")
        return self._cardinality

    def __repr__(self) -> str:
        return f"<Dataset cardinality={self._cardinality}>"

    def cardinality(self) -> int:
        """The number of elements; -1 if infinite, -2 if unknown (``tf.data``'s constants)."""
        return self._cardinality

    def as_numpy_iterator(self) -> NumpyIterator:
        """The elements with every leaf as a NumPy array (a Tensor leaf via ``.numpy()``); as
        ``tf.data``'s, the iterator also has ``next()``."""
        return NumpyIterator(map_structure(to_numpy, element) for element in self._elements())

    def take(self, count: int) -> Dataset:
        """The first ``count`` elements (all of them if ``count`` is -1)."""
        count = _count("take", count)
        if count < 0:
            return self
        return Dataset(
            lambda: itertools.islice(self._elements(), count), _at_most(self._cardinality, count)
        )

    def concatenate(self, dataset: Dataset, name: str | None = None) -> Dataset:
        """This dataset's elements, then ``dataset``'s (``name``: for TensorFlow
        compatibility)."""
        del name
        if not isinstance(dataset, Dataset):
            raise TypeError(f"concatenate: expected a Dataset, got {type(dataset).__name__}")
        n, m = self._cardinality, dataset._cardinality
        if INFINITE_CARDINALITY in (n, m):
            cardinality = INFINITE_CARDINALITY
        else:
            cardinality = UNKNOWN_CARDINALITY if UNKNOWN_CARDINALITY in (n, m) else n + m
        return Dataset(lambda: itertools.chain(self._elements(), dataset._elements()), cardinality)

    def enumerate(self, start: int = 0, name: str | None = None) -> Dataset:
        """``(index, element)`` pairs, the index an int64 counting from ``start``."""
        del name
        return Dataset.zip(Dataset.range(start, np.iinfo(np.int64).max), self)

    def filter(self, predicate: Callable[..., Any], name: str | None = None) -> Dataset:
        """The elements for which ``predicate`` (given a tuple element as separate arguments,
        as ``map``) returns True; its result must be a scalar bool. The cardinality is
        unknown, as TensorFlow's."""
        del name

        return Dataset(
            lambda: (e for e in self._elements() if _kept("filter", predicate, e)),
            UNKNOWN_CARDINALITY if self._cardinality else 0,
        )

    def skip(self, count: int) -> Dataset:
        """All but the first ``count`` elements (none if ``count`` is -1)."""
        count = _count("skip", count)
        if count < 0:
            return Dataset(lambda: iter(()), 0)
        n = self._cardinality
        return Dataset(
            lambda: itertools.islice(self._elements(), count, None),
            max(n - count, 0) if n >= 0 else n,
        )

    def repeat(self, count: int | None = None) -> Dataset:
        """The elements ``count`` times over (forever if None or -1); each time is a new pass."""
        count = -1 if count is None else _count("repeat", count)
        n = self._cardinality

        def iterate() -> Iterator[Any]:
            passes = itertools.count() if count < 0 else range(count)
            return itertools.chain.from_iterable(self._elements() for _ in passes)

        if count == 0 or n == 0:
            cardinality = 0
        elif count < 0:
            cardinality = INFINITE_CARDINALITY if n != UNKNOWN_CARDINALITY else n
        else:
            cardinality = n * count if n >= 0 else n
        return Dataset(iterate, cardinality)

    def shuffle(
        self, buffer_size: int, seed: int | None = None, reshuffle_each_iteration: bool = True
    ) -> Dataset:
        """Elements in random order, drawn from a buffer of ``buffer_size`` (``tf.data``'s
        algorithm: a buffer the size of the dataset gives a uniform permutation).

        Each pass draws a new order unless ``reshuffle_each_iteration`` is False; with a
        ``seed`` the sequence of orders is the same in every run.
        """
        if not isinstance(buffer_size, int | np.integer) or buffer_size < 1:
            raise ValueError(f"shuffle: buffer_size must be a positive int, got {buffer_size!r}")
        base = int(generator().integers(2**63)) if seed is None else int(seed)
        passes = itertools.count()
        lock = threading.Lock()

        def iterate() -> Iterator[Any]:
            with lock:
                epoch = next(passes) if reshuffle_each_iteration else 0
            return streams.shuffled(
                self._elements(), int(buffer_size), np.random.default_rng([base, epoch])
            )

        return Dataset(iterate, self._cardinality)

    def batch(
        self,
        batch_size: int,
        drop_remainder: bool = False,
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """Consecutive elements stacked into batches (the last one smaller unless
        ``drop_remainder``). ``num_parallel_calls``, ``deterministic`` and ``name`` are
        accepted for TensorFlow compatibility: stacking runs on the pass's own thread."""
        del num_parallel_calls, deterministic, name
        return self._batched("batch", batch_size, drop_remainder, _stack)

    def padded_batch(
        self,
        batch_size: int,
        padded_shapes: Any = None,
        padding_values: Any = None,
        drop_remainder: bool = False,
        name: str | None = None,
    ) -> Dataset:
        """Batches of elements of different shapes, as ``tf.data``'s: each array padded at
        its end to its ``padded_shapes`` entry (a shape; None or -1 for the batch's largest
        size; default: every axis to the batch's largest) with its ``padding_values`` entry
        (default 0, "" for texts; one value pads all)."""
        del name
        return self._batched(
            "padded_batch",
            batch_size,
            drop_remainder,
            lambda chunk: shapes.padded_stack(chunk, padded_shapes, padding_values),
        )

    def _batched(
        self, method: str, batch_size: int, drop_remainder: bool, stack: Callable[[list], Any]
    ) -> Dataset:
        if not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ValueError(f"{method}: batch_size must be a positive int, got {batch_size!r}")

        def iterate() -> Iterator[Any]:
            elements = self._elements()
            while chunk := list(itertools.islice(elements, batch_size)):
                if drop_remainder and len(chunk) < batch_size:
                    return
                yield stack(chunk)

        n = self._cardinality
        if n >= 0:
            n = n // batch_size if drop_remainder else math.ceil(n / batch_size)
        batched = Dataset(iterate, n)
        batched.batch_size = int(batch_size)
        return batched

    def unbatch(self) -> Dataset:
        """Split each batch back into its elements."""

        def iterate() -> Iterator[Any]:
            for element in self._elements():
                arrays = [to_numpy(leaf) for leaf in leaves(element)]
                structure = rebuild(element, iter(arrays))
                for i in range(len(arrays[0])):
                    yield map_structure(lambda leaf, i=i: leaf[i], structure)

        return Dataset(iterate, UNKNOWN_CARDINALITY if self._cardinality else 0)

    def map(
        self,
        map_func: Callable[..., Any],
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
    ) -> Dataset:
        """``map_func`` applied to each element (a tuple element is passed as separate
        arguments: ``ds.map(lambda x, y: (x / 255, y))``).

        ``num_parallel_calls`` threads run it at once (AUTOTUNE: one per core); the results
        keep the input order whatever ``deterministic`` says.
        """
        del deterministic  # always in order

        call = functools.partial(_applied, map_func)
        if num_parallel_calls is None or num_parallel_calls == 1:
            return Dataset(
                lambda: (call(element) for element in self._elements()), self._cardinality
            )
        if num_parallel_calls == AUTOTUNE:
            workers = AUTOTUNE_THREADS
        elif isinstance(num_parallel_calls, int | np.integer) and num_parallel_calls > 1:
            workers = int(num_parallel_calls)
        else:
            raise ValueError(
                f"map: num_parallel_calls must be a positive int or AUTOTUNE, "
                f"got {num_parallel_calls!r}"
            )
        return Dataset(
            lambda: streams.parallel_map(self._elements(), call, workers), self._cardinality
        )

    def prefetch(self, buffer_size: int) -> Dataset:
        """Run the pipeline up to here on a background thread that keeps up to
        ``buffer_size`` elements ready (AUTOTUNE: a few), so producing the next element
        overlaps the consumer's work on this one."""
        if buffer_size == AUTOTUNE:
            buffer_size = AUTOTUNE_PREFETCH
        if not isinstance(buffer_size, int | np.integer) or buffer_size < 0:
            raise ValueError(f"prefetch: buffer_size must be >= 0 or AUTOTUNE, got {buffer_size!r}")
        if buffer_size == 0:
            return self
        return Dataset(
            lambda: streams.prefetched(self._elements, int(buffer_size)), self._cardinality
        )

    def cache(self, filename: str | os.PathLike = "") -> Dataset:
        """Keep the elements of the first complete pass and replay them on later passes:
        in memory, or in ``filename`` (written atomically when that pass ends, read back by
        any later pass or program; see :mod:`autoconv.data.cachefile`). A pass that stops
        early caches nothing. Delete the file when the data changes."""
        if filename:
            return Dataset(streams.file_cached(self._elements, Path(filename)), self._cardinality)
        stored: list[list[Any]] = []

        def iterate() -> Iterator[Any]:
            if stored:
                yield from (copied(element) for element in stored[0])
                return
            elements = []
            for element in self._elements():
                elements.append(element)
                yield copied(element)
            if not stored:
                stored.append(elements)

        return Dataset(iterate, self._cardinality)

    def window(
        self,
        size: int,
        shift: int | None = None,
        stride: int = 1,
        drop_remainder: bool = False,
        name: str | None = None,
    ) -> Dataset:
        """A dataset of windows, as ``tf.data``'s: the k-th window holds elements k*shift,
        k*shift + stride, ... (``size`` of them; fewer at the end unless ``drop_remainder``).
        A window is a Dataset (a tuple or dict of Datasets, one per component, for tuple or
        dict elements), usually batched in a ``flat_map``:
        ``ds.window(5, 1, drop_remainder=True).flat_map(lambda w: w.batch(5))``."""
        del name
        shift = size if shift is None else shift
        for argument, value in (("size", size), ("shift", shift), ("stride", stride)):
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"window: {argument} must be a positive int, got {value!r}")

        def iterate() -> Iterator[Any]:
            for elements in streams.windows(self._elements(), size, shift, stride, drop_remainder):
                columns = zip(*[leaves(element) for element in elements], strict=True)
                components = [Dataset.from_tensor_slices(np.stack(c)) for c in columns]
                yield rebuild(elements[0], iter(components))

        n = self._cardinality
        if n >= 0 and drop_remainder:
            span = (size - 1) * stride + 1
            n = (n - span) // shift + 1 if n >= span else 0
        elif n >= 0:
            n = math.ceil(n / shift)
        return Dataset(iterate, n)

    def flat_map(self, map_func: Callable[..., Dataset], name: str | None = None) -> Dataset:
        """The elements of the Datasets ``map_func`` makes of each element (a tuple element
        passed as separate arguments, as in ``map``), one after another."""
        del name

        def iterate() -> Iterator[Any]:
            for element in self._elements():
                yield from _made_dataset("flat_map", map_func, element)._elements()

        return Dataset(iterate, UNKNOWN_CARDINALITY if self._cardinality else 0)

    def interleave(
        self,
        map_func: Callable[..., Dataset],
        cycle_length: int | None = None,
        block_length: int | None = None,
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """The elements of the Datasets ``map_func`` makes of each element, interleaved in
        ``tf.data``'s order: ``cycle_length`` of them open at once (default: one per core),
        ``block_length`` (default 1) consecutive elements from each in turn. The datasets are
        read on the pass's own thread: ``num_parallel_calls`` and ``deterministic`` are
        accepted for TensorFlow compatibility, and the order is always the deterministic one."""
        del num_parallel_calls, deterministic, name
        cycle = AUTOTUNE_THREADS if cycle_length in (None, AUTOTUNE) else cycle_length
        block = 1 if block_length in (None, AUTOTUNE) else block_length
        for argument, value in (("cycle_length", cycle), ("block_length", block)):
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(
                    f"interleave: {argument} must be a positive int or AUTOTUNE, got {value!r}"
                )

        def open_(element: Any) -> Iterator[Any]:
            return _made_dataset("interleave", map_func, element)._elements()

        return Dataset(
            lambda: streams.interleaved(self._elements(), open_, int(cycle), int(block)),
            UNKNOWN_CARDINALITY if self._cardinality else 0,
        )

    def shard(self, num_shards: int, index: int, name: str | None = None) -> Dataset:
        """Every ``num_shards``-th element, starting at element ``index``: one worker's part
        when ``num_shards`` workers share a dataset."""
        del name
        if not isinstance(num_shards, int | np.integer) or num_shards < 1:
            raise ValueError(f"shard: num_shards must be a positive int, got {num_shards!r}")
        if not isinstance(index, int | np.integer) or not 0 <= index < num_shards:
            raise ValueError(f"shard: index must be in [0, {num_shards}), got {index!r}")
        n = self._cardinality
        if n >= 0:
            n = n // num_shards + (index < n % num_shards)
        return Dataset(lambda: itertools.islice(self._elements(), index, None, num_shards), n)

    def take_while(self, predicate: Callable[..., Any], name: str | None = None) -> Dataset:
        """The elements up to the first for which ``predicate`` (as ``filter``'s) is False."""
        del name
        return Dataset(
            lambda: itertools.takewhile(
                functools.partial(_kept, "take_while", predicate), self._elements()
            ),
            UNKNOWN_CARDINALITY if self._cardinality else 0,
        )

    def reduce(self, initial_state: Any, reduce_func: Callable[[Any, Any], Any]) -> Any:
        """``reduce_func(state, element)`` folded over one pass from ``initial_state``; the
        final state, as ``tf.data``'s ``reduce``: ``ds.reduce(0, lambda n, _: n + 1)``."""
        state = initial_state
        for element in self._elements():
            state = reduce_func(state, element)
        return state

    def apply(self, transformation_func: Callable[[Dataset], Dataset]) -> Dataset:
        """``transformation_func(self)``: a pipeline's steps kept in a function."""
        dataset = transformation_func(self)
        if not isinstance(dataset, Dataset):
            raise TypeError(f"apply: the function returned {type(dataset).__name__}, not a Dataset")
        return dataset


def _count(method: str, count: Any) -> int:
    if not isinstance(count, int | np.integer) or count < -1:
        raise ValueError(f"{method}: count must be a non-negative int or -1, got {count!r}")
    return int(count)


def _at_most(cardinality: int, count: int) -> int:
    if cardinality == INFINITE_CARDINALITY:
        return count
    if cardinality == UNKNOWN_CARDINALITY:
        return cardinality
    return min(cardinality, count)


def _applied(fn: Callable[..., Any], element: Any) -> Any:
    """``fn`` of an element: a tuple's items as separate arguments, as ``tf.data`` passes them."""
    return fn(*element) if isinstance(element, tuple) else fn(element)


def _shortest(cardinalities: list[int]) -> int:
    """The cardinality of datasets zipped: unknown if any is, else the smallest finite one
    (infinite if none is finite)."""
    if UNKNOWN_CARDINALITY in cardinalities:
        return UNKNOWN_CARDINALITY
    finite = [n for n in cardinalities if n >= 0]
    return min(finite) if finite else INFINITE_CARDINALITY


def _stack(elements: list[Any]) -> Any:
    if not isinstance(elements[0], tuple | dict):
        return np.stack([to_numpy(element) for element in elements])
    columns = zip(*[leaves(element) for element in elements], strict=True)
    stacked = [np.stack([to_numpy(leaf) for leaf in column]) for column in columns]
    return rebuild(elements[0], iter(stacked))


def _kept(method: str, predicate: Callable[..., Any], element: Any) -> bool:
    """``predicate`` of an element, which must be a scalar bool (``filter``, ``take_while``)."""
    result = np.asarray(to_numpy(_applied(predicate, element)))
    if result.shape != () or result.dtype != np.bool_:
        raise ValueError(
            f"{method}: the predicate must return a scalar bool, got dtype {result.dtype} and "
            f"shape {result.shape}"
        )
    return bool(result)


def _made_dataset(method: str, map_func: Callable[..., Any], element: Any) -> Dataset:
    dataset = _applied(map_func, element)
    if not isinstance(dataset, Dataset):
        raise TypeError(f"{method}: map_func must return a Dataset, got {type(dataset).__name__}")
    return dataset
