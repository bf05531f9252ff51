"""Core layers: Dense, Activation (and ReLU, Softmax), Flatten, Dropout, Rescaling, Identity,
Lambda. Arguments, defaults and order are Keras 3's."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv import activations, initializers, ops, regularizers
from autoconv.layers.layer import Layer, Shape, serialized
from autoconv.random import generator
from autoconv.tensor import Tensor
from autoconv.windows import MAX_SIZE, is_int


def channels_last(data_format: str | None, owner: str) -> None:
    """autoconv computes channels-last only; ``"channels_first"`` is a clear error."""
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"{owner}: data_format={data_format!r} is not supported: autoconv computes "
            "channels-last (batch, height, width, channels); transpose the data instead"
        )


def positive_int(value: Any, name: str, owner: str) -> int:
    """``value`` as an int >= 1 (NumPy integers too, as Keras accepts them)."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    if value > MAX_SIZE:
        raise ValueError(f"{owner}: {name} must be at most {MAX_SIZE}, got {value!r}")
    return int(value)


def int_pair(value: Any, name: str, owner: str) -> tuple[int, int]:
    """An int or two ints (NumPy integers too) as (height, width), each >= 1: Keras's
    ``standardize_tuple`` and its message, naming the argument."""
    message = (
        f"{owner}: The `{name}` argument must be a tuple of 2 integers. Received {name}={value}"
    )
    if is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, tuple | list) and len(value) == 2 and all(is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(message)
    wrong = {v for v in pair if v <= 0}
    if wrong:
        raise ValueError(f"{message}, including values {wrong} that do not satisfy `value > 0`")
    if max(pair) > MAX_SIZE:
        raise ValueError(f"{message}, larger than {MAX_SIZE}")
    return pair


def number(value: Any, name: str, owner: str) -> float:
    """``value`` as a float: a real number (NumPy's too), not NaN, not a bool or a string."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real) or value != value:
        raise ValueError(f"{owner}: {name} must be a number, got {value!r}")
    return float(value)


def axis_int(value: Any, owner: str) -> int:
    """An axis argument: an int (NumPy integers too)."""
    if not is_int(value):
        raise ValueError(f"{owner}: axis must be an int, got {value!r}")
    return int(value)


def check_axis(axis: int, rank: int, owner: str) -> None:
    """``axis`` must be an axis of inputs of ``rank`` dims, counted from either end."""
    if not -rank <= axis < rank:
        raise ValueError(f"{owner}: axis {axis} is out of bounds for inputs of rank {rank}")


class ActivationMixin:
    """A layer whose output goes through ``self.activation``. When that is a softmax over the
    last axis, :meth:`pre_activation` gives its logits, which a model with a cross-entropy loss
    uses directly (a stable loss, no log of a probability)."""

    activation: Callable[..., Any]

    @property
    def ends_in_softmax(self) -> bool:
        return self.activation is activations.softmax

    def pre_activation(self, inputs: Any, training: bool | None = None) -> Tensor:
        raise NotImplementedError


class Dense(ActivationMixin, Layer):
    """``activation(inputs @ kernel + bias)`` on the last axis: (..., features) -> (..., units),
    kernel (features, units)."""

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = positive_int(units, "units", "Dense")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        if kernel_constraint is not None or bias_constraint is not None:
            raise ValueError("Dense: weight constraints are not supported by autoconv")

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense needs inputs with a known last axis, got {input_shape}")
        self.kernel = self.add_weight(
            (input_shape[-1], self.units), self.kernel_initializer,
            regularizer=self.kernel_regularizer, name="kernel",
        )  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                (self.units,), self.bias_initializer, regularizer=self.bias_regularizer,
                name="bias",
            )  # fmt: skip

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 2:
            raise ValueError(f"Dense needs inputs of at least 2 dims, got {input_shape}")
        if self.built and input_shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"Dense {self.name} was built for {self.kernel.shape[0]} input features, got "
                f"inputs of shape {input_shape}"
            )
        return (*input_shape[:-1], self.units)

    def pre_activation(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        flat = inputs if inputs.ndim == 2 else inputs.reshape(-1, inputs.shape[-1])
        out = flat @ self.kernel
        if self.bias is not None:
            out = out + self.bias
        return out if inputs.ndim == 2 else out.reshape(*inputs.shape[:-1], self.units)

    def call(self, inputs: Tensor) -> Tensor:
        return self.activation(self.pre_activation(inputs))

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "units": self.units,
            "activation": serialized(activations, self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": serialized(initializers, self.kernel_initializer),
            "bias_initializer": serialized(initializers, self.bias_initializer),
            "kernel_regularizer": serialized(regularizers, self.kernel_regularizer),
            "bias_regularizer": serialized(regularizers, self.bias_regularizer),
        }


class Activation(ActivationMixin, Layer):
    """Applies an activation function, by name or as a callable."""

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def pre_activation(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        return inputs

    def call(self, inputs: Tensor) -> Tensor:
        return self.activation(inputs)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"activation": serialized(activations, self.activation)}


class ReLU(Activation):
    """Keras's ReLU layer: ``max(x, 0)``, or with ``max_value`` a cap, with ``negative_slope``
    a slope below ``threshold``, and values under ``threshold`` (but above 0) set to 0."""

    def __init__(
        self,
        max_value: float | None = None,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        **kwargs: Any,
    ) -> None:
        for name, value in (("negative_slope", negative_slope), ("threshold", threshold)):
            if value is not None:
                number(value, name, "ReLU")
            if value is None or value < 0:
                raise ValueError(
                    f"The {name} value of a Relu layer cannot be None or negative value. "
                    f"Expected a float. Received: {name}={value}"
                )
        if max_value is not None and number(max_value, "max_value", "ReLU") < 0:
            raise ValueError(
                "max_value of a Relu layer cannot be a negative value. Received: "
                f"max_value={max_value}"
            )
        super().__init__("relu", **kwargs)
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope, self.threshold = float(negative_slope), float(threshold)
        if (max_value, self.negative_slope, self.threshold) != (None, 0.0, 0.0):
            self.activation = self._relu

    def _relu(self, x: Any) -> Tensor:
        return ops.relu(x, self.negative_slope, self.max_value, self.threshold)

    def get_config(self) -> dict[str, Any]:
        return Layer.get_config(self) | {
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class Softmax(Activation):
    """Softmax over ``axis`` (the last by default)."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__("softmax", **kwargs)
        self.axis = axis_int(axis, "Softmax")
        if self.axis != -1:
            self.activation = lambda x: ops.softmax(x, axis=self.axis)

    def build(self, input_shape: Shape) -> None:
        check_axis(self.axis, len(input_shape), f"Softmax {self.name}")

    def get_config(self) -> dict[str, Any]:
        return Layer.get_config(self) | {"axis": self.axis}


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        channels_last(data_format, "Flatten")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def call(self, inputs: Tensor) -> Tensor:
        return ops.flatten(inputs)


class Dropout(Layer):
    """In training, zeroes a fraction ``rate`` of the inputs and scales the rest by
    1/(1 - rate); in inference, the identity."""

    def __init__(
        self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(rate, bool | np.bool_)
            or not isinstance(rate, numbers.Real)
            or not 0 <= rate <= 1
        ):
            raise ValueError(
                f"Invalid value received for argument `rate`. Expected a float value between 0 "
                f"and 1. Received: rate={rate}"
            )
        if noise_shape is not None:
            raise ValueError("Dropout: noise_shape is not supported yet")
        if seed is not None and (not is_int(seed) or seed < 0):
            raise ValueError(f"Dropout: seed must be None or a non-negative int, got {seed!r}")
        self.rate = float(rate)
        self.seed = None if seed is None else int(seed)
        self._generator = None if seed is None else np.random.default_rng(seed)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.rate == 0.0:
            return inputs
        if self.rate == 1.0:
            return inputs * 0.0
        return ops.dropout(inputs, self.rate, self._generator or generator())

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"rate": self.rate, "seed": self.seed}


class Rescaling(Layer):
    """``inputs * scale + offset``, e.g. ``Rescaling(1 / 255)`` for 8-bit images."""

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale, self.offset = (
            number(scale, "scale", "Rescaling"),
            number(offset, "offset", "Rescaling"),
        )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, inputs: Tensor) -> Tensor:
        out = inputs * self.scale
        return out + self.offset if self.offset else out

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"scale": self.scale, "offset": self.offset}


class Identity(Layer):
    """Returns its input unchanged."""

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, inputs: Tensor) -> Tensor:
        return inputs


class Lambda(Layer):
    """Wraps ``function(inputs)`` (written with autoconv ops) as a layer. Its output shape is
    ``output_shape`` if given, else found by running it once. It cannot be saved (a Python
    function has no safe file format): rebuild it in code and use ``save_weights``."""

    def __init__(
        self,
        function: Callable[[Any], Any],
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, got {function!r}")
        if mask is not None:
            raise ValueError("Lambda: masks are not supported by autoconv")
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        return (input_shape[0] if not isinstance(input_shape, list) else None, *self._output_shape)

    def call(self, inputs: Any) -> Any:
        return self.function(inputs, **self.arguments)

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            f"Lambda layer {self.name} cannot be saved: a Python function has no safe file "
            "format. Rebuild the model in code and save its weights with save_weights()"
        )
