"""Helpers users know from Keras."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.config import (
    disable_interactive_logging,
    enable_interactive_logging,
    is_interactive_logging_enabled,
)
from autoconv.data.directory import image_dataset_from_directory
from autoconv.data.py_dataset import PyDataset, Sequence
from autoconv.layers import clear_session
from autoconv.ops.engine import one_hot
from autoconv.plot_model import model_to_dot, plot_model
from autoconv.preprocessing.image import array_to_img, img_to_array, load_img, save_img
from autoconv.seeds import set_random_seed
from autoconv.windows import MAX_SIZE, is_int

__all__ = [
    "PyDataset",
    "Sequence",
    "array_to_img",
    "clear_session",
    "disable_interactive_logging",
    "enable_interactive_logging",
    "image_dataset_from_directory",
    "img_to_array",
    "is_interactive_logging_enabled",
    "load_img",
    "model_to_dot",
    "plot_model",
    "save_img",
    "set_random_seed",
    "to_categorical",
]


def to_categorical(y: Any, num_classes: int | None = None) -> np.ndarray:
    """Integer class labels (N,) as one-hot rows (N, num_classes), float64 as Keras's (``fit``
    takes them as float32).

    ``num_classes`` defaults to max(y) + 1, as in Keras; a trailing axis of size 1 is dropped.

    >>> to_categorical([0, 2])
    array([[1., 0., 0.],
           [0., 0., 1.]])
    """
    labels = np.asarray(y)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.dtype.kind not in "iuf" or (
        labels.dtype.kind == "f" and not np.all(np.isfinite(labels) & (labels == np.round(labels)))
    ):
        raise ValueError(
            f"to_categorical: the labels must be whole numbers (class indices), got "
            f"{_sample(labels)}"
        )
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"to_categorical: the labels must be non-negative class indices, got {labels.min()}"
        )
    if num_classes is None:
        if labels.size == 0:
            raise ValueError("to_categorical: num_classes is required for empty labels")
        num_classes = int(labels.max()) + 1
        if num_classes > MAX_SIZE:
            raise ValueError(
                f"to_categorical: the largest label, {labels.max()}, asks for more than "
                f"{MAX_SIZE} classes"
            )
    if not is_int(num_classes) or not 1 <= num_classes <= MAX_SIZE:
        raise ValueError(f"to_categorical: num_classes must be a positive int, got {num_classes!r}")
    if labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"to_categorical: label {labels.max()} does not fit num_classes={num_classes} "
            f"(labels must lie in [0, {num_classes}))"
        )
    return one_hot(labels, int(num_classes), dtype=np.float64)


def _sample(labels: np.ndarray) -> str:
    """A few of ``labels``, for an error message."""
    flat = labels.reshape(-1)
    return f"dtype {labels.dtype}, values {flat[:5].tolist()}{' ...' if flat.size > 5 else ''}"
