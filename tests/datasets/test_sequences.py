"""Keras's text datasets, IMDB and Reuters: the same arrays as Keras 3.15's loaders give for one
generated file over their options (Keras's own loader run on it where Keras is installed), the
word indexes and label names, and damaged, hostile or foreign files refused with one clear error
(a pickle that would run a command does not run it). No test touches the network."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autoconv.datasets import DatasetFileError, imdb, reuters, sequences

MEMBERS = {"imdb": ("x_train", "y_train", "x_test", "y_test"), "reuters": ("x", "y")}
MODULES = {"imdb": imdb, "reuters": reuters}


def _sequences(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` lists of 1 to 30 word ranks (Python ints, as Keras's files hold)."""
    array = np.empty(count, dtype=object)
    for i in range(count):
        array[i] = [int(w) for w in rng.integers(0, 60, rng.integers(1, 31))]
    return array


def _arrays(name: str, count: int = 40) -> dict[str, np.ndarray]:
    """Keras's members of ``name``'s file: object arrays of sequences, integer labels (IMDB's
    int64, Reuters' int32, so that the labels' dtype is seen to be kept)."""
    rng = np.random.default_rng(count)
    if name == "imdb":
        return {
            "x_train": _sequences(rng, count),
            "y_train": rng.integers(0, 2, count),
            "x_test": _sequences(rng, count + 3),
            "y_test": rng.integers(0, 2, count + 3),
        }
    return {"x": _sequences(rng, count), "y": rng.integers(0, 46, count).astype(np.int32)}


def _trusted(monkeypatch: Any, name: str, path: Path) -> None:
    """The test file's sha256 in place of Keras's (the real file cannot be downloaded here)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(MODULES[name], "SHA256", digest)


def _write(folder: Path, name: str, monkeypatch: Any, **arrays: np.ndarray) -> Path:
    path = folder / f"{name}.npz"
    np.savez(path, **(arrays or _arrays(name)))
    _trusted(monkeypatch, name, path)
    return path


def _keras_module(name: str, path: Path, monkeypatch: Any) -> Any:
    """Keras's ``keras.src.datasets.<name>``, its get_file giving ``path``."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    module = importlib.import_module(f"keras.src.datasets.{name}")
    monkeypatch.setattr(module, "get_file", lambda *args, **kwargs: str(path))
    return module


def _assert_same(ours: Any, theirs: Any) -> None:
    for our_part, their_part in zip(ours, theirs, strict=True):
        (x, y), (keras_x, keras_y) = our_part, their_part
        assert x.dtype == keras_x.dtype == object and x.shape == keras_x.shape
        assert x.tolist() == keras_x.tolist()
        assert {type(w) for seq in x for w in seq} <= {int}
        assert y.dtype == keras_y.dtype
        np.testing.assert_array_equal(y, keras_y)


OPTIONS = [
    {},
    {"num_words": 20, "skip_top": 3},
    {"maxlen": 15, "seed": 7},
    {"start_char": None, "oov_char": None, "index_from": 0},
    {"start_char": None, "num_words": 30, "skip_top": 5},
    {"maxlen": 12, "start_char": None, "oov_char": None, "num_words": 25, "index_from": 0},
    {"num_words": 10, "oov_char": None, "seed": 0},
]


@pytest.mark.parametrize("options", OPTIONS)
def test_imdb_is_kerass(tmp_path, monkeypatch, options):
    path = _write(tmp_path, "imdb", monkeypatch)
    keras_imdb = _keras_module("imdb", path, monkeypatch)
    ours = imdb.load_data(data_dir=tmp_path, download=False, **options)
    _assert_same(ours, keras_imdb.load_data(**options))


@pytest.mark.parametrize("options", [*OPTIONS, {"test_split": 0.0}, {"test_split": 0.5}])
def test_reuters_is_kerass(tmp_path, monkeypatch, options):
    path = _write(tmp_path, "reuters", monkeypatch)
    keras_reuters = _keras_module("reuters", path, monkeypatch)
    ours = reuters.load_data(data_dir=tmp_path, download=False, **options)
    _assert_same(ours, keras_reuters.load_data(**options))


def test_imdb_ignores_other_keyword_arguments_as_keras_does(tmp_path, monkeypatch):
    path = _write(tmp_path, "imdb", monkeypatch)
    keras_imdb = _keras_module("imdb", path, monkeypatch)
    ours = imdb.load_data(data_dir=tmp_path, download=False, nb_words=5)
    _assert_same(ours, keras_imdb.load_data(nb_words=5))
    with pytest.raises(TypeError):
        reuters.load_data(data_dir=tmp_path, download=False, nb_words=5)


def test_imdb_maxlen_keeping_nothing_is_kerass_error(tmp_path, monkeypatch):
    path = _write(tmp_path, "imdb", monkeypatch)
    keras_imdb = _keras_module("imdb", path, monkeypatch)
    message = "After filtering for sequences shorter than maxlen=2, no sequence was kept"
    with pytest.raises(ValueError, match=message):
        keras_imdb.load_data(maxlen=2)
    with pytest.raises(ValueError, match=message):
        imdb.load_data(maxlen=2, data_dir=tmp_path, download=False)


def test_an_empty_sequence_without_start_char_is_kept_where_keras_fails(tmp_path, monkeypatch):
    arrays = _arrays("reuters")
    arrays["x"][5] = []
    path = _write(tmp_path, "reuters", monkeypatch, **arrays)
    keras_reuters = _keras_module("reuters", path, monkeypatch)
    with pytest.raises(ValueError, match="empty"):  # max() of the empty sequence
        keras_reuters.load_data(start_char=None)
    (x_train, _), (x_test, _) = reuters.load_data(start_char=None, data_dir=tmp_path)
    assert [] in x_train.tolist() + x_test.tolist()


def test_reuters_test_split_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="Invalid `test_split` argument"):
        reuters.load_data(test_split=1.5)


def test_a_path_to_the_file_itself_is_read(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    path = _write(tmp_path / "elsewhere", "reuters", monkeypatch)
    (x_train, y_train), (x_test, _) = reuters.load_data(path=str(path), download=False)
    assert len(x_train) == len(y_train) == 32 and len(x_test) == 8


def test_a_file_with_another_checksum_is_refused(tmp_path):
    np.savez(tmp_path / "imdb.npz", **_arrays("imdb"))
    with pytest.raises(DatasetFileError, match="checksum mismatch"):
        imdb.load_data(data_dir=tmp_path, download=False)


@pytest.mark.parametrize("name", MODULES)
def test_word_index_and_label_names_are_kerass(tmp_path, monkeypatch, name):
    path = tmp_path / f"{name}_word_index.json"
    path.write_text(json.dumps({"the": 1, "and": 2, "é": 3}), encoding="utf-8")
    monkeypatch.setattr(MODULES[name], "WORD_INDEX_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    keras_module = _keras_module(name, path, monkeypatch)
    assert MODULES[name].get_word_index(data_dir=tmp_path) == keras_module.get_word_index()
    if name == "reuters":
        assert reuters.get_label_names() == keras_module.get_label_names()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[1, 2]", "not a word index"),
        (b'{"the": "1"}', "not a word index"),
        (b'{"the": 1', "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
    ],
)
def test_a_word_index_that_is_not_kerass_is_one_clear_error(
    tmp_path, monkeypatch, content, message
):
    path = tmp_path / "imdb_word_index.json"
    path.write_bytes(content)
    monkeypatch.setattr(imdb, "WORD_INDEX_MD5", hashlib.md5(content).hexdigest())
    with pytest.raises(DatasetFileError, match=message):
        imdb.get_word_index(data_dir=tmp_path)


def test_an_oversized_word_index_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "reuters_word_index.json"
    path.write_text(json.dumps({f"w{i}": i for i in range(100)}))
    monkeypatch.setattr(reuters, "WORD_INDEX_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    monkeypatch.setattr(sequences, "WORD_INDEX_BYTES", 100)
    with pytest.raises(DatasetFileError, match="larger than 100 bytes"):
        reuters.get_word_index(data_dir=tmp_path)


def _npz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _objects(*items: object) -> np.ndarray:
    """A 1-D object array of ``items`` (NumPy would make equal-length lists a 2-D one)."""
    array = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        array[i] = item
    return array


def _pickled_npy(length: int, payload: object) -> bytes:
    """A ``.npy`` whose header says ``length`` objects and whose pickle is ``payload``'s."""
    buffer = io.BytesIO()
    header = {"descr": "|O", "fortran_order": False, "shape": (length,)}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + pickle.dumps(payload, protocol=3)


class _Reduced:
    """Pickles as ``function(*args)``, with ``state`` set on the result when given."""

    def __init__(self, function: Any, args: tuple, state: Any = None) -> None:
        self.reduced = (function, args) if state is None else (function, args, state)

    def __reduce__(self) -> Any:
        return self.reduced


def _object_array_state(shape: tuple, items: Any, dtype: Any = None) -> _Reduced:
    """The pickle of an ndarray, its state made by hand (NumPy crashes on some states)."""
    from numpy._core.multiarray import _reconstruct

    state = (1, shape, np.dtype(object) if dtype is None else dtype, False, items)
    return _Reduced(_reconstruct, (np.ndarray, (0,), b"b"), state)


def _imdb_with(x_train: bytes, y_train: bytes | None = None) -> bytes:
    good = {name: _npy(array) for name, array in _arrays("imdb", 3).items()}
    return _npz({**good, "x_train": x_train, "y_train": y_train or good["y_train"]})


HOSTILE = [
    (b"not a zip", "not a valid imdb file"),
    (_npz({"x_train": _npy(_arrays("imdb")["x_train"])}),
     "no y_train.npy, x_test.npy, y_test.npy"),
    (_imdb_with(_npy(np.ones(3))), "x_train.npy .* dtype is float64, not object"),
    (_imdb_with(_npy(_arrays("imdb", 3)["x_train"]), _npy(np.ones(3))),
     "y_train.npy .* dtype is float64, not an integer type"),
    (_imdb_with(_npy(np.array([[1, 2], [3, 4]], dtype=object))), "not one dimension"),
    (_imdb_with(_npy(_objects([1], ["a"], [2]))), "not all lists of ints"),
    (_imdb_with(_npy(_objects([1], [2.5], [2]))), "not all lists of ints"),
    (_imdb_with(_npy(_objects((1,), [2], [3]))), "not all lists of ints"),
    (_imdb_with(_npy(_objects(np.array([1]), [2], [3]))), "pickled dtype 'i8', not object"),
    (_imdb_with(_pickled_npy(3, _object_array_state((3,), [[1]]))),
     "not the 3 items its header says"),
    (_imdb_with(_pickled_npy(3, _object_array_state((3,), [[1], [2], [3]], np.dtype("f8")))),
     "pickled dtype 'f8', not object"),
    (_imdb_with(_pickled_npy(3, [[1], [2], [3]])), "its pickle is not a NumPy object array"),
    (_imdb_with(_pickled_npy(3, [[1] * 50])[:-5]), "its pickle cannot be read safely"),
    (_imdb_with(_npy(_arrays("imdb", 4)["x_train"])), "x_train has 4 sequences but y_train has 3"),
    (_imdb_with(_npy(_arrays("imdb", 3)["x_train"]), _npy(np.ones((3, 1), np.int64))),
     "not one dimension"),
    (_imdb_with(_npy(_arrays("imdb", 3)["x_train"]), _npy(np.ones(3, np.int64))[:-4]),
     "20 bytes of data for 3 labels of int64"),
    (_imdb_with(b"\x93NUMPY\x09\x00"), "unknown .npy version"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "message"), HOSTILE)
def test_files_that_are_not_kerass_are_one_clear_error(tmp_path, monkeypatch, content, message):
    path = tmp_path / "imdb.npz"
    path.write_bytes(content)
    _trusted(monkeypatch, "imdb", path)
    with pytest.raises(DatasetFileError, match=message):
        imdb.load_data(data_dir=tmp_path, download=False)


def test_a_pickle_that_runs_a_command_is_refused_and_not_run(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    command = _Reduced(os.system, (f"touch {marker}",))
    x = _objects(command, [1], [2])
    path = tmp_path / "reuters.npz"
    path.write_bytes(_npz({"x": _npy(x), "y": _npy(np.zeros(3, np.int64))}))
    _trusted(monkeypatch, "reuters", path)
    with pytest.raises(DatasetFileError, match=r"x\.npy .*refusing to load the global \w+\.system"):
        reuters.load_data(data_dir=tmp_path, download=False)
    assert not marker.exists()


def test_an_oversized_member_is_refused_before_it_is_read(tmp_path, monkeypatch):
    _write(tmp_path, "reuters", monkeypatch)
    monkeypatch.setattr(sequences, "MOST_BYTES", 100)

    def never(*args: Any) -> None:
        raise AssertionError("a member was read")

    monkeypatch.setattr(zipfile.ZipFile, "read", never)
    monkeypatch.setattr(zipfile.ZipFile, "open", never)
    with pytest.raises(DatasetFileError, match=r"x\.npy, y\.npy hold \d+ bytes, more than .* 100"):
        reuters.load_data(data_dir=tmp_path, download=False)
