"""Dataset: the tf.data methods, their cardinalities, threads that neither lose nor repeat
elements, errors raised where the element was, caches in memory and in files."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from autoconv.data import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset, cachefile
from autoconv.datasets import DatasetFileError


def numbers(n=10):
    return Dataset.from_tensor_slices(np.arange(n))


def values(ds):
    return [np.asarray(e).tolist() for e in ds]


def test_from_tensor_slices_and_structures():
    ds = Dataset.from_tensor_slices((np.arange(3), {"a": np.ones((3, 2)), "b": [7, 8, 9]}))
    first = next(iter(ds))
    assert first[0] == 0 and first[1]["a"].tolist() == [1, 1] and first[1]["b"] == 7
    assert len(ds) == 3 and ds.cardinality() == 3
    with pytest.raises(ValueError, match="unequal lengths"):
        Dataset.from_tensor_slices((np.arange(3), np.arange(4)))
    with pytest.raises(ValueError, match="unequal lengths"):
        Dataset.from_tensor_slices(np.float32(1.0))


def test_take_skip_repeat_and_cardinalities():
    ds = numbers()
    assert values(ds.take(3)) == [0, 1, 2] and ds.take(3).cardinality() == 3
    assert values(ds.take(-1)) == list(range(10))
    assert values(ds.skip(8)) == [8, 9] and ds.skip(8).cardinality() == 2
    assert values(ds.skip(-1)) == [] and ds.skip(20).cardinality() == 0
    assert values(ds.take(2).repeat(3)) == [0, 1] * 3 and ds.take(2).repeat(3).cardinality() == 6
    forever = ds.repeat()
    assert forever.cardinality() == INFINITE_CARDINALITY
    assert values(forever.take(12)) == [*range(10), 0, 1]
    assert forever.take(12).cardinality() == 12
    with pytest.raises(TypeError, match="infinite"):
        len(forever)
    with pytest.raises(TypeError, match="unknown"):
        len(ds.batch(2).unbatch())
    assert ds.batch(2).unbatch().cardinality() == UNKNOWN_CARDINALITY
    with pytest.raises(ValueError, match="take: count"):
        ds.take(-2)


@pytest.mark.parametrize(
    ("size", "drop", "lengths"),
    [(3, False, [3, 3, 3, 1]), (3, True, [3, 3, 3]), (10, False, [10]), (20, False, [10])],
)
def test_batch_and_unbatch(size, drop, lengths):
    ds = Dataset.from_tensor_slices((np.arange(10), np.arange(10) * 2.0)).batch(size, drop)
    batches = list(ds)
    assert [len(x) for x, _ in batches] == lengths == [len(x) for x, _ in ds]
    assert len(ds) == len(lengths)
    x, y = batches[0]
    assert x.dtype == np.int64 and y.dtype == np.float64 and y.tolist() == (x * 2.0).tolist()
    flat = [(int(a), float(b)) for a, b in ds.unbatch()]
    assert flat == [(i, 2.0 * i) for i in range(sum(lengths))]


def test_map_unpacks_tuples_and_keeps_order_on_threads():
    ds = Dataset.from_tensor_slices((np.arange(50), np.arange(50)))

    def slow_add(x, y):
        time.sleep(0.001 * (int(x) % 3))  # finishing out of order
        return x + y, threading.current_thread().name

    for calls in (None, 1, 4, AUTOTUNE):
        out = list(ds.map(slow_add, num_parallel_calls=calls))
        assert [int(v) for v, _ in out] == [2 * i for i in range(50)]
    threads = {name for _, name in ds.map(slow_add, num_parallel_calls=4)}
    assert len(threads) > 1 and all(name.startswith("autoconv-map") for name in threads)
    assert numbers().map(lambda x: x * 10).cardinality() == 10
    with pytest.raises(ValueError, match="num_parallel_calls"):
        numbers().map(abs, num_parallel_calls=0)


def test_threads_never_drop_or_repeat_elements():
    ds = numbers(1000).shuffle(100, seed=1).map(lambda x: x, num_parallel_calls=4)
    ds = ds.batch(7).prefetch(3).unbatch().map(lambda x: x + 0, num_parallel_calls=3)
    for _ in range(3):
        assert sorted(values(ds.prefetch(2))) == list(range(1000))


def test_shuffle_is_seeded_and_reshuffles_each_pass():
    ds = numbers(100).shuffle(100, seed=3)
    first, second = values(ds), values(ds)
    assert sorted(first) == sorted(second) == list(range(100))
    assert first != second  # a new order each pass
    again = numbers(100).shuffle(100, seed=3)
    assert values(again) == first and values(again) == second  # the same sequence of orders
    fixed = numbers(100).shuffle(100, seed=3, reshuffle_each_iteration=False)
    assert values(fixed) == values(fixed)
    unseeded = numbers(100).shuffle(100)
    assert sorted(values(unseeded)) == list(range(100))


def test_a_small_shuffle_buffer_only_moves_elements_locally():
    order = values(numbers(1000).shuffle(10, seed=0))
    assert sorted(order) == list(range(1000)) and order != list(range(1000))
    # tf.data's buffer: element i can come out no earlier than position i - buffer_size + 1
    assert all(pos >= value - 9 for pos, value in enumerate(order))


def test_errors_are_raised_at_their_element_through_threads():
    def fail_at_5(x):
        if x == 5:
            raise RuntimeError("element 5 is broken")
        return x

    for ds in (
        numbers().map(fail_at_5, num_parallel_calls=3),
        numbers().map(fail_at_5).prefetch(2),
        numbers().map(fail_at_5, num_parallel_calls=2).batch(2).prefetch(AUTOTUNE).unbatch(),
    ):
        seen = []
        with pytest.raises(RuntimeError, match="element 5 is broken"):
            for element in ds:
                seen.append(int(element))
        assert seen == [0, 1, 2, 3, 4][: len(seen)]


def test_stopping_early_ends_the_background_threads():
    before = threading.active_count()
    ds = numbers(10_000).map(lambda x: x, num_parallel_calls=3).prefetch(4)
    for _ in range(5):
        for i, _ in enumerate(ds):
            if i == 3:
                break
    time.sleep(0.05)
    assert threading.active_count() == before


def test_prefetch_runs_ahead_on_another_thread():
    produced = []
    ds = numbers(20).map(lambda x: produced.append(int(x)) or x).prefetch(5)
    iterator = iter(ds)
    next(iterator)
    deadline = time.time() + 2
    while len(produced) < 6 and time.time() < deadline:
        time.sleep(0.01)
    assert len(produced) >= 6  # up to 5 ready beyond the one consumed
    assert len(produced) <= 8  # and never the whole dataset
    assert values(numbers(5).prefetch(0)) == [0, 1, 2, 3, 4]


def test_memory_cache_replays_the_first_complete_pass():
    calls = []
    ds = numbers(6).map(lambda x: calls.append(int(x)) or x * 2).cache()
    assert values(ds.take(2)) == [0, 2]  # an incomplete pass caches nothing
    assert values(ds) == [0, 2, 4, 6, 8, 10]
    assert values(ds) == [0, 2, 4, 6, 8, 10]
    assert calls == [0, 1, 0, 1, 2, 3, 4, 5]
    shuffled = ds.shuffle(6, seed=0)
    assert sorted(values(shuffled)) == [0, 2, 4, 6, 8, 10] and len(calls) == 8


def test_file_cache_is_written_atomically_and_read_back(tmp_path):
    path = tmp_path / "sub" / "train.cache"
    calls = []
    pipeline = Dataset.from_tensor_slices((np.arange(5, dtype=np.float32), np.arange(5) % 2))

    def made():
        return pipeline.map(lambda x, y: (calls.append(1) or x * 2, {"label": y})).batch(2)

    ds = made().cache(path)
    for i, _ in enumerate(ds):
        if i == 1:
            break
    assert not path.exists() and list(path.parent.iterdir()) == []  # interrupted: nothing
    first = list(ds)
    assert path.exists() and len(calls) == 4 + 5  # 2 batches of 2, then all 5
    again = list(made().cache(path))  # another pipeline (or program) reads the file
    assert len(calls) == 9
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(x1, x2)
        assert x2.dtype == np.float32 and y2["label"].tolist() == y1["label"].tolist()


def test_cache_file_format_refuses_pickles_and_reports_damage(tmp_path):
    path = tmp_path / "c"
    with open(path, "wb") as f:
        writer = cachefile.Writer(f)
        writer.write((np.arange(3), np.array(["a", "b"])))
        writer.write(np.zeros((2, 2), np.float32))
        writer.close()
    elements = list(cachefile.read(path))
    assert elements[0][1].tolist() == ["a", "b"] and elements[1].shape == (2, 2)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DatasetFileError, match="truncated or corrupted dataset cache"):
        list(cachefile.read(path))
    path.write_bytes(b"something else entirely")
    with pytest.raises(DatasetFileError, match="not an autoconv dataset cache file"):
        list(cachefile.read(path))
    with open(tmp_path / "o", "wb") as f, pytest.raises(ValueError, match="pickle"):
        cachefile.Writer(f).write(np.array([object()], dtype=object))


def test_as_numpy_iterator_converts_tensor_leaves():
    import autoconv as ac

    ds = numbers(3).map(lambda x: (ac.Tensor(np.float32(x) * np.ones(2)), x))
    out = list(ds.as_numpy_iterator())
    assert all(isinstance(a, np.ndarray) for a, _ in out)
    assert out[2][0].tolist() == [2.0, 2.0]
