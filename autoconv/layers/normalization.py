"""Normalization layers: BatchNormalization, LayerNormalization, and the preprocessing layer
Normalization (a mean and variance fixed up front or learned from data with ``adapt``).
Arguments, defaults, weights and their order are Keras 3's
(``keras/src/layers/normalization/`` and ``keras/src/layers/preprocessing/normalization.py``).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from autoconv import constraints, initializers, regularizers
from autoconv.backends import backend
from autoconv.layers.layer import Layer, Shape, serialized
from autoconv.ops import engine as ops
from autoconv.ops.masks import as_mask, spread
from autoconv.tensor import Tensor

EPSILON = 1e-7  # keras.backend.epsilon(): Normalization's floor for the standard deviation


def _axis_index(axis: int, input_shape: Shape, owner: str) -> int:
    if not -len(input_shape) <= axis < len(input_shape):
        raise ValueError(
            f"{owner}: axis {axis} is out of bounds for input shape {tuple(input_shape)}"
        )
    return axis % len(input_shape)


def set_scale_and_center(
    layer: Layer, center: Any, scale: Any, beta_initializer: Any, gamma_initializer: Any,
    beta_regularizer: Any, gamma_regularizer: Any, beta_constraint: Any, gamma_constraint: Any,
) -> None:  # fmt: skip
    """A normalization layer's ``center`` (beta) and ``scale`` (gamma) options, read as Keras
    reads them (names or objects), onto ``layer``; its weights not made yet."""
    layer.center, layer.scale = bool(center), bool(scale)
    layer.beta_initializer = initializers.get(beta_initializer)
    layer.gamma_initializer = initializers.get(gamma_initializer)
    layer.beta_regularizer = regularizers.get(beta_regularizer)
    layer.gamma_regularizer = regularizers.get(gamma_regularizer)
    layer.beta_constraint = constraints.get(beta_constraint)
    layer.gamma_constraint = constraints.get(gamma_constraint)
    layer.gamma = layer.beta = None


def add_scale_and_center(layer: Layer, shape: Shape, scale: bool, center: bool) -> None:
    """Make ``layer``'s ``gamma`` (where ``scale``) then ``beta`` (where ``center``) of
    ``shape``, in Keras's order, with the options :func:`set_scale_and_center` read."""
    if scale:
        layer.gamma = layer.add_weight(
            shape, layer.gamma_initializer, regularizer=layer.gamma_regularizer,
            constraint=layer.gamma_constraint, name="gamma",
        )  # fmt: skip
    if center:
        layer.beta = layer.add_weight(
            shape, layer.beta_initializer, regularizer=layer.beta_regularizer,
            constraint=layer.beta_constraint, name="beta",
        )  # fmt: skip


class BatchNormalization(Layer):
    """Normalizes each channel (index of ``axis``) by statistics over every other axis.

    In training (``fit``, or ``training=True``): ``gamma * (x - mean) / sqrt(variance +
    epsilon) + beta`` with the batch's mean and biased variance, and the moving statistics
    updated on the device: ``moving = moving * momentum + batch_statistic * (1 - momentum)``.
    In inference (``predict``, ``evaluate``, ``training=False``) the moving statistics take
    the batch's place. A frozen layer (``trainable = False``) always runs in inference mode and
    leaves its moving statistics alone, as in Keras.

    Weights, Keras's order: ``gamma`` (``scale=True``), ``beta`` (``center=True``), both
    trainable, then ``moving_mean``, ``moving_variance`` (non-trainable): 4 * C parameters,
    2 * C of them non-trainable.
    """

    supports_masking = True

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        synchronized: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axis = int(axis)
        if synchronized:
            raise ValueError(
                "Argument synchronized=True is only supported with the TensorFlow backend "
                "(autoconv has no distribution strategy)."
            )
        self.synchronized = False
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        set_scale_and_center(
            self, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
            gamma_regularizer, beta_constraint, gamma_constraint,
        )  # fmt: skip
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape: Shape) -> None:
        channels = input_shape[_axis_index(self.axis, input_shape, "BatchNormalization")]
        if channels is None:
            raise ValueError(
                f"Axis {self.axis} of the inputs should have a defined dimension, but the layer "
                f"received inputs of shape {tuple(input_shape)}"
            )
        shape = (channels,)
        add_scale_and_center(self, shape, self.scale, self.center)
        self.moving_mean = self.add_weight(
            shape, self.moving_mean_initializer, trainable=False, name="moving_mean"
        )
        self.moving_variance = self.add_weight(
            shape, self.moving_variance_initializer, trainable=False, name="moving_variance"
        )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def call(self, inputs: Tensor, training: bool | None = None, mask: Any = None) -> Tensor:
        if mask is None:
            return self.normalized(inputs, training)
        kept = as_mask(mask, inputs)
        if kept.ndim != inputs.ndim - 1:
            raise ValueError(
                "The mask provided should be one dimension less than the inputs. Received: "
                f"mask.shape={kept.shape}, inputs.shape={inputs.shape}"
            )
        if not (training and self.trainable):
            return self.normalized(inputs, training)
        return self._masked_training(inputs, kept)

    def _masked_training(self, inputs: Tensor, kept: Tensor) -> Tensor:
        """Training with a Keras mask (batch, ...) of one axis less than the inputs: the
        batch's statistics over the kept positions only (Keras's ``_moments``), the moving
        ones updated from them."""
        axis = _axis_index(self.axis, inputs.shape, "BatchNormalization")
        reduced = tuple(a for a in range(inputs.ndim) if a != axis)
        weights = spread(kept, inputs)
        count = ops.sum(weights, axis=reduced, keepdims=True) + 1e-7  # Keras's epsilon()
        mean = ops.sum(inputs * weights, axis=reduced, keepdims=True) / count
        variance = ops.sum(((inputs - mean) * weights) ** 2, axis=reduced, keepdims=True) / count
        channels = (inputs.shape[axis],)
        mean, variance = mean.reshape(*channels), variance.reshape(*channels)
        moving = [self.moving_mean.data, self.moving_variance.data]  # updated in place
        backend(inputs).moving_averages(moving, [mean.data, variance.data], self.momentum)
        shape = [1] * inputs.ndim
        shape[axis] = channels[0]
        out = (inputs - mean.reshape(*shape)) * (variance.reshape(*shape) + self.epsilon) ** -0.5
        if self.gamma is not None:
            out = out * self.gamma.reshape(*shape)
        return out if self.beta is None else out + self.beta.reshape(*shape)

    def normalized(
        self, inputs: Tensor, training: bool, relu: bool = False, bias: Tensor | None = None
    ) -> Tensor:
        """``self(inputs + bias, training=training)``, then a ReLU with ``relu``, as one op
        (the same values; ``bias``: the bias of the layer before, which left it out). A model's
        plan runs a BatchNormalization and what it fuses with so; ``inputs`` already of this
        layer's dtype."""
        if training and self.trainable:
            out, mean, variance = ops.batch_norm(
                inputs, self.gamma, self.beta, self.axis, self.epsilon, training=True, relu=relu,
                bias=bias,
            )  # fmt: skip
            moving = [self.moving_mean.data, self.moving_variance.data]  # updated in place
            backend(inputs).moving_averages(moving, [mean, variance], self.momentum)
            return out
        out, _, _ = ops.batch_norm(
            inputs, self.gamma, self.beta, self.axis, self.epsilon, training=False,
            moving_mean=self.moving_mean, moving_variance=self.moving_variance, relu=relu,
            bias=bias,
        )  # fmt: skip
        return out

    def folded(self, kernel: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor]:
        """The kernel and bias of a linear layer (Conv2D, Dense: output channels last) that
        includes this layer in inference mode: ``kernel * s`` and ``(bias - moving_mean) * s +
        beta`` with ``s = gamma / sqrt(moving_variance + epsilon)``."""
        scale = (self.moving_variance + self.epsilon) ** -0.5
        if self.gamma is not None:
            scale = scale * self.gamma
        shift = -self.moving_mean * scale if bias is None else (bias - self.moving_mean) * scale
        if self.beta is not None:
            shift = shift + self.beta
        return kernel * scale, shift

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": serialized(initializers, self.beta_initializer),
            "gamma_initializer": serialized(initializers, self.gamma_initializer),
            "moving_mean_initializer": serialized(initializers, self.moving_mean_initializer),
            "moving_variance_initializer": serialized(
                initializers, self.moving_variance_initializer
            ),
            "beta_regularizer": serialized(regularizers, self.beta_regularizer),
            "gamma_regularizer": serialized(regularizers, self.gamma_regularizer),
            "beta_constraint": serialized(constraints, self.beta_constraint),
            "gamma_constraint": serialized(constraints, self.gamma_constraint),
            "synchronized": self.synchronized,
            "renorm": False,  # autoconv has no batch renormalization
            "renorm_clipping": None,
            "renorm_momentum": 0.99,
        }


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` (an int or a list of axes): ``(x - mean) /
    sqrt(variance + epsilon) * gamma + beta``, with ``gamma`` and ``beta`` spanning those axes
    (shape ``[input_shape[a] for a in axis]``). ``rms_scaling=True`` (Keras's deprecated
    keyword, not a parameter of its signature: it warns as Keras's does) divides x itself, not
    x - mean, and ignores ``center``, keeping ``gamma`` even with ``scale=False``. The same in
    training and inference."""

    supports_masking = True

    def __init__(
        self,
        axis: int | list[int] = -1,
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
        rms_scaling = kwargs.pop("rms_scaling", False)
        if rms_scaling:
            warnings.warn(
                "You passed `rms_scaling=True`, which is deprecated. This argument incorrectly "
                "scales the input by the variance, not the root mean square. To correctly use "
                "RMS Normalization, please use `keras.layers.RMSNormalization` instead.",
                stacklevel=2,
            )
        super().__init__(**kwargs)
        if isinstance(axis, list | tuple):
            self.axis: int | list[int] = [int(a) for a in axis]
        elif isinstance(axis, int | np.integer) and not isinstance(axis, bool):
            self.axis = int(axis)
        else:
            raise TypeError(
                "Expected an int or a list/tuple of ints for the argument 'axis', but "
                f"received: {axis!r}"
            )
        self.epsilon = float(epsilon)
        self.rms_scaling = bool(rms_scaling)
        set_scale_and_center(
            self, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
            gamma_regularizer, beta_constraint, gamma_constraint,
        )  # fmt: skip

    @property
    def _axes(self) -> list[int]:
        return self.axis if isinstance(self.axis, list) else [self.axis]

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)
        shape = tuple(input_shape[a] for a in self._axes)
        if None in shape:
            raise ValueError(
                f"LayerNormalization: the axes {self.axis} it normalizes over need known sizes, "
                f"got inputs of shape {tuple(input_shape)}"
            )
        add_scale_and_center(
            self, shape, self.scale or self.rms_scaling, self.center and not self.rms_scaling
        )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        for axis in self._axes:
            if axis >= len(input_shape) or axis < -len(input_shape):
                raise ValueError(
                    f"Axis {axis} is out of bounds for input shape {tuple(input_shape)}. Ensure "
                    "axis is within the range of input dimensions."
                )
        return input_shape

    def call(self, inputs: Tensor) -> Tensor:
        # gamma and beta reshaped to the inputs' rank, 1 on the other axes (as Keras does)
        kept = [1] * inputs.ndim
        for axis in self._axes:
            kept[axis] = inputs.shape[axis]
        gamma = None if self.gamma is None else self.gamma.reshape(kept)
        beta = None if self.beta is None else self.beta.reshape(kept)
        return ops.layer_norm(
            inputs, gamma, beta, tuple(self._axes), self.epsilon, self.rms_scaling
        )

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "axis": self._axes if self.built else self.axis,  # Keras's build makes it a list
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            "beta_initializer": serialized(initializers, self.beta_initializer),
            "gamma_initializer": serialized(initializers, self.gamma_initializer),
            "beta_regularizer": serialized(regularizers, self.beta_regularizer),
            "gamma_regularizer": serialized(regularizers, self.gamma_regularizer),
            "beta_constraint": serialized(constraints, self.beta_constraint),
            "gamma_constraint": serialized(constraints, self.gamma_constraint),
        }


class Normalization(Layer):
    """Shifts and scales inputs to mean 0 and standard deviation 1: ``(x - mean) /
    max(sqrt(variance), 1e-7)`` (``invert=True``: ``mean + x * max(sqrt(variance), 1e-7)``,
    undoing it), with one mean and variance per index of ``axis`` (None: one for all).

    Give ``mean`` and ``variance`` (broadcast to the kept axes; they are part of the config,
    not weights), or learn them from data with :meth:`adapt`: they are then non-trainable
    weights ``mean``, ``variance`` and Keras's unused ``count`` (2 * C + 1 parameters), saved and
    loaded with the model. Like Keras's, a layer that was neither given them nor adapted uses
    mean 0 and variance 1, its weights' initial values.

    >>> layer = Normalization(axis=None)
    >>> layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    >>> layer(np.array([1.0, 2.0, 3.0])).numpy()
    array([-1.4142135 , -0.70710677,  0.        ], dtype=float32)
    """

    _allow_non_tensor_positional_args = True  # (Keras's data layers')

    supports_masking = True

    def __init__(
        self,
        axis: int | tuple[int, ...] | None = -1,
        mean: Any = None,
        variance: Any = None,
        invert: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if axis is None:
            self.axis: tuple[int, ...] = ()
        elif isinstance(axis, int | np.integer):
            self.axis = (int(axis),)
        else:
            self.axis = tuple(int(a) for a in axis)
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        if (mean is not None) != (variance is not None):
            raise ValueError(
                "When setting values directly, both `mean` and `variance` must be set. "
                f"Received: mean={mean} and variance={variance}"
            )
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(
                    "When setting values directly, `mean` and `variance` must have the same "
                    f"shape. Received: mean shape {np.shape(mean)} and variance shape "
                    f"{np.shape(variance)}"
                )
            if len(np.shape(mean)) > len(self.axis):
                raise ValueError(
                    "The rank of `mean` must be less than or equal to the number of axes "
                    f"({len(self.axis)}). Received: mean shape {np.shape(mean)} for axis "
                    f"{self.axis}"
                )
        self._given: dict[str, tuple[Tensor, Tensor]] = {}  # device -> the given mean, variance

    def _kept_axes(self, ndim: int) -> tuple[int, ...]:
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(
                "All `axis` values must be in the range [-ndim, ndim). Received inputs with "
                f"ndim={ndim}, while axis={self.axis}"
            )
        return tuple(sorted(a % ndim for a in self.axis))

    def build(self, input_shape: Shape) -> None:
        ndim = len(input_shape)
        self._keep = self._kept_axes(ndim)
        for d in self._keep:
            if input_shape[d] is None:
                raise ValueError(
                    f"All `axis` values to be kept must have a known shape. Received "
                    f"axis={self.axis}, inputs.shape={tuple(input_shape)}, with unknown axis "
                    f"at index {d}"
                )
        self._reduce = tuple(d for d in range(ndim) if d not in self._keep)
        self._broadcast_shape = tuple(input_shape[d] if d in self._keep else 1 for d in range(ndim))
        shape = tuple(input_shape[d] for d in self._keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(shape, "zeros", trainable=False, name="mean")
            self.adapt_variance = self.add_weight(shape, "ones", trainable=False, name="variance")
            # Keras keeps this (always 0) "for backwards compatibility"; an int there
            self.count = self.add_weight((), "zeros", trainable=False, name="count")
        else:
            self._mean_array = self._broadcast(self.input_mean)
            self._variance_array = self._broadcast(self.input_variance)

    def _broadcast(self, value: Any) -> np.ndarray:
        """A given mean or variance (a scalar or an array matching the last kept axes) in the
        inputs' rank, broadcast over the kept axes."""
        value = np.asarray(value, dtype=self.dtype)
        expanded = [1] * len(self._broadcast_shape)
        for i in range(1, value.ndim + 1):
            expanded[self._keep[-i]] = value.shape[-i]
        return np.broadcast_to(value.reshape(expanded), self._broadcast_shape).copy()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    @property
    def mean(self) -> Tensor | None:
        """Keras's ``mean``: the mean in the inputs' rank (1 on the reduced axes), the one
        given or adapted; None before the layer is built."""
        return self._statistics_now()[0]

    @property
    def variance(self) -> Tensor | None:
        """Keras's ``variance``, as :attr:`mean`."""
        return self._statistics_now()[1]

    def _statistics_now(self) -> tuple[Tensor | None, Tensor | None]:
        if not self.built:
            return None, None
        if self.input_mean is None:
            shape = self._broadcast_shape
            return Tensor(self.adapt_mean.numpy().reshape(shape)), Tensor(
                self.adapt_variance.numpy().reshape(shape)
            )
        return Tensor(self._mean_array), Tensor(self._variance_array)

    def _statistics(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, variance) as constants of the inputs' rank on their device."""
        if self.input_mean is None:
            shape = self._broadcast_shape
            return self.adapt_mean.reshape(shape), self.adapt_variance.reshape(shape)
        if inputs.device not in self._given:
            self._given[inputs.device] = (
                Tensor(self._mean_array, device=inputs.device),
                Tensor(self._variance_array, device=inputs.device),
            )
        return self._given[inputs.device]

    def call(self, inputs: Tensor) -> Tensor:
        mean, variance = self._statistics(inputs)
        std = ops.clip(variance**0.5, EPSILON, math.inf)
        if self.invert:
            return mean + inputs * std
        return (inputs - mean) / std

    def adapt(self, data: Any) -> None:
        """Set the mean and variance to those of ``data`` along the axes that are not kept: a
        NumPy array (or Tensor) holding the whole dataset, or an iterable of batches (arrays,
        or ``(x, y)`` tuples whose x is used), combined batch by batch as Keras does."""
        if self.input_mean is not None:
            raise ValueError(
                f"Normalization {self.name} was given its mean and variance; adapt() cannot "
                "change them (make the layer without mean= and variance= to adapt it)"
            )
        batches: Iterable[Any] | None = None
        if isinstance(data, Tensor):
            data = data.numpy()
        if isinstance(data, np.ndarray):
            shape = data.shape
        elif hasattr(data, "__iter__"):
            iterator = iter(data)
            first = next(iterator, None)
            if first is None:
                raise ValueError(
                    "adapt() received an empty iterable (no batches). Expected at least one "
                    "batch. Pass a non-empty iterable of arrays or tensors, e.g. "
                    "layer.adapt([x]) or layer.adapt(list_of_batches)."
                )
            first = _extract_batch(first)
            if getattr(first, "shape", None) is None:
                raise TypeError(
                    "adapt() expects an iterable that yields arrays or tensors with a `.shape` "
                    f"attribute (e.g. numpy arrays or backend tensors). Got an element of type "
                    f"{type(first).__name__}. Ensure each yielded element is array-like with a "
                    "`.shape` attribute."
                )
            shape = tuple(first.shape)
            batches = itertools.chain([first], iterator)
        else:
            raise TypeError(
                f"Unsupported data type: {type(data)}. `adapt` supports `np.ndarray`, tensors "
                "and iterables of batches (e.g. list, generator)."
            )
        if not self.built:  # for an array its shape, as Keras's (the build config records it)
            keep = self._kept_axes(len(shape))
            if batches is not None:
                shape = tuple(n if d in keep else None for d, n in enumerate(shape))
            self._maybe_build(tuple(shape))
        else:
            self._check_shape(shape, "but adapt() is being called with data with an "
                              f"incompatible shape, data.shape={tuple(shape)}")  # fmt: skip
        if batches is None:
            mean, variance = _moments(data, self._reduce)
        else:
            mean, variance = self._running_moments(batches)
        self.adapt_mean.assign(mean.astype(self.dtype))
        self.adapt_variance.assign(variance.astype(self.dtype))

    def _check_shape(self, shape: tuple[int, ...], problem: str) -> None:
        built = self._build_shape
        if len(shape) != len(built) or any(shape[d] != built[d] for d in self._keep):
            raise ValueError(f"The layer was built with input_shape={built}, {problem}")

    def _running_moments(self, batches: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Keras's batch-by-batch mean and variance (the lack-of-fit sum of squares)."""
        total_mean = total_variance = np.zeros(tuple(self._build_shape[d] for d in self._keep))
        total_count = 0
        for batch in batches:
            batch = _extract_batch(batch)
            batch = batch.numpy() if isinstance(batch, Tensor) else np.asarray(batch)
            shape = tuple(batch.shape)
            self._check_shape(
                shape,
                "but adapt() yielded a batch with incompatible shape. Expected "
                f"{self._build_shape}, got {shape}.",
            )
            batch_mean, batch_variance = _moments(batch, self._reduce)
            batch_count = math.prod(shape[d] for d in self._reduce)
            total_count += batch_count
            batch_weight = batch_count / total_count
            existing_weight = 1.0 - batch_weight
            new_mean = total_mean * existing_weight + batch_mean * batch_weight
            total_variance = (total_variance + (total_mean - new_mean) ** 2) * existing_weight + (
                batch_variance + (batch_mean - new_mean) ** 2
            ) * batch_weight
            total_mean = new_mean
        return total_mean, total_variance

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "axis": self.axis,
            "invert": self.invert,
            "mean": np.array(self.input_mean).tolist(),
            "variance": np.array(self.input_variance).tolist(),
        }


def _extract_batch(batch: Any) -> Any:
    """The inputs of a batch: x of an ``(x, y)`` or ``(x, y, sample_weight)`` tuple."""
    return batch[0] if isinstance(batch, tuple) else batch


def _moments(data: Any, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and biased variance over ``axes``, in float64."""
    data = np.asarray(data, dtype=np.float64)
    return data.mean(axis=axes), data.var(axis=axes)
