"""InceptionV3 (Szegedy et al., 2015), as Keras's ``keras.applications.inception_v3``: the same
layers, names (most of them numbered by Keras's automatic naming, in Keras's order of creation)
and weights. Its inputs are images scaled to [-1, 1] (``preprocess_input``)."""

from __future__ import annotations

from typing import Any

from autoconv import layers
from autoconv.applications import imagenet_utils
from autoconv.applications.common import check_weights, image_input, make_model, top
from autoconv.applications.imagenet_utils import decode_predictions
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.models import Model

__all__ = ["InceptionV3", "decode_predictions", "preprocess_input"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
# file name and md5, with the top and without
WEIGHTS = (
    ("inception_v3_weights_tf_dim_ordering_tf_kernels.h5", "9a0d58056eeedaa3f26cb7ebd46da564"),
    (
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "bcbd6486424b2319ff4ef7d526e38f63",
    ),
)
CHANNEL_AXIS = 3  # Keras's axis of the concatenations and batch normalizations (channels last)


def InceptionV3(
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "inception_v3",
) -> Model:
    """InceptionV3 on images (N, H, W, 3) (H, W at least 75; (299, 299, 3) by default) to class
    probabilities (N, ``classes``) through ``classifier_activation``, or without the top to
    features (N, h, w, 2048) (or (N, 2048) with ``pooling`` "avg" or "max"). ``weights``:
    ``"imagenet"`` (Keras's published weights), a weights file's path, or None (random)."""
    check_weights(weights, include_top, classes)
    img_input = image_input(input_tensor, input_shape, 299, 75, include_top, weights)
    x = conv2d_bn(img_input, 32, 3, 3, strides=(2, 2), padding="valid")
    x = conv2d_bn(x, 32, 3, 3, padding="valid")
    x = conv2d_bn(x, 64, 3, 3)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = conv2d_bn(x, 80, 1, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, 3, padding="valid")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    for i, pool_filters in enumerate((32, 64, 64)):  # 35 x 35
        x = _block_35(x, pool_filters, f"mixed{i}")
    x = _reduction_to_17(x)
    for i, filters in enumerate((128, 160, 160, 192), start=4):  # 17 x 17
        x = _block_17(x, filters, f"mixed{i}")
    x = _reduction_to_8(x)
    for i in range(2):  # 8 x 8
        x = _block_8(x, i)
    if include_top:
        x = top(x, True, None, classes, classifier_activation, weights, ("avg_pool", None))
    else:
        x = top(x, False, pooling, classes, classifier_activation, weights)
    file_name, file_hash = WEIGHTS[0 if include_top else 1]
    return make_model(
        img_input, input_tensor, x, name, weights, BASE_WEIGHTS_PATH + file_name, file_hash
    )


def conv2d_bn(
    x: SymbolicTensor,
    filters: int,
    num_row: int,
    num_col: int,
    padding: str = "same",
    strides: tuple[int, int] = (1, 1),
    name: str | None = None,
) -> SymbolicTensor:
    """A ``num_row`` x ``num_col`` convolution without bias, batch normalization without scale,
    then ReLU (layers ``{name}_conv``, ``{name}_bn`` and ``name``; Keras's automatic names
    without ``name``)."""
    x = layers.Conv2D(
        filters,
        (num_row, num_col),
        strides=strides,
        padding=padding,
        use_bias=False,
        name=None if name is None else f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(
        axis=CHANNEL_AXIS, scale=False, name=None if name is None else f"{name}_bn"
    )(x)
    return layers.Activation("relu", name=name)(x)


def _average_pool_branch(x: SymbolicTensor, filters: int) -> SymbolicTensor:
    """A 3x3 average pooling (stride 1), then a 1x1 convolution to ``filters``."""
    x = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
    return conv2d_bn(x, filters, 1, 1)


def _block_35(x: SymbolicTensor, pool_filters: int, name: str) -> SymbolicTensor:
    """Blocks mixed0 to mixed2: 1x1, 5x5 and double 3x3 branches and a pooled one of
    ``pool_filters``, concatenated (64 + 64 + 96 + ``pool_filters`` channels)."""
    branch1x1 = conv2d_bn(x, 64, 1, 1)
    branch5x5 = conv2d_bn(x, 48, 1, 1)
    branch5x5 = conv2d_bn(branch5x5, 64, 5, 5)
    branch3x3dbl = conv2d_bn(x, 64, 1, 1)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
    branch_pool = _average_pool_branch(x, pool_filters)
    return layers.concatenate(
        [branch1x1, branch5x5, branch3x3dbl, branch_pool], axis=CHANNEL_AXIS, name=name
    )


def _reduction_to_17(x: SymbolicTensor) -> SymbolicTensor:
    """Block mixed3: strided 3x3 and double 3x3 branches and a max pooling (768 channels)."""
    branch3x3 = conv2d_bn(x, 384, 3, 3, strides=(2, 2), padding="valid")
    branch3x3dbl = conv2d_bn(x, 64, 1, 1)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    return layers.concatenate(
        [branch3x3, branch3x3dbl, branch_pool], axis=CHANNEL_AXIS, name="mixed3"
    )


def _block_17(x: SymbolicTensor, filters: int, name: str) -> SymbolicTensor:
    """Blocks mixed4 to mixed7: 1x1, factorized 7x7 and double 7x7 branches (``filters``
    inside) and a pooled one, concatenated (768 channels)."""
    branch1x1 = conv2d_bn(x, 192, 1, 1)
    branch7x7 = conv2d_bn(x, filters, 1, 1)
    branch7x7 = conv2d_bn(branch7x7, filters, 1, 7)
    branch7x7 = conv2d_bn(branch7x7, 192, 7, 1)
    branch7x7dbl = conv2d_bn(x, filters, 1, 1)
    branch7x7dbl = conv2d_bn(branch7x7dbl, filters, 7, 1)
    branch7x7dbl = conv2d_bn(branch7x7dbl, filters, 1, 7)
    branch7x7dbl = conv2d_bn(branch7x7dbl, filters, 7, 1)
    branch7x7dbl = conv2d_bn(branch7x7dbl, 192, 1, 7)
    branch_pool = _average_pool_branch(x, 192)
    return layers.concatenate(
        [branch1x1, branch7x7, branch7x7dbl, branch_pool], axis=CHANNEL_AXIS, name=name
    )


def _reduction_to_8(x: SymbolicTensor) -> SymbolicTensor:
    """Block mixed8: strided 3x3 and 7x7-then-strided-3x3 branches and a max pooling (1280
    channels)."""
    branch3x3 = conv2d_bn(x, 192, 1, 1)
    branch3x3 = conv2d_bn(branch3x3, 320, 3, 3, strides=(2, 2), padding="valid")
    branch7x7x3 = conv2d_bn(x, 192, 1, 1)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 1, 7)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 7, 1)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    return layers.concatenate(
        [branch3x3, branch7x7x3, branch_pool], axis=CHANNEL_AXIS, name="mixed8"
    )


def _split_3x3(x: SymbolicTensor, name: str | None = None) -> SymbolicTensor:
    """Parallel 1x3 and 3x1 convolutions of ``x`` (384 each), concatenated."""
    branch_1 = conv2d_bn(x, 384, 1, 3)
    branch_2 = conv2d_bn(x, 384, 3, 1)
    return layers.concatenate([branch_1, branch_2], axis=CHANNEL_AXIS, name=name)


def _block_8(x: SymbolicTensor, i: int) -> SymbolicTensor:
    """Blocks mixed9 and mixed10 (``i`` 0 and 1): a 1x1 branch, 3x3 and double 3x3 branches
    each split into 1x3 and 3x1, and a pooled one, concatenated (2048 channels)."""
    branch1x1 = conv2d_bn(x, 320, 1, 1)
    branch3x3 = _split_3x3(conv2d_bn(x, 384, 1, 1), f"mixed9_{i}")
    branch3x3dbl = conv2d_bn(x, 448, 1, 1)
    branch3x3dbl = _split_3x3(conv2d_bn(branch3x3dbl, 384, 3, 3))
    branch_pool = _average_pool_branch(x, 192)
    return layers.concatenate(
        [branch1x1, branch3x3, branch3x3dbl, branch_pool], axis=CHANNEL_AXIS, name=f"mixed{9 + i}"
    )


preprocess_input = imagenet_utils.preprocessing("tf")
