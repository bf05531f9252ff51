"""InputSpec against real Keras 3.15 (its PyTorch backend, where installed): a layer's
``input_spec`` checked before each call, on arrays and on symbolic inputs, with Keras's error
for each broken expectation; the spec's repr and config."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac

# (InputSpec arguments, an input shape it accepts, one it refuses)
SPECS: list[tuple[dict[str, Any], tuple[int, ...], tuple[int, ...]]] = [
    ({"ndim": 3}, (2, 4, 3), (2, 4)),
    ({"min_ndim": 3}, (2, 4, 3, 1), (2, 4)),
    ({"max_ndim": 2}, (2, 4), (2, 4, 3)),
    ({"ndim": 3, "axes": {-1: 3}}, (2, 4, 3), (2, 4, 2)),
    ({"min_ndim": 2, "axes": {1: 4}}, (2, 4, 5), (2, 5, 4)),
    ({"shape": (None, 4, 3)}, (5, 4, 3), (5, 3, 3)),
    ({"shape": (None, 28, 28, 1), "allow_last_axis_squeeze": True}, (2, 28, 28), (2, 28, 27)),
    ({"dtype": "float32", "ndim": 2}, (2, 3), None),
]  # fmt: skip


def _layer(lib: Any, spec: dict[str, Any]) -> Any:
    class Checked(lib.layers.Layer):
        def __init__(self) -> None:
            super().__init__(name="checked")
            self.input_spec = lib.layers.InputSpec(**spec)

        def call(self, inputs: Any) -> Any:
            return inputs

    return Checked()


def _error(call: Any) -> str | None:
    try:
        call()
    except ValueError as error:
        return str(error)
    return None


@pytest.mark.parametrize(("spec", "good", "bad"), SPECS)
def test_calls_are_checked_as_keras_checks_them(keras, spec, good, bad):
    for lib in (ac, keras):
        assert _error(lambda lib=lib: _layer(lib, spec)(np.ones(good, "float32"))) is None
    if bad is None:
        return
    ours = _error(lambda: _layer(ac, spec)(np.ones(bad, "float32")))
    theirs = _error(lambda: _layer(keras, spec)(np.ones(bad, "float32")))
    assert ours == theirs.replace("torch.Size(", "(").replace("]", ")").replace("[", "(")
    assert ours is not None and "checked" in ours


@pytest.mark.parametrize(("spec", "good", "bad"), SPECS[:6])
def test_symbolic_calls_are_checked_too(keras, spec, good, bad):
    ours = _error(lambda: _layer(ac, spec)(ac.Input(bad[1:])))
    theirs = _error(lambda: _layer(keras, spec)(keras.Input(bad[1:])))
    assert ours == theirs and ours is not None


def test_a_dtype_is_checked_on_the_input_given():
    layer = _layer(ac, {"dtype": "int32"})
    with pytest.raises(ValueError, match="expected dtype=int32, found dtype=float32"):
        layer(np.ones((2, 3), "float32"))
    layer(np.ones((2, 3), "int32"))


def test_a_list_of_specs_checks_each_input_and_their_count():
    layer = _layer(ac, {})
    layer.input_spec = [ac.layers.InputSpec(ndim=2), ac.layers.InputSpec(ndim=3)]
    layer([np.ones((2, 3)), np.ones((2, 3, 1))])
    with pytest.raises(ValueError, match=r"Input 1 with name 'None' .* expected ndim=3"):
        layer([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match='Layer "checked" expects 2 input'):
        layer([np.ones((2, 3))])


def test_repr_config_and_bad_arguments_match_keras(keras):
    kwargs = {"shape": (None, 4), "axes": {1: 4}}
    ours, theirs = ac.layers.InputSpec(**kwargs), keras.layers.InputSpec(**kwargs)
    assert repr(ours) == repr(theirs)
    assert ours.get_config() == theirs.get_config()
    assert ac.layers.InputSpec.from_config(ours.get_config()).get_config() == ours.get_config()
    with pytest.raises(TypeError, match="Argument `axes` must be a dict with integer keys"):
        ac.layers.InputSpec(axes={"a": 1})
    with pytest.raises(ValueError, match="Axis 3 is greater than the maximum allowed value: 1"):
        ac.layers.InputSpec(ndim=2, axes={3: 1})
    assert ac.InputSpec is ac.layers.InputSpec
