"""Input pipelines: :class:`Dataset` (the ``tf.data`` methods the Keras tutorials call),
:func:`image_dataset_from_directory`, which reads a folder of images into one,
:class:`PyDataset` (``keras.utils.PyDataset``: batches made by a class's ``__getitem__``) and
:class:`TextLineDataset` (the lines of text files).

>>> import numpy as np
>>> ds = Dataset.from_tensor_slices((np.arange(5), np.arange(5) * 10)).batch(2)
>>> len(ds), [y.tolist() for _, y in ds]
(3, [[0, 10], [20, 30], [40]])
"""

from autoconv.data.dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from autoconv.data.directory import image_dataset_from_directory
from autoconv.data.py_dataset import PyDataset
from autoconv.data.shapes import TensorSpec
from autoconv.data.text_lines import TextLineDataset

__all__ = [
    "AUTOTUNE",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "Dataset",
    "PyDataset",
    "TensorSpec",
    "TextLineDataset",
    "image_dataset_from_directory",
]
