"""Embedding: rows of a trainable table looked up by integer indices (Keras 3's arguments,
defaults and order), and its op, the lookup with its gradient side by side.

The op lives here, beside its only layer, rather than in :mod:`autoconv.ops`: the forward is
the backend's ``take`` of rows, the backward its ``scatter_add_rows``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from autoconv import constraints, initializers, regularizers
from autoconv.backends import array_device, backend, bounds
from autoconv.layers.core import positive_int
from autoconv.layers.layer import Layer, Shape, serialized
from autoconv.ops.base import as_tensor
from autoconv.ops.masks import mask
from autoconv.tensor import Tensor, record


def embedding_lookup(table: Any, indices: Any) -> Tensor:
    """Rows of ``table`` (V, D) at ``indices`` of any shape S: (*S, D).

    Float indices are truncated to ints (Keras casts them to int32). Indices on the CPU
    outside [0, V) are a ValueError; on the GPU they are not read back: their rows come out
    NaN, which training's finiteness check reports. The table's gradient adds each output
    row's gradient into the row it came from (repeated indices accumulate); the indices get
    none."""
    table = as_tensor(table)
    if table.ndim != 2:
        raise ValueError(f"embedding_lookup: table must be (rows, dim), got shape {table.shape}")
    xp = backend(table)
    indices = xp.asarray(indices.data if isinstance(indices, Tensor) else indices)
    rows = indices.astype(np.int64).reshape(-1)
    vocabulary, dim = table.shape
    if array_device(rows) == "cpu":
        bounds.indices_in_range("embedding_lookup", "indices", rows, vocabulary)
    out = xp.take(table.data, rows).reshape(*indices.shape, dim)

    def backward(g: Any) -> tuple[Any]:
        return (xp.scatter_add_rows(g.reshape(rows.size, dim), rows, vocabulary),)

    return record(out, (table,), backward, "embedding_lookup")


class Embedding(Layer):
    """Turns indices in [0, input_dim) into rows of a trainable table ``embeddings``
    (input_dim, output_dim): (batch, ...) -> (batch, ..., output_dim).

    Integer arrays are read as they are; float indices (a Tensor, or the float32 a functional
    graph gives) are truncated to ints, as Keras's cast: float32 holds every index below 2**24
    exactly. With ``mask_zero=True`` index 0 is padding: the output carries a Keras mask
    (batch, ...), 0 where the index is 0, that the layers after it read (an RNN skips those
    steps, a loss leaves them out); ``weights`` gives the initial table, as Keras's argument
    does."""

    _saved_variable_names = ("embeddings",)

    keeps_integer_inputs = True

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        weights: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.pop("input_length", None) is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.", stacklevel=2)
        super().__init__(**kwargs)
        self.input_dim = positive_int(input_dim, "input_dim", "Embedding")
        self.output_dim = positive_int(output_dim, "output_dim", "Embedding")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        if weights is not None:
            self._maybe_build(None)
            self.set_weights(weights if isinstance(weights, list) else [weights])

    def build(self, input_shape: Shape | None) -> None:
        self.embeddings = self.add_weight(
            (self.input_dim, self.output_dim), self.embeddings_initializer,
            regularizer=self.embeddings_regularizer, constraint=self.embeddings_constraint,
            name="embeddings",
        )  # fmt: skip

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def call(self, inputs: Tensor) -> Tensor:
        return embedding_lookup(self.embeddings, inputs)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Tensor | None:
        """(batch, ...): 1 where the index is not 0, with ``mask_zero``; else None."""
        if not self.mask_zero:
            return None
        inputs = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs, self.dtype))
        return mask(inputs.data != 0, inputs)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": serialized(initializers, self.embeddings_initializer),
            "embeddings_regularizer": serialized(regularizers, self.embeddings_regularizer),
            "activity_regularizer": serialized(regularizers, self.activity_regularizer),
            "embeddings_constraint": serialized(constraints, self.embeddings_constraint),
            "mask_zero": self.mask_zero,
            "quantization_config": None,
        }
