"""``clone_model``: a model's architecture again, with new layers and so new weights (Keras 3's
``keras.models.clone_model``).

A Sequential model's layers are cloned in order on a new Input of the same shape; a functional
model's graph is replayed call by call on new Inputs (or ``input_tensors``), each layer cloned
once (a shared layer stays shared in the clone). ``clone_function(layer)`` makes each clone
(by default ``type(layer).from_config(layer.get_config())``: the same config, weights newly
initialized, not copied), ``call_function(layer, inputs, **kwargs)`` makes each call of a
functional model. ``recursive=True`` clones nested Sequential and functional models with
``clone_model`` and the same functions rather than with ``clone_function``. A subclassed
model is cloned through its ``get_config()`` / ``from_config()`` only. A clone is compiled as
the original was.

Where autoconv differs from Keras:

- ``input_tensors`` must be outputs of ``autoconv.Input`` (a ValueError says so otherwise):
  autoconv's ``Input`` takes no ``tensor=``, so a clone cannot start at another layer's
  output. A Sequential clone on an Input takes that Input's own layer (Keras makes a new one
  on the tensor, named as the original model's input layer).
- A functional clone's new Inputs are named as the original's input layers (Keras names them
  as its input tensors: the same for a named Input, ``keras_tensor_N`` for another).
- The calls of ``keras.ops`` functions in a graph (:class:`~autoconv.layers.Operation`) are
  recorded again as they were; ``clone_function`` and ``call_function`` see layers only
  (Keras's see its Operations too).

>>> import autoconv as ac
>>> model = ac.Sequential([ac.Input((3,)), ac.layers.Dense(2)])
>>> clone = clone_model(model)
>>> [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
True
>>> clone.layers[0].kernel is model.layers[0].kernel
False
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from autoconv.layers import Input, InputLayer, Layer, Operation, SymbolicTensor
from autoconv.layers.serialization import deserialize, serialize
from autoconv.layers.symbolic import flat_outputs
from autoconv.models.functional import Functional
from autoconv.models.model import Model
from autoconv.models.sequential import Sequential


def clone_model(
    model: Model,
    input_tensors: Any = None,
    clone_function: Callable[[Layer], Layer] | None = None,
    call_function: Callable[..., Any] | None = None,
    recursive: bool = False,
    **kwargs: Any,
) -> Model:
    """A new model of ``model``'s architecture (Sequential, functional, or a subclassed
    model with ``get_config``) with new layers, so new weights: the same configs and names,
    compiled as ``model`` was, computing the same outputs once given ``model.get_weights()``.

    ``input_tensors``: symbolic tensors of ``autoconv.Input`` in the structure of
    ``model.input`` (one for a Sequential) to build the clone on. ``clone_function(layer)``:
    the clone of each layer (Inputs excepted); ``call_function(layer, inputs, **kwargs)``: each
    call of a functional model's layers (``layer(inputs, **kwargs)`` by default).
    ``recursive``: clone nested Sequential and functional models with ``clone_model`` too."""
    cache = kwargs.pop("cache", None)  # Keras's: the clones made so far (recursive calls)
    if kwargs:
        raise ValueError(f"Unexpected keyword argument(s): {tuple(kwargs.keys())}")
    if clone_function is not None and not callable(clone_function):
        raise ValueError(
            "Expected `clone_function` argument to be a callable. "
            f"Received: clone_function={clone_function}"
        )
    if isinstance(model, Sequential):
        if call_function is not None:
            raise ValueError(
                "`call_function` argument is not supported with Sequential models.  In a "
                "Sequential model, layers aren't called at model-construction time (they're "
                "merely listed). Use `call_function` with Functional models only. Received "
                f"model of type '{type(model).__name__}', with call_function={call_function}"
            )
        clone = _cloner(clone_function, None, recursive, cache)
        return _compiled_as(model, _clone_sequential(model, clone, input_tensors))
    if isinstance(model, Functional):
        clone = _cloner(clone_function, call_function, recursive, cache)
        return _compiled_as(model, _clone_functional(model, clone, call_function, input_tensors))
    if clone_function is not None or input_tensors is not None:
        raise ValueError(
            "Arguments `clone_function` and `input_tensors` are only supported for Sequential "
            f"models or Functional models. Received model of type '{type(model).__name__}', "
            f"with clone_function={clone_function} and input_tensors={input_tensors}"
        )
    if call_function is not None:
        raise ValueError(
            "Argument `call_function` is only supported for Functional models. Received model "
            f"of type '{type(model).__name__}', with call_function={call_function}"
        )
    return _compiled_as(model, _clone_from_config(model))


def _compiled_as(model: Model, clone: Model) -> Model:
    if model.compiled:
        clone.compile_from_config(model.get_compile_config())
    return clone


def _clone_layer(layer: Layer) -> Layer:
    """Keras's default ``clone_function``: the layer made again from its config."""
    return type(layer).from_config(layer.get_config())


def _cloner(
    clone_function: Callable[[Layer], Layer] | None,
    call_function: Callable[..., Any] | None,
    recursive: bool,
    cache: dict[int, Layer] | None,
) -> Callable[[Layer], Layer]:
    """``clone_function`` (or :func:`_clone_layer`) made once per layer, and with
    ``recursive`` ``clone_model`` for nested models (Keras's ``_wrap_clone_function``)."""
    make = clone_function or _clone_layer
    made: dict[int, Layer] = {} if cache is None else cache

    def clone(layer: Layer) -> Layer:
        if id(layer) not in made:
            if recursive and isinstance(layer, Sequential):
                made[id(layer)] = clone_model(
                    layer, clone_function=make, recursive=True, cache=made
                )
            elif recursive and isinstance(layer, Functional):
                made[id(layer)] = clone_model(
                    layer, clone_function=make, call_function=call_function, recursive=True,
                    cache=made,
                )  # fmt: skip
            else:
                made[id(layer)] = make(layer)
        return made[id(layer)]

    return clone


def _clone_sequential(
    model: Sequential, clone: Callable[[Layer], Layer], input_tensors: Any
) -> Sequential:
    """The layers cloned, on ``input_tensors`` (one Input tensor), else on an Input as the
    model's (where it has one: a model never built has none, and its clone is not built)."""
    layers: list[Any] = [clone(layer) for layer in model.layers]
    source = model._input_layer
    if input_tensors is not None:
        if isinstance(input_tensors, list | tuple):
            if len(input_tensors) != 1:
                raise ValueError("Argument `input_tensors` must contain a single tensor.")
            input_tensors = input_tensors[0]
        layers.insert(0, _input_layer_of(input_tensors))
    elif source is not None:
        layers.insert(
            0, InputLayer(batch_shape=source.batch_shape, dtype=source.dtype, name=source.name)
        )
    return Sequential(layers, name=model.name, trainable=model.trainable)


def _clone_functional(
    model: Functional,
    clone: Callable[[Layer], Layer],
    call_function: Callable[..., Any] | None,
    input_tensors: Any,
) -> Functional:
    """The graph's calls replayed in order on ``input_tensors`` (new Inputs as the model's by
    default), each layer through ``clone`` and each call through ``call_function``."""
    if input_tensors is None:
        starts = [
            Input(batch_shape=t.shape, dtype=t.dtype, name=t.node.layer.name) for t in model.inputs
        ]
        input_tensors = _as_structure(model.input, starts)
    else:
        starts = _checked_inputs(model, input_tensors)
    made = {id(old): new for old, new in zip(model.inputs, starts, strict=True)}
    for node in model._functional.keras_order():
        if isinstance(node.layer, InputLayer):
            continue
        args = [made[id(t)] for t in node.inputs]
        if isinstance(node.layer, Operation):
            out = _operation_again(node, args)
        else:  # the call's arguments as recorded, the new tensors in place
            call_args, kwargs = node.call_arguments(args)
            out = (call_function or _call)(clone(node.layer), *call_args, **kwargs)
        made.update(zip(map(id, node.outputs), flat_outputs(out), strict=True))
    outputs = _as_structure(model.output, [made[id(t)] for t in model.outputs])
    cls = type(model) if _functional_like(type(model)) else Functional
    return cls(input_tensors, outputs, name=model.name)


def _call(layer: Layer, *args: Any, **kwargs: Any) -> Any:
    """Keras's default ``call_function``: the layer called."""
    return layer(*args, **kwargs)


def _operation_again(node: Any, args: list[SymbolicTensor]) -> SymbolicTensor:
    """A ``keras.ops`` function's call recorded again on ``args``: the same function,
    constants and name (its output's recorded shape kept where its inputs' are the same)."""
    operation = node.layer
    same = [t.shape for t in args] == [t.shape for t in node.inputs]
    shape = operation.output_shape if same else None
    again = Operation(operation.function, operation.arguments, shape, name=operation.name)
    return again(args)


def _checked_inputs(model: Functional, input_tensors: Any) -> list[SymbolicTensor]:
    """``input_tensors`` in the graph's input order, after checking them as Keras does (all
    symbolic tensors, in ``model.input``'s structure) and that each is an Input's."""
    if isinstance(input_tensors, dict):
        given = list(input_tensors.values())
    else:
        given = list(input_tensors) if isinstance(input_tensors, list | tuple) else [input_tensors]
    if not all(isinstance(t, SymbolicTensor) for t in given):
        raise ValueError(
            "All entries in `input_tensors` must be KerasTensors. Received invalid values: "
            f"inputs_tensors={input_tensors}"
        )
    expected = model.input
    if isinstance(expected, dict):
        same = isinstance(input_tensors, dict) and set(input_tensors) == set(expected)
    elif isinstance(expected, list):
        same = isinstance(input_tensors, list | tuple) and len(given) == len(expected)
    else:
        same = isinstance(input_tensors, SymbolicTensor)
    if not same:
        raise ValueError(
            "`input_tensors` must have the same structure as model.input\nReference structure: "
            f"{expected}\nReceived structure: {input_tensors}"
        )
    flat = [input_tensors[key] for key in expected] if isinstance(expected, dict) else given
    for tensor in flat:
        _input_layer_of(tensor)
    return flat


def _input_layer_of(tensor: Any) -> InputLayer:
    """The InputLayer that makes ``tensor``: a clone starts only at an ``autoconv.Input``."""
    if not isinstance(tensor, SymbolicTensor):
        raise ValueError(
            "Argument `input_tensors` must be a KerasTensor. Received invalid value: "
            f"input_tensors={tensor}"
        )
    if not isinstance(tensor.node.layer, InputLayer):
        raise ValueError(
            f"clone_model: input_tensors must be outputs of autoconv.Input, but {tensor.name} is "
            f"the output of layer {tensor.node.layer.name}: autoconv cannot start a model at "
            "another layer's output (its Input takes no tensor=)"
        )
    return tensor.node.layer


def _as_structure(reference: Any, values: list[Any]) -> Any:
    """``values`` in the structure of ``reference`` (one, a list, or a dict by key)."""
    if isinstance(reference, dict):
        return dict(zip(reference, values, strict=True))
    return list(values) if isinstance(reference, list) else values[0]


def _functional_like(cls: type) -> bool:
    """Whether ``cls`` is built as ``Functional`` is, ``cls(inputs, outputs, name=...)``
    (Keras's ``functional_like_constructor``); else a clone is a plain Functional."""
    spec = inspect.getfullargspec(cls.__init__)
    if spec.args[1:] == inspect.getfullargspec(Functional.__init__).args[1:]:
        return True
    return spec.varargs is not None and spec.varkw is not None


def _clone_from_config(model: Any) -> Model:
    """A subclassed model made again from its Keras entry, as Keras clones one: it needs a
    ``get_config()`` of its own (and a ``from_config()`` where its constructor does not take
    that config)."""
    if not isinstance(model, Model):
        raise TypeError(f"clone_model: expected a model, got {type(model).__name__}")
    if type(model).get_config is Model.get_config:
        raise NotImplementedError(
            f"clone_model: model {model.name} ({type(model).__name__}) is a subclassed model "
            "whose layers are made by its Python code: define its get_config() (and "
            "from_config()) to clone it, or make a new instance in code"
        )
    return deserialize(serialize(model), {type(model).__name__: type(model)})
