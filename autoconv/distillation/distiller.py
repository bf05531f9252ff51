"""The :class:`Distiller`, as Keras 3's (keras/src/distillation/distiller.py): a model that
trains a student on its compiled loss and on distillation losses against a frozen teacher.

It overrides ``compute_loss`` (Keras's backend-agnostic way), so ``fit``, ``evaluate`` and
``predict`` run autoconv's usual steps on either device: the student's outputs, then the loss
``student_loss_weight * student loss + (1 - student_loss_weight) * sum(weight * distillation
loss)``, the teacher's outputs computed with ``training=False``. Features of intermediate
layers come from one functional model per side (``inputs`` to a dict of the final output and
each layer's output), as Keras builds them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from autoconv import metrics, ops, registration, tree
from autoconv.distillation.distillation_loss import (
    DistillationLoss,
    FeatureDistillation,
    LogitsDistillation,
    loss_functions,
    summed,
)
from autoconv.layers import Layer
from autoconv.layers.serialization import deserialize, dtype_name, serialize
from autoconv.models import Model, Sequential
from autoconv.tensor import Tensor

# The distillation losses Keras's files name under "keras.distillation".
OWN_LOSSES = {cls.__name__: cls for cls in (FeatureDistillation, LogitsDistillation)}
FINAL = "final_output"


class Distiller(Model):
    """Knowledge distillation (Keras's ``keras.distillation.Distiller``): ``teacher`` (a
    trained model, frozen here) teaches ``student`` (the model trained) through
    ``distillation_losses`` (one, or a list weighted by ``distillation_loss_weights``, 1.0
    each by default), beside the student's own loss (``compile``'s ``loss``), which weighs
    ``student_loss_weight`` (in [0, 1]) in the total. Calling it runs the student.

    ``fit`` logs ``loss`` (the total, averaged over samples), the compiled metrics, and
    ``student_loss``, ``distillation_loss`` and ``total_loss`` (averaged over batches)."""

    KERAS_MODULE = "keras.distillation"

    def __init__(
        self,
        teacher: Model,
        student: Model,
        distillation_losses: Any,
        distillation_loss_weights: list[float] | None = None,
        student_loss_weight: float = 0.5,
        name: str = "distiller",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        _validate_models(teacher, student)
        if not isinstance(student_loss_weight, int | float):
            raise ValueError(
                f"student_loss_weight must be a number, got {type(student_loss_weight)}"
            )
        if student_loss_weight < 0.0 or student_loss_weight > 1.0:
            raise ValueError(
                f"student_loss_weight must be between 0.0 and 1.0, got {student_loss_weight}"
            )
        if distillation_losses is None:
            raise ValueError(
                "'distillation_losses' cannot be `None`. Provide a distillation loss (e.g., "
                "LogitsDistillation or FeatureDistillation) or a list of distillation losses."
            )
        if not isinstance(distillation_losses, list | tuple):
            distillation_losses, distillation_loss_weights = [distillation_losses], [1.0]
        elif distillation_loss_weights is None:
            distillation_loss_weights = [1.0] * len(distillation_losses)
        elif len(distillation_loss_weights) != len(distillation_losses):
            raise ValueError(
                f"Number of distillation_loss_weights ({len(distillation_loss_weights)}) must "
                f"match number of distillation_losses ({len(distillation_losses)})"
            )
        for distillation_loss in distillation_losses:
            distillation_loss.validate_model_compatibility(teacher, student)
        self.teacher = teacher
        self.student = student
        self.student_loss_weight = student_loss_weight
        self.distillation_losses = distillation_losses
        self.distillation_loss_weights = distillation_loss_weights
        self._teacher_feature_extractor = _feature_extractor(
            teacher, _layer_names(distillation_losses, "teacher_layer_name")
        )
        self._student_feature_extractor = _feature_extractor(
            student, _layer_names(distillation_losses, "student_layer_name")
        )
        self.teacher.trainable = False
        self.student_loss_tracker = metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = metrics.Mean(name="distillation_loss")
        self.total_loss_tracker = metrics.Mean(name="total_loss")

    def to(self, device: str) -> Distiller:
        """Move the weights (and the optimizer's state) to ``device``, in place, the feature
        extractors (sharing the teacher's and the student's layers) with them."""
        super().to(device)
        for extractor in (self._teacher_feature_extractor, self._student_feature_extractor):
            if extractor is not None:
                extractor.device = device
        return self

    def build(self, input_shape: Any) -> None:
        """Nothing to make (the teacher and the student build when first called): records
        the input shape, which a model file keeps (Keras's ``build_config``)."""

    def compile(
        self, optimizer: Any = "adam", loss: Any = None, metrics: Any = None, **kwargs: Any
    ) -> None:
        """The optimizer for the student, its own ``loss`` (a name, a Loss, a function, or a
        structure of them matching its outputs; required) and ``metrics`` (a list) of its
        outputs, as Keras's Distiller compiles."""
        if loss is None:
            raise ValueError("'loss' cannot be `None`.")
        if metrics is not None and not isinstance(metrics, list | tuple):
            raise ValueError(f"metrics must be a list or tuple, got {type(metrics)}")
        self._student_loss = loss_functions(loss)
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Not compiled, with Keras's warning: Keras does not call a custom ``compile`` when
        it loads a model (compile it again after ``load_model``)."""
        warnings.warn(
            "`compile()` was not called as part of model loading because the model's "
            "`compile()` method is custom. All subclassed Models that have `compile()` "
            "overridden should also override `get_compile_config()` and "
            "`compile_from_config(config)`. Alternatively, you can call `compile()` manually "
            "after loading.",
            stacklevel=2,
        )

    def call(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        """The student's outputs."""
        return self.student(inputs, training=training, **kwargs)

    @property
    def has_call(self) -> bool:
        """True: it runs its student (the trainer looks for a ``call`` defined outside
        autoconv's own classes, and this one is autoconv's)."""
        return True

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Tensor:
        """The total loss of a batch, as Keras's Distiller computes it (``sample_weight`` is
        not used, as in Keras), and the three trackers updated."""
        if y_pred is None:
            y_pred = self(x, training=training)
        student_loss: Any = 0.0
        if self.student_loss_weight > 0.0 and y is not None:
            values = tree.flatten(
                tree.map_structure(lambda loss, t, p: loss(t, p), self._student_loss, y, y_pred)
            )
            student_loss = summed(values) if len(values) > 1 else values[0]
            if student_loss.ndim > 0:
                student_loss = ops.mean(student_loss)
        distillation_loss: Any = 0.0
        if self.student_loss_weight < 1.0:
            distillation_loss = self._distillation_loss(x, y_pred)
        total = ops.add(
            ops.multiply(self.student_loss_weight, student_loss),
            ops.multiply(1.0 - self.student_loss_weight, distillation_loss),
        )
        self.student_loss_tracker.update_state(student_loss)
        self.distillation_loss_tracker.update_state(distillation_loss)
        self.total_loss_tracker.update_state(total)
        return total

    def _distillation_loss(self, x: Any, y_pred: Any) -> Any:
        """The weighted sum of the distillation losses of a batch."""
        teacher_features = (
            {FINAL: self.teacher(x, training=False)}
            if self._teacher_feature_extractor is None
            else self._teacher_feature_extractor(x, training=False)
        )
        student_features = (
            {FINAL: y_pred}
            if self._student_feature_extractor is None
            else self._student_feature_extractor(x, training=True)
        )
        total: Any = 0.0
        for distillation_loss, weight in zip(
            self.distillation_losses, self.distillation_loss_weights, strict=True
        ):
            if getattr(distillation_loss, "teacher_layer_name", None) is not None:
                teacher = teacher_features[distillation_loss.teacher_layer_name]
                student = student_features[distillation_loss.student_layer_name or FINAL]
            else:
                teacher, student = teacher_features[FINAL], y_pred
            distillation_loss.validate_outputs(teacher, student)
            value = distillation_loss.compute_loss(teacher, student)
            if len(getattr(value, "shape", ())) > 0:
                raise ValueError(
                    f"Distillation loss {type(distillation_loss).__name__} returned a "
                    f"non-scalar loss with shape {value.shape}. The compute_loss method must "
                    "return a scalar tensor."
                )
            total = ops.add(total, ops.multiply(weight, value))
        return total

    def get_config(self) -> dict[str, Any]:
        """Keras's config: the teacher's and student's entries, the distillation losses'."""
        return {
            **Layer.get_config(self),  # name, trainable, dtype (a Model's own raises)
            "teacher": serialize(self.teacher),
            "student": serialize(self.student),
            "distillation_losses": [
                registration.keras_entry(loss, self.KERAS_MODULE, OWN_LOSSES)
                for loss in self.distillation_losses
            ],
            "distillation_loss_weights": self.distillation_loss_weights,
            "student_loss_weight": self.student_loss_weight,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Distiller:
        config = dict(config)
        config["teacher"] = deserialize(config["teacher"])
        config["student"] = deserialize(config["student"])
        config["distillation_losses"] = [
            registration.deserialize_object(
                entry, OWN_LOSSES, DistillationLoss, "distillation loss"
            )
            for entry in config["distillation_losses"]
        ]
        if "dtype" in config:
            config["dtype"] = dtype_name(config["dtype"])
        return cls(**config)


# ---------------------------------------------------------------------------- helpers
def _validate_models(teacher: Any, student: Any) -> None:
    """Keras's checks: two models whose symbolic inputs and outputs (where both have them)
    have compatible shapes (None matching any size) and the same dtypes."""
    for role, model in (("Teacher", teacher), ("Student", student)):
        if not isinstance(model, Model):
            raise ValueError(f"{role} must be a keras.Model, got {type(model)}")
    inputs = getattr(teacher, "inputs", None), getattr(student, "inputs", None)
    outputs = getattr(teacher, "outputs", None), getattr(student, "outputs", None)
    symbolic_inputs = inputs[0] is not None and inputs[1] is not None
    symbolic_outputs = outputs[0] is not None and outputs[1] is not None
    if symbolic_inputs:
        _each_pair(_compatible_shapes, *inputs, "input")
    if symbolic_outputs:
        _each_pair(_compatible_shapes, *outputs, "output")
    if symbolic_inputs:
        _each_pair(_same_dtype, *inputs, "input")
        if symbolic_outputs:
            _each_pair(_same_dtype, *outputs, "output")


def _each_pair(check: Callable[..., None], teacher: Any, student: Any, context: str) -> None:
    """``check(teacher tensor, student tensor, context)`` for each pair of the structures."""
    tree.map_structure(lambda t, s: check(t, s, context), teacher, student)


def _compatible_shapes(teacher: Any, student: Any, context: str) -> None:
    teacher_shape, student_shape = teacher.shape, student.shape
    if len(teacher_shape) != len(student_shape):
        raise ValueError(
            f"Teacher and student {context} shapes have different dimensions. "
            f"Teacher: {teacher_shape}, Student: {student_shape}."
        )
    pairs = zip(teacher_shape, student_shape, strict=True)
    if any(t is not None and s is not None and t != s for t, s in pairs):
        raise ValueError(
            f"Teacher and student {context} shapes are incompatible. Teacher: {teacher_shape}, "
            f"Student: {student_shape}. All dimensions must match."
        )


def _same_dtype(teacher: Any, student: Any, context: str) -> None:
    if teacher.dtype != student.dtype:
        raise ValueError(
            f"Teacher and student {context} dtypes must match. Teacher: {teacher.dtype}, "
            f"Student: {student.dtype}."
        )


def _layer_names(distillation_losses: list[Any], attribute: str) -> list[str]:
    """The layers the losses read (``teacher_layer_name`` or ``student_layer_name``), each
    once, in order."""
    names: list[str] = []
    for distillation_loss in distillation_losses:
        name = getattr(distillation_loss, attribute, None)
        if name and name not in names:
            names.append(name)
    return names


def _feature_extractor(model: Model, layer_names: list[str]) -> Model | None:
    """A functional model of ``model``'s inputs giving ``{"final_output": ..., name: that
    layer's output, ...}`` (Keras's ``<name>_multi_feature_extractor``); None without names."""
    if not layer_names:
        return None
    if getattr(model, "inputs", None) is None:
        raise ValueError(
            f"Cannot create feature extractor for {model.name}. The model has no symbolic "
            "inputs attribute."
        )
    final = model.layers[-1].output if isinstance(model, Sequential) else model.output
    outputs = {FINAL: final, **{name: model.get_layer(name=name).output for name in layer_names}}
    return Model(inputs=model.inputs, outputs=outputs, name=f"{model.name}_multi_feature_extractor")
