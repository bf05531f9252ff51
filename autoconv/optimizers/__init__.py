"""Optimizers with Keras 3's names, arguments, defaults and update rules, and learning-rate
schedules (:mod:`autoconv.optimizers.schedules`).

``opt.step(params)`` (the training loop) or Keras's ``opt.apply_gradients(zip(grads, params))``
updates each Tensor in place; the per-parameter state (momentum, velocity, ...) lives in
``opt.slots``, in the order of the parameters, so a model can save and restore it. Each update
is one fused pass per parameter, a kernel of the parameters' device (``sgd_update``,
``adam_update``, ... in :mod:`autoconv.backends`). See :mod:`autoconv.optimizers.base` for the
order of clipping, weight decay and update, and for skipped steps.

>>> import autoconv as ac
>>> w = ac.Tensor([1.0, 2.0])
>>> opt = ac.optimizers.get("SGD", learning_rate=0.5)
>>> opt.apply_gradients([([1.0, -1.0], w)])
1
>>> w.numpy()
array([0.5, 2.5], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from autoconv import registration
from autoconv.optimizers import schedules
from autoconv.optimizers.algorithms import (
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Ftrl,
    Lamb,
    Lion,
    Nadam,
    RMSprop,
)
from autoconv.optimizers.base import Optimizer
from autoconv.optimizers.multi_optimizer import MultiOptimizer, OptimizerMap
from autoconv.optimizers.muon import Muon
from autoconv.optimizers.schedule_free import ScheduleFreeAdamW

__all__ = [
    "OPTIMIZERS", "SGD", "WRAPPERS", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW",
    "Adamax", "Ftrl", "Lamb", "Lion", "MultiOptimizer", "Muon", "Nadam", "Optimizer",
    "OptimizerMap", "RMSprop", "ScheduleFreeAdamW", "deserialize", "get", "schedules", "serialize",
]  # fmt: skip

# Every optimizer by its lowercase class name (``get`` ignores case, as Keras's does).
OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls
    for cls in (
        SGD,
        RMSprop,
        Adam,
        AdamW,
        Nadam,
        Adamax,
        Lamb,
        Adafactor,
        Adagrad,
        Adadelta,
        Lion,
        Ftrl,
        Muon,
        ScheduleFreeAdamW,
    )
}
# Optimizers over other optimizers: read and written by name, never made from a name alone.
WRAPPERS: dict[str, type[Optimizer]] = {"multioptimizer": MultiOptimizer}


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """The optimizer's configuration as a JSON-compatible dict, in the layout Keras writes."""
    own = {cls.__name__: cls for cls in (*OPTIMIZERS.values(), *WRAPPERS.values())}
    return registration.keras_entry(optimizer, "keras.optimizers", own)


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Optimizer:
    """An optimizer from ``{'class_name': ..., 'config': {...}}`` (the class name in any
    case); ``custom_objects`` maps names to user-defined optimizer classes or schedules."""
    name = config.get("class_name")
    cls = None
    if isinstance(name, str):
        cls = (
            registration.find_class(config, {}, Optimizer, custom_objects)
            or OPTIMIZERS.get(name.lower())
            or WRAPPERS.get(name.lower())
        )
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    arguments = config.get("config", {})
    if not isinstance(arguments, dict):
        raise ValueError(f"the config of optimizer {name!r} must be a dict, got {arguments!r}")
    return cls.from_config(arguments, custom_objects)


def get(identifier: Any, **kwargs: Any) -> Optimizer | None:
    """An optimizer from a name in any case ("adam", "Adam", "RMSprop"), with keyword
    arguments for its constructor (or its ``get_config()``), from a serialized dict, or an
    instance as it is; None gives None."""
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer) and not kwargs:
        return identifier
    if isinstance(identifier, dict) and not kwargs:
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": kwargs})
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
