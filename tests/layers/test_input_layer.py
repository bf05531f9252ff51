"""InputLayer's Keras 2 spellings against Keras 3.15: ``input_shape`` (deprecated, with
Keras's warning, and taken over ``shape``) and ``batch_input_shape`` (as ``batch_shape``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autoconv as ac


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_shape": (28, 28, 1)},
        {"input_shape": (4,), "batch_size": 8},
        {"input_shape": (4,), "shape": (5,)},
        {"batch_input_shape": (2, 3)},
        {"shape": (6,)},
    ],
)
def test_keras_2_spellings_as_keras(keras, kwargs):
    results = []
    for lib in (ac, keras):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layer = lib.layers.InputLayer(**kwargs)
        results.append((tuple(layer.batch_shape), [str(w.message) for w in caught]))
    assert results[0] == results[1]
    deprecated = ["Argument `input_shape` is deprecated. Use `shape` instead."]
    assert results[0][1] == (deprecated if "input_shape" in kwargs else [])


@pytest.mark.parametrize("kwargs", [{"shape": 2}, {"batch_shape": 2}])
def test_a_shape_of_one_int_is_refused_as_keras(keras, kwargs):
    """keras.io's Real NVP ``Input(shape=input_shape)`` with ``input_shape=2``: Keras 3 cannot
    convert an int to a shape; neither does autoconv (a tuple, ``(2,)``, is a shape)."""
    for lib in (keras, ac):
        with pytest.raises(ValueError, match="Cannot convert '2' to a shape"):
            lib.Input(**kwargs)


def test_an_input_layers_input_is_its_tensor():
    """keras.io's handwriting recognizer: ``Model(model.get_layer("image").input, ...)``. The
    input layer's input is the tensor it produces, as tf.keras's (Keras 3 gives ``[]``, and
    that model fails as built on no input)."""
    image = ac.Input((4,), name="image")
    label = ac.Input((2,), name="label")
    dense = ac.layers.Dense(3, name="dense2")
    model = ac.Model([image, label], ac.layers.Concatenate()([dense(image), label]))
    assert model.get_layer("image").input is image
    prediction_model = ac.Model(model.get_layer("image").input, dense.output)
    assert prediction_model.predict(ac.ops.ones((2, 4)), verbose=0).shape == (2, 3)


@pytest.mark.parametrize("dtype", [np.int32, np.float64, np.dtype("int64"), bool, int])
def test_numpy_and_python_dtypes_as_kerass(keras, dtype):
    # Keras standardizes a NumPy type or dtype and Python's int and bool to its names
    assert ac.Input((2,), dtype=dtype).dtype == keras.Input((2,), dtype=dtype).dtype
