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
RECORD = 1 + 3 * 32 * 32


def parse_batches(blobs: list[bytes], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) and labels (N, 1) from CIFAR-10 binary batch files."""
    data = b"".join(blobs)
    if len(data) % RECORD:
        raise DatasetFileError(f"{name}: {len(data)} bytes is not a whole number of records")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, :1].copy()  # (N, 1), as Keras's cifar10.load_data
    if labels.size and labels.max() >= 10:
        raise DatasetFileError(f"{name}: label {labels.max()} is out of range for 10 classes")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return images, labels


def load_data(
    data_dir: str | Path | None = None, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))``: uint8 images (N, 32, 32, 3), uint8 labels
    (N, 1) as in Keras."""
    path = find(NAME, ARCHIVE, data_dir, download)
    try:
        with tarfile.open(path, "r:gz") as archive:

            def read(members: list[str]) -> list[bytes]:
                blobs = []
                for member in members:
                    f = archive.extractfile(member)
                    if f is None:
                        raise KeyError(member)
                    blobs.append(f.read())
                return blobs

            train = parse_batches(read(TRAIN_MEMBERS), str(path))
            test = parse_batches(read(TEST_MEMBERS), str(path))
    except (tarfile.TarError, KeyError, OSError, EOFError) as error:
        raise DatasetFileError(f"{path}: not a valid CIFAR-10 binary archive ({error})") from None
    return train, test
