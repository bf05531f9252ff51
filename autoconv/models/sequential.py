"""``Sequential``: a stack of layers, each feeding the next.

Once its input shape is known (an ``autoconv.Input`` first, ``input_shape=`` on the first layer,
``build(input_shape)``, or the first data it sees) it builds the same graph a functional model
would (:class:`autoconv.models.graph.Graph`), and runs that graph's plan.

>>> from autoconv import layers
>>> model = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
>>> model.count_params()
26
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from autoconv.batches import warn_if_restructured
from autoconv.layers import InputLayer, Layer, SymbolicTensor
from autoconv.layers.calls import building_lock
from autoconv.layers.layer import integer_device_of
from autoconv.layers.serialization import deserialize, dtype_policy, serialize
from autoconv.models.graph import Graph
from autoconv.models.model import Model, takes_logits
from autoconv.naming import unique_name
from autoconv.tensor import Tensor


class Sequential(Model):
    """A linear stack of layers (Keras's ``Sequential``): ``add``, ``pop``, ``layers``."""

    KERAS_MODULE = "keras"  # where Keras's files name the class
    _locks_state = False  # (Keras's: ``add`` and ``pop`` after its build)
    keeps_integer_inputs = True  # (in its Input's dtype: Graph.as_declared)

    def __init__(
        self, layers: Iterable[Any] | None = None, trainable: bool = True, name: str | None = None
    ) -> None:
        super().__init__(name=name or unique_name("sequential"), trainable=trainable)
        self._input_layer: InputLayer | None = None
        self._stack: list[Layer] = []
        self._functional: Graph | None = None
        self._declared_sizes = True  # whether calls must have the input's sizes (see build)
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    # ------------------------------------------------------------------ building
    def add(self, layer: Any, rebuild: bool = True) -> None:
        """Append a layer (or an ``autoconv.Input`` as the first entry); the model is built
        now if its input shape is known."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if not isinstance(layer, Layer):
            raise ValueError(
                "Only instances of `keras.Layer` can be added to a Sequential model. Received: "
                f"{layer} (of type {type(layer)})"
            )
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError(
                    "Sequential model: an Input can only be the first entry of the model"
                )
            self._input_layer = layer
        else:
            if any(existing.name == layer.name for existing in self._stack):
                raise ValueError(
                    "All layers added to a Sequential model should have unique names. Name "
                    f"'{layer.name}' is already the name of a layer in this model. Update the "
                    "`name` argument to pass a unique name."
                )
            self._stack.append(layer)
            self._layers = list(self._stack)
            if len(self._stack) == 1 and layer._input_shape_arg and self._input_layer is None:
                # Keras makes the Input of a first layer's input_shape= once, when it is added
                self._input_layer = InputLayer(batch_shape=layer._input_shape_arg)
        if rebuild:
            self._maybe_rebuild()

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove and return the last layer."""
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        self._layers = list(self._stack)
        self._functional = None
        self.built = False
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _maybe_rebuild(self) -> None:
        shape = self._declared_input_shape()
        if shape is not None and self._stack:
            self.build(shape)

    def _declared_input_shape(self) -> tuple | None:
        """The Input's shape; else, as Keras, that of a built model that is the first of two
        or more layers (``Sequential([data_augmentation, layers.Rescaling(1 / 255), ...])``)."""
        if self._input_layer is not None:
            return self._input_layer.batch_shape
        first = self._stack[0] if len(self._stack) > 1 else None
        if isinstance(first, Model) and first.built and first.input_shape is not None:
            shape = first.input_shape
            return tuple(shape) if isinstance(shape, tuple | list) and not _nested(shape) else None
        return None

    def build(self, input_shape: Any = None) -> None:
        """Build every layer for inputs of ``input_shape`` (batch axis first, or without it
        when one shorter than the declared input)."""
        self._declared_sizes = self._declared_input_shape() is not None
        if input_shape is None:
            input_shape = self._declared_input_shape()
            if input_shape is None:
                raise ValueError(
                    "You must provide an `input_shape` argument to build a Sequential model"
                )
        if not self._stack:
            raise ValueError(f"Sequential model {self.name} has no layers to build")
        shape = tuple(input_shape)
        if self._input_layer is None or self._input_layer.batch_shape != shape:
            self._input_layer = InputLayer(batch_shape=shape, dtype=self.dtype)
        inputs = self._input_layer.output
        unique_name("functional")  # as Keras, whose Sequential builds a functional model
        x = inputs
        for layer in self._stack:
            try:
                x = layer(x)  # in this model's name scope (see Layer.build)
            except (ValueError, TypeError) as error:
                raise type(error)(
                    f"Sequential model {self.name}: layer {layer.name} "
                    f"({type(layer).__name__}) cannot take the output of the layer before it: "
                    f"{error}"
                ) from None
        self._functional = Graph([inputs], [x])
        self._build_shape = shape
        self.built = True
        self.to(self.device)  # weights made now go where the model is
        if self.compiled_ready:  # the losses were made: pair them with the new graph's outputs
            self.plan.pair_losses([takes_logits(loss) for loss in self._losses_per_output])

    def _graph(self) -> Graph | None:
        return self._functional

    @property
    def layers(self) -> list[Layer]:
        """The layers, without the Input (as Keras 3)."""
        return list(self._stack)

    @property
    def inputs(self) -> list[SymbolicTensor]:
        return [] if self._functional is None else list(self._functional.inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        return [] if self._functional is None else list(self._functional.outputs)

    @property
    def output_names(self) -> list[str]:
        return [self._stack[-1].name] if self._stack else ["output"]

    @property
    def _outputs_known(self) -> bool:
        return True  # (one output, built or not)

    # ------------------------------------------------------------------- running
    def compute_output_shape(self, input_shape: Any) -> Any:
        if not self.built:
            self.build(input_shape)
        graph = self._functional
        expected, shape = graph.inputs[0].shape, tuple(input_shape)
        if len(shape) != len(expected) or any(
            e is not None and s is not None and s != e
            for s, e in zip(shape[1:], expected[1:], strict=True)
        ):
            raise ValueError(
                f"Sequential model {self.name} expects inputs of shape {expected}, got {shape}"
            )
        # sizes its Input leaves unknown (None) take those given, as Keras's
        return graph.output_shapes([shape])[0]

    def _maybe_build(self, input_shape: Any, device: str | None = None) -> None:
        if self._ready and self.built:
            return
        with building_lock:  # threads calling it at once wait for the one that builds it
            if not self.built:
                self.build(input_shape)
            self._ready = True

    def _outputs(self, inputs: list[Tensor], training: bool) -> tuple[list[Tensor], list[bool]]:
        self._maybe_build(tuple(inputs[0].shape))  # (the first call's batch, as Keras's)
        _check_input(self, inputs[0])
        return self._functional.run(self._declared(inputs[:1]), training)

    def _declared(self, inputs: list[Any]) -> list[Any]:
        """The input in its Input's dtype, as Keras's functional models take it."""
        return self._functional.as_declared(inputs, self.dtype, integer_device_of(self))

    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        warn_if_restructured(self, inputs, called=True)
        if isinstance(inputs, list | tuple) and len(inputs) == 1:
            inputs = inputs[0]  # (taken all the same, as Keras's)
        _check_input(self, inputs)
        outputs, logits = self._functional.run(self._declared([inputs]), training)
        return outputs[0].softmax() if logits[0] else outputs[0]

    def get_config(self) -> dict[str, Any]:
        """Keras 3's Sequential config: the layers in order (the Input's first, where the
        model has one) and the input shape it was built for."""
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": dtype_policy(self.dtype),
            "layers": [serialize(layer) for layer in self._entries()],
        }
        if self.built and self._build_shape is not None:
            config["build_input_shape"] = tuple(self._build_shape)  # (a tuple, as Keras's)
        return config

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Sequential:
        """The model a Keras 3 Sequential config describes (its layers made and added in
        order, then built for ``build_input_shape`` where it is not built already)."""
        entries = config.get("layers")
        if not isinstance(entries, list):
            raise ValueError(f"a Sequential config's layers must be a list, got {entries!r}")
        model = cls(name=config.get("name"))
        builds = 0
        for entry in entries:
            model.add(deserialize(entry, custom_objects), rebuild=False)
            builds += bool(model._stack) and model._declared_input_shape() is not None
        for _ in range(builds - 1):  # Keras's add builds the model again for each layer,
            unique_name("functional")  # each time a functional model of a new name
        model._maybe_rebuild()
        shape = config.get("build_input_shape")
        if not model.built and isinstance(shape, list | tuple) and model._stack:
            model.build(tuple(shape))
        if config.get("trainable", True) is False:  # (True would unfreeze frozen layers)
            model.trainable = False
        return model

    def _entries(self) -> list[Layer]:
        """The layers a config lists: the Input's layer (where there is one) and the stack."""
        return ([self._input_layer] if self._input_layer is not None else []) + self._stack


def _check_input(model: Sequential, x: Tensor) -> None:
    """The input's rank must be the model's, and its sizes those of a declared input (an
    ``Input`` or ``input_shape=``); a model built by its first call takes other sizes where
    its layers do, as Keras's (one first called on sequences of 20 steps takes 30)."""
    expected = model._functional.inputs[0].shape
    checked = expected[1:] if model._declared_sizes else ()
    if x.ndim != len(expected) or any(
        e is not None and s != e for s, e in zip(x.shape[1:], checked, strict=False)
    ):
        raise ValueError(
            f'Input 0 of layer "{model._stack[0].name}" is incompatible with the layer: '
            f"expected shape={expected}, found shape={tuple(x.shape)}"
        )


def _nested(shape: Any) -> bool:
    """Whether ``shape`` is several inputs' shapes (a multi-input model cannot lead a
    Sequential)."""
    return any(isinstance(s, tuple | list) for s in shape)
