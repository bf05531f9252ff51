"""Keras's ``CompileMetrics`` (keras/src/trainers/compile_utils.py): the one entry that
``model.metrics`` holds for the metrics ``compile`` was given, named "compile_metrics".

It holds each output's metrics (made at the first batch, for its shapes); ``result()`` is a
dict of their values by name, an output's name first where the model has several outputs
(``out_mae``). The model's own steps update those metrics directly (on the device, replayed on
the GPU); this container is what a ``train_step`` of your own sees in ``self.metrics``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.metrics import resolve
from autoconv.metrics.base import Metric


class CompileMetrics(Metric):
    """The compiled metrics of a model's outputs, as one metric (Keras's)."""

    def __init__(self, specs: list[list[Any]], output_names: list[str]) -> None:
        """``specs``: each output's metrics as ``compile`` was given them (names, functions or
        Metric objects); ``output_names``: the model's outputs. (Not ``Metric.__init__``,
        which sets a ``device``: the container's is its metrics'.)"""
        self.name = "compile_metrics"
        self.dtype = np.dtype(np.float32)
        self._shapes: dict[str, tuple[int, ...]] = {}  # (the state is its metrics')
        self.specs = specs
        self.output_names = output_names
        self.per_output: list[list[Metric]] = []
        self.built = False

    @property
    def device(self) -> str:
        """Where its metrics keep their state (the first one's; "cpu" before they are made)."""
        return self.metrics[0].device if self.metrics else "cpu"

    @property
    def metrics(self) -> list[Metric]:
        """Every output's metrics, in order (none before they are made)."""
        return [metric for made in self.per_output for metric in made]

    @property
    def variables(self) -> list[Any]:
        return [variable for metric in self.metrics for variable in metric.variables]

    def build(self, y_true: list[Any], y_pred: list[Any]) -> None:
        """Make each output's metrics for its targets and predictions (arrays, Tensors or
        their shapes; 'accuracy' becomes the kind they call for). An output past those
        ``compile`` named (a subclassed model's further output) has none."""
        self.per_output = [
            [resolve(spec, y, p) for spec in (self.specs[i] if i < len(self.specs) else [])]
            for i, (y, p) in enumerate(zip(y_true, y_pred, strict=True))
        ]
        self.built = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Update each output's metrics with its targets and predictions (one value, a list
        or a dict by output name), unweighted: ``sample_weight`` weighs Keras's
        ``weighted_metrics`` only, which autoconv does not have."""
        y_true, y_pred = self._flat(y_true), self._flat(y_pred)
        if not self.built:
            self.build(y_true, y_pred)
        for made, target, predicted in zip(self.per_output, y_true, y_pred, strict=False):
            for metric in made if target is not None else []:
                metric.update_state(target, predicted)

    def reset_state(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def result(self) -> dict[str, Any]:
        """Each metric's value by name: the output's name first for a model of several
        outputs, and a name that comes again numbered (``mae_1``), as Keras's."""
        if not self.built:
            raise ValueError("Cannot get result() since the metric has not yet been built.")
        results: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for i, made in enumerate(self.per_output):
            for metric in made:
                name = metric.name
                if len(self.output_names) > 1:
                    name = f"{self.output_names[i]}_{name}"
                if name in seen:
                    seen[name] += 1
                    name = f"{name}_{seen[name] - 1}"
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
