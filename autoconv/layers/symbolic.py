"""The functional API's graph: symbolic tensors and the nodes that connect them.

A :class:`SymbolicTensor` (Keras's KerasTensor) is a shape and a dtype, no values
(``autoconv.Input`` makes the first). Calling a layer on one (:func:`symbolic_call`, from
``Layer.__call__``) builds the layer, checks the shapes (an error names the layer and the
shapes), records a :class:`Node` (this layer, its input tensors, its output tensor) and returns
the output as another symbolic tensor. ``autoconv.Model(inputs, outputs)`` then walks the nodes
back from the outputs. ``layer`` below is a :class:`~autoconv.layers.layer.Layer`, which
imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autoconv import ops
from autoconv.naming import unique_name

Shape = tuple[int | None, ...]  # Keras's shapes: the batch axis first, None where unknown


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
    """One call of ``layer`` in a graph: the symbolic tensors it read and the one it made,
    named ``output_name`` (an Input's own name, as Keras's) or ``keras_tensor_N``."""

    def __init__(
        self,
        layer: Any,
        inputs: Sequence[SymbolicTensor],
        output_shape: Shape,
        kwargs: dict[str, Any] | None = None,
        list_call: bool = False,
        output_name: str | None = None,
    ) -> None:
        self.layer = layer
        self.inputs = list(inputs)
        self.list_call = list_call  # called with a list of tensors (merging layers)
        self.kwargs = dict(kwargs or {})
        self.index = len(layer._inbound_nodes)  # this node's number among the layer's calls
        name = output_name or unique_name("keras_tensor")  # as Keras names its tensors
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


def symbolic_call(layer: Any, inputs: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
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
