"""autoconv.backend (keras.backend) and Keras's numeric defaults in autoconv.config: floatx,
epsilon (read by the losses when they run), image_data_format, names (get_uid), dtypes
(standardize_dtype, result_type: Keras's promotion lattice, checked against Keras's own)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import autoconv as ac
from autoconv import backend, config, layers

# Keras on PyTorch (the Keras these tests compare with) narrows 64-bit results to 32 bits;
# autoconv keeps them, as Keras on TensorFlow does (see autoconv/backend.py).
NARROWED = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}
PROMOTED = [d for d in backend.ALLOWED_DTYPES if d not in (*backend.FLOAT8_TYPES, "string")]


@pytest.fixture(autouse=True)
def keras_defaults(monkeypatch):
    """Each test starts from Keras's defaults and leaves them as they were."""
    monkeypatch.setattr(config, "_floatx", "float32")
    monkeypatch.setattr(config, "_epsilon", 1e-7)
    monkeypatch.setattr(config, "_image_data_format", "channels_last")


def outcome(function, *args):
    try:
        return function(*args)
    except ValueError:
        return ValueError


def test_the_namespace_has_keras_backends_names(keras):
    names = {n for n in dir(keras.backend) if not n.startswith("_")}
    assert names <= set(backend.__all__)
    assert ac.backend is backend
    assert backend.backend() == config.backend() == "autoconv"


@pytest.mark.parametrize("count", [1, 2, 3])
def test_result_type_is_kerass_lattice(keras, count):
    operands = [*PROMOTED, int, float, bool, None]
    combinations = list(itertools.product(operands, repeat=count))
    if count == 3:  # every triple of a sample: the pairs already walk the whole lattice
        combinations = combinations[::7]
    for dtypes in combinations:
        ours = outcome(backend.result_type, *dtypes)
        ours = NARROWED.get(ours, ours) if isinstance(ours, str) else ours
        assert ours == outcome(keras.backend.result_type, *dtypes), dtypes


@pytest.mark.parametrize(
    ("dtypes", "expected"),
    [
        (("int32", "float32"), "float32"),
        (("int8", int), "int8"),  # a Python int is weak: it takes the other's width
        (("uint8", "int8"), "int16"),
        (("float16", "bfloat16"), "float32"),
        ((bool, "bool"), "bool"),
        ((int, float), "float32"),
        (("float64", "float32"), "float64"),  # kept: autoconv computes in float64
        ((), "float32"),
    ],
)
def test_result_type_examples(dtypes, expected):
    assert backend.result_type(*dtypes) == expected


def test_result_type_of_float8_or_unknown_dtypes_is_a_value_error():
    with pytest.raises(ValueError, match="no implicit conversions from float8"):
        backend.result_type("float8_e4m3fn", "float32")
    with pytest.raises(ValueError, match="Invalid dtype: float7"):
        backend.result_type("float7")


@pytest.mark.parametrize(
    "dtype", [*backend.ALLOWED_DTYPES, int, float, bool, str, "int", None, np.float64,
              np.dtype("uint8"), np.zeros(1, np.int16).dtype, "float7", "Float32"],
)  # fmt: skip
def test_standardize_dtype_is_kerass(keras, dtype):
    assert outcome(backend.standardize_dtype, dtype) == outcome(
        keras.backend.standardize_dtype, dtype
    )


@pytest.mark.parametrize(
    ("dtype", "is_float", "is_int"),
    [("float32", True, False), ("bfloat16", True, False), ("uint8", False, True),
     ("int64", False, True), ("bool", False, False), (float, True, False), (None, True, False)],
)  # fmt: skip
def test_float_and_int_dtypes(dtype, is_float, is_int):
    assert backend.is_float_dtype(dtype) is is_float
    assert backend.is_int_dtype(dtype) is is_int


def test_get_uid_counts_with_the_names_layers_take():
    backend.clear_session()
    assert layers.Dense(1).name == "dense"
    assert backend.get_uid("dense") == 2
    assert layers.Dense(1).name == "dense_2"
    assert [backend.get_uid("other") for _ in range(3)] == [1, 2, 3]


def test_keras_tensors_are_a_graphs_symbolic_tensors():
    x = ac.Input((3,))
    assert backend.is_keras_tensor(x) and backend.is_keras_tensor(layers.Dense(2)(x))
    assert not backend.is_keras_tensor(ac.Tensor(np.ones(3)))
    assert not backend.is_keras_tensor(np.ones(3))


def test_floatx_takes_kerass_values_and_autoconvs_precisions():
    assert config.floatx() == backend.floatx() == "float32"
    backend.set_floatx("float64")
    assert config.floatx() == "float64"
    with pytest.raises(ValueError, match="no half precision"):
        config.set_floatx("float16")
    with pytest.raises(ValueError, match="Unknown `floatx` value: float8"):
        config.set_floatx("float8")
    assert config.floatx() == "float64"


def test_the_losses_clip_with_the_epsilon_set(keras):
    y_true, y_pred = np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]], np.float32)
    assert ac.losses.categorical_crossentropy(y_true, y_pred).item() == pytest.approx(
        -np.log(1e-7), rel=1e-5
    )
    backend.set_epsilon(1e-3)
    keras.config.set_epsilon(1e-3)
    try:
        for name in ("categorical_crossentropy", "binary_crossentropy", "kl_divergence"):
            ours = getattr(ac.losses, name)(y_true, y_pred).numpy()
            theirs = np.asarray(getattr(keras.losses, name)(y_true, y_pred))
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, err_msg=name)
    finally:
        keras.config.set_epsilon(1e-7)
    assert config.epsilon() == 1e-3


@pytest.mark.parametrize("value", [-1e-7, 0.5, "small", True, float("nan")])
def test_epsilon_must_be_a_small_number(value):
    with pytest.raises(ValueError, match="set_epsilon"):
        config.set_epsilon(value)


def test_image_data_format_takes_kerass_values():
    assert backend.image_data_format() == "channels_last"
    config.set_image_data_format("Channels_First")
    assert config.image_data_format() == "channels_first"
    with pytest.raises(ValueError, match="Received: data_format=nchw"):
        config.set_image_data_format("nchw")


def test_the_top_level_has_kerass_base_classes_and_version():
    assert (ac.Loss, ac.Metric, ac.Optimizer) == (ac.losses.Loss, ac.metrics.Metric,
                                                  ac.optimizers.Optimizer)  # fmt: skip
    assert (ac.Initializer, ac.Regularizer) == (ac.initializers.Initializer,
                                                ac.regularizers.Regularizer)  # fmt: skip
    assert isinstance(ac.Input((2,)), ac.KerasTensor)
    assert ac.version() == ac.__version__


def test_a_loss_subclassed_from_the_top_level_trains():
    class Scaled(ac.Loss):
        def call(self, y_true, y_pred):
            return ac.ops.mean(ac.ops.square(y_true - y_pred), axis=-1) * 2.0

    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(8, 2)
    model = ac.Sequential([ac.Input((2,)), layers.Dense(1, kernel_initializer="zeros")])
    model.compile(ac.optimizers.SGD(0.1), Scaled())
    history = model.fit(x, x[:, :1], epochs=3, batch_size=8, verbose=0).history
    assert history["loss"][0] == pytest.approx(2 * np.mean(x[:, :1] ** 2), rel=1e-6)
    assert history["loss"][-1] < history["loss"][0]


def test_layers_made_after_set_floatx_float64_compute_in_float64():
    config.set_floatx("float64")
    layer = layers.Dense(2, kernel_initializer="glorot_uniform")
    out = layer(np.ones((3, 4), np.float32))
    assert layer.dtype == "float64" and layer.kernel.dtype == np.float64
    assert out.dtype == np.float64
    assert ac.initializers.GlorotUniform()((2, 2)).dtype == np.float64
    config.set_floatx("float32")
    assert layers.Dense(2).dtype == "float32"


def test_set_image_data_format_reaches_layers_and_ops():
    images = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)  # channels first
    config.set_image_data_format("channels_first")
    conv = layers.Conv2D(2, 3)  # Keras's default layout for a layer given none
    assert conv.data_format == conv.get_config()["data_format"] == "channels_first"
    assert conv(images).shape == (2, 2, 2, 2)
    resized = ac.ops.image.resize(images, (2, 2))
    assert resized.shape == (2, 3, 2, 2)  # read as channels-first, as Keras's default says
    config.set_image_data_format("channels_last")
    assert layers.Conv2D(2, 3, data_format=None).filters == 2
    assert ac.ops.image.resize(images, (2, 2)).shape == (2, 2, 2, 4)
