"""FeatureSpace against Keras 3.15's (keras.utils.FeatureSpace): the outputs, dtypes, configs
and the ``.keras`` file that tests/keras_reference/feature_space_files.py recorded from Keras
(whose adapt needs TensorFlow), files both ways, the errors, and a small model fitted on the
encoded features on the CPU and on the CUDA device (the simulator)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import autoconv
from autoconv.data import Dataset
from autoconv.feature_space import Cross, Feature, FeatureSpace
from autoconv.saving import load_model
from autoconv.saving.files import ModelFileError
from tests.layers.devices import fit_on_both_devices

FILES = Path(__file__).parent / "saving" / "files"
KERAS = json.loads((FILES / "keras_feature_space.json").read_text(encoding="utf-8"))


def table() -> dict[str, np.ndarray]:
    return {key: np.array(values) for key, values in KERAS["table"].items()}


# The FeatureSpaces of tests/keras_reference/feature_space_files.py.
def concat_space() -> FeatureSpace:
    return FeatureSpace(
        features={
            "age": "float_normalized",
            "city": "string_categorical",
            "rooms": "integer_categorical",
            "income": FeatureSpace.float_discretized(num_bins=3, name="income"),
            "tag": "string_hashed",
            "code": FeatureSpace.integer_hashed(num_bins=5, name="code"),
        },
        crosses=[("city", "rooms")],
        crossing_dim=8,
        hashing_dim=4,
        output_mode="concat",
    )


def dict_space() -> FeatureSpace:
    return FeatureSpace(
        features={
            "city": FeatureSpace.string_categorical(output_mode="int", name="city"),
            "rooms": FeatureSpace.integer_categorical(max_tokens=3, name="rooms"),
            "income": FeatureSpace.float_rescaled(scale=2.0, offset=-1.0, name="income"),
            "age": "float",
        },
        crosses=[FeatureSpace.cross(("city", "rooms"), crossing_dim=6, output_mode="int")],
        output_mode="dict",
    )


def adapted(make, batch: int | None) -> FeatureSpace:
    space = make()
    dataset = Dataset.from_tensor_slices(table())
    space.adapt(dataset if batch is None else dataset.batch(batch))
    return space


def config_of(space: FeatureSpace) -> dict:
    return json.loads(json.dumps(autoconv.saving.serialize_keras_object(space)))


@pytest.mark.parametrize("adapt_on", ["dataset", "batches", "dict"])
def test_concat_matches_keras(adapt_on):
    space = concat_space()
    data = table()
    dataset = Dataset.from_tensor_slices(data)
    source = {"dataset": dataset, "batches": dataset.batch(3), "dict": data}[adapt_on]
    space.adapt(source)
    out = space(data)
    assert out.dtype == np.float32 == np.dtype(KERAS["concat"]["dtype"])
    np.testing.assert_allclose(out, KERAS["concat"]["output"], rtol=1e-6, atol=1e-6)
    sample = space({key: values[1] for key, values in data.items()})
    np.testing.assert_allclose(sample, KERAS["concat"]["sample"], rtol=1e-6, atol=1e-6)
    if adapt_on == "dataset":  # (the bins Keras's quantiles find depend on the batches)
        assert config_of(space) == KERAS["concat"]["config"]


def test_dict_matches_keras_and_maps_a_dataset():
    space = adapted(dict_space, batch=4)
    data = {key: table()[key] for key in space.features}
    out = space(data)
    assert list(out) == list(KERAS["dict"]["output"])  # the features sorted, then the crosses
    for name, value in out.items():
        assert value.dtype == np.dtype(KERAS["dict"]["dtypes"][name]), name
        np.testing.assert_allclose(value, KERAS["dict"]["output"][name], rtol=1e-6)
    sample = space({key: values[1] for key, values in data.items()})
    for name, value in sample.items():
        np.testing.assert_allclose(value, KERAS["dict"]["sample"][name], rtol=1e-6)
    assert config_of(space) == KERAS["dict"]["config"]
    labelled = Dataset.from_tensor_slices((data, np.arange(10))).batch(4)
    mapped = list(labelled.map(lambda x, y: (space(x), y)))
    np.testing.assert_array_equal(mapped[1][0]["city"], out["city"][4:8])


def test_keras_file_loads_and_files_travel_both_ways(tmp_path):
    data = table()
    keras_space = load_model(FILES / "keras_feature_space.keras")
    np.testing.assert_allclose(keras_space(data), KERAS["concat"]["output"], rtol=1e-6, atol=1e-6)
    ours = adapted(concat_space, batch=None)
    ours.save(tmp_path / "space.keras")
    with (
        zipfile.ZipFile(tmp_path / "space.keras") as ours_zip,
        zipfile.ZipFile(FILES / "keras_feature_space.keras") as keras_zip,
    ):
        assert sorted(ours_zip.namelist()) == sorted(keras_zip.namelist())
        for name in ours_zip.namelist():
            if name.startswith("assets/"):
                assert ours_zip.read(name) == keras_zip.read(name), name
    again = load_model(tmp_path / "space.keras")
    np.testing.assert_array_equal(again(data), ours(data))
    assert config_of(again) == config_of(ours)
    with pytest.raises(ValueError, match=r"expected a `\.keras` extension"):
        ours.save(tmp_path / "space.h5")
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match=r"bad\.keras"):
        load_model(tmp_path / "bad.keras")


def test_from_config_rebuilds_it():
    space = adapted(dict_space, batch=4)
    entry = config_of(space)
    rebuilt = autoconv.saving.deserialize_keras_object(entry)
    assert isinstance(rebuilt, FeatureSpace)
    assert isinstance(rebuilt.features["city"], Feature) and isinstance(rebuilt.crosses[0], Cross)
    assert config_of(rebuilt) == entry  # the vocabularies travel in the assets, not the config


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: FeatureSpace({}), "cannot be None or empty"),
        (lambda: FeatureSpace({"a": "float"}, output_mode="list"), "Expected one of"),
        (lambda: FeatureSpace({"a": "floating"}), "Invalid feature type: floating"),
        (lambda: FeatureSpace({"a": "float"}, crosses=[("a", "b")]), "unknown features"),
        (lambda: FeatureSpace({"a": "float"}, crosses=[("a", "a")], crossing_dim=0),
         "crossing_dim"),
        (lambda: FeatureSpace.cross(("a", "b"), 4, output_mode="float"), "'int', 'one_hot'"),
        (lambda: FeatureSpace.string_categorical(output_mode="count"), "'float'"),
        (lambda: FeatureSpace({"a": "float_normalized"})({"a": [1.0]}), "call `.adapt"),
        (lambda: FeatureSpace({"a": "float"}).adapt([1.0]), "dict of arrays/lists"),
        (lambda: FeatureSpace({"a": "float"})([1.0]), "called with a dict"),
        (lambda: FeatureSpace({"a": FeatureSpace.feature("float32", autoconv.layers.Rescaling(
            2.0), "one_hot")})({"a": [1.0]}), "should return an integer dtype"),
        (lambda: FeatureSpace({"a": FeatureSpace.string_categorical(output_mode="int")}).adapt(
            {"a": ["x"]}), "Cannot concatenate features"),
        (lambda: FeatureSpace({"a": "float"})({"a": [1.0], "b": [2.0]}), r"unknown \['b'\]"),
        (lambda: FeatureSpace({"a": "float"})({"b": [2.0]}), r"missing \['a'\]"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unadaptable_features_need_no_adapt_and_single_samples_lose_the_batch_axis():
    space = FeatureSpace(
        {"x": "float", "y": FeatureSpace.float_rescaled(scale=0.5), "n": "integer_hashed"},
        hashing_dim=3,
    )
    out = space({"x": [1.0, 2.0], "y": [[4.0], [6.0]], "n": [5, 5]})
    assert out.shape == (2, 3 + 1 + 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 3:], [[1.0, 2.0], [2.0, 3.0]])
    assert out[0, :3].sum() == 1 and np.array_equal(out[0, :3], out[1, :3])
    np.testing.assert_array_equal(space({"x": 2.0, "y": 6.0, "n": 5}), out[1])


def test_a_custom_text_vectorization_feature_adapts_unless_given_its_vocabulary():
    # FeatureSpace's docstring example: a TF-IDF paragraph feature (Keras adapts it).
    data = {"text": ["1st string", "2nd string", "3rd string"]}
    tf_idf = autoconv.layers.TextVectorization(output_mode="tf_idf")
    feature = FeatureSpace.feature(preprocessor=tf_idf, dtype="string", output_mode="float")
    space = FeatureSpace({"text": feature}, output_mode="concat")
    space.adapt(Dataset.from_tensor_slices(data))
    out = np.asarray(space(data))
    # idf = log(1 + documents / (1 + documents holding the token)): "string" in 3, the rest in 1.
    assert out.shape == (3, 5)
    np.testing.assert_allclose(out[:, 1], np.log(1 + 3 / 4), rtol=1e-6)
    np.testing.assert_allclose(np.sort(out[:, 2:], axis=1)[:, -1], np.log(1 + 3 / 2), rtol=1e-6)
    given = autoconv.layers.TextVectorization(vocabulary=["a", "b"])
    space = FeatureSpace({"text": FeatureSpace.feature("string", given, "int")}, output_mode="dict")
    space.adapt(Dataset.from_tensor_slices(data))
    assert given.get_vocabulary() == ["", "[UNK]", "a", "b"]


def test_encoded_features_and_inputs():
    space = adapted(concat_space, batch=None)
    encoded = space.get_encoded_features()
    assert encoded.shape == (None, len(KERAS["concat"]["output"][0]))
    assert space.get_encoded_features() is encoded
    with pytest.raises(ValueError, match=r"\['city', 'tag'\] hold strings"):
        space.get_inputs()
    numeric = FeatureSpace({"a": "float", "b": "integer_hashed"}, output_mode="dict")
    inputs = numeric.get_inputs()
    assert {k: (v.shape, v.dtype) for k, v in inputs.items()} == {
        "a": ((None, 1), "float32"), "b": ((None, 1), "int32")}  # fmt: skip
    assert {k: v.shape for k, v in numeric.get_encoded_features().items()} == {
        "a": (None, 1), "b": (None, 32)}  # fmt: skip


def tutorial_model(space: FeatureSpace) -> autoconv.Model:
    """keras-io's FeatureSpace tutorial's training model (smaller): Dense layers on the
    encoded features."""
    autoconv.utils.set_random_seed(3)
    encoded = space.get_encoded_features()
    x = autoconv.layers.Dense(8, activation="relu")(encoded)
    outputs = autoconv.layers.Dense(1, activation="sigmoid")(x)
    return autoconv.Model(inputs=encoded, outputs=outputs)


def test_a_model_fits_the_encoded_features():
    space = adapted(concat_space, batch=None)
    labels = (table()["income"] > 2.5).astype("float32")[:, None]
    ds = Dataset.from_tensor_slices((table(), labels)).batch(4)
    model = tutorial_model(space)
    model.compile("adam", "binary_crossentropy")
    history = model.fit(ds.map(lambda x, y: (space(x), y)), epochs=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.cudasim
def test_fit_on_the_gpu_gives_the_cpus_losses():
    space = adapted(concat_space, batch=None)
    x = space(table())
    y = (table()["income"] > 2.5).astype("float32")[:, None]
    fit_on_both_devices(lambda: tutorial_model(space), x, y, loss="binary_crossentropy")
