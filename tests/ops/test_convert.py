"""How ``autoconv.ops`` gives its results: integer and bool results are NumPy arrays with the
``numpy()`` of Keras's tensors."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from autoconv import ops

X = np.array([[3.0, 1.0, 2.0], [0.5, 4.0, -1.0]], dtype="float32")

INTEGER_RESULTS = {
    "argmin": lambda o: o.argmin(X, axis=1),
    "argmax": lambda o: o.argmax(X, axis=-1),
    "argsort": lambda o: o.argsort(X, axis=1),
    "top_k indices": lambda o: o.top_k(X, k=2)[1],
    "equal": lambda o: o.equal(X, 1.0),
    "nonzero": lambda o: o.nonzero(X > 1.0)[0],
}


@pytest.mark.parametrize("name", list(INTEGER_RESULTS))
def test_integer_results_have_numpy_as_keras_tensors(name: str, keras: Any) -> None:
    ours = INTEGER_RESULTS[name](ops).numpy()
    theirs = INTEGER_RESULTS[name](keras.ops).cpu().numpy()
    assert type(ours) is np.ndarray
    np.testing.assert_array_equal(ours, theirs)
    assert ours.dtype.kind == theirs.dtype.kind


@pytest.mark.parametrize("name", list(INTEGER_RESULTS))
def test_integer_results_still_compute_as_numpy_arrays(name: str) -> None:
    result = INTEGER_RESULTS[name](ops)
    assert isinstance(result, np.ndarray)
    assert repr(result) == repr(np.asarray(result))
    np.testing.assert_array_equal(ops.convert_to_numpy(result), np.asarray(result))


def test_an_item_of_an_integer_result_keeps_numpy_as_a_tensors(keras: Any) -> None:
    """keras.io's PointNet labels its plots with ``preds[i].numpy()`` of ``ops.argmax``'s
    result: an item of it is a 0-d array with ``numpy()``, as Keras's tensors' items are."""
    ours, theirs = ops.argmax(X, axis=-1), keras.ops.argmax(X, axis=-1).cpu()
    assert [item.numpy() for item in ours] == [item.numpy() for item in theirs] == [0, 1]
    assert ours[1].shape == () and type(ours[1].numpy()) is np.int32
    assert ["a", "b"][ours[1]] == "b" and int(ours[0]) == 0  # an index, a number
    assert {0: "a", 1: "b"}[ours[1]] == "b"  # a key: hashed as its value
    assert Counter(ours) == {0: 1, 1: 1}
    with pytest.raises(TypeError, match="unhashable"):
        hash(ours)
    assert ops.equal(X, 1.0)[0, 1].numpy() is np.True_


def test_a_scalar_result_has_numpy_as_a_0d_tensor(keras: Any) -> None:
    """keras.io's DQN picks its action with ``ops.argmax(action_probs[0]).numpy()``: a result
    of no axes (a vector's argmax, ``all``, ``any``) is a 0-d array with ``numpy()``, as
    Keras's 0-d tensor, not a NumPy scalar without it."""
    for name in ("argmax", "argmin", "all", "any"):
        ours = getattr(ops, name)(X[0])
        theirs = getattr(keras.ops, name)(X[0]).cpu().numpy()
        assert ours.shape == () and ours.numpy() == theirs and ours.dtype == theirs.dtype
    assert ["a", "b", "c"][ops.argmax(X[1])] == "b" and int(ops.argmin(X[0])) == 1
