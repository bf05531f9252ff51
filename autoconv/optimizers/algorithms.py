"""The optimizers, with Keras 3's arguments, defaults and update rules
(keras/src/optimizers/<name>.py). Each one checks its arguments, names its slots and calls its
backend kernel; the per-element rules are in :mod:`autoconv.backends.rules`. Scalars that
depend on the step (bias corrections) are computed here on the host from the updates done
(``update_iterations``: ``iterations``, unless gradients accumulate), in Python floats; Keras
computes them in the variable's dtype.

Every optimizer also takes the base arguments of :class:`~autoconv.optimizers.base.Optimizer`
(``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``name``, ...).
"""

from __future__ import annotations

import math
from typing import Any

from autoconv.optimizers.base import Optimizer, check_number


class SGD(Optimizer):
    """Gradient descent: w -= lr*g; with momentum v = momentum*v - lr*g, w += v (Nesterov:
    w += momentum*v - lr*g)."""

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs
        )
        self.momentum = check_number("SGD", "momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum != 0 else ()

    def update(self, xp, value, grad, slots, lr, prepare, status):
        return xp.sgd_update(
            value, grad, slots.get("momentum"), lr, self.momentum, self.nesterov, *prepare, status
        )

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """v = rho*v + (1-rho)*g^2; w -= lr*g / sqrt(v + eps). ``centered``: divide by
    sqrt(v - a^2 + eps) with a = rho*a + (1-rho)*g; ``momentum`` > 0: m = momentum*m + step,
    w -= m."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs
        )
        self.rho = check_number("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = check_number("RMSprop", "momentum", momentum, 0.0, 1.0)
        self.epsilon = check_number("RMSprop", "epsilon", epsilon)
        self.centered = bool(centered)
        self.slot_names = (
            ("velocity",)
            + (("momentum",) if self.momentum > 0 else ())
            + (("average_gradient",) if self.centered else ())
        )

    def update(self, xp, value, grad, slots, lr, prepare, status):
        return xp.rmsprop_update(
            value, grad, slots["velocity"], slots.get("momentum"), slots.get("average_gradient"),
            lr, self.rho, self.momentum, self.epsilon, *prepare, status,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


def _check_betas(owner: str, beta_1: float, beta_2: float) -> tuple[float, float]:
    return (
        check_number(owner, "beta_1", beta_1, 0.0, 1.0, high_open=True),
        check_number(owner, "beta_2", beta_2, 0.0, 1.0, high_open=True),
    )


class Adam(Optimizer):
    """m += (g - m)*(1-beta_1); v += (g^2 - v)*(1-beta_2); w -= alpha*m / (sqrt(v) + eps) with
    alpha = lr*sqrt(1 - beta_2^t)/(1 - beta_1^t) at update t = update_iterations + 1 (epsilon
    is the paper's "epsilon hat"). ``amsgrad``: v_hat = max(v_hat, v) in place of v."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs
        )
        owner = type(self).__name__
        self.beta_1, self.beta_2 = _check_betas(owner, beta_1, beta_2)
        self.epsilon = check_number(owner, "epsilon", epsilon)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("m", "v", "v_hat") if self.amsgrad else ("m", "v")

    def update(self, xp, value, grad, slots, lr, prepare, status):
        t = self.update_iterations + 1
        alpha = lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        return xp.adam_update(
            value, grad, slots["m"], slots["v"], slots.get("v_hat"), alpha, self.beta_1,
            self.beta_2, self.epsilon, *prepare, status,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (``weight_decay`` defaults to 0.004): before each
    update w -= w * weight_decay * lr."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if weight_decay is None:
            raise ValueError("AdamW: argument `weight_decay` must be a float. Received: None")
        super().__init__(
            learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue,
            global_clipnorm, name=name, **kwargs,
        )  # fmt: skip


class Lamb(Optimizer):
    """LAMB (You et al. 2019), as Keras: m and v as Adam's, the step's direction
    r = (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + eps), scaled per parameter by its
    trust ratio |w| / |r| (L2 norms; 1 where either is 0): w -= lr * ratio * r."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs
        )
        self.beta_1, self.beta_2 = _check_betas("Lamb", beta_1, beta_2)
        self.epsilon = check_number("Lamb", "epsilon", epsilon)
        self.slot_names = ("momentum", "velocity")

    def update(self, xp, value, grad, slots, lr, prepare, status):
        return xp.lamb_update(
            value, grad, slots["momentum"], slots["velocity"], self._work_arrays(value),
            self.beta_1, self.beta_2, self.epsilon, self.update_iterations + 1, *prepare, status,
        )  # fmt: skip

    def _finish_update(
        self, xp: Any, values: list[Any], slots: dict[str, list[Any]], status: Any
    ) -> None:
        """The step: each parameter's direction scaled by its trust ratio, times the learning
        rate (computed anew by a replayed step)."""
        directions = self._work_arrays(values)
        xp.apply_update(
            "sgd", values, directions, [None, None, None],
            lambda: ((self.learning_rate_value(), 0.0, 0.0), [0.0] * len(values)),
            xp.trust_ratios(values, directions), 0.0, status,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class Adafactor(Optimizer):
    """Adafactor (Shazeer and Stern 2018), as Keras: with regulated = g^2 + epsilon_1 and
    beta = 1 - t^beta_2_decay at step t, a variable of rank >= 2 keeps its second moment
    factored over its last two dimensions, r = beta*r + (1-beta)*mean(regulated, -1) and
    c = beta*c + (1-beta)*mean(regulated, -2), v = r / mean(r, -1) (outer) c; one of rank < 2
    keeps v = beta*v + (1-beta)*regulated. Then u = g / sqrt(v), clipped to an RMS of at most
    ``clip_threshold``: w -= max(epsilon_2, rms(w)) * min(lr, 1/sqrt(t)) * u / max(1,
    rms(u)/clip_threshold). Slots: r (shape[:-1]) and c (shape[:-2] + shape[-1:]) for rank
    >= 2 only, velocity (the variable's shape)."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_2_decay: float = -0.8,
        epsilon_1: float = 1e-30,
        epsilon_2: float = 1e-3,
        clip_threshold: float = 1.0,
        relative_step: bool = True,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs
        )
        self.beta_2_decay = check_number("Adafactor", "beta_2_decay", beta_2_decay, -math.inf)
        self.epsilon_1 = check_number("Adafactor", "epsilon_1", epsilon_1)
        self.epsilon_2 = check_number("Adafactor", "epsilon_2", epsilon_2)
        self.clip_threshold = check_number(
            "Adafactor", "clip_threshold", clip_threshold, low_open=True
        )
        self.relative_step = bool(relative_step)
        self.slot_names = ("r", "c", "velocity")

    def slot_shape(self, name: str, shape: tuple[int, ...]) -> tuple[int, ...] | None:
        if name == "r":
            return shape[:-1] if len(shape) >= 2 else None
        if name == "c":
            return shape[:-2] + shape[-1:] if len(shape) >= 2 else None
        return shape

    def update(self, xp, value, grad, slots, lr, prepare, status):
        return xp.adafactor_update(value, grad, self._work_arrays(value), *prepare, status)

    def _finish_update(
        self, xp: Any, values: list[Any], slots: dict[str, list[Any]], status: Any
    ) -> None:
        """The second moments and each parameter's step size (``adafactor_factors``), then the
        step; the scalars of both computed anew by a replayed step."""
        gradients = self._work_arrays(values)
        ratios = xp.adafactor_factors(
            values, gradients, slots["r"], slots["c"], slots["velocity"], self._factor_scalars,
            status,
        )  # fmt: skip
        xp.apply_update(
            "sgd", values, gradients, [None, None, None],
            lambda: ((self._relative_rate(), 0.0, 0.0), [0.0] * len(values)), ratios, 0.0,
            status,
        )  # fmt: skip

    def _factor_scalars(self) -> tuple[float, float, float, float, float]:
        """(beta, 1 - beta, epsilon_1, epsilon_2, clip_threshold) of the next update."""
        beta = 1.0 - (self.update_iterations + 1.0) ** self.beta_2_decay
        return beta, 1.0 - beta, self.epsilon_1, self.epsilon_2, self.clip_threshold

    def _relative_rate(self) -> float:
        """rho_t = min(lr, 1/sqrt(t)). (``relative_step`` makes Keras take lr = min(lr,
        1/sqrt(t)) first when the rate is a float, which changes nothing here.)"""
        return min(self.learning_rate_value(), 1.0 / math.sqrt(self.update_iterations + 1))

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "beta_2_decay": self.beta_2_decay,
            "epsilon_1": self.epsilon_1,
            "epsilon_2": self.epsilon_2,
            "clip_threshold": self.clip_threshold,
            "relative_step": self.relative_step,
        }


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat 2015), as Keras writes it: with
    u_s = beta_1*(1 - 0.5*0.96^s) and products P_t = u_1*...*u_t, at step t
    m_hat = u_{t+1}*m / (1 - P_{t+1}) + (1 - u_t)*g / (1 - P_t), v_hat = v / (1 - beta_2^t),
    w -= lr*m_hat / (sqrt(v_hat) + eps)."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs
        )
        self.beta_1, self.beta_2 = _check_betas("Nadam", beta_1, beta_2)
        self.epsilon = check_number("Nadam", "epsilon", epsilon)
        self.slot_names = ("momentum", "velocity")
        self._product = (0, 1.0)  # (t, P_t), extended step by step

    def _u(self, s: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * 0.96**s)

    def _u_product(self, t: int) -> float:
        """P_t, the running product Keras keeps in a variable; here a function of t."""
        done, product = self._product if self._product[0] <= t else (0, 1.0)
        for s in range(done + 1, t + 1):
            product *= self._u(s)
        self._product = (t, product)
        return product

    def update(self, xp, value, grad, slots, lr, prepare, status):
        t = self.update_iterations + 1
        u_product = self._u_product(t)
        return xp.nadam_update(
            value, grad, slots["momentum"], slots["velocity"], lr, self.beta_1, self.beta_2,
            self.epsilon, self._u(t), self._u(t + 1), u_product, u_product * self._u(t + 1),
            self.beta_2**t, *prepare, status,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class Adamax(Optimizer):
    """Adam with the infinity norm: m += (g - m)*(1-beta_1); u = max(beta_2*u, |g|);
    w -= lr*m / ((1 - beta_1^t)*(u + eps))."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs
        )
        self.beta_1, self.beta_2 = _check_betas("Adamax", beta_1, beta_2)
        self.epsilon = check_number("Adamax", "epsilon", epsilon)
        self.slot_names = ("momentum", "norm")

    def update(self, xp, value, grad, slots, lr, prepare, status):
        return xp.adamax_update(
            value, grad, slots["momentum"], slots["norm"], lr, self.beta_1, self.beta_2,
            self.epsilon, self.beta_1 ** (self.update_iterations + 1), *prepare, status,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class Adagrad(Optimizer):
    """a += g^2 (a starts at ``initial_accumulator_value``); w -= lr*g / sqrt(a + eps)."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs
        )
        self.initial_accumulator_value = check_number(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value
        )
        self.epsilon = check_number("Adagrad", "epsilon", epsilon)
        self.slot_names = ("accumulator",)
        self.initial_slot_values = {"accumulator": self.initial_accumulator_value}

    def update(self, xp, value, grad, slots, lr, prepare, status):
        return xp.adagrad_update(
            value, grad, slots["accumulator"], lr, self.epsilon, *prepare, status
        )

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class Adadelta(Optimizer):
    """a = rho*a + (1-rho)*g^2; delta = -sqrt(d + eps)*g / sqrt(a + eps);
    d = rho*d + (1-rho)*delta^2; w += lr*delta."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs
        )
        self.rho = check_number("Adadelta", "rho", rho, 0.0, 1.0)
        self.epsilon = check_number("Adadelta", "epsilon", epsilon)
        self.slot_names = ("accumulated_grad", "accumulated_delta_var")

    def update(self, xp, value, grad, slots, lr, prepare, status):
        return xp.adadelta_update(
            value, grad, slots["accumulated_grad"], slots["accumulated_delta_var"], lr,
            self.rho, self.epsilon, *prepare, status,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"rho": self.rho, "epsilon": self.epsilon}


class Lion(Optimizer):
    """w -= lr*sign(beta_1*m + (1-beta_1)*g); m = beta_2*m + (1-beta_2)*g."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.99,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs
        )
        # (0, 1] as Keras checks: beta_1 = 0 degenerates to SignSGD.
        self.beta_1 = check_number("Lion", "beta_1", beta_1, 0.0, 1.0, low_open=True)
        self.beta_2 = check_number("Lion", "beta_2", beta_2, 0.0, 1.0)
        self.slot_names = ("momentum",)

    def update(self, xp, value, grad, slots, lr, prepare, status):
        return xp.lion_update(
            value, grad, slots["momentum"], lr, self.beta_1, self.beta_2, *prepare, status
        )

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """Follow The Regularized Leader (McMahan et al. 2013), with Keras's online L2
    (``l2_regularization_strength``, plus ``beta``/(2 lr)) and shrinkage L2."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name, **kwargs
        )
        self.learning_rate_power = check_number(
            "Ftrl", "learning_rate_power", learning_rate_power, -math.inf, 0.0
        )
        self.initial_accumulator_value = check_number(
            "Ftrl", "initial_accumulator_value", initial_accumulator_value
        )
        self.l1_regularization_strength = check_number(
            "Ftrl", "l1_regularization_strength", l1_regularization_strength
        )
        self.l2_regularization_strength = check_number(
            "Ftrl", "l2_regularization_strength", l2_regularization_strength
        )
        self.l2_shrinkage_regularization_strength = check_number(
            "Ftrl", "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength
        )
        self.beta = check_number("Ftrl", "beta", beta)
        self.slot_names = ("accumulator", "linear")
        self.initial_slot_values = {"accumulator": self.initial_accumulator_value}

    def update(self, xp, value, grad, slots, lr, prepare, status):
        return xp.ftrl_update(
            value, grad, slots["accumulator"], slots["linear"], lr, self.learning_rate_power,
            self.l1_regularization_strength, self.l2_regularization_strength,
            self.l2_shrinkage_regularization_strength, self.beta, *prepare, status,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }
