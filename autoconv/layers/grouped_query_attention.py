"""GroupQueryAttention (Keras's GroupedQueryAttention): multi-head attention whose key and
value have fewer heads than its query, each shared by a group of query heads. Arguments,
defaults, checks, weights (names, shapes, order), configs and files follow Keras 3's
``keras/src/layers/attention/grouped_query_attention.py``; the attention itself is
:class:`~autoconv.layers.multi_head_attention.MultiHeadAttention`'s (its masks, dropout and scores).
"""

from __future__ import annotations

from typing import Any

from autoconv import constraints, initializers, regularizers
from autoconv.layers.einsum_dense import EinsumDense
from autoconv.layers.layer import Shape, serialized
from autoconv.layers.multi_head_attention import MultiHeadAttention, _positive_int
from autoconv.naming import to_snake_case, unique_name
from autoconv.ops.engine import repeat
from autoconv.tensor import Tensor


class GroupQueryAttention(MultiHeadAttention):
    """Grouped-query attention (Ainslie et al., 2023). ``layer(query, value)`` or
    ``layer(query, value, key)``, each (B, T or S, dim): the query is projected to
    ``num_query_heads`` heads of ``head_dim``, the key and value to ``num_key_value_heads``
    heads, each repeated for its group of ``num_query_heads // num_key_value_heads`` query
    heads; then as MultiHeadAttention over the sequence axis. Output (B, T, query dim), plus
    the scores (B, num_query_heads, T, S) with ``return_attention_scores=True``.

    Weights, Keras's order: the sublayers ``query``, ``key``, (``gate`` with ``use_gate``),
    ``value``, ``attention_output``, each a ``kernel`` then a ``bias`` (``use_bias``). Keras's
    files name the class ``GroupQueryAttention`` and its weights' group after
    ``GroupedQueryAttention``, its real class (:attr:`KERAS_GROUP_CLASS`), as its default name."""

    KERAS_GROUP_CLASS = "GroupedQueryAttention"  # its weights' group in Keras's files
    _takes_query_mask_argument = True  # as Keras's call (MultiHeadAttention's ignores it)

    def __init__(
        self,
        head_dim: int,
        num_query_heads: int,
        num_key_value_heads: int,
        dropout: float = 0.0,
        use_bias: bool = True,
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
        _positive_int(num_key_value_heads, "num_key_value_heads")
        _positive_int(num_query_heads, "num_query_heads")
        if num_query_heads % num_key_value_heads != 0:
            raise ValueError("`num_query_heads` must be divisible by `num_key_value_heads`.")
        if kwargs.get("name") is None:  # Keras's default name, from its real class's
            kwargs["name"] = unique_name(to_snake_case(self.KERAS_GROUP_CLASS))
        super().__init__(
            num_query_heads, head_dim, dropout=dropout, use_bias=use_bias,
            sliding_window=sliding_window, flash_attention=flash_attention,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint, use_gate=use_gate, seed=seed, **kwargs,
        )  # fmt: skip
        self.head_dim, self.num_query_heads = head_dim, num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.num_repeats = num_query_heads // num_key_value_heads

    def build(self, query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> None:
        """Keras's projections (``bqm,muh->bquh`` for the query and gate, ``bkm,mvh->bkvh``
        for the key and value, ``bquh,uhm->bqm`` back) for (query, value[, key]) shapes."""
        query_shape, value_shape, key_shape = self._split(query_shape, value_shape, key_shape)
        self._shapes_dict = {"query_shape": query_shape, "value_shape": value_shape}
        if key_shape is not None:
            self._shapes_dict["key_shape"] = key_shape
        key_shape = value_shape if key_shape is None else key_shape
        self._check_key(value_shape, key_shape)
        query = ("bqm,muh->bquh", self.num_query_heads, "uh", query_shape)
        shared = ("bkm,mvh->bkvh", self.num_key_value_heads, "vh")
        plan = {"query": query, "key": (*shared, key_shape), "gate": query,
                "value": (*shared, value_shape)}  # fmt: skip
        # private attributes, as Keras's (its file groups: _query_dense, ...), tracked by hand
        for name in ["query", "key", *(["gate"] if self.use_gate else []), "value"]:
            equation, heads, bias_axes, shape = plan[name]
            dense = self._dense(name, equation, [None, heads, self.head_dim], bias_axes,
                                activation="sigmoid" if name == "gate" else None)  # fmt: skip
            dense.build(shape)
            setattr(self, f"_{name}_dense", dense)
            self._layers.append(dense)
        self._reserve_internal_names()
        self.attention_axes = (1,)
        self._dot_product, self._combine = "bkuh,bquh->buqk", "buqk,bkuh->bquh"
        self._softmax_axes = (3,)
        self._output_dense = self._dense("attention_output", "bquh,uhm->bqm",
                                         [None, query_shape[-1]], "m")  # fmt: skip
        self._output_dense.build((None, None, self.num_query_heads, self.head_dim))
        self._layers.append(self._output_dense)

    def _projected(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, ...]:
        """The query's heads, and the key's and value's each repeated for its group."""
        key, value = self._key_dense(key), self._value_dense(value)
        return (self._query_dense(query), repeat(key, self.num_repeats, axis=2),
                repeat(value, self.num_repeats, axis=2))  # fmt: skip

    def _output_projection(self) -> EinsumDense:
        return self._output_dense

    def compute_output_shape(
        self, input_shape: Any, return_attention_scores: bool = False, **_: Any
    ) -> Shape | tuple[Shape, Shape]:
        """(B, T, query dim), and the scores' (B, num_query_heads, T, S)."""
        query_shape, value_shape, key_shape = self._split(input_shape, None, None)
        key_shape = value_shape if key_shape is None else key_shape
        if query_shape[-1] != value_shape[-1]:
            raise ValueError(
                "The last dimension of `query_shape` and `value_shape` must be equal, but are "
                f"{query_shape[-1]}, {value_shape[-1]}. Received: query_shape="
                f"{tuple(query_shape)}, value_shape={tuple(value_shape)}"
            )
        self._check_key(value_shape, key_shape)
        output = tuple(query_shape)
        if not return_attention_scores:
            return output
        return output, (query_shape[0], self.num_query_heads, query_shape[1], key_shape[1])

    def get_config(self) -> dict[str, Any]:
        config = super(MultiHeadAttention, self).get_config()
        return config | {
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "sliding_window": self.sliding_window,
            "dropout": self.dropout,
            "kernel_initializer": serialized(initializers, self.kernel_initializer),
            "bias_initializer": serialized(initializers, self.bias_initializer),
            "kernel_regularizer": serialized(regularizers, self.kernel_regularizer),
            "bias_regularizer": serialized(regularizers, self.bias_regularizer),
            "activity_regularizer": serialized(regularizers, self.activity_regularizer),
            "kernel_constraint": serialized(constraints, self.kernel_constraint),
            "bias_constraint": serialized(constraints, self.bias_constraint),
            "seed": self.seed,
        }
