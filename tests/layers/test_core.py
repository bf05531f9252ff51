"""Core, convolution and pooling layers: shapes, parameter counts, initial weights, modes,
argument errors, configs."""

from __future__ import annotations

import json

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.testing import gradcheck


@pytest.mark.parametrize(
    ("make", "in_shape", "out_shape", "params"),
    [
        (lambda: layers.Conv2D(32, (3, 3)), (28, 28, 1), (26, 26, 32), 320),
        (lambda: layers.Conv2D(64, 3, padding="same", strides=2), (13, 13, 32), (7, 7, 64), 18496),
        (lambda: layers.Conv2D(64, 3, padding="SAME"), (5, 5, 2), (5, 5, 64), 1216),
        (lambda: layers.Conv2D(8, 3, dilation_rate=2, use_bias=False), (9, 9, 2), (5, 5, 8), 144),
        (lambda: layers.MaxPooling2D((2, 2)), (26, 26, 32), (13, 13, 32), 0),
        (lambda: layers.MaxPool2D(padding="same"), (11, 11, 64), (6, 6, 64), 0),
        (lambda: layers.AveragePooling2D(3, strides=1), (5, 5, 4), (3, 3, 4), 0),
        (lambda: layers.GlobalAveragePooling2D(), (5, 5, 4), (4,), 0),
        (lambda: layers.GlobalAveragePooling2D(keepdims=True), (5, 5, 4), (1, 1, 4), 0),
        (lambda: layers.GlobalMaxPooling2D(), (5, 5, 4), (4,), 0),
        (lambda: layers.Flatten(), (3, 3, 64), (576,), 0),
        (lambda: layers.Dense(64), (576,), (64,), 36928),
        (lambda: layers.Dense(5), (7, 3), (7, 5), 20),
        (lambda: layers.Dropout(0.5), (10,), (10,), 0),
        (lambda: layers.Rescaling(1 / 255), (4, 4, 3), (4, 4, 3), 0),
        (lambda: layers.ReLU(), (7,), (7,), 0),
        (lambda: layers.Identity(), (7,), (7,), 0),
    ],
)
def test_shapes_and_params(make, in_shape, out_shape, params):
    layer = make()
    assert layer.compute_output_shape((None, *in_shape)) == (None, *out_shape)
    out = layer(np.random.default_rng(0).random((2, *in_shape)), training=False)
    assert out.shape == (2, *out_shape) and out.dtype == np.float32
    assert layer.built and layer.count_params() == params


def test_global_max_pooling_takes_the_maximum():
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 5)).astype(np.float32)
    np.testing.assert_array_equal(layers.GlobalMaxPooling2D()(x).numpy(), x.max(axis=(1, 2)))
    assert layers.GlobalMaxPool2D is layers.GlobalMaxPooling2D


def test_glorot_uniform_limits_and_zero_bias():
    ac.utils.set_random_seed(3)
    layer = layers.Dense(200)
    layer.build((None, 300))
    limit = np.sqrt(6 / 500)
    kernel = layer.kernel.numpy()
    assert kernel.dtype == np.float32 and np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit  # really spread over the range
    assert not layer.bias.numpy().any()


def test_conv_fans_count_the_receptive_field():
    ac.utils.set_random_seed(4)
    layer = layers.Conv2D(16, 3)
    layer.build((None, 8, 8, 4))
    limit = np.sqrt(6 / (9 * 4 + 9 * 16))
    assert 0.9 * limit < np.abs(layer.kernel.numpy()).max() <= limit


def test_seed_makes_weights_reproducible():
    def weights():
        ac.utils.set_random_seed(11)
        layer = layers.Conv2D(4, 3)
        layer.build((None, 5, 5, 2))
        return layer.kernel.numpy()

    np.testing.assert_array_equal(weights(), weights())


def test_dropout_only_in_training_and_keeps_expectation():
    ac.utils.set_random_seed(0)
    layer = layers.Dropout(0.25)
    x = ac.Tensor(np.ones((200, 100), np.float32))
    assert layer(x, training=False) is x
    assert layer(x) is x  # inference unless told otherwise
    out = layer(x, training=True).numpy()
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.02 and abs(out.mean() - 1) < 0.03


def test_dropout_with_a_seed_repeats_its_masks():
    x = np.ones((50, 20), np.float32)
    first = layers.Dropout(0.5, seed=7)(x, training=True).numpy()
    second = layers.Dropout(0.5, seed=7)(x, training=True).numpy()
    np.testing.assert_array_equal(first, second)


def test_dropout_gradient_uses_the_same_mask():
    ac.utils.set_random_seed(1)
    x = ac.Tensor(np.ones((4, 5)), requires_grad=True)
    out = layers.Dropout(0.5)(x, training=True)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, out.data)


def test_activations_by_name_and_unknown():
    x = ac.Tensor(np.array([[-1.0, 0.5]], np.float32))
    assert layers.Activation("tanh")(x).numpy()[0, 1] == np.tanh(np.float32(0.5))
    assert layers.Softmax()(x).numpy().sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="activation function identifier: 'no_such_thing'"):
        layers.Dense(3, activation="no_such_thing")


def test_a_callable_activation():
    layer = layers.Dense(2, activation=lambda t: t * 2.0, kernel_initializer="ones")
    np.testing.assert_array_equal(layer(np.ones((1, 3))).numpy(), [[6.0, 6.0]])


def test_dense_gradcheck():
    layer = layers.Dense(3, activation="tanh", dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 4))
    layer.build((None, 4))

    def fn(x, w, b):
        layer.kernel.data, layer.bias.data = w.data, b.data
        return layer.activation(x @ w + b)

    assert gradcheck(fn, [x, layer.kernel.numpy(), np.array([0.1, -0.2, 0.3])])


def test_dense_applies_to_the_last_axis_like_keras():
    layer = layers.Dense(4)
    x = np.random.default_rng(2).standard_normal((2, 5, 3)).astype(np.float32)
    out = layer(x).numpy()
    want = x @ layer.kernel.numpy() + layer.bias.numpy()
    np.testing.assert_allclose(out, want, rtol=1e-6)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: layers.Conv2D(0, 3), ValueError, "filters must be a positive int"),
        (lambda: layers.Dense(-1), ValueError, "units must be a positive int"),
        (lambda: layers.Dense(3.0), ValueError, "units must be a positive int"),
        (lambda: layers.Dropout(1.5), ValueError, "Expected a float value between 0 and 1"),
        (lambda: layers.MaxPooling2D(padding="full"), ValueError, "padding must be 'valid'"),
        (lambda: layers.Conv2D(4, 3, data_format="nchw"), ValueError, "`data_format` argument"),
        (lambda: layers.Dense(3, foo=1), ValueError, "Unrecognized keyword arguments"),
        (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2), ValueError, "together"),
        # Keras's wording (argument_validation.standardize_tuple / standardize_padding)
        (
            lambda: layers.Conv2D(4, 3.0),
            ValueError,
            r"Conv2D: The `kernel_size` argument must be a tuple of 2 integers\. Received "
            r"kernel_size=3\.0",
        ),
        (
            lambda: layers.Conv2D(4, 3, strides=1.5),
            ValueError,
            r"The `strides` argument must be a tuple of 2 integers\. Received strides=1\.5",
        ),
        (
            lambda: layers.Conv2D(4, (3, -1)),
            ValueError,
            r"kernel_size=\(3, -1\), including values \{-1\} that do not satisfy `value > 0`",
        ),
        (lambda: layers.Conv2D(4, 10**10), ValueError, r"kernel_size=10+, larger than 2147483647"),
        (lambda: layers.Conv2D(4, 3, dilation_rate="2"), ValueError, "`dilation_rate` argument"),
        (
            lambda: layers.Conv2D(4, 3, padding="full"),
            ValueError,
            r"The `padding` argument must be a list/tuple or one of \{'valid', 'same'\}",
        ),
        (
            lambda: layers.Conv2D(4, 3, padding=1.0),
            ValueError,
            r"Conv2D: padding must be 'valid', 'same', a non-negative int or a pair of them, got "
            r"1\.0",
        ),
        (lambda: layers.Conv2D(4, 3, padding=(1, -1)), ValueError, "padding must be 'valid'"),
        (lambda: layers.Conv2D(10**10, 3), ValueError, "filters must be at most 2147483647"),
        (
            lambda: layers.MaxPooling2D(2.0),
            ValueError,
            r"MaxPooling2D: The `pool_size` argument must be a tuple of 2 integers",
        ),
        (
            lambda: layers.AveragePooling2D(2, strides=(1, 0)),
            ValueError,
            r"`strides` argument .* including values \{0\}",
        ),
        (
            lambda: layers.Dropout(float("nan")),
            ValueError,
            r"Expected a float value between 0 and 1\. Received: rate=nan",
        ),
        (lambda: layers.Dropout(-0.5), ValueError, "Received: rate=-0.5"),
        (lambda: layers.Dropout("0.5"), ValueError, "Received: rate=0.5"),
        (lambda: layers.Dropout(0.5, seed=1.5), ValueError, "seed must be None or a non-negative"),
        (lambda: layers.Rescaling("1/255"), ValueError, "Rescaling: scale must be a number"),
        (lambda: layers.Rescaling(1.0, offset=[[1]]), ValueError, "offset must be a number"),
        (lambda: layers.ReLU(max_value="6"), ValueError, "ReLU: max_value must be a number"),
        (lambda: layers.ReLU(negative_slope=-1), ValueError, "cannot be None or negative"),
        (lambda: layers.Softmax(axis=1.0), ValueError, "Softmax: axis must be an int"),
        (lambda: layers.Concatenate(axis="1"), ValueError, "Concatenate: axis must be an int"),
        (lambda: layers.Dense(4, name=3), ValueError, "Argument `name` must be a string"),
        (lambda: layers.Dense(4, name="a/b"), ValueError, "cannot contain character `/`"),
        (lambda: layers.Input(shape=3.0), ValueError, "shape must be a tuple of ints or None"),
        (lambda: layers.Input(shape=(2, 0)), ValueError, "must be positive ints or None"),
        (lambda: layers.Input(shape=(2,), batch_size=-1), ValueError, "positive ints or None"),
    ],
)
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_numpy_integers_are_accepted_where_ints_are():
    layer = layers.Conv2D(np.int64(4), np.int64(3), strides=np.int32(1))
    assert layer.filters == 4 and layer.kernel_size == (3, 3)
    layer = layers.Conv2D(2, (np.int64(3), 3), padding=np.int64(1), dilation_rate=np.int8(1))
    assert layer.padding == 1 and type(layer.padding) is int
    assert layers.MaxPooling2D(np.int64(2), np.int32(1)).get_config()["strides"] == (1, 1)
    assert layers.Dense(np.int16(3)).units == 3 and layers.Dropout(np.float32(0.5)).rate == 0.5
    assert layers.Softmax(axis=np.int64(-1)).axis == -1
    assert layers.Input(shape=(np.int64(2),)).shape == (None, 2)


def test_axes_are_checked_against_the_input_rank():
    with pytest.raises(ValueError, match=r"Softmax .*axis 2 is out of bounds for inputs of rank 2"):
        layers.Softmax(axis=2)(np.ones((1, 3)))
    with pytest.raises(ValueError, match="axis 5 is out of bounds for inputs of rank 2"):
        layers.Concatenate(axis=5)([np.ones((1, 3)), np.ones((1, 3))])
    x = layers.Input(shape=(3,))
    with pytest.raises(ValueError, match="axis -3 is out of bounds"):
        layers.Concatenate(axis=-3)([x, x])


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4), (2, 2, 3, 4)])
def test_flatten_channels_first_as_keras(keras, shape):
    """Keras's Flatten(data_format="channels_first") moves the channels last before
    flattening (a rank-2 input is left as it is); its config keeps the layout."""
    import torch

    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    ours = layers.Flatten(data_format="channels_first", name="f")
    theirs = keras.layers.Flatten(data_format="channels_first", name="f")
    np.testing.assert_array_equal(ours(x).numpy(), theirs(torch.tensor(x)).numpy())
    assert ours.get_config() == theirs.get_config()


def test_concatenate_joins_along_the_batch_axis_as_keras(keras):
    """keras.io's semantic image clustering joins two augmented views of a batch with
    ``Concatenate(axis=0)`` in a model's call: Keras's layer takes axis 0, on data and on
    symbolic tensors (the batch size unknown there)."""
    a, b = np.ones((2, 3), np.float32), np.zeros((1, 3), np.float32)
    found = []
    for lib in (ac, keras):
        joined = lib.ops.convert_to_numpy(lib.layers.Concatenate(axis=0)([a, b]))
        x = lib.Input((3,))
        symbolic = lib.layers.Concatenate(axis=0)([x, x])
        found.append((joined.tolist(), tuple(symbolic.shape)))
    assert found[0] == found[1]


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Conv2D(8, (2, 3), strides=2, padding="same", activation="relu", name="c"),
        lambda: layers.Dense(5, activation="softmax", use_bias=False, name="d"),
        lambda: layers.MaxPooling2D(3, strides=1, padding="same", name="p"),
        lambda: layers.Dropout(0.3, seed=2, name="drop"),
        lambda: layers.Rescaling(1 / 255, offset=-1.0, name="r"),
    ],
)
def test_config_round_trip(make):
    layer = make()
    clone = layers.deserialize({"class_name": type(layer).__name__, "config": layer.get_config()})
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()


def test_deserialize_knows_only_autoconv_and_registered_layers():
    with pytest.raises(TypeError, match=r"Could not locate class 'os\.system'"):
        layers.deserialize({"class_name": "os.system", "config": {}})
    with pytest.raises(TypeError, match=r"Could not locate function 'x \* 2'"):
        layers.deserialize({"module": "keras.layers", "class_name": "Lambda",
                            "config": {"name": "twice", "function": "x * 2"}})  # fmt: skip
    with pytest.raises(ValueError, match="was passed a `config` object that is not a"):
        layers.deserialize(
            {"module": "keras.initializers", "class_name": "Zeros", "config": {}},
            custom_objects={"Zeros": ac.initializers.Zeros},
        )


@pytest.mark.parametrize(
    "make",
    [lambda k: k.layers.Dense(3, activation="relu", name="d"),
     lambda k: k.layers.Conv2D(2, 3, padding="same", name="conv")],
)  # fmt: skip
def test_serialize_and_deserialize_are_keras(keras, make):
    ours, theirs = make(ac), make(keras)
    ours.build((None, 5, 5, 4) if "conv" in ours.name else (None, 4))
    theirs.build((None, 5, 5, 4) if "conv" in theirs.name else (None, 4))
    entry = layers.serialize(ours)
    as_json = lambda e: json.loads(json.dumps(e))  # noqa: E731  (Keras's tuples, as in a file)
    assert as_json(entry) == as_json(keras.layers.serialize(theirs))
    assert type(keras.layers.deserialize(entry)) is type(theirs)
    rebuilt = layers.deserialize(keras.layers.serialize(theirs))
    assert type(rebuilt) is type(ours) and rebuilt.get_config() == ours.get_config()
    assert rebuilt.built


def test_deserialize_takes_custom_objects():
    class Doubling(layers.Layer):
        def call(self, x):
            return x * 2

    entry = {"module": None, "class_name": "Doubling", "config": {"name": "twice"},
             "registered_name": "Doubling"}  # fmt: skip
    layer = layers.deserialize(entry, custom_objects={"Doubling": Doubling})
    assert type(layer) is Doubling and layer.name == "twice"


def test_set_weights_copies_so_training_leaves_the_given_arrays_alone():
    layer = layers.Dense(2)
    layer.build((None, 3))
    given = [np.ones((3, 2), np.float32), np.zeros(2, np.float32)]
    layer.set_weights(given)
    layer.kernel.data += 1.0  # what an in-place optimizer update does
    np.testing.assert_array_equal(given[0], np.ones((3, 2)))


@pytest.mark.parametrize("name", ["TFSMLayer", "JaxLayer"])
def test_a_keras_layer_autoconv_lacks_is_named_in_the_error(name):
    with pytest.raises(AttributeError, match=f"keras.layers.{name} is not implemented"):
        getattr(layers, name)
    assert not hasattr(layers, name)


def test_every_name_the_layers_package_exports_exists():
    missing = [name for name in layers.__all__ if not hasattr(layers, name)]
    assert missing == []
    assert not set(layers.__all__) & layers.KERAS_LAYERS_NOT_IMPLEMENTED


def test_a_subclass_build_calling_super_names_weights_as_keras(keras):
    """The base class's build runs in the scope its subclass's opened: ``my_dense/kernel``,
    not ``my_dense/my_dense/kernel``."""

    def subclass(lib):
        class MyDense(lib.layers.Dense):
            def build(self, input_shape):
                super().build(input_shape)
                self.scale = self.add_weight(shape=(1,), name="scale")

        return MyDense(3)

    ours, theirs = subclass(ac), subclass(keras)
    ours.build((None, 2))
    theirs.build((None, 2))
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert [w.path for w in ours.weights] == ["my_dense/kernel", "my_dense/bias", "my_dense/scale"]
    assert ours.built


def _distance(lib):
    """keras.io's Siamese network's Lambda function, written with ``lib``'s ops."""

    def euclidean_distance(vects):
        x, y = vects
        squares = lib.ops.sum(lib.ops.square(x - y), axis=1, keepdims=True)
        return lib.ops.sqrt(lib.ops.maximum(squares, 1e-7))

    return euclidean_distance


def _lambda_model(lib):
    a, b = lib.Input((3,)), lib.Input((3,))
    distance = lib.layers.Lambda(_distance(lib), output_shape=(1,))([a, b])
    return lib.Model([a, b], lib.layers.Lambda(lambda t: t * 2, name="twice")(distance))


def test_a_lambda_layers_config_and_file_are_kerass(keras, tmp_path):
    """Keras writes a named function by its name and a Python lambda as its bytecode; Keras
    loads autoconv's file (the lambda with ``safe_mode=False``); autoconv loads a named
    function from ``custom_objects`` and never a lambda's bytecode."""
    ac.utils.clear_session()  # (the layers' automatic names count from here in both)
    keras.utils.clear_session()
    ours, theirs = _lambda_model(ac), _lambda_model(keras)
    assert ours.get_config()["layers"][2]["config"] == theirs.get_config()["layers"][2]["config"]
    lambda_entry = ours.get_config()["layers"][3]["config"]["function"]
    assert lambda_entry["class_name"] == "__lambda__"
    assert lambda_entry == theirs.get_config()["layers"][3]["config"]["function"] | {
        "config": lambda_entry["config"]  # (the bytecode names the line it was written on)
    }
    ours.save(tmp_path / "siamese.keras")
    x = [np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)]
    found = {"euclidean_distance": _distance(keras)}
    loaded = keras.saving.load_model(
        tmp_path / "siamese.keras", safe_mode=False, custom_objects=found
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), ours(x).numpy(), rtol=1e-6)
    with pytest.raises(ac.saving.ModelFileError, match="Lambda layer whose function is a Python"):
        ac.saving.load_model(tmp_path / "siamese.keras", {"euclidean_distance": _distance(ac)},
                             safe_mode=False)  # fmt: skip


@pytest.mark.parametrize("output_shape", [None, (1,), "function"])
def test_a_named_function_lambda_round_trips_through_custom_objects(tmp_path, output_shape):
    def shape_of(input_shape):
        return (input_shape[0][0], 1)

    inputs = ac.Input((3,))
    given = shape_of if output_shape == "function" else output_shape
    layer = layers.Lambda(_distance(ac), output_shape=given, arguments={}, name="d")
    model = ac.Model(inputs, layer([inputs, inputs * 0.5]))
    model.save(tmp_path / "m.keras")
    found = {"euclidean_distance": _distance(ac), "shape_of": shape_of}
    loaded = ac.saving.load_model(tmp_path / "m.keras", custom_objects=found)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_layer("d").get_config() == layer.get_config()
    with pytest.raises(ac.saving.ModelFileError, match="could not locate function"):
        ac.saving.load_model(tmp_path / "m.keras")


@pytest.mark.parametrize(
    ("make", "in_shape"),
    [
        (lambda k: k.layers.Dense(3, activation="softmax"), (2, 4)),
        (lambda k: k.layers.Dense(3, activation="relu"), (2, 4)),
        (lambda k: k.layers.Conv2D(3, 2, activation="relu"), (2, 5, 5, 2)),
        (lambda k: k.layers.SeparableConv2D(3, 2, activation="relu"), (2, 5, 5, 2)),
        (lambda k: k.layers.DepthwiseConv2D(2, activation="tanh"), (2, 5, 5, 2)),
        (lambda k: k.layers.Conv2DTranspose(3, 2, activation="sigmoid"), (2, 5, 5, 2)),
        (lambda k: k.layers.Conv1D(3, 2, activation="relu"), (2, 6, 2)),
        (lambda k: k.layers.EinsumDense("ab,bc->ac", 3, activation="relu"), (2, 4)),
        (lambda k: k.layers.SimpleRNN(3), (2, 4, 2)),
    ],
)
def test_an_activation_set_to_none_is_skipped_as_in_keras(keras, make, in_shape):
    """keras.io's Grad-CAM takes the softmax off with ``model.layers[-1].activation = None``:
    Keras's layers then skip the activation. (Keras's get_config then fails in
    ``activations.serialize(None)``; autoconv's writes None, which loads as linear.)"""
    x = np.random.default_rng(0).standard_normal(in_shape).astype(np.float32)
    ours, theirs = make(ac), make(keras)
    theirs(x)
    ours.build(in_shape)
    ours.set_weights(theirs.get_weights())
    target = ours.cell if isinstance(ours, layers.SimpleRNN) else ours
    target.activation = None
    (theirs.cell if isinstance(theirs, keras.layers.SimpleRNN) else theirs).activation = None
    np.testing.assert_allclose(ours(x).numpy(), theirs(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    if not isinstance(ours, layers.SimpleRNN):
        assert ours.get_config()["activation"] is None


def test_a_models_softmax_set_to_none_gives_the_logits():
    inputs = ac.Input((4,))
    model = ac.Model(inputs, layers.Dense(3, activation="softmax")(layers.Dense(5)(inputs)))
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    logits = model.layers[-1].pre_activation(model.layers[1](x)).numpy()
    model.layers[-1].activation = None
    np.testing.assert_allclose(model(x).numpy(), logits, rtol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), logits, rtol=1e-6)
