"""Keras 3's ``OptimizerMap`` and ``MultiOptimizer`` (keras/src/optimizers/multi_optimizer.py):
different optimizers for different variables of one model.

An :class:`OptimizerMap` gives a variable the optimizer of the key its ``path`` is (an exact
key first, else the one key that ``re.fullmatch``-es it as a regular expression), else its
default optimizer. A :class:`MultiOptimizer` asks its map (or any function of a variable) for
each variable's optimizer when it is built, and then steps every inner optimizer on its own
variables: each keeps its own slots, ``iterations``, learning rate or schedule, clipping (over
its own gradients: ``global_clipnorm`` too), weight decay, moving averages and gradient
accumulation, as Keras's does. Its inner optimizers are in Keras's order (:attr:`optimizers`):
the map's values, its default, then those a function gave, each once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any

from autoconv import naming, registration
from autoconv.optimizers.base import Optimizer, check_count
from autoconv.optimizers.scalar_variables import IterationVariable
from autoconv.tensor import Tensor


def _check_inner(optimizer: Any, what: str) -> None:
    """A ValueError unless ``optimizer`` can be an inner optimizer (Keras's messages)."""
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"{what} must be a Keras Optimizer instance. Received: {optimizer}")
    if isinstance(optimizer, MultiOptimizer):
        raise ValueError(f"{what} cannot be MultiOptimizer.")


class OptimizerMap(MutableMapping):
    """A mapping of variable paths (or regular expressions over them) to optimizers, with
    ``default_optimizer`` for any variable no key matches. ``optimizer_map[key]`` is the
    optimizer of an exact key, else of the one key that fully matches ``key`` (a ValueError if
    several do), else the default; ``optimizer_map(variable)`` is that of ``variable.path``."""

    def __init__(
        self, default_optimizer: Optimizer, optimizer_map: dict[str, Optimizer] | None = None
    ) -> None:
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(
                "default_optimizer must be a Keras Optimizer instance. "
                f"Received: {default_optimizer}"
            )
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"optimizer_map must be a dictionary. Received: {optimizer_map}")
        _check_inner(default_optimizer, "default_optimizer")
        self._default_optimizer = default_optimizer
        self._optimizer_map: dict[str, Optimizer] = {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    @property
    def default_optimizer(self) -> Optimizer:
        return self._default_optimizer

    def __getitem__(self, key: str) -> Optimizer:
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [pattern for pattern in self._optimizer_map if re.fullmatch(pattern, key)]
        if len(matching) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {key}.")
        return self._optimizer_map[matching[0]] if matching else self._default_optimizer

    def __setitem__(self, key: str, optimizer: Optimizer) -> None:
        if key in self._optimizer_map:
            raise ValueError(
                f"'{key}' already exists in the OptimizerMap with value "
                f"{self._optimizer_map[key]}. Please make sure to not use duplicated keys."
            )
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key}")
        try:
            re.compile(key)
        except re.error as error:
            raise ValueError(f"key {key!r} is not a regular expression: {error}") from None
        _check_inner(optimizer, "optimizer")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key: str) -> None:
        del self._optimizer_map[key]

    def __len__(self) -> int:
        return len(self._optimizer_map)

    def __iter__(self) -> Iterator[str]:
        return iter(self._optimizer_map)

    def __call__(self, variable: Tensor) -> Optimizer:
        path = getattr(variable, "path", None)
        if path is None:
            raise ValueError(
                f"OptimizerMap: a variable of shape {variable.shape} has no path to match; "
                "it maps a layer's weights (autoconv.Variable), by their paths"
            )
        return self[path]

    def get_config(self) -> dict[str, Any]:
        from autoconv import optimizers

        return {
            "default_optimizer": optimizers.serialize(self._default_optimizer),
            "optimizer_map": {k: optimizers.serialize(v) for k, v in self._optimizer_map.items()},
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> OptimizerMap:
        from autoconv import optimizers

        return cls(
            optimizers.deserialize(config["default_optimizer"], custom_objects),
            {
                key: optimizers.deserialize(entry, custom_objects)
                for key, entry in (config.get("optimizer_map") or {}).items()
            },
        )


class MultiOptimizer(Optimizer):
    """Steps each variable with the optimizer ``optimizer_map`` gives it: an
    :class:`OptimizerMap`, or a function of a variable returning an optimizer (called once per
    variable, when the optimizer is built).

    ``iterations`` counts this optimizer's steps; each inner optimizer counts its own (a step
    counts for those with variables among the step's). Setting ``iterations`` (the training
    loop counts a replayed step and takes back skipped ones) moves each inner optimizer that
    has variables by as many steps. ``slots`` is every variable's slots, from its optimizer,
    in the order the optimizer was built with. As in Keras, it has no learning rate of its
    own: ``learning_rate`` raises an AttributeError (set each of :attr:`optimizers`')."""

    def __init__(
        self,
        optimizer_map: OptimizerMap | Callable[[Tensor], Optimizer],
        loss_scale_factor: float | None = None,
        name: str | None = None,
    ) -> None:
        if not callable(optimizer_map):
            raise ValueError(
                "optimizer_map must be an OptimizerMap or a function that returns an "
                f"optimizer for a given variable. Received: {optimizer_map}"
            )
        self._optimizer_map = optimizer_map
        self._inner_optimizers: list[Optimizer] = []
        self._groups: list[list[int]] = []  # each inner optimizer's variables, by position
        # (set before the base's constructor, which sets ``iterations`` and ``slots``)
        self._iterations, self._variables = 0, []
        super().__init__(
            0.0,  # Keras's learning rate of a MultiOptimizer, never used
            loss_scale_factor=loss_scale_factor,
            name=naming.unique_name("multi_optimizer") if name is None else name,
        )
        if isinstance(optimizer_map, OptimizerMap):
            for optimizer in (*optimizer_map.values(), optimizer_map.default_optimizer):
                self._add(optimizer)

    def _add(self, optimizer: Optimizer) -> None:
        if not any(optimizer is inner for inner in self._inner_optimizers):
            self._inner_optimizers.append(optimizer)
            self._groups.append([])

    @property
    def optimizers(self) -> list[Optimizer]:
        """The inner optimizers, in Keras's order (see the module)."""
        return self._inner_optimizers

    # ------------------------------------------------------- what the base keeps apart
    @property
    def learning_rate(self) -> float:
        raise AttributeError(
            "Learning rate cannot be accessed on a MultiOptimizer. "
            "Access the learning rate on the individual sub-optimizers instead."
        )

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if self._learning_rate is not None:  # (the base's constructor sets Keras's 0.0 once)
            raise AttributeError(
                "Learning rate cannot be set on a MultiOptimizer. "
                "Set the learning rate on the individual sub-optimizers instead."
            )
        self._learning_rate = value

    @property
    def iterations(self) -> IterationVariable:
        return IterationVariable(self)

    @iterations.setter
    def iterations(self, value: Any) -> None:
        value = check_count(type(self).__name__, "iterations", value)
        for inner, group in zip(self._inner_optimizers, self._groups, strict=True):
            if group:
                inner.iterations = inner._iterations + value - self._iterations
        self._iterations = value

    @property
    def slots(self) -> list[dict[str, Any]]:
        every: list[dict[str, Any]] = [{} for _ in self._variables]
        for inner, group in zip(self._inner_optimizers, self._groups, strict=True):
            for i, own in zip(group, inner.slots, strict=True):
                every[i] = own
        return every

    @slots.setter
    def slots(self, value: Sequence[dict[str, Any]]) -> None:
        value = list(value)
        if len(value) != len(self._variables):
            raise ValueError(
                f"MultiOptimizer: slots for {len(value)} variables; it is built for "
                f"{len(self._variables)}"
            )
        for inner, group in zip(self._inner_optimizers, self._groups, strict=True):
            if group:
                inner.slots = [value[i] for i in group]
                inner.build([self._variables[i] for i in group])  # (keeps and checks them)

    # ------------------------------------------------------------------ variables
    def build(self, variables: Sequence[Tensor]) -> None:
        """Give each variable its optimizer (see :meth:`partition`) and build every inner
        optimizer on its own variables."""
        variables = list(variables)
        position = {id(v): i for i, v in enumerate(variables)}
        groups = []
        for inner, own in self.partition(variables):
            if own:
                inner.build(own)
            groups.append([position[id(v)] for v in own])
        self._variables, self._groups, self._index = variables, groups, position

    def partition(self, variables: Sequence[Tensor]) -> list[tuple[Optimizer, list[Tensor]]]:
        """``(inner optimizer, its variables)`` for every inner optimizer, in
        :attr:`optimizers`' order (one a function gives joins it), each variable with the
        optimizer the map gives it: a ValueError for one it gives none."""
        chosen = [self._optimizer_of(variable) for variable in variables]
        for optimizer in chosen:
            self._add(optimizer)
        return [
            (
                inner,
                [v for v, optimizer in zip(variables, chosen, strict=True) if optimizer is inner],
            )
            for inner in self._inner_optimizers
        ]

    def _optimizer_of(self, variable: Tensor) -> Optimizer:
        optimizer = self._optimizer_map(variable)
        what = getattr(variable, "path", f"of shape {variable.shape}")
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"Optimizer for variable {what} is not an Optimizer instance.")
        if isinstance(optimizer, MultiOptimizer):
            raise ValueError("MultiOptimizer cannot be used inside an MultiOptimizer.")
        return optimizer

    def _split(self, variables: Sequence[Tensor], *alongside: Sequence[Any]) -> Iterator[tuple]:
        """``(inner optimizer, its variables, their items of each of alongside)`` for every
        inner optimizer with some of ``variables`` (known ones), in :attr:`optimizers`' order."""
        owner = {i: k for k, group in enumerate(self._groups) for i in group}
        places = [owner[self._index[id(v)]] for v in variables]
        for k, inner in enumerate(self._inner_optimizers):
            picked = [j for j, place in enumerate(places) if place == k]
            if picked:
                yield inner, *([items[j] for j in picked] for items in (variables, *alongside))

    # ---------------------------------------------------------------------- steps
    def apply(
        self, grads: Sequence[Any], trainable_variables: Sequence[Tensor] | None = None
    ) -> None:
        """Keras's ``apply``: one gradient per variable the optimizer is built with (None
        where one has none), each inner optimizer applying its own."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None and not self.built:
            raise ValueError(
                "When passing `grads` without `variables`, the optimizer must already be built "
                "on a list of variables. Call `optimizer.build(trainable_variables)` first."
            )
        variables = self._variables if trainable_variables is None else list(trainable_variables)
        self._check_known(variables)
        if len(grads) != len(variables) or len(grads) != len(self._variables):
            raise ValueError(
                "Gradients must match trainable variables one-to-one. Received "
                f"{len(grads)} gradients and {len(self._variables)} variables."
            )
        for inner, own, own_grads in self._split(variables, grads):
            inner.apply(own_grads, own)
        self._iterations += 1

    def step(self, params: Sequence[Tensor], status: Any = None) -> None:
        """Each inner optimizer's :meth:`~Optimizer.step` on its own parameters."""
        if not params:
            return
        self._check_known(params)
        for inner, own in self._split(params):
            inner.step(own, status)
        self._iterations += 1

    def step_kind(self) -> tuple:
        return tuple(inner.step_kind() for inner in self._inner_optimizers)

    def finalize_variable_values(self, var_list: Sequence[Tensor]) -> None:
        if self.built:
            self._check_known(var_list)
            for inner, own in self._split(var_list):
                inner.finalize_variable_values(own)

    def swap_moving_averages(self, reset: bool = False) -> None:
        """:meth:`Optimizer.swap_moving_averages` of each inner optimizer with ``use_ema``."""
        averaging = [inner for inner in self._inner_optimizers if inner.use_ema]
        if not averaging:
            raise ValueError(
                "SwapEMAWeights must be used when at least one inner optimizer has "
                "`use_ema=True` set. Received a MultiOptimizer with all inner optimizers "
                "having `use_ema=False`."
            )
        for inner in averaging:
            if inner.built:
                inner.swap_moving_averages(reset)

    # --------------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        return {
            "optimizer_map": _serialize_map(self._optimizer_map),
            "loss_scale_factor": self.loss_scale_factor,
            "name": self.name,
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> MultiOptimizer:
        config = dict(config)
        config["optimizer_map"] = _deserialize_map(config.get("optimizer_map"), custom_objects)
        return cls(**config)


def _serialize_map(optimizer_map: Any) -> dict[str, Any]:
    """Keras's entry of a MultiOptimizer's map: an OptimizerMap's, or a named function's."""
    if isinstance(optimizer_map, OptimizerMap):
        return registration.keras_entry(
            optimizer_map, "keras.optimizers", {"OptimizerMap": OptimizerMap}
        )
    if getattr(optimizer_map, "__name__", "<lambda>") == "<lambda>":
        raise ValueError(
            f"MultiOptimizer: its optimizer_map {optimizer_map!r} cannot be serialized: use an "
            "OptimizerMap or a named (registered) function"
        )
    name = registration.get_registered_name(optimizer_map)
    return {
        "module": optimizer_map.__module__,
        "class_name": "function",
        "config": name,
        "registered_name": name,
    }


def _deserialize_map(entry: Any, custom_objects: dict[str, Any] | None) -> Any:
    """The map a :func:`_serialize_map` entry describes (a function found by its registered
    name or in ``custom_objects``)."""
    kind = entry.get("class_name") if isinstance(entry, dict) else None
    if kind == "OptimizerMap" and isinstance(entry.get("config"), dict):
        return OptimizerMap.from_config(entry["config"], custom_objects)
    if kind == "function":
        name = entry.get("registered_name") or entry.get("config")
        found = registration.get_registered_object(name, custom_objects)
        if callable(found):
            return found
        raise ValueError(f"MultiOptimizer: could not locate its optimizer_map function {name!r}")
    raise ValueError(
        f"MultiOptimizer: optimizer_map must be an OptimizerMap's entry, got {entry!r}"
    )
