"""EfficientNetV2 against Keras 3.15's own (on its PyTorch backend; skipped where Keras or torch
is not installed): EfficientNetV2B0 and small stages through both builders (Keras's weights in
its published legacy .h5 layout, each layer's config, .weights.h5 and .keras files both ways),
every variant's arguments to the builder and the stages' table, the published files' names,
URLs and hashes, Keras's argument checks, and the CUDA device (the simulator where there is no
GPU)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv.applications import common, efficientnet_v2
from autoconv.layers import clear_session
from tests.applications.reference import keras_weights, randomize, save_legacy_weights
from tests.applications.test_convnext import same_configs
from tests.applications.test_models import compare, images

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
from keras.src.applications import efficientnet_v2 as keras_efficientnet_v2  # noqa: E402
from keras.src.utils import file_utils as keras_file_utils  # noqa: E402

VARIANTS = ["B0", "B1", "B2", "B3", "S", "M", "L"]
# Small stages through the builder both libraries share: a fused block without expansion (its
# second with a residual and stochastic depth), a fused one with expansion and
# squeeze-excitation, and inverted residual blocks; scaled in width and depth.
SMALL = {
    "width_coefficient": 0.5,
    "depth_coefficient": 1.5,
    "default_size": 32,
    "drop_connect_rate": 0.3,
    "blocks_args": [
        dict(zip(efficientnet_v2.BLOCK_KEYS, stage, strict=True))
        for stage in ((3, 2, 8, 8, 1, 0, 1, 1), (3, 1, 8, 16, 2, 0.25, 2, 1),
                      (5, 2, 16, 24, 2, 0.25, 2, 0))
    ],
}  # fmt: skip


def keras_small(path: Any = None, **arguments: Any) -> Any:
    """Keras's model of :data:`SMALL` stages with random statistics and biases (saved to
    ``path`` in the published files' layout when given)."""
    keras.utils.clear_session()
    model = keras_efficientnet_v2.EfficientNetV2(weights=None, **SMALL, **arguments)
    randomize(model)
    if path is not None:
        save_legacy_weights(model, path)
    return model


def inputs_for(input_shape: tuple[int | None, ...]) -> np.ndarray:
    rows, cols, channels = input_shape
    return images(max(rows or 40, cols or 40))[:, : rows or 40, : cols or 40, :channels]


@pytest.mark.parametrize(
    ("function", "arguments"),
    [
        ("EfficientNetV2B0", {"input_shape": (32, 32, 3), "classes": 5}),
        ("EfficientNetV2B0", {"include_top": False, "input_shape": (None, None, 3),
                              "include_preprocessing": False}),
    ],
)  # fmt: skip
def test_same_as_keras(function, arguments, tmp_path):
    """The smallest variant: Keras's layers, names, parameter counts, configs and numbers from
    Keras's weights, on inputs preprocessed as both modules' preprocess_input do."""
    keras.utils.set_random_seed(0)
    keras_model, path = keras_weights(keras, function, tmp_path / "weights.h5", **arguments)
    clear_session()
    model = getattr(ac.applications, function)(weights=str(path), **arguments)
    assert model.output_shape == keras_model.output_shape
    raw = inputs_for(arguments["input_shape"])
    if not arguments.get("include_preprocessing", True):
        raw = raw / 127.5 - 1.0  # as the model's rescaling would give
    x = efficientnet_v2.preprocess_input(raw.copy())
    np.testing.assert_array_equal(
        x, keras.applications.efficientnet_v2.preprocess_input(raw.copy())
    )
    if arguments.get("include_top", True):
        compare(keras_model, model, x)
    else:
        # the last of about 100 layers of random weights: float32's rounding there grows to
        # a few 1e-5 of the features' scale, so the tolerance is the scale's
        expected = keras_model.predict(x, verbose=0)
        tolerance = {"rtol": 1e-4, "atol": 1e-4 * np.abs(expected).max()}
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, **tolerance)
        assert model.count_params() == keras_model.count_params()
        assert model.name == keras_model.name
    same_configs(model, keras_model)


@pytest.mark.parametrize(
    "arguments",
    [
        {"name": "efficientnetv2-s", "input_shape": (32, 40, 3), "classes": 3},
        {"name": "efficientnetv2-b1", "input_shape": (32, 32, 3), "classes": 3,
         "classifier_activation": None, "dropout_rate": 0.0},
        {"name": "efficientnetv2-b2", "input_shape": (32, 32, 1), "include_top": False,
         "pooling": "max", "bn_momentum": 0.99},
        {"name": "efficientnetv2-m", "input_shape": (None, None, 3), "include_top": False,
         "pooling": "avg", "activation": "relu"},
    ],
)  # fmt: skip
def test_builder_same_as_keras(arguments, tmp_path):
    """Any stages, scaled: both block kinds, squeeze-excitation, stochastic depth, the two
    preprocessings (ImageNet's normalization for a B name on 3 channels, else a rescaling)."""
    keras_model = keras_small(tmp_path / "weights.h5", **arguments)
    clear_session()
    model = efficientnet_v2.EfficientNetV2(weights=tmp_path / "weights.h5", **SMALL, **arguments)
    assert model.output_shape == keras_model.output_shape
    compare(keras_model, model, inputs_for(arguments["input_shape"]))
    same_configs(model, keras_model)


def test_variants_are_keras(monkeypatch):
    """Every variant gives the builder Keras's arguments (width, depth, size, name, weights
    file); the stages, initializers, weights files and hashes are Keras's."""
    assert efficientnet_v2.DEFAULT_BLOCKS_ARGS == keras_efficientnet_v2.DEFAULT_BLOCKS_ARGS
    assert efficientnet_v2.WEIGHTS_HASHES == keras_efficientnet_v2.WEIGHTS_HASHES
    assert efficientnet_v2.BASE_WEIGHTS_PATH == keras_efficientnet_v2.BASE_WEIGHTS_PATH
    assert efficientnet_v2.CONV_KERNEL_INITIALIZER == (
        keras_efficientnet_v2.CONV_KERNEL_INITIALIZER
    )
    assert efficientnet_v2.DENSE_KERNEL_INITIALIZER == (
        keras_efficientnet_v2.DENSE_KERNEL_INITIALIZER
    )
    given: list[dict[str, Any]] = []
    monkeypatch.setattr(efficientnet_v2, "EfficientNetV2", lambda **kw: given.append(kw))
    monkeypatch.setattr(keras_efficientnet_v2, "EfficientNetV2", lambda **kw: given.append(kw))
    for variant in VARIANTS:
        for arguments in ({}, {"include_top": False, "pooling": "avg", "name": "mine"}):
            getattr(keras.applications, f"EfficientNetV2{variant}")(**arguments)
            getattr(ac.applications, f"EfficientNetV2{variant}")(**arguments)
            assert given[-1] == given[-2]
    assert [g["name"] for g in given[::4]] == [f"efficientnetv2-{v.lower()}" for v in VARIANTS]


def test_keras_files_both_ways(tmp_path):
    """Keras 3's .weights.h5 loads into autoconv's model; .keras files travel both ways with
    the same predictions."""
    arguments = {"name": "efficientnetv2-b0", "input_shape": (32, 32, 3), "classes": 4}
    keras_model = keras_small(**arguments)
    keras_model.save_weights(tmp_path / "theirs.weights.h5")
    keras_model.save(tmp_path / "theirs.keras")
    clear_session()
    model = efficientnet_v2.EfficientNetV2(weights=None, **SMALL, **arguments)
    model.load_weights(tmp_path / "theirs.weights.h5")
    x = images(32)
    compare(keras_model, model, x)
    expected = keras_model.predict(x, verbose=0)
    from_theirs = ac.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
    model.save(tmp_path / "ours.keras")
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(from_ours.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arguments", [{}, {"include_top": False}])
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
    for build in (keras.applications.EfficientNetV2B0, ac.applications.EfficientNetV2B0):
        with pytest.raises(Asked):
            build(weights="imagenet", **arguments)
    assert asked["autoconv"] == asked["keras"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"weights": "no/such/file.h5"}, "The `weights` argument should be either"),
        ({"classes": 10}, "`classes` should be 1000"),
        ({"classifier_activation": "sigmoid"}, "Only `None` and `softmax`"),
        ({"weights": None, "include_top": False, "input_shape": (32, 31, 3)}, "at least 32x32"),
        ({"input_shape": (64, 64, 3)}, r"`input_shape` should be \(224, 224, 3\)"),
    ],
)
def test_argument_errors(arguments, message):
    """Keras's checks, before any download; Keras refuses the same arguments."""
    with pytest.raises(ValueError, match=message):
        ac.applications.EfficientNetV2B0(**arguments)
    with pytest.raises(ValueError):
        keras.applications.EfficientNetV2B0(**arguments)


def test_builder_errors():
    """A name without default stages (Keras: a KeyError) and a stage of no blocks."""
    with pytest.raises(ValueError, match="known names"):
        ac.applications.EfficientNetV2S(weights=None, name="mine")
    with pytest.raises(KeyError):
        keras.applications.EfficientNetV2S(weights=None, name="mine")
    stages = [dict(SMALL["blocks_args"][0], num_repeat=0)]
    for builder in (efficientnet_v2.EfficientNetV2, keras_efficientnet_v2.EfficientNetV2):
        with pytest.raises(ValueError, match="must be > 0"):
            builder(1.0, 1.0, 32, blocks_args=stages, weights=None, input_shape=(32, 32, 3))


@pytest.mark.cudasim
def test_on_the_gpu(tmp_path):
    """On the CUDA device (the simulator where there is no GPU): Keras's numbers."""
    pytest.importorskip("numba_cuda")
    arguments = {"name": "efficientnetv2-b0", "input_shape": (32, 32, 3), "classes": 3}
    keras_model = keras_small(tmp_path / "weights.h5", **arguments)
    clear_session()
    model = efficientnet_v2.EfficientNetV2(weights=tmp_path / "weights.h5", **SMALL, **arguments)
    x = images(32)[:1]
    expected = keras_model.predict(x, verbose=0)
    assert np.ptp(expected) > 1e-3
    np.testing.assert_allclose(
        model.to("cuda").predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5
    )
