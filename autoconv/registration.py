"""Custom objects by name, as Keras keeps them: what ``register_keras_serializable``,
``get_custom_objects`` and ``custom_object_scope`` give deserialization to find a user's own
classes and functions by the names files hold. ``autoconv.saving`` (and ``autoconv.utils``)
export these functions under Keras's names; this module sits below the layers, which look
names up in it.

A registered object is known as ``"package>name"``; an object given through
``get_custom_objects()``, a ``custom_object_scope`` or a loading function's ``custom_objects``
by the key it was given under. Scopes are per thread (as Keras's), nest, and are looked up
first.

>>> @register_keras_serializable("my_package")
... class Twice:
...     def get_config(self):
...         return {}
>>> get_registered_name(Twice)
'my_package>Twice'
>>> get_registered_object("my_package>Twice") is Twice
True
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

_OBJECTS: dict[str, Any] = {}  # registered (or given) name -> object
_NAMES: dict[Any, str] = {}  # registered object -> its "package>name"


class _Scopes(threading.local):
    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}


_scopes = _Scopes()


def register_keras_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """A decorator that registers a class (which must have ``get_config``) or a function as
    ``"package>name"`` (``name`` defaults to the object's own), so that a model using it loads
    without ``custom_objects``."""

    def register(target: Any) -> Any:
        registered = f"{package}>{name if name is not None else target.__name__}"
        if inspect.isclass(target) and not hasattr(target, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() method.")
        _OBJECTS[registered] = target
        _NAMES[target] = registered
        return target

    return register


def get_registered_name(obj: Any) -> str:
    """The name an object is registered under, else its own ``__name__``."""
    try:
        return _NAMES.get(obj, obj.__name__)
    except TypeError:  # an unhashable object is never registered
        return obj.__name__


def get_registered_object(
    name: str, custom_objects: dict[str, Any] | None = None, module_objects: Any = None
) -> Any:
    """The object known as ``name``: in the current ``custom_object_scope``, else registered
    (or in ``get_custom_objects()``), else in ``custom_objects``, else in ``module_objects``;
    None if none has it."""
    for found in (_scopes.objects, _OBJECTS, custom_objects or {}, module_objects or {}):
        if name in found:
            return found[name]
    return None


def get_custom_objects() -> dict[str, Any]:
    """The live dictionary of registered objects: add to it (``get_custom_objects()["Name"] =
    cls``) and deserialization finds the object by that key."""
    return _OBJECTS


class CustomObjectScope:
    """``with custom_object_scope({"name": obj, ...}):`` deserialization inside finds those
    objects by those names (in this thread), before anything registered."""

    def __init__(self, custom_objects: dict[str, Any] | None = None, *more: dict) -> None:
        self.custom_objects = dict(custom_objects or {})
        for objects in more:
            self.custom_objects |= objects
        self.backup: dict[str, Any] = {}

    def __enter__(self) -> CustomObjectScope:
        self.backup = _scopes.objects
        _scopes.objects = self.backup | self.custom_objects
        return self

    def __exit__(self, *exc: Any) -> None:
        _scopes.objects = self.backup


custom_object_scope = CustomObjectScope


# ---------------------------------------------------------------- Keras's object entries
def keras_entry(obj: Any, module: str, own: dict[str, Any]) -> dict[str, Any]:
    """Keras's entry for an object with ``get_config``: ``{"module", "class_name", "config",
    "registered_name"}``, under ``module`` for one of autoconv's own classes (those in
    ``own``, by class name), under its Python module and registered name for a user's."""
    cls = type(obj)
    builtin = own.get(cls.__name__) is cls
    return {
        "module": module if builtin else user_module(cls),
        "class_name": cls.__name__,
        "config": obj.get_config(),
        "registered_name": None if builtin else get_registered_name(cls),
    }


def user_module(cls: type) -> str | None:
    """The ``module`` of a user's class's entry: its Python module, None for ``__main__``
    (Keras's ``record_object_after_serialization``)."""
    return None if cls.__module__ == "__main__" else cls.__module__


# ---------------------------------------------------------------- functions
def function_name(fn: Any) -> str | None:
    """The name loading finds ``fn`` by again (registered with
    :func:`register_keras_serializable`, or in ``get_custom_objects()`` or the current scope
    under its own name); None for any other function, which a file cannot name."""
    if not inspect.isfunction(fn):
        return None
    name = get_registered_name(fn)
    return name if get_registered_object(name) is fn else None


def function_entry(name: str) -> dict[str, Any]:
    """Keras's entry for the function known as ``name``, as Keras 3 writes every function
    (``serialize_keras_object``): module ``builtins``, registered name ``function``."""
    return {"module": "builtins", "class_name": "function", "config": name,
            "registered_name": "function"}  # fmt: skip


def find_function(
    config: Any, custom_objects: dict[str, Any] | None = None, own: dict[str, Any] | None = None
) -> Any:
    """The function a Keras function entry (or a bare name) means, as Keras's
    ``_retrieve_class_or_fn`` finds it: by its name among the scoped, registered and
    ``custom_objects``' objects, else among autoconv's own (``own``), else (a name without a
    package, as Keras 3.6 and older wrote a registered function) the object registered as
    ``"<package>>name"``; None if none has it."""
    name = config.get("config") if isinstance(config, dict) else config
    if not isinstance(name, str):
        return None
    found = get_registered_object(name, custom_objects) or (own or {}).get(name)
    if found is None and ">" not in name:
        objects = (custom_objects or {}) | _OBJECTS | _scopes.objects
        found = next((v for k, v in objects.items() if k.endswith(f">{name}")), None)
    return found if callable(found) else None


def require_function(
    config: Any, custom_objects: dict[str, Any] | None = None, own: dict[str, Any] | None = None
) -> Any:
    """:func:`find_function`'s function, or a TypeError naming the one not found (Keras's
    words and type)."""
    found = find_function(config, custom_objects, own)
    if found is None:
        name = config.get("config") if isinstance(config, dict) else config
        raise TypeError(
            f"Could not locate function '{name}'. Make sure custom classes and functions are "
            "decorated with `@autoconv.saving.register_keras_serializable()` (or given in "
            "custom_objects). If they are already decorated, make sure they are all imported "
            "so that the decorator is run before trying to load them. Full object config: "
            f"{config}"
        )
    return found


def find_class(
    entry: Any, own: dict[str, Any], base: type = object, custom_objects: dict | None = None
) -> Any:
    """The class a Keras entry (or a bare name) means: a user's subclass of ``base`` found by
    its registered name or class name (:func:`get_registered_object`) first, else autoconv's
    own in ``own`` by class name; None if neither has it."""
    if isinstance(entry, dict):
        names = [entry.get("registered_name"), entry.get("class_name")]
    else:
        names = [entry]
    for name in names:
        if isinstance(name, str):
            found = get_registered_object(name, custom_objects)
            if inspect.isclass(found) and issubclass(found, base):
                return found
    class_name = names[-1]
    return own.get(class_name) if isinstance(class_name, str) else None


def deserialize_object(
    config: Any, own: dict[str, Any], base: type, kind: str, custom_objects: dict | None = None
) -> Any:
    """The ``kind`` (an initializer, a regularizer, a constraint) a Keras entry, a name, or a
    registered (or ``custom_objects``') class's entry makes, from ``base``'s family: a user's
    class found first (:func:`find_class`), else autoconv's own in ``own``; a registered
    function's entry gives the function. One ValueError naming the identifier and the known
    names otherwise."""
    if isinstance(config, dict) and config.get("class_name") == "function":
        return require_function(config, custom_objects)
    arguments = (config.get("config") or {}) if isinstance(config, dict) else {}
    cls = find_class(config, own, base, custom_objects)
    if cls is None or not isinstance(arguments, dict):
        raise ValueError(
            f"Could not interpret {kind} identifier: {config!r}; known {kind}s: "
            f"{', '.join(sorted(own))}"
        )
    return cls.from_config(arguments)


def get_object(identifier: Any, deserialize: Callable[[Any], Any], kind: str) -> Any:
    """Keras's ``get`` of a family: a name or an entry made by ``deserialize``, a class
    instantiated with its defaults, an instance or any other callable as it is; None gives
    None. Anything else is a ValueError naming the ``kind``."""
    if identifier is None:
        return None
    if isinstance(identifier, str | dict):
        return deserialize(identifier)
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret {kind} identifier: {identifier!r}")
