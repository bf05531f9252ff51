"""Keras's housing tables (Boston, California): the same train and test parts as Keras 3.15's
loaders give for one file (Keras's own loader run on it where Keras is installed), its
arguments and errors, checksums, and files that are not Keras's (pickled or oversized arrays,
not a zip) refused with one clear error. No test touches the network."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autoconv.datasets import DatasetFileError, boston_housing, california_housing

MODULES = {"boston_housing": (boston_housing, 13), "california_housing": (california_housing, 8)}


def _write(folder: Path, name: str, features: int, samples: int = 37) -> Path:
    rng = np.random.default_rng(samples)
    path = folder / f"{name}.npz"
    np.savez(path, x=rng.random((samples, features)), y=rng.random(samples) * 50)
    return path


def _trusted(monkeypatch: Any, module: Any, path: Path) -> None:
    """The test file's sha256 in place of Keras's (the real file cannot be downloaded here)."""
    monkeypatch.setattr(module, "SHA256", hashlib.sha256(path.read_bytes()).hexdigest())


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize(("test_split", "seed"), [(0.2, 113), (0.0, 1), (0.5, 7)])
def test_the_split_is_kerass(tmp_path, monkeypatch, name, test_split, seed):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    import importlib

    module, features = MODULES[name]
    path = _write(tmp_path, name, features)
    _trusted(monkeypatch, module, path)
    keras_module = importlib.import_module(f"keras.src.datasets.{name}")
    monkeypatch.setattr(keras_module, "get_file", lambda *args, **kwargs: str(path))
    ours = module.load_data(test_split=test_split, seed=seed, data_dir=tmp_path, download=False)
    theirs = getattr(keras.datasets, name).load_data(test_split=test_split, seed=seed)
    for our_part, their_part in zip(ours, theirs, strict=True):
        for mine, keras_array in zip(our_part, their_part, strict=True):
            np.testing.assert_array_equal(mine, keras_array)


def test_california_small_is_the_first_600(tmp_path, monkeypatch):
    path = _write(tmp_path, "california_housing", 8, samples=700)
    _trusted(monkeypatch, california_housing, path)
    (x_train, _), (x_test, _) = california_housing.load_data("small", data_dir=tmp_path)
    assert len(x_train) + len(x_test) == 600 and len(x_test) == 120
    with pytest.raises(ValueError, match="Argument `version` must be one of 'small', 'large'"):
        california_housing.load_data("medium", data_dir=tmp_path)


@pytest.mark.parametrize("bad", [1, 1.5, -0.1])
def test_a_test_split_outside_0_1_is_kerass_error(bad):
    with pytest.raises(ValueError, match="Invalid `test_split` argument"):
        boston_housing.load_data(test_split=bad)


def test_a_path_to_the_file_itself_is_read(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    path = _write(tmp_path / "elsewhere", "boston_housing", 13)
    _trusted(monkeypatch, boston_housing, path)
    (x_train, y_train), _ = boston_housing.load_data(path=str(path), download=False)
    assert x_train.shape == (29, 13) and y_train.shape == (29,)


def test_a_file_with_another_checksum_is_refused(tmp_path):
    _write(tmp_path, "boston_housing", 13)
    with pytest.raises(DatasetFileError, match="checksum mismatch"):
        boston_housing.load_data(data_dir=tmp_path, download=False)


def _npz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip", "not a valid boston_housing file"),
        (_npz({"x.npy": _npy(np.array([[1.0]])), "z.npy": _npy(np.ones(1))}),
         "not a valid boston_housing file"),
        (_npz({"x.npy": _npy(np.array([{"a": 1}], dtype=object)), "y.npy": _npy(np.ones(1))}),
         "not a valid boston_housing file"),
        (_npz({"x.npy": _npy(np.ones((3, 2))), "y.npy": _npy(np.ones(2))}),
         "x has 3 samples but y has 2"),
    ],
)  # fmt: skip
def test_files_that_are_not_kerass_are_one_clear_error(tmp_path, monkeypatch, content, message):
    path = tmp_path / "boston_housing.npz"
    path.write_bytes(content)
    _trusted(monkeypatch, boston_housing, path)
    with pytest.raises(DatasetFileError, match=message):
        boston_housing.load_data(data_dir=tmp_path, download=False)


def test_an_oversized_member_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from autoconv.datasets import tables

    path = _write(tmp_path, "boston_housing", 13)
    _trusted(monkeypatch, boston_housing, path)
    monkeypatch.setattr(tables, "MOST_BYTES", 100)
    with pytest.raises(DatasetFileError, match=r"x\.npy is larger than 100 bytes"):
        boston_housing.load_data(data_dir=tmp_path, download=False)
