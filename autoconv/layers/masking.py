"""Masking: marks the time steps to skip, as Keras 3's (keras/src/layers/core/masking.py).

How masks travel (Keras's rules, in :class:`autoconv.layers.layer.Layer`): a layer attaches
a 0/1 mask to the tensor it returns; the next layer whose ``call`` takes ``mask`` is given it
(an RNN skips the masked steps, ``GlobalAveragePooling1D`` averages the kept ones, attention
attends to kept positions only), a layer that supports masking passes it on, and a loss
leaves the masked entries of a sequence output out (:mod:`autoconv.losses.loss`).
"""

from __future__ import annotations

import numbers
from typing import Any

from autoconv.layers.layer import Layer, Shape
from autoconv.ops import engine as ops
from autoconv.ops.masks import mask, set_keras_mask
from autoconv.tensor import Tensor


class Masking(Layer):
    """(batch, time, features) -> the same, with time steps whose every feature equals
    ``mask_value`` set to 0 and masked (the output's Keras mask, (batch, time), is 0 there)."""

    built_at_init = True  # (no build config, as Keras's)

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(mask_value, numbers.Real) or isinstance(mask_value, bool):
            raise ValueError(f"Masking: mask_value must be a number, got {mask_value!r}")
        self.mask_value = mask_value

    def _kept(self, inputs: Tensor) -> Tensor:
        """(batch, ..., 1): 1 where some feature differs from ``mask_value``."""
        return ops.max(mask(inputs.data != self.mask_value, inputs), axis=-1, keepdims=True)

    def call(self, inputs: Tensor) -> Tensor:
        kept = self._kept(inputs)
        outputs = inputs * kept
        set_keras_mask(outputs, kept.reshape(*kept.shape[:-1]))
        return outputs

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Tensor:
        if not isinstance(inputs, Tensor):
            inputs = Tensor(inputs, dtype=self.dtype)
        kept = self._kept(inputs)
        return kept.reshape(*kept.shape[:-1])

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"mask_value": self.mask_value}
