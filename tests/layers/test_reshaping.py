"""Reshaping layers (autoconv/layers/reshaping.py) against Keras 3: shapes, values, errors,
gradients, configs, and a saved model holding them.

The expected values transcribe keras/src/layers/reshaping/{reshape,permute,zero_padding2d,
cropping2d,up_sampling2d}.py (and their docstring examples): Reshape is ``ops.reshape`` to
(batch, *target_shape) with -1 resolved by ``operation_utils.compute_reshape_output_shape``,
Permute ``ops.transpose(x, (0, *dims))``, ZeroPadding2D ``ops.pad`` with zeros, Cropping2D a
slice, UpSampling2D ``ops.repeat`` along rows then columns ('nearest') or
``ops.image.resize`` (``tests.ops.test_spatial.reference_resize``, its JAX transcription).
"""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
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
        (lambda: layers.UpSampling2D(interpolation="bicubic"), ValueError, "not supported"),
        (lambda: layers.UpSampling2D(interpolation="cubic"), ValueError, "Invalid value"),
        (
            lambda: layers.Cropping2D(1, data_format="channels_first"),
            ValueError,
            "channels-last",
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
