"""autoconv.data.TextLineDataset: the lines of text files as ``tf.data.TextLineDataset``
gives them (TensorFlow's line reader splits at "\\n" and drops every "\\r"; a last line
without "\\n" is kept, no empty line follows a final "\\n")."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

import pytest

from autoconv.data import UNKNOWN_CARDINALITY, Dataset, TextLineDataset

FILES = {
    "a.txt": b"first <br />\r\nsecond\n\nlast",
    "b.txt": b"b1\nb2\nb3\n",
    "empty.txt": b"",
    "bad.txt": b"caf\xc3\xa9 \xff\n",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


@pytest.mark.parametrize(
    ("names", "kwargs", "expected"),
    [
        ("a.txt", {}, ["first <br />", "second", "", "last"]),
        (["a.txt", "b.txt"], {}, ["first <br />", "second", "", "last", "b1", "b2", "b3"]),
        (["empty.txt", "b.txt"], {}, ["b1", "b2", "b3"]),
        (["bad.txt"], {}, ["café \ufffd"]),
        (
            ["a.txt", "b.txt"],
            {"num_parallel_reads": 2},
            ["first <br />", "b1", "second", "b2", "", "b3", "last"],
        ),
    ],
)
def test_lines(folder: Path, names: Any, kwargs: dict, expected: list[str]) -> None:
    paths = [str(folder / n) for n in names] if isinstance(names, list) else folder / names
    dataset = TextLineDataset(paths, **kwargs)
    assert [line.numpy() for line in dataset] == expected
    assert dataset.cardinality() == UNKNOWN_CARDINALITY


@pytest.mark.parametrize(
    ("compression", "compress"), [("GZIP", gzip.compress), ("ZLIB", zlib.compress)]
)
def test_compressed_files(tmp_path: Path, compression: str, compress: Any) -> None:
    (tmp_path / "lines").write_bytes(compress(FILES["b.txt"]))
    dataset = TextLineDataset([str(tmp_path / "lines")], compression_type=compression)
    assert list(dataset) == ["b1", "b2", "b3"]


def test_a_dataset_of_names_and_the_pipeline(folder: Path) -> None:
    names = Dataset.from_tensor_slices([str(folder / "b.txt"), str(folder / "a.txt")])
    batches = [batch.tolist() for batch in TextLineDataset(names).batch(4)]
    assert batches == [["b1", "b2", "b3", "first <br />"], ["second", "", "last"]]


@pytest.mark.parametrize(
    ("filenames", "kwargs", "error", "match"),
    [
        ([1, 2], {}, TypeError, "must be a path or a list of paths"),
        ("a.txt", {"compression_type": "BZIP2"}, ValueError, "compression_type must be one of"),
    ],
)
def test_refused_arguments(filenames: Any, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        TextLineDataset(filenames, **kwargs)


def test_a_missing_file_fails_when_read(tmp_path: Path) -> None:
    dataset = TextLineDataset(str(tmp_path / "missing.txt"))
    with pytest.raises(FileNotFoundError):
        list(dataset)
