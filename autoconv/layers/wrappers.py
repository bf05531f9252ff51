"""Layers that hold other layers: the abstract ``Wrapper``, ``TimeDistributed`` (a layer
applied to every time step), ``SpectralNormalization`` (a layer's kernel divided by its
spectral norm) and ``Pipeline`` (layers applied in turn). Arguments, checks, weights and configs
follow Keras 3's ``keras/src/layers/core/wrapper.py``, ``rnn/time_distributed.py``,
``normalization/spectral_normalization.py`` and ``preprocessing/pipeline.py``.

A wrapper's config holds the wrapped layer as Keras's nested object entry (``"layer"``), a
pipeline's its layers (``"layers"``); their weights are saved under the wrapper's group, as
Keras saves them (``<wrapper>/layer/vars``, ``<pipeline>/layers/<layer>/vars``).
"""

from __future__ import annotations

import inspect
from typing import Any

from autoconv import initializers
from autoconv.backends import backend
from autoconv.layers import serialization
from autoconv.layers.layer import Layer, Shape, Variable
from autoconv.ops import engine as ops
from autoconv.ops.masks import as_mask, choose, mask
from autoconv.ops.nn import normalize
from autoconv.tensor import Tensor, no_grad
from autoconv.windows import is_int


def _build_once(layer: Layer, input_shape: Shape) -> None:
    """Build ``layer`` for ``input_shape`` unless it is built (a layer shared with another
    model keeps its weights), as Keras's ``Wrapper.build``."""
    if not layer.built:
        layer.build(input_shape)
        layer.built = True


class Wrapper(Layer):
    """Abstract base of the layers that wrap one other ``layer`` (held as ``self.layer``, its
    weights this layer's too): subclasses define ``call``. Its config holds the wrapped
    layer's entry under ``"layer"``."""

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Layer {layer} supplied to Wrapper isn't a supported layer type. Please "
                "ensure wrapped layer is a valid Keras layer."
            )
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape: Shape) -> None:
        _build_once(self.layer, input_shape)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__}: Wrapper is an abstract base class; subclasses define call"
        )

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"layer": serialization.serialize(self.layer)}

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Wrapper:
        arguments = dict(config)
        layer = serialization.deserialize(arguments.pop("layer"), custom_objects)
        return cls(layer, **serialization.keras_arguments(cls, arguments))


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every time step of (batch, time, ...) inputs, the same weights at
    each: step t of the output is ``layer(inputs[:, t])``, e.g. ``TimeDistributed(Conv2D(8,
    3))`` on video frames (N, T, H, W, C) gives (N, T, H - 2, W - 2, 8).

    As Keras's, the steps run one after the other through the layer's ``call`` (given the
    ``training`` flag where it takes one): a BatchNormalization inside normalizes each step by
    that step's batch statistics in training and updates its moving statistics once a step;
    the layer's own activity regularizer is not applied (its ``__call__`` is not run).
    """

    supports_masking = True

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise ValueError(
                "Please initialize `TimeDistributed` layer with a `keras.layers.Layer` "
                f"instance. Received: {layer}"
            )
        super().__init__(layer, **kwargs)
        parameters = inspect.signature(layer.call).parameters
        self._layer_takes_training = "training" in parameters
        self._layer_takes_mask = "mask" in parameters

    @staticmethod
    def _child_input_shape(input_shape: Shape) -> Shape:
        """(batch, time, ...) -> (batch, ...): the shape of one step."""
        if not isinstance(input_shape, tuple | list) or len(input_shape) < 3:
            raise ValueError(
                "`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
                f"dimensions, received: {input_shape}"
            )
        return (input_shape[0], *input_shape[2:])

    def build(self, input_shape: Shape) -> None:
        _build_once(self.layer, self._child_input_shape(input_shape))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        child = self.layer.compute_output_shape(self._child_input_shape(input_shape))
        return (child[0], input_shape[1], *child[1:])

    def call(self, inputs: Tensor, training: bool | None = None, mask: Any = None) -> Tensor:
        if inputs.ndim < 3:
            self._child_input_shape(inputs.shape)  # the error Keras gives
        kwargs = {"training": training} if self._layer_takes_training else {}
        if mask is not None:
            mask = as_mask(mask, inputs)
            if mask.ndim < 2 or mask.shape[:2] != inputs.shape[:2]:
                raise ValueError(
                    f"The `mask` passed to the `TimeDistributed` layer has a shape {mask.shape} "
                    f"that is incompatible with the input shape {inputs.shape}. The first two "
                    "dimensions of the mask (batch size and timesteps) must match the input's "
                    "first two dimensions."
                )
        takes_mask = mask is not None and self._layer_takes_mask
        steps = [
            self.layer.call(inputs[:, t], **kwargs, **({"mask": mask[:, t]} if takes_mask else {}))
            for t in range(inputs.shape[1])
        ]
        return ops.concatenate([ops.reshape(s, (s.shape[0], 1, *s.shape[1:])) for s in steps], 1)


class SpectralNormalization(Wrapper):
    """Divides the kernel of ``layer`` (its ``kernel``, or an Embedding's ``embeddings``) by
    its spectral norm (largest singular value), estimated by ``power_iterations`` steps of the
    power method from the kept vector ``vector_u``: with the kernel as a matrix W (its last
    axis the columns), ``v = normalize(u W^T)``, ``u = normalize(v W)``, then ``sigma = v W
    u^T``.

    As Keras's, the normalization happens in training only: each training call assigns ``W /
    sigma`` to the kernel and the new ``u`` to ``vector_u`` (no gradient flows through them;
    the kernel is left alone while it is all zeros), then runs ``layer``; in inference
    ``layer`` runs with the kernel as it is.

    Weights, Keras's order: the kernel (the wrapped layer's own variable, listed once) and
    ``vector_u`` (1, kernel columns), non-trainable, then the wrapped layer's other weights.
    """

    def __init__(self, layer: Layer, power_iterations: int = 1, **kwargs: Any) -> None:
        super().__init__(layer, **kwargs)
        if not is_int(power_iterations) or power_iterations <= 0:
            raise ValueError(
                "`power_iterations` should be greater than zero. Received: "
                f"`power_iterations={power_iterations}`"
            )
        self.power_iterations = int(power_iterations)

    def build(self, input_shape: Shape) -> None:
        _build_once(self.layer, input_shape)
        kernel = getattr(self.layer, "kernel", None)
        if kernel is None:
            kernel = getattr(self.layer, "embeddings", None)
        if not isinstance(kernel, Variable):
            raise ValueError(
                f"{type(self.layer).__name__} object has no attribute 'kernel' nor 'embeddings'"
            )
        self.kernel = kernel  # tracked as this layer's own variable too, as Keras does
        (self._trainable_variables if kernel.trainable else self._non_trainable_variables).append(
            kernel
        )
        self.vector_u = self.add_weight(
            (1, kernel.shape[-1]), initializers.TruncatedNormal(stddev=0.02),
            dtype=kernel.dtype, trainable=False, name="vector_u",
        )  # fmt: skip

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self.layer.compute_output_shape(input_shape)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if training:
            with no_grad():
                # Keras's ops.cond, on the device: a kernel of zeros is left as it is
                nonzero = mask(ops.max(ops.abs(self.kernel)).data > 0, self.kernel)
                vector_u, kernel = self.normalized_weights(nonzero)
                xp = backend(self.kernel)
                xp.copy_into(self.vector_u.data, choose(nonzero, vector_u, self.vector_u).data)
                xp.copy_into(self.kernel.data, choose(nonzero, kernel, self.kernel).data)
        return ops.cast(self.layer(inputs), inputs.dtype)

    def normalized_weights(self, nonzero: Tensor | float = 1.0) -> tuple[Tensor, Tensor]:
        """The power method's new ``vector_u`` and the kernel divided by its spectral norm
        (Keras's ``normalized_weights``), neither assigned. ``nonzero``: 0 where the kernel is
        all zeros, whose norm 0 is then taken as 1 (the values stay finite)."""
        weights = ops.reshape(self.kernel, (-1, self.kernel.shape[-1]))
        vector_u = self.vector_u
        for _ in range(self.power_iterations):
            vector_v = normalize(ops.matmul(vector_u, ops.transpose(weights)), axis=(0, 1))
            vector_u = normalize(ops.matmul(vector_v, weights), axis=(0, 1))
        sigma = ops.matmul(ops.matmul(vector_v, weights), ops.transpose(vector_u))
        return vector_u, self.kernel / (sigma + (1.0 - nonzero))

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"power_iterations": self.power_iterations}


class Pipeline(Layer):
    """Applies ``layers`` in turn, each to the output of the one before: a plain layer (not a
    model), e.g. an image augmentation pipeline. ``call``'s ``training`` defaults to True, as
    Keras's: its augmentation layers augment when the pipeline is called on its own (a model's
    ``predict`` and ``evaluate`` run it in inference mode). Its weights are its layers'.
    """

    def __init__(self, layers: list[Layer], name: str | None = None) -> None:
        if not isinstance(layers, list | tuple) or not all(isinstance(x, Layer) for x in layers):
            raise ValueError(f"`Pipeline` expects a list of layers. Received: layers={layers}")
        # inputs as the first layer takes them (Keras's Pipeline leaves them to it to convert)
        super().__init__(name=name, dtype=layers[0].dtype if layers else None)
        self._pipeline_layers = list(layers)
        self._layers = list(dict.fromkeys(self._pipeline_layers))  # tracked: their weights

    @property
    def layers(self) -> list[Layer]:
        return list(self._pipeline_layers)

    def build(self, input_shape: Shape) -> None:
        for layer in self._pipeline_layers:
            _build_once(layer, input_shape)
            input_shape = layer.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        for layer in self._pipeline_layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def call(self, inputs: Any, training: bool = True) -> Any:
        for layer in self._pipeline_layers:
            inputs = layer(inputs, training=training)
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {
            "layers": [serialization.serialize(layer) for layer in self._pipeline_layers],
            "name": self.name,
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Pipeline:
        layers = config.get("layers")
        if not isinstance(layers, list | tuple):
            raise ValueError(
                "`Pipeline` config must contain a `layers` key mapping to a list of serialized "
                f"layers. Received config with layers={layers}."
            )
        entries = [serialization.deserialize(entry, custom_objects) for entry in layers]
        return cls(**{**config, "layers": entries})
