"""DatasetArray: what iterating a Dataset yields is a NumPy array with TF's ``.numpy()`` (on
batches, their items and slices, and the elements of every kind of dataset), an ndarray in
every other way; the pipeline's stages, ``as_numpy_iterator`` and the training loop see plain
arrays."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from autoconv.data import Dataset
from autoconv.data.epochs import epochs_of
from autoconv.data.structure import DatasetArray, DatasetText
from autoconv.utils import (
    image_dataset_from_directory,
    text_dataset_from_directory,
    timeseries_dataset_from_array,
)
from tests.data.test_directory import write_numbered
from tests.data.test_text_directory import make_folder


def images_folder(tmp_path):
    write_numbered(tmp_path, [3, 2])
    return image_dataset_from_directory(tmp_path, image_size=(3, 4), batch_size=2, verbose=False)


def texts_folder(tmp_path):
    make_folder(tmp_path)
    return text_dataset_from_directory(tmp_path, batch_size=4, verbose=False)


def series(tmp_path):
    return timeseries_dataset_from_array(np.arange(20.0).reshape(10, 2), np.arange(10), 3)


def slices(tmp_path):
    return Dataset.from_tensor_slices((np.ones((5, 2, 2), np.float32), np.arange(5))).batch(2)


def unbatched(tmp_path):
    return Dataset.from_tensor_slices((np.ones((5, 2, 2), np.float32), np.arange(5)))


def single_texts(tmp_path):
    make_folder(tmp_path)
    return text_dataset_from_directory(tmp_path, batch_size=None, verbose=False)


def is_plain(value):
    return type(value) is np.ndarray or isinstance(value, np.generic | str)


@pytest.mark.parametrize(
    "make", [images_folder, texts_folder, series, slices, unbatched, single_texts]
)
def test_every_leaf_and_its_items_have_numpy_giving_plain_numpy(tmp_path, make):
    dataset = make(tmp_path)
    for x, y in dataset.take(1):
        for leaf in (x, y):
            assert isinstance(leaf, DatasetArray | DatasetText)  # (a single text: a str)
            plain = leaf.numpy()
            assert is_plain(plain) and np.array_equal(plain, np.asarray(leaf))
            if getattr(leaf, "ndim", 0):  # an item and a slice keep numpy(), as TF's tensors
                assert is_plain(leaf[0].numpy()) and np.array_equal(leaf[0].numpy(), plain[0])
                assert type(leaf[:1].numpy()) is np.ndarray
    x, y = next(dataset.as_numpy_iterator())
    assert is_plain(x) and is_plain(y)


def test_text_batches_keep_python_strings_and_print_as_numpy(tmp_path):
    (batch, _), *_ = list(texts_folder(tmp_path))
    plain = batch.numpy()
    assert batch.dtype == object and type(plain) is np.ndarray
    assert batch[1].numpy() == plain[1] and type(batch[1].numpy()) is str
    assert batch[1][:3] == plain[1][:3]  # an item is a str: keras.io's text_batch[i][:200]
    assert [text.numpy() for text in batch] == plain.tolist()
    assert str(batch) == str(plain) and repr(batch) == repr(plain)


@pytest.mark.parametrize(
    ("use", "keeps_numpy"),
    [
        (lambda a: a * 2 + 1, True),
        (lambda a: a.astype("uint8"), True),
        (lambda a: pickle.loads(pickle.dumps(a)), True),
        (lambda a: a.sum(axis=0), True),
        (lambda a: np.concatenate([a, a])[1:3], False),  # NumPy's functions give plain arrays
    ],
)
def test_everything_else_is_numpy(use, keeps_numpy):
    plain = np.arange(6.0).reshape(2, 3)
    (batch,) = list(Dataset.from_tensor_slices(plain).batch(2))
    assert batch.shape == plain.shape and batch.dtype == plain.dtype
    assert type(np.asarray(batch)) is np.ndarray
    result = use(batch)
    assert isinstance(result, DatasetArray) == keeps_numpy
    assert np.array_equal(result, use(plain)) and result.dtype == use(plain).dtype


def test_scalars_become_0d_arrays_whose_numpy_is_a_numpy_scalar():
    labels = [label for _, label in Dataset.from_tensor_slices((np.zeros(3), np.arange(3)))]
    assert [label.shape for label in labels] == [()] * 3
    assert [type(label.numpy()) for label in labels] == [np.int64] * 3
    assert ["abc"[label] for label in labels] == ["a", "b", "c"]


def test_stages_and_the_training_loop_take_plain_arrays():
    seen = []
    dataset = Dataset.from_tensor_slices((np.ones((4, 2)), np.arange(4))).batch(2)
    mapped = dataset.map(lambda x, y: seen.append(type(x)) or (x, y))
    passed = [x for _, (x, _, _) in epochs_of(mapped).epoch(False, None, 0, 0)]
    assert seen == [np.ndarray] * 2 and [type(x) for x in passed] == [np.ndarray] * 2
