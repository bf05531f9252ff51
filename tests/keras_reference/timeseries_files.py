"""Writes tests/data/files/keras_timeseries.json: the batches Keras 3's
``keras.utils.timeseries_dataset_from_array`` gives (it needs TensorFlow's tf.data), so that
tests/data/test_timeseries.py compares with them where TensorFlow is not installed. Not run by
the tests; rerun by hand:

    pip install "keras==3.15.1" tensorflow-cpu && python tests/keras_reference/timeseries_files.py
"""

import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # (after the backend is chosen)

CASES = [
    {"n": 10, "sequence_length": 3, "sequence_stride": 1, "sampling_rate": 1, "batch_size": 4,
     "start_index": None, "end_index": None, "targets": True},
    {"n": 20, "sequence_length": 4, "sequence_stride": 3, "sampling_rate": 2, "batch_size": 2,
     "start_index": 2, "end_index": 17, "targets": True},
    {"n": 12, "sequence_length": 5, "sequence_stride": 2, "sampling_rate": 1, "batch_size": None,
     "start_index": None, "end_index": None, "targets": False},
    {"n": 9, "sequence_length": 2, "sequence_stride": 1, "sampling_rate": 3, "batch_size": 3,
     "start_index": 1, "end_index": None, "targets": True},
    {"n": 8, "sequence_length": 9, "sequence_stride": 1, "sampling_rate": 1, "batch_size": 3,
     "start_index": None, "end_index": None, "targets": True},
]  # fmt: skip


def batches(case: dict) -> list:
    data = np.arange(case["n"] * 2).reshape(case["n"], 2)
    targets = np.arange(case["n"]) * 10 if case["targets"] else None
    dataset = keras.utils.timeseries_dataset_from_array(
        data, targets, case["sequence_length"], case["sequence_stride"], case["sampling_rate"],
        case["batch_size"], start_index=case["start_index"], end_index=case["end_index"],
    )  # fmt: skip
    if case["targets"]:
        return [[np.asarray(x).tolist(), np.asarray(y).tolist()] for x, y in dataset]
    return [np.asarray(x).tolist() for x in dataset]


if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "data" / "files" / "keras_timeseries.json"
    out.write_text(json.dumps([{"case": case, "batches": batches(case)} for case in CASES]))
