"""Dot-product attention layers: Attention (Luong-style) and AdditiveAttention
(Bahdanau-style), and the helpers the attention layers share (:mod:`.multi_head_attention`,
:mod:`.grouped_query_attention`). Arguments, defaults, checks, weights and configs follow
Keras 3's ``keras/src/layers/attention/``; each is computed with the engine's differentiable
ops, so it runs on the CPU and the GPU with autograd.

Masks: ``mask=[query_mask, value_mask]`` (given, else the Keras masks the inputs carry) and
``use_causal_mask``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.layers.layer import Layer, Shape
from autoconv.ops import engine as ops
from autoconv.ops.masks import LARGE_NEGATIVE, as_mask
from autoconv.seeds import generator
from autoconv.tensor import Tensor


def expanded(x: Tensor, axis: int) -> Tensor:
    """``x`` with a new axis of size 1 at ``axis`` (negative: counted in the result)."""
    at = axis % (x.ndim + 1)
    return x.reshape(*x.shape[:at], 1, *x.shape[at:])


def causal_mask(queries: int, keys: int) -> np.ndarray:
    """(1, T, S): True where a query position may attend, at keys up to its own position."""
    return np.tril(np.ones((queries, keys), bool))[None]


def dropped(x: Tensor, rate: float, rng: np.random.Generator | None, training: Any) -> Tensor:
    """Dropout of attention weights in training: from the layer's own generator (given a
    seed), else autoconv's global one."""
    if not training or rate == 0:
        return x
    return ops.dropout(x, rate, rng or generator())


def is_shape(value: Any) -> bool:
    return all(n is None or isinstance(n, int | np.integer) for n in value)


# ---------------------------------------------------------------- Attention, AdditiveAttention
def _pairwise_sum(query: Tensor, key: Tensor) -> Tensor:
    """(B, Tq, Tv, dim): each query vector plus each key vector."""
    return expanded(query, -2) + expanded(key, -3)


class Attention(Layer):
    """Dot-product attention (Luong-style): ``layer([query, value])`` or ``layer([query,
    value, key])`` (key defaults to value), query (B, Tq, dim), value and key (B, Tv, dim):
    scores ``query @ key^T`` (B, Tq, Tv) (times the weight ``scale`` with ``use_scale``; with
    ``score_mode="concat"``, ``concat_score_weight * sum(tanh(scale * (q + k)))`` over dim
    instead), softmax over Tv, then ``@ value``: output (B, Tq, dim). ``mask=[query_mask
    (B, Tq), value_mask (B, Tv)]`` (either None): masked values get no weight, masked query
    rows give zeros. Weights: ``scale`` (``use_scale``), ``concat_score_weight`` (concat
    mode), scalars initialized to 1."""

    supports_masking = True

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                "Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                f"Received: score_mode={score_mode}"
            )
        super().__init__(**kwargs)
        self.use_scale = use_scale
        self.score_mode = score_mode
        self.dropout = dropout
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)

    def build(self, input_shape: list[Shape]) -> None:
        self._validate_inputs(input_shape)
        self.scale = self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight((), "ones", name="scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight((), "ones", name="concat_score_weight")

    def _calculate_scores(self, query: Tensor, key: Tensor) -> Tensor:
        """(B, Tq, Tv) scores of each query against each key."""
        if self.score_mode == "dot":
            scores = ops.matmul(query, key.transpose(*range(key.ndim - 2), -1, -2))
            return scores if self.scale is None else scores * self.scale
        summed = _pairwise_sum(query, key)
        if self.scale is not None:
            summed = summed * self.scale
        return self.concat_score_weight * ops.tanh(summed).sum(-1)

    def call(
        self,
        inputs: list[Tensor],
        mask: list[Any] | None = None,
        training: bool = False,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        self._validate_inputs(inputs, mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        query_mask, value_mask = (mask[0], mask[1]) if mask else (None, None)
        scores = self._calculate_scores(query, key)
        kept = None if value_mask is None else expanded(as_mask(value_mask, scores), -2)
        if use_causal_mask:
            causal = as_mask(causal_mask(*scores.shape[-2:]), scores)
            kept = causal if kept is None else kept * causal
        if kept is not None:  # Keras's where(mask, scores, scores - 1e9)
            scores = scores + (1.0 - kept) * LARGE_NEGATIVE
        weights = ops.softmax(scores, -1)
        output = ops.matmul(dropped(weights, self.dropout, self._generator, training), value)
        if query_mask is not None:
            output = output * expanded(as_mask(query_mask, output), -1)
        return (output, weights) if return_attention_scores else output

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """The query's mask, as Keras's."""
        self._validate_inputs(inputs, previous_mask)
        return None if previous_mask is None else previous_mask[0]

    def compute_output_shape(
        self, input_shape: list[Shape], return_attention_scores: bool = False, **_: Any
    ) -> Shape | tuple[Shape, Shape]:
        """(B, Tq, dim), and the scores' (B, Tq, Tv) with ``return_attention_scores`` (the
        call's other options change neither)."""
        self._validate_inputs(input_shape)
        output = (*input_shape[0][:-1], input_shape[1][-1])
        if not return_attention_scores:
            return output
        return output, (*input_shape[0][:-1], input_shape[1][-2])

    def _validate_inputs(self, inputs: Any, mask: Any = None) -> None:
        """Keras's checks: a list of 2 or 3 inputs, a list of 2 or 3 masks."""
        name = type(self).__name__
        if not isinstance(inputs, list | tuple) or is_shape(inputs):
            raise ValueError(
                f"{name} layer must be called on a list of inputs, namely [query, value] or "
                f"[query, value, key]. Received: inputs={inputs}."
            )
        if not 2 <= len(inputs) <= 3:
            raise ValueError(
                f"{name} layer accepts inputs list of length 2 or 3, namely [query, value] or "
                f"[query, value, key]. Received length: {len(inputs)}."
            )
        if mask is not None:
            if not isinstance(mask, list | tuple):
                raise ValueError(
                    f"{name} layer mask must be a list, namely [query_mask, value_mask]. "
                    f"Received: mask={mask}."
                )
            if not 2 <= len(mask) <= 3:
                raise ValueError(
                    f"{name} layer accepts mask list of length 2 or 3. Received: "
                    f"inputs={inputs}, mask={mask}."
                )

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
        }


class AdditiveAttention(Attention):
    """Additive attention (Bahdanau-style): as :class:`Attention`, with scores
    ``sum(scale * tanh(query + key))`` over dim (B, Tq, Tv). Weight: ``scale`` (dim,),
    glorot-uniform initialized (``use_scale``)."""

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape: list[Shape]) -> None:
        self._validate_inputs(input_shape)
        self.scale = self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight((input_shape[0][-1],), "glorot_uniform", name="scale")

    def _calculate_scores(self, query: Tensor, key: Tensor) -> Tensor:
        tanh = ops.tanh(_pairwise_sum(query, key))
        return (tanh if self.scale is None else tanh * self.scale).sum(-1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["score_mode"]
        return config
