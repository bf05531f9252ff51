"""Saving and loading: every model kind round-trips to the same bits, weights-only files,
atomic writes, and damaged, foreign or tampered files give one clear ValueError."""

from __future__ import annotations

import json
import os
import stat
import zipfile

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.models import ModelFileError
from tests.models.test_sequential import blobs, small_model


def functional_model():
    inputs = ac.Input(shape=(2,), name="point")
    hidden = layers.Dense(8, activation="relu")(inputs)
    skip = layers.Dense(8)(inputs)
    merged = layers.add([hidden, skip])
    return ac.Model(inputs, layers.Dense(3, activation="softmax")(merged))


def nested_model():
    inner = ac.Sequential([layers.Dense(4, activation="relu")], name="inner")
    inputs = ac.Input(shape=(2,))
    return ac.Model(inputs, layers.Dense(3, activation="softmax")(inner(inputs)))


@pytest.mark.parametrize("make", [small_model, functional_model, nested_model])
def test_every_model_kind_round_trips_to_the_same_bits(make, tmp_path):
    ac.utils.set_random_seed(0)
    x, y = blobs(100)
    model = make()
    model.compile(ac.optimizers.RMSprop(learning_rate=0.01), "categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    path = tmp_path / "model.keras"  # the extension Keras 3 asks for: autoconv's format inside
    model.save(path)
    loaded = ac.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    assert loaded.optimizer.learning_rate == 0.01 and loaded.optimizer.iterations == 5
    for a, b in zip(model.optimizer.slots, loaded.optimizer.slots, strict=True):
        np.testing.assert_array_equal(a["velocity"], b["velocity"])
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    # the next step is the same too: the optimizer state came back whole
    np.testing.assert_array_equal(
        loaded.train_on_batch(x[:20], y[:20]), model.train_on_batch(x[:20], y[:20])
    )


def test_a_call_with_an_explicit_training_flag_keeps_it_through_a_save(tmp_path, rng):
    """Keras's transfer-learning pattern, base(x, training=False), and a Dropout always on."""
    inputs = ac.Input(shape=(4,))
    x = layers.BatchNormalization()(layers.Dense(6)(inputs), training=False)
    x = layers.Dropout(0.5)(x, training=True)
    model = ac.Model(inputs, layers.Dense(2)(x))
    model.save(tmp_path / "m.keras")
    loaded = ac.models.load_model(tmp_path / "m.keras")
    modes = [node.kwargs.get("training") for node in loaded._functional.nodes]
    assert modes == [None, None, False, True, None]
    data = rng.random((64, 4)).astype(np.float32)
    assert not np.array_equal(loaded.predict(data, verbose=0), loaded.predict(data, verbose=0))


def test_save_weights_and_load_weights(tmp_path):
    model, other = small_model(), small_model()
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ModelFileError, match=r"a weights file \(use model\.load_weights\)"):
        ac.load_model(path)
    wrong = ac.Sequential([layers.Dense(5, input_shape=(2,)), layers.Dense(3)])
    with pytest.raises(
        ValueError, match=r"weight sequential(_\d+)?/dense(_\d+)?/kernel has shape \(2, 16\)"
    ):
        wrong.load_weights(path)


def test_failed_save_leaves_old_file_intact(tmp_path, monkeypatch):
    model = small_model()
    path = tmp_path / "model.npz"
    model.save(path)
    original = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temp file left


def test_a_killed_saves_temp_file_is_removed_by_the_next_save(tmp_path):
    stale = tmp_path / ".model.npz.abc123.autoconv-tmp"
    stale.write_bytes(b"half a file")
    small_model().save(tmp_path / "model.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_saved_files_get_the_umask_permissions(tmp_path):
    previous = os.umask(0o027)
    try:
        small_model().save(tmp_path / "model.npz")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "model.npz").stat().st_mode) == 0o640


def test_saving_over_a_read_only_file_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"keep me")
    path.chmod(0o444)
    if os.access(path, os.W_OK):
        pytest.skip("running as a user who may write read-only files (root)")
    with pytest.raises(PermissionError, match="read-only"):
        small_model().save(path)
    assert path.read_bytes() == b"keep me"


def test_saving_into_a_missing_folder_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        small_model().save(tmp_path / "no" / "model.npz")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda b: b[: len(b) // 2], "damaged or truncated"),
        (lambda b: b"not a zip at all", "not a model file"),
        (lambda b: b"\x89HDF\r\n\x1a\n" + b"\0" * 20, "HDF5"),
        (lambda b: b"\x93NUMPY" + b"\0" * 20, r"single NumPy array \(.npy\)"),
    ],
)
def test_damaged_and_foreign_files_fail_clearly(tmp_path, content, message):
    path = tmp_path / "model.npz"
    small_model().save(path)
    path.write_bytes(content(path.read_bytes()))
    with pytest.raises(ValueError, match=message) as error:
        ac.load_model(path)
    assert str(path) in str(error.value) and "pickle" not in str(error.value)


def test_other_zip_files(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    with pytest.raises(ValueError, match=r"foreign\.npz is a zip archive, but not an autoconv"):
        ac.load_model(foreign)
    keras_file = tmp_path / "model.keras"
    with zipfile.ZipFile(keras_file, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", "")
    with pytest.raises(ValueError, match=r"Keras \.keras archive"):
        ac.load_model(keras_file)


def rewrite(path, edit_config=None, edit_arrays=None):
    with np.load(path) as f:
        arrays = dict(f)
    config = json.loads(arrays.pop("config").tobytes())
    if edit_config:
        edit_config(config)
    if edit_arrays:
        edit_arrays(arrays)
    arrays["config"] = np.frombuffer(json.dumps(config).encode(), np.uint8)
    np.savez(path, **arrays)


def _set(config, keys, value):
    target = config
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value


@pytest.mark.parametrize(
    ("edit_config", "edit_arrays", "message"),
    [
        (None, lambda a: a.update(weight_0=np.zeros((5, 5), np.float32)),
         r"weight sequential(_\d+)?/dense(_\d+)?/kernel has shape \(5, 5\) in the file"),
        (None, lambda a: a.update(weight_0=np.zeros((2, 16), np.int64)), "dtype int64"),
        (None, lambda a: a.update(weight_1=np.full(16, np.nan, np.float32)), "NaN or infinite"),
        (None, lambda a: a.pop("weight_3"), "is missing from the file"),
        (None, lambda a: a.update(slot_0_velocity=np.zeros(7, np.float32)),
         r"optimizer slot .velocity. of sequential(_\d+)?/dense(_\d+)?/kernel has shape \(7,\)"),
        (lambda c: c.update(version=99), None, "newer than this autoconv reads"),
        (lambda c: c.update(format="something"), None, "not an autoconv model"),
        (lambda c: _set(c, ["model", "config", "layers"], {"a": 1}), None, "must be a JSON list"),
        (lambda c: _set(c, ["model", "config", "layers", 0, "class_name"], "Evil"), None,
         "unknown layer type 'Evil'"),
        (lambda c: _set(c, ["model", "config", "layers", 0, "config", "units"], 10**9), None,
         "larger than any array the file holds"),
        (lambda c: _set(c, ["model", "config", "layers", 0, "config", "units"], 10**13), None,
         "units must be at most 2147483647"),
        (lambda c: _set(c, ["model", "config", "layers", 0, "config", "units"], "16"), None,
         "units must be a positive int"),
        (lambda c: _set(c, ["compile", "optimizer", "class_name"], "nope"), None,
         "unknown optimizer 'nope'"),
        (lambda c: _set(c, ["compile", "optimizer"], "rmsprop"), None, "must be a JSON object"),
        (lambda c: _set(c, ["compile", "optimizer", "config", "rho"], [1]), None,
         "not a number"),
        (lambda c: _set(c, ["compile", "iterations"], -3), None, r"integer in \[0, "),
        (lambda c: _set(c, ["slots", "count"], 1), None, "arrays its config does not name"),
        (lambda c: _set(c, ["slots", "count"], 9), None, "covers 9 weights, the file holds fewer"),
        (None, lambda a: a.update(extra=np.zeros(3, np.float32)), r"does not name: \[.extra.\]"),
        (lambda c: c.pop("model"), None, "layer entry must be a JSON object"),
    ],
)  # fmt: skip
def test_tampered_files_fail_before_anything_is_used(tmp_path, edit_config, edit_arrays, message):
    model = small_model()
    model.compile("rmsprop", "categorical_crossentropy")
    x, y = blobs(40)
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    rewrite(path, edit_config, edit_arrays)
    with pytest.raises(ModelFileError, match=message) as error:
        ac.load_model(path)
    assert str(path) in str(error.value)


def test_subclassed_models_save_their_weights_only(tmp_path):
    class Tiny(ac.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    model = Tiny()
    model(np.ones((1, 3)))
    with pytest.raises(NotImplementedError, match="save_weights"):
        model.save(tmp_path / "m.npz")
    model.save_weights(tmp_path / "m.weights.npz")
    other = Tiny()
    other(np.ones((1, 3)))
    other.load_weights(tmp_path / "m.weights.npz")
    np.testing.assert_array_equal(other.dense.kernel.numpy(), model.dense.kernel.numpy())


def test_an_architecture_asking_for_more_weights_than_the_file_holds_fails_first(tmp_path):
    """Many layers each as large as the file's largest array: refused while building, before
    the layers' weights add up to more than the file's arrays."""
    model = ac.Sequential([layers.Dense(64, input_shape=(64,)), layers.Dense(1)])
    path = tmp_path / "model.npz"
    model.save(path)
    dense = json.loads(np.load(path)["config"].tobytes())["model"]["config"]["layers"][0]

    def many(config):
        layers_config = config["model"]["config"]["layers"]
        for i in range(1000):  # 1000 * 64 * 64 floats: 16 MB from a file of 17 kB
            layers_config.insert(0, json.loads(json.dumps(dense)))
            layers_config[0]["config"]["name"] = f"d{i}"

    rewrite(path, many)
    with pytest.raises(ModelFileError, match="the architecture has more weights than the file"):
        ac.load_model(path)
