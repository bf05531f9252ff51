"""Keras's ``CompileMetrics`` (keras/src/trainers/compile_utils.py): the one entry that
``model.metrics`` holds for the metrics ``compile`` was given, named "compile_metrics".

It holds each output's metrics and weighted metrics (made at the first batch, for its shapes):
``metrics`` are updated unweighted, ``weighted_metrics`` with the batch's sample weights (and
``class_weight``'s), as Keras's. ``result()`` is a dict of their values by name, an output's
name first where the model has several outputs (``out_mae``), a weighted metric whose name is
taken already as ``weighted_<name>``. The model's own steps update those metrics directly (on
the device, replayed on the GPU); this container is what a ``train_step`` of your own sees in
``self.metrics``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv import tree
from autoconv.metrics import resolve
from autoconv.metrics.base import Metric


class CompileMetrics(Metric):
    """The compiled metrics of a model's outputs, as one metric (Keras's)."""

    def __init__(self, metrics: Any, weighted_metrics: Any, output_names: list[str]) -> None:
        """``metrics`` and ``weighted_metrics`` as ``compile`` was given them (names,
        functions or Metric objects; lists, or dicts by output name); ``output_names``: the
        model's outputs. (Not ``Metric.__init__``, which sets a ``device``: the container's is
        its metrics'.)"""
        check_metrics_argument(metrics, "metrics")
        check_metrics_argument(weighted_metrics, "weighted_metrics")
        self.name = "compile_metrics"
        self.dtype = np.dtype(np.float32)
        self._shapes: dict[str, tuple[int, ...]] = {}  # (the state is its metrics')
        self.given = {"metrics": metrics, "weighted_metrics": weighted_metrics}
        self.output_names = output_names
        self.per_output: list[list[Metric]] = []
        self.weighted_per_output: list[list[Metric]] = []
        self.built = False

    @property
    def device(self) -> str:
        """Where its metrics keep their state (the first one's; "cpu" before they are made)."""
        return self.metrics[0].device if self.metrics else "cpu"

    @property
    def metrics(self) -> list[Metric]:
        """Every output's metrics, then every output's weighted metrics, in order (none
        before they are made), as Keras's."""
        return [metric for made in self.per_output + self.weighted_per_output for metric in made]

    @property
    def variables(self) -> list[Any]:
        return [variable for metric in self.metrics for variable in metric.variables]

    def build(self, y_true: list[Any], y_pred: list[Any]) -> None:
        """Make each output's metrics for its targets and predictions (arrays, Tensors or
        their shapes; 'accuracy' becomes the kind they call for), as Keras's at the first
        batch: a list that is not one entry per output is refused here. An output past those
        the model names (a subclassed model's further output), or past the targets given (to
        a compute_loss of the user's), has none, as Keras's. Built once: a model
        compiled again without metrics keeps these, state and all, as Keras's."""
        if self.built:
            return

        def made(argument: str) -> list[list[Metric]]:
            specs = metrics_of_each_output(self.given[argument], self.output_names, argument)
            return [
                [resolve(spec, y_true[i], p) for spec in (specs[i] if i < len(specs) else [])]
                if i < len(y_true) else []
                for i, p in enumerate(y_pred)
            ]  # fmt: skip

        self.per_output, self.weighted_per_output = made("metrics"), made("weighted_metrics")
        self.built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Update each output's metrics with its targets and predictions (one value, a list
        or a dict by output name), unweighted, and its weighted metrics with
        ``sample_weight`` (one for every output, or one each), as Keras's."""
        y_true, y_pred = self._flat(y_true), self._flat(y_pred)
        if not self.built:
            self.build(y_true, y_pred)
        weights = [None] * len(y_true) if sample_weight is None else self._flat(sample_weight)
        if len(weights) < len(y_true):  # (one for all outputs)
            weights = [weights[0]] * len(y_true)
        for made, weighted, target, predicted, weight in zip(
            self.per_output, self.weighted_per_output, y_true, y_pred, weights, strict=False
        ):
            if target is None:
                continue
            for metric in made:
                metric.update_state(target, predicted)
            for metric in weighted:
                metric.update_state(target, predicted, weight)

    def reset_state(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def result(self) -> dict[str, Any]:
        """Each metric's value by name: the output's name first for a model of several
        named outputs; a name that comes again numbered (``mae_1``), a weighted metric's as
        ``weighted_mae`` (then numbered), as Keras's."""
        if not self.built:
            raise ValueError("Cannot get result() since the metric has not yet been built.")
        results: dict[str, Any] = {}
        seen: dict[str, int] = {}

        def named(name: str, i: int) -> str:  # (a subclassed model's outputs have no names)
            output = self.output_names[i] if len(self.output_names) > 1 else None
            return name if output is None else f"{output}_{name}"

        def numbered(name: str) -> str:
            if name not in seen:
                seen[name] = 1
                return name
            seen[name] += 1
            return f"{name}_{seen[name] - 1}"

        for i, made in enumerate(self.per_output):
            for metric in made:
                results[numbered(named(metric.name, i))] = metric.result()
        for i, made in enumerate(self.weighted_per_output):
            for metric in made:
                name = named(metric.name, i)
                if name in seen:
                    name = numbered(named(f"weighted_{metric.name}", i))
                else:
                    seen[name] = 1
                results[name] = metric.result()
        return results

    def _flat(self, values: Any) -> list[Any]:
        """One value per output: a list's, a dict's by output name (else by sorted key), or
        the one value given."""
        if isinstance(values, dict):
            keys = self.output_names if set(values) == set(self.output_names) else sorted(values)
            return [values[key] for key in keys]
        return list(values) if isinstance(values, list | tuple) else [values]

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError("CompileMetrics is made by compile, not from a config")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        raise NotImplementedError("CompileMetrics is made by compile, not from a config")


def each_metric(metrics: list[Metric]) -> list[Metric]:
    """``metrics`` (a model's) with a :class:`CompileMetrics` replaced by the metrics it
    holds, as Keras's callbacks and ``evaluate`` look through it."""
    return [
        inner
        for metric in metrics
        for inner in (metric.metrics if isinstance(metric, CompileMetrics) else [metric])
    ]


def check_metrics_argument(metrics: Any, argument: str) -> None:
    """compile's ``metrics`` (or ``weighted_metrics``, named by ``argument``) must be None, a
    list, a tuple or a dict: Keras's error, at compile."""
    if metrics and not isinstance(metrics, list | tuple | dict):
        raise ValueError(
            f"Expected `{argument}` argument to be a list, tuple, or dict. Received instead: "
            f"{argument}={metrics!r} of type {type(metrics)}"
        )


def metrics_of_each_output(metrics: Any, names: list[str], argument: str) -> list[list[Any]]:
    """compile's ``metrics`` (or ``weighted_metrics``, named by ``argument``) as each output's
    list, as Keras's CompileMetrics reads them: for a single output, every metric given (a
    list, nested lists flattened, or a dict's values); for several, a list with one entry per
    output (a metric, a list of them, or None) or a dict by output name."""
    if not metrics:
        return [[] for _ in names]
    if len(names) == 1:
        return [[m for m in tree.flatten(metrics) if m is not None]]
    if isinstance(metrics, dict):
        entries = by_output_name(metrics, names, argument)
    elif len(metrics) == len(names):
        entries = list(metrics)
    else:
        raise ValueError(
            f"Invalid `{argument}`: for a model of {len(names)} outputs {names} it should be a "
            f"dict by output name or a list of {len(names)} entries (one per output: a metric, "
            f"a list of them, or None). Received: {argument}={metrics!r}"
        )
    return [[] if m is None else list(m) if isinstance(m, list | tuple) else [m] for m in entries]


def by_output_name(value: dict[str, Any], names: list[str], argument: str) -> list[Any]:
    """A compile argument given as a dict by output name as one entry per output (None where
    it names none); a key that names no output is compile's error, naming ``argument``."""
    unknown = set(value) - set(names)
    if unknown:
        raise ValueError(
            f"compile: {argument} names outputs {sorted(unknown)}, but the model's outputs are "
            f"{names}"
        )
    return [value.get(name) for name in names]
