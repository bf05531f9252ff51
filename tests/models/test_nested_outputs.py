"""Functional models whose outputs nest lists and tuples in a list or tuple, as Keras 3's
(``Model(inputs, [[a, b], c])``, or a layer's several outputs among others), against real
Keras 3.15 on its PyTorch backend, the same weights in both: the outputs flattened depth first,
and given back nested by ``output``, a call, ``predict``, ``compute_output_shape`` and the
config (which makes the same model again)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import autoconv as ac

X = np.linspace(-1, 1, 24, dtype="float32").reshape(6, 4)


def _model(lib: Any, nesting: str) -> Any:
    """One input, three Dense heads (a, b, c) nested as ``nesting`` says."""
    layers = lib.layers
    inputs = lib.Input((4,), name="x")
    a = layers.Dense(2, name="a")(inputs)
    b = layers.Dense(3, name="b")(inputs)
    c = layers.Dense(1, name="c")(inputs)
    outputs = {"[[a, b], c]": [[a, b], c], "([a, b], c)": ([a, b], c), "[a, (b, c)]": [a, (b, c)]}
    return lib.Model(inputs, outputs[nesting])


def _pair(keras: Any, nesting: str) -> tuple[Any, Any]:
    ours, theirs = _model(ac, nesting), _model(keras, nesting)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _shape_of(value: Any) -> Any:
    """The nesting of ``value`` with each array as its shape."""
    if isinstance(value, list | tuple):
        return type(value)(_shape_of(v) for v in value)
    return tuple(np.shape(value))


NESTINGS = ["[[a, b], c]", "([a, b], c)", "[a, (b, c)]"]


@pytest.mark.parametrize("nesting", NESTINGS)
def test_the_outputs_are_flattened_depth_first_as_kerass(keras, nesting):
    ours, theirs = _pair(keras, nesting)
    assert [tuple(t.shape) for t in ours.outputs] == [tuple(t.shape) for t in theirs.outputs]
    assert _shape_of_symbolic(ours.output) == _shape_of_symbolic(theirs.output)
    assert ours.compute_output_shape((None, 4)) == theirs.compute_output_shape((None, 4))


def _shape_of_symbolic(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return type(value)(_shape_of_symbolic(v) for v in value)
    return tuple(value.shape)


@pytest.mark.parametrize("nesting", NESTINGS)
@pytest.mark.parametrize("run", ["call", "predict", "predict_on_batch"])
def test_the_outputs_come_back_nested_as_kerass(keras, nesting, run):
    ours, theirs = _pair(keras, nesting)
    if run == "call":
        got, expected = ours(X), theirs(X)
        got = _numpy(got, lambda t: t.numpy())
        expected = _numpy(expected, lambda t: keras.ops.convert_to_numpy(t))
    elif run == "predict":
        got, expected = ours.predict(X, verbose=0), theirs.predict(X, verbose=0)
    else:
        got, expected = ours.predict_on_batch(X), theirs.predict_on_batch(X)
    assert _shape_of(got) == _shape_of(expected)
    np.testing.assert_allclose(_flat(got), _flat(expected), rtol=1e-5, atol=1e-6)


def _numpy(value: Any, to_numpy: Any) -> Any:
    if isinstance(value, list | tuple):
        return type(value)(_numpy(v, to_numpy) for v in value)
    return to_numpy(value)


def _flat(value: Any) -> np.ndarray:
    if isinstance(value, list | tuple):
        return np.concatenate([_flat(v) for v in value], axis=-1)
    return np.asarray(value)


@pytest.mark.parametrize("nesting", NESTINGS)
def test_the_config_keeps_the_nesting_both_ways(keras, nesting):
    ours, theirs = _pair(keras, nesting)
    configs = [json.loads(json.dumps(m.get_config())) for m in (ours, theirs)]
    assert configs[0]["output_layers"] == configs[1]["output_layers"]
    for config in configs:
        again, theirs_again = ac.Model.from_config(config), keras.Model.from_config(config)
        again.set_weights(theirs.get_weights())
        theirs_again.set_weights(theirs.get_weights())
        got, expected = again.predict(X, verbose=0), theirs_again.predict(X, verbose=0)
        assert _shape_of(got) == _shape_of(expected)
        np.testing.assert_allclose(_flat(got), _flat(expected), rtol=1e-5, atol=1e-6)
