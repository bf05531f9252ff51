"""Convolution layers. Arguments, defaults and their order are Keras 3's; images are
channels-last (batch, height, width, channels), kernels (kh, kw, in_channels, filters)."""

from __future__ import annotations

from typing import Any

from autoconv import activations, initializers, ops, regularizers
from autoconv.layers.core import ActivationMixin, channels_last, int_pair, positive_int
from autoconv.layers.layer import Layer, Shape, serialized
from autoconv.tensor import Tensor
from autoconv.windows import MAX_SIZE, is_int, window


def conv_padding(padding: Any, owner: str) -> Any:
    """Keras lowercases a convolution's padding ('SAME' is 'same'); autoconv also takes an
    int or a pair of ints for symmetric zero padding."""
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ValueError(
                f"{owner}: The `padding` argument must be a list/tuple or one of "
                f"{{'valid', 'same'}}. Received: {padding}"
            )
        return padding.lower()
    pads = (padding, padding) if is_int(padding) else padding
    if (
        not isinstance(pads, tuple | list)
        or len(pads) != 2
        or not all(is_int(p) and 0 <= p <= MAX_SIZE for p in pads)
    ):
        raise ValueError(
            f"{owner}: padding must be 'valid', 'same', a non-negative int or a pair of them, "
            f"got {padding!r}"
        )
    return int(padding) if is_int(padding) else (int(pads[0]), int(pads[1]))


class Conv2D(ActivationMixin, Layer):
    """2-D convolution (cross-correlation): (batch, H, W, Cin) -> (batch, OH, OW, filters).

    A ReLU (or no activation) runs fused with the bias in the product's pass; a Conv2D
    followed by a MaxPooling2D in a model runs as one op (see :mod:`autoconv.models.plan`)."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: Any = "valid",
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        groups: int = 1,
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
        channels_last(data_format, "Conv2D")
        self.filters = positive_int(filters, "filters", "Conv2D")
        self.kernel_size = int_pair(kernel_size, "kernel_size", "Conv2D")
        self.strides = int_pair(strides, "strides", "Conv2D")
        self.dilation_rate = int_pair(dilation_rate, "dilation_rate", "Conv2D")
        self.padding = conv_padding(padding, "Conv2D")
        self.groups = positive_int(groups, "groups", "Conv2D")
        if self.groups != 1:
            raise ValueError("Conv2D: groups other than 1 are not supported yet")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        if kernel_constraint is not None or bias_constraint is not None:
            raise ValueError("Conv2D: weight constraints are not supported by autoconv")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"Conv2D: strides > 1 together with dilation_rate > 1 is not supported, got "
                f"strides={self.strides}, dilation_rate={self.dilation_rate}"
            )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 4:
            raise ValueError(
                f"Conv2D {self.name}: input must be (batch, height, width, channels), got "
                f"{input_shape}"
            )
        win = window(
            "Conv2D", input_shape[1:3], self.kernel_size, self.strides, self.dilation_rate,
            self.padding,
        )  # fmt: skip
        return (input_shape[0], *win.out, self.filters)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)
        kh, kw = self.kernel_size
        self.kernel = self.add_weight(
            (kh, kw, input_shape[-1], self.filters), self.kernel_initializer,
            regularizer=self.kernel_regularizer, name="kernel",
        )  # fmt: skip
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer,
                name="bias",
            )  # fmt: skip

    @property
    def fusable_activation(self) -> str | bool | None:
        """'relu' or None when the activation can run inside the conv op's passes, else False."""
        if self.activation is activations.relu:
            return "relu"
        return None if self.activation is activations.linear else False

    def _conv(self, inputs: Tensor, relu: bool) -> Tensor:
        return ops.conv2d(
            inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
            "relu" if relu else None,
        )  # fmt: skip

    def pre_activation(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        return self._conv(inputs, relu=False)

    def call(self, inputs: Tensor) -> Tensor:
        fused = self.fusable_activation
        if fused is False:
            return self.activation(self._conv(inputs, relu=False))
        return self._conv(inputs, relu=fused == "relu")

    def pooled(self, inputs: Tensor, pool: Any) -> Tensor:
        """``pool(self(inputs))`` as one op, :func:`autoconv.ops.conv2d_max_pool`, for a ReLU
        or no activation (the same values, fewer passes over the full-size activation)."""
        return ops.conv2d_max_pool(
            inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
            self.fusable_activation, pool.pool_size, pool.strides, pool.padding,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": list(self.padding) if isinstance(self.padding, tuple) else self.padding,
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            "activation": serialized(activations, self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": serialized(initializers, self.kernel_initializer),
            "bias_initializer": serialized(initializers, self.bias_initializer),
            "kernel_regularizer": serialized(regularizers, self.kernel_regularizer),
            "bias_regularizer": serialized(regularizers, self.bias_regularizer),
        }
