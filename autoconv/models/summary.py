"""``model.summary()`` in Keras 3's format: the same table, drawn by the same library (rich),
with the same column widths, "Connected to" for graphs that are not a plain stack, and the
parameter counts with their memory size."""

from __future__ import annotations

import collections
import math
import re
import shutil
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import rich.console
import rich.markup
import rich.table

from autoconv.layers import InputLayer, Layer
from autoconv.models.trainer import Trainer


def _opens(layer: Any) -> bool:
    """Whether ``expand_nested`` lists ``layer``'s sublayers: Keras's opens what has ``layers``,
    a model or a ``Pipeline``, and keeps a layer that merely holds others (``Bidirectional``,
    ``MultiHeadAttention``, a user's block) one row."""
    return isinstance(layer, Trainer) or type(layer).layers is not Layer.layers


def count_params(weights: Sequence[Any]) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def memory_size(weights: Sequence[Any]) -> int:
    unique = {id(w): w for w in weights}.values()
    return sum(math.prod(w.shape) * w.dtype.itemsize for w in unique)


def readable_size(size: float) -> str:
    """``364.54 KB``, as Keras prints memory sizes."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _format_shape(shape: Sequence[Any]) -> str:
    """Keras's ``format_shape``: ``(None, 3)``, and ``(None)`` (no comma) for one axis."""
    return f"({', '.join(map(str, shape))})"


def _shape_text(layer: Any, nodes: set[int] | None) -> str:
    from autoconv.models.functional import Functional  # (it imports the models this serves)

    calls = [n for n in layer._inbound_nodes if nodes is None or id(n) in nodes]
    if calls:
        shapes = [_format_shape(t.shape) for t in calls[-1].outputs]
        return shapes[0] if len(shapes) == 1 else f"[{', '.join(shapes)}]"
    if isinstance(layer, Functional):
        # Called outside a graph (in a subclassed model's call): Keras formats its
        # ``output_shape``, several outputs' as one shape of tuples, ``((None, 2), (None, 2))``.
        shapes = [tuple(t.shape) for t in layer.outputs]
        return _format_shape(shapes[0] if len(shapes) == 1 else shapes)
    if (
        layer.built
        and layer._build_shape is not None
        and not layer.built_at_init
        and _tells_its_shape(type(layer))
    ):
        try:  # (the shape of its build config, as Keras's: "?" for a layer built when made)
            return _format_shape(layer.compute_output_shape(layer._build_shape))
        except (NotImplementedError, ValueError):
            return "?"
    return "?"


def _tells_its_shape(cls: type) -> bool:
    """Whether Keras's layer of ``cls`` gives its output shape outside a graph: a user's layer
    made from ``Layer`` itself has no ``compute_output_shape`` unless it writes one (Keras's
    summary shows "?"), every Keras layer has its own."""
    for base in cls.__mro__:
        if base is Layer:
            return False
        if "compute_output_shape" in vars(base) or base.__module__.startswith("autoconv."):
            return True
    return False


def print_summary(
    model: Any,
    line_length: int | None = None,
    positions: Sequence[float] | None = None,
    print_fn: Callable[[str], None] | None = None,
    expand_nested: bool = False,
    show_trainable: bool = False,
    layer_range: Sequence[str] | None = None,
) -> None:
    graph = model._graph()
    nodes = None if graph is None else {id(n) for n in graph.nodes}
    layers = list(model._layers)  # with the Operations of ops called in a graph, as Keras shows
    # (Keras tells a Sequential by its class's name, a subclass's table being a functional one's)
    sequential_like = type(model).__name__ == "Sequential" or graph is None or _is_chain(graph)
    if sequential_like:
        default_length, positions = 88, positions or [0.45, 0.80, 1.0]
        header, align = ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]
    else:
        default_length, positions = 108, positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        align = ["left", "left", "right", "left"]
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        align.append("center")
    default_length = min(default_length, shutil.get_terminal_size().columns - 4)
    line_length = line_length or default_length
    widths, current = [], 0
    for position in positions:
        width = int(position * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width
    columns = [
        rich.table.Column(name, justify=align[i], width=widths[i]) for i, name in enumerate(header)
    ]
    table = rich.table.Table(*columns, width=line_length, show_lines=True)

    def fields(layer: Any, prefix: str, scope: set[int] | None) -> list[str]:
        name = rich.markup.escape(f"{prefix}{layer.name}")
        kind = layer.keras_entry()["class_name"] if hasattr(layer, "keras_entry") else None
        name += f" ({rich.markup.escape(kind or type(layer).__name__)})"
        if not layer.built:  # (a layer Keras builds when it is made is built: 0)
            params = "0 (unbuilt)"
        else:
            params = f"{layer.count_params():,}"
        row = [name, _shape_text(layer, scope), params]
        if not sequential_like:
            row.append(_connections(layer, nodes))
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        return row

    def rows(layer: Any, level: int, scope: set[int] | None) -> list[list[str]]:
        # (``scope``: the calls that give the shapes, those of the model the layer is listed
        # in; a nested model's layers show their calls in it, as Keras's, whose nested rows
        # show their layers' own calls)
        prefix = "   " * level + "└ " if level else ""
        out = [fields(layer, prefix, scope)]
        if expand_nested and _opens(layer) and layer.layers and layer is not model:
            inner = layer._graph() if hasattr(layer, "_graph") else None
            inner_scope = None if inner is None else {id(n) for n in inner.nodes}
            for sub in layer.layers:
                out += rows(sub, level + 1, inner_scope)
        return out

    start, stop = _layer_range(layers, layer_range)
    for layer in layers[start:stop]:
        for row in rows(layer, 0, nodes):
            table.add_row(*row)

    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    optimizer = model.optimizer if model.compiled else None
    optimizer_built = optimizer is not None and optimizer.built  # (its step count counts)
    optimizer_variables = optimizer.variables if optimizer_built else []
    optimizer_count = count_params(optimizer_variables)
    optimizer_size = sum(
        math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in optimizer_variables
    )
    total = count_params(trainable) + count_params(non_trainable) + optimizer_count
    total_size = memory_size(trainable) + memory_size(non_trainable) + optimizer_size

    console = rich.console.Console(highlight=False, force_terminal=False, color_system=None)
    console.begin_capture()
    console.print(f'Model: "{rich.markup.escape(model.name)}"')
    console.print(table)
    console.print(f" Total params: {total:,} ({readable_size(total_size)})")
    console.print(
        f" Trainable params: {count_params(trainable):,} ({readable_size(memory_size(trainable))})"
    )
    console.print(
        f" Non-trainable params: {count_params(non_trainable):,} "
        f"({readable_size(memory_size(non_trainable))})"
    )
    if optimizer_built:
        console.print(f" Optimizer params: {optimizer_count:,} ({readable_size(optimizer_size)})")
    text = console.end_capture()
    if print_fn is not None:
        print_fn(text)  # the whole table in one call, its last line ended, as Keras's
    else:
        _print(text.rstrip("\n"))


def _print(text: str) -> None:
    print(text)


def _is_chain(graph: Any) -> bool:
    """A graph whose nodes each read one tensor, and no layer twice, and whose every call is
    read by one other at most (Keras's: one node at each depth) prints like a stack."""
    layers = [n.layer for n in graph.nodes]
    if len({id(layer) for layer in layers}) != len(layers):
        return False
    readers = collections.Counter(id(t.node) for n in graph.nodes for t in n.inputs)
    return (
        all(len(n.inputs) <= 1 for n in graph.nodes)
        and len(graph.inputs) == 1
        and all(count <= 1 for count in readers.values())
    )


def _connections(layer: Any, nodes: set[int] | None) -> str:
    if isinstance(layer, InputLayer):
        return "-"
    parts = [
        f"{t.node.layer.name}[{t.node.index}][{t.index}]"
        for node in layer._inbound_nodes
        if nodes is None or id(node) in nodes
        for t in node.inputs + ([] if node.carried_mask is None else [node.carried_mask])
    ]
    return ", ".join(parts) or "-"


def _layer_range(layers: list[Any], layer_range: Sequence[str] | None) -> tuple[int, int]:
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2 or not all(isinstance(r, str) for r in layer_range):
        raise ValueError(f"layer_range must be a list or tuple of 2 strings, got {layer_range!r}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError(
            f"Passed layer_names do not match the layer names in the model. Received: {layer_range}"
        )
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1
