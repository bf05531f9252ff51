"""ConvNeXt against Keras 3.15's own (on its PyTorch backend; skipped where Keras or torch is not
installed): a small architecture through both builders (Keras's weights in its published
legacy .h5 layout, each layer's config, .weights.h5 and .keras files both ways), ConvNeXtTiny's
layers and the variants' table, the published files' names, URLs and hashes, Keras's argument
checks; the module's LayerScale and StochasticDepth (float64 gradients, training), and a short
fit on the CPU and on the CUDA device (the simulator where there is no GPU)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv import config
from autoconv.applications import common, convnext
from autoconv.layers import clear_session
from autoconv.testing import gradcheck
from tests.applications.reference import randomize, save_legacy_weights
from tests.applications.test_models import compare, images
from tests.layers.devices import fit_on_both_devices

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
from keras.src.applications import convnext as keras_convnext  # noqa: E402
from keras.src.utils import file_utils as keras_file_utils  # noqa: E402

# A small ConvNeXt (two blocks in the third stage) through the builder both libraries share.
SMALL = {"depths": [1, 1, 2, 1], "projection_dims": [8, 16, 24, 32], "name": "convnext_s"}


def keras_small(path: Any = None, **arguments: Any) -> Any:
    """Keras's small ConvNeXt with random statistics, biases and layer scales (saved to
    ``path`` in the published files' layout when given)."""
    keras.utils.clear_session()
    model = keras_convnext.ConvNeXt(weights=None, **SMALL, **arguments)
    randomize(model)
    rng = np.random.default_rng(1)
    for variable in model.weights:
        if variable.path.endswith("_layer_scale/variable"):
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
    if path is not None:
        save_legacy_weights(model, path)
    return model


def as_json(entry: Any) -> Any:
    """A config as a .keras file writes it (tuples as lists), without the ``build_config`` of
    the InputLayers nested in a Sequential (autoconv writes one, Keras none; both read both)."""
    if isinstance(entry, dict):
        return {
            key: as_json(value)
            for key, value in entry.items()
            if not (key == "build_config" and entry.get("class_name") == "InputLayer")
        }
    if isinstance(entry, list | tuple):
        return [as_json(value) for value in entry]
    return entry


def same_configs(model: Any, keras_model: Any) -> None:
    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in keras_model.layers
    ]
    for layer, keras_layer in zip(model.layers, keras_model.layers, strict=True):
        assert as_json(layer.get_config()) == as_json(keras_layer.get_config()), layer.name


@pytest.mark.parametrize(
    "arguments",
    [
        {"input_shape": (32, 32, 3), "classes": 5, "drop_path_rate": 0.1},
        {"input_shape": (None, None, 3), "include_top": False},
        {"input_shape": (32, 48, 3), "include_top": False, "pooling": "avg"},
        {"input_shape": (32, 32, 3), "include_top": False, "pooling": "max",
         "include_preprocessing": False, "layer_scale_init_value": None},
        {"input_shape": (32, 32, 1), "classes": 3, "classifier_activation": None},
    ],
)  # fmt: skip
def test_same_as_keras(arguments, tmp_path):
    """Keras's layers, names, parameter counts, configs and numbers from Keras's weights."""
    keras_model = keras_small(tmp_path / "weights.h5", **arguments)
    clear_session()
    model = convnext.ConvNeXt(weights=str(tmp_path / "weights.h5"), **SMALL, **arguments)
    assert model.output_shape == keras_model.output_shape
    rows, cols, channels = arguments["input_shape"]
    raw = images(max(rows or 40, cols or 40))[:, : rows or 40, : cols or 40, :channels]
    x = convnext.preprocess_input(raw.copy())
    np.testing.assert_array_equal(x, keras.applications.convnext.preprocess_input(raw.copy()))
    compare(keras_model, model, x)
    same_configs(model, keras_model)


def test_variants_are_keras():
    """The variants' table, weights files and hashes are Keras's; ConvNeXtTiny (28.6 million
    weights) has Keras's layers, parameter counts and configs."""
    assert convnext.MODEL_CONFIGS == keras_convnext.MODEL_CONFIGS
    assert convnext.WEIGHTS_HASHES == keras_convnext.WEIGHTS_HASHES
    assert convnext.BASE_WEIGHTS_PATH == keras_convnext.BASE_WEIGHTS_PATH
    keras.utils.clear_session()
    keras_model = keras.applications.ConvNeXtTiny(weights=None, input_shape=(32, 32, 3))
    model = ac.applications.ConvNeXtTiny(weights=None, input_shape=(32, 32, 3))
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers]
    assert [layer.count_params() for layer in model.layers] == [
        layer.count_params() for layer in keras_model.layers
    ]
    assert model.count_params() == keras_model.count_params() == 28_589_128
    assert model.name == keras_model.name == "convnext_tiny"
    same_configs(model, keras_model)


def test_keras_files_both_ways(tmp_path):
    """Keras 3's .weights.h5 loads into autoconv's model; .keras files (LayerScale and
    StochasticDepth under Keras's module) travel both ways with the same predictions."""
    arguments = {"input_shape": (32, 32, 3), "classes": 4, "drop_path_rate": 0.2}
    keras_model = keras_small(**arguments)
    keras_model.save_weights(tmp_path / "theirs.weights.h5")
    keras_model.save(tmp_path / "theirs.keras")
    clear_session()
    model = convnext.ConvNeXt(weights=None, **SMALL, **arguments)
    model.load_weights(tmp_path / "theirs.weights.h5")
    x = images(32)
    compare(keras_model, model, x)
    expected = keras_model.predict(x, verbose=0)
    from_theirs = ac.load_model(tmp_path / "theirs.keras")
    assert type(from_theirs.get_layer("convnext_s_stage_0_block_0_layer_scale")) is (
        convnext.LayerScale
    )
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
    model.save(tmp_path / "ours.keras")
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    assert type(from_ours.get_layer("convnext_s_stage_1_block_0_stochastic_depth")) is (
        keras_convnext.StochasticDepth
    )
    np.testing.assert_allclose(from_ours.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "arguments",
    [{}, {"include_top": False}, {"include_top": False, "name": "convnext_tiny_2"}],
)
def test_same_file_as_keras(arguments, monkeypatch):
    """The file name, URL and hash Keras asks for (both stop where the download would start)."""
    asked: dict[str, Any] = {}

    class Asked(Exception):
        pass

    def get_file(fname, origin, cache_subdir="datasets", file_hash=None, **_):
        asked["autoconv" if "keras" in asked else "keras"] = (fname, origin, file_hash)
        assert cache_subdir == "models"
        raise Asked

    monkeypatch.setattr(keras_file_utils, "get_file", get_file)
    monkeypatch.setattr(common, "get_file", get_file)
    for build in (keras.applications.ConvNeXtTiny, ac.applications.ConvNeXtTiny):
        with pytest.raises(Asked):
            build(weights="imagenet", **arguments)
    assert asked["autoconv"] == asked["keras"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"weights": "no/such/file.h5"}, "The `weights` argument should be either"),
        ({"classes": 10}, "`classes` should be 1000"),
        ({"name": "mine"}, 'Model name "mine" does not match weights variant'),
        ({"classifier_activation": "sigmoid"}, "Only `None` and `softmax`"),
        ({"weights": None, "include_top": False, "input_shape": (31, 32, 3)}, "at least 32x32"),
        ({"input_shape": (64, 64, 3)}, r"`input_shape` should be \(224, 224, 3\)"),
    ],
)
def test_argument_errors(arguments, message):
    """Keras's checks, before any download; Keras refuses the same arguments."""
    with pytest.raises(ValueError, match=message):
        ac.applications.ConvNeXtTiny(**arguments)
    with pytest.raises(ValueError):
        keras.applications.ConvNeXtTiny(**arguments)


def test_builder_and_format_errors():
    """ImageNet weights need the variant's architecture; channels_first is refused."""
    arguments = {"weights": "imagenet", "weights_name": "convnext_small", "include_top": False}
    with pytest.raises(ValueError, match="Architecture configuration does not match"):
        convnext.ConvNeXt(**{**SMALL, "name": "convnext_small"}, **arguments)
    with pytest.raises(ValueError, match="Architecture configuration does not match"):
        keras_convnext.ConvNeXt(**{**SMALL, "name": "convnext_small"}, **arguments)
    config.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match="does not support the `channels_first`"):
            ac.applications.ConvNeXtTiny(weights=None)
    finally:
        config.set_image_data_format("channels_last")


def test_layer_scale_and_stochastic_depth(rng):
    """LayerScale scales the last axis by its weight (float64 gradients through both);
    StochasticDepth keeps or drops each sample whole in training, the identity in inference;
    their configs are Keras's, and bad arguments one ValueError."""
    layer = convnext.LayerScale(0.5, 4, dtype="float64")
    layer.build((None, 3, 4))
    keras_layer = keras_convnext.LayerScale(0.5, 4, dtype="float64")
    keras_layer.build((None, 3, 4))
    # one weight, Keras's unnamed "variable" (numbered by Keras's session in a lone layer)
    assert [(w.path, w.shape) for w in layer.weights] == [("layer_scale/variable", (4,))]
    assert [tuple(w.shape) for w in keras_layer.weights] == [(4,)]
    assert as_json(layer.get_config()) == as_json(keras_layer.get_config())

    def fn(x, gamma):
        layer.gamma = gamma
        return layer(x)

    assert gradcheck(fn, [rng.standard_normal((2, 3, 4)), rng.uniform(0.5, 1.5, 4)])
    assert as_json(convnext.StochasticDepth(0.25).get_config()) == as_json(
        keras_convnext.StochasticDepth(0.25).get_config()
    )
    drop = convnext.StochasticDepth(0.5)
    x = rng.uniform(1.0, 2.0, (64, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(drop(x).numpy(), x)
    out = drop(x, training=True).numpy()
    kept = np.all(out == x * 2, axis=(1, 2))
    assert np.all(kept | np.all(out == 0, axis=(1, 2))) and 10 < kept.sum() < 54
    for bad in ({"drop_path_rate": 1.0}, {"drop_path_rate": "0.1"}):
        with pytest.raises(ValueError, match="drop_path_rate must be a number in"):
            convnext.StochasticDepth(**bad)
    with pytest.raises(ValueError, match="projection_dim must be a positive int"):
        convnext.LayerScale(1e-6, 0)
    with pytest.raises(ValueError, match="last axis must be projection_dim=4"):
        convnext.LayerScale(1e-6, 4)(np.zeros((1, 5)))


@pytest.mark.cudasim
def test_on_the_gpu(tmp_path):
    """On the CUDA device: Keras's features; stochastic depth drops whole samples there too,
    and a short fit through a LayerScale gives the CPU's losses and weights."""
    pytest.importorskip("numba_cuda")
    arguments = {"input_shape": (32, 32, 3), "include_top": False, "pooling": "avg"}
    keras_model = keras_small(tmp_path / "weights.h5", **arguments)
    clear_session()
    model = convnext.ConvNeXt(weights=tmp_path / "weights.h5", **SMALL, **arguments)
    x = images(32)[:1]
    np.testing.assert_allclose(
        model.to("cuda").predict(x, verbose=0),
        keras_model.predict(x, verbose=0),
        rtol=1e-4,
        atol=1e-5,
    )
    ones = ac.Tensor(np.ones((16, 2, 2), np.float32)).to("cuda")
    out = convnext.StochasticDepth(0.5)(ones, training=True).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0} and np.all(out == out[:, :1, :1])

    def make_model():
        model = ac.Sequential([
            ac.Input((4, 4, 2)), ac.layers.Conv2D(3, 3), convnext.LayerScale(0.5, 3),
            ac.layers.Flatten(), ac.layers.Dense(3, activation="softmax"),
        ])  # fmt: skip
        model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape) * 0.5
                           for i, w in enumerate(model.get_weights())])  # fmt: skip
        return model

    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 4, 4, 2)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    fit_on_both_devices(make_model, x, y)
