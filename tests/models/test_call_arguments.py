"""Functional calls with several tensor arguments and keyword arguments, as Keras 3.15 records
them (``{"args": [...], "kwargs": {...}}`` in each inbound node): MultiHeadAttention's
``(query, value)``, its ``attention_mask`` tensor, ``use_causal_mask`` and
``return_attention_scores`` (two outputs) in models built the same way in autoconv and Keras;
their configs, .keras files both ways, summaries, clones and training on both devices; and a
malformed call in a .keras config, one clear error."""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from tests.layers.devices import fit_on_both_devices
from tests.saving.archives import rewrite
from tests.saving.test_model_json import _comparable


@pytest.fixture
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    return keras


def _weights(model: Any) -> Any:
    model.set_weights([np.cos(np.arange(w.size) * 0.37 + i).reshape(tuple(w.shape)) * 0.4
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def vit(
    lib: Any, mask: bool = False, causal: bool = False, scores: bool = False, dropout: float = 0.1
) -> Any:
    """Input -> Dense -> LayerNormalization -> MultiHeadAttention(x, x) -> add -> Dense, the
    attention given a mask Input, a causal mask, or returning its scores as a second output.
    (Training compares no dropout: each device, and each library, draws its own masks.)"""
    L = lib.layers
    inputs = [lib.Input((5, 3), name="tokens")]
    options: dict[str, Any] = {}
    if mask:
        inputs.append(lib.Input((5, 5), name="mask"))
        options["attention_mask"] = inputs[1]
    if causal:
        options["use_causal_mask"] = True
    if scores:
        options["return_attention_scores"] = True
    x = L.LayerNormalization(name="norm")(L.Dense(8, name="embed")(inputs[0]))
    attention = L.MultiHeadAttention(num_heads=2, key_dim=4, dropout=dropout, name="mha")
    attended = attention(x, x, **options)
    if scores:
        attended, weights = attended
    outputs = [L.Dense(3, name="head")(L.add([attended, x], name="residual"))]
    if scores:
        outputs.append(weights)
    return _weights(lib.Model(inputs if mask else inputs[0], outputs if scores else outputs[0]))


CASES = {
    "plain": {},
    "attention_mask": {"mask": True},
    "use_causal_mask": {"causal": True},
    "return_attention_scores": {"scores": True},
    "all": {"mask": True, "causal": True, "scores": True},
}


def data(options: dict[str, bool]) -> Any:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 5, 3)).astype(np.float32)
    if not options.get("mask"):
        return x
    # each position attends to itself at least: Keras's fused attention (its path without
    # scores) averages the values for a query that attends to nothing, its other path (and
    # autoconv) gives zeros
    mask = np.maximum(rng.random((8, 5, 5)) > 0.5, np.eye(5, dtype=bool))
    return [x, mask.astype(np.float32)]


def _outputs(values: Any) -> list[np.ndarray]:
    return [np.asarray(v) for v in (values if isinstance(values, list | tuple) else [values])]


def _connections(model: Any) -> list[str]:
    """The summary's "Connected to" column, cell by cell."""
    lines: list[str] = []
    model.summary(line_length=160, print_fn=lambda line, **_: lines.append(line))
    rows = [line.split("│") for line in "\n".join(lines).splitlines() if line.startswith("│")]
    return [row[-2].strip() for row in rows if len(row) > 2]


@pytest.mark.parametrize("case", CASES)
def test_the_model_is_keras_s(keras, case, tmp_path):
    """The same config as Keras's, Keras's file loads in autoconv and autoconv's in Keras with
    the same predictions, and the summaries connect the layers alike."""
    options = CASES[case]
    theirs, ours = vit(keras, **options), vit(ac, **options)
    assert _comparable(json.loads(ours.to_json())) == _comparable(json.loads(theirs.to_json()))
    x = data(options)
    expected = _outputs(theirs.predict(x, verbose=0))
    for got, want in zip(_outputs(ours.predict(x, verbose=0)), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert _connections(ours) == _connections(theirs)
    theirs.save(tmp_path / "keras.keras")
    loaded = ac.saving.load_model(tmp_path / "keras.keras")
    for got, want in zip(_outputs(loaded.predict(x, verbose=0)), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    loaded.save(tmp_path / "ours.keras")
    back = keras.saving.load_model(tmp_path / "ours.keras")
    for got, want in zip(_outputs(back.predict(x, verbose=0)), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_clone_records_the_same_calls():
    model = vit(ac, mask=True, causal=True, scores=True)
    clone = ac.models.clone_model(model)
    clone.set_weights(model.get_weights())
    assert clone.get_config() == model.get_config()
    x = data({"mask": True})
    for got, want in zip(clone.predict(x, verbose=0), model.predict(x, verbose=0), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_second_output_is_read_by_later_layers():
    """The scores, the call's second output, read by a layer as any tensor is."""
    x = ac.Input((4, 6))
    attended, scores = ac.layers.MultiHeadAttention(2, 3)(x, x, return_attention_scores=True)
    summed = ac.layers.Flatten()(scores)
    model = ac.Model(x, [attended, ac.layers.Dense(2)(summed)])
    out = model.predict(np.ones((3, 4, 6), np.float32), verbose=0)
    assert [o.shape for o in out] == [(3, 4, 6), (3, 2)]
    assert json.loads(model.to_json()) == json.loads(ac.models.model_from_json(model.to_json())
                                                     .to_json())  # fmt: skip


@pytest.mark.parametrize("case", ["plain", "all"])
def test_training_on_the_gpu_gives_the_cpus_losses(case):
    options = CASES[case]
    x = data(options)
    y = np.cos(np.arange(8 * 5 * 3)).reshape(8, 5, 3).astype(np.float32)
    if options.get("scores"):
        y = [y, np.full((8, 2, 5, 5), 0.2, np.float32)]
    # the mask input is read on the device: the GPU's steps are recorded and replayed
    make = functools.partial(vit, ac, **options, dropout=0.0)
    fit_on_both_devices(make, x, y, "sgd", "mse", replayed=True)


def test_training_gives_keras_s_losses(keras):
    x, y = data({"mask": True}), np.ones((8, 5, 3), np.float32)
    losses = []
    for lib in (ac, keras):
        model = vit(lib, mask=True, causal=True, dropout=0.0)
        model.compile(lib.optimizers.SGD(0.1), "mse")
        losses.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0))
    np.testing.assert_allclose(losses[0].history["loss"], losses[1].history["loss"], 1e-5)


def test_extra_arguments_are_errors_where_the_layer_takes_none():
    x = ac.Input((4,))
    with pytest.raises(TypeError, match="takes no keyword arguments"):
        ac.layers.Dense(2)(x, use_causal_mask=True)


def constant_mask_model(lib: Any) -> Any:
    """keras.io's vit_small_ds: self-attention given a constant array as ``attention_mask``
    (the diagonal masked out), kept in the call as Keras keeps it."""
    tokens = lib.Input((5, 3), name="tokens")
    x = lib.layers.Dense(8, name="embed")(tokens)
    mask = (1 - np.eye(5, dtype=np.float32))[None]
    attended = lib.layers.MultiHeadAttention(2, 4, name="mha")(x, x, attention_mask=mask)
    return _weights(lib.Model(tokens, lib.layers.Dense(3, name="head")(attended)))


def test_a_constant_array_argument_is_kept_in_the_call_as_keras(keras, tmp_path):
    """The same config as Keras's (the array as its ``__tensor__`` entry in the call's
    kwargs), the same predictions, and the files both ways."""
    theirs, ours = constant_mask_model(keras), constant_mask_model(ac)
    assert _comparable(json.loads(ours.to_json())) == _comparable(json.loads(theirs.to_json()))
    x = data({})
    expected = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    for got in (keras.saving.load_model(tmp_path / "ours.keras"),
                ac.saving.load_model(tmp_path / "theirs.keras")):  # fmt: skip
        np.testing.assert_allclose(
            np.asarray(got.predict(x, verbose=0)), expected, rtol=1e-5, atol=1e-6
        )


class _Fold(ac.layers.Layer):
    """keras.io's focal modulation block: ``call(x, height, width)``."""

    def call(self, x, height, width):
        return ac.ops.reshape(x, (-1, height, width))


@pytest.mark.parametrize("symbolic", [False, True])
def test_a_plain_value_given_positionally_is_kerass_error(keras, symbolic):
    """Keras takes tensors only as positional arguments: the sizes keras.io's focal modulation
    block is given (``block(x, height, width, channels)``), or CaiT's ``dropout(x, training)``,
    are its ValueError, eager or on symbolic tensors (where autoconv recorded the call and
    failed when the model ran); by keyword they run."""
    x = ac.Input((6,)) if symbolic else np.ones((2, 6), "float32")

    def message(layer, *args):
        with pytest.raises(ValueError, match="Only input tensors may be passed") as caught:
            layer(x, *args)
        return str(caught.value)

    expected = (
        "Only input tensors may be passed as positional arguments. The following argument "
        "value should be passed as a keyword argument: 2 (of type <class 'int'>)"
    )
    assert message(_Fold(), 2, 3) == expected
    assert message(ac.layers.Dropout(0.5), True).endswith("True (of type <class 'bool'>)")
    if not symbolic:
        assert tuple(_Fold()(x, height=2, width=3).shape) == (2, 2, 3)

    class Fold(keras.layers.Layer):
        def call(self, x, height, width):
            return keras.ops.reshape(x, (-1, height, width))

    theirs = keras.Input((6,)) if symbolic else np.ones((2, 6), "float32")
    with pytest.raises(ValueError) as caught:
        Fold()(theirs, 2, 3)
    assert str(caught.value) == expected


def test_a_users_layer_takes_plain_keyword_arguments_in_a_graph_as_keras(keras):
    """keras.io's focal modulation blocks given their sizes by keyword in a functional graph:
    the layer (without a compute_output_shape of its own) is run on zeros with them, as
    Keras's symbolic call runs it; the model predicts and records them in its config."""

    def run(lib):
        class Fold(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.dense = lib.layers.Dense(3, kernel_initializer="ones")

            def call(self, x, height, width):
                return self.dense(lib.ops.reshape(x, (-1, height, width)))

        inputs = lib.Input((6,))
        outputs = Fold()(inputs, height=2, width=3)
        model = lib.Model(inputs, outputs)
        x = np.arange(12, dtype="float32").reshape(2, 6)
        node = model.get_config()["layers"][1]["inbound_nodes"][0]
        return tuple(outputs.shape), model.predict(x, verbose=0), node["kwargs"]

    ours, theirs = run(ac), run(keras)
    assert ours[0] == theirs[0] == (None, 2, 3)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)
    assert ours[2] == theirs[2] == {"height": 2, "width": 3}


# ------------------------------------------------------------------------------ bad files
def _tensor(name: str, node: int = 0, index: int = 0) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, 5, 8], "dtype": "float32",
                       "keras_history": [name, node, index]}}  # fmt: skip


MALFORMED = {
    "args not a list": ({"args": "norm", "kwargs": {}}, "list of args"),
    "no args": ({"args": [], "kwargs": {}}, "list of args"),
    "kwargs not a dict": ({"args": [_tensor("norm")], "kwargs": [1]}, "dict of kwargs"),
    "an object as argument": (
        {"args": [_tensor("norm"), {"class_name": "Dense", "config": {}}], "kwargs": {}},
        "tensor or a plain value",
    ),
    "a bad history": (
        {"args": [_tensor("norm"), _tensor("norm", -1)], "kwargs": {}},
        "tensor history",
    ),
    "a missing output": (
        {"args": [_tensor("norm"), _tensor("norm", 0, 3)], "kwargs": {}},
        "reads output 3",
    ),
    "a tensor-free first argument": ({"args": [1, _tensor("norm")], "kwargs": {}}, "first"),
    "an unknown keyword": (
        {"args": [_tensor("norm"), _tensor("norm")], "kwargs": {"colour": "red"}},
        "cannot be called",
    ),
    "a bad training": (
        {"args": [_tensor("norm"), _tensor("norm")], "kwargs": {"training": "yes"}},
        "training",
    ),
    "a mask of numbers": (
        {"args": [_tensor("norm"), _tensor("norm")], "kwargs": {"mask": [1, 2]}},
        "mask",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_call_in_a_file_is_one_clear_error(case, tmp_path):
    call, message = MALFORMED[case]
    vit(ac).save(tmp_path / "bad.keras")

    def malformed(config: dict) -> None:
        for entry in config["config"]["layers"]:
            if entry["name"] == "mha":
                entry["inbound_nodes"] = [call]

    rewrite(tmp_path / "bad.keras", malformed)
    with pytest.raises(ValueError, match=message):
        ac.saving.load_model(tmp_path / "bad.keras")


def test_a_layer_s_input_and_output_list_every_tensor_of_its_call_as_keras(keras):
    shapes = []
    for lib in (ac, keras):
        # (lengths equal: Keras 3.15's symbolic scores take the query's length for both)
        query, value = lib.Input((3, 4)), lib.Input((3, 6))
        attention = lib.layers.MultiHeadAttention(2, 2)
        attention(query, value, return_attention_scores=True)
        dense = lib.layers.Dense(2)
        dense(query)
        shapes.append([
            [tuple(t.shape) for t in attention.input], [tuple(t.shape) for t in attention.output],
            tuple(dense.input.shape), tuple(dense.output.shape),
        ])  # fmt: skip
    assert shapes[0] == shapes[1]


def test_none_given_positionally_in_trainings_place_is_training_as_keras(keras):
    """``dropout(x, None)`` (None in the place of ``call``'s training) is the call's training,
    as Keras binds it; with training also given by keyword it is Python's TypeError."""
    x = np.ones((4, 6), "float32")
    for lib in (ac, keras):
        dropout = lib.layers.Dropout(0.5, seed=1)
        np.testing.assert_array_equal(np.asarray(dropout(x, None)), x)  # (None: inference)
        with pytest.raises(TypeError, match="multiple values for argument 'training'"):
            dropout(x, None, training=True)

    class Step(ac.layers.Layer):
        def call(self, inputs, training):
            return inputs * (2.0 if training else 1.0)

    np.testing.assert_array_equal(Step()(x, None).numpy(), x)


def test_a_value_given_positionally_in_trainings_place_is_kerass_type_error(keras):
    """Keras passes a call's ``training`` on by keyword as well, so any value but None in its
    place is Python's "got multiple values" (keras.io's masking guide's ``model(x, y)``); a
    functional model takes non-tensors there, as Keras's."""
    x = np.ones((2, 3), "float32")
    for lib in (ac, keras):
        inputs = lib.Input((3,))
        model = lib.Model(inputs, lib.layers.Dense(2)(inputs))
        dropout = lib.layers.Dropout(0.5)
        for layer, second in ((dropout, x), (model, x), (model, True)):
            with pytest.raises(TypeError, match=r"\.call\(\) got multiple values for argument 'tr"):
                layer(x, second)
