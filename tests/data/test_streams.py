"""Dataset's windows, flat_map, interleave, shard, take_while, reduce and apply: the orders
TensorFlow's documentation gives for each (its examples, element for element), cardinalities
checked against a pass, and the errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from autoconv.data import UNKNOWN_CARDINALITY, Dataset


def values(ds):
    return [np.asarray(e).tolist() for e in ds]


def windows(ds):
    return [values(window) for window in ds]


@pytest.mark.parametrize(
    "args, expected",
    [
        # tf.data.Dataset.window's documented examples over range(7)
        ((2,), [[0, 1], [2, 3], [4, 5], [6]]),
        ((3, 2, 1, True), [[0, 1, 2], [2, 3, 4], [4, 5, 6]]),
        ((3, 1, 2, True), [[0, 2, 4], [1, 3, 5], [2, 4, 6]]),
        ((3, 2), [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6]]),
        ((3, 1, 2), [[0, 2, 4], [1, 3, 5], [2, 4, 6], [3, 5], [4, 6], [5], [6]]),
        ((2, 3), [[0, 1], [3, 4], [6]]),  # a shift past the window skips elements
        ((2, 3, 1, True), [[0, 1], [3, 4]]),
        ((8, 1, 1, True), []),
        ((8,), [[0, 1, 2, 3, 4, 5, 6]]),
    ],
)
def test_windows_and_their_cardinality(args, expected):
    ds = Dataset.range(7).window(*args)
    assert windows(ds) == expected
    assert ds.cardinality() == len(expected)


def test_windows_of_a_structure_are_a_structure_of_datasets():
    ds = Dataset.from_tensor_slices((np.arange(4), {"a": np.arange(4) * 10})).window(2)
    got = [(values(x), values(d["a"])) for x, d in ds]
    assert got == [([0, 1], [0, 10]), ([2, 3], [20, 30])]


@pytest.mark.parametrize("size, shift", [(3, 1), (5, 2), (2, 2)])
def test_windows_batched_in_a_flat_map_are_sliding_windows(size, shift):
    series = np.arange(12.0).reshape(6, 2)
    ds = (
        Dataset.from_tensor_slices(series)
        .window(size, shift, drop_remainder=True)
        .flat_map(lambda w: w.batch(size))
    )
    expected = [series[i : i + size].tolist() for i in range(0, 6 - size + 1, shift)]
    assert values(ds) == expected
    assert ds.cardinality() == UNKNOWN_CARDINALITY


def test_flat_map_passes_a_tuple_as_arguments():
    ds = Dataset.from_tensor_slices((np.array([1, 2]), np.array([3, 1]))).flat_map(
        lambda value, count: Dataset.from_tensors(value).repeat(int(count))
    )
    assert values(ds) == [1, 1, 1, 2]


# tf.data.Dataset.interleave's documented example over range(1, 6), cycle 2, blocks of 4
DOCUMENTED_ORDER = [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 4, 4]
DOCUMENTED_ORDER += [5] * 6


@pytest.mark.parametrize(
    "cycle_length, block_length, expected",
    [
        (2, 4, DOCUMENTED_ORDER),
        (3, 1, [1, 2, 3] * 6 + [4, 5] * 6),  # 1-3 take turns, end together; then 4 and 5
        (1, 2, [n for n in range(1, 6) for _ in range(6)]),  # one at a time, each whole
    ],
)
def test_interleave_order(cycle_length, block_length, expected):
    ds = Dataset.range(1, 6).interleave(
        lambda x: Dataset.from_tensors(x).repeat(6),
        cycle_length=cycle_length,
        block_length=block_length,
    )
    assert values(ds) == expected


def test_interleave_of_uneven_datasets_keeps_every_element_once():
    lengths = [3, 0, 5, 1, 4]
    ds = Dataset.from_tensor_slices(np.array(lengths)).interleave(
        lambda n: Dataset.range(int(n)).map(lambda i, n=n: (n, i)), cycle_length=2
    )
    got = [tuple(np.asarray(item).tolist() for item in element) for element in ds]
    assert sorted(got) == sorted((n, i) for n in lengths for i in range(n))
    assert [i for n, i in got if n == 5] == list(range(5))  # each dataset in its own order


@pytest.mark.parametrize("num_shards", [1, 3, 4])
def test_shard_splits_the_elements(num_shards):
    ds = Dataset.range(10)
    parts = [ds.shard(num_shards, i) for i in range(num_shards)]
    for i, part in enumerate(parts):
        assert values(part) == list(range(i, 10, num_shards))
        assert part.cardinality() == len(values(part))
    assert sorted(itertools.chain(*map(values, parts))) == list(range(10))


def test_take_while_reduce_and_apply():
    ds = Dataset.range(10)
    assert values(ds.take_while(lambda x: x < 4)) == [0, 1, 2, 3]
    assert ds.take_while(lambda x: x < 4).cardinality() == UNKNOWN_CARDINALITY
    assert ds.reduce(np.int64(0), lambda total, x: total + x) == 45
    pairs = Dataset.from_tensor_slices((np.arange(3), np.arange(3) * 2))
    assert pairs.reduce(0, lambda n, element: n + int(element[1])) == 6
    assert values(ds.apply(lambda d: d.skip(8))) == [8, 9]


def test_errors():
    ds = Dataset.range(5)
    with pytest.raises(ValueError, match="window: size must be a positive int"):
        ds.window(0)
    with pytest.raises(ValueError, match="window: shift must be a positive int"):
        ds.window(2, shift=0)
    with pytest.raises(ValueError, match="interleave: cycle_length must be"):
        ds.interleave(Dataset.from_tensors, cycle_length=0)
    with pytest.raises(ValueError, match=r"shard: index must be in \[0, 2\)"):
        ds.shard(2, 2)
    with pytest.raises(TypeError, match="flat_map: map_func must return a Dataset, got ndarray"):
        list(ds.flat_map(lambda x: np.array([x])))
    with pytest.raises(TypeError, match="interleave: map_func must return a Dataset"):
        list(ds.interleave(lambda x: [x], cycle_length=2))
    with pytest.raises(ValueError, match="take_while: the predicate must return a scalar bool"):
        list(ds.take_while(lambda x: x))
    with pytest.raises(TypeError, match="apply: the function returned list, not a Dataset"):
        ds.apply(list)
