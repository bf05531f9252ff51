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
from autoconv.data.directory import (
    _is_inferred,
    check_validation_split_arg,
    encode_labels,
    files_dataset,
    get_training_or_validation_split,
    index_directory,
)

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
    if not _is_inferred(labels) and labels is not None:
        if not isinstance(labels, list | tuple):
            raise ValueError(
                "`labels` argument should be a list/tuple of integer labels, of the same size "
                "as the number of text files in the target directory. If you wish to infer the "
                "labels from the subdirectory names in the target directory, pass "
                '`labels="inferred"`. If you wish to get a dataset that only contains text '
                f"samples (no labels), pass `labels=None`. Received: labels={labels}"
            )
        if class_names:
            raise ValueError(
                'You can only pass `class_names` if `labels="inferred"`. Received: '
                f"labels={labels}, and class_names={class_names}"
            )
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError(
            '`label_mode` argument must be one of "int", "categorical", "binary", or None. '
            f"Received: label_mode={label_mode}"
        )
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    if batch_size is not None and (not isinstance(batch_size, int | np.integer) or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive integer or None. Received: {batch_size}")
    if max_length is not None and (not isinstance(max_length, int | np.integer) or max_length < 0):
        raise ValueError(f"`max_length` must be a non-negative integer. Received: {max_length}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    check_validation_split_arg(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1e6)  # noqa: NPY002 - Keras draws it from NumPy's global RNG
    file_paths, labels, class_names = index_directory(
        directory, labels, formats=FORMATS, class_names=class_names, shuffle=shuffle, seed=seed,
        follow_links=follow_links, verbose=verbose, caller="text_dataset_from_directory",
    )  # fmt: skip
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(
            'When passing `label_mode="binary"`, there must be exactly 2 class_names. '
            f"Received: class_names={class_names}"
        )
    buffer = batch_size * 8 if batch_size is not None else 1024
    num_classes = len(class_names) if class_names else 0

    def make(paths: list[str], subset_labels: Any, shuffled: bool, which: str) -> Dataset:
        if not paths:
            raise ValueError(
                f"No {which}text files found in directory {directory}. Allowed format: .txt"
            )
        files = TextFiles(
            np.array(paths),
            encode_labels(subset_labels, label_mode, num_classes) if label_mode else None,
            max_length,
        )
        dataset = files_dataset(files, len(paths), batch_size, buffer if shuffled else None, seed)
        dataset.class_names = class_names
        dataset.file_paths = paths
        return dataset

    if subset == "both":
        train = get_training_or_validation_split(file_paths, labels, validation_split, "training")
        val = get_training_or_validation_split(file_paths, labels, validation_split, "validation")
        return [make(*train, shuffle, "training "), make(*val, False, "validation ")]
    file_paths, labels = get_training_or_validation_split(
        file_paths, labels, validation_split, subset
    )
    return make(file_paths, labels, shuffle, "")


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
