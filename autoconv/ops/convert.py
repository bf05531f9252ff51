"""How the Keras-named functions of :mod:`autoconv.ops` take their arguments and give results.

autoconv's Tensors hold float32 or float64 numbers, so the Keras namespace follows three rules:

- a function whose Keras result is real-valued takes its array arguments as Tensors
  (:func:`tensors`: integers and bools become float32; float32 with float64 becomes float64, as
  Keras promotes) and returns a Tensor on their device, differentiable wherever Keras's is;
- a function whose Keras result holds integers or bools (``argmax``, ``equal``, ``isnan``, ...)
  returns a NumPy array of Keras's dtype (int32 for indices, bool for tests), which every function
  accepts back, with the ``numpy()`` of Keras's tensors (a :class:`~autoconv.host_array.HostArray`);
- arithmetic on integer arrays alone (no Tensor, no float among the arguments) stays integer and
  in NumPy (:func:`all_integer`), as ``keras.ops.add(int_array, 1)`` stays an integer tensor.

:func:`host_op` is the one primitive the namespace adds to the engine: a NumPy forward with its
VJP, run on the host (a GPU tensor's values are copied over and the result back).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autoconv import config
from autoconv.backends import namespace
from autoconv.host_array import HostArray
from autoconv.ops.base import as_tensor
from autoconv.ops.elementwise import cast
from autoconv.tensor import FLOAT_DTYPES, Tensor, record

INDEX_DTYPE = np.int32  # Keras's dtype for indices (argmax, argsort, nonzero, ...)
INT32 = np.iinfo(np.int32)


def standard_dtype(dtype: Any) -> np.dtype | None:
    """``dtype`` (a name, NumPy dtype or Python type; None stays None) as a NumPy dtype, with
    Keras's reading of Python's types (float -> float32, int -> int32)."""
    if dtype is None:
        return None
    if dtype is float:
        return np.dtype(np.float32)
    if dtype is int:
        return np.dtype(np.int32)
    name = getattr(dtype, "name", dtype)
    if name == "bfloat16" or name == "float16":
        raise TypeError(
            f"dtype {name} is not supported: autoconv computes in float32 or float64 "
            "(and integer or bool results come back as NumPy arrays)"
        )
    return np.dtype(dtype)


def standardize_data_format(data_format: str | None) -> str:
    """The checked value, or Keras's default layout (``config.image_data_format()``) when
    None."""
    if data_format is None:
        return config.image_data_format()
    data_format = str(data_format).lower()
    if data_format not in {"channels_first", "channels_last"}:
        raise ValueError(
            "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
            f"Received: data_format={data_format}"
        )
    return data_format


def is_tensor(x: Any) -> bool:
    return isinstance(x, Tensor)


def to_numpy(value: Any) -> np.ndarray:
    """``value`` as a NumPy array on the host: a Tensor's values, a Python int list as int32
    (Keras's default integer; int64 where int32 cannot hold it, as Keras converts 2**40),
    anything else as ``np.asarray`` makes it."""
    if isinstance(value, Tensor):
        return value.numpy()
    array = np.asarray(value)
    if array.dtype == np.int64 and not isinstance(value, np.ndarray | np.generic):
        return array.astype(INDEX_DTYPE) if int32_holds(array) else array
    if array.dtype == np.float64 and not isinstance(value, np.ndarray | np.generic):
        return array.astype(np.float32)  # Python floats: Keras's floatx
    return array


def int32_holds(array: np.ndarray) -> bool:
    """Whether int32 holds every value of an integer ``array``."""
    return not array.size or INT32.min <= array.min() <= array.max() <= INT32.max


def all_integer(*values: Any) -> bool:
    """True when no value is a Tensor and every one holds integers or bools (Python ints too)."""
    return all(
        not isinstance(v, Tensor) and np.asarray(v).dtype.kind in "biu" for v in values
    ) and bool(values)


def tensors(*values: Any) -> list[Tensor]:
    """The array arguments as Tensors of one float dtype on one device: NumPy floats keep their
    precision, the rest (ints, bools, Python numbers) become float32; float64 anywhere makes all
    float64 (Keras's promotion) unless only Python scalars are float; a Tensor's device wins."""
    devices = {v.device for v in values if isinstance(v, Tensor)}
    if len(devices) > 1:
        raise ValueError(f"arguments are on different devices ({', '.join(sorted(devices))})")
    device = devices.pop() if devices else "cpu"
    converted = [v if isinstance(v, Tensor) else Tensor(_floats(v), device=device) for v in values]
    dtypes = {t.dtype for t in converted}
    if len(dtypes) > 1:
        converted = [cast(t, np.float64) for t in converted]
    return converted


def _floats(value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype in FLOAT_DTYPES and isinstance(value, np.ndarray | np.generic):
        return array
    if array.dtype.kind not in "biuf":
        raise TypeError(f"expected real numbers, got an array of dtype {array.dtype}")
    return array.astype(np.float32)


def tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """One argument as a Tensor (:func:`tensors`), or in ``like``'s dtype and device."""
    if like is not None and not isinstance(value, Tensor):
        return as_tensor(_floats(value), like=like)
    return tensors(value)[0]


def float_dtype(dtype: Any, default: Any = np.float32) -> np.dtype:
    """A Tensor dtype asked for by name: float32 or float64, else a clear TypeError."""
    dtype = standard_dtype(dtype) or np.dtype(default)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"a real-valued result needs dtype float32 or float64, got {dtype}")
    return dtype


def host_op(
    name: str,
    forward: Callable[..., np.ndarray],
    backward: Callable[..., Sequence[np.ndarray | None]] | None,
    inputs: Sequence[Tensor],
) -> Tensor:
    """An op computed with NumPy: ``forward(*arrays)`` gives the output array and
    ``backward(g, out, *arrays)`` one gradient (or None) per input; None for a function with no
    gradient (its output is a constant to autograd). On the GPU the input values are copied to
    the host and the output (and the gradients) back to the device."""
    device, dtype = inputs[0].device, inputs[0].dtype
    xp = namespace(device)
    arrays = [xp.to_numpy(t.data) for t in inputs]
    out = np.asarray(forward(*arrays)).astype(dtype, copy=False)
    if backward is None:
        return Tensor(xp.asarray(out), device=device)

    def vjp(g):
        grads = backward(xp.to_numpy(g), out, *arrays)
        return tuple(None if gr is None else xp.asarray(np.asarray(gr, dtype)) for gr in grads)

    return record(xp.asarray(out), tuple(inputs), vjp, name)


def not_implemented(why: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for a Keras name autoconv does not compute (the stub keeps Keras's signature):
    calling it raises an error that names it and says ``why``; ``op.not_implemented`` holds the
    reason, for the docs' table."""

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def op(*args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError(
                f"keras.ops.{function.__name__} is not implemented in autoconv: {why}"
            )

        op.not_implemented = why  # type: ignore[attr-defined]
        return op

    return mark


# ------------------------------------------------------------ symbolic tensors (graphs)
# A functional graph's symbolic tensors live in autoconv.layers, above the ops: that package
# registers its class and what to do with a call on one, so that ``ops.add(inputs, 1)`` in a
# model's definition records an Operation layer, as Keras does.
_symbolic: dict[str, Any] = {"class": None, "record": None}


def on_symbolic(cls: type, record: Callable[[str, Callable, tuple, dict], Any]) -> None:
    """Register the symbolic tensor class and ``record(name, function, args, kwargs)``."""
    _symbolic.update({"class": cls, "record": record})


def is_symbolic(value: Any) -> bool:
    cls = _symbolic["class"]
    return cls is not None and isinstance(value, cls)


def _has_symbolic(values: Any) -> bool:
    return any(
        is_symbolic(v) or (isinstance(v, list | tuple) and any(is_symbolic(w) for w in v))
        for v in values
    )


def recording(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (the Keras function ``name``), recorded as an Operation when a symbolic
    tensor is among its arguments, else called."""

    @functools.wraps(function)
    def op(*args: Any, **kwargs: Any) -> Any:
        if _symbolic["record"] is not None and _has_symbolic((*args, *kwargs.values())):
            return _symbolic["record"](name, function, args, kwargs)
        return _with_numpy(function(*args, **kwargs))

    op.computes = function  # type: ignore[attr-defined]
    return op


def _with_numpy(result: Any) -> Any:
    """A NumPy array result (or one in a tuple or list: ``top_k``'s indices) as a
    :class:`HostArray`, so ``ops.argmin(x).numpy()`` runs as on Keras's tensors; a NumPy
    scalar (``ops.argmax`` of a vector, ``ops.all``) as a 0-d one, as Keras gives a 0-d
    tensor (keras.io's DQN: ``ops.argmax(action_probs[0]).numpy()``); Tensors as they are."""
    if type(result) in (tuple, list):
        return type(result)(_with_numpy(item) for item in result)
    if type(result) is np.ndarray or isinstance(result, np.number | np.bool_):
        return np.asarray(result).view(HostArray)
    return result
