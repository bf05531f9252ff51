"""``keras.ops``'s elementwise functions: unary and binary maths, comparisons and logic.

Real-valued results are Tensors (differentiable: the engine's ops where it has one, which run on
the GPU's kernels; otherwise :func:`autoconv.ops.convert.host_op` with the derivative from
:data:`UNARY`), integer arithmetic on integer arrays stays NumPy, and tests (``equal``, ``isnan``,
``logical_and``, ...) give NumPy bool arrays (:mod:`autoconv.ops.convert`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv.ops import engine
from autoconv.ops.convert import all_integer, host_op, tensor, tensors, to_numpy
from autoconv.tensor import Tensor


def _derivative_table() -> dict[str, tuple[Callable, Callable | None]]:
    """name -> (NumPy function, d out / d x as a function of (x, out); None: zero gradient)."""
    zero = None
    return {
        "sin": (np.sin, lambda x, y: np.cos(x)),
        "cos": (np.cos, lambda x, y: -np.sin(x)),
        "tan": (np.tan, lambda x, y: 1 + y * y),
        "arcsin": (np.arcsin, lambda x, y: 1 / np.sqrt(1 - x * x)),
        "arccos": (np.arccos, lambda x, y: -1 / np.sqrt(1 - x * x)),
        "arctan": (np.arctan, lambda x, y: 1 / (1 + x * x)),
        "sinh": (np.sinh, lambda x, y: np.cosh(x)),
        "cosh": (np.cosh, lambda x, y: np.sinh(x)),
        "arcsinh": (np.arcsinh, lambda x, y: 1 / np.sqrt(x * x + 1)),
        "arccosh": (np.arccosh, lambda x, y: 1 / np.sqrt(x * x - 1)),
        "arctanh": (np.arctanh, lambda x, y: 1 / (1 - x * x)),
        "exp2": (np.exp2, lambda x, y: y * np.log(2.0)),
        "expm1": (np.expm1, lambda x, y: y + 1),
        "log2": (np.log2, lambda x, y: 1 / (x * np.log(2.0))),
        "log10": (np.log10, lambda x, y: 1 / (x * np.log(10.0))),
        "log1p": (np.log1p, lambda x, y: 1 / (1 + x)),
        "cbrt": (np.cbrt, lambda x, y: 1 / (3 * y * y)),
        "sinc": (np.sinc, _sinc_derivative),
        "deg2rad": (np.deg2rad, lambda x, y: np.full_like(x, np.pi / 180)),
        "rad2deg": (np.rad2deg, lambda x, y: np.full_like(x, 180 / np.pi)),
        "i0": (np.i0, _i0_derivative),
        "floor": (np.floor, zero),
        "ceil": (np.ceil, zero),
        "trunc": (np.trunc, zero),
        "sign": (np.sign, zero),
    }


def _sinc_derivative(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    px = np.pi * x
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (np.cos(px) - y) / x
    return np.where(x == 0, 0.0, d)


def _i0_derivative(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # d/dx I0(x) = I1(x) = (1/pi) int_0^pi e^(x cos t) cos t dt, by the trapezoid rule (smooth
    # periodic integrand: exact to float64 with 64 points)
    t = np.linspace(0.0, np.pi, 65)
    values = np.exp(np.multiply.outer(x, np.cos(t))) * np.cos(t)
    return np.trapezoid(values, t, axis=-1) / np.pi


UNARY = _derivative_table()


def _unary(name: str, x: Any) -> Any:
    function, derivative = UNARY[name]
    x = tensor(x)
    if derivative is None:
        return host_op(name, function, None, [x])
    return host_op(name, function, lambda g, y, a: (g * derivative(a, y),), [x])


def _make_unary(name: str, keras_name: str | None = None) -> Callable[[Any], Tensor]:
    def op(x: Any) -> Tensor:
        return _unary(name, x)

    op.__name__ = op.__qualname__ = keras_name or name
    op.__doc__ = f"Elementwise ``{keras_name or name}``, as ``keras.ops.{keras_name or name}``."
    return op


sin, cos, tan = _make_unary("sin"), _make_unary("cos"), _make_unary("tan")
arcsin, arccos, arctan = _make_unary("arcsin"), _make_unary("arccos"), _make_unary("arctan")
sinh, cosh = _make_unary("sinh"), _make_unary("cosh")
arcsinh, arccosh, arctanh = _make_unary("arcsinh"), _make_unary("arccosh"), _make_unary("arctanh")
exp2, log2, log10 = _make_unary("exp2"), _make_unary("log2"), _make_unary("log10")
cbrt, sinc, i0 = _make_unary("cbrt"), _make_unary("sinc"), _make_unary("i0")
deg2rad, rad2deg = _make_unary("deg2rad"), _make_unary("rad2deg")


def _integer_kept(name: str, numpy_function: Callable) -> Callable[[Any], Any]:
    """A non-differentiable rounding function: integers pass through as NumPy (Keras keeps
    their dtype), reals give a Tensor with a zero gradient."""

    def op(x: Any) -> Any:
        if all_integer(x):
            return numpy_function(to_numpy(x))
        return _unary(name, x)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``{name}`` (no gradient), as ``keras.ops.{name}``."
    return op


floor, ceil = _integer_kept("floor", np.floor), _integer_kept("ceil", np.ceil)
trunc, sign = _integer_kept("trunc", np.trunc), _integer_kept("sign", np.sign)


def round(x: Any, decimals: int = 0) -> Any:
    """Round half to even to ``decimals`` places (no gradient), as ``keras.ops.round``."""
    if all_integer(x):
        return np.round(to_numpy(x), decimals)
    return host_op("round", lambda a: np.round(a, decimals), None, [tensor(x)])


# ------------------------------------------------------------- unary, from the engine's ops
def exp(x: Any) -> Tensor:
    return engine.exp(tensor(x))


def log(x: Any) -> Tensor:
    return engine.log(tensor(x))


def expm1(x: Any) -> Tensor:
    return _unary("expm1", x)


def log1p(x: Any) -> Tensor:
    return _unary("log1p", x)


def tanh(x: Any) -> Tensor:
    return engine.tanh(tensor(x))


def sqrt(x: Any) -> Tensor:
    """Square root; its gradient 1 / (2 sqrt x) is infinite at 0, as Keras's."""
    return engine.pow(tensor(x), 0.5)


def abs(x: Any) -> Any:
    """|x|; integers stay integers."""
    return np.abs(to_numpy(x)) if all_integer(x) else engine.abs(tensor(x))


absolute = abs


def fabs(x: Any) -> Tensor:
    """|x| as reals (integer arguments give float32, as Keras's and NumPy's fabs)."""
    return engine.abs(tensor(x))


def negative(x: Any) -> Any:
    return -to_numpy(x) if all_integer(x) else engine.neg(tensor(x))


def square(x: Any) -> Any:
    if all_integer(x):
        return np.square(to_numpy(x))
    x = tensor(x)
    return engine.mul(x, x)


def reciprocal(x: Any) -> Tensor:
    x = tensor(x)
    return engine.div(1.0, x)


def conj(x: Any) -> Any:
    """The complex conjugate: a real tensor itself (autoconv has no complex tensors)."""
    return x if isinstance(x, Tensor) or all_integer(x) else tensor(x)


conjugate = conj


def real(x: Any) -> Any:
    """The real part: a complex NumPy array's, as a Tensor of its precision (autoconv's
    Tensors are real); a real tensor itself."""
    return tensor(np.real(x)) if np.iscomplexobj(x) else conj(x)


def imag(x: Any) -> Any:
    """The imaginary part: a complex NumPy array's, as a Tensor of its precision; zeros of a
    real tensor's shape."""
    if np.iscomplexobj(x):
        return tensor(np.imag(x))
    return engine.mul(tensor(x), 0.0) if not all_integer(x) else np.zeros_like(to_numpy(x))


def angle(x: Any) -> Tensor:
    """The complex argument of real numbers: 0 for x >= 0, pi below (no gradient)."""
    return host_op("angle", np.angle, None, [tensor(x)])


# ---------------------------------------------------------------------------- binary
def _binary(engine_op: Callable, numpy_op: Callable) -> Callable[[Any, Any], Any]:
    def op(x1: Any, x2: Any) -> Any:
        if all_integer(x1, x2):
            return numpy_op(to_numpy(x1), to_numpy(x2))
        return engine_op(*tensors(x1, x2))

    return op


add = _binary(engine.add, np.add)
subtract = _binary(engine.sub, np.subtract)
multiply = _binary(engine.mul, np.multiply)
maximum = _binary(lambda a, b: _select_larger(a, b, np.greater_equal), np.maximum)
minimum = _binary(lambda a, b: _select_larger(a, b, np.less_equal), np.minimum)


def _select_larger(a: Tensor, b: Tensor, keeps_a: Callable) -> Tensor:
    """max or min of a and b, the gradient to a where it was chosen (to a on ties, as Keras's)."""
    mask = keeps_a(a.numpy(), b.numpy())
    take_a = Tensor(mask.astype(a.dtype), device=a.device)
    return a * take_a + b * (1.0 - take_a)


def divide(x1: Any, x2: Any) -> Tensor:
    """x1 / x2 as reals (integer arguments give float32, as Keras's true division)."""
    return engine.div(*tensors(x1, x2))


true_divide = divide


def divide_no_nan(x1: Any, x2: Any) -> Tensor:
    """x1 / x2, and 0 wherever x2 is 0."""
    x1, x2 = tensors(x1, x2)
    zero = Tensor((x2.numpy() == 0).astype(x2.dtype), device=x2.device)
    return engine.div(x1, x2 + zero) * (1.0 - zero)


def power(x1: Any, x2: Any) -> Any:
    if all_integer(x1, x2):
        return np.power(to_numpy(x1), to_numpy(x2))
    return engine.pow(*tensors(x1, x2))


def floor_divide(x1: Any, x2: Any) -> Any:
    if all_integer(x1, x2):
        return np.floor_divide(to_numpy(x1), to_numpy(x2))
    return host_op("floor_divide", np.floor_divide, None, tensors(x1, x2))


def mod(x1: Any, x2: Any) -> Any:
    """x1 mod x2 with the sign of x2 (as ``np.mod``); gradient 1 to x1, -floor(x1/x2) to x2."""
    if all_integer(x1, x2):
        return np.mod(to_numpy(x1), to_numpy(x2))
    x1, x2 = tensors(x1, x2)
    return x1 - x2 * host_op("floor_divide", np.floor_divide, None, [x1, x2])


def fmod(x1: Any, x2: Any) -> Any:
    """x1 mod x2 with the sign of x1 (C's fmod)."""
    if all_integer(x1, x2):
        return np.fmod(to_numpy(x1), to_numpy(x2))
    x1, x2 = tensors(x1, x2)
    return x1 - x2 * host_op("trunc", lambda a, b: np.trunc(a / b), None, [x1, x2])


def arctan2(x1: Any, x2: Any) -> Tensor:
    """The angle of the point (x2, x1), in [-pi, pi]."""
    y, x = tensors(x1, x2)

    def backward(g, out, a, b):
        r2 = a * a + b * b
        return g * b / r2, -g * a / r2

    return host_op("arctan2", np.arctan2, backward, [y, x])


def hypot(x1: Any, x2: Any) -> Tensor:
    x1, x2 = tensors(x1, x2)
    return sqrt(x1 * x1 + x2 * x2)


def logaddexp(x1: Any, x2: Any) -> Tensor:
    """log(e**x1 + e**x2), without overflow."""
    x1, x2 = tensors(x1, x2)
    larger = maximum(x1, x2).detach()
    return larger + engine.log(engine.exp(x1 - larger) + engine.exp(x2 - larger))


def logaddexp2(x1: Any, x2: Any) -> Tensor:
    """log2(2**x1 + 2**x2)."""
    x1, x2 = tensors(x1, x2)
    ln2 = float(np.log(2.0))
    return logaddexp(x1 * ln2, x2 * ln2) * (1.0 / ln2)


def _select_ignoring_nan(a: Tensor, b: Tensor, keeps_a: Callable) -> Tensor:
    """a where ``keeps_a`` holds, else b, each element taken from one of them (a NaN not taken
    does not reach the result); the gradient to the one taken."""
    mask = keeps_a(a.numpy(), b.numpy())

    def backward(g, out, a_values, b_values):
        return np.where(mask, g, 0), np.where(mask, 0, g)

    return host_op("where", lambda u, v: np.where(mask, u, v), backward, [a, b])


def fmax(x1: Any, x2: Any) -> Any:
    """max ignoring NaN (NaN only where both are)."""
    if all_integer(x1, x2):
        return np.fmax(to_numpy(x1), to_numpy(x2))
    x1, x2 = tensors(x1, x2)
    return _select_ignoring_nan(x1, x2, lambda a, b: (a >= b) | np.isnan(b))


def fmin(x1: Any, x2: Any) -> Any:
    """min ignoring NaN (NaN only where both are)."""
    if all_integer(x1, x2):
        return np.fmin(to_numpy(x1), to_numpy(x2))
    x1, x2 = tensors(x1, x2)
    return _select_ignoring_nan(x1, x2, lambda a, b: (a <= b) | np.isnan(b))


def heaviside(x1: Any, x2: Any) -> Any:
    """0 where x1 < 0, x2 where x1 == 0, 1 where x1 > 0 (no gradient)."""
    if all_integer(x1, x2):
        return np.heaviside(to_numpy(x1), to_numpy(x2))
    return host_op("heaviside", np.heaviside, None, tensors(x1, x2))


def ldexp(x1: Any, x2: Any) -> Tensor:
    """x1 * 2**x2 for integer x2; the gradient to x1 is 2**x2."""
    exponent = to_numpy(x2)
    if exponent.dtype.kind not in "biu":
        raise TypeError(f"ldexp: x2 must hold integers, got dtype {exponent.dtype}")
    x1 = tensor(x1)
    return x1 * np.ldexp(np.ones((), x1.dtype), exponent).astype(x1.dtype)


def nextafter(x1: Any, x2: Any) -> Tensor:
    """The next representable number after x1 towards x2 (no gradient)."""
    return host_op("nextafter", np.nextafter, None, tensors(x1, x2))


def gcd(x1: Any, x2: Any) -> np.ndarray:
    return np.gcd(_integers(x1, "gcd"), _integers(x2, "gcd"))


def lcm(x1: Any, x2: Any) -> np.ndarray:
    return np.lcm(_integers(x1, "lcm"), _integers(x2, "lcm"))


def _integers(x: Any, op: str) -> np.ndarray:
    array = to_numpy(x)
    if array.dtype.kind not in "biu":
        raise TypeError(f"{op}: needs integer arguments, got dtype {array.dtype}")
    return array


# ------------------------------------------------------------- tests: NumPy bool arrays
def _test(numpy_function: Callable, *args: Any) -> np.ndarray:
    """``numpy_function`` of the arguments' values, a NumPy bool array (no gradient)."""
    return np.asarray(numpy_function(*(to_numpy(a) for a in args)))


def equal(x1: Any, x2: Any) -> np.ndarray:
    return _test(np.equal, x1, x2)


def not_equal(x1: Any, x2: Any) -> np.ndarray:
    return _test(np.not_equal, x1, x2)


def greater(x1: Any, x2: Any) -> np.ndarray:
    return _test(np.greater, x1, x2)


def greater_equal(x1: Any, x2: Any) -> np.ndarray:
    return _test(np.greater_equal, x1, x2)


def less(x1: Any, x2: Any) -> np.ndarray:
    return _test(np.less, x1, x2)


def less_equal(x1: Any, x2: Any) -> np.ndarray:
    return _test(np.less_equal, x1, x2)


def logical_and(x1: Any, x2: Any) -> np.ndarray:
    return _test(np.logical_and, x1, x2)


def logical_or(x1: Any, x2: Any) -> np.ndarray:
    return _test(np.logical_or, x1, x2)


def logical_xor(x1: Any, x2: Any) -> np.ndarray:
    return _test(np.logical_xor, x1, x2)


def logical_not(x: Any) -> np.ndarray:
    return _test(np.logical_not, x)


def isfinite(x: Any) -> np.ndarray:
    return _test(np.isfinite, x)


def isinf(x: Any) -> np.ndarray:
    return _test(np.isinf, x)


def isnan(x: Any) -> np.ndarray:
    return _test(np.isnan, x)


def isneginf(x: Any) -> np.ndarray:
    return _test(np.isneginf, x)


def isposinf(x: Any) -> np.ndarray:
    return _test(np.isposinf, x)


def signbit(x: Any) -> np.ndarray:
    return _test(np.signbit, x)


def isreal(x: Any) -> np.ndarray:
    """True everywhere: autoconv's values are real."""
    return np.isreal(to_numpy(x))


def isclose(
    x1: Any, x2: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> np.ndarray:
    return np.isclose(to_numpy(x1), to_numpy(x2), rtol=rtol, atol=atol, equal_nan=equal_nan)


def allclose(
    x1: Any, x2: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> np.ndarray:
    return np.asarray(
        np.allclose(to_numpy(x1), to_numpy(x2), rtol=rtol, atol=atol, equal_nan=equal_nan)
    )


# ---------------------------------------------------------------- bitwise: integers only
def _bitwise(numpy_function: Callable, name: str, *args: Any) -> np.ndarray:
    return numpy_function(*(_integers(a, name) for a in args))


def bitwise_and(x: Any, y: Any) -> np.ndarray:
    return _bitwise(np.bitwise_and, "bitwise_and", x, y)


def bitwise_or(x: Any, y: Any) -> np.ndarray:
    return _bitwise(np.bitwise_or, "bitwise_or", x, y)


def bitwise_xor(x: Any, y: Any) -> np.ndarray:
    return _bitwise(np.bitwise_xor, "bitwise_xor", x, y)


def bitwise_not(x: Any) -> np.ndarray:
    return _bitwise(np.bitwise_not, "bitwise_not", x)


def bitwise_invert(x: Any) -> np.ndarray:
    return _bitwise(np.invert, "bitwise_invert", x)


def bitwise_left_shift(x: Any, y: Any) -> np.ndarray:
    return _bitwise(np.left_shift, "bitwise_left_shift", x, y)


def bitwise_right_shift(x: Any, y: Any) -> np.ndarray:
    return _bitwise(np.right_shift, "bitwise_right_shift", x, y)


def left_shift(x: Any, y: Any) -> np.ndarray:
    return _bitwise(np.left_shift, "left_shift", x, y)


def right_shift(x: Any, y: Any) -> np.ndarray:
    return _bitwise(np.right_shift, "right_shift", x, y)


def nan_to_num(
    x: Any, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Any:
    """NaN and infinities replaced by finite numbers; the gradient passes where x was finite."""
    if all_integer(x):
        return to_numpy(x)
    x = tensor(x)
    finite = np.isfinite(x.numpy())
    return host_op(
        "nan_to_num",
        lambda a: np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf),
        lambda g, out, a: (np.where(finite, g, 0),),
        [x],
    )


def clip(x: Any, x_min: Any, x_max: Any) -> Any:
    """x limited to [x_min, x_max]; the gradient is 0 where x was clipped."""
    if all_integer(x, x_min, x_max):
        return np.clip(to_numpy(x), to_numpy(x_min), to_numpy(x_max))
    return engine.clip(tensor(x), float(to_numpy(x_min)), float(to_numpy(x_max)))


def isin(x1: Any, x2: Any, assume_unique: bool = False, invert: bool = False) -> np.ndarray:
    """Whether each element of x1 is among x2's, as a NumPy bool array."""
    return np.isin(to_numpy(x1), to_numpy(x2), assume_unique=assume_unique, invert=invert)
