"""Normalization layers whose statistics are each sample's own: GroupNormalization,
UnitNormalization and RMSNormalization. The same in training and inference; arguments,
defaults, checks, weights and configs are Keras 3's (``keras/src/layers/normalization/``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autoconv import constraints, initializers, regularizers
from autoconv.layers.layer import Layer, Shape, serialized
from autoconv.layers.normalization import add_scale_and_center, set_scale_and_center
from autoconv.ops import engine as ops
from autoconv.tensor import Tensor

UNIT_EPSILON = 1e-12  # Keras's UnitNormalization: the norm's floor (ops.normalize's epsilon)


def _check_axes(axes: list[int], input_shape: Shape, shown: Any) -> None:
    """Keras's compute_output_shape check of these layers: every axis within the rank."""
    for axis in axes:
        if axis >= len(input_shape) or axis < -len(input_shape):
            raise ValueError(
                f"Axis {axis} is out of bounds for input shape {tuple(input_shape)}. "
                f"Received: axis={shown}"
            )


class GroupNormalization(Layer):
    """Normalizes each sample's channels (the ``axis`` axis, of size C) in ``groups`` groups
    of C / groups consecutive channels: ``(x - mean) / sqrt(variance + epsilon) * gamma +
    beta``, with the mean and the biased variance of each sample and group taken over that
    group's channels and every other non-batch axis (of an (N, H, W, C) input: over H, W and
    C / groups channels). ``groups=1`` is nearly LayerNormalization, ``groups=-1`` (one group
    a channel, set to C when the layer is built) instance normalization.

    Weights, Keras's order: ``gamma`` (``scale=True``), ``beta`` (``center=True``), each of
    shape (C,), trainable. The output has the input's shape.
    """

    supports_masking = True

    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(groups, int | np.integer) or (groups <= 0 and groups != -1):
            raise ValueError(
                "Received an invalid value for argument `groups`, expected a positive integer "
                f"(or `-1` for instance normalization). Received: groups={groups}"
            )
        if not isinstance(axis, int | np.integer):  # Keras's build indexes the shape with it
            raise TypeError(f"GroupNormalization: axis must be an int, got {axis!r}")
        super().__init__(**kwargs)
        self.groups, self.axis = int(groups), int(axis)
        self.epsilon = float(epsilon)
        set_scale_and_center(
            self, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
            gamma_regularizer, beta_constraint, gamma_constraint,
        )  # fmt: skip

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(
                f"Axis {self.axis} of input tensor should have a defined dimension but the "
                f"layer received an input with shape {tuple(input_shape)}."
            )
        if self.groups == -1:
            self.groups = dim
        if dim < self.groups:
            raise ValueError(
                f"Number of groups ({self.groups}) cannot be more than the number of channels "
                f"({dim})."
            )
        if dim % self.groups != 0:
            raise ValueError(
                f"Number of groups ({self.groups}) must be a multiple of the number of "
                f"channels ({dim})."
            )
        self._ndim, self._channels = len(input_shape), dim
        add_scale_and_center(self, (dim,), self.scale, self.center)

    def call(self, inputs: Tensor) -> Tensor:
        channels = self._channels
        if inputs.ndim != self._ndim or inputs.shape[self.axis] != channels:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                f"ndim={self._ndim} and axis {self.axis} of size {channels}, but received input "
                f"with shape {inputs.shape}"
            )
        # (..., C, ...) as (..., groups, C / groups, ...), each group normalized over every
        # non-batch axis but the groups' (Keras's _reshape_into_groups and reduction axes)
        grouped = list(inputs.shape)
        grouped[self.axis] = channels // self.groups
        grouped.insert(self.axis, self.groups)
        reduced = list(range(1, inputs.ndim + 1))
        reduced.pop(-2 if self.axis == -1 else self.axis - 1)
        grouped_inputs = inputs.reshape(grouped)
        normalized = ops.layer_norm(grouped_inputs, None, None, tuple(reduced), self.epsilon)
        normalized = normalized.reshape(inputs.shape)
        along = [1] * inputs.ndim
        along[self.axis] = channels
        if self.gamma is not None:
            normalized = normalized * self.gamma.reshape(along)
        if self.beta is not None:
            normalized = normalized + self.beta.reshape(along)
        return normalized

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_axes([self.axis], input_shape, self.axis)
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": serialized(initializers, self.beta_initializer),
            "gamma_initializer": serialized(initializers, self.gamma_initializer),
            "beta_regularizer": serialized(regularizers, self.beta_regularizer),
            "gamma_regularizer": serialized(regularizers, self.gamma_regularizer),
            "beta_constraint": serialized(constraints, self.beta_constraint),
            "gamma_constraint": serialized(constraints, self.gamma_constraint),
        }


class UnitNormalization(Layer):
    """Scales each sample to L2 norm 1 over ``axis`` (an int or a list of axes): ``x *
    min(1 / sqrt(sum(x ** 2)), 1e12)``, Keras's ``ops.normalize(x, axis, order=2,
    epsilon=1e-12)`` (computed as ``x / sqrt(max(sum(x ** 2), 1e-24))``, the same, so that a
    sample of zeros gives zeros without an infinity). No weights; the output has the input's
    shape."""

    built_at_init = True  # (no build config, as Keras's)

    supports_masking = True

    def __init__(self, axis: int | list[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, list | tuple):
            self.axis: int | list[int] = [int(a) for a in axis]
        elif isinstance(axis, int | np.integer):
            self.axis = int(axis)
        else:
            raise TypeError(
                "Invalid value for `axis` argument: expected an int or a list/tuple of ints. "
                f"Received: axis={axis}"
            )

    @property
    def _axes(self) -> list[int]:
        return self.axis if isinstance(self.axis, list) else [self.axis]

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs: Tensor) -> Tensor:
        square_sum = (inputs * inputs).sum(tuple(self._axes), keepdims=True)
        return inputs * ops.clip(square_sum, UNIT_EPSILON**2, math.inf) ** -0.5

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        for axis in self._axes:
            if axis >= len(input_shape) or axis < -len(input_shape):
                raise ValueError(
                    f"Axis {self.axis} is out of bounds for input shape {tuple(input_shape)}."
                )
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"axis": self.axis}


class RMSNormalization(Layer):
    """Root-mean-square normalization of each sample over ``axis`` (an int or a list of
    axes): ``x / sqrt(mean(x ** 2) + epsilon) * scale``, Keras's ``ops.rms_normalization``.

    One trainable weight, ``scale`` (initialized to ones), of shape ``[input_shape[a] for a
    in axis]`` (the axes sorted). As in Keras, building makes ``axis`` a list (so the config
    of a built layer says ``[-1]`` for the default). The output has the input's shape.
    """

    def __init__(self, axis: int | list[int] = -1, epsilon: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis: int | list[int] = axis
        self.epsilon = epsilon

    @property
    def _axes(self) -> list[int]:
        return list(self.axis) if isinstance(self.axis, list | tuple) else [self.axis]

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)
        self.axis = sorted(self._axes)
        self.scale = self.add_weight(tuple(input_shape[a] for a in self.axis), "ones", name="scale")

    def call(self, inputs: Tensor) -> Tensor:
        positions = [a % inputs.ndim for a in self.axis]
        mean_square = (inputs * inputs).mean(tuple(positions), keepdims=True)
        # scale's axes follow the sorted axis list: [-1, 1] puts the last axis first
        order = sorted(range(len(positions)), key=positions.__getitem__)
        scale = self.scale if order == sorted(order) else self.scale.transpose(order)
        spanned = [n if d in positions else 1 for d, n in enumerate(inputs.shape)]
        return inputs * (mean_square + self.epsilon) ** -0.5 * scale.reshape(spanned)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _check_axes(self._axes, input_shape, self.axis)
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"axis": self.axis, "epsilon": self.epsilon}
