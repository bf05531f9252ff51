"""Layers as Keras 3 writes them: ``serialize`` and ``deserialize`` of Keras's object format.

A layer's entry in a Keras file is ``{"module", "class_name", "config", "registered_name"}``
(and ``build_config``, the input shape it was built for; a model's also ``compile_config``).
autoconv writes what Keras writes, so that Keras reads autoconv's files, and reads what Keras
writes: Keras's configs hold keys for features autoconv does not have (quantization, batch
renormalization, ...), which are accepted at the values that leave the feature off and refused
by name at any other (:data:`KERAS_ONLY`), and a layer's dtype as a ``DTypePolicy``.

Classes are found, in order: autoconv's own (every ``Layer`` subclass defined in autoconv,
models included), then a user's through :mod:`autoconv.registration` (registered, in a
``custom_object_scope``, or in ``custom_objects``). Nothing else is imported or run: a file
cannot name a module for autoconv to load, and a ``Lambda``'s bytecode is never loaded.
"""

from __future__ import annotations

import codecs
import copy
import inspect
import marshal
from collections.abc import Sequence
from typing import Any

import numpy as np

from autoconv import constraints, initializers, registration, regularizers
from autoconv.dtype_policies import DTypePolicy

# autoconv's own layer and model classes, by class name (Layer.__init_subclass__ adds each).
BUILTIN: dict[str, type] = {}

# The Keras modules its files name autoconv's classes under (Keras 3.15's): layers are
# "keras.layers"; Sequential and Functional say otherwise (their KERAS_MODULE).
LAYERS_MODULE = "keras.layers"


class _Any:
    """In :data:`KERAS_ONLY`: any value is accepted (the key means nothing while the feature
    it belongs to is off, as ``renorm_momentum`` without ``renorm``)."""

    def __repr__(self) -> str:
        return "any value"


ANY = _Any()

# Keys Keras 3 writes in layer configs for features autoconv does not have, and the value that
# leaves each off (a config may hold it; any other value is refused by name).
KERAS_ONLY: dict[str, Any] = {
    "quantization_config": None,  # Dense, EinsumDense: quantized weights
    "lora_rank": None,
    "lora_alpha": None,
    "renorm": False,  # BatchNormalization: batch renormalization
    "renorm_clipping": None,
    "renorm_momentum": ANY,
    "data_format": "channels_last",  # layers that take no data_format here
    "sparse": False,  # InputLayer
    "ragged": False,
    "optional": False,
    "seed_generator_state": None,
    "autocast": True,  # a user's layer without a constructor of its own (Keras's Layer's)
}


def register_builtin(cls: type) -> None:
    """Record one of autoconv's own layer classes (a subclass defined in autoconv)."""
    if cls.__module__.startswith("autoconv."):
        BUILTIN.setdefault(cls.__name__, cls)


# ----------------------------------------------------------------------------- dtypes
def dtype_policy(dtype: str) -> dict[str, Any]:
    """Keras's ``DTypePolicy`` entry for a layer's dtype."""
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": dtype},
        "registered_name": None,
    }


def dtype_name(value: Any) -> Any:
    """A dtype from a config: a name, or Keras's ``DTypePolicy`` entry (its name); anything
    else is given back for the layer to refuse."""
    if isinstance(value, dict) and value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        inner = value.get("config")
        if isinstance(inner, dict):
            return inner.get("name")
    return value


def keras_arguments(cls: type, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as arguments of ``cls``'s constructor: a DTypePolicy as its name, and the
    :data:`KERAS_ONLY` keys the constructor does not take dropped where they hold the value
    that leaves their feature off (a ValueError naming the key otherwise)."""
    parameters = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    arguments = dict(config)
    if "dtype" in arguments:
        arguments["dtype"] = dtype_name(arguments["dtype"])
    for key in list(arguments):
        if key in parameters or key not in KERAS_ONLY:
            continue
        neutral, value = KERAS_ONLY[key], arguments.pop(key)
        if neutral is not ANY and value != neutral:
            raise ValueError(
                f"{cls.__name__}: {key}={value!r} is not supported by autoconv (only "
                f"{neutral!r}, which leaves it off)"
            )
    if not takes_any:
        unknown = sorted(set(arguments) - set(parameters) - {"name", "trainable", "dtype"})
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown config keys {unknown}")
    return arguments


# The base layer's config entries (activity_regularizer where one is set), first in every config.
_BASE_ENTRIES = ("name", "trainable", "dtype", "activity_regularizer")


def keras_ordered(config: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    """``config`` with its entries in Keras's order: the base layer's (which keep their places
    when Keras merges a layer's own entries into them), then of the others, those before the
    first entry named in ``order``, then those named in ``order``, in that order, then the rest."""
    keys = list(config)
    base = next((i for i, key in enumerate(keys) if key not in _BASE_ENTRIES), len(keys))
    own = keys[base:]
    first = next(i for i, key in enumerate(own) if key in order)
    named = [key for key in order if key in own]
    rest = [key for key in own[first:] if key not in order]
    return {key: config[key] for key in (*keys[:base], *own[:first], *named, *rest)}


# ------------------------------------------------------------- Keras's automatic config
# The values Keras's automatic config holds (in lists, tuples and dicts too).
_PLAIN = (str, int, float, bool, type(None))

_AUTO_CONFIG_EXAMPLE = """
class CustomLayer(keras.layers.Layer):
    def __init__(self, arg1, arg2, **kwargs):
        super().__init__(**kwargs)
        self.arg1 = arg1
        self.arg2 = arg2

    def get_config(self):
        config = super().get_config()
        config.update({
            "arg1": self.arg1,
            "arg2": self.arg2,
        })
        return config
"""

# Why a layer has no automatic config: Keras's NotImplementedError for each reason.
_NO_AUTO_CONFIG = {
    "positional": (
        "Object {} was created by passing\npositional only or variadic positional arguments "
        "(e.g.,\n`*args`) to `__init__()`, which is not supported by the\nautomatic config "
        "generation. Please remove all positional\nonly and variadic arguments from "
        "`__init__()`\nor override `get_config()` and `from_config()` to make\nthe object "
        "serializatble."
    ),
    "values": (
        "Object {} was created by passing\nnon-serializable argument values in `__init__()`,"
        "\nand therefore the object must override `get_config()` in\norder to be "
        "serializable. Please implement `get_config()`."
    ),
}


def auto_config(
    cls: type, args: tuple[Any, ...], kwargs: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any] | str:
    """Keras's automatic config of a user's layer made as ``cls(*args, **kwargs)``: the
    constructor's arguments by name, defaults and ``extra`` included, ``**kwargs`` spread,
    ``name`` left out, when they are plain values (str, int, float, bool, None, in lists,
    tuples and dicts); otherwise why there is none, a key of :data:`_NO_AUTO_CONFIG`."""
    signature = inspect.signature(cls.__init__)
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError:
        return "values"
    self_name, *parameters = signature.parameters.values()
    if any(p.kind is p.POSITIONAL_ONLY for p in parameters):
        return "positional"
    bound.apply_defaults()
    arguments = {**bound.arguments, **extra}
    del arguments[self_name.name]
    for parameter in parameters:
        if parameter.kind is parameter.VAR_KEYWORD:
            arguments |= arguments.pop(parameter.name)
        elif parameter.kind is parameter.VAR_POSITIONAL and arguments.pop(parameter.name):
            return "positional"
    arguments.pop("name", None)
    return arguments if all(isinstance(v, _PLAIN) for v in _leaves(arguments)) else "values"


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def config_head(layer: Any) -> dict[str, Any]:
    """The first entries of a layer's config, Keras's ``Operation.get_config``: its name, then
    its automatic config where it has one (:func:`auto_config`; the name left out where its
    constructor takes neither ``name`` nor ``**kwargs``), Keras's NotImplementedError where
    it should and cannot have one."""
    found = layer.__dict__.get("_auto_config")
    if found is None:
        return {"name": layer.name}
    if isinstance(found, str):
        why = _NO_AUTO_CONFIG[found].format(type(layer).__name__)
        raise NotImplementedError(f"\n{why}\n\nExample:\n\n{_AUTO_CONFIG_EXAMPLE}")
    parameters = inspect.signature(type(layer).__init__).parameters
    spread = parameters.get("kwargs")
    takes_name = "name" in parameters or (spread is not None and spread.kind is spread.VAR_KEYWORD)
    return ({"name": layer.name} if takes_name else {}) | copy.deepcopy(found)


# ------------------------------------------------------------------------ the format
def serialize(layer: Any) -> dict[str, Any]:
    """``layer`` (or a model) as Keras's object entry: module, class name, config, registered
    name, and ``build_config`` / ``compile_config`` where it has them (Keras's
    ``keras.layers.serialize``)."""
    if hasattr(layer, "keras_entry"):  # an ops function in a graph: its Operation class
        return layer.keras_entry()
    cls = type(layer)
    own = BUILTIN.get(cls.__name__) is cls
    module = getattr(cls, "KERAS_MODULE", LAYERS_MODULE) if own else registration.user_module(cls)
    entry: dict[str, Any] = {
        "module": module,
        "class_name": cls.__name__,
        "config": config_entries(layer.get_config()),
        "registered_name": (
            getattr(cls, "KERAS_REGISTERED_NAME", None)
            if own
            else registration.get_registered_name(cls)
        ),
    }
    build = layer.get_build_config()
    if build is not None:
        entry["build_config"] = build
    compile_config = getattr(layer, "compile_config_entry", lambda: None)()
    if compile_config is not None:
        entry["compile_config"] = compile_config
    return entry


# The families whose objects a layer's config may hold, and their Keras entries.
_FAMILIES = (
    (initializers.Initializer, initializers.serialize),
    (regularizers.Regularizer, regularizers.serialize),
    (constraints.Constraint, constraints.serialize),
)


def config_entries(value: Any) -> Any:
    """A layer's config as Keras's ``serialize_keras_object`` writes it: the layers,
    initializers, regularizers, constraints, dtype policies, functions and other objects with
    ``get_config`` in it (in dicts, lists and tuples too) as their entries, plain values and
    NumPy ones as they are; any other object (a Variable) is Keras's TypeError. Loading gives
    the entries to ``from_config`` as they are, as Keras does."""
    if isinstance(value, dict):
        return {key: config_entries(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [config_entries(item) for item in value]
        return tuple(items) if isinstance(value, tuple) else items
    if hasattr(value, "keras_entry") or hasattr(value, "get_build_config"):  # layers, models
        return serialize(value)
    for base, serialize_object in _FAMILIES:
        if isinstance(value, base):
            return serialize_object(value)
    if isinstance(value, DTypePolicy):
        return dtype_policy(value.name)
    if inspect.isfunction(value):
        return function_entry(value)
    if hasattr(value, "get_config") and not isinstance(value, type):  # a user's object
        entry = registration.keras_entry(value, "", {})
        return entry | {"config": config_entries(entry["config"])}
    if value is None or isinstance(value, str | int | float | np.generic | np.ndarray):
        return value
    raise TypeError(
        f"Cannot serialize object {value!r} of type {type(value)}. To be serializable, a class "
        "must implement the `get_config()` method."
    )


def function_entry(fn: Any, family: str | None = None) -> dict[str, Any]:
    """Keras's entry for a function in a layer's config: one registered with
    ``register_keras_serializable`` by its registered name, any other named function by its
    own name, as Keras writes it (loading finds it among autoconv's own, the registered ones
    and ``custom_objects``). A Python lambda or another callable cannot be saved: a
    NotImplementedError names it (and ``family``, the autoconv module of the objects that can
    stand in its place)."""
    name = registration.function_name(fn)
    if name is None and inspect.isfunction(fn) and fn.__name__ != "<lambda>":
        name = fn.__name__
    if name is None:
        instead = f"use one of autoconv.{family}, " if family else ""
        raise NotImplementedError(
            f"{fn!r} is a custom function, which cannot be saved in a model file: register it "
            f"with `@autoconv.saving.register_keras_serializable()`, {instead}or rebuild the "
            "model in code and save its weights with save_weights()"
        )
    return registration.function_entry(name)


def lambda_function_entry(fn: Any) -> Any:
    """Keras's entry for a ``Lambda``'s function (or its callable ``output_shape`` or
    ``mask``), as Keras's ``Lambda._serialize_function_to_config`` writes it: a Python lambda
    as its bytecode (``__lambda__``: marshal's bytes in base64, its defaults and closure),
    which Keras loads with ``safe_mode=False`` and autoconv never loads; a named function by
    its name, registered or not (loading finds it in ``custom_objects``); another callable as
    its object entry."""
    if inspect.isfunction(fn) and fn.__name__ == "<lambda>":
        code = codecs.encode(marshal.dumps(fn.__code__), "base64").decode("ascii")
        closure = tuple(cell.cell_contents for cell in fn.__closure__) if fn.__closure__ else None
        return {
            "class_name": "__lambda__",
            "config": {"code": code, "defaults": fn.__defaults__, "closure": closure},
        }
    if inspect.isfunction(fn):
        return registration.function_entry(registration.get_registered_name(fn))
    return config_entries(fn)


def lambda_function(entry: Any, what: str, custom_objects: dict[str, Any] | None = None) -> Any:
    """The function a ``Lambda``'s config names by ``entry`` (its ``what``: "function",
    "output_shape" or "mask"): a registered, scoped or ``custom_objects`` function. A Python
    lambda's bytecode is never loaded, ``safe_mode=False`` included: it could call anything,
    and a crafted code object can crash the interpreter."""
    if isinstance(entry, dict) and entry.get("class_name") == "__lambda__":
        raise ValueError(
            f"Requested the deserialization of a Lambda layer whose {what} is a Python lambda, "
            "whose bytecode a file cannot carry safely: autoconv does not load it, whatever "
            "safe_mode says (rebuild the Lambda in code, or give it a named function and pass "
            "that in custom_objects or register it)"
        )
    found = registration.find_function(entry, custom_objects)
    if found is None:
        name = entry.get("config") if isinstance(entry, dict) else entry
        raise TypeError(  # (Keras's type)
            f"Could not locate function {name!r}. Make sure custom functions are decorated with "
            "`@autoconv.saving.register_keras_serializable()`, or pass them in custom_objects"
        )
    return found


def layer_class(entry: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> type:
    """The class an object entry names: a user's (registered, scoped or in ``custom_objects``,
    by registered name or class name) first where it names one, else autoconv's own."""
    class_name = entry.get("class_name")
    if not isinstance(class_name, str):
        raise ValueError(f"a layer entry needs a class_name string, got {class_name!r}")
    cls = registration.find_class(entry, BUILTIN, custom_objects=custom_objects)
    if cls is None:
        raise TypeError(  # (Keras's type)
            f"Could not locate class '{class_name}'. Make sure custom classes are decorated "
            "with `@autoconv.saving.register_keras_serializable()`, or pass them in "
            "custom_objects; autoconv's own layers are the ones listed in docs/keras.md"
        )
    return cls


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Any:
    """A layer (or a model) from Keras's object entry, or autoconv's older
    ``{"class_name", "config"}``; built for its ``build_config`` where it has one (Keras's
    ``keras.layers.deserialize``)."""
    if not isinstance(config, dict):
        raise ValueError(f"a layer entry must be a dict, got {type(config).__name__}")
    cls = layer_class(config, custom_objects)
    inner = config.get("config", {})
    if not isinstance(inner, dict):
        raise ValueError(f"the config of {cls.__name__} must be a dict")
    with registration.custom_object_scope(custom_objects or {}):
        if "custom_objects" in inspect.signature(cls.from_config).parameters:
            layer = cls.from_config(inner, custom_objects=custom_objects)
        else:
            layer = cls.from_config(inner)
    build = config.get("build_config")
    if not layer.built and isinstance(build, dict):
        layer.build_from_config(build)
    return layer
