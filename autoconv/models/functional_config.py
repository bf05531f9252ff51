"""Reading a functional model's config in Keras's form: the ``inbound_nodes`` of each layer
(its calls, their tensors as ``__keras_tensor__`` entries naming their Keras history, their
arguments and keyword arguments), checked, and replayed on the rebuilt layers in an order
where each call's inputs are ready (:meth:`autoconv.models.functional.Functional.from_config`;
the model writes its nodes itself, ``_node_config``).
"""

from __future__ import annotations

from typing import Any

from autoconv.layers import SymbolicTensor
from autoconv.layers.operation import from_json
from autoconv.layers.symbolic import flat_outputs


def checked_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"a functional config's {what} must be a list, got {value!r}")
    return value


def tensor_history(value: Any) -> tuple[str, int, int]:
    """``[layer name, node index, tensor index]``."""
    if (
        not isinstance(value, list | tuple)
        or len(value) != 3
        or not isinstance(value[0], str)
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value[1:])
    ):
        raise ValueError(f"a tensor history must be [layer name, node, tensor], got {value!r}")
    return value[0], value[1], value[2]


def _checked_call(call: Any) -> tuple[list[Any], dict[str, Any]]:
    """A layer call's ``args`` (a list whose first item holds a tensor) and ``kwargs`` (a
    dict), each tensor a well-formed ``__keras_tensor__`` entry, every other value a plain
    JSON value."""
    if not isinstance(call, dict):
        raise ValueError(f"a call of a functional config must be a dict, got {call!r}")
    args, kwargs = call.get("args"), call.get("kwargs") or {}
    if not isinstance(args, list) or not args or not isinstance(kwargs, dict):
        raise ValueError(
            f"a call must hold a list of args (at least one) and a dict of kwargs, got {call!r}"
        )
    for value in [*args, *kwargs.values()]:
        _check_argument(value)
    if not _tensors_anywhere(args[0]):
        raise ValueError(f"a call's first argument must be a tensor or a list of them: {call!r}")
    return args, kwargs


# Keras's entries of a constant array among a call's arguments
CONSTANTS = ("__tensor__", "__numpy__")


def _check_argument(value: Any) -> None:
    if isinstance(value, dict) and value.get("class_name") in CONSTANTS:
        return  # a constant of the call (read by operation.from_json)
    if isinstance(value, dict) and "class_name" in value:  # a tensor, not another object
        if value["class_name"] != "__keras_tensor__" or not isinstance(value.get("config"), dict):
            raise ValueError(f"a call's argument must be a tensor or a plain value, got {value!r}")
        keras_history(value)
    elif isinstance(value, dict):  # a dict of tensors (a layer called on a dict)
        for item in value.values():
            _check_argument(item)
    elif isinstance(value, list):
        for item in value:
            _check_argument(item)
    elif not (value is None or isinstance(value, bool | int | float | str)):
        raise ValueError(f"a call's argument must be a tensor or a plain value, got {value!r}")


def ready(call: dict[str, Any], outputs: dict[tuple[str, int], Any], operation: bool) -> bool:
    """Whether every tensor a call reads is made (anywhere in its args; a layer call's in its
    kwargs too)."""
    if operation:
        read = _tensors_anywhere(call.get("args"))
    else:
        read = _tensors_anywhere(_checked_call(call))
    return all(keras_history(item)[:2] in outputs for item in read)


def recorded_tensors(entries: list[Any]) -> dict[tuple[str, int], tuple[Any, Any]]:
    """The shapes and dtypes a config records for the tensors its calls read, by (layer
    name, call)."""
    shapes = {}
    for entry in entries:
        calls = entry.get("inbound_nodes") if isinstance(entry, dict) else None
        for call in calls if isinstance(calls, list) else []:
            read = [call.get("args"), call.get("kwargs")] if isinstance(call, dict) else None
            for item in _tensors_anywhere(read):
                config = item.get("config")
                name, number, index = keras_history(item)
                if isinstance(config, dict) and "shape" in config and index == 0:
                    shapes[(name, number)] = (config["shape"], config.get("dtype"))
    return shapes


def keras_history(item: dict[str, Any]) -> tuple[str, int, int]:
    config = item.get("config")
    return tensor_history(config.get("keras_history") if isinstance(config, dict) else None)


def _tensors_anywhere(value: Any) -> list[dict[str, Any]]:
    """The ``__keras_tensor__`` entries in a call's args (and kwargs), however nested."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return [value]
        return [t for v in value.values() for t in _tensors_anywhere(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _tensors_anywhere(v)]
    return []


def node_arguments(call: dict[str, Any], outputs: dict) -> tuple[list[Any], dict[str, Any]]:
    """A call's args and kwargs with the tensors they name in place; ``mask`` is dropped where
    it holds no tensor (Keras records ``mask=None`` where autoconv's calls take none)."""
    args, kwargs = _checked_call(call)

    def filled(value: Any) -> Any:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            return made_tensor(outputs, *keras_history(value))
        if isinstance(value, dict) and value.get("class_name") in CONSTANTS:
            return from_json(value, None)  # a constant array of the call
        if isinstance(value, dict):
            return {key: filled(v) for key, v in value.items()}
        if isinstance(value, list):
            return [filled(v) for v in value]
        return value

    kwargs = dict(kwargs)
    if "mask" in kwargs and not _tensors_anywhere(kwargs["mask"]):
        mask = kwargs.pop("mask")
        if mask is not None and (not isinstance(mask, list) or any(m is not None for m in mask)):
            raise ValueError(f"a call's mask must be tensors or null, got {mask!r}")
    if kwargs.get("training") not in (None, True, False):
        raise ValueError(f"a call's training must be true, false or null, got {kwargs!r}")
    return [filled(a) for a in args], {k: filled(v) for k, v in kwargs.items()}


def replayed(layer: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``layer(*args, **kwargs)`` on symbolic tensors; a call it does not take is a
    ValueError naming the layer."""
    try:
        return layer(*args, **kwargs)
    except TypeError as error:
        raise ValueError(
            f"layer {layer.name} ({type(layer).__name__}) cannot be called with the arguments "
            f"a functional config records ({sorted(kwargs)}): {error}"
        ) from None


def made_tensor(
    outputs: dict[tuple[str, int], Any], name: str, number: int, index: int = 0
) -> SymbolicTensor:
    if (name, number) not in outputs:
        raise ValueError(f"a functional config reads call {number} of layer {name}, never made")
    made = flat_outputs(outputs[(name, number)])
    if index >= len(made):
        raise ValueError(
            f"a functional config reads output {index} of call {number} of layer {name}, which "
            f"has {len(made)}"
        )
    return made[index]


def map_histories(value: Any, tensor: Any) -> Any:
    """A functional config's ``input_layers`` / ``output_layers`` (one history, a list, or a
    dict of them) as the tensors they name, in the same structure."""
    if isinstance(value, dict):
        return {key: tensor(history) for key, history in value.items()}
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return tensor(value)
    if isinstance(value, list) and value:
        return [map_histories(history, tensor) for history in value]
    raise ValueError(f"a functional config's inputs and outputs must name tensors, got {value!r}")
