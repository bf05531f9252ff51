"""``keras.preprocessing``: the image helpers (``autoconv.preprocessing.image.load_img`` and
the rest), ``sequence.pad_sequences``, ``image_dataset_from_directory`` and
``text_dataset_from_directory`` and ``timeseries_dataset_from_array``."""

from autoconv.data.directory import image_dataset_from_directory
from autoconv.data.text_directory import text_dataset_from_directory
from autoconv.data.timeseries import timeseries_dataset_from_array
from autoconv.preprocessing import image, sequence

__all__ = [
    "image", "image_dataset_from_directory", "sequence", "text_dataset_from_directory",
    "timeseries_dataset_from_array",
]  # fmt: skip
