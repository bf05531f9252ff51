"""How ``autoconv.ops`` gives its results: integer and bool results are NumPy arrays with the
``numpy()`` of Keras's tensors."""

from __future__ import annotations

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
