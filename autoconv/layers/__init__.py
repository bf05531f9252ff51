"""Keras-style layers, by family: ``layer`` (the base class and weights), ``input_layer``
(``Input`` and the functional graph), ``core``, ``convolutional``, ``pooling``, ``merging``,
``normalization``, ``regularization``, ``activations``, ``reshaping``, ``preprocessing``
(rescaling, resizing and image augmentation).

>>> from autoconv import layers
>>> layers.Dense(10, activation="softmax").compute_output_shape((None, 64))
(None, 10)
"""

from autoconv.layers.activations import (
    ELU,
    LeakyReLU,
    PReLU,
)
from autoconv.layers.convolutional import (
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Convolution1D,
    Convolution2D,
    Convolution2DTranspose,
    DepthwiseConv2D,
    SeparableConv2D,
    SeparableConvolution2D,
)
from autoconv.layers.core import (
    Activation,
    Dense,
    Flatten,
    Identity,
    Lambda,
    ReLU,
    Softmax,
)
from autoconv.layers.input_layer import (
    Input,
    InputLayer,
    SymbolicTensor,
)
from autoconv.layers.layer import (
    Layer,
    Variable,
    clear_session,
)
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
from autoconv.layers.normalization import (
    BatchNormalization,
    LayerNormalization,
    Normalization,
)
from autoconv.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AvgPool1D,
    AvgPool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPool1D,
    MaxPool2D,
    MaxPooling1D,
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
from autoconv.layers.regularization import (
    Dropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout2D,
)
from autoconv.layers.reshaping import (
    Cropping2D,
    Permute,
    Reshape,
    UpSampling2D,
    ZeroPadding2D,
)

__all__ = [
    "ELU",
    "Activation",
    "Add",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AvgPool1D",
    "AvgPool2D",
    "BatchNormalization",
    "CenterCrop",
    "Concatenate",
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "Convolution1D",
    "Convolution2D",
    "Convolution2DTranspose",
    "Cropping2D",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "Flatten",
    "GaussianDropout",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Identity",
    "Input",
    "InputLayer",
    "Lambda",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "Maximum",
    "Minimum",
    "Multiply",
    "Normalization",
    "PReLU",
    "Permute",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "ReLU",
    "Rescaling",
    "Reshape",
    "Resizing",
    "SeparableConv2D",
    "SeparableConvolution2D",
    "Softmax",
    "SpatialDropout2D",
    "Subtract",
    "SymbolicTensor",
    "UpSampling2D",
    "Variable",
    "ZeroPadding2D",
    "add",
    "average",
    "clear_session",
    "concatenate",
    "deserialize",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]  # fmt: skip


def deserialize(config: dict) -> Layer:
    """A layer from ``{"class_name": ..., "config": ...}`` (what models save). Only autoconv's
    own layer classes are known: a file cannot make it run other code."""
    class_name, arguments = config["class_name"], config["config"]
    cls = globals().get(class_name)
    if not (isinstance(cls, type) and issubclass(cls, Layer)) or class_name in ("Layer", "Lambda"):
        raise ValueError(f"unknown layer type {class_name!r}")
    return cls.from_config(arguments)
