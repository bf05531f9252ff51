"""Keras's tabular regression datasets, Boston and California housing, shared: one ``.npz``
of numeric arrays ``x`` and ``y`` (read without pickle), shuffled by a seeded NumPy
``RandomState`` and split into train and test parts exactly as Keras 3 splits them."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from autoconv.datasets.files import DatasetFileError
from autoconv.datasets.store import RemoteFile, find

KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# A housing file is a few MB at most: a larger member is refused before it is read
MOST_BYTES = 64 * 2**20

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def check_test_split(test_split: float) -> None:
    if not isinstance(test_split, int | float) or not 0 <= test_split < 1:
        raise ValueError(
            f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 "
            "(exclusive of 1)."
        )


def load_arrays(
    dataset: str, path: str, sha256: str, data_dir: str | Path | None, download: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` of Keras's ``path`` (a file name, found or fetched as autoconv's other
    datasets are, checked against Keras's sha256; or a path to the file itself)."""
    folder = Path(path).parent if Path(path).parent != Path() else None
    remote = RemoteFile(Path(path).name, KERAS_DATASETS + f"{dataset}.npz", file_sha256=sha256)
    found = find(dataset, remote, data_dir if folder is None else folder, download)
    try:
        with zipfile.ZipFile(found) as archive:
            for member in ("x.npy", "y.npy"):
                if archive.getinfo(member).file_size > MOST_BYTES:
                    raise DatasetFileError(f"{found}: {member} is larger than {MOST_BYTES} bytes")
        with np.load(found, allow_pickle=False) as arrays:
            x, y = arrays["x"], arrays["y"]
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise DatasetFileError(f"{found}: not a valid {dataset} file ({error})") from None
    if len(x) != len(y):
        raise DatasetFileError(f"{found}: x has {len(x)} samples but y has {len(y)}")
    return x, y


def shuffled_split(x: np.ndarray, y: np.ndarray, test_split: float, seed: int) -> Split:
    """Keras's: the samples shuffled by ``RandomState(seed)``, the last ``test_split`` of them
    the test part."""
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))
