"""MobileNetV3Small and MobileNetV3Large (Howard et al., 2019), as Keras's
``keras.applications.mobilenet_v3``: the same layers, names and weights. The models take
images in [0, 255] (``include_preprocessing`` makes scaling to [-1, 1] their first layer), so
``preprocess_input`` is the identity."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from autoconv import layers
from autoconv.applications import imagenet_utils
from autoconv.applications.common import check_weights, make_model
from autoconv.applications.imagenet_utils import decode_predictions
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.models import Model

__all__ = ["MobileNetV3Large", "MobileNetV3Small", "decode_predictions", "preprocess_input"]

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
# (md5 of the file with the top, md5 of the file without)
WEIGHTS_HASHES = {
    "large_224_0.75_float": (
        "765b44a33ad4005b3ac83185abf1d0eb",
        "40af19a13ebea4e2ee0c676887f69a2e",
    ),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": (
        "675e7b876c45c57e9e63e6d90a36599c",
        "ec5221f64a2f6d1ef965a614bdae7973",
    ),
    "small_224_0.75_float": (
        "cb65d4e5be93758266aa0a7f2c6708b7",
        "ebdb5cc8e0b497cd13a7c275d475c819",
    ),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": (
        "99cd97fb2fcdad2bf028eb838de69e37",
        "cde8136e733e811080d9fcd8a252f7e4",
    ),
}
# The inverted residual blocks: (expansion, filters, kernel size (0: the model's, 5, or 3 when
# minimalistic), stride, squeeze-excitation, activation ("relu", or "model": hard swish, or
# ReLU when minimalistic)).
SMALL_BLOCKS = (
    (1, 16, 3, 2, True, "relu"), (72 / 16, 24, 3, 2, False, "relu"),
    (88 / 24, 24, 3, 1, False, "relu"), (4, 40, 0, 2, True, "model"),
    (6, 40, 0, 1, True, "model"), (6, 40, 0, 1, True, "model"), (3, 48, 0, 1, True, "model"),
    (3, 48, 0, 1, True, "model"), (6, 96, 0, 2, True, "model"), (6, 96, 0, 1, True, "model"),
    (6, 96, 0, 1, True, "model"),
)  # fmt: skip
LARGE_BLOCKS = (
    (1, 16, 3, 1, False, "relu"), (4, 24, 3, 2, False, "relu"), (3, 24, 3, 1, False, "relu"),
    (3, 40, 0, 2, True, "relu"), (3, 40, 0, 1, True, "relu"), (3, 40, 0, 1, True, "relu"),
    (6, 80, 3, 2, False, "model"), (2.5, 80, 3, 1, False, "model"),
    (2.3, 80, 3, 1, False, "model"), (2.3, 80, 3, 1, False, "model"),
    (6, 112, 3, 1, True, "model"), (6, 112, 3, 1, True, "model"),
    (6, 160, 0, 2, True, "model"), (6, 160, 0, 1, True, "model"), (6, 160, 0, 1, True, "model"),
)  # fmt: skip


def _hard_sigmoid(x: SymbolicTensor) -> SymbolicTensor:
    """``relu6(x + 3) / 6`` as Keras's MobileNetV3 builds it: a ReLU layer between two ops."""
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def MobileNetV3(
    blocks: tuple[tuple[Any, ...], ...],
    last_point_ch: int,
    input_shape: tuple[int | None, ...] | None = None,
    alpha: float = 1.0,
    model_type: str = "large",
    minimalistic: bool = False,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    classes: int = 1000,
    pooling: str | None = None,
    dropout_rate: float = 0.2,
    classifier_activation: Any = "softmax",
    include_preprocessing: bool = True,
    name: str | None = None,
) -> Model:
    """A MobileNetV3 of the inverted residual ``blocks`` (see :func:`MobileNetV3Small`)."""
    check_weights(weights, include_top, classes)
    if input_tensor is not None and not isinstance(input_tensor, SymbolicTensor):
        raise ValueError(f"input_tensor specified: {input_tensor!r} is not a symbolic tensor")
    if input_shape is not None and input_tensor is not None:
        if input_tensor.shape[2] != input_shape[1]:
            raise ValueError(
                f"input_shape[1] must equal input_tensor.shape[2].  Received "
                f"input_shape={input_shape}, input_tensor.shape={input_tensor.shape}"
            )
    if input_shape is None and input_tensor is not None:
        rows, cols = input_tensor.shape[1:3]
        input_shape = (cols, rows, 3)  # as Keras's (which swaps them)
    if input_shape is None:
        input_shape = (None, None, 3)
    rows, cols = input_shape[:2]
    if rows and cols and (rows < 32 or cols < 32):
        raise ValueError(f"Input size must be at least 32x32; Received `input_shape={input_shape}`")
    if weights == "imagenet":
        if (not minimalistic and alpha not in (0.75, 1.0)) or (minimalistic and alpha != 1.0):
            raise ValueError(
                "If imagenet weights are being loaded, alpha can be one of `0.75`, `1.0` for non "
                "minimalistic or `1.0` for minimalistic only."
            )
        if rows != cols or rows != 224:
            warnings.warn(
                "`input_shape` is undefined or non-square, or `rows` is not 224. Weights for "
                "input shape (224, 224) will be loaded as the default.",
                stacklevel=3,
            )
    img_input = layers.Input(shape=input_shape) if input_tensor is None else input_tensor
    kernel, activation, se_ratio = (3, _relu, None) if minimalistic else (5, _hard_swish, 0.25)

    x = img_input
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, 3, strides=(2, 2), padding="same", use_bias=False, name="conv")(x)
    x = _batch_norm("conv_bn")(x)
    x = activation(x)
    for block_id, (expansion, filters, size, stride, se, kind) in enumerate(blocks):
        x = _inverted_res_block(
            x,
            expansion,
            _depth(filters * alpha),
            size or kernel,
            stride,
            se_ratio if se else None,
            _relu if kind == "relu" else activation,
            block_id,
        )
    last_conv_ch = _depth(x.shape[-1] * 6)
    if alpha > 1.0:
        last_point_ch = _depth(last_point_ch * alpha)
    x = layers.Conv2D(last_conv_ch, 1, padding="same", use_bias=False, name="conv_1")(x)
    x = _batch_norm("conv_1_bn")(x)
    x = activation(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Conv2D(last_point_ch, 1, padding="same", use_bias=True, name="conv_2")(x)
        x = activation(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate)(x)
        x = layers.Conv2D(classes, 1, padding="same", name="logits")(x)
        x = layers.Flatten()(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)

    model_name = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{alpha}_float"
    if model_name not in WEIGHTS_HASHES:  # no published weights: checked above for "imagenet"
        return make_model(img_input, input_tensor, x, name, weights)
    suffix = "" if include_top else "_no_top_v2"
    file_name = f"weights_mobilenet_v3_{model_name}{suffix}.h5"
    file_hash = WEIGHTS_HASHES[model_name][0 if include_top else 1]
    return make_model(
        img_input, input_tensor, x, name, weights, BASE_WEIGHT_PATH + file_name, file_hash
    )


def _batch_norm(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def _relu(x: SymbolicTensor) -> SymbolicTensor:
    return layers.ReLU()(x)


def _hard_swish(x: SymbolicTensor) -> SymbolicTensor:
    return layers.Activation("hard_swish")(x)


def _depth(v: float, divisor: int = 8) -> int:
    """``v`` rounded to a multiple of ``divisor`` (at least ``divisor``), never below 90%."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _se_block(inputs: SymbolicTensor, filters: int, se_ratio: float, prefix: str) -> SymbolicTensor:
    """Squeeze-excitation: the inputs times a hard-sigmoid gate per channel."""
    x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(
        inputs
    )
    x = layers.Conv2D(
        _depth(filters * se_ratio), 1, padding="same", name=f"{prefix}squeeze_excite_conv"
    )(x)
    x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, 1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
    x = _hard_sigmoid(x)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])


def _inverted_res_block(
    x: SymbolicTensor,
    expansion: float,
    filters: int,
    kernel_size: int,
    stride: int,
    se_ratio: float | None,
    activation: Callable[[SymbolicTensor], SymbolicTensor],
    block_id: int,
) -> SymbolicTensor:
    """Expand (1x1; not in block 0), depthwise ``kernel_size`` of ``stride``, optional
    squeeze-excitation, project (1x1, linear); a residual addition where the shapes allow."""
    shortcut = x
    prefix = "expanded_conv_"
    infilters = x.shape[-1]
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = layers.Conv2D(
            _depth(infilters * expansion), 1, padding="same", use_bias=False, name=f"{prefix}expand"
        )(x)
        x = _batch_norm(f"{prefix}expand_bn")(x)
        x = activation(x)
    if stride == 2:
        x = layers.ZeroPadding2D(
            imagenet_utils.correct_pad(x, kernel_size), name=f"{prefix}depthwise_pad"
        )(x)
    x = layers.DepthwiseConv2D(
        kernel_size,
        strides=stride,
        padding="same" if stride == 1 else "valid",
        use_bias=False,
        name=f"{prefix}depthwise",
    )(x)
    x = _batch_norm(f"{prefix}depthwise_bn")(x)
    x = activation(x)
    if se_ratio:
        x = _se_block(x, _depth(infilters * expansion), se_ratio, prefix)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = _batch_norm(f"{prefix}project_bn")(x)
    if stride == 1 and infilters == filters:
        x = layers.Add(name=f"{prefix}add")([shortcut, x])
    return x


def _mobilenet_v3(
    function_name: str, blocks: tuple[tuple[Any, ...], ...], last_point_ch: int, model_type: str
) -> Callable[..., Model]:
    """The function ``MobileNetV3Small`` or ``MobileNetV3Large`` with Keras's arguments."""

    def make(
        input_shape: tuple[int | None, ...] | None = None,
        alpha: float = 1.0,
        minimalistic: bool = False,
        include_top: bool = True,
        weights: Any = "imagenet",
        input_tensor: SymbolicTensor | None = None,
        classes: int = 1000,
        pooling: str | None = None,
        dropout_rate: float = 0.2,
        classifier_activation: Any = "softmax",
        include_preprocessing: bool = True,
        name: str = function_name,
    ) -> Model:
        return MobileNetV3(
            blocks,
            last_point_ch,
            input_shape,
            alpha,
            model_type,
            minimalistic,
            include_top,
            weights,
            input_tensor,
            classes,
            pooling,
            dropout_rate,
            classifier_activation,
            include_preprocessing,
            name,
        )

    make.__name__ = make.__qualname__ = function_name
    make.__doc__ = f"""{function_name} on images (N, H, W, 3) in [0, 255] (H, W at least 32, or
    None) to class probabilities (N, ``classes``) through ``classifier_activation``, or without
    the top to features (N, h, w, C) (or (N, C) with ``pooling`` "avg" or "max").

    ``alpha`` scales the width; ``minimalistic`` uses 3x3 kernels, ReLU and no
    squeeze-excitation; ``include_preprocessing=False`` leaves out the scaling to [-1, 1].
    ``weights``: ``"imagenet"`` (Keras's published weights: alpha 0.75 or 1.0, or 1.0 when
    minimalistic), a weights file's path, or None (random)."""
    return make


MobileNetV3Small = _mobilenet_v3("MobileNetV3Small", SMALL_BLOCKS, 1024, "small")
MobileNetV3Large = _mobilenet_v3("MobileNetV3Large", LARGE_BLOCKS, 1280, "large")


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """The identity, as Keras's: the model scales its inputs itself."""
    return x
