"""Fuzzing model files: random truncations, bit flips and inserted bytes, and random edits of
the JSON config (types swapped, keys dropped, huge, negative and non-finite numbers, deep
nesting, unknown class names, shapes changed) and of the arrays (shape, dtype, values) of real
saved models of several kinds. Every damaged file either loads as a model that predicts (and,
compiled, trains a step) or raises ``ValueError`` (``ModelFileError``): never another
exception. The files are loaded in this process, so a native crash (an out-of-bounds write in
a kernel) kills the test run, which fails it.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autoconv as ac
from autoconv import layers
from autoconv.models import ModelFileError

# Damaged weights overflow and cast badly in NumPy: expected, and beside the point here.
pytestmark = pytest.mark.filterwarnings(
    "ignore::RuntimeWarning", "ignore::numpy.exceptions.ComplexWarning"
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
# AUTOCONV_FUZZ_EXAMPLES sets how far the slow run goes (e.g. 5000 before a release).
SLOW = settings(
    FAST, max_examples=int(os.environ.get("AUTOCONV_FUZZ_EXAMPLES", 1000)), derandomize=False
)


# ------------------------------------------------------------------------ real models
def conv_sequential() -> ac.Model:
    return ac.Sequential(
        [
            layers.Input(shape=(6, 6, 1)),
            layers.Rescaling(0.5),
            layers.Conv2D(2, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
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
    "functional": (residual_functional, "adam", (4,)),
    "nested": (nested, ac.optimizers.SGD(0.1, momentum=0.9), (4,)),
}


def _saved(kind: str) -> tuple[bytes, bytes]:
    """(model file, weights file) bytes of a model of ``kind``, trained one step so that the
    optimizer's slots exist."""
    make, optimizer, shape = KINDS[kind]
    ac.utils.set_random_seed(0)
    model = make()
    model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    x, y = _data(shape)
    model.train_on_batch(x, y)
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "m.npz")
        model.save_weights(Path(folder) / "w.npz")
        return (Path(folder) / "m.npz").read_bytes(), (Path(folder) / "w.npz").read_bytes()


def _data(shape: tuple[int, ...], n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, *shape)).astype(np.float32)
    return x, ac.utils.to_categorical(np.arange(n) % 3, 3)


@pytest.fixture(scope="module")
def saved() -> dict[str, tuple[bytes, bytes]]:
    return _all_saved()


@functools.cache
def _all_saved() -> dict[str, tuple[bytes, bytes]]:
    return {kind: _saved(kind) for kind in KINDS}


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


# --------------------------------------------------------------------------- the oracle
def loads_and_runs_or_refuses(path: Path, kind: str) -> None:
    """The property: ModelFileError, or a model that predicts (and trains one step when
    compiled: an optimizer state that got in must fit its weights)."""
    try:
        model = ac.load_model(path)
    except ModelFileError as error:
        assert str(path) in str(error) and "pickle" not in str(error)
        return
    x = _inputs(model)
    if x is None:  # an input too large to feed (the model itself is fine)
        return
    model.predict(x, verbose=0)
    if model.compiled and model.optimizer is not None:
        try:
            model.train_on_batch(x, _data(KINDS[kind][2])[1])
        except ValueError:
            pass  # the file's loss or metrics may not suit our targets: a clear error is fine


def weights_load_or_refuse(path: Path, kind: str) -> None:
    model = KINDS[kind][0]()
    before = [w.copy() for w in model.get_weights()]
    try:
        model.load_weights(path)
    except ModelFileError as error:
        assert str(path) in str(error)
        for a, b in zip(before, model.get_weights(), strict=True):  # nothing half-loaded
            np.testing.assert_array_equal(a, b)
        return
    model.predict(_data(KINDS[kind][2])[0], verbose=0)


def _inputs(model: Any) -> Any:
    shapes = [t.shape for t in model.inputs]
    if any(None in s[1:] or math.prod(s[1:]) > 10**5 for s in shapes):
        return None
    arrays = [np.ones((2, *s[1:]), np.float32) for s in shapes]
    return arrays if len(arrays) > 1 else arrays[0]


# ------------------------------------------------------------------------ file surgery
def unpack(data: bytes) -> tuple[Any, dict[str, np.ndarray]]:
    with np.load(io.BytesIO(data)) as f:
        arrays = dict(f)
    return json.loads(arrays.pop("config").tobytes()), arrays


def pack(config: Any, arrays: dict[str, np.ndarray], raw_config: bytes | None = None) -> bytes:
    text = json.dumps(config).encode() if raw_config is None else raw_config
    buffer = io.BytesIO()
    np.savez(buffer, config=np.frombuffer(text, np.uint8), **arrays)
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
    "relu", "softmax", "rmsprop", "adam", "SGD", "RMSprop", "Adam", "glorot_uniform", "zeros",
    "categorical_crossentropy", "accuracy", "mse", "same", "valid", "float64", "float16",
    "__class__", "os.system", "", "name", "config", "class_name", "layers", "units",
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


@st.composite
def config_edit(draw: Any, config: Any) -> bytes | Any:
    """The config with one random edit (or the raw text of a deeply nested one)."""
    config = json.loads(json.dumps(config))  # a copy
    path = draw(st.sampled_from(nodes(config)))
    how = draw(
        st.sampled_from(["replace", "swap", "delete", "nest", "number", "shape", "duplicate"])
    )
    value = get(config, path)
    if how == "replace":
        new = draw(json_values)
    elif how == "swap":
        new = swapped(value)
    elif how == "nest":
        depth = draw(st.sampled_from([50, 200, 100_000]))
        new = None
        if depth > 1000:  # too deep for json.dumps: written as raw text
            text = json.dumps(config)
            return text.replace(
                '"format"', '"deep": ' + "[" * depth + "]" * depth + ', "format"', 1
            ).encode()
        for _ in range(depth):
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
        parent = get(config, path[:-1])
        del parent[path[-1]]
        return config
    if not path:
        return new
    get(config, path[:-1])[path[-1]] = new
    return config


@st.composite
def field_edit(draw: Any, config: Any) -> Any:
    """The config with one argument of one layer (or of the optimizer) changed to a value of
    the wrong type or range: what keeps the weights' shapes but may break the model."""
    config = json.loads(json.dumps(config))
    fields = [
        p for p in nodes(config)
        if len(p) >= 2 and p[-2] == "config" and isinstance(p[-1], str) and p[-1] != "name"
    ]  # fmt: skip
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


DTYPES = ["int32", "int64", "float16", "complex64", "bool", "uint8", "<U3", "object", ">f4"]


@st.composite
def arrays_edit(draw: Any, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays = dict(arrays)
    key = draw(st.sampled_from(sorted(arrays)))
    value = arrays[key]
    if value.dtype.kind not in "biuf":  # already edited into strings or objects
        value = np.zeros(value.shape, np.float32)
    how = draw(st.sampled_from(["shape", "dtype", "values", "drop", "extra", "rename", "scalar"]))
    if how == "shape":
        shape = list(value.shape) or [1]
        index = draw(st.integers(0, len(shape) - 1))
        shape[index] = draw(st.sampled_from([0, 1, shape[index] + 1, max(shape[index] - 1, 0)]))
        if draw(st.booleans()):
            shape.append(1)
        arrays[key] = np.zeros(shape, value.dtype)
    elif how == "dtype":
        dtype = draw(st.sampled_from(DTYPES))
        arrays[key] = (
            np.array([object()] * value.size, dtype=object).reshape(value.shape)
            if dtype == "object"
            else value.astype(dtype)
        )
    elif how == "values" and value.size:
        value = value.astype(np.float32)
        flat = value.reshape(-1)
        flat[draw(st.integers(0, flat.size - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf, 3e38, -0.0, 1e-45])
        )
        arrays[key] = value
    elif how == "drop":
        del arrays[key]
    elif how == "extra":
        arrays[draw(st.sampled_from(["weight_99", "slot_99_velocity", "config2", "x"]))] = value
    elif how == "rename":
        arrays[draw(st.sampled_from(["weight_0", "slot_0_m", "weight_1", "slot_1_velocity"]))] = (
            arrays.pop(key)
        )
    else:
        arrays[key] = np.float32(draw(st.sampled_from([0.0, np.nan])))
    return arrays


@st.composite
def byte_edit(draw: Any, kind: str, which: int = 0, data: bytes | None = None) -> bytes:
    """The file of ``kind`` (``which``: 0 the model file, 1 the weights file), or ``data``,
    with random bytes cut off, flipped or inserted."""
    data = _all_saved()[kind][which] if data is None else data
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
def damaged(draw: Any, kind: str, which: int = 0) -> bytes:
    """The model file of ``kind`` (``which``: 0 the model file, 1 the weights file) with one to
    three edits of its config, arrays or bytes."""
    config, arrays = unpack(_all_saved()[kind][which])
    if which == 0 and draw(st.integers(0, 2)) == 0:  # one subtle change of the architecture
        return pack(draw(field_edit(config)), arrays)
    raw = None
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        layer = draw(st.sampled_from(["config", "arrays", "both"]))
        if layer in ("config", "both") and raw is None:
            edited = draw(config_edit(config))
            if isinstance(edited, bytes):
                raw = edited
            else:
                config = edited
        if layer in ("arrays", "both") and arrays:
            arrays = draw(arrays_edit(arrays))
    data = pack(config, arrays, raw)
    if draw(st.integers(0, 3)) == 0:
        data = draw(byte_edit(kind, which, data))
    return data


# ----------------------------------------------------------------------------- the tests
def _fuzz_model_files(folder, data):
    kind = data.draw(st.sampled_from(sorted(KINDS)))
    path = folder / f"{kind}.npz"
    path.write_bytes(data.draw(damaged(kind)))
    loads_and_runs_or_refuses(path, kind)


def _fuzz_weights_files(folder, data):
    kind = data.draw(st.sampled_from(sorted(KINDS)))
    which = data.draw(st.integers(0, 1))  # a model file, or a weights file
    path = folder / f"{kind}.weights.npz"
    path.write_bytes(data.draw(damaged(kind, which)))
    weights_load_or_refuse(path, kind)


@FAST
@given(data=st.data())
def test_damaged_model_files_load_or_raise_value_error(folder, data):
    _fuzz_model_files(folder, data)


@FAST
@given(data=st.data())
def test_damaged_weights_files_load_or_raise_value_error(folder, data):
    _fuzz_weights_files(folder, data)


@FAST
@given(data=st.data())
def test_damaged_bytes_of_model_files(folder, data):
    kind = data.draw(st.sampled_from(sorted(KINDS)))
    path = folder / f"{kind}.bytes.npz"
    path.write_bytes(data.draw(byte_edit(kind)))
    loads_and_runs_or_refuses(path, kind)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_damaged_model_files_at_length(folder, data):
    if data.draw(st.booleans()):
        _fuzz_model_files(folder, data)
    else:
        _fuzz_weights_files(folder, data)


# ------------------------------------------------------------------ files that lie in size
def npy_claiming(shape: tuple[int, ...], payload: bytes, dtype: str = "<f4") -> bytes:
    """A .npy member whose header claims ``shape`` over ``payload``."""
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    text = repr(header).encode()
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + payload


@pytest.mark.parametrize("shape", [(10**12,), (2, 16), (10**6, 10**6), (-1, 16), (2**62, 4)])
def test_an_array_claiming_more_than_the_file_holds_is_refused(saved, folder, shape):
    config, arrays = unpack(saved["functional"][0])
    data = io.BytesIO(pack(config, {k: v for k, v in arrays.items() if k != "weight_0"}))
    with zipfile.ZipFile(data, "a") as archive:
        archive.writestr("weight_0.npy", npy_claiming(shape, b"\0" * 64))
    path = folder / "liar.npz"
    path.write_bytes(data.getvalue())
    with pytest.raises(ModelFileError, match=r"liar\.npz"):
        ac.load_model(path)


def test_a_compressed_archive_cannot_expand_beyond_its_size(saved, folder):
    config, arrays = unpack(saved["functional"][0])
    arrays["weight_0"] = np.zeros((4, 5), np.float32)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, config=np.frombuffer(json.dumps(config).encode(), np.uint8), **arrays
    )
    path = folder / "compressed.npz"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ModelFileError, match="compressed"):
        ac.load_model(path)


def test_a_deeply_nested_config_is_a_clear_error(saved, folder):
    text = json.dumps(unpack(saved["nested"][0])[0])
    raw = text.replace('"format"', '"deep": ' + "[" * 200_000 + "]" * 200_000 + ', "format"', 1)
    raw = raw.encode()
    path = folder / "deep.npz"
    path.write_bytes(pack(None, unpack(saved["nested"][0])[1], raw))
    with pytest.raises(ModelFileError, match="nested too deeply"):
        ac.load_model(path)


def test_models_nested_too_deeply_are_a_clear_error(saved, folder):
    config, arrays = unpack(saved["nested"][0])
    inner = config["model"]["config"]["layers"][1]
    for _ in range(5000):
        inner = {"class_name": "Sequential", "config": {"name": "s", "layers": [inner]}}
    config["model"]["config"]["layers"][1] = inner
    path = folder / "deep_models.npz"
    path.write_bytes(pack(None, arrays, _dumps_deep(config)))
    with pytest.raises(ModelFileError, match="nested too deeply"):
        ac.load_model(path)


def _dumps_deep(config: Any) -> bytes:
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        return json.dumps(config).encode()
    finally:
        sys.setrecursionlimit(limit)


def test_intact_files_load_and_run(saved, folder):
    """What the fuzzing starts from: each kind's file loads, predicts and trains."""
    for kind in KINDS:
        path = folder / f"{kind}.intact.npz"
        path.write_bytes(saved[kind][0])
        model = ac.load_model(path)
        assert model.predict(_inputs(model), verbose=0).shape == (2, 3)
        model.train_on_batch(_data(KINDS[kind][2])[0], _data(KINDS[kind][2])[1])
