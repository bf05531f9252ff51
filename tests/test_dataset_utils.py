"""``utils.split_dataset``: the sizes and the samples of each split as Keras 3.15 computes them
for ``tf.data`` (its own helpers run on the same data: the samples listed, shuffled by Python's
``random`` with the seed, counted and cut), returned as autoconv Datasets; the sizes also
against Keras's real call on its PyTorch backend; and the errors."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

import autoconv as ac
from autoconv.data import Dataset
from autoconv.dataset_utils import _split_sizes

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
from keras.src.utils import dataset_utils as keras_dataset_utils  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.normal(size=(13, 3, 2)).astype(np.float32)
Y = np.arange(13)
W = RNG.uniform(size=13)


def keras_split(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Keras's ``_split_dataset_tf`` up to its ``tf.data.Dataset.from_tensor_slices``."""
    spec = keras_dataset_utils._get_type_spec(dataset)
    samples = keras_dataset_utils._convert_dataset_to_list(dataset, spec)
    if shuffle:
        random.seed(random.randint(0, int(1e6)) if seed is None else seed)
        random.shuffle(samples)
    left, right = keras_dataset_utils._rescale_dataset_split_sizes(
        left_size, right_size, len(samples)
    )
    restore = keras_dataset_utils._restore_dataset_from_list
    return restore(samples[:left], spec, dataset), restore(samples[-right:], spec, dataset)


def columns(split: Dataset, structure: str) -> list[np.ndarray]:
    """A split's samples stacked per leaf, in the order of Keras's restored lists."""
    elements = list(split)
    assert len(split) == len(elements)
    if structure == "array":
        return [np.stack(elements)]
    if structure == "dict":
        return [np.stack([e[k] for e in elements]) for k in ("x", "y", "w")]
    return [np.stack(column) for column in zip(*elements, strict=True)]


SIZES = [
    {"left_size": 0.8}, {"right_size": 0.3}, {"left_size": 4}, {"right_size": 12},
    {"left_size": 0.5, "right_size": 0.25}, {"left_size": 3, "right_size": 5},
    {"left_size": 0.5, "right_size": 2}, {"left_size": np.float64(0.4)},
]  # fmt: skip


@pytest.mark.parametrize("sizes", SIZES, ids=str)
@pytest.mark.parametrize("shuffle, seed", [(False, None), (True, 3), (True, 1234)])
@pytest.mark.parametrize("structure", ["array", "tuple", "list", "dict", "dataset"])
def test_splits_like_keras(structure, shuffle, seed, sizes):
    kwargs = {**sizes, "shuffle": shuffle, "seed": seed}
    keras_kwargs = {k: float(v) if isinstance(v, np.floating) else v for k, v in kwargs.items()}
    if structure == "array":
        ours, theirs = ac.utils.split_dataset(X, **kwargs), keras_split(X, **keras_kwargs)
        theirs = [[np.stack(side)] for side in theirs]
    else:
        data = {
            "tuple": (X, Y, W),
            "list": [X, Y, W],
            "dict": {"x": X, "y": Y, "w": W},
            "dataset": Dataset.from_tensor_slices((X, Y, W)),
        }[structure]
        ours = ac.utils.split_dataset(data, **kwargs)
        theirs = [list(side) for side in keras_split((X, Y, W), **keras_kwargs)]
    shape = "array" if structure == "array" else "dict" if structure == "dict" else "tuple"
    for split, expected in zip(ours, theirs, strict=True):
        assert isinstance(split, Dataset)
        got = columns(split, shape)
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_dataset_elements_keep_their_structure():
    ds = Dataset.from_tensor_slices({"image": X, "meta": (Y, W)})
    left, right = ac.utils.split_dataset(ds, left_size=10)
    (first,) = left.take(1)
    assert set(first) == {"image", "meta"} and isinstance(first["meta"], tuple)
    np.testing.assert_array_equal(first["image"], X[0])
    assert [int(e["meta"][0]) for e in right] == [10, 11, 12]


def test_an_unseeded_shuffle_follows_pythons_random_as_keras():
    random.seed(11)
    ours = [int(y) for y in ac.utils.split_dataset(Y, left_size=5, shuffle=True)[0]]
    random.seed(11)
    theirs = [int(y) for y in keras_split(Y, left_size=5, shuffle=True)[0]]
    assert ours == theirs and ours != list(range(5))


@pytest.mark.parametrize("sizes", SIZES[:4], ids=str)
def test_sizes_match_kerass_own_split(sizes):
    """Keras's real call (on PyTorch, its torch Subsets) gives splits of the same sizes (where
    they take every sample: its PyTorch path fails on splits that leave some out)."""
    left, right = ac.utils.split_dataset(X, **sizes)
    keras_left, keras_right = keras.utils.split_dataset(X, **sizes)
    assert (len(left), len(right)) == (len(keras_left), len(keras_right))


SIZE_CASES = [
    (None, 0.2), (0.2, None), (0.5, 0.5), (0.3, 0.3), (1, 9), (9, None), (None, 1),
    (0.05, None), (0.04, None), (None, 0.96), (0.55, 4), (0.25, 0.25),
    # refused, each as Keras refuses it
    (0, 0), (0, None), (10, None), (None, 10), (-1, None), (1.0, None), (0.0, 0.5),
    (0.6, 0.6), (7, 5), (0.5, 6), (0.01, None), ("half", None), (None, [1]), ("a", "b"),
    (True, None),
]  # fmt: skip


@pytest.mark.parametrize("left, right", SIZE_CASES, ids=str)
def test_sizes_and_refusals_like_keras(left, right):
    try:
        expected = keras_dataset_utils._rescale_dataset_split_sizes(left, right, 10)
    except (TypeError, ValueError) as error:
        with pytest.raises(type(error)):
            _split_sizes(left, right, 10)
        return
    assert _split_sizes(left, right, 10) == expected


@pytest.mark.parametrize(
    ("dataset", "kwargs", "error", "message"),
    [
        ("text", {"left_size": 1}, TypeError, "must be an autoconv.data.Dataset"),
        (X, {}, ValueError, "At least one of the `left_size` or `right_size`"),
        (X[:0], {"left_size": 0.5}, ValueError, "empty dataset"),
        (np.float32(3), {"left_size": 0.5}, TypeError, "must be an autoconv.data.Dataset"),
        (np.array(3), {"left_size": 0.5}, ValueError, "0-d array"),
        ((), {"left_size": 0.5}, ValueError, "empty tuple"),
        ((X, [1, 2]), {"left_size": 0.5}, ValueError, "NumPy arrays of samples, got .*list"),
        ((X, Y[:5]), {"left_size": 0.5}, ValueError, r"different lengths \[13, 5\]"),
        ({"a": X, "b": np.array(1)}, {"left_size": 0.5}, ValueError, "0-d array at index 1"),
        (Dataset.from_tensor_slices(X).repeat(), {"left_size": 2}, ValueError, "infinite"),
        (Dataset.from_tensor_slices(X).take(0), {"left_size": 2}, ValueError, "empty dataset"),
        (
            Dataset.from_tensor_slices(X).batch(5).map(lambda x: x),  # batches of 5, 5 and 3
            {"left_size": 2},
            ValueError,
            r"same structure and shapes, got \[.*\(3, 3, 2\).*\(5, 3, 2\)",
        ),
        (X, {"left_size": 13}, ValueError, "positive integer smaller than 13"),
    ],
)
def test_bad_input_is_one_clear_error(dataset, kwargs, error, message):
    with pytest.raises(error, match=message):
        ac.utils.split_dataset(dataset, **kwargs)


@pytest.mark.parametrize(("batch_size", "left_size"), [(4, 0.75), (5, 3), (1, None)])
def test_a_batched_dataset_splits_by_samples_and_stays_batched(batch_size, left_size):
    """Keras unbatches a ``tf.data`` dataset made by ``batch()``, splits its samples and
    batches both splits by the same size; a batch mapped afterwards is a sample (below)."""
    right_size = None if left_size else 2
    dataset = Dataset.from_tensor_slices((X, Y)).batch(batch_size)
    left, right = ac.utils.split_dataset(dataset, left_size, right_size, shuffle=True, seed=3)
    expected = keras_split((X, Y), left_size, right_size, shuffle=True, seed=3)
    for split, (x, y) in zip((left, right), expected, strict=True):
        assert split.batch_size == batch_size
        batches = list(split)
        assert [len(b[1]) for b in batches] == [
            min(batch_size, len(y) - start) for start in range(0, len(y), batch_size)
        ]
        np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
        np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)


def test_a_batch_mapped_after_batching_is_one_sample():
    """Its elements are its batches, as a ``tf.data`` map over batches is no BatchDataset."""
    mapped = Dataset.from_tensor_slices(Y[:12]).batch(4).map(lambda b: b)
    left, right = ac.utils.split_dataset(mapped, right_size=1)
    assert left.batch_size is None
    assert [b.tolist() for b in left] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert [b.tolist() for b in right] == [[8, 9, 10, 11]]
