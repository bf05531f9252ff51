"""Keras-like layers. Shapes given to and returned by ``build``/``output_shape`` leave out the
batch axis: an MNIST image is (28, 28, 1).

A layer is built once it knows its input shape (from ``input_shape=`` or from the layer
before it in a Sequential); building creates its weights. ``layer(x, training)`` runs it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from autoconv import ops
from autoconv.random import generator
from autoconv.tensor import Tensor
from autoconv.windows import as_pair, window

Shape = tuple[int, ...]

ACTIVATIONS = {
    "relu": ops.relu,
    "softmax": ops.softmax,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "linear": None,
}


def _activation_name(activation: str | None) -> str:
    name = "linear" if activation is None else activation
    if name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}"
        )
    return name


def glorot_uniform(shape: Shape, fan_in: int, fan_out: int) -> np.ndarray:
    """Keras's default kernel initializer: U(-l, l) with l = sqrt(6 / (fan_in + fan_out))."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return generator().uniform(-limit, limit, shape).astype(np.float32)


class Layer:
    """Base class: a name, optional weights, a config that rebuilds it."""

    default_name: ClassVar[str] = "layer"
    # activations that call() can apply in its own last pass (passed as activation=...)
    fused_activations: ClassVar[tuple[str, ...]] = ()

    def __init__(self, input_shape: Shape | None = None, name: str | None = None) -> None:
        self.name = name
        self.input_shape = None if input_shape is None else tuple(int(n) for n in input_shape)
        self.activation = "linear"
        self.weights: dict[str, Tensor] = {}
        self.built = False

    def build(self, input_shape: Shape) -> None:
        """Create the weights for inputs of ``input_shape`` (no batch axis)."""
        self.output_shape(input_shape)  # validates
        self.input_shape = tuple(input_shape)
        self.built = True

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def call(self, x: Tensor, training: bool) -> Tensor:
        """The layer's computation before its activation."""
        return x

    def __call__(self, x: Tensor, training: bool = False, activate: bool = True) -> Tensor:
        """Run the layer; an array input becomes a float32 Tensor, as Keras layers cast."""
        if not isinstance(x, Tensor):
            x = Tensor(x, dtype=np.float32)
        if not self.built:
            self.build(x.shape[1:])
        activation = self.activation if activate else "linear"
        if activation in self.fused_activations:
            return self.call(x, training, activation=activation)
        out = self.call(x, training)
        fn = ACTIVATIONS[activation]
        return fn(out) if fn is not None else out

    def parameters(self) -> list[Tensor]:
        return list(self.weights.values())

    def count_params(self) -> int:
        return sum(w.size for w in self.weights.values())

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "input_shape": self.input_shape}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Conv2D(Layer):
    """2-D convolution layer: (H, W, Cin) -> (OH, OW, filters), kernel (kh, kw, Cin, filters)."""

    default_name = "conv2d"
    fused_activations = ("relu",)

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = "valid",
        dilation_rate: int | tuple[int, int] = 1,
        activation: str | None = None,
        use_bias: bool = True,
        input_shape: Shape | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(input_shape, name)
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"Conv2D: filters must be a positive int, got {filters!r}")
        self.filters = filters
        self.kernel_size = as_pair(kernel_size, "kernel_size", "Conv2D")
        self.strides = as_pair(strides, "strides", "Conv2D")
        self.dilation_rate = as_pair(dilation_rate, "dilation_rate", "Conv2D")
        self.padding = padding
        self.activation = _activation_name(activation)
        self.use_bias = use_bias

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(
                f"Conv2D {self.name}: input must be (height, width, channels), got {input_shape}"
            )
        win = window(
            "Conv2D", input_shape[:2], self.kernel_size, self.strides, self.dilation_rate,
            self.padding,
        )  # fmt: skip
        return (*win.out, self.filters)

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        kh, kw = self.kernel_size
        c_in = input_shape[-1]
        kernel = glorot_uniform(
            (kh, kw, c_in, self.filters), kh * kw * c_in, kh * kw * self.filters
        )
        self.weights = {"kernel": Tensor(kernel, requires_grad=True)}
        if self.use_bias:
            self.weights["bias"] = Tensor(np.zeros(self.filters, np.float32), requires_grad=True)

    def call(self, x: Tensor, training: bool, activation: str | None = None) -> Tensor:
        return ops.conv2d(
            x, self.weights["kernel"], self.weights.get("bias"), self.strides, self.padding,
            self.dilation_rate, activation,
        )  # fmt: skip

    def pooled(self, x: Tensor, pool: MaxPooling2D) -> Tensor:
        """``pool(self(x))``; with a ReLU or no activation as one op, conv2d_max_pool (the
        same values, fewer passes over the full-size activation)."""
        if self.activation not in ("relu", "linear"):
            return pool(self(x))
        if not isinstance(x, Tensor):
            x = Tensor(x, dtype=np.float32)
        if not self.built:
            self.build(x.shape[1:])
        return ops.conv2d_max_pool(
            x, self.weights["kernel"], self.weights.get("bias"), self.strides, self.padding,
            self.dilation_rate, "relu" if self.activation == "relu" else None,
            pool.pool_size, pool.strides, pool.padding,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "dilation_rate": self.dilation_rate,
            "activation": self.activation,
            "use_bias": self.use_bias,
        }


class _Pooling2D(Layer):
    pool: ClassVar[Any]  # the op, set by each subclass

    def __init__(
        self,
        pool_size: int | tuple[int, int] = 2,
        strides: int | tuple[int, int] | None = None,
        padding: str = "valid",
        input_shape: Shape | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(input_shape, name)
        self.pool_size = as_pair(pool_size, "pool_size", type(self).__name__)
        self.strides = self.pool_size if strides is None else as_pair(strides, "strides", "pool")
        if padding not in ("valid", "same"):
            raise ValueError(f"{type(self).__name__}: padding must be 'valid' or 'same'")
        self.padding = padding

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} {self.name}: input must be (height, width, channels), "
                f"got {input_shape}"
            )
        win = window(
            type(self).__name__, input_shape[:2], self.pool_size, self.strides, 1, self.padding
        )
        return (*win.out, input_shape[2])

    def call(self, x: Tensor, training: bool) -> Tensor:
        return type(self).pool(x, self.pool_size, self.strides, self.padding)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
        }


class MaxPooling2D(_Pooling2D):
    """Max over pool_size windows: (H, W, C) -> (OH, OW, C)."""

    default_name = "max_pooling2d"
    pool = staticmethod(ops.max_pool2d)


class AveragePooling2D(_Pooling2D):
    """Mean over pool_size windows: (H, W, C) -> (OH, OW, C)."""

    default_name = "average_pooling2d"
    pool = staticmethod(ops.avg_pool2d)


class GlobalAveragePooling2D(Layer):
    """Mean over height and width: (H, W, C) -> (C,)."""

    default_name = "global_average_pooling2d"

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(f"GlobalAveragePooling2D: input must be (H, W, C), got {input_shape}")
        return (input_shape[2],)

    def call(self, x: Tensor, training: bool) -> Tensor:
        return ops.mean(x, axis=(1, 2))


class Flatten(Layer):
    """(d1, d2, ...) -> (d1 * d2 * ...,)."""

    default_name = "flatten"

    def output_shape(self, input_shape: Shape) -> Shape:
        return (math.prod(input_shape),)

    def call(self, x: Tensor, training: bool) -> Tensor:
        return ops.flatten(x)


class Dense(Layer):
    """Fully connected: (in,) -> (units,), kernel (in, units)."""

    default_name = "dense"

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        input_shape: Shape | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(input_shape, name)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"Dense: units must be a positive int, got {units!r}")
        self.units = units
        self.activation = _activation_name(activation)
        self.use_bias = use_bias

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(
                f"Dense {self.name}: input must be flat (features,), got {input_shape}; "
                "add a Flatten layer before it"
            )
        return (self.units,)

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        fan_in = input_shape[0]
        kernel = glorot_uniform((fan_in, self.units), fan_in, self.units)
        self.weights = {"kernel": Tensor(kernel, requires_grad=True)}
        if self.use_bias:
            self.weights["bias"] = Tensor(np.zeros(self.units, np.float32), requires_grad=True)

    def call(self, x: Tensor, training: bool) -> Tensor:
        out = x @ self.weights["kernel"]
        return out + self.weights["bias"] if self.use_bias else out

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
        }


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of the inputs while training, scaling the rest by 1/(1-rate)."""

    default_name = "dropout"

    def __init__(
        self, rate: float, input_shape: Shape | None = None, name: str | None = None
    ) -> None:
        super().__init__(input_shape, name)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def call(self, x: Tensor, training: bool) -> Tensor:
        if not training or self.rate == 0.0:
            return x
        return ops.dropout(x, self.rate, generator())

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"rate": self.rate}


class Rescaling(Layer):
    """x * scale + offset, e.g. Rescaling(1 / 255) for 8-bit images."""

    default_name = "rescaling"

    def __init__(
        self,
        scale: float,
        offset: float = 0.0,
        input_shape: Shape | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(input_shape, name)
        self.scale, self.offset = float(scale), float(offset)

    def call(self, x: Tensor, training: bool) -> Tensor:
        out = x * self.scale
        return out + self.offset if self.offset else out

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"scale": self.scale, "offset": self.offset}


class Activation(Layer):
    """Applies an activation by name: relu, softmax, sigmoid, tanh or linear."""

    default_name = "activation"

    def __init__(
        self, activation: str, input_shape: Shape | None = None, name: str | None = None
    ) -> None:
        super().__init__(input_shape, name)
        self.activation = _activation_name(activation)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"activation": self.activation}


class ReLU(Activation):
    """max(x, 0)."""

    default_name = "re_lu"

    def __init__(self, input_shape: Shape | None = None, name: str | None = None) -> None:
        super().__init__("relu", input_shape, name)

    def get_config(self) -> dict[str, Any]:
        return Layer.get_config(self)


class Softmax(Activation):
    """Softmax over the last axis."""

    default_name = "softmax"

    def __init__(self, input_shape: Shape | None = None, name: str | None = None) -> None:
        super().__init__("softmax", input_shape, name)

    def get_config(self) -> dict[str, Any]:
        return Layer.get_config(self)


LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Conv2D,
        MaxPooling2D,
        AveragePooling2D,
        GlobalAveragePooling2D,
        Flatten,
        Dense,
        Dropout,
        Rescaling,
        Activation,
        ReLU,
        Softmax,
    )
}


def from_config(class_name: str, config: dict[str, Any]) -> Layer:
    """Rebuild a layer from ``type(layer).__name__`` and ``layer.get_config()``."""
    if class_name not in LAYERS:
        raise ValueError(f"unknown layer type {class_name!r}")
    return LAYERS[class_name](**config)
