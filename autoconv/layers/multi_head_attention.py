"""MultiHeadAttention, its query, key, value and output projections EinsumDense sublayers,
as Keras's. Arguments, defaults, checks, weights (names, shapes, order) and configs follow
Keras 3's ``keras/src/layers/attention/multi_head_attention.py``; it is computed with the
engine's differentiable ops, so it runs on the CPU and the GPU with autograd.

Masks are explicit arguments (``attention_mask``, ``value_mask``, ``key_mask``,
``use_causal_mask``), or the Keras masks the query, value and key carry.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv import constraints, initializers, regularizers
from autoconv.layers.attention import causal_mask, dropped, expanded, is_shape
from autoconv.layers.einsum_dense import EinsumDense, contract
from autoconv.layers.layer import Layer, Shape, serialized
from autoconv.layers.symbolic import is_symbolic
from autoconv.naming import unique_name
from autoconv.ops import engine as ops
from autoconv.ops.masks import LARGE_NEGATIVE, as_mask, keras_mask
from autoconv.tensor import Tensor


def _shape_lists(shapes: Any) -> Any:
    return [_shape_lists(s) for s in shapes] if isinstance(shapes, list | tuple) else shapes


# ------------------------------------------------------------------------- MultiHeadAttention
def _letters(start: int, count: int) -> str:
    return string.ascii_lowercase[start : start + count]


def projection_equation(free_dims: int, bound_dims: int, output_dims: int) -> tuple[str, str, int]:
    """Keras's ``_build_proj_equation``: (equation, bias axes, output rank) of a projection
    keeping ``free_dims`` axes, contracting ``bound_dims`` and making ``output_dims``."""
    free = _letters(0, free_dims)
    bound = _letters(free_dims, bound_dims)
    made = _letters(free_dims + bound_dims, output_dims)
    return f"{free}{bound},{bound}{made}->{free}{made}", made, free_dims + output_dims


def attention_equations(rank: int, attention_axes: tuple[int, ...]) -> tuple[str, str, int]:
    """Keras's ``_build_attention_equation``: the query-key product's and the combination's
    einsum equations over projected tensors of ``rank`` (batch, ..., heads, channels), and the
    scores' rank."""
    target = _letters(0, rank)
    batch_dims = [i for i in range(rank) if i not in (*attention_axes, rank - 1)]
    source, offset = "", rank
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += _letters(offset, 1)
            offset += 1
    product = "".join(
        [target[i] for i in batch_dims]
        + [target[i] for i in attention_axes]
        + [source[i] for i in attention_axes]
    )
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


def _positive_int(value: Any, name: str, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        expected = "a positive integer or `None`" if optional else "a positive integer"
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected {expected}. "
            f"Received: {name}={value}"
        )


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al., 2017). ``layer(query, value)`` or
    ``layer(query, value, key)`` (key defaults to value), each (B, ..., dim): the query,
    key and value are projected to ``num_heads`` heads of ``key_dim`` (``value_dim`` for the
    value) by EinsumDense sublayers; each head's scores ``softmax(q k / sqrt(key_dim))`` over
    the ``attention_axes`` (by default every axis between the batch and the features) weigh
    its values; the heads are projected back to the query's last size (or
    ``output_shape``). Output (B, T, ...) of the query's shape, plus the scores (B, heads,
    T, S) with ``return_attention_scores=True``.

    Weights, Keras's order: the sublayers ``query``, ``key``, (``gate`` with ``use_gate``),
    ``value``, ``attention_output``, each a ``kernel`` then a ``bias`` (``use_bias``).

    In a functional graph it records Keras's call: its tensors (masks included) and options
    as given (``return_attention_scores=True``: the output and the scores).
    """

    supports_masking = True

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | tuple | list | None = None,
        attention_axes: int | tuple | list | None = None,
        sliding_window: int | None = None,
        flash_attention: bool | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        use_gate: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        _positive_int(num_heads, "num_heads")
        _positive_int(key_dim, "key_dim")
        _positive_int(value_dim, "value_dim", optional=True)
        if flash_attention:
            raise ValueError(
                "MultiHeadAttention: flash_attention is not supported by autoconv (its scores "
                "are computed as Keras's non-flash path does): leave it None or False"
            )
        if sliding_window is not None and (
            isinstance(sliding_window, bool) or not isinstance(sliding_window, int)
            or sliding_window <= 0
        ):  # fmt: skip
            raise ValueError(
                "`sliding_window` must be `None` or a positive integer. "
                f"Received: sliding_window={sliding_window}"
            )
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes and not isinstance(attention_axes, list | tuple):
            raise ValueError(
                "`attention_axes` must be an int, list, or tuple."
                f"Received: attention_axes={attention_axes}"
            )
        if output_shape:
            output_shape = (output_shape,) if isinstance(output_shape, int) else output_shape
            try:
                output_shape = tuple(output_shape)
            except TypeError:
                raise ValueError(
                    f"Invalid `output_shape`: {output_shape}. When specified, the "
                    "`output_shape` should be of type tuple, list, or int."
                ) from None
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.num_heads, self.key_dim = num_heads, key_dim
        self.value_dim = value_dim or key_dim
        self.dropout = float(dropout)
        self.use_bias, self.use_gate = bool(use_bias), bool(use_gate)
        self._output_shape = output_shape or None
        self.attention_axes = attention_axes
        self.sliding_window = sliding_window
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)
        self._shapes_dict: dict[str, Any] | None = None

    # --------------------------------------------------------------------------- building
    def build(self, query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> None:
        """Build for ``(query_shape, value_shape[, key_shape])``, as Keras's build takes them,
        or for the list of those shapes (a call on a list)."""
        query_shape, value_shape, key_shape = self._split(query_shape, value_shape, key_shape)
        self._shapes_dict = {"query_shape": query_shape, "value_shape": value_shape}
        if key_shape is not None:
            self._shapes_dict["key_shape"] = key_shape
        key_shape = value_shape if key_shape is None else key_shape
        self._check_key(value_shape, key_shape)
        heads_of = {"query": self.key_dim, "key": self.key_dim, "gate": self.value_dim,
                    "value": self.value_dim}  # fmt: skip
        shapes = {"query": query_shape, "key": key_shape, "gate": query_shape,
                  "value": value_shape}  # fmt: skip
        # attributes named as Keras's file groups: query_dense, ... (its properties), and
        # _gate_dense; public layer attributes are tracked as assigned, the gate by hand
        for name in ["query", "key", *(["gate"] if self.use_gate else []), "value"]:
            equation, bias_axes, rank = projection_equation(len(shapes[name]) - 1, 1, 2)
            dense = self._dense(
                name, equation, [None] * (rank - 3) + [self.num_heads, heads_of[name]], bias_axes,
                activation="sigmoid" if name == "gate" else None,
            )  # fmt: skip
            dense.build(shapes[name])
            if name == "gate":
                self._gate_dense = dense
                self._layers.append(dense)
            else:
                setattr(self, f"{name}_dense", dense)
        self._reserve_internal_names()
        rank = len(value_shape) + 1
        axes = self.attention_axes or tuple(range(1, rank - 2))
        self.attention_axes = tuple(a if a >= 0 else rank - 1 + a for a in axes)
        self._dot_product, self._combine, scores_rank = attention_equations(
            rank, self.attention_axes
        )
        self._softmax_axes = tuple(range(scores_rank - len(self.attention_axes), scores_rank))
        output_shape = self._output_shape or [query_shape[-1]]
        equation, bias_axes, rank = projection_equation(len(query_shape) - 1, 2, len(output_shape))
        self.output_dense = self._dense(
            "attention_output", equation, [None] * (rank - 1 - len(output_shape)) + [*output_shape],
            bias_axes,
        )  # fmt: skip
        projected = list(self.query_dense.compute_output_shape(query_shape))
        self.output_dense.build((*projected[:-1], self.value_dim))

    @staticmethod
    def _reserve_internal_names() -> None:
        """Use up the automatic names Keras's build gives its internal ``Softmax`` and
        ``Dropout`` layers (``softmax``, ``dropout``, ...), which autoconv computes inline: the
        user's layers made after this one then get Keras's names (``dropout_1``, ...)."""
        unique_name("softmax")
        unique_name("dropout")

    def _dense(
        self, name: str, equation: str, shape: list, bias_axes: str, activation: Any = None
    ) -> EinsumDense:
        """A projection sublayer with the layer's initializers (fresh copies: Keras clones
        them), regularizers and constraints."""
        return EinsumDense(
            equation, shape, activation=activation,
            bias_axes=bias_axes if self.use_bias else None,
            kernel_initializer=type(self.kernel_initializer).from_config(
                self.kernel_initializer.get_config()),
            bias_initializer=type(self.bias_initializer).from_config(
                self.bias_initializer.get_config()),
            kernel_regularizer=self.kernel_regularizer, bias_regularizer=self.bias_regularizer,
            activity_regularizer=self.activity_regularizer,
            kernel_constraint=self.kernel_constraint, bias_constraint=self.bias_constraint,
            name=name, dtype=self.dtype,
        )  # fmt: skip

    @staticmethod
    def _split(query: Any, value: Any, key: Any) -> tuple[Any, Any, Any]:
        """(query, value, key) from Keras's arguments, or from one list of 2 or 3 of them."""
        if value is None and isinstance(query, list | tuple) and not is_shape(query):
            if not 2 <= len(query) <= 3:
                raise ValueError(
                    "MultiHeadAttention takes [query, value] or [query, value, key], got "
                    f"{len(query)} inputs"
                )
            query, value, key = (*query, None)[:3]
        if value is None:
            raise ValueError("MultiHeadAttention needs a query and a value")
        return query, value, key

    @staticmethod
    def _check_key(value_shape: Shape, key_shape: Shape) -> None:
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError(
                "All dimensions of `value` and `key`, except the last one, must be equal. "
                f"Received: value_shape={tuple(value_shape)} and key_shape={tuple(key_shape)}"
            )

    def compute_output_shape(
        self, input_shape: Any, return_attention_scores: bool = False, **_: Any
    ) -> Shape | tuple[Shape, Shape]:
        """The output shape for the list ``[query_shape, value_shape(, key_shape)]`` (and the
        scores' with ``return_attention_scores``; the call's other options change none)."""
        query_shape, value_shape, key_shape = self._split(input_shape, None, None)
        key_shape = value_shape if key_shape is None else key_shape
        self._check_key(value_shape, key_shape)
        query_shape = tuple(query_shape)
        output = query_shape[:-1] + (self._output_shape or query_shape[-1:])
        if not return_attention_scores:
            return output
        source, rest = self._dot_product.split(",")
        target, product = rest.split("->")
        heads = (self.num_heads, self.key_dim)
        sizes = dict(zip(source, (*key_shape[:-1], *heads), strict=True))
        sizes |= dict(zip(target, (*query_shape[:-1], *heads), strict=True))
        return output, tuple(sizes[letter] for letter in product)

    def get_build_config(self) -> dict[str, Any] | None:
        """Keras's ``{"shapes_dict": {"query_shape": ..., "value_shape": ...}}``."""
        if self._shapes_dict is None:
            return None
        return {"shapes_dict": {k: _shape_lists(v) for k, v in self._shapes_dict.items()}}

    def build_from_config(self, config: dict[str, Any]) -> None:
        shapes = config.get("shapes_dict")
        if isinstance(shapes, dict) and not self.built:
            self._maybe_build([tuple(shapes[f"{k}_shape"]) for k in ("query", "value", "key")
                               if f"{k}_shape" in shapes])  # fmt: skip

    # ---------------------------------------------------------------------------- calling
    # Keras 3.15's MultiHeadAttention ignores a ``query_mask`` argument and takes the query's
    # Keras mask instead; its GroupedQueryAttention uses the argument.
    _takes_query_mask_argument = False

    def __call__(
        self, query: Any, value: Any, key: Any = None, *, training: bool | None = None,
        **options: Any,
    ) -> Any:  # fmt: skip
        """Keras's call: ``layer(query, value, key=None, *, value_mask=..., ...)``; on
        symbolic tensors it is recorded as given (``call`` takes ``[query, value(, key)]``)."""
        if not self._takes_query_mask_argument:
            options.pop("query_mask", None)
        if is_symbolic([query, value, key]):
            more = (value,) if key is None else (value, key)
            return super().__call__(query, *more, training=training, **options)
        # Keras's mask arguments: each tensor's own Keras mask, unless one is given
        for name, tensor in (("query", query), ("value", value), ("key", key)):
            if options.get(f"{name}_mask") is None and keras_mask(tensor) is not None:
                options[f"{name}_mask"] = keras_mask(tensor)
        inputs = [query, value] if key is None else [query, value, key]
        return super().__call__(inputs, training=training, **options)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """The query's mask, on the output (not on the scores), as Keras's."""
        return previous_mask[0] if isinstance(previous_mask, list | tuple) else previous_mask

    def call(
        self,
        inputs: list[Tensor],
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        query, value, key = (*inputs, inputs[1])[:3]
        for tensor in inputs:  # as Keras's call: the masks are used here, not passed on
            if keras_mask(tensor) is not None:
                tensor._keras_mask = None
        mask = self._attention_mask(query, value, query_mask, value_mask, key_mask,
                                    attention_mask, use_causal_mask)  # fmt: skip
        gate = self._gate_dense(query) if self.use_gate else None
        query, key, value = self._projected(query, key, value)
        # positionally, as Keras 3.15 calls it (a subclass's override takes these six)
        output, scores = self._compute_attention(
            query, key, value, mask, training, return_attention_scores
        )
        output = self._output_projection()(output if gate is None else output * gate)
        return (output, scores) if return_attention_scores else output

    def _compute_attention(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        attention_mask: Tensor | None = None,
        training: bool | None = None,
        return_attention_scores: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """Keras's step that a subclass may override (keras.io's vit_small_ds divides the
        query by a trained temperature): the projected heads (B, ..., heads, dim) attended,
        (output (B, T, heads, value_dim), scores (B, heads, T, S)). A subclass builds its
        own from Keras's ``_dot_product_equation``, ``_masked_softmax``, ``_dropout_layer``
        and ``_combine_equation``."""
        query = query * (1.0 / math.sqrt(float(self.key_dim)))
        scores = contract(self._dot_product, key, query)  # (B, heads, T, S)
        # Keras computes the attention in one fused op (dot_product_attention) unless it drops
        # out, returns the scores or attends over several axes: a query position masked out
        # everywhere then attends to every key alike; its Softmax layer path gives it zeros.
        if query.ndim == 4 and not (self.dropout > 0 or return_attention_scores):
            scores = self._softmax_masked(scores, attention_mask, zero_masked=False)
        else:
            scores = self._masked_softmax(scores, attention_mask)
        attended = self._dropout_layer(scores, training=training)
        return contract(self._combine, attended, value), scores  # (B, T, heads, value_dim)

    def _projected(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, ...]:
        """The query, key and value projected to their heads (B, ..., heads, dim)."""
        return self.query_dense(query), self.key_dense(key), self.value_dense(value)

    def _output_projection(self) -> EinsumDense:
        return self.output_dense

    def _attention_mask(
        self,
        query: Tensor,
        value: Tensor,
        query_mask: Any,
        value_mask: Any,
        key_mask: Any,
        attention_mask: Any,
        use_causal_mask: bool,
    ) -> Tensor | None:
        """Keras's ``_compute_attention_mask``: the query's mask (B, T) as (B, T, 1), the
        value's and key's (B, S) as (B, 1, S), the causal mask and the sliding window
        (1, T, S) and ``attention_mask`` (B, T, S), all together (1.0 where a query position
        attends to a key position)."""
        masks = [] if query_mask is None else [expanded(as_mask(query_mask, query), -1)]
        masks += [expanded(as_mask(m, query), -2) for m in (value_mask, key_mask) if m is not None]
        queries, keys = query.shape[1], value.shape[1]
        band = np.ones((1, queries, keys), bool)
        if use_causal_mask:
            band &= causal_mask(queries, keys)
        if self.sliding_window is not None:
            offsets = np.arange(queries)[:, None] - np.arange(keys)[None]
            band &= (np.abs(offsets) < self.sliding_window)[None]
        if use_causal_mask or self.sliding_window is not None:
            masks.append(as_mask(band, query))
        if attention_mask is not None:
            masks.append(as_mask(attention_mask, query))
        if not masks:
            return None
        combined = masks[0]
        for other in masks[1:]:
            combined = combined * other
        return combined

    def _masked_softmax(self, attention_scores: Tensor, attention_mask: Any = None) -> Tensor:
        """Keras's softmax of the scores over the key axes, masked as its Softmax layer masks
        (the weights of masked positions 0), for a subclass's ``_compute_attention``."""
        if attention_mask is not None:
            attention_mask = as_mask(attention_mask, attention_scores)
        return self._softmax_masked(attention_scores, attention_mask)

    def _softmax_masked(
        self, scores: Tensor, mask: Tensor | None, zero_masked: bool = True
    ) -> Tensor:
        """Softmax over the key axes; a mask (broadcast from the heads' axis on) sets masked
        scores to -1e9 before it and, with ``zero_masked``, their weights to 0 after it, as
        Keras's Softmax layer (else as its fused attention, which leaves them)."""
        if mask is None:
            return ops.softmax(scores, self._softmax_axes)
        for _ in range(scores.ndim - mask.ndim):  # Keras's expand_dims before the key axes
            mask = expanded(mask, -2 * len(self.attention_axes) - 1)
        try:
            np.broadcast_shapes(mask.shape, scores.shape)
        except ValueError:
            raise ValueError(
                f"MultiHeadAttention {self.name}: the attention mask {mask.shape} (its heads' "
                f"axis added) does not broadcast to the attention scores {scores.shape}"
            ) from None
        kept = scores * mask + (1.0 - mask) * LARGE_NEGATIVE  # Keras's where(mask, s, -1e9)
        weights = ops.softmax(kept, self._softmax_axes)
        return weights * mask if zero_masked else weights

    # Keras's private names that subclasses use (keras.io's vit_small_ds: self._key_dim)
    @property
    def _num_heads(self) -> int:
        return self.num_heads

    @property
    def _key_dim(self) -> int:
        return self.key_dim

    @property
    def _value_dim(self) -> int:
        return self.value_dim

    @property
    def _dropout(self) -> float:
        return self.dropout

    @property
    def _inverse_sqrt_key_dim(self) -> float:
        return 1.0 / math.sqrt(float(self.key_dim))

    @property
    def _dot_product_equation(self) -> str:
        return self._dot_product

    @property
    def _combine_equation(self) -> str:
        return self._combine

    @property
    def _dropout_layer(self) -> Callable[..., Tensor]:
        """Keras's Dropout layer of the attention weights, as a call ``(x, training=None)``."""

        def dropout(x: Tensor, training: Any = None) -> Tensor:
            return dropped(x, self.dropout, self._generator, training)

        return dropout

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "output_shape": self._output_shape,
            "attention_axes": self.attention_axes,
            "sliding_window": self.sliding_window,
            "kernel_initializer": serialized(initializers, self.kernel_initializer),
            "bias_initializer": serialized(initializers, self.bias_initializer),
            "kernel_regularizer": serialized(regularizers, self.kernel_regularizer),
            "bias_regularizer": serialized(regularizers, self.bias_regularizer),
            "activity_regularizer": serialized(regularizers, self.activity_regularizer),
            "kernel_constraint": serialized(constraints, self.kernel_constraint),
            "bias_constraint": serialized(constraints, self.bias_constraint),
            "seed": self.seed,
        }
