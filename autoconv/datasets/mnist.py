"""MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 uint8, 10 classes.

Shipped with autoconv (see datasets/README.md for provenance, license and checksums).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoconv.datasets.idx import load_idx_dataset
from autoconv.datasets.store import RemoteFile

NAME = "mnist"
MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"
# content_md5: the published md5 of the decompressed files; file_md5: the mirror's gzip files.
FILES = {
    "train_images": RemoteFile(
        "train-images-idx3-ubyte.gz",
        MIRROR + "train-images-idx3-ubyte.gz",
        "6bbc9ace898e44ae57da46a324031adb",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    ),
    "train_labels": RemoteFile(
        "train-labels-idx1-ubyte.gz",
        MIRROR + "train-labels-idx1-ubyte.gz",
        "a25bea736e30d166cdddb491f175f624",
        "d53e105ee54ea40749a09fcbcd1e9432",
    ),
    "test_images": RemoteFile(
        "t10k-images-idx3-ubyte.gz",
        MIRROR + "t10k-images-idx3-ubyte.gz",
        "2646ac647ad5339dbf082846283269ea",
        "9fb629c4189551a2d022fa330f9573f3",
    ),
    "test_labels": RemoteFile(
        "t10k-labels-idx1-ubyte.gz",
        MIRROR + "t10k-labels-idx1-ubyte.gz",
        "27ae3e4e09519cfbb04c329615203637",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ),
}


def load_data(
    data_dir: str | Path | None = None, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))``: uint8 images (N, 28, 28), labels (N,).

    Files are looked for in ``data_dir``, ``$AUTOCONV_DATA``, the shipped copy, then the cache.
    """
    return load_idx_dataset(NAME, FILES, data_dir, download)
