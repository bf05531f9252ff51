"""``keras.utils.plot_model`` and ``model_to_dot`` without pydot or Graphviz.

One walk over the model (:func:`model_graph`) gives what Keras's picture shows: a box per layer
with the label Keras builds for the flags given (name, class, activation, shapes, dtype,
trainable), the connections between them, and nested models as clusters with
``expand_nested``. From that description ``plot_model`` writes Graphviz's DOT text itself
(``.dot``, ``.gv``) or draws the picture with Pillow (:mod:`autoconv.plot_drawing`: any format
Pillow writes, PNG by default); ``model_to_dot`` turns it into a ``pydot.Dot`` where pydot is
installed, as Keras returns.

>>> import autoconv as ac
>>> from autoconv import layers
>>> model = ac.Sequential([ac.Input((8,)), layers.Dense(4, name="hidden")])
>>> dot = to_dot(model_graph(model, show_layer_names=True))
>>> dot.splitlines()[:2]
['digraph G {', 'rankdir=TB;']
>>> print(dot.splitlines()[6].replace("><", ">\\n<"))
0 [label=<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">
<tr>
<td colspan="1" bgcolor="black">
<font point-size="16" color="white">
<b>hidden</b> (Dense)</font>
</td>
</tr>
</table>>, fontname=Helvetica, border=0, margin=0];
"""

from __future__ import annotations

import functools
import html
import importlib
import itertools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autoconv.atomic import check_target, write_atomically
from autoconv.layers import Layer, Operation, ReLU, Softmax
from autoconv.models import Functional, Sequential
from autoconv.plot_drawing import draw
from autoconv.plot_graph import Box, Cell, ModelGraph

RANKDIRS = ("TB", "LR", "BT", "RL")  # Graphviz's values; Keras passes rankdir on to it
DOT_EXTENSIONS = (".dot", ".gv")
# The formats IPython's Image shows in a notebook (plot_model returns one for these).
IPYTHON_FORMATS = {"PNG": "png", "JPEG": "jpeg", "GIF": "gif", "WEBP": "webp"}


def model_graph(
    model: Any,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = False,
    expand_nested: bool = False,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
) -> ModelGraph:
    """What Keras's picture of ``model`` shows: a Sequential's layers as a chain (no Input
    box), a functional model's layers (Input layers and ops included) with an edge per tensor
    a layer reads, a subclassed model as one box. With ``expand_nested`` a nested Sequential
    or functional model is a :class:`ModelGraph` of its own, and edges go to and from the
    layers inside it."""
    box = functools.partial(
        _box,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
    )
    return _walk(model, box, expand_nested)


def _walk(model: Any, box: Callable[[Any], Box], expand_nested: bool) -> ModelGraph:
    graph = model._graph() if isinstance(model, Sequential | Functional) else None
    if graph is None:
        return ModelGraph(model.name, [box(model)], [])
    sequential = isinstance(model, Sequential)
    layers = model.layers if sequential else model._layers
    items = [
        _walk(layer, box, True)
        if expand_nested and isinstance(layer, Sequential | Functional)
        else box(layer)
        for layer in layers
    ]
    if sequential and not expand_nested:
        return ModelGraph(
            model.name, items, [(id(a), id(b)) for a, b in itertools.pairwise(layers)]
        )
    nodes = {id(node) for node in graph.nodes}
    edges: dict[tuple[int, int], None] = {}  # each once, in order
    # A Sequential's first layer reads its Input, which has no box.
    for layer in layers[1:] if sequential else layers:
        for node in layer._inbound_nodes:
            if id(node) not in nodes:  # a call of a shared layer in another model
                continue
            for index, tensor in enumerate(node.inputs):
                source, destination = tensor.node.layer, layer
                if expand_nested:  # the boxes inside nested models
                    source, destination = _last_layer(source), _first_layer(destination, index)
                edges[(id(source), id(destination))] = None
    return ModelGraph(model.name, items, list(edges))


def _last_layer(layer: Any) -> Any:
    """The layer inside (nested) models that makes a model's output (a model called in a
    graph has one output)."""
    while isinstance(layer, Sequential | Functional):
        layer = layer._graph().outputs[0].node.layer
    return layer


def _first_layer(layer: Any, index: int) -> Any:
    """The layer inside (nested) models that reads a model's ``index``-th input: a
    functional model's Input layer, a Sequential's first layer."""
    while isinstance(layer, Sequential | Functional):
        layer = layer.layers[0] if isinstance(layer, Sequential) else layer.inputs[index].node.layer
    return layer


def _box(
    layer: Any,
    show_shapes: bool,
    show_dtype: bool,
    show_layer_names: bool,
    show_layer_activations: bool,
    show_trainable: bool,
) -> Box:
    """Keras's ``make_layer_label`` (keras/src/utils/model_visualization.py) as data."""
    class_name = (
        layer.keras_entry()["class_name"]
        if isinstance(layer, Operation)  # an ops function: Keras's Operation class
        else type(layer).__name__
    )
    box = Box(id(layer), layer.name if show_layer_names else None, class_name)
    box.colspan = max(1, show_dtype + show_trainable + 2 * show_shapes)
    # Keras's ReLU and Softmax layers have no `activation`; autoconv's are Activation layers.
    activation = getattr(layer, "activation", None)
    if show_layer_activations and activation is not None and not isinstance(layer, ReLU | Softmax):
        box.activation = _activation_name(activation)
    inputs, outputs = _symbolic(layer, "input"), _symbolic(layer, "output")
    if show_shapes:
        if class_name != "InputLayer":
            box.cells.append(Cell("Input shape: ", _shape_text(inputs)))
        box.cells.append(Cell("Output shape: ", _shape_text(outputs)))
    if show_dtype:
        dtype = None if outputs is None else _map(outputs, lambda t: t.dtype)
        box.cells.append(Cell("Output dtype: ", f"{dtype or '?'}"))
    if show_trainable and layer.weights:
        if layer.trainable:
            box.cells.append(Cell("", "Trainable", "forestgreen"))
        else:
            box.cells.append(Cell("", "Non-trainable", "firebrick"))
    return box


def _activation_name(activation: Any) -> str:
    for attribute in ("name", "__name__"):
        if hasattr(activation, attribute):
            return str(getattr(activation, attribute))
    return str(activation)


def _symbolic(layer: Any, which: str) -> Any:
    """Keras's ``layer.input`` / ``layer.output``: a functional model's own, in the structure
    it was given; another layer's at its first call, one tensor or a list of several; None
    for a layer never called on symbolic tensors."""
    if isinstance(layer, Functional):
        return getattr(layer, which)
    if not layer._inbound_nodes:
        return None
    node = layer._inbound_nodes[0]
    tensors = node.inputs if which == "input" else node.outputs
    return tensors[0] if len(tensors) == 1 else list(tensors)


def _map(value: Any, leaf: Any) -> Any:
    if isinstance(value, dict):
        return {key: leaf(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [leaf(v) for v in value]
    return leaf(value)


def _shape_text(value: Any) -> str:
    if value is None:
        return "?"
    shapes = _map(value, lambda t: t.shape)
    if isinstance(shapes, dict):
        return ", ".join(f"{key}: {shape}" for key, shape in shapes.items())
    return str(shapes)


# ---------------------------------------------------------------------------- DOT text
def label_html(box: Box) -> str:
    """The box's label as the HTML-like table Keras gives Graphviz, outer ``<...>`` included."""
    text = html.escape  # names and values are text in Graphviz's HTML labels
    colspan = box.colspan
    title = (
        f"<b>{text(box.name)}</b> ({text(box.class_name)})"
        if box.name is not None
        else f"<b>{text(box.class_name)}</b>"
    )
    table = '<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">'
    table += (
        f'<tr><td colspan="{colspan}" bgcolor="black"><font point-size="16" color="white">'
        f"{title}</font></td></tr>"
    )
    if box.activation is not None:
        table += (
            f'<tr><td bgcolor="white" colspan="{colspan}"><font point-size="14">'
            f"Activation: <b>{text(box.activation)}</b></font></td></tr>"
        )
    cells = []
    for cell in box.cells:
        if cell.color == "white":
            cells.append(
                f'<td bgcolor="white"><font point-size="14">{cell.caption}'
                f"<b>{text(cell.value)}</b></font></td>"
            )
        else:
            cells.append(
                f'<td bgcolor="{cell.color}"><font point-size="14" color="white">'
                f"<b>{cell.value}</b></font></td>"
            )
    if cells:
        table += f"<tr>{''.join(cells)}</tr>"
    return table + "</table>>"


def node_ids(graph: ModelGraph) -> dict[int, str]:
    """A DOT node id per box: its number in drawing order (Keras uses the layer's ``id``)."""
    ids: dict[int, str] = {}
    for box in graph.boxes():
        ids.setdefault(box.key, str(len(ids)))
    return ids


def to_dot(graph: ModelGraph, rankdir: str = "TB", dpi: float = 200, splines: str = "ortho") -> str:
    """Graphviz DOT text of ``graph``, as pydot writes the graph Keras's ``model_to_dot``
    makes (the same attributes, a dashed cluster per expanded nested model)."""
    ids = node_ids(graph)
    lines = [
        "digraph G {",
        f"rankdir={_dot_id(rankdir, attribute=True)};",
        "concentrate=true;",
        f"dpi={dpi};",
        f"splines={_dot_id(splines, attribute=True)};",
        "node [shape=record];",
    ]

    def add(model: ModelGraph) -> None:
        for item in model.items:
            if isinstance(item, ModelGraph):
                lines.extend(
                    [
                        f"subgraph {_dot_id('cluster_' + item.name)} {{",
                        "style=dashed;",
                        f"label={_dot_id(item.name, attribute=True)};",
                        "labeljust=l;",
                    ]
                )
                add(item)
                lines.append("}")
            else:
                lines.append(
                    f"{ids[item.key]} [label={label_html(item)}, fontname=Helvetica, border=0, "
                    "margin=0];"
                )
        lines.extend(f"{ids[a]} -> {ids[b]} [penwidth=2];" for a, b in model.edges)

    add(graph)
    return "\n".join([*lines, "}", ""])


def _dot_id(text: str, attribute: bool = False) -> str:
    """``text`` in DOT, quoted where pydot quotes it: a number bare, a word bare (an
    attribute's value only of letters and digits, an id with ``_`` too), anything else
    quoted."""
    word = "[A-Za-z][A-Za-z0-9]*" if attribute else "[A-Za-z_][A-Za-z0-9_]*"
    number = r"[0-9]+\.?[0-9]*|[0-9]*\.[0-9]+"
    keyword = text.lower() in ("graph", "digraph", "subgraph", "node", "edge", "strict")
    if re.fullmatch(f"{word}|{number}", text) and not keyword:
        return text
    escaped = text.replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


# ------------------------------------------------------------------------- public API
def model_to_dot(
    model: Any,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: float = 200,
    subgraph: bool = False,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    splines: str = "ortho",
    **kwargs: Any,
) -> Any:
    """The model's graph as a ``pydot.Dot`` (a ``pydot.Cluster`` with ``subgraph=True``), as
    Keras's ``keras.utils.model_to_dot``; it needs pydot (``pip install pydot``).
    ``plot_model`` does not: it writes DOT text and pictures itself."""
    _check(model, rankdir, dpi, splines, kwargs)
    pydot = _pydot()
    if pydot is None:
        raise ImportError("You must install pydot (`pip install pydot`) for model_to_dot to work.")
    graph = model_graph(
        model,
        show_shapes,
        show_dtype,
        show_layer_names,
        expand_nested,
        show_layer_activations,
        show_trainable,
    )
    ids = node_ids(graph)

    def build(model: ModelGraph, cluster: bool) -> Any:
        if cluster:
            dot = pydot.Cluster(style="dashed", graph_name=model.name)
            dot.set("label", model.name)
            dot.set("labeljust", "l")
        else:
            dot = pydot.Dot()
            dot.set("rankdir", rankdir)
            dot.set("concentrate", True)
            dot.set("dpi", dpi)
            dot.set("splines", splines)
            dot.set_node_defaults(shape="record")
        for item in model.items:
            if isinstance(item, ModelGraph):
                dot.add_subgraph(build(item, True))
                continue
            node = pydot.Node(ids[item.key], label=label_html(item))
            node.set("fontname", "Helvetica")
            node.set("border", "0")
            node.set("margin", "0")
            dot.add_node(node)
        for a, b in model.edges:
            edge = pydot.Edge(ids[a], ids[b])
            edge.set("penwidth", "2")
            dot.add_edge(edge)
        return dot

    return build(graph, subgraph)


def plot_model(
    model: Any,
    to_file: str | os.PathLike[str] = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = False,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: float = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    splines: str = "ortho",
    **kwargs: Any,
) -> Any:
    """Draw the model's graph to ``to_file``, as Keras's ``keras.utils.plot_model``, with no
    pydot or Graphviz: ``.dot``/``.gv`` get Graphviz's DOT text, other names a picture drawn
    with Pillow in the format their extension names (PNG without one): a box per layer with
    Keras's label, layers in ranks top to bottom (``rankdir="TB"``) or left to right
    (``"LR"``; ``"BT"`` and ``"RL"`` reversed), arrows between them; ``dpi`` scales it.

    Returns an ``IPython.display.Image`` of a PNG, JPEG, GIF or WebP picture where IPython is
    installed (a notebook shows it), else None.

    >>> import autoconv as ac, tempfile
    >>> inputs = ac.Input((8,))
    >>> model = ac.Model(inputs, ac.layers.Dense(2)(inputs))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     image = plot_model(model, f"{folder}/model.png", show_shapes=True)
    """
    _check(model, rankdir, dpi, splines, kwargs)
    path = Path(to_file)
    image_format = _image_format(path)
    check_target(path)
    graph = model_graph(
        model,
        show_shapes,
        show_dtype,
        show_layer_names,
        expand_nested,
        show_layer_activations,
        show_trainable,
    )
    if image_format is None:
        data = to_dot(graph, rankdir, dpi, splines).encode()
    else:
        data = draw(graph, rankdir, dpi, image_format)
    write_atomically(path, lambda f: f.write(data))
    if image_format not in IPYTHON_FORMATS:
        return None
    try:
        from IPython import display
    except ImportError:
        return None
    return display.Image(filename=str(path), format=IPYTHON_FORMATS[image_format])


def _check(model: Any, rankdir: Any, dpi: Any, splines: Any, kwargs: dict[str, Any]) -> None:
    """Keras's errors for an unbuilt model and unknown arguments; rankdir, dpi and splines
    checked here (Keras leaves them to Graphviz)."""
    if not isinstance(model, Layer):
        raise TypeError(f"plot_model and model_to_dot take a model, got {type(model).__name__}")
    if not model.built:
        raise ValueError(
            "This model has not yet been built. Build the model first by calling `build()` or "
            "by calling the model on a batch of data."
        )
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
    if rankdir not in RANKDIRS:
        raise ValueError(
            f"rankdir must be one of {', '.join(map(repr, RANKDIRS))} ('TB' top to bottom, "
            f"'LR' left to right), got {rankdir!r}"
        )
    if isinstance(dpi, bool) or not isinstance(dpi, int | float) or not 0 < dpi < float("inf"):
        raise ValueError(f"dpi must be a positive number, got {dpi!r}")
    if not isinstance(splines, str):
        raise ValueError(f"splines must be a string such as 'ortho' or 'line', got {splines!r}")


def _image_format(path: Path) -> str | None:
    """Pillow's format for the file's extension (PNG without one), None for DOT text."""
    extension = path.suffix.lower()
    if extension in DOT_EXTENSIONS:
        return None
    if not extension:
        return "PNG"
    from PIL import Image

    Image.init()
    formats = {e: f for e, f in Image.registered_extensions().items() if f in Image.SAVE}
    if extension not in formats:
        raise ValueError(
            f"plot_model cannot write {path.name}: it writes Graphviz's DOT text "
            f"({', '.join(DOT_EXTENSIONS)}) and the pictures Pillow writes "
            f"({', '.join(sorted(formats))}); for SVG, write a .dot file and run Graphviz's "
            "`dot -Tsvg`"
        )
    return formats[extension]


def _pydot() -> Any:
    """pydot, or one of the older forks Keras also takes; None when none is installed."""
    for name in ("pydot", "pydot_ng", "pydotplus"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None
