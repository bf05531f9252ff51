"""Functional models (``autoconv.Model(inputs, outputs)``): building, shapes and their errors,
running, fusion, several inputs and outputs, and parity with what Keras 3 prints and computes
for the same models and weights (tests/keras_reference/models.json, made by
tests/keras_reference/models.py with Keras 3 on JAX).

(Over ~600 lines on purpose: one class's behaviour, its cases sharing the recorded Keras
reference.)
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers

REFERENCE = json.loads((Path(__file__).parents[1] / "keras_reference" / "models.json").read_text())


@pytest.fixture(autouse=True)
def plain_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # summary() sizes its table to the terminal, as Keras


def weights_for(model):
    """The deterministic weights tests/keras_reference/models.py gave the Keras model."""
    return [
        (np.sin(np.arange(np.prod(w.shape)) * 0.37 + i) * 0.3).reshape(w.shape).astype("float32")
        for i, w in enumerate(model.weights)
    ]


def data():
    rng = np.random.default_rng(0)
    xa = rng.random((20, 4)).astype("float32")
    xb = rng.random((20, 3)).astype("float32")
    y1 = np.eye(3, dtype="float32")[rng.integers(0, 3, 20)]
    y2 = rng.random((20, 1)).astype("float32")
    images = rng.random((6, 8, 8, 1)).astype("float32")
    labels = rng.integers(0, 10, 6)
    return xa, xb, y1, y2, images, labels


def summary(model, **kwargs):
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return "\n".join(lines)


def two_headed():
    a = ac.Input((4,), name="a")
    b = ac.Input((3,), name="b")
    h = layers.concatenate([layers.Dense(5, activation="relu")(a), b])
    out1 = layers.Dense(3, activation="softmax", name="cls")(h)
    out2 = layers.Dense(1, name="reg")(h)
    return ac.Model([a, b], [out1, out2])


def residual():
    inputs = ac.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, activation="relu", padding="same")(inputs)
    y = layers.Conv2D(4, 3, padding="same")(x)
    x = layers.add([x, y])
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    return ac.Model(inputs, layers.Dense(10, activation="softmax")(x))


def nested():
    inner = ac.Sequential([layers.Dense(4, activation="relu"), layers.Dense(4)], name="inner")
    inputs = ac.Input((3,))
    outer = ac.Model(inputs, layers.Dense(2)(inner(inputs)))
    inner.trainable = False
    return outer


# ------------------------------------------------------------------ parity with Keras
def test_two_inputs_two_outputs_as_keras():
    keras = REFERENCE["two_headed"]
    xa, xb, y1, y2, _, _ = data()
    model = two_headed()
    assert summary(model).strip() == keras["summary"].strip()
    model.set_weights(weights_for(model))
    model.compile(
        "sgd", ["categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
        metrics=[["accuracy"], ["mae"]],
    )  # fmt: skip
    for ours, theirs in zip(model.predict([xa, xb], verbose=0), keras["predict"], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    logs = model.evaluate([xa, xb], [y1, y2], batch_size=8, verbose=0, return_dict=True)
    assert list(logs) == list(keras["evaluate"])
    np.testing.assert_allclose(list(logs.values()), list(keras["evaluate"].values()), rtol=1e-5)
    values = model.evaluate([xa, xb], [y1, y2], batch_size=8, verbose=0)
    np.testing.assert_allclose(values, keras["evaluate_list"], rtol=1e-5)
    history = model.fit([xa, xb], [y1, y2], batch_size=5, epochs=2, shuffle=False, verbose=0)
    assert list(history.history) == list(keras["history"])
    for key, theirs in keras["history"].items():
        np.testing.assert_allclose(history.history[key], theirs, rtol=1e-4, err_msg=key)


def test_a_residual_convnet_as_keras():
    keras = REFERENCE["residual"]
    _, _, _, _, images, labels = data()
    model = residual()
    assert summary(model).strip() == keras["summary"].strip()
    model.set_weights(weights_for(model))
    model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    np.testing.assert_allclose(model.predict(images, verbose=0), keras["predict"], rtol=1e-5)
    np.testing.assert_allclose(model.train_on_batch(images, labels), keras["train_on_batch"],
                               rtol=1e-5)  # fmt: skip
    for ours, theirs in zip(model.get_weights(), keras["after"], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_a_frozen_nested_model_as_keras():
    keras = REFERENCE["nested"]
    model = nested()
    assert summary(model).strip() == keras["summary"].strip()
    assert summary(model, expand_nested=True, show_trainable=True).strip() == (
        keras["expanded"].strip()
    )
    assert [w.path for w in model.weights] == keras["paths"]
    assert len(model.trainable_weights) == keras["trainable"]
    assert len(model.non_trainable_weights) == keras["non_trainable"]


def one_axis_shapes(lib):
    """Inputs of one axis (``shape=()``) and of two, and a layer of several outputs."""
    scalar = lib.Input(shape=(), name="scalar")
    one = lib.Input((1,), name="one")
    sequence = lib.Input((3, 2), name="sequence")
    reshaped = lib.layers.Reshape((1,), name="r")(scalar)
    joined = lib.layers.Concatenate(name="joined")([reshaped, one])
    _, h, c = lib.layers.LSTM(2, return_state=True, name="lstm")(sequence)
    added = lib.layers.Add(name="added")([joined, h, c])
    return lib.Model([scalar, one, sequence], lib.layers.Dense(1, name="dense")(added), name="m")


def test_a_summarys_shapes_of_one_axis_and_of_several_outputs_as_keras(keras, monkeypatch):
    """Keras writes a shape of one axis ``(None)``, not Python's ``(None,)``."""
    monkeypatch.setenv("COLUMNS", "200")  # no cell wraps
    texts = []
    for lib in (ac, keras):
        lines: list[str] = []
        one_axis_shapes(lib).summary(line_length=160, print_fn=lambda text, **_: lines.append(text))  # noqa: B023
        texts.append("\n".join(lines).strip())
    assert texts[0] == texts[1]
    assert "(None)" in texts[0] and "[(None, 2), (None, 2), (None, 2)]" in texts[0]


# ----------------------------------------------------------------------- building
def test_layers_include_the_inputs_in_graph_order():
    model = two_headed()
    assert [layer.name for layer in model.layers] == [
        "a",
        "dense",
        "b",
        "concatenate",
        "cls",
        "reg",
    ]
    assert model.input_names == ["a", "b"] and model.output_names == ["cls", "reg"]
    assert model.get_layer("cls") is model.layers[4] and model.get_layer(index=0).name == "a"
    with pytest.raises(ValueError, match=r"No such layer: nope. Existing layers are: \['a',"):
        model.get_layer("nope")


def test_shape_errors_name_the_layer_and_the_shapes():
    inputs = ac.Input((5,))
    with pytest.raises(ValueError, match=r"Layer 'conv2d' \(Conv2D\).*\(None, 5\)"):
        layers.Conv2D(2, 3)(inputs)
    a, b = ac.Input((4,)), ac.Input((3,))
    with pytest.raises(ValueError, match=r"Add add: inputs with incompatible shapes"):
        layers.add([a, b])
    with pytest.raises(ValueError, match="matching shapes except for the concatenation axis"):
        layers.concatenate([ac.Input((2, 3)), ac.Input((4, 5))], axis=-1)


def test_a_disconnected_graph_is_named():
    a, b = ac.Input((2,)), ac.Input((2,))
    out = layers.add([a, b])
    with pytest.raises(ValueError, match=r"Output with path `` is not connected to `inputs`"):
        ac.Model(a, out)


@pytest.mark.parametrize(
    "structure",
    [lambda z, y: y, lambda z, y: [z, y], lambda z, y: {"q": y, "p": z}, lambda z, y: (z, [z, y])],
)
def test_an_output_from_an_input_not_given_is_kerass_error(structure, keras):
    """keras.io's translation tutorial makes its decoder from an Input it does not pass:
    Keras's error names the output by its path in the outputs."""

    def message(lib):
        a, b, c = lib.Input((3,)), lib.Input((3,)), lib.Input((3,))
        z, y = lib.layers.Dense(2)(a), lib.layers.Dense(2)(b)
        with pytest.raises(ValueError) as error:
            lib.Model([a, c], structure(z, y))
        return str(error.value)

    assert message(ac) == message(keras)


def test_a_model_may_start_at_any_tensor_of_a_graph_as_kerass(keras):
    """Keras's clone_graph_nodes (keras-io's BASNet makes models of a ResNet's blocks): a
    tensor that is not an Input's becomes a new Input named after it, the calls from there are
    made again with the same layers; the config and the numbers are Keras's."""

    def block_of(lib):
        inputs = lib.Input((4,))
        hidden = lib.layers.Dense(3, name="a")(inputs)
        two = lib.layers.Dense(2, name="b")(hidden)
        out = lib.layers.Add(name="c")([lib.layers.Dense(2, name="d")(hidden), two])
        full = lib.Model(inputs, out)
        block = lib.Model(full.get_layer("b").input, full.get_layer("c").output, name="block")
        outer_input = lib.Input((3,))
        return block, lib.Model(outer_input, block(outer_input))

    keras.backend.clear_session()
    ac.backend.clear_session()  # (the tensors' names in the config count from 0 in both)
    (ours, our_outer), (theirs, their_outer) = block_of(ac), block_of(keras)
    assert json.dumps(ours.get_config()) == json.dumps(theirs.get_config())
    ours.set_weights(theirs.get_weights())
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(
        our_outer.predict(x, verbose=0), their_outer.predict(x, verbose=0), rtol=1e-6, atol=1e-7
    )


def test_a_model_called_on_known_sizes_gives_known_sizes_as_kerass(keras):
    """A model of ``Input((None, None, 3))`` called on an 8x8 tensor gives Keras's shapes
    (keras-io's BASNet then resizes by ``x.shape[1] * 2``)."""
    shapes = []
    for lib in (ac, keras):
        inputs = lib.Input((None, None, 3))
        x = lib.layers.Conv2D(4, 3, padding="same")(inputs)
        pooled = lib.layers.MaxPooling2D()(x)
        model = lib.Model(inputs, [pooled, lib.layers.Concatenate()([x, x])])
        outputs = model(lib.Input((8, 8, 3)))
        shapes.append([tuple(t.shape) for t in outputs])
    assert shapes[0] == shapes[1] == [(None, 4, 4, 4), (None, 8, 8, 8)]


def test_outputs_must_be_symbolic():
    with pytest.raises(TypeError, match="must be symbolic tensors"):
        ac.Model(ac.Input((2,)), np.zeros(2))


def test_arithmetic_on_symbolic_tensors_records_keras_operations():
    x = ac.Input((2,))
    model = ac.Model(x, (x + x) * 3.0)
    assert [type(layer).__name__ for layer in model._layers] == [
        "InputLayer",
        "Operation",
        "Operation",
    ]
    np.testing.assert_allclose(model.predict(np.ones((1, 2)), verbose=0), [[6.0, 6.0]])
    with pytest.raises(TypeError, match="no value to test"):
        bool(x > 0)


def test_symbolic_tensors_print_as_keras():
    x = ac.Input((28, 28, 1))
    assert repr(x) == (
        "<KerasTensor shape=(None, 28, 28, 1), dtype=float32, sparse=False, ragged=False, "
        "name=keras_tensor>"
    )


def test_a_named_inputs_tensor_and_config_are_kerass():
    """Keras names an Input's tensor after the Input (else keras_tensor_N) and writes a dense,
    required input's config with sparse, ragged and optional."""
    ac.layers.clear_session()
    x = ac.Input((3,), name="pixels")
    assert x.name == "pixels" and ac.Input((3,)).name == "keras_tensor"
    assert x.node.layer.get_config() == {
        "batch_shape": (None, 3), "dtype": "float32", "sparse": False, "ragged": False,
        "name": "pixels", "optional": False,
    }  # fmt: skip
    with pytest.raises(ValueError, match="sparse and ragged inputs are not supported"):
        ac.Input((3,), ragged=True)


# ------------------------------------------------------------------------ running
def test_a_shared_layer_runs_twice_with_the_same_weights():
    dense = layers.Dense(3)
    a, b = ac.Input((2,)), ac.Input((2,))
    model = ac.Model([a, b], layers.subtract([dense(a), dense(b)]))
    assert len(model.weights) == 2
    x = np.random.default_rng(1).random((4, 2)).astype("float32")
    np.testing.assert_allclose(model.predict([x, x], verbose=0), 0, atol=1e-7)


def test_dict_inputs_and_outputs():
    a, b = ac.Input((2,), name="left"), ac.Input((2,), name="right")
    model = ac.Model(
        {"left": a, "right": b}, {"sum": layers.add([a, b]), "prod": layers.multiply([a, b])}
    )
    x = np.arange(4.0).reshape(2, 2)
    out = model({"left": x, "right": x + 1})
    np.testing.assert_array_equal(out["sum"].numpy(), 2 * x + 1)
    np.testing.assert_array_equal(out["prod"].numpy(), x * (x + 1))


@pytest.mark.parametrize(
    ("merge", "expected"),
    [
        (layers.Add, lambda a, b: a + b),
        (layers.Subtract, lambda a, b: a - b),
        (layers.Multiply, lambda a, b: a * b),
        (layers.Average, lambda a, b: (a + b) / 2),
        (layers.Maximum, np.maximum),
        (layers.Minimum, np.minimum),
    ],
)
def test_merging_layers_compute_and_differentiate(merge, expected):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    out = merge(dtype="float64")([a, b])
    np.testing.assert_allclose(out.numpy(), expected(a, b))
    from autoconv.testing import gradcheck

    assert gradcheck(lambda x, y: merge(dtype="float64")([x, y]), [a, b])


@pytest.mark.parametrize("axis", [1, 2, -1])
def test_concatenate_along_any_axis(axis):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    np.testing.assert_array_equal(
        layers.concatenate([a, b], axis=axis).numpy(),
        np.concatenate([a, b], axis=axis).astype(np.float32),
    )


def test_conv_and_pool_fuse_in_a_graph_and_the_softmax_pairs_with_its_loss():
    inputs = ac.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    branch = layers.Conv2D(4, 3, activation="relu", padding="same")(inputs)
    y = layers.MaxPooling2D(4)(branch)  # the conv's output is read twice: not fused
    z = layers.Flatten()(layers.add([layers.Conv2D(4, 2, strides=2)(x), y]))
    also = layers.Flatten()(branch)
    model = ac.Model(inputs, layers.Dense(3, activation="softmax")(layers.concatenate([z, also])))
    fused = [step.fused for step in model.plan.steps]
    assert fused.count(True) == 1
    model.compile("sgd", "categorical_crossentropy")
    model.fit(np.zeros((2, 8, 8, 1)), np.eye(3)[[0, 1]], verbose=0)
    assert model.plan.logits_outputs == [True]
    assert "softmax left to the loss" in str(model.plan)


@pytest.mark.parametrize(("base", "shape", "args"), [("Dense", (3,), (2,)),
                                                   ("Conv2D", (4, 4, 2), (3, 3))])  # fmt: skip
@pytest.mark.parametrize("own_call", [False, True])
def test_a_subclass_call_before_a_softmax_output_runs_as_keras(keras, base, shape, args, own_call):
    """A softmax output layer whose subclass overrides ``call``: the loss reads what that call
    returns (no logits of the base layer's), so the loss and a training step are Keras's."""
    models = []
    for lib in (ac, keras):
        base_class = getattr(lib.layers, base)

        class Shifted(base_class):
            def call(self, inputs):
                return super().call(inputs) + 0.25

        layer = (Shifted if own_call else base_class)(*args, activation="softmax")
        models.append(lib.Sequential([lib.Input(shape), layer]))
        models[-1].compile(optimizer=lib.optimizers.SGD(0.5), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, *shape)).astype(np.float32)
    out_shape = models[1].output_shape
    y = np.eye(out_shape[-1], dtype=np.float32)[rng.integers(0, 2, (4, *out_shape[1:-1]))]
    models[0].set_weights(models[1].get_weights())
    ours, theirs = (model.evaluate(x, y, verbose=0) for model in models)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    for model in models:
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for mine, expected in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_allclose(mine, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("when", ["before compile", "after compile"])
def test_a_softmax_output_set_to_none_is_no_longer_paired_with_its_loss(keras, when):
    """keras.io's Grad-CAM sets ``model.layers[-1].activation = None``: the model then gives
    the Dense's outputs as they are, and a cross-entropy on probabilities reads those (not a
    softmax of them), as in Keras, whether it was set before ``compile`` or after."""
    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(size=(6, 4))).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    models = []
    for lib in (ac, keras):
        inputs = lib.Input((4,))
        out = lib.layers.Dense(3, activation="softmax")(lib.layers.Dense(5)(inputs))
        models.append(lib.Model(inputs, out))
        if when == "after compile":
            models[-1].compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            models[-1].evaluate(x, y, verbose=0)
        models[-1].layers[-1].activation = None
        models[-1].compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    weights = [np.abs(w) + 0.1 for w in models[1].get_weights()]  # positive outputs
    for model in models:
        model.set_weights(weights)
    ours, theirs = models
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0),
                               rtol=1e-5)  # fmt: skip
    assert ours.plan.logits_outputs == [False]


def test_grad_cam_of_an_intermediate_output_as_keras_on_pytorch(keras):
    """keras.io's Grad-CAM in PyTorch form: a model giving [the last convolution's output,
    the predictions], the class score's gradient with respect to that convolution's output
    (``retain_grad()`` then ``backward()``), the same heatmap as Keras's."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 9, 9, 3)).astype(np.float32)
    heatmaps, weights = [], []
    for lib in (keras, ac):
        inputs = lib.Input((9, 9, 3))
        h = lib.layers.Conv2D(4, 3, activation="relu")(inputs)
        h = lib.layers.Conv2D(5, 3, activation="relu", name="last_conv")(h)
        out = lib.layers.Dense(3, activation="softmax")(lib.layers.GlobalAveragePooling2D()(h))
        model = lib.Model(inputs, out)
        if weights:
            model.set_weights(weights)
        weights = model.get_weights()
        model.layers[-1].activation = None
        grad_model = lib.Model(model.input, [model.get_layer("last_conv").output, model.output])
        conv_output, preds = grad_model(x)
        conv_output.retain_grad()
        preds[:, 1].sum().backward()
        pooled = lib.ops.mean(conv_output.grad, axis=(0, 1, 2))
        heatmap = lib.ops.squeeze(conv_output[0] @ pooled[..., None])
        heatmaps.append(lib.ops.convert_to_numpy(heatmap))
    np.testing.assert_allclose(heatmaps[1], heatmaps[0], rtol=1e-5, atol=1e-7)


def fully_convolutional() -> ac.Model:
    inputs = ac.Input(shape=(None, None, 3))
    x = layers.Conv2D(4, 3, activation="relu", padding="same", strides=2)(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(6, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return ac.Model(inputs, layers.Dense(2, activation="softmax")(x))


def test_unknown_image_sizes_as_keras(tmp_path, rng):
    """Input(shape=(None, None, 3)): the sizes that depend on the image are None in the
    summary, and the model takes images of any size (one size per batch)."""
    model = fully_convolutional()
    assert [layer.output.shape for layer in model.layers] == [
        (None, None, None, 3), (None, None, None, 4), (None, None, None, 4),
        (None, None, None, 6), (None, 6), (None, 2),
    ]  # fmt: skip
    model.compile("adam", "sparse_categorical_crossentropy")
    for height, width in ((19, 23), (32, 32)):
        x = rng.random((4, height, width, 3)).astype(np.float32)
        model.fit(x, np.arange(4) % 2, epochs=1, verbose=0)
        assert model.predict(x, verbose=0).shape == (4, 2)
    model.save(tmp_path / "fcn.keras")
    loaded = ac.models.load_model(tmp_path / "fcn.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_weight_that_needs_an_unknown_size_is_a_clear_error():
    inputs = ac.Input(shape=(None, None, 1))
    flat = layers.Flatten()(layers.Conv2D(2, 3)(inputs))
    assert flat.shape == (None, None)
    with pytest.raises(ValueError, match="Dense needs inputs with a known last axis"):
        layers.Dense(3)(flat)
    with pytest.raises(ValueError, match="needs sizes that are unknown"):
        layers.Conv2D(2, 3)(ac.Input(shape=(8, 8, None)))

    class Scale(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(input_shape[1:], "ones", name="scale")

        def call(self, inputs):
            return inputs * self.scale

    with pytest.raises(ValueError, match=r"weight scale of shape \(None, 1\)"):
        Scale()(ac.Input(shape=(None, 1)))


class _Remember(ac.layers.Layer):
    """Keeps a weak reference to what it returns."""

    def call(self, x):
        out = x * 1.0
        self.ref = weakref.ref(out.data)  # the array: a Tensor takes no weak references
        return out


class _AliveAtCall(ac.layers.Layer):
    """Notes whether ``watched``'s output is still alive when this layer runs."""

    def __init__(self, watched, **kwargs):
        super().__init__(**kwargs)
        self.watched, self.seen = watched, []

    def call(self, x):
        self.seen.append(self.watched.ref() is not None)
        return x * 1.0


def test_inference_lets_go_of_each_tensor_after_its_last_reader():
    """In predict nothing else holds an intermediate result: the run drops it after the last
    layer that reads it (the peak memory of a deep model), and keeps what a later layer still
    reads (a residual branch)."""
    inputs = ac.Input((3,))
    remember = _Remember()
    first = remember(inputs)
    middle = layers.Dense(3)(first)
    straight, branched = _AliveAtCall(remember), _AliveAtCall(remember)
    x = np.ones((2, 3), np.float32)
    ac.Model(inputs, straight(middle)).predict(x, verbose=0)
    assert straight.seen[-1] is False  # in predict: freed once the Dense had read it
    ac.Model(inputs, layers.add([branched(middle), first])).predict(x, verbose=0)
    assert branched.seen[-1] is True  # the add still reads it


def test_input_and_output_give_a_feature_extractor_from_inner_layers():
    """Keras's ``Model(base.input, [base.get_layer(name).output, ...])``, as the segmentation
    and transfer tutorials build their encoders: the inner layers' values of the base model."""
    inputs = ac.Input((8, 8, 3))
    first = layers.Conv2D(4, 3, padding="same", activation="relu", name="first")(inputs)
    second = layers.Conv2D(2, 3, strides=2, name="second")(first)
    base = ac.Model(inputs, layers.GlobalAveragePooling2D()(second))
    assert base.input is inputs and base.output is base.outputs[0]
    assert base.get_layer("second").input is first
    extractor = ac.Model(base.input, [base.get_layer(n).output for n in ("first", "second")])
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    features = extractor.predict(x, verbose=0)
    np.testing.assert_allclose(features[0], ac.Model(inputs, first).predict(x, verbose=0))
    assert features[1].shape == (2, 3, 3, 2)
    two = ac.Model({"a": inputs}, {"out": second})
    assert two.input == {"a": inputs} and two.output == {"out": second}


@pytest.mark.parametrize(
    "losses, targets",
    [
        (["sparse_categorical_crossentropy", None], "one"),  # keras.io's miniature GPT
        (["sparse_categorical_crossentropy", None], "list"),  # [y, None]
        ([None, "mse", "sparse_categorical_crossentropy"], "two"),
    ],
)
def test_losses_on_some_outputs_take_their_targets_and_log_as_keras(losses, targets, keras):
    """Keras gives a y per output with a loss (a lone y to the one loss) and logs
    "<output>_loss" only when more than one output has a loss."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    labels, values = rng.integers(0, 2, 8), rng.standard_normal((8, 4)).astype(np.float32)
    given = {"one": labels, "list": [labels, None], "two": [values, labels]}[targets]

    def run(lib):
        inputs = lib.Input((3,), name="x")
        hidden = lib.layers.Dense(4, name="hidden")(inputs)
        outputs = [lib.layers.Dense(2, name="logits")(hidden), hidden]
        if len(losses) == 3:
            other = lib.layers.Dense(4, name="other")(hidden)  # named: history keys name it
            outputs = [hidden, other, lib.layers.Dense(2, name="logits")(hidden)]
        model = lib.Model(inputs, outputs)
        model.set_weights(
            [np.full(w.shape, 0.1 * (i + 1), np.float32) for i, w in enumerate(model.weights)]
        )
        model.compile(lib.optimizers.SGD(0.1), losses)
        history = model.fit(x, given, batch_size=4, epochs=2, shuffle=False, verbose=0)
        return history.history, model.evaluate(x, given, verbose=0, return_dict=True)

    (ours, ours_eval), (theirs, theirs_eval) = run(ac), run(keras)
    assert list(ours) == list(theirs) and list(ours_eval) == list(theirs_eval)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(list(ours_eval.values()), list(theirs_eval.values()), rtol=1e-5)


@pytest.mark.parametrize("outputs", [1, 2], ids=["one", "two"])
def test_a_list_of_outputs_is_given_back_as_kerass_call_gives_it(keras, outputs):
    """Called on data, a model made with a list of one output gives that output alone and
    with two a list of two, as Keras's ``call``; ``model.output`` stays a list; ``predict``
    gives the one array or the list."""
    x = np.ones((2, 3), np.float32)
    found = []
    for lib in (ac, keras):
        inputs = lib.Input((3,))
        dense = lib.layers.Dense(2)(inputs)
        model = lib.Model(inputs, [dense] * outputs)
        called, predicted = model(x), model.predict(x, verbose=0)
        found.append((
            type(called).__name__ == "list", type(model.output).__name__,
            type(predicted).__name__,
        ))  # fmt: skip
    assert found[0] == found[1] == [(False, "list", "ndarray"), (True, "list", "list")][outputs - 1]


@pytest.mark.parametrize("container", [list, tuple])
@pytest.mark.parametrize("count", [1, 2])
def test_a_nested_models_outputs_come_in_kerass_container(keras, container, count):
    """A model made with a list (or tuple) of outputs, called on symbolic tensors and on data,
    and its ``output``: the container Keras gives (a list of one stays a list symbolically,
    becomes its one tensor on data)."""
    x = np.ones((2, 3), np.float32)
    found = []
    for lib in (ac, keras):
        inputs = lib.Input((3,))
        model = lib.Model(inputs, container([lib.layers.Dense(2)(inputs)] * count))
        symbolic = model(lib.Input((3,)))
        found.append([type(v).__name__ for v in (symbolic, model(x), model.output)])
    assert found[0] == found[1]


def test_a_model_of_unknown_sizes_called_on_known_ones_gives_their_shapes_as_keras(keras):
    """keras.io's masked image modeling: an encoder made on ``Input((None, 4))`` (attention
    on one tensor twice, a skip, normalization) and put in a Sequential after layers giving
    16 patches sizes its output, and the next layer's input, from them, as Keras's functional
    model runs its graph on the shapes; its own Input and output keep theirs."""
    found = []
    for lib in (ac, keras):
        inputs = lib.Input((None, 4))
        normed = lib.layers.LayerNormalization()(inputs)
        attended = lib.layers.MultiHeadAttention(num_heads=2, key_dim=4)(normed, normed)
        added = lib.layers.Add()([attended, inputs])
        encoder = lib.Model(inputs, lib.layers.Dense(3)(added))
        symbolic = encoder(lib.Input((16, 4)))
        model = lib.Sequential([lib.Input((16, 4)), encoder, lib.layers.BatchNormalization()])
        found.append((
            tuple(symbolic.shape), encoder.compute_output_shape((2, 16, 4)),
            tuple(encoder.output.shape), model.output_shape,
            model.get_config()["layers"][2]["build_config"]["input_shape"],
        ))  # fmt: skip
    assert found[0] == found[1]
    assert found[0][0] == (None, 16, 3)


# Layers whose call's training defaults to False (True for an augmentation): Keras 3.15 records
# that default in its functional configs' calls.
STOCHASTIC = {
    "dropout": (lambda L: L.Dropout(0.5), (6,)),
    "gaussian_noise": (lambda L: L.GaussianNoise(1.0), (6,)),
    "lstm": (lambda L: L.LSTM(3, dropout=0.5), (4, 2)),
    "random_flip": (lambda L: L.RandomFlip("horizontal", seed=1), (3, 4, 1)),
}


@pytest.mark.parametrize("name", list(STOCHASTIC))
def test_a_keras_config_s_recorded_default_training_leaves_the_mode_to_the_call(keras, name):
    """A Keras config records ``training`` with its default in such calls; read back, the layer
    follows the mode the model runs in, as in Keras (training=True draws, predict does not),
    and autoconv writes the calls as Keras does."""
    make, shape = STOCHASTIC[name]
    configs = []
    for lib in (keras, ac):
        inputs = lib.Input(shape)
        configs.append(json.loads(lib.Model(inputs, make(lib.layers)(inputs)).to_json()))
    calls = [[node["kwargs"]["training"] for node in config["config"]["layers"][1]["inbound_nodes"]]
             for config in configs]  # fmt: skip
    assert calls[0] == calls[1] == [name == "random_flip"]
    model = ac.models.model_from_json(json.dumps(configs[0]))
    x = np.random.default_rng(0).normal(size=(8, *shape)).astype(np.float32)
    drawn = [np.asarray(model(x, training=True)) for _ in range(2)]
    assert not np.allclose(drawn[0], drawn[1])
    inference = model.predict(x, verbose=0)
    np.testing.assert_array_equal(inference, model.predict(x, verbose=0))
    if name != "lstm":
        np.testing.assert_allclose(inference, x)


def test_a_keras_config_s_explicit_training_false_stays(keras):
    """A BatchNormalization called with training=False (a frozen base's): kept on reading, so
    the loaded model's training step leaves its statistics alone."""
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.BatchNormalization()(inputs, training=False))
    loaded = ac.models.model_from_json(model.to_json())
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(8, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x, training=True)), x / np.sqrt(1.001), rtol=1e-5)


def test_operations_lists_the_layers_and_ops_as_keras(keras):
    """Keras's ``Functional.operations``: its layers and ops functions' Operations in order
    (``layers`` leaves the Operations out)."""
    found = []
    for lib in (ac, keras):
        lib.utils.clear_session()
        a, b = lib.Input((3,)), lib.Input((3,), name="b")
        joined = lib.ops.concatenate([a * 2.0, b])
        model = lib.Model([a, b], lib.layers.Dense(2)(joined))
        found.append(([o.name for o in model.operations], [o.name for o in model.layers]))
    assert found[0] == found[1]
    assert found[0][0] == ["input_layer", "multiply", "b", "concatenate", "dense"]


def masked_gru_model(lib):
    """keras.io's video classifier's sequence model in small: a GRU given a bool Input as its
    mask, then a GRU that its output's mask (that Input) reaches by itself."""
    frames = lib.Input((5, 3), name="frames")
    mask = lib.Input((5,), dtype="bool", name="mask")
    x = lib.layers.GRU(4, return_sequences=True, name="gru")(frames, mask=mask)
    return lib.Model([frames, mask], lib.layers.GRU(2, name="last")(x))


def test_a_mask_an_input_carries_to_a_call_is_recorded_as_kerass(keras):
    """Keras's call fills in ``mask`` from its input's mask and records it among the call's
    arguments when it is a tensor of the graph: the summary connects the second GRU to the
    mask's Input, the config writes it, and the model read back writes it again."""
    keras.backend.clear_session()
    ac.backend.clear_session()
    ours, theirs = masked_gru_model(ac), masked_gru_model(keras)
    config = json.dumps(ours.get_config())
    assert config == json.dumps(theirs.get_config())
    assert json.dumps(ac.Model.from_config(json.loads(config)).get_config()) == config
    texts: dict = {ac: [], keras: []}
    ours.summary(print_fn=texts[ac].append)  # (the whole text in one call, as Keras's)
    theirs.summary(print_fn=texts[keras].append)
    texts = {lib: "".join(text) for lib, text in texts.items()}
    assert "mask[0][0]" in texts[ac].split("last (GRU)")[1]
    assert texts[ac] == texts[keras]


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)])
def test_integer_outputs_predict_as_kerass(keras, device):
    """``ops.argmax`` of a layer's output, a count of its positive entries (a sum of a cast to
    int32), a one-hot of the argmax and its product with the output as model outputs: Keras's
    dtypes and values, in predict's batches (on the GPU too: what the host computed from the
    integers moved there)."""
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    models = []
    for lib in (ac, keras):
        inputs = lib.Input((4,))
        scores = lib.layers.Dense(3)(inputs)
        best = lib.ops.argmax(scores, axis=-1)
        positive = lib.ops.sum(lib.ops.cast(scores > 0, "int32"), axis=-1)
        chosen = lib.ops.one_hot(best, 3)
        outputs = [scores, best, positive, chosen, chosen * scores]
        models.append(lib.Model(inputs, outputs))
    ours, theirs = models
    ours.set_weights(theirs.get_weights())
    if device == "cuda":
        ours.to("cuda")
    want = theirs.predict(x, batch_size=2, verbose=0)
    assert [w.dtype for w in want] == [np.float32, np.int32, np.int32, np.float32, np.float32]
    for got in (ours.predict(x, batch_size=2, verbose=0), ours.predict_on_batch(x)):
        assert [g.dtype for g in got] == [w.dtype for w in want]
        for g, w in zip(got[1:4], want[1:4], strict=True):
            np.testing.assert_array_equal(g, w)
        for g, w in zip(got[::4], want[::4], strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
