"""Convolution layers over sequences (batch, steps, channels): Conv1D, SeparableConv1D,
DepthwiseConv1D and Conv1DTranspose, as Keras 3's (keras/src/layers/convolutional/): the same
arguments, defaults and order, weights, configs and numbers.

Each shares its 2-D twin's arguments, checks, weights and config (:mod:`.convolutional`) with
kernels one axis shorter, as Keras lays them out: SeparableConv1D ``depthwise_kernel``
(k, in, depth_multiplier) and ``pointwise_kernel`` (1, in*depth_multiplier, filters),
DepthwiseConv1D ``kernel`` (k, in, depth_multiplier), Conv1DTranspose ``kernel``
(k, filters, in). They run the 2-D layer's ops over the sequences as images of height 1.
Conv1D alone takes ``padding='causal'``.
"""

from __future__ import annotations

from typing import Any

from autoconv.layers.convolutional import (
    BaseFiltersConv,
    Conv2DTranspose,
    DepthwiseConv2D,
    SeparableConv2D,
)
from autoconv.ops import engine as ops
from autoconv.tensor import Tensor


class Conv1D(BaseFiltersConv):
    """1-D convolution over sequences: (batch, steps, Cin) -> (batch, new_steps, filters),
    kernel (k, Cin/groups, filters). ``padding='causal'`` pads dilation_rate*(k-1) zeros before
    the sequence only, so output t reads no input after t."""

    rank = 1
    causal_padding = True

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: Any = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
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
        return ops.conv1d(
            inputs, self.kernel, self.bias, self.strides[0], self.padding,
            self.dilation_rate[0], self.groups,
        )  # fmt: skip


class _OnSequences:
    """Mixin before a 2-D convolution layer: its convolution of sequences (batch, steps, C)
    is the 2-D one of the images (batch, 1, steps, C), whose window arguments and kernels
    :class:`BaseConv` gives as images (``rank`` 1)."""

    rank = 1

    def convolve(self, inputs: Tensor, *args: bool, **kwargs: bool) -> Tensor:
        images = ops.reshape(inputs, (inputs.shape[0], 1, *inputs.shape[1:]))
        out = super().convolve(images, *args, **kwargs)  # type: ignore[misc]
        return ops.reshape(out, (out.shape[0], *out.shape[2:]))


class SeparableConv1D(_OnSequences, SeparableConv2D):
    """Depthwise separable 1-D convolution: a depthwise convolution (each input channel with
    its own ``depth_multiplier`` kernels) then a pointwise one mixing the channels into
    ``filters``, plus bias: (batch, steps, Cin) -> (batch, new_steps, filters)."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: Any = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
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
            filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
            activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
            depthwise_regularizer, pointwise_regularizer, bias_regularizer, activity_regularizer,
            depthwise_constraint, pointwise_constraint, bias_constraint, **kwargs,
        )  # fmt: skip


class DepthwiseConv1D(_OnSequences, DepthwiseConv2D):
    """Depthwise 1-D convolution: each input channel convolved with its own
    ``depth_multiplier`` kernels: (batch, steps, C) -> (batch, new_steps, C*depth_multiplier),
    output channel c*depth_multiplier + m from channel c and kernel m."""

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = 1,
        padding: Any = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: Any = 1,
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
            kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate,
            activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
            bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint,
            **kwargs,
        )  # fmt: skip


class Conv1DTranspose(_OnSequences, Conv2DTranspose):
    """Transposed 1-D convolution (the adjoint of Conv1D): (batch, steps, Cin) ->
    (batch, new_steps, filters), kernel (k, filters, Cin), the output length by Keras's rule
    (see :class:`Conv2DTranspose`)."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = 1,
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
            filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
            activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint,
            **kwargs,
        )  # fmt: skip


# Keras's aliases
Convolution1D = Conv1D
SeparableConvolution1D = SeparableConv1D
Convolution1DTranspose = Conv1DTranspose
