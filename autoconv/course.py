"""The course's models and data, as the command line, the benchmarks and the tests use them.

- :func:`reference_model`: the MNIST convnet the course trains (93,322 parameters);
- :func:`large_model`: the 150x150x1 stack of the cats-vs-dogs chapter (8,459,242 parameters
  for 10 classes);
- :func:`rgb_classifier`: the RGB classifier of the flowers tutorial (``Rescaling``, three
  'same' convs, logits);
- :func:`xception`: the small Xception of keras-io's "Image classification from scratch" (cats
  vs dogs; 2,731,065 parameters for 180x180x3 inputs and 2 classes, one logit);
- :func:`load`: a dataset's train and test splits prepared for the reference model
  (:func:`prepare`: float32 images in [0, 1] with a channel axis, one-hot labels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from autoconv import layers, utils
from autoconv.datasets import DATASETS
from autoconv.models import Model, Sequential

INPUT_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}

Split = tuple[np.ndarray, np.ndarray]


def reference_model(input_shape: tuple[int, int, int] = (28, 28, 1)) -> Sequential:
    """The course's MNIST convnet (93,322 parameters for 28x28x1 inputs)."""
    return Sequential([layers.Input(shape=input_shape), *_reference_layers(10)])


def _reference_layers(classes: int) -> list[layers.Layer]:
    return [
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(classes, activation="softmax"),
    ]


def large_model(input_shape: tuple[int, int, int] = (150, 150, 1), classes: int = 10) -> Sequential:
    """The 150x150x1 stack: four convs, three 2x2 pools, Dropout, Dense(512), a softmax."""
    return Sequential([layers.Input(shape=input_shape), *_large_layers(classes)])


def _large_layers(classes: int) -> list[layers.Layer]:
    return [
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(classes, activation="softmax"),
    ]


def rgb_classifier(
    input_shape: tuple[int, int, int] = (180, 180, 3), classes: int = 5
) -> Sequential:
    """The flowers tutorial's classifier: Rescaling(1/255), three Conv2D(16|32|64, 3, 'same',
    relu) each followed by MaxPooling2D(), Flatten, Dense(128, relu), Dense(classes) logits."""
    return Sequential([layers.Input(shape=input_shape), *_rgb_layers(classes)])


def _rgb_layers(classes: int) -> list[layers.Layer]:
    return [
        layers.Rescaling(1 / 255),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(classes),
    ]


def xception(input_shape: tuple[int, int, int] = (180, 180, 3), classes: int = 2) -> Model:
    """keras-io's small Xception (``make_model`` of "Image classification from scratch"), a
    functional model: Rescaling(1/255), a strided Conv2D(128), three residual blocks of two
    SeparableConv2D(256|512|728) with BatchNormalization and a strided MaxPooling2D(3) added to
    a strided 1x1 Conv2D of the block's input, SeparableConv2D(1024), GlobalAveragePooling2D,
    Dropout(0.25) and a Dense of logits: one for 2 classes (binary cross-entropy), else
    ``classes``."""
    inputs = layers.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(128, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous_block_activation = x
    for size in [256, 512, 728]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x
    x = layers.SeparableConv2D(1024, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.25)(x)
    outputs = layers.Dense(1 if classes == 2 else classes)(x)
    return Model(inputs, outputs)


def prepare(images: np.ndarray, labels: np.ndarray, dataset: str) -> Split:
    """uint8 images -> float32 in [0, 1] with a channel axis; labels -> one-hot rows."""
    x = images.reshape(len(images), *INPUT_SHAPES[dataset]).astype(np.float32) / 255.0
    return x, utils.to_categorical(labels, 10)


def load(
    dataset: str, data_dir: Path | None = None, limit: int | None = None
) -> tuple[Split, Split]:
    """((x_train, y_train), (x_test, y_test)) of ``dataset``, prepared; the first ``limit``
    samples of each split when given. Missing or damaged files raise
    :class:`autoconv.datasets.DatasetFileError`."""
    (x_train, y_train), (x_test, y_test) = DATASETS[dataset].load_data(data_dir=data_dir)
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
        x_test, y_test = x_test[:limit], y_test[:limit]
    return prepare(x_train, y_train, dataset), prepare(x_test, y_test, dataset)


IMAGE_MODELS = {
    "rgb_classifier": _rgb_layers,
    "large": _large_layers,
    "reference": _reference_layers,
}


def image_model(
    name: str, input_shape: tuple[int, int, int], classes: int, augmentation: Any = None
) -> Sequential:
    """One of the course's models for images of ``input_shape`` with pixels in 0-255 (as image
    folders give them) and ``classes`` outputs: 'rgb_classifier' (the flowers tutorial's, with
    its Rescaling(1/255); logits), 'large' (the 150x150 stack) or 'reference' (the MNIST
    convnet), those two softmax with a Rescaling(1/255) put in front; ``augmentation`` (a
    layer, e.g. a Sequential of random flips and rotations) first, if given."""
    if name not in IMAGE_MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(IMAGE_MODELS)}")
    body = IMAGE_MODELS[name](classes)
    if name != "rgb_classifier":
        body = [layers.Rescaling(1 / 255), *body]
    front = [] if augmentation is None else [augmentation]
    return Sequential([layers.Input(shape=input_shape), *front, *body])


def augmentation() -> Sequential:
    """The flowers tutorial's data augmentation: random horizontal flips, rotations and zooms
    of up to 10%, active in training only."""
    return Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.1)],
        name="data_augmentation",
    )
