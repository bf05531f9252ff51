"""``keras.preprocessing``'s image helpers: ``autoconv.preprocessing.image.load_img`` and the
rest, and ``image_dataset_from_directory``."""

from autoconv.data.directory import image_dataset_from_directory
from autoconv.preprocessing import image

__all__ = ["image", "image_dataset_from_directory"]
