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
    threads = {name.numpy() for _, name in ds.map(slow_add, num_parallel_calls=4)}
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


def as_ints(element):
    """An element's leaves as ints, in its structure of tuples and dicts."""
    if isinstance(element, dict):
        return {key: as_ints(value) for key, value in element.items()}
    if isinstance(element, tuple):
        return tuple(as_ints(value) for value in element)
    return int(element)


@pytest.mark.parametrize(
    ("zipped", "first"),
    [
        (lambda a, b: Dataset.zip(a, b), (0, 10)),
        (lambda a, b: Dataset.zip((a, b)), (0, 10)),
        (lambda a, b: Dataset.zip(datasets=(a, b)), (0, 10)),
        (lambda a, b: Dataset.zip({"a": a, "ab": (a, b)}), {"a": 0, "ab": (0, 10)}),
        (lambda a, b: Dataset.zip(b), 10),
    ],
)
def test_zip_gives_the_structure_it_was_given(zipped, first):
    ds = zipped(numbers(5), numbers(3).map(lambda x: x + 10))
    assert as_ints(next(iter(ds))) == first
    assert ds.cardinality() == len(list(ds)) == 3


@pytest.mark.parametrize(
    ("sizes", "cardinality", "length"),
    [
        ((10, 3), 3, 3),
        ((-1, 4), 4, 4),
        ((-1, -1), INFINITE_CARDINALITY, 20),
        ((-2, 4), UNKNOWN_CARDINALITY, 4),
    ],
)
def test_zip_cardinality_is_the_shortest(sizes, cardinality, length):
    make = {-1: lambda: numbers().repeat(), -2: lambda: numbers().batch(2).unbatch()}
    zipped = Dataset.zip(*[make[n]() if n < 0 else numbers(n) for n in sizes])
    assert zipped.cardinality() == cardinality
    assert [a for a, _ in as_ints(tuple(zipped.take(20)))] == [i % 10 for i in range(length)]


def test_zip_of_shuffled_batches_maps_and_batches_as_mixing_up_does():
    one = Dataset.from_tensor_slices((np.arange(8.0), np.arange(8))).shuffle(8, seed=1).batch(4)
    two = Dataset.from_tensor_slices((np.arange(8.0), np.arange(8))).shuffle(8, seed=2).batch(4)

    def mix_up(ds_one, ds_two):
        (x1, y1), (x2, y2) = ds_one, ds_two
        return 0.5 * x1 + 0.5 * x2, np.stack([y1, y2], axis=1)

    mixed = Dataset.zip((one, two)).map(mix_up, num_parallel_calls=AUTOTUNE).take(2)
    assert len(mixed) == 2
    for x, y in mixed:
        assert x.shape == (4,) and np.allclose(x.numpy(), y.numpy().mean(axis=1))
    pairs = sorted(tuple(row) for _, y in mixed.unbatch().batch(8) for row in y.numpy())
    assert sorted(a for a, _ in pairs) == sorted(b for _, b in pairs) == list(range(8))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Dataset.zip(), "at least one dataset"),
        (lambda: Dataset.zip(()), "at least one dataset"),
        (lambda: Dataset.zip(numbers(), datasets=numbers()), "not both"),
        (lambda: Dataset.zip([numbers(), numbers()]), "list is not supported.*got list"),
        (lambda: Dataset.zip((numbers(), np.arange(3))), "got ndarray"),
    ],
)
def test_zip_errors(call, message):
    with pytest.raises(TypeError, match=message):
        call()


@pytest.mark.parametrize(
    ("args", "expected"),
    [((4,), [0, 1, 2, 3]), ((2, 5), [2, 3, 4]), ((5, 0, -2), [5, 3, 1]), ((3, 3), [])],
)
def test_range_is_pythons_in_int64(args, expected):
    ds = Dataset.range(*args)
    assert values(ds) == expected and ds.cardinality() == len(expected)
    assert all(type(n) is np.int64 for n in ds._elements())
    assert all(type(n) is np.int32 for n in Dataset.range(*args, dtype="int32")._elements())


@pytest.mark.parametrize(
    ("second", "cardinality", "first_twelve"),
    [
        (lambda: numbers(3), 13, [*range(10), 0, 1]),
        (lambda: numbers().repeat(), INFINITE_CARDINALITY, [*range(10), 0, 1]),
        (lambda: numbers(4).filter(lambda x: x > 1), UNKNOWN_CARDINALITY, [*range(10), 2, 3]),
    ],
)
def test_concatenate_then_its_cardinality(second, cardinality, first_twelve):
    ds = numbers().concatenate(second())
    assert ds.cardinality() == cardinality and values(ds.take(12)) == first_twelve


def test_enumerate_and_filter():
    pairs = Dataset.from_tensor_slices((np.arange(6), np.arange(6) * 10)).enumerate(start=5)
    assert [(int(i), (int(x), int(y))) for i, (x, y) in pairs.take(2)] == [
        (5, (0, 0)),
        (6, (1, 10)),
    ]
    kept = pairs.filter(lambda i, element: i % 2 == 0)
    assert [int(i) for i, _ in kept] == [6, 8, 10] and kept.cardinality() == UNKNOWN_CARDINALITY
    assert values(numbers(5).filter(lambda x: x >= 3).map(lambda x: x * 2)) == [6, 8]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: Dataset.range(), ValueError, "range: give 1 to 3 ints"),
        (lambda: Dataset.range(1.5), ValueError, "range: give 1 to 3 ints"),
        (lambda: numbers().concatenate(np.arange(3)), TypeError, "concatenate: expected a Dataset"),
        (lambda: list(numbers().filter(lambda x: x)), ValueError, "scalar bool, got dtype int64"),
        (lambda: list(numbers(2).batch(2).filter(lambda x: x > 0)), ValueError, r"shape \(2,\)"),
    ],
)
def test_range_concatenate_and_filter_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def _jitter(points, label):
    """PointNet's augmentation, ported with NumPy noise: changes its input in place."""
    points += 0.5
    return points, label


@pytest.mark.parametrize(
    "make",
    [
        lambda x, y: Dataset.from_tensor_slices((x, y)),
        lambda x, y: Dataset.from_tensor_slices((x, y)).shuffle(4),
        lambda x, y: Dataset.from_tensor_slices((x, y)).cache(),
        lambda x, y: Dataset.from_tensors((x, y)).unbatch(),
        lambda x, y: Dataset.zip(Dataset.from_tensor_slices(x), Dataset.from_tensor_slices(y)),
    ],
)
def test_a_map_that_changes_its_input_in_place_changes_no_kept_data(make):
    """As tf.data's immutable elements: the user's arrays and later passes stay as they were
    (each pass jitters the points once; they drifted 0.5 further each epoch)."""
    x, y = np.zeros((4, 5, 3)), np.arange(4)
    ds = make(x, y).map(_jitter).batch(2)
    for _ in range(3):
        points = np.concatenate([np.asarray(p) for p, _ in ds])
        np.testing.assert_array_equal(points, np.full((4, 5, 3), 0.5))
    np.testing.assert_array_equal(x, np.zeros((4, 5, 3)))


@pytest.mark.parametrize(
    "texts", [np.array(["a", "bb"], dtype=object), np.array([b"x", b"yy"], dtype=object)]
)
def test_slices_of_an_object_array_of_texts_are_its_texts(texts):
    assert [e.numpy() for e in Dataset.from_tensor_slices(texts)] == list(texts)


def test_elements_changed_in_place_while_iterated_leave_the_source_as_it_was():
    x = np.arange(6.0).reshape(3, 2)
    for row in Dataset.from_tensor_slices(x).cache():
        row *= 10
    assert [np.asarray(row).tolist() for row in Dataset.from_tensor_slices(x)] == x.tolist()
    np.testing.assert_array_equal(x, np.arange(6.0).reshape(3, 2))
