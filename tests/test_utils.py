"""Keras's helpers: to_categorical and set_random_seed, and what they refuse."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac


def test_to_categorical_like_keras():
    np.testing.assert_array_equal(ac.utils.to_categorical([0, 2]), [[1, 0, 0], [0, 0, 1]])
    assert ac.utils.to_categorical([[1], [0]]).shape == (2, 2)  # a trailing axis of 1 drops
    assert ac.utils.to_categorical(np.array([0.0, 1.0]), np.int64(3)).shape == (2, 3)
    assert ac.utils.to_categorical(np.array([1], np.uint8), 2).dtype == np.float64  # Keras's


@pytest.mark.parametrize(
    ("labels", "num_classes", "message"),
    [
        ([0, -1], None, "labels must be non-negative class indices, got -1"),
        ([0, 1.5], None, r"labels must be whole numbers .* values \[0\.0, 1\.5\]"),
        ([np.nan], None, "labels must be whole numbers"),
        ([np.inf], 3, "labels must be whole numbers"),
        (["a"], None, "labels must be whole numbers"),
        ([0, 3], 3, r"label 3 does not fit num_classes=3 \(labels must lie in \[0, 3\)\)"),
        ([0, 1], 0, "num_classes must be a positive int, got 0"),
        ([0, 1], -2, "num_classes must be a positive int, got -2"),
        ([0, 1], 2.5, "num_classes must be a positive int, got 2.5"),
        ([0, 1], "3", "num_classes must be a positive int, got '3'"),
        ([0, 10**12], None, "asks for more than 2147483647 classes"),
        ([], None, "num_classes is required for empty labels"),
    ],
)
def test_to_categorical_refuses_what_is_not_a_class_index(labels, num_classes, message):
    with pytest.raises(ValueError, match=f"to_categorical: .*{message}"):
        ac.utils.to_categorical(labels, num_classes)


@pytest.mark.parametrize("seed", [1.5, "3", True, None, [1]])
def test_set_random_seed_wants_an_integer_as_keras(seed):
    with pytest.raises(ValueError, match=r"Expected `seed` argument to be an integer\. Received"):
        ac.utils.set_random_seed(seed)


def test_set_random_seed_takes_numpy_integers_and_refuses_negative_ones():
    ac.utils.set_random_seed(np.int64(3))
    a = ac.random.generator().random()
    ac.utils.set_random_seed(3)
    assert ac.random.generator().random() == a
    with pytest.raises(ValueError, match="non-negative"):
        ac.utils.set_random_seed(-1)
