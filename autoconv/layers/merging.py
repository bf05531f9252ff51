"""Layers that merge several inputs: Add, Subtract, Multiply, Average, Maximum, Minimum
(elementwise, with broadcasting) and Concatenate; and their functional forms ``add([x, y])``.
"""

from __future__ import annotations

from typing import Any

from autoconv.layers.core import axis_int, check_axis
from autoconv.layers.layer import Layer, Shape
from autoconv.ops import engine as ops
from autoconv.tensor import Tensor


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
        self.compute_output_shape(input_shape)

    def call(self, inputs: list[Tensor]) -> Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = self.merge(out, x)
        return out

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        raise NotImplementedError


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


class Maximum(Merge):
    """Elementwise maximum of the inputs."""

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return a + ops.relu(b - a)


class Minimum(Merge):
    """Elementwise minimum of the inputs."""

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return a - ops.relu(a - b)


class Concatenate(Layer):
    """Joins the inputs along ``axis``; every other axis must match."""

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
        axis = self.axis % rank
        if axis == 0:
            raise ValueError(f"{owner}: cannot concatenate along the batch axis")
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

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"axis": self.axis}


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
