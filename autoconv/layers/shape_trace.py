"""A layer's output shape found as Keras's symbolic call finds it, for a layer without a
``compute_output_shape`` of its own given unknown (None) sizes: its ``call`` runs on symbolic
tensors, so each layer and op inside sizes its own output by its own rule, and an output size
that depends on an unknown size is unknown (None) too, whatever the sizes it would take.

Running the call on stand-in values of two sizes instead can miss a dependence: a stride of 8
maps 257 and 263 to one size, so keras.io's RetinaNet anchor count (the boxes of each level
of a feature pyramid reshaped to ``(N, -1, 4)`` and concatenated) came out as one fixed number.
A call that cannot run on symbolic tensors (one that reads values, or does arithmetic on an
unknown size) is sized by those runs still (``Layer.compute_output_shape``).
"""

from __future__ import annotations

from typing import Any

from autoconv.layers.calls import _Calling, stateless
from autoconv.layers.symbolic import SymbolicTensor, carries_masks, tracing


def traced_shape(
    layer: Any, input_shape: Any, kwargs: dict[str, Any], training: bool | None, spread: bool
) -> Any:
    """The output shape (a list of them for several outputs) of ``layer.call`` on symbolic
    tensors of ``input_shape`` (a list of shapes, or a dict, for several; ``spread``: given as
    separate arguments), with ``kwargs`` (``training`` among them where the call takes it),
    in ``training`` mode; None where the call cannot be traced."""
    if carries_masks(layer):  # (its dry runs give its tensors masks)
        return None
    try:
        with tracing(), _Calling(layer, training), stateless():
            inputs = _stand_ins(input_shape, layer.dtype)
            outputs = layer.call(*inputs, **kwargs) if spread else layer.call(inputs, **kwargs)
    except Exception:  # (values read, None arithmetic, ...: sized by runs on values instead)
        return None
    finally:
        layer._clear_losses()
    if isinstance(outputs, SymbolicTensor):
        return outputs.shape
    if isinstance(outputs, list | tuple) and all(isinstance(o, SymbolicTensor) for o in outputs):
        return [o.shape for o in outputs]
    return None


def _stand_ins(shape: Any, dtype: str) -> Any:
    """A symbolic tensor of each shape in ``shape`` (in lists and dicts too), each an input
    of its own."""
    from autoconv.layers.input_layer import InputLayer  # (it is a layer: imported when used)

    if isinstance(shape, dict):
        return {key: _stand_ins(s, dtype) for key, s in shape.items()}
    if isinstance(shape, list) and shape and not isinstance(shape[0], int | None):
        return [_stand_ins(s, dtype) for s in shape]
    return InputLayer(batch_shape=shape, dtype=dtype, name="stand_in").output
