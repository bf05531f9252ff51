"""A ``keras.ops`` function applied to a functional graph's symbolic tensors, recorded as Keras 3
records it: ``inputs * 2``, ``ops.expand_dims(x, -1)``, ``x[:, 0]`` or
``preprocess_input(inputs)`` in a model's definition add an :class:`Operation` layer that
computes that function when the model runs.

In Keras's files an Operation is the function's own class (``Multiply`` in
``keras.src.ops.numpy``, ...: :mod:`autoconv.layers.keras_operations`): its constructor's
arguments in the layer's ``config``, its call's (the tensors, and constants such as the 2 of
``x * 2``) in the node's ``args``; slices and ``...`` as Keras writes them. autoconv writes and
reads that form, so a model with ops in its graph goes to Keras and back.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any

import numpy as np

from autoconv.layers import file_budget
from autoconv.layers.keras_operations import OPERATIONS
from autoconv.layers.layer import Layer
from autoconv.layers.symbolic import SymbolicTensor, flat_outputs, graph_name
from autoconv.naming import to_snake_case
from autoconv.ops import convert
from autoconv.tensor import Tensor
from autoconv.windows import is_int

# The Keras function a file's (module, class name) names.
BY_CLASS = {(f"keras.src.ops.{m}", cls): name for name, (m, cls, _, _) in OPERATIONS.items()}
# Keras's subclasses of two of them, under which earlier autoconv versions wrote ops.abs and
# ops.conj: their files still load.
BY_CLASS |= {("keras.src.ops.numpy", "Abs"): "abs", ("keras.src.ops.numpy", "Conj"): "conj"}

# The functions whose result is a list or tuple of tensors (Keras's symbolic call gives one
# tensor for each): a file's recorded shape is only its first output's, so their shapes (and
# how many) come from trial runs.
SEVERAL_OUTPUTS = frozenset(
    {"unstack", "split", "array_split", "meshgrid", "top_k", "moments", "unravel_index",
     "divmod", "frexp", "qr", "svd", "eig", "eigh", "lu_factor", "slogdet", "fft", "fft2",
     "ifft2", "rfft", "stft", "ctc_decode"}
)  # fmt: skip


# An unknown size's probe in :meth:`Operation._probed`: a window's stride or a slice's step up
# to 256 maps 1 and 257 to different sizes. A probe of more values than PROBE_LIMIT (an image's
# batch axis: 257 images) is left out, as it would cost more than the graph's other work.
PROBE_SIZE = 257
PROBE_LIMIT = 2**20
# The unknown sizes of the trial runs: 1 (and 2), else, where a window does not fit in 1
# (``ops.max_pool(x, 3, padding="valid")``), 32 (and 33).
TRIAL_BASES = (1, 32)


class Slot:
    """Where the ``index``-th symbolic tensor of a recorded call goes."""

    def __init__(self, index: int) -> None:
        self.index = index


def _template(value: Any, tensors: list[SymbolicTensor]) -> Any:
    """``value`` with each symbolic tensor replaced by a :class:`Slot` (appended to
    ``tensors``), in lists, tuples and dicts too. A tensor computed while the model was defined
    (``x + embedding(ops.arange(n))``) is kept as a constant cut from the graph that made it,
    as Keras's TensorFlow and JAX backends keep it: every training step's backward pass would
    otherwise go through that one graph again."""
    if isinstance(value, SymbolicTensor):
        tensors.append(value)
        return Slot(len(tensors) - 1)
    if type(value) is Tensor and value.requires_grad:  # (a Variable stays itself)
        return value.detach()
    if isinstance(value, list | tuple):
        return type(value)(_template(v, tensors) for v in value)
    if isinstance(value, dict):
        return {k: _template(v, tensors) for k, v in value.items()}
    return value


def _filled(value: Any, inputs: list[Any]) -> Any:
    if isinstance(value, Slot):
        return inputs[value.index]
    if isinstance(value, list | tuple):
        return type(value)(_filled(v, inputs) for v in value)
    if isinstance(value, dict):
        return {k: _filled(v, inputs) for k, v in value.items()}
    return value


class Operation(Layer):
    """The Keras function ``function`` (a name in ``autoconv.ops``) called with ``arguments``
    (a dict by parameter name, symbolic tensors as :class:`Slot`\\ s): one call in a graph.
    Integer and bool arrays (``ops.argmax``'s, a cast's) reach the function as they are, as
    ``keras.ops`` takes them."""

    keeps_integer_inputs = True

    def __init__(
        self,
        function: str,
        arguments: dict[str, Any],
        output_shape: tuple[int | None, ...] | None = None,
        output_dtype: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if function not in _functions():
            raise ValueError(f"{function!r} is not a keras.ops function autoconv has")
        self.function = function
        self.arguments = arguments
        self.output_shape = output_shape  # a file's record of it, else found by trial runs
        # Keras's dtypes of the call's inputs (set by record) and of its outputs (a file's
        # record of the output's, else the trial runs' results'): ops.expand_dims of an int64
        # input is int64, ops.argmax int32, ops.equal bool, as Keras's symbolic call gives.
        self.input_dtypes: list[str] | None = None
        self.output_dtypes = None if output_dtype is None else [output_dtype]

    def call(self, inputs: list[Tensor]) -> Any:
        return _call(self.function, _filled(self.arguments, list(inputs)))

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output's shape from two trial runs on ones, with the unknown (None) sizes as 1
        and as 2: the output's sizes that change with them are unknown too. A function that
        gives a list (``unstack``, ``split``) or a tuple of tensors has a shape for each, and
        its call in a graph gives a list (or tuple) of symbolic tensors, as Keras's. The ones
        have the inputs' dtypes (integers as NumPy arrays, as ``keras.ops`` takes them), so the
        runs' results give the outputs' dtypes too (:attr:`output_dtypes`)."""
        if (
            self.output_shape is not None
            and self.output_dtypes is not None
            and self.function not in SEVERAL_OUTPUTS
        ):
            return self.output_shape
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        newshape = self.arguments.get("newshape") if self.function == "reshape" else None
        if newshape is not None and not isinstance(newshape, Tensor | SymbolicTensor):
            sizes = [int(n) if is_int(n) else None for n in np.atleast_1d(newshape)]
            if None in shapes[0] or None in sizes:
                # Keras's: a -1 beside an unknown size is unknown (trial sizes might not
                # divide), and so is a size given as unknown (``ops.shape(x)[0]``'s None)
                return tuple(None if n == -1 else n for n in sizes)
        if self.function == "get_item" and _static_key(self.arguments.get("key")):
            self.output_dtypes = self.input_dtypes and self.input_dtypes[:1]
            return _item_shape(shapes[0], self.arguments["key"])
        elements = sum(int(np.prod([2 if n is None else n for n in s])) for s in shapes)
        file_budget.check_trial(elements, f"operation {self.name} ({self.function})")
        dtypes = self.input_dtypes or ["float32"] * len(shapes)
        bases = TRIAL_BASES if any(n is None for s in shapes for n in s) else (1,)
        failure = None
        for base in bases:
            try:
                runs = [self._trial(_sized(shapes, size), dtypes) for size in (base, base + 1)]
                break
            except ValueError as error:  # a window larger than 1 ("valid"): the next base
                failure = failure or error
                elements = sum(math.prod(s) for s in _sized(shapes, bases[-1] + 1))
                if base == bases[-1] or not file_budget.trial_allowed(elements):
                    raise failure from None
        several = isinstance(runs[0], list | tuple)
        self._output_structure = "list" if isinstance(runs[0], list) else None
        outs = [[convert.to_numpy(o) for o in (out if several else [out])] for out in runs]
        self.output_dtypes = [o.dtype.name for o in outs[0]]
        if self.output_shape is not None and not several:
            return self.output_shape  # (the file's shape: the run gave the dtype)
        shaped = [[np.shape(o) for o in out] for out in outs]
        made = [_common_shape(self.function, a, b) for a, b in zip(*shaped, strict=True)]
        made = self._probed(shapes, dtypes, made, shaped[0], base)
        return tuple(made) if several else made[0]

    def _trial(self, sizes: list[list[int]], dtypes: list[str]) -> Any:
        """The call's result on ones of ``sizes`` (one list each input) and ``dtypes``."""
        ones = [_ones(s, dtype) for s, dtype in zip(sizes, dtypes, strict=True)]
        with np.errstate(all="ignore"):  # only the shape and the dtype count
            return self.call(ones)

    def _probed(self, shapes: list, dtypes: list[str], made: list, first: list, base: int) -> list:
        """``made`` (the output shapes that the runs with the unknown sizes as ``base`` and
        ``base + 1`` agree on), with None for each size that also changes when one unknown size
        at a time is :data:`PROBE_SIZE` (the others ``base``; ``first`` the run at ``base``'s
        shapes): a window's
        stride maps 1 and 2 to one size (``ops.max_pool(x, 2, 2)`` gives 1 for both), where
        Keras's output size is unknown. A run that fails (sizes that do not fit one another)
        tells nothing."""
        for i, shape in enumerate(shapes):
            for axis in [a for a, n in enumerate(shape) if n is None]:
                if all(n is None for s in made for n in s):
                    return made
                sizes = _sized(shapes, base)
                sizes[i][axis] = PROBE_SIZE
                elements = sum(math.prod(s) for s in sizes)
                if elements > PROBE_LIMIT or not file_budget.trial_allowed(elements):
                    continue
                try:
                    out = self._trial(sizes, dtypes)
                except Exception:  # (e.g. two inputs' sizes that must be equal)
                    continue
                probed = [np.shape(convert.to_numpy(o)) for o in flat_outputs(out)]
                if [len(p) for p in probed] != [len(f) for f in first]:
                    continue
                made = [
                    tuple(n if p[k] == f[k] else None for k, n in enumerate(m))
                    for m, p, f in zip(made, probed, first, strict=True)
                ]
        return made

    # ------------------------------------------------------------------- Keras's files
    def keras_entry(self) -> dict[str, Any]:
        """Keras's object entry: the function's Operation class, its constructor arguments."""
        module, class_name, _, constructor = _keras_operation(self.function)
        config = {"name": self.name} | {
            p: _json(self.arguments[p]) for p in constructor if p in self.arguments
        }
        return {
            "module": f"keras.src.ops.{module}",
            "class_name": class_name,
            "config": config,
            "registered_name": class_name,
        }

    def node_arguments(self, tensor_entry: Any) -> list[Any]:
        """The call's arguments in Keras's node ``args``: each symbolic tensor as
        ``tensor_entry(tensor)`` gives it, constants as Keras writes them."""
        _, _, call, _ = _keras_operation(self.function)
        node = self._inbound_nodes[0]
        filled = _filled(self.arguments, [tensor_entry(t) for t in node.inputs])
        return [_json(filled[p]) for p in call if p in filled]


def _static_key(key: Any) -> bool:
    """An index of ints, slices, None (a new axis) and Ellipsis only: one whose result's shape
    Keras computes from the input's (:func:`_item_shape`)."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(
        part is None or part is Ellipsis or isinstance(part, slice) or is_int(part)
        for part in parts
    ) and all(is_int(n) or n is None for p in parts if isinstance(p, slice)
              for n in (p.start, p.stop, p.step))  # fmt: skip


def _item_shape(shape: tuple, key: Any) -> tuple[int | None, ...]:
    """``x[key]``'s shape for ``x`` of ``shape`` (with unknown sizes), as Keras's symbolic
    ``GetItem`` gives it: an int takes its axis away, a slice of an unknown size is unknown,
    None adds an axis of 1, Ellipsis stands for the axes the rest does not index."""
    remaining, made = list(shape), []
    parts = list(key) if isinstance(key, tuple) else [key]
    if parts.count(Ellipsis) > 1:
        raise ValueError(f"Slice should only have one ellipsis. Received: `{key}`")
    if Ellipsis not in parts:
        parts.append(Ellipsis)
    for i, part in enumerate(parts):
        if part is Ellipsis:
            needed = sum(p is not None for p in parts[i + 1 :])
            consumed = len(remaining) - needed
            made += remaining[:consumed]
            remaining = remaining[consumed:]
        elif part is None:
            made.append(1)
        elif not remaining:
            raise ValueError(f"Array has shape {tuple(shape)} but slice has too many indices. "
                             f"Received: `{key}`")  # fmt: skip
        else:
            length = remaining.pop(0)
            if isinstance(part, slice):
                made.append(None if length is None else len(range(*part.indices(length))))
            elif length is not None and not -length <= part < length:
                raise ValueError(f"Array has shape {tuple(shape)} but out-of-bounds index "
                                 f"{key} was requested.")  # fmt: skip
    return tuple(made)


def _sized(shapes: list, size: int) -> list[list[int]]:
    """``shapes`` with each unknown (None) size as ``size``."""
    return [[size if n is None else n for n in s] for s in shapes]


def _ones(shape: list[int], dtype: str) -> Any:
    """A trial run's input: ones of ``dtype``, a Tensor for floats, a NumPy array else."""
    ones = np.ones(shape, dtype)
    return Tensor(ones) if ones.dtype.kind == "f" else ones


def _common_shape(function: str, first: tuple, second: tuple) -> tuple[int | None, ...]:
    if len(first) != len(second):
        raise ValueError(f"{function}: its output's rank depends on an unknown size")
    return tuple(a if a == b else None for a, b in zip(first, second, strict=True))


@functools.cache
def _functions() -> dict[str, Any]:
    from autoconv import ops

    return {name: getattr(ops, name) for name in ops.KERAS_NAMES if hasattr(ops, name)} | {
        f"image.{name}": getattr(ops.image, name) for name in ops.image.__all__
    }


def _call(function: str, arguments: dict[str, Any]) -> Any:
    compute = _functions()[function]
    compute = getattr(compute, "computes", compute)
    signature = inspect.signature(compute)
    bound = signature.bind_partial()
    bound.arguments.update(arguments)
    return compute(*bound.args, **bound.kwargs)


def _keras_operation(function: str) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    row = OPERATIONS.get(function.removeprefix("image."))
    if row is None:
        raise ValueError(
            f"a model whose graph applies ops.{function} to a symbolic tensor cannot be saved "
            "in Keras's format: Keras records no Operation class for it. Wrap it in a Layer"
        )
    return row


def _json(value: Any) -> Any:
    """A constant as Keras's JSON holds it: slices and ``...`` as its entries, tuples as
    lists, NumPy numbers as Python's."""
    if isinstance(value, slice):
        return {
            "class_name": "__slice__",
            "config": {"start": value.start, "stop": value.stop, "step": value.step},
        }
    if value is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | Tensor):
        values = convert.to_numpy(value)
        kind = "__tensor__" if isinstance(value, Tensor) else "__numpy__"
        return {
            "class_name": kind,
            "config": {"value": values.tolist(), "dtype": values.dtype.name},
        }
    if isinstance(value, np.dtype):
        return value.name
    return value


def from_json(value: Any, tensor: Any) -> Any:
    """The inverse of :func:`_json`; ``tensor(entry)`` gives a ``__keras_tensor__``'s tensor."""
    if isinstance(value, dict):
        kind = value.get("class_name")
        if kind == "__keras_tensor__":
            return tensor(value)
        if kind == "__slice__":
            config = value.get("config", {})
            return slice(config.get("start"), config.get("stop"), config.get("step"))
        if kind == "__ellipsis__":
            return Ellipsis
        if kind in ("__numpy__", "__tensor__"):
            return _constant(value.get("config"), kind)
        return {k: from_json(v, tensor) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v, tensor) for v in value]
    return value


def _constant(config: Any, kind: str) -> Any:
    """A ``__numpy__`` or ``__tensor__`` constant of a Keras file: numbers only."""
    if not isinstance(config, dict):
        raise ValueError(f"a {kind} entry needs a config with its value and dtype")
    dtype = np.dtype(str(config.get("dtype")))
    if dtype.kind not in "biuf":
        raise ValueError(f"a {kind} constant must hold numbers, got dtype {dtype}")
    values = np.array(config.get("value"), dtype=dtype)
    return Tensor(values) if kind == "__tensor__" and dtype.kind == "f" else values


def record(
    name: str,
    function: Any,
    args: tuple,
    kwargs: dict[str, Any],
    output_shape: tuple[int | None, ...] | None = None,
    operation_name: str | None = None,
    output_dtype: str | None = None,
) -> SymbolicTensor:
    """``function(*args, **kwargs)`` on symbolic tensors: a new :class:`Operation` in the graph
    (named ``operation_name``, else as Keras names it, after its Operation's class:
    ``multiply``, ``multiply_1``, ...; ``ops.isin``'s ``is_in``, ``ops.image.resize``'s
    ``resize``) and its output tensor."""
    compute = getattr(function, "computes", function)
    try:
        bound = inspect.signature(compute).bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"ops.{name}: {error}") from None
    bound.apply_defaults()
    tensors: list[SymbolicTensor] = []
    arguments = _template(dict(bound.arguments), tensors)
    row = OPERATIONS.get(name.removeprefix("image."))
    prefix = to_snake_case(row[1]) if row is not None else name
    operation = Operation(
        name, arguments, output_shape, output_dtype, name=operation_name or graph_name(prefix)
    )
    operation.input_dtypes = [t.dtype for t in tensors]
    return operation(tensors)


def replay(
    entry: dict[str, Any], call: dict[str, Any], tensor: Any, recorded: Any = None
) -> SymbolicTensor:
    """An Operation from Keras's file (its entry and its one node), on the graph's tensors;
    ``recorded``: its output's shape and dtype where the file records them (a later call
    reads it), else they are found by trial runs on small enough inputs."""
    module, class_name = entry.get("module"), entry.get("class_name")
    function = BY_CLASS.get((module, class_name))
    if function is None:
        raise ValueError(f"could not locate operation '{class_name}' of module {module!r}")
    _, _, call_parameters, constructor = OPERATIONS[function]
    config = entry.get("config") or {}
    args = from_json(call.get("args") or [], tensor)
    if not isinstance(args, list) or len(args) > len(call_parameters):
        raise ValueError(f"operation {class_name}: its node's args do not match its call")
    arguments = dict(zip(call_parameters, args, strict=False))
    arguments |= {p: from_json(config[p], tensor) for p in constructor if p in config}
    name = function if module != "keras.src.ops.image" else f"image.{function}"
    # the file's name, taking none from the automatic ones (``add``, ``add_1``, ...), as Keras
    shape, dtype = recorded if recorded is not None else (None, None)
    return record(
        name,
        _functions()[name],
        (),
        arguments,
        _checked_shape(shape),
        entry.get("name"),
        _checked_dtype(dtype) if shape is not None else None,
    )


def _checked_dtype(dtype: Any) -> str | None:
    if dtype is None:
        return None
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise ValueError(f"a tensor's dtype must be a numeric dtype's name, got {dtype!r}")
    return dtype


_DTYPES = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
     "float16", "bfloat16", "float32", "float64"}
)  # fmt: skip


def _checked_shape(shape: Any) -> tuple[int | None, ...] | None:
    if shape is None:
        return None
    if (
        not isinstance(shape, list)
        or len(shape) > 32
        or not all(
            n is None or (isinstance(n, int) and not isinstance(n, bool) and n >= 0) for n in shape
        )
    ):
        raise ValueError(f"a tensor's shape must be a list of sizes (or null), got {shape!r}")
    return tuple(shape)


convert.on_symbolic(SymbolicTensor, record)
