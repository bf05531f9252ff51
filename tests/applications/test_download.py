"""``weights="imagenet"``: Keras's published files, fetched as Keras fetches them (the same URL,
file name, hash and cache folder), through a fake server (``urlopen`` of autoconv's one
downloader, :mod:`autoconv.download`, patched to serve bytes from memory): verified before
they land in the cache (a corrupted download leaves nothing there), reused from the cache,
and, without network, one error naming the URL and the path to put the file at. A test marked
``network`` fetches MobileNetV2's real weights (skipped offline)."""

from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.response
from pathlib import Path

import numpy as np
import pytest

import autoconv.applications as applications
import autoconv.download
from autoconv.applications import common, download, efficientnet
from autoconv.layers import clear_session
from tests.applications.reference import keras_weights

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
from keras.src.utils import file_utils as keras_file_utils  # noqa: E402

URL = "https://example.com/files/weights.h5"
DATA = b"published weights"


class Server:
    """Serves ``files`` (URL -> bytes); any other URL fails as without network."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []

    def urlopen(self, url: str, timeout: float) -> urllib.response.addinfourl:
        self.requests.append(url)
        if url not in self.files:
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        data = self.files[url]
        return urllib.response.addinfourl(io.BytesIO(data), {"Content-Length": len(data)}, url)


@pytest.fixture
def server(monkeypatch, tmp_path) -> Server:
    server = Server()
    monkeypatch.setattr(autoconv.download, "urlopen", server.urlopen)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return server


def cache(tmp_path: Path) -> Path:
    return tmp_path / "keras" / "models"


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_download_is_verified_and_cached(server, tmp_path, algorithm):
    server.files[URL] = DATA
    published = hashlib.new(algorithm, DATA).hexdigest()
    path = download.get_file("weights.h5", URL, file_hash=published)
    assert path == cache(tmp_path) / "weights.h5"
    assert path.read_bytes() == DATA
    assert download.get_file("weights.h5", URL, file_hash=published) == path
    assert server.requests == [URL]  # the cached file was used the second time
    assert sorted(os.listdir(cache(tmp_path))) == ["weights.h5"]


def test_corrupted_download_is_refused(server, tmp_path):
    """A download whose hash is not the published one is not kept, nor any part of it."""
    server.files[URL] = DATA + b" (truncated"
    with pytest.raises(download.HashMismatchError) as raised:
        download.get_file("weights.h5", URL, file_hash=hashlib.md5(DATA).hexdigest())
    assert URL in str(raised.value) and str(cache(tmp_path) / "weights.h5") in str(raised.value)
    assert os.listdir(cache(tmp_path)) == []


def test_stale_cached_file_is_fetched_again(server, tmp_path):
    cache(tmp_path).mkdir(parents=True)
    (cache(tmp_path) / "weights.h5").write_bytes(b"an older file")
    server.files[URL] = DATA
    path = download.get_file("weights.h5", URL, file_hash=hashlib.md5(DATA).hexdigest())
    assert path.read_bytes() == DATA and server.requests == [URL]


def test_cached_file_without_published_hash_is_used(server, tmp_path):
    cache(tmp_path).mkdir(parents=True)
    (cache(tmp_path) / "weights.h5").write_bytes(DATA)
    assert download.get_file("weights.h5", URL).read_bytes() == DATA
    assert server.requests == []


def test_offline_error_names_the_url_and_the_path(server, tmp_path):
    with pytest.raises(download.DownloadError) as raised:
        applications.MobileNetV2(weights="imagenet", alpha=0.35, input_shape=(96, 96, 3))
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96.h5"
    url = f"https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/{name}"
    message = str(raised.value)
    assert f"could not download {url} (" in message
    assert message.endswith(f"put the file at {cache(tmp_path) / name}")
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert os.listdir(cache(tmp_path)) == []


# (function, arguments): the models' files with and without the top, and MobileNet's variants
# (VGG16's top, 120 million weights, is left out for the time Keras takes to make them)
PUBLISHED = [
    ("MobileNetV2", {}), ("MobileNetV2", {"include_top": False, "alpha": 1.4}),
    ("MobileNetV2", {"include_top": False, "input_shape": (128, 128, 3), "alpha": 0.5}),
    ("ResNet50", {}), ("ResNet101", {"include_top": False}), ("ResNet50V2", {}),
    ("ResNet152V2", {"include_top": False}), ("VGG16", {"include_top": False}),
    ("EfficientNetB0", {}), ("EfficientNetB0", {"include_top": False}),
    ("MobileNetV3Small", {}), ("MobileNetV3Large", {"include_top": False, "alpha": 0.75}),
    ("MobileNetV3Small", {"include_top": False, "minimalistic": True}),
    ("DenseNet121", {}), ("DenseNet201", {"include_top": False}), ("Xception", {}),
    ("Xception", {"include_top": False}),
]  # fmt: skip


@pytest.mark.filterwarnings("ignore:`input_shape` is undefined")
@pytest.mark.parametrize(("function", "arguments"), PUBLISHED)
def test_same_file_as_keras(function, arguments, monkeypatch):
    """The file name, URL and hash Keras asks for (both stop where the download would start)."""
    asked = {}

    class Asked(Exception):
        pass

    def get_file(fname, origin, cache_subdir="datasets", file_hash=None, **_):
        asked.setdefault(
            "keras" if "keras" not in asked else "autoconv", (fname, origin, file_hash)
        )
        assert cache_subdir == "models"
        raise Asked

    monkeypatch.setattr(keras_file_utils, "get_file", get_file)
    monkeypatch.setattr(common, "get_file", get_file)
    for build in (getattr(keras.applications, function), getattr(applications, function)):
        with pytest.raises(Asked):
            build(weights="imagenet", **arguments)
    assert asked["autoconv"] == asked["keras"]


def test_imagenet_weights_load(server, tmp_path, monkeypatch):
    """A published file (here Keras's random weights, at the published URL, without a
    published hash) is fetched, cached and loaded; the next model uses the cached file."""
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    arguments = {"alpha": 0.35, "input_shape": (96, 96, 3), "include_top": False}
    keras_model, path = keras_weights(keras, "MobileNetV2", tmp_path / name, **arguments)
    server.files[common_url("mobilenet_v2/" + name)] = path.read_bytes()
    x = np.random.default_rng(0).uniform(-1, 1, (2, 96, 96, 3)).astype(np.float32)
    for _ in range(2):
        clear_session()
        model = applications.MobileNetV2(weights="imagenet", **arguments)
        np.testing.assert_allclose(
            model.predict(x, verbose=0), keras_model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
        )
    assert len(server.requests) == 1
    assert (cache(tmp_path) / name).read_bytes() == path.read_bytes()


def test_efficientnet_imagenet_weights(server, tmp_path, monkeypatch):
    """With ImageNet weights EfficientNet divides by ImageNet's std per channel (a Rescaling
    layer more); its file is checked against the published md5 (here that of Keras's random
    weights)."""
    name = "efficientnetb0_notop.h5"
    arguments = {"input_shape": (32, 32, 3), "include_top": False, "pooling": "avg"}
    _, path = keras_weights(keras, "EfficientNetB0", tmp_path / name, **arguments)
    server.files["https://storage.googleapis.com/keras-applications/" + name] = path.read_bytes()
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setitem(efficientnet.WEIGHTS_HASHES, "b0", ("unused", md5))
    monkeypatch.setattr(keras_file_utils, "get_file", lambda *_, **__: str(path))
    keras.utils.clear_session()
    keras_model = keras.applications.EfficientNetB0(weights="imagenet", **arguments)
    clear_session()
    model = applications.EfficientNetB0(weights="imagenet", **arguments)
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers]
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), keras_model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )


def common_url(path: str) -> str:
    return "https://storage.googleapis.com/tensorflow/keras-applications/" + path


@pytest.mark.network
def test_real_mobilenet_v2_classifies_an_image():
    """MobileNetV2's published ImageNet weights (fetched into ~/.keras/models, where Keras
    finds them too): autoconv classifies an image as Keras does."""
    try:
        model = applications.MobileNetV2(weights="imagenet")
        applications.imagenet_utils.decode_predictions(np.zeros((1, 1000)))
    except download.DownloadError as error:
        pytest.skip(f"offline: {error}")
    keras_model = keras.applications.MobileNetV2(weights="imagenet")
    rows, cols = np.mgrid[0:224, 0:224]
    image = np.stack([rows, cols, np.full_like(rows, 128)], axis=-1).astype(np.float32)
    x = applications.mobilenet_v2.preprocess_input(image[None] * 255 / 224)
    ours, theirs = model.predict(x, verbose=0), keras_model.predict(x, verbose=0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-5)
    decoded = applications.mobilenet_v2.decode_predictions(ours, top=3)[0]
    assert [c[0] for c in decoded] == [
        c[0] for c in keras.applications.mobilenet_v2.decode_predictions(theirs, top=3)[0]
    ]
