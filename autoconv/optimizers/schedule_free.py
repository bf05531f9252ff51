"""Keras 3's ``ScheduleFreeAdamW`` (keras/src/optimizers/schedule_free_adamw.py): AdamW without
a learning-rate schedule (Defazio et al. 2024), by interpolation and averaging.

Each variable's value is y, the point its gradient is taken at; its slot ``momentum`` (z,
which starts as a copy of the variable's value) moves by Adam's steps, and the average x of
the z's is kept implicitly: x = (y - (1 - beta_1)*z) / beta_1. At update t (``warmup_steps``
> 0 scales the learning rate by min(t / warmup_steps, 1)):

    v += (g^2 - v)*(1 - beta_2);  z -= lr*g / (sqrt(v / (1 - beta_2^t)) + epsilon)
    x = (1 - 1/t)*x + z/t;  y = (1 - beta_1)*z + beta_1*x

Keras evaluates and saves y (its trainer swaps nothing in for evaluation), and so does autoconv.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autoconv.backends import namespace
from autoconv.optimizers.base import Optimizer, check_number
from autoconv.tensor import Tensor
from autoconv.windows import is_int


class ScheduleFreeAdamW(Optimizer):
    """Schedule-Free AdamW; see the module's docstring for its step."""

    slot_names = ("momentum", "velocity")

    def __init__(
        self,
        learning_rate: Any = 0.0025,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        warmup_steps: int = 0,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
            global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs,
        )  # fmt: skip
        owner = "ScheduleFreeAdamW"
        # beta_1 > 0: the average x is recovered by dividing by it.
        self.beta_1 = check_number(owner, "beta_1", beta_1, 0.0, 1.0, low_open=True)
        self.beta_2 = check_number(owner, "beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.epsilon = check_number(owner, "epsilon", epsilon)
        if not is_int(warmup_steps) or warmup_steps < 0:
            raise ValueError(
                f"{owner}: `warmup_steps` must be an integer >= 0, got {warmup_steps!r}"
            )
        self.warmup_steps = int(warmup_steps)

    def build(self, variables: Sequence[Tensor]) -> None:
        """The base's slots; a new ``momentum`` starts as a copy of its variable (Keras's);
        slots kept from before (a loaded state) are kept as they are."""
        fresh = len(self.slots) != len(variables)
        super().build(variables)
        if fresh:
            for variable, own in zip(self._variables, self.slots, strict=True):
                namespace(variable.device).copy_into(own["momentum"], variable.data)

    def update(self, xp, value, grad, slots, lr, prepare, status):
        t = self.update_iterations + 1
        if self.warmup_steps > 0:
            lr = lr * min(t / self.warmup_steps, 1.0)
        return xp.schedule_free_adamw_update(
            value, grad, slots["momentum"], slots["velocity"], lr, self.beta_1, self.beta_2,
            self.epsilon, t, *prepare, status,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "warmup_steps": self.warmup_steps,
        }
