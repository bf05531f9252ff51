"""Regularization layers: Dropout, SpatialDropout1D, SpatialDropout2D, AlphaDropout,
GaussianNoise, GaussianDropout, each active in training only and the identity in inference;
and ActivityRegularization, which adds a penalty on its inputs to the loss. Arguments,
defaults and checks are Keras 3's (``keras/src/layers/regularization/``).

A layer given ``seed=`` draws from its own generator (the same masks for the same seed);
without one, from :func:`autoconv.seeds.generator` (reseeded by
``autoconv.utils.set_random_seed``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autoconv import regularizers
from autoconv.backends import backend
from autoconv.layers.layer import Layer, Shape
from autoconv.ops import engine as ops
from autoconv.ops.activation import SELU_ALPHA, SELU_SCALE
from autoconv.ops.convert import standardize_data_format
from autoconv.seeds import generator
from autoconv.tensor import Tensor
from autoconv.windows import is_int


def _fraction(value: Any, name: str) -> float:
    """A number in [0, 1], as Keras checks ``rate`` (and GaussianNoise's ``stddev``)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.number)
        or not (0 <= value <= 1)
    ):
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected a float value between 0 "
            f"and 1. Received: {name}={value}"
        )
    return float(value)


class _RandomLayer(Layer):
    """A layer that draws random numbers in training: from its own generator when given a
    ``seed``, else from autoconv's global one."""

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if seed is not None and (not is_int(seed) or seed < 0):
            raise ValueError(
                f"{type(self).__name__}: seed must be None or a non-negative int, got {seed!r}"
            )
        self.seed = None if seed is None else int(seed)
        self._generator = None if seed is None else np.random.default_rng(self.seed)

    @property
    def rng(self) -> np.random.Generator:
        return self._generator or generator()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape


class Dropout(_RandomLayer):
    """In training, zeroes a fraction ``rate`` of the inputs and scales the rest by
    1 / (1 - rate); in inference, the identity.

    ``noise_shape`` is the shape of the keep-or-drop mask, broadcast over the input: with
    inputs (batch, timesteps, features), ``noise_shape=(None, 1, features)`` drops the same
    features at every timestep; a ``None`` entry takes the input's size on that axis."""

    built_at_init = True  # (no build config, as Keras's)

    supports_masking = True

    def __init__(
        self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.rate = _fraction(rate, "rate")
        self.noise_shape = _noise_shape(noise_shape)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.rate == 0.0:
            return inputs
        if self.rate == 1.0:
            return inputs * 0.0
        return ops.dropout(inputs, self.rate, self.rng, self._concrete_noise_shape(inputs))

    def _concrete_noise_shape(self, inputs: Tensor) -> tuple[int, ...] | None:
        """Keras's ``_get_concrete_noise_shape``: None entries filled from the input's shape."""
        if self.noise_shape is None:
            return None
        if len(self.noise_shape) != inputs.ndim:
            raise ValueError(
                f"Dropout {self.name}: noise_shape {self.noise_shape} must have one entry per "
                f"axis of the inputs, got inputs of shape {inputs.shape}"
            )
        pairs = zip(self.noise_shape, inputs.shape, strict=True)
        return tuple(n if s is None else s for s, n in pairs)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": self.noise_shape,
        }


def _noise_shape(noise_shape: Any) -> tuple[int | None, ...] | None:
    """Keras's ``Dropout._validate_noise_shape``: a tuple of positive ints or None."""
    if noise_shape is None:
        return None
    if isinstance(noise_shape, str):
        raise ValueError(
            "Invalid value received for argument `noise_shape`. Expected a tuple or list of "
            f"integers. Received: noise_shape={noise_shape}"
        )
    try:
        noise_shape = tuple(noise_shape)
    except TypeError:
        raise ValueError(
            "Invalid value received for argument `noise_shape`. Expected an iterable of "
            f"integers (e.g., a tuple or list). Received: noise_shape={noise_shape}"
        ) from None
    for i, dim in enumerate(noise_shape):
        if dim is None:
            continue
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
            raise ValueError(
                "Invalid value received for argument `noise_shape`. Expected all elements to "
                f"be integers or None. Received element at index {i}: {dim} "
                f"(type: {type(dim).__name__})"
            )
        if dim <= 0:
            raise ValueError(
                "Invalid value received for argument `noise_shape`. Expected all dimensions to "
                f"be positive integers or None. Received negative or zero value at index {i}: "
                f"{dim}"
            )
    return tuple(None if dim is None else int(dim) for dim in noise_shape)


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps, one keep-or-drop per (sample, channel) (Keras's
    BaseSpatialDropout): inputs of rank ``NDIM``, and Keras's config keys (no noise_shape,
    which follows from the layer, and neither ``trainable`` nor a DTypePolicy: its dtype by
    name)."""

    NDIM = 0
    supports_masking = False  # Keras's spatial dropouts drop a mask, as most layers

    def build(self, input_shape: Shape) -> None:
        _expect_ndim(self, input_shape, self.NDIM)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _expect_ndim(self, input_shape, self.NDIM)
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype}


class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole 1-D feature maps: in training, each (sample, channel) of a
    (batch, steps, channels) input is dropped at every step with probability ``rate`` (the
    rest scaled by 1 / (1 - rate)); in inference, the identity."""

    NDIM = 3

    def __init__(
        self, rate: float, seed: int | None = None, name: str | None = None, dtype: Any = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        # Keras's order: seed second, no noise_shape
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)

    def _concrete_noise_shape(self, inputs: Tensor) -> tuple[int, ...]:
        n, _, channels = inputs.shape
        return (n, 1, channels)


class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole feature maps: in training, each (sample, channel) of a
    (batch, rows, cols, channels) input is dropped entirely with probability ``rate`` (the
    rest scaled by 1 / (1 - rate)), as PyTorch's ``Dropout2d`` on channels-first images."""

    NDIM = 4

    def __init__(
        self, rate: float, data_format: str | None = None, seed: int | None = None,
        name: str | None = None, dtype: Any = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        self.data_format = standardize_data_format(data_format)  # (None: the config's, as Keras)

    def _concrete_noise_shape(self, inputs: Tensor) -> tuple[int, ...]:
        n, *_ = inputs.shape
        if self.data_format == "channels_first":
            return (n, inputs.shape[1], 1, 1)
        return (n, 1, 1, inputs.shape[3])

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"data_format": self.data_format}


class AlphaDropout(Dropout):
    """Dropout that keeps the mean and variance of SELU activations: in training, each input
    is dropped with probability ``rate`` (one draw per element of ``noise_shape``, as
    Dropout's) and set to SELU's negative saturation alpha' = -alpha * scale, then every
    value goes through a * x + b with a = ((1 - rate) * (1 + rate * alpha'**2)) ** -0.5 and
    b = -a * alpha' * rate (Keras's formulas); in inference, the identity. Its config keeps a
    list ``noise_shape`` a list, as Keras's (which keeps it as given)."""

    def __init__(
        self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(rate, noise_shape, seed, **kwargs)
        self._noise_shape_as_list = isinstance(noise_shape, list)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self._noise_shape_as_list:
            config["noise_shape"] = list(self.noise_shape)
        return config

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.rate == 0.0:
            return inputs
        if self.rate == 1.0:
            raise ValueError(
                f"AlphaDropout {self.name}: rate=1 drops every input, and the affine correction "
                "((1 - rate) * ...) ** -0.5 is then undefined"
            )
        shape = self._concrete_noise_shape(inputs) or inputs.shape
        uniform = backend(inputs).random_uniform(shape, inputs.dtype, self.rng)
        kept = (uniform >= self.rate).astype(inputs.dtype)
        saturation = -SELU_ALPHA * SELU_SCALE
        a = ((1.0 - self.rate) * (1.0 + self.rate * saturation**2)) ** -0.5
        b = -a * saturation * self.rate
        return inputs * (kept * a) + ((1.0 - kept) * (a * saturation) + b)


def _expect_ndim(layer: Layer, input_shape: Shape, ndim: int) -> None:
    if len(input_shape) != ndim:
        raise ValueError(
            f'Input 0 of layer "{layer.name}" is incompatible with the layer: expected '
            f"ndim={ndim}, found ndim={len(input_shape)}. Full shape received: "
            f"{tuple(input_shape)}"
        )


class ActivityRegularization(Layer):
    """The identity, adding an activity penalty to the loss: ``l1 * sum(|x|) + l2 *
    sum(x ** 2)`` over the whole batch, divided by the batch size (Keras's activity
    regularizer, an ``L1L2(l1, l2)``), in training and inference alike."""

    built_at_init = True  # (no build config, as Keras's)

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = l1, l2

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("activity_regularizer")
        return config | {"l1": self.l1, "l2": self.l2}


class GaussianNoise(_RandomLayer):
    """In training, adds zero-centered normal noise of standard deviation ``stddev`` (a fresh
    draw for every element and step); in inference, the identity."""

    built_at_init = True  # (no build config, as Keras's)

    supports_masking = True

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.stddev = _fraction(stddev, "stddev")

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.stddev == 0.0:
            return inputs
        return ops.gaussian_noise(inputs, self.stddev, self.rng)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_RandomLayer):
    """In training, multiplies the inputs by normal noise of mean 1 and standard deviation
    sqrt(rate / (1 - rate)) (the variance of dropout at that ``rate``); in inference, the
    identity."""

    built_at_init = True  # (no build config, as Keras's)

    supports_masking = True

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.rate = _fraction(rate, "rate")

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.rate == 0.0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return ops.gaussian_noise(inputs, stddev, self.rng, mean=1.0, multiply=True)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"rate": self.rate, "seed": self.seed}
