"""keras.ops functions on a functional graph's symbolic tensors: recorded as Operations that
compute what the functions compute on arrays, train, and go through Keras's files both ways
(with real Keras 3.15 on PyTorch where installed)."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv import ops

os.environ.setdefault("KERAS_BACKEND", "torch")

RNG = np.random.default_rng(5)
X = RNG.uniform(-2, 2, (3, 4, 6)).astype(np.float32)

# (name, the graph's function of its input, given ops (autoconv's or Keras's))
GRAPHS: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("arithmetic", lambda o, x: (x * 2.0 - 1.0) / 3.0 + 1.0 - (-x) ** 2),
    ("reflected", lambda o, x: 2.0 - x + 1.0 / (o.abs(x) + 1.0)),
    ("slices", lambda o, x: x[:, 1:3, ...] * x[:, :2, :]),
    ("expand_concatenate", lambda o, x: o.concatenate([o.expand_dims(x, -1)] * 2, axis=-1)),
    (
        "reductions",
        lambda o, x: o.mean(x, axis=1, keepdims=True) + o.max(x, axis=(1, 2))[:, None, None],
    ),
    ("clip_where", lambda o, x: o.where(o.greater(x, 0.5), o.clip(x, -1.0, 1.0), x * 0.1)),
    ("comparison", lambda o, x: o.where(x > 0.5, x, 0.0) + o.cast(x <= 0.0, "float32")),
    ("reshape_transpose", lambda o, x: o.transpose(o.reshape(x, (-1, 6, 4)), (0, 2, 1))),
    ("activations", lambda o, x: o.relu(x) + o.sigmoid(x) * o.softmax(x, axis=-1)),
    ("stack_matmul", lambda o, x: o.matmul(x, o.transpose(x, (0, 2, 1)))),
    ("constant_array", lambda o, x: x - np.linspace(0, 1, 6, dtype=np.float32)),
    ("resize", lambda o, x: o.image.resize(o.expand_dims(x, -1), (8, 12))),
    # functions that give a list of tensors (keras.io's movielens transformer unstacks)
    (
        "unstack",
        lambda o, x: o.concatenate([o.expand_dims(t, 1) for t in o.unstack(x, axis=1)[::-1]], 1),
    ),
    ("split", lambda o, x: o.concatenate(o.split(x, 3, axis=-1)[1:], axis=-1)),
]


def _model(function: Callable[[Any, Any], Any]) -> ac.Model:
    inputs = ac.Input(X.shape[1:])
    return ac.Model(inputs, function(ops, inputs))


@pytest.mark.parametrize(("name", "function"), GRAPHS, ids=[g[0] for g in GRAPHS])
def test_a_graph_of_ops_computes_what_the_ops_compute(name: str, function: Callable) -> None:
    model = _model(function)
    expected = ops.convert_to_numpy(function(ops, X))
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-6, atol=1e-6)
    assert model.outputs[0].shape[1:] == expected.shape[1:]  # sizes the trial runs found


@pytest.mark.parametrize(("name", "function"), GRAPHS, ids=[g[0] for g in GRAPHS])
def test_autoconv_reads_back_what_it_writes(name: str, function: Callable, tmp_path) -> None:
    model = _model(function)
    model.save(tmp_path / "m.keras")
    loaded = ac.saving.load_model(tmp_path / "m.keras")
    assert [layer.name for layer in loaded._layers] == [layer.name for layer in model._layers]
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_loading_a_graph_of_ops_takes_no_automatic_name(keras, tmp_path) -> None:
    """Keras gives a loaded (or from_config) operation its file's name and takes no automatic
    one: a model built after loading keras.io's EANet (``1e-9 + ops.sum(...)``) names its Add
    layers as Keras does (``add_2``, not ``add_3``)."""
    found = []
    for lib in (ac, keras):
        lib.utils.clear_session()

        def made(lib: Any = lib) -> Any:
            inputs = lib.Input((3,))
            return lib.Model(inputs, 1e-9 + lib.ops.sum(inputs, axis=-1, keepdims=True))

        model = made()
        model.save(tmp_path / f"{lib.__name__}.keras")
        lib.saving.load_model(tmp_path / f"{lib.__name__}.keras")
        lib.Model.from_config(model.get_config())
        found.append([layer["name"] for layer in made().get_config()["layers"][1:]])
    assert found[0] == found[1] == ["sum_1", "add_1"]


@pytest.mark.parametrize(("name", "function"), GRAPHS, ids=[g[0] for g in GRAPHS])
def test_keras_reads_autoconv_files_and_autoconv_reads_keras_files(
    name: str, function: Callable, tmp_path
) -> None:
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    ours = _model(function)
    ours.save(tmp_path / "ours.keras")
    in_keras = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(in_keras.predict(X, verbose=0)),
        ours.predict(X, verbose=0),
        rtol=1e-5,
        atol=1e-5,
    )
    inputs = keras.Input(X.shape[1:])
    theirs = keras.Model(inputs, function(keras.ops, inputs))
    theirs.save(tmp_path / "theirs.keras")
    in_autoconv = ac.saving.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(
        in_autoconv.predict(X, verbose=0),
        keras.ops.convert_to_numpy(theirs.predict(X, verbose=0)),
        rtol=1e-5,
        atol=1e-5,
    )
    assert [layer.name for layer in in_autoconv.layers] == [layer.name for layer in theirs.layers]


def test_each_function_records_kerass_operation_under_kerass_name() -> None:
    """Keras records ``x / y`` and ``ops.true_divide`` as TrueDivide (not Divide), ``ops.abs``
    as Absolute, ``ops.fabs`` as Fabs, ``ops.conj`` as Conjugate, an alias with no class of its
    own (``swish``) as the function it names, and names each layer after its class (``is_in``,
    ``resize``), where autoconv computes several of them with one function."""
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")

    def graph(o: Any, x: Any) -> list[Any]:
        return [x / 2.0, 2.0 / x, o.true_divide(x, 2.0), o.divide(x, 2.0), o.abs(x),
                o.absolute(x), o.fabs(x), o.conj(x), o.conjugate(x), o.swish(x),
                o.isin(x, x), o.image.resize(x[..., None], (2, 2))]  # fmt: skip

    keras.backend.clear_session()
    recorded = []
    for lib in (ac, keras):
        inputs = lib.Input((3, 4))
        layers = lib.Model(inputs, graph(lib.ops, inputs)).get_config()["layers"][1:]
        recorded.append([(layer["class_name"], layer["name"]) for layer in layers])
    assert recorded[0] == recorded[1]


def test_the_layers_leave_operations_out_and_the_summary_shows_them(capsys) -> None:
    inputs = ac.Input((5,))
    outputs = ac.layers.Dense(3)(ops.clip(inputs * 2.0, -1.0, 1.0) + 1.0)
    model = ac.Model(inputs, outputs)
    assert [layer.name for layer in model.layers] == ["input_layer", "dense"]
    model.summary()
    text = capsys.readouterr().out
    assert "multiply (Multiply)" in text and "clip (Clip)" in text and "add (Add)" in text


def test_training_flows_through_operations() -> None:
    inputs = ac.Input((4,))
    hidden = ac.layers.Dense(4)(inputs)
    outputs = ac.layers.Dense(1)(ops.tanh(hidden * 0.5)[:, :3])
    model = ac.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    before = [w.numpy().copy() for w in model.weights]
    x, y = RNG.normal(size=(16, 4)), RNG.normal(size=(16, 1))
    history = model.fit(x, y, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.weights, strict=True))


@pytest.mark.parametrize("module", ["mobilenet_v2", "resnet50", "densenet", "efficientnet"])
def test_preprocess_input_in_a_model_is_the_arrays_preprocessing(module: str) -> None:
    """TensorFlow's transfer learning tutorial: ``x = preprocess_input(inputs)`` in the model."""
    preprocess = getattr(ac.applications, module).preprocess_input
    inputs = ac.Input((6, 6, 3))
    model = ac.Model(inputs, preprocess(inputs))
    images = RNG.uniform(0, 255, (2, 6, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(
        model.predict(images, verbose=0), preprocess(images.copy()), rtol=1e-5, atol=1e-4
    )


def _config_of(path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def _rewrite(path, change: Callable[[dict[str, Any]], None]) -> None:
    config = _config_of(path)
    change(config)
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist() if n != "config.json"}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        for name, data in members.items():
            archive.writestr(name, data)


def _operation(config: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in config["config"]["layers"] if e["module"].startswith("keras.src.ops"))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda e: e.update(class_name="Launch"), "could not locate operation 'Launch'"),
        (
            lambda e: e["inbound_nodes"][0]["args"].__setitem__(
                1, {"class_name": "__numpy__", "config": {"value": [1], "dtype": "object"}}
            ),
            "must hold numbers",
        ),
        (lambda e: e["inbound_nodes"][0]["args"].extend([1, 2, 3]), "do not match its call"),
    ],
)
def test_a_damaged_operation_in_a_file_is_named(change, match: str, tmp_path) -> None:
    inputs = ac.Input((4,))
    ac.Model(inputs, inputs - np.ones(4, np.float32)).save(tmp_path / "m.keras")
    _rewrite(tmp_path / "m.keras", lambda config: change(_operation(config)))
    with pytest.raises(ac.saving.ModelFileError, match=match):
        ac.saving.load_model(tmp_path / "m.keras")


def test_a_file_recording_kerass_abs_subclass_loads(tmp_path) -> None:
    """``Abs`` (Keras's subclass of ``Absolute``, the name earlier autoconv versions wrote for
    ``ops.abs``) loads as ``abs``."""
    inputs = ac.Input((3,))
    ac.Model(inputs, ac.ops.abs(inputs)).save(tmp_path / "m.keras")
    _rewrite(tmp_path / "m.keras", lambda config: _operation(config).update(class_name="Abs"))
    x = np.array([[-1.0, 2.0, -3.0]], np.float32)
    np.testing.assert_array_equal(ac.saving.load_model(tmp_path / "m.keras").predict(x), abs(x))


def test_a_file_cannot_make_an_operation_allocate_much(tmp_path) -> None:
    """An operation whose output size the file does not record is sized by a trial run: on
    inputs a file made huge, it is refused before anything is allocated."""
    inputs = ac.Input((4,))
    ac.Model(inputs, inputs * 2.0).save(tmp_path / "m.keras")

    def huge_input(config: dict[str, Any]) -> None:
        entry = config["config"]["layers"][0]
        entry["config"]["batch_shape"] = [None, 100_000, 100_000]

    _rewrite(tmp_path / "m.keras", huge_input)
    with pytest.raises(ac.saving.ModelFileError, match="values: too many while a file is read"):
        ac.saving.load_model(tmp_path / "m.keras")


def test_an_op_keras_records_no_class_for_cannot_be_saved(tmp_path) -> None:
    inputs = ac.Input((4,))
    model = ac.Model(inputs, ops.layer_normalization(inputs))  # Keras computes it in its ops
    np.testing.assert_allclose(
        model.predict(X[0, :, :4], verbose=0),
        ops.layer_normalization(X[0, :, :4]).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="layer_normalization"):
        model.save(tmp_path / "m.keras")


@pytest.mark.cudasim
def test_a_graph_of_ops_runs_on_the_gpu_as_on_the_cpu() -> None:
    """A model whose graph holds ops (computed by the engine's kernels, and one on the host)
    moved to 'cuda' predicts the CPU's numbers."""
    pytest.importorskip("numba_cuda")
    inputs = ac.Input((4, 6))
    x = ops.concatenate([inputs[:, :2] * 2.0 - 1.0, ops.sort(inputs[:, 2:], axis=-1)], axis=1)
    model = ac.Model(inputs, ac.layers.Dense(3)(ops.mean(ops.tanh(x), axis=1)))
    expected = model.predict(X[:2, :, :], verbose=0)
    model.to("cuda")
    np.testing.assert_allclose(
        model.predict(X[:2, :, :], verbose=0), expected, rtol=1e-5, atol=1e-6
    )


def test_a_tensor_computed_while_defining_the_model_is_a_constant_of_its_graph() -> None:
    """keras-io's TabTransformer adds ``column_embedding(ops.arange(n))``, computed when the
    model is defined, to a symbolic tensor: every step trains the model (Keras on PyTorch fails
    at the second step, going back through the first's graph), and the column embedding stays
    as it was, a constant, as in Keras on TensorFlow and JAX."""
    inputs = ac.Input((3, 2))
    column_embedding = ac.layers.Embedding(input_dim=3, output_dim=2)
    columns = column_embedding(ops.arange(start=0, stop=3, step=1))
    outputs = ac.layers.Dense(1)(ac.layers.Flatten()(inputs + columns))
    model = ac.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    before = column_embedding.embeddings.numpy().copy()
    x, y = RNG.normal(size=(8, 3, 2)), RNG.normal(size=(8, 1))
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    np.testing.assert_array_equal(column_embedding.embeddings.numpy(), before)
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x).numpy(), rtol=1e-6)


def test_a_reshape_beside_an_unknown_size_has_kerass_shape(keras) -> None:
    """keras.io's semantic image clustering reshapes a batch of (None, 4) into (-1, 2, 4): the
    trial sizes 1 and 2 do not divide into it; Keras's symbolic reshape leaves the -1 unknown."""
    found = []
    for lib in (ac, keras):
        x, y = lib.Input((4,)), lib.Input((2, 3, 4))
        found.append([
            tuple(lib.ops.reshape(x, (-1, 2, 4)).shape),
            tuple(lib.ops.reshape(y, (-1, 3, 4)).shape),
            tuple(lib.ops.reshape(x, -1).shape),
            tuple(lib.ops.reshape(x, (2, 2)).shape),
        ])  # fmt: skip
    assert found[0] == found[1] == [(None, 2, 4), (None, 3, 4), (None,), (2, 2)]


def test_an_operations_output_has_kerass_dtype(keras, tmp_path) -> None:
    """keras.io's wide, deep and cross networks expand an int64 input's dims before encoding
    it: the op's output is int64, as Keras's symbolic call gives (and so the config's tensor
    entries), argmax's int32 and a comparison's bool; a file's record is read back."""
    found, files = [], []
    for lib in (ac, keras):
        ids, x = lib.Input((), dtype="int64", name="ids"), lib.Input((3,), name="x")
        expanded = lib.ops.expand_dims(ids, -1)
        outputs = [
            expanded,
            lib.ops.cast(ids, "int32"),
            lib.ops.argmax(x, axis=-1),
            lib.ops.greater(x, 0.0),
            lib.ops.top_k(x, 2)[1],
            lib.ops.sum(lib.ops.expand_dims(ids, -1) * x, axis=-1),
        ]
        found.append([t.dtype for t in outputs])
        encoded = lib.layers.CategoryEncoding(4, output_mode="multi_hot", name="encode")(expanded)
        model = lib.Model({"ids": ids, "x": x}, lib.layers.Concatenate()([encoded, x]))
        layers = model.get_config()["layers"]
        encode = next(entry for entry in layers if entry["name"] == "encode")
        found[-1].append(encode["inbound_nodes"][0]["args"][0]["config"]["dtype"])
        model.save(tmp_path / f"{lib.__name__}.keras")
        files.append(tmp_path / f"{lib.__name__}.keras")
    assert found[0] == found[1] == ["int64", "int32", "int32", "bool", "int32", "float32", "int64"]
    for path in files:
        loaded = ac.saving.load_model(path)
        assert loaded.get_layer("encode")._inbound_nodes[0].inputs[0].dtype == "int64"
