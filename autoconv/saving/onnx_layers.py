"""The ONNX nodes of autoconv's layers, for :mod:`autoconv.saving.onnx_export`: a
:class:`Writer` (the file's nodes and constants as they are written) and a rule per layer kind
(``RULES``; keras.applications' own layers' once their modules are imported), each writing
the layer's inference call on channels-last values."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv import config
from autoconv import layers as L
from autoconv.layers.operation import Operation, Slot
from autoconv.layers.regularization import _RandomLayer

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


class Writer:
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

    def reduce(self, op: str, value: str, axes: list[int], keepdims: bool) -> str:
        """A ReduceMean/ReduceMax over ``axes`` (an input from opset 18, before an attribute)."""
        keep = int(keepdims)
        if self.opset < 18:
            return self.add(op, [value], axes=axes, keepdims=keep)
        return self.add(op, [value, self.constant(axes, "axes")], keepdims=keep)


# --------------------------------------------------------------------- the layers' rules
def _activation(writer: Writer, activation: Any, value: str) -> str:
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


def _padding(writer: Writer, layer: Any, kernel: Any, dilation: Any = None) -> dict:
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


def _channels_first(writer: Writer, value: str, op: str, inputs: list[str], **attrs) -> str:
    """``op`` (channels-first in ONNX) on a channels-last ``value`` of 1 or 2 spatial axes,
    given back channels-last."""
    rank = len(writer.shapes[0])
    first = writer.add("Transpose", [value], perm=[0, rank - 1, *range(1, rank - 1)])
    made = writer.add(op, [first, *inputs], **attrs)
    return writer.add("Transpose", [made], perm=[0, *range(2, rank), 1])


def _conv(writer: Writer, value: str, kernel: Any, bias: Any, layer: Any, groups: int) -> str:
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


def _write_conv_transpose(writer: Writer, layer: Any, values: list[str]) -> str:
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


def _write_up_sampling(writer: Writer, layer: Any, values: list[str]) -> str:
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


def _write_conv2d(writer: Writer, layer: Any, values: list[str]) -> str:
    made = _conv(writer, values[0], np.asarray(layer.kernel), _bias(layer), layer, layer.groups)
    return _activation(writer, layer.activation, made)


def _depthwise_kernel(kernel: Any) -> Any:
    """Keras's (kh, kw, channels, multiplier) depthwise kernel as a grouped one, (kh, kw, 1,
    channels * multiplier), channel c's m-th filter at c * multiplier + m, as Keras orders them."""
    kh, kw, channels, multiplier = kernel.shape
    return kernel.reshape(kh, kw, 1, channels * multiplier)


def _write_depthwise(writer: Writer, layer: Any, values: list[str]) -> str:
    kernel = np.asarray(layer.kernel)
    made = _conv(writer, values[0], _depthwise_kernel(kernel), _bias(layer), layer, kernel.shape[2])
    return _activation(writer, layer.activation, made)


def _write_separable(writer: Writer, layer: Any, values: list[str]) -> str:
    depthwise = np.asarray(layer.depthwise_kernel)
    spread = _conv(writer, values[0], _depthwise_kernel(depthwise), None, layer, depthwise.shape[2])
    pointwise = np.asarray(layer.pointwise_kernel)  # (1, 1, channels * multiplier, filters)
    made = writer.add("MatMul", [spread, writer.constant(pointwise[0, 0], "kernel")])
    if layer.use_bias:
        made = writer.add("Add", [made, writer.constant(np.asarray(layer.bias), "bias")])
    return _activation(writer, layer.activation, made)


def _write_dense(writer: Writer, layer: Any, values: list[str]) -> str:
    made = writer.add("MatMul", [values[0], writer.constant(np.asarray(layer.kernel), "kernel")])
    if layer.use_bias:
        made = writer.add("Add", [made, writer.constant(np.asarray(layer.bias), "bias")])
    return _activation(writer, layer.activation, made)


def _write_pool(writer: Writer, layer: Any, values: list[str]) -> str:
    op = "MaxPool" if isinstance(layer, L.MaxPooling1D | L.MaxPooling2D) else "AveragePool"
    return _channels_first(
        writer, values[0], op, [], kernel_shape=list(layer.pool_size),
        strides=list(layer.strides), **_padding(writer, layer, layer.pool_size),
    )  # fmt: skip


def _write_global_pool(writer: Writer, layer: Any, values: list[str]) -> str:
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


def _write_batch_norm(writer: Writer, layer: Any, values: list[str]) -> str:
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


def _write_layer_norm(writer: Writer, layer: Any, values: list[str]) -> str:
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


def _write_normalization(writer: Writer, layer: Any, values: list[str]) -> str:
    """Keras's ``Normalization``: ``(x - mean) / max(sqrt(variance), 1e-7)`` (``invert``:
    ``mean + x * that``), with the statistics it was given or adapted to."""
    mean, variance = np.asarray(layer.mean.numpy()), np.asarray(layer.variance.numpy())
    std = writer.constant(np.maximum(np.sqrt(variance), 1e-7), "std")
    mean = writer.constant(mean, "mean")
    if layer.invert:
        return writer.add("Add", [mean, writer.add("Mul", [values[0], std])])
    return writer.add("Div", [writer.add("Sub", [values[0], mean]), std])


def _write_activation(writer: Writer, layer: Any, values: list[str]) -> str:
    return _activation(writer, layer.activation, values[0])


def _write_relu(writer: Writer, layer: Any, values: list[str]) -> str:
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


def _threshold_relu(writer: Writer, layer: Any, value: str) -> str:
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


def _write_leaky_relu(writer: Writer, layer: Any, values: list[str]) -> str:
    return writer.add("LeakyRelu", [values[0]], alpha=float(layer.negative_slope))


def _write_elu(writer: Writer, layer: Any, values: list[str]) -> str:
    return writer.add("Elu", [values[0]], alpha=float(layer.alpha))


def _write_softmax(writer: Writer, layer: Any, values: list[str]) -> str:
    """Keras's softmax over its axis, or over several (``axis=(1, 2)``: ``exp(x -
    logsumexp(x))`` over them together, which ONNX's ``Softmax`` of one axis is not)."""
    if not isinstance(layer.axis, list | tuple):
        return writer.add("Softmax", [values[0]], axis=int(layer.axis))
    rank = len(writer.shapes[0])
    axes = sorted(int(a) % rank for a in layer.axis)
    total = writer.reduce("ReduceLogSumExp", values[0], axes, True)
    return writer.add("Exp", [writer.add("Sub", [values[0], total])])


def _write_flatten(writer: Writer, layer: Any, values: list[str]) -> str:
    value, ndim = values[0], len(writer.shapes[0])
    if _data_format(layer) == "channels_first" and ndim > 2:  # (Keras's: the channels last)
        value = writer.add("Transpose", [value], perm=[0, *range(2, ndim), 1])
    return writer.add("Flatten", [value], axis=1)


def _write_cropping(writer: Writer, layer: Any, values: list[str]) -> str:
    (top, bottom), (left, right) = layer.cropping
    end = 2**62  # (a crop of 0 at the end: to the end)
    starts, ends = (
        writer.constant([top, left], "starts"),
        writer.constant([-bottom if bottom else end, -right if right else end], "ends"),
    )
    return writer.add("Slice", [values[0], starts, ends, writer.constant([1, 2], "axes")])


def _write_reshape(writer: Writer, layer: Any, values: list[str]) -> str:
    shape = writer.constant([0, *layer.target_shape], "shape")  # (0: the batch, kept)
    return writer.add("Reshape", [values[0], shape])


def _write_rescaling(writer: Writer, layer: Any, values: list[str]) -> str:
    scaled = writer.add("Mul", [values[0], writer.constant(np.asarray(layer.scale), "scale")])
    return writer.add("Add", [scaled, writer.constant(np.asarray(layer.offset), "offset")])


def _write_zero_padding(writer: Writer, layer: Any, values: list[str]) -> str:
    (top, bottom), (left, right) = layer.padding
    pads = writer.constant([0, top, left, 0, 0, bottom, right, 0], "pads")
    return writer.add("Pad", [values[0], pads])


def _write_merge(writer: Writer, layer: Any, values: list[str]) -> str:
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


def _write_subtract(writer: Writer, layer: Any, values: list[str]) -> str:
    return writer.add("Sub", values)


def _write_operation(writer: Writer, layer: Any, values: list[str]) -> str:
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


def _write_identity(writer: Writer, layer: Any, values: list[str]) -> str:
    return values[0]


RULES: list[tuple[Any, Callable[[Writer, Any, list[str]], str]]] = [
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


def _application_rules() -> list[tuple[Any, Callable[[Writer, Any, list[str]], str]]]:
    """The rules of keras.applications' own layers: ConvNeXt's ``LayerScale`` (``x *
    gamma``) and ``StochasticDepth`` (inference's identity), InceptionResNetV2's
    ``CustomScaleLayer`` (``a + b * scale``). Their modules are above this one and not
    imported here: a layer of theirs exists only once they are."""
    rules: list[tuple[Any, Callable[[Writer, Any, list[str]], str]]] = []
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


def write_layer(writer: Writer, layer: Any, values: list[str]) -> str:
    """The nodes of ``layer``'s call on ``values`` (the first rule whose kinds it is); a layer
    no rule writes is an error naming it."""
    for kinds, write in RULES + _application_rules():
        if isinstance(layer, kinds):
            return write(writer, layer, values)
    raise ValueError(
        f"export: layer {layer.name} ({type(layer).__name__}) cannot be written to ONNX by "
        "autoconv; nothing was written"
    )
