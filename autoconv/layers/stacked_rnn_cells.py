"""``StackedRNNCells`` (cells applied in turn at each step, as one cell) and what the RNN layer
and it share to call any cell, following Keras 3's ``keras/src/layers/rnn/stacked_rnn_cells.py``."""

from __future__ import annotations

import inspect
from typing import Any

from autoconv.layers import serialization
from autoconv.layers.layer import Layer, Shape
from autoconv.layers.rnn_cells import zeros_state
from autoconv.tensor import Tensor


def _output_size(cell: Any) -> int:
    """A cell's output size: its ``output_size``, else its (first) state size."""
    if getattr(cell, "output_size", None) is not None:
        return cell.output_size
    size = cell.state_size
    return size[0] if isinstance(size, list | tuple) else size


def check_cell(cell: Any, message: str) -> None:
    """A cell has a ``call`` method and a ``state_size`` (``message`` otherwise, Keras's)."""
    for attribute in ("call", "state_size"):
        if attribute not in dir(cell):
            raise ValueError(message.format(attribute=attribute, cell=cell))


class StackedRNNCells(Layer):
    """``cells`` applied in turn at each step, each one's output the next one's input: a
    cell of them all. Its states are each cell's (a list of them, ``state_size`` a list of
    the cells' state sizes); its output is the last cell's."""

    def __init__(self, cells: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for cell in cells:
            check_cell(
                cell, "All cells must have a `{attribute}`. Received cell without it: {cell}"
            )
        self.cells = list(cells)

    @property
    def state_size(self) -> list[Any]:
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self) -> int:
        return _output_size(self.cells[-1])

    def get_initial_state(self, batch_size: int | None = None) -> list[Any]:
        device = self.weights[0].device if self.weights else "cpu"
        states = []
        for cell in self.cells:
            if hasattr(cell, "get_initial_state"):
                states.append(cell.get_initial_state(batch_size=batch_size))
            elif isinstance(cell.state_size, int):
                states.append(zeros_state(batch_size, cell.state_size, self.dtype, device))
            else:
                states.append([zeros_state(batch_size, size, self.dtype, device)
                               for size in cell.state_size])  # fmt: skip
        return states

    def build(self, input_shape: Shape) -> None:
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell.build(input_shape)
                cell.built = True
            input_shape = (input_shape[0], _output_size(cell))

    def call(self, inputs: Tensor, states: Any, training: bool = False) -> tuple[Tensor, Any]:
        new_states = []
        for cell, state in zip(self.cells, states, strict=True):
            listed = isinstance(state, list | tuple)
            inputs, state = call_cell(cell, inputs, list(state) if listed else [state], training)
            if len(state) == 1 and not listed:
                state = state[0]
            new_states.append(state)
        return inputs, new_states[0] if len(new_states) == 1 else new_states

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "cells": [serialization.serialize(cell) for cell in self.cells]
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> StackedRNNCells:
        arguments = dict(config)
        cells = [serialization.deserialize(c, custom_objects) for c in arguments.pop("cells")]
        return cls(cells, **serialization.keras_arguments(cls, arguments))


def call_cell(cell: Any, inputs: Tensor, states: list, training: bool) -> tuple[Tensor, list]:
    """One step of ``cell`` (its ``training`` given where its ``call`` takes one); its new
    states as a list."""
    takes_training = "training" in inspect.signature(cell.call).parameters
    output, new_states = cell(inputs, states, **({"training": training} if takes_training else {}))
    return output, list(new_states) if isinstance(new_states, list | tuple) else [new_states]
