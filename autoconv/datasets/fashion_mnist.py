"""Fashion-MNIST (Zalando): 28x28 uint8 images of clothing, 10 classes, MNIST's layout.

Not shipped: downloaded on request from the dataset's official mirror into the cache and
verified against its published md5 checksums.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoconv.datasets.idx import load_idx_dataset
from autoconv.datasets.store import RemoteFile

NAME = "fashion_mnist"
MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FILES = {
    "train_images": RemoteFile(
        "train-images-idx3-ubyte.gz",
        MIRROR + "train-images-idx3-ubyte.gz",
        file_md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    ),
    "train_labels": RemoteFile(
        "train-labels-idx1-ubyte.gz",
        MIRROR + "train-labels-idx1-ubyte.gz",
        file_md5="25c81989df183df01b3e8a0aad5dffbe",
    ),
    "test_images": RemoteFile(
        "t10k-images-idx3-ubyte.gz",
        MIRROR + "t10k-images-idx3-ubyte.gz",
        file_md5="bef4ecab320f06d8554ea6380940ec79",
    ),
    "test_labels": RemoteFile(
        "t10k-labels-idx1-ubyte.gz",
        MIRROR + "t10k-labels-idx1-ubyte.gz",
        file_md5="bb300cfdad3c16e7a12a480ee83cd310",
    ),
}


def load_data(
    data_dir: str | Path | None = None, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))``: uint8 images (N, 28, 28), labels (N,)."""
    return load_idx_dataset(NAME, FILES, data_dir, download)
