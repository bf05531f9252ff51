"""keras.utils.text_dataset_from_directory: the texts, labels, batches and class names Keras
3.15 gives for one folder (expected values in files/keras_text_directory.json, written by
Keras 3.15.1 with TensorFlow 2.21: tests/keras_reference/text_directory_files.py), the
training subset's shuffled samples, decoding, and Keras's errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autoconv.utils import text_dataset_from_directory

KERAS = json.loads((Path(__file__).parent / "files" / "keras_text_directory.json").read_text())


def make_folder(root: Path) -> None:
    """Two classes of five texts each, a file that is not .txt in each, a hidden folder."""
    for label in ("neg", "pos"):
        (root / label).mkdir()
        for i in range(5):
            (root / label / f"{i}.txt").write_text(f"{label} review {i} ünïcödé", encoding="utf-8")
        (root / label / "notes.md").write_text("not a text sample")
    (root / ".hidden").mkdir()


def _records(dataset: Any, labelled: bool) -> list[dict[str, Any]]:
    out = []
    for element in dataset:
        texts, labels = element if labelled else (element, None)
        out.append({"texts": list(np.asarray(texts, dtype=object).reshape(-1)),
                    "labels": None if labels is None else np.asarray(labels).tolist()})  # fmt: skip
    return out


@pytest.mark.parametrize("expected", KERAS, ids=lambda e: json.dumps(e["case"]))
def test_what_keras_gives_for_one_folder(tmp_path, expected):
    make_folder(tmp_path)
    case = expected["case"]
    made = text_dataset_from_directory(tmp_path, **case, verbose=False)
    subsets = made if isinstance(made, list) else [made]
    labelled = case.get("labels", "inferred") is not None
    assert subsets[0].class_names == expected["class_names"]
    for subset, keras_records in zip(subsets, expected["subsets"], strict=True):
        ours = _records(subset, labelled)
        if case.get("shuffle") and subset is subsets[0]:  # TensorFlow's buffer shuffles anew
            flat = sorted((t, json.dumps(l)) for r in ours for t, l in _pairs(r))
            assert flat == sorted((t, json.dumps(l)) for r in keras_records for t, l in _pairs(r))
            assert [len(r["texts"]) for r in ours] == [len(r["texts"]) for r in keras_records]
        else:
            assert ours == keras_records


def _pairs(record: dict[str, Any]) -> list[tuple[str, Any]]:
    labels = record["labels"]
    if labels is None:
        return [(text, None) for text in record["texts"]]
    if len(record["texts"]) == 1 and not isinstance(labels[0], list):  # batch_size=None
        labels = [labels]
    return list(zip(record["texts"], labels, strict=True))


def test_texts_are_strings_and_bad_bytes_are_replaced(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_bytes("é".encode() + b"\xff")
    texts, labels = next(iter(text_dataset_from_directory(tmp_path, verbose=False)))
    assert texts.tolist() == ["é\ufffd"] and labels.tolist() == [0]
    cut = next(iter(text_dataset_from_directory(tmp_path, max_length=1, verbose=False)))[0]
    assert cut.tolist() == ["\ufffd"]  # half of a two-byte letter


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"labels": "folders"}, ValueError, "`labels` argument should be a list/tuple"),
        ({"labels": [0], "class_names": ["a"]}, ValueError, "You can only pass `class_names`"),
        ({"label_mode": "sparse"}, ValueError, "`label_mode` argument must be one of"),
        ({"label_mode": "binary", "class_names": ["neg"]}, ValueError, "exactly 2 class_names"),
        ({"validation_split": 0.2}, ValueError, "`validation_split` must be set, and inversely"),
        ({"max_length": -1}, ValueError, "`max_length` must be a non-negative integer"),
        ({"batch_size": 0}, ValueError, "`batch_size` must be a positive integer"),
    ],
)
def test_bad_arguments_are_kerass_errors(tmp_path, kwargs, error, message):
    make_folder(tmp_path)
    with pytest.raises(error, match=message):
        text_dataset_from_directory(tmp_path, verbose=False, **kwargs)


def test_a_missing_folder_and_an_empty_one_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="text_dataset_from_directory: no such directory"):
        text_dataset_from_directory(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No text files found in directory"):
        text_dataset_from_directory(tmp_path, verbose=False)
