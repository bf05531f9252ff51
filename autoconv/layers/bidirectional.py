"""``Bidirectional``: a recurrent layer run forwards and backwards over a sequence, the two
outputs merged, following Keras 3's ``keras/src/layers/rnn/bidirectional.py``."""

from __future__ import annotations

from typing import Any

from autoconv.layers import serialization
from autoconv.layers.layer import Layer, Shape
from autoconv.layers.recurrent import InitialStateBuild
from autoconv.ops import engine as ops
from autoconv.tensor import Tensor

MERGE_MODES = ("sum", "mul", "ave", "concat", None)


def _renamed_copy(layer: Layer, prefix: str, **changes: Any) -> Layer:
    """A new layer from ``layer``'s entry, named ``<prefix>_<name>`` (and ``changes`` made to
    its config), as Keras's Bidirectional copies its layer."""
    entry = serialization.serialize(layer)
    name = layer.name.removeprefix(f"{prefix}_")
    entry["config"] = entry["config"] | {"name": f"{prefix}_{name}", **changes}
    return serialization.deserialize(entry)


class Bidirectional(InitialStateBuild):
    """Runs a recurrent ``layer`` over the sequence forwards (a copy of it named
    ``forward_<name>``) and backwards (``backward_layer``, or a copy with ``go_backwards=True``
    named ``backward_<name>``), then merges the two outputs by ``merge_mode``: "concat"
    (along the last axis), "sum", "mul", "ave", or None (both, as a list). With
    ``return_sequences`` the backward outputs are put back in time order first.

    ``initial_state`` (a call argument) is the forward layer's states then the backward's;
    with the layers' ``return_state`` the output is followed by the forward states, then the
    backward ones. Weights: the forward layer's, then the backward layer's.
    """

    supports_masking = True

    def __init__(
        self,
        layer: Layer,
        merge_mode: str | None = "concat",
        weights: Any = None,
        backward_layer: Layer | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(layer, Layer):
            raise ValueError(
                "Please initialize `Bidirectional` layer with a `keras.layers.Layer` instance. "
                f"Received: {layer}"
            )
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError(
                "`backward_layer` need to be a `keras.layers.Layer` instance. Received: "
                f"{backward_layer}"
            )
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Invalid merge mode. Received: {merge_mode}. Merge mode should be one of "
                '{"sum", "mul", "ave", "concat", None}'
            )
        if weights is not None:
            raise ValueError(
                "Bidirectional: `weights` is not supported by autoconv; call set_weights() on "
                "the built layer instead"
            )
        super().__init__(**kwargs)
        self.forward_layer = _renamed_copy(layer, "forward")
        if backward_layer is None:
            backward_layer = _renamed_copy(layer, "backward", go_backwards=True)
        self.backward_layer = backward_layer
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError(
                "Forward layer and backward layer should have different `go_backwards` value. "
                f"Received: forward_layer.go_backwards {self.forward_layer.go_backwards}, "
                f"backward_layer.go_backwards={self.backward_layer.go_backwards}"
            )
        for attribute in ("stateful", "return_sequences", "return_state"):
            forward = getattr(self.forward_layer, attribute)
            backward = getattr(self.backward_layer, attribute)
            if forward != backward:
                raise ValueError(
                    "Forward layer and backward layer are expected to have the same value for "
                    f'attribute "{attribute}", got "{forward}" for forward layer and '
                    f'"{backward}" for backward layer'
                )
        for inner in (self.forward_layer, self.backward_layer):
            if hasattr(inner, "zero_output_for_mask"):
                inner.zero_output_for_mask = inner.return_sequences
        self.merge_mode = merge_mode
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    def build(self, sequences_shape: Shape, initial_state_shape: Any = None) -> None:
        for inner in (self.forward_layer, self.backward_layer):
            if not inner.built:
                inner.build(sequences_shape)
                inner.built = True

    def compute_output_shape(self, sequences_shape: Shape, initial_state_shape: Any = None) -> Any:
        shape = self.forward_layer.compute_output_shape(sequences_shape)
        states: list[Any] = []
        if self.return_state:
            shape, states = shape[0], list(shape[1:])
        if self.merge_mode == "concat":
            shape = (*shape[:-1], shape[-1] * 2)
        outputs = [shape, shape] if self.merge_mode is None else [shape]
        if not self.return_state and self.merge_mode is not None:
            return shape
        return outputs + states + states

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """Keras's: the input's mask on the output sequence(s) with ``return_sequences``,
        None for the states."""
        mask = previous_mask[0] if isinstance(previous_mask, list | tuple) else previous_mask
        output_mask = mask if self.return_sequences else None
        masks = [output_mask] * (2 if self.merge_mode is None else 1)
        if self.return_state:
            masks += [None] * 2 * len(self.forward_layer.state_size)
        return masks if len(masks) > 1 else output_mask

    def call(
        self,
        sequences: Tensor,
        initial_state: Any = None,
        mask: Any = None,
        training: bool | None = None,
    ) -> Any:
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = list(initial_state[:half]), list(initial_state[half:])
        y = self.forward_layer(sequences, initial_state=forward_state, mask=mask, training=training)
        y_rev = self.backward_layer(
            sequences, initial_state=backward_state, mask=mask, training=training
        )
        states: list[Any] = []
        if self.return_state:
            states = [*y[1:], *y_rev[1:]]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        if self.merge_mode is None:
            return (y, y_rev, *states)  # (Keras's tuple)
        if self.merge_mode == "concat":
            output = ops.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = y + y_rev
        elif self.merge_mode == "ave":
            output = (y + y_rev) / 2
        else:
            output = y * y_rev
        return (output, *states) if self.return_state else output

    def reset_state(self) -> None:
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    reset_states = reset_state

    @property
    def states(self) -> tuple[Any, ...] | None:
        if self.forward_layer.states and self.backward_layer.states:
            return (*self.forward_layer.states, *self.backward_layer.states)
        return None

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "merge_mode": self.merge_mode,
            "layer": serialization.serialize(self.forward_layer),
            "backward_layer": serialization.serialize(self.backward_layer),
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Bidirectional:
        arguments = dict(config)
        # The wrapped layer is a template, copied by __init__ (forward_layer): the copy is built
        # for the template's build_config, as Keras builds both, the template is not (no
        # weights that nothing holds, which a file's weight budget counts).
        entry = arguments.pop("layer")
        template = {k: v for k, v in entry.items() if k != "build_config"}
        layer = serialization.deserialize(template, custom_objects)
        backward = arguments.pop("backward_layer", None)
        if backward is not None:
            backward = serialization.deserialize(backward, custom_objects)
        arguments = serialization.keras_arguments(cls, arguments)
        bidirectional = cls(layer, backward_layer=backward, **arguments)
        if "build_config" in entry:
            bidirectional.forward_layer.build_from_config(entry["build_config"])
        return bidirectional
