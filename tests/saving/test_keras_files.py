"""Files real Keras 3.15 wrote (tests/keras_reference/keras_files.py made them: a Sequential of
image layers of every kind and a functional model with two inputs, every merging layer, a
nested Sequential and a shared layer, each trained two steps, and a Sequential of the random
layers): autoconv loads them, predicts Keras's numbers, and training resumes where Keras
stopped (the next step gives Keras's weights). Also, with Keras installed, the course's models
travel autoconv -> Keras -> autoconv.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import autoconv as ac
from autoconv import course

FILES = Path(__file__).parent / "files"
EXPECTED = json.loads((FILES / "keras_expected.json").read_text())
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def _case(name: str) -> tuple[list | np.ndarray, np.ndarray]:
    as_array = lambda key: np.array(EXPECTED[key], np.float32)  # noqa: E731
    x = as_array("images") if name == "images" else [as_array("vectors"), as_array("sequences")]
    return x, as_array("labels")


@pytest.mark.parametrize("name", ["images", "branches"])
def test_a_model_keras_trained_loads_predicts_and_resumes(name):
    x, labels = _case(name)
    model = ac.saving.load_model(FILES / f"keras_{name}.keras")
    assert model.name == f"keras_{name}"
    expected = EXPECTED[f"{name}_predictions"]
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, **TOLERANCE)
    assert model.optimizer.iterations == 2
    model.train_on_batch(x, labels)
    after = EXPECTED[f"{name}_weights_after_a_step"]
    assert len(model.weights) == len(after)
    for ours, theirs in zip(model.weights, after, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-4, atol=1e-5, err_msg=ours.path)


def test_a_model_of_random_layers_loads_and_predicts_as_in_keras():
    model = ac.saving.load_model(FILES / "keras_augmenting.keras")
    assert not model.compiled
    assert model.layers[0].seed == 1 and model.layers[6].get_config()["seed"] == 7
    x, _ = _case("images")
    expected = EXPECTED["augmenting_predictions"]
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, **TOLERANCE)


def test_keras_weights_file_loads_into_the_model_built_in_autoconv():
    x, labels = _case("images")
    model = ac.saving.load_model(FILES / "keras_images.keras", compile=False)
    built = ac.Sequential.from_config(model.get_config())
    built.compile(ac.optimizers.Adam(0.01, amsgrad=True), "categorical_crossentropy")
    built.load_weights(FILES / "keras_images.weights.h5")
    expected = EXPECTED["images_predictions"]
    np.testing.assert_allclose(built.predict(x, verbose=0), expected, **TOLERANCE)
    assert built.optimizer.iterations == 2
    built.train_on_batch(x, labels)
    for ours, theirs in zip(built.weights, EXPECTED["images_weights_after_a_step"], strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-4, atol=1e-5, err_msg=ours.path)


# ------------------------------------------------------------ course models, both ways
COURSE = {
    "mnist": (lambda: course.reference_model(), (28, 28, 1), "rmsprop"),
    "flowers": (lambda: course.rgb_classifier((32, 32, 3)), (32, 32, 3), "adam"),
    "large": (lambda: course.large_model((40, 40, 1)), (40, 40, 1), "rmsprop"),
    "xception": (lambda: course.xception((32, 32, 3), classes=3), (32, 32, 3), "adam"),
}


@pytest.mark.parametrize("name", sorted(COURSE))
def test_a_course_model_travels_to_keras_and_back(tmp_path, name):
    """autoconv trains a step and saves; Keras loads it (same predictions and step count),
    trains a step and saves; autoconv loads Keras's file (Keras's predictions) and writes
    back the optimizer state Keras wrote, every variable in Keras's order. (Whether the next
    step then matches Keras is tested on small models in test_keras_layers.py: on these,
    Adam's and RMSprop's division by tiny gradients magnifies float rounding.)"""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    make, shape, optimizer = COURSE[name]
    ac.utils.set_random_seed(0)
    model = make()
    outputs = model.output_shape[-1]
    loss = "categorical_crossentropy" if outputs > 1 else "binary_crossentropy"
    model.compile(optimizer, loss, metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = (rng.random((4, *shape)) * (255 if shape[-1] == 3 else 1)).astype(np.float32)
    y = np.eye(outputs, dtype=np.float32)[np.arange(4) % outputs]
    model.train_on_batch(x, y)
    model.save(tmp_path / "ours.keras")
    theirs = keras.saving.load_model(tmp_path / "ours.keras")
    assert int(theirs.optimizer.iterations) == 1
    np.testing.assert_allclose(
        np.asarray(theirs.predict(x, verbose=0)), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )
    theirs.train_on_batch(x, y)
    theirs.save(tmp_path / "theirs.keras")
    back = ac.saving.load_model(tmp_path / "theirs.keras")
    assert back.optimizer.iterations == 2
    np.testing.assert_allclose(
        back.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-5
    )
    back.save(tmp_path / "back.keras")  # the optimizer state Keras wrote, written back
    assert (
        _optimizer_state(tmp_path / "back.keras").keys()
        == _optimizer_state(tmp_path / "theirs.keras").keys()
    )
    for key, value in _optimizer_state(tmp_path / "theirs.keras").items():
        np.testing.assert_allclose(
            _optimizer_state(tmp_path / "back.keras")[key], value, rtol=1e-6, err_msg=key
        )


def _optimizer_state(path: Path) -> dict[str, np.ndarray]:
    """The optimizer's variables in a .keras archive, by their index in Keras's order."""
    with (
        zipfile.ZipFile(path) as archive,
        h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5,
    ):
        group = h5["optimizer/vars"]
        return {key: np.asarray(group[key][()]) for key in group}


@pytest.mark.parametrize("writer", ["keras", "autoconv"])
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_a_model_compiled_but_not_trained_travels_both_ways(keras, tmp_path, writer, optimizer):
    """A model saved after compile, before its first step: Keras writes its optimizer's step
    count and learning rate only, and autoconv too; each library loads the other's file with
    Keras's warning that the optimizer's variables were skipped, and trains on."""
    libraries = {"keras": keras, "autoconv": ac}
    write = libraries[writer]
    model = write.Sequential([write.Input((3,)), write.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")))
        assert sorted(weights["optimizer/vars"].keys()) == ["0", "1"]
    for name, library in libraries.items():
        with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):
            loaded = library.saving.load_model(tmp_path / "m.keras")
        loaded.fit(np.ones((4, 3), np.float32), np.ones((4, 1), np.float32), verbose=0)
        assert int(loaded.optimizer.iterations) == 1, name


@pytest.mark.parametrize("writer", ["keras", "autoconv"])
def test_a_model_saved_unzipped_into_a_folder_loads_in_both(keras, tmp_path, writer):
    """``model.save(folder, zipped=False)``: the archive's files in a folder, as Keras's;
    each library loads the other's folder (a ``.keras`` name is refused there)."""
    libraries = {"keras": keras, "autoconv": ac}
    write = libraries[writer]
    model = write.Sequential([write.Input((3,)), write.layers.Dense(2, name="d")])
    model.save(tmp_path / "saved", zipped=False)
    files = set(os.listdir(tmp_path / "saved")) - {"assets"}  # (Keras's empty on a Path)
    assert files == {"config.json", "metadata.json", "model.weights.h5"}
    with pytest.raises(ValueError, match=r"should not end in `\.keras`"):
        model.save(tmp_path / "m.keras", zipped=False)
    x = np.ones((1, 3), np.float32)
    want = keras.ops.convert_to_numpy(model(x))
    for library in libraries.values():
        loaded = library.saving.load_model(tmp_path / "saved")
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), want, rtol=1e-6)


def test_a_keras_model_frozen_after_training_loads_with_a_fresh_optimizer(keras, tmp_path):
    """Trained, then a layer frozen and saved: Keras's file holds the optimizer's slots of
    weights the model no longer trains; Keras's load_model skips that state with its warning
    and loads the weights, and so does autoconv's."""
    x, y = np.ones((4, 3), np.float32), np.ones((4, 1), np.float32)
    first = keras.layers.Dense(2, name="first")
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="last")(first(inputs)))
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, verbose=0)
    first.trainable = False
    model.save(tmp_path / "m.keras")
    assert len(_optimizer_state(tmp_path / "m.keras")) == 2 + 2 * 4
    with pytest.warns(UserWarning, match="has 6 variables whereas the saved optimizer has 10"):
        loaded = ac.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert int(loaded.optimizer.iterations) == 0 and not loaded.get_layer("first").trainable


def squared_miss(y_true, y_pred):
    """A user's loss, registered under test>squared_miss in the test below."""
    return ((y_true - y_pred) ** 2).sum(axis=-1)


@pytest.mark.parametrize("writer", ["keras", "autoconv"])
def test_compile_functions_are_kerass_function_entries_both_ways(keras, tmp_path, writer):
    """A loss or metric given as a function (keras.io's conv_lstm compiles
    ``loss=keras.losses.binary_crossentropy``), and a registered one of the user's, are
    written as Keras's function entries and found again by each library."""
    libraries = {"keras": keras, "autoconv": ac}
    write = libraries[writer]
    registered = {
        name: library.saving.register_keras_serializable("test", "squared_miss")(squared_miss)
        for name, library in libraries.items()
    }
    model = write.Sequential([write.Input((3,)), write.layers.Dense(2, activation="sigmoid")])
    model.compile(
        optimizer="sgd",
        loss=[write.losses.binary_crossentropy],
        metrics=[write.metrics.binary_accuracy, registered[writer]],
    )
    x, y = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    model.fit(x, y, verbose=0)
    model.save(tmp_path / "m.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))
    metrics = config["compile_config"]["metrics"]
    assert config["compile_config"]["loss"][0] == {
        "module": "builtins", "class_name": "function", "config": "binary_crossentropy",
        "registered_name": "function",
    }  # fmt: skip
    assert [entry["config"] for entry in metrics] == ["binary_accuracy", "test>squared_miss"]
    expected = model.evaluate(x, y, verbose=0)
    for library in libraries.values():
        loaded = library.saving.load_model(tmp_path / "m.keras")
        np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), expected, rtol=1e-5)


@pytest.mark.parametrize("writer", ["keras", "autoconv"])
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_load_weights_saved_before_training_into_a_model_not_trained(
    keras, tmp_path, writer, optimizer, suffix
):
    """load_weights of a file saved after compile, before the first step, into a model compiled
    and not trained either: as in Keras, no warning, the file's step count and learning rate
    are the optimizer's, and it builds on its first step."""
    libraries = {"keras": keras, "autoconv": ac}

    def compiled(library, rate):
        model = library.Sequential([library.Input((3,)), library.layers.Dense(1)])
        optimizer_class = {"adam": library.optimizers.Adam, "rmsprop": library.optimizers.RMSprop}
        model.compile(optimizer=optimizer_class[optimizer](rate), loss="mse")
        return model

    path = tmp_path / f"m{suffix}"
    saved = compiled(libraries[writer], 0.25)
    saved.save_weights(path) if suffix == ".weights.h5" else saved.save(path)
    for name, library in libraries.items():
        model = compiled(library, 0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model.load_weights(path)
        assert float(np.asarray(model.optimizer.learning_rate)) == 0.25, name
        assert int(np.asarray(model.optimizer.iterations)) == 0, name
        model.fit(np.ones((4, 3), np.float32), np.ones((4, 1), np.float32), verbose=0)
        assert int(np.asarray(model.optimizer.iterations)) == 1, name


def test_the_layers_a_models_metric_holds_travel_in_its_weights_file_as_keras(keras, tmp_path):
    """keras.io's GAN-ADA: a metric attribute (its KID) holding a network; Keras's weights
    file walks the metric's layers (``kid/encoder/...``), not the metric's own state."""

    def model_of(lib):
        class Scored(lib.metrics.Metric):
            def __init__(self):
                super().__init__(name="scored")
                self.tracker = lib.metrics.Mean()
                self.encoder = lib.Sequential([lib.Input((2,)), lib.layers.Dense(3)])

            def update_state(self, x):
                self.tracker.update_state(self.encoder(x))

            def result(self):
                return self.tracker.result()

        class Holder(lib.Model):
            def __init__(self):
                super().__init__()
                self.net = lib.layers.Dense(1)
                self.kid = Scored()

            def call(self, x):
                return self.net(x)

        model = Holder()
        model(np.ones((1, 2), np.float32))
        return model

    x = np.random.default_rng(0).normal(size=(4, 2)).astype("float32")
    ours, theirs = model_of(ac), model_of(keras)
    ours.kid.encoder.set_weights([np.full(w.shape, 0.5) for w in ours.kid.encoder.get_weights()])
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    names = []
    for path in ("ours", "theirs"):
        with h5py.File(tmp_path / f"{path}.weights.h5", "r") as h5:
            found = []
            h5.visit(lambda name, found=found: found.append(name))
            names.append(sorted(found))
    assert names[0] == names[1]
    assert "kid/encoder/layers/dense/vars/0" in names[0]
    before = np.asarray(theirs.kid.encoder(x).detach())
    theirs.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(
        np.asarray(theirs.kid.encoder(x).detach()),
        ours.kid.encoder(x).numpy(),
        rtol=1e-6,
        atol=1e-7,
    )
    ours.load_weights(tmp_path / "theirs.weights.h5")
    np.testing.assert_allclose(ours.kid.encoder(x).numpy(), before, rtol=1e-6, atol=1e-7)
