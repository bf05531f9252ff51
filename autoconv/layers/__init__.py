"""Keras-style layers, by family: ``layer`` (the base class and weights), ``input_layer``
(``Input``) and ``symbolic`` (the functional graph), ``core``, ``embedding``,
``reversible_embedding``, ``convolutional`` (2-D), ``convolutional_1d``, ``volumetric`` (the 3-D
layers), ``pooling``, ``merging``, ``normalization``, ``sample_normalization``,
``regularization``, ``activations``, ``reshaping``, ``einsum_dense`` and ``attention``, the
recurrent layers (``rnn_cells``, ``stacked_rnn_cells``, ``recurrent``, ``bidirectional``,
``conv_lstm``), ``wrappers`` (TimeDistributed, SpectralNormalization, Pipeline),
``preprocessing`` (rescaling, resizing, cropping) and the random image layers: ``augmentation``
(their base, flips and affine warps), ``color_augmentation``, ``geometric_augmentation``,
``image_mixing``, ``augmentation_policies`` (RandAugment, AugMix) and ``clahe``; the
structured-data and text layers: ``encoding`` (CategoryEncoding, Discretization),
``index_lookup`` (StringLookup, IntegerLookup), ``text_vectorization`` and ``hashing`` (Hashing,
HashedCrossing); ``audio`` (STFTSpectrogram, MelSpectrogram).

>>> from autoconv import layers
>>> layers.Dense(10, activation="softmax").compute_output_shape((None, 64))
(None, 10)
"""

from autoconv.layers import serialization
from autoconv.layers.activations import (
    ELU,
    LeakyReLU,
    PReLU,
)
from autoconv.layers.attention import AdditiveAttention, Attention
from autoconv.layers.audio import MelSpectrogram, STFTSpectrogram
from autoconv.layers.augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from autoconv.layers.augmentation_policies import (
    AugMix,
    RandAugment,
)
from autoconv.layers.bidirectional import Bidirectional
from autoconv.layers.clahe import ContrastLimitedAdaptiveHistogramEqualization
from autoconv.layers.color_augmentation import (
    AutoContrast,
    Equalization,
    RandomColorDegeneration,
    RandomColorJitter,
    RandomGrayscale,
    RandomHue,
    RandomInvert,
    RandomPosterization,
    RandomSaturation,
    RandomSharpness,
    Solarization,
)
from autoconv.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from autoconv.layers.convolutional import (
    Conv2D,
    Conv2DTranspose,
    Convolution2D,
    Convolution2DTranspose,
    DepthwiseConv2D,
    SeparableConv2D,
    SeparableConvolution2D,
)
from autoconv.layers.convolutional_1d import (
    Conv1D,
    Conv1DTranspose,
    Convolution1D,
    Convolution1DTranspose,
    DepthwiseConv1D,
    SeparableConv1D,
    SeparableConvolution1D,
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
from autoconv.layers.einsum_dense import EinsumDense
from autoconv.layers.embedding import Embedding
from autoconv.layers.encoding import CategoryEncoding, Discretization
from autoconv.layers.geometric_augmentation import (
    RandomCrop,
    RandomElasticTransform,
    RandomErasing,
    RandomGaussianBlur,
    RandomPerspective,
    RandomShear,
)
from autoconv.layers.grouped_query_attention import GroupQueryAttention
from autoconv.layers.hashing import HashedCrossing, Hashing
from autoconv.layers.image_data import MaxNumBoundingBoxes
from autoconv.layers.image_mixing import CutMix, MixUp
from autoconv.layers.index_lookup import IntegerLookup, StringLookup
from autoconv.layers.input_layer import (
    Input,
    InputLayer,
)
from autoconv.layers.input_spec import InputSpec
from autoconv.layers.layer import (
    Layer,
    Variable,
    clear_session,
)
from autoconv.layers.masking import Masking
from autoconv.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from autoconv.layers.multi_head_attention import MultiHeadAttention
from autoconv.layers.normalization import (
    BatchNormalization,
    LayerNormalization,
    Normalization,
)
from autoconv.layers.operation import Operation
from autoconv.layers.pooling import (
    AdaptiveAveragePooling1D,
    AdaptiveAveragePooling2D,
    AdaptiveAveragePooling3D,
    AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D,
    AdaptiveMaxPooling3D,
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
from autoconv.layers.recurrent import (
    GRU,
    LSTM,
    RNN,
    SimpleRNN,
)
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
from autoconv.layers.reversible_embedding import ReversibleEmbedding
from autoconv.layers.rnn_cells import (
    GRUCell,
    LSTMCell,
    SimpleRNNCell,
)
from autoconv.layers.sample_normalization import (
    GroupNormalization,
    RMSNormalization,
    UnitNormalization,
)
from autoconv.layers.stacked_rnn_cells import StackedRNNCells
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.layers.text_vectorization import TextVectorization
from autoconv.layers.volumetric import (
    AveragePooling3D,
    AvgPool3D,
    Conv3D,
    Conv3DTranspose,
    Convolution3D,
    Convolution3DTranspose,
    Cropping3D,
    GlobalAveragePooling3D,
    GlobalAvgPool3D,
    GlobalMaxPool3D,
    GlobalMaxPooling3D,
    MaxPool3D,
    MaxPooling3D,
    SpatialDropout3D,
    UpSampling3D,
    ZeroPadding3D,
)
from autoconv.layers.wrappers import (
    Pipeline,
    SpectralNormalization,
    TimeDistributed,
    Wrapper,
)
from autoconv.naming import missing_names

__all__ = [
    "ELU",
    "GRU",
    "LSTM",
    "RNN",
    "Activation",
    "ActivityRegularization",
    "AdaptiveAveragePooling1D",
    "AdaptiveAveragePooling2D",
    "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D",
    "AdaptiveMaxPooling2D",
    "AdaptiveMaxPooling3D",
    "Add",
    "AdditiveAttention",
    "AlphaDropout",
    "Attention",
    "AugMix",
    "AutoContrast",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "BatchNormalization",
    "Bidirectional",
    "CategoryEncoding",
    "CenterCrop",
    "Concatenate",
    "ContrastLimitedAdaptiveHistogramEqualization",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
    "Convolution1D",
    "Convolution1DTranspose",
    "Convolution2D",
    "Convolution2DTranspose",
    "Convolution3D",
    "Convolution3DTranspose",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "CutMix",
    "Dense",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "Discretization",
    "Dot",
    "Dropout",
    "EinsumDense",
    "Embedding",
    "Equalization",
    "Flatten",
    "GRUCell",
    "GaussianDropout",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GroupNormalization",
    "GroupQueryAttention",
    "HashedCrossing",
    "Hashing",
    "Identity",
    "Input",
    "InputLayer",
    "InputSpec",
    "IntegerLookup",
    "LSTMCell",
    "Lambda",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "Masking",
    "MaxNumBoundingBoxes",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Maximum",
    "MelSpectrogram",
    "Minimum",
    "MixUp",
    "MultiHeadAttention",
    "Multiply",
    "Normalization",
    "Operation",
    "PReLU",
    "Permute",
    "Pipeline",
    "RMSNormalization",
    "RandAugment",
    "RandomBrightness",
    "RandomColorDegeneration",
    "RandomColorJitter",
    "RandomContrast",
    "RandomCrop",
    "RandomElasticTransform",
    "RandomErasing",
    "RandomFlip",
    "RandomGaussianBlur",
    "RandomGrayscale",
    "RandomHue",
    "RandomInvert",
    "RandomPerspective",
    "RandomPosterization",
    "RandomRotation",
    "RandomSaturation",
    "RandomSharpness",
    "RandomShear",
    "RandomTranslation",
    "RandomZoom",
    "ReLU",
    "RepeatVector",
    "Rescaling",
    "Reshape",
    "Resizing",
    "ReversibleEmbedding",
    "STFTSpectrogram",
    "SeparableConv1D",
    "SeparableConv2D",
    "SeparableConvolution1D",
    "SeparableConvolution2D",
    "SimpleRNN",
    "SimpleRNNCell",
    "Softmax",
    "Solarization",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "SpectralNormalization",
    "StackedRNNCells",
    "StringLookup",
    "Subtract",
    "SymbolicTensor",
    "TextVectorization",
    "TimeDistributed",
    "UnitNormalization",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "Variable",
    "Wrapper",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "add",
    "average",
    "clear_session",
    "concatenate",
    "deserialize",
    "dot",
    "maximum",
    "minimum",
    "multiply",
    "serialize",
    "subtract",
]  # fmt: skip


def serialize(layer: Layer) -> dict:
    """Keras's entry for ``layer`` (module, class name, config, registered name, and its build
    config), which :func:`deserialize` and Keras's ``keras.layers.deserialize`` read."""
    return serialization.serialize(layer)


def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """The layer a Keras entry (or autoconv's older ``{"class_name", "config"}``) describes:
    autoconv's own layers, and classes registered or in ``custom_objects``; a ``Lambda``'s
    code is not loaded (Keras's safe mode)."""
    if isinstance(config, dict):
        cls = serialization.layer_class(config, custom_objects)
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise ValueError(
                "`keras.layers.deserialize` was passed a `config` object that is not a "
                f"`keras.layers.Layer`. Received: {config}"
            )
    return serialization.deserialize(config, custom_objects)


# Keras 3's layers that autoconv does not have (other frameworks' wrappers, ...): asking for
# one says so by name rather than with a bare AttributeError.
KERAS_LAYERS_NOT_IMPLEMENTED = frozenset({
    "FlaxLayer", "JaxLayer", "TFSMLayer", "TorchModuleWrapper",
})  # fmt: skip


__getattr__ = missing_names(
    "layers", KERAS_LAYERS_NOT_IMPLEMENTED,
    "which implements Keras's layers for images, sequences, audio, text and structured data, "
    "not other frameworks' wrappers (see docs/keras.md for the list)",
)  # fmt: skip
