"""``load_weights(..., skip_mismatch=True)`` as Keras 3.15's saving guide uses it: the layers
whose weights in the file do not fit the model (another shape, another count, none there) are
left out with Keras's warning, the others loaded; without it the file is refused whole."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv.saving.files import ModelFileError


def _numpy(value: Any) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def _model(lib: Any, classes: int, hidden: int = 3) -> Any:
    inputs = lib.Input((4,))
    x = lib.layers.Dense(hidden, name="hidden")(inputs)
    return lib.Model(inputs, lib.layers.Dense(classes, name="predictions")(x))


@pytest.mark.parametrize("writer", ["autoconv", "keras"])
def test_skip_mismatch_loads_the_layers_that_fit_as_keras(tmp_path, keras, writer):
    source = ac if writer == "autoconv" else keras
    trained = _model(source, 5)
    path = tmp_path / "pretrained.weights.h5"
    trained.save_weights(path)
    first_lines = []
    for lib in (ac, keras):
        target = _model(lib, 2)
        fresh = [_numpy(w) for w in target.get_weights()]
        with pytest.warns(UserWarning, match="A total of 1 objects could not be loaded") as got:
            target.load_weights(path, skip_mismatch=True)
        message = next(str(w.message) for w in got if "A total of" in str(w.message))
        first_lines.append(message.splitlines()[0])
        loaded = [_numpy(w) for w in target.get_weights()]
        for ours, theirs in zip(loaded[:2], trained.get_weights()[:2], strict=True):
            np.testing.assert_array_equal(ours, _numpy(theirs))  # the hidden layer's
        for ours, theirs in zip(loaded[2:], fresh[2:], strict=True):
            np.testing.assert_array_equal(ours, theirs)  # the predictions' left as they were
    assert first_lines[0] == first_lines[1]


def test_without_skip_mismatch_nothing_is_loaded(tmp_path):
    path = tmp_path / "pretrained.weights.h5"
    _model(ac, 5).save_weights(path)
    target = _model(ac, 2)
    fresh = target.get_weights()
    with pytest.raises(ModelFileError, match=r"predictions/kernel has shape \(3, 5\)"):
        target.load_weights(path)
    for ours, theirs in zip(target.get_weights(), fresh, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_skip_mismatch_skips_a_layer_of_another_shape_but_not_a_damaged_file(tmp_path):
    import h5py

    path = tmp_path / "pretrained.weights.h5"
    _model(ac, 2, hidden=6).save_weights(path)
    target = _model(ac, 2)
    with pytest.warns(UserWarning, match="A total of 2 objects"):
        target.load_weights(path, skip_mismatch=True)  # (both layers' kernels differ)
    with h5py.File(path, "a") as h5:
        group = h5["layers/dense/vars"]
        del group["1"]
        group.create_dataset("1", data=np.full(6, np.nan, np.float32))
    with pytest.raises(ModelFileError, match="holds NaN"):
        _model(ac, 2, hidden=6).load_weights(path, skip_mismatch=True)
