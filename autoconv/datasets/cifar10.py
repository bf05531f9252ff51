"""CIFAR-10: 50,000 training and 10,000 test RGB images, 32x32 uint8, 10 classes.

Not shipped: the binary version (no pickle) is downloaded on request from the official site
into the cache, verified against its published md5, and unpacked from the tar archive in
memory. Each record is one label byte then 3072 pixel bytes (the red, green and blue 32x32
planes).
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from autoconv.datasets.files import DatasetFileError
from autoconv.datasets.store import RemoteFile, find

NAME = "cifar10"
ARCHIVE = RemoteFile(
    "cifar-10-binary.tar.gz",
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    file_md5="c32a1d4ab5d03f1284b67883e8d87530",
)
TRAIN_MEMBERS = [f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)]
TEST_MEMBERS = ["cifar-10-batches-bin/test_batch.bin"]
PIXELS = 3 * 32 * 32  # a record's image: the red, green and blue 32x32 planes
MEMBER_BYTES = 10_000 * (1 + PIXELS)  # a batch file's size: no member may be larger


def parse_records(
    data: bytes, name: str, label_bytes: int = 1, label: int = 0, classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) and labels (N, 1) from CIFAR binary records: ``label_bytes``
    label bytes (the ``label``-th of them kept, below ``classes``) then the image's pixels."""
    size = label_bytes + PIXELS
    if len(data) % size:
        raise DatasetFileError(f"{name}: {len(data)} bytes is not a whole number of records")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, size)
    labels = records[:, label : label + 1].copy()  # (N, 1), as Keras's load_data
    if labels.size and labels.max() >= classes:
        raise DatasetFileError(
            f"{name}: label {labels.max()} is out of range for {classes} classes"
        )
    images = records[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return images, labels


def parse_batches(blobs: list[bytes], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) and labels (N, 1) from CIFAR-10 binary batch files."""
    return parse_records(b"".join(blobs), name)


def read_members(path: Path, members: list[str], most: int) -> list[bytes]:
    """The bytes of each of ``members`` of the gzipped tar archive at ``path``, each at most
    ``most`` bytes (a larger one is a DatasetFileError, before it is read); KeyError for one
    it lacks, tarfile's and gzip's errors for a damaged archive."""
    with tarfile.open(path, "r:gz") as archive:
        blobs = []
        for member in members:
            info = archive.getmember(member)
            f = archive.extractfile(info)
            if f is None:
                raise KeyError(member)
            if info.size > most:
                raise DatasetFileError(f"{path}: {member} holds {info.size} bytes, over {most}")
            blobs.append(f.read())
    return blobs


def load_data(
    data_dir: str | Path | None = None, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))``: uint8 images (N, 32, 32, 3), uint8 labels
    (N, 1) as in Keras."""
    path = find(NAME, ARCHIVE, data_dir, download)
    try:
        blobs = read_members(path, TRAIN_MEMBERS + TEST_MEMBERS, MEMBER_BYTES)
    except (tarfile.TarError, KeyError, OSError, EOFError) as error:
        raise DatasetFileError(f"{path}: not a valid CIFAR-10 binary archive ({error})") from None
    train = parse_batches(blobs[: len(TRAIN_MEMBERS)], str(path))
    return train, parse_batches(blobs[len(TRAIN_MEMBERS) :], str(path))
