"""ReversibleEmbedding: an Embedding that can also project hidden states back onto its
vocabulary (a language model's tied output layer), following Keras 3's
``keras/src/layers/core/reversible_embedding.py`` (its quantization paths are not here).
"""

from __future__ import annotations

import numbers
from typing import Any

from autoconv.layers.embedding import Embedding
from autoconv.layers.layer import Shape
from autoconv.ops import engine as ops
from autoconv.ops.masks import set_keras_mask
from autoconv.tensor import Tensor

# Keras's quantization modes (dtype_policies.QUANTIZATION_MODES), none of which autoconv has
QUANTIZATION_MODES = ("int8", "float8", "int4", "gptq", "awq")
REVERSE_DTYPES = (None, "float32", "float64")


class ReversibleEmbedding(Embedding):
    """Embedding of indices in [0, input_dim) (``embeddings`` (input_dim, output_dim)):
    (batch, ...) -> (batch, ..., output_dim); called with ``reverse=True`` it projects
    hidden states (batch, ..., output_dim) -> logits (batch, ..., input_dim) by
    ``embeddings`` transposed or, with ``tie_weights=False``, by a trainable
    ``reverse_embeddings`` (output_dim, input_dim), with no bias. ``logit_soft_cap`` c makes
    the logits ``tanh(logits / c) * c``; ``reverse_dtype`` ("float32" or "float64") is the
    dtype the projection computes and returns in (default: the layer's).

    Weights, Keras's order: ``embeddings``, then ``reverse_embeddings`` where untied. With
    ``mask_zero=True`` the forward call's output carries the mask of index 0; the reverse
    call's carries none, as Keras's."""

    _saved_variable_names = ("embeddings", "reverse_embeddings")

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        tie_weights: bool = True,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        reverse_dtype: str | None = None,
        logit_soft_cap: float | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(tie_weights, bool):
            raise ValueError(
                f"ReversibleEmbedding: tie_weights must be a bool, got {tie_weights!r}"
            )
        if reverse_dtype not in REVERSE_DTYPES:
            raise ValueError(
                f"ReversibleEmbedding: reverse_dtype must be None, 'float32' or 'float64' "
                f"(autoconv has no mixed precision), got {reverse_dtype!r}"
            )
        if logit_soft_cap is not None and (
            not isinstance(logit_soft_cap, numbers.Real)
            or isinstance(logit_soft_cap, bool)
            or not logit_soft_cap > 0
        ):
            raise ValueError(
                "ReversibleEmbedding: logit_soft_cap must be None or a positive number, got "
                f"{logit_soft_cap!r}"
            )
        # set before Embedding's __init__, which builds the layer when given `weights`
        self.tie_weights = tie_weights
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap
        super().__init__(
            input_dim, output_dim, embeddings_initializer=embeddings_initializer,
            embeddings_regularizer=embeddings_regularizer,
            embeddings_constraint=embeddings_constraint, mask_zero=mask_zero, **kwargs,
        )  # fmt: skip

    def build(self, input_shape: Shape | None) -> None:
        """Embedding's ``embeddings``, then ``reverse_embeddings`` where untied."""
        super().build(input_shape)
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(
                (self.output_dim, self.input_dim), self.embeddings_initializer,
                name="reverse_embeddings",
            )  # fmt: skip

    def compute_output_shape(self, input_shape: Shape, reverse: bool = False) -> Shape:
        if reverse:
            return (*input_shape[:-1], self.input_dim)
        return (*input_shape, self.output_dim)

    def call(self, inputs: Tensor, reverse: bool = False) -> Tensor:
        if not reverse:
            outputs = super().call(inputs)
            set_keras_mask(outputs, super().compute_mask(inputs))
            return outputs
        if inputs.shape[-1] != self.output_dim:
            raise ValueError(
                f"ReversibleEmbedding: a reverse call takes inputs (..., {self.output_dim}), "
                f"got shape {inputs.shape}"
            )
        if self.tie_weights:
            kernel = ops.transpose(self.embeddings)
        else:
            kernel = self.reverse_embeddings
        if self.reverse_dtype is not None:
            inputs = ops.cast(inputs, self.reverse_dtype)
            kernel = ops.cast(kernel, self.reverse_dtype)
        logits = ops.matmul(inputs, kernel)
        if self.logit_soft_cap is not None:
            logits = ops.tanh(logits / self.logit_soft_cap) * self.logit_soft_cap
        return logits

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> None:
        """None: the forward call attaches its mask itself (a reverse call has none)."""
        return None

    def quantize(
        self, mode: str | None = None, type_check: bool = True, config: Any = None
    ) -> None:
        """Keras quantizes the layer's weights in place; autoconv has no quantization: a
        ValueError naming the mode."""
        raise ValueError(
            f"ReversibleEmbedding: quantize(mode={mode!r}) is not supported by autoconv (no "
            f"quantization: none of Keras's modes {', '.join(QUANTIZATION_MODES)}); keep the "
            "layer in float32 or float64"
        )

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "tie_weights": self.tie_weights,
            "reverse_dtype": self.reverse_dtype,
            "logit_soft_cap": self.logit_soft_cap,
        }
