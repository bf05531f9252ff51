"""Keras 3's ``.keras`` archive, and its ``.weights.h5`` weights files.

A ``.keras`` file is a zip archive of ``metadata.json`` (the Keras version the format is
Keras 3.15's, the date; autoconv adds what it keeps beside the model, the class names of
``autoconv train FOLDER``), ``config.json`` (the model's Keras object entry, its compile
config inside), ``model.weights.h5`` (the state, :mod:`autoconv.saving.h5_state`) and
``assets/`` (what layers write with Keras's ``save_assets(dir)`` hook, a lookup layer's
``vocabulary.txt``, under the layer's path in the state: ``assets/layers/integer_lookup/``); a
``.weights.h5`` file is that HDF5 file alone. autoconv writes them as Keras does (entries
stored, not compressed), so Keras loads them; and it reads Keras's.

Reading a file checks it before anything is built: the archive's entries (no other names, no
entry that expands more than :data:`MAX_EXPANSION` times what it stores past
:data:`EXPANSION_FLOOR` bytes, no config over :data:`MAX_CONFIG_BYTES`), the JSON, every class
the config names (autoconv's own layers, or a user's registered ones: nothing is imported),
the architecture's weights against what the weights file stores (:func:`files.weight_budget`),
then every weight (:func:`h5_state.read`), then the assets (plain file names, at most
:data:`MAX_ASSETS_BYTES` together) each layer's ``load_assets`` reads from a temporary
folder. Any problem is one ModelFileError naming the file; the model is returned whole or not
at all, and ``load_weights`` changes all weights or none.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import h5py

from autoconv.atomic import write_atomically
from autoconv.layers.serialization import deserialize, serialize
from autoconv.registration import custom_object_scope
from autoconv.saving import h5_state
from autoconv.saving.files import (
    FILE_ERRORS,
    ModelFileError,
    checked_dict,
    reason,
    weight_budget,
)

KERAS_VERSION = "3.15.1"  # the Keras whose format autoconv writes (and reads)
CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
MAX_CONFIG_BYTES = 64 * 2**20
EXPANSION_FLOOR, MAX_EXPANSION = 2**28, 100
ASSETS = "assets"
MAX_ASSETS_BYTES = 256 * 2**20
ASSET_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # a file a layer writes (no folders, no "..")


# ------------------------------------------------------------------------------ writing
def save_model(model: Any, path: Path) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` archive (atomically)."""
    write_atomically(path, _archive_writer(model))


def _archive_writer(model: Any) -> Callable[[IO[bytes]], None]:
    """What writes ``model``'s archive to a file: everything in it is computed first, so a
    model that cannot be saved fails before any file is touched."""
    config = json.dumps(serialize(model)).encode()
    metadata = {
        "keras_version": KERAS_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    }
    if model.class_names is not None:
        metadata["autoconv"] = {"class_names": list(model.class_names)}
    weights = _h5_bytes(model)
    assets = _assets(model)

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA, json.dumps(metadata))
            archive.writestr(CONFIG, config)
            archive.writestr(WEIGHTS, weights)
            for name, data in assets.items():
                archive.writestr(name, data)

    return write


def save_model_to_folder(model: Any, path: Path) -> None:
    """Keras's ``save_model(..., zipped=False)``: the files of ``model``'s archive
    (``config.json``, ``metadata.json``, ``model.weights.h5``, the assets) in the folder
    ``path``, each written atomically."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"save: {path} is a file; zipped=False writes a folder")
    with zipfile.ZipFile(io.BytesIO(model_to_bytes(model))) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path / name, lambda f, data=data: f.write(data))


def folder_as_archive(path: Path) -> io.BytesIO:
    """The files of a folder :func:`save_model_to_folder` (or Keras's ``zipped=False``)
    wrote, as the ``.keras`` archive that holds them, in memory: the archive's own files and
    its assets, nothing else the folder holds."""
    files = [path / name for name in (CONFIG, METADATA, WEIGHTS)]
    files += sorted((path / ASSETS).rglob("*"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for file in files:
            if file.is_file():
                archive.write(file, file.relative_to(path).as_posix())
    buffer.seek(0)
    return buffer


def model_to_bytes(model: Any) -> bytes:
    """``model``'s ``.keras`` archive, in memory: how a model is pickled and deep-copied, as
    Keras's (``Model.__reduce__``)."""
    buffer = io.BytesIO()
    _archive_writer(model)(buffer)
    return buffer.getvalue()


def model_from_bytes(data: bytes) -> Any:
    """The model of :func:`model_to_bytes`'s archive, compiled as it was (an unpickled copy)."""
    return load_model(io.BytesIO(data), None, compile=True)  # type: ignore[arg-type]


def save_weights(model: Any, path: Path) -> None:
    """Write ``model``'s weights (and optimizer state) as Keras's ``.weights.h5`` file."""
    weights = _h5_bytes(model)
    write_atomically(path, lambda f: f.write(weights))


def _assets(model: Any) -> dict[str, bytes]:
    """``{archive name: bytes}`` of what each layer's ``save_assets(dir)`` writes, under
    ``assets/<its path in the state>/``, as Keras's saving_lib."""
    assets: dict[str, bytes] = {}
    for path, layer in h5_state.saveables(model):
        if not hasattr(layer, "save_assets"):
            continue
        with tempfile.TemporaryDirectory() as folder:
            layer.save_assets(folder)
            for name in sorted(os.listdir(folder)):
                with open(os.path.join(folder, name), "rb") as f:
                    assets["/".join(p for p in (ASSETS, path, name) if p)] = f.read()
    return assets


def _load_assets(model: Any, archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo]) -> None:
    """Hand each layer with Keras's ``load_assets(dir)`` a temporary folder of its files from
    ``assets/<its path>/`` (plain names only; :data:`MAX_ASSETS_BYTES` at most in all), its
    variables already loaded, as Keras's. (Keras skips ``load_assets`` where an archive holds
    no assets: a lookup layer's vocabulary removed from a file would go unnoticed.)"""
    budget = MAX_ASSETS_BYTES
    for path, layer in h5_state.saveables(model):
        if not hasattr(layer, "load_assets"):
            continue
        prefix = "/".join(p for p in (ASSETS, path) if p) + "/"
        mine = {n[len(prefix) :]: e for n, e in entries.items() if n.startswith(prefix)}
        files = {name: e for name, e in mine.items() if "/" not in name and not e.is_dir()}
        with tempfile.TemporaryDirectory() as folder:
            for name, entry in files.items():
                if not ASSET_NAME.fullmatch(name) or name in (".", ".."):
                    raise ValueError(f"its asset {entry.filename!r} is not a plain file name")
                data = read_entry(archive, entry, budget)
                budget -= len(data)
                with open(os.path.join(folder, name), "wb") as f:
                    f.write(data)
            layer.load_assets(folder)


def _h5_bytes(model: Any) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5_state.write(h5, model)
    return buffer.getvalue()


# ------------------------------------------------------------------------------ reading
def is_archive(path: Path) -> bool:
    """Whether ``path`` is a zip archive holding Keras's ``config.json``."""
    try:
        with zipfile.ZipFile(path) as archive:
            return CONFIG in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


# Readers of the archives whose config.json holds something other than a model, by its class
# name: a FeatureSpace's (registered by autoconv.feature_space, which this package does not
# import), called with the archive's path.
ARCHIVE_READERS: dict[str, Callable[[Path], Any]] = {}


def load_model(path: Path, custom_objects: dict | None, compile: bool) -> Any:
    """The model of a ``.keras`` archive, compiled (with its optimizer's state) if it was
    and ``compile``; a FeatureSpace's archive gives the FeatureSpace, as Keras's."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = checked_entries(archive)
            config = json.loads(read_entry(archive, entries[CONFIG], MAX_CONFIG_BYTES))
            reader = ARCHIVE_READERS.get(checked_dict(config, "config.json").get("class_name"))
            if reader is not None:
                return reader(path)
            metadata = (
                json.loads(read_entry(archive, entries[METADATA], MAX_CONFIG_BYTES))
                if METADATA in entries
                else {}
            )
            weights = read_entry(archive, entries[WEIGHTS], None) if WEIGHTS in entries else None
            checked_dict(config, "config.json")
            if weights is None:
                raise ValueError(f"it has no {WEIGHTS}")
            with h5py.File(io.BytesIO(weights), "r") as h5:
                with weight_budget(h5_state.dataset_sizes(h5)):
                    model = deserialize(_without_compile(config), custom_objects)
                _check_model(model)
                pairs = h5_state.read(h5, model)
                compile_config = config.get("compile_config") if compile else None
                if compile_config:  # (its functions found in custom_objects too, as Keras's)
                    with custom_object_scope(custom_objects):
                        model.compile_from_config(compile_config)
                optimizer_state = h5_state.read_optimizer(h5, model) if compile_config else None
            h5_state.assign(model, pairs, optimizer_state)
            _load_assets(model, archive, entries)  # (after the variables, as Keras's)
        names = checked_dict(metadata, "metadata.json").get("autoconv", {}).get("class_names")
        if names is not None:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError("its class names must be a list of strings")
            model.class_names = names
    except ModelFileError:
        raise
    except FILE_ERRORS as error:
        raise ModelFileError(f"load_model: {path}: {reason(error)}") from None
    return model


def load_weights(model: Any, path: Path, skip_mismatch: bool = False) -> None:
    """Set ``model``'s weights (and its optimizer's state, where the file and the model both
    have one) from a ``.weights.h5`` file or a ``.keras`` archive: all or nothing, or with
    ``skip_mismatch`` all but the layers whose weights do not fit (:func:`h5_state.read`)."""
    if not model.built:
        raise ValueError(f"load_weights: model {model.name} is not built yet; build it first")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                entries = checked_entries(archive)
                if WEIGHTS not in entries:
                    raise ValueError(f"it has no {WEIGHTS}")
                source: Any = io.BytesIO(read_entry(archive, entries[WEIGHTS], None))
        else:
            source = path
        with h5py.File(source, "r") as h5:
            pairs, optimizer_state = h5_state.read_weights_file(h5, model, skip_mismatch)
    except FILE_ERRORS as error:
        raise ModelFileError(f"load_weights: {path}: {reason(error)}") from None
    h5_state.assign(model, pairs, optimizer_state)


def checked_entries(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The archive's entries by name, after checking each: a name Keras writes (or an
    ``assets/`` file, read by the layers that wrote them), once, not encrypted, stored or deflated
    (as Python's zipfile writes them), and not expanding far beyond what it stores."""
    entries: dict[str, zipfile.ZipInfo] = {}
    for entry in archive.infolist():
        name = entry.filename
        if name not in (CONFIG, METADATA, WEIGHTS) and not name.startswith("assets/"):
            raise ValueError(f"it holds an entry {name!r} that a .keras archive does not")
        if name in entries:
            raise ValueError(f"it names the entry {name!r} twice")
        if entry.flag_bits & 0x1:
            raise ValueError(f"its entry {name!r} is encrypted")
        if entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(
                f"its entry {name!r} is compressed in a way zip files of Keras never are"
            )
        if entry.file_size > EXPANSION_FLOOR and entry.file_size > MAX_EXPANSION * max(
            entry.compress_size, 1
        ):
            raise ValueError(
                f"its entry {name!r} declares {entry.file_size} bytes but stores "
                f"{entry.compress_size}: refusing a potential decompression bomb"
            )
        entries[name] = entry
    if CONFIG not in entries:
        raise ValueError(f"it is a zip archive without {CONFIG}: not a .keras file")
    return entries


def read_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, limit: int | None) -> bytes:
    """An entry's bytes, never more than it declares (nor than ``limit``)."""
    size = entry.file_size
    if limit is not None and size > limit:
        raise ValueError(f"its {entry.filename} is {size} bytes, more than {limit}")
    with archive.open(entry) as f:
        data = f.read(size + 1)
    if len(data) != size:
        raise ValueError(f"its {entry.filename} does not hold the bytes it declares")
    return data


def _without_compile(config: dict[str, Any]) -> dict[str, Any]:
    """The model's entry without its compile config (compiled apart, after the weights)."""
    return {key: value for key, value in config.items() if key != "compile_config"}


def _check_model(model: Any) -> None:
    from autoconv.models import Model

    if not isinstance(model, Model):
        raise ValueError(f"its config describes a {type(model).__name__}, not a model")


def file_kind(path: Path) -> str:
    """What a file is, from its first bytes: "zip", "hdf5", or "other"."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK"):
        return "zip"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    return "other"


def exists(path: str | os.PathLike) -> Path:
    """``path`` as a Path, after checking it is a file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file")
    return path
