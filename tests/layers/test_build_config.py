"""Each layer's build config (``get_build_config``, what a model file keeps for it) against
Keras 3.15: none for the layers Keras builds when they are made (pooling, activations,
dropout and noise, ``Reshape``, ``InputLayer``...), the input shape of the first build for the
others, whether they define a ``build`` of their own or not (``Flatten``, ``Rescaling``, a
user's layer); and ``built`` when a layer is made, True where Keras builds it then."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import autoconv as ac

# (layer, the input shape without the batch axis) of each case
LAYERS = {
    "Conv2D": (lambda L: L.Conv2D(2, 3), (6, 6, 2)),
    "MaxPooling2D": (lambda L: L.MaxPooling2D(), (6, 6, 2)),
    "AveragePooling1D": (lambda L: L.AveragePooling1D(2), (6, 2)),
    "GlobalAveragePooling2D": (lambda L: L.GlobalAveragePooling2D(), (6, 6, 2)),
    "GlobalMaxPooling1D": (lambda L: L.GlobalMaxPooling1D(), (6, 2)),
    "Dropout": (lambda L: L.Dropout(0.5), (4,)),
    "SpatialDropout2D": (lambda L: L.SpatialDropout2D(0.5), (6, 6, 2)),
    "AlphaDropout": (lambda L: L.AlphaDropout(0.5), (4,)),
    "GaussianNoise": (lambda L: L.GaussianNoise(0.1), (4,)),
    "GaussianDropout": (lambda L: L.GaussianDropout(0.1), (4,)),
    "ActivityRegularization": (lambda L: L.ActivityRegularization(), (4,)),
    "ReLU": (lambda L: L.ReLU(), (4,)),
    "LeakyReLU": (lambda L: L.LeakyReLU(), (4,)),
    "ELU": (lambda L: L.ELU(), (4,)),
    "Softmax": (lambda L: L.Softmax(), (4,)),
    "Activation": (lambda L: L.Activation("tanh"), (4,)),
    "PReLU": (lambda L: L.PReLU(), (4,)),
    "Identity": (lambda L: L.Identity(), (4,)),
    "Masking": (lambda L: L.Masking(), (3, 4)),
    "UnitNormalization": (lambda L: L.UnitNormalization(), (4,)),
    "LayerNormalization": (lambda L: L.LayerNormalization(), (4,)),
    "BatchNormalization": (lambda L: L.BatchNormalization(), (4,)),
    "Reshape": (lambda L: L.Reshape((2, 2)), (4,)),
    "Flatten": (lambda L: L.Flatten(), (2, 2)),
    "Permute": (lambda L: L.Permute((2, 1)), (2, 3)),
    "RepeatVector": (lambda L: L.RepeatVector(2), (4,)),
    "ZeroPadding2D": (lambda L: L.ZeroPadding2D(), (4, 4, 1)),
    "Cropping2D": (lambda L: L.Cropping2D(1), (4, 4, 1)),
    "UpSampling2D": (lambda L: L.UpSampling2D(), (4, 4, 1)),
    "Rescaling": (lambda L: L.Rescaling(0.5), (4,)),
    "Resizing": (lambda L: L.Resizing(2, 2), (4, 4, 1)),
    "Dense": (lambda L: L.Dense(2), (4,)),
}


def _build_config(lib: Any, case: str) -> Any:
    """The layer's build config once called in a functional graph, as JSON has it."""
    make, shape = LAYERS[case]
    layer = make(lib.layers)
    layer(lib.Input(shape))
    return json.loads(json.dumps(layer.get_build_config()))


@pytest.mark.parametrize("case", sorted(LAYERS))
def test_the_build_config_is_kerass(keras, case):
    assert _build_config(ac, case) == _build_config(keras, case)


def test_the_input_layer_has_no_build_config_as_in_keras(keras):
    for lib in (ac, keras):
        assert lib.layers.InputLayer(shape=(3,)).get_build_config() is None


def test_a_users_layer_without_a_build_keeps_its_input_shape(keras):
    """A layer of one's own with only ``call``: Keras's default build records the shape."""
    configs = []
    for lib in (ac, keras):

        class Doubled(lib.layers.Layer):
            def call(self, inputs: Any) -> Any:
                return inputs * 2

        layer = Doubled()
        assert layer.get_build_config() is None
        layer(lib.Input((5,)))
        configs.append(json.loads(json.dumps(layer.get_build_config())))
    assert configs[0] == configs[1] == {"input_shape": [None, 5]}


def _two_tensor_layers(lib: Any, seen: list) -> dict[str, Any]:
    """A user's layers called on two tensors, ``layer(x, y)``: without a build, with
    ``build(self, input_shape)``, and with ``build(self, x_shape, y_shape)``."""

    class Plain(lib.layers.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.dense = lib.layers.Dense(4)

        def call(self, x: Any, y: Any) -> Any:
            return self.dense(x) + y

    class OneShape(lib.layers.Layer):
        def build(self, input_shape: Any) -> None:
            seen.append(input_shape)
            self.w = self.add_weight(shape=(input_shape[-1],), name="w")

        def call(self, x: Any, y: Any) -> Any:
            return x * self.w + y

    class ByName(lib.layers.Layer):
        def build(self, x_shape: Any, y_shape: Any) -> None:
            seen.append((x_shape, y_shape))

        def call(self, x: Any, y: Any) -> Any:
            return x + y

    return {"Plain": Plain, "OneShape": OneShape, "ByName": ByName}


@pytest.mark.parametrize("case", ["Plain", "OneShape", "ByName"])
@pytest.mark.parametrize("eager", [False, True], ids=["symbolic", "eager"])
def test_a_users_layer_called_on_two_tensors_is_built_as_keras_builds_it(keras, case, eager):
    """Keras builds a user's layer called as ``layer(x, y)`` with the first tensor's shape
    (its default build, or a ``build(self, input_shape)``: keras.io's FNet decoder), or, for
    ``build(self, x_shape, y_shape)``, each by its call argument's name: the same shapes and
    build config here (autoconv gave such a build the list of both shapes)."""
    results = []
    for lib in (ac, keras):
        seen: list = []
        layer = _two_tensor_layers(lib, seen)[case]()
        if eager:
            layer(np.ones((2, 4), "float32"), np.ones((2, 4), "float32"))
        else:
            layer(lib.Input((4,)), lib.Input((4,)))
        config = json.loads(json.dumps(layer.get_build_config()))
        results.append((json.loads(json.dumps(seen)), config))
    assert results[0] == results[1]
    if case == "ByName":  # and built again from that config, as a model file's loading does
        seen = []
        layer = _two_tensor_layers(ac, seen)[case]()
        layer.build_from_config(results[0][1])
        shapes = results[0][1]["shapes_dict"]
        assert layer.built and json.loads(json.dumps(seen)) == [
            [shapes["x_shape"], shapes["y_shape"]]
        ]


def _attending(lib: Any, seen: list) -> Any:
    """A subclass of MultiHeadAttention with a build of its own, by the shapes' names."""

    class Attending(lib.layers.MultiHeadAttention):
        def build(self, query_shape: Any, value_shape: Any, key_shape: Any = None) -> None:
            seen.append((query_shape, value_shape, key_shape))
            super().build(query_shape, value_shape, key_shape)

    return Attending(num_heads=2, key_dim=2)


@pytest.mark.parametrize("eager", [False, True], ids=["symbolic", "eager"])
def test_a_users_build_by_names_of_a_multi_head_attention_as_keras(keras, eager):
    """A subclass of MultiHeadAttention with its own ``build(self, query_shape, value_shape,
    key_shape=None)`` gets the query's and the value's shapes by name, as Keras's (autoconv's
    layer takes its tensors as a list: the build got that list, and failed)."""
    results = []
    for lib in (ac, keras):
        seen: list = []
        layer = _attending(lib, seen)
        if eager:
            out = layer(np.ones((1, 3, 4), "float32"), np.ones((1, 5, 4), "float32"))
        else:
            out = layer(lib.Input((3, 4)), lib.Input((5, 4)))
        results.append((json.loads(json.dumps(seen)), tuple(out.shape)))


def _two_argument_layers(lib: Any) -> list[Any]:
    """A user's layers called as ``layer(a, b)`` (keras.io's ``CTCLayer()(labels, x)``): with
    the default build, a build of one shape, and one of each argument's shape."""
    seen: list[Any] = []

    class Default(lib.layers.Layer):
        def call(self, a: Any, b: Any) -> Any:
            return a + b

    class OneShape(Default):
        def build(self, input_shape: Any) -> None:
            seen.append(tuple(input_shape))

    class EachShape(Default):
        def build(self, a_shape: Any, b_shape: Any) -> None:
            seen.append((tuple(a_shape), tuple(b_shape)))
            self.w = self.add_weight(shape=(b_shape[-1],), initializer="ones")

    return [Default(), OneShape(), EachShape()], seen


@pytest.mark.parametrize("symbolic", [True, False])
def test_a_users_layer_of_two_tensors_builds_as_in_keras(keras, symbolic):
    """Keras's build of a user's layer called on two tensors gets the first one's shape, or
    each one's as ``<argument>_shape`` (then its build config is a ``shapes_dict``), in a
    functional graph and on arrays alike."""
    results = []
    for lib in (ac, keras):
        built, seen = _two_argument_layers(lib)
        for layer in built:
            if symbolic:
                layer(lib.Input((3,)), lib.Input((3,)))
            else:
                layer(np.ones((2, 3), "float32"), np.ones((2, 3), "float32"))
        configs = [json.loads(json.dumps(layer.get_build_config())) for layer in built]
        results.append((seen, configs))
    assert results[0] == results[1]
    batch = None if symbolic else 2
    assert results[0][1][2] == {"shapes_dict": {"a_shape": [batch, 3], "b_shape": [batch, 3]}}


def test_a_users_build_of_each_shape_is_rebuilt_from_kerass_shapes_dict():
    layer = _two_argument_layers(ac)[0][2]
    layer.build_from_config({"shapes_dict": {"a_shape": [None, 3], "b_shape": [None, 4]}})
    assert layer.built and tuple(layer.w.shape) == (4,)


def test_a_users_subclass_of_an_attention_layer_builds_on_two_tensors_as_in_keras(keras):
    """A subclass of ``MultiHeadAttention`` keeps its build of each shape, and a user's
    layer whose ``build(self, x_shape, ctx_shape)`` builds one: both as Keras's configs."""
    configs = []
    for lib in (ac, keras):

        class Subclass(lib.layers.MultiHeadAttention):
            pass

        class Cross(lib.layers.Layer):
            def __init__(self, attention: Any) -> None:
                super().__init__()
                self.attention = attention

            def build(self, x_shape: Any, ctx_shape: Any) -> None:
                self.attention.build(x_shape, ctx_shape)

            def call(self, x: Any, ctx: Any) -> Any:
                return self.attention(x, ctx)

        query, value = lib.Input((3, 4)), lib.Input((5, 4))
        built = [Subclass(2, 4), Cross(lib.layers.MultiHeadAttention(2, 4))]
        for layer in built:
            layer(query, value)
        configs.append([json.loads(json.dumps(layer.get_build_config())) for layer in built])
        assert len(built[1].weights) == 8
    assert configs[0] == configs[1]


@pytest.mark.parametrize("symbolic", [True, False])
def test_a_users_dense_called_on_two_tensors_builds_and_sizes_as_in_keras(keras, symbolic):
    """A user's Dense whose call adds a second tensor: Keras builds it for, and sizes its
    output from, the first tensor's shape (Dense's build and output shape take one)."""
    results = []
    for lib in (ac, keras):

        class Shifted(lib.layers.Dense):
            def call(self, x: Any, shift: Any) -> Any:
                return super().call(x) + shift

        layer = Shifted(4)
        if symbolic:
            out = layer(lib.Input((3,)), lib.Input((4,)))
        else:
            out = layer(np.ones((2, 3), "float32"), np.ones((2, 4), "float32"))
        results.append((tuple(out.shape), json.loads(json.dumps(layer.get_build_config()))))
    assert results[0] == results[1]


@pytest.mark.parametrize("case", sorted(LAYERS))
def test_a_layer_is_built_when_made_where_kerass_is(keras, case):
    """``built`` right after the layer is made (True for those Keras builds then), and after
    a first call; a wrong input still fails at that call, as the layer's build checks it."""
    make = LAYERS[case][0]
    ours, theirs = make(ac.layers), make(keras.layers)
    assert ours.built == theirs.built
    ours(ac.Input(LAYERS[case][1]))
    assert ours.built


def test_a_pooling_built_when_made_still_checks_its_first_input():
    with pytest.raises(ValueError, match="must be \\(batch, height, width, channels\\)"):
        ac.layers.MaxPooling2D()(ac.Input((4, 2)))
