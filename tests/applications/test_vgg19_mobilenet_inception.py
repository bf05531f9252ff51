"""VGG19, MobileNet and InceptionV3 against Keras 3.15's own (on its PyTorch backend; skipped
where Keras or torch is not installed), beyond test_models.py's comparison with the top: the
features without it, each layer's config, Keras 3's .weights.h5 and .keras files both ways,
the published files' names, URLs and hashes, the model names, and Keras's argument checks."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest

import autoconv as ac
import autoconv.applications as applications
from autoconv.applications import common
from autoconv.layers import clear_session
from tests.applications.reference import keras_weights, randomize
from tests.applications.test_models import compare, images

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
from keras.src.utils import file_utils as keras_file_utils  # noqa: E402

# (function, arguments) without the top, each on a small input
FEATURES = [
    ("VGG19", {"input_shape": (32, 40, 3), "pooling": "max"}),
    ("MobileNet", {"input_shape": (None, None, 3)}),
    ("MobileNet", {"input_shape": (33, 32, 3), "alpha": 0.25, "pooling": "avg"}),
    ("InceptionV3", {"input_shape": (75, 80, 3), "pooling": "avg"}),
]


@pytest.mark.parametrize(("function", "arguments"), FEATURES)
def test_features_without_top(function, arguments, tmp_path):
    """include_top=False: Keras's layers, shapes and numbers from Keras's weights (legacy .h5)."""
    arguments = {"include_top": False, **arguments}
    keras_model, path = keras_weights(keras, function, tmp_path / "weights.h5", **arguments)
    clear_session()
    model = getattr(applications, function)(weights=path, **arguments)
    assert model.output_shape == keras_model.output_shape
    size = arguments["input_shape"][:2] if arguments["input_shape"][0] else (40, 40)
    x = images(max(size))[:, : size[0], : size[1]] / 127.5 - 1.0
    compare(keras_model, model, x)


def as_json(config: dict[str, Any]) -> Any:
    """A config as a .keras file writes it (tuples as lists)."""
    return json.loads(json.dumps(config))


@pytest.mark.parametrize(
    ("function", "arguments"),
    [
        ("VGG19", {"input_shape": (32, 32, 3), "classes": 3}),
        ("MobileNet", {"input_shape": (32, 32, 3), "alpha": 0.25, "dropout": 0.3}),
        ("InceptionV3", {"input_shape": (75, 75, 3), "classifier_activation": None}),
    ],
)
def test_layer_configs_are_keras(function, arguments):
    """Every layer's class and config (names, axes, paddings, dropout, activation) is Keras's."""
    keras.utils.clear_session()
    keras_model = getattr(keras.applications, function)(weights=None, **arguments)
    model = getattr(applications, function)(weights=None, **arguments)
    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in keras_model.layers
    ]
    for layer, keras_layer in zip(model.layers, keras_model.layers, strict=True):
        assert as_json(layer.get_config()) == as_json(keras_layer.get_config()), layer.name


@pytest.mark.parametrize(
    ("function", "arguments"),
    [("MobileNet", {"input_shape": (32, 32, 3), "alpha": 0.25, "classes": 5})],
)
def test_keras_files_both_ways(function, arguments, tmp_path):
    """Keras 3's .weights.h5 loads into autoconv's model; .keras files travel both ways with
    the same predictions (InceptionV3's configs are checked above, and every layer's file
    both ways in tests/saving)."""
    keras.utils.clear_session()
    keras_model = getattr(keras.applications, function)(weights=None, **arguments)
    randomize(keras_model)
    keras_model.save_weights(tmp_path / "theirs.weights.h5")
    keras_model.save(tmp_path / "theirs.keras")
    model = getattr(applications, function)(weights=None, **arguments)
    model.load_weights(tmp_path / "theirs.weights.h5")
    size = arguments["input_shape"][0]
    x = images(size) / 127.5 - 1.0
    compare(keras_model, model, x)
    expected = keras_model.predict(x, verbose=0)
    from_theirs = ac.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
    model.save(tmp_path / "ours.keras")
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(from_ours.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


# (function, arguments): the published files Keras asks for (VGG19's top, 140 million weights,
# is left out for the time Keras takes to make them)
PUBLISHED = [
    ("VGG19", {"include_top": False}), ("MobileNet", {}),
    ("MobileNet", {"include_top": False, "alpha": 0.25, "input_shape": (128, 128, 3)}),
    ("MobileNet", {"include_top": False, "alpha": 0.5, "input_shape": (160, 100, 3)}),
    ("MobileNet", {"alpha": 0.75, "input_shape": (192, 192, 3)}), ("InceptionV3", {}),
    ("InceptionV3", {"include_top": False}),
]  # fmt: skip


@pytest.mark.filterwarnings("ignore:`input_shape` is undefined")
@pytest.mark.parametrize(("function", "arguments"), PUBLISHED)
def test_same_file_as_keras(function, arguments, monkeypatch):
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
    for build in (getattr(keras.applications, function), getattr(applications, function)):
        with pytest.raises(Asked):
            build(weights="imagenet", **arguments)
    assert asked["autoconv"] == asked["keras"]


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"include_top": False},
        {"include_top": False, "input_shape": (96, 96, 3), "alpha": 0.5},
        {"input_shape": (128, 128, 3), "name": "mine"},
        {"input_tensor": "Input((48, 48, 3))", "include_top": False},
    ],
)
def test_mobilenet_names_and_shapes(arguments):
    """MobileNet's model name (mobilenet_{alpha}_{rows}) and input and output shapes."""
    keras.utils.clear_session()
    keras_arguments, arguments = dict(arguments), dict(arguments)
    if "input_tensor" in arguments:
        keras_arguments["input_tensor"] = keras.Input((48, 48, 3))
        arguments["input_tensor"] = ac.Input((48, 48, 3))
    keras_model = keras.applications.MobileNet(weights=None, **keras_arguments)
    model = applications.MobileNet(weights=None, **arguments)
    assert model.name == keras_model.name
    assert model.input_shape == keras_model.input_shape
    assert model.output_shape == keras_model.output_shape


@pytest.mark.parametrize(
    ("function", "arguments", "message"),
    [
        ("VGG19", {"classes": 10}, "`classes` should be 1000"),
        ("VGG19", {"weights": None, "input_shape": (31, 32, 3), "include_top": False},
         "at least 32x32"),
        ("MobileNet", {"depth_multiplier": 2}, "depth multiplier must be 1"),
        ("MobileNet", {"alpha": 0.35}, "alpha can be one of"),
        ("MobileNet", {"include_top": False, "input_shape": (128, 128, 1)}, "3 channels"),
        ("InceptionV3", {"input_shape": (75, 75, 3)}, r"`input_shape` should be \(299, 299, 3\)"),
        ("InceptionV3", {"weights": None, "input_shape": (74, 80, 3), "include_top": False},
         "at least 75x75"),
        ("InceptionV3", {"weights": "no/such/file.h5"}, "The `weights` argument should be"),
    ],
)  # fmt: skip
def test_argument_errors(function, arguments, message):
    """Keras's checks, before any download; Keras refuses the same arguments."""
    with pytest.raises(ValueError, match=message):
        getattr(applications, function)(**arguments)
    with pytest.raises(ValueError):
        getattr(keras.applications, function)(**arguments)


@pytest.mark.cudasim
def test_mobilenet_on_the_gpu(tmp_path):
    """On the CUDA device (the simulator where there is no GPU): Keras's numbers."""
    pytest.importorskip("numba_cuda")
    arguments = {"include_top": False, "input_shape": (32, 32, 3), "alpha": 0.25, "pooling": "avg"}
    keras_model, path = keras_weights(keras, "MobileNet", tmp_path / "weights.h5", **arguments)
    model = applications.MobileNet(weights=path, **arguments).to("cuda")
    x = images(32)[:1] / 127.5 - 1.0
    expected = keras_model.predict(x, verbose=0)
    assert np.ptp(expected) > 1e-3
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
