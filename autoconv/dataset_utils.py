"""``keras.utils.split_dataset``: a dataset cut in two (train / test), as Keras 3 cuts a
``tf.data`` one, with :class:`autoconv.data.Dataset` in place of ``tf.data.Dataset``.

The samples are the rows of an array, the rows of a tuple (or list) of arrays of one length,
the rows of a dict of such arrays (which Keras refuses; ``tf.data`` would take it), or the
elements of a Dataset. With ``shuffle``, the samples are first put in the order Python's
``random.shuffle`` gives with ``seed``, the same as Keras's (without a seed, one is drawn from
Python's ``random``, as Keras does; unlike Keras, Python's global generator is not reseeded).
The left split is the first ``left_size`` samples, the right the last ``right_size``. A
Dataset made by ``batch()`` is split by its samples and both splits are batched by the same
size, as Keras does with a batched ``tf.data`` dataset.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from autoconv.data import Dataset
from autoconv.data.structure import leaves, rebuild, to_numpy


def split_dataset(
    dataset: Any,
    left_size: int | float | None = None,
    right_size: int | float | None = None,
    shuffle: bool = False,
    seed: int | None = None,
    preferred_backend: str | None = None,
) -> tuple[Dataset, Dataset]:
    """``dataset`` as two Datasets of its samples, the left and the right split.

    ``left_size``: a fraction in (0, 1) of the samples (rounded to the nearest count) or a
    count in (0, number of samples); None: the samples ``right_size`` leaves, which is given
    in the same ways. The two need not take every sample, but neither may be empty.
    ``preferred_backend`` ("tensorflow", "torch": the kind of datasets Keras returns) is
    accepted and ignored: autoconv returns its Datasets.

    >>> left, right = split_dataset(np.arange(10), left_size=0.8)
    >>> [int(x) for x in left], [int(x) for x in right]
    ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
    """
    del preferred_backend
    if not isinstance(dataset, Dataset | np.ndarray | tuple | list | dict):
        raise TypeError(
            "The `dataset` argument must be an autoconv.data.Dataset, a NumPy array, or a "
            f"tuple, list or dict of arrays. Received: dataset={dataset!r} of type "
            f"{type(dataset)}"
        )
    if left_size is None and right_size is None:
        raise ValueError(
            "At least one of the `left_size` or `right_size` must be specified. Received: "
            "left_size=None and right_size=None"
        )
    if isinstance(dataset, Dataset):
        batch_size = dataset.batch_size
        columns, structure = _dataset_columns(dataset.unbatch() if batch_size else dataset)
    else:
        batch_size = None
        columns, structure = _array_columns(dataset)
    total = len(columns[0])
    left, right = _split_sizes(left_size, right_size, total)
    order = list(range(total))
    if shuffle:
        random.Random(random.randint(0, int(1e6)) if seed is None else seed).shuffle(order)
    indices = np.asarray(order, dtype=np.int64)
    splits = (indices[:left], indices[total - right :])
    datasets = tuple(_rebuilt(columns, structure, split) for split in splits)
    if batch_size:
        return datasets[0].batch(batch_size), datasets[1].batch(batch_size)
    return datasets


def _array_columns(dataset: Any) -> tuple[list[np.ndarray], Any]:
    """The arrays of an array, a tuple or list of arrays or a dict of arrays, each a column of
    samples, and the structure of a sample (None: a sample is one array)."""
    if isinstance(dataset, np.ndarray):
        if dataset.ndim == 0:
            raise ValueError("split_dataset: a 0-d array has no samples to split")
        columns, structure = [dataset], None
    else:
        kind = type(dataset).__name__
        arrays = list(dataset.values() if isinstance(dataset, dict) else dataset)
        if not arrays:
            raise ValueError(f"split_dataset: received an empty {kind}; give arrays to split")
        for i, array in enumerate(arrays):
            if not isinstance(array, np.ndarray) or array.ndim == 0:
                got = f"a {array.ndim}-d array" if isinstance(array, np.ndarray) else type(array)
                raise ValueError(
                    f"split_dataset: expected a {kind} of NumPy arrays of samples, got {got} "
                    f"at index {i}"
                )
        if len({len(array) for array in arrays}) > 1:
            raise ValueError(
                f"split_dataset: the arrays of the {kind} have different lengths "
                f"{[len(array) for array in arrays]}; give arrays of the same length"
            )
        columns = arrays
        keys = iter(range(len(arrays)))
        structure = (
            {key: next(keys) for key in dataset} if isinstance(dataset, dict) else tuple(keys)
        )
    if len(columns[0]) == 0:
        raise ValueError("split_dataset: received an empty dataset; it has no samples to split")
    return columns, structure


def _dataset_columns(dataset: Dataset) -> tuple[list[np.ndarray], Any]:
    """A Dataset's elements, stacked leaf by leaf, and the structure of an element. The
    elements must all have one structure and shapes."""
    if dataset.cardinality() == -1:
        raise ValueError("split_dataset: the dataset is infinite (repeat()); it cannot be split")
    elements = list(dataset)
    if not elements:
        raise ValueError("split_dataset: received an empty dataset; it has no samples to split")
    rows = [[to_numpy(leaf) for leaf in leaves(element)] for element in elements]
    try:
        columns = [np.stack(column) for column in zip(*rows, strict=True)]
    except ValueError:
        shapes = {str([leaf.shape for leaf in row]) for row in rows}
        raise ValueError(
            "split_dataset: all the dataset's samples must have the same structure and shapes, "
            f"got {sorted(shapes)}"
        ) from None
    structure = rebuild(elements[0], iter(range(len(columns))))
    return columns, None if isinstance(structure, int) else structure


def _rebuilt(columns: list[np.ndarray], structure: Any, indices: np.ndarray) -> Dataset:
    """The samples at ``indices``, as a Dataset of elements shaped as ``structure``."""
    taken = [column[indices] for column in columns]
    if structure is None:
        return Dataset.from_tensor_slices(taken[0])
    return Dataset.from_tensor_slices(rebuild(structure, iter(taken)))


def _split_sizes(left: Any, right: Any, total: int) -> tuple[int, int]:
    """Keras's ``_rescale_dataset_split_sizes``: the two splits' sample counts from fractions
    or counts, checked (a TypeError for a size that is neither, a ValueError out of range)."""
    left, right = _size("left", left), _size("right", right)
    if left == 0 and right == 0:
        raise ValueError(
            "Both `left_size` and `right_size` are zero. At least one of the split sizes must "
            "be non-zero."
        )
    for side, size in (("left", left), ("right", right)):
        if (isinstance(size, int) and not 0 < size < total) or (
            isinstance(size, float) and not 0 < size < 1
        ):
            raise ValueError(
                f"`{side}_size` should be either a positive integer smaller than {total}, or a "
                f"float within the range `[0, 1]`. Received: {side}_size={size}"
            )
    if isinstance(left, float) and isinstance(right, float) and left + right > 1:
        raise ValueError(
            "The sum of `left_size` and `right_size` is greater than 1. It must be less than "
            "or equal to 1."
        )
    left = round(left * total) if isinstance(left, float) else left
    right = round(right * total) if isinstance(right, float) else right
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(
            f"The sum of `left_size` and `right_size` should be smaller than the {total}. "
            f"Received: left_size + right_size = {left + right} and total_length = {total}"
        )
    for split, side in ((left, "left"), (right, "right")):
        if split == 0:
            raise ValueError(
                f"With `dataset` of length={total}, `left_size`={left} and `right_size`={right}. "
                f"Resulting {side} side dataset split will be empty. Adjust any of the "
                "aforementioned parameters"
            )
    return int(left), int(right)


def _size(side: str, size: Any) -> int | float | None:
    """A split size as a Python int or float (NumPy's numbers taken too), or None."""
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int | float | np.integer | np.floating):
        raise TypeError(
            f"Invalid `{side}_size` Type. Expected: int or float or None, Received: "
            f"type({side}_size)={type(size)}."
        )
    return int(size) if isinstance(size, int | np.integer) else float(size)
