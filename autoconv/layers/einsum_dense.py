"""EinsumDense, a dense layer whose product is an einsum equation, and :func:`contract`, the
two-operand einsum it (and the attention layers) compute with: transposes, reshapes and one
batched matrix product of the engine, so it runs on the CPU and the GPU with autograd.
Arguments, defaults, checks, weights and configs follow Keras 3's
``keras/src/layers/core/einsum_dense.py`` (its quantization and LoRA paths are not here).
"""

from __future__ import annotations

import math
import re
from typing import Any

from autoconv import activations, constraints, initializers, regularizers
from autoconv.layers.layer import Layer, Shape, serialized
from autoconv.ops import engine as ops
from autoconv.ops.numpy.products import _expand_ellipsis
from autoconv.tensor import Tensor


def contract(equation: str, a: Tensor, b: Tensor) -> Tensor:
    """``einsum(equation, a, b)`` for two operands (``"abc,cd->abd"``, ``"...b,bc->...c"``;
    no label twice in one operand): labels of one operand alone that the output lacks are
    summed first, labels in both operands and the output are batch axes, labels in both and
    not the output are contracted by ``matmul``."""
    spec = equation.replace(" ", "")
    if "." in spec:
        spec = _expand_ellipsis(spec, [a.ndim, b.ndim])
    inputs, _, out = spec.partition("->")
    sa, sb = inputs.split(",")
    if any(len(set(s)) != len(s) for s in (sa, sb, out)):
        raise ValueError(f"contract: no label may repeat within an operand, got {equation!r}")
    a, sa = _sum_alone(a, sa, sb + out)
    b, sb = _sum_alone(b, sb, sa + out)
    batch = [c for c in out if c in sa and c in sb]
    summed = [c for c in sa if c in sb and c not in out]
    free_a = [c for c in sa if c not in sb]
    free_b = [c for c in sb if c not in sa]
    size = dict(zip(sa, a.shape, strict=True)) | dict(zip(sb, b.shape, strict=True))
    left = _ordered(a, sa, [*batch, *free_a, *summed])
    right = _ordered(b, sb, [*batch, *summed, *free_b])
    batch_shape = left.shape[: len(batch)]
    inner = math.prod(size[c] for c in summed)
    left = left.reshape(*batch_shape, math.prod(size[c] for c in free_a), inner)
    right = right.reshape(*right.shape[: len(batch)], inner, math.prod(size[c] for c in free_b))
    product = ops.matmul(left, right)
    product = product.reshape(*product.shape[: len(batch)], *(size[c] for c in free_a + free_b))
    return _ordered(product, "".join(batch + free_a + free_b), list(out))


def _sum_alone(x: Tensor, spec: str, elsewhere: str) -> tuple[Tensor, str]:
    """``x`` summed over the labels of ``spec`` that ``elsewhere`` lacks."""
    alone = tuple(i for i, c in enumerate(spec) if c not in elsewhere)
    if not alone:
        return x, spec
    return x.sum(alone), "".join(c for c in spec if c in elsewhere)


def _ordered(x: Tensor, spec: str, order: list[str]) -> Tensor:
    axes = [spec.index(c) for c in order]
    return x if axes == sorted(axes) else x.transpose(axes)


def analyze_einsum(
    equation: str, bias_axes: str | None, input_shape: Shape, output_shape: Any
) -> tuple[list, list | None, list, list[int], list[int]]:
    """Keras's ``_analyze_einsum_string``: (kernel shape, bias shape or None, full output
    shape, the kernel's input axes, its output axes) of an EinsumDense on ``input_shape``."""
    replaced = re.sub(r"\.\.\.", "0", equation)
    for pattern, left_elided in (
        ("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", False),
        ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", True),
        ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", False),
    ):
        match = re.match(pattern, replaced)
        if match:
            return _analyze_split(match.groups(), bias_axes, input_shape, output_shape, left_elided)
    raise ValueError(
        f"Invalid einsum equation '{equation}'. Equations must be in the form "
        "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]...."
    )


def _analyze_split(
    specs: tuple[str, str, str],
    bias_axes: str | None,
    input_shape: Shape,
    output_shape: Any,
    left_elided: bool,
) -> tuple[list, list | None, list, list[int], list[int]]:
    input_spec, weight_spec, output_spec = specs
    elided = len(input_shape) - len(input_spec)
    full = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    full.insert(0, input_shape[0])
    if elided > 0 and left_elided:
        for i in range(1, elided):
            full.insert(1, input_shape[i])
    elif elided > 0:
        full.extend(input_shape[len(input_shape) - elided :])
    if left_elided:
        input_map = {dim: i + elided - len(input_shape) for i, dim in enumerate(input_spec)}
        output_map = {dim: i + elided for i, dim in enumerate(output_spec)}
    else:
        input_map = {dim: i for i, dim in enumerate(input_spec)}
        output_map = {dim: i for i, dim in enumerate(output_spec)}
    for dim in (d for d in input_spec if d in output_map):
        size = input_shape[input_map[dim]]
        if full[output_map[dim]] not in (None, size):
            raise ValueError(
                f"Input shape and output shape do not match at shared dimension '{dim}'. "
                f"Input shape is {size}, and output shape is {full[output_map[dim]]}."
            )
    for dim in output_spec:
        if dim not in input_spec and dim not in weight_spec:
            raise ValueError(
                f"Dimension '{dim}' was specified in the output '{output_spec}' but has no "
                f"corresponding dim in the input spec '{input_spec}' or weight spec "
                f"'{output_spec}'"
            )
    kernel_shape, input_axes, output_axes = [], [], []
    for i, dim in enumerate(weight_spec):
        if dim in output_map:
            kernel_shape.append(full[output_map[dim]])
            output_axes.append(i)
        elif dim in input_map:
            kernel_shape.append(input_shape[input_map[dim]])
            input_axes.append(i)
        else:
            raise ValueError(
                f"Weight dimension '{dim}' did not have a match in either the input spec "
                f"'{input_spec}' or the output spec '{output_spec}'. For this layer, the weight "
                "must be fully specified."
            )
    bias_shape = None
    if bias_axes is not None:
        offset = elided if left_elided else 0
        sizes = {c: full[i + offset] for i, c in enumerate(output_spec)}
        for c in bias_axes:
            if c not in output_spec:
                raise ValueError(
                    f"Bias dimension '{c}' was requested, but is not part of the output spec "
                    f"'{output_spec}'"
                )
        first = min(output_spec.find(c) for c in bias_axes)
        bias_shape = [sizes[c] if c in bias_axes else 1 for c in output_spec[first:]]
        if not left_elided:
            bias_shape.extend([1] * max(elided, 0))
    return kernel_shape, bias_shape, full, input_axes, output_axes


def _fanned(initializer: Any, input_axes: list[int], output_axes: list[int]) -> Any:
    """A variance-scaling kernel initializer with the kernel's input and output axes as its
    fans' axes (unless it has its own), as Keras's EinsumDense gives it; others as they are."""
    if not isinstance(initializer, initializers.VarianceScaling) or (
        initializer.input_axes is not None and initializer.output_axes is not None
    ):
        return initializer
    config = initializer.get_config() | {"input_axes": input_axes, "output_axes": output_axes}
    return type(initializer).from_config(config | {"seed": initializer.seed})  # (its draws)


# Keras's arguments for its quantization and LoRA paths, which autoconv does not have: each
# accepted only at the value that leaves it off.
_NOT_SUPPORTED = ("lora_rank", "lora_alpha", "gptq_unpacked_column_size", "quantization_config")


class EinsumDense(Layer):
    """``activation(einsum(equation, inputs, kernel) + bias)``. ``equation`` is
    ``"<input>,<kernel>-><output>"`` (an ellipsis allowed first in the input and the output,
    or last); ``output_shape`` is the output's shape without the batch axis and the elided
    axes (None where the input gives it); ``bias_axes`` names the output labels the bias
    spans. E.g. ``EinsumDense("abc,cd->abd", (None, 64), bias_axes="d")`` on (N, 32, 128)
    is a Dense(64) over the last axis: kernel (128, 64), bias (64,), output (N, 32, 64).

    Weights, Keras's order: ``kernel`` (its shape from the equation), ``bias`` (where
    ``bias_axes`` is given), both trainable.
    """

    _saved_variable_names = ("kernel", "bias")

    def __init__(
        self,
        equation: str,
        output_shape: int | tuple | list,
        activation: Any = None,
        bias_axes: str | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        gptq_unpacked_column_size: int | None = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ) -> None:
        given = dict(zip(_NOT_SUPPORTED, (lora_rank, lora_alpha, gptq_unpacked_column_size,
                                          quantization_config), strict=True))  # fmt: skip
        for name, value in given.items():
            if value is not None:
                raise ValueError(
                    f"EinsumDense: {name}={value!r} is not supported by autoconv (no LoRA or "
                    "quantization): leave it None"
                )
        if not isinstance(equation, str):
            raise ValueError(f"EinsumDense: equation must be a string, got {equation!r}")
        super().__init__(**kwargs)
        self.equation = equation
        self.partial_output_shape = (
            (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        )
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape: Shape) -> None:
        kernel_shape, bias_shape, _, input_axes, output_axes = analyze_einsum(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape
        )
        self._ndim = len(input_shape)
        self.kernel = self.add_weight(
            kernel_shape, _fanned(self.kernel_initializer, input_axes, output_axes),
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint, name="kernel",
        )  # fmt: skip
        self.bias = None
        if bias_shape is not None:
            self.bias = self.add_weight(
                bias_shape, self.bias_initializer, regularizer=self.bias_regularizer,
                constraint=self.bias_constraint, name="bias",
            )  # fmt: skip

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        _, _, full, _, _ = analyze_einsum(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape
        )
        return tuple(full)

    def call(self, inputs: Tensor) -> Tensor:
        if inputs.ndim != self._ndim:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                f"ndim={self._ndim}, found ndim={inputs.ndim}. Full shape received: {inputs.shape}"
            )
        out = contract(self.equation, inputs, self.kernel)
        if self.bias is not None:
            out = out + self.bias
        return out if self.activation is None else self.activation(out)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "output_shape": self.partial_output_shape,
            "equation": self.equation,
            "activation": serialized(activations, self.activation),
            "bias_axes": self.bias_axes,
            "kernel_initializer": serialized(initializers, self.kernel_initializer),
            "bias_initializer": serialized(initializers, self.bias_initializer),
            "kernel_regularizer": serialized(regularizers, self.kernel_regularizer),
            "bias_regularizer": serialized(regularizers, self.bias_regularizer),
            "activity_regularizer": serialized(regularizers, self.activity_regularizer),
            "kernel_constraint": serialized(constraints, self.kernel_constraint),
            "bias_constraint": serialized(constraints, self.bias_constraint),
            "quantization_config": None,
        }
