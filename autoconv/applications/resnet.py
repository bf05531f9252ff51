"""ResNet50, ResNet101 and ResNet152 (He et al., 2015), as Keras's
``keras.applications.resnet``: the same layers, names and weights; and the builder
:func:`ResNet` that ``resnet_v2`` shares. Their inputs are "caffe"-preprocessed images
(``preprocess_input``: BGR, less ImageNet's mean per channel)."""

from __future__ import annotations

from collections.abc import Callable
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

__all__ = ["ResNet", "ResNet50", "ResNet101", "ResNet152", "decode_predictions", "preprocess_input"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# (md5 of the file with the top, md5 of the file without)
WEIGHTS_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}
EPSILON = 1.001e-5


def ResNet(
    stack_fn: Callable[[SymbolicTensor], SymbolicTensor],
    preact: bool,
    use_bias: bool,
    name: str = "resnet",
    weights_name: str | None = None,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
) -> Model:
    """A ResNet (v1, or v2 with ``preact``) whose residual stacks ``stack_fn`` makes: the
    7x7 stem, the stacks, the top (see :func:`ResNet50` for the arguments)."""
    check_weights(weights, include_top, classes)
    img_input = image_input(input_tensor, input_shape, 224, 32, include_top, weights)
    x = layers.ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    if not preact:
        x = _batch_norm("conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stack_fn(x)
    if preact:
        x = _batch_norm("post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)
    x = top(
        x, include_top, pooling, classes, classifier_activation, weights, ("avg_pool", "max_pool")
    )
    if weights_name not in WEIGHTS_HASHES:  # Keras publishes no weights for the others
        return make_model(img_input, input_tensor, x, name, weights)
    suffix = "" if include_top else "_notop"
    file_name = f"{weights_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    file_hash = WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    return make_model(
        img_input, input_tensor, x, name, weights, BASE_WEIGHTS_PATH + file_name, file_hash
    )


def _batch_norm(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(axis=3, epsilon=EPSILON, name=name)


def residual_block_v1(
    x: SymbolicTensor,
    filters: int,
    kernel_size: int = 3,
    stride: int = 1,
    conv_shortcut: bool = True,
    name: str = "",
) -> SymbolicTensor:
    """1x1 (``stride``), ``kernel_size``, 1x1 (4 * ``filters``) convolutions, added to the
    shortcut (a 1x1 convolution where ``conv_shortcut``), then ReLU."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _batch_norm(f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = _batch_norm(f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, kernel_size, padding="same", name=f"{name}_2_conv")(x)
    x = _batch_norm(f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = _batch_norm(f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def stack_residual_blocks_v1(
    x: SymbolicTensor, filters: int, blocks: int, stride1: int = 2, name: str = ""
) -> SymbolicTensor:
    """``blocks`` v1 blocks, the first with a convolution shortcut and stride ``stride1``."""
    x = residual_block_v1(x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = residual_block_v1(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def residual_block_v2(
    x: SymbolicTensor,
    filters: int,
    kernel_size: int = 3,
    stride: int = 1,
    conv_shortcut: bool = False,
    name: str = "",
) -> SymbolicTensor:
    """Pre-activation block: BN and ReLU first, then 1x1, ``kernel_size`` (``stride``), 1x1
    (4 * ``filters``) convolutions added to the shortcut."""
    preact = _batch_norm(f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = _batch_norm(f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, kernel_size, strides=stride, use_bias=False, name=f"{name}_2_conv")(
        x
    )
    x = _batch_norm(f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def stack_residual_blocks_v2(
    x: SymbolicTensor, filters: int, blocks: int, stride1: int = 2, name: str = ""
) -> SymbolicTensor:
    """``blocks`` v2 blocks: the first with a convolution shortcut, the last of stride
    ``stride1``."""
    x = residual_block_v2(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = residual_block_v2(x, filters, name=f"{name}_block{i}")
    return residual_block_v2(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def resnet_function(
    name: str,
    stack: Callable[..., SymbolicTensor],
    blocks: tuple[int, int, int, int],
    strides: tuple[int, int, int, int],
    preact: bool,
) -> Callable[..., Model]:
    """The function ``name`` (``ResNet50``, ...) with Keras's arguments: a ResNet of the
    stacks conv2..conv5 (64, 128, 256 and 512 filters), each of ``blocks`` ``stack`` blocks
    with the first stride ``strides``."""

    def stack_fn(x: SymbolicTensor) -> SymbolicTensor:
        stacks = zip((64, 128, 256, 512), blocks, strides, strict=True)
        for i, (filters, count, stride) in enumerate(stacks):
            x = stack(x, filters, count, stride1=stride, name=f"conv{i + 2}")
        return x

    doc = APPLICATION_DOC.format(name=name, min_size=32, size=224)
    return application(
        name,
        name.lower(),
        doc,
        ResNet,
        stack_fn=stack_fn,
        preact=preact,
        use_bias=True,
        weights_name=name.lower(),
    )


V1_STRIDES = (1, 2, 2, 2)
ResNet50 = resnet_function("ResNet50", stack_residual_blocks_v1, (3, 4, 6, 3), V1_STRIDES, False)
ResNet101 = resnet_function("ResNet101", stack_residual_blocks_v1, (3, 4, 23, 3), V1_STRIDES, False)
ResNet152 = resnet_function("ResNet152", stack_residual_blocks_v1, (3, 8, 36, 3), V1_STRIDES, False)

preprocess_input = imagenet_utils.preprocessing("caffe")
