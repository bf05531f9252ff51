"""``autoconv.ops``'s NumPy-like, core and math functions against Keras 3.15's own (on its PyTorch
backend; skipped without Keras or torch): every case's values, and a float64 gradient check of
each differentiable one. Integer and bool results are NumPy arrays of Keras's dtype kind.

(Over ~600 lines on purpose: one table of cases, run by a few tests.)"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from autoconv import ops
from autoconv.tensor import Tensor
from autoconv.testing import gradcheck

os.environ.setdefault("KERAS_BACKEND", "torch")

RNG = np.random.default_rng(7)


def real(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return RNG.uniform(low, high, shape).astype(np.float32)


def positive(*shape: int) -> np.ndarray:
    return real(*shape, low=0.5, high=2.0)


def unit(*shape: int) -> np.ndarray:
    return real(*shape, low=-0.9, high=0.9)


INTS = np.array([[3, -1, 4], [1, -5, 9]], dtype=np.int32)
M = real(3, 4)
V = real(5)
SQUARE = real(3, 3) + 3 * np.eye(3, dtype=np.float32)

# (function name, arguments, keyword arguments, whether it is differentiable)
CASES: list[tuple[str, tuple, dict[str, Any], bool]] = [
    *[
        (name, (real(2, 3),), {}, True)
        for name in (
            "sin",
            "cos",
            "tan",
            "arctan",
            "sinh",
            "cosh",
            "arcsinh",
            "tanh",
            "exp",
            "exp2",
            "expm1",
            "cbrt",
            "deg2rad",
            "rad2deg",
            "negative",
            "square",
            "abs",
            "absolute",
            "sinc",
            "erf",
            "logsumexp",
            "sigmoid",
            "relu",
            "softmax",
            "log_softmax",
        )
    ],
    *[(name, (unit(2, 3),), {}, True) for name in ("arcsin", "arccos", "arctanh", "erfinv")],
    *[
        (name, (positive(2, 3),), {}, True)
        for name in (
            "log",
            "log2",
            "log10",
            "log1p",
            "sqrt",
            "rsqrt",
            "reciprocal",
            "i0",
        )
    ],
    ("arccosh", (positive(2, 3) + 1,), {}, True),
    *[(name, (real(2, 3) * 3,), {}, False) for name in ("floor", "ceil", "trunc", "sign", "round")],
    ("round", (real(4) * 30,), {"decimals": -1}, False),
    *[(name, (INTS,), {}, False) for name in ("abs", "negative", "square", "sign", "floor")],
    *[
        (name, (real(2, 3), real(3)), {}, True)
        for name in (
            "add",
            "subtract",
            "multiply",
            "maximum",
            "minimum",
            "arctan2",
            "hypot",
            "logaddexp",
            "logaddexp2",
            "fmax",
            "fmin",
        )
    ],
    *[
        (name, (real(2, 3), positive(3)), {}, True)
        for name in ("divide", "true_divide", "divide_no_nan")
    ],
    ("divide_no_nan", (real(3), np.array([1.0, 0.0, 2.0], np.float32)), {}, False),
    ("power", (positive(2, 3), real(3)), {}, True),
    *[(name, (real(2, 3) * 3, positive(3)), {}, False) for name in ("mod", "fmod", "floor_divide")],
    ("mod", (real(4) * 3, positive(4)), {}, True),
    *[
        (name, (INTS, np.int32(2)), {}, False)
        for name in ("add", "multiply", "mod", "floor_divide", "power", "maximum")
    ],
    *[
        (
            name,
            (np.array([2.0, np.nan, np.nan], np.float32), np.array([1, 4, np.nan], np.float32)),
            {},
            False,
        )
        for name in ("fmax", "fmin")
    ],
    ("fabs", (INTS,), {}, False),
    ("heaviside", (np.array([-1.0, 0.0, 2.0], np.float32), np.float32(0.5)), {}, False),
    ("ldexp", (real(3), np.array([1, 2, -1], np.int32)), {}, True),
    ("nextafter", (real(3), np.float32(5)), {}, False),
    *[
        (name, (INTS, np.array([2, 3, 4], np.int32)), {}, False)
        for name in (
            "gcd",
            "lcm",
            "bitwise_and",
            "bitwise_or",
            "bitwise_xor",
            "left_shift",
            "right_shift",
        )
    ],
    *[(name, (INTS,), {}, False) for name in ("bitwise_not", "bitwise_invert")],
    *[
        (name, (real(2, 3), real(3)), {}, False)
        for name in (
            "equal",
            "not_equal",
            "greater",
            "greater_equal",
            "less",
            "less_equal",
            "logical_and",
            "logical_or",
            "logical_xor",
        )
    ],
    *[
        (name, (np.array([1.0, -np.inf, np.inf, np.nan, 0.0], np.float32),), {}, False)
        for name in (
            "isfinite",
            "isinf",
            "isnan",
            "isneginf",
            "isposinf",
            "logical_not",
            "signbit",
            "nan_to_num",
        )
    ],
    ("isclose", (real(4), real(4)), {"atol": 1.0}, False),
    ("allclose", (M, M + 1e-7), {}, False),
    ("isin", (INTS, np.array([1, 3], np.int32)), {}, False),
    ("clip", (real(2, 3), -0.5, 0.5), {}, True),
    ("clip", (INTS, 0, 4), {}, False),
    # reductions
    *[
        (name, (M,), {"axis": axis, "keepdims": keep}, True)
        for name in ("sum", "mean", "max", "min", "amax", "amin", "prod", "std", "var", "ptp")
        for axis, keep in ((None, False), (1, False), (0, True), ((0, 1), False))
    ],
    *[
        (name, (INTS,), {"axis": 1}, False)
        for name in ("sum", "max", "min", "prod", "cumsum", "cumprod")
    ],
    *[
        (name, (M,), {"axis": 1}, False)
        for name in ("argmax", "argmin", "argsort", "all", "any", "count_nonzero")
    ],
    *[
        (name, (M,), {"axis": axis}, True)
        for name in ("cumsum", "cumprod")
        for axis in (None, 0, 1)
    ],
    ("median", (M,), {"axis": 1}, True),
    ("median", (real(3, 5),), {}, True),
    *[
        ("quantile", (M, q), {"axis": 1, "method": method}, method in ("linear", "midpoint"))
        for q in (0.3, [0.1, 0.5, 0.9])
        for method in ("linear", "lower", "higher", "midpoint", "nearest")
    ],
    ("quantile", (M, 0.25), {"axis": 0, "keepdims": True}, True),
    ("percentile", (M, [10.0, 75.0]), {"axis": 1}, True),
    ("average", (M, 1, positive(4)), {}, True),
    ("average", (M,), {}, True),
    ("trace", (SQUARE,), {}, True),
    ("trace", (real(2, 3, 4),), {"offset": 1, "axis1": 1, "axis2": 2}, True),
    ("sort", (M,), {"axis": 0}, True),
    ("sort", (M,), {}, True),
    ("corrcoef", (M,), {}, True),
    *[
        (
            name,
            (np.array([[1.0, np.nan, 3.0], [4.0, 5.0, np.nan]], np.float32),),
            {"axis": 1},
            False,
        )
        for name in (
            "nansum",
            "nanmean",
            "nanmax",
            "nanmin",
            "nanprod",
            "nanstd",
            "nanvar",
            "nanargmax",
            "nanargmin",
            "nanmedian",
            "nancumsum",
            "nancumprod",
        )
    ],
    (
        "nanquantile",
        (np.array([[1.0, np.nan, 3.0, 0.5], [4.0, 5.0, np.nan, 2.0]], np.float32), 0.4),
        {"axis": 1},
        False,
    ),
    ("nanpercentile", (np.array([1.0, np.nan, 3.0, 0.5], np.float32), 40.0), {}, False),
    ("nonzero", (np.array([[0.0, 1.0], [2.0, 0.0]], np.float32),), {}, False),
    (
        "searchsorted",
        (np.array([1.0, 2.0, 4.0], np.float32), real(5) * 3),
        {"side": "right"},
        False,
    ),
    ("digitize", (real(5), np.array([-1.0, 0.0, 1.0], np.float32)), {}, False),
    ("bincount", (np.array([0, 1, 1, 4], np.int32),), {}, False),
    ("bincount", (np.array([0, 1, 1, 4], np.int32), real(4)), {"minlength": 6}, True),
    ("histogram", (real(20),), {"bins": 4}, False),
    ("unravel_index", (np.array([1, 5, 7], np.int32), (2, 4)), {}, False),
    ("diff", (M,), {"n": 2, "axis": 1}, True),
    ("diff", (INTS,), {}, False),
    ("trapezoid", (M,), {"dx": 0.5}, True),
    ("trapezoid", (V, np.sort(real(5))), {}, True),
    # moving values
    ("reshape", (M, (2, 6)), {}, True),
    ("reshape", (INTS, (-1,)), {}, False),
    ("ravel", (M,), {}, True),
    ("transpose", (real(2, 3, 4),), {"axes": (2, 0, 1)}, True),
    ("moveaxis", (real(2, 3, 4), 0, -1), {}, True),
    ("swapaxes", (real(2, 3, 4), 0, 2), {}, True),
    ("expand_dims", (M, 1), {}, True),
    ("expand_dims", (M, (0, 3)), {}, True),
    ("squeeze", (real(1, 3, 1),), {}, True),
    ("squeeze", (real(1, 3, 1),), {"axis": -1}, True),
    ("tile", (M, (2, 1)), {}, True),
    ("repeat", (M, 2), {"axis": 1}, True),
    ("repeat", (M, np.array([1, 0, 2], np.int32)), {"axis": 0}, True),
    ("repeat", (INTS, 2), {}, False),
    ("flip", (M,), {"axis": 1}, True),
    ("flip", (M,), {}, True),
    ("fliplr", (M,), {}, True),
    ("flipud", (M,), {}, True),
    ("roll", (M, 2), {"axis": 1}, True),
    ("roll", (M, -3), {}, True),
    ("rot90", (M,), {"k": 3}, True),
    ("diagonal", (real(3, 4),), {"offset": 1}, True),
    ("diag", (V,), {"k": -1}, True),
    ("diag", (M,), {"k": 1}, True),
    ("diagflat", (real(2, 2),), {}, True),
    ("tril", (M,), {"k": 1}, True),
    ("triu", (real(2, 3, 3),), {}, True),
    ("take", (M, np.array([2, 0, 2], np.int32)), {"axis": 1}, True),
    ("take", (M, np.array([[1, 5]], np.int32)), {}, True),
    ("take_along_axis", (M, np.argsort(M, axis=1)[:, :2].astype(np.int32)), {"axis": 1}, True),
    ("broadcast_to", (V, (3, 5)), {}, True),
    ("pad", (M, ((1, 2), (0, 1))), {}, True),
    ("pad", (M, ((1, 1), (1, 1))), {"constant_values": 2.5}, True),
    ("pad", (M, ((1, 1), (2, 1))), {"mode": "reflect"}, True),
    ("pad", (INTS, ((1, 1), (1, 1))), {}, False),
    ("concatenate", ([M, real(2, 4)],), {}, True),
    ("concatenate", ([M, real(3, 2)],), {"axis": 1}, True),
    ("stack", ([M, M * 2],), {"axis": 1}, True),
    ("hstack", ([V, V],), {}, True),
    ("hstack", ([M, M],), {}, True),
    ("vstack", ([V, V],), {}, True),
    ("dstack", ([M, M],), {}, True),
    ("append", (M, real(1, 4)), {"axis": 0}, True),
    ("append", (M, V), {}, True),
    ("where", (M > 0, M, real(4)), {}, True),
    ("where", (INTS > 0, INTS, 0), {}, False),
    ("select", ([M > 0.5, M < -0.5], [M, M * 2]), {"default": 7.0}, True),
    ("get_item", (M, (slice(0, 2), 1)), {}, True),
    ("copy", (M,), {}, True),
    # creation
    ("arange", (2, 11, 3), {}, False),
    ("arange", (0.5, 3.0, 0.5), {}, False),
    ("zeros", ((2, 3),), {}, False),
    ("ones", ((2,),), {"dtype": "int32"}, False),
    ("full", ((2, 2), 7), {}, False),
    ("full", ((2, 2), 7.5), {}, False),
    ("zeros_like", (M,), {}, False),
    ("ones_like", (INTS,), {}, False),
    ("full_like", (M, 3), {}, False),
    ("eye", (3, 4), {"k": 1}, False),
    ("identity", (3,), {}, False),
    ("tri", (3,), {"k": -1}, False),
    ("linspace", (0.0, 1.0, 5), {}, False),
    ("linspace", (0.0, 1.0, 4), {"endpoint": False}, False),
    ("logspace", (0.0, 2.0, 3), {}, False),
    ("geomspace", (1.0, 100.0, 3), {}, False),
    ("array", ([[1.0, 2.0]],), {}, False),
    ("array", ([1, 2],), {}, False),
    *[(name, (6,), {}, False) for name in ("bartlett", "blackman", "hamming", "hanning")],
    ("kaiser", (6, 2.0), {}, False),
    ("vander", (V,), {"N": 3}, True),
    ("meshgrid", (V, real(3)), {}, True),
    ("meshgrid", (V, real(3)), {"indexing": "ij"}, True),
    ("tri", (2, 3), {}, False),
    # products
    ("matmul", (M, real(4, 2)), {}, True),
    ("matmul", (real(2, 3, 4), real(4)), {}, True),
    ("dot", (M, real(4, 2)), {}, True),
    ("dot", (V, V), {}, True),
    ("dot", (real(2, 3, 4), real(4, 5)), {}, True),
    ("tensordot", (real(2, 3, 4), real(3, 4, 5)), {"axes": 2}, True),
    ("tensordot", (real(2, 3, 4), real(4, 3)), {"axes": ([1, 2], [1, 0])}, True),
    ("inner", (M, real(2, 4)), {}, True),
    ("outer", (V, real(3)), {}, True),
    ("vdot", (V, V), {}, True),
    ("kron", (real(2, 2), real(2, 3)), {}, True),
    ("cross", (real(4, 3), real(4, 3)), {}, True),
    ("einsum", ("ij,jk->ik", M, real(4, 2)), {}, True),
    ("einsum", ("bij,bjk", real(2, 3, 4), real(2, 4, 2)), {}, True),
    ("einsum", ("...j,j->...", real(2, 3, 4), real(4)), {}, True),
    ("einsum", ("ij->j", M), {}, True),
    ("correlate", (real(6), real(3)), {}, True),
    *[("correlate", (real(6), real(3)), {"mode": mode}, True) for mode in ("same", "full")],
    ("slogdet", (SQUARE,), {}, True),
    # core and math
    ("cast", (M, "float64"), {}, True),
    ("cast", (M * 3, "int32"), {}, False),
    ("saturate_cast", (M * 1000, "int8"), {}, False),
    ("convert_to_tensor", ([1, 2],), {}, False),
    ("convert_to_tensor", (M,), {"dtype": "float64"}, False),
    ("shape", (M,), {}, False),
    ("ndim", (M,), {}, False),
    ("size", (M,), {}, False),
    ("stop_gradient", (M,), {}, False),
    ("slice", (M, (1, 1), (2, 2)), {}, True),
    ("slice_update", (M, (1, 1), real(2, 2)), {}, True),
    ("scatter", (np.array([[0, 1], [2, 2], [0, 1]], np.int32), real(3), (3, 3)), {}, True),
    ("scatter_update", (M, np.array([[0, 1], [2, 2]], np.int32), real(2)), {}, True),
    *[
        (
            "scatter_update",
            (real(4), np.array([[0], [0], [1]], np.int32), real(3)),
            {"reduction": r},
            False,
        )
        for r in ("MAX", "Mul")
    ],
    ("unstack", (M,), {"axis": 1}, True),
    ("logsumexp", (M,), {"axis": 1, "keepdims": True}, True),
    ("erfc", (real(4),), {}, True),
    ("logdet", (SQUARE @ SQUARE.T,), {}, True),
    ("top_k", (M, 2), {}, True),
    ("in_top_k", (np.array([0, 3, 1], np.int32), M, 2), {}, False),
    *[
        (name, (real(5, 2), np.array([0, 0, 2, 1, 2], np.int32)), {"num_segments": 3}, True)
        for name in ("segment_sum", "segment_max", "segment_min", "segment_prod")
    ],
    ("extract_sequences", (real(2, 10), 4, 3), {}, True),
    ("cdist", (real(3, 2), real(4, 2)), {}, True),
    ("fft", ((real(2, 8), real(2, 8)),), {}, True),
    ("fft2", ((real(4, 4), real(4, 4)),), {}, True),
    ("ifft2", ((real(4, 4), real(4, 4)),), {}, True),
    ("rfft", (real(2, 8),), {}, True),
    ("rfft", (real(6),), {"fft_length": 8}, True),
    ("irfft", ((real(2, 5), real(2, 5)),), {}, True),
    ("irfft", ((real(5), real(5)),), {"fft_length": 7}, True),
    ("stft", (real(2, 40), 8, 4, 8), {}, True),
    ("stft", (real(40), 6, 3, 8), {"window": "hamming", "center": False}, True),
    ("istft", ((real(2, 9, 5), real(2, 9, 5)), 8, 4, 8), {}, True),
    ("istft", ((real(9, 5), real(9, 5)), 8, 4, 8), {"length": 30}, True),
    ("istft", ((real(9, 5), real(9, 5)), 8, 4, 8), {"window": None}, True),
]


# Where Keras's PyTorch backend departs from NumPy (whose semantics Keras documents), NumPy's
# values are the reference: an int pad width pads every axis; 'symmetric', 'edge' and 'wrap'
# padding; concatenating flattened arrays; negative take indices; vdot of matrices; the cross
# product of 2-vectors and on other axes (Keras's torch backend refuses axisa).
NUMPY_CASES: list[tuple[str, tuple, dict[str, Any], bool]] = [
    ("pad", (M, 1), {"constant_values": 2.5}, True),
    ("pad", (INTS, 1), {}, False),
    *[
        ("pad", (M, ((1, 1), (2, 1))), {"mode": mode}, True)
        for mode in ("symmetric", "edge", "wrap")
    ],
    ("concatenate", ([INTS, INTS],), {"axis": None}, False),
    ("concatenate", ([M, V],), {"axis": None}, True),
    ("take", (M, np.array([[1, -1]], np.int32)), {}, True),
    ("vdot", (M, M), {}, True),
    ("cross", (real(4, 2), real(4, 2)), {}, True),
    ("cross", (real(3, 4), real(4, 3)), {"axisa": 0}, True),
]


def _ids() -> list[str]:
    return [f"{name}-{i}" for i, (name, *_rest) in enumerate(CASES)]


def _numpy(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_numpy(v) for v in value]
    if isinstance(value, Tensor):
        return value.numpy()
    return value


@pytest.mark.parametrize(("name", "args", "kwargs", "differentiable"), CASES, ids=_ids())
def test_values_match_keras(name: str, args: tuple, kwargs: dict, differentiable: bool) -> None:
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    ours = getattr(ops, name)(*args, **kwargs)
    theirs = getattr(keras.ops, name)(*_keras_tensors(keras, args), **kwargs)
    ours, theirs = _numpy(ours), keras.tree.map_structure(keras.ops.convert_to_numpy, theirs)
    _assert_same(ours, theirs, name)


def _keras_tensors(keras: Any, value: Any) -> Any:
    """Float NumPy arrays (also in lists and pairs) as Keras tensors, as a Keras user passes
    them (integer ones as they are: Keras's torch backend scatters int32 tensors wrongly)."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return keras.ops.convert_to_tensor(value)
    if isinstance(value, tuple | list):
        return type(value)(_keras_tensors(keras, v) for v in value)
    return value


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "differentiable"),
    NUMPY_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(NUMPY_CASES)],
)
def test_values_match_numpy(name: str, args: tuple, kwargs: dict, differentiable: bool) -> None:
    _assert_same(
        _numpy(getattr(ops, name)(*args, **kwargs)), getattr(np, name)(*args, **kwargs), name
    )


def _assert_same(ours: Any, theirs: Any, name: str) -> None:
    if isinstance(theirs, list | tuple):
        assert isinstance(ours, list | tuple) and len(ours) == len(theirs), name
        for o, t in zip(ours, theirs, strict=True):
            _assert_same(o, t, name)
        return
    theirs = np.asarray(theirs)
    ours_array = np.asarray(ours)
    assert ours_array.shape == theirs.shape, (name, ours_array.shape, theirs.shape)
    if theirs.dtype.kind in "biu":  # integers and bools stay NumPy, of Keras's kind
        assert not isinstance(ours, Tensor), name
        assert ours_array.dtype.kind == theirs.dtype.kind, (name, ours_array.dtype, theirs.dtype)
        np.testing.assert_array_equal(ours_array, theirs)
    else:
        np.testing.assert_allclose(ours_array, theirs, rtol=2e-5, atol=2e-6, equal_nan=True)


GRADIENT_CASES = [case for case in CASES + NUMPY_CASES if case[3]]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "differentiable"),
    GRADIENT_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(GRADIENT_CASES)],
)
def test_gradients(name: str, args: tuple, kwargs: dict, differentiable: bool) -> None:
    """Every real array argument (also inside a list or pair) gets a float64 gradient check."""
    flat, rebuild = _real_leaves(args)

    def fn(*leaves: Tensor) -> Tensor:
        out = getattr(ops, name)(*rebuild(leaves), **kwargs)
        parts = out if isinstance(out, tuple | list) else (out,)
        tensors = [p for p in parts if isinstance(p, Tensor)]
        total = tensors[0].sum() * 0.0
        for i, part in enumerate(tensors):
            total = total + (part * float(i + 1)).sum() + (part * part).sum() * 0.25
        return total

    assert gradcheck(fn, flat, rtol=2e-3, atol=2e-5)


def _real_leaves(args: tuple) -> tuple[list[np.ndarray], Any]:
    """The float arrays in ``args`` and a function that puts replacements back in their place."""
    leaves: list[np.ndarray] = []

    def collect(value: Any) -> Any:
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.ndim:
            leaves.append(value.astype(np.float64))
            return len(leaves) - 1
        if isinstance(value, tuple | list):
            return type(value)(collect(v) for v in value)
        return ("constant", value)

    shape = collect(args)

    def rebuild(replacements: tuple, node: Any = shape) -> Any:
        if isinstance(node, int):
            return replacements[node]
        if isinstance(node, tuple) and len(node) == 2 and node[0] == "constant":
            return node[1]
        return type(node)(rebuild(replacements, n) for n in node)

    return leaves, rebuild


def test_integer_arithmetic_stays_numpy_and_reals_become_tensors() -> None:
    assert isinstance(ops.add(np.arange(3), 1), np.ndarray)
    assert isinstance(ops.add(np.arange(3), 0.5), Tensor)
    assert ops.argmax(Tensor(M), axis=1).dtype == np.int32
    assert ops.add(Tensor(M), np.ones(4, np.float64)).dtype == np.float64  # Keras promotes


@pytest.mark.parametrize("dtype", ["bool", "int8", "int16", "int32"])
@pytest.mark.parametrize("name", ["sum", "prod", "cumsum", "cumprod"])
def test_totals_of_integers_have_kerass_dtype(keras: Any, name: str, dtype: str) -> None:
    """Keras's rule (its symbolic dtype): int32 stays (NumPy widens it to int64), bool and, in
    a sum or product, int8 and int16 become int32."""
    x = np.array([[1, 2, 1], [0, 2, 1]]).astype(dtype)
    want = getattr(keras.ops, name)(keras.KerasTensor(x.shape, dtype)).dtype
    got = getattr(ops, name)(x)
    assert got.dtype == want
    np.testing.assert_array_equal(got, getattr(np, name)(x))


def test_totals_of_int64_and_small_unsigned_integers() -> None:
    """int64 stays int64 (Keras's eager result; its symbolic one reads int32); uint8 and
    uint16 totals are uint32, Keras's rule but on PyTorch, which has no uint32 (int32 there)."""
    wide, small = np.arange(4, dtype=np.int64), np.arange(4, dtype=np.uint8)
    assert {ops.sum(wide).dtype, ops.prod(wide).dtype, ops.cumsum(wide).dtype} == {
        np.dtype("int64")
    }
    assert ops.sum(small).dtype == ops.prod(small).dtype == np.uint32
    assert ops.cumsum(small).dtype == np.uint8


@pytest.mark.parametrize(
    ("inputs", "updates"), [(np.float32, np.float64), (np.float64, np.float32)]
)
def test_updates_are_written_in_the_inputs_dtype_as_kerass(inputs: Any, updates: Any) -> None:
    """keras.io's Forward-Forward writes a float64 one-hot into float32 images: Keras's
    PyTorch backend writes it into a copy of the images, which stay float32."""
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    x, block, values = M.astype(inputs), real(2, 2).astype(updates), real(2).astype(updates)
    where = np.array([[0, 1], [2, 2]], np.int32)
    for lib in (ops, keras.ops):
        sliced = lib.convert_to_numpy(lib.slice_update(x, (1, 1), block))
        scattered = lib.convert_to_numpy(lib.scatter_update(x, where, values))
        assert sliced.dtype == scattered.dtype == inputs
        np.testing.assert_allclose(sliced[1:3, 1:3], block, rtol=1e-6)
        np.testing.assert_allclose(scattered[[0, 2], [1, 2]], values, rtol=1e-6)


def test_engine_names_and_keras_names_share_the_namespace() -> None:
    assert ops.conv2d is ops.engine.conv2d  # the engine's own, where Keras has no such name
    assert ops.concatenate is ops.numpy.concatenate  # Keras's (axis=0 by default)
    assert ops.concatenate([np.ones((1, 2)), np.ones((1, 2))]).shape == (2, 2)


def test_the_mean_of_nothing_is_nan_as_kerass() -> None:
    """keras.io's filter visualization averages an activation cropped by 2 on each side: of a
    4x4 map nothing is left, and Keras's mean (each backend's, NumPy's) is NaN, not an error."""
    x = Tensor(np.ones((1, 4, 4, 3), np.float32), requires_grad=True)
    loss = ops.mean(x[:, 2:-2, 2:-2, 0])
    assert loss.dtype == np.float32 and np.isnan(loss.numpy())
    loss.backward()
    np.testing.assert_array_equal(x.grad, np.zeros((1, 4, 4, 3)))
    empty_rows = np.ones((2, 0), np.float32)
    np.testing.assert_array_equal(ops.mean(empty_rows, axis=1).numpy(), [np.nan, np.nan])
    assert ops.mean(empty_rows, axis=0).shape == (0,)


def test_custom_gradient_replaces_the_gradient() -> None:
    @ops.custom_gradient
    def clipped_identity(x):
        def grad(upstream):
            return ops.clip(upstream, -0.5, 0.5)

        return x * 1.0, grad

    x = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    (clipped_identity(x) * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, [0.5, 0.5])


def test_control_flow_runs_eagerly() -> None:
    assert ops.cond(True, lambda: 1, lambda: 2) == 1
    assert ops.switch(5, [lambda v: v + 1, lambda v: v * 10], 3) == 30
    assert ops.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s + i), (0, 0)) == (4, 6)
    assert ops.fori_loop(0, 3, lambda i, v: v * 2, 1) == 8
    carry, ys = ops.scan(
        lambda c, x: (c + x, c * x), Tensor(0.0), Tensor(np.arange(3.0, dtype=np.float32))
    )
    assert float(carry) == 3.0
    np.testing.assert_allclose(ys.numpy(), [0.0, 0.0, 2.0])
    np.testing.assert_allclose(
        ops.associative_scan(lambda a, b: a + b, Tensor(np.arange(4.0, dtype=np.float32))).numpy(),
        [0, 1, 3, 6],
    )
    np.testing.assert_allclose(ops.map(lambda r: r.sum(), Tensor(M)).numpy(), M.sum(1), 1e-6)


def test_nonzero_gives_one_index_array_per_axis_as_kerass_documented_form() -> None:
    """Keras's symbolic call (and its NumPy, JAX and TensorFlow backends) gives a tuple of one
    int32 index array per axis; its PyTorch backend stacks them into one (ndim, n) tensor,
    whose rows are the same indices."""
    keras = pytest.importorskip("keras")
    x = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]], np.float32)
    ours = ops.nonzero(x)
    spec = keras.ops.nonzero(keras.KerasTensor((None, 3)))
    assert isinstance(ours, tuple) and isinstance(spec, tuple)
    assert [(o.ndim, str(o.dtype)) for o in ours] == [(len(s.shape), s.dtype) for s in spec]
    np.testing.assert_array_equal(np.stack(ours), keras.ops.nonzero(x).numpy())


def test_fabs_of_integers_is_real_as_kerass() -> None:
    result = ops.fabs(np.array([-1, 2], np.int32))
    assert isinstance(result, Tensor) and result.dtype == np.float32
    np.testing.assert_array_equal(result.numpy(), [1.0, 2.0])


@pytest.mark.parametrize("name", ["add", "subtract", "equal", "greater", "where"])
def test_python_ints_past_int32_stay_exact_as_kerass(name: str) -> None:
    """A Python int that int32 cannot hold is int64, as Keras converts it (it wrapped)."""
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    big = 2**40
    x = np.array([big + 1, big, 7], np.int64)
    if name == "where":
        ours, theirs = ops.where(x > big, big + 1, 0), keras.ops.where(x > big, big + 1, 0)
    else:
        ours, theirs = getattr(ops, name)(x, big + 1), getattr(keras.ops, name)(x, big + 1)
    theirs = keras.ops.convert_to_numpy(theirs)
    assert np.asarray(ours).dtype == theirs.dtype
    np.testing.assert_array_equal(np.asarray(ours), theirs)


@pytest.mark.parametrize(("args", "dtype"), [((5,), np.int32), ((2**40, 2**40 + 3), np.int64)])
def test_arange_is_int32_where_int32_holds_it(args: tuple, dtype: type) -> None:
    """int32, Keras's integer, as long as it holds the values; past it int64 (Keras's PyTorch
    backend wraps ``arange(2**40, 2**40 + 3)`` to [0, 1, 2])."""
    values = ops.arange(*args)
    assert values.dtype == dtype
    np.testing.assert_array_equal(values, np.arange(*args))


def test_map_takes_and_gives_nested_dicts() -> None:
    """Keras's docstring example: ``f`` may return a dict, each entry stacked; xs may be a dict."""
    xs = Tensor(np.arange(4.0, dtype=np.float32))
    ys = ops.map(lambda x: {"y1": x**2, "y2": (x * 10, x + 1)}, xs)
    np.testing.assert_allclose(ys["y1"].numpy(), [0, 1, 4, 9])
    np.testing.assert_allclose(ys["y2"][0].numpy(), [0, 10, 20, 30])
    np.testing.assert_allclose(ys["y2"][1].numpy(), [1, 2, 3, 4])
    summed = ops.map(lambda d: d["a"] + d["b"], {"a": xs, "b": Tensor(M[0])})
    np.testing.assert_allclose(summed.numpy(), np.arange(4.0) + M[0], 1e-6)


def test_rearrange_as_einops() -> None:
    x = Tensor(real(2, 3, 4))
    assert ops.rearrange(x, "b h w -> b (h w)").shape == (2, 12)
    split = ops.rearrange(x, "b h (w c) -> (b c) h w", c=2)
    np.testing.assert_array_equal(
        split.numpy(), x.numpy().reshape(2, 3, 2, 2).transpose(0, 3, 1, 2).reshape(4, 3, 2)
    )
    with pytest.raises(ValueError, match="no '->'"):
        ops.rearrange(x, "b h w")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: ops.pad(M, 1, mode="reflect", constant_values=1.0), ValueError, "constant_values"),
        (lambda: ops.quantile(M, 1.5), ValueError, "q must be in"),
        (lambda: ops.quantile(M, 0.5, method="cubic"), ValueError, "method"),
        (lambda: ops.arange(0, 3, 0), ValueError, "step"),
        (lambda: ops.take(M, np.array([0.5])), TypeError, "integers"),
        (lambda: ops.gcd(M, M), TypeError, "integer"),
        (lambda: ops.zeros(3, dtype="float16"), TypeError, "float16"),
        (lambda: ops.where(M > 0, M), ValueError, "both"),
        (lambda: ops.view_as_complex(M), NotImplementedError, "view_as_complex"),
        (lambda: ops.view_as_real(M), NotImplementedError, "complex"),
        (lambda: ops.fft(M), ValueError, "tuple of two tensors"),
        (lambda: ops.cdist(V, V), ValueError, "rank"),
    ],
)
def test_errors_name_the_problem(call: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("name", ["sin", "cumsum", "sort", "tile", "einsum"])
def test_on_the_gpu_simulator(name: str) -> None:
    """Functions computed on the host and ones gathered on the device take and give GPU
    tensors, with the CPU's values and gradients."""
    pytest.importorskip("numba.cuda")
    args = {"sin": (M,), "cumsum": (M,), "sort": (M,), "tile": (M, (2, 1)), "einsum": ("ij->j", M)}
    call = args[name]
    results = []
    for device in ("cpu", "cuda"):
        x = Tensor(M, requires_grad=True, device=device)
        out = getattr(ops, name)(*(x if a is M else a for a in call))
        assert out.device == device
        (out * out).sum().backward()
        results.append(
            (out.numpy(), ops.convert_to_numpy(x.grad if device == "cpu" else Tensor(x.grad)))
        )
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5)


def test_istft_inverts_stft_also_without_centering() -> None:
    """istft (SciPy's, as Keras's on NumPy and JAX: equal to Keras 3.15 on JAX to 6e-8, checked
    by hand) gives back the signal stft took, with a window shorter than the frame and without
    centering too, where Keras's PyTorch backend weights the ends otherwise: so this is checked
    against the signal itself."""
    signal = real(2, 40).astype(np.float64)
    for center in (True, False):
        spectrum = ops.stft(signal, 6, 3, 8, window="hamming", center=center)
        back = ops.istft(spectrum, 6, 3, 8, window="hamming", center=center).numpy()
        inside = slice(1, back.shape[-1] - 1) if not center else slice(None)
        np.testing.assert_allclose(back[..., inside], signal[..., : back.shape[-1]][..., inside])


@pytest.mark.parametrize("name", ["real", "imag"])
@pytest.mark.parametrize(
    "x",
    [
        np.array([[1 + 2j, -3.5 - 0.25j]], np.complex64),
        np.fft.fft2(real(3, 4).astype(np.float64)),  # complex128
        np.array(2 - 5j),
    ],
)
def test_parts_of_complex_numpy_arrays_are_kerass(name: str, x: Any) -> None:
    """A complex NumPy array's real and imaginary parts, in its precision, as Keras's (they
    were refused: autoconv's Tensors are real)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    ours = getattr(ops, name)(x)
    theirs = keras.ops.convert_to_numpy(getattr(keras.ops, name)(x))
    assert isinstance(ours, Tensor) and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours.numpy(), theirs)
