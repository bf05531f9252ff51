"""TensorSpec, Dataset.from_generator (its signature's dtypes, structure and shapes checked as
TensorFlow checks them) and padded_batch (padded shapes and values), and a fit on each."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as keras
from autoconv.data import UNKNOWN_CARDINALITY, Dataset, TensorSpec


def counting(limit=4):
    """TensorFlow's from_generator example: (i, [1] * i) for i = 1, 2, ..."""
    for i in range(1, limit):
        yield i, [1] * i


SIGNATURE = (TensorSpec(shape=(), dtype="int64"), TensorSpec(shape=(None,), dtype="int32"))


def test_tensor_spec():
    spec = TensorSpec([None, 3], "float32", name="x")
    assert spec.shape == (None, 3) and spec.dtype == np.float32 and spec.name == "x"
    assert repr(spec) == "TensorSpec(shape=(None, 3), dtype=float32, name='x')"
    assert spec == TensorSpec((-1, 3), np.float32, "x") and spec != TensorSpec((2, 3), name="x")
    assert spec.is_compatible_with(np.zeros((5, 3), np.float32))
    assert not spec.is_compatible_with(np.zeros((5, 4), np.float32))
    assert not spec.is_compatible_with(np.zeros((5, 3), np.float64))
    assert TensorSpec(None, "string").is_compatible_with(np.array(["a"], dtype=object))
    with pytest.raises(ValueError, match="is not a shape"):
        TensorSpec(["a"])


def test_from_generator_follows_its_signature_every_pass():
    ds = Dataset.from_generator(counting, output_signature=SIGNATURE)
    assert ds.cardinality() == UNKNOWN_CARDINALITY
    for _ in range(2):  # each pass calls the generator again
        got = list(ds.as_numpy_iterator())
        assert [(int(i), s.tolist()) for i, s in got] == [(1, [1]), (2, [1, 1]), (3, [1, 1, 1])]
        assert [(i.dtype, s.dtype) for i, s in got] == [(np.int64, np.int32)] * 3


def test_from_generator_with_args_and_the_older_output_types():
    def repeated(value, times):
        for _ in range(times):
            yield {"v": value}

    ds = Dataset.from_generator(
        repeated, output_types={"v": "float32"}, output_shapes={"v": []}, args=(2.5, 3)
    )
    got = list(ds.as_numpy_iterator())
    assert [e["v"].tolist() for e in got] == [2.5] * 3 and got[0]["v"].dtype == np.float32
    untyped = Dataset.from_generator(repeated, args=(1, 2))
    assert [e["v"] for e in untyped.as_numpy_iterator()] == [1, 1]


@pytest.mark.parametrize(
    "signature, error, message",
    [
        ((TensorSpec(()), TensorSpec((2,))), ValueError, r"shape \(1,\) where .* \(2,\)"),
        (TensorSpec(()), TypeError, "could not be converted to the expected type"),
        ((TensorSpec(()),) * 3, TypeError, "did not match the expected structure"),
    ],
)
def test_from_generator_errors_at_the_element(signature, error, message):
    ds = Dataset.from_generator(counting, output_signature=signature)
    with pytest.raises(error, match=message):
        list(ds)


def test_from_generator_argument_errors():
    with pytest.raises(TypeError, match="must be callable"):
        Dataset.from_generator(counting())
    with pytest.raises(TypeError, match="not both"):
        Dataset.from_generator(counting, output_types="int32", output_signature=TensorSpec(()))
    with pytest.raises(TypeError, match="is not a structure of TensorSpecs"):
        Dataset.from_generator(counting, output_signature=("int32", "int32"))
    with pytest.raises(TypeError, match="`output_shapes` needs `output_types`"):
        Dataset.from_generator(counting, output_shapes=[None])


def test_from_tensors_is_one_element():
    ds = Dataset.from_tensors((np.arange(3), {"b": 7}))
    (element,) = list(ds)
    assert element[0].tolist() == [0, 1, 2] and element[1]["b"] == 7 and len(ds) == 1


@pytest.mark.parametrize("drop_remainder", [False, True])
def test_padded_batch_pads_to_the_batch_s_largest(drop_remainder):
    # TensorFlow's padded_batch example: range(1, 6) mapped to fill([x], x), batches of 2
    ds = (
        Dataset.range(1, 6)
        .map(lambda x: np.full([x], x))
        .padded_batch(2, drop_remainder=drop_remainder)
    )
    expected = [[[1, 0], [2, 2]], [[3, 3, 3, 0], [4, 4, 4, 4]], [[5, 5, 5, 5, 5]]]
    expected = expected[:2] if drop_remainder else expected
    assert values_of(ds) == expected and ds.cardinality() == len(expected)


def values_of(ds):
    return [np.asarray(e).tolist() for e in ds]


@pytest.mark.parametrize(
    "padded_shapes, padding_values, expected",
    [
        ([5], None, [[1, 0, 0, 0, 0], [2, 2, 0, 0, 0]]),  # a fixed size
        ([-1], -1, [[1, -1], [2, 2]]),  # -1: the batch's largest
        (None, 9, [[1, 9], [2, 2]]),
    ],
)
def test_padded_batch_shapes_and_values(padded_shapes, padding_values, expected):
    ds = (
        Dataset.range(1, 3)
        .map(lambda x: np.full([x], x))
        .padded_batch(2, padded_shapes=padded_shapes, padding_values=padding_values)
    )
    assert values_of(ds) == [expected]


def test_padded_batch_of_structures_texts_and_scalars():
    ds = Dataset.from_generator(counting, output_signature=SIGNATURE).padded_batch(
        3, padded_shapes=([], [None]), padding_values=(np.int64(0), np.int32(-1))
    )
    ((numbers, ones),) = list(ds.as_numpy_iterator())
    assert numbers.tolist() == [1, 2, 3] and numbers.dtype == np.int64
    assert ones.tolist() == [[1, -1, -1], [1, 1, -1], [1, 1, 1]] and ones.dtype == np.int32
    words = Dataset.from_tensor_slices(np.array(["a b", "c"])).map(lambda t: np.array(t.split()))
    assert values_of(words.padded_batch(2)) == [[["a", "b"], ["c", ""]]]


def test_padded_batch_errors():
    ragged = Dataset.range(1, 4).map(lambda x: np.full([x], x))
    with pytest.raises(ValueError, match="pad to a smaller size than the input element"):
        list(ragged.padded_batch(3, padded_shapes=[2]))
    with pytest.raises(ValueError, match=r"padded shape .* for elements of rank 1"):
        list(ragged.padded_batch(3, padded_shapes=[None, None]))
    with pytest.raises(ValueError, match="ranks differ"):
        list(Dataset.from_generator(lambda: iter([np.zeros(2), np.zeros((2, 2))])).padded_batch(2))
    with pytest.raises(ValueError, match="does not have the elements' structure"):
        list(Dataset.from_generator(counting, output_signature=SIGNATURE).padded_batch(2, [None]))
    with pytest.raises(ValueError, match="padded_batch: batch_size must be a positive int"):
        ragged.padded_batch(0)


def test_fit_on_padded_batches_equals_fit_on_the_padded_arrays():
    """Masked padding: a batch padded to its own longest sequence trains as one padded to the
    longest of all."""
    rng = np.random.default_rng(0)
    sequences = [rng.integers(1, 20, size=n) for n in rng.integers(1, 9, size=24)]
    labels = np.array([len(s) > 4 for s in sequences], np.float32)

    def reviews():
        yield from zip(sequences, labels, strict=True)

    signature = (TensorSpec((None,), "int32"), TensorSpec((), "float32"))
    padded = Dataset.from_generator(reviews, output_signature=signature).padded_batch(8)
    whole = np.zeros((24, max(map(len, sequences))), np.int32)
    for row, sequence in zip(whole, sequences, strict=True):
        row[: len(sequence)] = sequence
    losses = []
    for ds in (padded, Dataset.from_tensor_slices((whole, labels)).batch(8)):
        keras.utils.set_random_seed(1)
        model = keras.Sequential(
            [
                keras.Input((None,), dtype="int32"),
                keras.layers.Embedding(20, 4, mask_zero=True),
                keras.layers.LSTM(3),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile("adam", "binary_crossentropy")
        losses.append(model.fit(ds, epochs=2, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
