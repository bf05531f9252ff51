"""DenseNet121, DenseNet169 and DenseNet201 (Huang et al., 2017), as Keras's
``keras.applications.densenet``: the same layers, names and weights. Their inputs are
"torch"-preprocessed images (``preprocess_input``: [0, 1], then ImageNet's mean and std per
channel)."""

from __future__ import annotations

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

__all__ = ["DenseNet121", "DenseNet169", "DenseNet201", "decode_predictions", "preprocess_input"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
# blocks per dense block -> (depth, md5 of the file with the top, md5 of the file without)
WEIGHTS = {
    (6, 12, 24, 16): (121, "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    (6, 12, 32, 32): (169, "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    (6, 12, 48, 32): (201, "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}
EPSILON = 1.001e-5
GROWTH_RATE = 32


def _batch_norm(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(axis=3, epsilon=EPSILON, name=name)


def dense_block(x: SymbolicTensor, blocks: int, name: str) -> SymbolicTensor:
    """``blocks`` conv blocks, each adding 32 channels."""
    for i in range(blocks):
        x = conv_block(x, GROWTH_RATE, name=f"{name}_block{i + 1}")
    return x


def transition_block(x: SymbolicTensor, reduction: float, name: str) -> SymbolicTensor:
    """BN, ReLU, a 1x1 convolution to ``reduction`` of the channels, 2x2 average pooling."""
    x = _batch_norm(f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def conv_block(x: SymbolicTensor, growth_rate: int, name: str) -> SymbolicTensor:
    """BN, ReLU, 1x1 convolution (4 * ``growth_rate``), BN, ReLU, 3x3 convolution
    (``growth_rate``), concatenated to the block's input."""
    x1 = _batch_norm(f"{name}_0_bn")(x)
    x1 = layers.Activation("relu", name=f"{name}_0_relu")(x1)
    x1 = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
    x1 = _batch_norm(f"{name}_1_bn")(x1)
    x1 = layers.Activation("relu", name=f"{name}_1_relu")(x1)
    x1 = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x1)
    return layers.Concatenate(axis=3, name=f"{name}_concat")([x, x1])


def DenseNet(
    blocks: tuple[int, int, int, int],
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "densenet",
) -> Model:
    """A DenseNet of four dense blocks of ``blocks`` conv blocks (see :func:`DenseNet121`)."""
    check_weights(weights, include_top, classes)
    img_input = image_input(input_tensor, input_shape, 224, 32, include_top, weights)
    x = layers.ZeroPadding2D(((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _batch_norm("conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for i, count in enumerate(blocks):
        x = dense_block(x, count, name=f"conv{i + 2}")
        if i < 3:
            x = transition_block(x, 0.5, name=f"pool{i + 2}")
    x = _batch_norm("bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    x = top(
        x, include_top, pooling, classes, classifier_activation, weights, ("avg_pool", "max_pool")
    )
    if tuple(blocks) not in WEIGHTS:
        return make_model(img_input, input_tensor, x, name, weights)
    depth, *hashes = WEIGHTS[tuple(blocks)]
    file_name = (
        f"densenet{depth}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    )
    return make_model(
        img_input,
        input_tensor,
        x,
        name,
        weights,
        BASE_WEIGHTS_PATH + file_name,
        hashes[0 if include_top else 1],
    )


def _densenet(blocks: tuple[int, int, int, int]) -> Any:
    """The function ``DenseNet<depth>`` with Keras's arguments."""
    function_name = f"DenseNet{WEIGHTS[blocks][0]}"
    doc = APPLICATION_DOC.format(name=function_name, min_size=32, size=224)
    return application(function_name, function_name.lower(), doc, DenseNet, blocks=blocks)


DenseNet121 = _densenet((6, 12, 24, 16))
DenseNet169 = _densenet((6, 12, 32, 32))
DenseNet201 = _densenet((6, 12, 48, 32))
preprocess_input = imagenet_utils.preprocessing("torch")
