"""Helpers users know from Keras."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.data.directory import image_dataset_from_directory
from autoconv.ops import one_hot
from autoconv.preprocessing.image import array_to_img, img_to_array, load_img, save_img
from autoconv.random import set_random_seed

__all__ = [
    "array_to_img",
    "image_dataset_from_directory",
    "img_to_array",
    "load_img",
    "save_img",
    "set_random_seed",
    "to_categorical",
]


def to_categorical(y: Any, num_classes: int | None = None) -> np.ndarray:
    """Integer class labels (N,) as one-hot float32 rows (N, num_classes).

    ``num_classes`` defaults to max(y) + 1, as in Keras; a trailing axis of size 1 is dropped.

    >>> to_categorical([0, 2])
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    labels = np.asarray(y)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if num_classes is None:
        if labels.size == 0:
            raise ValueError("to_categorical: num_classes is required for empty labels")
        num_classes = int(labels.max()) + 1
    return one_hot(labels, num_classes, dtype=np.float32)
