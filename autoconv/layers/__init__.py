"""Keras-style layers, by family: ``layer`` (the base class and weights), ``input_layer``
(``Input`` and the functional graph), ``core``, ``convolutional``, ``pooling``, ``merging``,
``normalization``, ``regularization``, ``activations``, ``reshaping``, ``preprocessing``
(rescaling, resizing, cropping) and ``augmentation`` (the random image layers).

>>> from autoconv import layers
>>> layers.Dense(10, activation="softmax").compute_output_shape((None, 64))
(None, 10)
"""

from typing import Any

from autoconv.layers.activations import (
    ELU,
    LeakyReLU,
    PReLU,
)
from autoconv.layers.augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
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
from autoconv.layers.embedding import Embedding
from autoconv.layers.input_layer import (
    Input,
    InputLayer,
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
from autoconv.layers.operation import Operation
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
from autoconv.layers.preprocessing import CenterCrop, Rescaling, Resizing
from autoconv.layers.regularization import (
    ActivityRegularization,
    AlphaDropout,
    Dropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
)
from autoconv.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    Permute,
    RepeatVector,
    Reshape,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from autoconv.layers.sample_normalization import (
    GroupNormalization,
    RMSNormalization,
    UnitNormalization,
)
from autoconv.layers.symbolic import SymbolicTensor

__all__ = [
    "ELU",
    "Activation",
    "ActivityRegularization",
    "Add",
    "AlphaDropout",
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
    "Cropping1D",
    "Cropping2D",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "Embedding",
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
    "GroupNormalization",
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
    "Operation",
    "PReLU",
    "Permute",
    "RMSNormalization",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "ReLU",
    "RepeatVector",
    "Rescaling",
    "Reshape",
    "Resizing",
    "SeparableConv2D",
    "SeparableConvolution2D",
    "Softmax",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "Subtract",
    "SymbolicTensor",
    "UnitNormalization",
    "UpSampling1D",
    "UpSampling2D",
    "Variable",
    "ZeroPadding1D",
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


# Keras 3's layers that autoconv does not have (recurrent, attention, text, 3-D, ...): asking
# for one says so by name rather than with a bare AttributeError.
KERAS_LAYERS_NOT_IMPLEMENTED = frozenset({
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "AdditiveAttention",
    "Attention", "AugMix", "AutoContrast", "AveragePooling3D", "AvgPool3D", "Bidirectional",
    "CategoryEncoding", "ContrastLimitedAdaptiveHistogramEqualization", "Conv1DTranspose",
    "Conv3D", "Conv3DTranspose", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
    "Convolution1DTranspose", "Convolution3D", "Convolution3DTranspose", "Cropping3D", "CutMix",
    "DepthwiseConv1D", "Discretization", "Dot", "EinsumDense", "Equalization", "FlaxLayer", "GRU",
    "GRUCell", "GlobalAveragePooling3D", "GlobalAvgPool3D", "GlobalMaxPool3D",
    "GlobalMaxPooling3D", "GroupQueryAttention", "HashedCrossing", "Hashing", "InputSpec",
    "IntegerLookup", "JaxLayer", "LSTM", "LSTMCell", "Masking", "MaxNumBoundingBoxes", "MaxPool3D",
    "MaxPooling3D", "MelSpectrogram", "MixUp", "MultiHeadAttention", "Pipeline", "RNN",
    "RandAugment", "RandomColorDegeneration", "RandomColorJitter", "RandomElasticTransform",
    "RandomErasing", "RandomGaussianBlur", "RandomGrayscale", "RandomHue", "RandomInvert",
    "RandomPerspective", "RandomPosterization", "RandomSaturation", "RandomSharpness",
    "RandomShear", "ReversibleEmbedding", "STFTSpectrogram", "SeparableConv1D",
    "SeparableConvolution1D", "SimpleRNN", "SimpleRNNCell", "Solarization", "SpatialDropout3D",
    "SpectralNormalization", "StackedRNNCells", "StringLookup", "TFSMLayer", "TextVectorization",
    "TimeDistributed", "TorchModuleWrapper", "UpSampling3D", "Wrapper", "ZeroPadding3D",
})  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in KERAS_LAYERS_NOT_IMPLEMENTED:
        raise AttributeError(
            f"keras.layers.{name} is not implemented by autoconv, which implements Keras's "
            "convolutional-network layers (see docs/keras.md for the list)"
        )
    raise AttributeError(f"module 'autoconv.layers' has no attribute {name!r}")
