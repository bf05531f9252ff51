"""Learning-rate schedules, as Keras 3 defines them
(keras/src/optimizers/schedules/learning_rate_schedule.py).

A schedule is called with the optimizer's step count (``optimizer.iterations``, the number of
updates applied so far) and returns the learning rate of the next update. The optimizer
evaluates it on the host before each step, so it costs no device round-trip. Keras computes in
the dtype of ``initial_learning_rate`` as a tensor (float32); these compute in Python floats
and return the rate as Keras's 0-d float32 tensor is read (``float()``, ``numpy()``,
arithmetic): a 0-d float32 :class:`~autoconv.host_array.HostArray`.

>>> ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)(20)
array(0.025, dtype=float32)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autoconv.host_array import HostArray, host_array
from autoconv.registration import find_class, keras_entry
from autoconv.windows import is_int

__all__ = [
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "deserialize",
    "serialize",
]


class LearningRateSchedule:
    """Base class: subclasses define ``__call__(step) -> learning rate`` and ``get_config``
    (autoconv's own define ``_rate``, the rate at a step as a Python float)."""

    def __call__(self, step: Any) -> HostArray:
        """The learning rate at ``step`` (a number, a 0-d array or tensor, a variable)."""
        return host_array(np.float32(self._rate(float(np.asarray(step)))))

    def _rate(self, step: float) -> float:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` in "
            "order to be serializable."
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        return cls(**config)


def _check_decay_steps(name: str, value: Any, argument: str = "decay_steps") -> None:
    if not value > 0:
        raise ValueError(f"{name}: argument `{argument}` must be > 0. Received: {argument}={value}")


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps); with ``staircase`` the
    exponent is floored."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _check_decay_steps(name, decay_steps)

    def _rate(self, step: float) -> float:
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate**p

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <=
    boundaries[i], values[-1] after boundaries[-1]."""

    def __init__(
        self, boundaries: list[float], values: list[float], name: str = "PiecewiseConstant"
    ) -> None:
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}."
            )
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step: Any) -> HostArray:
        """The value of ``step``'s piece, in the first value's dtype as Keras's: int32 for
        integers (a schedule of anything but a learning rate), else float32."""
        dtype = np.int32 if is_int(self.values[0]) else np.float32
        return host_array(dtype(self._rate(float(np.asarray(step)))))

    def _rate(self, step: float) -> float:
        for boundary, value in zip(self.boundaries, self.values, strict=False):
            if step <= boundary:
                return float(value)
        return float(self.values[-1])

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(initial - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end; with
    ``cycle``, decay_steps grows to the first multiple of itself not below step."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name
        _check_decay_steps(name, decay_steps)

    def _rate(self, step: float) -> float:
        decay_steps = float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / self.decay_steps)
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * (
            1 - p
        ) ** self.power + self.end_learning_rate

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(LearningRateSchedule):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps); with ``staircase``,
    step / decay_steps is floored."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name
        _check_decay_steps(name, decay_steps)

    def _rate(self, step: float) -> float:
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1 + self.decay_rate * p)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Cosine decay from the initial rate (or, with ``warmup_target``, after a linear warmup
    from the initial rate to warmup_target over ``warmup_steps``) down to ``alpha`` times it
    over ``decay_steps``: lr * ((1 - alpha) * 0.5 * (1 + cos(pi * step / decay_steps)) + alpha)."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target
        _check_decay_steps(name, decay_steps)

    def _decay(self, step: float, decay_from: float) -> float:
        cosine_decayed = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return decay_from * ((1 - self.alpha) * cosine_decayed + self.alpha)

    def _rate(self, step: float) -> float:
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            completed_fraction = step / self.warmup_steps
            total_step_delta = self.warmup_target - self.initial_learning_rate
            return total_step_delta * completed_fraction + self.initial_learning_rate
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay from 1 to ``alpha`` (times the initial rate) over ``first_decay_steps``,
    then warm restarts: period i lasts t_mul**i times longer and starts at m_mul**i."""

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name
        _check_decay_steps(name, first_decay_steps, "first_decay_steps")

    def _rate(self, step: float) -> float:
        completed_fraction = step / self.first_decay_steps
        t_mul = self._t_mul
        if t_mul == 1.0:
            i_restart = math.floor(completed_fraction)
            completed_fraction -= i_restart
        else:
            i_restart = math.floor(
                math.log(1.0 - completed_fraction * (1.0 - t_mul)) / math.log(t_mul)
            )
            sum_r = (1.0 - t_mul**i_restart) / (1.0 - t_mul)
            completed_fraction = (completed_fraction - sum_r) / t_mul**i_restart
        m_fac = self._m_mul**i_restart
        cosine_decayed = 0.5 * m_fac * (1.0 + math.cos(math.pi * completed_fraction))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine_decayed + self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self._t_mul,
            "m_mul": self._m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


SCHEDULES: dict[str, type[LearningRateSchedule]] = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        InverseTimeDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(learning_rate_schedule: LearningRateSchedule) -> dict[str, Any]:
    """The schedule as a JSON-compatible dict, in the layout Keras writes: a user's subclass
    under its Python module (None for ``__main__``) and registered name, as Keras's."""
    return keras_entry(learning_rate_schedule, "keras.optimizers.schedules", SCHEDULES)


def deserialize(
    config: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> LearningRateSchedule:
    """A schedule from ``{'class_name': ..., 'config': {...}}`` (what :func:`serialize` or
    Keras writes); a user's subclass is found by its registered name or class name (registered,
    in a ``custom_object_scope``, or in ``custom_objects``) before Keras's own."""
    cls = find_class(config, SCHEDULES, LearningRateSchedule, custom_objects)
    if cls is None:
        known = SCHEDULES | (custom_objects or {})
        raise ValueError(
            f"unknown learning rate schedule {config.get('class_name')!r}; expected one of "
            f"{', '.join(known)} (or pass custom_objects)"
        )
    return cls.from_config(dict(config.get("config", {})))
