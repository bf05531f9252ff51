"""0/1 masks made from comparisons of a tensor's values on its own device, and the choices
they make: Keras's ``ops.where`` and integer casts as the image ops and the augmentation layers
need them inside a training step, without reading a value back to the host (a step the GPU
replays runs them again on the new batch).

A condition is a comparison of backend arrays, ``x.data > 0``: a NumPy bool array on the CPU,
a 0/1 array on the GPU. The masks are constants (no gradient flows into a condition);
:func:`choose` is differentiable in both of its choices.

Keras's masks (``Embedding(mask_zero=True)``, ``Masking``) are such 0/1 tensors too: a layer
attaches one to the tensor it returns (:func:`set_keras_mask`, as Keras's
``backend.set_keras_mask``) and the layers after it read it (:func:`keras_mask`); a mask stays
on its tensor's device, so a GPU step that carries masks is replayed like any other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import array_device, namespace
from autoconv.tensor import Tensor

LARGE_NEGATIVE = -1e9  # Keras's stand-in for -inf at masked scores (its float32/64 value)

# Whether a Keras mask was ever attached in the process (set_keras_mask): until then a layer
# call has none to look for on its arguments (which took some 1.3 us a call).
attached = False


def mask(condition: Any, like: Tensor) -> Tensor:
    """``condition`` (a comparison of backend arrays) as a constant 0/1 tensor of ``like``'s
    dtype on its device."""
    return Tensor(condition.astype(like.dtype, copy=False), device=like.device)


def choose(chosen: Tensor, a: Tensor | float, b: Tensor | float) -> Tensor:
    """``a`` where the 0/1 mask ``chosen`` is 1, else ``b`` (both finite), differentiable in
    each: Keras's ``ops.where``."""
    return a * chosen + b * (1.0 - chosen)


def truncated(x: Tensor) -> Tensor:
    """x rounded toward zero, as a constant (Keras's cast to an integer type: no gradient)."""
    return Tensor(x.data.astype(np.int32).astype(x.dtype), device=x.device)


def floored(x: Tensor) -> Tensor:
    """x rounded down, as a constant (``floor``: no gradient)."""
    toward_zero = truncated(x)
    return toward_zero - mask(x.data < toward_zero.data, x)


def as_mask(mask: Any, like: Tensor) -> Tensor:
    """A mask (a Tensor, array or list: nonzero or True where kept) as a constant 0/1 Tensor
    of ``like``'s dtype on its device, computed where its values live, so a mask on the GPU
    is never read back to the host."""
    if isinstance(mask, Tensor) and mask.dtype == like.dtype and mask.device == like.device:
        return mask if not mask.requires_grad else Tensor(mask.data)
    values = mask.data if isinstance(mask, Tensor) else mask
    if array_device(values) == like.device:
        xp = namespace(like.device)
        return Tensor((xp.abs(xp.asarray(values)) > 0).astype(like.dtype), device=like.device)
    host = np.asarray(namespace(array_device(values)).to_numpy(values))
    return Tensor((host != 0).astype(like.dtype), device=like.device)


def keras_mask(x: Any) -> Any:
    """The Keras mask ``x`` carries (a 0/1 Tensor), or None; for a list or tuple of tensors,
    the list of theirs (None where no tensor carries one)."""
    if isinstance(x, list | tuple):
        masks = [getattr(item, "_keras_mask", None) for item in x]
        return masks if any(m is not None for m in masks) else None
    return getattr(x, "_keras_mask", None)


def set_keras_mask(outputs: Any, masks: Any) -> None:
    """Attach ``masks`` (one, or one per output of a list) to the output Tensors that carry
    none yet, as 0/1 Tensors on their devices (Keras's ``_set_mask_metadata``)."""
    global attached
    if masks is None:
        return
    flat_outputs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
    flat_masks = list(masks) if isinstance(masks, list | tuple) else [masks]
    for output, mask in zip(flat_outputs, flat_masks, strict=False):
        if mask is not None and isinstance(output, Tensor) and keras_mask(output) is None:
            output._keras_mask = as_mask(mask, output)
            attached = True


def either(masks: list[Tensor]) -> Tensor:
    """The logical OR of 0/1 masks of one shape."""
    out = masks[0]
    for other in masks[1:]:
        out = out + other - out * other
    return out


def spread(mask: Tensor, like: Tensor) -> Tensor:
    """A 0/1 mask of ``like``'s leading axes, repeated along its further axes to its shape."""
    if mask.ndim == like.ndim:
        return mask
    extra = like.ndim - mask.ndim
    ones = Tensor(namespace(like.device).ones_like(like.data))
    return mask.reshape(*mask.shape, *(1,) * extra) * ones
