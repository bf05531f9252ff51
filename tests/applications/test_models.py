"""Every application model against Keras 3.15's own (on its PyTorch backend; skipped where Keras
or torch is not installed), at the smallest input Keras accepts: the same layer names in order,
the same parameter count per layer and in all, the same model name; Keras's weights, in the
layout of its published files, load into autoconv's model, which then predicts Keras's numbers
(inference); the top's options (classes, classifier activation, pooling, alpha, input_tensor)
and Keras's argument checks."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

import autoconv as ac
import autoconv.applications as applications
from autoconv import layers
from autoconv.layers import clear_session
from tests.applications.reference import keras_weights

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")

TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}

# (function, its module, the smallest input size Keras accepts, more arguments)
ARCHITECTURES: list[tuple[str, str, int, dict[str, Any]]] = [
    ("MobileNetV2", "mobilenet_v2", 32, {}),
    ("MobileNetV2", "mobilenet_v2", 33, {"alpha": 1.3}),
    ("ResNet50", "resnet", 32, {}),
    ("ResNet50V2", "resnet_v2", 32, {}),
    ("VGG16", "vgg16", 32, {}),
    ("VGG19", "vgg19", 32, {}),
    ("MobileNet", "mobilenet", 32, {}),
    ("MobileNet", "mobilenet", 32, {"alpha": 0.5, "depth_multiplier": 2}),
    ("EfficientNetB0", "efficientnet", 32, {}),
    ("EfficientNetB3", "efficientnet", 32, {}),
    ("MobileNetV3Small", "mobilenet_v3", 32, {}),
    ("MobileNetV3Large", "mobilenet_v3", 32, {"alpha": 0.75}),
    ("MobileNetV3Small", "mobilenet_v3", 32, {"minimalistic": True}),
    ("DenseNet121", "densenet", 32, {}),
    ("Xception", "xception", 71, {}),
    ("InceptionV3", "inception_v3", 75, {}),
]


def images(size: int, seed: int = 0) -> np.ndarray:
    """Two random RGB images (2, size, size, 3) in [0, 255]."""
    return np.random.default_rng(seed).uniform(0, 255, (2, size, size, 3)).astype(np.float32)


def compare(keras_model: Any, model: Any, x: np.ndarray) -> None:
    """Same layers (names, parameter counts), same model name, same predictions."""
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers]
    assert [layer.count_params() for layer in model.layers] == [
        layer.count_params() for layer in keras_model.layers
    ]
    assert model.count_params() == keras_model.count_params()
    assert model.name == keras_model.name
    expected = keras_model.predict(x, verbose=0)
    assert np.ptp(expected) > 1e-3  # the outputs depend on the weights and inputs
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, **TOLERANCE)


@pytest.mark.parametrize(
    ("function", "module", "size", "arguments"),
    ARCHITECTURES,
    ids=[f"{f}-{'-'.join(map(str, a.values())) or 'default'}" for f, _, _, a in ARCHITECTURES],
)
def test_same_as_keras(function, module, size, arguments, tmp_path):
    """With the top (7 classes), Keras's weights: Keras's layers and numbers, on inputs
    preprocessed as each module's preprocess_input does (compared with Keras's too)."""
    arguments = {"input_shape": (size, size, 3), "classes": 7, **arguments}
    keras_model, path = keras_weights(keras, function, tmp_path / "weights.h5", **arguments)
    clear_session()
    model = getattr(applications, function)(weights=str(path), **arguments)
    raw = images(size)
    x = getattr(applications, module).preprocess_input(raw.copy())
    expected = getattr(keras.applications, module).preprocess_input(raw.copy())
    np.testing.assert_array_equal(x, expected)
    compare(keras_model, model, x)


@pytest.mark.parametrize(
    ("function", "pooling"),
    [("MobileNetV2", None), ("EfficientNetB0", "avg"), ("MobileNetV3Small", "max")],
)
def test_features_without_top(function, pooling, tmp_path):
    """include_top=False: the features (N, h, w, C), or pooled (N, C); any input size."""
    arguments = {"include_top": False, "pooling": pooling, "input_shape": (None, None, 3)}
    keras_model, path = keras_weights(keras, function, tmp_path / "weights.h5", **arguments)
    clear_session()
    model = getattr(applications, function)(weights=path, **arguments)
    compare(keras_model, model, images(40) / 127.5 - 1.0)
    assert model.output_shape == keras_model.output_shape


@pytest.mark.parametrize("classifier_activation", [None, "sigmoid"])
def test_classifier_activation(classifier_activation, tmp_path):
    """Any activation without pretrained weights (a weights file counts as pretrained, as in
    Keras: only None and softmax then); the file loads into the built model as well."""
    arguments = {
        "input_shape": (32, 32, 3),
        "alpha": 0.35,
        "classes": 3,
        "classifier_activation": classifier_activation,
    }
    keras_model, path = keras_weights(keras, "MobileNetV2", tmp_path / "weights.h5", **arguments)
    clear_session()
    model = applications.MobileNetV2(weights=None, **arguments)
    model.load_weights(path)
    compare(keras_model, model, images(32) / 127.5 - 1.0)
    if classifier_activation is not None:
        for build in (applications.MobileNetV2, keras.applications.MobileNetV2):
            with pytest.raises(ValueError, match="Only `None` and `softmax`"):
                build(weights=str(path), **arguments)


def test_input_tensor(tmp_path):
    """A model on a given symbolic tensor takes the inputs that tensor comes from."""
    inputs = ac.Input((48, 48, 3))
    scaled = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    model = applications.MobileNetV2(
        input_tensor=scaled, include_top=False, weights=None, pooling="avg", alpha=0.35
    )
    assert model.inputs == [inputs]
    assert model.name == "mobilenetv2_0.35_48"
    assert model.predict(images(48), verbose=0).shape == (2, 1280)
    assert applications.VGG16(input_tensor=inputs, include_top=False, weights=None).inputs == [
        inputs
    ]
    with pytest.raises(ValueError, match="input_tensor must be a symbolic tensor"):
        applications.ResNet50(input_tensor=np.zeros((1, 32, 32, 3)), weights=None)


def test_model_names_and_defaults():
    """Default input shapes and model names are Keras's."""
    assert applications.MobileNetV3Small(weights=None).input_shape == (None, None, None, 3)
    clear_session()
    model = applications.EfficientNetB1(weights=None, include_top=False)
    assert (model.name, model.input_shape) == ("efficientnetb1", (None, None, None, 3))
    model = applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.5)
    assert model.name == "mobilenetv2_0.50_96"
    assert model.output_shape == (None, 1000)


@pytest.mark.parametrize(
    ("function", "arguments", "message"),
    [
        ("ResNet50", {"weights": "no/such/file.h5"}, "The `weights` argument should be either"),
        ("ResNet50", {"weights": 3}, "The `weights` argument should be either"),
        ("VGG16", {"classes": 10}, "`classes` should be 1000"),
        ("Xception", {"input_shape": (71, 71, 3)}, r"`input_shape` should be \(299, 299, 3\)"),
        ("DenseNet121", {"weights": None, "input_shape": (31, 32, 3)}, "at least 32x32"),
        ("Xception", {"weights": None, "input_shape": (70, 80, 3), "include_top": False},
         "at least 71x71"),
        ("ResNet50V2", {"weights": None, "input_shape": (32, 32)}, "three integers"),
        ("ResNet50", {"include_top": False, "input_shape": (64, 64, 1)}, "3 channels"),
        ("ResNet50", {"weights": None, "input_shape": (None, None, 3)}, "static `input_shape`"),
        ("MobileNetV2", {"alpha": 0.6}, "alpha must be one of"),
        ("MobileNetV3Small", {"alpha": 0.5}, "alpha can be one of"),
        ("MobileNetV3Large", {"weights": None, "input_shape": (16, 64, 3)}, "at least 32x32"),
        ("EfficientNetB0", {"classifier_activation": "sigmoid"}, "Only `None` and `softmax`"),
    ],
)  # fmt: skip
def test_argument_errors(function, arguments, message):
    """Keras's checks, each before any download."""
    with pytest.raises(ValueError, match=message):
        getattr(applications, function)(**arguments)


def test_keras_raises_the_same(function="ResNet50"):
    """The checks are Keras's: Keras refuses the same arguments."""
    for arguments in ({"classes": 10}, {"weights": None, "input_shape": (31, 32, 3)}):
        with pytest.raises(ValueError):
            getattr(keras.applications, function)(**arguments)


def test_mobilenet_v3_saves_and_loads(tmp_path):
    """MobileNetV3's hard sigmoid (one layer here, Keras's ReLU between two operations) is
    saved and loaded with the model."""
    model = applications.MobileNetV3Small(
        weights=None, input_shape=(32, 32, 3), include_top=False, alpha=0.75
    )
    model.save(tmp_path / "model.keras")
    loaded = ac.load_model(tmp_path / "model.keras")
    x = images(32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
