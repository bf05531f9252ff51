"""Core layers: Dense, Activation (and ReLU, Softmax), Flatten, Identity, Lambda. Arguments,
defaults and order are Keras 3's. (Dropout is in :mod:`autoconv.layers.regularization`,
Rescaling in :mod:`autoconv.layers.preprocessing`, the other activation layers in
:mod:`autoconv.layers.activations`.)"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv import activations, constraints, initializers, regularizers
from autoconv.layers.channels import as_given
from autoconv.layers.layer import Layer, Shape, serialized
from autoconv.layers.serialization import lambda_function, lambda_function_entry
from autoconv.ops import engine as ops
from autoconv.ops.convert import standardize_data_format
from autoconv.ops.masks import LARGE_NEGATIVE, as_mask, choose
from autoconv.tensor import Tensor
from autoconv.windows import MAX_SIZE, is_int


def check_spatial_rank(layer: Layer, input_shape: Any, rank: int) -> None:
    """Input of ``rank`` spatial axes: (batch, steps, channels) for 1, (batch, height, width,
    channels) for 2, (batch, depth, height, width, channels) for 3; the error names the axes
    and the shape in the layer's layout (channels-first: the channels before the steps)."""
    if len(input_shape) != rank + 2:
        spatial = {1: "steps", 2: "height, width", 3: "depth, height, width"}[rank]
        first = getattr(layer, "data_format", None) == "channels_first"
        axes = f"(batch, channels, {spatial})" if first else f"(batch, {spatial}, channels)"
        raise ValueError(
            f"{type(layer).__name__} {layer.name}: input must be {axes}, got "
            f"{as_given(layer, input_shape)}"
        )


def positive_int(value: Any, name: str, owner: str) -> int:
    """``value`` as an int >= 1 (NumPy integers too, as Keras accepts them)."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    if value > MAX_SIZE:
        raise ValueError(f"{owner}: {name} must be at most {MAX_SIZE}, got {value!r}")
    return int(value)


def as_tuple(
    value: Any, rank: int, name: str, owner: str, allow_zero: bool = False
) -> tuple[int, ...]:
    """An int, or a tuple or list of ``rank`` ints (NumPy's too), as a tuple of ``rank`` ints,
    each > 0 (or >= 0 with ``allow_zero``) and at most MAX_SIZE: Keras's ``standardize_tuple``
    and its message, for kernel sizes, strides, dilation rates, pool sizes, output paddings."""
    message = (
        f"{owner}: The `{name}` argument must be a tuple of {rank} integers. Received "
        f"{name}={value!r}"
    )
    values = (value,) * rank if is_int(value) else value
    if not isinstance(values, tuple | list) or len(values) != rank or not all(map(is_int, values)):
        raise ValueError(message)
    wrong = {int(v) for v in values if v < (0 if allow_zero else 1)}
    if wrong:
        condition = "value >= 0" if allow_zero else "value > 0"
        raise ValueError(f"{message}, including values {wrong} that do not satisfy `{condition}`")
    if max(values) > MAX_SIZE:
        raise ValueError(f"{message}, larger than {MAX_SIZE}")
    return tuple(int(v) for v in values)


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


# Where Keras's configs of convolutions put the entries of the window and the activation: after
# the base layer's (name, trainable, dtype), before the initializers, regularizers, constraints.
CONV_CONFIG_ORDER = (
    "depth_multiplier", "filters", "kernel_size", "strides", "padding", "output_padding",
    "data_format", "dilation_rate", "groups", "activation", "use_bias",
)  # fmt: skip


class ActivationMixin:
    """A layer whose output goes through ``self.activation``. When that is a softmax over the
    last axis, :meth:`pre_activation` gives its logits, which a model with a cross-entropy loss
    uses directly (a stable loss, no log of a probability)."""

    activation: Callable[..., Any] | None

    def activate(self, x: Any) -> Any:
        """``self.activation(x)``, or ``x`` where the activation was set to None afterwards
        (``model.layers[-1].activation = None``, keras.io's Grad-CAM): Keras's layers skip it."""
        return x if self.activation is None else self.activation(x)

    @property
    def ends_in_softmax(self) -> bool:
        """A softmax activation after autoconv's own ``call``: a subclass's ``call`` computes
        what :meth:`pre_activation` does not know, so its output stays as it returns it."""
        own_call = type(self).call.__module__.startswith("autoconv.")
        return own_call and self.activation is activations.softmax

    def pre_activation(self, inputs: Any, training: bool | None = None) -> Tensor:
        raise NotImplementedError


class Dense(ActivationMixin, Layer):
    """``activation(inputs @ kernel + bias)`` on the last axis: (..., features) -> (..., units),
    kernel (features, units)."""

    _saved_variable_names = ("kernel", "bias")

    supports_masking = True

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
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense needs inputs with a known last axis, got {input_shape}")
        self.kernel = self.add_weight(
            (input_shape[-1], self.units), self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint, name="kernel",
        )  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                (self.units,), self.bias_initializer, regularizer=self.bias_regularizer,
                constraint=self.bias_constraint, name="bias",
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

    def _affine(
        self, inputs: Tensor, kernel: Tensor, bias: Tensor | None, relu: bool = False
    ) -> Tensor:
        """inputs @ kernel + bias (then max(., 0) with ``relu``): one op, the bias and the ReLU
        in the product's pass (one kernel on the GPU) and back through them in one."""
        flat = inputs if inputs.ndim == 2 else inputs.reshape(-1, inputs.shape[-1])
        out = ops.matmul(flat, kernel, bias, relu)
        return out if inputs.ndim == 2 else out.reshape(*inputs.shape[:-1], self.units)

    def pre_activation(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        return self._affine(inputs, self.kernel, self.bias)

    def unbiased(self, inputs: Tensor) -> Tensor:
        """inputs @ kernel without the bias (a BatchNormalization after it adds the bias as it
        reads: see :meth:`autoconv.layers.BatchNormalization.normalized`)."""
        return self._affine(inputs, self.kernel, None)

    def call(self, inputs: Tensor) -> Tensor:
        if self.activation is activations.relu:  # fused into the product
            return self._affine(inputs, self.kernel, self.bias, relu=True)
        return self.activate(self.pre_activation(inputs))

    def folded(self, inputs: Tensor, batch_norm: Any, relu: bool = False) -> Tensor:
        """This linear layer followed by ``batch_norm`` in inference mode (then a ReLU) with
        the batch normalization folded into its kernel and bias
        (``BatchNormalization.folded``)."""
        return self._affine(inputs, *batch_norm.folded(self.kernel, self.bias), relu)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "units": self.units,
            "activation": serialized(activations, self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": serialized(initializers, self.kernel_initializer),
            "bias_initializer": serialized(initializers, self.bias_initializer),
            "kernel_regularizer": serialized(regularizers, self.kernel_regularizer),
            "bias_regularizer": serialized(regularizers, self.bias_regularizer),
            "kernel_constraint": serialized(constraints, self.kernel_constraint),
            "bias_constraint": serialized(constraints, self.bias_constraint),
            "quantization_config": None,
        }


class Activation(ActivationMixin, Layer):
    """Applies an activation function, by name or as a callable."""

    built_at_init = True  # (no build config, as Keras's)

    supports_masking = True

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
    """Softmax over ``axis``: the last by default, any axis, or a list of axes (one softmax
    over all of them together, as Keras's; its config keeps a tuple a tuple, as Keras's)."""

    def __init__(self, axis: int | list[int] | tuple[int, ...] = -1, **kwargs: Any) -> None:
        super().__init__("softmax", **kwargs)
        if isinstance(axis, list | tuple):
            axes = [axis_int(a, "Softmax") for a in axis]
            self.axis: int | list[int] | tuple[int, ...] = (
                tuple(axes) if isinstance(axis, tuple) else axes
            )
            self._axes: int | tuple[int, ...] = (
                self.axis[0] if len(self.axis) == 1 else tuple(self.axis)
            )
        else:
            self.axis = self._axes = axis_int(axis, "Softmax")
        if self._axes != -1:
            self.activation = self._softmax

    def _softmax(self, x: Any) -> Tensor:
        return ops.softmax(x, axis=self._axes)

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        """The softmax; with a ``mask`` (broadcastable to the inputs), masked entries are
        left out of it and come out 0, as Keras's."""
        if mask is None:
            return self.activation(inputs)
        kept = as_mask(mask, inputs)
        if kept.ndim > inputs.ndim or any(
            m not in (1, i) for m, i in zip(kept.shape[::-1], inputs.shape[::-1], strict=False)
        ):
            raise ValueError(
                "The `mask` must be broadcastable to `inputs`. Each mask dimension must be 1 or "
                f"match the corresponding input dimension. Received: inputs.shape={inputs.shape}"
                f", mask.shape={kept.shape}"
            )
        return self.activation(choose(kept, inputs, LARGE_NEGATIVE)) * kept

    def build(self, input_shape: Shape) -> None:
        for axis in self.axis if isinstance(self.axis, list | tuple) else [self.axis]:
            check_axis(axis, len(input_shape), f"Softmax {self.name}")

    def get_config(self) -> dict[str, Any]:
        return Layer.get_config(self) | {"axis": self.axis}


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...). With ``data_format="channels_first"``
    the input (batch, C, d1, ...) is read as Keras reads it: moved to channels-last (batch,
    d1, ..., C) first, so the entries come out in a channels-last model's order."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def call(self, inputs: Tensor) -> Tensor:
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = ops.transpose(inputs, (0, *range(2, inputs.ndim), 1))
        return ops.flatten(inputs)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"data_format": self.data_format}


class Identity(Layer):
    """Returns its input unchanged."""

    built_at_init = True  # (no build config, as Keras's)

    supports_masking = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, inputs: Tensor) -> Tensor:
        return inputs


class Lambda(Layer):
    """Wraps ``function(inputs)`` (written with autoconv ops) as a layer. Its output shape is
    ``output_shape`` if given, else found by running it once. As Keras's, ``function`` is
    given the input's Keras mask and the training flag where it takes ``mask`` or
    ``training``, and the output's mask is ``mask`` (a mask, or a callable ``(inputs,
    input_mask)``; None by default: the input's is dropped). Its config is Keras's: a named
    function by its name (loading finds it in ``custom_objects`` or registered), a Python
    lambda as its bytecode, which Keras loads with ``safe_mode=False`` and autoconv never
    loads."""

    keeps_integer_inputs = True  # (a user's function: its integer inputs as Keras gives them)

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
        self.function = function
        self.mask = mask
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):  # a builtin's or a ufunc's: takes neither
            parameters = {}
        self._passes = [name for name in ("mask", "training") if name in parameters]
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        return (input_shape[0] if not isinstance(input_shape, list) else None, *self._output_shape)

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        given = {"mask": mask, "training": training}
        return self.function(inputs, **self.arguments, **{k: given[k] for k in self._passes})

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        return self.mask(inputs, previous_mask) if callable(self.mask) else self.mask

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"function": lambda_function_entry(self.function)}
        if self._output_shape is not None:
            shape = self._output_shape
            config["output_shape"] = lambda_function_entry(shape) if callable(shape) else shape
        if self.mask is not None:
            mask = self.mask
            config["mask"] = lambda_function_entry(mask) if callable(mask) else mask
        return super().get_config() | config | {"arguments": self.arguments}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Lambda:
        config = dict(config)
        for key in ("function", "output_shape", "mask"):
            if isinstance(config.get(key), dict | str):
                config[key] = lambda_function(config[key], key, custom_objects)
        if isinstance(config.get("output_shape"), list):
            config["output_shape"] = tuple(config["output_shape"])
        return cls(**config)
