"""``autoconv.applications``, as ``keras.applications``: Keras's ImageNet models with the
same layers, layer names, parameter counts and published weights.

>>> from autoconv import applications
>>> model = applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), include_top=False)
>>> model.output_shape
(None, 1, 1, 1280)
"""

from autoconv.applications import (
    convnext,
    densenet,
    efficientnet,
    efficientnet_v2,
    imagenet_utils,
    inception_resnet_v2,
    inception_v3,
    mobilenet,
    mobilenet_v2,
    mobilenet_v3,
    nasnet,
    resnet,
    resnet50,
    resnet_v2,
    vgg16,
    vgg19,
    xception,
)
from autoconv.applications.convnext import (
    ConvNeXtBase,
    ConvNeXtLarge,
    ConvNeXtSmall,
    ConvNeXtTiny,
    ConvNeXtXLarge,
)
from autoconv.applications.densenet import DenseNet121, DenseNet169, DenseNet201
from autoconv.applications.efficientnet import (
    EfficientNetB0,
    EfficientNetB1,
    EfficientNetB2,
    EfficientNetB3,
    EfficientNetB4,
    EfficientNetB5,
    EfficientNetB6,
    EfficientNetB7,
)
from autoconv.applications.efficientnet_v2 import (
    EfficientNetV2B0,
    EfficientNetV2B1,
    EfficientNetV2B2,
    EfficientNetV2B3,
    EfficientNetV2L,
    EfficientNetV2M,
    EfficientNetV2S,
)
from autoconv.applications.inception_resnet_v2 import InceptionResNetV2
from autoconv.applications.inception_v3 import InceptionV3
from autoconv.applications.mobilenet import MobileNet
from autoconv.applications.mobilenet_v2 import MobileNetV2
from autoconv.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from autoconv.applications.nasnet import NASNetLarge, NASNetMobile
from autoconv.applications.resnet import ResNet50, ResNet101, ResNet152
from autoconv.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from autoconv.applications.vgg16 import VGG16
from autoconv.applications.vgg19 import VGG19
from autoconv.applications.xception import Xception

__all__ = [
    "VGG16",
    "VGG19",
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtSmall",
    "ConvNeXtTiny",
    "ConvNeXtXLarge",
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "EfficientNetV2B0",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2L",
    "EfficientNetV2M",
    "EfficientNetV2S",
    "InceptionResNetV2",
    "InceptionV3",
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Large",
    "MobileNetV3Small",
    "NASNetLarge",
    "NASNetMobile",
    "ResNet50",
    "ResNet50V2",
    "ResNet101",
    "ResNet101V2",
    "ResNet152",
    "ResNet152V2",
    "Xception",
    "convnext",
    "densenet",
    "efficientnet",
    "efficientnet_v2",
    "imagenet_utils",
    "inception_resnet_v2",
    "inception_v3",
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3",
    "nasnet",
    "resnet",
    "resnet50",
    "resnet_v2",
    "vgg16",
    "vgg19",
    "xception",
]
