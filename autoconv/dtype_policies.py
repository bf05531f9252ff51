"""Dtype policies, as Keras 3's ``keras.dtype_policies`` and ``keras.mixed_precision``: the
dtype a layer computes in and keeps its weights in. autoconv computes in float32 or float64,
so its policies are those two, and Keras's policies of an integer or bool dtype (a layer's of
integers, such as a lookup's; autoconv's layers compute in floats, so a layer, or the global
policy, given one is an error); Keras's mixed-precision ("mixed_float16", "mixed_bfloat16"),
half-precision and quantized policies are one clear error naming them.

>>> DTypePolicy("float64")
<DTypePolicy "float64">
>>> DTypePolicy("int32").compute_dtype
'int32'
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv import config, registration
from autoconv.naming import missing_names

__all__ = [
    "DTypePolicy", "FloatDTypePolicy", "deserialize", "dtype_policy", "get", "serialize",
    "set_dtype_policy",
]  # fmt: skip

# Python's types (and "int") as the dtypes Keras names them on its PyTorch backend
PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string", "int": "int32",
                 complex: "complex64"}  # fmt: skip


def python_dtype(dtype: Any) -> Any:
    """``dtype`` with a Python type (``int``, ``float``, ...) or "int" as Keras's dtype name
    for it (``int`` and "int" are int32, not NumPy's int64); any other dtype as given."""
    if isinstance(dtype, (type, str)):
        return PYTHON_DTYPES.get(dtype, dtype)
    return dtype


# Keras's policies for quantized layers, which autoconv does not have
KERAS_POLICIES_NOT_IMPLEMENTED = frozenset({
    "AWQDTypePolicy", "DTypePolicyMap", "GPTQDTypePolicy", "Int4DTypePolicy",
    "QuantizedDTypePolicy", "QuantizedFloat8DTypePolicy",
})  # fmt: skip


def integer_dtype(name: str) -> str | None:
    """Keras's name of the integer or bool dtype ``name`` stands for ("int" is int32), or
    None where it is not one."""
    name = python_dtype(name)
    try:
        dtype = np.dtype(name)
    except TypeError:
        return None
    return name if dtype.kind in "biu" and dtype.name == name else None


class DTypePolicy:
    """A layer's dtype policy by name: "float32" or "float64", or an integer or bool dtype
    (both its compute and its variable dtype, as Keras's); None is
    :func:`autoconv.config.floatx`."""

    def __init__(self, name: str | None = None) -> None:
        name = config.floatx() if name is None else name
        if not isinstance(name, str):
            raise TypeError(f"'name' must be a string, such as 'float32'. Received: name={name}")
        dtype = name if name in ("float32", "float64") else integer_dtype(name)
        if dtype is None:
            raise ValueError(
                f"Dtype policy {name!r} is not supported by autoconv, which computes in float32 "
                "or float64: no mixed precision, half precision or quantization"
            )
        self._name, self._dtype = name, dtype

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        return self._dtype

    @property
    def variable_dtype(self) -> str:
        return self._dtype

    @property
    def quantization_mode(self) -> None:
        return None

    def convert_input(self, x: Any, autocast: bool, dtype: Any) -> Any:
        """``x`` as Keras's layers take their inputs: a tensor (or an array made one), cast
        to ``dtype`` when ``autocast`` is set and it is of another float dtype; anything
        else as it is."""
        from autoconv import backend, ops

        dtype = backend.standardize_dtype(dtype)
        if not (ops.is_tensor(x) or backend.is_keras_tensor(x)):
            if not hasattr(x, "__array__"):
                return x
            x = ops.convert_to_tensor(x)
        x_dtype = backend.standardize_dtype(x.dtype)
        if autocast and backend.is_float_dtype(x_dtype) and x_dtype != dtype:
            x = ops.cast(x, dtype)
        return x

    def get_config(self) -> dict[str, Any]:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DTypePolicy:
        return cls(**config)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self._name)

    def __repr__(self) -> str:
        return f'<{type(self).__name__} "{self._name}">'


FloatDTypePolicy = DTypePolicy  # Keras's name for a policy of one float dtype


# Keras's classes of the policies autoconv has, by the class names its entries give
_OWN = {"DTypePolicy": DTypePolicy, "FloatDTypePolicy": DTypePolicy}


def serialize(dtype_policy: DTypePolicy) -> dict[str, Any]:
    """Keras's entry for a policy: ``{"module": "keras", "class_name": "DTypePolicy", ...}``
    (a user's subclass under its module and registered name, as Keras's)."""
    return registration.keras_entry(dtype_policy, "keras", {"DTypePolicy": DTypePolicy})


def deserialize(
    config: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> DTypePolicy:
    """A policy from Keras's entry (:func:`serialize`); a user's subclass found by its
    registered name or in ``custom_objects``, as Keras's."""
    if not isinstance(config, dict) or "config" not in config:
        raise ValueError(f"a dtype policy entry must be a dict with a 'config', got {config!r}")
    cls = registration.find_class(config, _OWN, DTypePolicy, custom_objects)
    if cls is None:
        raise ValueError(
            f"Could not interpret dtype policy entry: {config!r}; known classes: "
            f"{', '.join(sorted(_OWN))}"
        )
    return cls.from_config(config["config"])


def get(identifier: Any) -> DTypePolicy:
    """A policy from a name, an entry, a policy or a dtype; ``None`` is the global policy
    (:func:`dtype_policy`), as Keras's."""
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    from autoconv.backend import standardize_dtype

    try:
        name = standardize_dtype(identifier)
    except (TypeError, ValueError):
        name = None
    if name is not None:
        return DTypePolicy(name)
    raise ValueError(
        f"Cannot interpret `dtype` argument. Expected a string or DTypePolicy, got {identifier!r}"
    )


# The policy set by set_dtype_policy (None: floatx's), cleared by clear_session as Keras's
_global_policy: DTypePolicy | None = None


def set_dtype_policy(policy: Any) -> None:
    """Make ``policy`` (a name or a policy) the default of the layers made from now on, as
    Keras's: :func:`autoconv.config.floatx` is left as it is (Keras's ``Input``, the ops and
    the initializers keep making floatx), and ``clear_session`` puts floatx's policy back."""
    global _global_policy
    if not isinstance(policy, DTypePolicy | str):
        raise ValueError(  # Keras's words
            "Invalid `policy` argument. Expected the string name of a policy (such as "
            f"'mixed_float16') or a `DTypePolicy` instance. Received: policy={policy} "
            f"(of type {type(policy)})"
        )
    policy = get(policy)
    if policy.compute_dtype not in ("float32", "float64"):
        raise ValueError(
            f"Dtype policy {policy.name!r} is not supported by autoconv as the layers' default: "
            "its layers compute in float32 or float64 (integer inputs reach them as they are)"
        )
    _global_policy = policy


def reset_dtype_policy() -> None:
    """Forget the policy :func:`set_dtype_policy` set (``clear_session``'s part)."""
    global _global_policy
    _global_policy = None


def dtype_policy() -> DTypePolicy:
    """The layers' default policy: the one :func:`set_dtype_policy` set, else
    :func:`autoconv.config.floatx`'s."""
    return _global_policy if _global_policy is not None else DTypePolicy(config.floatx())


__getattr__ = missing_names(
    "dtype_policies", KERAS_POLICIES_NOT_IMPLEMENTED,
    "which has no quantized layers (its policies are float32 and float64)",
)  # fmt: skip
