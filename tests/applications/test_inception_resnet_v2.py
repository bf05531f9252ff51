"""InceptionResNetV2 and its CustomScaleLayer against Keras 3.15's own (on its PyTorch backend;
skipped where Keras or torch is not installed): Keras's layers, names, parameter counts and
configs; its numbers from Keras's weights in the published files' legacy .h5 layout, with the
top and without; Keras 3's .weights.h5 and .keras files both ways; the published files' names,
URLs and hashes; Keras's argument checks; the layer's float64 gradcheck and a short fit on the
CPU and on the CUDA device (the simulator)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest

import autoconv as ac
import autoconv.applications as applications
from autoconv.applications import common, inception_resnet_v2
from autoconv.applications.inception_resnet_v2 import CustomScaleLayer, inception_resnet_block
from autoconv.layers import clear_session
from autoconv.layers.serialization import deserialize, serialize
from autoconv.testing import gradcheck
from tests.applications.reference import keras_weights
from tests.applications.test_models import compare, images
from tests.layers.devices import fit_on_both_devices

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
from keras.src.applications import inception_resnet_v2 as keras_module  # noqa: E402
from keras.src.utils import file_utils as keras_file_utils  # noqa: E402


def as_json(config: dict[str, Any]) -> Any:
    """A config as a .keras file writes it (tuples as lists)."""
    return json.loads(json.dumps(config))


def test_same_layers_configs_and_numbers_as_keras(tmp_path):
    """Keras's weights, in the published files' legacy .h5 layout and in Keras 3's .weights.h5:
    Keras's layers, their configs, parameter counts and numbers, on inputs preprocessed as
    Keras's preprocess_input does."""
    arguments = {"input_shape": (75, 90, 3), "include_top": False, "pooling": "max"}
    keras_model, path = keras_weights(keras, "InceptionResNetV2", tmp_path / "w.h5", **arguments)
    keras_model.save_weights(tmp_path / "theirs.weights.h5")
    clear_session()
    model = applications.InceptionResNetV2(weights=str(path), **arguments)
    assert model.output_shape == keras_model.output_shape
    for layer, keras_layer in zip(model.layers, keras_model.layers, strict=True):
        assert type(layer).__name__ == type(keras_layer).__name__
        assert as_json(layer.get_config()) == as_json(keras_layer.get_config()), layer.name
    raw = images(90)[:, :75]
    x = inception_resnet_v2.preprocess_input(raw.copy())
    np.testing.assert_array_equal(x, keras_module.preprocess_input(raw.copy()))
    compare(keras_model, model, x)
    clear_session()
    model = applications.InceptionResNetV2(weights=None, **arguments)
    model.load_weights(tmp_path / "theirs.weights.h5")
    compare(keras_model, model, x)


def test_models_with_it_travel_both_ways_as_keras_files(tmp_path):
    """.keras files of a model with CustomScaleLayers (saved under Keras's module and
    registered name) travel both ways with the same predictions."""
    model = residual_model()
    x = np.random.default_rng(1).standard_normal((2, 5, 5, 3)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "ours.keras")
    theirs = keras.saving.load_model(tmp_path / "ours.keras")
    assert type(theirs.layers[4]) is keras_module.CustomScaleLayer
    assert theirs.layers[4].get_config() == as_json(model.layers[4].get_config())
    np.testing.assert_allclose(theirs.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    theirs.save(tmp_path / "theirs.keras")
    loaded = ac.load_model(tmp_path / "theirs.keras")
    assert type(loaded.layers[4]) is CustomScaleLayer and loaded.layers[4].scale == 0.5
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("include_top", [True, False])
def test_same_file_as_keras(include_top, monkeypatch):
    """The file name, URL and hash Keras asks for (both stop where the download would start)."""
    asked: list[tuple[str, str, str | None]] = []

    class Asked(Exception):
        pass

    def get_file(fname, origin, cache_subdir="datasets", file_hash=None, **_):
        assert cache_subdir == "models"
        asked.append((fname, origin, file_hash))
        raise Asked

    monkeypatch.setattr(keras_file_utils, "get_file", get_file)
    monkeypatch.setattr(common, "get_file", get_file)
    for build in (keras.applications.InceptionResNetV2, applications.InceptionResNetV2):
        with pytest.raises(Asked):
            build(weights="imagenet", include_top=include_top)
    assert asked[0] == asked[1]


def test_names_shapes_and_top():
    """Keras's default input and output shapes, model names and top (its layers' configs); a
    given input tensor."""
    keras.utils.clear_session()
    keras_model = keras.applications.InceptionResNetV2(weights=None, classifier_activation=None)
    model = applications.InceptionResNetV2(weights=None, classifier_activation=None)
    assert (model.name, model.input_shape, model.output_shape) == (
        keras_model.name, keras_model.input_shape, keras_model.output_shape
    )  # fmt: skip
    assert model.count_params() == keras_model.count_params()
    for layer, keras_layer in zip(model.layers[-3:], keras_model.layers[-3:], strict=True):
        assert as_json(layer.get_config()) == as_json(keras_layer.get_config())
    inputs = ac.Input((80, 80, 3))
    model = applications.InceptionResNetV2(
        input_tensor=inputs, include_top=False, weights=None, name="mine"
    )
    assert (model.inputs, model.name, model.output_shape) == ([inputs], "mine", (None, 1, 1, 1536))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"classes": 10}, "`classes` should be 1000"),
        ({"weights": "no/such/file.h5"}, "The `weights` argument should be"),
        ({"input_shape": (75, 75, 3)}, r"`input_shape` should be \(299, 299, 3\)"),
        ({"weights": None, "input_shape": (74, 80, 3), "include_top": False}, "at least 75x75"),
        ({"include_top": False, "input_shape": (80, 80, 1)}, "3 channels"),
        ({"weights": None, "input_shape": (None, None, 3)}, "static `input_shape`"),
    ],
)
def test_argument_errors(arguments, message):
    """Keras's checks, before any download; Keras refuses the same arguments."""
    with pytest.raises(ValueError, match=message):
        applications.InceptionResNetV2(**arguments)
    with pytest.raises(ValueError):
        keras.applications.InceptionResNetV2(**arguments)


def test_unknown_block_type():
    for block in (inception_resnet_block, keras_module.inception_resnet_block):
        with pytest.raises(ValueError, match='Expects "block35", "block17" or "block8"'):
            block(None, 0.1, "block42", 1)


# ------------------------------------------------------------------- CustomScaleLayer
@pytest.mark.parametrize(("shape", "scale"), [((2, 3, 4, 5), 0.17), ((3, 6), -2.0)])
def test_custom_scale_layer_is_keras(shape, scale, rng):
    """x + r * scale, Keras's config and object entry, read back by both."""
    import torch

    x, r = rng.standard_normal(shape), rng.standard_normal(shape)
    clear_session()
    keras.utils.clear_session()
    layer = CustomScaleLayer(scale, dtype="float64")
    keras_layer = keras_module.CustomScaleLayer(scale, dtype="float64")
    out = layer([ac.Tensor(x), ac.Tensor(r)]).numpy()
    np.testing.assert_allclose(out, x + r * scale, rtol=1e-12)
    expected = keras_layer([torch.tensor(x), torch.tensor(r)]).detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert layer.compute_output_shape([(None, *shape[1:])] * 2) == (None, *shape[1:])
    assert as_json(layer.get_config()) == as_json(keras_layer.get_config())
    entry = as_json(serialize(layer))
    keras_entry = as_json(keras.saving.serialize_keras_object(keras_layer))
    assert {k: v for k, v in entry.items() if k != "build_config"} == {
        k: v for k, v in keras_entry.items() if k != "build_config"
    }
    assert isinstance(deserialize(keras_entry), CustomScaleLayer)
    assert deserialize(keras_entry).get_config() == layer.get_config()
    assert keras.saving.deserialize_keras_object(entry).get_config() == keras_layer.get_config()


def test_custom_scale_layer_gradcheck(rng):
    layer = CustomScaleLayer(0.2, dtype="float64")
    shape = (2, 3, 3, 4)

    def fn(x, r):
        return layer([x, r])

    assert gradcheck(fn, [rng.standard_normal(shape), rng.standard_normal(shape)])


def test_custom_scale_layer_needs_two_inputs():
    with pytest.raises(ValueError, match=r"a list of two inputs \[x, r\]"):
        CustomScaleLayer(0.1).compute_output_shape((None, 4))


def residual_model() -> Any:
    """A small residual network of CustomScaleLayers (seeded weights)."""
    ac.utils.set_random_seed(5)
    inputs = ac.Input((5, 5, 3))
    x = ac.layers.Conv2D(4, 3, padding="same")(inputs)
    up = ac.layers.Conv2D(4, 1)(ac.layers.Activation("relu")(x))
    x = CustomScaleLayer(0.5)([x, up])
    outputs = ac.layers.Dense(3, activation="softmax")(ac.layers.GlobalAveragePooling2D()(x))
    return ac.Model(inputs, outputs)


@pytest.mark.cudasim
def test_fit_on_the_gpu_gives_the_cpus_losses():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 5, 5, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    fit_on_both_devices(residual_model, x, y, epochs=1)
