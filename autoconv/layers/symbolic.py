"""The functional API's graph: symbolic tensors and the nodes that connect them.

A :class:`SymbolicTensor` (Keras's KerasTensor) is a shape and a dtype, no values
(``autoconv.Input`` makes the first). Calling a layer on one (:func:`symbolic_call`, from
``Layer.__call__``) builds the layer, checks the shapes (an error names the layer and the
shapes), records a :class:`Node` (this layer, the call's arguments as given, Keras's node
arguments: tensors and plain values, positional and by keyword; its output tensors) and returns
the output as another symbolic tensor (a tuple of them for a call with several outputs).
``autoconv.Model(inputs, outputs)`` then walks the nodes back from the outputs. ``layer``
below is a :class:`~autoconv.layers.layer.Layer`, which imports this module.

As Keras's KerasTensors, symbolic tensors carry Keras's masks (``_keras_mask``, absent where
there is none): each call attaches its ``compute_mask``'s to its outputs, and a call whose
``call`` reads ``mask`` gets one in its dry run where Keras's symbolic call gives one
(:func:`masked_dry_run`); the graph's run gives it the real mask, as a layer call does.
"""

from __future__ import annotations

import inspect
import math
import threading
import warnings
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from autoconv import ops
from autoconv.layers import file_budget
from autoconv.layers.calls import training_context
from autoconv.naming import unique_name
from autoconv.ops import masks
from autoconv.ops.masks import keras_mask, set_keras_mask
from autoconv.tensor import Tensor

Shape = tuple[int | None, ...]  # Keras's shapes: the batch axis first, None where unknown


class SymbolicTensor:
    """A placeholder for a value in a functional graph: its batch-first shape, its dtype and
    the node (layer call) that produces it, as its ``index``-th output."""

    def __init__(
        self, shape: Shape, dtype: str, node: Node | None = None, name: str = "", index: int = 0
    ) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.name = name
        self.index = index

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
    """One call of ``layer`` in a graph: the symbolic tensors it read and those it made (one
    per output shape: ``output_shape`` is one shape, or a tuple of them for a layer with
    several outputs), named ``output_name`` (an Input's own name, as Keras's) or
    ``keras_tensor_N``. ``output_keys``: the keys of a functional model's dict outputs, one
    per output shape (the call then gives a dict); ``list_outputs``: several outputs given as
    a list (a functional model's made with a list), not a tuple.

    ``args`` and ``kwargs`` are the call as given (Keras's node arguments): its positional
    arguments (by default the one input, ``inputs`` itself for a ``list_call``) and keyword
    arguments, symbolic tensors where it took them, at any depth of lists; ``inputs`` is
    every one of those tensors in order (positional first)."""

    def __init__(
        self,
        layer: Any,
        inputs: Sequence[SymbolicTensor],
        output_shape: Shape | tuple[Shape, ...],
        kwargs: dict[str, Any] | None = None,
        list_call: bool = False,
        output_name: str | None = None,
        args: Sequence[Any] | None = None,
        output_keys: Sequence[str] | None = None,
        list_outputs: bool = False,
    ) -> None:
        self.layer = layer
        self.output_keys = None if output_keys is None else list(output_keys)
        self.list_outputs = list_outputs
        self.inputs = list(inputs)
        self.list_call = list_call  # called with a list of tensors (merging layers)
        self.kwargs = dict(kwargs or {})
        self.carried_mask: SymbolicTensor | None = None  # see _carried_mask
        if args is None:
            args = [self.inputs] if list_call else self.inputs[:1]
        self.args = list(args)
        self.index = len(layer._inbound_nodes)  # this node's number among the layer's calls
        several = bool(output_shape) and isinstance(output_shape[0], tuple | list)
        shapes = list(output_shape) if several else [output_shape]
        self.several_outputs = several
        name = output_name or graph_name("keras_tensor")  # as Keras names its tensors
        # the layer's dtype, or an Operation's outputs' own (Keras's: ops.argmax gives int32)
        dtypes = getattr(layer, "output_dtypes", None) or [layer.dtype] * len(shapes)
        self.outputs = [SymbolicTensor(shapes[0], dtypes[0], self, name)]
        self.outputs += [  # Keras names each of the outputs in turn
            SymbolicTensor(shape, dtypes[i], self, graph_name("keras_tensor"), i)
            for i, shape in enumerate(shapes[1:], 1)
        ]
        layer._inbound_nodes.append(self)
        traced = getattr(_traces, "nodes", None)
        if traced is not None:
            traced.append(self)

    @property
    def parents(self) -> list[Node]:
        return [t.node for t in self.inputs if t.node is not None]

    @property
    def plain(self) -> bool:
        """Whether the call is the classic one: one tensor or one list of them (not a dict),
        and at most ``training`` as a keyword argument."""
        one = len(self.args) == 1 and not isinstance(self.args[0], dict)
        return one and set(self.kwargs) <= {"training"}

    def call_arguments(self, values: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
        """The call's ``args`` and ``kwargs`` with ``values`` (one per input, in order) in
        place of its symbolic tensors."""
        found = iter(values)
        args = [_filled(a, found) for a in self.args]
        return args, {k: _filled(v, found) for k, v in self.kwargs.items()}

    def output_value(self) -> Any:
        """The call's result in the graph: its one output, the tuple (or list) of its outputs,
        or the dict of them by ``output_keys``."""
        if self.output_keys is not None:
            return dict(zip(self.output_keys, self.outputs, strict=True))
        if not self.several_outputs:
            return self.outputs[0]
        return list(self.outputs) if self.list_outputs else tuple(self.outputs)


# ------------------------------------------------------------------------ shape traces
_traces = threading.local()  # per thread: the nodes the shape trace in progress made


@contextmanager
def tracing() -> Iterator[None]:
    """A trace of a call on symbolic tensors only to learn its output shapes (Keras's symbolic
    call of a layer without a ``compute_output_shape`` of its own): the nodes it records are
    taken back from their layers, and it takes no names from the graph's."""
    previous = getattr(_traces, "nodes", None)
    _traces.nodes = nodes = []
    try:
        yield
    finally:
        _traces.nodes = previous
        for node in reversed(nodes):
            node.layer._inbound_nodes.remove(node)


def graph_name(prefix: str) -> str:
    """Keras's next automatic name of ``prefix`` (a symbolic tensor's, an op's); inside a
    :func:`tracing`, whose graph is dropped, ``prefix`` itself, numbering nothing."""
    return prefix if getattr(_traces, "nodes", None) is not None else unique_name(prefix)


def nodes_in_order(outputs: Sequence[SymbolicTensor], known: Collection[int] = ()) -> list[Node]:
    """Every node the ``outputs`` depend on, each after the nodes it reads (a depth-first walk
    back from the outputs), stopping at the tensors whose ids are ``known``."""
    order: list[Node] = []
    done: set[int] = set()
    stack = [(t.node, False) for t in reversed(outputs) if id(t) not in known]
    while stack:
        node, ready = stack.pop()
        if id(node) in done:
            continue
        if ready:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((t.node, False) for t in reversed(node.inputs)
                     if t.node is not None and id(t) not in known)  # fmt: skip
    return order


def flat_outputs(value: Any) -> list[Any]:
    """A call's result as the list of its outputs: a dict's values by sorted key (as Keras
    flattens a functional model's dict outputs), a list's or tuple's items (those of nested
    lists and tuples in order, as Keras's ``tree.flatten``), or the one value."""
    if isinstance(value, dict):
        return [value[key] for key in sorted(value)]
    if isinstance(value, list | tuple):
        return [output for item in value for output in flat_outputs(item)]
    return [value]


def _filled(value: Any, found: Any) -> Any:
    if isinstance(value, SymbolicTensor):
        return next(found)
    if isinstance(value, list | tuple):
        return type(value)(_filled(v, found) for v in value)
    if isinstance(value, dict):  # filled by sorted key, as tensors_in reads them
        filled = {key: _filled(value[key], found) for key in sorted(value)}
        return {key: filled[key] for key in value}
    return value


def tensors_in(value: Any) -> list[SymbolicTensor]:
    """The symbolic tensors in ``value`` (a tensor, or lists, tuples and dicts of them at any
    depth), in order (a dict's by sorted key, as Keras flattens it)."""
    if isinstance(value, SymbolicTensor):
        return [value]
    if isinstance(value, list | tuple):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, dict):
        return [t for key in sorted(value) for t in tensors_in(value[key])]
    return []


def is_symbolic(inputs: Any) -> bool:
    """Whether ``inputs`` is a symbolic tensor, or a list, tuple or dict that holds one."""
    if isinstance(inputs, SymbolicTensor):
        return True
    if isinstance(inputs, list | tuple):
        return any(isinstance(x, SymbolicTensor) for x in inputs)
    if isinstance(inputs, dict):
        return any(isinstance(x, SymbolicTensor) for x in inputs.values())
    return False


class PositionalShapes(list):
    """The shapes of a call's positional tensors, one each (``layer(logits, targets)``), as a
    layer's ``build`` and ``compute_output_shape`` get them: a list, which tells the default
    output shape's dry run to call the layer with the tensors as separate arguments."""


def symbolic_call(layer: Any, inputs: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
    """Record ``layer(inputs, *args, **kwargs)`` in the graph: build the layer, size its
    output(s), add a node. The layer is built for, and sizes its output from, the shape of
    ``inputs`` (a list of shapes for a list), or the list of its positional tensors' shapes
    when it takes several; keyword arguments that hold no tensor (but ``training``) go to
    its ``compute_output_shape`` too (``return_attention_scores=True``: two outputs)."""
    tensors = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
    if isinstance(inputs, dict):
        tensors = list(inputs.values())
    if not all(isinstance(t, SymbolicTensor) for t in tensors):
        raise TypeError(
            f"layer {layer.name}: mixing symbolic tensors (from autoconv.Input) with arrays in "
            "one call is not supported"
        )
    _check_keywords(layer, kwargs)
    positional = [inputs, *args]  # (an array among the other arguments is a constant of the
    # call, as Keras keeps it: keras.io's vit_small_ds's attention_mask=diagonal mask)
    shapes, options = call_shapes(inputs, args, kwargs)
    if any(t.node is None for t in tensors_in([positional, list(kwargs.values())])):
        raise NotImplementedError(  # (a call makes every symbolic tensor but the masks)
            f"layer {layer.name}: a symbolic tensor's Keras mask (its `_keras_mask`) cannot be "
            "passed to a layer or an op in a functional graph: a layer whose call takes `mask` "
            "gets its input's by itself; to use a mask as data, compute it from the tensors "
            "(e.g. ops.not_equal(token_ids, 0))"
        )
    given = kwargs.get("mask")  # Keras's previous mask: the one given, else the input's
    previous = keras_mask(inputs) if given is None else given
    carried = [keras_mask(t) for t in tensors_in(positional)]
    if isinstance(given, SymbolicTensor) and isinstance(inputs, SymbolicTensor):
        carried[0] = given
    try:
        try:
            layer._maybe_build(shapes)
            # (a call given ``training`` finds its shape in that mode, as Keras's symbolic call)
            with _dry_run_masks(layer, carried), training_context(kwargs.get("training")):
                sizes = layer._output_shape_sizes(shapes)
                output_shape = layer.compute_output_shape(sizes, **options)
                layer._build_by_run(shapes)
        except TypeError as error:  # None arithmetic in a layer that needs every size
            if "NoneType" not in str(error):
                if options and "unexpected keyword" in str(error):
                    raise TypeError(
                        f"layer {layer.name}: its output shape cannot be computed with "
                        f"{sorted(options)} in a functional graph"
                    ) from None
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
    keys = sorted(output_shape) if isinstance(output_shape, dict) else None  # a model's
    if keys is not None:
        output_shape = tuple(tuple(output_shape[key]) for key in keys)
    list_call = isinstance(inputs, list | tuple) and not args
    read = tensors_in(positional) + tensors_in(list(kwargs.values()))
    list_outputs = getattr(layer, "_output_structure", None) == "list"  # (a model's, as Keras)
    node = Node(
        layer, read, tuple(output_shape), kwargs, list_call, args=positional, output_keys=keys,
        list_outputs=list_outputs,
    )  # fmt: skip
    node.carried_mask = _carried_mask(layer, given, previous)
    _attach_masks(layer, inputs, previous, node.outputs)
    return node.output_value()


def _carried_mask(layer: Any, given: Any, previous: Any) -> SymbolicTensor | None:
    """The mask Keras's call fills in as ``mask`` where a layer whose ``call`` takes one is
    given none and its input carries a tensor of the graph (an ``Input``'s, passed on by an
    RNN): Keras records it among the call's arguments (the summary connects it, the config
    writes it). A mask computed by ``compute_mask`` is no tensor of the graph here."""
    if given is not None or not isinstance(previous, SymbolicTensor) or previous.node is None:
        return None
    return previous if "mask" in inspect.signature(layer.call).parameters else None


def call_shapes(inputs: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[Any, dict]:
    """What a call ``layer(inputs, *args, **kwargs)`` on symbolic tensors builds the layer for
    and sizes its output from: the shape of ``inputs`` (a list of shapes for a list, a dict
    for a dict), or the list of its positional tensors' shapes when it takes several; and the
    keyword arguments that hold no tensor (but ``training``), its ``compute_output_shape``'s
    options."""
    positional = [inputs, *args]
    if args and all(isinstance(value, SymbolicTensor) for value in positional):
        shapes: Any = PositionalShapes(t.shape for t in positional)
    elif args:
        shapes = [t.shape for t in tensors_in(positional)]
    elif isinstance(inputs, list | tuple):
        shapes = [t.shape for t in inputs]
    elif isinstance(inputs, dict):  # Keras's build gets a dict of shapes
        shapes = {key: t.shape for key, t in inputs.items()}
    else:
        shapes = inputs.shape
    options = {  # the settings that may change the output's shapes (not a constant array)
        k: v
        for k, v in kwargs.items()
        if k != "training" and v is not None and not tensors_in(v) and not _holds_array(v)
    }
    return shapes, options


def output_shapes_of(node: Node, shapes: Sequence[Shape]) -> list[Shape]:
    """The shapes of ``node``'s outputs had its inputs (in order) the ``shapes`` given: its
    layer's ``compute_output_shape`` for the call's arguments of those shapes."""
    stand_ins = [SymbolicTensor(shape, t.dtype, None, t.name) for t, shape in
                 zip(node.inputs, shapes, strict=True)]  # fmt: skip
    args, kwargs = node.call_arguments(stand_ins)
    sizes, options = call_shapes(args[0], args[1:], kwargs)
    with _dry_run_masks(node.layer, [keras_mask(t) for t in node.inputs]):
        sizes = node.layer._output_shape_sizes(sizes)
        output_shape = node.layer.compute_output_shape(sizes, **options)
    if isinstance(output_shape, dict):  # a model's dict outputs, by sorted key
        return [tuple(output_shape[key]) for key in sorted(output_shape)]
    return [tuple(s) for s in output_shape] if node.several_outputs else [tuple(output_shape)]


def _check_keywords(layer: Any, kwargs: dict[str, Any]) -> None:
    """A TypeError (as Python's) unless the layer's ``call`` takes every keyword argument."""
    parameters = inspect.signature(layer.call).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(kwargs) - set(parameters) - {"training"})
    if unknown:
        raise TypeError(
            f"layer {layer.name} ({type(layer).__name__}): its call takes no keyword arguments "
            f"{unknown}"
        )


def _holds_array(value: Any) -> bool:
    """Whether ``value`` is (or a list holds) an array or a Tensor: data, not a setting."""
    if isinstance(value, list | tuple):
        return any(_holds_array(v) for v in value)
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _describe(shapes: Any) -> str:
    return ", ".join(map(str, shapes)) if isinstance(shapes, list) else str(shapes)


# ------------------------------------------------------------------------ Keras's masks
UNKNOWN_SIZE = 2  # an unknown size in the stand-ins compute_mask is given (only ranks are read)
_dry_runs = threading.local()  # per thread: {id(layer): its call's tensors' masks}


def warn_mask_dropped(layer: Any) -> None:
    """Keras's warning of a layer that does not support masking, given a masked input: at
    every call, from this one place, as Keras warns from its Layer's ``__call__``, so that
    Python's default filter shows it once a layer (at the graph's making, not again at its
    runs)."""
    warnings.warn(
        f"Layer '{layer.name}' (of type {type(layer).__name__}) was passed an input with a mask "
        "attached to it. However, this layer does not support masking and will therefore "
        "destroy the mask information. Downstream layers will not see the mask.",
        stacklevel=1,
    )


@contextmanager
def _dry_run_masks(layer: Any, carried: list[Any]) -> Iterator[None]:
    """While sizing a call whose positional tensors carry ``carried`` (their masks, in
    order), the dry runs of ``layer`` get masks of ones on their tensors (see
    :func:`masked_dry_run`)."""
    if all(mask is None for mask in carried):
        yield
        return
    masks.attached = True  # (so Layer.__call__ looks for them)
    runs = _dry_runs.__dict__.setdefault("runs", {})
    runs[id(layer)] = carried
    try:
        yield
    finally:
        del runs[id(layer)]


def carries_masks(layer: Any) -> bool:
    """Whether a call of ``layer`` being sized carries masks (its dry runs give them)."""
    return id(layer) in getattr(_dry_runs, "runs", {})


def masked_dry_run(layer: Any, inputs: Any, args: tuple) -> bool:
    """Whether this call of ``layer`` (on Tensors) is a dry run sizing a symbolic call whose
    tensors carry masks: then each of its tensors gets a mask of ones on as many leading
    axes as its symbolic tensor's mask has, which the call reads as Keras's symbolic call
    reads the symbolic mask."""
    carried = getattr(_dry_runs, "runs", {}).get(id(layer))
    if carried is None:
        return False
    for tensor, mask in zip(_flat([inputs, *args]), carried, strict=False):
        if mask is not None and isinstance(tensor, Tensor):
            set_keras_mask(tensor, np.ones(tensor.shape[: mask.ndim], bool))
    return True


def _attach_masks(layer: Any, inputs: Any, previous: Any, outputs: list[SymbolicTensor]) -> None:
    """Keras's masks of a symbolic call's outputs, from its inputs (the first argument) and
    their ``previous`` mask: ``compute_mask``'s, run on stand-ins (zeros, and masks of ones),
    of which only the masks' ranks are kept: a mask is a boolean symbolic tensor of its
    output's leading axes, or the input's own where it is passed on unchanged. A layer that
    does not support masking gives none, with Keras's warning when it was given one."""
    if not layer.supports_masking:
        if any(mask is not None for mask in _flat(previous)):
            warn_mask_dropped(layer)
        return
    if previous is None and not _computes_masks(type(layer)):
        return
    symbolic: dict[int, SymbolicTensor] = {}  # a stand-in mask's id -> the mask it stands for

    def stand_in(mask: Any) -> Any:
        if isinstance(mask, list | tuple):
            return type(mask)(stand_in(m) for m in mask)
        if not isinstance(mask, SymbolicTensor):
            return mask
        ones = Tensor(np.ones(_stand_in_shape(mask.shape), layer.dtype))
        symbolic[id(ones)] = mask
        return ones

    stand_ins = stand_in(previous)
    found = layer.compute_mask(_zeros(inputs, layer.dtype), stand_ins)
    for output, mask in zip(outputs, _flat(found), strict=False):
        if mask is None:
            continue
        if id(mask) in symbolic:
            output._keras_mask = symbolic[id(mask)]
        else:
            shape = output.shape[: len(mask.shape)]
            output._keras_mask = SymbolicTensor(shape, "bool", name=graph_name("keras_tensor"))
        masks.attached = True


def _computes_masks(cls: type) -> bool:
    """Whether ``cls`` overrides Layer's ``compute_mask`` (which passes the mask on): the base
    class's is the last in the method resolution order."""
    return sum("compute_mask" in c.__dict__ for c in cls.__mro__) > 1


def _zeros(inputs: Any, dtype: str) -> Any:
    """Zeros of each input's stand-in shape (at most the trial budget's while a file is
    read)."""
    if isinstance(inputs, list | tuple):
        return type(inputs)(_zeros(x, dtype) for x in inputs)
    if isinstance(inputs, dict):
        return {key: _zeros(x, dtype) for key, x in inputs.items()}
    shape = _stand_in_shape(inputs.shape)
    file_budget.check_trial(math.prod(shape), f"the mask of {inputs.name}")
    return Tensor(np.zeros(shape, dtype))


def _stand_in_shape(shape: Shape) -> tuple[int, ...]:
    """A stand-in's shape: a batch of one, ``UNKNOWN_SIZE`` for the other unknown sizes."""
    return tuple(1 if i == 0 else UNKNOWN_SIZE if n is None else n for i, n in enumerate(shape))


def _flat(value: Any) -> list[Any]:
    """The items of nested lists and tuples, in order (a value on its own: itself)."""
    if isinstance(value, list | tuple):
        return [item for v in value for item in _flat(v)]
    return [value]
