"""CIFAR-100: 50,000 training and 10,000 test RGB images, 32x32 uint8, labelled with one of 100
fine classes, grouped in 20 coarse ones (``keras.datasets.cifar100``).

Not shipped: the binary version (no pickle) is downloaded on request from the official site
into the cache, verified against its published md5, and unpacked from the tar archive in
memory. Each record is its coarse label byte, its fine label byte, then 3072 pixel bytes (the
red, green and blue 32x32 planes), as CIFAR-10's with one more label byte.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from autoconv.datasets.cifar10 import PIXELS, parse_records, read_members
from autoconv.datasets.files import DatasetFileError
from autoconv.datasets.store import RemoteFile, find

NAME = "cifar100"
ARCHIVE = RemoteFile(
    "cifar-100-binary.tar.gz",
    "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    file_md5="03b5dce01913d631647c71ecec9e9cb8",
)
TRAIN_MEMBER, TEST_MEMBER = "cifar-100-binary/train.bin", "cifar-100-binary/test.bin"
LABELS = {"coarse": (0, 20), "fine": (1, 100)}  # label_mode: (its byte in a record, classes)
MEMBER_BYTES = 50_000 * (2 + PIXELS)  # the training file's size: no member may be larger


def load_data(
    label_mode: str = "fine", data_dir: str | Path | None = None, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))``: uint8 images (N, 32, 32, 3), uint8 labels
    (N, 1) of the ``label_mode``'s classes ("fine": 100, "coarse": 20), as in Keras."""
    if label_mode not in LABELS:
        raise ValueError(
            f'`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode={label_mode}.'
        )
    label, classes = LABELS[label_mode]
    path = find(NAME, ARCHIVE, data_dir, download)
    try:
        train, test = read_members(path, [TRAIN_MEMBER, TEST_MEMBER], MEMBER_BYTES)
    except (tarfile.TarError, KeyError, OSError, EOFError) as error:
        raise DatasetFileError(f"{path}: not a valid CIFAR-100 binary archive ({error})") from None
    return tuple(  # type: ignore[return-value]
        parse_records(data, str(path), label_bytes=2, label=label, classes=classes)
        for data in (train, test)
    )
