"""EfficientNetB0 to B7 (Tan and Le, 2019), as Keras's ``keras.applications.efficientnet``:
the same layers, names and weights. The models take images in [0, 255]: their rescaling and
normalization are layers of the model, so ``preprocess_input`` is the identity."""

from __future__ import annotations

import math
from typing import Any

from autoconv import layers
from autoconv.applications import imagenet_utils
from autoconv.applications.common import (
    APPLICATION_DOC,
    application,
    check_weights,
    image_input,
    make_model,
    top,
)
from autoconv.applications.imagenet_utils import decode_predictions
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.models import Model

__all__ = [
    "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
    "EfficientNetB5", "EfficientNetB6", "EfficientNetB7", "decode_predictions",
    "preprocess_input",
]  # fmt: skip

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/keras-applications/"
# (md5 of the file with the top, md5 of the file without)
WEIGHTS_HASHES = {
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
# The seven stages: (kernel_size, repeats, filters_in, filters_out, expand_ratio, strides); every
# block has an identity skip where the shapes allow, and squeeze-excitation of ratio 0.25.
DEFAULT_BLOCKS_ARGS = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)
SE_RATIO = 0.25
CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
DENSE_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)


def EfficientNet(
    width_coefficient: float,
    depth_coefficient: float,
    default_size: int,
    dropout_rate: float = 0.2,
    drop_connect_rate: float = 0.2,
    depth_divisor: int = 8,
    activation: Any = "swish",
    name: str = "efficientnet",
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    weights_name: str | None = None,
) -> Model:
    """An EfficientNet of the default stages, scaled in width and depth by the coefficients
    (see :func:`EfficientNetB0` for the other arguments); ``drop_connect_rate`` grows linearly
    over the blocks to this stochastic-depth rate."""
    check_weights(weights, include_top, classes)
    img_input = image_input(input_tensor, input_shape, default_size, 32, include_top, weights)

    def round_filters(filters: int) -> int:
        filters *= width_coefficient
        new_filters = max(
            depth_divisor, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor
        )
        return int(new_filters + depth_divisor if new_filters < 0.9 * filters else new_filters)

    def round_repeats(repeats: int) -> int:
        return math.ceil(depth_coefficient * repeats)

    x = layers.Rescaling(1.0 / 255.0)(img_input)
    x = layers.Normalization(axis=3)(x)
    if weights == "imagenet":
        x = layers.Rescaling([1.0 / math.sqrt(stddev) for stddev in IMAGENET_STDDEV_RGB])(x)
    x = layers.ZeroPadding2D(imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(
        round_filters(32),
        3,
        strides=2,
        padding="valid",
        use_bias=False,
        kernel_initializer=CONV_KERNEL_INITIALIZER,
        name="stem_conv",
    )(x)
    x = layers.BatchNormalization(axis=3, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    b = 0
    blocks = float(sum(round_repeats(args[1]) for args in DEFAULT_BLOCKS_ARGS))
    for i, (kernel_size, repeats, filters_in, filters_out, expand, strides) in enumerate(
        DEFAULT_BLOCKS_ARGS
    ):
        filters_in, filters_out = round_filters(filters_in), round_filters(filters_out)
        for j in range(round_repeats(repeats)):
            x = block(
                x,
                activation,
                drop_connect_rate * b / blocks,
                name=f"block{i + 1}{chr(j + 97)}_",
                filters_in=filters_in if j == 0 else filters_out,
                filters_out=filters_out,
                kernel_size=kernel_size,
                strides=strides if j == 0 else 1,
                expand_ratio=expand,
            )
            b += 1

    x = layers.Conv2D(
        round_filters(1280),
        1,
        padding="same",
        use_bias=False,
        kernel_initializer=CONV_KERNEL_INITIALIZER,
        name="top_conv",
    )(x)
    x = layers.BatchNormalization(axis=3, name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(
            classes,
            activation=classifier_activation,
            kernel_initializer=DENSE_KERNEL_INITIALIZER,
            name="predictions",
        )(x)
    else:
        x = top(x, False, pooling, classes, None, weights, ("avg_pool", "max_pool"))
    if weights_name is None:
        return make_model(img_input, input_tensor, x, name, weights)
    file_name = name + (".h5" if include_top else "_notop.h5")
    file_hash = WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    return make_model(
        img_input, input_tensor, x, name, weights, BASE_WEIGHTS_PATH + file_name, file_hash
    )


def block(
    inputs: SymbolicTensor,
    activation: Any = "swish",
    drop_rate: float = 0.0,
    name: str = "",
    filters_in: int = 32,
    filters_out: int = 16,
    kernel_size: int = 3,
    strides: int = 1,
    expand_ratio: int = 1,
    se_ratio: float = SE_RATIO,
    id_skip: bool = True,
) -> SymbolicTensor:
    """An inverted residual block: expand (1x1), depthwise ``kernel_size`` of ``strides``,
    squeeze-excitation, project (1x1) to ``filters_out``; with an identity skip (after
    stochastic depth ``drop_rate``) where the shapes allow."""
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = _conv(filters, f"{name}expand_conv")(inputs)
        x = layers.BatchNormalization(axis=3, name=f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    else:
        x = inputs
    if strides == 2:
        x = layers.ZeroPadding2D(
            imagenet_utils.correct_pad(x, kernel_size), name=f"{name}dwconv_pad"
        )(x)
    x = layers.DepthwiseConv2D(
        kernel_size,
        strides=strides,
        padding="valid" if strides == 2 else "same",
        use_bias=False,
        depthwise_initializer=CONV_KERNEL_INITIALIZER,
        name=f"{name}dwconv",
    )(x)
    x = layers.BatchNormalization(axis=3, name=f"{name}bn")(x)
    x = layers.Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        filters_se = max(1, int(filters_in * se_ratio))
        se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
        se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
        se = _conv(filters_se, f"{name}se_reduce", activation=activation, use_bias=True)(se)
        se = _conv(filters, f"{name}se_expand", activation="sigmoid", use_bias=True)(se)
        x = layers.multiply([x, se], name=f"{name}se_excite")
    x = _conv(filters_out, f"{name}project_conv")(x)
    x = layers.BatchNormalization(axis=3, name=f"{name}project_bn")(x)
    if id_skip and strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def _conv(filters: int, name: str, activation: Any = None, use_bias: bool = False) -> layers.Conv2D:
    """A 1x1 "same" convolution with EfficientNet's initializer."""
    return layers.Conv2D(
        filters,
        1,
        padding="same",
        activation=activation,
        use_bias=use_bias,
        kernel_initializer=CONV_KERNEL_INITIALIZER,
        name=name,
    )


def _efficientnet(index: int, width: float, depth: float, size: int, dropout: float) -> Any:
    """The function ``EfficientNetB<index>`` with Keras's arguments."""
    function_name = f"EfficientNetB{index}"
    return application(
        function_name,
        function_name.lower(),
        APPLICATION_DOC.format(name=function_name, min_size=32, size=size)
        + "\n\n    Its inputs are images in [0, 255] (it rescales and normalizes them itself).",
        EfficientNet,
        width_coefficient=width,
        depth_coefficient=depth,
        default_size=size,
        dropout_rate=dropout,
        weights_name=f"b{index}",
    )


EfficientNetB0 = _efficientnet(0, 1.0, 1.0, 224, 0.2)
EfficientNetB1 = _efficientnet(1, 1.0, 1.1, 240, 0.2)
EfficientNetB2 = _efficientnet(2, 1.1, 1.2, 260, 0.3)
EfficientNetB3 = _efficientnet(3, 1.2, 1.4, 300, 0.3)
EfficientNetB4 = _efficientnet(4, 1.4, 1.8, 380, 0.4)
EfficientNetB5 = _efficientnet(5, 1.6, 2.2, 456, 0.4)
EfficientNetB6 = _efficientnet(6, 1.8, 2.6, 528, 0.5)
EfficientNetB7 = _efficientnet(7, 2.0, 3.1, 600, 0.5)


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """The identity, as Keras's: the model rescales and normalizes its inputs itself."""
    return x
