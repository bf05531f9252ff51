"""``model.export(path, format="onnx")``: a Sequential or functional model's inference pass
(its call with ``training=False``) as an ONNX file, for ONNX Runtime and the other ONNX tools,
as Keras's ``export_onnx`` writes one.

The graph is written layer by layer from the model's own graph, in its channels-last layout:
each convolution and pooling is wrapped in two ``Transpose`` nodes (ONNX's are channels-first;
ONNX Runtime's optimizer removes the pairs that cancel). The batch axis (and any other the
model's inputs leave unknown) stays free, named ``batch`` as Keras names it. Inputs are named
after the model's ``Input`` layers (or ``input_signature``'s specs, as Keras's), of their
dtypes, outputs ``output_0``, ``output_1``, ... The weights are
written as they are at the time of the call; layers that only act in training (dropout, noise,
random augmentation) are identities. A layer this module has no rule for is an error naming
it, before anything is written. The ``onnx`` package builds and checks the file
(``pip install "autoconv[onnx]"``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from autoconv import layers as L
from autoconv.atomic import write_atomically
from autoconv.layers.channels import ChannelsFirst, channel_order, move_channels
from autoconv.saving.onnx_layers import Writer, write_layer

DEFAULT_OPSET = 18


def export_onnx(
    model: Any,
    filepath: str | os.PathLike,
    verbose: bool | None = None,
    input_signature: Any = None,
    opset_version: int | None = None,
) -> None:
    """Write ``model``'s inference pass to ``filepath`` as ONNX (atomically: a failed export
    leaves an older file as it was). ``input_signature``: a list of ``InputSpec``s (or of
    anything with a ``shape``, such as ``autoconv.Input``), one per model input, whose sizes
    replace the inputs' (None stays free), and whose names (else ``input_<i>``) and dtypes
    the file's inputs take, as Keras's (:func:`_input_specs`); ``opset_version``: ONNX's
    operator set, 18 by default (from 13 to the onnx package's newest)."""
    try:
        import onnx
    except ImportError:
        raise ImportError(
            'export(format="onnx") needs the onnx package: pip install "autoconv[onnx]"'
        ) from None
    graph = model._graph() if hasattr(model, "_graph") else None
    if graph is None:
        raise ValueError(
            f"export: model {model.name} is a subclassed model, whose call is Python code; "
            "only Sequential and functional models can be exported to ONNX"
        )
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    newest = onnx.defs.onnx_opset_version()  # (the newest the installed onnx package knows)
    if not 13 <= opset <= newest:
        raise ValueError(
            f"export: opset_version must be from 13 to {newest} (the onnx package's newest), "
            f"got {opset_version}"
        )
    writer = Writer(opset)
    specs = _input_specs(graph, input_signature)
    inputs = []
    for index, (tensor, (name, shape, dtype)) in enumerate(zip(graph.inputs, specs, strict=True)):
        inputs.append(_value_info(name, shape, f"dim_{index}", dtype))
        # (the file computes in float32: an input of another dtype is cast as it comes in)
        writer.names[id(tensor)] = (
            name if dtype == "float32" else writer.add("Cast", [name], to=onnx.TensorProto.FLOAT)
        )
    _write_graph(writer, graph)
    outputs = []
    for index, tensor in enumerate(graph.outputs):
        name = f"output_{index}"
        writer.add("Identity", [writer.names[id(tensor)]], name)
        outputs.append(_value_info(name, tensor.shape, f"out_{index}"))
    onnx_graph = onnx.helper.make_graph(
        writer.nodes, model.name, inputs, outputs, initializer=writer.constants
    )
    proto = onnx.helper.make_model(
        onnx_graph,
        opset_imports=[onnx.helper.make_opsetid("", opset)],
        producer_name="autoconv",
    )
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    write_atomically(Path(filepath), lambda file: file.write(data))
    if verbose is None or verbose:
        print(f"Saved artifact at '{filepath}'.")


def _value_info(name: str, shape: Any, free: str, dtype: str = "float32") -> Any:
    """A value of ``shape`` and ``dtype`` (an input's, as Keras declares it: an ``int32``
    Input takes int32 data), its unknown sizes named (the batch ``batch``, as Keras's; another
    ``<free>_<axis>``)."""
    import onnx

    dims = [("batch" if axis == 0 else f"{free}_{axis}") if size is None else int(size)
            for axis, size in enumerate(shape)]  # fmt: skip
    try:
        kind = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    except TypeError:
        raise ValueError(f"export: the input {name}'s dtype {dtype} has no ONNX type") from None
    return onnx.helper.make_tensor_value_info(name, kind, dims)


def _input_specs(graph: Any, input_signature: Any) -> list[tuple[str, tuple, str]]:
    """Each file input's name, shape and dtype: the model's ``Input``s', or, as Keras's export
    reads ``input_signature``, its specs': a list of one per input, or (Keras's form for a
    functional model) that list or a dict of them by input name as a list's one element. A
    spec's name names its input, else ``input_<i>``, as Keras's; its dtype, else the Input's,
    is the input's. Its shape must fit the model's input (the same rank and fixed sizes)."""
    tensors = graph.inputs
    if input_signature is None:
        return [(t.node.layer.name, tuple(t.shape), str(t.dtype)) for t in tensors]
    specs = input_signature
    if (
        isinstance(specs, list | tuple)
        and len(specs) == 1
        and isinstance(specs[0], list | tuple | dict)
    ):
        specs = specs[0]
    names = [t.node.layer.name for t in tensors]
    if isinstance(specs, dict):
        specs = [specs[n] for n in names] if set(specs) == set(names) else []
    specs = list(specs) if isinstance(specs, list | tuple) else []
    if len(specs) != len(tensors) or not all(
        hasattr(s, "shape") and s.shape is not None and len(s.shape) == len(t.shape)
        and all(a is None or b is None or a == b for a, b in zip(s.shape, t.shape, strict=True))
        for s, t in zip(specs, tensors, strict=False)
    ):  # fmt: skip
        shapes = ", ".join(f"{n}: {tuple(t.shape)}" for n, t in zip(names, tensors, strict=True))
        raise ValueError(
            f"export: input_signature must be a list of {len(tensors)} InputSpec(s) (one per "
            f"model input, shapes fitting {shapes}), got {input_signature!r}"
        )
    return [
        (getattr(s, "name", None) or f"input_{i}", tuple(s.shape),
         str(getattr(s, "dtype", None) or t.dtype))
        for i, (s, t) in enumerate(zip(specs, tensors, strict=True))
    ]  # fmt: skip


def _write_graph(writer: Writer, graph: Any) -> None:
    """The nodes of ``graph``'s layer calls, in its order (a nested model's inline)."""
    for node in graph._ordered_nodes():
        layer = node.layer
        if isinstance(layer, L.InputLayer):
            continue
        values = [writer.names[id(t)] for t in node.inputs]
        if hasattr(layer, "_graph") and layer._graph() is not None:  # a nested model
            inner = layer._graph()
            for tensor, value in zip(inner.inputs, values, strict=True):
                writer.names[id(tensor)] = value
            _write_graph(writer, inner)
            made = [writer.names[id(t)] for t in inner.outputs]
        else:
            writer.shapes = [tuple(t.shape) for t in node.inputs]
            made = [_write_layer(writer, layer, values)]
        for tensor, value in zip(node.outputs, made, strict=True):
            writer.names[id(tensor)] = value


def _write_layer(writer: Writer, layer: Any, values: list[str]) -> str:
    """A layer's nodes; a channels-first layer's between two transposes."""
    if isinstance(layer, ChannelsFirst) and layer.data_format == "channels_first":
        # the channels-last layer's nodes between transposes, as the layer computes it
        ndim, rank = len(writer.shapes[0]), layer.rank
        writer.shapes = [move_channels(shape, rank, True) for shape in writer.shapes]
        inside = [writer.add("Transpose", [v], perm=channel_order(ndim, rank, True))
                  for v in values]  # fmt: skip
        made = write_layer(writer, layer, inside)
        return writer.add("Transpose", [made], perm=channel_order(ndim, rank, False))
    return write_layer(writer, layer, values)
