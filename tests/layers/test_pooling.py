"""Pooling layers, 1-D (MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D,
GlobalMaxPooling1D and their aliases) beside the 2-D ones: Keras's output shapes, values against
a direct reference and PyTorch, gradients, configs, errors and a saved sequence model; and the
adaptive poolings, 1-D and 2-D, against real Keras 3.15 (values and gradients in float64,
configs, files both ways) and on the CUDA simulator."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.testing import gradcheck
from tests.conftest import distinct
from tests.layers.devices import fit_on_both_devices
from tests.layers.test_convolutional_1d import keras_and_ours


@pytest.mark.parametrize(
    ("make", "in_shape", "out_shape"),
    [
        (lambda: layers.MaxPooling1D(), (10, 3), (5, 3)),
        (lambda: layers.MaxPool1D(2, strides=1), (5, 1), (4, 1)),
        (lambda: layers.MaxPooling1D(3, padding="same"), (7, 2), (3, 2)),
        (lambda: layers.AveragePooling1D(pool_size=(3,), strides=(2,)), (9, 4), (4, 4)),
        (lambda: layers.AvgPool1D(2, 1, "same"), (5, 1), (5, 1)),
        (lambda: layers.GlobalAveragePooling1D(), (7, 5), (5,)),
        (lambda: layers.GlobalAvgPool1D(keepdims=True), (7, 5), (1, 5)),
        (lambda: layers.GlobalMaxPooling1D(), (7, 5), (5,)),
        (lambda: layers.GlobalMaxPool1D(keepdims=True), (7, 5), (1, 5)),
        (lambda: layers.GlobalMaxPool2D(keepdims=True), (4, 3, 5), (1, 1, 5)),
        (lambda: layers.AvgPool2D((2, 3), padding="same"), (5, 7, 2), (3, 3, 2)),
    ],
)
def test_shapes_as_keras(make, in_shape, out_shape):
    layer = make()
    assert layer.compute_output_shape((None, *in_shape)) == (None, *out_shape)
    out = layer(np.random.default_rng(0).random((2, *in_shape)))
    assert out.shape == (2, *out_shape) and out.dtype == np.float32
    assert layer.count_params() == 0


def reference_pool_1d(x, size, stride, padding, reduce):
    """Windows of ``size`` steps every ``stride``; 'same' pads so the output has
    ceil(L / stride) steps, the odd extra step at the end, and reduces over the steps inside."""
    length = x.shape[1]
    if padding == "valid":
        out, before = (length - size) // stride + 1, 0
    else:
        out = -(-length // stride)
        before = max((out - 1) * stride + size - length, 0) // 2
    rows = []
    for t in range(out):
        start = t * stride - before
        rows.append(reduce(x[:, max(start, 0) : start + size], axis=1))
    return np.stack(rows, axis=1)


@pytest.mark.parametrize(("size", "stride", "padding"),
                         [(2, None, "valid"), (3, 1, "valid"), (2, 1, "same"), (3, 2, "same"),
                          (4, 3, "same"), (1, 2, "valid")])  # fmt: skip
@pytest.mark.parametrize("kind", ["max", "average"])
def test_values_as_keras(kind, size, stride, padding, rng):
    x = distinct((2, 9, 3), rng)
    make = layers.MaxPooling1D if kind == "max" else layers.AveragePooling1D
    out = make(size, stride, padding, dtype="float64")(x).numpy()
    reduce = np.max if kind == "max" else np.mean
    np.testing.assert_allclose(
        out, reference_pool_1d(x, size, stride or size, padding, reduce), rtol=1e-12
    )


def test_keras_docstring_examples():
    """keras/src/layers/pooling/max_pooling1d.py's examples on [1, 2, 3, 4, 5]."""
    x = np.arange(1.0, 6.0).reshape(1, 5, 1)
    results = {
        (1, "valid"): [2, 3, 4, 5],
        (2, "valid"): [2, 4],
        (1, "same"): [2, 3, 4, 5, 5],
    }
    for (strides, padding), want in results.items():
        out = layers.MaxPooling1D(pool_size=2, strides=strides, padding=padding)(x)
        np.testing.assert_array_equal(out.numpy().reshape(-1), want)


@pytest.mark.parametrize(("size", "stride"), [(2, None), (3, 2), (3, 1)])
def test_valid_pooling_matches_torch(size, stride, rng, torch):
    x = distinct((2, 10, 3), rng)
    tx = torch.tensor(x.transpose(0, 2, 1))
    for make, pool in ((layers.MaxPooling1D, torch.nn.functional.max_pool1d),
                       (layers.AveragePooling1D, torch.nn.functional.avg_pool1d)):  # fmt: skip
        out = make(size, stride, dtype="float64")(x).numpy()
        ref = pool(tx, size, stride or size).numpy().transpose(0, 2, 1)
        np.testing.assert_allclose(out, ref, rtol=1e-12)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_1d_reduces_the_steps(keepdims, rng):
    x = rng.standard_normal((3, 6, 4)).astype(np.float32)
    mean = layers.GlobalAveragePooling1D(keepdims=keepdims)(x).numpy()
    top = layers.GlobalMaxPooling1D(keepdims=keepdims)(x).numpy()
    np.testing.assert_allclose(mean, x.mean(axis=1, keepdims=keepdims), rtol=1e-6)
    np.testing.assert_array_equal(top, x.max(axis=1, keepdims=keepdims))


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("GlobalAveragePooling1D", (2, 3, 5)),
        ("GlobalMaxPooling1D", (2, 3, 5)),
        ("GlobalAveragePooling2D", (2, 3, 4, 2)),
        ("GlobalMaxPooling3D", (2, 3, 2, 2, 2)),
    ],
)
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_channels_first_as_keras(keras, name, shape, keepdims, rng):
    """(batch, C, ...) reduced over the trailing axes: values, gradients, shapes and config
    (Keras's float64 mean is float32-close only, hence the tolerance)."""
    kwargs = {"data_format": "channels_first", "keepdims": keepdims}
    ours, theirs = keras_and_ours(keras, name, kwargs, [rng.standard_normal(shape)], rng)
    for mine, expected in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, expected, rtol=1e-6, atol=1e-7)
    kwargs["name"] = "pool"
    layer, reference = getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    unknown = (None, *shape[1:])
    assert layer.compute_output_shape(unknown) == reference.compute_output_shape(unknown)
    assert layer.get_config() == reference.get_config()


def test_global_average_pooling_1d_channels_first_masked_as_keras(keras, rng):
    """A mask (batch, steps) averages the kept steps, the last axis when channels-first."""
    import torch

    x = rng.standard_normal((2, 3, 5)).astype(np.float32)
    mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1]], dtype=bool)
    mine = layers.GlobalAveragePooling1D(data_format="channels_first")(x, mask=mask).numpy()
    theirs = keras.layers.GlobalAveragePooling1D(data_format="channels_first")(
        torch.tensor(x), mask=torch.tensor(mask)
    )
    np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.MaxPooling1D(3, 2, "same"),
        lambda: layers.AveragePooling1D(2, 1, "same"),
        lambda: layers.AveragePooling1D(3),
        lambda: layers.GlobalAveragePooling1D(),
        lambda: layers.GlobalMaxPooling1D(keepdims=True),
    ],
)
def test_gradcheck_through_the_layer(make, rng):
    layer = make()
    layer = type(layer).from_config(layer.get_config() | {"dtype": "float64"})
    assert gradcheck(layer, [distinct((2, 7, 3), rng)])


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.MaxPooling1D(3, strides=1, padding="same", name="p"),
        lambda: layers.AveragePooling1D(2, name="a"),
        lambda: layers.GlobalAveragePooling1D(keepdims=True, name="g"),
        lambda: layers.GlobalMaxPooling1D(name="m"),
        lambda: layers.MaxPooling2D((2, 3), strides=1, name="p2"),
        lambda: layers.GlobalAveragePooling2D(keepdims=True, name="g2"),
    ],
)
def test_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    clone = layers.deserialize({"class_name": type(layer).__name__, "config": config})
    assert type(clone) is type(layer) and clone.get_config() == config
    assert config["data_format"] == "channels_last"


@pytest.mark.parametrize(
    "name",
    ["MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
     "AveragePooling3D", "GlobalAveragePooling1D", "GlobalMaxPooling2D"],
)  # fmt: skip
def test_config_entries_in_keras_s_order(keras, name):
    """As Keras's config.json lists them (pool_size, padding, strides, data_format)."""
    args = (2,) if "Global" not in name else ()
    theirs = getattr(keras.layers, name)(*args).get_config()
    assert list(getattr(layers, name)(*args).get_config()) == list(theirs)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: layers.MaxPooling1D(padding="full"), "padding must be 'valid' or 'same'"),
        (lambda: layers.MaxPooling2D(padding="causal"), "padding must be 'valid' or 'same'"),
        (lambda: layers.AveragePooling2D(2, padding=1), "padding must be 'valid' or 'same'"),
        (lambda: layers.AveragePooling1D(0), "pool_size"),
        (lambda: layers.MaxPooling1D((2, 2)), "must be a tuple of 1 integers"),
        (lambda: layers.AveragePooling1D(2, data_format="nwc"), "`data_format` argument must"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("name", ["AveragePooling1D", "AvgPool2D", "AveragePooling3D"])
def test_average_poolings_need_a_pool_size_as_keras(keras, name):
    with pytest.raises(TypeError, match="pool_size"):
        getattr(keras.layers, name)()
    with pytest.raises(TypeError, match="pool_size"):
        getattr(layers, name)()


@pytest.mark.parametrize("name", ["MaxPooling1D", "AveragePooling2D", "MaxPool3D", "AvgPool3D"])
def test_the_name_is_the_fifth_positional_argument_as_keras(keras, name):
    for lib in (keras, ac):
        layer = getattr(lib.layers, name)(2, None, "valid", None, "pool")
        assert layer.name == "pool" == layer.get_config()["name"]


@pytest.mark.parametrize("padding", ["SAME", "Same", "VALID", "Valid"])
@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (layers.MaxPooling2D, (2, 5, 7, 3)),
        (layers.AveragePooling2D, (2, 5, 7, 3)),
        (layers.MaxPooling1D, (2, 7, 3)),
        (layers.AveragePooling1D, (2, 7, 3)),
    ],
)
def test_padding_is_case_insensitive(make, shape, padding, rng):
    """keras.ops.max_pool and average_pool lower-case the padding: 'SAME' pools as 'same'."""
    x = rng.random(shape)
    layer = make(2, padding=padding)
    assert layer.padding == padding.lower() == layer.get_config()["padding"]
    want = make(2, padding=padding.lower())(x).numpy()
    np.testing.assert_array_equal(layer(x).numpy(), want)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *want.shape[1:])


def test_wrong_input_rank_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(batch, steps, channels\)"):
        layers.MaxPooling1D()(np.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"\(batch, steps, channels\)"):
        layers.GlobalAveragePooling1D()(np.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"\(batch, height, width, channels\)"):
        layers.GlobalMaxPooling2D()(np.zeros((1, 4, 1)))


def sequence_model() -> ac.Model:
    inputs = ac.Input(shape=(12, 3))
    x = layers.Conv1D(6, 3, padding="causal", dilation_rate=2, activation="relu")(inputs)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(4, 2, groups=2, activation="tanh")(x)
    x = layers.AveragePooling1D(2, padding="same")(x)
    pooled = [layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)]
    return ac.Model(inputs, layers.Dense(2, activation="softmax")(layers.concatenate(pooled)))


def test_a_sequence_model_trains_summarizes_and_round_trips(tmp_path, rng):
    ac.utils.set_random_seed(4)
    model = sequence_model()
    assert model.count_params() == (3 * 3 * 6 + 6) + (2 * 3 * 4 + 4) + (8 * 2 + 2)
    lines = []
    model.summary(print_fn=lines.append)
    assert "(MaxPooling1D)" in lines[0] and "(None, 6, 6)" in lines[0]
    x = rng.standard_normal((8, 12, 3)).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 2, 8), 2)
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "sequence.keras")
    loaded = ac.load_model(tmp_path / "sequence.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------------ adaptive pooling
ADAPTIVE = ["AdaptiveAveragePooling1D", "AdaptiveMaxPooling1D", "AdaptiveAveragePooling2D",
            "AdaptiveMaxPooling2D", "AdaptiveAveragePooling3D", "AdaptiveMaxPooling3D"]  # fmt: skip
# (rank, output_size, one sample's shape): windows that divide evenly, overlap, and outnumber
# the cells
ADAPTIVE_CASES = [
    (1, 3, (9, 2)),
    (1, [4], (7, 3)),
    (1, (5,), (3, 2)),
    (2, 2, (4, 4, 2)),
    (2, (2, 3), (5, 7, 2)),
    (2, [3, 1], (2, 5, 3)),
    (3, 2, (4, 3, 5, 2)),
    (3, (1, 3, 2), (2, 5, 3, 1)),
]


def adaptive_cases() -> list:
    return [
        pytest.param(name, size, shape, id=f"{name}-{size}-{shape}")
        for rank, size, shape in ADAPTIVE_CASES
        for name in ADAPTIVE
        if name.endswith(f"{rank}D")
    ]


@pytest.mark.parametrize(("name", "size", "shape"), adaptive_cases())
def test_adaptive_outputs_and_gradients_match_keras(keras, name, size, shape, rng):
    x = distinct((2, *shape), rng)
    ours, theirs = keras_and_ours(keras, name, {"output_size": size}, [x], rng)
    for mine, expected in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, expected, rtol=1e-12, atol=1e-14)
    layer = getattr(layers, name)(size)
    expected = tuple(getattr(keras.layers, name)(size).compute_output_shape((None, *shape)))
    assert layer.compute_output_shape((None, *shape)) == expected
    assert layer(x.astype(np.float32)).dtype == np.float32 and layer.count_params() == 0


@pytest.mark.parametrize(("name", "size", "shape"), adaptive_cases()[::3])
def test_adaptive_gradcheck(name, size, shape, rng):
    layer = getattr(layers, name)(size, dtype="float64")
    assert gradcheck(layer, [distinct((2, *shape), rng)])


def test_adaptive_windows_are_pytorchs(rng):
    """Output i of n cells pools cells floor(i*n/out) to ceil((i+1)*n/out) - 1."""
    x = rng.standard_normal((1, 7, 1))
    out = layers.AdaptiveMaxPooling1D(3, dtype="float64")(x).numpy()[0, :, 0]
    np.testing.assert_array_equal(out, [x[0, 0:3, 0].max(), x[0, 2:5, 0].max(), x[0, 4:7, 0].max()])
    mean = layers.AdaptiveAveragePooling2D((1, 2), dtype="float64")(x.reshape(1, 1, 7, 1))
    np.testing.assert_allclose(mean.numpy().ravel(), [x[0, :4].mean(), x[0, 3:].mean()], 1e-12)


@pytest.mark.parametrize(("name", "size"), [("AdaptiveAveragePooling1D", 3),
                                            ("AdaptiveMaxPooling1D", [2]),
                                            ("AdaptiveAveragePooling2D", 4),
                                            ("AdaptiveMaxPooling2D", (2, 3)),
                                            ("AdaptiveAveragePooling3D", 2),
                                            ("AdaptiveMaxPooling3D", (1, 2, 3))])  # fmt: skip
def test_adaptive_configs_are_keras_and_read_back(keras, name, size):
    ours, theirs = getattr(layers, name)(size), getattr(keras.layers, name)(size)
    assert {**ours.get_config(), "name": None} == {**theirs.get_config(), "name": None}
    config = ours.get_config()
    clone = layers.deserialize({"class_name": name, "config": config})
    assert type(clone) is type(ours) and clone.get_config() == config


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: layers.AdaptiveAveragePooling1D((2, 2)), ValueError,
         "must be a tuple of 1 integers"),
        (lambda: layers.AdaptiveMaxPooling2D((2, 2, 2)), ValueError,
         "must be a tuple of 2 integers"),
        (lambda: layers.AdaptiveMaxPooling2D(0), ValueError, "output_size"),
        (lambda: layers.AdaptiveAveragePooling1D(2.5), TypeError, "`output_size` must be an int"),
        (lambda: layers.AdaptiveMaxPooling1D(2, data_format="nwc"), ValueError,
         "`data_format` argument must be one of"),
        (lambda: layers.AdaptiveAveragePooling2D(2)(np.zeros((1, 4, 2))), ValueError,
         r"\(batch, height, width, channels\)"),
        (lambda: layers.AdaptiveMaxPooling3D(2)(np.zeros((1, 4, 4, 2))), ValueError,
         r"\(batch, depth, height, width, channels\)"),
    ],
)  # fmt: skip
def test_adaptive_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def adaptive_model(lib) -> Any:
    """Sequences and images of any size to fixed sizes, then a classifier."""
    model = lib.Sequential([
        lib.Input((7, 9, 2)), lib.layers.AdaptiveMaxPooling2D((3, 4)),
        lib.layers.AdaptiveAveragePooling2D(2), lib.layers.Reshape((4, 2)),
        lib.layers.AdaptiveAveragePooling1D(3), lib.layers.AdaptiveMaxPooling1D(2),
        lib.layers.Flatten(), lib.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape)
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def test_an_adaptive_model_travels_both_ways(keras, tmp_path, rng):
    x = rng.standard_normal((4, 7, 9, 2)).astype(np.float32)
    ours, theirs = adaptive_model(ac), adaptive_model(keras)
    expected = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(np.asarray(from_ours.predict(x, verbose=0)), expected, 1e-5, 1e-6)
    from_theirs = ac.saving.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, 1e-5, 1e-6)


@pytest.mark.cudasim
def test_adaptive_fit_on_the_gpu_gives_the_cpus_losses(rng):
    x = rng.standard_normal((8, 7, 9, 2)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    fit_on_both_devices(lambda: adaptive_model(ac), x, y)


# -------------------------------------------------------------- unknown (None) sizes
@pytest.mark.parametrize(
    ("name", "arguments", "in_shape"),
    [
        ("MaxPooling1D", {"pool_size": 1024}, (None, 16)),  # wider than any probe size
        ("MaxPooling1D", {"pool_size": 16}, (None, 16)),  # coarser than the probes' spread
        ("AveragePooling1D", {"pool_size": 8, "padding": "same"}, (None, 4)),
        ("MaxPooling2D", {"pool_size": 8}, (None, None, 3)),
        ("AveragePooling2D", {"pool_size": 16, "strides": 16}, (32, None, 3)),
        ("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (None, 20, 3)),
        ("MaxPooling3D", {"pool_size": 8}, (None, None, 9, 2)),
        ("AveragePooling3D", {"pool_size": 300}, (None, 300, None, 2)),
    ],
)
def test_an_unknown_size_pools_to_an_unknown_size_as_keras(keras, name, arguments, in_shape):
    """An unknown (None) size gives None whatever the pool, as Keras's; known sizes are
    computed."""
    ours = getattr(layers, name)(**arguments)(ac.Input(in_shape)).shape
    theirs = getattr(keras.layers, name)(**arguments)(keras.Input(in_shape)).shape
    assert tuple(ours) == tuple(theirs)


@pytest.mark.parametrize("points", [16, 1024])
def test_a_global_feature_pooled_over_unknown_points_is_tiled_back(points, rng):
    """PointNet's segmentation head: MaxPool1D(pool_size=points) on Input((None, 3)) features,
    tiled back to every point and concatenated with them."""
    inputs = ac.Input((None, 3))
    features = layers.Conv1D(4, 1)(inputs)
    pooled = layers.MaxPool1D(pool_size=points)(features)
    assert pooled.shape == (None, None, 4)
    tiled = ac.ops.tile(pooled, [1, points, 1])
    outputs = layers.Concatenate()([features, tiled])
    model = ac.Model(inputs, outputs)
    x = rng.standard_normal((2, points, 3)).astype(np.float32)
    got = model.predict(x, verbose=0)
    assert got.shape == (2, points, 8)
    np.testing.assert_allclose(
        got[:, :, 4:], np.broadcast_to(got[:, :, :4].max(1, keepdims=True), (2, points, 4))
    )
