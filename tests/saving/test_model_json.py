"""``Model.to_json`` and ``model_from_json`` (Keras's ``keras.models.model_from_json``): the
architecture as Keras's JSON and back, in autoconv, and with real Keras 3.15 (on its PyTorch
backend; those tests skip where Keras or torch is not installed) in both directions: the same
model built in both writes the same JSON (but for what :func:`_comparable` leaves out, each
difference named there), Keras reads autoconv's JSON into the same architecture and autoconv
reads Keras's, each computing the same numbers with the same weights.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv.models import model_from_json
from tests.models.two_libraries import branches

TOLERANCE = {"rtol": 2e-5, "atol": 2e-6}


# ------------------------------------------------------------------ the models, in either library
# Every layer and model is named, so that both libraries write the same names.
def stack(lib: Any) -> Any:
    """A Sequential whose layers' calls Keras records with a mask (BatchNormalization,
    Softmax)."""
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((4,), name="pixels"),
            L.Dense(5, activation="relu", name="hidden"),
            L.BatchNormalization(name="norm"),
            L.Dropout(0.2, name="drop"),
            L.Dense(3, name="logits"),
            L.Softmax(name="probabilities"),
        ],
        name="stack",
    )


def unbuilt(lib: Any) -> Any:
    """A Sequential without an input shape: no weights, no build config."""
    return lib.Sequential(
        [lib.layers.Dense(3, name="d1"), lib.layers.Dense(2, name="d2")], name="u"
    )


def nested(lib: Any) -> Any:
    """A Sequential and a two-input functional model inside a functional model with inputs by
    name, and a call with an explicit ``training``."""
    L = lib.layers
    left, right = lib.Input((4,), name="left"), lib.Input((4,), name="right")
    pair = lib.Model([left, right], L.subtract([left, right], name="difference"), name="pair")
    inner = lib.Sequential([lib.Input((4,), name="inner_in"), L.Dense(4, name="inner")], name="s")
    a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
    x = L.Dropout(0.5, name="drop")(pair([a, inner(b)]), training=False)
    return lib.Model({"a": a, "b": b}, L.Dense(2, name="out")(x), name="nested")


def sequences(lib: Any) -> Any:
    """A ``keras.ops`` call on symbolic tensors and a GlobalAveragePooling1D."""
    L = lib.layers
    inputs = lib.Input((5, 3), name="sequence")
    x = L.GlobalAveragePooling1D(name="pool")(L.Dense(4, name="dense")(inputs) * 2.0)
    return lib.Model(inputs, L.Dense(2, name="out")(x), name="sequences")


MODELS = [stack, unbuilt, branches, nested, sequences]
BUILT = [stack, branches, nested, sequences]


def _inputs(model: Any) -> Any:
    """A batch of 3 for each input of ``model`` (a dict by name where it takes one)."""
    rng = np.random.default_rng(3)
    arrays = [rng.random((3, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    if type(model).__name__ != "Sequential" and isinstance(model.input, dict):
        return dict(zip(model.input, arrays, strict=True))
    return arrays if len(arrays) > 1 else arrays[0]


def _outputs(model: Any, x: Any) -> list[np.ndarray]:
    out = model.predict(x, verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, list) else [out])]


def _weights(model: Any) -> list[np.ndarray]:
    """A fixed pattern for every weight (variances kept positive)."""
    values = []
    for i, w in enumerate(model.weights):
        shape = tuple(w.shape)
        value = np.sin(np.arange(int(np.prod(shape))) * 0.37 + i).reshape(shape) * 0.3
        values.append((np.abs(value) + 0.5 if "variance" in w.path else value).astype(np.float32))
    return values


def _compiled(model: Any) -> Any:
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


# ------------------------------------------------------------------------------- autoconv alone
@pytest.mark.parametrize("build", MODELS)
@pytest.mark.parametrize("compiled", [False, True], ids=["plain", "compiled"])
def test_the_json_rebuilds_the_same_model(build, compiled):
    model = _compiled(build(ac)) if compiled else build(ac)
    text = model.to_json()
    again = model_from_json(text)
    assert type(again) is type(model) and again.name == model.name
    assert json.loads(again.to_json()) == json.loads(text)
    assert [(type(a), a.name) for a in again.layers] == [(type(b), b.name) for b in model.layers]
    assert again.compiled == compiled
    assert again.get_compile_config() == model.get_compile_config()
    assert [w.shape for w in again.weights] == [w.shape for w in model.weights]
    assert not {id(w) for w in again.weights} & {id(w) for w in model.weights}
    if model.built:
        model.set_weights(_weights(model))
        again.set_weights(model.get_weights())
        x = _inputs(model)
        for ours, theirs in zip(_outputs(again, x), _outputs(model, x), strict=True):
            np.testing.assert_allclose(ours, theirs, **TOLERANCE)


def test_the_json_holds_the_architecture_not_the_weights():
    model = stack(ac)
    text = model.to_json()
    model.set_weights(_weights(model))
    assert model.to_json() == text
    entry = json.loads(text)
    assert (entry["module"], entry["class_name"]) == ("keras", "Sequential")
    assert entry["compile_config"] == {} == model.get_compile_config()  # as Keras's
    assert [layer["class_name"] for layer in entry["config"]["layers"]] == [
        "InputLayer", "Dense", "BatchNormalization", "Dropout", "Dense", "Softmax",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "kwargs", [{"indent": 2}, {"sort_keys": True}, {"separators": (",", ":")}, {}]
)
def test_to_json_passes_its_arguments_to_json_dumps(kwargs):
    model = branches(ac)
    text = model.to_json(**kwargs)
    assert text == json.dumps(ac.saving.serialize_keras_object(model), **kwargs)
    assert model_from_json(text).to_json() == model.to_json()


def test_model_from_json_is_keras_models_and_autoconv_saving():
    assert ac.models.model_from_json is ac.saving.model_from_json is model_from_json
    assert "model_from_json" in ac.models.__all__
    assert "clone_model" in ac.models.__all__


@ac.saving.register_keras_serializable(package="json_tests")
class Doubling(ac.layers.Layer):
    """A user's layer with an argument of its own."""

    def __init__(self, factor: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs: Any) -> Any:
        return inputs * self.factor

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"factor": self.factor}


class Halving(Doubling):
    """The same, not registered: found through ``custom_objects`` only."""


@pytest.mark.parametrize("cls", [Doubling, Halving])
def test_a_users_layer_is_found_registered_or_in_custom_objects(cls):
    model = ac.Sequential([ac.Input((3,)), cls(factor=3.0, name="mine"), ac.layers.Dense(2)])
    text = model.to_json()
    if cls is Halving:
        with pytest.raises(ValueError, match="model_from_json: could not locate class 'Halving'"):
            model_from_json(text)
    again = model_from_json(text, custom_objects={"Halving": Halving})
    assert type(again.layers[0]) is cls and again.layers[0].factor == 3.0


def _edited(path: list[Any], value: Any) -> str:
    entry = json.loads(stack(ac).to_json())
    target = entry
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(entry)


HIDDEN = ["config", "layers", 1, "config"]
LAMBDA = {  # as Keras writes a Lambda: its function's bytecode
    "module": "keras.layers",
    "class_name": "Lambda",
    "config": {"name": "code", "function": {"class_name": "__lambda__", "config": {"code": "4wE"}}},
    "registered_name": None,
}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"the string is not JSON \(Expecting property name"),
        ("", "the string is not JSON"),
        (b"\xff\xfe", "the string is not JSON"),
        ("[1, 2]", "the JSON describes a JSON list, not a model"),
        ('{"name": "x"}', "the JSON describes a JSON dict, not a model"),
        ("42", "the JSON describes 42, not a model"),
        (json.dumps(ac.saving.serialize_keras_object(ac.layers.Dense(2))),
         "the JSON describes a Dense layer, not a model"),
        (lambda: _edited(["class_name"], "NoSuchModel"), "could not locate class 'NoSuchModel'"),
        (lambda: _edited([*HIDDEN, "units"], "many"), "units must be a positive int"),
        (lambda: _edited([*HIDDEN, "surprise"], 1), "surprise"),
        (lambda: _edited(["config", "layers"], 7), "layers must be a list"),
        (lambda: _edited(["config", "layers", 3], LAMBDA), "deserialization of a Lambda layer"),
        (lambda: _compiled(stack(ac)).to_json().replace('"Adam"', '"NoSuchOptimizer"'),
         "NoSuchOptimizer"),
    ],
)  # fmt: skip
def test_what_is_not_a_models_json_is_one_value_error(text, message):
    with pytest.raises(ValueError, match=f"^model_from_json: .*{message}") as error:
        model_from_json(text() if callable(text) else text)
    assert error.value.__context__ is None or error.value.__suppress_context__  # one error


def test_a_json_string_that_is_no_string_is_a_type_error():
    with pytest.raises(TypeError, match=r"^model_from_json: the JSON object must be str"):
        model_from_json(3)


def test_a_subclassed_model_has_no_json():
    class Mine(ac.Model):  # (made of an object: no automatic config)
        def __init__(self, dense: Any) -> None:
            super().__init__()
            self.dense = dense

        def call(self, inputs: Any, training: bool | None = None) -> Any:
            return self.dense(inputs)

    model = Mine(ac.layers.Dense(2))
    model(np.ones((1, 3), np.float32))
    with pytest.raises(NotImplementedError, match="is a subclassed model"):
        model.to_json()


# ------------------------------------------------------------------------------ with real Keras
def _keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()  # Keras's automatic names from the start, as autoconv's
    return keras


# autoconv's layers that write a build_config where Keras's (which have no build()) do not.
UNBUILT = {"InputLayer", "Softmax", "SpatialDropout2D"} | {
    f"{kind}Pooling{rank}D"
    for kind in ("Max", "Average", "GlobalMax", "GlobalAverage")
    for rank in (1, 2)
}


def _comparable(value: Any) -> Any:
    """A model's JSON without what autoconv still writes differently from Keras, outside the
    model's own entries (each to go once its module writes Keras's):

    - the entries of layers that Keras's classes build without a ``build()`` of their own
      (:data:`UNBUILT`) have a ``build_config`` Keras's have not (autoconv/layers/);
    - an optimizer's entry names ``keras.optimizers`` and no registered name (Keras names the
      class of its backend, ``keras.src.backend.torch.optimizers.torch_adam``, and ``Adam``),
      its ``name`` is ``adam`` (Keras numbers its optimizers: ``adam_1``, ...) and its floats
      are not rounded to float32 as Keras's (autoconv/optimizers/);

    and with every float at float32's precision."""
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, float):
        return float(np.float32(value))
    if not isinstance(value, dict):
        return value
    value = {key: _comparable(item) for key, item in value.items()}
    if value.get("class_name") in UNBUILT:
        value.pop("build_config", None)
    optimizer = value.get("compile_config", {}).get("optimizer")
    if isinstance(optimizer, dict):
        optimizer.pop("module"), optimizer.pop("registered_name"), optimizer["config"].pop("name")
    return value


@pytest.mark.parametrize("build", MODELS)
@pytest.mark.parametrize("compiled", [False, True], ids=["plain", "compiled"])
def test_the_json_is_the_one_keras_writes(build, compiled):
    keras = _keras()
    theirs = _compiled(build(keras)) if compiled else build(keras)
    ours = _compiled(build(ac)) if compiled else build(ac)
    assert _comparable(json.loads(ours.to_json())) == _comparable(json.loads(theirs.to_json()))


def test_the_json_records_keras_masks_in_the_calls_of_layers_that_take_one():
    """Keras adds ``mask`` to the recorded kwargs of calls to layers whose ``call`` takes one
    (a None per tensor of a list), but not where its call converted the inputs first: a layer
    given ``training`` or another dtype (a functional model always gets it)."""
    keras = _keras()

    def build(lib: Any) -> Any:
        L = lib.layers
        left, right = lib.Input((4,), name="left"), lib.Input((4,), name="right")
        pair = lib.Model([left, right], L.add([left, right], name="plus"), name="pair")
        inner = lib.Sequential([L.Dense(4, name="inner")], name="inner_stack")
        a, ints = lib.Input((4,), name="a"), lib.Input((4,), dtype="int32", name="ints")
        x = pair([a, inner(a)], training=True)
        x = L.BatchNormalization(name="bn_training")(
            L.BatchNormalization(name="bn")(x), training=True
        )
        x = L.add([L.Softmax(name="soft")(x), L.Softmax(name="soft_ints")(ints)], name="sum")
        x = L.add([inner(x, training=False), pair([x, x])], name="sum2")
        return lib.Model([a, ints], x, name="masks")

    ours, theirs = build(ac), build(keras)
    calls = {
        layer["name"]: [node["kwargs"] for node in layer["inbound_nodes"]]
        for layer in json.loads(ours.to_json())["config"]["layers"]
    }
    assert calls["pair"] == [{"training": True, "mask": [None, None]}, {"mask": [None, None]}]
    assert calls["inner_stack"] == [{"mask": None}, {"training": False}]
    assert calls["bn"] == calls["soft"] == [{"mask": None}]
    assert calls["bn_training"] == [{"training": True}] and calls["soft_ints"] == [{}]
    assert _comparable(json.loads(ours.to_json())) == _comparable(json.loads(theirs.to_json()))
    again = model_from_json(theirs.to_json())
    assert [layer.name for layer in again.layers] == [layer.name for layer in ours.layers]


def test_the_json_records_the_masks_of_recurrent_layers_and_their_wrappers():
    """The recurrent layers, ``Bidirectional`` and ``TimeDistributed`` take a ``mask``: a
    plain call records ``mask=None`` after the call's default ``training`` (keras.io's weather
    forecasting ``LSTM(32)(inputs)``), one given ``training`` does not."""
    keras = _keras()

    def build(lib: Any) -> Any:
        L = lib.layers
        x = lib.Input((5, 3), name="x")
        outputs = [
            L.LSTM(4, name="lstm")(x),
            L.SimpleRNN(4, name="rnn_training")(x, training=True),
            L.Bidirectional(L.LSTM(2), name="bidi")(x),
            L.TimeDistributed(L.Dense(2), name="timed")(x),
        ]
        return lib.Model(x, outputs, name="recurrent")

    ours, theirs = build(ac), build(keras)
    calls = {
        layer["name"]: [node["kwargs"] for node in layer["inbound_nodes"]]
        for layer in json.loads(ours.to_json())["config"]["layers"]
    }
    assert calls["lstm"] == [{"training": False, "mask": None}]
    assert calls["bidi"] == calls["timed"] == [{"mask": None}]
    assert calls["rnn_training"] == [{"training": True}]
    assert _comparable(json.loads(ours.to_json())) == _comparable(json.loads(theirs.to_json()))


def test_the_config_records_a_lambdas_mask_as_keras():
    """Keras's Lambda takes a ``mask``: a plain call records ``mask=None`` (keras.io's DDIM
    ``Lambda(sinusoidal_embedding)(noise_variances)``), a list call or one given ``training``
    does not."""
    keras = _keras()

    def calls(lib: Any) -> list[Any]:
        L = lib.layers
        x = lib.Input((3,), name="x")
        outputs = [
            L.Lambda(lambda t: t * 2.0)(x),
            L.Lambda(lambda t: t[0] + t[1])([x, x]),
            L.Lambda(lambda t: t - 1.0)(x, training=True),
        ]
        config = lib.Model(x, outputs).get_config()
        return [node["kwargs"] for layer in config["layers"][1:] for node in layer["inbound_nodes"]]

    assert calls(ac) == calls(keras) == [{"mask": None}, {}, {"training": True}]


def test_the_config_records_the_mask_of_a_users_layer_whose_call_takes_one():
    """keras.io's CycleGAN ``ReflectionPadding2D.call(self, input_tensor, mask=None)``: Keras
    records ``mask=None`` in such a layer's plain calls, as in its own layers' whose call
    takes a mask; not for a call without one, nor a call on a list (Keras converts it first)."""
    keras = _keras()

    def calls(lib: Any) -> list[Any]:
        class Padded(lib.layers.Layer):
            def call(self, input_tensor: Any, mask: Any = None) -> Any:
                return input_tensor

        class Plain(lib.layers.Layer):
            def call(self, inputs: Any) -> Any:
                return inputs

        x = lib.Input((3,), name="x")
        outputs = [Padded()(x), Padded()([x, x])[0], Plain()(x), Padded()(x, training=True)]
        config = lib.Model(x, outputs).get_config()
        return [node["kwargs"] for layer in config["layers"][1:] for node in layer["inbound_nodes"]]

    expected = [{"mask": None}, {}, {}, {"training": True}]
    assert calls(ac) == calls(keras) == expected


def test_the_json_records_a_calls_default_training_only_where_keras_adds_it():
    """Keras adds a call's default ``training`` (Dropout's False, an augmentation's True) to
    the kwargs it records only where it converted no input: not for a float64 tensor into a
    float32 layer, but always for the layers that take their inputs as they come (RandomFlip,
    RandomCrop, Pipeline, which also gets ``mask``)."""
    keras = _keras()

    def build(lib: Any) -> Any:
        L = lib.layers
        image = lib.Input((8, 8, 3), dtype="uint8", name="image")
        series = lib.Input((5, 3), dtype="float64", name="series")
        outputs = [
            L.RandomFlip(name="flip")(image),
            L.RandomRotation(0.1, name="rotation")(image),
            L.Pipeline([L.RandomFlip()], name="pipeline")(image),
            L.SimpleRNN(2, name="rnn")(series),
            L.Dropout(0.1, name="dropout")(series),
        ]
        return lib.Model([image, series], outputs, name="defaults")

    def calls(model: Any) -> dict[str, Any]:
        return {
            layer["name"]: [node["kwargs"] for node in layer["inbound_nodes"]]
            for layer in json.loads(model.to_json())["config"]["layers"]
        }

    ours = calls(build(ac))
    assert ours["flip"] == [{"training": True}]
    assert ours["pipeline"] == [{"training": True, "mask": None}]
    assert ours["rotation"] == ours["rnn"] == ours["dropout"] == [{}]
    assert ours == calls(build(keras))


@pytest.mark.parametrize("build", BUILT)
def test_keras_reads_autoconvs_json_into_the_same_model(build):
    keras = _keras()
    ours = _compiled(build(ac))
    ours.set_weights(_weights(ours))
    theirs = keras.models.model_from_json(ours.to_json())
    assert type(theirs).__name__ == type(ours).__name__ and theirs.name == ours.name
    assert [(type(t).__name__, t.name) for t in theirs.layers] == [
        (type(o).__name__, o.name) for o in ours.layers
    ]
    assert theirs.compiled and type(theirs.optimizer).__name__ == "Adam"
    assert [tuple(w.shape) for w in theirs.weights] == [w.shape for w in ours.weights]
    theirs.set_weights(ours.get_weights())
    x = _inputs(ours)
    for got, expected in zip(_outputs(theirs, x), _outputs(ours, x), strict=True):
        np.testing.assert_allclose(got, expected, **TOLERANCE)


@pytest.mark.parametrize("build", BUILT)
def test_autoconv_reads_keras_json_into_the_same_model(build):
    keras = _keras()
    theirs = _compiled(build(keras))
    theirs.set_weights(_weights(theirs))
    ours = model_from_json(theirs.to_json())
    assert [(type(o).__name__, o.name) for o in ours.layers] == [
        (type(t).__name__, t.name) for t in theirs.layers
    ]
    assert ours.compiled and type(ours.optimizer).__name__ == "Adam"
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    x = _inputs(ours)
    for got, expected in zip(_outputs(ours, x), _outputs(theirs, x), strict=True):
        np.testing.assert_allclose(got, expected, **TOLERANCE)
