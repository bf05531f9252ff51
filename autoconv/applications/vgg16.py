"""VGG16 (Simonyan and Zisserman, 2014), as Keras's ``keras.applications.vgg16``: the same
layers, names and weights. Its inputs are "caffe"-preprocessed images (``preprocess_input``:
BGR, less ImageNet's mean per channel)."""

from __future__ import annotations

from typing import Any

from autoconv import layers
from autoconv.applications import imagenet_utils
from autoconv.applications.common import check_weights, image_input, make_model, top
from autoconv.applications.imagenet_utils import decode_predictions
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.models import Model

__all__ = ["VGG16", "decode_predictions", "preprocess_input"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
# file name and md5, with the top and without
WEIGHTS = (
    ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
    ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc"),
)
# (filters, convolutions) of the five blocks, each ending in a 2x2 max pooling
BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def VGG16(
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "vgg16",
) -> Model:
    """VGG16 on images (N, H, W, 3) (H, W at least 32; (224, 224, 3) by default) to class
    probabilities (N, ``classes``) through two Dense layers of 4096 on the flattened features,
    or without the top to features (N, h, w, 512) (or (N, 512) with ``pooling`` "avg" or
    "max"). ``weights``: ``"imagenet"`` (Keras's published weights), a weights file's path, or
    None (random)."""
    return vgg(
        BLOCKS,
        BASE_WEIGHTS_PATH,
        WEIGHTS,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
    )


def vgg(
    blocks: tuple[tuple[int, int], ...],
    base_path: str,
    weight_files: tuple[tuple[str, str], ...],
    include_top: bool,
    weights: Any,
    input_tensor: SymbolicTensor | None,
    input_shape: tuple[int | None, ...] | None,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
    name: str,
) -> Model:
    """The VGG network of ``blocks`` ((filters, 3x3 convolutions) of each block, each ending
    in a 2x2 max pooling), VGG16's and VGG19's; ``weight_files``: Keras's published files
    (name, md5) under the URL ``base_path``, with the top and without."""
    check_weights(weights, include_top, classes)
    img_input = image_input(input_tensor, input_shape, 224, 32, include_top, weights)
    x = img_input
    for block, (filters, convolutions) in enumerate(blocks, start=1):
        for i in range(1, convolutions + 1):
            x = layers.Conv2D(
                filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}"
            )(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = top(x, False, pooling, classes, classifier_activation, weights)
    file_name, file_hash = weight_files[0 if include_top else 1]
    return make_model(img_input, input_tensor, x, name, weights, base_path + file_name, file_hash)


preprocess_input = imagenet_utils.preprocessing("caffe")
