"""A model's graph of layer calls and the plan that runs it.

:class:`Graph` walks the nodes back from a model's outputs to its inputs (``Input``), puts them
in an order where every node comes after the ones it reads, and makes a :class:`Plan` once:
which layer calls run fused. That decision is made here and nowhere else:

- a one-group ``Conv2D`` with a ReLU or no activation whose only reader is a ``MaxPooling2D``
  runs with it as one op, :func:`autoconv.ops.conv2d_max_pool` (the same values, fewer passes
  over the convolution's output; that op has no ``groups``);
- a one-group ``Conv2D``, a ``SeparableConv2D`` or a ``Dense`` without activation whose only
  reader is a ``BatchNormalization`` over its channels (then, optionally, a ReLU and, after a
  convolution, a ``MaxPooling2D``) runs in inference (``predict``, ``evaluate``) as one op:
  the convolution (or product; a SeparableConv2D's pointwise one) with the moving
  statistics, gamma and beta folded into its kernel and bias, the ReLU and the pooling in
  the same pass (:meth:`autoconv.layers.Conv2D.folded`). In training the batch normalization
  runs on the batch's statistics, with the layer's bias added as it reads the layer's output
  (computed without it: ``x + bias`` is never written) and the ReLU in its passes, as below;
- any other ``BatchNormalization`` whose only reader is a ReLU runs with it as one op, in
  training and inference (:meth:`autoconv.layers.BatchNormalization.normalized`: the same
  values, the ReLU's two passes over the activation and its gradient's three saved);
- any other ReLU whose only reader is a ``SeparableConv2D`` (with a ReLU or no activation)
  runs in that layer's step, applied as its depthwise convolution reads the input (keras-io's
  Xception's ReLU at the head of each block): :attr:`Step.before`;
- an output made by a softmax over the last axis (``Dense(..., activation="softmax")``,
  ``Activation("softmax")``, ``Softmax()``) can hand its logits to a cross-entropy loss, which
  is then computed from them in one stable op. Whether that happens depends on the loss, so
  ``compile`` pairs the two, and the plan records it.

``print(model.plan)`` shows the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autoconv import activations
from autoconv.host_array import host_array
from autoconv.layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    Dense,
    InputLayer,
    MaxPooling2D,
    ReLU,
    SeparableConv2D,
    SymbolicTensor,
)
from autoconv.layers.calls import current_training, training_context
from autoconv.layers.layer import is_integer, takes_as_given, to_tensors
from autoconv.layers.symbolic import Node, flat_outputs, nodes_in_order, output_shapes_of
from autoconv.ops.engine import cast
from autoconv.ops.masks import keras_mask
from autoconv.tensor import Tensor

# The fusions a step can run (Step.rule): see the module's docstring.
CONV_POOL, FOLD_BATCH_NORM, BATCH_NORM_RELU = "conv_pool", "fold_batch_norm", "batch_norm_relu"


@dataclass
class Step:
    """One thing the plan runs: a layer call, or several layer calls as one op (``rule``)."""

    nodes: tuple[Node, ...]
    inputs: tuple[int, ...]  # ids of the tensors it reads
    output: int  # id of the tensor it makes (its first, for a call with several outputs)
    logits_of_output: int | None = None  # which model output hands its logits to the loss
    rule: str | None = None  # CONV_POOL, FOLD_BATCH_NORM, BATCH_NORM_RELU, or None: one call
    last_reads: tuple[int, ...] = ()  # ids of the tensors no later step or output reads
    before: Node | None = None  # a ReLU the first layer applies to its input as it reads it
    more_outputs: tuple[int, ...] = ()  # ids of a call's further outputs (attention scores)

    @property
    def fused(self) -> bool:
        return self.rule is not None or self.before is not None

    @property
    def names(self) -> str:
        nodes = self.nodes if self.before is None else (self.before, *self.nodes)
        return " + ".join(node.layer.name for node in nodes)

    def describe(self, width: int = 40) -> str:
        """The step's layers, padded to ``width``, then how they run."""
        if self.rule == CONV_POOL:
            how = "conv2d_max_pool (bias and activation in the pooling pass)"
        elif self.rule == FOLD_BATCH_NORM:
            how = f"batch norm folded into the {type(self.nodes[0].layer).__name__} at inference"
            if len(self.nodes) > 2:
                how += " (+ " + ", ".join(type(n.layer).__name__ for n in self.nodes[2:]) + ")"
        elif self.rule == BATCH_NORM_RELU:
            how = "batch norm with its ReLU in the same pass"
        else:
            how = type(self.nodes[0].layer).__name__
        if self.before is not None:
            how += ", the ReLU before it in its depthwise pass"
        if self.logits_of_output is not None:
            how += ", softmax left to the loss (cross-entropy from the logits)"
        return f"{self.names:{width}s}  {how}"


@dataclass
class Plan:
    """The steps of a graph in the order they run, decided when the graph is made."""

    steps: list[Step]
    output_steps: list[Step | None]  # the step making each output (None: an input passed on)
    logits_outputs: list[bool] = field(default_factory=list)  # paired with a cross-entropy

    def pair_losses(self, takes_logits: Sequence[bool]) -> None:
        """Record which softmax outputs give their logits to their loss (``compile`` calls
        this with, per output, whether its loss is a cross-entropy on probabilities). Whether
        an output ends in a softmax is read now: a layer's ``activation`` may have been set
        since the model was made (``model.layers[-1].activation = None``)."""
        self.logits_outputs = [
            step is not None and _ends_in_softmax(step) and wants
            for step, wants in zip(self.output_steps, takes_logits, strict=True)
        ]
        for step in self.steps:
            step.logits_of_output = None
        for index, paired in enumerate(self.logits_outputs):
            if paired:
                self.output_steps[index].logits_of_output = index

    def __str__(self) -> str:
        width = max((len(step.names) for step in self.steps), default=0)
        lines = [f"{i + 1:3d}. {step.describe(width)}" for i, step in enumerate(self.steps)]
        return "\n".join(lines)


class Graph:
    """The layer calls between ``inputs`` and ``outputs`` (symbolic tensors), in order."""

    def __init__(self, inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> None:
        for t in [*inputs, *outputs]:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(
                    "a functional model's inputs and outputs must be symbolic tensors (from "
                    f"autoconv.Input and the layers called on it), got {type(t).__name__}"
                )
        for t in inputs:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(
                    f"model inputs must come from autoconv.Input, but {t.name} is the output of "
                    f"layer {t.node.layer.name}"
                )
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.nodes = self._ordered_nodes()
        self.ids = {id(t): i for i, t in enumerate(t for n in self.nodes for t in n.outputs)}
        self.plan = self._make_plan()

    # ----------------------------------------------------------------- structure
    def _ordered_nodes(self) -> list[Node]:
        """Every node the outputs depend on, each after the nodes it reads (depth first)."""
        order = nodes_in_order(self.outputs)
        input_nodes = {id(t.node) for t in self.inputs}
        for node in order:
            if isinstance(node.layer, InputLayer) and id(node) not in input_nodes:
                raise ValueError(
                    f"Graph disconnected: cannot obtain value for tensor {node.outputs[0]} at "
                    f"layer '{node.layer.name}'. The following previous layers were accessed "
                    "without issue: "
                    f"{[n.layer.name for n in order if not isinstance(n.layer, InputLayer)][:5]}"
                    " - pass every autoconv.Input the outputs depend on as a model input"
                )
        missing = [t for t in self.inputs if id(t.node) not in {id(n) for n in order}]
        order = [t.node for t in missing] + order  # inputs nothing reads still take data
        return order

    @property
    def layers(self) -> list[Any]:
        """Each layer once (Input layers included), in Keras's order: by depth, the most
        layers between it and an output first, and among equals in the order a depth-first
        walk back from the outputs first meets them (Keras's ``map_graph``: the order of
        ``model.layers``, of a summary, of a model file's entries and weights)."""
        nodes, layer_depth, met = self._keras_depths()
        layers = {id(node.layer): node.layer for node, _ in nodes.values()}
        for tensor in self.inputs:  # inputs nothing reads come last, as Keras's
            if id(tensor.node.layer) not in layers:
                layers[id(tensor.node.layer)] = tensor.node.layer
                layer_depth[id(tensor.node.layer)], met[id(tensor.node.layer)] = 0, -1
        return sorted(layers.values(), key=lambda l: (-layer_depth[id(l)], met[id(l)]))

    def keras_order(self) -> list[Node]:
        """The nodes in the order Keras's functional model runs them (its
        ``_run_through_graph``, which ``clone_model`` follows): the deepest first, and each
        depth's in the order Keras's ``map_graph`` records them."""
        nodes, _, _ = self._keras_depths()
        return [node for node, _ in sorted(nodes.values(), key=lambda entry: -entry[1])]

    def _keras_depths(self) -> tuple[dict[int, list[Any]], dict[int, int], dict[int, int]]:
        """Keras's ``map_graph``: each node's ``[node, depth]`` (the most calls between it and
        an output) in the order Keras's dict of depths gets them, each layer's depth (its
        deepest node's), and when a depth-first walk back from the outputs first met each
        layer."""
        met: dict[int, int] = {}  # layer -> when the walk first met it
        finished: set[int] = set()
        walked: list[Node] = []  # nodes, each after the nodes it reads
        for output in self.outputs:
            stack: list[tuple[Node, bool]] = [(output.node, False)]
            while stack:
                node, done = stack.pop()
                if done:
                    finished.add(id(node))
                    walked.append(node)
                    continue
                if id(node) in finished:
                    continue
                met.setdefault(id(node.layer), len(met))
                stack.append((node, True))
                stack.extend((parent, False) for parent in reversed(node.parents))
        nodes: dict[int, list[Any]] = {}
        layer_depth: dict[int, int] = {}
        for node in reversed(walked):
            entry = nodes.setdefault(id(node), [node, 0])
            entry[1] = layer_depth[id(node.layer)] = max(
                entry[1], layer_depth.get(id(node.layer), 0)
            )
            for parent in node.parents:
                above = nodes.setdefault(id(parent), [parent, 0])
                above[1] = max(entry[1] + 1, above[1])
        return nodes, layer_depth, met

    def _make_plan(self) -> Plan:
        readers: dict[int, list[Node]] = {}
        for node in self.nodes:
            for t in node.inputs:
                readers.setdefault(id(t), []).append(node)
        output_ids = {id(t) for t in self.outputs}
        steps: list[Step] = []
        absorbed: set[int] = set()
        before: dict[int, Node] = {}  # a reader's node -> the ReLU node it runs
        for node in self.nodes:
            if isinstance(node.layer, InputLayer) or id(node) in absorbed:
                continue
            reader = _reading_separable(node, readers, output_ids)
            if reader is not None:  # runs in its reader's step
                before[id(reader)] = node
                continue
            out = node.outputs[0]
            rule, nodes = None, (node,)
            pool = _fusable_pool(node, readers.get(id(out), []), id(out) in output_ids)
            folded = _foldable_batch_norm(node, readers, output_ids)
            relu = _rectifying_relu(node, readers, output_ids)
            if pool is not None:
                rule, nodes = CONV_POOL, (node, pool)
            elif folded:
                rule, nodes = FOLD_BATCH_NORM, (node, *folded)
            elif relu is not None:
                rule, nodes = BATCH_NORM_RELU, (node, relu)
            absorbed.update(id(n) for n in nodes[1:])
            head = before.get(id(node))
            reads = tuple(self.ids[id(t)] for t in (node if head is None else head).inputs)
            output, *more = (self.ids[id(t)] for t in nodes[-1].outputs)
            steps.append(Step(nodes, reads, output, rule=rule, before=head, more_outputs=(*more,)))
        read_later = {self.ids[id(t)] for t in self.outputs}
        for step in reversed(steps):  # so a run lets go of each tensor after its last reader
            step.last_reads = tuple(i for i in dict.fromkeys(step.inputs) if i not in read_later)
            read_later.update(step.inputs)
        by_output = {step.output: step for step in steps}
        output_steps = [by_output.get(self.ids[id(t)]) for t in self.outputs]  # (not scores)
        plan = Plan(steps, output_steps)
        plan.pair_losses([False] * len(self.outputs))
        return plan

    # ----------------------------------------------------------------- running
    def as_declared(self, values: list[Any], dtype: str, device: str) -> list[Any]:
        """A call's inputs (one per graph input) in their Inputs' dtypes, as Keras's functional
        models convert them (``_convert_inputs_to_tensors``): on the CPU, an integer or bool
        Input takes its data as a NumPy array of its dtype (float data truncated, as Keras
        casts; int64 keys past float32's 2**24 kept exact), and the layers that read integers
        get them so (:func:`autoconv.layers.layer.takes_as_given`). The engine's Tensors hold
        floats: other data stay as they are, integer data for a float Input (or on the GPU)
        become Tensors of ``dtype`` on ``device``."""
        converted = []
        for value, tensor in zip(values, self.inputs, strict=True):
            integers = integer_dtype(tensor.dtype)
            if integers is not None and device == "cpu" and not is_integer(value):
                value = np.asarray(value.data if isinstance(value, Tensor) else value)
            if integers is not None and device == "cpu" and value.dtype.kind in "biuf":
                converted.append(host_array(value.astype(integers, copy=False)))
            else:
                converted.append(to_tensors(value, dtype, integer_device=device))
        return converted

    def run(self, values: list[Tensor], training: bool | None) -> tuple[list[Tensor], list[bool]]:
        """The outputs for input tensors ``values`` (one per graph input), and for each
        output whether it holds logits (a softmax paired with its loss, left undone). With
        ``training=None`` (a model called directly) each layer runs in its own default mode:
        inference, but augmentation layers augment, as in Keras."""
        tensors = {self.ids[id(t)]: v for t, v in zip(self.inputs, values, strict=True)}
        logits = list(self.plan.logits_outputs or [False] * len(self.outputs))
        # The inputs' device (the model's): a tensor a step made on the host from integers
        # (``ops.one_hot(ops.argmax(x))``) goes there before a step takes it.
        device = next((v.device for v in values if isinstance(v, Tensor)), None)
        with training_context(training):
            for step in self.plan.steps:
                args = [_on(device, tensors[i]) for i in step.inputs]
                special = step.fused or step.logits_of_output is not None
                # (a paired softmax whose activation was set to another since compile: run as is)
                changed = step.logits_of_output is not None and not _ends_in_softmax(step)
                if changed or (special and keras_mask(args) is not None):
                    made = _run_unfused(step, args[0], training)
                    if step.logits_of_output is not None:  # the softmax is done: no logits
                        logits[step.logits_of_output] = False
                else:
                    made = _run_step(step, args, training)
                for i, value in zip(
                    (step.output, *step.more_outputs), flat_outputs(made), strict=True
                ):
                    tensors[i] = value
                for i in step.last_reads:  # in inference nothing else holds it: freed now
                    del tensors[i]
        # (integer outputs as NumPy arrays with Keras's tensors' .numpy())
        outputs = [host_array(tensors[self.ids[id(t)]]) for t in self.outputs]
        return outputs, logits

    def output_shapes(self, input_shapes: Sequence[Any] | None = None) -> list[tuple]:
        """The outputs' shapes: those the graph was made with, or, for inputs of other
        ``input_shapes`` (sizes the Inputs left unknown: a model of ``Input((None, 16))``
        called on a tensor of shape ``(None, 16, 16)``), each layer's computed in turn from
        its inputs', as Keras's functional model runs its graph on them."""
        if (
            input_shapes is None
            or len(input_shapes) != len(self.inputs)
            or not all(isinstance(shape, tuple | list) for shape in input_shapes)
            or all(tuple(s) == t.shape for s, t in zip(input_shapes, self.inputs, strict=True))
        ):
            return [t.shape for t in self.outputs]
        shapes = {self.ids[id(t)]: tuple(s) for t, s in zip(self.inputs, input_shapes, strict=True)}
        for node in self.nodes:
            if isinstance(node.layer, InputLayer):
                continue
            given = [shapes[self.ids[id(t)]] for t in node.inputs]
            recorded = [t.shape for t in node.outputs]
            try:  # (a layer or op that cannot say keeps the shapes it was recorded with)
                found = output_shapes_of(node, given)
            except (TypeError, ValueError, NotImplementedError):
                found = recorded
            if [len(s) for s in found] != [len(s) for s in recorded]:
                found = recorded
            for t, shape in zip(node.outputs, found, strict=True):
                shapes[self.ids[id(t)]] = shape
        return [shapes[self.ids[id(t)]] for t in self.outputs]


def integer_dtype(name: Any) -> np.dtype | None:
    """The NumPy dtype of an Input's integer or bool ``dtype``, else None."""
    try:
        dtype = np.dtype(name)
    except TypeError:  # ("string": the text layers' inputs)
        return None
    return dtype if dtype.kind in "biu" else None


def _on(device: str | None, value: Any) -> Any:
    """``value``, a tensor moved to ``device`` where it is elsewhere."""
    if device is None or not isinstance(value, Tensor) or value.device == device:
        return value
    return value.to(device)


def _run_step(step: Step, args: list[Tensor], training: bool | None) -> Tensor:
    node = step.nodes[0]
    layer = node.layer
    # as a layer call casts (fused steps too); integer arrays to the layers that take them
    args = [a if takes_as_given(layer, a) else cast(a, layer.dtype) for a in args]
    if not node.plain:  # a call with several arguments: Keras's node arguments replayed
        call_args, kwargs = node.call_arguments(args)
        kwargs["training"] = kwargs.get("training", training)
        return layer(*call_args, **kwargs)
    inputs: Any = args if node.list_call else args[0]
    options = {} if step.before is None else {"relu_input": True}  # see Step.before
    if step.rule == CONV_POOL:
        return layer.pooled(inputs, step.nodes[1].layer)
    if step.rule == BATCH_NORM_RELU:
        mode = current_training(node.kwargs.get("training", training), False)
        return layer.normalized(inputs, bool(mode), relu=True)
    if step.rule == FOLD_BATCH_NORM:
        batch_norm, *rest = (n.layer for n in step.nodes[1:])
        if training:  # the batch's statistics, and the moving ones updated
            return _run_batch_norm_chain(layer, batch_norm, rest, inputs, options)
        relu = any(_plain_relu(each) for each in rest)
        pools = [each for each in rest if type(each) is MaxPooling2D]
        return layer.folded(inputs, batch_norm, relu, *pools, **options)
    if step.logits_of_output is not None:
        return layer.pre_activation(inputs, training)
    return layer(inputs, training=node.kwargs.get("training", training), **options)


def _run_unfused(step: Step, inputs: Tensor, training: bool | None) -> Tensor:
    """A fused step (or one that leaves its softmax to the loss) whose input carries a Keras
    mask, run layer by layer, so that each layer reads and passes on the mask as its own call
    does (the fused ops know no masks); or a step paired with its loss whose layer's
    activation is no longer a softmax. Such steps are chains of one-input calls."""
    for node in step.nodes if step.before is None else (step.before, *step.nodes):
        layer = node.layer
        inputs = layer(cast(inputs, layer.dtype), training=node.kwargs.get("training", training))
    return inputs


def _run_batch_norm_chain(
    layer: Any, batch_norm: Any, rest: list[Any], inputs: Any, options: dict
) -> Tensor:
    """A fold_batch_norm step in training: ``layer`` (given ``options``) without its bias, the
    batch norm adding it as it reads (and with a ReLU that follows, in the same passes), then
    the rest (a pooling)."""
    relu = bool(rest) and _plain_relu(rest[0])
    bias = layer.bias if layer.dtype == batch_norm.dtype else None
    if bias is None:
        out = layer(inputs, training=True, **options)
    else:
        out = layer.unbiased(inputs, **options)
    out = batch_norm.normalized(cast(out, batch_norm.dtype), True, relu, bias)
    for each in rest[relu:]:
        out = each(out, training=True)
    return out


def _fusable_pool(node: Node, readers: list[Node], is_output: bool) -> Node | None:
    """The MaxPooling2D node to run with this Conv2D node, if the plan may fuse them."""
    layer = node.layer
    if type(layer) is not Conv2D or layer.groups != 1 or is_output or len(readers) != 1:
        return None
    reader = readers[0]
    if type(reader.layer) is not MaxPooling2D or layer.fusable_activation is False:
        return None
    if _channels_first(layer) or _channels_first(reader.layer):
        return None
    if layer.activity_regularizer is not None or reader.layer.activity_regularizer is not None:
        return None
    return reader


FOLDS_BATCH_NORM = (Conv2D, SeparableConv2D, Dense)


def _foldable_batch_norm(
    node: Node, readers: dict[int, list[Node]], output_ids: set[int]
) -> list[Node]:
    """The nodes to run with this linear Conv2D, SeparableConv2D or Dense node in inference, its
    BatchNormalization folded into its (pointwise) kernel and bias: that BatchNormalization
    (over the channels, the last axis), then a ReLU if one follows, then after a convolution a
    MaxPooling2D if one follows; or []."""
    layer = node.layer
    if type(layer) not in FOLDS_BATCH_NORM or layer.activation is not activations.linear:
        return []
    if getattr(layer, "groups", 1) != 1 or _channels_first(layer):  # (the folded op, like
        return []  # conv2d_max_pool, has no groups, and runs channels-last)
    chain = [node]
    batch_norm = _only_reader(node, readers, output_ids, lambda r: type(r) is BatchNormalization)
    if batch_norm is None:
        return []
    ndim = len(node.outputs[0].shape)
    if batch_norm.layer.axis % ndim != ndim - 1:
        return []
    chain.append(batch_norm)
    relu = _only_reader(batch_norm, readers, output_ids, _plain_relu)
    if relu is not None:
        chain.append(relu)
    if type(layer) is not Dense:
        pool = _only_reader(
            chain[-1], readers, output_ids,
            lambda r: type(r) is MaxPooling2D and not _channels_first(r),
        )  # fmt: skip
        if pool is not None:
            chain.append(pool)
    return chain[1:]


def _reading_separable(
    node: Node, readers: dict[int, list[Node]], output_ids: set[int]
) -> Node | None:
    """The SeparableConv2D node (with a ReLU or no activation) that alone reads this ReLU
    node, which then runs in its step; or None."""
    if not _plain_relu(node.layer):
        return None
    reader = _only_reader(node, readers, output_ids, lambda r: type(r) is SeparableConv2D)
    if reader is None or reader.layer.fusable_activation is False or _channels_first(reader.layer):
        return None
    return reader


def _rectifying_relu(
    node: Node, readers: dict[int, list[Node]], output_ids: set[int]
) -> Node | None:
    """The ReLU node to run inside this BatchNormalization node, if it alone reads it."""
    if type(node.layer) is not BatchNormalization:
        return None
    return _only_reader(node, readers, output_ids, _plain_relu)


def _only_reader(
    node: Node, readers: dict[int, list[Node]], output_ids: set[int], wanted: Any
) -> Node | None:
    """The node that alone reads ``node``'s output, if ``wanted(its layer)``; the output is not
    a model output, neither layer has an activity regularizer, and the reader is not called with
    an explicit ``training``."""
    out = node.outputs[0]
    found = readers.get(id(out), [])
    if id(out) in output_ids or len(found) != 1:
        return None
    reader = found[0]
    if not wanted(reader.layer) or "training" in reader.kwargs:
        return None
    if node.layer.activity_regularizer is not None or reader.layer.activity_regularizer is not None:
        return None
    return reader


def _channels_first(layer: Any) -> bool:
    """A layer of ``data_format="channels_first"``, which the fused ops (channels-last) do not
    run."""
    return getattr(layer, "data_format", None) == "channels_first"


def _plain_relu(layer: Any) -> bool:
    return type(layer) in (ReLU, Activation) and layer.activation is activations.relu


def _ends_in_softmax(step: Step) -> bool:
    layer = step.nodes[-1].layer
    plain = not step.fused and layer.activity_regularizer is None
    return plain and bool(getattr(layer, "ends_in_softmax", False))
