"""MobileNetV2 (Sandler et al., 2018), as Keras's ``keras.applications.mobilenet_v2``: the same
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

__all__ = ["MobileNetV2", "decode_predictions", "preprocess_input"]

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
IMAGENET_SIZES = (96, 128, 160, 192, 224)
IMAGENET_ALPHAS = (0.35, 0.50, 0.75, 1.0, 1.3, 1.4)
# (filters, stride, expansion) of the 17 inverted residual blocks
BLOCKS = (
    (16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6),
    (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6),
    (160, 1, 6), (160, 1, 6), (320, 1, 6),
)  # fmt: skip


def MobileNetV2(
    input_shape: tuple[int | None, ...] | None = None,
    alpha: float = 1.0,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
) -> Model:
    """MobileNetV2 on images (N, H, W, 3) (H, W at least 32; (224, 224, 3) by default), to
    class probabilities (N, classes), or without the top to features (N, h, w, 1280) (or
    (N, 1280) with ``pooling`` "avg" or "max").

    ``alpha`` scales the width (filters) of every layer. ``weights``: ``"imagenet"`` (Keras's
    published weights for ``alpha`` and the input size: 96, 128, 160, 192 or 224, else those of
    224), a weights file's path, or None (random). The model is named
    ``mobilenetv2_{alpha:.2f}_{rows}`` unless ``name`` is given."""
    check_weights(weights, include_top, classes)
    if input_shape is not None and input_tensor is not None:
        if not isinstance(input_tensor, SymbolicTensor):
            raise ValueError(
                f"input_tensor is not a Keras tensor; Received `input_tensor={input_tensor}`"
            )
        if input_tensor.shape[2] != input_shape[1]:
            raise ValueError(
                "input_tensor.shape[2] must equal input_shape[1]; Received "
                f"`input_tensor.shape={input_tensor.shape}`, `input_shape={input_shape}`"
            )
    if input_shape is None and isinstance(input_tensor, SymbolicTensor):
        rows, cols = input_tensor.shape[1:3]
    elif input_shape is not None:
        rows, cols = input_shape[:2]
    else:
        rows = cols = None
    default_size = rows if rows == cols and rows in IMAGENET_SIZES else 224
    img_input = image_input(input_tensor, input_shape, default_size, 32, include_top, weights)
    rows, cols = img_input.shape[1:3]
    if weights == "imagenet":
        if alpha not in IMAGENET_ALPHAS:
            raise ValueError(
                "If imagenet weights are being loaded, alpha must be one of `0.35`, `0.50`, "
                f"`0.75`, `1.0`, `1.3` or `1.4` only; Received `alpha={alpha}`"
            )
        if rows != cols or rows not in IMAGENET_SIZES:
            rows = 224
            warnings.warn(
                "`input_shape` is undefined or non-square, or `rows` is not in [96, 128, 160, "
                "192, 224]. Weights for input shape (224, 224) will be loaded as the default.",
                stacklevel=2,
            )

    x = layers.Conv2D(
        _make_divisible(32 * alpha, 8), 3, strides=2, padding="same", use_bias=False, name="Conv1"
    )(img_input)
    x = _batch_norm("bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    last_block_filters = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_block_filters, 1, use_bias=False, name="Conv_1")(x)
    x = _batch_norm("Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    x = top(x, include_top, pooling, classes, classifier_activation, weights)

    suffix = "" if include_top else "_no_top"
    file_name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{suffix}.h5"
    return make_model(
        img_input,
        input_tensor,
        x,
        name or f"mobilenetv2_{alpha:0.2f}_{rows}",
        weights,
        BASE_WEIGHT_PATH + file_name,
    )


def _batch_norm(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def _inverted_res_block(
    inputs: SymbolicTensor, expansion: int, stride: int, alpha: float, filters: int, block_id: int
) -> SymbolicTensor:
    """Expand (1x1), depthwise 3x3 of ``stride``, project (1x1, linear); a residual addition
    where the shapes allow."""
    in_channels = inputs.shape[-1]
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = layers.Conv2D(
            expansion * in_channels, 1, padding="same", use_bias=False, name=f"{prefix}expand"
        )(x)
        x = _batch_norm(f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(imagenet_utils.correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(
        3,
        strides=stride,
        use_bias=False,
        padding="same" if stride == 1 else "valid",
        name=f"{prefix}depthwise",
    )(x)
    x = _batch_norm(f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(
        pointwise_filters, 1, padding="same", use_bias=False, name=f"{prefix}project"
    )(x)
    x = _batch_norm(f"{prefix}project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """``v`` rounded to a multiple of ``divisor`` (at least ``min_value``), never below 90%."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


preprocess_input = imagenet_utils.preprocessing("tf")
