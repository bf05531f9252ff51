"""Optimizers with Keras 3's defaults and update rules.

``opt.step(params)`` updates each Tensor in place from its ``.grad``; its per-parameter state
(momentum, velocity, ...) lives in ``opt.slots``, in the order of ``params``, so a model can
save and restore it. Each update is one fused pass per parameter, a kernel of the parameters'
device (``sgd_update``, ``rmsprop_update``, ``adam_update`` in :mod:`autoconv.backends`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from autoconv.backends import namespace
from autoconv.tensor import Tensor


class Optimizer:
    """Base class: learning rate, step counter and per-parameter slot arrays."""

    name: ClassVar[str] = "optimizer"
    slot_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, learning_rate: float) -> None:
        if not learning_rate > 0:
            raise ValueError(f"{self.name}: learning_rate must be positive, got {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        self.slots: list[dict[str, Any]] = []

    def _ensure_slots(self, params: list[Tensor]) -> None:
        if len(self.slots) != len(params):
            self.slots = [
                {n: namespace(p.device).zeros_like(p.data) for n in self.slot_names} for p in params
            ]

    def step(self, params: list[Tensor], status: Any = None) -> None:
        """Apply one update to every parameter that has a gradient.

        ``status`` (from the backend's ``new_status``, set by ``check_finite``) lets a training
        loop skip the update on the device once a loss or gradient went non-finite."""
        if not params:
            return
        xp = namespace(params[0].device)
        status = xp.new_status() if status is None else status
        self._ensure_slots(params)
        for param, slots in zip(params, self.slots, strict=True):
            if param.grad is not None:
                self.update(xp, param.data, param.grad, slots, status)
        self.iterations += 1

    def zero_grad(self, params: list[Tensor]) -> None:
        for param in params:
            param.grad = None

    def update(self, xp: Any, value: Any, grad: Any, slots: dict[str, Any], status: Any) -> None:
        """Update ``value`` in place with the backend ``xp``'s fused kernel."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate}


class SGD(Optimizer):
    """v <- momentum*v - lr*g; w <- w + v (nesterov: w + momentum*v - lr*g); plain w -= lr*g."""

    name = "sgd"

    def __init__(
        self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False
    ) -> None:
        super().__init__(learning_rate)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"sgd: momentum must be in [0, 1], got {momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def update(self, xp, value, grad, slots, status):
        velocity = slots.get("momentum")
        xp.sgd_update(
            value, grad, velocity, self.learning_rate, self.momentum, self.nesterov, status
        )

    def get_config(self):
        return super().get_config() | {"momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """v <- rho*v + (1-rho)*g^2; step = lr*g / sqrt(v + eps); with momentum m <- mom*m + step."""

    name = "rmsprop"

    def __init__(
        self,
        learning_rate: float = 1e-3,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
    ) -> None:
        super().__init__(learning_rate)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.slot_names = ("velocity", "momentum") if self.momentum else ("velocity",)

    def update(self, xp, value, grad, slots, status):
        xp.rmsprop_update(
            value, grad, slots["velocity"], slots.get("momentum"), self.learning_rate,
            self.rho, self.momentum, self.epsilon, status,
        )  # fmt: skip

    def get_config(self):
        return super().get_config() | {
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
        }


class Adam(Optimizer):
    """Keras's Adam: alpha = lr*sqrt(1-b2^t)/(1-b1^t); w -= alpha*m / (sqrt(v) + eps)."""

    name = "adam"
    slot_names = ("m", "v")

    def __init__(
        self,
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def step(self, params: list[Tensor], status: Any = None) -> None:
        t = self.iterations + 1
        self._alpha = self.learning_rate * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        super().step(params, status)

    def update(self, xp, value, grad, slots, status):
        xp.adam_update(
            value, grad, slots["m"], slots["v"], self._alpha, self.beta_1, self.beta_2,
            self.epsilon, status,
        )  # fmt: skip

    def get_config(self):
        return super().get_config() | {
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(optimizer: str | Optimizer, **kwargs: Any) -> Optimizer:
    """An optimizer from a name (with keyword arguments) or an instance."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    key = str(optimizer).lower()
    if key not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZERS)}"
        )
    return OPTIMIZERS[key](**kwargs)
