"""What every application model shares, as Keras's builders do it: the checks of ``weights``
and ``classes``, the input (``input_tensor`` or a new ``Input``), the top (a classifier, or
the ``pooling`` of the features) and the weights (``"imagenet"``: Keras's published file,
fetched by :mod:`.download`; a path: that file; None: the random initialization)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from autoconv import layers
from autoconv.applications import imagenet_utils
from autoconv.applications.download import get_file
from autoconv.layers.input_layer import InputLayer
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.models import Model


def check_weights(weights: Any, include_top: bool, classes: int) -> None:
    """Keras's checks: ``weights`` is None, ``"imagenet"`` or an existing file's path, and
    ImageNet weights with the top mean 1000 classes."""
    if not (
        weights is None
        or (
            isinstance(weights, str | os.PathLike)
            and (weights == "imagenet" or os.path.exists(weights))
        )
    ):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), 'imagenet' "
            "(pre-training on ImageNet), or the path to the weights file to be loaded.  "
            f"Received: weights={weights}"
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            "If using `weights='imagenet'` with `include_top=True`, `classes` should be 1000.  "
            f"Received classes={classes}"
        )


def image_input(
    input_tensor: Any,
    input_shape: Any,
    default_size: int,
    min_size: int,
    include_top: bool,
    weights: Any,
) -> SymbolicTensor:
    """The model's image input: ``input_tensor`` (a symbolic tensor: ``Input`` or a layer's
    output), else a new ``Input`` of ``input_shape`` checked by ``obtain_input_shape``."""
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=min_size,
        data_format="channels_last",
        require_flatten=include_top,
        weights=weights,
    )
    if input_tensor is None:
        return layers.Input(shape=input_shape)
    if not isinstance(input_tensor, SymbolicTensor):
        raise ValueError(
            "input_tensor must be a symbolic tensor (autoconv.Input(...) or a layer's output); "
            f"Received {input_tensor!r} of type {type(input_tensor).__name__}"
        )
    return input_tensor


def source_inputs(tensor: SymbolicTensor) -> list[SymbolicTensor]:
    """The ``Input`` tensors ``tensor`` is computed from (Keras's ``get_source_inputs``)."""
    node = tensor.node
    if node is None or isinstance(node.layer, InputLayer):
        return [tensor]
    found: list[SymbolicTensor] = []
    for parent in node.inputs:
        found += [t for t in source_inputs(parent) if all(t is not f for f in found)]
    return found


def top(
    x: SymbolicTensor,
    include_top: bool,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
    weights: Any,
    pool_names: tuple[str | None, str | None] = (None, None),
) -> SymbolicTensor:
    """With ``include_top``, global average pooling and the ``predictions`` Dense layer of
    ``classes`` (N, classes); else the features (N, H, W, C), or their global ``pooling``
    ("avg" or "max": (N, C)). ``pool_names`` name the average and max pooling layers."""
    if include_top:
        x = layers.GlobalAveragePooling2D(name=pool_names[0])(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=pool_names[0])(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=pool_names[1])(x)
    return x


def make_model(
    img_input: SymbolicTensor,
    input_tensor: Any,
    outputs: SymbolicTensor,
    name: str,
    weights: Any,
    origin: str | None = None,
    file_hash: str | None = None,
) -> Model:
    """The functional model from the image input (or the inputs ``input_tensor`` comes from)
    to ``outputs``, with its weights: ``"imagenet"`` the file at URL ``origin`` (fetched into
    Keras's cache, checked against ``file_hash``), a path that file, None the initial ones."""
    inputs = source_inputs(input_tensor) if input_tensor is not None else [img_input]
    # one input as the tensor itself, as Keras's: the model's input_shape is then its shape
    model = Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=name)
    if weights == "imagenet":
        if origin is None:
            raise ValueError(f"{name}: Keras publishes no ImageNet weights for this model")
        weights = get_file(origin.rsplit("/", 1)[1], origin, "models", file_hash)
    if weights is not None:
        model.load_weights(weights)
    return model


def application(
    function_name: str, model_name: str, doc: str, build: Callable[..., Model], **fixed: Any
) -> Callable[..., Model]:
    """The function ``function_name`` (``ResNet50``, ``EfficientNetB0``, ...) with Keras's
    arguments, calling ``build`` with them and the architecture's ``fixed`` arguments."""

    def make(
        include_top: bool = True,
        weights: Any = "imagenet",
        input_tensor: SymbolicTensor | None = None,
        input_shape: tuple[int | None, ...] | None = None,
        pooling: str | None = None,
        classes: int = 1000,
        classifier_activation: Any = "softmax",
        name: str = model_name,
    ) -> Model:
        return build(
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
            **fixed,
        )

    make.__name__ = make.__qualname__ = function_name
    make.__module__ = build.__module__
    make.__doc__ = doc
    return make


APPLICATION_DOC = """{name} on images (N, H, W, 3) (H, W at least {min_size}; ({size}, {size}, 3)
    by default) to class probabilities (N, ``classes``) through ``classifier_activation``, or
    without the top to features (N, h, w, C) (or (N, C) with ``pooling`` "avg" or "max").
    ``weights``: ``"imagenet"`` (Keras's published weights), a weights file's path, or None
    (random); ``input_tensor``: a symbolic tensor to use as the input. The layers, their names
    and the model's name are Keras's."""
