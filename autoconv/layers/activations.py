"""Activation layers with arguments: LeakyReLU, PReLU (a learned slope), ELU, as Keras 3's
(``keras/src/layers/activations/``). ReLU and Softmax, which a model may fuse with the layer
before or the loss after, are in :mod:`autoconv.layers.core`."""

from __future__ import annotations

import warnings
from typing import Any

from autoconv import constraints, initializers, regularizers
from autoconv.layers.layer import Layer, Shape, serialized
from autoconv.ops import engine as ops
from autoconv.tensor import Tensor


class LeakyReLU(Layer):
    """``x`` where x >= 0, ``negative_slope * x`` below (Keras 3's default slope is 0.3; the
    function ``keras.activations.leaky_relu`` defaults to 0.2)."""

    built_at_init = True  # (no build config, as Keras's)

    supports_masking = True

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn(
                "Argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2
            )
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(
                "The negative_slope value of a Leaky ReLU layer cannot be None or negative "
                f"value. Expected a float. Received: negative_slope={negative_slope}"
            )
        self.negative_slope = float(negative_slope)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, inputs: Tensor) -> Tensor:
        return ops.leaky_relu(inputs, self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"negative_slope": self.negative_slope}


class ELU(Layer):
    """``x`` where x >= 0, ``alpha * (exp(x) - 1)`` below."""

    built_at_init = True  # (no build config, as Keras's)

    supports_masking = True

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, inputs: Tensor) -> Tensor:
        return ops.elu(inputs, self.alpha)

    def get_config(self) -> dict[str, Any]:
        # Keras's ELU leaves alpha out of its config (so a saved ELU(0.5) comes back as
        # ELU(1.0)); autoconv keeps it.
        return super().get_config() | {"alpha": self.alpha}


class PReLU(Layer):
    """Parametric ReLU: ``x`` where x >= 0, ``alpha * x`` below, with ``alpha`` learned, one
    per input element (shape ``input_shape[1:]``), or shared along ``shared_axes``: with
    (batch, height, width, channels) inputs, ``shared_axes=[1, 2]`` learns one slope per
    channel (as PyTorch's ``nn.PReLU(channels)``). ``alpha`` starts at 0 (a ReLU)."""

    supports_masking = True

    def __init__(
        self,
        alpha_initializer: Any = "Zeros",
        alpha_regularizer: Any = None,
        alpha_constraint: Any = None,
        shared_axes: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, list | tuple):
            self.shared_axes = [int(a) for a in shared_axes]
        else:
            self.shared_axes = [int(shared_axes)]

    def build(self, input_shape: Shape) -> None:
        param_shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if not 1 <= axis < len(input_shape):
                raise ValueError(
                    f"PReLU: shared_axes {self.shared_axes} must name axes 1 to "
                    f"{len(input_shape) - 1} of inputs of shape {tuple(input_shape)}"
                )
            param_shape[axis - 1] = 1
        if None in param_shape:
            raise ValueError(
                f"PReLU needs a known size on every axis it does not share, got inputs of shape "
                f"{tuple(input_shape)} with shared_axes={self.shared_axes}"
            )
        self.alpha = self.add_weight(
            param_shape, self.alpha_initializer, regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint, name="alpha",
        )  # fmt: skip

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, inputs: Tensor) -> Tensor:
        # Keras's formula: relu(x) - alpha * relu(-x)
        return ops.relu(inputs) - self.alpha * ops.relu(-inputs)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "alpha_initializer": serialized(initializers, self.alpha_initializer),
            "alpha_regularizer": serialized(regularizers, self.alpha_regularizer),
            "alpha_constraint": serialized(constraints, self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }
