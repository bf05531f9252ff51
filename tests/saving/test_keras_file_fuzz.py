"""Fuzzing the Keras-format files autoconv writes: ``.keras`` archives, ``.weights.h5`` files and
legacy ``.h5`` models (with their JSON attributes) of several model kinds (compiled, trained a
step so the optimizer state exists), with random edits of their ``config.json`` (types swapped,
keys dropped, huge, negative and non-finite numbers, deep nesting, unknown class names, layer
arguments changed), of ``metadata.json``, of the archive's entries, of the HDF5 weights (datasets
of another shape, dtype or value, dropped, added, renamed, compressed, linked; groups removed;
attributes) and of the raw bytes. Every damaged file either loads as a model that predicts (and,
compiled, trains a step) or raises ``ModelFileError`` naming the file: never another exception;
``load_weights`` changes all weights or none. The files are loaded in this process, so a native
crash fails the run.

(Over ~600 lines on purpose: the damage generators, one for each part of a file, and the one
check every damaged file meets are read together; split, each part would be read with the
other open.)
"""

from __future__ import annotations

import builtins
import functools
import importlib
import io
import json
import math
import os
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autoconv as ac
from autoconv import layers
from autoconv.saving import ModelFileError
from autoconv.training import TrainingDivergedError

# Damaged weights overflow and cast badly in NumPy, and a legacy file whose optimizer state no
# longer fits loads with a warning: expected, and beside the point here.
pytestmark = pytest.mark.filterwarnings(
    "ignore::RuntimeWarning", "ignore::numpy.exceptions.ComplexWarning", "ignore::UserWarning"
)

# Fast enough for every CI run (derandomized: the same cases every run); the slow variant
# below explores further, with new cases each run.
FAST = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# The long run is asked for by setting AUTOCONV_FUZZ_EXAMPLES (e.g. 5000 before a release).
SLOW = settings(
    FAST, max_examples=int(os.environ.get("AUTOCONV_FUZZ_EXAMPLES", 1000)), derandomize=False
)
LONG_RUN = pytest.mark.skipif(
    "AUTOCONV_FUZZ_EXAMPLES" not in os.environ, reason="set AUTOCONV_FUZZ_EXAMPLES to run it"
)
CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"


# ------------------------------------------------------------------------ real models
def conv_sequential() -> ac.Model:
    return ac.Sequential(
        [
            layers.Input(shape=(6, 6, 1)),
            layers.Rescaling(0.5),
            layers.Conv2D(2, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.BatchNormalization(),
            layers.AveragePooling2D(1),
            layers.Flatten(),
            layers.Dropout(0.25),
            layers.Dense(3, activation="softmax"),
        ]
    )


def residual_functional() -> ac.Model:
    inputs = ac.Input(shape=(4,), name="x")
    hidden = layers.Dense(5, activation="relu")(inputs)
    skip = layers.Dense(5)(inputs)
    merged = layers.add([hidden, skip])
    joined = layers.concatenate([merged, layers.ReLU(max_value=6.0)(skip)])
    return ac.Model(inputs, layers.Dense(3, activation="softmax")(joined))


def nested() -> ac.Model:
    inner = ac.Sequential([layers.Dense(4, activation="tanh"), layers.Softmax()], name="inner")
    inputs = ac.Input(shape=(4,))
    pooled = layers.Dense(3)(inner(inputs))
    return ac.Model(inputs, layers.Activation("softmax")(pooled))


KINDS = {
    "sequential": (conv_sequential, "rmsprop", (6, 6, 1)),
    "functional": (residual_functional, ac.optimizers.Adam(amsgrad=True), (4,)),
    "nested": (nested, ac.optimizers.SGD(0.1, momentum=0.9), (4,)),
}


def _compiled(kind: str) -> ac.Model:
    """A fresh model of ``kind``, compiled with its optimizer (a new one each time)."""
    make, optimizer, _ = KINDS[kind]
    model = make()
    optimizer = ac.optimizers.deserialize(ac.optimizers.serialize(ac.optimizers.get(optimizer)))
    model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    return model


def _saved(kind: str) -> tuple[bytes, bytes]:
    """(``.keras`` archive, ``.weights.h5`` file) bytes of a model of ``kind``, trained one
    step so that the optimizer's slots exist."""
    ac.utils.set_random_seed(0)
    model = _compiled(kind)
    model.train_on_batch(*_data(KINDS[kind][2]))
    if kind == "sequential":
        model.class_names = ["a", "b", "c"]  # kept in metadata.json
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "m.keras")
        model.save_weights(Path(folder) / "w.weights.h5")
        return (Path(folder) / "m.keras").read_bytes(), (Path(folder) / "w.weights.h5").read_bytes()


def _data(shape: tuple[int, ...], n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, *shape)).astype(np.float32)
    return x, ac.utils.to_categorical(np.arange(n) % 3, 3)


@functools.cache
def _all_saved() -> dict[str, tuple[bytes, bytes]]:
    return {kind: _saved(kind) for kind in KINDS}


@pytest.fixture(scope="module")
def saved() -> dict[str, tuple[bytes, bytes]]:
    return _all_saved()


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


# --------------------------------------------------------------------------- the oracle
def loads_and_runs_or_refuses(path: Path, kind: str) -> None:
    """The property: ModelFileError naming the file, or a model that predicts (and trains one
    step when compiled: an optimizer state that got in must fit its weights)."""
    try:
        model = ac.load_model(path)
    except ModelFileError as error:
        assert str(path) in str(error)
        return
    x = _inputs(model)
    if x is None:  # an input too large to feed (the model itself is fine)
        return
    model.predict(x, verbose=0)
    if model.compiled and model.optimizer is not None:
        try:
            model.train_on_batch(x, _data(KINDS[kind][2], 2)[1])
        except (ValueError, TrainingDivergedError):
            pass  # the file's loss, metrics or learning rate may not suit our data: clear errors


def weights_load_or_refuse(path: Path, kind: str, compiled: bool) -> None:
    """load_weights sets every weight (and the optimizer's state) or raises ModelFileError
    naming the file and leaves all of them as they were."""
    model = _compiled(kind) if compiled else KINDS[kind][0]()
    x, y = _data(KINDS[kind][2])
    if compiled:
        model.train_on_batch(x, y)  # slots to keep or replace
    before = _state(model)
    try:
        model.load_weights(path)
    except ModelFileError as error:
        assert str(path) in str(error)
        after = _state(model)
        assert len(before) == len(after)
        for a, b in zip(before, after, strict=True):  # nothing half-loaded
            np.testing.assert_array_equal(a, b)
        return
    model.predict(x, verbose=0)
    if compiled:
        try:
            model.train_on_batch(x, y)
        except TrainingDivergedError:
            pass  # weights as large as float32 allows (3e38) may overflow the loss: clear


def _state(model: ac.Model) -> list[np.ndarray]:
    """The model's weights, then its optimizer's step count, learning rate and slots."""
    values = [np.array(w) for w in model.get_weights()]
    optimizer = model.optimizer
    if optimizer is not None:
        values += [np.array(optimizer.iterations), np.array(float(optimizer.learning_rate))]
        values += [np.array(s[n]) for s in optimizer.slots for n in sorted(s)]
    return values


def _inputs(model: Any) -> Any:
    shapes = [t.shape for t in model.inputs]
    if any(None in s[1:] or math.prod(s[1:]) > 10**5 for s in shapes):
        return None
    arrays = [np.ones((2, *s[1:]), np.float32) for s in shapes]
    return arrays if len(arrays) > 1 else arrays[0]


# ------------------------------------------------------------------- archive surgery
def unpack(data: bytes) -> dict[str, bytes]:
    """An archive's entries, by name, in order."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def pack(entries: dict[str, bytes] | list[tuple[str, bytes]], deflated: tuple = ()) -> bytes:
    """A zip archive of ``entries`` (a list may name one twice), those in ``deflated``
    compressed."""
    buffer = io.BytesIO()
    items = entries.items() if isinstance(entries, dict) else entries
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile's "Duplicate name"
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in items:
                how = zipfile.ZIP_DEFLATED if name in deflated else zipfile.ZIP_STORED
                archive.writestr(name, data, compress_type=how)
    return buffer.getvalue()


def nodes(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path into a JSON tree (the root included)."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += nodes(item, (*path, index))
    return found


def get(tree: Any, path: tuple) -> Any:
    for key in path:
        tree = tree[key]
    return tree


NAMES = [
    "Dense", "Conv2D", "Sequential", "Functional", "Model", "InputLayer", "Layer", "Lambda",
    "Add", "Concatenate", "MaxPooling2D", "Dropout", "Flatten", "Softmax", "ReLU", "Evil",
    "BaseConv", "Merge", "Pooling2D", "_RandomLayer", "BatchNormalization", "DTypePolicy",
    "relu", "softmax", "rmsprop", "adam", "SGD", "RMSprop", "Adam", "GlorotUniform", "Zeros",
    "categorical_crossentropy", "accuracy", "mse", "same", "valid", "float64", "float16",
    "keras.layers", "keras", "keras.src.models.functional", "keras.optimizers", "os", "system",
    "builtins", "eval", "__lambda__", "function", "__keras_tensor__", "keras_history",
    "__class__", "os.system", "", "name", "config", "class_name", "layers", "units", "module",
    "registered_name", "build_config", "input_shape", "batch_shape", "inbound_nodes", "args",
]  # fmt: skip
NUMBERS = [
    0, 1, -1, 2, 3, 7, 10**9, 10**13, 2**31, 2**63, -(2**63), 10**30, 0.5, -0.5, 1.5, 3.0,
    1e308, -1e308, 1e-320, float("nan"), float("inf"), float("-inf"), True, False,
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.sampled_from(NUMBERS),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.sampled_from(NAMES),
    st.text(max_size=6),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=8,
)


def swapped(value: Any) -> Any:
    """``value`` as another JSON type: list <-> dict <-> str <-> number."""
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, str):
        return len(value)
    if isinstance(value, bool | int | float):
        return [value] if isinstance(value, bool) else str(value)
    return {}


def deeply_nested(tree: dict[str, Any], depth: int) -> bytes:
    """The JSON text of ``tree`` with a list nested ``depth`` deep as its first key (too deep
    for json.dumps: written as raw text)."""
    return ('{"deep": ' + "[" * depth + "]" * depth + ", " + json.dumps(tree)[1:]).encode()


@st.composite
def json_edit(draw: Any, tree: Any) -> bytes | Any:
    """The JSON ``tree`` with one random edit (or the raw text of a deeply nested one)."""
    tree = json.loads(json.dumps(tree))  # a copy
    path = draw(st.sampled_from(nodes(tree)))
    how = draw(
        st.sampled_from(["replace", "swap", "delete", "nest", "number", "shape", "duplicate"])
    )
    value = get(tree, path)
    if how == "replace":
        new = draw(json_values)
    elif how == "swap":
        new = swapped(value)
    elif how == "nest":
        depth = draw(st.sampled_from([50, 200, 100_000]))
        if depth > 1000 and isinstance(tree, dict):
            return deeply_nested(tree, depth)
        new = None
        for _ in range(min(depth, 1000)):
            new = [new]
    elif how == "number":
        new = draw(st.sampled_from(NUMBERS))
        if isinstance(value, int | float) and not isinstance(value, bool):
            new = draw(st.sampled_from([-value, value * 10**9, value + 1, value - 1, new]))
    elif how == "shape" and isinstance(value, list) and value:
        new = list(value)
        index = draw(st.integers(0, len(new) - 1))
        new[index] = draw(st.sampled_from([0, -1, 1, 2, 10**9, None, "3", 2.5, [2]]))
        if draw(st.booleans()):
            new.append(draw(st.sampled_from([1, 3, None])))
    elif how == "duplicate" and isinstance(value, list) and value:
        new = [*value, value[draw(st.integers(0, len(value) - 1))]]
    else:  # delete (also "shape" and "duplicate" on what is not a list)
        if not path:
            return {}
        del get(tree, path[:-1])[path[-1]]
        return tree
    if not path:
        return new
    get(tree, path[:-1])[path[-1]] = new
    return tree


@st.composite
def field_edit(draw: Any, config: Any) -> Any:
    """The config with one argument of one layer (its config or build config, or the compile
    config) changed to a value of the wrong type or range: what keeps the weights' shapes but
    may break the model."""
    config = json.loads(json.dumps(config))
    fields = [
        p for p in nodes(config)
        if len(p) >= 2 and p[-2] in ("config", "build_config", "compile_config")
        and isinstance(p[-1], str) and p[-1] != "name"
    ]  # fmt: skip
    if not fields:
        return config
    path = draw(st.sampled_from(fields))
    value = get(config, path)
    options = [*NUMBERS, None, "same", "SAME", "causal", "relu", "x", [], {}, [1], [1, 2, 3]]
    if isinstance(value, int | float) and not isinstance(value, bool):
        options += [str(value), [value], -value, value * 10**6, value + 0.5]
    if isinstance(value, list):
        options += [[*value, 1], value[:1], [str(v) for v in value], [-v for v in value
                    if isinstance(v, int | float)], [v * 10**9 for v in value
                    if isinstance(v, int | float)]]  # fmt: skip
    get(config, path[:-1])[path[-1]] = draw(st.sampled_from(options))
    return config


@st.composite
def entries_edit(draw: Any, entries: dict[str, bytes]) -> tuple[list[tuple[str, bytes]], tuple]:
    """The archive's entries with one dropped, added (unknown, an asset, or one named twice),
    reordered or compressed: (entries, names to compress)."""
    items = list(entries.items())
    how = draw(st.sampled_from(["drop", "extra", "twice", "reverse", "deflate"]))
    if how == "drop":
        del items[draw(st.integers(0, len(items) - 1))]
    elif how == "extra":
        name = draw(st.sampled_from(["evil.py", "assets/notes.txt", "../config.json",
                                     "/etc/passwd", "config.json/", "variables.h5"]))  # fmt: skip
        items.insert(draw(st.integers(0, len(items))), (name, b"import os"))
    elif how == "twice":
        items.append(items[draw(st.integers(0, len(items) - 1))])
    elif how == "reverse":
        items.reverse()
    else:
        return items, (draw(st.sampled_from([name for name, _ in items])),)
    return items, ()


# ---------------------------------------------------------------------- HDF5 surgery
def h5_items(h5: h5py.File) -> tuple[list[str], list[str]]:
    """The names of a file's datasets and of its groups (the root not included)."""
    datasets: list[str] = []
    groups: list[str] = []
    h5.visititems(
        lambda name, item: (datasets if isinstance(item, h5py.Dataset) else groups).append(name)
    )
    return datasets, groups


def _replace(h5: h5py.File, name: str, value: Any, **options: Any) -> None:
    del h5[name]
    h5.create_dataset(name, data=value, **options)


H5_DTYPES = [
    "int32", "int64", "uint64", "float16", "float64", "complex64", "bool", "uint8", "S3",
    ">f4", "longdouble", "string", "compound",
]  # fmt: skip
ATTRIBUTES = ["name", "layer_names", "model_config", "keras_version", "backend", "weight_names"]
ATTRIBUTE_VALUES = [
    "x", 7, np.zeros(3), b"dense", '{"class_name": "Sequential"}', np.array([b"dense"]), "",
]  # fmt: skip


def as_dtype(value: np.ndarray, dtype: str) -> np.ndarray:
    """``value`` in ``dtype`` (``string``: variable-length strings; ``compound``: a record)."""
    if dtype == "string":
        return np.array(["w"] * value.size, dtype=h5py.string_dtype()).reshape(value.shape)
    if dtype == "compound":
        record = np.zeros(value.shape, np.dtype([("a", "<f4"), ("b", "<i4")]))
        record["a"] = value
        return record
    return value.astype(dtype)


@st.composite
def h5_edit(draw: Any, data: bytes) -> bytes:
    """The HDF5 file ``data`` with one dataset, group or attribute edited (unchanged where
    h5py cannot make the edit drawn)."""
    buffer = io.BytesIO(data)
    try:
        with h5py.File(buffer, "r+") as h5:
            _edit_h5(draw, h5)
    except (ValueError, TypeError, KeyError, OSError):
        return data
    return buffer.getvalue()


def _edit_h5(draw: Any, h5: h5py.File) -> None:
    datasets, groups = h5_items(h5)
    how = draw(st.sampled_from([
        "shape", "dtype", "values", "drop", "extra", "rename", "group", "compress",
        "attribute", "swap", "chunked", "unwritten", "link", "scalar",
    ]))  # fmt: skip
    if not datasets:
        how = draw(st.sampled_from(["extra", "attribute"]))
    name = draw(st.sampled_from(datasets)) if datasets else ""
    value = np.asarray(h5[name][()]) if datasets else np.zeros(2, np.float32)
    if value.dtype.kind not in "biuf":  # already edited into strings or records
        value = np.zeros(value.shape, np.float32)
    if how == "shape":
        shape = list(value.shape) or [1]
        index = draw(st.integers(0, len(shape) - 1))
        shape[index] = draw(st.sampled_from([0, 1, shape[index] + 1, max(shape[index] - 1, 0)]))
        if draw(st.booleans()):
            shape.append(1)
        _replace(h5, name, np.zeros(shape, value.dtype))
    elif how == "dtype":
        _replace(h5, name, as_dtype(value, draw(st.sampled_from(H5_DTYPES))))
    elif how == "values":
        flat = value.reshape(-1).copy()
        if flat.size:
            if value.dtype.kind in "biu":  # the extremes the dtype holds
                info = np.iinfo(value.dtype) if value.dtype.kind != "b" else None
                special = [info.min, info.max, 0] if info else [True, False]
            else:
                special = [np.nan, np.inf, -np.inf, 3e38, -0.0, 1e-45]
            flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from(special))
        h5[name][...] = flat.reshape(value.shape)
    elif how == "drop":
        del h5[name]
    elif how == "extra":
        where = draw(st.sampled_from([*groups, ""]))
        extra = draw(st.sampled_from(["99", "2", "0", "vars/0", "evil", "layers/evil/vars/0"]))
        target = f"{where}/{extra}" if where else extra
        if target not in h5:
            h5.create_dataset(target, data=value)
    elif how == "rename":
        new = f"{name.rpartition('/')[0]}/{draw(st.sampled_from(['0', '1', '5', 'x']))}"
        if new != name:
            if new in h5:
                del h5[new]
            h5.move(name, new)
    elif how == "group" and groups:
        del h5[draw(st.sampled_from(groups))]
    elif how == "compress":
        options = draw(st.sampled_from([{"compression": "gzip"}, {"compression": "lzf"},
                                        {"shuffle": True}, {"fletcher32": True}]))  # fmt: skip
        if value.ndim:
            _replace(h5, name, value, **options)
    elif how == "attribute":
        target = h5[draw(st.sampled_from(["/", *groups, *datasets]))]
        key = draw(st.sampled_from(ATTRIBUTES))
        if draw(st.booleans()) and key in target.attrs:
            del target.attrs[key]
        else:
            target.attrs[key] = draw(st.sampled_from(ATTRIBUTE_VALUES))
    elif how == "swap":  # a dataset where a group was, or a group where a dataset was
        if groups and draw(st.booleans()):
            group = draw(st.sampled_from(groups))
            del h5[group]
            h5.create_dataset(group, data=value)
        else:
            del h5[name]
            h5.create_group(name)
    elif how == "chunked" and value.ndim:  # still a plain dataset: loads as it was
        _replace(h5, name, value, chunks=True, maxshape=(None,) * value.ndim)
    elif how == "unwritten":  # declares its shape, stores nothing: reads as the fill value
        del h5[name]
        h5.create_dataset(name, shape=value.shape, dtype=value.dtype, chunks=value.ndim > 0
                          or None, fillvalue=draw(st.sampled_from([0, np.nan, 1])))  # fmt: skip
    elif how == "link":  # a hard or soft link to another dataset (or to nothing)
        other = draw(st.sampled_from([*datasets, "nowhere"]))
        del h5[name]
        h5[name] = h5[other] if other in h5 and draw(st.booleans()) else h5py.SoftLink(
            f"/{other}")  # fmt: skip
    else:  # a scalar
        _replace(h5, name, np.float32(draw(st.sampled_from([0.0, np.nan]))))


# ---------------------------------------------------------------------- byte surgery
@st.composite
def byte_edit(draw: Any, data: bytes) -> bytes:
    """``data`` with random bytes cut off, flipped or inserted."""
    how = draw(st.sampled_from(["truncate", "flip", "insert"]))
    if how == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "flip":
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]


@st.composite
def damaged_archive(draw: Any, kind: str) -> bytes:
    """The ``.keras`` archive of ``kind`` with one to three edits of its config, metadata,
    weights or entries, and sometimes its bytes."""
    entries = unpack(_all_saved()[kind][0])
    config = json.loads(entries[CONFIG])
    if draw(st.integers(0, 2)) == 0:  # one subtle change of the architecture
        entries[CONFIG] = json.dumps(draw(field_edit(config))).encode()
        return pack(entries)
    items: list[tuple[str, bytes]] | None = None
    deflated: tuple = ()
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        part = draw(st.sampled_from([CONFIG, CONFIG, METADATA, WEIGHTS, WEIGHTS, "entries"]))
        if part == "entries":
            items, deflated = draw(entries_edit(entries))
        elif part == WEIGHTS and WEIGHTS in entries:
            entries[WEIGHTS] = draw(h5_edit(entries[WEIGHTS]))
        elif part in entries:
            try:
                tree = json.loads(entries[part])
            except (ValueError, RecursionError):  # edited into raw text before
                continue
            edited = draw(json_edit(tree))
            entries[part] = edited if isinstance(edited, bytes) else json.dumps(edited).encode()
    data = pack(entries if items is None else items, deflated)
    if draw(st.integers(0, 3)) == 0:
        data = draw(byte_edit(data))
    return data


@st.composite
def damaged_weights(draw: Any, kind: str) -> bytes:
    """The ``.weights.h5`` file of ``kind`` with one to three edits, sometimes of its bytes."""
    data = _all_saved()[kind][1]
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        data = draw(h5_edit(data))
    if draw(st.integers(0, 3)) == 0:
        data = draw(byte_edit(data))
    return data


# ----------------------------------------------------------------------------- the tests
def _fuzz_model_files(folder: Path, data: Any) -> None:
    kind = data.draw(st.sampled_from(sorted(KINDS)))
    path = folder / f"{kind}.keras"
    path.write_bytes(data.draw(damaged_archive(kind)))
    loads_and_runs_or_refuses(path, kind)


def _fuzz_weights_files(folder: Path, data: Any) -> None:
    kind = data.draw(st.sampled_from(sorted(KINDS)))
    if data.draw(st.booleans()):
        path = folder / f"{kind}.weights.h5"
        path.write_bytes(data.draw(damaged_weights(kind)))
    else:
        path = folder / f"{kind}.w.keras"
        path.write_bytes(data.draw(damaged_archive(kind)))
    weights_load_or_refuse(path, kind, compiled=data.draw(st.booleans()))


@FAST
@given(data=st.data())
def test_damaged_archives_load_or_raise_model_file_error(folder, data):
    _fuzz_model_files(folder, data)


@FAST
@given(data=st.data())
def test_damaged_weights_files_load_all_or_raise_model_file_error(folder, data):
    _fuzz_weights_files(folder, data)


@functools.cache
def _legacy_file(kind: str) -> bytes:
    """The legacy ``.h5`` model file (Keras 2's layout, as ``model.save("m.h5")`` writes it)
    of a model of ``kind`` trained one step."""
    ac.utils.set_random_seed(0)
    model = _compiled(kind)
    model.train_on_batch(*_data(KINDS[kind][2]))
    with tempfile.TemporaryDirectory() as name:
        model.save(Path(name) / "m.h5")
        return (Path(name) / "m.h5").read_bytes()


@st.composite
def damaged_legacy_file(draw: Any, kind: str) -> bytes:
    """The legacy ``.h5`` file of ``kind`` with one to three edits of its JSON attributes
    (the model and training configs) or of its datasets, groups and attributes, and sometimes
    of its bytes."""
    data = _legacy_file(kind)
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        attribute = draw(st.sampled_from(["model_config", "training_config", None, None]))
        if attribute is None:
            data = draw(h5_edit(data))
            continue
        buffer = io.BytesIO(data)
        with h5py.File(buffer, "r+") as h5:
            if attribute not in h5.attrs:
                continue
            try:
                tree = json.loads(h5.attrs[attribute])
            except (ValueError, TypeError, RecursionError):  # edited into something else before
                continue
            edited = draw(json_edit(tree) if draw(st.booleans()) else field_edit(tree))
            h5.attrs[attribute] = edited if isinstance(edited, bytes) else json.dumps(edited)
        data = buffer.getvalue()
    if draw(st.integers(0, 3)) == 0:
        data = draw(byte_edit(data))
    return data


@FAST
@given(data=st.data())
def test_damaged_legacy_h5_files_load_or_raise_model_file_error(folder, data):
    _fuzz_legacy_files(folder, data)


def _fuzz_legacy_files(folder: Path, data: Any) -> None:
    kind = data.draw(st.sampled_from(sorted(KINDS)))
    path = folder / f"{kind}.legacy.h5"
    path.write_bytes(data.draw(damaged_legacy_file(kind)))
    loads_and_runs_or_refuses(path, kind)
    weights_load_or_refuse(path, kind, compiled=data.draw(st.booleans()))


@FAST
@given(data=st.data())
def test_damaged_bytes_of_archives_and_weights_files(folder, data):
    kind = data.draw(st.sampled_from(sorted(KINDS)))
    archive, weights = _all_saved()[kind]
    path = folder / f"{kind}.bytes.keras"
    path.write_bytes(data.draw(byte_edit(archive)))
    loads_and_runs_or_refuses(path, kind)
    path = folder / f"{kind}.bytes.weights.h5"
    path.write_bytes(data.draw(byte_edit(weights)))
    weights_load_or_refuse(path, kind, compiled=True)
    loads_and_runs_or_refuses(path, kind)  # a weights file is not a model: refused


@pytest.mark.slow
@LONG_RUN
@SLOW
@given(data=st.data())
def test_damaged_keras_files_at_length(folder, data):
    which = data.draw(st.sampled_from(["model", "weights", "legacy"]))
    if which == "model":
        _fuzz_model_files(folder, data)
    elif which == "weights":
        _fuzz_weights_files(folder, data)
    else:
        _fuzz_legacy_files(folder, data)


def test_intact_files_load_and_run(saved, folder):
    """What the fuzzing starts from: each kind's archive loads, predicts and trains, and its
    weights file loads into a fresh model."""
    for kind in KINDS:
        path = folder / f"{kind}.intact.keras"
        path.write_bytes(saved[kind][0])
        model = ac.load_model(path)
        assert model.predict(_inputs(model), verbose=0).shape == (2, 3)
        assert model.optimizer.iterations == 1
        model.train_on_batch(*_data(KINDS[kind][2]))
        (folder / f"{kind}.intact.weights.h5").write_bytes(saved[kind][1])
        fresh = _compiled(kind)
        fresh.load_weights(folder / f"{kind}.intact.weights.h5")
        assert fresh.optimizer.iterations == 1


# ----------------------------------------------------------------- targeted: sizes
def _archive(saved: dict, kind: str, folder: Path, name: str, **changes: bytes | None) -> Path:
    """The archive of ``kind`` with entries replaced (or, given None, removed), written."""
    entries = unpack(saved[kind][0])
    for entry, data in changes.items():
        entry = {"config": CONFIG, "metadata": METADATA, "weights": WEIGHTS}.get(entry, entry)
        if data is None:
            del entries[entry]
        else:
            entries[entry] = data
    path = folder / name
    path.write_bytes(pack(entries))
    return path


def _edited_h5(data: bytes, edit: Any) -> bytes:
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as h5:
        edit(h5)
    return buffer.getvalue()


def _central_entry(data: bytes | bytearray, name: str) -> int:
    """Where the central directory record of the entry ``name`` starts in a zip archive."""
    at = data.index(b"PK\x01\x02")
    while data[at + 46 : at + 46 + len(name)] != name.encode():
        at = data.index(b"PK\x01\x02", at + 4)
    return at


@pytest.mark.parametrize(
    ("declared", "message"),
    [(2**32 - 2, "decompression bomb"), (100, "bad CRC-32|does not hold the bytes")],
)
def test_an_entry_declaring_a_size_it_does_not_store_is_refused(saved, folder, declared, message):
    """A decompression bomb's header (4 GiB declared for a few kB: refused from the header
    alone), and an entry expanding past what it declares (read no further)."""
    data = bytearray(pack(unpack(saved["functional"][0]), deflated=(WEIGHTS,)))
    at = _central_entry(data, WEIGHTS)
    data[at + 24 : at + 28] = declared.to_bytes(4, "little")  # the uncompressed size
    path = folder / "bomb.keras"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=rf"bomb\.keras.*({message})"):
        ac.load_model(path)
    model = _compiled("functional")
    with pytest.raises(ModelFileError, match=message):
        model.load_weights(path)


def _enormous(h5: h5py.File) -> None:
    """The first Dense's kernel (4, 5) replaced by one declaring (4, 10**9) it never stores,
    and another 10**12 floats beside it."""
    del h5["layers/dense/vars/0"]
    h5.create_dataset("layers/dense/vars/0", shape=(4, 10**9), dtype="f4", chunks=(4, 1024))
    h5.create_dataset("pad", shape=(10**12,), dtype="f4", chunks=(1024,))


@pytest.mark.parametrize("units", [5, 10**9])
def test_a_dataset_declaring_a_shape_it_does_not_store_is_refused(saved, folder, units):
    """Neither the kernel's shape (wrong for 5 units) nor the unused dataset lets a config
    asking for 10**9 units allocate what the file does not hold."""
    config = json.loads(unpack(saved["functional"][0])[CONFIG])
    config["config"]["layers"][1]["config"]["units"] = units
    weights = _edited_h5(saved["functional"][1], _enormous)
    path = _archive(saved, "functional", folder, "enormous.keras",
                    config=json.dumps(config).encode(), weights=weights)  # fmt: skip
    message = r"shape \(4, 1000000000\) in the file" if units == 5 else "larger than any array"
    with pytest.raises(ModelFileError, match=message):
        ac.load_model(path)
    (folder / "enormous.weights.h5").write_bytes(weights)
    with pytest.raises(ModelFileError, match=r"shape \(4, 1000000000\) in the file"):
        residual_functional().load_weights(folder / "enormous.weights.h5")


def _outside(h5: h5py.File, how: str, other: Path) -> None:
    """The first Dense's kernel read from ``other``: by external storage, a virtual dataset,
    or an external or soft link to it or to the group above it."""
    name = "layers/dense/vars/0"
    del h5[name]
    if how == "external storage":
        h5.create_dataset(name, shape=(4, 5), dtype="<f4", external=[(str(other), 0, 80)])
    elif how == "virtual dataset":
        layout = h5py.VirtualLayout(shape=(4, 5), dtype="<f4")
        layout[:] = h5py.VirtualSource(str(other), "data", shape=(4, 5))
        h5.create_virtual_dataset(name, layout)
    elif how == "external link":
        h5[name] = h5py.ExternalLink(str(other), "/data")
    elif how == "external link above":
        del h5["layers/dense"]
        h5["layers/dense"] = h5py.ExternalLink(str(other), "/dense")
    else:  # a soft link inside the file, to another dataset of the right shape
        h5.create_dataset("elsewhere", data=np.ones((4, 5), np.float32))
        h5[name] = h5py.SoftLink("/elsewhere")


@pytest.mark.parametrize(
    "how",
    ["external storage", "virtual dataset", "external link", "external link above", "soft link"],
)
def test_weights_stored_outside_their_dataset_are_refused(saved, folder, how):
    """Keras's CVE-2026-1669: a crafted file must not make the loader read another file on the
    host (external storage, virtual datasets, external links), nor follow links at all."""
    other = folder / "other.h5"
    with h5py.File(other, "w") as h5:
        h5.create_dataset("data", data=np.full((4, 5), 7, np.float32))
        h5.create_dataset("dense/vars/0", data=np.full((4, 5), 7, np.float32))
        h5.create_dataset("dense/vars/1", data=np.full(5, 7, np.float32))
    if how == "external storage":
        other.write_bytes(np.full((4, 5), 7, np.float32).tobytes())
    weights = _edited_h5(saved["functional"][1], lambda h5: _outside(h5, how, other))
    path = _archive(saved, "functional", folder, "outside.keras", weights=weights)
    with pytest.raises(ModelFileError, match=r"outside\.keras"):
        ac.load_model(path)
    (folder / "outside.weights.h5").write_bytes(weights)
    model = residual_functional()
    with pytest.raises(ModelFileError, match=r"outside\.weights\.h5"):
        model.load_weights(folder / "outside.weights.h5")
    assert not any((w == 7).all() for w in model.get_weights())


# --------------------------------------------------------------- targeted: nesting
def test_a_config_nested_200000_deep_is_a_clear_error(saved, folder):
    config = json.loads(unpack(saved["nested"][0])[CONFIG])
    path = _archive(saved, "nested", folder, "deep.keras", config=deeply_nested(config, 200_000))
    with pytest.raises(ModelFileError, match=r"deep\.keras.*nested too deeply"):
        ac.load_model(path)


@pytest.mark.parametrize("depth", [300, 5000])
def test_models_nested_too_deeply_are_a_clear_error(saved, folder, depth):
    """5000 models deep: too deep a JSON text; 300: parsed, but too deep to rebuild."""
    config = json.loads(unpack(saved["nested"][0])[CONFIG])
    entry = config["config"]["layers"][1]  # the Sequential inside
    inner = {key: entry[key] for key in ("module", "class_name", "config", "registered_name")}
    for i in range(depth):
        inner = {"module": "keras", "class_name": "Sequential", "registered_name": None,
                 "config": {"name": f"s{i}", "layers": [inner]}}  # fmt: skip
    entry["config"] = inner["config"]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)  # for json.dumps
    try:
        text = json.dumps(config).encode()
    finally:
        sys.setrecursionlimit(limit)
    path = _archive(saved, "nested", folder, "deep_models.keras", config=text)
    with pytest.raises(ModelFileError, match=r"deep_models\.keras.*nested too deeply"):
        ac.load_model(path)


# ------------------------------------------------------------ targeted: safe mode
def _with_layer(saved: dict, folder: Path, entry: dict, where: str = "layer") -> Path:
    """The sequential archive with its Dropout's entry replaced by ``entry`` (``where``:
    "layer"), or ``entry`` as the Dense's activation, the loss or the optimizer."""
    config = json.loads(unpack(saved["sequential"][0])[CONFIG])
    entries = config["config"]["layers"]
    if where == "layer":
        entries[[e["class_name"] for e in entries].index("Dropout")] = entry
    elif where == "activation":
        entries[-1]["config"]["activation"] = entry
    elif where == "loss":
        config["compile_config"]["loss"] = entry
    else:
        config["compile_config"]["optimizer"] = entry
    return _archive(saved, "sequential", folder, "unsafe.keras", config=json.dumps(config).encode())


LAMBDA_CODE = "4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMEAAAAfABTAKkBTqkAqQHaAXhyAQAAAHIBAAAA"


@pytest.mark.parametrize("where", ["layer", "activation", "loss"])
def test_a_lambda_is_never_loaded(saved, folder, where):
    function = {"class_name": "__lambda__", "config": {"code": LAMBDA_CODE, "defaults": None,
                                                        "closure": None}}  # fmt: skip
    entry = function
    if where == "layer":
        entry = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                 "config": {"name": "lambda", "function": function, "arguments": {}}}  # fmt: skip
    path = _with_layer(saved, folder, entry, where)
    with pytest.raises(ModelFileError, match=r"unsafe\.keras.*[Ll]ambda"):
        ac.load_model(path)


def _spy_on_imports(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the modules imported from now on (until ``monkeypatch.undo()``)."""
    imported: list[str] = []
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def spy(name: str, *args: Any, **kwargs: Any) -> Any:
        imported.append(name)
        return real_import(name, *args, **kwargs)

    def spy_module(name: str, *args: Any) -> Any:
        imported.append(name)
        return real_import_module(name, *args)

    monkeypatch.setattr(builtins, "__import__", spy)
    monkeypatch.setattr(importlib, "import_module", spy_module)
    return imported


@pytest.mark.parametrize("where", ["layer", "activation", "loss", "optimizer"])
@pytest.mark.parametrize(
    ("module", "class_name"),
    [("os", "system"), ("this", "Evil"), ("antigravity", "Dense"), ("keras.layers", "Evil"),
     ("builtins", "eval"), ("subprocess", "Popen")],
)  # fmt: skip
def test_a_class_that_is_not_autoconvs_nor_registered_is_refused_without_importing(
    saved, folder, monkeypatch, where, module, class_name
):
    """A file names classes; it never makes autoconv import a module or run a function."""
    marker = folder / "ran"
    entry = {"module": module, "class_name": class_name, "registered_name": f"{module}>"
             f"{class_name}", "config": {"name": "x", "command": f"touch {marker}"}}  # fmt: skip
    if class_name == "Dense":  # a known class under a foreign module and registered name
        entry["config"] = {"name": "x", "units": 3}
    imported = _spy_on_imports(monkeypatch)
    monkeypatch.setattr(os, "system", lambda *a: pytest.fail("os.system ran"))
    path = _with_layer(saved, folder, entry, where)
    try:
        loads_and_runs_or_refuses(path, "sequential")
    finally:
        monkeypatch.undo()
    assert not marker.exists()
    assert not {"this", "antigravity"} & set(sys.modules)
    assert not {"this", "antigravity", "subprocess"} & set(imported)
    assert module not in imported or module in ("os", "builtins", "keras.layers")


def test_loading_asks_no_module_named_in_the_file(saved, folder, monkeypatch):
    """The modules an intact file names (keras.layers, keras.src.models.functional, ...) are
    never imported: every class is looked up among autoconv's own."""
    imported = _spy_on_imports(monkeypatch)
    path = _archive(saved, "nested", folder, "named.keras")
    ac.load_model(path)
    monkeypatch.undo()
    assert not [name for name in imported if name.startswith("keras")]


@pytest.mark.parametrize("how", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_entries_compressed_as_keras_never_does_are_refused(saved, folder, how):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in unpack(saved["nested"][0]).items():
            archive.writestr(name, data, compress_type=how)
    path = folder / "compressed.keras"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ModelFileError, match=r"compressed\.keras.*compressed in a way"):
        ac.load_model(path)


@pytest.mark.parametrize(
    ("name", "loads"),
    [("evil.py", False), ("../config.json", False), ("/etc/passwd", False),
     ("variables.h5", False), ("assets/notes.txt", True), (CONFIG, False)],
)  # fmt: skip
def test_unknown_archive_entries_are_refused(saved, folder, name, loads):
    """Only Keras's entries (and its assets/ folder, unread): an unknown one, or one named
    twice, is refused."""
    items = [*unpack(saved["nested"][0]).items(), (name, b"import os")]
    path = folder / "entries.keras"
    path.write_bytes(pack(items))
    if loads:
        ac.load_model(path).predict(np.ones((1, 4), np.float32), verbose=0)
    else:
        with pytest.raises(ModelFileError, match=r"entries\.keras"):
            ac.load_model(path)
