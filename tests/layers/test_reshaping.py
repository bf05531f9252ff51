"""Reshaping layers (autoconv/layers/reshaping.py) against Keras 3: shapes, values, errors,
gradients, configs, and a saved model holding them.

The expected values transcribe keras/src/layers/reshaping/{reshape,permute,zero_padding2d,
cropping2d,up_sampling2d}.py (and their docstring examples): Reshape is ``ops.reshape`` to
(batch, *target_shape) with -1 resolved by ``operation_utils.compute_reshape_output_shape``,
Permute ``ops.transpose(x, (0, *dims))``, ZeroPadding2D ``ops.pad`` with zeros, Cropping2D a
slice, UpSampling2D ``ops.repeat`` along rows then columns ('nearest') or
``ops.image.resize`` (``tests.ops.test_spatial.reference_resize``, its JAX transcription).
Cropping1D, ZeroPadding1D, UpSampling1D and RepeatVector are compared with real Keras 3 (on its
PyTorch backend, skipped without it): outputs, gradients, output shapes, configs and errors;
and a 1-D convnet of them fits on the GPU (the CUDA simulator) as on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.layers import reshaping, serialization
from autoconv.ops import image as image_ops
from autoconv.testing import gradcheck
from tests.ops.test_spatial import reference_resize

SHAPES = [  # (layer, input shape without the batch, Keras's output shape without the batch)
    (lambda: layers.Reshape((3, 4)), (12,), (3, 4)),
    (lambda: layers.Reshape((-1, 2, 2)), (12,), (3, 2, 2)),
    (lambda: layers.Reshape((6, -1)), (3, 2, 2), (6, 2)),
    (lambda: layers.Permute((2, 1)), (10, 64), (64, 10)),
    (lambda: layers.Permute((1, 3, 2)), (4, 5, 6), (4, 6, 5)),
    (lambda: layers.Permute((3, 1, 2)), (4, 5, 6), (6, 4, 5)),
    (lambda: layers.ZeroPadding2D(), (4, 5, 3), (6, 7, 3)),
    (lambda: layers.ZeroPadding2D(2), (4, 5, 3), (8, 9, 3)),
    (lambda: layers.ZeroPadding2D((1, 0)), (4, 5, 3), (6, 5, 3)),
    (lambda: layers.ZeroPadding2D(((1, 2), (3, 0))), (4, 5, 3), (7, 8, 3)),
    (lambda: layers.Cropping2D(((2, 2), (4, 4))), (28, 28, 3), (24, 20, 3)),  # Keras's example
    (lambda: layers.Cropping2D(1), (4, 5, 2), (2, 3, 2)),
    (lambda: layers.Cropping2D((0, 2)), (4, 5, 2), (4, 1, 2)),
    (lambda: layers.Cropping2D(), (4, 5, 2), (4, 5, 2)),
    (lambda: layers.UpSampling2D(), (2, 3, 4), (4, 6, 4)),
    (lambda: layers.UpSampling2D((1, 2)), (2, 1, 3), (2, 2, 3)),
    (lambda: layers.UpSampling2D(3, interpolation="bilinear"), (2, 3, 1), (6, 9, 1)),
]


@pytest.mark.parametrize(("make", "in_shape", "out_shape"), SHAPES)
def test_shapes_match_keras(make, in_shape, out_shape):
    layer = make()
    assert layer.compute_output_shape((None, *in_shape)) == (None, *out_shape)
    out = layer(np.random.default_rng(0).random((2, *in_shape)))
    assert out.shape == (2, *out_shape) and out.dtype == np.float32
    assert layer.count_params() == 0


def test_unknown_sizes_stay_unknown():
    assert layers.Reshape((-1, 4)).compute_output_shape((None, None, 2)) == (None, None, 4)
    assert layers.ZeroPadding2D(1).compute_output_shape((3, None, 5, 2)) == (3, None, 7, 2)
    assert layers.Cropping2D(1).compute_output_shape((None, 4, None, 2)) == (None, 2, None, 2)
    assert layers.UpSampling2D(2).compute_output_shape((None, None, 3, 1)) == (None, None, 6, 1)


def test_values_match_keras(rng):
    x = rng.standard_normal((2, 4, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(layers.Reshape((-1, 3))(x).numpy(), x.reshape(2, -1, 3))
    np.testing.assert_array_equal(layers.Permute((3, 1, 2))(x).numpy(), x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(
        layers.ZeroPadding2D(((1, 2), (0, 3)))(x).numpy(),
        np.pad(x, ((0, 0), (1, 2), (0, 3), (0, 0))),
    )
    np.testing.assert_array_equal(layers.Cropping2D(((1, 0), (2, 1)))(x).numpy(), x[:, 1:, 2:-1, :])
    np.testing.assert_array_equal(
        layers.UpSampling2D((2, 3))(x).numpy(), x.repeat(2, axis=1).repeat(3, axis=2)
    )
    np.testing.assert_allclose(
        layers.UpSampling2D((2, 3), interpolation="bilinear")(x).numpy(),
        reference_resize(x, (8, 18), "bilinear"),
        rtol=1e-6,
        atol=1e-6,
    )
    for interpolation in ("bicubic", "lanczos3", "LANCZOS5"):  # JAX's (ops.image.resize's)
        np.testing.assert_allclose(
            layers.UpSampling2D((2, 3), interpolation=interpolation)(x).numpy(),
            image_ops.resize(x, (8, 18), interpolation.lower()).numpy(),
            rtol=1e-6,
            atol=1e-6,
        )


def test_keras_docstring_examples():
    x = np.arange(4).reshape(1, 1, 2, 2)  # ZeroPadding2D's example
    padded = layers.ZeroPadding2D(padding=1)(x).numpy()
    want = [[[[0, 0], [0, 0], [0, 0], [0, 0]],
             [[0, 0], [0, 1], [2, 3], [0, 0]],
             [[0, 0], [0, 0], [0, 0], [0, 0]]]]  # fmt: skip
    np.testing.assert_array_equal(padded, want)
    x = np.arange(12).reshape(2, 2, 1, 3)  # UpSampling2D's example
    want = [[[[0, 1, 2], [0, 1, 2]], [[3, 4, 5], [3, 4, 5]]],
            [[[6, 7, 8], [6, 7, 8]], [[9, 10, 11], [9, 10, 11]]]]  # fmt: skip
    np.testing.assert_array_equal(layers.UpSampling2D(size=(1, 2))(x).numpy(), want)
    y = layers.Reshape((-1, 2, 2))(np.zeros((1, 12)))
    assert y.shape == (1, 3, 2, 2)


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Reshape((3, -1), dtype="float64"),
        lambda: layers.Permute((3, 1, 2), dtype="float64"),
        lambda: layers.ZeroPadding2D(((1, 2), (0, 1)), dtype="float64"),
        lambda: layers.Cropping2D(((1, 0), (1, 2)), dtype="float64"),
        lambda: layers.UpSampling2D((2, 3), dtype="float64"),
        lambda: layers.UpSampling2D((3, 2), interpolation="bilinear", dtype="float64"),
    ],
)
def test_gradcheck(make, rng):
    layer = make()
    assert gradcheck(lambda t: layer(t), [rng.standard_normal((2, 3, 4, 2))])


def test_float32_in_float32_out_with_gradients(rng):
    for layer in (layers.Permute((2, 1, 3)), layers.UpSampling2D(interpolation="bilinear")):
        x = ac.Tensor(rng.standard_normal((2, 3, 4, 2)).astype(np.float32), requires_grad=True)
        out = layer(x)
        out.sum().backward()
        assert out.dtype == np.float32 and x.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: layers.Reshape((-1, -1)), ValueError, "must not contain more than one `-1`"),
        (lambda: layers.Reshape((3, 0)), ValueError, "positive ints and at most one -1"),
        (lambda: layers.Permute((1, 3)), ValueError, "must be consecutive and start from 1"),
        (lambda: layers.ZeroPadding2D((1, 2, 3)), ValueError, "should have two elements"),
        (lambda: layers.ZeroPadding2D(-1), ValueError, "`padding` cannot be negative"),
        (
            lambda: layers.ZeroPadding2D(((1, -1), (0, 0))),
            ValueError,
            r"The `1st entry of padding` argument must be a tuple of 2 integers.*value >= 0",
        ),
        (lambda: layers.ZeroPadding2D("same"), ValueError, "should have two elements"),
        (lambda: layers.ZeroPadding2D(1.5), ValueError, "should be either an int"),
        (lambda: layers.Cropping2D(-1), ValueError, "`cropping` cannot be negative"),
        (lambda: layers.UpSampling2D(0), ValueError, r"`size` argument .* `value > 0`"),
        (lambda: layers.UpSampling2D(interpolation="cubic"), ValueError, "Invalid value"),
        (
            lambda: layers.Cropping2D(1, data_format="nhwc"),
            ValueError,
            "`data_format` argument must be one of",
        ),
    ],
)
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_inputs_give_keras_messages():
    with pytest.raises(ValueError, match=r"The total size of the tensor must be unchanged"):
        layers.Reshape((5,)).compute_output_shape((None, 12))
    with pytest.raises(ValueError, match=r"cannot by divided by the specified dimensions"):
        layers.Reshape((5, -1))(np.zeros((2, 12)))
    with pytest.raises(ValueError, match=r'"permute" is incompatible .* ndim=3, found ndim=4'):
        layers.Permute((2, 1))(np.zeros((1, 2, 3, 4)))
    with pytest.raises(ValueError, match=r"should be smaller than the corresponding spatial"):
        layers.Cropping2D(((2, 2), (0, 0)))(np.zeros((1, 4, 5, 1)))
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=3"):
        layers.ZeroPadding2D().compute_output_shape((None, 4, 5))


def test_uppercase_interpolation_is_lowered_as_keras_does():
    assert layers.UpSampling2D(interpolation="Bilinear").interpolation == "bilinear"


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Reshape((-1, 4), name="r"),
        lambda: layers.Permute((2, 3, 1), name="p"),
        lambda: layers.ZeroPadding2D(((1, 2), (3, 4)), name="z"),
        lambda: layers.Cropping2D((2, 1), name="c"),
        lambda: layers.UpSampling2D((2, 3), interpolation="bilinear", name="u"),
    ],
)
def test_config_round_trip(make):
    layer = make()
    clone = layers.deserialize({"class_name": type(layer).__name__, "config": layer.get_config()})
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()


def test_keras_config_values():
    assert layers.ZeroPadding2D(2).get_config()["padding"] == ((2, 2), (2, 2))
    assert layers.Cropping2D((1, 0)).get_config()["cropping"] == ((1, 1), (0, 0))
    assert layers.UpSampling2D(2).get_config()["size"] == (2, 2)
    assert layers.Permute([2, 1]).get_config()["dims"] == (2, 1)
    assert layers.Reshape([3, 4]).get_config()["target_shape"] == (3, 4)


def reshaping_model() -> ac.Sequential:
    return ac.Sequential(
        [
            layers.Reshape((6, 6, 1), input_shape=(36,)),
            layers.ZeroPadding2D(((1, 0), (0, 2))),
            layers.Conv2D(2, 3, activation="relu"),
            layers.Cropping2D(((1, 0), (0, 1))),
            layers.UpSampling2D((1, 2), interpolation="bilinear"),
            layers.Permute((2, 1, 3)),
            layers.UpSampling2D(),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )


def test_a_model_of_them_trains_saves_and_loads(tmp_path, rng, capsys):
    ac.utils.set_random_seed(0)
    model = reshaping_model()
    model.summary()
    assert "zero_padding2d (ZeroPadding2D)" in capsys.readouterr().out
    assert [layer.output.shape[1:] for layer in model.layers[:7]] == [
        (6, 6, 1), (7, 8, 1), (5, 6, 2), (4, 5, 2), (4, 10, 2), (10, 4, 2), (20, 8, 2),
    ]  # fmt: skip
    x = rng.random((16, 36)).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 3, 16), 3)
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = ac.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]


# ------------------------------------------------- the 1-D layers and RepeatVector, with Keras
SEQUENCE_CASES = [  # (class name, arguments, one sample's input shape)
    ("Cropping1D", {}, (5, 3)),
    ("Cropping1D", {"cropping": 2}, (6, 2)),
    ("Cropping1D", {"cropping": (0, 3)}, (5, 2)),
    ("Cropping1D", {"cropping": [2, 0]}, (4, 1)),
    ("ZeroPadding1D", {}, (4, 3)),
    ("ZeroPadding1D", {"padding": 3}, (2, 2)),
    ("ZeroPadding1D", {"padding": (0, 2)}, (5, 1)),
    ("ZeroPadding1D", {"padding": (2, 1), "data_format": "channels_last"}, (3, 2)),
    ("UpSampling1D", {}, (3, 2)),
    ("UpSampling1D", {"size": 1}, (4, 3)),
    ("UpSampling1D", {"size": 3}, (4, 1)),
    ("RepeatVector", {"n": 1}, (3,)),
    ("RepeatVector", {"n": 4}, (5,)),
]
SEQUENCE_IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(SEQUENCE_CASES)]


def ours(name: str, **kwargs) -> layers.Layer:
    return getattr(reshaping, name)(**kwargs)


@pytest.mark.parametrize(("name", "kwargs", "shape"), SEQUENCE_CASES, ids=SEQUENCE_IDS)
def test_outputs_and_gradients_match_keras(keras, name, kwargs, shape, rng):
    import torch

    x = rng.standard_normal((3, *shape)).astype(np.float32)
    layer, theirs = ours(name, **kwargs), getattr(keras.layers, name)(**kwargs)
    mine = ac.Tensor(x, requires_grad=True)
    out = layer(mine)
    reference = torch.tensor(x, requires_grad=True)
    expected = theirs(reference)
    assert out.shape == tuple(expected.shape) and out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), expected.detach().numpy())
    upstream = rng.standard_normal(out.shape).astype(np.float32)
    (out * upstream).sum().backward()
    (expected * torch.from_numpy(upstream)).sum().backward()
    np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-6, atol=1e-6)
    assert layer.count_params() == 0


@pytest.mark.parametrize(("name", "kwargs", "shape"), SEQUENCE_CASES, ids=SEQUENCE_IDS)
def test_output_shapes_match_keras_with_unknown_sizes(keras, name, kwargs, shape):
    unknown_steps = [(None, *shape), (7, *shape), (None, None, *shape[1:])]
    for input_shape in unknown_steps:
        want = getattr(keras.layers, name)(**kwargs).compute_output_shape(input_shape)
        assert ours(name, **kwargs).compute_output_shape(input_shape) == tuple(want)


def test_unknown_sequence_sizes_stay_unknown():
    assert reshaping.Cropping1D((1, 2)).compute_output_shape((None, None, 4)) == (None, None, 4)
    assert reshaping.Cropping1D((1, 2)).compute_output_shape((3, 10, None)) == (3, 7, None)
    assert reshaping.ZeroPadding1D(2).compute_output_shape((None, None, 4)) == (None, None, 4)
    assert reshaping.ZeroPadding1D((0, 1)).compute_output_shape((None, 5, 2)) == (None, 6, 2)
    assert reshaping.UpSampling1D(3).compute_output_shape((None, None, 4)) == (None, None, 4)
    assert reshaping.UpSampling1D(3).compute_output_shape((2, 5, None)) == (2, 15, None)
    assert reshaping.RepeatVector(3).compute_output_shape((None, None)) == (None, 3, None)
    inputs = ac.Input(shape=(None, 3))
    x = reshaping.UpSampling1D(2)(reshaping.Cropping1D(1)(reshaping.ZeroPadding1D(2)(inputs)))
    assert x.shape == (None, None, 3)
    assert reshaping.RepeatVector(4)(ac.Input(shape=(5,))).shape == (None, 4, 5)


@pytest.mark.parametrize(("name", "kwargs", "shape"), SEQUENCE_CASES, ids=SEQUENCE_IDS)
def test_configs_are_keras_and_read_back(keras, name, kwargs, shape):
    mine = ours(name, **kwargs).get_config()
    theirs = getattr(keras.layers, name)(**kwargs).get_config()
    mine.pop("name"), theirs.pop("name")
    assert mine == theirs
    entry = {
        "module": "keras.layers",
        "class_name": name,
        "config": theirs,
        "registered_name": None,
    }
    clone = serialization.deserialize(entry)  # a Keras file's entry
    assert type(clone) is getattr(reshaping, name) and clone.get_config() | {"name": 0} == (
        theirs | {"name": 0}
    )


def test_keras_docstring_examples_of_the_1d_layers():
    x = np.arange(12).reshape(2, 3, 2)  # Cropping1D's
    np.testing.assert_array_equal(reshaping.Cropping1D(cropping=1)(x).numpy(), [[[2, 3]], [[8, 9]]])
    x = np.arange(12).reshape(2, 2, 3)  # ZeroPadding1D's and UpSampling1D's
    padded = reshaping.ZeroPadding1D(padding=2)(x).numpy()
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (2, 2), (0, 0))))
    want = [[[0, 1, 2], [0, 1, 2], [3, 4, 5], [3, 4, 5]],
            [[6, 7, 8], [6, 7, 8], [9, 10, 11], [9, 10, 11]]]  # fmt: skip
    np.testing.assert_array_equal(reshaping.UpSampling1D(size=2)(x).numpy(), want)
    assert reshaping.RepeatVector(3)(ac.Input(shape=(32,))).shape == (None, 3, 32)


@pytest.mark.parametrize(
    "make",
    [
        lambda: reshaping.Cropping1D((2, 1), dtype="float64"),
        lambda: reshaping.Cropping1D((0, 3), dtype="float64"),
        lambda: reshaping.ZeroPadding1D((1, 2), dtype="float64"),
        lambda: reshaping.UpSampling1D(3, dtype="float64"),
        lambda: reshaping.RepeatVector(3, dtype="float64"),
    ],
)
def test_gradcheck_1d(make, rng):
    layer = make()
    shape = (2, 4) if isinstance(layer, reshaping.RepeatVector) else (2, 5, 3)
    assert gradcheck(lambda t: layer(t), [rng.standard_normal(shape)])


BAD_ARGUMENTS = [  # (class name, arguments): each refused by Keras with the same error
    ("Cropping1D", {"cropping": -1}),
    ("Cropping1D", {"cropping": (1, 2, 3)}),
    ("Cropping1D", {"cropping": 1.5}),
    ("Cropping1D", {"cropping": ("a", 1)}),
    ("ZeroPadding1D", {"padding": -2}),
    ("ZeroPadding1D", {"padding": (1, -1)}),
    ("ZeroPadding1D", {"padding": [1]}),
    ("UpSampling1D", {"size": 0}),
    ("UpSampling1D", {"size": 2.0}),
    ("UpSampling1D", {"size": True}),
    ("UpSampling1D", {"size": (2,)}),
    ("RepeatVector", {"n": -1}),
    ("RepeatVector", {"n": "3"}),
    ("RepeatVector", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), BAD_ARGUMENTS)
def test_bad_arguments_are_keras_errors(keras, name, kwargs):
    with pytest.raises((TypeError, ValueError)) as theirs:
        getattr(keras.layers, name)(**kwargs)
    with pytest.raises(theirs.type) as mine:
        ours(name, **kwargs)
    assert str(mine.value) == str(theirs.value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: reshaping.Cropping1D((2, 3))(np.zeros((1, 5, 2))),
            r"`cropping` parameter of `Cropping1D` layer must be smaller than the input length. "
            r"Received: input_shape=\(1, 5, 2\), cropping=\(2, 3\)",
        ),
        (
            lambda: reshaping.Cropping1D(4).compute_output_shape((None, 7, 2)),
            "must be smaller than the input length",
        ),
        (
            lambda: reshaping.ZeroPadding1D()(np.zeros((1, 2, 3, 4))),
            r'"zero_padding1d" is incompatible .* expected ndim=3, found ndim=4',
        ),
        (lambda: reshaping.UpSampling1D()(np.zeros((2, 3))), "expected ndim=3, found ndim=2"),
        (lambda: reshaping.RepeatVector(2)(np.zeros((2, 3, 1))), "expected ndim=2, found ndim=3"),
        (
            lambda: reshaping.Cropping1D().compute_output_shape((None, 4)),
            "expected ndim=3, found ndim=2",
        ),
    ],
)
def test_bad_inputs_are_keras_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def sequence_model() -> ac.Model:
    """A 1-D convnet through every layer above (keras-io's time-series classifier's shape)."""
    inputs = ac.Input(shape=(10, 2))
    x = reshaping.ZeroPadding1D((1, 2))(inputs)
    x = layers.Conv1D(4, 3, activation="relu")(x)
    x = reshaping.Cropping1D((1, 0))(x)
    x = reshaping.UpSampling1D(2)(x)
    x = layers.Conv1D(3, 2, strides=2, activation="tanh")(x)
    x = reshaping.RepeatVector(2)(layers.GlobalAveragePooling1D()(x))
    x = layers.Conv1D(2, 2)(x)
    return ac.Model(inputs, layers.Dense(3, activation="softmax")(layers.Flatten()(x)))


def sequence_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((12, 10, 2)).astype(np.float32)
    return x, ac.utils.to_categorical(rng.integers(0, 3, 12), 3)


def test_a_1d_convnet_of_them_trains_saves_and_loads_in_keras(keras, tmp_path, rng):
    ac.utils.set_random_seed(0)
    model = sequence_model()
    assert [layer.output.shape[1:] for layer in model.layers[1:8]] == [
        (13, 2), (11, 4), (10, 4), (20, 4), (10, 3), (3,), (2, 3),
    ]  # fmt: skip
    x, y = sequence_data(rng)
    model.compile("adam", "categorical_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.keras")
    expected = model.predict(x, verbose=0)
    np.testing.assert_array_equal(
        ac.load_model(tmp_path / "m.keras").predict(x, verbose=0), expected
    )
    theirs = keras.saving.load_model(tmp_path / "m.keras")
    assert [type(layer).__name__ for layer in theirs.layers] == [
        type(layer).__name__ for layer in model.layers
    ]
    np.testing.assert_allclose(
        np.asarray(theirs.predict(x, verbose=0)), expected, rtol=1e-5, atol=1e-6
    )


@pytest.mark.cudasim
@pytest.mark.parametrize(("name", "kwargs", "shape"), SEQUENCE_CASES[::2], ids=SEQUENCE_IDS[::2])
def test_a_1d_layer_on_the_gpu_computes_as_on_the_cpu(name, kwargs, shape, rng):
    pytest.importorskip("numba_cuda")
    from tests.backends.cuda_checks import assert_same_on_both

    layer = ours(name, dtype="float64", **kwargs)
    assert_same_on_both(lambda t: layer(t), [rng.standard_normal((2, *shape))], rng)


@pytest.mark.cudasim
def test_a_1d_convnet_of_them_fits_on_the_gpu_as_on_the_cpu(rng):
    pytest.importorskip("numba_cuda")
    ac.utils.set_random_seed(3)
    cpu_model, gpu_model = sequence_model(), sequence_model()
    gpu_model.set_weights(cpu_model.get_weights())
    gpu_model.to("cuda")
    x, y = sequence_data(rng)
    losses = []
    for model in (cpu_model, gpu_model):
        model.compile("sgd", "categorical_crossentropy")
        history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
        losses.append(history.history["loss"])
    assert gpu_model.device == "cuda"
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    for gpu, cpu in zip(gpu_model.get_weights(), cpu_model.get_weights(), strict=True):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-6)
