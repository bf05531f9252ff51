"""Writes tests/data/files/keras_text_directory.json: what Keras 3's
``keras.utils.text_dataset_from_directory`` (it needs TensorFlow) gives for the folder that
``make_folder`` of tests/data/test_text_directory.py writes, so that the test compares with it
where TensorFlow is not installed. Not run by the tests; rerun by hand:

    pip install "keras==3.15.1" tensorflow-cpu
    python -m tests.keras_reference.text_directory_files
"""

import json
import os
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # (after the backend is chosen)

from tests.data.test_text_directory import make_folder

# (arguments, which subset to record in order: the unshuffled ones)
CASES = [
    {"shuffle": False, "batch_size": 3},
    {"shuffle": False, "batch_size": None, "max_length": 9, "label_mode": "categorical"},
    {"shuffle": True, "seed": 7, "validation_split": 0.4, "subset": "both", "batch_size": 2,
     "label_mode": "binary"},
    {"shuffle": False, "labels": None, "batch_size": 4},
]  # fmt: skip


def records(dataset, labelled: bool) -> list:
    out = []
    for element in dataset:
        texts, labels = element if labelled else (element, None)
        texts = np.asarray(texts).reshape(-1)
        out.append({
            "texts": [t.decode("utf-8", errors="replace") for t in texts],
            "labels": None if labels is None else np.asarray(labels).tolist(),
        })  # fmt: skip
    return out


if __name__ == "__main__":
    results = []
    with tempfile.TemporaryDirectory() as folder:
        make_folder(Path(folder))
        for case in CASES:
            made = keras.utils.text_dataset_from_directory(folder, **case)
            labelled = case.get("labels", "inferred") is not None
            subsets = made if isinstance(made, list) else [made]
            results.append({
                "case": case,
                "class_names": subsets[0].class_names,
                "subsets": [records(subset, labelled) for subset in subsets],
            })  # fmt: skip
    out = Path(__file__).resolve().parents[1] / "data" / "files" / "keras_text_directory.json"
    out.write_text(json.dumps(results, ensure_ascii=False) + "\n", encoding="utf-8")
