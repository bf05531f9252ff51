"""Convolution layers over images: Conv2D (with ``groups``), SeparableConv2D, DepthwiseConv2D
and Conv2DTranspose, and their base ``BaseConv``, which the 1-D layers of
:mod:`autoconv.layers.convolutional_1d` share (Keras 3's keras/src/layers/convolutional/).
Arguments, defaults and their order, and the weights' names, shapes and order, are Keras 3's.
Data is channels-last: images (batch, height, width, channels), sequences (batch, steps,
channels); ``data_format="channels_first"`` moves the channels (:mod:`.channels`).

Kernels, as Keras lays them out:

- Conv2D (kh, kw, in/groups, filters);
- DepthwiseConv2D ``kernel`` (kh, kw, in, depth_multiplier);
- SeparableConv2D ``depthwise_kernel`` (kh, kw, in, depth_multiplier), then
  ``pointwise_kernel`` (1, 1, in*depth_multiplier, filters);
- Conv2DTranspose (kh, kw, filters, in).

A 1-D variant has the same kernels without the height axis, and runs the 2-D layer's ops over
its sequences as images of height 1 (:meth:`BaseConv.on_images`, :meth:`BaseConv.image_kernel`).

Initializers draw from each kernel's own shape (Keras's fans: the receptive field times the
last two axes), so a depthwise kernel's glorot limit is sqrt(6 / (kh*kw*(in + multiplier))).

(Some 630 lines: the base every convolution layer shares, 1-D and 3-D included, sits beside
the four 2-D layers it was written for; apart, each would be read against the other.)

(Over ~600 lines on purpose: the four layers share ``BaseConv``'s arguments, checks and config.)
"""

from __future__ import annotations

from typing import Any, ClassVar

from autoconv import activations, constraints, initializers, regularizers
from autoconv.layers.channels import ChannelsFirst
from autoconv.layers.core import (
    CONV_CONFIG_ORDER,
    ActivationMixin,
    as_tuple,
    check_spatial_rank,
    positive_int,
)
from autoconv.layers.layer import Layer, Shape, Variable, serialized
from autoconv.layers.serialization import keras_ordered
from autoconv.ops import engine as ops
from autoconv.ops import nn_spatial
from autoconv.tensor import Tensor
from autoconv.windows import (
    MAX_SIZE,
    is_int,
    transpose_window,
    unknown_kept,
    window,
    window_1d,
)


def conv_padding(padding: Any, owner: str, causal: bool = False) -> Any:
    """Keras lowercases a convolution's padding ('SAME' is 'same') and allows 'causal' for 1-D
    convolutions only; autoconv also takes an int or a pair of ints for symmetric zero padding
    (checked by the op's window)."""
    if not isinstance(padding, str):
        pads = (padding, padding) if is_int(padding) else padding
        if (
            not isinstance(pads, tuple | list)
            or len(pads) != 2
            or not all(is_int(p) and 0 <= p <= MAX_SIZE for p in pads)
        ):
            raise ValueError(
                f"{owner}: padding must be 'valid', 'same', a non-negative int or a pair of "
                f"them, got {padding!r}"
            )
        return int(padding) if is_int(padding) else (int(pads[0]), int(pads[1]))
    allowed = ("valid", "same", "causal") if causal else ("valid", "same")
    if padding.lower() not in allowed:
        raise ValueError(
            f"{owner}: The `padding` argument must be a list/tuple or one of "
            f"{{{', '.join(map(repr, allowed))}}}. Received: {padding}"
        )
    return padding.lower()


class BaseConv(ChannelsFirst, ActivationMixin, Layer):
    """What every convolution layer shares: the window (``kernel_size``, ``strides``,
    ``padding``, ``dilation_rate``), the activation, the bias, and the config.

    Subclasses set each kernel's ``<prefix>_initializer``, ``<prefix>_regularizer`` and
    ``<prefix>_constraint`` (the prefixes in ``kernel_prefixes``), create the weights in
    ``build`` and convolve in :meth:`convolve`. A ReLU runs inside the op's bias pass when
    ``fuses_relu``."""

    rank: ClassVar[int] = 2  # spatial axes: 1 for sequences, 2 for images
    causal_padding: ClassVar[bool] = False  # 'causal' allowed (Conv1D's only)
    fuses_relu: ClassVar[bool] = False
    kernel_prefixes: ClassVar[tuple[str, ...]] = ("kernel",)
    # channels-first: the convolution runs channels-last, the activation on Keras's axes
    channels_moved = ("build", "compute_output_shape", "convolve")

    def __init__(
        self,
        kernel_size: Any,
        strides: Any,
        padding: Any,
        data_format: str | None,
        dilation_rate: Any,
        activation: Any,
        use_bias: bool,
        bias_initializer: Any,
        bias_regularizer: Any,
        activity_regularizer: Any,
        bias_constraint: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        owner = type(self).__name__
        self.set_data_format(data_format)
        self.kernel_size = as_tuple(kernel_size, self.rank, "kernel_size", owner)
        self.strides = as_tuple(strides, self.rank, "strides", owner)
        self.dilation_rate = as_tuple(dilation_rate, self.rank, "dilation_rate", owner)
        self.padding = conv_padding(padding, owner, causal=self.causal_padding)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{owner}: `strides > 1` not supported in conjunction with `dilation_rate > 1`"
                f" (they cannot be used together). Received: strides={self.strides} and "
                f"dilation_rate={self.dilation_rate}"
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)

    # ------------------------------------------------------------------ shapes
    def compute_output_shape(self, input_shape: Shape) -> Shape:
        check_spatial_rank(self, input_shape, self.rank)
        batch, channels = input_shape[0], input_shape[-1]
        spatial = unknown_kept(
            tuple(input_shape[1:-1]), lambda sizes: self.output_size((batch, *sizes, channels))
        )
        return (batch, *spatial, self.output_channels(channels))

    def output_size(self, input_shape: Shape) -> tuple[int, ...]:
        """The output's spatial sizes for ``input_shape``."""
        owner = type(self).__name__
        if self.rank == 1:
            (size,), (stride,), (dilation,) = self.kernel_size, self.strides, self.dilation_rate
            win = window_1d(owner, input_shape[1], size, stride, dilation, self.padding)
            return (win.out[1],)
        return window(
            owner, input_shape[1:3], self.kernel_size, self.strides, self.dilation_rate,
            self.padding,
        ).out  # fmt: skip

    def output_channels(self, input_channels: int) -> int:
        return self.filters

    # ------------------------------------------------------- as the 2-D ops take it
    def on_images(self, values: tuple[int, ...], height: int = 1) -> tuple[int, ...]:
        """A window argument (kernel size, strides, dilation, output padding) as the 2-D ops
        take it: a 1-D layer's (v,) as (height, v), its sequences run as images of height 1."""
        return values if self.rank == 2 else (height, *values)

    @property
    def image_padding(self) -> Any:
        """``padding`` as the 2-D ops take it (a 1-D layer's int pads the width only)."""
        if self.rank == 2 or isinstance(self.padding, str):
            return self.padding
        return (0, self.padding)

    def image_kernel(self, kernel: Variable) -> Tensor:
        """A kernel as the 2-D ops take it (a 1-D layer's (k, ...) as (1, k, ...))."""
        return kernel if self.rank == 2 else ops.reshape(kernel, (1, *kernel.shape))

    # ----------------------------------------------------------------- weights
    def add_kernel(self, prefix: str, shape: tuple[int, ...], name: str) -> Variable:
        """A kernel with the ``prefix``'s initializer, regularizer and constraint."""
        return self.add_weight(
            shape, getattr(self, f"{prefix}_initializer"),
            regularizer=getattr(self, f"{prefix}_regularizer"),
            constraint=getattr(self, f"{prefix}_constraint"), name=name,
        )  # fmt: skip

    def add_bias(self, channels: int) -> None:
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                (channels,), self.bias_initializer, regularizer=self.bias_regularizer,
                constraint=self.bias_constraint, name="bias",
            )  # fmt: skip

    # ----------------------------------------------------------------- calling
    @property
    def fusable_activation(self) -> str | bool | None:
        """'relu' when the activation runs inside the op's bias pass, None when there is none,
        else False."""
        if self.activation is activations.linear or self.activation is None:
            return None
        return "relu" if self.fuses_relu and self.activation is activations.relu else False

    def convolve(self, inputs: Tensor, relu: bool) -> Tensor:
        """The convolution plus bias (and a ReLU when ``relu``)."""
        raise NotImplementedError

    def pre_activation(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        return self.convolve(inputs, relu=False)

    def call(self, inputs: Tensor) -> Tensor:
        fused = self.fusable_activation
        out = self.convolve(inputs, relu=fused == "relu")
        return self.activate(out) if fused is False else out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config() | {
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": serialized(activations, self.activation),
            "use_bias": self.use_bias,
        }
        for prefix in (*self.kernel_prefixes, "bias"):
            initializer = getattr(self, f"{prefix}_initializer")
            config[f"{prefix}_initializer"] = serialized(initializers, initializer)
        for prefix in (*self.kernel_prefixes, "bias"):
            regularizer = getattr(self, f"{prefix}_regularizer")
            config[f"{prefix}_regularizer"] = serialized(regularizers, regularizer)
        config["activity_regularizer"] = serialized(regularizers, self.activity_regularizer)
        for prefix in (*self.kernel_prefixes, "bias"):
            constraint = getattr(self, f"{prefix}_constraint")
            config[f"{prefix}_constraint"] = serialized(constraints, constraint)
        return config


class BaseFiltersConv(BaseConv):
    """Conv1D and Conv2D: ``filters`` kernels over all the input channels of their group."""

    _saved_variable_names = ("kernel", "bias")

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any,
        padding: Any,
        data_format: str | None,
        dilation_rate: Any,
        groups: int,
        activation: Any,
        use_bias: bool,
        kernel_initializer: Any,
        bias_initializer: Any,
        kernel_regularizer: Any,
        bias_regularizer: Any,
        activity_regularizer: Any,
        kernel_constraint: Any,
        bias_constraint: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs,
        )  # fmt: skip
        owner = type(self).__name__
        self.filters = positive_int(filters, "filters", owner)
        self.groups = positive_int(groups, "groups", owner)
        if self.filters % self.groups:
            raise ValueError(
                f"{owner}: The number of filters must be evenly divisible by the number of "
                f"groups. Received: groups={self.groups}, filters={self.filters}."
            )
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)
        channels = input_shape[-1]
        if channels % self.groups:
            raise ValueError(
                f"The number of input channels must be evenly divisible by the number of "
                f"groups. Received groups={self.groups}, but the input has {channels} channels "
                f"(full input shape is {input_shape})."
            )
        shape = (*self.kernel_size, channels // self.groups, self.filters)
        self.kernel = self.add_kernel("kernel", shape, "kernel")
        self.add_bias(self.filters)

    def convolution_op(self, inputs: Any, kernel: Any) -> Tensor:
        """Keras's: ``inputs`` convolved with ``kernel`` at this layer's window, without bias or
        activation. Overridden in a Conv2D or Conv3D subclass, it is what ``call`` convolves
        with (Keras's Conv1D convolves in its own ``call``)."""
        return nn_spatial.conv(inputs, kernel, list(self.strides), self.padding,
                               self.data_format, self.dilation_rate)  # fmt: skip

    @property
    def _convolves_by_override(self) -> bool:
        return self.rank > 1 and type(self).convolution_op is not BaseFiltersConv.convolution_op

    def pre_activation(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        if not self._convolves_by_override:
            return super().pre_activation(inputs, training)
        outputs = self.convolution_op(inputs, self.kernel)
        if self.bias is None:
            return outputs
        channels_first = self.data_format == "channels_first"  # (the bias on Keras's axis)
        bias = ops.reshape(self.bias, (-1, *(1,) * self.rank)) if channels_first else self.bias
        return ops.add(outputs, bias)

    def call(self, inputs: Tensor) -> Tensor:
        if not self._convolves_by_override:
            return super().call(inputs)
        return self.activate(self.pre_activation(inputs))

    def get_config(self) -> dict[str, Any]:
        config = {"filters": self.filters, "groups": self.groups}
        return keras_ordered(super().get_config() | config, CONV_CONFIG_ORDER)


class Conv2D(BaseFiltersConv):
    """2-D convolution (cross-correlation): (batch, H, W, Cin) -> (batch, OH, OW, filters),
    kernel (kh, kw, Cin/groups, filters).

    With ``groups``, the input channels and the filters split into that many consecutive
    groups, each filter seeing only its group's channels. A ReLU (or no activation) runs fused
    with the bias in the product's pass; a one-group Conv2D followed by a MaxPooling2D in a
    model runs as one op (see :mod:`autoconv.models.graph`)."""

    fuses_relu = True

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
        super().__init__(
            filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
            activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint,
            **kwargs,
        )  # fmt: skip

    def convolve(self, inputs: Tensor, relu: bool) -> Tensor:
        return ops.conv2d(
            inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
            "relu" if relu else None, self.groups,
        )  # fmt: skip

    def unbiased(self, inputs: Tensor) -> Tensor:
        """The convolution without its bias (a BatchNormalization after it adds the bias as it
        reads: see :meth:`autoconv.layers.BatchNormalization.normalized`)."""
        return ops.conv2d(inputs, self.kernel, None, self.strides, self.padding,
                          self.dilation_rate, None, self.groups)  # fmt: skip

    def pooled(self, inputs: Tensor, pool: Any) -> Tensor:
        """``pool(self(inputs))`` as one op, :func:`autoconv.ops.conv2d_max_pool`, for one group
        and a ReLU or no activation (the same values, fewer passes over the full-size
        activation)."""
        return _conv_then_pool(
            inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
            self.fusable_activation, pool,
        )  # fmt: skip

    def folded(
        self, inputs: Tensor, batch_norm: Any, relu: bool = False, pool: Any = None
    ) -> Tensor:
        """This linear convolution followed by ``batch_norm`` in inference mode (then a ReLU,
        then ``pool``, a MaxPooling2D) as one op: the convolution with the batch normalization
        folded into its kernel and bias (``BatchNormalization.folded``)."""
        kernel, bias = batch_norm.folded(self.kernel, self.bias)
        return _conv_then_pool(
            inputs, kernel, bias, self.strides, self.padding, self.dilation_rate,
            "relu" if relu else None, pool,
        )  # fmt: skip


def _conv_then_pool(
    x: Tensor, kernel: Any, bias: Any, strides: Any, padding: Any, dilation: Any,
    activation: str | None, pool: Any,
) -> Tensor:  # fmt: skip
    """:func:`autoconv.ops.conv2d` (one group), or with ``pool`` (a MaxPooling2D)
    :func:`autoconv.ops.conv2d_max_pool`."""
    if pool is None:
        return ops.conv2d(x, kernel, bias, strides, padding, dilation, activation)
    return ops.conv2d_max_pool(
        x, kernel, bias, strides, padding, dilation, activation, pool.pool_size, pool.strides,
        pool.padding,
    )  # fmt: skip


class SeparableConv2D(BaseConv):
    """Depthwise separable 2-D convolution: a depthwise convolution (each input channel with
    its own ``depth_multiplier`` kernels, strided and dilated) then a 1x1 convolution mixing
    the channels into ``filters``, plus bias: (batch, H, W, Cin) -> (batch, OH, OW, filters)."""

    fuses_relu = True
    kernel_prefixes = ("depthwise", "pointwise")

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: Any = "valid",
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs,
        )  # fmt: skip
        owner = type(self).__name__
        self.filters = positive_int(filters, "filters", owner)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", owner)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)
        channels, multiplier = input_shape[-1], self.depth_multiplier
        self.depthwise_kernel = self.add_kernel(
            "depthwise", (*self.kernel_size, channels, multiplier), "depthwise_kernel"
        )
        self.pointwise_kernel = self.add_kernel(
            "pointwise",
            (*(1,) * self.rank, channels * multiplier, self.filters),
            "pointwise_kernel",
        )
        self.add_bias(self.filters)

    # ``relu_input`` (a model's plan fuses a ReLU that only this layer reads so): of
    # relu(inputs), the ReLU applied as the depthwise convolution reads them.
    def call(self, inputs: Tensor, relu_input: bool = False) -> Tensor:
        fused = self.fusable_activation
        out = self.convolve(inputs, fused == "relu", relu_input)
        return self.activate(out) if fused is False else out

    def convolve(self, inputs: Tensor, relu: bool, relu_input: bool = False) -> Tensor:
        pointwise = self.image_kernel(self.pointwise_kernel)
        return ops.conv2d(self._depthwise(inputs, relu_input), pointwise, self.bias, 1, "valid",
                          1, "relu" if relu else None)  # fmt: skip

    def unbiased(self, inputs: Tensor, relu_input: bool = False) -> Tensor:
        """Both convolutions without the bias (see :meth:`Conv2D.unbiased`)."""
        depthwise = self._depthwise(inputs, relu_input)
        return ops.conv2d(depthwise, self.pointwise_kernel, None, 1, "valid", 1)

    def folded(
        self, inputs: Tensor, batch_norm: Any, relu: bool = False, pool: Any = None,
        relu_input: bool = False,
    ) -> Tensor:  # fmt: skip
        """This linear layer followed by ``batch_norm`` in inference mode (then a ReLU, then
        ``pool``, a MaxPooling2D) in two ops: the depthwise convolution, then the pointwise one
        with the batch normalization folded into its kernel and bias
        (``BatchNormalization.folded``), the ReLU and the pooling in its pass."""
        kernel, bias = batch_norm.folded(self.pointwise_kernel, self.bias)
        activation = "relu" if relu else None
        return _conv_then_pool(self._depthwise(inputs, relu_input), kernel, bias, 1, "valid", 1,
                               activation, pool)  # fmt: skip

    def _depthwise(self, inputs: Tensor, relu_input: bool = False) -> Tensor:
        return ops.depthwise_conv2d(
            inputs, self.image_kernel(self.depthwise_kernel), None, self.on_images(self.strides),
            self.image_padding, self.on_images(self.dilation_rate), relu_input,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        config = {"filters": self.filters, "depth_multiplier": self.depth_multiplier}
        return keras_ordered(super().get_config() | config, CONV_CONFIG_ORDER)


class DepthwiseConv2D(BaseConv):
    """Depthwise 2-D convolution: each input channel convolved with its own
    ``depth_multiplier`` kernels, never mixing channels: (batch, H, W, C) -> (batch, OH, OW,
    C*depth_multiplier), output channel c*depth_multiplier + m from channel c and kernel m.
    The kernel is named ``kernel`` (kh, kw, C, depth_multiplier), as in Keras 3."""

    kernel_prefixes = ("depthwise",)

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: Any = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs,
        )  # fmt: skip
        owner = type(self).__name__
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", owner)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def output_channels(self, input_channels: int) -> int:
        return input_channels * self.depth_multiplier

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)
        channels = input_shape[-1]
        shape = (*self.kernel_size, channels, self.depth_multiplier)
        self.kernel = self.add_kernel("depthwise", shape, "kernel")
        self.add_bias(channels * self.depth_multiplier)

    def convolve(self, inputs: Tensor, relu: bool) -> Tensor:
        return ops.depthwise_conv2d(
            inputs, self.image_kernel(self.kernel), self.bias, self.on_images(self.strides),
            self.image_padding, self.on_images(self.dilation_rate),
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return keras_ordered(
            super().get_config() | {"depth_multiplier": self.depth_multiplier}, CONV_CONFIG_ORDER
        )


class Conv2DTranspose(BaseConv):
    """Transposed 2-D convolution (the adjoint of Conv2D, an upsampling convolution):
    (batch, H, W, Cin) -> (batch, OH, OW, filters), kernel (kh, kw, filters, Cin).

    Output size per axis, k' = dilation_rate*(k-1) + 1 (Keras's rule): 'valid' gives
    (H-1)*strides + k' + output_padding (None: max(k', strides) - k'); 'same' gives H*strides,
    or (H-1)*strides + k' % 2 + output_padding when output_padding is given. ``output_padding``
    must be less than the stride."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = (1, 1),
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
        super().__init__(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs,
        )  # fmt: skip
        owner = type(self).__name__
        if not isinstance(self.padding, str):
            raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
        self.filters = positive_int(filters, "filters", owner)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = as_tuple(output_padding, self.rank, "output_padding", owner, True)
            if any(e >= s for e, s in zip(self.output_padding, self.strides, strict=True)):
                raise ValueError(
                    f"{owner}: `output_padding` must be < `strides`. output_padding="
                    f"{self.output_padding}, strides={self.strides}"
                )
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def output_size(self, input_shape: Shape) -> tuple[int, ...]:
        _, size = transpose_window(
            type(self).__name__, self.on_images(tuple(input_shape[1:-1])),
            self.on_images(self.kernel_size), self.on_images(self.strides),
            self.on_images(self.dilation_rate), self.padding, self._image_output_padding(),
        )  # fmt: skip
        return size[2 - self.rank :]

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)
        shape = (*self.kernel_size, self.filters, input_shape[-1])
        self.kernel = self.add_kernel("kernel", shape, "kernel")
        self.add_bias(self.filters)

    def convolve(self, inputs: Tensor, relu: bool) -> Tensor:
        return ops.conv2d_transpose(
            inputs, self.image_kernel(self.kernel), self.bias, self.on_images(self.strides),
            self.padding, self._image_output_padding(), self.on_images(self.dilation_rate),
        )  # fmt: skip

    def _image_output_padding(self) -> tuple[int, ...] | None:
        """``output_padding`` as the 2-D op takes it (none added to a 1-D layer's height)."""
        if self.output_padding is None:
            return None
        return self.on_images(self.output_padding, height=0)

    def get_config(self) -> dict[str, Any]:
        config = {"filters": self.filters, "output_padding": self.output_padding}
        return keras_ordered(super().get_config() | config, CONV_CONFIG_ORDER)


# Keras's aliases
Convolution2D = Conv2D
SeparableConvolution2D = SeparableConv2D
Convolution2DTranspose = Conv2DTranspose
