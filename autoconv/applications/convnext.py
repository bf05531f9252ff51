"""ConvNeXtTiny to ConvNeXtXLarge (Liu et al., 2022), as Keras's
``keras.applications.convnext`` (``keras/src/applications/convnext.py``): the same layers,
names, configs and weights, with the module's own layers ``LayerScale`` and
``StochasticDepth`` saved under Keras's module and registered names, so that Keras's .keras
files of these models load here and autoconv's in Keras. The models take images in
[0, 255]: their normalization is a layer of the model, so ``preprocess_input`` is the
identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv import config, initializers, layers
from autoconv.applications import imagenet_utils
from autoconv.applications.common import check_weights, image_input, make_model
from autoconv.applications.imagenet_utils import decode_predictions
from autoconv.layers.layer import Layer, Shape
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.models import Model, Sequential
from autoconv.ops import engine as ops
from autoconv.seeds import generator
from autoconv.tensor import Tensor

__all__ = [
    "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
    "LayerScale", "StochasticDepth", "decode_predictions", "preprocess_input",
]  # fmt: skip

KERAS_MODULE = "keras.src.applications.convnext"  # where Keras's files name the module's layers
BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/convnext/"
# (sha256 of the file with the top, sha256 of the file without)
WEIGHTS_HASHES = {
    "convnext_tiny": (
        "8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
        "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1",
    ),
    "convnext_small": (
        "ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
        "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab",
    ),
    "convnext_base": (
        "52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
        "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45",
    ),
    "convnext_large": (
        "070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
        "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd",
    ),
    "convnext_xlarge": (
        "c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
        "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05",
    ),
}
# Each variant's blocks per stage and channels per stage (the four stages run at 1/4, 1/8,
# 1/16 and 1/32 of the input's size).
MODEL_CONFIGS = {
    "tiny": {"depths": [3, 3, 9, 3], "projection_dims": [96, 192, 384, 768], "default_size": 224},
    "small": {"depths": [3, 3, 27, 3], "projection_dims": [96, 192, 384, 768], "default_size": 224},
    "base": {
        "depths": [3, 3, 27, 3],
        "projection_dims": [128, 256, 512, 1024],
        "default_size": 224,
    },
    "large": {
        "depths": [3, 3, 27, 3],
        "projection_dims": [192, 384, 768, 1536],
        "default_size": 224,
    },
    "xlarge": {
        "depths": [3, 3, 27, 3],
        "projection_dims": [256, 512, 1024, 2048],
        "default_size": 224,
    },
}
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)


class StochasticDepth(Layer):
    """In training, drops each sample's whole residual branch with probability
    ``drop_path_rate`` and scales the kept ones by 1 / (1 - drop_path_rate); in inference, the
    identity. Any input shape (N, ...); the output has the input's shape."""

    KERAS_MODULE, KERAS_REGISTERED_NAME = KERAS_MODULE, "StochasticDepth"

    def __init__(self, drop_path_rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(drop_path_rate, bool)
            or not isinstance(drop_path_rate, int | float | np.number)
            or not 0 <= drop_path_rate < 1
        ):
            raise ValueError(
                "StochasticDepth: drop_path_rate must be a number in [0, 1). Received: "
                f"drop_path_rate={drop_path_rate!r}"
            )
        self.drop_path_rate = float(drop_path_rate)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.drop_path_rate == 0.0:
            return inputs
        noise_shape = (inputs.shape[0],) + (1,) * (inputs.ndim - 1)
        return ops.dropout(inputs, self.drop_path_rate, generator(), noise_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"drop_path_rate": self.drop_path_rate}


class LayerScale(Layer):
    """Multiplies the last axis by a trainable vector (Keras's weight ``variable``, of shape
    (projection_dim,), initialized to ``init_values``): (..., projection_dim) in and out."""

    KERAS_MODULE, KERAS_REGISTERED_NAME = KERAS_MODULE, "LayerScale"

    def __init__(self, init_values: float, projection_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(projection_dim, bool)
            or not isinstance(projection_dim, int | np.integer)
            or projection_dim < 1
        ):
            raise ValueError(
                "LayerScale: projection_dim must be a positive int. Received: "
                f"projection_dim={projection_dim!r}"
            )
        self.init_values = init_values
        self.projection_dim = int(projection_dim)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)
        self.gamma = self.add_weight(
            (self.projection_dim,), initializers.Constant(self.init_values)
        )

    def call(self, inputs: Tensor) -> Tensor:
        return inputs * self.gamma

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if input_shape[-1] not in (None, self.projection_dim):
            raise ValueError(
                f"LayerScale {self.name}: the inputs' last axis must be projection_dim="
                f"{self.projection_dim}, got inputs of shape {tuple(input_shape)}"
            )
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "init_values": self.init_values,
            "projection_dim": self.projection_dim,
        }


def ConvNeXtBlock(
    projection_dim: int,
    drop_path_rate: float = 0.0,
    layer_scale_init_value: float | None = 1e-6,
    name: str = "convnext_block",
) -> Callable[[SymbolicTensor], SymbolicTensor]:
    """A residual block on (N, H, W, projection_dim): a 7x7 depthwise convolution (a Conv2D
    of ``groups=projection_dim``), layer normalization, a pointwise MLP (Dense 4x, GELU,
    Dense), the layer scale, then stochastic depth (or an identity ``Activation``) and the
    addition of the block's input."""

    def apply(inputs: SymbolicTensor) -> SymbolicTensor:
        x = layers.Conv2D(
            filters=projection_dim,
            kernel_size=7,
            padding="same",
            groups=projection_dim,
            name=f"{name}_depthwise_conv",
        )(inputs)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_layernorm")(x)
        x = layers.Dense(4 * projection_dim, name=f"{name}_pointwise_conv_1")(x)
        x = layers.Activation("gelu", name=f"{name}_gelu")(x)
        x = layers.Dense(projection_dim, name=f"{name}_pointwise_conv_2")(x)
        if layer_scale_init_value is not None:
            x = LayerScale(layer_scale_init_value, projection_dim, name=f"{name}_layer_scale")(x)
        if drop_path_rate:
            layer = StochasticDepth(drop_path_rate, name=f"{name}_stochastic_depth")
        else:
            layer = layers.Activation("linear", name=f"{name}_identity")
        return inputs + layer(x)

    return apply


def ConvNeXt(
    depths: list[int],
    projection_dims: list[int],
    drop_path_rate: float = 0.0,
    layer_scale_init_value: float | None = 1e-6,
    default_size: int = 224,
    name: str = "convnext",
    include_preprocessing: bool = True,
    include_top: bool = True,
    weights: Any = None,
    input_tensor: SymbolicTensor | None = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    weights_name: str | None = None,
) -> Model:
    """A ConvNeXt of four stages of ``depths[i]`` blocks of ``projection_dims[i]`` channels: a
    4x4 stride-4 stem and 2x2 stride-2 downsamplings (each a nested ``Sequential`` of a
    convolution and a layer normalization), ``drop_path_rate`` growing linearly over the
    blocks from 0. ``include_preprocessing``: normalize 3-channel inputs in [0, 255] by
    ImageNet's mean and deviation first. Without the top, the features (N, h, w, C) (or
    pooled (N, C)) pass through a last layer normalization, as Keras's. ``weights_name``: the
    published weights' variant ("convnext_tiny", ...); see :func:`ConvNeXtTiny` for the rest."""
    if config.image_data_format() == "channels_first":
        raise ValueError(
            "ConvNeXt does not support the `channels_first` image data format. Switch to "
            "`channels_last` by editing your local config file at ~/.keras/keras.json"
        )
    check_weights(weights, include_top, classes)
    if weights == "imagenet":
        _check_pretrained(depths, projection_dims, name, weights_name)
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
    img_input = image_input(input_tensor, input_shape, default_size, 32, include_top, weights)

    x = img_input
    if include_preprocessing and img_input.shape[-1] == 3:
        x = layers.Normalization(
            mean=[m * 255 for m in IMAGENET_MEAN_RGB],
            variance=[(s * 255) ** 2 for s in IMAGENET_STDDEV_RGB],
            name=f"{name}_prestem_normalization",
        )(x)
    stages = [
        Sequential(
            [
                layers.Conv2D(
                    projection_dims[0], kernel_size=4, strides=4, name=f"{name}_stem_conv"
                ),
                layers.LayerNormalization(epsilon=1e-6, name=f"{name}_stem_layernorm"),
            ],
            name=f"{name}_stem",
        )
    ]
    for i in range(3):
        stages.append(
            Sequential(
                [
                    layers.LayerNormalization(
                        epsilon=1e-6, name=f"{name}_downsampling_layernorm_{i}"
                    ),
                    layers.Conv2D(
                        projection_dims[i + 1],
                        kernel_size=2,
                        strides=2,
                        name=f"{name}_downsampling_conv_{i}",
                    ),
                ],
                name=f"{name}_downsampling_block_{i}",
            )
        )
    drop_rates = [float(rate) for rate in np.linspace(0.0, drop_path_rate, sum(depths))]
    done = 0
    for i, downsample in enumerate(stages):
        x = downsample(x)
        for j in range(depths[i]):
            x = ConvNeXtBlock(
                projection_dim=projection_dims[i],
                drop_path_rate=drop_rates[done + j],
                layer_scale_init_value=layer_scale_init_value,
                name=f"{name}_stage_{i}_block_{j}",
            )(x)
        done += depths[i]

    if include_top:
        x = layers.GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_head_layernorm")(x)
        x = layers.Dense(classes, activation=classifier_activation, name=f"{name}_head_dense")(x)
    else:
        if pooling == "avg":
            x = layers.GlobalAveragePooling2D()(x)
        elif pooling == "max":
            x = layers.GlobalMaxPooling2D()(x)
        x = layers.LayerNormalization(epsilon=1e-6)(x)

    if weights != "imagenet":
        return make_model(img_input, input_tensor, x, name, weights)
    file_name = name + (".h5" if include_top else "_notop.h5")
    file_hash = WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    return make_model(
        img_input, input_tensor, x, name, weights, BASE_WEIGHTS_PATH + file_name, file_hash
    )


def _check_pretrained(
    depths: list[int], projection_dims: list[int], name: str, weights_name: str | None
) -> None:
    """Keras's checks before ImageNet weights: a published variant, its architecture, and a
    model name holding the variant's (the file is named after the model)."""
    if weights_name not in WEIGHTS_HASHES:
        raise ValueError(
            f"Keras publishes ImageNet weights only for {sorted(WEIGHTS_HASHES)}. Received: "
            f"weights_name={weights_name!r}"
        )
    expected = MODEL_CONFIGS[weights_name.split("convnext_")[-1]]
    if list(depths) != expected["depths"] or list(projection_dims) != expected["projection_dims"]:
        raise ValueError(
            f"Architecture configuration does not match {weights_name} variant. When using "
            "pre-trained weights, the model architecture must match the pre-trained "
            f"configuration exactly. Expected depths: {expected['depths']}, got: {depths}. "
            f"Expected projection_dims: {expected['projection_dims']}, got: {projection_dims}."
        )
    if weights_name not in name:
        raise ValueError(
            f'Model name "{name}" does not match weights variant "{weights_name}". When using '
            "imagenet weights, model name must contain the weights variant (e.g., "
            f'"{weights_name}").'
        )


VARIANT_DOC = """ConvNeXt{title} on images (N, H, W, 3) in [0, 255] (H, W at least 32; (224, 224,
    3) by default) to class probabilities (N, ``classes``) through ``classifier_activation``,
    or without the top to features (N, h, w, {width}) (or (N, {width}) with ``pooling`` "avg"
    or "max"). ``include_preprocessing``: normalize the images in the model (needed with the
    published weights). ``weights``: ``"imagenet"`` (Keras's published weights; ``name`` must
    then contain "{weights_name}"), a weights file's path, or None (random);
    ``input_tensor``: a symbolic tensor to use as the input. The layers, their names and the
    model's name are Keras's."""


def _variant(variant: str) -> Callable[..., Model]:
    """The function ``ConvNeXt<Variant>`` with Keras's arguments."""
    weights_name = f"convnext_{variant}"
    architecture = MODEL_CONFIGS[variant]

    def make(
        include_top: bool = True,
        include_preprocessing: bool = True,
        weights: Any = "imagenet",
        input_tensor: SymbolicTensor | None = None,
        input_shape: tuple[int | None, ...] | None = None,
        pooling: str | None = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str = weights_name,
    ) -> Model:
        return ConvNeXt(
            weights_name=weights_name,
            depths=architecture["depths"],
            projection_dims=architecture["projection_dims"],
            drop_path_rate=0.0,
            layer_scale_init_value=1e-6,
            default_size=architecture["default_size"],
            name=name,
            include_top=include_top,
            include_preprocessing=include_preprocessing,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
        )

    title = "XLarge" if variant == "xlarge" else variant.title()
    make.__name__ = make.__qualname__ = f"ConvNeXt{title}"
    make.__doc__ = VARIANT_DOC.format(
        title=title, width=architecture["projection_dims"][-1], weights_name=weights_name
    )
    return make


ConvNeXtTiny = _variant("tiny")
ConvNeXtSmall = _variant("small")
ConvNeXtBase = _variant("base")
ConvNeXtLarge = _variant("large")
ConvNeXtXLarge = _variant("xlarge")


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """The identity, as Keras's: the model normalizes its inputs itself."""
    return x
