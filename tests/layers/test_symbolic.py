"""A user's layer called on a dict of symbolic tensors in a functional model, against Keras
3.15: the layer gets the dict (its build the dict of shapes), its weights have Keras's paths,
with the same weights both libraries give the same outputs, and the call is saved in the
model's config as Keras saves it (the dict of tensors by key)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import autoconv as ac

FEATURES = {"size": np.linspace(-1, 1, 6, dtype="float32"), "kind": np.array([0, 2, 1, 1, 0, 2])}


def _selection_layer(lib: Any, build_from_shapes: bool) -> Any:
    """A layer that embeds ``kind`` and projects ``size``, its sublayers made in ``__init__``
    (built by the first call) or in a ``build`` that reads the dict of shapes."""
    L = lib.layers

    class Selection(L.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.embedding = L.Embedding(3, 4, name="kind_embedding")
            self.project = L.Dense(4, name="project")

        def call(self, inputs: dict[str, Any]) -> Any:
            size = lib.ops.expand_dims(inputs["size"], -1)
            return self.embedding(inputs["kind"]) * self.project(size)

    class SelectionBuilt(Selection):
        def build(self, input_shape: dict[str, tuple]) -> None:
            self.scale = self.add_weight(shape=(len(input_shape), 4), name="scale")

        def call(self, inputs: dict[str, Any]) -> Any:
            return super().call(inputs) + lib.ops.sum(self.scale, axis=0)

    return (SelectionBuilt if build_from_shapes else Selection)(name="selection")


def _model(lib: Any, order: list[str], build_from_shapes: bool) -> Any:
    L = lib.layers
    dtypes = {"size": "float32", "kind": "int64"}
    inputs = {key: L.Input(shape=(), dtype=dtypes[key], name=key) for key in order}
    features = _selection_layer(lib, build_from_shapes)(inputs)
    return lib.Model(inputs, L.Dense(1, name="out")(features))


@pytest.mark.parametrize("build_from_shapes", [False, True])
@pytest.mark.parametrize("order", [["size", "kind"], ["kind", "size"]])
def test_layer_on_a_dict_of_inputs_as_keras(
    keras: Any, order: list[str], build_from_shapes: bool
) -> None:
    ours, theirs = _model(ac, order, build_from_shapes), _model(keras, order, build_from_shapes)
    assert [t.name for t in ours.inputs] == [t.name for t in theirs.inputs] == sorted(order)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    expected = np.asarray(theirs.predict(FEATURES, verbose=0))
    np.testing.assert_allclose(ours.predict(FEATURES, verbose=0), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("build_from_shapes", [False, True])
def test_a_call_on_a_dict_is_in_the_config_as_kerass(keras: Any, build_from_shapes: bool) -> None:
    ours, theirs = (_model(lib, ["size", "kind"], build_from_shapes) for lib in (ac, keras))

    def call_of(model: Any) -> Any:
        (entry,) = [e for e in model.get_config()["layers"] if e["name"] == "selection"]
        return json.loads(json.dumps(entry["inbound_nodes"]))  # (Keras's tuples as lists)

    assert call_of(ours) == call_of(theirs)
    layer = type(ours.get_layer("selection"))
    config = json.loads(json.dumps(theirs.get_config()))  # as a Keras file holds it
    copy = ac.Model.from_config(config, custom_objects={layer.__name__: layer})
    copy.set_weights([np.asarray(w) for w in theirs.get_weights()])
    expected = np.asarray(theirs.predict(FEATURES, verbose=0))
    np.testing.assert_allclose(copy.predict(FEATURES, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_a_symbolic_call_finds_its_shape_in_the_mode_keras_calls_it(keras: Any) -> None:
    """A user's layer whose ``call`` defaults to ``training=True`` (keras.io's MelGAN's
    ``MelSpec``) gives a functional graph the shape of that mode, and a ``training`` given to
    the symbolic call is the mode its shape is found in, as Keras's symbolic call."""

    def shapes(lib: Any) -> list[tuple[Any, ...]]:
        class Twice(lib.layers.Layer):
            def call(self, x: Any, training: bool = True) -> Any:
                return lib.ops.concatenate([x, x], axis=-1) if training else x

        class Plain(lib.layers.Layer):
            def call(self, x: Any, training: Any = None) -> Any:
                return lib.ops.concatenate([x, x], axis=-1) if training else x

        x = lib.Input((3,))
        calls = [Twice()(x), Plain()(x), Twice()(x, training=False), Plain()(x, training=True)]
        return [tuple(t.shape) for t in calls]

    assert shapes(ac) == shapes(keras) == [(None, 6), (None, 3), (None, 3), (None, 6)]
