"""``text_dataset_from_directory``: a folder of ``.txt`` files (one sub-folder per class) as a
Dataset of (texts, labels) batches, a port of Keras 3's keras/src/utils/text_dataset_utils.py
on the listing, seeded shuffle and split of :mod:`autoconv.data.directory` (so a script ported
from Keras gets the same files in each subset, and the same labels and messages)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from autoconv.data.dataset import Dataset
from autoconv.data.file_folders import checked_labels, folder_datasets

FORMATS = (".txt",)


def text_dataset_from_directory(
    directory: str | os.PathLike,
    labels: Any = "inferred",
    label_mode: str | None = "int",
    class_names: list[str] | None = None,
    batch_size: int | None = 32,
    max_length: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    follow_links: bool = False,
    format: str = "tf",
    verbose: bool = True,
) -> Dataset | list[Dataset]:
    """A Dataset of (texts, labels) batches read from ``directory``'s ``.txt`` files, as
    Keras's: texts a NumPy array of Python strings (batch,) (Keras gives ``tf.string``
    bytes; autoconv decodes them as UTF-8, a bad byte becoming U+FFFD), each the file's first
    ``max_length`` bytes when given; labels by ``label_mode`` as for
    :func:`~autoconv.data.directory.image_dataset_from_directory` ("int", "categorical",
    "binary", or None for the texts alone). ``labels``, ``class_names``, ``shuffle``,
    ``seed``, ``validation_split``, ``subset`` ("both": a list of the two datasets) and
    ``follow_links`` are Keras's; ``batch_size=None`` yields single texts. The dataset has
    ``class_names`` and ``file_paths``."""
    labels, label_mode = checked_labels(
        labels, label_mode, class_names, batch_size,
        "`labels` argument should be a list/tuple of integer labels, of the same size as the "
        "number of text files in the target directory. If you wish to infer the labels from "
        "the subdirectory names in the target directory, pass `labels=\"inferred\"`. If you "
        "wish to get a dataset that only contains text samples (no labels), pass `labels=None`.",
    )  # fmt: skip
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    if max_length is not None and (not isinstance(max_length, int | np.integer) or max_length < 0):
        raise ValueError(f"`max_length` must be a non-negative integer. Received: {max_length}")
    return folder_datasets(
        directory, labels, label_mode, class_names, batch_size, shuffle, seed, validation_split,
        subset, follow_links, verbose, formats=FORMATS, caller="text_dataset_from_directory",
        kind="text", allowed="Allowed format: .txt",
        files=lambda paths, encoded: TextFiles(paths, encoded, max_length),
    )  # fmt: skip


@dataclass(frozen=True)
class TextFiles:
    """Text files and their encoded labels (None: no labels), read by index."""

    paths: np.ndarray
    labels: np.ndarray | None
    max_length: int | None

    def read(self, path: str) -> str:
        """The file's text (its first ``max_length`` bytes, as TensorFlow's substr)."""
        with open(path, "rb") as f:
            data = f.read() if self.max_length is None else f.read(self.max_length)
        return data.decode("utf-8", errors="replace")

    def one(self, index: int) -> Any:
        text = self.read(str(self.paths[index]))
        return text if self.labels is None else (text, self.labels[index])

    def batch(self, indices: np.ndarray) -> Any:
        texts = np.array([self.read(str(path)) for path in self.paths[indices]], dtype=object)
        return texts if self.labels is None else (texts, self.labels[indices])
