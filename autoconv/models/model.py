"""``autoconv.Model``: what every model shares, whichever way it was built.

Keras's three ways, one class each: :class:`~autoconv.models.Sequential` (a stack),
``Model(inputs, outputs)`` (:class:`~autoconv.models.Functional`, a graph) and a subclass of
``Model`` with its own ``call``. This class holds the parts they share: ``compile``, the one
training step (:meth:`Model.train_on_batch` and ``fit`` both run :meth:`Model._train_batch`),
evaluation and prediction steps, the weights API, devices, ``summary`` and saving. The epoch
loop, the progress bar and the callbacks are in :mod:`autoconv.training`.

(Over ~600 lines on purpose: it is one class, Keras's ``Model``; splitting its methods into
mixins would scatter one object's state over files.)
"""

from __future__ import annotations

import collections
import inspect
import json
import math
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autoconv import config, registration, training, tree
from autoconv import losses as losses_module
from autoconv import metrics as metrics_module
from autoconv import optimizers as optimizers_module
from autoconv.backends import array_device, check_device, namespace
from autoconv.batches import input_arrays, standardized
from autoconv.layers import Layer, file_budget
from autoconv.layers.calls import outermost_call
from autoconv.layers.layer import (
    _NOT_GIVEN,
    DEFAULT_GET_CONFIGS,
    dry_run_shape,
    first_argument,
    to_tensors,
)
from autoconv.layers.symbolic import flat_outputs, is_symbolic
from autoconv.metrics.compile_metrics import (
    CompileMetrics,
    by_output_name,
    check_metrics_argument,
)
from autoconv.models.trainer import Trainer, _overrides, require_loss, summed
from autoconv.ops.masks import keras_mask
from autoconv.tensor import Tensor, no_grad
from autoconv.training import configure_process_for


class Model(Trainer, Layer):
    """A model: layers with ``compile``, ``fit``, ``evaluate``, ``predict`` and saving.

    ``Model(inputs, outputs)`` builds a functional model. Subclass it and define ``call`` (and
    create the layers in ``__init__``) for a model whose forward pass is your own code.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Model:
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from autoconv.models.functional import Functional

            return super().__new__(Functional)
        return super().__new__(cls, *args, **kwargs)  # (Keras's automatic config reads them)

    def __init__(
        self, *args: Any, name: str | None = None, trainable: bool = True, **kwargs: Any
    ) -> None:
        if _functional_arguments(args, kwargs):  # a subclass made from inputs and outputs
            from autoconv.models.functional import Functional

            if not isinstance(self, Functional):
                _make_functional(type(self))
            Functional.__init__(self, *args, name=name, trainable=trainable, **kwargs)
            return
        if args:
            raise TypeError(
                f"{type(self).__name__}: a model takes its inputs and outputs "
                "(Model(inputs, outputs)), or keyword arguments only"
            )
        super().__init__(name=name, trainable=trainable, **kwargs)
        self.optimizer: optimizers_module.Optimizer | None = None
        self.loss: Any = None
        self._loss_specs: list[Any] = []
        self._losses_per_output: list[Any] = []
        self._loss_weights: list[float] = []
        self._compiled_metrics: list[list[Any]] = []  # each output's, updated unweighted
        self._compiled_weighted_metrics: list[list[Any]] = []  # and with the sample weights
        self._compile_metrics: CompileMetrics | None = None  # Keras's, over the ones above
        self._output_loss_trackers: list[Any] = []
        self._output_loss_outputs: list[int] = []  # the outputs those trackers follow
        self._losses_spread = False  # (the four above made for the outputs)
        self.compiled = False
        self.steps_per_execution = 1
        self.device = config.get_device()  # where its layers make their weights; to() moves it
        self.stop_training = False
        self.history: training.History | None = None
        # The names of the classes the outputs stand for (autoconv's addition, kept in the
        # model file): `autoconv train FOLDER` sets them from the folder, `predict` prints them.
        self.class_names: list[str] | None = None

    # ------------------------------------------------------------------ structure
    @property
    def plan(self) -> Any:
        """How the model runs (which layers fuse), or None for a subclassed model."""
        graph = self._graph()
        return None if graph is None else graph.plan

    def _graph(self) -> Any:
        """The graph of layer calls (None for a subclassed model, or before building)."""
        return None

    @property
    def output_shape(self) -> Any:
        """The output's shape, batch axis first (``None``); a list of shapes for several
        outputs (Keras's ``model.output_shape``)."""
        graph = self._graph()
        if graph is None:
            raise AttributeError(
                f"The layer {self.name} has never been called and thus has no defined output "
                "shape (build it, or call it on data)"
            )
        shapes = [t.shape for t in graph.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_names(self) -> list[str]:
        graph = self._graph()
        if graph is None:
            return ["output"]
        return [t.node.layer.name for t in graph.outputs]

    @property
    def input_names(self) -> list[str]:
        graph = self._graph()
        return [] if graph is None else [t.node.layer.name for t in graph.inputs]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by its name or its index in :attr:`layers`."""
        if index is not None and name is not None:
            raise ValueError(
                f"Provide only a layer name or a layer index. Received: index={index}, name={name}."
            )
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has "
                    f"{len(self.layers)} layers."
                )
            return self.layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise ValueError(
                f"No such layer: {name}. Existing layers are: "
                f"{[layer.name for layer in self.layers]}."
            )
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def summary(
        self,
        line_length: int | None = None,
        positions: Sequence[float] | None = None,
        print_fn: Callable[[str], None] | None = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
        layer_range: Sequence[str] | None = None,
    ) -> None:
        """Print each layer's name, type, output shape and parameters, as Keras 3 does."""
        from autoconv.models.summary import print_summary

        print_summary(
            self, line_length, positions, print_fn, expand_nested, show_trainable, layer_range
        )

    # -------------------------------------------------------------------- devices
    def to(self, device: str) -> Model:
        """Move the weights (and the optimizer's state) to ``device``, in place; returns the
        model. Layers built later get their weights there too."""
        check_device(device)
        xp = namespace(device)
        for variable in self.weights:
            if variable.device != device:
                host = namespace(variable.device).to_numpy(variable.data)
                variable.data, variable.device, variable.grad = xp.asarray(host), device, None
        for layer in _all_layers(self):
            if isinstance(layer, Model):
                layer.device = device
        if self.optimizer is not None:
            self.optimizer.slots = [
                {name: xp.asarray(_host(value)) for name, value in slots.items()}
                for slots in self.optimizer.slots
            ]
        return self

    # -------------------------------------------------------------------- running
    def __call__(self, *args: Any, training: Any = _NOT_GIVEN, **kwargs: Any) -> Any:
        """Run the model on data (as ``predict_on_batch``, with gradients recorded where they
        are enabled), or record it in a functional graph when given symbolic tensors. Called on
        data, it applies the process settings ``predict`` applies (:mod:`autoconv.process`), and
        NumPy inputs go to the model's device, as Keras moves them."""
        inputs, args = first_argument(self, args, kwargs)
        if not is_symbolic(inputs):
            configure_process_for(self)
            inputs = to_tensors(standardized(self, inputs), self.dtype, self.device)
        return super().__call__(inputs, *args, training=training, **kwargs)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> None:
        """None: a model's outputs carry the Keras masks its layers gave them."""
        return None

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """The forward pass of a subclassed model (subclasses define it)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no call(): subclass autoconv.Model and define "
            "call(self, inputs, training=None), or build a model with Model(inputs, outputs)"
        )

    def _outputs(self, inputs: list[Tensor], training: bool) -> tuple[list[Tensor], list[bool]]:
        """The model's outputs for ``inputs`` (one Tensor per model input), and for each output
        whether it holds logits left for the loss (see :mod:`autoconv.models.graph`)."""
        out = self._predictions(self._as_given(inputs, outputs=False), training)
        self._called_structure = _nesting(out)
        outputs = flat_outputs(out)
        return outputs, [False] * len(outputs)

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Any:
        """The model ``config`` describes, by Keras's rule: a functional model's config (its
        ``name``, ``layers``, ``input_layers`` and ``output_layers``) revives a functional model,
        of this class where its ``__init__`` takes what a functional model's does; any other
        config is the class's own constructor arguments (a subclassed model's ``get_config``)."""
        from autoconv.models.functional import Functional  # (a subclass of this one)

        functional_keys = ("name", "layers", "input_layers", "output_layers")
        spec = inspect.getfullargspec(cls.__init__)
        revivable = (
            cls is Model
            or spec.args[1:] == inspect.getfullargspec(Functional.__init__).args[1:]
            or (spec.varargs == "args" and spec.varkw == "kwargs")
        )
        if revivable and all(key in config for key in functional_keys):
            return Functional.from_config.__func__(cls, config, custom_objects)
        if cls.get_config is Model.get_config:  # (Keras 3.15's automatic config keeps them)
            config = _constructor_entries(cls, config)
        try:
            return super().from_config(config)
        except TypeError as error:
            raise TypeError(
                f"Unable to revive model from config. When overriding the `get_config()` "
                f"method, make sure that the returned config contains all items used as "
                f"arguments in the constructor to {cls}, which is the default behavior. You "
                f"can override this default behavior by defining a `from_config(cls, config)` "
                f"class method to specify how to create an instance of {cls.__name__} from its "
                f"config.\n\nReceived config={config}\n\nError encountered during "
                f"deserialization: {error}"
            ) from error

    def build(self, input_shape: Any) -> None:
        """Nothing to make: a subclassed model's layers make their weights when it first runs
        (as every ``build``, it keeps the input shape for :meth:`get_build_config`)."""

    def build_from_config(self, config: dict[str, Any]) -> None:
        """Build the model for ``config["input_shape"]`` (a :meth:`get_build_config`) as Keras
        does: a subclassed model without a ``build`` of its own runs once, on zeros of one
        sample of that shape, so that its layers make their weights; any other builds as a
        layer does."""
        shape = config.get("input_shape")
        if shape is None or self._graph() is not None or type(self).build is not Model.build:
            super().build_from_config(config)
            return
        nested = isinstance(shape, list | tuple) and all(isinstance(s, list | tuple) for s in shape)
        shapes = list(shape) if nested and shape else [shape]
        if not all(
            isinstance(s, list | tuple)
            and s
            and all(n is None or (type(n) is int and n >= 0) for n in s)
            for s in shapes
        ):
            raise ValueError(f"model {self.name}: its input shape {shape!r} is not a shape")
        shapes = [tuple(s) for s in shapes]
        values = sum(math.prod(1 if n is None else n for n in s[1:]) for s in shapes)
        what = f"model {self.name} ({type(self).__name__}), built by a run on a sample,"
        file_budget.check_trial(values, what)  # (define its build() to build it from shapes)
        samples = [(None, *s[1:]) for s in shapes]
        dry_run_shape(self, samples if nested else samples[0])
        self._build_shape = shapes if nested else shapes[0]

    # -------------------------------------------------------------------- compile
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: Any = "auto",
        auto_scale_loss: bool = True,
    ) -> None:
        """Choose the optimizer, the loss (one for every output, or a list or a dict by output
        name), the loss weights and the metrics, with Keras's arguments and order.

        As in Keras, 'accuracy' (and 'crossentropy') become the binary, sparse or categorical
        kind from the shapes of the first batch of targets and predictions; ``metrics`` are
        computed unweighted, ``weighted_metrics`` with the sample weights (``sample_weight``,
        or ``class_weight``'s). For several outputs either is a list with one entry per output
        (a metric, a list of them, or None), or a dict by output name.
        ``steps_per_execution=N``: ``fit``, ``evaluate`` and ``predict`` run N batches per
        execution (at most the rest of the epoch) and call the batch callbacks once per
        execution, ``on_*_batch_begin`` with its first batch's index and ``on_*_batch_end``
        with its last's; on the GPU the N replayed training steps are one graph launch.
        Compiled again without a ``loss`` (or without metrics), the model keeps the ones it
        had (its metrics with their state), as Keras's does (the guides change only the
        optimizer so)."""
        kept_metrics = self.compiled and metrics is None and weighted_metrics is None
        if self.compiled and loss is None:
            loss, loss_weights = (
                self._compile_arguments["loss"],
                self._compile_arguments["loss_weights"],
            )
        if kept_metrics:
            metrics = self._compile_arguments["metrics"]
            weighted_metrics = self._compile_arguments["weighted_metrics"]
        if (
            isinstance(steps_per_execution, bool)
            or not isinstance(steps_per_execution, int | np.integer)
            or steps_per_execution < 1
        ):
            raise ValueError(
                f"compile: steps_per_execution must be an int >= 1, got {steps_per_execution!r}"
            )
        names = self._per_output_names
        for argument, given in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            check_metrics_argument(given, argument)  # (each output's: at the first batch)
            for spec in tree.flatten(given or []):  # unknown names fail now
                if spec is not None and str(spec).lower() not in MADE_FOR_THE_DATA:
                    metrics_module.check(spec)
        for spec in tree.flatten(loss or []):  # unknown names fail now
            if spec is not None and str(spec).lower() not in ("crossentropy", "ce"):
                losses_module.loss_object(spec)
        for weight in tree.flatten(loss_weights or []):
            _loss_weight(weight)
        self.optimizer = optimizers_module.get(optimizer)
        if loss is not None:  # (a model's own ``self.loss``, set in __init__, kept: Keras's)
            self.loss = loss
        self._losses_per_output = []
        self._compiled_metrics, self._compiled_weighted_metrics = [], []
        if not kept_metrics:
            self._compile_metrics = (
                None
                if metrics is None and weighted_metrics is None
                else CompileMetrics(metrics, weighted_metrics, list(names))
            )
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._compile_arguments = {
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics,
            "weighted_metrics": weighted_metrics,
        }
        self._loss_specs, self._loss_weights, self._losses_spread = [], [], False
        if self._outputs_known:  # (a subclassed model's: when its first batch shows them)
            self._spread_losses()
        self.steps_per_execution = int(steps_per_execution)
        self.compiled = True

    @property
    def _outputs_known(self) -> bool:
        """Whether the model's outputs (how many, their names) are known: a functional
        model's or a Sequential's; a subclassed model's once its first batch ran (as Keras
        makes its compiled losses at the first batch)."""
        return self._graph() is not None or self.__dict__.get("_traced_outputs") is not None

    def _spread_losses_once_known(self) -> None:
        """:meth:`_spread_losses` for a compiled model whose outputs became known (a
        subclassed model's first batch ran) since ``compile``."""
        if self.compiled and not self._losses_spread:
            self._spread_losses()

    def _spread_losses(self) -> None:
        """Spread compile's loss and loss weights over the outputs (one for all, a list in
        output order, a dict by output name) and make Keras's "<output>_loss" means: one per
        output with a loss, when more than one has (named by the loss where the output has
        no name, a subclassed model's, as Keras's)."""
        names = self._per_output_names
        given = self._compile_arguments
        self._loss_specs = _per_output(given["loss"], names, "loss")
        weights = given["loss_weights"]
        weights = [1.0] * len(names) if weights is None else weights
        self._loss_weights = [_loss_weight(w) for w in _per_output(weights, names, "loss_weights")]
        with_loss = [i for i, spec in enumerate(self._loss_specs) if spec is not None]
        # in Keras's order: a dict of losses', or a subclassed model's dict of outputs' for one
        # loss (the order of their keys as given), else the outputs'
        loss, called = given["loss"], self._called_structure
        keyed = loss if isinstance(loss, dict) else called if isinstance(called, dict) and (
            not isinstance(loss, list | tuple)) else {}  # fmt: skip
        with_loss.sort(key=lambda i: list(keyed).index(names[i]) if names[i] in keyed else -1)
        self._output_loss_outputs = with_loss if len(with_loss) > 1 else []
        self._output_loss_trackers = [
            metrics_module.Mean(
                name=f"{names[i] or losses_module.loss_object(self._loss_specs[i]).name}_loss"
            )
            for i in self._output_loss_outputs
        ]
        if self._compile_metrics is not None and not self._compile_metrics.built:
            self._compile_metrics.output_names = list(names)
        self._losses_spread = True

    def get_compile_config(self) -> dict[str, Any]:
        """What ``compile`` was given, as Keras 3 keeps it in a model file (``{}`` before
        ``compile``, as Keras's): the optimizer's entry, the loss and metrics as names or
        entries."""
        if not self.compiled or self.optimizer is None:
            return {}
        given = self._compile_arguments
        return {
            "optimizer": optimizers_module.serialize(self.optimizer),
            "loss": _compile_entry(given["loss"]),
            "loss_weights": given["loss_weights"],
            "metrics": _compile_entry(given["metrics"]),
            "weighted_metrics": _compile_entry(given["weighted_metrics"]),
            "run_eagerly": False,
            "steps_per_execution": self.steps_per_execution,
            "jit_compile": False,
        }

    def compile_config_entry(self) -> dict[str, Any]:
        """:meth:`get_compile_config` as a model file keeps it: what a subclass's own returns
        (optimizers, losses, metrics, functions) made into entries, as Keras's
        ``serialize_dict``."""
        return _compile_entry(self.get_compile_config())

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """``compile`` with what :meth:`get_compile_config` (or Keras) wrote."""
        if not isinstance(config, dict):
            raise ValueError(f"a compile config must be a dict, got {type(config).__name__}")
        optimizer = config.get("optimizer", "rmsprop")
        if isinstance(optimizer, dict):
            optimizer = optimizers_module.deserialize(optimizer)
        self.compile(
            optimizer=optimizer,
            loss=_compile_object(config.get("loss"), losses_module),
            loss_weights=config.get("loss_weights"),
            metrics=_compile_object(config.get("metrics"), metrics_module),
            weighted_metrics=_compile_object(config.get("weighted_metrics"), metrics_module),
            steps_per_execution=config.get("steps_per_execution") or 1,
        )
        training.build_optimizer(self)  # (its variables made, as Keras's, for a built model)

    def _require_compiled(self, what: str) -> None:
        if not self.compiled or self.optimizer is None:
            raise RuntimeError(
                f"You must call `compile()` before using the model ({what}): "
                "model.compile(optimizer, loss)"
            )

    @property
    def compiled_ready(self) -> bool:
        """Whether the losses and metrics were made for the data (on its first batch)."""
        return bool(self._losses_per_output)

    def _resolve_compile(self, y_shapes: list[Any], output_shapes: list[Any]) -> None:
        """Make the loss and metric objects for the data's shapes, as Keras's compile does on
        its first batch, and pair each softmax output with its cross-entropy (the plan). Fewer
        ``y_shapes`` than outputs (targets a compute_loss of the user's reads as given): the
        outputs after them have no metrics, as Keras's."""
        self._spread_losses_once_known()
        padded = [*y_shapes, *[None] * (len(output_shapes) - len(y_shapes))]
        self._losses_per_output = [
            None if spec is None else losses_module.resolve(spec, y, p)
            for spec, y, p in zip(self._loss_specs, padded, output_shapes, strict=True)
        ]
        self._compiled_metrics = [[] for _ in output_shapes]
        self._compiled_weighted_metrics = [[] for _ in output_shapes]
        if self._compile_metrics is not None:  # (the model's steps update its metrics)
            self._compile_metrics.build(y_shapes, output_shapes)
            self._compiled_metrics = self._compile_metrics.per_output
            self._compiled_weighted_metrics = self._compile_metrics.weighted_per_output
        plan = self.plan
        if plan is not None:
            plan.pair_losses([takes_logits(loss) for loss in self._losses_per_output])

    def __setattr__(self, name: str, value: Any) -> None:
        # A metric assigned as an attribute (a custom model's tracker, updated in its
        # compute_loss) is the model's, as in Keras: in ``metrics``, so reset at each epoch's
        # start and shown in the logs.
        if isinstance(value, metrics_module.Metric) and name not in (
            "_loss_tracker", "_compile_metrics",
        ):  # fmt: skip
            tracked = self.__dict__.setdefault("_tracked_metrics", [])
            if all(value is not metric for metric in tracked):
                tracked.append(value)
        super().__setattr__(name, value)

    @property
    def metrics(self) -> list[Any]:
        """Keras's ``model.metrics``: the loss tracker, the compiled metrics as one
        (:class:`~autoconv.metrics.compile_metrics.CompileMetrics`, "compile_metrics"), each
        output's loss tracker (once the losses are made, for several outputs with a loss), the
        metrics the model holds as attributes, then those its layers hold."""
        own = self.__dict__.get("_tracked_metrics", [])
        if self.compiled:
            compiled = [] if self._compile_metrics is None else [self._compile_metrics]
            per_output = self._output_loss_trackers if self.compiled_ready else []
            own = [self._loss_tracker, *compiled, *per_output, *own]
        return [*own, *_sublayer_metrics(self)]

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def get_metrics_result(self) -> dict[str, Any]:
        """Every metric's current value, sorted by name as Keras logs them (a device read): a
        float, or a NumPy array for a metric of several values (``F1Score()``'s per class); a
        metric whose result is a dict (the compiled metrics') gives its entries."""
        logs: dict[str, Any] = {}
        for metric in self.metrics:
            result = metric.result()
            logs.update(result if isinstance(result, dict) else {metric.name: result})
        return {
            name: float(logs[name]) if np.ndim(logs[name]) == 0 else np.asarray(logs[name])
            for name in sorted(logs)
        }

    # -------------------------------------------------------------- the one step
    def _loss(
        self, inputs: list[Any], targets: list[Any], weights: Any, training: bool, state: Any
    ) -> tuple[Tensor, list[Tensor | None], list[Tensor], list[bool]]:
        """(total loss, each output's loss, the outputs, which outputs are logits) for one
        batch of device arrays, with per-sample ``weights`` (or None). A softmax output paired
        with a cross-entropy is computed from its logits (stable; one op when unweighted)."""
        tensors = self._input_values(inputs)
        with outermost_call(self) as penalties:  # this thread's, whoever else calls the model
            outputs, logits = self._outputs(tensors, training)
            if self.overrides_compute_loss:
                total = self._own_loss(tensors, targets, outputs, logits, weights, training)
                self._detach_losses()
                return total, [None] * len(outputs), outputs, logits
        per_output: list[Tensor | None] = []
        total: Tensor | None = None
        targets = targets or [None] * len(outputs)  # (no y: the layers' add_loss alone)
        for out, is_logits, target, loss_fn, weight in zip(
            outputs, logits, targets, self._losses_per_output, self._loss_weights, strict=True
        ):
            if loss_fn is None or target is None:
                per_output.append(None)
                continue
            value = (losses_module.with_logits(loss_fn) if is_logits else loss_fn)(
                target, out, sample_weight=weights
            )
            per_output.append(value)
            weighted = value if weight == 1 else value * weight  # (x * 1 is x, and so its gradient)
            total = weighted if total is None else total + weighted
        for weight in state.penalized:  # the regularized weights' penalties, as Keras adds
            total = _added(total, weight.regularizer(weight))
        for penalty in penalties:  # the layers' add_loss
            total = _added(total, summed(penalty))
        self._detach_losses()  # (they held the step's graph)
        return require_loss(total), per_output, outputs, logits

    def _update_metrics(
        self, total: Tensor, per_output: list, outputs: list, logits: list, targets: list,
        weights: Any, count: int,
    ) -> None:  # fmt: skip
        """Add a batch to the running loss and metrics, on the device (nothing is read), in
        place; the loss and an accuracy alone in one backend call. ``weights``: the batch's
        sample weights (or None), which weigh the weighted metrics only, as Keras's. The loss
        counts as ``count`` samples, the rows of the batch's first input (Keras's weight of a
        batch's loss: a graph's nodes, where the targets are its graphs'); each output's own
        loss as that output's rows, as Keras's."""
        if (
            len(outputs) == 1
            and keras_mask(outputs[0]) is None
            and len(self._compiled_metrics[0]) == 1
            and not self._compiled_weighted_metrics[0]
            and targets[0] is not None
            and metrics_module.update_loss_and_accuracy(
                self._loss_tracker, total.data, count, self._compiled_metrics[0][0], targets[0],
                outputs[0].data,
            )
        ):  # fmt: skip
            return
        self._loss_tracker.update_state(total.data, sample_weight=count)
        for index, tracker in zip(
            self._output_loss_outputs, self._output_loss_trackers, strict=True
        ):
            if per_output[index] is not None:
                rows = len(outputs[index]) if outputs[index].ndim else 1
                tracker.update_state(per_output[index].data, sample_weight=rows)
        targets = [*targets, *[None] * (len(outputs) - len(targets))]  # (see _resolve_compile)
        for made, weighted, out, is_logits, target in zip(
            self._compiled_metrics, self._compiled_weighted_metrics, outputs, logits, targets,
            strict=True,
        ):  # fmt: skip
            if not (made or weighted) or target is None:
                continue
            probabilities = (
                out.softmax() if is_logits and not _argmax_only([*made, *weighted]) else out
            )
            masked = keras_mask(probabilities) is not None  # (the metrics read it, as Keras's)
            predicted = probabilities if masked else probabilities.data
            weighed = () if weights is None else (weights,)
            for metric, weight in [(m, ()) for m in made] + [(m, weighed) for m in weighted]:
                if type(metric).__module__.startswith("autoconv."):  # device arrays: replayable
                    metric.update_state(target, predicted, *weight)
                else:  # one of your own: Tensors (integer labels as NumPy), as ops take them
                    metric._to(probabilities.device)  # its variables where the data is
                    given = [_as_ops_value(w) for w in weight]
                    metric.update_state(_as_ops_value(target), probabilities, *given)

    def _train_batch(self, inputs: list[Any], targets: list[Any], weights: Any, state: Any) -> None:
        """One optimizer step on a batch (arrays on the model's device), its loss and metrics
        added to the model's running metrics: nothing is read back, so a GPU step never waits
        for the host. A non-finite loss or gradient marks ``state.status`` (see
        :class:`autoconv.training.StepState`), and the optimizer then changes nothing."""
        if _overrides(self, "train_step"):
            self._step_logs = self._run_own_step(
                "train_step", inputs, targets, weights, state.one_batch
            )
            state.done(len(inputs[0]))
            return
        params = state.params
        self.optimizer.zero_grad(params)
        count = len(inputs[0])
        if count == 0:  # this process has no share of a short last batch (autoconv.distributed)
            state.done(self._apply_gradients(params, None, 0, state))
            return
        total, per_output, outputs, logits = self._loss(inputs, targets, weights, True, state)
        if state.step == 0 and self.optimizer.iterations == 0:
            params = state.grown_params()  # layers a compute_loss built in this first step
        if total.requires_grad:
            total.backward()
            _warn_missing_gradients(self, params)
        else:  # nothing to learn: Keras's warning, and the step goes on (its loss logged)
            # (pointing here, one place whatever runs the step: shown once, as Keras's)
            warnings.warn("The model does not have any trainable weights.", stacklevel=1)
        samples = self._apply_gradients(params, total.data, count, state)
        self._update_metrics(total, per_output, outputs, logits, targets, weights, count)
        state.done(samples)

    def _replayed_batch(self, count: int, state: Any) -> None:
        """What :meth:`_train_batch` does on the host, for a step of ``count`` samples that the
        device replayed (:mod:`autoconv.step_replay`): the optimizer counts the step and the
        epoch its samples. Everything else the step changes lives on the device."""
        self.optimizer.iterations += 1
        state.done(count)

    def _apply_gradients(self, params: list[Any], loss: Any, count: int, state: Any) -> int:
        """Check the loss and the gradients of ``count`` samples (a non-finite one marks
        ``state.status``) and take the optimizer step; returns the samples the step learned
        from. Over several processes (:mod:`autoconv.distributed`), the gradients and the loss
        are first averaged over every process's share of the global batch."""
        xp = namespace(self.device)
        if state.world is not None:
            loss, count = state.world.average_gradients(params, loss, count, self.device)
        if _own_apply(self.optimizer):  # a subclass's own update: Keras's fit calls its apply
            with_grad = [param for param in params if param.grad is not None]
            with no_grad():
                self.optimizer.apply([Tensor(param.grad) for param in with_grad], with_grad)
            return count
        grads = [param.grad for param in params if param.grad is not None]
        step = xp.step_input(lambda: [state.step], np.int64)  # a replay's own step number
        xp.check_step(loss, grads, step, state.status)  # one pass over them all
        self.optimizer.step(params, state.status)
        return count

    def _test_batch(self, inputs: list[Any], targets: list[Any], weights: Any, state: Any) -> None:
        if len(inputs[0]) == 0:  # no share of a short last batch (autoconv.distributed)
            return
        if _overrides(self, "test_step"):
            self._step_logs = self._run_own_step(
                "test_step", inputs, targets, weights, state.one_batch
            )
            state.done(len(inputs[0]))
            return
        with no_grad():
            total, per_output, outputs, logits = self._loss(inputs, targets, weights, False, state)
            count = len(inputs[0])
            self._update_metrics(total, per_output, outputs, logits, targets, weights, count)
        state.done(len(outputs[0]))

    def _replayed_test_batch(self, count: int, state: Any) -> None:
        """What :meth:`_test_batch` does on the host, for a batch the device replayed: the
        samples counted."""
        state.done(count)

    def _predict_batch(
        self,
        inputs: list[Any],
        to_host: bool = True,
        own_step: bool = True,
        one_batch: bool = False,
    ) -> list[Any]:
        """The outputs for one batch: NumPy arrays, or with ``to_host=False`` the device's;
        through a ``predict_step`` of the user's unless ``own_step`` is False (the model's
        call alone: the run that shows a subclassed model's outputs, as Keras's symbolic build
        runs its call, not its steps), given ``(x,)`` for ``predict_on_batch`` (``one_batch``),
        as Keras's."""
        xp = namespace(self.device)
        with no_grad():
            if own_step and _overrides(self, "predict_step"):
                out = self._run_own_step("predict_step", inputs, [], None, one_batch)
            else:
                tensors = self._input_values(inputs)
                out = self._predictions(self._as_given(tensors, outputs=False), training=False)
        if self._graph() is None:  # (a functional model keeps its own)
            self._called_structure = _nesting(out)
        # (an integer output, ``ops.argmax``'s, is a NumPy array: the engine's tensors float;
        # it and what was computed from it on the host are moved to the model's device)
        arrays = [xp.asarray(o.data if isinstance(o, Tensor) else o) for o in flat_outputs(out)]
        return [xp.to_numpy(a) if to_host else a for a in arrays]

    # ------------------------------------------------------------ Keras's API
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: Any = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Any = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
    ) -> training.History:
        """Train for ``epochs`` passes over the data in mini-batches (Keras 3's arguments and
        order); returns a History. See :func:`autoconv.training.fit` (and
        :func:`autoconv.training.running` for a model used from several threads)."""
        with training.running(self, "fit"):
            return training.fit(
                self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                steps_per_epoch, validation_steps, validation_batch_size, validation_freq,
            )  # fmt: skip

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """The loss and metrics over (x, y): a number, a list ``[loss, metric, ...]``, or a
        dict with ``return_dict=True``, as Keras."""
        with training.running(self, "evaluate"):
            return training.evaluate(
                self, x, y, batch_size, verbose, sample_weight, steps, callbacks, return_dict
            )

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        steps: int | None = None,
        callbacks: Any = None,
    ) -> Any:
        """The outputs for x, batch by batch, as NumPy arrays (a list for several outputs)."""
        return training.predict(self, x, batch_size, verbose, steps, callbacks)

    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """One optimizer step on one batch; returns its loss (and metrics) as ``evaluate``
        does. The step is the one ``fit`` runs, finiteness checks included."""
        with training.running(self, "train_on_batch"):
            return training.on_batch(self, "train", x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        """The loss (and metrics) of one batch, without training."""
        with training.running(self, "test_on_batch"):
            return training.on_batch(self, "test", x, y, sample_weight, None, return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """The outputs for one batch, as NumPy arrays."""
        arrays = input_arrays(self, x, "predict_on_batch", batched=True)
        training.configure_process_for(self)
        return self._returned_outputs(self._predict_batch(arrays, one_batch=True))

    # --------------------------------------------------------------------- saving
    # The file formats are autoconv.saving's, above the models (as Keras's Model.save calls
    # keras.saving): each method hands the model over, importing it when called.
    def save(
        self, filepath: str | os.PathLike, overwrite: bool = True, zipped: bool | None = None
    ) -> None:
        """Write the architecture, weights, compile settings and optimizer state to a Keras 3
        ``.keras`` archive, atomically, or with ``zipped=False`` its files into a folder
        (:func:`autoconv.saving.save_model`)."""
        from autoconv import saving

        saving.save_model(self, filepath, overwrite, zipped)

    def save_weights(
        self,
        filepath: str | os.PathLike,
        overwrite: bool = True,
        max_shard_size: float | None = None,
    ) -> None:
        """Write the weights (and the optimizer's state) to a Keras ``.weights.h5`` file,
        atomically; with ``max_shard_size`` (GB) as Keras's sharded weights, a
        ``.weights.json`` index and its shards (:func:`autoconv.saving.save_weights`)."""
        from autoconv import saving

        saving.save_weights(self, filepath, overwrite, max_shard_size)

    def export(
        self,
        filepath: str | os.PathLike,
        format: str = "tf_saved_model",
        verbose: bool | None = None,
        input_signature: Any = None,
        **kwargs: Any,
    ) -> None:
        """Keras's ``export``: the model's inference pass as an artifact to serve. autoconv
        writes ``format="onnx"`` (:func:`autoconv.saving.onnx_export.export_onnx`; its
        ``opset_version`` argument); Keras's other formats need TensorFlow, OpenVINO, LiteRT
        or PyTorch, which autoconv does not use, and are an error that says so."""
        from autoconv.saving import onnx_export

        formats = ("tf_saved_model", "onnx", "openvino", "litert", "torch")
        if format not in formats:
            raise ValueError(
                f"Unrecognized format={format}. Supported formats are: {list(formats)}."
            )
        if format != "onnx":
            raise ValueError(
                f'export: format="{format}" needs {_EXPORTERS[format]}, which autoconv does not '
                'use; autoconv exports format="onnx" (served by ONNX Runtime, and convertible '
                "to the others)"
            )
        unknown = set(kwargs) - {"opset_version"}
        if unknown:
            raise TypeError(f"export: unexpected arguments {sorted(unknown)} for format='onnx'")
        onnx_export.export_onnx(self, filepath, verbose, input_signature, **kwargs)

    def load_weights(self, filepath: str | os.PathLike, skip_mismatch: bool = False) -> None:
        """Read weights from a ``.weights.h5`` file, sharded weights' ``.weights.json`` index
        or a ``.keras`` archive, each checked
        against this model's before any is changed; ``skip_mismatch`` leaves out the layers
        whose weights do not fit (:func:`autoconv.saving.load_weights`)."""
        from autoconv import saving

        saving.load_weights(self, filepath, skip_mismatch)

    def __reduce__(self) -> tuple:
        """Pickled, and so deep-copied (``copy.deepcopy``), as Keras's models are: through the
        model's ``.keras`` archive, in memory. The copy is a new model with the same
        architecture, weights, compile settings and optimizer state."""
        from autoconv.saving import keras_file

        return keras_file.model_from_bytes, (keras_file.model_to_bytes(self),)

    def to_json(self, **kwargs: Any) -> str:
        """The architecture (and compile settings) as Keras's JSON, ``json.dumps`` of
        :func:`autoconv.saving.serialize_keras_object` with ``kwargs``; no weights.
        ``autoconv.models.model_from_json`` and Keras's read it."""
        from autoconv import saving

        return json.dumps(saving.serialize_keras_object(self), **kwargs)

    def get_config(self) -> dict[str, Any]:
        """Keras's base config of a model (its name, trainable and dtype), which a subclassed
        model's own ``get_config`` extends with its constructor's arguments. A subclassed model
        without one has Keras's automatic config (the arguments it was made with) where those
        arguments are plain values, less the base entries its constructor does not take where
        it takes no ``**kwargs`` (Keras 3.0's rule, so that ``cls(**config)`` makes it again:
        Keras 3.15 keeps ``trainable`` and ``dtype`` there, and cannot load its own file);
        otherwise it has no config (its architecture is Python code)."""
        if type(self).get_config is not Model.get_config:  # (a subclass's own, extending it)
            return super().get_config()
        if not isinstance(self.__dict__.get("_auto_config"), dict):
            raise NotImplementedError(
                f"model {self.name} ({type(self).__name__}) is a subclassed model: its "
                "architecture is Python code, which autoconv does not save. Define its "
                "get_config() (its constructor's arguments), or save its weights with "
                "save_weights() and rebuild it in code"
            )
        return _constructor_entries(type(self), super().get_config())


DEFAULT_GET_CONFIGS.add(Model.get_config)


# ---------------------------------------------------------------------------- helpers
def _constructor_entries(cls: type, config: dict[str, Any]) -> dict[str, Any]:
    """A subclassed model's automatic ``config`` less the base layer's entries (name,
    trainable, dtype, activity regularizer) that its constructor takes neither by name nor
    through ``**kwargs``."""
    parameters = inspect.signature(cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return config
    base = ("name", "trainable", "dtype", "activity_regularizer")
    return {k: v for k, v in config.items() if k in parameters or k not in base}


def _host(array: Any) -> np.ndarray:
    from autoconv.backends import array_device

    return namespace(array_device(array)).to_numpy(array)


def _all_layers(layer: Layer) -> list[Layer]:
    found = [layer]
    for sub in layer._layers:
        found += _all_layers(sub)
    return found


def _sublayer_metrics(model: Model) -> list[Any]:
    """The metrics ``model``'s layers hold, as Keras's ``Trainer.metrics`` adds them: every
    layer under the model once (Keras's ``_flatten_layers`` order; a nested model left out),
    each with its ``metrics`` (so a metric two levels down comes twice, as in Keras)."""
    found, seen, pending = [], set(), collections.deque(model._layers)
    while pending:
        layer = pending.popleft()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        pending.extendleft(layer._layers)
        if not isinstance(layer, Model):
            found += layer.metrics
    return found


def _per_output(value: Any, names: list[str], what: str) -> list[Any]:
    """A compile argument spread over the outputs: one for all, a list in output order, or a
    dict by output name."""
    if isinstance(value, dict):
        return by_output_name(value, names, what)
    if isinstance(value, list | tuple) and not isinstance(value, str):
        if len(value) != len(names):
            raise ValueError(
                f"compile: {what} has {len(value)} entries but the model has {len(names)} "
                f"outputs ({names})"
            )
        return list(value)
    return [value] * len(names)


def _compile_entry(value: Any) -> Any:
    """A compile argument as Keras writes it: names as they are, losses and metrics as their
    entries, functions as Keras's function entries, lists and dicts entry by entry."""
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_compile_entry(v) for v in value]
    if isinstance(value, dict):
        return {k: _compile_entry(v) for k, v in value.items()}
    if isinstance(value, losses_module.Loss):
        return losses_module.serialize(value)
    if isinstance(value, metrics_module.Metric):
        return metrics_module.serialize(value)
    if isinstance(value, optimizers_module.Optimizer):
        return optimizers_module.serialize(value)
    if callable(value):  # (an unregistered one by its name: load_model's custom_objects)
        return registration.function_entry(registration.get_registered_name(value))
    raise ValueError(f"compile: {value!r} cannot be written to a model file")


def _compile_object(value: Any, family: Any) -> Any:
    """A compile argument read back: names as they are, entries made into losses or metrics
    (``family``), functions found by name (autoconv's, or registered)."""
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, list):
        return [_compile_object(v, family) for v in value]
    if not isinstance(value, dict):
        raise ValueError(f"a compile config holds {value!r}, which is no loss or metric")
    if "class_name" not in value:  # a dict by output name
        return {k: _compile_object(v, family) for k, v in value.items()}
    if value.get("class_name") == "function":
        found = registration.find_function(value)
        return found if found is not None else value.get("config")
    return family.deserialize(value)


def _loss_weight(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(
            f"compile: loss_weights must be numbers (one per output, or a dict by output name), "
            f"got {value!r}; metrics go in compile(..., metrics=[...]) (loss_weights is "
            "compile's third positional argument, as in Keras)"
        )
    return float(value)


# the metric names that become a kind for the data's shapes (binary, sparse or categorical)
MADE_FOR_THE_DATA = ("accuracy", "acc", "crossentropy", "ce")


def takes_logits(loss: Any) -> bool:
    """A cross-entropy on probabilities: a softmax output can give it its logits instead."""
    return loss is not None and losses_module.with_logits(loss) is not None


def _argmax_only(metrics: list[Any]) -> bool:
    """Metrics that look only at which class scores highest (the same for logits as for the
    softmax's probabilities), so a fused output needs no softmax for them."""
    kinds = (
        metrics_module.CategoricalAccuracy, metrics_module.SparseCategoricalAccuracy,
        metrics_module.TopKCategoricalAccuracy, metrics_module.SparseTopKCategoricalAccuracy,
    )  # fmt: skip
    return all(isinstance(m, kinds) for m in metrics)


def _functional_arguments(args: tuple, kwargs: dict[str, Any]) -> bool:
    """Whether a model is made from inputs and outputs (Keras's functional_init_arguments)."""
    return (
        len(args) == 2
        or (len(args) == 1 and "outputs" in kwargs)
        or ("inputs" in kwargs and "outputs" in kwargs)
    )


def _make_functional(cls: type) -> None:
    """Make a Model subclass made from inputs and outputs a functional model, as Keras's
    ``inject_functional_model_class``: ``Model`` among its bases (and theirs) becomes
    ``Functional``, so its own methods (``compute_loss``, ``train_step``) run on a graph."""
    from autoconv.models.functional import Functional

    def swapped(base: type) -> type:
        if base is Model:
            return Functional
        if issubclass(base, Model) and not issubclass(base, Functional):
            base.__bases__ = tuple(swapped(b) for b in base.__bases__)
        return base

    cls.__bases__ = tuple(swapped(b) for b in cls.__bases__)


def _added(total: Tensor | None, loss: Tensor) -> Tensor:
    """``total + loss``, or ``loss`` when there is no total yet (no compiled loss)."""
    return loss if total is None else total + loss


def _as_ops_value(array: Any) -> Any:
    """A device array as ``autoconv.ops`` takes values: floats a Tensor, integers a NumPy
    array on the host."""
    if array.dtype.kind == "f":
        return Tensor(array)
    return namespace(array_device(array)).to_numpy(array)


def _own_apply(optimizer: Any) -> bool:
    """Whether ``optimizer``'s class is a user's that overrides ``apply`` (keras.io's gradient
    centralization): ``fit`` then updates through it, as Keras's trainer does."""
    return not type(optimizer).apply.__module__.startswith("autoconv.")


def _warn_missing_gradients(model: Model, params: list[Any]) -> None:
    """Keras's warning for trainable weights the loss does not reach (an output compiled with
    no loss): they keep their values. (A weight frozen since the step's ``params`` were listed
    is no longer trainable, and not named, as in Keras.)"""
    missing = [param for param in params if param.grad is None]
    if missing:
        trainable = {id(weight) for weight in model.trainable_weights}
        names = [param.path for param in missing if id(param) in trainable]
        if names:
            warnings.warn(
                f"Gradients do not exist for variables {names} when minimizing the loss. If "
                "using `model.compile()`, did you forget to provide a `loss` argument?",
                stacklevel=1,
            )


def _nesting(out: Any) -> Any:
    """The structure of a call's (or a step's) outputs (a tuple, a dict, ... with None for
    each tensor), or None for one tensor."""
    return tree.map_structure(lambda _: None, out) if tree.is_nested(out) else None


# What each of Keras's export formats is written with (autoconv writes ONNX itself).
_EXPORTERS = {
    "tf_saved_model": "TensorFlow",
    "openvino": "OpenVINO",
    "litert": "TensorFlow Lite (LiteRT)",
    "torch": "PyTorch's torch.export",
}
