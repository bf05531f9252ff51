"""The distillation losses, as Keras 3's (keras/src/distillation/distillation_loss.py):
:class:`DistillationLoss` (the base a custom loss subclasses), :class:`LogitsDistillation`
(the teacher's and student's outputs softened by a temperature) and
:class:`FeatureDistillation` (an intermediate layer's outputs, or the final ones).

A loss given by name becomes what Keras's ``keras.losses.get`` gives: a function name or
alias (``"kl_divergence"``, ``"mse"``) the per-sample function (whose values are then
averaged), a class name (``"KLDivergence"``) an instance of the class. So, as in Keras,
``LogitsDistillation``'s default ``"kl_divergence"`` compares the temperature-scaled logits
themselves, while a ``KLDivergence()`` instance compares their softmax probabilities and is
scaled by the temperature squared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autoconv import losses, ops, registration, tree
from autoconv.losses.functions import FUNCTIONS
from autoconv.tensor import Tensor

LossLike = Any  # a loss name, a Loss, a function, None, or a nested structure of them


def loss_function(identifier: Any) -> Any:
    """A loss as Keras's distillation takes it (its ``_convert_loss_to_function``): None as
    None, a function name or alias as the function, a class name as an instance of the class,
    anything else (a Loss, a function) as it is. An unknown name is a ValueError."""
    return losses.get(identifier) if isinstance(identifier, str) else identifier


def loss_functions(structure: LossLike) -> Any:
    """:func:`loss_function` of every leaf of ``structure``."""
    return tree.map_structure(loss_function, structure)


def serialize_losses(structure: Any) -> Any:
    """Keras's entries for a loss structure: a Loss's entry, a function's
    ``{"module": "builtins", "class_name": "function", ...}`` (as Keras writes its loss
    functions), None as None."""

    def entry(loss: Any) -> Any:
        if loss is None:
            return None
        if isinstance(loss, losses.Loss):
            return losses.serialize(loss)
        return registration.function_entry(registration.get_registered_name(loss))

    return tree.map_structure(entry, structure)


def deserialize_losses(structure: Any) -> Any:
    """The losses of :func:`serialize_losses`' entries (a list of them, a dict, None)."""
    if structure is None:
        return None
    if isinstance(structure, list | tuple):
        return [deserialize_losses(item) for item in structure]
    if isinstance(structure, dict) and "class_name" not in structure:
        return {key: deserialize_losses(item) for key, item in structure.items()}
    if isinstance(structure, dict) and structure["class_name"] == "function":
        name = structure.get("config")
        found = registration.get_registered_object(name) if isinstance(name, str) else None
        if callable(found):
            return found
        if name not in FUNCTIONS:
            raise ValueError(f"Could not interpret loss function: {name!r}")
        return FUNCTIONS[name]
    return losses.get(structure)


def _without_none(structure: Any, message: str) -> None:
    """Keras's check that a loss structure holds at least one loss: a ValueError of
    ``message`` if it does not."""
    if all(loss is None for loss in tree.flatten(structure)):
        raise ValueError(message)


def summed(values: list[Any]) -> Tensor:
    """The sum of per-output losses (Tensors; a skipped output's 0.0 adds nothing)."""
    tensors = [v for v in values if isinstance(v, Tensor)]
    total = tensors[0]
    for value in tensors[1:]:
        total = total + value
    return total


class DistillationLoss:
    """The base of the distillation losses (Keras's): how to compare a teacher's outputs with
    a student's. Subclass it and define :meth:`compute_loss` for a loss of your own."""

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> Tensor:
        """The loss (a scalar Tensor) between the teacher's and the student's outputs (each a
        Tensor, or a list, tuple or dict of them)."""
        raise NotImplementedError("Subclasses must implement compute_loss")

    def validate_outputs(self, teacher_outputs: Any, student_outputs: Any) -> None:
        """A ValueError unless the two outputs have the same structure."""
        tree.assert_same_structure(teacher_outputs, student_outputs)

    def validate_model_compatibility(self, teacher: Any, student: Any) -> None:
        """A ValueError if the loss cannot compare these two models (none here)."""


class FeatureDistillation(DistillationLoss):
    """The loss between a teacher's and a student's features (Keras's): the outputs of
    ``teacher_layer_name`` and ``student_layer_name`` (the final outputs where None), compared
    with ``loss`` (a name, a Loss, a function, or a structure of them matching the outputs,
    None skipping an output), each averaged, summed over the outputs."""

    def __init__(
        self,
        loss: LossLike = "mse",
        teacher_layer_name: str | None = None,
        student_layer_name: str | None = None,
    ) -> None:
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name
        self.loss = loss_functions(loss)
        _without_none(
            self.loss,
            "The `loss` argument in `FeatureDistillation` must contain at least one "
            "non-`None` value.",
        )

    def validate_model_compatibility(self, teacher: Any, student: Any) -> None:
        """Layer names need models with symbolic inputs (functional or Sequential) that have
        layers of those names."""
        if self.teacher_layer_name is not None or self.student_layer_name is not None:
            subclassed = [
                role
                for role, model in (("teacher", teacher), ("student", student))
                if getattr(model, "inputs", None) is None
            ]
            if subclassed:
                raise ValueError(
                    "FeatureDistillation with specific layer names requires Functional or "
                    f"Sequential models. The {' and '.join(subclassed)} model(s) appear to be "
                    "subclassed (no symbolic inputs/outputs). Either use Functional/Sequential "
                    "models, or use FeatureDistillation without layer names (to distill final "
                    "outputs only), or use LogitsDistillation instead."
                )
        for role, model, name in (
            ("teacher", teacher, self.teacher_layer_name),
            ("student", student, self.student_layer_name),
        ):
            if name is not None:
                try:
                    model.get_layer(name=name)
                except ValueError as error:
                    raise ValueError(f"In {role} model: {error}") from None

    def validate_outputs(self, teacher_outputs: Any, student_outputs: Any) -> None:
        """The outputs' structures match each other and the loss structure's."""
        super().validate_outputs(teacher_outputs, student_outputs)
        try:
            tree.assert_same_structure(self.loss, teacher_outputs)
        except ValueError as error:
            raise ValueError(
                f"Loss structure mismatch. Loss structure: {_structure(self.loss)}, Output "
                f"structure: {_structure(teacher_outputs)}. Error: {error}"
            ) from None

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> Tensor:
        """Each output's loss of (teacher features, student features), averaged; summed."""

        def apply(loss: Callable | None, teacher: Any, student: Any) -> Any:
            return 0.0 if loss is None else ops.mean(loss(teacher, student))

        return summed(
            tree.flatten(tree.map_structure(apply, self.loss, teacher_outputs, student_outputs))
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "loss": serialize_losses(self.loss),
            "teacher_layer_name": self.teacher_layer_name,
            "student_layer_name": self.student_layer_name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FeatureDistillation:
        return cls(**{**config, "loss": deserialize_losses(config.get("loss"))})


class LogitsDistillation(DistillationLoss):
    """The loss between a teacher's and a student's final outputs divided by ``temperature``
    (Keras's): a ``KLDivergence`` instance compares their softmax probabilities and is scaled
    by ``temperature**2``; any other loss (the default name ``"kl_divergence"`` included, a
    function as in Keras) compares the scaled logits. Averaged, summed over the outputs (a
    structure of losses matching them, None skipping one)."""

    def __init__(self, temperature: float = 3.0, loss: LossLike = "kl_divergence") -> None:
        self.temperature = temperature
        self.loss = loss_functions(loss)
        _without_none(self.loss, "At least one loss must be non-`None`.")
        if not isinstance(temperature, int | float):
            raise ValueError(f"temperature must be a number, got {type(temperature)}")
        if temperature <= 0.0:
            raise ValueError("temperature must be positive.")

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> Tensor:
        """Each output's loss of the temperature-scaled (teacher, student) logits; summed."""

        def scaled(x: Any) -> Any:
            return ops.divide(x, self.temperature)

        def apply(loss: Callable | None, teacher: Any, student: Any) -> Any:
            if loss is None:
                return 0.0
            if isinstance(loss, losses.KLDivergence):
                probabilities = ops.softmax(teacher, axis=-1), ops.softmax(student, axis=-1)
                return ops.mean(loss(*probabilities)) * self.temperature**2
            return ops.mean(loss(teacher, student))

        teacher_scaled = tree.map_structure(scaled, teacher_outputs)
        student_scaled = tree.map_structure(scaled, student_outputs)
        return summed(
            tree.flatten(tree.map_structure(apply, self.loss, teacher_scaled, student_scaled))
        )

    def get_config(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "loss": serialize_losses(self.loss)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LogitsDistillation:
        return cls(**{**config, "loss": deserialize_losses(config.get("loss"))})


def _structure(value: Any) -> str:
    """A structure with its leaves shown as ``*`` (Keras's ``tree.structure`` in messages)."""
    return repr(tree.map_structure(lambda _: "*", value)).replace("'*'", "*")
