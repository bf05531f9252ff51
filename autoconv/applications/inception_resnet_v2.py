"""InceptionResNetV2 (Szegedy et al., 2016), as Keras's ``keras.applications.inception_resnet_v2``
(keras/src/applications/inception_resnet_v2.py): the same layers, names (most of them numbered
by Keras's automatic naming, in Keras's order of creation) and weights, and Keras's
``CustomScaleLayer`` (the residual sum ``x + scale * r``), saved under Keras's module so that
the models' .keras files travel both ways. Its inputs are images scaled to [-1, 1]
(``preprocess_input``)."""

from __future__ import annotations

from typing import Any

from autoconv import layers
from autoconv.applications import imagenet_utils
from autoconv.applications.common import check_weights, image_input, make_model, top
from autoconv.applications.imagenet_utils import decode_predictions
from autoconv.layers.layer import Layer, Shape
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.models import Model
from autoconv.tensor import Tensor

__all__ = ["InceptionResNetV2", "decode_predictions", "preprocess_input"]

BASE_WEIGHT_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"
)
# file name and md5, with the top and without
WEIGHTS = (
    (
        "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
        "e693bd0210a403b3192acc6073ad2e96",
    ),
    (
        "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "d19885ff4a710c122648d3b5c3b684e4",
    ),
)
CHANNEL_AXIS = 3  # Keras's axis of the concatenations and batch normalizations (channels last)
# (block type, number of blocks, residual scale) of the three Inception-ResNet stages
STAGES = (("block35", 10, 0.17), ("block17", 20, 0.1), ("block8", 10, 0.2))
# each block type's branches: (filters, kernel size) of the convolutions in turn
BRANCHES = {
    "block35": (((32, 1),), ((32, 1), (32, 3)), ((32, 1), (48, 3), (64, 3))),
    "block17": (((192, 1),), ((128, 1), (160, (1, 7)), (192, (7, 1)))),
    "block8": (((192, 1),), ((192, 1), (224, (1, 3)), (256, (3, 1)))),
}


class CustomScaleLayer(Layer):
    """Keras's residual sum of Inception-ResNet: inputs ``[x, r]`` (the same shape) to
    ``x + r * scale``."""

    KERAS_MODULE = "keras.src.applications.inception_resnet_v2"
    KERAS_REGISTERED_NAME = "CustomScaleLayer"

    def __init__(self, scale: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = scale

    def compute_output_shape(self, input_shape: Any) -> Shape:
        if not isinstance(input_shape, list) or len(input_shape) != 2:
            raise ValueError(f"expects a list of two inputs [x, r], got {input_shape}")
        return tuple(input_shape[0])

    def call(self, inputs: list[Tensor]) -> Tensor:
        return inputs[0] + inputs[1] * self.scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}


def InceptionResNetV2(
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "inception_resnet_v2",
) -> Model:
    """InceptionResNetV2 on images (N, H, W, 3) (H, W at least 75; (299, 299, 3) by default) to
    class probabilities (N, ``classes``) through ``classifier_activation``, or without the top
    to features (N, h, w, 1536) (or (N, 1536) with ``pooling`` "avg" or "max"). ``weights``:
    ``"imagenet"`` (Keras's published weights), a weights file's path, or None (random)."""
    check_weights(weights, include_top, classes)
    img_input = image_input(input_tensor, input_shape, 299, 75, include_top, weights)
    x = conv2d_bn(img_input, 32, 3, strides=2, padding="valid")  # stem: 35 x 35 x 192
    x = conv2d_bn(x, 32, 3, padding="valid")
    x = conv2d_bn(x, 64, 3)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = conv2d_bn(x, 80, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, padding="valid")
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = _mixed(  # Inception-A: 35 x 35 x 320
        [
            _chain(x, ((96, 1),)),
            _chain(x, ((48, 1), (64, 5))),
            _chain(x, ((64, 1), (96, 3), (96, 3))),
            conv2d_bn(layers.AveragePooling2D(3, strides=1, padding="same")(x), 64, 1),
        ],
        "mixed_5b",
    )
    x = _stage(x, *STAGES[0])
    x = _mixed(  # Reduction-A: 17 x 17 x 1088
        [
            conv2d_bn(x, 384, 3, strides=2, padding="valid"),
            _reduce(_chain(x, ((256, 1), (256, 3))), 384),
            layers.MaxPooling2D(3, strides=2, padding="valid")(x),
        ],
        "mixed_6a",
    )
    x = _stage(x, *STAGES[1])
    x = _mixed(  # Reduction-B: 8 x 8 x 2080
        [
            _reduce(conv2d_bn(x, 256, 1), 384),
            _reduce(conv2d_bn(x, 256, 1), 288),
            _reduce(_chain(x, ((256, 1), (288, 3))), 320),
            layers.MaxPooling2D(3, strides=2, padding="valid")(x),
        ],
        "mixed_7a",
    )
    x = _stage(x, *STAGES[2])
    x = conv2d_bn(x, 1536, 1, name="conv_7b")  # 8 x 8 x 1536
    if include_top:
        x = top(x, True, None, classes, classifier_activation, weights, ("avg_pool", None))
    else:
        x = top(x, False, pooling, classes, classifier_activation, weights)
    file_name, file_hash = WEIGHTS[0 if include_top else 1]
    return make_model(
        img_input, input_tensor, x, name, weights, BASE_WEIGHT_URL + file_name, file_hash
    )


def conv2d_bn(
    x: SymbolicTensor,
    filters: int,
    kernel_size: int | tuple[int, int],
    strides: int = 1,
    padding: str = "same",
    activation: str | None = "relu",
    use_bias: bool = False,
    name: str | None = None,
) -> SymbolicTensor:
    """A convolution (layer ``name``), batch normalization without scale unless it has a bias
    (``{name}_bn``), then ``activation`` (``{name}_ac``); Keras's automatic names without
    ``name``."""
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=name
    )(x)
    if not use_bias:
        x = layers.BatchNormalization(
            axis=CHANNEL_AXIS, scale=False, name=None if name is None else f"{name}_bn"
        )(x)
    if activation is not None:
        x = layers.Activation(activation, name=None if name is None else f"{name}_ac")(x)
    return x


def _chain(x: SymbolicTensor, convolutions: tuple[tuple[int, Any], ...]) -> SymbolicTensor:
    """``conv2d_bn`` of each (filters, kernel size) of ``convolutions`` in turn."""
    for filters, kernel_size in convolutions:
        x = conv2d_bn(x, filters, kernel_size)
    return x


def _reduce(x: SymbolicTensor, filters: int) -> SymbolicTensor:
    """A strided 3x3 ``conv2d_bn`` without padding: the reductions' last convolutions."""
    return conv2d_bn(x, filters, 3, strides=2, padding="valid")


def _mixed(branches: list[SymbolicTensor], name: str) -> SymbolicTensor:
    return layers.Concatenate(axis=CHANNEL_AXIS, name=name)(branches)


def _stage(x: SymbolicTensor, block_type: str, blocks: int, scale: float) -> SymbolicTensor:
    """``blocks`` Inception-ResNet blocks of ``block_type``, numbered from 1; the block8
    stage's last is unscaled (1.0) and has no activation."""
    for block_idx in range(1, blocks + 1):
        last = block_type == "block8" and block_idx == blocks
        x = inception_resnet_block(
            x,
            1.0 if last else scale,
            block_type,
            block_idx,
            activation=None if last else "relu",
        )
    return x


def inception_resnet_block(
    x: SymbolicTensor, scale: float, block_type: str, block_idx: int, activation: Any = "relu"
) -> SymbolicTensor:
    """The Inception-ResNet block ``{block_type}_{block_idx}`` (``block_type`` "block35",
    "block17" or "block8"): its branches concatenated (``_mixed``), a 1x1 convolution with bias
    back to ``x``'s channels (``_conv``), added to ``x`` as ``x + scale * r``, then
    ``activation`` (``_ac``)."""
    if block_type not in BRANCHES:
        raise ValueError(
            'Unknown Inception-ResNet block type. Expects "block35", "block17" or "block8", '
            f"but got: {block_type}"
        )
    block_name = f"{block_type}_{block_idx}"
    branches = [_chain(x, convolutions) for convolutions in BRANCHES[block_type]]
    mixed = _mixed(branches, f"{block_name}_mixed")
    up = conv2d_bn(
        mixed, x.shape[CHANNEL_AXIS], 1, activation=None, use_bias=True, name=f"{block_name}_conv"
    )
    x = CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = layers.Activation(activation, name=f"{block_name}_ac")(x)
    return x


preprocess_input = imagenet_utils.preprocessing("tf")
