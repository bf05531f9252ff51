"""keras.utils.pad_sequences against Keras 3.15's own (it needs no TensorFlow): lengths,
padding and truncating on either side, sample shapes, dtypes (strings too), empty sequences,
and Keras's errors, before any work."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoconv.utils import pad_sequences


@pytest.fixture(scope="module")
def keras_pad():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    return pytest.importorskip("keras").utils.pad_sequences


CASES: list[tuple[Any, dict[str, Any]]] = [
    ([[1, 2, 3], [4], []], {}),
    ([[1, 2, 3], [4], []], {"maxlen": 2, "padding": "post"}),
    ([[1, 2, 3], [4, 5]], {"maxlen": 2, "truncating": "post", "value": -1}),
    ([[[1, 2], [3, 4]], [[5, 6]]], {"dtype": "float32", "value": 0.5}),
    ([["a", "b"], ["c"]], {"dtype": object, "value": "<pad>"}),
    ([["a", "bb"], ["ccc"]], {"dtype": "<U3", "value": "", "padding": "post"}),
    ([np.arange(5), np.arange(2)], {"maxlen": 3, "dtype": "int64"}),
]  # fmt: skip


@pytest.mark.parametrize(("sequences", "kwargs"), CASES)
def test_cases_match_keras(keras_pad, sequences, kwargs):
    ours, theirs = pad_sequences(sequences, **kwargs), keras_pad(sequences, **kwargs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@settings(max_examples=40, deadline=None)
@given(
    sequences=st.lists(st.lists(st.integers(-5, 5), max_size=6), min_size=1, max_size=5),
    maxlen=st.one_of(st.none(), st.integers(1, 7)),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
)
def test_any_lists_match_keras(keras_pad, sequences, maxlen, padding, truncating):
    if maxlen is None and not any(sequences):
        return  # (no length to pad to)
    kwargs = {"maxlen": maxlen, "padding": padding, "truncating": truncating}
    expected = keras_pad(sequences, **kwargs)
    np.testing.assert_array_equal(pad_sequences(sequences, **kwargs), expected)


@pytest.mark.parametrize(
    ("sequences", "kwargs", "message"),
    [
        (5, {}, "`sequences` must be iterable"),
        ([[1], 2], {}, "`sequences` must be a list of iterables. Found non-iterable: 2"),
        ([[1]], {"padding": "middle"}, 'Padding type "middle" not understood'),
        ([[1]], {"truncating": "middle"}, 'Truncating type "middle" not understood'),
        ([[1]], {"value": "x"}, "is not compatible with `value`'s type"),
        ([[[1, 2]], [[1, 2, 3]]], {}, r"Shape of sample \(3,\) of sequence at position 1"),
    ],
)
def test_bad_input_is_kerass_error(sequences, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pad_sequences(sequences, **kwargs)
