"""MobileNet (Howard et al., 2017), as Keras's ``keras.applications.mobilenet``: the same
layers, names and weights. Its inputs are images scaled to [-1, 1] (``preprocess_input``)."""

from __future__ import annotations

import warnings
from typing import Any

from autoconv import layers
from autoconv.applications import imagenet_utils
from autoconv.applications.common import check_weights, image_input, make_model, top
from autoconv.applications.imagenet_utils import decode_predictions
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.models import Model

__all__ = ["MobileNet", "decode_predictions", "preprocess_input"]

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
IMAGENET_SIZES = (128, 160, 192, 224)
# Keras's published weights: alpha and how the file names spell it
IMAGENET_ALPHAS = {1.0: "1_0", 0.75: "7_5", 0.50: "5_0", 0.25: "2_5"}
# (pointwise filters, stride) of the 13 depthwise separable blocks
BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
    (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip


def MobileNet(
    input_shape: tuple[int | None, ...] | None = None,
    alpha: float = 1.0,
    depth_multiplier: int = 1,
    dropout: float = 1e-3,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
) -> Model:
    """MobileNet on images (N, H, W, 3) (H, W at least 32; (224, 224, 3) by default), to class
    probabilities (N, classes) (global average pooling, ``dropout``, a 1x1 convolution), or
    without the top to features (N, h, w, 1024 * alpha) (or (N, 1024 * alpha) with ``pooling``
    "avg" or "max").

    ``alpha`` scales the width (filters) of every layer, ``depth_multiplier`` the depthwise
    convolutions' outputs per channel. ``weights``: ``"imagenet"`` (Keras's published weights
    for ``alpha`` and the input size: 128, 160, 192 or 224, else those of 224), a weights
    file's path, or None (random). The model is named ``mobilenet_{alpha:.2f}_{rows}`` unless
    ``name`` is given."""
    check_weights(weights, include_top, classes)
    default_size = 224
    if (
        input_shape is not None
        and input_shape[0] == input_shape[1]
        and input_shape[0] in IMAGENET_SIZES
    ):
        default_size = input_shape[0]
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=32,
        data_format="channels_last",
        require_flatten=include_top,
        weights=weights,
    )
    rows, cols = input_shape[:2]
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError(
                "If imagenet weights are being loaded, depth multiplier must be 1.  "
                f"Received depth_multiplier={depth_multiplier}"
            )
        if alpha not in IMAGENET_ALPHAS:
            raise ValueError(
                "If imagenet weights are being loaded, alpha can be one of `0.25`, `0.50`, "
                f"`0.75` or `1.0` only.  Received alpha={alpha}"
            )
        if rows != cols or rows not in IMAGENET_SIZES:
            rows = 224
            warnings.warn(
                "`input_shape` is undefined or non-square, or `rows` is not in [128, 160, 192, "
                "224]. Weights for input shape (224, 224) will be loaded as the default.",
                stacklevel=2,
            )
    img_input = image_input(input_tensor, input_shape, default_size, 32, include_top, weights)

    x = layers.Conv2D(
        int(32 * alpha), (3, 3), padding="same", use_bias=False, strides=(2, 2), name="conv1"
    )(img_input)
    x = layers.BatchNormalization(axis=-1, name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for block_id, (filters, stride) in enumerate(BLOCKS, start=1):
        x = _depthwise_conv_block(x, int(filters * alpha), depth_multiplier, stride, block_id)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = top(x, False, pooling, classes, classifier_activation, weights)

    suffix = "" if include_top else "_no_top"
    file_name = f"mobilenet_{IMAGENET_ALPHAS.get(alpha)}_{rows}_tf{suffix}.h5"
    return make_model(
        img_input,
        input_tensor,
        x,
        name or f"mobilenet_{alpha:0.2f}_{rows}",
        weights,
        BASE_WEIGHT_PATH + file_name,
    )


def _depthwise_conv_block(
    inputs: SymbolicTensor, filters: int, depth_multiplier: int, stride: int, block_id: int
) -> SymbolicTensor:
    """A depthwise 3x3 convolution of ``stride`` (zero-padded bottom and right first when
    strided) and a pointwise 1x1 convolution to ``filters``, each followed by batch
    normalization and ReLU6."""
    x = inputs
    if stride != 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D(
        (3, 3),
        padding="same" if stride == 1 else "valid",
        depth_multiplier=depth_multiplier,
        strides=(stride, stride),
        use_bias=False,
        name=f"conv_dw_{block_id}",
    )(x)
    x = layers.BatchNormalization(axis=-1, name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(
        filters, (1, 1), padding="same", use_bias=False, strides=(1, 1), name=f"conv_pw_{block_id}"
    )(x)
    x = layers.BatchNormalization(axis=-1, name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


preprocess_input = imagenet_utils.preprocessing("tf")
