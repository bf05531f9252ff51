"""Keras-style layers, by family: ``layer`` (the base class and weights), ``input_layer``
(``Input`` and the functional graph), ``core``, ``convolutional``, ``pooling``, ``merging``,
``reshaping``, ``preprocessing`` (rescaling, resizing and image augmentation).

>>> from autoconv import layers
>>> layers.Dense(10, activation="softmax").compute_output_shape((None, 64))
(None, 10)
"""

from autoconv.layers.convolutional import Conv2D
from autoconv.layers.core import (
    Activation,
    Dense,
    Dropout,
    Flatten,
    Identity,
    Lambda,
    ReLU,
    Softmax,
)
from autoconv.layers.input_layer import Input, InputLayer, SymbolicTensor
from autoconv.layers.layer import Layer, Variable, clear_session
from autoconv.layers.merging import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from autoconv.layers.pooling import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    MaxPool2D,
    MaxPooling2D,
)
from autoconv.layers.preprocessing import (
    CenterCrop,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
)
from autoconv.layers.reshaping import Cropping2D, Permute, Reshape, UpSampling2D, ZeroPadding2D

__all__ = [
    "Activation", "Add", "Average", "AveragePooling2D", "AvgPool2D", "CenterCrop", "Concatenate",
    "Conv2D", "Cropping2D", "Dense", "Dropout", "Flatten", "GlobalAveragePooling2D",
    "GlobalAvgPool2D", "GlobalMaxPool2D", "GlobalMaxPooling2D", "Identity", "Input",
    "InputLayer", "Lambda", "Layer", "MaxPool2D", "MaxPooling2D", "Maximum", "Minimum",
    "Multiply", "Permute", "RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip",
    "RandomRotation", "RandomTranslation", "RandomZoom", "ReLU", "Rescaling", "Reshape",
    "Resizing", "Softmax", "Subtract", "SymbolicTensor", "UpSampling2D", "Variable",
    "ZeroPadding2D", "add", "average", "clear_session", "concatenate", "deserialize", "maximum",
    "minimum", "multiply", "subtract",
]  # fmt: skip


def deserialize(config: dict) -> Layer:
    """A layer from ``{"class_name": ..., "config": ...}`` (what models save). Only autoconv's
    own layer classes are known: a file cannot make it run other code."""
    class_name, arguments = config["class_name"], config["config"]
    cls = globals().get(class_name)
    if not (isinstance(cls, type) and issubclass(cls, Layer)) or class_name in ("Layer", "Lambda"):
        raise ValueError(f"unknown layer type {class_name!r}")
    return cls.from_config(arguments)
