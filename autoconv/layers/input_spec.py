"""InputSpec: what a layer accepts (rank, shape, dtype, sizes of given axes), checked on the
first argument of each call, as Keras 3's (keras/src/layers/input_spec.py).

A layer opts in by setting ``self.input_spec`` (one spec, or one per input of a list call);
:class:`autoconv.layers.layer.Layer` checks it before the call runs, and the error names the
layer, the input and what was expected, in Keras's words.
"""

from __future__ import annotations

from typing import Any

from autoconv.ops.convert import standard_dtype


def standardize_dtype(dtype: Any) -> str:
    """A dtype's Keras name ("float32", "int32", ...)."""
    return str(standard_dtype(dtype).name)


def _shape(shape: Any) -> tuple[int | None, ...]:
    return tuple(None if n is None else int(n) for n in shape)


class InputSpec:
    """The rank (``ndim``, ``min_ndim``, ``max_ndim``), ``shape`` (batch axis first, None for
    any size; it sets ``ndim``), ``dtype`` and ``axes`` ({axis: size}) an input must have.
    ``allow_last_axis_squeeze``: a trailing axis of size 1 may be there or not. ``name``: the
    key of this input in a dict of inputs; ``optional``: None may stand for it."""

    def __init__(
        self,
        dtype: Any = None,
        shape: Any = None,
        ndim: int | None = None,
        max_ndim: int | None = None,
        min_ndim: int | None = None,
        axes: dict[int, int] | None = None,
        allow_last_axis_squeeze: bool = False,
        name: str | None = None,
        optional: bool = False,
    ) -> None:
        self.dtype = None if dtype is None else standardize_dtype(dtype)
        self.shape = None if shape is None else _shape(shape)
        self.ndim = ndim if shape is None else len(self.shape)
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.name, self.optional = name, optional
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        try:
            axes = axes or {}
            self.axes = {int(k): axes[k] for k in axes}
        except (ValueError, TypeError):
            raise TypeError(
                f"Argument `axes` must be a dict with integer keys. Received: axes={axes}"
            ) from None
        if self.axes and (self.ndim is not None or self.max_ndim is not None):
            max_dim = (self.ndim if self.ndim else self.max_ndim) - 1
            if max(self.axes) > max_dim:
                raise ValueError(
                    f"Axis {max(self.axes)} is greater than the maximum allowed value: {max_dim}"
                )

    def __repr__(self) -> str:
        parts = [("dtype", self.dtype), ("shape", self.shape), ("ndim", self.ndim),
                 ("max_ndim", self.max_ndim), ("min_ndim", self.min_ndim),
                 ("axes", self.axes)]  # fmt: skip
        return f"InputSpec({', '.join(f'{k}={v}' for k, v in parts if v)})"

    def get_config(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim,
                "max_ndim": self.max_ndim, "min_ndim": self.min_ndim, "axes": self.axes,
                "optional": self.optional}  # fmt: skip

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InputSpec:
        return cls(**config)


def _flat(structure: Any) -> list[Any]:
    if isinstance(structure, list | tuple):
        return [leaf for item in structure for leaf in _flat(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _flat(structure[key])]
    return [structure]


def assert_input_compatibility(input_spec: Any, inputs: Any, layer_name: str) -> None:
    """Raise Keras's ValueError where ``inputs`` (a tensor, array or symbolic tensor, or a
    list or dict of them) break ``input_spec`` (a spec, or a list of them; None: no check)."""
    if not input_spec:
        return
    specs = _flat(input_spec)
    if isinstance(inputs, dict) and all(spec.name for spec in specs):
        missing = [spec.name for spec in specs if spec.name not in inputs]
        if missing:
            raise ValueError(
                f'Missing data for input "{missing[0]}". You passed a data dictionary with '
                f"keys {list(inputs)}. Expected the following keys: {[s.name for s in specs]}"
            )
        inputs = [inputs[spec.name] for spec in specs]
    values = _flat(inputs)
    if len(values) != len(specs):
        raise ValueError(
            f'Layer "{layer_name}" expects {len(specs)} input(s), but it received '
            f"{len(values)} input tensors. Inputs received: {values}"
        )
    for index, (x, spec) in enumerate(zip(values, specs, strict=True)):
        if spec is None or (x is None and spec.optional):
            continue
        if not hasattr(x, "shape"):
            raise ValueError(
                f"Inputs to a layer should be tensors. Got '{x}' (of type {type(x)}) as input "
                f"for layer '{layer_name}'."
            )
        _check(spec, _shape(x.shape), getattr(x, "dtype", None), index, layer_name)


def _check(spec: InputSpec, shape: tuple, dtype: Any, index: int, layer_name: str) -> None:
    """One input against its spec, in Keras's order of checks and words."""
    where = f"Input {index} with name '{spec.name}' of layer '{layer_name}' is incompatible with"
    ndim = len(shape)
    if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
        raise ValueError(
            f"{where} the layer: expected ndim={spec.ndim}, found ndim={ndim}. Full shape "
            f"received: {shape}"
        )
    if spec.max_ndim is not None and ndim > spec.max_ndim:
        raise ValueError(f"{where} the layer: expected max_ndim={spec.max_ndim}, found ndim={ndim}")
    if spec.min_ndim is not None and ndim < spec.min_ndim:
        raise ValueError(
            f"{where} the layer: expected min_ndim={spec.min_ndim}, found ndim={ndim}. Full "
            f"shape received: {shape}"
        )
    if spec.dtype is not None and dtype is not None and standardize_dtype(dtype) != spec.dtype:
        raise ValueError(
            f"{where} the layer: expected dtype={spec.dtype}, found dtype="
            f"{standardize_dtype(dtype)}"
        )
    for axis, value in spec.axes.items():
        if value is not None and shape[axis] not in (value, None):
            raise ValueError(
                f"{where} the layer: expected axis {axis} of input shape to have value {value}, "
                f"but received input with shape {shape}"
            )
    if spec.shape is not None:
        expected, got = spec.shape, shape
        if spec.allow_last_axis_squeeze:
            got = got[:-1] if got and got[-1] == 1 else got
            expected = expected[:-1] if expected and expected[-1] == 1 else expected
        pairs = zip(expected, got, strict=False)
        if any(e is not None and g is not None and e != g for e, g in pairs):
            raise ValueError(f"{where} the layer: expected shape={spec.shape}, found shape={shape}")
