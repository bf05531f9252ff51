"""Keras's text datasets, IMDB and Reuters, shared: their ``.npz`` files of word-index sequences
read without trusting them, their JSON word indexes, and the steps Keras 3 applies to the
sequences (keras/src/datasets/imdb.py, reuters.py, npz_utils.py and
keras/src/utils/python_utils.py's ``remove_long_seq``), written once.

A file holds its sequences as a 1-D NumPy object array of lists of ints, which NumPy can only
store as a pickle stream, and its labels as a 1-D integer array. Keras reads the pickles with an
unpickler allowed only NumPy's ``ndarray``, ``dtype`` and ``_reconstruct``; we allow the same
three names but build nothing of NumPy's while the pickle is read (NumPy's own
``ndarray.__setstate__`` crashes the process on a state whose list is shorter than its shape):
the array is built afterwards, from a checked state. Members larger together than a bound are
not read.
"""

from __future__ import annotations

import io
import json
import lzma
import pickle
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autoconv.datasets.files import DatasetFileError
from autoconv.datasets.store import RemoteFile, find
from autoconv.datasets.tables import KERAS_DATASETS

# The members one load reads, uncompressed, together: Keras's IMDB file (17 MB compressed) holds
# about 40 MB of pickled sequences (measured on a synthetic file of its size), Reuters' (2 MB)
# about 5 MB. Unpickled, a byte of pickle makes at most about 32 bytes of Python objects (2 bytes
# append an empty list, 64 bytes), so 128 MiB (3 times IMDB's) bounds a hostile file to ~4 GB.
MOST_BYTES = 128 * 2**20
# A word index: Keras's IMDB one is 1.6 MB, Reuters' 0.5 MB.
WORD_INDEX_BYTES = 16 * 2**20

# What a damaged zip archive raises (RuntimeError: an encrypted member; OSError: bzip2 data)
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError, EOFError, RuntimeError)

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def locate(
    dataset: str,
    path: str,
    origin: str,
    data_dir: str | Path | None,
    download: bool,
    sha256: str | None = None,
    md5: str | None = None,
) -> Path:
    """The verified file ``path``: a file name found or fetched as autoconv's other datasets are
    (see :mod:`autoconv.datasets.store`; ``origin`` is its name on Keras's server), or a path to
    the file itself."""
    folder = Path(path).parent if Path(path).parent != Path() else None
    remote = RemoteFile(Path(path).name, KERAS_DATASETS + origin, file_md5=md5, file_sha256=sha256)
    return find(dataset, remote, data_dir if folder is None else folder, download)


def read_word_index(path: Path) -> dict[str, int]:
    """The JSON object of words to their ranks in ``path``, as Keras's ``get_word_index``."""
    with path.open("rb") as file:
        data = file.read(WORD_INDEX_BYTES + 1)
    if len(data) > WORD_INDEX_BYTES:
        raise DatasetFileError(f"{path}: larger than {WORD_INDEX_BYTES} bytes, not a word index")
    try:
        index = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise DatasetFileError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(index, dict) or not all(type(rank) is int for rank in index.values()):
        raise DatasetFileError(f"{path}: not a word index (a JSON object of words to integers)")
    return index


def read_pairs(
    path: Path, dataset: str, pairs: Sequence[tuple[str, str]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each ``(x, y)`` pair of members of the ``.npz`` file ``path``: x a 1-D object array of
    lists of ints, y a 1-D integer array (its dtype the file's) of the same length."""
    members = _read_members(path, dataset, [f"{name}.npy" for pair in pairs for name in pair])
    arrays = []
    for x, y in pairs:
        sequences = _parse(_sequences, members[x], f"{path}: {x}.npy", dataset)
        labels = _parse(_labels, members[y], f"{path}: {y}.npy", dataset)
        if len(sequences) != len(labels):
            raise DatasetFileError(
                f"{path}: {x} has {len(sequences)} sequences but {y} has {len(labels)} labels"
            )
        arrays.append((sequences, labels))
    return arrays


def _parse(
    parser: Callable[[bytes], np.ndarray], data: bytes, what: str, dataset: str
) -> np.ndarray:
    try:
        return parser(data)
    except ValueError as error:
        raise DatasetFileError(f"{what} is not a valid {dataset} array ({error})") from None


def _read_members(path: Path, dataset: str, names: list[str]) -> dict[str, bytes]:
    """The contents of the zip archive ``path``'s members ``names`` (by name without ".npy"),
    refused before any is read if together they are larger than MOST_BYTES."""
    try:
        with zipfile.ZipFile(path) as archive:
            missing = [name for name in names if name not in archive.namelist()]
            if missing:
                raise DatasetFileError(f"{path}: not a {dataset} file (no {', '.join(missing)})")
            size = sum(archive.getinfo(name).file_size for name in names)
            if size > MOST_BYTES:
                raise DatasetFileError(
                    f"{path}: {', '.join(names)} hold {size} bytes, more than a {dataset} file's "
                    f"{MOST_BYTES}"
                )
            return {name.removesuffix(".npy"): archive.read(name) for name in names}
    except ZIP_ERRORS as error:
        raise DatasetFileError(f"{path}: not a valid {dataset} file ({error})") from None


def _header(data: bytes) -> tuple[int, np.dtype, bytes]:
    """The length, dtype and body of the 1-D ``.npy`` array ``data`` (ValueError otherwise)."""
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version in ((2, 0), (3, 0)):  # 3.0 differs only in the header's text encoding
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"unknown .npy version {version}")
    if len(shape) != 1:
        raise ValueError(f"its shape is {shape}, not one dimension")
    return shape[0], dtype, data[stream.tell() :]


def _labels(data: bytes) -> np.ndarray:
    length, dtype, body = _header(data)
    if dtype.kind not in "iu":
        raise ValueError(f"its dtype is {dtype}, not an integer type")
    if length * dtype.itemsize != len(body):
        raise ValueError(f"{len(body)} bytes of data for {length} labels of {dtype}")
    return np.frombuffer(body, dtype)


def _sequences(data: bytes) -> np.ndarray:
    length, dtype, body = _header(data)
    if dtype != np.dtype(object):
        raise ValueError(f"its dtype is {dtype}, not object (lists of word indices)")
    try:
        pickled = _Unpickler(io.BytesIO(body)).load()
    except Exception as error:  # a damaged pickle can raise almost anything (see pickle's docs)
        raise ValueError(
            f"its pickle cannot be read safely ({type(error).__name__}: {error})"
        ) from None
    state = pickled.state if isinstance(pickled, _Array) else None
    if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], _ObjectDtype)):
        raise ValueError("its pickle is not a NumPy object array")
    items = state[4]
    if not isinstance(items, list) or state[1] != (length,) or len(items) != length:
        raise ValueError(f"its pickle is not the {length} items its header says")
    if not all(type(x) is list and all(type(w) is int for w in x) for x in items):
        raise ValueError("its items are not all lists of ints")
    array = np.empty(length, dtype=object)
    for i, x in enumerate(items):  # one by one: equal-length lists would become a 2-D array
        array[i] = x
    return array


class _Array:
    """What the pickle of a NumPy array becomes here: the state NumPy's ``__setstate__`` would
    be given, ``(version, shape, dtype, fortran_order, items)``, kept to be checked."""

    state: object = None

    def __setstate__(self, state: object) -> None:
        self.state = state


class _ObjectDtype:
    """What the pickle of NumPy's object dtype becomes here (its state adds nothing)."""

    def __setstate__(self, state: object) -> None:
        pass


def _reconstruct(cls: object, shape: object, typecode: object) -> _Array:
    if cls is not _Array:
        raise pickle.UnpicklingError("_reconstruct of something other than numpy.ndarray")
    return _Array()


def _dtype(name: object, align: object = False, copy: object = True) -> _ObjectDtype:
    if name not in ("O8", "O4"):
        raise pickle.UnpicklingError(f"a pickled dtype {name!r}, not object")
    return _ObjectDtype()


# Keras's three globals (numpy < 2 and numpy >= 2 spell multiarray's module differently), as
# the stand-ins above
GLOBALS = {
    ("numpy", "ndarray"): _Array,
    ("numpy", "dtype"): _dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
}


class _Unpickler(pickle.Unpickler):
    """Only GLOBALS: any other global is refused, never imported."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}")
        return GLOBALS[module, name]


def shuffled(
    x: np.ndarray, y: np.ndarray, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` in the order of ``rng``'s shuffle of their indices, as Keras's."""
    indices = np.arange(len(x))
    rng.shuffle(indices)
    return x[indices], y[indices]


def encode(xs: Sequence[list[int]], start_char: int | None, index_from: int) -> list[list[int]]:
    """Each sequence's words plus ``index_from``, after ``start_char`` unless it is None."""
    head = [] if start_char is None else [start_char]
    return [head + [w + index_from for w in x] for x in xs]


def remove_long_seq(
    maxlen: int, xs: Sequence[list[int]], labels: Sequence[Any]
) -> tuple[list[list[int]], list[Any]]:
    """Keras's: the sequences shorter than ``maxlen`` (not up to it), and their labels."""
    kept = [(x, y) for x, y in zip(xs, labels, strict=True) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def restrict(
    xs: list[list[int]], num_words: int | None, skip_top: int, oov_char: int | None
) -> list[list[int]]:
    """Keras's vocabulary cut: words outside ``[skip_top, num_words)`` become ``oov_char``, or
    are dropped when it is None. Without ``num_words``, the largest word ends the range (so it,
    too, is cut, as in Keras)."""
    if not num_words:
        num_words = max((max(x) for x in xs if x), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def split(xs: list[list[int]], labels: Sequence[Any] | np.ndarray, cut: int) -> Split:
    """``((x_train, y_train), (x_test, y_test))``, cut at ``cut`` as Keras cuts: NumPy's
    object arrays of the lists (2-D if all have one length), and arrays of the labels."""
    return (
        (np.array(xs[:cut], dtype="object"), np.array(labels[:cut])),
        (np.array(xs[cut:], dtype="object"), np.array(labels[cut:])),
    )
