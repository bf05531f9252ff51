"""Writes tests/saving/files/keras_feature_space.json and keras_feature_space.keras: what Keras
3's ``keras.utils.FeatureSpace`` (its adapt needs TensorFlow's tf.data) gives on a small table
of features, its configs, and the ``.keras`` file it saves, so that tests/test_feature_space.py
compares with them where TensorFlow is not installed. Not run by the tests; rerun by hand:

    pip install "keras==3.15.1" tensorflow-cpu
    python -m tests.keras_reference.feature_space_files
"""

import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # (after the backend is chosen)
import tensorflow as tf
from keras.utils import FeatureSpace

FILES = Path(__file__).resolve().parents[1] / "saving" / "files"
TABLE = {
    "age": [23.0, 41.5, 35.0, 62.0, 18.0, 50.5, 29.0, 44.0, 71.0, 33.0],
    "city": ["oslo", "rome", "oslo", "lima", "rome", "oslo", "kyiv", "lima", "oslo", "rome"],
    "rooms": [1, 3, 2, 3, 1, 2, 3, 5, 2, 3],
    "income": [1.5, 3.0, 2.25, 4.0, 0.5, 3.5, 2.0, 2.75, 1.0, 5.0],
    "code": [7, 12, 7, 99, 12, 3, 7, 12, 5, 3],
    "tag": ["x", "y", "z", "x", "x", "w", "y", "z", "x", "y"],
}


def concat_space():
    """Every feature type, a cross; "concat" (adapted on an unbatched dataset of dicts)."""
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


def dict_space():
    """Integer outputs, a rescaled and a plain float; "dict" (adapted on batches of 4)."""
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


def table():
    return {key: np.array(values) for key, values in TABLE.items()}


def plain(value):
    """A config or output as JSON (Keras's shared-object ids left out)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


if __name__ == "__main__":
    data = table()
    dataset = tf.data.Dataset.from_tensor_slices(data)
    concat = concat_space()
    concat.adapt(dataset)
    concat.save(FILES / "keras_feature_space.keras")
    by_dict = dict_space()
    by_dict.adapt(dataset.batch(4))
    sample = {key: values[1] for key, values in data.items()}
    dict_data = {key: data[key] for key in by_dict.features}  # (it takes its features only)
    dict_sample = {key: sample[key] for key in by_dict.features}
    record = {
        "table": TABLE,
        "concat": {
            "config": plain(keras.saving.serialize_keras_object(concat)),
            "output": np.asarray(concat(data)).tolist(),
            "sample": np.asarray(concat(sample)).tolist(),
            "dtype": str(np.asarray(concat(data)).dtype),
        },
        "dict": {
            "config": plain(keras.saving.serialize_keras_object(by_dict)),
            "output": {k: np.asarray(v).tolist() for k, v in by_dict(dict_data).items()},
            "dtypes": {k: str(np.asarray(v).dtype) for k, v in by_dict(dict_data).items()},
            "sample": {k: np.asarray(v).tolist() for k, v in by_dict(dict_sample).items()},
        },
    }
    text = json.dumps(record, indent=1) + "\n"
    (FILES / "keras_feature_space.json").write_text(text, encoding="utf-8")
