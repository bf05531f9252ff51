"""Datasets with Keras's interface: ``mnist.load_data()`` -> ((x_train, y_train), (x_test, y_test)).

MNIST ships with autoconv; Fashion-MNIST, CIFAR-10, CIFAR-100, Keras's Boston and
California housing tables and its IMDB and Reuters word sequences are downloaded on request,
verified by checksum and cached. See :mod:`autoconv.datasets.store` for where files are looked for.
``export(name, folder)`` writes one as a folder of PNG files (:mod:`autoconv.datasets.folders`).
"""

from autoconv.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)
from autoconv.datasets.files import DatasetFileError
from autoconv.datasets.folders import export

# The datasets the command line trains the course's models on (CIFAR-100's 100 classes are
# the Keras namespace's alone).
DATASETS = {"mnist": mnist, "fashion_mnist": fashion_mnist, "cifar10": cifar10}

__all__ = [
    "DATASETS", "DatasetFileError", "boston_housing", "california_housing", "cifar10",
    "cifar100", "export", "fashion_mnist", "imdb", "mnist", "reuters",
]  # fmt: skip
