"""What a model's training steps are made of, as Keras 3's ``Trainer`` (keras/src/trainers/
trainer.py and its PyTorch backend's train_step): ``compute_loss``, ``compute_metrics``,
``train_step``, ``test_step``, ``predict_step``, each of which a model may override.

``fit``, ``evaluate`` and ``predict`` run autoconv's own fused steps (replayed on the GPU) for
a model that overrides none of them. A model that overrides ``compute_loss`` keeps those steps
with its loss in place of the compiled one; one that overrides ``train_step`` (``test_step``,
``predict_step``) has it called for each batch, with the batch's Tensors, as Keras's PyTorch
backend calls it, and ``fit`` logs what it returns. In a ``train_step`` of your own, write what
Keras's PyTorch guide writes, with autoconv's Tensors::

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        self.optimizer.apply([v.grad for v in self.trainable_weights], self.trainable_weights)
        ...
        return {m.name: m.result() for m in self.metrics}
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from autoconv import tree
from autoconv.backends import namespace
from autoconv.layers.layer import is_integer
from autoconv.layers.symbolic import flat_outputs
from autoconv.losses.functions import constant_like
from autoconv.models.graph import integer_dtype
from autoconv.tensor import Tensor, no_grad

STEPS = ("train_step", "test_step", "predict_step")


class Trainer:
    """Keras's overridable training steps (mixed into :class:`autoconv.Model`)."""

    # The keys of the dict a subclassed model's data gives its inputs in (None: not a dict).
    _input_keys: tuple[str, ...] | None = None
    # The nesting of the lists and tuples the data gives a subclassed model's (or a user's
    # step's) inputs in, and a user's step's targets, their arrays None (None: not nested).
    _input_nesting: Any = None
    _target_nesting: Any = None

    # ------------------------------------------------------------------ the loss
    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Tensor:
        """The loss a training step minimizes (Keras's): each output's compiled loss of
        ``y`` and ``y_pred`` (the model's outputs on ``x``, as the model gives them) weighted
        by ``loss_weights``, plus every penalty the model's layers and weights add
        (``self.losses``). Override it to train with a loss of your own (a VAE's, say): ``fit``
        and ``evaluate`` call yours with the batch, and ``compile`` then needs no loss. Metrics
        held as attributes (``self.kl_tracker = metrics.Mean(...)``) and updated in it are
        logged and reset at each epoch's start, as in Keras."""
        outputs = flat_outputs(y_pred)
        if isinstance(y, dict):  # by the names the outputs go by (a dict's keys, say)
            targets = [y.get(name) for name in self._per_output_names]
        else:
            targets = list(y) if isinstance(y, list | tuple) else [y] * len(outputs)
        if self.compiled and not self.compiled_ready:  # called before any data: made here
            if self._graph() is None and self.__dict__.get("_traced_outputs") is None:
                self._traced_outputs = [_batch_shape(o) for o in outputs]
            self._resolve_compile(
                [_batch_shape(t) for t in targets], [_batch_shape(o) for o in outputs]
            )
        total: Tensor | None = None
        for out, target, loss_fn, weight in zip(
            outputs, targets, self._losses_per_output, self._loss_weights, strict=False
        ):
            if loss_fn is not None and target is not None:
                value = loss_fn(target, out, sample_weight=sample_weight) * weight
                total = value if total is None else total + value
        for penalty in self.losses:
            total = summed(penalty) if total is None else total + summed(penalty)
        return require_loss(total)

    def compute_metrics(
        self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None
    ) -> dict[str, Any]:
        """Update the compiled metrics with a batch (Keras's): each output's with its targets
        and predictions, ``metrics`` unweighted and ``weighted_metrics`` weighed by
        ``sample_weight``; returns every metric's result (:meth:`get_metrics_result`)."""
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    @property
    def overrides_compute_loss(self) -> bool:
        """Whether the model's class overrides :meth:`compute_loss`."""
        return _overrides(self, "compute_loss")

    @property
    def has_call(self) -> bool:
        """Whether the model can be called: its class defines ``call``, or it is built from
        inputs and outputs (a model that only overrides ``train_step`` need not be)."""
        return self._graph() is not None or "call" in _defined_below(type(self))

    @property
    def own_steps(self) -> bool:
        """Whether the model's class overrides ``train_step``, ``test_step`` or
        ``predict_step`` (its batches then run through them)."""
        return any(_overrides(self, step) for step in STEPS)

    def _own_loss(
        self, inputs: list[Tensor], targets: list[Any], outputs: list[Tensor], logits: list[bool],
        weights: Any, training: bool,
    ) -> Tensor:  # fmt: skip
        """A step's loss from an overriding :meth:`compute_loss`, called as Keras's train and
        test steps call it: ``compute_loss(x, y, y_pred, sample_weight, training=...)`` with
        the batch and the outputs as the model takes and gives them."""
        y_pred = [o.softmax() if is_logits else o
                  for o, is_logits in zip(outputs, logits, strict=True)]  # fmt: skip
        x, y, _ = self._given_batch(inputs, targets, None, like=y_pred)
        total = self._compute_loss(x, y, self._as_given(y_pred), weights, training)
        if not isinstance(total, Tensor):
            raise TypeError(
                f"{type(self).__name__}.compute_loss must return the loss as a Tensor, got "
                f"{type(total).__name__}"
            )
        return total

    def _compute_loss(self, x: Any, y: Any, y_pred: Any, sample_weight: Any, training: bool) -> Any:
        """``compute_loss`` with ``training`` where the (overriding) method takes it, as
        Keras's ``_compute_loss``."""
        parameters = inspect.signature(type(self).compute_loss).parameters
        options = {"training": training} if "training" in parameters else {}
        return self.compute_loss(x, y, y_pred, sample_weight, **options)

    def _as_given(self, values: list[Any], outputs: bool = True) -> Any:
        """A list of the model's outputs (or, with ``outputs=False``, its inputs) as the
        model gives (takes) them: the one, or the list, or the dict a subclassed model's data
        gave its inputs in (a functional model: its structure)."""
        if not outputs and self._input_keys is not None:
            return dict(zip(self._input_keys, values, strict=True))
        if not outputs and self._input_nesting is not None:
            return tree.pack_sequence_as(self._input_nesting, list(values))
        if outputs and isinstance(self._called_structure, dict):
            return self._as_called(values)
        return values[0] if len(values) == 1 else values

    # The structure (a tuple, a dict, a tuple holding dicts, ...) a subclassed model's call (or
    # predict_step) gave its outputs in at its last run: predict returns them so, and its
    # compute_loss gets a dict of them as ``y_pred``, as Keras's (keras.io's CaiT, AdaIN);
    # None for one output.
    _called_structure: Any = None

    def _as_called(self, values: list[Any]) -> Any:
        """The outputs (flattened, a dict's by sorted key) in the structure the call gave."""
        structure = self._called_structure
        if structure is None or len(tree.flatten(structure)) != len(values):
            return values[0] if len(values) == 1 else values
        return tree.pack_sequence_as(structure, list(values))

    @property
    def _output_keys(self) -> list[str] | None:
        """The keys of the dict a functional model's outputs were given in, in the outputs'
        (flattened) order; None for outputs that are not a dict."""
        return None

    @property
    def _per_output_names(self) -> list[Any]:
        """One name per output, in order, that compile's per-output arguments (a dict of
        losses, loss weights or metrics), targets given as a dict and the logs
        (``<name>_loss``) go by: the keys of dict outputs, as Keras's
        (``CompileLoss._resolved_output_names``), else the output layers' names; a subclassed
        model's several outputs have none (None each), as Keras's, unless its call gives a
        dict (its keys, sorted)."""
        traced = self.__dict__.get("_traced_outputs")
        if self._graph() is None and traced is not None and len(traced) > 1:
            structure = self._called_structure
            if isinstance(structure, dict) and len(structure) == len(traced):
                return sorted(structure)
            return [None] * len(traced)
        return self._output_keys or self.output_names

    def _returned_outputs(self, values: list[Any]) -> Any:
        """The outputs of ``predict`` and ``predict_on_batch`` (one value per output) as Keras
        returns them, and as ``on_predict_batch_end``'s ``logs["outputs"]`` holds them: a dict
        by key where the model's outputs are a dict, else the one value, or the list; a
        subclassed model's in the structure its call (or ``predict_step``) gave them in (a
        tuple, a dict, a tuple holding dicts), as Keras's."""
        values = self._in_output_dtypes(values)
        keys = self._output_keys
        if keys is not None:
            return dict(zip(keys, values, strict=True))
        return self._as_called(values)

    def _in_output_dtypes(self, values: list[Any]) -> list[Any]:
        """A graph's integer and bool outputs in their dtype: on the GPU the engine computes
        them in float32 (its Tensors hold floats; the integers exact up to 2**24), and they
        come back as the CPU gives them."""
        graph = self._graph()
        if graph is None or len(graph.outputs) != len(values):
            return values
        dtypes = [integer_dtype(t.dtype) for t in graph.outputs]
        floats = [isinstance(v, np.ndarray) and v.dtype.kind == "f" for v in values]
        return [
            v.astype(d) if d is not None and computed_in_floats else v
            for v, d, computed_in_floats in zip(values, dtypes, floats, strict=True)
        ]

    def _given_batch(
        self, inputs: list[Tensor], targets: list[Any], weights: Any, like: list[Tensor] | None
    ) -> tuple[Any, Any, Any]:
        """A batch of device arrays as Keras hands it to a step: (x, y, sample_weight) as the
        model takes and gives them, Tensors (y of the outputs' dtype; None where absent)."""
        x = self._as_given(inputs, outputs=False)
        # (the dtype and device of the targets and weights: the inputs' Tensors', else, for
        # integer inputs alone, the model's floats on its device)
        first = next((a for a in inputs if isinstance(a, Tensor)), None)
        first = Tensor(np.zeros(0, np.float32), device=self.device) if first is None else first
        y = None
        if self._target_nesting is not None:
            reference = first
            y = tree.pack_sequence_as(
                self._target_nesting,
                [None if t is None else constant_like(t, reference) for t in targets],
            )
        elif any(t is not None for t in targets):
            # (each target of its output's dtype and device; targets that are not one an
            # output, a compute_loss's of the user's, of the last output's)
            reference = [like[min(i, len(like) - 1)] if like else first
                         for i in range(len(targets))]  # fmt: skip
            y = self._as_given([None if t is None else constant_like(t, r)
                                for t, r in zip(targets, reference, strict=True)])  # fmt: skip
        weight = None if weights is None else constant_like(weights, first)
        return x, y, weight

    # ------------------------------------------------------------------ the steps
    def _predictions(self, x: Any, training: bool) -> Any:
        """``self(x, training=training)``, as Keras's trainers call a model: without ``training``
        when the model's ``call`` has no such parameter, so that its layers then run in their
        default mode (Dropout and BatchNormalization in inference mode, even in ``fit``)."""
        if "training" in inspect.signature(type(self).call).parameters:
            return self(x, training=training)
        return self(x)

    def zero_grad(self) -> None:
        """Clear the trainable weights' gradients (before a ``train_step``'s backward pass)."""
        for weight in self.trainable_weights:
            weight.grad = None

    def train_step(self, data: Any) -> dict[str, Any]:
        """One training step on ``data``, ``(x, y)`` or ``(x, y, sample_weight)`` (Keras's,
        as its PyTorch backend writes it): the outputs, :meth:`compute_loss`, its gradients,
        the optimizer's update, :meth:`compute_metrics`. Returns the metrics' results."""
        x, y, sample_weight = _unpacked(data)
        y_pred = self._predictions(x, training=True)
        self.zero_grad()
        loss = self._compute_loss(x, y, y_pred, sample_weight, True)
        self._loss_tracker.update_state(loss, sample_weight=_batch_size(x))
        loss.backward()
        weights = self.trainable_weights
        with no_grad():
            self.optimizer.apply([w.grad for w in weights], weights)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data: Any) -> dict[str, Any]:
        """One evaluation step on ``data`` (Keras's): the outputs, the loss, the metrics."""
        x, y, sample_weight = _unpacked(data)
        with no_grad():
            y_pred = self._predictions(x, training=False)
            loss = self._compute_loss(x, y, y_pred, sample_weight, False)
        self._loss_tracker.update_state(loss, sample_weight=_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def predict_step(self, data: Any) -> Any:
        """The outputs for the inputs of ``data`` (Keras's)."""
        x, _, _ = _unpacked(data)
        with no_grad():
            return self._predictions(x, training=False)

    def _input_values(self, inputs: list[Any]) -> list[Any]:
        """A batch's input arrays (the device's) as the model's call takes them: float32
        Tensors, but on the CPU a graph's integer and bool Inputs keep their arrays as they are
        (each then in its Input's dtype, :meth:`autoconv.models.graph.Graph.as_declared`: int64
        keys past float32's 2**24 stay exact)."""
        xp = namespace(self.device)
        return [
            a if keep and is_integer(a) else Tensor(xp.asarray(a, dtype=np.float32))
            for a, keep in zip(inputs, self._integer_inputs(len(inputs)), strict=True)
        ]

    def _integer_inputs(self, count: int) -> list[bool]:
        """For each of ``count`` inputs, whether its integer and bool arrays stay as they are:
        a graph's integer and bool Inputs', on the CPU (the engine's Tensors hold floats)."""
        graph = self._graph()
        if graph is None or self.device != "cpu" or len(graph.inputs) != count:
            return [False] * count
        return [integer_dtype(t.dtype) is not None for t in graph.inputs]

    def _run_own_step(
        self, step: str, inputs: list[Any], targets: list[Any], weights: Any, packed: bool = False
    ) -> Any:
        """A batch of device arrays through an overriding step, as Keras calls it: ``data`` is
        ``(x, y)``, ``(x, y, sample_weight)``, or ``x`` alone without targets; ``packed`` (the
        ``*_on_batch`` calls) always ``(x, y, sample_weight)``, Nones included, and ``(x,)``
        for ``predict_step``, as Keras's ``train_on_batch`` and ``predict_on_batch`` pack it."""
        x, y, weight = self._given_batch(self._input_values(inputs), targets, weights, like=None)
        if packed:
            data = (x,) if step == "predict_step" else (x, y, weight)
        else:
            data = (x, y, weight) if weight is not None else (x, y) if y is not None else x
        return getattr(self, step)(data)


def summed(penalty: Tensor) -> Tensor:
    """A loss a layer added (``add_loss``), summed to one value as Keras's trainer sums it (a
    per-sample loss of shape (N, 1) adds its sum over the batch)."""
    return penalty if penalty.ndim == 0 else penalty.sum()


def require_loss(total: Tensor | None) -> Tensor:
    """``total``, or Keras's error when a step has no loss at all (no compiled loss, none
    added by a layer)."""
    if total is None:
        raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
    return total


def _overrides(model: Any, method: str) -> bool:
    """Whether ``model``'s class overrides Keras's ``method`` (``compute_loss``, say)."""
    return getattr(type(model), method) is not getattr(Trainer, method)


def _defined_below(cls: type) -> set[str]:
    """The names the classes between ``cls`` and autoconv's own classes define."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("autoconv."):
            break
        names |= set(vars(klass))
    return names


def _unpacked(data: Any) -> tuple[Any, Any, Any]:
    """``(x, y, sample_weight)`` of ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    if isinstance(data, list | tuple) and 1 <= len(data) <= 3:
        return (*data, *(None,) * (3 - len(data)))
    return data, None, None


def _batch_size(x: Any) -> int:
    """The number of samples in a batch's inputs (a Tensor, or a nest of lists, tuples and
    dicts of them)."""
    return int(tree.flatten(x)[0].shape[0])


def _batch_shape(value: Any) -> tuple | None:
    """A batch's shape with its batch axis unknown, ``(None, ...)``, as the compiled losses
    and metrics are made for; None for None."""
    if value is None:
        return None
    return (None, *(value.shape if hasattr(value, "shape") else np.shape(value))[1:])
