"""VGG19 (Simonyan and Zisserman, 2014), as Keras's ``keras.applications.vgg19``: the same
layers, names and weights (VGG16's network, built by :func:`.vgg16.vgg`, with four
convolutions in each of the last three blocks). Its inputs are "caffe"-preprocessed images
(``preprocess_input``: BGR, less ImageNet's mean per channel)."""

from __future__ import annotations

from typing import Any

from autoconv.applications import imagenet_utils
from autoconv.applications.imagenet_utils import decode_predictions
from autoconv.applications.vgg16 import vgg
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.models import Model

__all__ = ["VGG19", "decode_predictions", "preprocess_input"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
# file name and md5, with the top and without
WEIGHTS = (
    ("vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318"),
    ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6"),
)
# (filters, convolutions) of the five blocks, each ending in a 2x2 max pooling
BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))


def VGG19(
    include_top: bool = True,
    weights: Any = "imagenet",
    input_tensor: SymbolicTensor | None = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "vgg19",
) -> Model:
    """VGG19 on images (N, H, W, 3) (H, W at least 32; (224, 224, 3) by default) to class
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


preprocess_input = imagenet_utils.preprocessing("caffe")
