"""The IDX file format of MNIST and Fashion-MNIST, parsed with every header field checked.

Layout: a big-endian int32 magic (0x00000803 for uint8 images of 3 dims, 0x00000801 for
uint8 labels), one big-endian int32 per dimension, then the uint8 data in row-major order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoconv.datasets.files import DatasetFileError, read_bytes
from autoconv.datasets.store import RemoteFile, find_all

MAGIC_IMAGES = 0x00000803
MAGIC_LABELS = 0x00000801


def parse_idx(content: bytes, expected_magic: int, name: str) -> np.ndarray:
    """The uint8 array an IDX file holds; ``name`` is used in error messages."""
    if len(content) < 8:
        raise DatasetFileError(f"{name}: too short to be an IDX file ({len(content)} bytes)")
    magic = int.from_bytes(content[:4], "big")
    if magic != expected_magic:
        raise DatasetFileError(
            f"{name}: wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"({'images' if expected_magic == MAGIC_IMAGES else 'labels'})"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DatasetFileError(f"{name}: truncated header")
    dims = tuple(int(d) for d in np.frombuffer(content[4:header], dtype=">i4"))
    expected = int(np.prod(dims)) + header
    if len(content) != expected:
        raise DatasetFileError(
            f"{name}: header says {dims} ({expected} bytes) but the file has {len(content)} bytes"
            f" ({'truncated' if len(content) < expected else 'trailing data'})"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(dims)


def load_idx_pair(
    images_path: Path, labels_path: Path, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, rows, cols) and labels (N,) from two IDX files, checked against each other."""
    images = parse_idx(read_bytes(images_path), MAGIC_IMAGES, str(images_path))
    labels = parse_idx(read_bytes(labels_path), MAGIC_LABELS, str(labels_path))
    if len(images) != len(labels):
        raise DatasetFileError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    if labels.size and labels.max() >= num_classes:
        raise DatasetFileError(
            f"{labels_path}: label {labels.max()} is out of range for {num_classes} classes"
        )
    return images, labels


def load_idx_dataset(
    name: str, files: dict[str, RemoteFile], data_dir: str | Path | None, download: bool
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Find (and verify, or fetch) the four files of an MNIST-layout dataset and parse them.

    ``files`` has the keys train_images, train_labels, test_images, test_labels.
    """
    paths = find_all(name, files, data_dir, download)
    train = load_idx_pair(paths["train_images"], paths["train_labels"])
    test = load_idx_pair(paths["test_images"], paths["test_labels"])
    return train, test
