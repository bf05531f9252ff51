"""Functional models: ``autoconv.Model(inputs, outputs)`` over a graph of layer calls.

>>> import autoconv as ac
>>> from autoconv import layers
>>> inputs = ac.Input(shape=(8,))
>>> hidden = layers.Dense(4, activation="relu")(inputs)
>>> outputs = layers.Dense(2)(layers.add([hidden, layers.Dense(4)(inputs)]))
>>> model = ac.Model(inputs, outputs)
>>> model.predict(np.ones((3, 8)), verbose=0).shape
(3, 2)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from autoconv import tree
from autoconv.batches import at_input_rank, input_paths, warn_if_restructured
from autoconv.host_array import HostArray
from autoconv.layers import (
    RNN,
    BatchNormalization,
    Bidirectional,
    GlobalAveragePooling1D,
    Input,
    InputLayer,
    Lambda,
    Pipeline,
    RandomCrop,
    RandomFlip,
    Softmax,
    SymbolicTensor,
    TimeDistributed,
    operation,
)
from autoconv.layers.layer import integer_device_of, mask_parameter, training_parameter
from autoconv.layers.serialization import deserialize, serialize
from autoconv.layers.symbolic import flat_outputs, nodes_in_order
from autoconv.models.functional_config import (
    checked_list,
    keras_history,
    made_tensor,
    map_histories,
    node_arguments,
    ready,
    recorded_tensors,
    replayed,
    tensor_history,
)
from autoconv.models.graph import Graph
from autoconv.models.model import Model
from autoconv.models.sequential import Sequential
from autoconv.naming import to_snake_case, unique_name
from autoconv.ops.masks import keras_mask
from autoconv.tensor import Tensor


class Functional(Model):
    """A model from symbolic ``inputs`` (``autoconv.Input``) to ``outputs``: one tensor, a list,
    or a dict by name. It runs its graph's plan (:mod:`autoconv.models.graph`).

    Dict outputs are flattened by sorted key, as Keras's (``outputs``, ``output_names``,
    ``output_shape`` in that order); their keys name the outputs for compile's per-output
    arguments, the targets and the logs (``aa_loss``), and a call, ``predict`` and
    ``predict_on_batch`` return dicts by key."""

    KERAS_MODULE, KERAS_REGISTERED_NAME = "keras.src.models.functional", "Functional"
    _allow_non_tensor_positional_args = True  # (Keras's: ``model(x, True)`` binds to training)
    _locks_state = False  # (Keras's: a layer may be attached to it after its build)
    keeps_integer_inputs = True  # (each in its Input's dtype: _checked_inputs)

    def __init__(
        self, inputs: Any, outputs: Any, name: str | None = None, trainable: bool = True
    ) -> None:
        # (Keras's name: "functional", or a subclass's own, snake-cased)
        default = "functional" if type(self) is Functional else to_snake_case(type(self).__name__)
        super().__init__(name=name or unique_name(default), trainable=trainable)
        # dicts are flattened by sorted key, as Keras's tree.flatten: model.inputs and the
        # order of the inputs and outputs in the graph, its summary and its config
        if isinstance(inputs, dict):
            _warn_unmatched_keys(inputs)
            inputs = dict(sorted(inputs.items()))
        if isinstance(outputs, dict):
            outputs = dict(sorted(outputs.items()))
        self._input_structure = _structure(inputs)
        self._output_structure = _structure(outputs)
        _check_connected(_flat(inputs), outputs)
        inputs, outputs = _from_any_tensors(inputs, outputs)
        self._functional = Graph(_flat(inputs), _flat(outputs))
        self._layers = self._functional.layers
        self.built = True
        self._build_shape = _restructure(
            [t.shape for t in self._functional.inputs], self._input_structure
        )

    def _graph(self) -> Graph:
        return self._functional

    @property
    def inputs(self) -> list[SymbolicTensor]:
        return list(self._functional.inputs)

    def add_loss(self, loss: Any) -> None:
        """Refused, as Keras 3's functional models refuse it (NotImplementedError): a loss
        made of the graph's symbolic tensors would never be computed."""
        raise NotImplementedError(
            "A functional model does not take add_loss (Keras 3 raises NotImplementedError "
            "too): add the loss in a layer's call, or override compute_loss"
        )

    @property
    def input_shape(self) -> Any:
        """The inputs' shapes in the structure they were given in, a list of one as its one
        shape (Keras's ``Model(model.inputs, ...)``: so a Sequential it starts is built)."""
        shape = self._build_shape
        if isinstance(self._input_structure, tuple):  # nested lists: Keras's flat shapes
            shape = [t.shape for t in self._functional.inputs]
        return shape[0] if isinstance(shape, list) and len(shape) == 1 else shape

    @property
    def outputs(self) -> list[SymbolicTensor]:
        return list(self._functional.outputs)

    @property
    def _output_keys(self) -> list[str] | None:
        structure = self._output_structure  # ["dict", sorted keys] for dict outputs
        return list(structure[1]) if isinstance(structure, list) else None

    @property
    def input(self) -> Any:
        """The model's symbolic inputs in the structure they were given (one, list or dict)."""
        return _restructure(self.inputs, self._input_structure)

    @property
    def output(self) -> Any:
        """The model's symbolic outputs in the structure they were given."""
        return _restructure(self.outputs, self._output_structure)

    @property
    def layers(self) -> list[Any]:
        """The graph's layers, as Keras lists them: its ops functions' Operations are left out
        (``summary`` shows them)."""
        return [layer for layer in self._layers if not isinstance(layer, operation.Operation)]

    @property
    def operations(self) -> list[Any]:
        """Keras's ``operations``: the graph's layers and its ops functions' Operations, in
        the order they run."""
        return list(self._layers)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shapes for inputs of ``input_shape``: one shape, a list, or a dict of
        them by the keys the model was made with (as its call takes the data)."""
        if isinstance(input_shape, dict):
            shapes = _flat_values(input_shape, self)
        else:
            shapes = list(input_shape) if isinstance(input_shape, list) else [input_shape]
        names = [t.node.layer.name for t in self._functional.inputs]
        if isinstance(self._input_structure, list):
            names = input_paths(self)
        for index, (shape, expected) in enumerate(
            zip(shapes, self._functional.inputs, strict=False)
        ):
            if len(shape) != len(expected.shape) or any(
                e is not None and s is not None and s != e
                for s, e in zip(shape[1:], expected.shape[1:], strict=False)
            ):
                raise _incompatible(self, index, names[index], expected, tuple(shape))
        return _restructure(self._functional.output_shapes(shapes), self._output_structure)

    def _outputs(self, inputs: list[Tensor], training: bool) -> tuple[list[Tensor], list[bool]]:
        return self._functional.run(_checked_inputs(self, inputs), training)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        warn_if_restructured(self, inputs, called=True)
        values = _checked_inputs(self, _flat_values(inputs, self))
        outputs, logits = self._functional.run(values, training)
        if any(logits):  # a direct call returns what the layers compute: apply the softmax
            outputs = [
                o.softmax() if is_logits else o
                for o, is_logits in zip(outputs, logits, strict=True)
            ]
        if self._output_structure in ("list", "tuple") and len(outputs) == 1:
            return outputs[0]  # (a list of one output gives it alone, as Keras's call)
        return _restructure(outputs, self._output_structure)

    def _as_given(self, values: list[Any], outputs: bool = True) -> Any:
        """Values in the structure of the model's outputs (or inputs); inputs that are not one
        per model input, or came in a dict of other keys, are data a step of the user's takes
        as it came (see :func:`autoconv.batches.input_arrays`), and so are targets that are not
        one per output (:func:`autoconv.batches.target_arrays`)."""
        if outputs and len(values) != len(self._functional.outputs):
            return super()._as_given(values)
        if outputs:
            return _restructure(values, self._output_structure)
        if self._input_keys is not None or len(values) != len(self._functional.inputs):
            return super()._as_given(values, outputs=False)
        return _restructure(values, self._input_structure)

    def _returned_outputs(self, values: list[Any]) -> Any:
        """``predict``'s outputs; lists and tuples nested in the outputs come back nested."""
        if isinstance(self._output_structure, tuple):  # ("nested", the outputs' nesting)
            return _restructure(self._in_output_dtypes(values), self._output_structure)
        return super()._returned_outputs(values)

    def get_build_config(self) -> dict[str, Any]:
        """``{"input_shape": None}``, as Keras writes for a functional model (its graph, not an
        input shape, builds it)."""
        return {"input_shape": None}

    def get_config(self) -> dict[str, Any]:
        """Keras 3's functional config: every layer (Keras's order, Input layers included)
        with its calls in this graph (``inbound_nodes``: the tensors each read, as
        ``["layer", node, tensor]`` histories), and the model's input and output tensors in the
        structure they were given (one, a list, or a dict by name)."""
        nodes = {id(node) for node in self._functional.nodes}
        numbers = {  # each node's number among its layer's calls in this graph
            id(node): i
            for layer in self._layers
            for i, node in enumerate(n for n in layer._inbound_nodes if id(n) in nodes)
        }
        layers = []
        for layer in self._layers:
            entry = serialize(layer)
            entry["name"] = layer.name
            entry["inbound_nodes"] = [
                _node_config(node, numbers)
                for node in layer._inbound_nodes
                if id(node) in nodes and node.inputs
            ]
            layers.append(entry)

        def history(tensor: SymbolicTensor) -> list[Any]:
            # Keras numbers a nested functional model's calls from 1 here (its first node is
            # the one it was made with) and from 0 in inbound_nodes.
            nested = type(tensor.node.layer).__name__ == "Functional"
            return [tensor.node.layer.name, numbers[id(tensor.node)] + nested, tensor.index]

        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": layers,
            "input_layers": _restructure([history(t) for t in self.inputs], self._input_structure),
            "output_layers": _restructure(
                [history(t) for t in self.outputs], self._output_structure
            ),
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Functional:
        """The model a Keras 3 functional config describes: each layer made, then its calls
        replayed on the symbolic tensors as soon as the tensors they read exist."""
        entries = checked_list(config.get("layers"), "layers")
        made: dict[str, Any] = {}
        pending: list[tuple[str, Any, list[dict]]] = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise ValueError("each layer of a functional config needs a name")
            calls = checked_list(entry.get("inbound_nodes", []), "inbound_nodes")
            if str(entry.get("module", "")).startswith("keras.src.ops."):
                pending.append((entry["name"], entry, list(calls)))  # made when replayed
                continue
            layer = deserialize(entry, custom_objects)
            made[entry["name"]] = layer
            if not isinstance(layer, InputLayer):
                pending.append((entry["name"], layer, list(calls)))
        outputs: dict[tuple[str, int], SymbolicTensor] = {}  # (layer name, call) -> tensor
        recorded = recorded_tensors(entries)
        for name, layer in made.items():
            if isinstance(layer, InputLayer):
                outputs[(name, 0)] = layer.output
        while any(calls for _, _, calls in pending):
            progressed = False
            for name, layer, calls in pending:
                is_operation = isinstance(layer, dict)
                while calls and ready(calls[0], outputs, is_operation):
                    number = sum(1 for made_name, _ in outputs if made_name == name)
                    if is_operation:  # an ops function: its entry and its one node
                        outputs[(name, number)] = operation.replay(
                            layer,
                            calls.pop(0),
                            lambda item: made_tensor(outputs, *keras_history(item)),
                            recorded.get((name, number)),
                        )
                        made[name] = flat_outputs(outputs[(name, number)])[0].node.layer
                    else:
                        args, kwargs = node_arguments(calls.pop(0), outputs)
                        if kwargs.get("training") == _default_training(layer):
                            kwargs.pop("training", None)  # Keras's default, recorded
                        if args and kwargs.get("mask") is _own_mask(args[0]):
                            kwargs.pop("mask", None)  # its input's, which Keras's call fills in
                        outputs[(name, number)] = replayed(layer, args, kwargs)
                    progressed = True
            if not progressed:
                waiting = sorted(name for name, _, calls in pending if calls)
                raise ValueError(
                    "Invalid Functional model configuration: the calls of layers "
                    f"{waiting} read tensors no layer makes (a loop, or a missing node)"
                )

        def tensor(history: Any) -> SymbolicTensor:
            name, number, index = tensor_history(history)
            nested = type(made.get(name)).__name__ == "Functional"
            return made_tensor(outputs, name, number - nested, index)

        inputs = map_histories(config.get("input_layers"), tensor)
        model_outputs = map_histories(config.get("output_layers"), tensor)
        model = cls(inputs, model_outputs, name=config.get("name"))
        if config.get("trainable", True) is False:  # (True would unfreeze frozen layers)
            model.trainable = False
        return model


def _incompatible(model: Any, index: int, name: str, tensor: Any, shape: tuple) -> ValueError:
    """Keras's input spec error: its spec's shape has no batch size (an Input's is not
    checked)."""
    expected = (None, *tuple(tensor.shape)[1:])
    return ValueError(
        f"Input {index} with name '{name}' of layer '{model.name}' is incompatible with the "
        f"layer: expected shape={expected}, found shape={shape}"
    )


def _check_connected(inputs: list[Any], outputs: Any) -> None:
    """Keras's error for an output computed from an ``Input`` that is not among the model's
    inputs (keras.io's translation tutorial makes such a model by mistake), naming the
    output by its path in the outputs."""
    given = {id(getattr(t, "node", None)) for t in inputs}
    for path, output in tree.flatten_with_path(outputs):
        stack, seen = [getattr(output, "node", None)], set()
        while stack:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            if id(node) in given:  # (an input may be any tensor of a graph, as Keras's)
                continue
            if isinstance(node.layer, InputLayer):
                where = ".".join(str(p) for p in path)
                raise ValueError(f"Output with path `{where}` is not connected to `inputs`")
            stack.extend(node.parents)


def _warn_unmatched_keys(inputs: dict[str, Any]) -> None:
    """Keras's warning for a dict of inputs whose key is not its tensor's name (the model
    works all the same: its call takes the dict by these keys)."""
    for key, value in inputs.items():
        if isinstance(value, SymbolicTensor) and key != value.name:
            warnings.warn(
                "When providing `inputs` as a dict, all keys in the dict must match the names "
                f"of the corresponding tensors. Received key '{key}' mapping to value {value} "
                f"which has name '{value.name}'. Change the tensor name to '{key}' (via "
                f"`Input(..., name='{key}')`)",
                stacklevel=3,
            )


def _from_any_tensors(inputs: Any, outputs: Any) -> tuple[Any, Any]:
    """Keras's ``clone_graph_nodes``: a model may start at any tensors of a graph (keras-io's
    BASNet makes models of a ResNet's blocks), each one that is not an Input's replaced by a new
    Input named after it (``keras_tensor_5CLONE``), and the calls from there to the outputs
    made again on it, with the same layers (their weights shared)."""
    flat = _flat(inputs)
    if all(isinstance(t.node.layer, InputLayer) for t in flat if hasattr(t, "node")):
        return inputs, outputs
    made: dict[int, Any] = {}
    for t in flat:
        if not isinstance(t.node.layer, InputLayer):
            made[id(t)] = Input(batch_shape=t.shape, dtype=t.dtype, name=f"{t.name}CLONE")
        else:
            made[id(t)] = t
    for node in nodes_in_order(_flat(outputs), set(made)):
        args = [made[id(t)] for t in node.inputs]
        if isinstance(node.layer, operation.Operation):  # (recorded again, as clone_model's)
            op = node.layer
            out = operation.Operation(op.function, op.arguments, op.output_shape, name=op.name)(
                args
            )
        else:  # the call's arguments as recorded, the new tensors in place
            call_args, kwargs = node.call_arguments(args)
            out = node.layer(*call_args, **kwargs)
        made.update(zip(map(id, node.outputs), flat_outputs(out), strict=True))
    new_inputs = tree.map_structure(lambda t: made[id(t)], inputs)
    return new_inputs, tree.map_structure(lambda t: made[id(t)], outputs)


# --------------------------------------------------------------------------- structures
# A model's inputs and outputs are one tensor ("single"), a list, a tuple, a dict
# (["dict", keys]) or lists and tuples nested in a list or tuple (("nested", their nesting));
# calling the model gives them back so, as Keras's.
def _structure(value: Any) -> Any:
    if isinstance(value, dict):
        return ["dict", list(value)]
    if isinstance(value, list | tuple) and any(isinstance(v, list | tuple) for v in value):
        return ("nested", tree.map_structure(lambda _: None, value))  # (the nesting alone)
    if isinstance(value, tuple):
        return "tuple"
    if isinstance(value, list):
        return "list"
    return "single"


def _flat(value: Any) -> list[Any]:
    """The tensors in order: a dict's values, a list's or tuple's items (lists and tuples
    nested in them flattened depth first, as Keras's ``tree.flatten``), or the one tensor."""
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list | tuple):
        return tree.flatten(value) if isinstance(_structure(value), tuple) else list(value)
    return [value]


def _restructure(values: list[Any], structure: Any) -> Any:
    if isinstance(structure, tuple):  # ("nested", the outputs' nesting)
        return tree.pack_sequence_as(structure[1], list(values))
    if structure == "single":
        return values[0]
    if structure == "list":
        return list(values)
    if structure == "tuple":
        return tuple(values)
    return dict(zip(structure[1], values, strict=True))


def _flat_values(inputs: Any, model: Functional) -> list[Any]:
    """The call's inputs in the graph's input order (a dict is matched by input name)."""
    if isinstance(inputs, dict):
        names = [t.node.layer.name for t in model.inputs]
        keys = model._input_structure[1] if isinstance(model._input_structure, list) else names
        missing = [k for k in keys if k not in inputs]
        if missing:
            raise ValueError(f"model {model.name}: inputs {missing} are missing")
        return [inputs[k] for k in keys]
    return _flat(inputs)


def _checked_inputs(model: Functional, values: list[Any]) -> list[Any]:
    """The call's inputs checked against the model's, each brought to its input's rank as
    Keras's functional models bring them (:func:`autoconv.batches.at_input_rank`), with
    Keras's errors, and to its Input's dtype (:meth:`Graph.as_declared`)."""
    expected = model.inputs
    if len(values) != len(expected):
        raise ValueError(f"model {model.name} expects {len(expected)} input(s), got {len(values)}")
    paths = input_paths(model)
    checked = []
    for index, (value, tensor, path) in enumerate(zip(values, expected, paths, strict=True)):
        fitted = at_input_rank(value, tensor, path)
        if fitted is None:
            name = path if isinstance(model._input_structure, list) else tensor.node.layer.name
            raise _incompatible(model, index, name, tensor, tuple(value.shape))
        checked.append(fitted)
    return model._functional.as_declared(checked, model.dtype, integer_device_of(model))


# ---------------------------------------------------------------------- Keras's configs
def _node_config(node: Any, numbers: dict[int, int]) -> dict[str, Any]:
    """One call in Keras's form: its input tensors as ``args`` (a list of tensors for a list
    call; an operation's arguments as its call takes them), an explicit ``training`` and the
    ``mask`` Keras adds in ``kwargs`` (:func:`_node_kwargs`)."""

    def entry(t: SymbolicTensor) -> dict[str, Any]:
        return {
            "class_name": "__keras_tensor__",
            "config": {
                "shape": list(t.shape),
                "dtype": t.dtype,
                "keras_history": [t.node.layer.name, numbers[id(t.node)], t.index],
            },
        }

    if isinstance(node.layer, operation.Operation):
        return {"args": node.layer.node_arguments(entry), "kwargs": {}}
    carried = {} if node.carried_mask is None else {"mask": entry(node.carried_mask)}
    if not node.plain:  # Keras's node arguments as given, tensors in place
        kwargs = {k: _entries(v, entry) for k, v in node.kwargs.items()}
        return {"args": [_entries(a, entry) for a in node.args], "kwargs": kwargs | carried}
    tensors = [entry(t) for t in node.inputs]
    kwargs = _node_kwargs(node)
    return {"args": [tensors] if node.list_call else tensors, "kwargs": kwargs | carried}


# Keras's layers whose call takes a ``mask``, models too: Keras records ``mask=None`` in their
# calls' kwargs, except where its call converted the inputs first (see _node_kwargs).
_CALLS_WITH_MASK = (
    BatchNormalization, GlobalAveragePooling1D, Softmax, Sequential, RNN, Bidirectional,
    TimeDistributed, Pipeline, Lambda,
)  # fmt: skip

# Keras's layers that take their inputs as they come (``_convert_input_args = False``, a
# functional model too): their calls record what Keras's call adds whatever the inputs.
_UNCONVERTED = (RandomFlip, RandomCrop, Pipeline)


def _entries(value: Any, entry: Any) -> Any:
    """A call's argument as Keras writes it: each symbolic tensor as its ``entry``, an array
    (a constant of the call) as Keras's ``__numpy__`` entry, a tensor (a Tensor, or what an op
    gives as Keras's tensors, a HostArray) as its ``__tensor__`` one, tuples as lists, dicts by
    key."""
    if isinstance(value, SymbolicTensor):
        return entry(value)
    if isinstance(value, np.ndarray | Tensor):
        values = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
        return {
            "class_name": "__tensor__" if isinstance(value, Tensor | HostArray) else "__numpy__",
            "config": {"value": values.tolist(), "dtype": values.dtype.name},
        }
    if isinstance(value, list | tuple):
        return [_entries(v, entry) for v in value]
    if isinstance(value, dict):
        return {key: _entries(v, entry) for key, v in value.items()}
    return value


def _default_training(layer: Any) -> bool | None:
    """The default of ``training`` in ``layer``'s call (Dropout's False, an augmentation's
    True), which Keras 3.15 records in a functional config's calls that gave none: on reading,
    such a call runs as one that gave none (``fit`` trains a Dropout), as in Keras."""
    return training_parameter(type(layer))[1]


def _node_kwargs(node: Any) -> dict[str, Any]:
    """A layer call's ``kwargs`` as Keras records them: its ``training`` (explicit, or its
    call's default where that is not None), then ``mask`` (None, or a None per tensor of a
    list call) for a layer whose Keras call takes one. Keras's call adds the default and the
    mask to the very dict it records only where it converted no input: a functional model's
    call and those of :data:`_UNCONVERTED` always, the others' when called on one tensor of
    their dtype without keyword arguments (else it copies its kwargs before adding them)."""
    plain = isinstance(node.layer, (Functional, *_UNCONVERTED)) or (
        not node.kwargs and not node.list_call and node.inputs[0].dtype == node.layer.dtype
    )
    training = node.kwargs.get("training", _default_training(node.layer) if plain else None)
    kwargs = {"training": training} if training is not None else {}
    mask = [None] * len(node.inputs) if node.list_call else None
    if plain and (
        isinstance(node.layer, (Functional, *_CALLS_WITH_MASK))
        or _users_call_takes_mask(node.layer)
    ):
        return kwargs | {"mask": mask}
    return kwargs


def _own_mask(value: Any) -> Any:
    """The mask a call's input carries (a graph tensor), or a stand-in none matches."""
    mask = keras_mask(value) if isinstance(value, SymbolicTensor) else None
    return object() if mask is None else mask


def _users_call_takes_mask(layer: Any) -> bool:
    """Whether ``layer``'s ``call`` is a user's (not autoconv's, whose parameters may differ
    from Keras's) and takes a ``mask``, as keras.io's CycleGAN ``ReflectionPadding2D``'s."""
    owner = next(c for c in type(layer).__mro__ if "call" in vars(c))
    return not owner.__module__.startswith("autoconv.") and mask_parameter(owner)[0]
