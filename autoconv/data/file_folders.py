"""What Keras 3's text and audio folder utilities share (keras/src/utils/text_dataset_utils.py
and audio_dataset_utils.py): the checks of their labelling arguments, and a folder's files
listed, split and batched into Datasets on :mod:`autoconv.data.directory`'s listing, seeded
shuffle and split, so each subset holds the files Keras's holds."""

from __future__ import annotations

import os
from collections.abc import Callable
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


def checked_labels(
    labels: Any, label_mode: str | None, class_names: Any, batch_size: Any, labels_message: str
) -> tuple[Any, str | None]:
    """(labels, label_mode) after Keras's checks of them, of ``class_names`` and of
    ``batch_size``; both None when either is (the files alone). ``labels_message``: Keras's
    words for labels that are neither "inferred", None nor a list."""
    if not _is_inferred(labels) and labels is not None:
        if not isinstance(labels, list | tuple):
            raise ValueError(f"{labels_message} Received: labels={labels}")
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
    if batch_size is not None and (not isinstance(batch_size, int | np.integer) or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive integer or None. Received: {batch_size}")
    if labels is None or label_mode is None:
        return None, None
    return labels, label_mode


def folder_datasets(
    directory: str | os.PathLike,
    labels: Any,
    label_mode: str | None,
    class_names: list[str] | None,
    batch_size: int | None,
    shuffle: bool,
    seed: int | None,
    validation_split: float | None,
    subset: str | None,
    follow_links: bool,
    verbose: bool,
    *,
    formats: tuple[str, ...],
    caller: str,
    kind: str,
    allowed: str,
    files: Callable[[np.ndarray, np.ndarray | None], Any],
) -> Dataset | list[Dataset]:
    """The Dataset of ``directory``'s files with ``formats`` (``subset="both"``: the training
    and validation ones, a list), as Keras's ``caller`` makes it: ``files(paths, encoded
    labels or None)`` reads them by index (see :func:`files_dataset`); the dataset has
    ``class_names`` and ``file_paths``. A subset without files is Keras's error, naming their
    ``kind`` ("text") and the ``allowed`` formats ("Allowed format: .txt")."""
    check_validation_split_arg(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1e6)  # noqa: NPY002 - Keras draws it from NumPy's global RNG
    file_paths, labels, class_names = index_directory(
        directory, labels, formats=formats, class_names=class_names, shuffle=shuffle, seed=seed,
        follow_links=follow_links, verbose=verbose, caller=caller,
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
            raise ValueError(f"No {which}{kind} files found in directory {directory}. {allowed}")
        encoded = encode_labels(subset_labels, label_mode, num_classes) if label_mode else None
        dataset = files_dataset(
            files(np.array(paths), encoded), len(paths), batch_size,
            buffer if shuffled else None, seed,
        )  # fmt: skip
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
