"""``model.export(path, format="onnx")``: the file ONNX Runtime runs gives the model's own
predictions (any batch size), for the course's models and every layer rule; its inputs are
named after the model's ``Input`` layers with a free ``batch`` axis, as Keras's; Keras's other
formats, subclassed models and layers without a rule are clear errors that write nothing."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

import autoconv as ac

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
L = ac.layers


def _course_convnet() -> Any:
    """The course's MNIST convnet."""
    return ac.Sequential([
        ac.Input((12, 12, 1), name="digits"), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
        L.Conv2D(6, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(), L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
    ])  # fmt: skip


def _branches() -> Any:
    """Every convolution and pooling rule, merges and a nested augmentation Sequential."""
    images = ac.Input((12, 12, 3), name="images")
    augment = ac.Sequential([L.RandomFlip(), L.RandomRotation(0.1), L.RandomZoom(0.1)])
    x = L.Rescaling(1 / 255, offset=-0.5)(augment(images))
    x = L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(x))
    x = L.ReLU(max_value=6.0)(x)
    a = L.SeparableConv2D(8, 3, padding="same", depth_multiplier=2, activation="selu")(x)
    a = L.MaxPooling2D(3, strides=2, padding="same")(a)
    b = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(x)
    b = L.LeakyReLU(0.3)(L.Conv2D(8, 1, groups=2)(b))
    c = L.AveragePooling2D(3, strides=2)(L.ZeroPadding2D(((1, 0), (0, 1)))(x))
    c = L.ELU(0.5)(L.Cropping2D(((1, 0), (0, 1)))(L.ZeroPadding2D(((1, 0), (0, 1)))(c)))
    c = ac.ops.relu6(c * 2.0 + 1.0) - ac.ops.maximum(c, b)  # (keras.ops in the graph)
    c = L.Conv2D(8, 2, dilation_rate=2, padding="same")(c)
    merged = [L.Add()([a, b]), L.Subtract()([a, b]), L.Multiply()([a, b, c]),
              L.Maximum()([a, c]), L.Minimum()([b, c]), L.Average()([a, b, c])]  # fmt: skip
    x = L.Concatenate()(merged)
    pooled = L.Concatenate()([L.GlobalAveragePooling2D()(x), L.GlobalMaxPooling2D()(x)])
    flat = L.Flatten()(L.Reshape((6, 6, 2, 24))(x))
    x = L.Dense(6, activation="gelu")(L.Concatenate()([pooled, flat]))
    x = L.LayerNormalization()(L.Normalization(mean=0.5, variance=4.0)(x))
    return ac.Model(images, L.Softmax()(L.Dense(3)(L.GaussianNoise(0.1)(x))))


def _sequences() -> Any:
    """The 1-D rules: causal, dilated, strided and grouped convolutions, poolings."""
    steps = ac.Input((20, 3), name="steps")
    x = L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu")(steps)
    x = L.MaxPooling1D(2, padding="same")(L.Conv1D(4, 5, strides=2, padding="same", groups=2)(x))
    x = L.AveragePooling1D(2)(x)
    x = L.Concatenate()([L.GlobalAveragePooling1D()(x), L.GlobalMaxPooling1D()(x)])
    return ac.Model(steps, L.Dense(3, activation="softmax")(x))


def _autoencoder() -> Any:
    """Transposed convolutions ("same" of several strides and kernels, "valid") and both
    up-samplings, as an autoencoder's decoder uses them."""
    images = ac.Input((8, 8, 1), name="images")
    code = L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(images)
    parts = [
        L.Conv2DTranspose(2, 3, strides=2, padding="same", activation="relu")(code),
        L.Conv2DTranspose(2, 4, strides=2, padding="same")(code),
        L.Conv2D(2, 1)(L.UpSampling2D(2)(code)),
        L.Conv2D(2, 1)(L.UpSampling2D(2, interpolation="bilinear")(code)),
    ]
    decoded = L.Conv2DTranspose(3, 3, padding="valid")(L.Concatenate()(parts))
    return ac.Model(images, L.Dense(3, activation="softmax")(L.GlobalAveragePooling2D()(decoded)))


def _channels_first() -> Any:
    """Channels-first layers (Keras's ``data_format="channels_first"``) and a batch
    normalization over their channels, flattened in Keras's channels-first order."""
    images = ac.Input((3, 8, 6), name="images")
    x = L.Conv2D(4, 3, padding="same", data_format="channels_first")(images)
    x = L.MaxPooling2D(data_format="channels_first")(L.BatchNormalization(axis=1)(x))
    x = L.SeparableConv2D(4, 2, data_format="channels_first")(
        L.ZeroPadding2D(1, data_format="channels_first")(x)
    )
    x = L.UpSampling2D(data_format="channels_first")(x)
    return ac.Model(images, L.Dense(3, activation="softmax")(L.Flatten("channels_first")(x)))


def _trained(model: Any) -> Any:
    """``model`` after two epochs on random data (its batch normalization's moving
    statistics moved), and that data."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, *model.inputs[0].shape[1:])).astype(np.float32)
    classes = model.outputs[0].shape[-1]
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, rng.integers(0, classes, 8), batch_size=4, epochs=2, verbose=0)
    return model, x


@pytest.mark.parametrize(
    "make", [_course_convnet, _branches, _sequences, _autoencoder, _channels_first]
)
@pytest.mark.parametrize("opset", [13, 18])
def test_onnx_runtime_gives_the_models_predictions(tmp_path, make, opset):
    model, x = _trained(make())
    path = tmp_path / "model.onnx"
    model.export(path, format="onnx", verbose=False, opset_version=opset)
    session = ort.InferenceSession(str(path))
    (given,) = session.get_inputs()
    assert given.name == model.inputs[0].node.layer.name and given.shape[0] == "batch"
    assert [o.name for o in session.get_outputs()] == ["output_0"]
    for count in (1, 5):
        (ours,) = session.run(None, {given.name: x[:count]})
        np.testing.assert_allclose(ours, model.predict(x[:count], verbose=0), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["MobileNetV3Small", "EfficientNetB0", "ConvNeXtTiny"])
def test_keras_applications_export(tmp_path, name):
    """Three of keras.applications' networks (hard swish and keras.ops in the graph, swish,
    squeeze-and-excitation, Normalization, ConvNeXt's layer scales and stochastic depth):
    ONNX Runtime gives their predictions."""
    model = getattr(ac.applications, name)(weights=None, input_shape=(32, 32, 3), classes=5)
    model.export(tmp_path / "m.onnx", format="onnx", verbose=False)
    x = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    (ours,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(ours, model.predict(x, verbose=0), rtol=1e-4, atol=1e-6)


def test_inception_resnets_scale_layer_is_written(tmp_path):
    from autoconv.applications.inception_resnet_v2 import CustomScaleLayer

    a, b = ac.Input((4,), name="a"), ac.Input((4,), name="b")
    model = ac.Model([a, b], CustomScaleLayer(0.17)([a, L.Dense(4)(b)]))
    model.export(tmp_path / "m.onnx", format="onnx", verbose=False)
    x = np.random.default_rng(3).normal(size=(2, 2, 4)).astype(np.float32)
    (ours,) = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"a": x[0], "b": x[1]})
    np.testing.assert_allclose(ours, model.predict(list(x), verbose=0), rtol=1e-5, atol=1e-6)


ACTIVATIONS = ["relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "exponential",
               "softmax", "log_softmax", "swish", "silu", "relu6", "hard_sigmoid", "leaky_relu",
               "gelu", "hard_silu", "mish", "linear"]  # fmt: skip


def test_every_activation_is_written_as_keras_computes_it(tmp_path):
    inputs = ac.Input((4,), name="x")
    outputs = [L.Dense(3, activation=name)(inputs) for name in ACTIVATIONS]
    model = ac.Model(inputs, outputs)
    x = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32) * 3
    model.export(tmp_path / "m.onnx", format="onnx", verbose=False)
    ours = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x})
    for name, got, expected in zip(ACTIVATIONS, ours, model.predict(x, verbose=0), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=name)


def test_an_input_signature_fixes_the_sizes_and_a_message_says_where(tmp_path, capsys):
    model = _course_convnet()
    path = tmp_path / "m.onnx"
    model.export(path, format="onnx", input_signature=[ac.layers.InputSpec(shape=(2, 12, 12, 1))])
    assert capsys.readouterr().out == f"Saved artifact at '{path}'.\n"
    assert ort.InferenceSession(str(path)).get_inputs()[0].shape == [2, 12, 12, 1]
    with pytest.raises(ValueError, match="list of 1 InputSpec"):
        model.export(path, format="onnx", input_signature=(2, 12, 12, 1))


def test_what_cannot_be_exported_is_an_error_that_writes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"an older file")
    inputs = ac.Input((5, 3))
    recurrent = ac.Model(inputs, L.Dense(2)(L.LSTM(4)(inputs)))
    with pytest.raises(ValueError, match=r"lstm.*\(LSTM\) cannot be written to ONNX"):
        recurrent.export(path, format="onnx")

    class Subclassed(ac.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="subclassed model"):
        Subclassed().export(path, format="onnx")
    model = _course_convnet()
    with pytest.raises(ValueError, match='format="tf_saved_model" needs TensorFlow'):
        model.export(path)  # (Keras's default format)
    with pytest.raises(ValueError, match="Unrecognized format=keras"):
        model.export(path, format="keras")
    with pytest.raises(TypeError, match="unexpected arguments"):
        model.export(path, format="onnx", is_static=True)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "autoconv\[onnx\]"'):
        model.export(path, format="onnx")
    assert path.read_bytes() == b"an older file"


def test_a_model_on_the_gpu_writes_its_weights(tmp_path):
    """A model on the GPU (here numba's simulator) is exported with its device weights, read
    back to the host (its products there may be TF32's: a looser tolerance)."""
    model, x = _trained(_course_convnet())
    model.to("cuda")
    model.export(tmp_path / "m.onnx", format="onnx", verbose=False)
    (ours,) = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"digits": x})
    np.testing.assert_allclose(ours, model.predict(x, verbose=0), rtol=1e-2, atol=1e-3)


def _run(model: Any, path: Any, *xs: Any) -> list:
    """``model`` exported to ``path`` and run by ONNX Runtime on ``xs`` (one per input)."""
    model.export(path, format="onnx", verbose=False)
    session = ort.InferenceSession(str(path))
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), xs, strict=True)})


def test_a_valid_transposed_convolution_strided_past_its_kernel(tmp_path):
    """Keras's "valid" transposed convolution gives ``in * stride + max(kernel - stride, 0)``:
    a stride of 3 over a kernel of 2 makes 3 pixels 9, not ONNX's plain 8."""
    images = ac.Input((3, 3, 2), name="images")
    model = ac.Model(images, L.Conv2DTranspose(2, 2, strides=3)(images))
    x = np.random.default_rng(4).normal(size=(2, 3, 3, 2)).astype(np.float32)
    (ours,) = _run(model, tmp_path / "m.onnx", x)
    np.testing.assert_allclose(ours, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_an_inputs_dtype_is_the_files(tmp_path):
    """An ``int32`` Input (and a ``uint8`` one of images) takes data of its dtype in the
    file, as Keras declares it, cast to float32 as it comes in."""
    counts, pixels = (
        ac.Input((4,), name="counts", dtype="int32"),
        ac.Input((2, 2, 1), dtype="uint8"),
    )
    model = ac.Model([counts, pixels], L.Dense(2)(L.Concatenate()([counts, L.Flatten()(pixels)])))
    x = [np.arange(8, dtype=np.int32).reshape(2, 4), np.full((2, 2, 2, 1), 200, np.uint8)]
    model.export(tmp_path / "m.onnx", format="onnx", verbose=False)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    assert [i.type for i in session.get_inputs()] == ["tensor(int32)", "tensor(uint8)"]
    (ours,) = session.run(None, dict(zip([i.name for i in session.get_inputs()], x, strict=True)))
    np.testing.assert_allclose(ours, model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_an_input_signature_in_keras_forms_names_and_types_the_inputs(tmp_path):
    """Keras's forms of a functional model's signature (its list of specs, or a dict of them
    by input name, as a list's one element) are taken; a spec's name and dtype are its
    input's, an unnamed spec's input is ``input_<i>``, as Keras's; a spec that does not fit
    its input is an error."""
    a, b = ac.Input((3,), name="a"), ac.Input((2,), name="b")
    model = ac.Model([a, b], L.Dense(2)(L.Concatenate()([a, b])))
    Spec, path = ac.layers.InputSpec, tmp_path / "m.onnx"
    first, second = Spec(shape=(None, 3), name="first"), Spec(shape=(4, 2), dtype="float64")
    for signature in ([[first, second]], [{"a": first, "b": second}], [first, second]):
        model.export(path, format="onnx", verbose=False, input_signature=signature)
        found = [(i.name, i.shape, i.type) for i in ort.InferenceSession(str(path)).get_inputs()]
        assert found == [("first", ["batch", 3], "tensor(float)"),
                         ("input_1", [4, 2], "tensor(double)")]  # fmt: skip
    for bad in ([[first, Spec(shape=(None, 5))]], [[first]], [{"a": first}]):
        with pytest.raises(ValueError, match=r"list of 2 InputSpec.*a: \(None, 3\)"):
            model.export(path, format="onnx", input_signature=bad)


@pytest.mark.parametrize(
    "arguments", [{"threshold": 0.5}, {"threshold": 0.5, "negative_slope": 0.1, "max_value": 2.0}]
)
def test_a_relus_threshold_is_written_as_keras_computes_it(tmp_path, arguments):
    """Keras's ReLU of a threshold: x above it (else 0), clipped to [0, max_value], less
    negative_slope * relu(threshold - x)."""
    inputs = ac.Input((7,), name="x")
    model = ac.Model(inputs, L.ReLU(**arguments)(inputs))
    x = np.array([[-3.0, -0.7, -0.5, -0.2, 0.3, 0.6, 2.5]], np.float32)
    t, slope = arguments["threshold"], arguments.get("negative_slope", 0)
    top = arguments.get("max_value", np.inf)
    keras_value = np.clip(np.where(x > t, x, 0), 0, top) - slope * np.maximum(t - x, 0)
    (ours,) = _run(model, tmp_path / "m.onnx", x)
    np.testing.assert_allclose(ours, keras_value, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours, model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("opset", [13, 18])
def test_a_softmax_over_several_axes(tmp_path, opset):
    """Keras's ``Softmax(axis=(1, 2))`` normalizes over both axes together."""
    inputs = ac.Input((2, 3, 4), name="x")
    model = ac.Model(inputs, L.Softmax(axis=(1, 2))(inputs))
    x = np.random.default_rng(5).normal(size=(2, 2, 3, 4)).astype(np.float32)
    model.export(tmp_path / "m.onnx", format="onnx", verbose=False, opset_version=opset)
    (ours,) = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x})
    np.testing.assert_allclose(ours, model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours.sum(axis=(1, 2)), 1.0, rtol=1e-5)


def test_an_opset_outside_what_onnx_knows_is_an_error_that_writes_nothing(tmp_path):
    """Keras (through torch.onnx) refuses an opset it does not know; so does autoconv, before
    writing a file that ONNX Runtime would not load."""
    import onnx

    path = tmp_path / "m.onnx"
    for opset in (12, onnx.defs.onnx_opset_version() + 1):
        with pytest.raises(ValueError, match=rf"opset_version must be from 13 to .*got {opset}"):
            _course_convnet().export(path, format="onnx", opset_version=opset)
    assert not path.exists()
