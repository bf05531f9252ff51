"""The functional API's building blocks: symbolic tensors, the nodes that connect them, and
``Input``.

``x = autoconv.Input(shape=(28, 28, 1))`` gives a :class:`SymbolicTensor` (Keras's
KerasTensor): a shape and a dtype, no values. Calling a layer on it builds the layer, checks
the shapes (an error names the layer and the shapes), records a :class:`Node` (this layer, its
input tensors, its output tensor) and returns the output as another symbolic tensor.
``autoconv.Model(inputs, outputs)`` then walks the nodes back from the outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autoconv import ops
from autoconv.layers.layer import Layer, Shape, unique_name
from autoconv.windows import is_int


class SymbolicTensor:
    """A placeholder for a value in a functional graph: its batch-first shape, its dtype and
    the node (layer call) that produces it."""

    def __init__(self, shape: Shape, dtype: str, node: Node | None = None, name: str = "") -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return (
            f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, ragged=False, "
            f"name={self.name}>"
        )

    def __bool__(self) -> bool:
        raise TypeError(
            "a symbolic tensor (the output of autoconv.Input or of a layer called on one) has "
            "no value to test; use it as an input to layers"
        )

    # Arithmetic and indexing record keras.ops functions in the graph, as Keras's do.
    def __add__(self, other: Any) -> SymbolicTensor:
        return ops.add(self, other)

    def __radd__(self, other: Any) -> SymbolicTensor:
        return ops.add(other, self)

    def __sub__(self, other: Any) -> SymbolicTensor:
        return ops.subtract(self, other)

    def __rsub__(self, other: Any) -> SymbolicTensor:
        return ops.subtract(other, self)

    def __mul__(self, other: Any) -> SymbolicTensor:
        return ops.multiply(self, other)

    def __rmul__(self, other: Any) -> SymbolicTensor:
        return ops.multiply(other, self)

    def __truediv__(self, other: Any) -> SymbolicTensor:
        return ops.true_divide(self, other)

    def __rtruediv__(self, other: Any) -> SymbolicTensor:
        return ops.true_divide(other, self)

    def __pow__(self, other: Any) -> SymbolicTensor:
        return ops.power(self, other)

    def __matmul__(self, other: Any) -> SymbolicTensor:
        return ops.matmul(self, other)

    def __rpow__(self, other: Any) -> SymbolicTensor:
        return ops.power(other, self)

    def __floordiv__(self, other: Any) -> SymbolicTensor:
        return ops.floor_divide(self, other)

    def __mod__(self, other: Any) -> SymbolicTensor:
        return ops.mod(self, other)

    def __neg__(self) -> SymbolicTensor:
        return ops.negative(self)

    def __abs__(self) -> SymbolicTensor:
        return ops.absolute(self)

    def __gt__(self, other: Any) -> SymbolicTensor:
        return ops.greater(self, other)

    def __ge__(self, other: Any) -> SymbolicTensor:
        return ops.greater_equal(self, other)

    def __lt__(self, other: Any) -> SymbolicTensor:
        return ops.less(self, other)

    def __le__(self, other: Any) -> SymbolicTensor:
        return ops.less_equal(self, other)

    def __getitem__(self, key: Any) -> SymbolicTensor:
        return ops.get_item(self, key)


class Node:
    """One call of ``layer`` in a graph: the symbolic tensors it read and the one it made."""

    def __init__(
        self,
        layer: Layer,
        inputs: Sequence[SymbolicTensor],
        output_shape: Shape,
        kwargs: dict[str, Any] | None = None,
        list_call: bool = False,
    ) -> None:
        self.layer = layer
        self.inputs = list(inputs)
        self.list_call = list_call  # called with a list of tensors (merging layers)
        self.kwargs = dict(kwargs or {})
        self.index = len(layer._inbound_nodes)  # this node's number among the layer's calls
        name = unique_name("keras_tensor")  # as Keras names its symbolic tensors
        self.outputs = [SymbolicTensor(output_shape, layer.dtype, self, name)]
        layer._inbound_nodes.append(self)

    @property
    def parents(self) -> list[Node]:
        return [t.node for t in self.inputs if t.node is not None]


def is_symbolic(inputs: Any) -> bool:
    if isinstance(inputs, SymbolicTensor):
        return True
    if isinstance(inputs, list | tuple):
        return any(isinstance(x, SymbolicTensor) for x in inputs)
    return False


def symbolic_call(layer: Layer, inputs: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
    """Record ``layer(inputs)`` in the graph: build the layer, size its output, add a node."""
    if args or any(k != "training" for k in kwargs):
        raise TypeError(
            f"layer {layer.name}: in a functional graph, call a layer with its input tensor(s) "
            f"only, got extra arguments {list(args) + sorted(kwargs)}"
        )
    tensors = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
    if not all(isinstance(t, SymbolicTensor) for t in tensors):
        raise TypeError(
            f"layer {layer.name}: mixing symbolic tensors (from autoconv.Input) with arrays in "
            "one call is not supported"
        )
    shapes: Any = (
        [t.shape for t in tensors] if isinstance(inputs, list | tuple) else tensors[0].shape
    )
    try:
        try:
            layer._maybe_build(shapes)
            output_shape = layer.compute_output_shape(shapes)
        except TypeError as error:  # None arithmetic in a layer that needs every size
            if "NoneType" not in str(error):
                raise
            raise ValueError(
                "this layer needs sizes that are unknown (None) in its input; give the Input "
                "those sizes"
            ) from None
    except ValueError as error:
        message = str(error)
        if layer.name not in message:
            message = f"Layer '{layer.name}' ({type(layer).__name__}): {message}"
        raise ValueError(f"{message} (input shape {_describe(shapes)})") from None
    if isinstance(output_shape, list | dict):
        raise NotImplementedError(
            f"layer {layer.name} has several outputs, which functional graphs do not support yet"
        )
    list_call = isinstance(inputs, list | tuple)
    return Node(layer, tensors, tuple(output_shape), kwargs, list_call).outputs[0]


def _describe(shapes: Any) -> str:
    return ", ".join(map(str, shapes)) if isinstance(shapes, list) else str(shapes)


class InputLayer(Layer):
    """The layer behind :func:`Input`: it has no weights and produces the graph's input.

    ``shape`` leaves out the batch axis; ``batch_shape`` includes it. ``dtype`` may also name
    an integer dtype, as Keras's ``Input(dtype="int32")`` of an Embedding's indices: the layers
    after it cast its values to their float dtype, as every autoconv layer casts its inputs."""

    def __init__(
        self,
        shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: bool | None = None,
        batch_shape: Sequence[int | None] | None = None,
        input_tensor: Any = None,
        optional: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if sparse:
            raise ValueError("InputLayer: sparse inputs are not supported by autoconv")
        if input_tensor is not None or optional:
            raise ValueError("InputLayer: input_tensor and optional inputs are not supported")
        if "input_shape" in kwargs and shape is None:  # Keras 2's spelling
            shape = kwargs.pop("input_shape")
        integer = _integer_dtype(dtype)
        super().__init__(name=name, dtype=None if integer else dtype, **kwargs)
        if integer:
            self.dtype = integer
        if batch_shape is not None:
            if shape is not None:
                raise ValueError("InputLayer: give shape or batch_shape, not both")
            full = _dims(batch_shape, "batch_shape")
        elif shape is not None:
            full = (batch_size, *_dims((shape,) if is_int(shape) else shape, "shape"))
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
        Node(self, [], self.batch_shape)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        return self.batch_shape

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "name": self.name}


def _integer_dtype(dtype: Any) -> str | None:
    """``dtype``'s name if it names an integer dtype ("int32", "uint8", ...), else None."""
    if not isinstance(dtype, str):
        return None
    try:
        numpy_dtype = np.dtype(dtype)
    except TypeError:
        return None
    return str(numpy_dtype) if numpy_dtype.kind in "iu" else None


def _dims(shape: Any, name: str) -> tuple[Any, ...]:
    if not isinstance(shape, tuple | list):
        raise ValueError(f"InputLayer: {name} must be a tuple of ints or None, got {shape!r}")
    return tuple(shape)


def Input(
    shape: Sequence[int | None] | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    sparse: bool | None = None,
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
    layer = InputLayer(shape, batch_size, dtype, sparse, batch_shape, tensor, optional, name)
    return layer.output
