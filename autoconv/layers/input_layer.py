"""``Input`` and its layer: where a functional graph starts.

``x = autoconv.Input(shape=(28, 28, 1))`` gives a
:class:`~autoconv.layers.symbolic.SymbolicTensor` (Keras's KerasTensor), the output of an
:class:`InputLayer`'s node; layers called on it record the graph
(:mod:`autoconv.layers.symbolic`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from autoconv import config
from autoconv.dtype_policies import python_dtype
from autoconv.layers.layer import Layer
from autoconv.layers.symbolic import Node, Shape, SymbolicTensor
from autoconv.windows import is_int


class InputLayer(Layer):
    """The layer behind :func:`Input`: it has no weights and produces the graph's input.

    ``shape`` leaves out the batch axis; ``batch_shape`` includes it. ``dtype`` may also name
    an integer dtype, as Keras's ``Input(dtype="int32")`` of an Embedding's indices, or
    "bool" (a mask the ops read): the layers after it cast its values to their float dtype,
    as every autoconv layer casts its inputs."""

    built_at_init = True  # (no build config, as Keras's)

    def __init__(
        self,
        shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: bool | None = None,
        ragged: bool | None = None,
        batch_shape: Sequence[int | None] | None = None,
        input_tensor: Any = None,
        optional: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if sparse or ragged:
            raise ValueError("InputLayer: sparse and ragged inputs are not supported by autoconv")
        if input_tensor is not None or optional:
            raise ValueError("InputLayer: input_tensor and optional inputs are not supported")
        if "input_shape" in kwargs:  # Keras 2's spellings
            message = "Argument `input_shape` is deprecated. Use `shape` instead."
            warnings.warn(message, stacklevel=2)
            shape = kwargs.pop("input_shape")
        if "batch_input_shape" in kwargs:
            batch_shape = kwargs.pop("batch_input_shape")
        integer = _integer_or_bool_dtype(dtype)
        if dtype is None:  # Keras's Input is floatx's, whatever the global dtype policy
            dtype = config.floatx()
        super().__init__(name=name, dtype=None if integer else dtype, **kwargs)
        if integer:
            self.dtype = integer
        if batch_shape is not None:
            if shape is not None:
                raise ValueError("InputLayer: give shape or batch_shape, not both")
            full = _dims(batch_shape, "batch_shape")
        elif shape is not None:
            full = (batch_size, *_dims(shape, "shape"))
        else:
            raise ValueError("InputLayer: a shape is required, e.g. Input(shape=(28, 28, 1))")
        if not full or any(n is not None and (not is_int(n) or n < 1) for n in full):
            raise ValueError(
                f"InputLayer: the batch size and the shape must be positive ints or None, got "
                f"{full}"
            )
        self.batch_shape = tuple(None if n is None else int(n) for n in full)
        self.built = True
        self._build_shape = self.batch_shape
        Node(self, [], self.batch_shape, output_name=name)

    @property
    def input(self) -> SymbolicTensor:
        """The tensor this layer produces, as tf.keras's ``InputLayer.input``: keras.io's
        handwriting recognizer builds its prediction model from
        ``model.get_layer("image").input``. (Keras 3 returns ``[]``, its node's empty list of
        inputs, and that ``Model`` then fails as built on no input.)"""
        return self.output

    def compute_output_shape(self, input_shape: Any) -> Shape:
        return self.batch_shape

    def get_config(self) -> dict[str, Any]:
        """Keras's keys: a dense, required input (autoconv has no other kind)."""
        return {
            "batch_shape": self.batch_shape, "dtype": self.dtype, "sparse": False,
            "ragged": False, "name": self.name, "optional": False,
        }  # fmt: skip


def _integer_or_bool_dtype(dtype: Any) -> str | None:
    """``dtype``'s name if it names (or is NumPy's) an integer dtype ("int32", "uint8", ...)
    or "bool", else None."""
    dtype = python_dtype(dtype)  # int, bool: Keras's names for them
    is_numpy_type = isinstance(dtype, type) and issubclass(dtype, np.generic)  # np.int32
    if not isinstance(dtype, str | np.dtype) and not is_numpy_type:
        return None
    try:
        numpy_dtype = np.dtype(dtype)
    except TypeError:
        return None
    return str(numpy_dtype) if numpy_dtype.kind in "iub" else None


def _dims(shape: Any, name: str) -> tuple[Any, ...]:
    if not isinstance(shape, tuple | list):  # (an int too, as Keras's)
        raise ValueError(
            f"Cannot convert '{shape}' to a shape. InputLayer: {name} must be a tuple of ints "
            f"or None, got {shape!r}"
        )
    return tuple(shape)


def Input(
    shape: Sequence[int | None] | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    sparse: bool | None = None,
    ragged: bool | None = None,
    batch_shape: Sequence[int | None] | None = None,
    name: str | None = None,
    tensor: Any = None,
    optional: bool = False,
) -> SymbolicTensor:
    """A symbolic input of ``shape`` (no batch axis), to start a functional model or a
    ``Sequential``.

    >>> x = Input(shape=(28, 28, 1))
    >>> x.shape
    (None, 28, 28, 1)
    """
    layer = InputLayer(
        shape, batch_size, dtype, sparse, ragged, batch_shape, tensor, optional, name
    )
    return layer.output
