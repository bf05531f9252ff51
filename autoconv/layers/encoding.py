"""CategoryEncoding and Discretization, Keras 3's numeric preprocessing layers (its
keras/src/layers/preprocessing/category_encoding.py and discretization.py: arguments, defaults,
order, configs and numbers are theirs), and :func:`encode_categorical`, the encoding they share
with the lookup layers (:mod:`autoconv.layers.index_lookup`).

As in Keras, they run on the host in a ``Dataset.map`` as well as in a model: a NumPy array or a
list gives a NumPy array, a Tensor gives a Tensor on its device (computed on the host: nothing
flows back through them, as in Keras), and a model's symbolic tensor records the layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from autoconv.host_array import host_array
from autoconv.layers.layer import Layer, Shape
from autoconv.layers.symbolic import is_symbolic
from autoconv.tensor import Tensor

ENCODINGS = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def encode_categorical(
    indices: Any,
    output_mode: str,
    depth: int,
    dtype: Any = "float32",
    count_weights: Any = None,
    skip_negative: bool = False,
) -> np.ndarray:
    """Keras's ``encode_categorical_inputs`` for integer ``indices`` (rank 0 to 2) in
    [0, depth): "one_hot" (a last axis of 1 replaced by ``depth``, else ``depth`` appended),
    "multi_hot" or "count" (the last axis, the sample's, replaced by ``depth``; "count" weighted
    by ``count_weights``, whose dtype it then takes), or "int" (the indices in ``dtype``).
    ``skip_negative``: negative indices (masked tokens) count nowhere instead of failing."""
    indices = np.asarray(indices)
    if output_mode == "int":
        return indices.astype(dtype)
    if indices.ndim == 0:
        indices = indices.reshape(1)
    low = -1 if skip_negative else 0
    if indices.size and (indices.min() < low or indices.max() >= depth):
        raise ValueError(
            f"Input values must be in the range 0 <= values < num_tokens with num_tokens={depth}"
            f". Received: values from {indices.min()} to {indices.max()}"
        )
    if output_mode == "one_hot":
        if indices.ndim > 1 and indices.shape[-1] == 1:
            indices = indices[..., 0]
        return (indices[..., None] == np.arange(depth)).astype(dtype)
    hot = indices[..., None] == np.arange(depth)
    axis = 1 if indices.ndim > 1 else 0
    if output_mode == "multi_hot":
        return hot.any(axis=axis).astype(dtype)
    if count_weights is None:
        return hot.sum(axis=axis).astype(dtype)
    weights = np.asarray(count_weights)
    return (hot * weights[..., None]).sum(axis=axis).astype(weights.dtype)


def encoded_shape(input_shape: Shape, output_mode: str, depth: int | None) -> Shape:
    """The shape :func:`encode_categorical` gives for indices of ``input_shape`` (Keras's
    ``compute_output_shape`` of these layers)."""
    input_shape = tuple(input_shape)
    if output_mode == "int":
        return input_shape
    if not input_shape:
        return (depth,)
    if output_mode == "one_hot" and len(input_shape) > 1 and input_shape[-1] == 1:
        return (*input_shape[:-1], depth)
    if output_mode == "one_hot":
        return (*input_shape, depth)
    return (*input_shape[:-1], depth)


def check_mode(output_mode: Any, allowed: Iterable[str], owner: str) -> str:
    """``output_mode`` if it is one of ``allowed`` (Keras's ``validate_string_arg`` error)."""
    allowed = tuple(allowed)
    if output_mode not in allowed:
        raise ValueError(
            f"The `output_mode` argument value of {owner} must be one of "
            f"{', '.join(repr(a) for a in allowed)}. Received: {output_mode}"
        )
    return output_mode


def refuse_sparse(sparse: Any, owner: str) -> None:
    """Keras's non-TensorFlow backends' refusal of ``sparse=True``."""
    if sparse:
        raise ValueError(
            f"{owner}: `sparse=True` is not supported: autoconv has no sparse tensors (as Keras "
            "outside its TensorFlow backend)"
        )


class _HostEncoding(Layer):
    """The call of both layers: symbolic tensors are recorded (``compute_output_shape``),
    Tensors give a Tensor on their device, anything else (arrays, lists, numbers) a NumPy
    array; :meth:`encode` computes with NumPy."""

    keeps_integer_inputs = True  # (a model's integer data encoded as they are)
    _allow_non_tensor_positional_args = True  # (Keras's data layers')

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if is_symbolic(inputs) or isinstance(inputs, Tensor):
            return super().__call__(inputs, *args, **kwargs)
        kwargs.pop("training", None)  # (a model's call passes it; encoding has no mode)
        return host_array(self.encode(np.asarray(inputs), *args, **kwargs))  # with .numpy()

    def call(self, inputs: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        encoded = self.encode(inputs.numpy(), *args, **kwargs)
        return Tensor(encoded, dtype=self.dtype, device=inputs.device)

    def encode(self, inputs: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError  # each layer's own


class CategoryEncoding(_HostEncoding):
    """Integer inputs (rank 0 to 2) in [0, num_tokens) encoded as "one_hot", "multi_hot"
    (default; "binary" is its other name) or "count" vectors of ``num_tokens`` (float32, or the
    layer's dtype): (N,) -> (N, num_tokens) for one_hot, (N, L) -> (N, num_tokens) for the
    others. A call's ``count_weights`` (the inputs' shape) weights "count"."""

    def __init__(
        self,
        num_tokens: int | None = None,
        output_mode: str = "multi_hot",
        sparse: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode not in ("count", "one_hot", "multi_hot"):
            raise ValueError(f"Unknown arg for output_mode: {output_mode}")
        if num_tokens is None:
            raise ValueError(
                "num_tokens must be set to use this layer. If the number of tokens is not known "
                "beforehand, use the IntegerLookup layer instead."
            )
        if not isinstance(num_tokens, int | np.integer) or num_tokens < 1:
            raise ValueError(f"`num_tokens` must be >= 1. Received: num_tokens={num_tokens}.")
        refuse_sparse(sparse, "CategoryEncoding")
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = sparse

    def encode(self, inputs: np.ndarray, count_weights: Any = None) -> np.ndarray:
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(
                "`count_weights` is not used when `output_mode` is not `'count'`. Received "
                f"`count_weights={count_weights}`."
            )
        if count_weights is not None:
            count_weights = np.asarray(
                count_weights.numpy() if isinstance(count_weights, Tensor) else count_weights,
                dtype=self.dtype,
            )
        indices = _integers(inputs, "CategoryEncoding")
        return encode_categorical(
            indices, self.output_mode, self.num_tokens, self.dtype, count_weights
        )

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "num_tokens": self.num_tokens,
            "output_mode": self.output_mode,
        }


class Discretization(_HostEncoding):
    """Numbers bucketed by ``bin_boundaries`` (x < b[0] is bucket 0, b[0] <= x < b[1] bucket 1,
    ...), or by ``num_bins`` quantile boundaries that :meth:`adapt` finds (Keras's
    approximate quantiles, within ``epsilon``). ``output_mode`` "int" (int32 indices of the
    input's shape; a Tensor input gives them as floats, autoconv Tensors holding floats),
    "one_hot", "multi_hot" or "count" (as :class:`CategoryEncoding`, len(bin_boundaries) + 1
    deep)."""

    def __init__(
        self,
        bin_boundaries: list[float] | None = None,
        num_bins: int | None = None,
        epsilon: float = 0.01,
        output_mode: str = "int",
        sparse: bool = False,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        refuse_sparse(sparse, "Discretization")  # first, as Keras outside TensorFlow
        check_mode(output_mode, ENCODINGS[:4], "Discretization")
        if num_bins is not None and num_bins < 0:
            raise ValueError(
                f"`num_bins` must be greater than or equal to 0. Received: `num_bins={num_bins}`"
            )
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(
                "Both `num_bins` and `bin_boundaries` should not be set. Received: "
                f"`num_bins={num_bins}` and `bin_boundaries={bin_boundaries}`"
            )
        if num_bins is None and bin_boundaries is None:
            raise ValueError("You need to set either `num_bins` or `bin_boundaries`.")
        self.bin_boundaries = None if bin_boundaries is None else list(bin_boundaries)
        self.num_bins = num_bins
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = sparse
        self.summary = None if self.bin_boundaries else np.array([[], []], dtype="float32")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Discretization:
        """As Keras: an adapted layer's config holds both ``num_bins`` and its boundaries."""
        config = dict(config)
        boundaries = config.pop("bin_boundaries", None)
        if boundaries is not None and config.get("num_bins") is not None:
            layer = super().from_config(config)
            layer.bin_boundaries = list(boundaries)
            return layer
        return super().from_config({**config, "bin_boundaries": boundaries})

    def adapt(self, data: Any, steps: int | None = None) -> None:
        """Find ``num_bins`` quantile boundaries of ``data``: an array (or Tensor), or an
        iterable of batches (a list of arrays, a ``Dataset``, a generator; ``steps`` of them
        at most)."""
        if self.num_bins is None:
            raise ValueError(
                "Cannot adapt a Discretization layer that has been initialized with "
                "`bin_boundaries`, use `num_bins` instead."
            )
        self.summary = np.array([[], []], dtype="float32")
        for batch in adapt_batches(data, steps, arrays=(np.ndarray, Tensor)):
            values = np.array(batch.numpy() if isinstance(batch, Tensor) else batch, "float32")
            self.summary = _merge_summaries(_summarize(values, self.epsilon), self.summary,
                                            self.epsilon)  # fmt: skip
        self.bin_boundaries = _compress_summary(self.summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def encode(self, inputs: np.ndarray) -> np.ndarray:
        if self.bin_boundaries is None:
            raise ValueError(
                "You need to either pass the `bin_boundaries` argument at construction time or "
                "call `adapt(dataset)` before you can start using the `Discretization` layer."
            )
        indices = np.digitize(inputs.astype("float32"), np.asarray(self.bin_boundaries, "float32"))
        dtype = "int32" if self.output_mode == "int" else self.dtype
        return encode_categorical(indices, self.output_mode, len(self.bin_boundaries) + 1, dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        depth = len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins
        if self.output_mode == "one_hot":
            return encoded_shape(input_shape, "one_hot", depth)
        if len(input_shape) >= 2:
            return (input_shape[0], *input_shape[2:], depth)
        return (depth,)

    def get_config(self) -> dict[str, Any]:
        return {
            "bin_boundaries": self.bin_boundaries,
            "num_bins": self.num_bins,
            "epsilon": self.epsilon,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "name": self.name,
            "dtype": self.dtype,  # Keras writes the name, not the policy
        }


def rectangular(values: Any, dtype: Any = None) -> np.ndarray:
    """``values`` (a Tensor, an array, nested lists) as an array; ragged lists (documents of
    unequal lengths) are refused with TensorFlow's errors, as Keras's lookups refuse them."""
    values = values.numpy() if isinstance(values, Tensor) else values
    pad = "Pad the documents to one length: lookups take no ragged lists."
    try:
        array = np.asarray(values, dtype=dtype)
    except ValueError:  # NumPy's "inhomogeneous shape", of ragged numbers
        raise ValueError(
            f"Can't convert non-rectangular Python sequence to Tensor. {pad}"
        ) from None
    rows = array.reshape(-1) if array.dtype == object else []
    row = next((v for v in rows if isinstance(v, list | tuple | np.ndarray)), None)
    if row is not None and isinstance(values, np.ndarray):
        raise ValueError(
            "Failed to convert a NumPy array to a Tensor (Unsupported object type "
            f"{type(row).__name__}). {pad}"
        )
    if row is not None:
        raise ValueError(f"Can't convert non-rectangular Python sequence to Tensor. {pad}")
    return array


def adapt_batches(data: Any, steps: int | None, arrays: tuple[type, ...]) -> Iterable[Any]:
    """What Keras's ``adapt`` walks: ``data`` as one batch when it is one of ``arrays``, else
    its items (a ``Dataset``'s batches, a list's arrays, a generator's yields), ``steps`` of
    them at most."""
    if isinstance(data, arrays) or not hasattr(data, "__iter__"):
        return [data]
    return (batch for i, batch in enumerate(data) if steps is None or i < steps)


def _integers(inputs: np.ndarray, owner: str) -> np.ndarray:
    """Numeric inputs as int64 (floats toward zero, as Keras's backends other than TensorFlow
    cast them)."""
    if inputs.dtype.kind not in "biuf":
        raise TypeError(f"{owner} takes integer inputs, got dtype {inputs.dtype}")
    return inputs.astype(np.int64)


# Keras's approximate quantiles (discretization.py's summarize, merge_summaries and
# compress_summary): a summary is 2 rows, values and the weight (count) each stands for.
def _summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    values = np.sort(values.reshape(-1))
    step = max(values.size / (1.0 / epsilon), 1)
    boundaries = values[int(step - 1) :: int(step)]
    return np.stack([boundaries, np.ones_like(boundaries) * step])


def _merge_summaries(first: np.ndarray, second: np.ndarray, epsilon: float) -> np.ndarray:
    merged = np.concatenate((first, second), axis=1)
    return _compress_summary(np.take(merged, np.argsort(merged[0]), axis=1), epsilon)


def _compress_summary(summary: np.ndarray, epsilon: float) -> np.ndarray:
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_weight_percents, summary[0])
    cum_weights = np.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")
