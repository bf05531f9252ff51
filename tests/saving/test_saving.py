"""autoconv.saving's API: every model kind round-trips through a Keras ``.keras`` archive to the
same bits (weights, optimizer state, compile settings), weights files, atomic writes, Keras's
rules for file names, custom objects, and tampered files that fail with one clear error before
anything is used.

(Over ~600 lines on purpose: one API's round trips, sharing the model makers at the top.)
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import zipfile

import h5py
import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.saving import ModelFileError
from tests.models.test_sequential import blobs, small_model
from tests.saving.archives import rewrite


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


def trained(make, optimizer="rmsprop"):
    ac.utils.set_random_seed(0)
    x, y = blobs(100)
    model = make()
    model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    return model, x, y


@pytest.mark.parametrize("make", [small_model, functional_model, nested_model])
def test_every_model_kind_round_trips_to_the_same_bits(make, tmp_path):
    model, x, y = trained(make, ac.optimizers.RMSprop(learning_rate=0.01))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = ac.saving.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # (a loaded model's layers are built before the model, so their weights are named without
    # the model's name in front: as in Keras)
    assert [(w.name, w.shape) for w in loaded.weights] == [(w.name, w.shape) for w in model.weights]
    assert loaded.optimizer.learning_rate == pytest.approx(0.01)
    assert loaded.optimizer.iterations == 5
    for a, b in zip(model.optimizer.slots, loaded.optimizer.slots, strict=True):
        np.testing.assert_array_equal(a["velocity"], b["velocity"])
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    # the next step is the same too: the optimizer state came back whole
    np.testing.assert_array_equal(
        loaded.train_on_batch(x[:20], y[:20]), model.train_on_batch(x[:20], y[:20])
    )


def test_the_archive_holds_what_keras_writes(tmp_path):
    model, _, _ = trained(small_model)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert archive.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
        assert all(e.compress_type == zipfile.ZIP_STORED for e in archive.infolist())
        metadata = json.loads(archive.read("metadata.json"))
        config = json.loads(archive.read("config.json"))
        weights = io.BytesIO(archive.read("model.weights.h5"))
    assert metadata["keras_version"] == "3.15.1"
    assert (config["module"], config["class_name"], config["registered_name"]) == (
        "keras", "Sequential", None,
    )  # fmt: skip
    assert config["compile_config"]["loss"] == "categorical_crossentropy"
    assert config["compile_config"]["metrics"] == ["accuracy"]
    assert config["compile_config"]["optimizer"]["class_name"] == "RMSprop"
    dense = config["config"]["layers"][1]
    assert dense["module"] == "keras.layers" and dense["build_config"] == {"input_shape": [None, 2]}
    with h5py.File(weights, "r") as h5:
        assert h5["layers/dense/vars"].attrs["name"] == dense["config"]["name"]
        assert h5["layers/dense/vars/0"].shape == (2, 16)
        assert h5["optimizer/vars/0"][()] == 5  # the step count, then the learning rate
        assert h5["optimizer/vars/1"][()] == np.float32(0.001)
        assert len(h5["optimizer/vars"]) == 2 + 4  # RMSprop: a velocity for each weight


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


def test_load_without_compile_and_the_class_names_kept_beside_the_model(tmp_path):
    model, x, _ = trained(small_model)
    model.class_names = ["cat", "dog", "fox"]
    model.save(tmp_path / "m.keras")
    loaded = ac.saving.load_model(tmp_path / "m.keras", compile=False)
    assert not loaded.compiled and loaded.class_names == ["cat", "dog", "fox"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_save_weights_and_load_weights(tmp_path):
    model, other = small_model(), small_model()
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ModelFileError, match=r"a weights file \(\.weights\.h5 or \.h5\)"):
        ac.load_model(path)
    wrong = ac.Sequential([layers.Dense(5, input_shape=(2,)), layers.Dense(3)])
    with pytest.raises(ValueError, match=r"weight sequential(_\d+)?/dense(_\d+)?/kernel has shape"):
        wrong.load_weights(path)


def test_weights_load_from_a_model_archive_with_the_optimizer_state(tmp_path):
    model, x, _ = trained(small_model)
    model.save(tmp_path / "m.keras")
    other = small_model()
    other.compile("rmsprop", "categorical_crossentropy")
    other.load_weights(tmp_path / "m.keras")
    assert other.optimizer.iterations == model.optimizer.iterations
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    "options",
    [
        {"use_ema": True, "ema_overwrite_frequency": 4},
        {"gradient_accumulation_steps": 3},
        {"use_ema": True, "ema_momentum": 0.9, "gradient_accumulation_steps": 2},
    ],
)
def test_moving_averages_and_gradient_accumulators_round_trip(tmp_path, options):
    """Keras's optimizer variables: step count, learning rate, the averages, the accumulators,
    then the class's slots; a loaded model takes the same next steps (one mid-accumulation)."""
    model, x, y = trained(small_model, ac.optimizers.Nadam(0.01, **options))
    model.train_on_batch(x[:20], y[:20])  # 6 steps: not a whole number of accumulations
    model.save(tmp_path / "m.keras")
    with (
        zipfile.ZipFile(tmp_path / "m.keras") as archive,
        h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5,
    ):
        params = len(model.trainable_weights)
        names = model.optimizer.all_slot_names
        assert len(h5["optimizer/vars"]) == 2 + params * len(names) + 1  # Nadam's product
        first = np.asarray(h5["optimizer/vars/2"])  # the first slot of the first weight
        np.testing.assert_array_equal(first, model.optimizer.slots[0][names[0]])
    loaded = ac.saving.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.iterations == 6 and loaded.optimizer.all_slot_names == names
    for ours, theirs in zip(loaded.optimizer.slots, model.optimizer.slots, strict=True):
        for name in names:
            np.testing.assert_array_equal(ours[name], theirs[name])
    for _ in range(2):
        model.train_on_batch(x[20:40], y[20:40])
        loaded.train_on_batch(x[20:40], y[20:40])
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("name", "call", "message"),
    [
        ("m.npz", "save", r"Invalid filepath extension for saving.*\.keras"),
        ("m.txt", "save", r"Invalid filepath extension for saving.*\.keras"),
        ("m.keras", "save_weights", r"must end in `\.weights\.h5`"),
        ("m.npz", "save_weights", r"must end in `\.weights\.h5`"),
    ],
)
def test_file_names_follow_keras(tmp_path, name, call, message):
    with pytest.raises(ValueError, match=message):
        getattr(small_model(), call)(tmp_path / name)
    assert not (tmp_path / name).exists()


def _save_over(lib, tmp_path, name, answers, monkeypatch, capsys):
    """``lib``'s save of ``name`` with ``overwrite=False`` over an existing file, ``answers``
    typed at its question: the questions asked, whether the file was replaced, the output."""
    path = tmp_path / lib.__name__ / name
    path.parent.mkdir()
    path.write_bytes(b"old")
    replies, prompts = iter(answers), []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or next(replies))
    model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1)])
    (model.save if name.endswith(".keras") else model.save_weights)(path, overwrite=False)
    asked = [prompt.replace(str(path), "<path>") for prompt in prompts]
    return asked, path.read_bytes() != b"old", capsys.readouterr().out


@pytest.mark.parametrize("name", ["m.keras", "m.weights.h5"])
@pytest.mark.parametrize("answers, replaced", [(["n"], False), ([" maybe", "Y "], True)])
def test_overwrite_false_asks_kerass_question(
    keras, tmp_path, monkeypatch, capsys, name, answers, replaced
):
    ours = _save_over(ac, tmp_path, name, answers, monkeypatch, capsys)
    assert ours == _save_over(keras, tmp_path, name, answers, monkeypatch, capsys)
    assert ours[0][0] == "[WARNING] <path> already exists - overwrite? [y/n]"
    assert ours[1] == replaced


def test_overwrite_false_without_an_answer_keeps_the_file(tmp_path, monkeypatch):
    """Standard input closed (Keras: an EOFError from its question): a warning, nothing
    saved."""
    path = tmp_path / "m.keras"
    path.write_bytes(b"old")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.warns(UserWarning, match=r"m\.keras already exists and no answer .* is kept"):
        ac.Sequential([ac.Input((2,)), layers.Dense(1)]).save(path, overwrite=False)
    assert path.read_bytes() == b"old"


def test_failed_save_leaves_old_file_intact(tmp_path, monkeypatch):
    model = small_model()
    path = tmp_path / "model.keras"
    model.save(path)
    original = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temp file left


def test_a_killed_saves_temp_file_is_removed_by_the_next_save(tmp_path):
    stale = tmp_path / ".model.keras.abc123.autoconv-tmp"
    stale.write_bytes(b"half a file")
    small_model().save(tmp_path / "model.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_saved_files_get_the_umask_permissions(tmp_path):
    previous = os.umask(0o027)
    try:
        small_model().save(tmp_path / "model.keras")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "model.keras").stat().st_mode) == 0o640


def test_saving_over_a_read_only_file_is_refused(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"keep me")
    path.chmod(0o444)
    if os.access(path, os.W_OK):
        pytest.skip("running as a user who may write read-only files (root)")
    with pytest.raises(PermissionError, match="read-only"):
        small_model().save(path)
    assert path.read_bytes() == b"keep me"


def test_saving_into_a_missing_folder_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        small_model().save(tmp_path / "no" / "model.keras")


def test_loading_a_missing_keras_file_is_kerass_value_error(keras, tmp_path):
    """Keras's ValueError (autoconv's is a FileNotFoundError too); other files' as Python's."""
    path = tmp_path / "missing.keras"
    message = f"File not found: filepath={path}. Please ensure the file is an accessible"
    for lib in (ac, keras):
        with pytest.raises(ValueError, match=re.escape(message)):
            lib.saving.load_model(path)
        with pytest.raises(FileNotFoundError):
            lib.saving.load_model(tmp_path / "missing.h5")
    with pytest.raises(FileNotFoundError):
        ac.saving.load_model(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda b: b[: len(b) // 2], "damaged or truncated"),
        (lambda b: b"not a zip at all", "not a model file"),
        (lambda b: b"\x89HDF\r\n\x1a\n" + b"\0" * 20, "damaged HDF5 file"),
    ],
)
def test_damaged_and_foreign_files_fail_clearly(tmp_path, content, message):
    path = tmp_path / "model.keras"
    small_model().save(path)
    path.write_bytes(content(path.read_bytes()))
    with pytest.raises(ModelFileError, match=message) as error:
        ac.load_model(path)
    assert str(path) in str(error.value)


def test_other_zip_and_hdf5_files(tmp_path):
    foreign = tmp_path / "foreign.keras"
    with open(foreign, "wb") as f:
        np.savez(f, a=np.zeros(3))
    with pytest.raises(ModelFileError, match=r"foreign\.keras is a zip archive, but not"):
        ac.load_model(foreign)
    legacy = tmp_path / "model.h5"
    with h5py.File(legacy, "w") as h5:
        h5.attrs["model_config"] = "{}"
    with pytest.raises(ModelFileError, match=r"model\.h5: it has no model_weights"):
        ac.load_model(legacy)


# ---------------------------------------------------------------------- custom objects
@ac.saving.register_keras_serializable(package="tests")
class Scale(layers.Layer):
    """Multiplies by a learned scalar: a user's own layer with a weight."""

    def __init__(self, start: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.start = start

    def build(self, input_shape):
        self.factor = self.add_weight((), initializer=ac.initializers.Constant(self.start))

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return super().get_config() | {"start": self.start}


class Unregistered(Scale):
    pass


def test_a_registered_layer_round_trips(tmp_path):
    model = ac.Sequential([ac.Input((3,)), Scale(2.0), layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))
    entry = config["config"]["layers"][1]
    assert (entry["class_name"], entry["registered_name"]) == ("Scale", "tests>Scale")
    loaded = ac.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[0], Scale) and loaded.layers[0].start == 2.0
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_an_unregistered_layer_needs_custom_objects(tmp_path):
    model = ac.Sequential([ac.Input((3,)), Unregistered(3.0)])
    model.save(tmp_path / "m.keras")
    with pytest.raises(ModelFileError, match="ould not locate class 'Unregistered'"):
        ac.saving.load_model(tmp_path / "m.keras")
    loaded = ac.saving.load_model(
        tmp_path / "m.keras", custom_objects={"Unregistered": Unregistered}
    )
    assert type(loaded.layers[0]) is Unregistered
    with ac.saving.custom_object_scope({"Unregistered": Unregistered}):
        assert type(ac.saving.load_model(tmp_path / "m.keras").layers[0]) is Unregistered


class PatchEncoder(layers.Layer):
    """keras.io's token learner's: its constructor takes no name."""

    def __init__(self, num_patches):
        super().__init__()
        self.num_patches = num_patches

    def get_config(self):
        return super().get_config() | {"num_patches": self.num_patches}


def test_a_failed_load_names_the_users_class_as_written(tmp_path):
    """The error names ``PatchEncoder.__init__()`` as Python wrote it (its first letter was
    lowered, as a sentence's first word is)."""
    inputs = ac.Input((3,))
    ac.Model(inputs, PatchEncoder(4)(inputs)).save(tmp_path / "m.keras")
    with pytest.raises(ModelFileError, match=r"m\.keras: PatchEncoder\.__init__\(\) got an"):
        ac.saving.load_model(tmp_path / "m.keras", custom_objects={"PatchEncoder": PatchEncoder})


def peak_ratio(y_true, y_pred):  # a user's metric function, not registered
    return ac.ops.psnr(y_true, y_pred, max_val=1.0)


def test_a_compiled_metric_function_is_found_in_custom_objects(tmp_path):
    """Keras compiles a loaded model inside the scope of load_model's custom_objects, so an
    unregistered function among its metrics is found there (keras-io's EDSR example)."""
    model = ac.Sequential([ac.Input((3,)), layers.Dense(3)])
    model.compile("sgd", "mae", metrics=[peak_ratio])
    model.save(tmp_path / "m.keras")
    with pytest.raises(ModelFileError, match="peak_ratio"):
        ac.saving.load_model(tmp_path / "m.keras")
    loaded = ac.saving.load_model(tmp_path / "m.keras", custom_objects={"peak_ratio": peak_ratio})
    x = np.linspace(0, 1, 12, dtype=np.float32).reshape(4, 3)
    logs = loaded.evaluate(x, x, verbose=0, return_dict=True)
    assert sorted(logs) == ["loss", "peak_ratio"]


def test_registry_names():
    assert ac.saving.get_registered_name(Scale) == "tests>Scale"
    assert ac.saving.get_registered_object("tests>Scale") is Scale
    assert ac.saving.get_registered_name(Unregistered) == "Unregistered"
    assert "tests>Scale" in ac.saving.get_custom_objects()
    with pytest.raises(ValueError, match="get_config"):
        ac.saving.register_keras_serializable()(type("NoConfig", (), {}))


def test_serialize_and_deserialize_keras_objects():
    for obj in [layers.Dense(3, activation="relu"), ac.losses.CategoricalCrossentropy(),
                ac.optimizers.Adam(0.01), ac.initializers.HeNormal(seed=1),
                ac.regularizers.L2(0.1), ac.metrics.AUC(),
                ac.constraints.MaxNorm(3.0, axis=[0, 1])]:  # fmt: skip
        entry = ac.saving.serialize_keras_object(obj)
        assert entry["module"].startswith("keras.") and entry["registered_name"] is None
        again = ac.saving.deserialize_keras_object(json.loads(json.dumps(entry)))
        assert type(again) is type(obj) and again.get_config() == obj.get_config()
    assert ac.saving.serialize_keras_object([1, "a", None]) == [1, "a", None]


def test_plain_values_serialize_as_kerass_entries_and_back(keras):
    """Arrays, NumPy numbers, tuples, bytes, slices and ``...`` (in a user's get_config, say)
    are Keras's entries, which either library reads back."""
    values = [np.arange(3), np.float32(1.5), np.array(2.0), (1, (2, 3)), b"ab", slice(1, 5, 2),
              Ellipsis, {"a": np.ones(2, np.float32)}]  # fmt: skip
    for value in values:
        ours = ac.saving.serialize_keras_object(value)
        assert ours == keras.saving.serialize_keras_object(value)
        for entry in (ours, json.loads(json.dumps(ours))):
            for lib in (ac, keras):
                back = lib.saving.deserialize_keras_object(entry)
                want = keras.saving.deserialize_keras_object(ours)
                assert type(back) is type(want)
                np.testing.assert_equal(back, want)
    entry = ac.saving.serialize_keras_object(ac.ops.ones((2,)))
    assert entry == keras.saving.serialize_keras_object(keras.ops.ones((2,)))  # __tensor__
    assert isinstance(ac.saving.deserialize_keras_object(entry), ac.Tensor)


@pytest.mark.parametrize(
    ("family", "base"),
    [("losses", "MeanSquaredError"), ("metrics", "Mean"), ("initializers", "Zeros"),
     ("regularizers", "L2")],
)  # fmt: skip
def test_each_familys_deserialize_takes_custom_objects(keras, family, base):
    # keras.<family>.deserialize(config, custom_objects): a user's unregistered class by name
    found = []
    for lib in (ac, keras):
        mine = type("Mine", (getattr(getattr(lib, family), base),), {})
        entry = {"class_name": "Mine", "config": mine().get_config()}
        found.append(type(getattr(lib, family).deserialize(entry, custom_objects={"Mine": mine})))
    assert [cls.__name__ for cls in found] == ["Mine", "Mine"]


def test_a_constraints_entry_is_kerass():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    ours = ac.saving.serialize_keras_object(ac.constraints.MinMaxNorm(0.5, 2.0, rate=0.5))
    theirs = keras.saving.serialize_keras_object(keras.constraints.MinMaxNorm(0.5, 2.0, rate=0.5))
    assert ours == theirs
    back = ac.saving.deserialize_keras_object(theirs)
    assert isinstance(back, ac.constraints.MinMaxNorm) and back.get_config()["rate"] == 0.5


def test_kerass_entry_of_a_torch_optimizer_is_read(keras):
    # (Keras's torch optimizers are classes of the torch backend's modules, entered as such.)
    made = keras.optimizers.SGD(0.5, momentum=0.9, name="descent")
    entry = keras.saving.serialize_keras_object(made)
    assert entry["module"] == "keras.src.backend.torch.optimizers.torch_sgd"
    back = ac.saving.deserialize_keras_object(entry)
    assert isinstance(back, ac.optimizers.SGD)
    assert back.get_config() == ac.optimizers.SGD(0.5, momentum=0.9, name="descent").get_config()


@pytest.mark.parametrize("safe_mode", [True, False])
def test_a_python_lambdas_bytecode_is_never_loaded(safe_mode):
    entry = ac.layers.serialize(ac.layers.Lambda(lambda x: x * 2, name="twice"))
    assert entry["config"]["function"]["class_name"] == "__lambda__"
    with pytest.raises(ValueError, match="deserialization of a Lambda layer whose function is a "
                       "Python lambda"):  # fmt: skip
        ac.saving.deserialize_keras_object(entry, safe_mode=safe_mode)
    unknown = entry | {"config": entry["config"] | {"function": "x"}}
    with pytest.raises(TypeError, match="Could not locate function 'x'"):
        ac.saving.deserialize_keras_object(unknown)


# ----------------------------------------------------------------------- tampered files
def _set(config, keys, value):
    target = config
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value


def _replace(h5, name, value, **options):
    del h5[name]
    h5.create_dataset(name, data=value, **options)


DENSE = ["config", "layers", 1, "config"]  # the first Dense after the InputLayer


@pytest.mark.parametrize(
    ("edit_config", "edit_weights", "message"),
    [
        (None, lambda h: _replace(h, "layers/dense/vars/0", np.zeros((5, 5), np.float32)),
         r"weight dense/kernel has shape \(5, 5\) in the file"),
        (None, lambda h: _replace(h, "layers/dense/vars/0", np.zeros((2, 16), np.complex64)),
         "dtype complex64"),
        (None, lambda h: _replace(h, "layers/dense/vars/1", np.full(16, np.nan, np.float32)),
         "NaN or infinite"),
        (None, lambda h: _replace(h, "layers/dense/vars/1", np.zeros(16, np.float32),
                                  compression="gzip"), "stored compressed"),
        (None, lambda h: h.__delitem__("layers/dense_1/vars/1"), "has 2 weights, the file holds 1"),
        (None, lambda h: h.__delitem__("layers/dense_1"), "holds no weights for layer"),
        (None, lambda h: _replace(h, "optimizer/vars/2", np.zeros(7, np.float32)),
         r"optimizer slot .velocity. of dense/kernel has shape \(7,\)"),
        (None, lambda h: h.move("optimizer/vars/5", "optimizer/vars/x"),
         "optimizer state holds 6 variables"),
        (lambda c: _set(c, ["config", "layers"], {"a": 1}), None, "layers must be a list"),
        (lambda c: _set(c, [*DENSE[:-1], "class_name"], "Evil"), None,
         "ould not locate class 'Evil'"),
        (lambda c: c["config"]["layers"][1].update(module="os", class_name="system"), None,
         "ould not locate class 'system'"),
        (lambda c: _set(c, [*DENSE, "units"], 10**9), None, "larger than any array the file holds"),
        (lambda c: _set(c, [*DENSE, "units"], "16"), None, "units must be a positive int"),
        (lambda c: _set(c, [*DENSE, "kernel_constraint"], "no_such_constraint"), None,
         "ould not interpret constraint identifier"),
        (lambda c: _set(c, [*DENSE, "quantization_config"], {"mode": "int8"}), None,
         "quantization_config.* is not supported by autoconv"),
        (lambda c: _set(c, [*DENSE, "surprise"], 1), None,
         r"nrecognized keyword arguments passed to Dense: \{'surprise': 1\}"),
        (lambda c: _set(c, ["compile_config", "optimizer", "class_name"], "nope"), None,
         "unknown optimizer 'nope'"),
        (lambda c: c.pop("config"), None, "Sequential config's layers must be a list"),
    ],
)  # fmt: skip
def test_tampered_files_fail_before_anything_is_used(tmp_path, edit_config, edit_weights, message):
    model, _, _ = trained(small_model)
    path = tmp_path / "model.keras"
    model.save(path)
    rewrite(path, edit_config, edit_weights)
    with pytest.raises(ModelFileError, match=message) as error:
        ac.load_model(path)
    assert str(path) in str(error.value)


def test_a_failed_load_weights_changes_nothing(tmp_path):
    model = small_model()
    model.save(tmp_path / "m.keras")
    rewrite(tmp_path / "m.keras", None, lambda h: h.__delitem__("layers/dense_1/vars/1"))
    other = small_model()
    before = other.get_weights()
    with pytest.raises(ModelFileError, match="has 2 weights, the file holds 1"):
        other.load_weights(tmp_path / "m.keras")
    for a, b in zip(before, other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_archive_entries_are_checked(tmp_path):
    path = tmp_path / "m.keras"
    small_model().save(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("evil.py", "import os")
    with pytest.raises(ModelFileError, match=r"entry 'evil\.py' that a \.keras archive does not"):
        ac.load_model(path)


def _weights_travel_both_ways(ours, theirs, x, tmp_path, group: str) -> None:
    """Keras's weights file loads into ``ours`` (the same predictions), and ours, changed,
    into ``theirs``: both files hold the same groups, ``group`` among them."""
    theirs.save_weights(tmp_path / "keras.weights.h5")
    ours.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5)
    ours.set_weights([w * 1.5 for w in ours.get_weights()])
    ours.save_weights(tmp_path / "ours.weights.h5")
    with (
        h5py.File(tmp_path / "ours.weights.h5") as h5,
        h5py.File(tmp_path / "keras.weights.h5") as k,
    ):
        groups, expected = [], []
        h5.visit(groups.append)
        k.visit(expected.append)
        assert groups == expected and group in groups
    theirs.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5)


def test_a_subclassed_models_weights_file_travels_both_ways_with_keras(keras, tmp_path, rng):
    """Keras walks a subclassed model's attributes alphabetically, ``layers`` among them: the
    layers of attributes before it are saved under their names, the others (a nested model, a
    private attribute's) under ``layers/<class name>``."""

    def build(lib):
        class Walked(lib.Model):
            def __init__(self):
                super().__init__()
                self.alpha = lib.layers.Dense(3)
                self.blocks = [lib.layers.Dense(3), lib.layers.Dense(3)]
                self.zeta = lib.layers.Dense(2)
                self.middle = lib.Sequential([lib.layers.Dense(2)])
                self._last = lib.layers.Dense(2)

            def call(self, inputs):
                for block in self.blocks:
                    inputs = block(inputs)
                return self._last(self.zeta(self.middle(self.alpha(inputs))))

        model = Walked()
        model(np.zeros((1, 4), np.float32))
        return model

    x = rng.standard_normal((3, 4)).astype(np.float32)
    _weights_travel_both_ways(build(ac), build(keras), x, tmp_path,
                              "layers/sequential/layers/dense/vars/0")  # fmt: skip


def test_a_dict_of_layers_travels_in_the_weights_file_both_ways(keras, tmp_path, rng):
    """keras.io's variable selection network holds ``self.embeddings = {feature: Embedding}``:
    Keras saves a dict's layers as a list's, under the attribute, by class name in order."""

    def build(lib):
        class Selection(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.embeddings = {"a": lib.layers.Embedding(4, 2), "b": lib.layers.Embedding(5, 2)}
                self.projections = {"c": lib.layers.Dense(2)}

            def call(self, inputs):
                a = self.embeddings["a"](inputs["a"]) + self.embeddings["b"](inputs["b"])
                return a + self.projections["c"](lib.ops.expand_dims(inputs["c"], -1))

        inputs = {
            "a": lib.Input((), dtype="int64", name="a"),
            "b": lib.Input((), dtype="int64", name="b"),
            "c": lib.Input((), name="c"),
        }
        return lib.Model(inputs, Selection(name="selection")(inputs))

    x = {"a": np.array([0, 3]), "b": np.array([4, 1]), "c": np.array([0.5, -1.0], np.float32)}
    _weights_travel_both_ways(build(ac), build(keras), x, tmp_path,
                              "layers/selection/embeddings/embedding_1/vars/0")  # fmt: skip


def test_the_optimizers_a_gan_holds_travel_in_its_weights_file_both_ways(keras, tmp_path):
    """keras.io's GANs hold an optimizer per network as attributes (``self.d_optimizer``):
    Keras's weights file keeps each one's state under its attribute's name, beside
    ``optimizer`` (the compiled one); an optimizer not yet built skips a trained state with
    Keras's warning."""

    def build(lib):
        class GAN(lib.Model):
            def __init__(self):
                super().__init__()
                self.discriminator = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
                self.generator = lib.Sequential([lib.Input((2,)), lib.layers.Dense(3)])
                self.built = True

            def compile(self, d_optimizer, g_optimizer):
                super().compile()
                self.d_optimizer = d_optimizer
                self.g_optimizer = g_optimizer

            def train_step(self, data):
                for network, optimizer in ((self.discriminator, self.d_optimizer),
                                           (self.generator, self.g_optimizer)):  # fmt: skip
                    self.zero_grad()
                    loss = lib.ops.mean(self.discriminator(self.generator(data)) ** 2)
                    loss.backward()
                    weights = network.trainable_weights
                    optimizer.apply([w.value.grad for w in weights], weights)
                return {"loss": loss}

        gan = GAN()
        gan.compile(lib.optimizers.Adam(0.1), lib.optimizers.SGD(0.1, momentum=0.5))
        gan.set_weights([np.full(w.shape, 0.5, "float32") for w in gan.get_weights()])
        return gan

    def state(gan):
        optimizers = gan.d_optimizer.variables + gan.g_optimizer.variables
        return [np.asarray(v.numpy()) for v in optimizers]

    x = np.linspace(-1, 1, 8, dtype="float32").reshape(4, 2)
    ours, theirs = build(ac), build(keras)
    for gan in (ours, theirs):
        gan.fit(x, epochs=1, batch_size=2, verbose=0)
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.save_weights(tmp_path / "keras.weights.h5")
    with h5py.File(tmp_path / "ours.weights.h5") as h5:
        groups = sorted(name for name in h5 if "optimizer" in name)
        assert groups == ["d_optimizer", "g_optimizer", "optimizer"]
        assert len(h5["d_optimizer/vars"]) == 2 + 2 * 2  # Adam: m and v of 2 weights
    for loader, lib, path in ((ours, keras, "ours"), (theirs, ac, "keras")):
        fresh = build(lib)
        with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):
            fresh.load_weights(tmp_path / f"{path}.weights.h5")  # (not built yet)
        fresh.fit(x[:2], epochs=1, batch_size=2, verbose=0)  # builds them
        fresh.load_weights(tmp_path / f"{path}.weights.h5")
        for got, want in zip(state(fresh), state(loader), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_subclassed_models_save_their_weights_only(tmp_path):
    class Tiny(ac.Model):  # (made of an object: no automatic config)
        def __init__(self, dense):
            super().__init__()
            self.dense = dense

        def call(self, inputs):
            return self.dense(inputs)

    model = Tiny(layers.Dense(2))
    model(np.ones((1, 3)))
    with pytest.raises(NotImplementedError, match="save_weights"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()
    model.save_weights(tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5") as h5:  # Keras's path: the attribute's name
        assert h5["dense/vars/0"].shape == (3, 2)
    other = Tiny(layers.Dense(2))
    other(np.ones((1, 3)))
    other.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(other.dense.kernel.numpy(), model.dense.kernel.numpy())


def test_an_architecture_asking_for_more_weights_than_the_file_holds_fails_first(tmp_path):
    """Many layers each as large as the file's largest array: refused while building, before
    the layers' weights add up to more than the file's arrays."""
    model = ac.Sequential([layers.Dense(64, input_shape=(64,)), layers.Dense(1)])
    path = tmp_path / "model.keras"
    model.save(path)

    def many(config):
        entries = config["config"]["layers"]
        for i in range(1000):  # 1000 * 64 * 64 floats: 16 MB from a file of some 30 kB
            entries.insert(1, json.loads(json.dumps(entries[1])))
            entries[1]["config"]["name"] = f"d{i}"

    rewrite(path, many)
    with pytest.raises(ModelFileError, match="the architecture has more weights than the file"):
        ac.load_model(path)


def test_old_autoconv_files_load_with_a_note_to_save_again():
    from pathlib import Path

    files = Path(__file__).parent / "files"
    expected = json.loads((files / "npz_expected.json").read_text())
    with pytest.warns(UserWarning, match="save it again"):
        model = ac.load_model(files / "npz_sequential.keras")
    np.testing.assert_allclose(
        model.predict(np.array(expected["x"], np.float32), verbose=0), expected["sequential"],
        rtol=1e-6,
    )  # fmt: skip
    assert model.class_names == ["a", "b", "c"]
    assert model.optimizer.iterations == expected["sequential_iterations"]


def test_a_masked_input_of_a_huge_crafted_shape_is_refused_before_any_allocation(tmp_path):
    """An Embedding with mask_zero computes its mask on a stand-in input while the graph is
    rebuilt: an Input of 2**25 tokens a sample is refused, not allocated."""
    inputs = ac.Input((4,), dtype="int32")
    outputs = layers.GlobalAveragePooling1D()(layers.Embedding(10, 3, mask_zero=True)(inputs))
    path = tmp_path / "model.keras"
    ac.Model(inputs, outputs).save(path)

    def huge(config):
        config["config"]["layers"][0]["config"]["batch_shape"] = [None, 2**25]

    rewrite(path, huge)
    with pytest.raises(ModelFileError, match="reads 33554432 values: too many"):
        ac.load_model(path)
