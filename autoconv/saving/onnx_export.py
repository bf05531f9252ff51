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
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autoconv import config
from autoconv import layers as L
from autoconv.atomic import write_atomically
from autoconv.layers.channels import ChannelsFirst, channel_order, move_channels
from autoconv.layers.operation import Operation, Slot
from autoconv.layers.regularization import _RandomLayer

DEFAULT_OPSET = 18
# Layers whose inference call gives their input unchanged.
IDENTITIES = (
    _RandomLayer, L.ActivityRegularization, L.RandomFlip, L.RandomRotation, L.RandomZoom,
    L.RandomTranslation, L.RandomContrast, L.RandomBrightness,
)  # fmt: skip
# The keras.ops functions of two tensors (or a tensor and a constant) and their ONNX ops.
BINARY_OPERATIONS = {
    "add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "true_divide": "Div",
    "maximum": "Max", "minimum": "Min", "power": "Pow",
}  # fmt: skip


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
    writer = _Writer(opset)
    specs = _input_specs(graph, input_signature)
    inputs = []
    for index, (tensor, (name, shape, dtype)) in enumerate(zip(graph.inputs, specs, strict=True)):
        inputs.append(_value_info(name, shape, f"dim_{index}", dtype))
        # (the file computes in float32: an input of another dtype is cast as it comes in)
        writer.names[id(tensor)] = (
            name if dtype == "float32" else writer.add("Cast", [name], to=onnx.TensorProto.FLOAT)
        )
    writer.write_graph(graph)
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


class _Writer:
    """The ONNX nodes and constants of a graph, written in its order: ``names`` maps each
    symbolic tensor (by id) to the ONNX value that holds it."""

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[Any] = []
        self.constants: list[Any] = []
        self.names: dict[int, str] = {}
        self.shapes: list[tuple] = []  # (the input shapes of the layer call being written)
        self._count = 0

    def fresh(self, hint: str) -> str:
        """A new value's name (under "autoconv/", apart from the inputs' and outputs')."""
        self._count += 1
        return f"autoconv/{hint}_{self._count}"

    def add(self, op: str, inputs: list[str], output: str | None = None, **attributes) -> str:
        """A node of ``op`` reading ``inputs``; returns its output's name."""
        import onnx

        output = output or self.fresh(op.lower())
        self.nodes.append(onnx.helper.make_node(op, inputs, [output], **attributes))
        return output

    def constant(self, value: Any, hint: str) -> str:
        """A float32 array (or an int64 one for shapes and axes) stored in the file."""
        import onnx

        array = np.asarray(value)
        array = array.astype(np.int64 if array.dtype.kind in "iu" else np.float32)
        name = self.fresh(hint)
        self.constants.append(onnx.numpy_helper.from_array(array, name))
        return name

    def names_of(self, argument: Any, values: list[str]) -> str:
        """An Operation's argument: the value of its tensor (a :class:`Slot`), or a number or
        an array stored as a constant."""
        if isinstance(argument, Slot):
            return values[argument.index]
        return self.constant(np.asarray(argument, dtype=np.float32), "constant")

    def write_graph(self, graph: Any) -> None:
        for node in graph._ordered_nodes():
            layer = node.layer
            if isinstance(layer, L.InputLayer):
                continue
            values = [self.names[id(t)] for t in node.inputs]
            if hasattr(layer, "_graph") and layer._graph() is not None:  # a nested model
                inner = layer._graph()
                for tensor, value in zip(inner.inputs, values, strict=True):
                    self.names[id(tensor)] = value
                self.write_graph(inner)
                made = [self.names[id(t)] for t in inner.outputs]
            else:
                self.shapes = [tuple(t.shape) for t in node.inputs]
                made = [self.write_layer(layer, values)]
            for tensor, value in zip(node.outputs, made, strict=True):
                self.names[id(tensor)] = value

    def write_layer(self, layer: Any, values: list[str]) -> str:
        if isinstance(layer, ChannelsFirst) and layer.data_format == "channels_first":
            # the channels-last layer's nodes between transposes, as the layer computes it
            ndim, rank = len(self.shapes[0]), layer.rank
            self.shapes = [move_channels(shape, rank, True) for shape in self.shapes]
            inside = [self.add("Transpose", [v], perm=channel_order(ndim, rank, True))
                      for v in values]  # fmt: skip
            made = self._write_layer(layer, inside)
            return self.add("Transpose", [made], perm=channel_order(ndim, rank, False))
        return self._write_layer(layer, values)

    def _write_layer(self, layer: Any, values: list[str]) -> str:
        for kinds, write in _RULES + _application_rules():
            if isinstance(layer, kinds):
                return write(self, layer, values)
        raise ValueError(
            f"export: layer {layer.name} ({type(layer).__name__}) cannot be written to ONNX by "
            "autoconv; nothing was written"
        )

    def reduce(self, op: str, value: str, axes: list[int], keepdims: bool) -> str:
        """A ReduceMean/ReduceMax over ``axes`` (an input from opset 18, before an attribute)."""
        keep = int(keepdims)
        if self.opset < 18:
            return self.add(op, [value], axes=axes, keepdims=keep)
        return self.add(op, [value, self.constant(axes, "axes")], keepdims=keep)


# --------------------------------------------------------------------- the layers' rules
def _activation(writer: _Writer, activation: Any, value: str) -> str:
    """``value`` through a Keras activation (a function of autoconv.activations, or its
    name)."""
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", "")
    if name in ("linear", "None"):
        return value
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "elu": "Elu",
              "selu": "Selu", "softplus": "Softplus", "softsign": "Softsign",
              "exponential": "Exp"}  # fmt: skip
    if name in simple:
        return writer.add(simple[name], [value])
    if name == "softmax":
        return writer.add("Softmax", [value], axis=-1)
    if name == "log_softmax":
        return writer.add("LogSoftmax", [value], axis=-1)
    if name in ("swish", "silu"):
        return writer.add("Mul", [value, writer.add("Sigmoid", [value])])
    if name in ("hard_silu", "hard_swish"):  # x * relu6(x + 3) / 6
        return writer.add("Mul", [value, writer.add("HardSigmoid", [value], alpha=1 / 6, beta=0.5)])
    if name == "mish":  # x * tanh(softplus(x))
        return writer.add("Mul", [value, writer.add("Tanh", [writer.add("Softplus", [value])])])
    if name == "relu6":
        low, high = writer.constant(0.0, "low"), writer.constant(6.0, "high")
        return writer.add("Clip", [value, low, high])
    if name == "hard_sigmoid":  # relu6(x + 3) / 6
        return writer.add("HardSigmoid", [value], alpha=1 / 6, beta=0.5)
    if name == "leaky_relu":  # (Keras's function: negative_slope 0.2)
        return writer.add("LeakyRelu", [value], alpha=0.2)
    if name == "gelu":  # (Keras's function: exact, x / 2 * (1 + erf(x / sqrt(2))))
        erf = writer.add("Erf", [writer.add("Mul", [value, writer.constant(0.5**0.5, "c")])])
        half = writer.add("Mul", [value, writer.constant(0.5, "half")])
        return writer.add("Mul", [half, writer.add("Add", [erf, writer.constant(1.0, "one")])])
    raise ValueError(f"export: the activation {name!r} cannot be written to ONNX by autoconv")


def _padding(writer: _Writer, layer: Any, kernel: Any, dilation: Any = None) -> dict:
    """ONNX's pads for Keras's padding over the spatial axes: "same" is TensorFlow's SAME,
    the odd pixel at the end, computed from the input's size (ONNX's SAME_UPPER where a size
    is unknown, which ONNX Runtime refuses for dilated convolutions); "causal" pads the start."""
    rank = len(kernel)
    dilation = dilation or (1,) * rank
    reach = [(k - 1) * rate + 1 for k, rate in zip(kernel, dilation, strict=True)]
    if layer.padding == "causal":
        return {"pads": [reach[0] - 1, 0]}
    if layer.padding != "same":
        return {"pads": [0] * (2 * rank)}
    begin, end = [], []
    spatial = writer.shapes[0][1 : 1 + rank]
    for size, span, stride in zip(spatial, reach, layer.strides, strict=True):
        if size is None and stride != 1:
            return {"auto_pad": "SAME_UPPER"}
        total = (
            span - 1 if size is None else max((-(-size // stride) - 1) * stride + span - size, 0)
        )
        begin.append(total // 2)
        end.append(total - total // 2)
    return {"pads": begin + end}


def _channels_first(writer: _Writer, value: str, op: str, inputs: list[str], **attrs) -> str:
    """``op`` (channels-first in ONNX) on a channels-last ``value`` of 1 or 2 spatial axes,
    given back channels-last."""
    rank = len(writer.shapes[0])
    first = writer.add("Transpose", [value], perm=[0, rank - 1, *range(1, rank - 1)])
    made = writer.add(op, [first, *inputs], **attrs)
    return writer.add("Transpose", [made], perm=[0, *range(2, rank), 1])


def _conv(writer: _Writer, value: str, kernel: Any, bias: Any, layer: Any, groups: int) -> str:
    """A 1-D or 2-D convolution of a Keras (k..., in / groups, out) kernel."""
    spatial = kernel.ndim - 2
    order = (spatial + 1, spatial, *range(spatial))  # (ONNX's: out, in / groups, k...)
    weights = [writer.constant(np.transpose(kernel, order), "kernel")]
    if bias is not None:
        weights.append(writer.constant(bias, "bias"))
    return _channels_first(
        writer, value, "Conv", weights, group=groups, kernel_shape=list(kernel.shape[:spatial]),
        strides=list(layer.strides), dilations=list(layer.dilation_rate),
        **_padding(writer, layer, kernel.shape[:spatial], layer.dilation_rate),
    )  # fmt: skip


def _write_conv_transpose(writer: _Writer, layer: Any, values: list[str]) -> str:
    """Keras's transposed convolution ((kh, kw, out, in) kernel): "same" gives ``in *
    stride``, as TensorFlow's, its padding cut evenly (the odd pixel at the end); "valid"
    ``in * stride + max(reach - stride, 0)`` (a stride past the kernel's reach leaves a gap
    of zeros after the last pixel, ONNX's ``output_padding``)."""
    if layer.output_padding is not None:
        raise ValueError(f"export: layer {layer.name}: output_padding cannot be written to ONNX")
    kernel = np.asarray(layer.kernel)
    weights = [writer.constant(np.transpose(kernel, (3, 2, 0, 1)), "kernel")]
    if layer.use_bias:
        weights.append(writer.constant(np.asarray(layer.bias), "bias"))
    reach = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:2], layer.dilation_rate, strict=True)]
    pads, extra = [0, 0, 0, 0], [max(s - r, 0) for r, s in zip(reach, layer.strides, strict=True)]
    if layer.padding == "same":
        totals = [max(r - s, 0) for r, s in zip(reach, layer.strides, strict=True)]
        pads = [t // 2 for t in totals] + [t - t // 2 for t in totals]
        extra = [s - r + t for r, s, t in zip(reach, layer.strides, totals, strict=True)]
    made = _channels_first(
        writer, values[0], "ConvTranspose", weights, kernel_shape=list(kernel.shape[:2]),
        strides=list(layer.strides), dilations=list(layer.dilation_rate), pads=pads,
        output_padding=extra,
    )  # fmt: skip
    return _activation(writer, layer.activation, made)


def _write_up_sampling(writer: _Writer, layer: Any, values: list[str]) -> str:
    """Keras's ``UpSampling2D``: each pixel repeated (``"nearest"``) or ``"bilinear"``'s
    resizing, as Keras's (half-pixel centres)."""
    if layer.interpolation not in ("nearest", "bilinear"):
        raise ValueError(
            f"export: layer {layer.name}: interpolation {layer.interpolation!r} cannot be "
            "written to ONNX"
        )
    scales = writer.constant(np.array([1, *layer.size, 1], np.float32), "scales")
    if layer.interpolation == "nearest":
        modes = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                 "nearest_mode": "floor"}  # fmt: skip
    else:
        modes = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    return writer.add("Resize", [values[0], "", scales], **modes)


def _bias(layer: Any) -> Any:
    return np.asarray(layer.bias) if layer.use_bias else None


def _write_conv2d(writer: _Writer, layer: Any, values: list[str]) -> str:
    made = _conv(writer, values[0], np.asarray(layer.kernel), _bias(layer), layer, layer.groups)
    return _activation(writer, layer.activation, made)


def _depthwise_kernel(kernel: Any) -> Any:
    """Keras's (kh, kw, channels, multiplier) depthwise kernel as a grouped one, (kh, kw, 1,
    channels * multiplier), channel c's m-th filter at c * multiplier + m, as Keras orders them."""
    kh, kw, channels, multiplier = kernel.shape
    return kernel.reshape(kh, kw, 1, channels * multiplier)


def _write_depthwise(writer: _Writer, layer: Any, values: list[str]) -> str:
    kernel = np.asarray(layer.kernel)
    made = _conv(writer, values[0], _depthwise_kernel(kernel), _bias(layer), layer, kernel.shape[2])
    return _activation(writer, layer.activation, made)


def _write_separable(writer: _Writer, layer: Any, values: list[str]) -> str:
    depthwise = np.asarray(layer.depthwise_kernel)
    spread = _conv(writer, values[0], _depthwise_kernel(depthwise), None, layer, depthwise.shape[2])
    pointwise = np.asarray(layer.pointwise_kernel)  # (1, 1, channels * multiplier, filters)
    made = writer.add("MatMul", [spread, writer.constant(pointwise[0, 0], "kernel")])
    if layer.use_bias:
        made = writer.add("Add", [made, writer.constant(np.asarray(layer.bias), "bias")])
    return _activation(writer, layer.activation, made)


def _write_dense(writer: _Writer, layer: Any, values: list[str]) -> str:
    made = writer.add("MatMul", [values[0], writer.constant(np.asarray(layer.kernel), "kernel")])
    if layer.use_bias:
        made = writer.add("Add", [made, writer.constant(np.asarray(layer.bias), "bias")])
    return _activation(writer, layer.activation, made)


def _write_pool(writer: _Writer, layer: Any, values: list[str]) -> str:
    op = "MaxPool" if isinstance(layer, L.MaxPooling1D | L.MaxPooling2D) else "AveragePool"
    return _channels_first(
        writer, values[0], op, [], kernel_shape=list(layer.pool_size),
        strides=list(layer.strides), **_padding(writer, layer, layer.pool_size),
    )  # fmt: skip


def _write_global_pool(writer: _Writer, layer: Any, values: list[str]) -> str:
    op = (
        "ReduceMax"
        if isinstance(layer, L.GlobalMaxPooling1D | L.GlobalMaxPooling2D)
        else "ReduceMean"
    )
    spatial = list(range(1, len(writer.shapes[0]) - 1))
    axes = [a + 1 for a in spatial] if _data_format(layer) == "channels_first" else spatial
    return writer.reduce(op, values[0], axes, bool(layer.keepdims))


def _data_format(layer: Any) -> str:
    return layer.data_format or config.image_data_format()


def _write_batch_norm(writer: _Writer, layer: Any, values: list[str]) -> str:
    """Inference's normalization with the moving statistics, as a scale and a shift over the
    normalized axis (the last, or Keras's ``axis=3`` of the applications)."""
    mean, variance = np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)
    gamma = np.asarray(layer.gamma) if layer.scale else np.ones_like(mean)
    beta = np.asarray(layer.beta) if layer.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + layer.epsilon)
    rank = len(writer.shapes[0])
    axis = (layer.axis[0] if isinstance(layer.axis, list | tuple) else layer.axis) % rank
    along = (-1, *[1] * (rank - 1 - axis))  # (the statistics' shape against the input's)
    scaled = writer.add("Mul", [values[0], writer.constant(scale.reshape(along), "scale")])
    return writer.add(
        "Add", [scaled, writer.constant((beta - mean * scale).reshape(along), "shift")]
    )


def _write_layer_norm(writer: _Writer, layer: Any, values: list[str]) -> str:
    """Keras's layer normalization over its axes, in ONNX's elementary ops (every opset)."""
    if getattr(layer, "rms_scaling", False):
        raise ValueError(f"export: layer {layer.name}: rms_scaling cannot be written to ONNX")
    rank = len(writer.shapes[0])
    axes = sorted(a % rank for a in (layer.axis if isinstance(layer.axis, list | tuple)
                                     else [layer.axis]))  # fmt: skip
    centred = writer.add("Sub", [values[0], writer.reduce("ReduceMean", values[0], axes, True)])
    variance = writer.reduce("ReduceMean", writer.add("Mul", [centred, centred]), axes, True)
    spread = writer.add(
        "Sqrt", [writer.add("Add", [variance, writer.constant(layer.epsilon, "eps")])]
    )
    made = writer.add("Div", [centred, spread])
    shape = [writer.shapes[0][d] if d in axes else 1 for d in range(rank)]
    if layer.scale:
        made = writer.add(
            "Mul", [made, writer.constant(np.asarray(layer.gamma).reshape(shape), "gamma")]
        )
    if layer.center:
        made = writer.add(
            "Add", [made, writer.constant(np.asarray(layer.beta).reshape(shape), "beta")]
        )
    return made


def _write_normalization(writer: _Writer, layer: Any, values: list[str]) -> str:
    """Keras's ``Normalization``: ``(x - mean) / max(sqrt(variance), 1e-7)`` (``invert``:
    ``mean + x * that``), with the statistics it was given or adapted to."""
    mean, variance = np.asarray(layer.mean.numpy()), np.asarray(layer.variance.numpy())
    std = writer.constant(np.maximum(np.sqrt(variance), 1e-7), "std")
    mean = writer.constant(mean, "mean")
    if layer.invert:
        return writer.add("Add", [mean, writer.add("Mul", [values[0], std])])
    return writer.add("Div", [writer.add("Sub", [values[0], mean]), std])


def _write_activation(writer: _Writer, layer: Any, values: list[str]) -> str:
    return _activation(writer, layer.activation, values[0])


def _write_relu(writer: _Writer, layer: Any, values: list[str]) -> str:
    if layer.threshold != 0:
        return _threshold_relu(writer, layer, values[0])
    made = values[0]
    if layer.negative_slope:
        made = writer.add("LeakyRelu", [made], alpha=float(layer.negative_slope))
    else:
        made = writer.add("Relu", [made])
    if layer.max_value is not None:
        made = writer.add("Min", [made, writer.constant(float(layer.max_value), "max")])
    return made


def _threshold_relu(writer: _Writer, layer: Any, value: str) -> str:
    """Keras's ReLU of a threshold: ``x`` above it, else 0, clipped to ``[0, max_value]``
    where there is one, less ``negative_slope * relu(threshold - x)``."""
    threshold = writer.constant(float(layer.threshold), "threshold")
    zero = writer.constant(0.0, "zero")
    made = writer.add("Where", [writer.add("Greater", [value, threshold]), value, zero])
    if layer.max_value is not None:
        made = writer.add("Clip", [made, zero, writer.constant(float(layer.max_value), "max")])
    if layer.negative_slope:
        below = writer.add("Relu", [writer.add("Sub", [threshold, value])])
        slope = writer.constant(float(layer.negative_slope), "slope")
        made = writer.add("Sub", [made, writer.add("Mul", [below, slope])])
    return made


def _write_leaky_relu(writer: _Writer, layer: Any, values: list[str]) -> str:
    return writer.add("LeakyRelu", [values[0]], alpha=float(layer.negative_slope))


def _write_elu(writer: _Writer, layer: Any, values: list[str]) -> str:
    return writer.add("Elu", [values[0]], alpha=float(layer.alpha))


def _write_softmax(writer: _Writer, layer: Any, values: list[str]) -> str:
    """Keras's softmax over its axis, or over several (``axis=(1, 2)``: ``exp(x -
    logsumexp(x))`` over them together, which ONNX's ``Softmax`` of one axis is not)."""
    if not isinstance(layer.axis, list | tuple):
        return writer.add("Softmax", [values[0]], axis=int(layer.axis))
    rank = len(writer.shapes[0])
    axes = sorted(int(a) % rank for a in layer.axis)
    total = writer.reduce("ReduceLogSumExp", values[0], axes, True)
    return writer.add("Exp", [writer.add("Sub", [values[0], total])])


def _write_flatten(writer: _Writer, layer: Any, values: list[str]) -> str:
    value, ndim = values[0], len(writer.shapes[0])
    if _data_format(layer) == "channels_first" and ndim > 2:  # (Keras's: the channels last)
        value = writer.add("Transpose", [value], perm=[0, *range(2, ndim), 1])
    return writer.add("Flatten", [value], axis=1)


def _write_cropping(writer: _Writer, layer: Any, values: list[str]) -> str:
    (top, bottom), (left, right) = layer.cropping
    end = 2**62  # (a crop of 0 at the end: to the end)
    starts, ends = (
        writer.constant([top, left], "starts"),
        writer.constant([-bottom if bottom else end, -right if right else end], "ends"),
    )
    return writer.add("Slice", [values[0], starts, ends, writer.constant([1, 2], "axes")])


def _write_reshape(writer: _Writer, layer: Any, values: list[str]) -> str:
    shape = writer.constant([0, *layer.target_shape], "shape")  # (0: the batch, kept)
    return writer.add("Reshape", [values[0], shape])


def _write_rescaling(writer: _Writer, layer: Any, values: list[str]) -> str:
    scaled = writer.add("Mul", [values[0], writer.constant(np.asarray(layer.scale), "scale")])
    return writer.add("Add", [scaled, writer.constant(np.asarray(layer.offset), "offset")])


def _write_zero_padding(writer: _Writer, layer: Any, values: list[str]) -> str:
    (top, bottom), (left, right) = layer.padding
    pads = writer.constant([0, top, left, 0, 0, bottom, right, 0], "pads")
    return writer.add("Pad", [values[0], pads])


def _write_merge(writer: _Writer, layer: Any, values: list[str]) -> str:
    if isinstance(layer, L.Concatenate):
        return writer.add("Concat", values, axis=int(layer.axis))
    op = {L.Add: "Sum", L.Multiply: "Mul", L.Maximum: "Max", L.Minimum: "Min",
          L.Average: "Mean"}[type(layer)]  # fmt: skip
    if op == "Mul":  # (Mul takes two)
        made = values[0]
        for value in values[1:]:
            made = writer.add("Mul", [made, value])
        return made
    return writer.add(op, values)


def _write_subtract(writer: _Writer, layer: Any, values: list[str]) -> str:
    return writer.add("Sub", values)


def _write_operation(writer: _Writer, layer: Any, values: list[str]) -> str:
    """A ``keras.ops`` function in the graph (``x + 3``, ``ops.multiply(x, s)``): the
    elementwise arithmetic of two tensors or a tensor and a constant, and the functions that
    are activations (``ops.relu6``, ``ops.hard_sigmoid``)."""
    arguments = [writer.names_of(a, values) for a in layer.arguments.values()]
    if layer.function in BINARY_OPERATIONS and len(arguments) == 2:
        return writer.add(BINARY_OPERATIONS[layer.function], arguments)
    if len(arguments) == 1 and arguments[0] in values:
        try:
            return _activation(writer, layer.function, arguments[0])
        except ValueError:
            pass
    raise ValueError(
        f"export: layer {layer.name} (the keras.ops function {layer.function}) cannot be "
        "written to ONNX by autoconv; nothing was written"
    )


def _write_identity(writer: _Writer, layer: Any, values: list[str]) -> str:
    return values[0]


_RULES: list[tuple[Any, Callable[[_Writer, Any, list[str]], str]]] = [
    (L.SeparableConv2D, _write_separable),
    (L.DepthwiseConv2D, _write_depthwise),
    ((L.Conv1D, L.Conv2D), _write_conv2d),
    (L.Conv2DTranspose, _write_conv_transpose),
    (L.UpSampling2D, _write_up_sampling),
    (L.Dense, _write_dense),
    ((L.MaxPooling1D, L.MaxPooling2D, L.AveragePooling1D, L.AveragePooling2D), _write_pool),
    (
        (
            L.GlobalAveragePooling1D,
            L.GlobalAveragePooling2D,
            L.GlobalMaxPooling1D,
            L.GlobalMaxPooling2D,
        ),
        _write_global_pool,
    ),
    (L.BatchNormalization, _write_batch_norm),
    (L.LayerNormalization, _write_layer_norm),
    (L.Normalization, _write_normalization),
    (L.ReLU, _write_relu),  # (before Activation: these layers may derive from it)
    (L.LeakyReLU, _write_leaky_relu),
    (L.ELU, _write_elu),
    (L.Softmax, _write_softmax),
    (L.Activation, _write_activation),
    (L.Flatten, _write_flatten),
    (L.Reshape, _write_reshape),
    (L.Rescaling, _write_rescaling),
    (L.ZeroPadding2D, _write_zero_padding),
    (L.Cropping2D, _write_cropping),
    ((L.Add, L.Multiply, L.Maximum, L.Minimum, L.Average, L.Concatenate), _write_merge),
    (L.Subtract, _write_subtract),
    (Operation, _write_operation),
    (IDENTITIES, _write_identity),
]


def _application_rules() -> list[tuple[Any, Callable[[_Writer, Any, list[str]], str]]]:
    """The rules of keras.applications' own layers: ConvNeXt's ``LayerScale`` (``x *
    gamma``) and ``StochasticDepth`` (inference's identity), InceptionResNetV2's
    ``CustomScaleLayer`` (``a + b * scale``). Their modules are above this one and not
    imported here: a layer of theirs exists only once they are."""
    rules: list[tuple[Any, Callable[[_Writer, Any, list[str]], str]]] = []
    convnext = sys.modules.get("autoconv.applications.convnext")
    if convnext is not None:
        rules.append((convnext.StochasticDepth, _write_identity))
        rules.append((convnext.LayerScale, lambda writer, layer, values: writer.add(
            "Mul", [values[0], writer.constant(np.asarray(layer.gamma), "gamma")])))  # fmt: skip
    inception = sys.modules.get("autoconv.applications.inception_resnet_v2")
    if inception is not None:
        rules.append((inception.CustomScaleLayer, lambda writer, layer, values: writer.add(
            "Add", [values[0], writer.add(
                "Mul", [values[1], writer.constant(float(layer.scale), "scale")])])))  # fmt: skip
    return rules
