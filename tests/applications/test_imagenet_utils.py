"""``autoconv.applications.imagenet_utils`` against Keras 3.15's (skipped without Keras):
``preprocess_input`` in every mode and data format, on NumPy arrays (in place, as Keras) and on
Tensors; ``decode_predictions``; ``obtain_input_shape``'s shapes and errors; ``correct_pad``;
and the per-channel Rescaling that EfficientNet's ImageNet weights need."""

from __future__ import annotations

import hashlib
import io
import json
import os
import urllib.response

import numpy as np
import pytest

import autoconv as ac
from autoconv import download, layers
from autoconv.applications import imagenet_utils

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
from keras.src.applications import imagenet_utils as keras_utils  # noqa: E402


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", [None, "channels_last", "channels_first"])
@pytest.mark.parametrize("shape", [(2, 3, 4, 3), (3, 4, 3)])
def test_preprocess_input(mode, data_format, shape):
    """Keras's values and dtype; a float array is changed in place as Keras changes it; a
    Tensor gives the same values as a new Tensor."""
    x = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    ours, theirs = x.copy(), x.copy()
    result = imagenet_utils.preprocess_input(ours, data_format=data_format, mode=mode)
    expected = keras_utils.preprocess_input(theirs, data_format=data_format, mode=mode)
    np.testing.assert_array_equal(result, expected)
    assert result.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)  # the same changes to the input
    tensor = imagenet_utils.preprocess_input(ac.Tensor(x), data_format=data_format, mode=mode)
    assert isinstance(tensor, ac.Tensor)
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=1e-6, atol=1e-5)


def test_preprocess_integer_images():
    """uint8 images become float32 (a new array)."""
    x = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    result = imagenet_utils.preprocess_input(x, mode="torch")
    np.testing.assert_array_equal(result, keras_utils.preprocess_input(x.copy(), mode="torch"))
    assert result.dtype == np.float32 and x.dtype == np.uint8


def test_preprocess_errors():
    with pytest.raises(ValueError, match="Expected mode to be one of"):
        imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), mode="keras")
    with pytest.raises(ValueError, match="Expected data_format to be one of"):
        imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), data_format="NHWC")


@pytest.fixture
def class_index(monkeypatch, tmp_path):
    """A made-up class index, given to Keras and served to autoconv at Keras's URL (with its
    hash as the published one); the list of URLs fetched."""
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    data = json.dumps(index).encode()
    urls: list[str] = []

    def urlopen(url, timeout):
        urls.append(url)
        return urllib.response.addinfourl(io.BytesIO(data), {}, url)

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(download, "urlopen", urlopen)
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_HASH", hashlib.md5(data).hexdigest())
    monkeypatch.setattr(keras_utils, "CLASS_INDEX", index)
    return data, urls


def test_decode_predictions(class_index, tmp_path):
    data, urls = class_index
    preds = np.random.default_rng(0).dirichlet(np.ones(1000), size=3).astype(np.float32)
    for top in (1, 5):
        result = imagenet_utils.decode_predictions(preds, top=top)
        assert result == keras_utils.decode_predictions(preds, top=top)
    assert imagenet_utils.decode_predictions(ac.Tensor(preds), top=5) == result
    assert urls == [imagenet_utils.CLASS_INDEX_PATH]  # fetched once
    assert (tmp_path / "models" / "imagenet_class_index.json").read_bytes() == data
    with pytest.raises(ValueError, match=r"a 2D array of shape \(samples, 1000\)"):
        imagenet_utils.decode_predictions(preds[:, :10])


@pytest.mark.parametrize(
    "arguments",
    [
        dict(input_shape=None, require_flatten=True, weights="imagenet"),
        dict(input_shape=None, require_flatten=False, weights="imagenet"),
        dict(input_shape=None, require_flatten=True, weights=None),
        dict(input_shape=(224, 224, 3), require_flatten=True, weights="imagenet"),
        dict(input_shape=(150, 150, 3), require_flatten=True, weights="imagenet"),
        dict(input_shape=(150, 150, 3), require_flatten=False, weights="imagenet"),
        dict(input_shape=(150, 150, 1), require_flatten=True, weights=None),
        dict(input_shape=(150, 150, 5), require_flatten=False, weights=None),
        dict(input_shape=(150, 150, 1), require_flatten=False, weights="imagenet"),
        dict(input_shape=(20, 150, 3), require_flatten=False, weights=None),
        dict(input_shape=(None, None, 3), require_flatten=True, weights=None),
        dict(input_shape=(None, None, 3), require_flatten=False, weights=None),
        dict(input_shape=(150, 150), require_flatten=False, weights=None),
        dict(input_shape=(3, 150, 150), require_flatten=False, weights=None,
             data_format="channels_first"),
        dict(input_shape=(3, 20, 150), require_flatten=False, weights=None,
             data_format="channels_first"),
    ],
)  # fmt: skip
@pytest.mark.filterwarnings("ignore:This model usually expects 1 or 3 input channels")
def test_obtain_input_shape(arguments):
    """Keras's shape, or Keras's error message."""
    arguments = {"default_size": 224, "min_size": 32, "data_format": "channels_last", **arguments}
    try:
        expected = keras_utils.obtain_input_shape(**arguments)
    except ValueError as error:
        with pytest.raises(ValueError) as raised:
            imagenet_utils.obtain_input_shape(**arguments)
        assert str(raised.value) == str(error)
    else:
        assert imagenet_utils.obtain_input_shape(**arguments) == tuple(expected)


@pytest.mark.parametrize("size", [(7, 7), (8, 8), (7, 8), (None, None)])
@pytest.mark.parametrize("kernel_size", [3, 5, (3, 5)])
def test_correct_pad(size, kernel_size):
    inputs = ac.Input((*size, 3))
    assert imagenet_utils.correct_pad(inputs, kernel_size) == keras_utils.correct_pad(
        keras.Input((*size, 3)), kernel_size
    )


def test_rescaling_per_channel():
    """Rescaling with a scale (and offset) per channel, as Keras's: values and config."""
    arguments = {"scale": [0.5, 2.0, 1 / 3], "offset": [1.0, 0.0, -1.0]}
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 3)).astype(np.float32)
    ours, theirs = layers.Rescaling(**arguments), keras.layers.Rescaling(**arguments)
    np.testing.assert_allclose(ours(x).numpy(), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-6)
    config = {k: v for k, v in ours.get_config().items() if k != "name"}
    assert config == {k: v for k, v in theirs.get_config().items() if k != "name"}
    with pytest.raises(ValueError, match="scale must be a number"):
        layers.Rescaling(["a", 1.0])


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_input_on_a_models_input_records_kerass_ops(mode, data_format, tmp_path):
    """A model's symbolic input records Keras's ops (caffe's channels reversed as a stack of
    slices, since Keras's PyTorch backend has no negative steps; the means added negated), and
    Keras loads the model's file and computes what autoconv does (keras-io's DeepLabV3+)."""
    shape = (4, 5, 3) if data_format == "channels_last" else (3, 4, 5)
    models = []
    for lib in (ac, keras):
        inputs = lib.Input(shape)
        models.append(lib.Model(inputs, lib.applications.imagenet_utils.preprocess_input(
            inputs, data_format=data_format, mode=mode)))  # fmt: skip
    ours, theirs = ([(layer["class_name"], layer["inbound_nodes"][0]["args"][1:])
                     for layer in m.get_config()["layers"][1:]] for m in models)  # fmt: skip
    assert json.dumps(ours) == json.dumps(theirs)
    models[0].save(tmp_path / "m.keras")
    x = np.random.default_rng(0).uniform(0, 255, (2, *shape)).astype(np.float32)
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), models[0].predict(x, verbose=0))
