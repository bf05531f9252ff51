"""Legacy HDF5 models and weights (``.h5``): files Keras 3 wrote (committed, with Keras's
predictions; made by tests/keras_reference/legacy_h5_files.py), a file as tf.keras 2 writes it
(made here, to its layout), autoconv's own ``model.save("m.h5")``, and real Keras loading it
where Keras is installed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.saving import ModelFileError

FILES = Path(__file__).parent / "files"
EXPECTED = json.loads((FILES / "legacy_expected.json").read_text())
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def test_a_sequential_keras_3_saved_as_h5_loads_predicts_and_trains_on():
    model = ac.load_model(FILES / "legacy_sequential.h5")
    images = np.array(EXPECTED["images"], np.float32)
    np.testing.assert_allclose(
        model.predict(images, verbose=0), EXPECTED["sequential"], **TOLERANCE
    )
    assert model.optimizer.iterations == 1  # Keras 3's own optimizer state came back
    assert model.layers[4].rate == 0.5
    model.layers[4].rate = 0.0  # as Keras took its next step: without random dropout masks
    model.train_on_batch(images, np.array(EXPECTED["labels"]))
    np.testing.assert_allclose(
        model.predict(images, verbose=0), EXPECTED["sequential_after_a_step"], **TOLERANCE
    )


def test_a_functional_keras_3_saved_as_h5_loads_with_its_shared_and_nested_layers():
    model = ac.load_model(FILES / "legacy_functional.h5")
    vectors = np.array(EXPECTED["vectors"], np.float32)
    np.testing.assert_allclose(
        model.predict(vectors, verbose=0), EXPECTED["functional"], **TOLERANCE
    )
    assert not model.compiled


def test_legacy_weights_load_into_the_same_architecture_built_in_autoconv():
    loaded = ac.load_model(FILES / "legacy_sequential.h5", compile=False)
    model = ac.Sequential.from_config(loaded.get_config())
    model.load_weights(FILES / "legacy_sequential.h5")
    images = np.array(EXPECTED["images"], np.float32)
    np.testing.assert_allclose(
        model.predict(images, verbose=0), EXPECTED["sequential"], **TOLERANCE
    )


# ------------------------------------------------------------- a file as tf.keras 2 writes it
def tf_keras_2_reference_model() -> dict:
    """The course's model as tf.keras 2.13 writes its config (Keras 2's keys)."""
    dtype = "float32"

    def conv(name, filters, first=False):
        config = {
            "name": name, "trainable": True, "dtype": dtype, "filters": filters,
            "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
            "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
            "activation": "relu", "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
        }  # fmt: skip
        if first:
            config["batch_input_shape"] = [None, 8, 8, 1]
        return {"class_name": "Conv2D", "config": config}

    def dense(name, units, activation):
        return {"class_name": "Dense", "config": {
            "name": name, "trainable": True, "dtype": dtype, "units": units,
            "activation": activation, "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None,
        }}  # fmt: skip

    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {
            "batch_input_shape": [None, 8, 8, 1], "dtype": dtype, "sparse": False,
            "ragged": False, "name": "conv2d_input"}},
        conv("conv2d", 4, first=True),
        {"class_name": "MaxPooling2D", "config": {
            "name": "max_pooling2d", "trainable": True, "dtype": dtype, "pool_size": [2, 2],
            "padding": "valid", "strides": [2, 2], "data_format": "channels_last"}},
        {"class_name": "Flatten", "config": {
            "name": "flatten", "trainable": True, "dtype": dtype,
            "data_format": "channels_last"}},
        dense("dense", 5, "relu"),
        dense("dense_1", 3, "softmax"),
    ]}}  # fmt: skip


def write_tf_keras_2_file(path: Path, weights: list[np.ndarray]) -> None:
    """A model file in tf.keras 2's layout: weight names with ``:0``, RMSprop's state in
    Keras 2's order (its step count, then one ``rms`` slot per weight), Keras 2's metric
    entries."""
    training = {
        "loss": "categorical_crossentropy",
        "metrics": [[{"class_name": "MeanMetricWrapper",
                      "config": {"name": "accuracy", "dtype": "float32",
                                 "fn": "categorical_accuracy"}}]],
        "weighted_metrics": None, "loss_weights": None,
        "optimizer_config": {"class_name": "RMSprop", "config": {
            "name": "RMSprop", "learning_rate": 0.001, "decay": 0.0, "rho": 0.9,
            "momentum": 0.0, "epsilon": 1e-07, "centered": False}},
    }  # fmt: skip
    names = {"conv2d": ["kernel", "bias"], "dense": ["kernel", "bias"],
             "dense_1": ["kernel", "bias"]}  # fmt: skip
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = b"2.13.1"
        h5.attrs["backend"] = b"tensorflow"
        h5.attrs["model_config"] = json.dumps(tf_keras_2_reference_model()).encode()
        h5.attrs["training_config"] = json.dumps(training).encode()
        group = h5.create_group("model_weights")
        group.attrs["layer_names"] = [b"conv2d", b"max_pooling2d", b"flatten", b"dense", b"dense_1"]
        values = iter(weights)
        for layer in ["conv2d", "max_pooling2d", "flatten", "dense", "dense_1"]:
            layer_group = group.create_group(layer)
            weight_names = [f"{layer}/{n}:0" for n in names.get(layer, [])]
            layer_group.attrs["weight_names"] = [n.encode() for n in weight_names]
            for name in weight_names:
                layer_group.create_dataset(name, data=next(values))
        optimizer = h5.create_group("optimizer_weights")
        slots = [f"RMSprop/{layer}/{n}/rms:0" for layer, ns in names.items() for n in ns]
        optimizer.attrs["weight_names"] = [n.encode() for n in ["iter:0", *slots]]
        optimizer.create_dataset("iter:0", data=np.int64(7))
        for name, value in zip(slots, weights, strict=True):
            optimizer.create_dataset(name, data=np.ones_like(value))


def reference_weights() -> tuple[ac.Model, list[np.ndarray]]:
    model = ac.Sequential([
        ac.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(5, activation="relu"), layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in model.weights]
    model.set_weights(weights)
    return model, weights


def test_a_tf_keras_2_model_loads_compiled_with_a_fresh_optimizer(tmp_path):
    model, weights = reference_weights()
    path = tmp_path / "tf2.h5"
    write_tf_keras_2_file(path, weights)
    with pytest.warns(UserWarning, match="not in Keras 3's order"):
        loaded = ac.load_model(path)
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.compiled and type(loaded.optimizer).__name__ == "RMSprop"
    assert loaded.optimizer.iterations == 0  # Keras 2's optimizer state was not taken
    loaded.fit(x, np.eye(3)[[0, 1, 2, 0]], verbose=0)
    other, _ = reference_weights()
    other.set_weights([np.zeros_like(w) for w in weights])
    other.load_weights(path)  # load_weights of a legacy model file: the weights alone
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_tf_keras_2_file_with_a_decaying_optimizer_is_refused_clearly(tmp_path):
    _, weights = reference_weights()
    path = tmp_path / "tf2.h5"
    write_tf_keras_2_file(path, weights)
    with h5py.File(path, "r+") as h5:
        training = json.loads(h5.attrs["training_config"])
        training["optimizer_config"]["config"]["decay"] = 0.01
        h5.attrs["training_config"] = json.dumps(training)
    with pytest.raises(ModelFileError, match="decays its learning rate"):
        ac.load_model(path)
    assert not ac.load_model(path, compile=False).compiled


def test_legacy_files_with_other_weights_fail_before_any_is_set(tmp_path):
    _, weights = reference_weights()
    path = tmp_path / "tf2.h5"
    write_tf_keras_2_file(path, weights)
    wrong = ac.Sequential([ac.Input((8, 8, 1)), layers.Flatten(), layers.Dense(3)])
    before = wrong.get_weights()
    with pytest.raises(ModelFileError, match="weights of 3 layers; the model has 1"):
        wrong.load_weights(path)
    for a, b in zip(before, wrong.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- autoconv writing .h5
def test_autoconv_writes_legacy_h5_that_it_reads_back(tmp_path, rng):
    model, _ = reference_weights()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    x = rng.random((6, 8, 8, 1)).astype(np.float32)
    y = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    model.train_on_batch(x, y)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as h5:
        assert json.loads(h5.attrs["model_config"])["class_name"] == "Sequential"
        assert list(h5["model_weights"].attrs["layer_names"]) == [l.name for l in model.layers]
    loaded = ac.load_model(tmp_path / "m.h5")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == 1
    np.testing.assert_array_equal(loaded.train_on_batch(x, y), model.train_on_batch(x, y))


def test_metric_and_loss_objects_in_a_legacy_h5_compile_back_as_keras_s(keras, tmp_path):
    """A model compiled with metric and loss objects (their entries in ``training_config``),
    saved as .h5 by either library, loads compiled with those objects in autoconv, as Keras
    loads it: its evaluation is Keras's."""
    x = np.linspace(0, 1, 24, dtype=np.float32).reshape(6, 4)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    results = {}
    for library in (ac, keras):
        model = library.Sequential(
            [library.Input((4,)), library.layers.Dense(3, activation="softmax", name="dense")]
        )
        model.set_weights([np.linspace(-1, 1, 12).reshape(4, 3), np.zeros(3)])
        model.compile(
            optimizer=library.optimizers.Adam(amsgrad=True),
            loss=library.losses.CategoricalCrossentropy(),
            metrics=[library.metrics.TopKCategoricalAccuracy(k=2), library.metrics.AUC()],
        )
        model.save(tmp_path / f"{library.__name__}.h5")
        results[library.__name__] = keras.saving.load_model(
            tmp_path / f"{library.__name__}.h5"
        ).evaluate(x, y, verbose=0, return_dict=True)
    for name in ("autoconv", "keras"):
        loaded = ac.load_model(tmp_path / f"{name}.h5")
        assert isinstance(loaded.loss, ac.losses.CategoricalCrossentropy)
        got = loaded.evaluate(x, y, verbose=0, return_dict=True)
        assert got.keys() == results[name].keys()
        for key, value in results[name].items():
            np.testing.assert_allclose(got[key], value, rtol=1e-5)


def test_real_keras_loads_autoconv_legacy_h5(tmp_path, rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    model, _ = reference_weights()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    x = rng.random((6, 8, 8, 1)).astype(np.float32)
    model.train_on_batch(x, np.eye(3)[[0, 1, 2, 0, 1, 2]])
    model.save(tmp_path / "m.h5")
    theirs = keras.saving.load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(
        theirs.predict(x, verbose=0), model.predict(x, verbose=0), **TOLERANCE
    )
    assert int(theirs.optimizer.iterations) == 1


def test_the_optimizer_state_in_autoconv_legacy_h5_is_named_as_kerass(keras, tmp_path):
    """``optimizer_weights`` names its datasets by the variables' paths, as Keras writes them
    (``adam/sequential_dense_kernel_momentum``, ...), in the same order."""
    names = []
    for library in (ac, keras):
        # (named: Keras numbers its default names over the whole test session)
        dense = library.layers.Dense(2, name="dense")
        model = library.Sequential([library.Input((3,)), dense], name="sequential")
        model.compile(optimizer=library.optimizers.Adam(name="adam"), loss="mse")
        model.train_on_batch(np.ones((2, 3)), np.ones((2, 2)))
        model.save(tmp_path / f"{library.__name__}.h5")
        with h5py.File(tmp_path / f"{library.__name__}.h5") as h5:
            group = h5["optimizer_weights"]
            names.append([str(name) for name in group.attrs["weight_names"]])
            assert sorted(group) == ["adam"] and len(group["adam"]) == 6
    assert names[0] == names[1]
    assert names[0][2] == "adam/sequential_dense_kernel_momentum"


@pytest.mark.parametrize(
    ("how", "suffix"),
    [("save", ".h5"), ("save", ".hdf5"), ("save", ".keras"), ("checkpoint", ".h5"),
     ("checkpoint", ".keras")],  # (a ModelCheckpoint takes no .hdf5, as Keras's)
)  # fmt: skip
def test_saving_a_legacy_h5_model_logs_keras_s_warning(keras, tmp_path, caplog, suffix, how):
    """model.save (and a ModelCheckpoint's save) of an .h5/.hdf5 file logs Keras's warning that
    the format is legacy, once per save; a .keras file logs none."""
    messages = []
    for library in (ac, keras):
        model = library.Sequential([library.Input((3,)), library.layers.Dense(1)])
        path = tmp_path / f"{library.__name__}{suffix}"
        caplog.clear()
        if how == "save":
            model.save(path)
        else:
            model.compile(optimizer="sgd", loss="mse")
            checkpoint = library.callbacks.ModelCheckpoint(path)
            model.fit(np.ones((2, 3)), np.ones((2, 1)), epochs=2, callbacks=[checkpoint], verbose=0)
        messages.append([r.getMessage() for r in caplog.records if "legacy" in r.getMessage()])
    assert messages[0] == messages[1]
    assert len(messages[0]) == (0 if suffix == ".keras" else 1 if how == "save" else 2)


def _scaled(lib):
    """The serialization guide's registered layer (no module: a user's class), once per
    library."""
    if lib.__name__ not in _SCALED:

        @lib.saving.register_keras_serializable(package="LegacyTests")
        class Scaled(lib.layers.Layer):
            def __init__(self, factor):
                super().__init__()
                self.factor = factor

            def call(self, x):
                return x * self.factor

            def get_config(self):
                return {"factor": self.factor}

        _SCALED[lib.__name__] = Scaled
    return _SCALED[lib.__name__]


_SCALED: dict = {}


@pytest.mark.parametrize("module", ["__main__", __name__])  # (a script's: no module)
def test_a_users_registered_layer_saves_to_h5_as_kerass_entry_both_ways(keras, tmp_path, module):
    """Keras's legacy writer names a user's layer by its registered name, with its config
    alone; each library loads the other's file."""
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    entries, expected = {}, {}
    for lib in (ac, keras):
        _scaled(lib).__module__ = module
        inputs = lib.Input((4,))
        model = lib.Model(inputs, lib.layers.Dense(1)(_scaled(lib)(0.5)(inputs)))
        model.set_weights([np.linspace(-1, 1, 4).reshape(4, 1), np.ones(1)])
        model.save(tmp_path / f"{lib.__name__}.h5")
        with h5py.File(tmp_path / f"{lib.__name__}.h5") as h5:
            entry = json.loads(h5.attrs["model_config"])["config"]["layers"][1]
        entries[lib.__name__] = {k: entry[k] for k in entry if k not in ("name", "inbound_nodes")}
        expected[lib.__name__] = np.asarray(model.predict(x, verbose=0))
    assert entries["autoconv"] == entries["keras"]
    assert entries["autoconv"]["class_name"] == "LegacyTests>Scaled"
    for writer, reader in (("keras", ac), ("autoconv", keras)):
        loaded = reader.saving.load_model(tmp_path / f"{writer}.h5")
        np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), expected[writer])
