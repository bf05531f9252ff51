"""Shapes of a Dataset's elements: :class:`TensorSpec` (``tf.TensorSpec``: a shape, None for
any size, and a dtype), the check ``Dataset.from_generator`` makes of each element a generator
yields, and the padding ``Dataset.padded_batch`` gives the elements of a batch."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.data.structure import leaves, rebuild, to_numpy


def _dtype(dtype: Any) -> np.dtype:
    """A NumPy dtype from a name or dtype; TensorFlow's "string" is an object array of str."""
    if dtype in ("string", str, bytes):
        return np.dtype(object)
    return np.dtype(dtype)


def _shape(shape: Any, what: str) -> tuple[int | None, ...] | None:
    """A shape as a tuple of sizes (None for any size; -1 counts as None), or None for any
    rank."""
    if shape is None:
        return None
    if isinstance(shape, int | np.integer):
        shape = (shape,)
    try:
        sizes = tuple(None if size is None or size == -1 else int(size) for size in shape)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {shape!r} is not a shape (a list of ints and None)") from None
    if any(size is not None and size < 0 for size in sizes):
        raise ValueError(f"{what}: {shape!r} is not a shape (sizes are >= 0, or None or -1)")
    return sizes


def _fits(shape: tuple[int, ...], spec: tuple[int | None, ...] | None) -> bool:
    return spec is None or (
        len(shape) == len(spec)
        and all(s is None or s == n for n, s in zip(shape, spec, strict=True))
    )


class TensorSpec:
    """What one array of an element is: ``shape`` (None for an unknown size, or as a whole for
    an unknown rank) and ``dtype`` (a NumPy dtype or its name; "string" for texts), as
    ``tf.TensorSpec``; ``Dataset.from_generator(output_signature=...)`` takes a structure of
    them."""

    def __init__(self, shape: Any = None, dtype: Any = "float32", name: str | None = None):
        self.shape = _shape(shape, "TensorSpec")
        self.dtype = _dtype(dtype)
        self.name = name

    def is_compatible_with(self, value: Any) -> bool:
        """Whether ``value`` (an array) has this dtype and a shape this spec allows."""
        array = to_numpy(value)
        return array.dtype == self.dtype and _fits(array.shape, self.shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TensorSpec) and (self.shape, self.dtype, self.name) == (
            other.shape,
            other.dtype,
            other.name,
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.name))

    def __repr__(self) -> str:
        dtype = "string" if self.dtype == object else self.dtype.name
        return f"TensorSpec(shape={self.shape}, dtype={dtype}, name={self.name!r})"


def signature(output_types: Any, output_shapes: Any) -> Any:
    """The structure of TensorSpecs that TensorFlow's older ``output_types`` (a structure of
    dtypes) and ``output_shapes`` (of shapes; None: any) of ``from_generator`` describe."""
    types = leaves(output_types)
    shapes = [None] * len(types) if output_shapes is None else aligned(output_types, output_shapes)
    specs = [
        TensorSpec(_shape(shape, "output_shapes"), t)
        for t, shape in zip(types, shapes, strict=True)
    ]
    return rebuild(output_types, iter(specs))


def aligned(structure: Any, given: Any, what: str = "output_shapes") -> list[Any]:
    """``given``'s item for each leaf of ``structure``, walking ``given`` as far as
    ``structure`` nests (a leaf's item, a shape or a value, is taken whole)."""
    if isinstance(structure, tuple):
        if not isinstance(given, tuple | list) or len(given) != len(structure):
            raise ValueError(f"{what} {given!r} does not have the elements' structure")
        return [item for s, g in zip(structure, given, strict=True) for item in aligned(s, g, what)]
    if isinstance(structure, dict):
        if not isinstance(given, dict) or set(given) != set(structure):
            raise ValueError(f"{what} {given!r} does not have the elements' keys")
        return [item for key in structure for item in aligned(structure[key], given[key], what)]
    return [given]


def conformed(element: Any, output_signature: Any) -> Any:
    """A yielded ``element`` as arrays of the signature's dtypes, checked against its
    structure and shapes as TensorFlow's ``from_generator`` checks them."""
    try:
        values = aligned(output_signature, element, "the element")
    except ValueError:
        raise TypeError(
            "`generator` yielded an element that did not match the expected structure. The "
            f"expected structure was {output_signature!r}, but the yielded element was "
            f"{element!r}."
        ) from None
    arrays = []
    for spec, value in zip(leaves(output_signature), values, strict=True):
        try:
            array = np.asarray(to_numpy(value), dtype=spec.dtype)
        except (TypeError, ValueError):
            raise TypeError(
                "`generator` yielded an element that could not be converted to the expected "
                f"type. The expected type was {spec.dtype}, but the yielded element was {value!r}."
            ) from None
        if not _fits(array.shape, spec.shape):
            raise ValueError(
                f"`generator` yielded an element of shape {array.shape} where an element of "
                f"shape {spec.shape} was expected."
            )
        arrays.append(array)
    return rebuild(output_signature, iter(arrays))


def padded_stack(elements: list[Any], padded_shapes: Any, padding_values: Any) -> Any:
    """The elements stacked as ``padded_batch`` stacks them: each array padded at its end to
    its ``padded_shapes`` entry (None or -1: the batch's largest size) with its
    ``padding_values`` entry (default 0, "" for texts, False for bools; one value for all)."""
    first = elements[0]
    count = len(leaves(first))
    shapes = [None] * count if padded_shapes is None else aligned(first, padded_shapes)
    if padding_values is None or not isinstance(padding_values, tuple | dict):
        values = [padding_values] * count
    else:
        values = aligned(first, padding_values, "padding_values")
    columns = zip(*[leaves(element) for element in elements], strict=True)
    stacked = [
        _padded_column([to_numpy(a) for a in column], _shape(shape, "padded_shapes"), value)
        for column, shape, value in zip(columns, shapes, values, strict=True)
    ]
    return rebuild(first, iter(stacked))


def _padded_column(arrays: list[np.ndarray], shape: Any, value: Any) -> np.ndarray:
    ranks = {array.ndim for array in arrays}
    if len(ranks) != 1:
        raise ValueError(f"padded_batch: the elements' ranks differ ({sorted(ranks)})")
    largest = tuple(np.max([array.shape for array in arrays], axis=0)) if arrays[0].ndim else ()
    if shape is None:
        shape = largest
    elif len(shape) != len(largest):
        raise ValueError(f"padded_batch: padded shape {shape} for elements of rank {len(largest)}")
    target = tuple(n if size is None else size for n, size in zip(largest, shape, strict=True))
    if any(n > size for n, size in zip(largest, target, strict=True)):
        raise ValueError(
            f"padded_batch: attempted to pad to a smaller size than the input element: an "
            f"element of shape {largest} (the batch's largest) and a padded shape of {target}"
        )
    dtype = np.result_type(*arrays)
    if value is None:
        value = "" if dtype.kind in "OU" else False if dtype.kind == "b" else 0
    batch = np.full((len(arrays), *target), value, dtype=dtype)
    for i, array in enumerate(arrays):
        batch[(i, *[slice(0, n) for n in array.shape])] = array
    return batch
