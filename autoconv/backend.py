"""``keras.backend``: Keras's numeric defaults (the same settings as :mod:`autoconv.config`),
names, and dtypes: :func:`standardize_dtype`, :func:`is_float_dtype`, :func:`is_int_dtype`
and :func:`result_type` (Keras's type promotion lattice, adapted from JAX's).

autoconv's tensors hold float32 or float64; these functions answer for every dtype Keras
names, as Keras's do, so that code written against ``keras.backend`` runs unchanged.
:func:`result_type` keeps 64-bit results (as Keras on TensorFlow does, and as autoconv's ops
compute float64 when given it) where Keras on JAX or PyTorch narrows them to 32 bits; a Python
``int`` is int32, Keras's default integer on those backends.
"""

from __future__ import annotations

import functools
from typing import Any

from autoconv.config import (
    backend,
    epsilon,
    floatx,
    image_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)
from autoconv.dtype_policies import python_dtype
from autoconv.layers import clear_session
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.naming import get_uid

BOOL_TYPES = ("bool",)
INT_TYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
WEAK_TYPES = ("int", "float")  # a Python number's type: it takes the other operand's width
COMPLEX_TYPES = ("complex64", "complex128")
FLOAT8_TYPES = ("float8_e4m3fn", "float8_e5m2")  # no implicit conversion to or from these
ALLOWED_DTYPES = (
    *FLOAT_TYPES[1:], *INT_TYPES, "bfloat16", *BOOL_TYPES, "string", *FLOAT8_TYPES,
    *COMPLEX_TYPES,
)  # fmt: skip


def standardize_dtype(dtype: Any) -> str:
    """``dtype`` (a name, a NumPy dtype or type, a Python type, a tensor's ``.dtype``) as
    Keras's name for it; None is :func:`floatx`. ValueError for a dtype Keras does not have."""
    if dtype is None:
        return floatx()
    dtype = python_dtype(dtype)
    if hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    if dtype not in ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return str(dtype)


def is_float_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` is a float (bfloat16 included)."""
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` is a signed or unsigned integer."""
    return standardize_dtype(dtype).startswith(("int", "uint"))


def is_keras_tensor(x: Any) -> bool:
    """Whether ``x`` is a symbolic tensor of a functional graph (``autoconv.Input``'s, or a
    layer's output on one): Keras's KerasTensor."""
    return isinstance(x, SymbolicTensor)


def _promotions() -> dict[str, list[str]]:
    """Keras's lattice (JAX's): each dtype and the ones directly above it."""
    u1, u2, u4, u8, i1, i2, i4, i8 = INT_TYPES
    bf, f2, f4, f8 = FLOAT_TYPES
    c64, c128 = COMPLEX_TYPES
    return {
        "bool": ["int"], u1: [i2, u2], u2: [i4, u4], u4: [i8, u8], u8: ["float"],
        "int": [u1, i1, c64], i1: [i2], i2: [i4], i4: [i8], i8: ["float"], "float": [bf, f2],
        bf: [f4], f2: [f4], f4: [f8, c64], f8: [c128], c64: [c128], c128: [],
    }  # fmt: skip


def _upper_bounds() -> dict[str, set[str]]:
    """Each dtype of the lattice and every dtype at or above it."""
    above = _promotions()
    bounds = {node: {node} for node in above}
    for found in bounds.values():
        while not (more := set().union(*(above[b] for b in found))) <= found:
            found |= more
    return bounds


UPPER_BOUNDS = _upper_bounds()


@functools.lru_cache(512)
def _least_upper_bound(*nodes: str) -> str:
    """The lowest dtype of the lattice at or above every one of ``nodes``."""
    unknown = [n for n in nodes if n not in UPPER_BOUNDS]
    if unknown:
        raise ValueError(f"dtype={unknown[0]!r} is not a valid dtype for Keras type promotion.")
    common = set.intersection(*(UPPER_BOUNDS[n] for n in nodes))
    least = (common & set(nodes)) or {c for c in common if common <= UPPER_BOUNDS[c]}
    if len(least) != 1:
        raise ValueError(
            f"Input dtypes {nodes} have no available implicit dtype promotion path. Try "
            "explicitly casting inputs to the desired output type."
        )
    return least.pop()


def _weak(dtype: str) -> str:
    """The weak type a Python number of ``dtype`` stands for."""
    if dtype == "bool":
        return dtype
    return next(kind for kind in ("float", "int", "complex") if kind in dtype)


def _resolve_weak(dtype: str) -> str:
    """A weak type at :func:`floatx`'s width (int32 for "int" under float32, ...)."""
    width = floatx()[-2:]
    if dtype == "bool" or dtype not in WEAK_TYPES:
        return dtype
    return f"int{width}" if dtype == "int" else f"float{width}"


def result_type(*dtypes: Any) -> str:
    """The dtype of an op on values of ``dtypes`` by Keras's promotion rules (the least upper
    bound on its lattice; Python's ``int`` and ``float`` are weak: ``result_type("int8", int)``
    is int8). No dtype: :func:`floatx`. ValueError for float8 dtypes, which do not promote."""
    if not dtypes:
        return floatx()
    if any(d in FLOAT8_TYPES for d in dtypes):
        raise ValueError(
            "There is no implicit conversions from float8 dtypes to others. You must cast it "
            f"internally. Received: {dtypes}"
        )
    names = [standardize_dtype(floatx() if d is None else d) for d in dtypes]
    weak = [d is int or d is float for d in dtypes]
    if len(set(names)) == 1 and not all(weak):
        out, out_weak = names[0], len(names) == 1 and weak[0]
    elif all(weak):
        out, out_weak = _least_upper_bound(*set(names)), True
    else:
        nodes = {_weak(n) if w else n for n, w in zip(names, weak, strict=True)}
        out = _least_upper_bound(*nodes)
        out_weak = out in WEAK_TYPES
    return _resolve_weak(_weak(out) if out_weak and out != "bool" else out)


__all__ = [
    "backend",
    "clear_session",
    "epsilon",
    "floatx",
    "get_uid",
    "image_data_format",
    "is_float_dtype",
    "is_int_dtype",
    "is_keras_tensor",
    "result_type",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
    "standardize_dtype",
]
