"""A functional model's inputs brought to their ranks as Keras's (``Functional.
_adjust_input_rank``): an array with one axis more, of size 1, or one axis fewer where the
Input's last axis is 1, runs in a direct call, ``fit``, ``evaluate`` and ``predict`` as real
Keras 3 runs it (same weights, same results); other ranks get Keras's error. And a dict of
inputs by the keys the model was made with."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest

import autoconv as ac

RANKS = [((1,), (6,)), ((3,), (6, 3, 1)), ((2, 1), (6, 2)), ((4, 4, 1), (6, 4, 4))]


def _model(lib: Any, shape: tuple) -> Any:
    inputs = lib.Input(shape=shape)
    hidden = lib.layers.Dense(4, activation="tanh")(lib.layers.Flatten()(inputs))
    model = lib.Model(inputs, lib.layers.Dense(2)(hidden))
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.3
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


@pytest.mark.parametrize(("shape", "given"), RANKS)
def test_an_input_one_axis_off_runs_as_in_keras(keras, shape, given):
    rng = np.random.default_rng(0)
    x = rng.random(given).astype("float32")
    y = rng.random((given[0], 2)).astype("float32")
    runs = []
    for lib in (ac, keras):
        model = _model(lib, shape)
        called = np.asarray(lib.ops.convert_to_numpy(model(x)))
        predicted = model.predict(x, batch_size=4, verbose=0)
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        evaluated = model.evaluate(x, y, batch_size=4, verbose=0)
        runs.append((called, predicted, history.history["loss"], evaluated, model.get_weights()))
    (*ours, our_weights), (*theirs, their_weights) = runs
    for mine, keras_value in zip([*ours, *our_weights], [*theirs, *their_weights], strict=True):
        np.testing.assert_allclose(mine, keras_value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("shape", "given"), [((3,), (4, 3, 2)), ((3,), (4, 3, 1, 1)),
                                              ((3,), (4,)), ((1,), (4, 1, 1, 1))])  # fmt: skip
def test_other_ranks_get_kerass_error(keras, shape, given):
    x = np.ones(given, "float32")
    pattern = (
        r"Invalid input shape for input .* with name '(input_layer|keras_tensor\w*)' and path "
        rf"''\. Expected shape \(None, {shape[0]}\), but input has incompatible shape "
    )
    for lib in (ac, keras):  # (Keras's message shows the tensor, over several lines)
        with pytest.raises(ValueError, match=f"(?s){pattern}"):
            _model(lib, shape)(x)
    model = _model(ac, shape)
    with pytest.raises(ValueError, match=pattern + re.escape(str(given))):
        model(x)
    for run in (
        lambda: model.predict(x, verbose=0),
        lambda: model.fit(x, np.ones((4, 2)), verbose=0),
    ):
        with pytest.raises(ValueError, match=rf"^(predict|fit): {pattern}"):
            run()


def _two_inputs(lib: Any, as_dict: bool) -> Any:
    a = lib.Input(shape=(3,), name="a")
    b = lib.Input(shape=(2, 1), name="b")
    joined = lib.layers.Concatenate()([lib.layers.Dense(2)(a), lib.layers.Flatten()(b)])
    model = lib.Model({"p": a, "q": b} if as_dict else [a, b], joined)
    model.set_weights([np.full(w.shape, 0.5) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("as_dict", [False, True])
def test_several_inputs_each_at_its_rank_and_named_by_its_path(keras, as_dict):
    rng = np.random.default_rng(1)
    a, b = rng.random((5, 3)).astype("float32"), rng.random((5, 2)).astype("float32")
    x = {"p": a, "q": b} if as_dict else [a, b]
    ours, theirs = (_two_inputs(lib, as_dict).predict(x, verbose=0) for lib in (ac, keras))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(_two_inputs(ac, as_dict)(x).numpy(), theirs, rtol=1e-6)
    deep = np.ones((5, 2, 3, 3), "float32")
    wrong = {"p": a, "q": deep} if as_dict else [a, deep]
    path = "q" if as_dict else "1"
    for lib in (ac, keras):
        with pytest.raises(ValueError, match=rf"with name 'b' and path '{path}'\. Expected shape"):
            _two_inputs(lib, as_dict)(wrong)


def test_a_dict_of_inputs_by_the_keys_the_model_was_made_with(keras):
    """As Keras: a model made from a dict of Inputs takes its data by those keys, not by the
    Input layers' names."""
    rng = np.random.default_rng(2)
    a, b = rng.random((5, 3)).astype("float32"), rng.random((5, 2, 1)).astype("float32")
    for lib in (ac, keras):
        with pytest.raises(ValueError, match=r"'p', 'q'"):
            _two_inputs(lib, True).predict({"a": a, "b": b}, verbose=0)
    ours, theirs = (_two_inputs(lib, True).predict({"q": b, "p": a}, verbose=0)
                    for lib in (ac, keras))  # fmt: skip
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_a_dict_key_that_is_not_its_inputs_name_warns_as_keras(keras):
    """keras.io's Perceiver makes its cross-attention model from ``{"latent_array":
    Input(...), "data_array": Input(...)}``: Keras warns once per key that is not its tensor's
    name (and the model works by the keys all the same); a named Input is no warning."""

    def made(lib):
        inputs = {"latent": lib.Input((3,)), "data": lib.Input((3,), name="data")}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lib.Model(inputs, lib.layers.Add()([inputs["latent"], inputs["data"]]))
        messages = [str(w.message) for w in caught if "must match the names" in str(w.message)]
        return [re.sub(r"keras_tensor_\d+", "keras_tensor", m) for m in messages]  # (a session's)

    assert made(ac) == made(keras)
    assert len(made(ac)) == 1


def test_the_output_shape_of_a_dict_of_input_shapes_as_kerass(keras):
    """``compute_output_shape`` takes a dict of shapes by the keys the model was made with
    (keras.io's Perceiver's cross-attention model), as Keras's; a shape that does not fit its
    Input is an error."""

    def output_shape(lib, shapes):
        latent, data = lib.Input((4, 3), name="latent"), lib.Input((5, 3), name="data")
        attended = lib.layers.Attention()([lib.layers.Dense(3)(latent), data])
        return lib.Model({"latent": latent, "data": data}, attended).compute_output_shape(shapes)

    shapes = {"data": (None, 5, 3), "latent": (None, 4, 3)}
    assert tuple(output_shape(ac, shapes)) == tuple(output_shape(keras, shapes)) == (None, 4, 3)
    with pytest.raises(ValueError, match="incompatible"):
        output_shape(ac, {"data": (None, 5, 3), "latent": (None, 4, 7)})


def test_an_input_of_other_sizes_gets_kerass_input_spec_error():
    model = _model(ac, (3,))
    for given, found in (((4, 4), r"\(4, 4\)"), ((4, 4, 1), r"\(4, 4, 1\)")):
        with pytest.raises(ValueError, match=rf"Input 0 with name 'input_layer' of layer "
                           rf"'functional' is incompatible with the layer: expected "
                           rf"shape=\(None, 3\), found shape={found}"):  # fmt: skip
            model(np.ones(given, "float32"))
        with pytest.raises(ValueError, match=r"predict: x has samples of shape"):
            model.predict(np.ones(given, "float32"), verbose=0)


def _dict_model(lib: Any, keys: list[str]) -> Any:
    """A model of a dict of Inputs (each named as its key) given in the order of ``keys``."""
    inputs = {key: lib.Input(shape=(i + 1,), name=key) for i, key in enumerate(keys)}
    joined = lib.layers.Concatenate()([lib.layers.Dense(2)(inputs[key]) for key in keys])
    return lib.Model(inputs, joined)


@pytest.mark.parametrize("keys", [["z", "a", "m"], ["a", "m", "z"], ["m", "z", "a"]])
def test_a_dict_of_inputs_is_flattened_by_sorted_key_as_kerass(keras, keys):
    """As Keras's tree.flatten: model.inputs (and the graph's input order) come by sorted
    key, whatever the order the dict was given in; the data still goes by key."""
    ours, theirs = _dict_model(ac, keys), _dict_model(keras, keys)
    assert [t.name for t in ours.inputs] == [t.name for t in theirs.inputs] == sorted(keys)
    assert ours.input.keys() == theirs.input.keys()
    assert [layer.name for layer in ours.layers if "input" in type(layer).__name__.lower()] == [
        layer.name for layer in theirs.layers if "input" in type(layer).__name__.lower()
    ]
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    x = {key: np.linspace(-1, 1, 2 * (i + 1), dtype="float32").reshape(2, -1)
         for i, key in enumerate(keys)}  # fmt: skip
    expected = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-7)


def test_an_input_of_fixed_batch_size_gets_kerass_input_spec_error(keras):
    """Keras's input spec leaves the batch size out of the expected shape, eagerly and on a
    symbolic tensor (a model of a fixed batch called in another graph)."""

    def messages(lib):
        inputs = lib.Input(shape=(3,), batch_size=4, name="x")
        model = lib.Model(inputs, lib.layers.Dense(2)(inputs), name="fixed")
        found = []
        for call in (lambda: model(np.ones((4, 4), "float32")),
                     lambda: model(lib.Input(shape=(4,), batch_size=4))):  # fmt: skip
            with pytest.raises(ValueError) as error:
                call()
            found.append(str(error.value))
        return found

    expected = messages(keras)
    assert expected[0].startswith("Input 0 with name 'x' of layer 'fixed'")
    for ours, theirs in zip(messages(ac), expected, strict=True):
        assert ours.startswith(theirs)


def _structure_warnings(lib: Any, kind: str) -> dict[tuple[str, str], list[str]]:
    """The structure warnings (their texts, each once) a model of one input named "x" gives
    when it is called on, or given to each of its data methods, its input bare, in a list or
    in a tuple."""
    x, y = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    inputs = lib.Input((3,), name="x")
    if kind == "sequential":
        model = lib.Sequential([inputs, lib.layers.Dense(2)])
    else:
        model = lib.Model(
            [inputs] if kind == "from a list" else inputs, lib.layers.Dense(2)(inputs)
        )
    model.compile(optimizer="sgd", loss="mse")
    uses = {
        "call": lambda data: model(data),
        "predict": lambda data: model.predict(data, verbose=0),
        "predict_on_batch": lambda data: model.predict_on_batch(data),
        "fit": lambda data: model.fit(data, y, verbose=0),
    }
    found = {}
    for given, data in {"bare": x, "list": [x], "tuple": (x,)}.items():
        for use, run in uses.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = run(data)
            if use != "fit":
                assert tuple(out.shape) == (4, 2)
            texts = {str(w.message) for w in caught if "structure of `inputs`" in str(w.message)}
            # (Keras's data methods show PyTorch's shapes)
            found[given, use] = sorted(t.replace("torch.Size([4, 3])", "(4, 3)") for t in texts)
    return found


@pytest.mark.parametrize("kind", ["sequential", "functional", "from a list"])
def test_an_input_in_another_structure_warns_as_keras(keras, kind):
    """A model of one input takes it in a list or a tuple of one (``model([x])``,
    ``predict([x])``) with Keras's warning that the structure differs, a model made from a
    list of one input called on it bare (directly, or by ``predict_on_batch``) warns too, and
    the rest is silent, as Keras's; a Sequential so called used to fail."""
    ours = _structure_warnings(ac, kind)
    assert ours == _structure_warnings(keras, kind)
    for (given, use), texts in ours.items():
        called = use in ("call", "predict_on_batch")  # (predict and fit go through batches)
        in_a_container = kind != "from a list" and given != "bare"
        bare_for_a_list = kind == "from a list" and given == "bare" and called
        assert len(texts) == (in_a_container or bare_for_a_list)


@pytest.mark.parametrize("structure", [list, tuple])
def test_a_tensor_called_bare_on_a_model_from_a_list_is_silent_as_keras(keras, structure):
    """Keras puts a lone tensor into a model's list of one input without a warning
    (``keras.Model(model.inputs, ...)`` called on ``ops.ones(...)``, keras.io's sequential
    model guide); an array warns, and so does a tensor where the model was made from a tuple."""

    def warned(lib: Any) -> list[bool]:
        inputs = lib.Input((3,), name="x")
        model = lib.Model(structure([inputs]), lib.layers.Dense(2)(inputs))
        found = []
        for data in (lib.ops.ones((2, 3)), np.ones((2, 3), np.float32)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model(data)
            found.append(any("structure of `inputs`" in str(w.message) for w in caught))
        return found

    assert warned(ac) == warned(keras) == [structure is tuple, True]


def test_an_input_of_last_axis_1_takes_other_channels_as_keras(keras):
    """Keras's input spec of a functional model leaves out a last axis of size 1: a model made
    on waves of shape (None, 1) whose first layer passes its input through outside training
    (keras.io's MelGAN's generator) predicts from spectrograms of 4 channels, as Keras's."""

    def outputs(lib: Any) -> list[tuple[int, ...]]:
        class Repeat(lib.layers.Layer):
            def call(self, x: Any, training: bool = True) -> Any:
                return lib.ops.concatenate([x] * 4, axis=-1) if training else x

        inputs = lib.Input((None, 1))
        model = lib.Model(inputs, lib.layers.Dense(2)(Repeat()(inputs)))
        x = np.ones((3, 5, 4), "float32")
        outs = [model.predict(x, verbose=0), model.predict_on_batch(x), model(x, training=False)]
        return [tuple(out.shape) for out in outs]

    assert outputs(ac) == outputs(keras) == [(3, 5, 2)] * 3


def test_a_model_from_a_nested_list_of_inputs_runs_as_kerass(keras):
    """``Model(inputs=[backbone.inputs], ...)`` (keras.io's RetinaNet's backbone): the nested
    list is flattened as Keras's ``tree.flatten``; a call on a bare tensor warns that the
    structure differs and runs, as Keras's, and so do predict and the config."""
    x = np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)

    def run(lib: Any) -> list[Any]:
        inputs = lib.Input(shape=(3,))
        inner = lib.Model(inputs, lib.layers.Dense(2, kernel_initializer="ones")(inputs))
        model = lib.Model(inputs=[inner.inputs], outputs=[inner.output, inner.output])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            called = model(x)
        warned = ["structure of `inputs`" in str(w.message) for w in caught]
        predicted = model.predict(x, verbose=0)
        config = model.get_config()["input_layers"]  # (the names' counters differ)
        config = [[entry[1:] for entry in inner] for inner in config]
        return [
            model.input_shape,
            warned,
            [lib.ops.convert_to_numpy(c) for c in called],
            predicted,
            config,
        ]

    ours, theirs = run(ac), run(keras)
    assert ours[:2] == theirs[:2] == [(None, 3), [True]]
    np.testing.assert_allclose(ours[2], theirs[2])
    np.testing.assert_allclose(ours[3], theirs[3])
    assert ours[4] == theirs[4] == [[[0, 0]]]


@pytest.mark.parametrize("kind", ["sequential", "functional", "from a list"])
def test_the_structure_warning_names_the_input_tensor_as_keras(keras, kind):
    """Keras's warning names the model's input tensor (``keras_tensor_3`` for an unnamed
    ``Input``; the book's Grad-CAM ``keras.Model(model.inputs, ...)`` called bare), not its
    ``InputLayer`` (``input_layer_1``)."""

    def expected(lib: Any) -> tuple[str, str]:
        inputs = lib.Input((3,))
        if kind == "sequential":
            model = lib.Sequential([inputs, lib.layers.Dense(2)])
        else:
            model = lib.Model([inputs] if kind == "from a list" else inputs, inputs * 2.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model(np.ones((1, 3), "float32") if kind == "from a list" else [np.ones((1, 3))])
        (message,) = [str(w.message) for w in caught if "structure of `inputs`" in str(w.message)]
        return message.split("\n")[1], model.inputs[0].name

    for lib in (ac, keras):
        line, name = expected(lib)
        assert name.startswith("keras_tensor")
        assert line == (f"Expected: ['{name}']" if kind == "from a list" else f"Expected: {name}")
