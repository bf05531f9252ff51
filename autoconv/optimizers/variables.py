"""Keras's ``optimizer.variables``: an optimizer's state as the list of variables Keras's
optimizer of that class makes (keras/src/optimizers/), in its order and with its names. The
one layout of that state: ``optimizer.variables`` reads it, and a Keras file's
``optimizer/vars`` (:mod:`autoconv.saving.h5_state`) is written and read in it.

The order: ``iteration`` (int32), ``learning_rate`` (float32, unless it is a schedule or a
function), then the slots in groups. Each group is one ``add_optimizer_variables`` call of
Keras's, its variables interleaved weight by weight, and the groups follow one another; every
optimizer's base class makes its own first, where it has them: the weights' moving averages
(``use_ema``), then the gradient accumulators. A slot the optimizer does not have (RMSprop's
momentum when momentum is 0) is left out; one a weight does not have (Adafactor's factors of a
vector) is Keras's placeholder there, a scalar 0. Nadam keeps its running product of the
momentum schedule last. A MultiOptimizer's inner optimizers' variables follow its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from autoconv.backends import array_device, namespace
from autoconv.layers.layer import Variable
from autoconv.naming import variable_repr
from autoconv.optimizers.scalar_variables import IterationVariable, LearningRateVariable

BASE_SLOT_GROUPS: tuple[tuple[str, ...], ...] = (("average",), ("gradient_accumulator",))
SLOT_GROUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "SGD": (("momentum",),),
    "RMSprop": (("velocity",), ("momentum",), ("average_gradient",)),
    "Adam": (("m", "v"), ("v_hat",)),
    "AdamW": (("m", "v"), ("v_hat",)),
    "Nadam": (("momentum", "velocity"),),
    "Adamax": (("momentum", "norm"),),
    "Lamb": (("momentum", "velocity"),),
    "Adafactor": (("r", "c", "velocity"),),
    "Adagrad": (("accumulator",),),
    "Adadelta": (("accumulated_grad", "accumulated_delta_var"),),
    "Lion": (("momentum",),),
    "Ftrl": (("accumulator", "linear"),),
    "Muon": (("momentum", "velocity"),),  # (a velocity only where Keras makes one: keeps_slot)
    "ScheduleFreeAdamW": (("momentum", "velocity"),),
    "MultiOptimizer": (),
}

# Keras's names of autoconv's slots where they differ (None: the weight's own name, as Keras
# names Adafactor's factors).
KERAS_SLOT_NAMES: dict[str, dict[str, str | None]] = {
    "Adam": {"m": "momentum", "v": "velocity", "v_hat": "velocity_hat"},
    "AdamW": {"m": "momentum", "v": "velocity", "v_hat": "velocity_hat"},
    "Adafactor": {"r": None, "c": None},
}


def keras_class(optimizer: Any) -> str | None:
    """The name of the nearest class of ``optimizer`` whose layout Keras has (a user's
    subclass of Adam is laid out as Adam), or None."""
    return next((c.__name__ for c in type(optimizer).__mro__ if c.__name__ in SLOT_GROUPS), None)


def slot_groups(optimizer: Any) -> list[tuple[str, ...]]:
    """``optimizer``'s slot groups in Keras's order, each of the slots it has; an optimizer of
    a class Keras has no layout for is one group of its ``slot_names``."""
    name = keras_class(optimizer)
    groups = SLOT_GROUPS[name] if name else (tuple(optimizer.slot_names),)
    names = optimizer.all_slot_names
    return [tuple(n for n in group if n in names) for group in (*BASE_SLOT_GROUPS, *groups)]


def keeps_slot(optimizer: Any, name: str, weight: Any) -> bool:
    """Whether Keras's ``optimizer`` has slot ``name`` of ``weight``: every slot of a group for
    every weight, but Muon's velocity, which only the weights on its AdamW step have
    (autoconv's Muon gives every weight one)."""
    adamw = getattr(optimizer, "_should_use_adamw", None)
    return name != "velocity" or adamw is None or bool(adamw(weight))


class OptimizerVariable:
    """One of Keras's optimizer variables, read-only: ``name``, ``path``, ``shape``, ``dtype``,
    ``trainable`` and ``numpy()`` (its value now, read from its device)."""

    def __init__(
        self, path: str, read: Callable[[], Any], shape: Sequence[int], dtype: Any,
        trainable: bool = False,
    ) -> None:  # fmt: skip
        self.path, self.name, self._read = path, path.rsplit("/", 1)[-1], read
        self.shape, self.dtype, self.trainable = tuple(shape), np.dtype(dtype).name, trainable

    def numpy(self) -> np.ndarray:
        return np.asarray(self._read(), self.dtype)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """``np.asarray(variable)``: its values, as NumPy reads Keras's variables."""
        return self.numpy() if dtype is None else self.numpy().astype(dtype)

    def __repr__(self) -> str:
        return variable_repr(self.path, self.shape, self.dtype, self.numpy())


Variable.register(OptimizerVariable)


def optimizer_variables(optimizer: Any) -> list[Any]:
    """Keras's ``optimizer.variables`` of ``optimizer`` (see the module's docstring); a slot is
    named ``<optimizer name>/<the weight's path, "/" as "_">_<Keras's slot name>``."""
    found: list[Any] = [IterationVariable(optimizer)]
    if not callable(optimizer._learning_rate):
        found.append(LearningRateVariable(optimizer))
    names = KERAS_SLOT_NAMES.get(keras_class(optimizer) or "", {})
    for group in slot_groups(optimizer):
        for weight, slots in zip(optimizer._variables, optimizer.slots, strict=True):
            found += [
                _slot_variable(optimizer, weight, slots, slot, names)
                for slot in group
                if keeps_slot(optimizer, slot, weight)
            ]
    if hasattr(optimizer, "_u_product") and optimizer.built:
        product = lambda: optimizer._u_product(optimizer.update_iterations)  # noqa: E731
        dtype = optimizer._variables[0].dtype  # (Keras's: the first weight's)
        found.append(OptimizerVariable("variable", product, (), dtype, trainable=True))
    return found + [v for inner in getattr(optimizer, "optimizers", ()) for v in inner.variables]


def _slot_variable(
    optimizer: Any, weight: Any, slots: dict[str, Any], slot: str, names: dict[str, str | None]
) -> OptimizerVariable:
    """Keras's variable of ``weight``'s ``slot`` (a scalar 0 where it has none)."""
    name = getattr(weight, "name", None) or "variable"
    if slot not in slots:
        return OptimizerVariable(name, lambda: 0, (), "int32")
    array, keras_name = slots[slot], names.get(slot, slot)
    if keras_name is not None:
        name = f"{(getattr(weight, 'path', None) or name).replace('/', '_')}_{keras_name}"
    read = partial(namespace(array_device(array)).to_numpy, array)
    return OptimizerVariable(f"{optimizer.name}/{name}", read, array.shape, array.dtype)
