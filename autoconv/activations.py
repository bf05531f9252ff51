"""``keras.activations``: the activation functions by their Keras 3 names and arguments, and
``get``/``serialize``/``deserialize`` to find one by name (``keras/src/activations/``).

Each function takes a Tensor (or an array or list, made a float32 Tensor) and returns a Tensor;
the ops behind them are in :mod:`autoconv.ops` (their gradients run on both devices). Given a
functional graph's symbolic tensor, each records its ``keras.ops`` function in the graph, as
Keras does.

>>> from autoconv import activations
>>> activations.get("relu")([-1.0, 2.0]).data
array([0., 2.], dtype=float32)
>>> activations.serialize(activations.get("swish"))
'silu'
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from autoconv import ops as keras_ops
from autoconv import registration
from autoconv.ops import engine as ops
from autoconv.ops import nn
from autoconv.ops.base import as_tensor
from autoconv.ops.convert import is_symbolic
from autoconv.tensor import Tensor

__all__ = [
    "celu", "deserialize", "elu", "exponential", "gelu", "get", "glu", "hard_shrink",
    "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "leaky_relu", "linear",
    "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu", "serialize", "sigmoid",
    "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid",
    "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink", "threshold",
]  # fmt: skip


def _in_graphs(
    graph_function: Callable[..., Any],
) -> Callable[[Callable[..., Tensor]], Callable[..., Tensor]]:
    """Decorator: the activation called on a functional graph's symbolic tensor calls
    ``graph_function`` (``keras.ops`` functions, recorded in the graph) with its arguments,
    the activation's defaults included (``keras.ops.gelu``'s differs)."""

    def wrap(activation: Callable[..., Tensor]) -> Callable[..., Tensor]:
        signature = inspect.signature(activation)

        @functools.wraps(activation)
        def call(x: Any, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(x, Tensor) and is_symbolic(x):  # a Tensor: no test more
                bound = signature.bind(x, *args, **kwargs)
                bound.apply_defaults()
                return graph_function(*bound.args, **bound.kwargs)
            return activation(x, *args, **kwargs)

        return call

    return wrap


def _relu_in_graph(
    x: Any, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0
) -> Any:
    """:func:`relu` in ``keras.ops`` steps (Keras's ``ReLU.static_call``): one ``relu`` with
    the defaults."""
    if threshold:
        out = keras_ops.where(keras_ops.greater(x, threshold), x, 0.0)
    else:
        out = keras_ops.relu(x)
    if max_value is not None:
        out = keras_ops.clip(out, 0.0, max_value)
    if negative_slope:
        below = keras_ops.relu(keras_ops.subtract(threshold, x))
        out = keras_ops.subtract(out, keras_ops.multiply(negative_slope, below))
    return out


def _mish_in_graph(x: Any) -> Any:
    """:func:`mish` in ``keras.ops`` steps (keras.ops has no mish)."""
    return keras_ops.multiply(x, keras_ops.tanh(keras_ops.softplus(x)))


@_in_graphs(_relu_in_graph)
def relu(
    x: Any, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0
) -> Tensor:
    """max(x, 0) with the defaults; x is kept above ``threshold`` (0 elsewhere), clipped to
    [0, ``max_value``], and ``negative_slope`` * (x - threshold) is added below the threshold.

    >>> relu([-10.0, -5.0, 0.0, 5.0, 10.0], threshold=5.0).data  # -0. as in Keras: x * (x > 5)
    array([-0., -0.,  0.,  0., 10.], dtype=float32)
    """
    return ops.relu(x, negative_slope, max_value, threshold)


@_in_graphs(keras_ops.leaky_relu)
def leaky_relu(x: Any, negative_slope: float = 0.2) -> Tensor:
    """max(x, negative_slope * x)."""
    return ops.leaky_relu(x, negative_slope)


@_in_graphs(keras_ops.relu6)
def relu6(x: Any) -> Tensor:
    """min(max(x, 0), 6)."""
    return ops.relu6(x)


@_in_graphs(keras_ops.softmax)
def softmax(x: Any, axis: int | tuple[int, ...] = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis`` (a tuple: over those axes together)."""
    x = as_tensor(x)
    nn.warn_if_softmax_of_one(x.shape, axis)
    return ops.softmax(x, axis)


@_in_graphs(keras_ops.elu)
def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x >= 0, alpha * (exp(x) - 1) below."""
    return ops.elu(x, alpha)


@_in_graphs(keras_ops.selu)
def selu(x: Any) -> Tensor:
    """scale * elu(x, alpha), alpha = 1.67326324..., scale = 1.05070098..."""
    return ops.selu(x)


@_in_graphs(keras_ops.softplus)
def softplus(x: Any) -> Tensor:
    """log(exp(x) + 1), without overflow."""
    return ops.softplus(x)


@_in_graphs(keras_ops.softsign)
def softsign(x: Any) -> Tensor:
    """x / (abs(x) + 1)."""
    return ops.softsign(x)


@_in_graphs(keras_ops.silu)
def silu(x: Any) -> Tensor:
    """x * sigmoid(x) (also ``swish``)."""
    return ops.silu(x)


swish = silu


@_in_graphs(keras_ops.gelu)
def gelu(x: Any, approximate: bool = False) -> Tensor:
    """0.5 * x * (1 + erf(x / sqrt(2))); the tanh approximation if ``approximate``."""
    return ops.gelu(x, approximate)


@_in_graphs(keras_ops.tanh)
def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent."""
    return ops.tanh(x)


@_in_graphs(keras_ops.sigmoid)
def sigmoid(x: Any) -> Tensor:
    """1 / (1 + exp(-x)), without overflow."""
    return ops.sigmoid(x)


@_in_graphs(keras_ops.exp)
def exponential(x: Any) -> Tensor:
    """exp(x)."""
    return ops.exp(x)


@_in_graphs(keras_ops.hard_sigmoid)
def hard_sigmoid(x: Any) -> Tensor:
    """0 for x <= -3, 1 for x >= 3, x / 6 + 0.5 between."""
    return ops.hard_sigmoid(x)


@_in_graphs(keras_ops.hard_silu)
def hard_silu(x: Any) -> Tensor:
    """x * hard_sigmoid(x) (also ``hard_swish``)."""
    return ops.hard_silu(x)


hard_swish = hard_silu


def linear(x: Any) -> Tensor:
    """The identity (a Tensor, or a graph's symbolic tensor, is returned as it is)."""
    return x if is_symbolic(x) else as_tensor(x)


@_in_graphs(_mish_in_graph)
def mish(x: Any) -> Tensor:
    """x * tanh(softplus(x))."""
    return ops.mish(x)


@_in_graphs(keras_ops.log_softmax)
def log_softmax(x: Any, axis: int | tuple[int, ...] = -1) -> Tensor:
    """x - log(sum(exp(x))) along ``axis``."""
    return ops.log_softmax(x, axis)


def celu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x >= 0, alpha * (exp(x / alpha) - 1) below."""
    return nn.celu(x, alpha)


def glu(x: Any, axis: int = -1) -> Tensor:
    """a * sigmoid(b) for x split into halves a, b along ``axis`` (whose size must be even):
    that axis's size is halved."""
    return nn.glu(x, axis)


def hard_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """x where |x| > threshold, 0 elsewhere."""
    return nn.hard_shrink(x, threshold)


def hard_tanh(x: Any) -> Tensor:
    """x clipped to [-1, 1]."""
    return nn.hard_tanh(x)


def log_sigmoid(x: Any) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x)."""
    return nn.log_sigmoid(x)


def soft_shrink(x: Any, threshold: float = 0.5) -> Tensor:
    """x - threshold above ``threshold``, x + threshold below -threshold, 0 between."""
    return nn.soft_shrink(x, threshold)


def sparse_plus(x: Any) -> Tensor:
    """0 for x <= -1, x for x >= 1, (x + 1)**2 / 4 between."""
    return nn.sparse_plus(x)


def sparse_sigmoid(x: Any) -> Tensor:
    """0 for x <= -1, 1 for x >= 1, (x + 1) / 2 between."""
    return nn.sparse_sigmoid(x)


def sparsemax(x: Any, axis: int = -1) -> Tensor:
    """The projection of x onto the probability simplex along ``axis``: max(x - tau, 0), tau
    such that it sums to 1 (Keras 3.15's own is wrong where more than one entry is kept; see
    :func:`autoconv.ops.sparsemax`)."""
    return nn.sparsemax(x, axis)


def squareplus(x: Any, b: float = 4) -> Tensor:
    """(x + sqrt(x**2 + b)) / 2."""
    return nn.squareplus(x, b)


def tanh_shrink(x: Any) -> Tensor:
    """x - tanh(x)."""
    return nn.tanh_shrink(x)


def threshold(x: Any, threshold: float, default_value: float) -> Tensor:
    """x where x > ``threshold``, ``default_value`` elsewhere."""
    return nn.threshold(x, threshold, default_value)


ALL_OBJECTS: dict[str, Callable[..., Tensor]] = {
    fn.__name__: fn
    for fn in (
        relu, leaky_relu, relu6, softmax, celu, elu, selu, softplus, softsign, squareplus,
        soft_shrink, sparse_plus, silu, gelu, glu, tanh, tanh_shrink, threshold, sigmoid,
        sparse_sigmoid, exponential, hard_sigmoid, hard_silu, hard_tanh, hard_shrink, linear,
        mish, log_softmax, log_sigmoid, sparsemax,
    )
} | {"swish": silu, "hard_swish": hard_silu}  # fmt: skip
# the functions' own names (not the aliases): Keras's names for any function so named
FUNCTION_NAMES = frozenset(name for name, fn in ALL_OBJECTS.items() if fn.__name__ == name)


def _known() -> str:
    return ", ".join(sorted(ALL_OBJECTS))


def get(identifier: Any) -> Callable[..., Tensor]:
    """The activation function for ``identifier``: a name ('relu', 'swish', ...), None (linear),
    a config from :func:`serialize` or Keras's dict form, or a callable (returned as it is)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str | dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(activation: Callable[..., Any]) -> str | dict[str, Any]:
    """The name of one of these activation functions (an alias gives the function's own
    name: swish -> 'silu'), or of any other function of such a name (``ops.gelu``: 'gelu',
    as Keras writes it); for a function registered with
    ``@autoconv.saving.register_keras_serializable``, Keras's function entry (its
    ``"package>name"`` as ``config``); for any other named function (a user's, ``ops.exp``),
    the entry of its own name, as Keras writes it (loading finds it in ``custom_objects``). A
    Python lambda or another callable cannot be saved."""
    name = getattr(activation, "__name__", None)
    if ALL_OBJECTS.get(name) is activation:
        return name
    registered = registration.function_name(activation)
    if registered is None and inspect.isfunction(activation) and name in FUNCTION_NAMES:
        # Keras's: any unregistered function of an activation's own name (keras.ops.gelu,
        # keras.io's Dense(activation=ops.gelu)) is that name, and loads as that activation
        return name
    if registered is None and inspect.isfunction(activation) and name != "<lambda>":
        registered = name  # any other named function (keras.ops.exp too), as Keras writes it
    if registered is None:
        raise ValueError(
            f"activations.serialize: {activation!r} is not one of autoconv's activations "
            f"({_known()}) nor a user's named function, so it cannot be saved by name"
        )
    return registration.function_entry(registered)


def deserialize(
    config: str | dict[str, Any], custom_objects: dict[str, Callable] | None = None
) -> Callable[..., Tensor]:
    """The activation function named ``config``, or that Keras's function entry
    (``{"class_name": "function", "config": name, ...}``) names: a registered, scoped or
    ``custom_objects``' function by that name first, else one of these."""
    if isinstance(config, dict) and config.get("class_name") == "function":
        return registration.require_function(config, custom_objects, ALL_OBJECTS)
    found = registration.find_function(config, custom_objects, ALL_OBJECTS)
    if found is None:
        raise ValueError(
            f"Could not interpret activation function identifier: {config!r}; "
            f"known activations: {_known()}"
        )
    return found
