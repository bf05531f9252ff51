"""NASNet-A (Zoph et al., 2018), as Keras's ``keras.applications.nasnet``
(keras/src/applications/nasnet.py): ``NASNet`` builds the network of normal and reduction
cells, ``NASNetMobile`` (4 @ 1056) and ``NASNetLarge`` (6 @ 4032) are its two published
variants; the same layers, names (the unnamed ones numbered by Keras's automatic naming, in
Keras's order of creation) and weights. Its inputs are images scaled to [-1, 1]
(``preprocess_input``)."""

from __future__ import annotations

from typing import Any

from autoconv import layers
from autoconv.applications import imagenet_utils
from autoconv.applications.common import check_weights, image_input, make_model, top
from autoconv.applications.download import get_file
from autoconv.applications.imagenet_utils import decode_predictions
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.models import Model

__all__ = ["NASNetLarge", "NASNetMobile", "decode_predictions", "preprocess_input"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
# default_size: the published weights, (cache file name, URL's file name, md5) with the top
# and without
WEIGHTS = {
    224: (
        ("nasnet_mobile.h5", "NASNet-mobile.h5", "020fb642bf7360b370c678b08e0adf61"),
        ("nasnet_mobile_no_top.h5", "NASNet-mobile-no-top.h5", "1ed92395b5b598bdda52abe5c0dbfd63"),
    ),
    331: (
        ("nasnet_large.h5", "NASNet-large.h5", "11577c9a518f0070763c2b964a382f17"),
        ("nasnet_large_no_top.h5", "NASNet-large-no-top.h5", "d81d89dc07e6e56530c4e77faddd61b5"),
    ),
}
CHANNEL_DIM = -1  # channels last


def NASNet(
    input_shape: tuple[int | None, ...] | None = None,
    penultimate_filters: int = 4032,
    num_blocks: int = 6,
    stem_block_filters: int = 96,
    skip_reduction: bool = True,
    filter_multiplier: int = 2,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    default_size: int | None = None,
    classifier_activation: Any = "softmax",
    name: str = "NASNet",
) -> Model:
    """NASNet-A (N @ P: ``num_blocks`` normal cells per stage, ``penultimate_filters``) on
    images (N, H, W, 3) (H, W at least 32; (``default_size``, ``default_size``, 3) by default,
    331 when None) to class probabilities (N, ``classes``), or without the top to features
    (N, h, w, ``penultimate_filters``) (or pooled by ``pooling``: (N, ``penultimate_filters``)).

    ``stem_block_filters``: the first convolution's; ``filter_multiplier``: the growth of the
    filters at each reduction; ``skip_reduction``: the cells after a reduction take the cell
    before it as their previous input (else the reduction's input). ``weights="imagenet"``
    loads NASNetMobile's (``default_size`` 224) or NASNetLarge's (331) published weights."""
    check_weights(weights, include_top, classes)
    if isinstance(input_shape, tuple) and None in input_shape and weights == "imagenet":
        raise ValueError(
            "When specifying the input shape of a NASNet and loading `ImageNet` weights, the "
            "input_shape argument must be static (no None entries). Got: "
            f"`input_shape={input_shape}`."
        )
    default_size = 331 if default_size is None else default_size
    if weights == "imagenet" and default_size not in WEIGHTS:
        raise ValueError("ImageNet weights can only be loaded with NASNetLarge or NASNetMobile")
    if penultimate_filters % (24 * (filter_multiplier**2)) != 0:
        raise ValueError(
            "For NASNet-A models, the `penultimate_filters` must be a multiple of 24 * "
            f"(`filter_multiplier` ** 2). Current value: {penultimate_filters}"
        )
    img_input = image_input(input_tensor, input_shape, default_size, 32, include_top, weights)
    filters = penultimate_filters // 24
    x = layers.Conv2D(
        stem_block_filters,
        (3, 3),
        strides=(2, 2),
        padding="valid",
        use_bias=False,
        name="stem_conv1",
        kernel_initializer="he_normal",
    )(img_input)
    x = _batch_norm("stem_bn1")(x)
    x, p = _reduction_a_cell(x, None, filters // (filter_multiplier**2), "stem_1")
    x, p = _reduction_a_cell(x, p, filters // filter_multiplier, "stem_2")
    for stage in range(3):
        stage_filters = filters * filter_multiplier**stage
        if stage:
            x, p0 = _reduction_a_cell(x, p, stage_filters, f"reduce_{stage * num_blocks}")
            p = p if skip_reduction else p0
        # the normal cells are numbered on past a reduction's number
        first = stage * num_blocks + (1 if stage else 0)
        for i in range(first, first + num_blocks):
            x, p = _normal_a_cell(x, p, stage_filters, str(i))
    x = layers.Activation("relu")(x)
    x = top(x, include_top, pooling, classes, classifier_activation, weights)
    if weights == "imagenet":
        file_name, url_name, file_hash = WEIGHTS[default_size][0 if include_top else 1]
        weights = get_file(file_name, BASE_WEIGHTS_PATH + url_name, "models", file_hash)
    return make_model(img_input, input_tensor, x, name, weights)


def NASNetMobile(
    input_shape: tuple[int | None, ...] | None = None,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "nasnet_mobile",
) -> Model:
    """NASNet-A 4 @ 1056 (:func:`NASNet`): images (N, H, W, 3) ((224, 224, 3) by default, also
    without the top) to (N, ``classes``), or features (N, h, w, 1056)."""
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return NASNet(
        input_shape,
        penultimate_filters=1056,
        num_blocks=4,
        stem_block_filters=32,
        skip_reduction=False,
        filter_multiplier=2,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        pooling=pooling,
        classes=classes,
        default_size=224,
        classifier_activation=classifier_activation,
        name=name,
    )


def NASNetLarge(
    input_shape: tuple[int | None, ...] | None = None,
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "nasnet_large",
) -> Model:
    """NASNet-A 6 @ 4032 (:func:`NASNet`): images (N, H, W, 3) ((331, 331, 3) by default) to
    (N, ``classes``), or features (N, h, w, 4032)."""
    return NASNet(
        input_shape,
        penultimate_filters=4032,
        num_blocks=6,
        stem_block_filters=96,
        skip_reduction=True,
        filter_multiplier=2,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        pooling=pooling,
        classes=classes,
        default_size=331,
        classifier_activation=classifier_activation,
        name=name,
    )


def _batch_norm(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(axis=CHANNEL_DIM, momentum=0.9997, epsilon=1e-3, name=name)


def _conv_1x1(filters: int, name: str) -> layers.Conv2D:
    """A 1x1 "same" convolution without bias, He-normal initialized."""
    return layers.Conv2D(
        filters,
        (1, 1),
        strides=(1, 1),
        padding="same",
        name=name,
        use_bias=False,
        kernel_initializer="he_normal",
    )


def _separable_conv_block(
    ip: SymbolicTensor,
    filters: int,
    kernel_size: tuple[int, int] = (3, 3),
    strides: tuple[int, int] = (1, 1),
    block_id: str | None = None,
) -> SymbolicTensor:
    """Twice ReLU, separable convolution and batch normalization; the first of ``strides``
    (TensorFlow's "same" padding by a ZeroPadding2D where they are 2)."""
    x = layers.Activation("relu")(ip)
    conv_pad = "same"
    if strides == (2, 2):
        x = layers.ZeroPadding2D(
            padding=imagenet_utils.correct_pad(x, kernel_size),
            name=f"separable_conv_1_pad_{block_id}",
        )(x)
        conv_pad = "valid"
    x = layers.SeparableConv2D(
        filters,
        kernel_size,
        strides=strides,
        name=f"separable_conv_1_{block_id}",
        padding=conv_pad,
        use_bias=False,
    )(x)
    x = _batch_norm(f"separable_conv_1_bn_{block_id}")(x)
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(
        filters, kernel_size, name=f"separable_conv_2_{block_id}", padding="same", use_bias=False
    )(x)
    return _batch_norm(f"separable_conv_2_bn_{block_id}")(x)


def _adjust_block(
    p: SymbolicTensor | None, ip: SymbolicTensor, filters: int, block_id: str
) -> SymbolicTensor:
    """The previous path ``p`` matched to ``ip``'s shape: ``ip`` itself where there is none;
    halved (two offset strided 1x1 paths, concatenated) where ``ip`` is smaller; projected to
    ``filters`` channels where only the channels differ."""
    if p is None:
        return ip
    if p.shape[-2] != ip.shape[-2]:
        p = layers.Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
        p1 = _halve(p, filters, 1, block_id)
        p2 = layers.ZeroPadding2D(padding=((0, 1), (0, 1)))(p)
        p2 = layers.Cropping2D(cropping=((1, 0), (1, 0)))(p2)
        p2 = _halve(p2, filters, 2, block_id)
        p = layers.concatenate([p1, p2], axis=CHANNEL_DIM)
        return _batch_norm(f"adjust_bn_{block_id}")(p)
    if p.shape[CHANNEL_DIM] != filters:
        p = layers.Activation("relu")(p)
        p = _conv_1x1(filters, f"adjust_conv_projection_{block_id}")(p)
        return _batch_norm(f"adjust_bn_{block_id}")(p)
    return p


def _halve(p: SymbolicTensor, filters: int, i: int, block_id: str) -> SymbolicTensor:
    """Path ``i`` of a halving adjustment: a strided 1x1 average pooling, then a 1x1
    convolution to ``filters // 2``."""
    p = layers.AveragePooling2D(
        (1, 1), strides=(2, 2), padding="valid", name=f"adjust_avg_pool_{i}_{block_id}"
    )(p)
    return _conv_1x1(filters // 2, f"adjust_conv_{i}_{block_id}")(p)


def _pool(kind: str, strides: int, name: str) -> layers.Layer:
    """A 3x3 average (``kind`` "avg") or max pooling of ``strides``: "same" padding at 1,
    "valid" at 2."""
    cls = layers.AveragePooling2D if kind == "avg" else layers.MaxPooling2D
    padding = "same" if strides == 1 else "valid"
    return cls((3, 3), strides=(strides, strides), padding=padding, name=name)


def _cell_input(
    ip: SymbolicTensor, p: SymbolicTensor | None, filters: int, kind: str, block_id: str
) -> tuple[SymbolicTensor, SymbolicTensor]:
    """A cell's two inputs: the previous path adjusted, and ReLU, 1x1 convolution and batch
    normalization of ``ip`` (``kind`` "normal" or "reduction" in their names)."""
    p = _adjust_block(p, ip, filters, block_id)
    h = layers.Activation("relu")(ip)
    h = _conv_1x1(filters, f"{kind}_conv_1_{block_id}")(h)
    return p, _batch_norm(f"{kind}_bn_1_{block_id}")(h)


def _normal_a_cell(
    ip: SymbolicTensor, p: SymbolicTensor | None, filters: int, block_id: str
) -> tuple[SymbolicTensor, SymbolicTensor]:
    """A normal cell (Fig. 4 of the paper): (output, ``ip`` as the next cell's previous path);
    the spatial size kept, 6 * ``filters`` channels."""
    p, h = _cell_input(ip, p, filters, "normal", block_id)
    x1_1 = _separable_conv_block(h, filters, (5, 5), block_id=f"normal_left1_{block_id}")
    x1_2 = _separable_conv_block(p, filters, block_id=f"normal_right1_{block_id}")
    x1 = layers.add([x1_1, x1_2], name=f"normal_add_1_{block_id}")
    x2_1 = _separable_conv_block(p, filters, (5, 5), block_id=f"normal_left2_{block_id}")
    x2_2 = _separable_conv_block(p, filters, (3, 3), block_id=f"normal_right2_{block_id}")
    x2 = layers.add([x2_1, x2_2], name=f"normal_add_2_{block_id}")
    x3 = _pool("avg", 1, f"normal_left3_{block_id}")(h)
    x3 = layers.add([x3, p], name=f"normal_add_3_{block_id}")
    x4_1 = _pool("avg", 1, f"normal_left4_{block_id}")(p)
    x4_2 = _pool("avg", 1, f"normal_right4_{block_id}")(p)
    x4 = layers.add([x4_1, x4_2], name=f"normal_add_4_{block_id}")
    x5 = _separable_conv_block(h, filters, block_id=f"normal_left5_{block_id}")
    x5 = layers.add([x5, h], name=f"normal_add_5_{block_id}")
    x = layers.concatenate(
        [p, x1, x2, x3, x4, x5], axis=CHANNEL_DIM, name=f"normal_concat_{block_id}"
    )
    return x, ip


def _reduction_a_cell(
    ip: SymbolicTensor, p: SymbolicTensor | None, filters: int, block_id: str
) -> tuple[SymbolicTensor, SymbolicTensor]:
    """A reduction cell (Fig. 4 of the paper): (output, ``ip`` as the next cell's previous
    path); the spatial size halved, 4 * ``filters`` channels."""
    p, h = _cell_input(ip, p, filters, "reduction", block_id)
    h3 = layers.ZeroPadding2D(
        padding=imagenet_utils.correct_pad(h, 3), name=f"reduction_pad_1_{block_id}"
    )(h)
    x1_1 = _separable_conv_block(h, filters, (5, 5), (2, 2), f"reduction_left1_{block_id}")
    x1_2 = _separable_conv_block(p, filters, (7, 7), (2, 2), f"reduction_right1_{block_id}")
    x1 = layers.add([x1_1, x1_2], name=f"reduction_add_1_{block_id}")
    x2_1 = _pool("max", 2, f"reduction_left2_{block_id}")(h3)
    x2_2 = _separable_conv_block(p, filters, (7, 7), (2, 2), f"reduction_right2_{block_id}")
    x2 = layers.add([x2_1, x2_2], name=f"reduction_add_2_{block_id}")
    x3_1 = _pool("avg", 2, f"reduction_left3_{block_id}")(h3)
    x3_2 = _separable_conv_block(p, filters, (5, 5), (2, 2), f"reduction_right3_{block_id}")
    x3 = layers.add([x3_1, x3_2], name=f"reduction_add3_{block_id}")
    x4 = _pool("avg", 1, f"reduction_left4_{block_id}")(x1)
    x4 = layers.add([x2, x4])
    x5_1 = _separable_conv_block(x1, filters, (3, 3), block_id=f"reduction_left4_{block_id}")
    x5_2 = _pool("max", 2, f"reduction_right5_{block_id}")(h3)
    x5 = layers.add([x5_1, x5_2], name=f"reduction_add4_{block_id}")
    x = layers.concatenate([x2, x3, x4, x5], axis=CHANNEL_DIM, name=f"reduction_concat_{block_id}")
    return x, ip


preprocess_input = imagenet_utils.preprocessing("tf")
