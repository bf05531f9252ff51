"""Xception (Chollet, 2017), as Keras's ``keras.applications.xception``: the same layers,
names and weights. Its inputs are images scaled to [-1, 1] (``preprocess_input``)."""

from __future__ import annotations

from typing import Any

from autoconv import layers
from autoconv.applications import imagenet_utils
from autoconv.applications.common import check_weights, image_input, make_model, top
from autoconv.applications.imagenet_utils import decode_predictions
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.models import Model

__all__ = ["Xception", "decode_predictions", "preprocess_input"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
# file name and md5, with the top and without
WEIGHTS = (
    ("xception_weights_tf_dim_ordering_tf_kernels.h5", "0a58e3b7378bc2990ea3b43d5981f1f6"),
    ("xception_weights_tf_dim_ordering_tf_kernels_notop.h5", "b0042744bf5b25fce3cb969f33bebb97"),
)


def Xception(
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "xception",
) -> Model:
    """Xception on images (N, H, W, 3) (H, W at least 71; (299, 299, 3) by default) to class
    probabilities (N, ``classes``) through ``classifier_activation``, or without the top to
    features (N, h, w, 2048) (or (N, 2048) with ``pooling`` "avg" or "max"). ``weights``:
    ``"imagenet"`` (Keras's published weights), a weights file's path, or None (random)."""
    check_weights(weights, include_top, classes)
    img_input = image_input(input_tensor, input_shape, 299, 71, include_top, weights)
    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = layers.BatchNormalization(axis=-1, name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = layers.BatchNormalization(axis=-1, name="block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)
    x = _entry_block(x, 2, (128, 128))
    x = _entry_block(x, 3, (256, 256))
    x = _entry_block(x, 4, (728, 728))
    for block in range(5, 13):
        residual = x
        for i in (1, 2, 3):
            x = layers.Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
            x = _separable(x, 728, f"block{block}_sepconv{i}")
        x = layers.add([x, residual])
    x = _entry_block(x, 13, (728, 1024))
    for i, filters in ((1, 1536), (2, 2048)):
        x = _separable(x, filters, f"block14_sepconv{i}")
        x = layers.Activation("relu", name=f"block14_sepconv{i}_act")(x)
    if include_top:
        x = top(x, True, None, classes, classifier_activation, weights, ("avg_pool", None))
    else:
        x = top(x, False, pooling, classes, classifier_activation, weights)
    file_name, file_hash = WEIGHTS[0 if include_top else 1]
    return make_model(
        img_input, input_tensor, x, name, weights, BASE_WEIGHTS_PATH + file_name, file_hash
    )


def _separable(x: SymbolicTensor, filters: int, name: str) -> SymbolicTensor:
    """A 3x3 separable convolution without bias, then batch normalization."""
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=-1, name=f"{name}_bn")(x)


def _entry_block(x: SymbolicTensor, block: int, filters: tuple[int, int]) -> SymbolicTensor:
    """Two separable convolutions (ReLU before each; block 2 has none before its first) and a
    strided 3x3 max pooling, added to a strided 1x1 convolution of the input."""
    residual = layers.Conv2D(filters[1], (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    residual = layers.BatchNormalization(axis=-1)(residual)
    for i, count in enumerate(filters, start=1):
        if block != 2 or i == 2:
            x = layers.Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
        x = _separable(x, count, f"block{block}_sepconv{i}")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return layers.add([x, residual])


preprocess_input = imagenet_utils.preprocessing("tf")
