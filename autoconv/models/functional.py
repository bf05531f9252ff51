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

from typing import Any

import numpy as np  # noqa: F401 - the docstring example uses it

from autoconv.layers import SymbolicTensor
from autoconv.layers.layer import unique_name
from autoconv.models.graph import Graph
from autoconv.models.model import Model
from autoconv.tensor import Tensor


class Functional(Model):
    """A model from symbolic ``inputs`` (``autoconv.Input``) to ``outputs``: one tensor, a list,
    or a dict by name. It runs its graph's plan (:mod:`autoconv.models.graph`)."""

    def __init__(
        self, inputs: Any, outputs: Any, name: str | None = None, trainable: bool = True
    ) -> None:
        super().__init__(name=name or unique_name("functional"), trainable=trainable)
        self._input_structure = _structure(inputs)
        self._output_structure = _structure(outputs)
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

    @property
    def outputs(self) -> list[SymbolicTensor]:
        return list(self._functional.outputs)

    @property
    def layers(self) -> list[Any]:
        return list(self._layers)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = _flat(input_shape) if isinstance(input_shape, list) else [input_shape]
        for shape, expected in zip(shapes, self._functional.inputs, strict=False):
            if len(shape) != len(expected.shape) or any(
                e is not None and s is not None and s != e
                for s, e in zip(shape[1:], expected.shape[1:], strict=False)
            ):
                raise ValueError(
                    f"model {self.name} expects inputs of shape {expected.shape}, got {shape}"
                )
        return _restructure(self._functional.output_shapes(), self._output_structure)

    def _outputs(self, inputs: list[Tensor], training: bool) -> tuple[list[Tensor], list[bool]]:
        _check_inputs(self, inputs)
        return self._functional.run(inputs, training)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        values = _flat_values(inputs, self)
        _check_inputs(self, values)
        outputs, logits = self._functional.run(values, training)
        if any(logits):  # a direct call returns what the layers compute: apply the softmax
            outputs = [
                o.softmax() if is_logits else o
                for o, is_logits in zip(outputs, logits, strict=True)
            ]
        return _restructure(outputs, self._output_structure)

    def get_config(self) -> dict[str, Any]:
        """Keras's functional config: each layer with the nodes it reads, and the graph's
        input and output tensors as [layer name, node index, tensor index]."""
        from autoconv.models.saving import layer_config

        node_ids = {id(node) for node in self._functional.nodes}
        layers = []
        for layer in self._layers:
            calls = [node for node in layer._inbound_nodes if id(node) in node_ids]
            entry = layer_config(layer)
            entry["inbound_nodes"] = [
                [[t.node.layer.name, t.node.index, 0] for t in node.inputs] for node in calls
            ]
            entry["node_indices"] = [node.index for node in calls]
            # a call's explicit training= (BatchNormalization(...)(x, training=False)), or None
            entry["call_training"] = [node.kwargs.get("training") for node in calls]
            layers.append(entry)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": layers,
            "input_layers": [[t.node.layer.name, t.node.index, 0] for t in self.inputs],
            "output_layers": [[t.node.layer.name, t.node.index, 0] for t in self.outputs],
            "input_structure": self._input_structure,
            "output_structure": self._output_structure,
        }


# --------------------------------------------------------------------------- structures
# A model's inputs and outputs are one tensor ("single"), a list, or a dict (["dict", keys]).
def _structure(value: Any) -> Any:
    if isinstance(value, dict):
        return ["dict", list(value)]
    if isinstance(value, list | tuple):
        return "list"
    return "single"


def _flat(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _restructure(values: list[Any], structure: Any) -> Any:
    if structure == "single":
        return values[0]
    if structure == "list":
        return list(values)
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


def _check_inputs(model: Functional, values: list[Any]) -> None:
    expected = model.inputs
    if len(values) != len(expected):
        raise ValueError(f"model {model.name} expects {len(expected)} input(s), got {len(values)}")
    for value, tensor in zip(values, expected, strict=True):
        shape = tuple(value.shape)
        if len(shape) != len(tensor.shape) or any(
            e is not None and s != e for s, e in zip(shape[1:], tensor.shape[1:], strict=True)
        ):
            layer = tensor.node.layer
            raise ValueError(
                f"Input {layer.name} of model {model.name} expects shape {tensor.shape}, got "
                f"{shape}"
            )
