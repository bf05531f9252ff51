"""NASNet (NASNetMobile, NASNetLarge and their builder) against Keras 3.15's own (on its PyTorch
backend; skipped where Keras or torch is not installed). Keras refuses NASNetMobile on that
backend, so the mobile network is compared through Keras's builder ``nasnet.NASNet`` with
NASNetMobile's arguments (which both NASNetMobile functions are checked to pass): Keras's
layers, names, parameter counts and configs; its numbers from Keras's weights in the published
files' legacy .h5 layout; Keras 3's .weights.h5 and .keras files both ways; NASNetLarge's layers
and parameters; the published files' names, URLs and hashes; Keras's argument checks; and the
network on the CUDA device (the simulator)."""

from __future__ import annotations

import inspect
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import autoconv as ac
import autoconv.applications as applications
from autoconv.applications import nasnet
from autoconv.layers import clear_session
from tests.applications.reference import randomize, save_legacy_weights
from tests.applications.test_models import TOLERANCE, compare, images

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
from keras.src import backend as keras_backend  # noqa: E402
from keras.src.applications import nasnet as keras_nasnet  # noqa: E402
from keras.src.utils import file_utils as keras_file_utils  # noqa: E402

# NASNetMobile's arguments to the builder (test_variants_call_the_builder_as_keras checks them)
MOBILE = {
    "penultimate_filters": 1056,
    "num_blocks": 4,
    "stem_block_filters": 32,
    "skip_reduction": False,
    "filter_multiplier": 2,
    "default_size": 224,
    "name": "nasnet_mobile",
}


def as_json(config: dict[str, Any]) -> Any:
    """A config as a .keras file writes it (tuples as lists)."""
    return json.loads(json.dumps(config))


def keras_mobile(path: Path, **arguments: Any) -> tuple[Any, Path]:
    """Keras's mobile NASNet (a fresh session's names), randomized and saved to ``path`` in the
    published files' layout."""
    keras.utils.clear_session()
    model = keras_nasnet.NASNet(weights=None, **MOBILE, **arguments)
    randomize(model)
    return model, save_legacy_weights(model, path)


def same_layers_and_configs(model: Any, keras_model: Any) -> None:
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers]
    assert [layer.count_params() for layer in model.layers] == [
        layer.count_params() for layer in keras_model.layers
    ]
    for layer, keras_layer in zip(model.layers, keras_model.layers, strict=True):
        assert type(layer).__name__ == type(keras_layer).__name__
        assert as_json(layer.get_config()) == as_json(keras_layer.get_config()), layer.name


def test_mobile_is_keras_with_the_top(tmp_path):
    """With the top (7 classes): Keras's layers, configs and numbers from Keras's weights, on
    inputs preprocessed as Keras's preprocess_input does."""
    arguments = {"input_shape": (32, 32, 3), "classes": 7, "classifier_activation": None}
    keras_model, path = keras_mobile(tmp_path / "w.h5", **arguments)
    clear_session()
    model = applications.NASNetMobile(weights=str(path), **arguments)
    same_layers_and_configs(model, keras_model)
    raw = images(32)
    x = nasnet.preprocess_input(raw.copy())
    np.testing.assert_array_equal(x, keras_nasnet.preprocess_input(raw.copy()))
    compare(keras_model, model, x)


def test_mobile_features_and_files_both_ways(tmp_path):
    """Without the top: Keras's numbers from the published layout and from Keras 3's
    .weights.h5; .keras files both ways."""
    arguments = {"input_shape": (33, 65, 3), "include_top": False, "pooling": "avg"}
    keras_model, path = keras_mobile(tmp_path / "w.h5", **arguments)
    keras_model.save_weights(tmp_path / "theirs.weights.h5")
    keras_model.save(tmp_path / "theirs.keras")
    clear_session()
    model = applications.NASNetMobile(weights=str(path), **arguments)
    x = images(65)[:1, :33] / 127.5 - 1.0
    compare(keras_model, model, x)
    expected = keras_model.predict(x, verbose=0)
    clear_session()
    model = applications.NASNetMobile(weights=None, **arguments)
    model.load_weights(tmp_path / "theirs.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, **TOLERANCE)
    from_theirs = ac.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(from_theirs.predict(x, verbose=0), expected, **TOLERANCE)
    model.save(tmp_path / "ours.keras")
    from_ours = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(from_ours.predict(x, verbose=0), expected, **TOLERANCE)


def test_large_has_keras_layers_and_parameters():
    """NASNetLarge (85 million parameters, built, not run): Keras's layers, their configs and
    parameter counts."""
    arguments = {"input_shape": (32, 32, 3), "include_top": False, "pooling": "max"}
    keras.utils.clear_session()
    keras_model = keras.applications.NASNetLarge(weights=None, **arguments)
    clear_session()
    model = applications.NASNetLarge(weights=None, **arguments)
    same_layers_and_configs(model, keras_model)
    assert model.count_params() == keras_model.count_params() == 84_916_818
    assert (model.name, model.output_shape) == (keras_model.name, keras_model.output_shape)


@pytest.mark.parametrize("variant", ["NASNetMobile", "NASNetLarge"])
@pytest.mark.parametrize(
    "arguments",
    [{}, {"include_top": False}, {"input_shape": (64, 64, 3), "weights": None, "name": "n"}],
)
def test_variants_call_the_builder_as_keras(variant, arguments, monkeypatch):
    """Each variant passes Keras's arguments to its builder (Keras's NASNetMobile runs with
    the backend check it makes on PyTorch lifted)."""
    calls = []

    def builder(*args, **kwargs):
        calls.append((args, kwargs))

    monkeypatch.setattr(keras_backend, "backend", lambda: "tensorflow")
    monkeypatch.setattr(keras_nasnet, "NASNet", builder)
    monkeypatch.setattr(nasnet, "NASNet", builder)
    getattr(keras_nasnet, variant)(**arguments)
    getattr(nasnet, variant)(**arguments)
    assert calls[0] == calls[1]


@pytest.mark.parametrize("include_top", [True, False])
def test_same_file_as_keras(include_top, monkeypatch):
    """NASNetMobile's published files: the name, URL and hash Keras's builder asks for with
    NASNetMobile's arguments (both stop where the download would start)."""
    asked: list[tuple[str, str, str | None]] = []

    class Asked(Exception):
        pass

    def get_file(fname, origin, cache_subdir="datasets", file_hash=None, **_):
        assert cache_subdir == "models"
        asked.append((fname, origin, file_hash))
        raise Asked

    monkeypatch.setattr(keras_file_utils, "get_file", get_file)
    monkeypatch.setattr(nasnet, "get_file", get_file)
    with pytest.raises(Asked):
        keras_nasnet.NASNet(weights="imagenet", include_top=include_top, **MOBILE)
    with pytest.raises(Asked):
        nasnet.NASNetMobile(weights="imagenet", include_top=include_top)
    assert asked[0] == asked[1]


@pytest.mark.parametrize(
    ("include_top", "url"),
    [(True, "NASNET_LARGE_WEIGHT_PATH"), (False, "NASNET_LARGE_WEIGHT_PATH_NO_TOP")],
)
def test_large_files_are_keras(include_top, url):
    """NASNetLarge's published files (too large a model to build twice for the check above):
    the name, URL and hash Keras's source gives."""
    file_name, url_name, file_hash = nasnet.WEIGHTS[331][0 if include_top else 1]
    assert nasnet.BASE_WEIGHTS_PATH + url_name == getattr(keras_nasnet, url)
    source = inspect.getsource(keras_nasnet.NASNet)
    call = rf'"{file_name}",\s*{url},\s*cache_subdir="models",\s*file_hash="{file_hash}"'
    assert re.search(call, source)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"classes": 10}, "`classes` should be 1000"),
        ({"weights": "no/such/file.h5"}, "The `weights` argument should be"),
        ({"include_top": False, "input_shape": (None, 64, 3)}, "must be static"),
        ({"weights": None, "include_top": False, "input_shape": (31, 64, 3)}, "at least 32x32"),
        ({"input_shape": (224, 224, 3)}, r"`input_shape` should be \(331, 331, 3\)"),
        ({"include_top": False, "default_size": 299, "penultimate_filters": 96, "num_blocks": 1},
         "can only be loaded with NASNetLarge"),
        ({"weights": None, "penultimate_filters": 1000}, "must be a multiple of 24"),
    ],
)  # fmt: skip
def test_argument_errors(arguments, message):
    """Keras's checks, before any download; Keras refuses the same arguments."""
    with pytest.raises(ValueError, match=message):
        nasnet.NASNet(**arguments)
    with pytest.raises(ValueError):
        keras_nasnet.NASNet(**arguments)


def test_names_and_defaults():
    """The variants' names and default input shapes are Keras's."""
    model = applications.NASNetMobile(weights=None, include_top=False)
    assert (model.name, model.input_shape) == ("nasnet_mobile", (None, 224, 224, 3))
    inputs = ac.Input((40, 40, 3))
    model = nasnet.NASNet(input_tensor=inputs, weights=None, include_top=False, **MOBILE)
    assert (model.inputs, model.output_shape) == ([inputs], (None, 2, 2, 1056))


@pytest.mark.cudasim
def test_the_network_on_the_gpu():
    """On the CUDA device (the simulator where there is no GPU): the CPU's numbers, for a
    narrow and shallow NASNet (the builder's every cell and adjustment)."""
    pytest.importorskip("numba_cuda")
    model = nasnet.NASNet(
        (32, 32, 3), 96, 1, 8, skip_reduction=False, weights=None, include_top=False, pooling="avg"
    )
    x = images(32)[:1] / 127.5 - 1.0
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(model.to("cuda").predict(x, verbose=0), expected, **TOLERANCE)
