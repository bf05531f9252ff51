"""``clone_model`` (Keras's ``keras.models.clone_model``): Sequential and functional models
(branches, nested models, shared layers, ``keras.ops`` calls) cloned with new weights, the same
configs, and the same outputs once given the original's weights; ``clone_function``,
``call_function``, ``recursive`` and ``input_tensors``; subclassed models through their config;
Keras's errors. With real Keras installed, Keras's clones of the same models have the same
layers, names and configs."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.models import clone_model
from tests.models.two_libraries import branches

TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}


# ------------------------------------------------------------------ the models, in either library
def stack(lib: Any) -> Any:
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((4,), name="pixels"),
            L.Dense(5, activation="relu", name="hidden"),
            L.BatchNormalization(name="norm"),
            L.Dropout(0.2, name="drop"),
            L.Dense(3, activation="softmax", name="probabilities"),
        ],
        name="stack",
    )


def built_later(lib: Any) -> Any:
    """A Sequential given its input shape by ``build``, after its layers."""
    model = lib.Sequential([lib.layers.Dense(3, name="d1"), lib.layers.Dense(2, name="d2")])
    model.build((None, 6))
    return model


def images(lib: Any) -> Any:
    """Convolutions the plan fuses with their pooling and batch normalization."""
    L = lib.layers
    inputs = lib.Input((8, 8, 1), name="image")
    x = L.MaxPooling2D(name="pool")(L.Conv2D(4, 3, activation="relu", name="conv")(inputs))
    x = L.ReLU(name="relu")(L.BatchNormalization(name="bn")(L.Conv2D(4, 3, name="conv2")(x)))
    return lib.Model(inputs, L.Dense(2, name="out")(L.Flatten(name="flat")(x)), name="images")


def nested(lib: Any) -> Any:
    """A Sequential and a two-input functional model inside a functional model with inputs by
    name, an explicit ``training``, and a ``keras.ops`` call on symbolic tensors."""
    L = lib.layers
    left, right = lib.Input((4,), name="left"), lib.Input((4,), name="right")
    pair = lib.Model([left, right], L.subtract([left, right], name="difference"), name="pair")
    inner = lib.Sequential([lib.Input((4,), name="inner_in"), L.Dense(4, name="inner")], name="s")
    a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
    x = L.Dropout(0.5, name="drop")(pair([a, inner(b)]), training=False) * 2.0
    return lib.Model({"a": a, "b": b}, L.Dense(2, name="out")(x), name="nested")


MODELS = [stack, built_later, images, branches, nested]


def _inputs(model: Any, n: int = 3) -> Any:
    rng = np.random.default_rng(5)
    arrays = [rng.random((n, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    if isinstance(model, ac.models.Functional) and isinstance(model.input, dict):
        return dict(zip(model.input, arrays, strict=True))
    return arrays if len(arrays) > 1 else arrays[0]


def _outputs(model: Any, x: Any) -> list[np.ndarray]:
    out = model.predict(x, verbose=0)
    return out if isinstance(out, list) else [out]


def _targets(model: Any, x: Any) -> Any:
    outputs = _outputs(model, x)
    targets = [np.random.default_rng(6).random(o.shape).astype(np.float32) for o in outputs]
    return targets if len(targets) > 1 else targets[0]


def _same_outputs(clone: Any, model: Any) -> None:
    x = _inputs(model)
    for ours, theirs in zip(_outputs(clone, x), _outputs(model, x), strict=True):
        np.testing.assert_allclose(ours, theirs, **TOLERANCE)


# ----------------------------------------------------------------------------- the clones
@pytest.mark.parametrize("build", MODELS)
def test_a_clone_has_the_same_architecture_with_new_layers(build):
    model = build(ac)
    clone = clone_model(model)
    assert type(clone) is type(model) and clone.name == model.name and clone.built
    assert json.loads(clone.to_json()) == json.loads(model.to_json())  # configs and graph
    assert [type(c) for c in clone.layers] == [type(o) for o in model.layers]
    assert not {id(c) for c in clone.layers} & {id(o) for o in model.layers}
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    assert str(clone.plan) == str(model.plan)  # the same fusions


@pytest.mark.parametrize("build", MODELS)
def test_a_clones_weights_are_new_and_its_outputs_the_originals_with_its_weights(build):
    model = build(ac)
    clone = clone_model(model)
    assert not {id(w) for w in clone.weights} & {id(w) for w in model.weights}
    kernels = [
        (c, o) for c, o in zip(clone.weights, model.weights, strict=True) if "kernel" in c.path
    ]
    assert kernels and all(not np.allclose(c.numpy(), o.numpy()) for c, o in kernels)
    clone.set_weights(model.get_weights())
    _same_outputs(clone, model)


@pytest.mark.parametrize("build", MODELS)
def test_training_a_clone_leaves_the_original_as_it_was(build):
    model = build(ac)
    model.compile(optimizer="sgd", loss="mse")
    clone = clone_model(model)
    assert clone.compiled and clone.get_compile_config() == model.get_compile_config()
    assert clone.optimizer is not model.optimizer
    clone.set_weights(model.get_weights())
    before = model.get_weights()
    x = _inputs(model, 8)
    clone.train_on_batch(x, _targets(model, x))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before, strict=True))
    changed = [not np.array_equal(a, b) for a, b in zip(clone.get_weights(), before, strict=True)]
    assert any(changed)
    assert model.optimizer.iterations == 0 and clone.optimizer.iterations == 1


def test_an_uncompiled_model_clones_uncompiled_and_an_unbuilt_one_unbuilt():
    model = ac.Sequential([layers.Dense(3), layers.Dense(2)], name="later")
    clone = clone_model(model)
    assert not clone.built and not clone.compiled and clone.name == "later"
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert clone.predict(np.ones((2, 5), np.float32), verbose=0).shape == (2, 2)
    assert not model.built


def test_a_frozen_model_clones_frozen():
    model = stack(ac)
    model.layers[0].trainable = False
    clone = clone_model(model)
    assert [layer.trainable for layer in clone.layers] == [False, True, True, True]
    model.trainable = False
    frozen = clone_model(model)
    assert not frozen.trainable and not frozen.trainable_weights


def test_a_shared_layer_stays_one_layer_in_the_clone():
    clone = clone_model(branches(ac))
    shared = clone.get_layer("shared")
    assert len(shared._inbound_nodes) == 2
    assert [t.node.layer for t in clone.get_layer("sum").input] == [shared, shared]
    assert len(clone.weights) == len(branches(ac).weights)


def test_a_nested_model_is_cloned_by_clone_function_or_recursively():
    model = nested(ac)
    seen: list[str] = []

    def renaming(layer: Any) -> Any:
        seen.append(layer.name)
        config = layer.get_config()
        config["name"] = f"copy_{config['name']}"
        return type(layer).from_config(config)

    flat = clone_model(model, clone_function=renaming)
    assert seen == ["s", "pair", "drop", "out"]  # each once, in Keras's order, nested whole
    assert [layer.name for layer in flat.get_layer("copy_s").layers] == ["inner"]
    seen.clear()
    deep = clone_model(model, clone_function=renaming, recursive=True)
    assert sorted(seen) == ["difference", "drop", "inner", "out"]  # inside the nested models
    assert [layer.name for layer in deep.get_layer("s").layers] == ["copy_inner"]
    assert deep.get_layer("pair").layers[-1].name == "copy_difference"
    for clone in (flat, deep):
        clone.set_weights(model.get_weights())
        _same_outputs(clone, model)


# ------------------------------------------------------------------ clone_function, call_function
@pytest.mark.parametrize("build", [stack, branches])
def test_clone_function_makes_each_layer(build):
    model = build(ac)

    def wider(layer: Any) -> Any:
        config = layer.get_config()
        config["name"] = f"new_{config['name']}"
        if config["name"] in ("new_hidden", "new_side"):
            config["units"] = 7
        return type(layer).from_config(config)

    clone = clone_model(model, clone_function=wider)
    assert [layer.name for layer in clone.layers] == [
        f"new_{layer.name}" if not isinstance(layer, layers.InputLayer) else layer.name
        for layer in model.layers
    ]
    widened = clone.get_layer("new_hidden" if build is stack else "new_side")
    assert widened.units == 7 and widened.kernel.shape == (4, 7)
    out = _outputs(clone, _inputs(model))
    assert [o.shape for o in out] == [o.shape for o in _outputs(model, _inputs(model))]


def test_a_clone_function_that_keeps_each_layer_shares_the_weights():
    model = branches(ac)
    clone = clone_model(model, clone_function=lambda layer: layer)
    assert clone is not model
    assert [id(w) for w in clone.weights] == [id(w) for w in model.weights]
    _same_outputs(clone, model)


def test_call_function_calls_each_layer_of_a_functional_model():
    model = branches(ac)
    calls: list[tuple[str, Any]] = []

    def dropout_after_dense(layer: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append((layer.name, kwargs))
        out = layer(*args, **kwargs)
        if isinstance(layer, layers.Dense):
            out = layers.Dropout(0.5)(out)
        return out

    clone = clone_model(model, call_function=dropout_after_dense)
    assert [name for name, _ in calls] == [  # in Keras's order: the deepest calls first
        "shared", "shared", "sum", "side", "joined", "second", "first"
    ]  # fmt: skip
    dropouts = [layer for layer in clone.layers if isinstance(layer, layers.Dropout)]
    assert len(dropouts) == 5  # one after each Dense call
    others = {layer.name for layer in clone.layers if not isinstance(layer, layers.Dropout)}
    assert others == {layer.name for layer in model.layers}
    clone.set_weights(model.get_weights())
    _same_outputs(clone, model)  # (Dropout is off in predict)


def test_call_function_gets_a_calls_training():
    model = nested(ac)
    calls = {}

    def call(layer: Any, inputs: Any, **kwargs: Any) -> Any:
        calls[layer.name] = kwargs
        return layer(inputs, **kwargs)

    clone_model(model, call_function=call)
    assert calls["drop"] == {"training": False} and calls["out"] == {}


# ----------------------------------------------------------------------------- input_tensors
def test_input_tensors_give_a_functional_clone_its_inputs():
    model = branches(ac)
    new = [ac.Input((4,), batch_size=3, name="x"), ac.Input((4,), batch_size=3, name="y")]
    clone = clone_model(model, input_tensors=new)
    assert clone.inputs == new and [t.node.layer.name for t in clone.inputs] == ["x", "y"]
    assert clone.output_shape == [(3, 2), (3, 1)]
    clone.set_weights(model.get_weights())
    _same_outputs(clone, model)


def test_input_tensors_by_name_for_a_model_with_inputs_by_name():
    model = nested(ac)
    a, b = ac.Input((4,), batch_size=3, name="a"), ac.Input((4,), batch_size=3, name="b")
    clone = clone_model(model, input_tensors={"b": b, "a": a})
    assert clone.input == {"b": b, "a": a} and clone.input_shape == {"b": (3, 4), "a": (3, 4)}
    clone.set_weights(model.get_weights())
    _same_outputs(clone, model)


@pytest.mark.parametrize("as_list", [False, True])
def test_an_input_tensor_starts_a_sequential_clone(as_list):
    model = stack(ac)
    tensor = ac.Input((4,), name="start")
    clone = clone_model(model, input_tensors=[tensor] if as_list else tensor)
    assert clone.inputs == [tensor]
    whole = ac.Model(tensor, clone.outputs[0])  # the clone's graph starts at the tensor
    clone.set_weights(model.get_weights())
    _same_outputs(whole, model)


def test_input_tensors_of_another_shape_build_the_clone_for_it():
    model = stack(ac)
    clone = clone_model(model, input_tensors=ac.Input((6,)))
    assert clone.get_layer("hidden").kernel.shape == (6, 5)
    assert clone.predict(np.ones((2, 6), np.float32), verbose=0).shape == (2, 3)


def _dense_output() -> Any:
    return layers.Dense(4)(ac.Input((4,)))


@pytest.mark.parametrize(
    ("build", "input_tensors", "message"),
    [
        (branches, lambda: ac.Input((4,)), "must have the same structure as model.input"),
        (branches, lambda: [ac.Input((4,))] * 3, "must have the same structure as model.input"),
        (nested, lambda: [ac.Input((4,))] * 2, "must have the same structure as model.input"),
        (nested, lambda: {"a": ac.Input((4,)), "c": ac.Input((4,))}, "same structure"),
        (images, lambda: [ac.Input((8, 8, 1))], "must have the same structure as model.input"),
        (branches, lambda: [np.ones((1, 4)), ac.Input((4,))],
         "All entries in `input_tensors` must be KerasTensors"),
        (images, lambda: "image", "All entries in `input_tensors` must be KerasTensors"),
        (images, lambda: _dense_output(), "input_tensors must be outputs of autoconv.Input"),
        (stack, lambda: [ac.Input((4,)), ac.Input((4,))], "must contain a single tensor"),
        (stack, lambda: np.ones((1, 4)), "`input_tensors` must be a KerasTensor"),
        (stack, lambda: _dense_output(), "input_tensors must be outputs of autoconv.Input"),
    ],
)  # fmt: skip
def test_input_tensors_that_do_not_fit_are_one_error(build, input_tensors, message):
    with pytest.raises(ValueError, match=message):
        clone_model(build(ac), input_tensors=input_tensors())


# ------------------------------------------------------------------ subclassed models and errors
class Configured(ac.Model):
    """A subclassed model with a config of its own."""

    def __init__(self, units: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.dense = layers.Dense(units)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.dense(inputs)

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "name": self.name, "trainable": self.trainable}


class Unconfigured(ac.Model):
    """A subclassed model made of an object (no automatic config: its argument is no plain
    value) without a get_config of its own."""

    def __init__(self, dense: Any) -> None:
        super().__init__()
        self.dense = dense

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.dense(inputs)


def test_a_subclassed_model_is_cloned_through_its_config():
    model = Configured(units=3, name="mine")
    x = np.ones((2, 4), np.float32)
    model(x)
    model.compile("sgd", "mse")
    clone = clone_model(model)
    assert type(clone) is Configured and clone.name == "mine" and clone.units == 3
    assert clone.compiled and clone.get_compile_config() == model.get_compile_config()
    assert clone(x).shape == (2, 3)
    assert not {id(w) for w in clone.weights} & {id(w) for w in model.weights}


@pytest.mark.parametrize(
    ("model", "kwargs", "error", "message"),
    [
        (lambda: Unconfigured(layers.Dense(2)), {}, NotImplementedError,
         "model unconfigured .Unconfigured. is a subclassed model .* define its get_config"),
        (Configured, {"clone_function": lambda layer: layer}, ValueError,
         "Arguments `clone_function` and `input_tensors` are only supported for Sequential"),
        (Configured, {"input_tensors": ac.Input((4,))}, ValueError,
         "Arguments `clone_function` and `input_tensors` are only supported for Sequential"),
        (Configured, {"call_function": lambda layer, x: layer(x)}, ValueError,
         "Argument `call_function` is only supported for Functional models"),
        (stack, {"call_function": lambda layer, x: layer(x)}, ValueError,
         "`call_function` argument is not supported with Sequential models"),
        (stack, {"clone_function": "dense"}, ValueError,
         "Expected `clone_function` argument to be a callable"),
        (branches, {"cache_size": 3}, ValueError,
         r"Unexpected keyword argument\(s\): \('cache_size',\)"),
        (lambda: layers.Dense(2), {}, TypeError, "clone_model: expected a model, got Dense"),
    ],
)  # fmt: skip
def test_what_clone_model_refuses_is_one_error(model, kwargs, error, message):
    made = model(ac) if model in (stack, branches) else model()
    with pytest.raises(error, match=message):
        clone_model(made, **kwargs)


# ------------------------------------------------------------------------------ with real Keras
@pytest.mark.parametrize("build", [stack, images, branches, nested])
def test_keras_clones_the_same_model_into_the_same_layers(build):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    theirs, ours = keras.models.clone_model(build(keras)), clone_model(build(ac))

    def described(model: Any) -> list[tuple[str, str, list]]:
        return [
            (type(layer).__name__, layer.name, [tuple(w.shape) for w in layer.weights])
            for layer in model.layers
        ]

    assert described(ours) == described(theirs)
    assert ours.name == theirs.name
    for mine, keras_layer in zip(ours.layers, theirs.layers, strict=True):
        if not isinstance(mine, ac.models.Model | layers.InputLayer):
            assert json.loads(json.dumps(mine.get_config())) == json.loads(
                json.dumps(keras_layer.get_config())
            )
