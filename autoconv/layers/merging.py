"""Layers that merge several inputs: Add, Subtract, Multiply, Average, Maximum, Minimum
(elementwise, with broadcasting), Concatenate and Dot (a batchwise dot product); and their
functional forms ``add([x, y])``. As Keras 3's (keras/src/layers/merging/).
"""

from __future__ import annotations

from typing import Any

from autoconv.backends import namespace
from autoconv.layers.core import axis_int, check_axis
from autoconv.layers.layer import Layer, Shape
from autoconv.ops import engine as ops
from autoconv.ops.masks import as_mask, choose, either, keras_mask, spread
from autoconv.ops.nn import normalize
from autoconv.tensor import Tensor
from autoconv.windows import is_int


def _broadcast(shapes: list[Shape], owner: str) -> Shape:
    """The common shape of ``shapes`` (None: unknown), axes of size 1 stretching; batch axes
    are not compared."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out: list[int | None] = [padded[0][0]]
    for axis in range(1, rank):
        sizes = {s[axis] for s in padded} - {1}
        if None in sizes:
            out.append(None)
        elif len(sizes) > 1:
            raise ValueError(
                f"{owner}: inputs with incompatible shapes {', '.join(map(str, shapes))}"
            )
        else:
            out.append(sizes.pop() if sizes else 1)
    return tuple(out)


class Merge(Layer):
    """Base of the elementwise merges: a list of at least two tensors in, one out."""

    supports_masking = True

    min_inputs = 2

    def _check(self, input_shape: Any) -> list[Shape]:
        owner = f"{type(self).__name__} {self.name}"
        if not isinstance(input_shape, list) or len(input_shape) < self.min_inputs:
            raise ValueError(
                f"{owner}: expects a list of at least {self.min_inputs} inputs, got {input_shape}"
            )
        return input_shape

    def compute_output_shape(self, input_shape: Any) -> Shape:
        return _broadcast(self._check(input_shape), f"{type(self).__name__} {self.name}")

    def build(self, input_shape: Any) -> None:
        shapes = self._check(input_shape)
        if len({s[0] for s in shapes if s} - {None}) > 1:  # Keras's check, at build only
            raise ValueError(
                "Cannot merge tensors with different batch sizes. "
                f"Received tensors with shapes {[tuple(s) for s in shapes]}"
            )
        self.compute_output_shape(input_shape)

    def call(self, inputs: list[Tensor]) -> Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = self.merge(out, x)
        return out

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        raise NotImplementedError

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Tensor | None:
        """Keras's: kept where any input's mask keeps; None unless every input has one."""
        if previous_mask is None or any(m is None for m in previous_mask):
            return None
        return either([as_mask(m, inputs[0]) for m in previous_mask])


class Add(Merge):
    """Elementwise sum of the inputs (residual connections: ``layers.add([x, residual])``)."""

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return a + b


class Subtract(Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    def _check(self, input_shape: Any) -> list[Shape]:
        if not isinstance(input_shape, list) or len(input_shape) != 2:
            raise ValueError(
                f"Subtract {self.name}: expects a list of exactly 2 inputs, got {input_shape}"
            )
        return input_shape

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return a - b


class Multiply(Merge):
    """Elementwise product of the inputs."""

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return a * b


class Average(Merge):
    """Elementwise mean of the inputs."""

    def call(self, inputs: list[Tensor]) -> Tensor:
        return super().call(inputs) * (1.0 / len(inputs))

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return a + b


def _unmasked_only(merge: Any, inputs: list[Tensor]) -> Tensor:
    """``merge`` folded over the inputs, an input's masked entries (its Keras mask) taking
    no part: Keras's ``_apply_merge_op_and_or_mask`` of Maximum and Minimum."""
    output, output_mask = inputs[0], keras_mask(inputs[0])
    output_mask = None if output_mask is None else spread(as_mask(output_mask, output), output)
    for x in inputs[1:]:
        mask = keras_mask(x)
        mask = None if mask is None else spread(as_mask(mask, x), x)
        if mask is not None:
            x = choose(mask, x, output)
        if output_mask is not None:
            output = choose(output_mask, output, x)
        output_mask = None if mask is None or output_mask is None else either([output_mask, mask])
        output = merge(output, x)
    return output


class Maximum(Merge):
    """Elementwise maximum of the inputs (an input's masked entries take no part)."""

    def call(self, inputs: list[Tensor]) -> Tensor:
        return _unmasked_only(self.merge, inputs)

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return a + ops.relu(b - a)


class Minimum(Merge):
    """Elementwise minimum of the inputs (an input's masked entries take no part)."""

    def call(self, inputs: list[Tensor]) -> Tensor:
        return _unmasked_only(self.merge, inputs)

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return a - ops.relu(a - b)


class Concatenate(Layer):
    """Joins the inputs along ``axis``; every other axis must match."""

    supports_masking = True

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis_int(axis, "Concatenate")

    def compute_output_shape(self, input_shape: Any) -> Shape:
        owner = f"Concatenate {self.name}"
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f"{owner}: expects a list of at least 2 inputs, got {input_shape}")
        rank = len(input_shape[0])
        if any(len(s) != rank for s in input_shape):
            raise ValueError(f"{owner}: inputs of different ranks {input_shape}")
        check_axis(self.axis, rank, owner)
        axis = self.axis % rank  # (0, the batch axis, too: keras.io's SCAN joins two views)
        out = list(input_shape[0])
        for shape in input_shape[1:]:
            for d in range(1, rank):
                if d != axis and None not in (shape[d], out[d]) and shape[d] != out[d]:
                    raise ValueError(
                        f"{owner}: a `Concatenate` layer requires inputs with matching shapes "
                        f"except for the concatenation axis {self.axis}. Received: input_shape="
                        f"{input_shape}"
                    )
            out[axis] = None if None in (out[axis], shape[axis]) else out[axis] + shape[axis]
        return tuple(out)

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs: list[Tensor]) -> Tensor:
        return ops.concatenate(list(inputs), axis=self.axis)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Tensor | None:
        """Keras's: the inputs' masks (all kept where an input has none) spread over each
        input's shape, joined along ``axis``, kept where any entry of the last axis is."""
        if previous_mask is None or all(m is None for m in previous_mask):
            return None
        spread_masks = [
            Tensor(namespace(x.device).ones_like(x.data)) if m is None else spread(as_mask(m, x), x)
            for x, m in zip(inputs, previous_mask, strict=True)
        ]
        return ops.max(ops.concatenate(spread_masks, axis=self.axis), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"axis": self.axis}


class Dot(Layer):
    """The dot product of two inputs' samples along ``axes`` (Keras's ``batch_dot``): x of
    shape (batch, *a) and y (batch, *b) give (batch, *a less axes[0], *b less axes[1]), or
    (batch, 1) when nothing else is left. ``axes``: an int for both inputs (a negative one
    counted from each input's end) or a pair; the batch axis 0 cannot be one. ``normalize``:
    L2-normalize both along their axis first (the output is then the cosine similarity)."""

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> None:
        """Keras's Dot drops its inputs' masks (without a warning)."""
        return None

    def __init__(self, axes: int | tuple[int, int] | list[int], normalize: bool = False,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        if not is_int(axes):
            if not isinstance(axes, tuple | list):
                raise TypeError(
                    "Invalid type for argument `axes`: it should be a list or an int. "
                    f"Received: axes={axes}"
                )
            if len(axes) != 2:
                raise ValueError(
                    "Invalid format for argument `axes`: it should contain two elements. "
                    f"Received: axes={axes}"
                )
            if not all(map(is_int, axes)):
                raise ValueError(
                    "Invalid format for argument `axes`: list elements should be integers. "
                    f"Received: axes={axes}"
                )
        self.axes = int(axes) if is_int(axes) else type(axes)(int(a) for a in axes)
        self.normalize = bool(normalize)

    def _axes(self, shapes: Any) -> tuple[int, int]:
        """The two inputs' summed axes, counted from the front, checked against ``shapes``."""
        owner = f"Dot {self.name}"
        if not isinstance(shapes, list | tuple) or len(shapes) != 2:
            raise ValueError(
                f"{owner}: A `Dot` layer should be called on a list of 2 inputs. Received: "
                f"input_shape={shapes}"
            )
        first, second = (tuple(shape) for shape in shapes)
        if len(first) < 2 or len(second) < 2:
            raise ValueError(
                f"{owner}: Cannot do batch_dot on inputs with rank < 2. Received inputs with "
                f"shapes {first} and {second}."
            )
        if None not in (first[0], second[0]) and first[0] != second[0]:
            raise ValueError(
                f"{owner}: Cannot do batch_dot on inputs with different batch sizes. Received "
                f"inputs with shapes {first} and {second}."
            )
        pair = (self.axes, self.axes) if is_int(self.axes) else self.axes
        for axis, shape in zip(pair, (first, second), strict=True):
            check_axis(axis, len(shape), owner)
        a, b = pair[0] % len(first), pair[1] % len(second)
        if 0 in (a, b):
            raise ValueError(f"{owner}: Cannot perform batch_dot over axis 0. axes={self.axes}")
        if None not in (first[a], second[b]) and first[a] != second[b]:
            raise ValueError(
                f"{owner}: Incompatible input shapes: axis values {first[a]} (at axis {a}) != "
                f"{second[b]} (at axis {b}). Full input shapes: {first}, {second}"
            )
        return a, b

    def compute_output_shape(self, input_shape: Any) -> Shape:
        a, b = self._axes(input_shape)
        first, second = list(input_shape[0]), list(input_shape[1])
        del first[a], second[b], second[0]
        return (*first, *second) if first[1:] or second else (first[0], 1)

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs: list[Tensor]) -> Tensor:
        x, y = inputs
        a, b = self._axes([x.shape, y.shape])
        if self.normalize:
            x, y = normalize(x, axis=a), normalize(y, axis=b)
        out_shape = self.compute_output_shape([x.shape, y.shape])
        # x as (batch, rest, n) and y as (batch, n, rest): one batched matrix product
        x = ops.transpose(x, (*(d for d in range(x.ndim) if d != a), a))
        y = ops.transpose(y, (0, b, *(d for d in range(1, y.ndim) if d != b)))
        n = x.shape[-1]
        product = ops.matmul(ops.reshape(x, (x.shape[0], -1, n)),
                             ops.reshape(y, (y.shape[0], n, -1)))  # fmt: skip
        return ops.reshape(product, out_shape)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"axes": self.axes, "normalize": self.normalize}


def add(inputs: list[Any], **kwargs: Any) -> Any:
    """``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs: list[Any], **kwargs: Any) -> Any:
    return Subtract(**kwargs)(inputs)


def multiply(inputs: list[Any], **kwargs: Any) -> Any:
    return Multiply(**kwargs)(inputs)


def average(inputs: list[Any], **kwargs: Any) -> Any:
    return Average(**kwargs)(inputs)


def maximum(inputs: list[Any], **kwargs: Any) -> Any:
    return Maximum(**kwargs)(inputs)


def minimum(inputs: list[Any], **kwargs: Any) -> Any:
    return Minimum(**kwargs)(inputs)


def concatenate(inputs: list[Any], axis: int = -1, **kwargs: Any) -> Any:
    """``Concatenate(axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs: list[Any], axes: int | tuple[int, int] | list[int] = -1, **kwargs: Any) -> Any:
    """``Dot(axes, **kwargs)(inputs)`` (``normalize`` among the keyword arguments)."""
    return Dot(axes=axes, **kwargs)(inputs)
