"""ResNet50V2, ResNet101V2 and ResNet152V2 (He et al., 2016: pre-activation blocks), as Keras's
``keras.applications.resnet_v2``. Their inputs are images scaled to [-1, 1]
(``preprocess_input``)."""

from __future__ import annotations

from autoconv.applications import imagenet_utils
from autoconv.applications.imagenet_utils import decode_predictions
from autoconv.applications.resnet import resnet_function, stack_residual_blocks_v2

__all__ = ["ResNet50V2", "ResNet101V2", "ResNet152V2", "decode_predictions", "preprocess_input"]

V2_STRIDES = (2, 2, 2, 1)
ResNet50V2 = resnet_function("ResNet50V2", stack_residual_blocks_v2, (3, 4, 6, 3), V2_STRIDES, True)
ResNet101V2 = resnet_function(
    "ResNet101V2", stack_residual_blocks_v2, (3, 4, 23, 3), V2_STRIDES, True
)
ResNet152V2 = resnet_function(
    "ResNet152V2", stack_residual_blocks_v2, (3, 8, 36, 3), V2_STRIDES, True
)

preprocess_input = imagenet_utils.preprocessing("tf")
