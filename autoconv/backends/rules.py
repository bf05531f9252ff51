"""The optimizers' update rules for one element, written once in plain Python and compiled by
each backend: ``numba.njit`` on the CPU, ``numba.cuda.jit(device=True)`` on the GPU.

Every rule has the same shape, so one kernel per backend runs them all:
``rule(value, grad, a, b, c, hyper) -> (value, a, b, c)``, where ``a, b, c`` are the
parameter's slots (an optimizer with fewer slots ignores the rest: the kernel does not write
them back) and ``hyper`` a tuple of the rule's scalars. Before the rule, :func:`prepare` clips
the gradient and decays the weight, in Keras's order. Each rule follows the ``update_step`` of
Keras 3 (keras/src/optimizers/<name>.py), operation for operation where it can. A rule indexes
``hyper`` rather than unpacking it: on the GPU it is a device array (a step input, so that a
replayed step takes each step's learning rate and bias corrections).

Rules call no Python helper (the compilers could not): each is self-contained.
Scalars arrive in the parameter's dtype, and complements (1 - rho), bias corrections and the
like are computed on the host, in :class:`Updates`: a literal next to a float32 would make numba
compute in float64. Comparisons with 0 are exact in float32, so they may stay literal.

:class:`Updates` holds the backends' ``*_update`` functions of the contract, written once: each
turns its arguments into a rule's slots and scalars and hands them to the backend's ``run``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from autoconv.backends import bounds


def prepare(value, grad, scale, clipvalue, decay):
    """Keras's order before ``update_step``: clip the gradient (by norm: times ``scale``, which
    is 1 without it; by value: into [-clipvalue, clipvalue] when clipvalue > 0), then decay the
    weight: value - value*decay, with decay = learning rate * weight_decay. (value, grad)."""
    grad = grad * scale
    if clipvalue > 0:
        if grad > clipvalue:
            grad = clipvalue
        elif grad < -clipvalue:
            grad = -clipvalue
    if decay != 0:
        value = value - value * decay
    return value, grad


def sgd(value, grad, velocity, b, c, hyper):
    """SGD; slot a: velocity (with momentum). hyper: (lr, momentum, nesterov)."""
    lr, momentum, nesterov = hyper[0], hyper[1], hyper[2]
    if momentum == 0:
        return value - grad * lr, velocity, b, c
    velocity = velocity * momentum - grad * lr
    if nesterov != 0:
        return value + (velocity * momentum - grad * lr), velocity, b, c
    return value + velocity, velocity, b, c


def rmsprop(value, grad, velocity, momentum_slot, average_grad, hyper):
    """RMSprop; slots: velocity, momentum (momentum > 0), average gradient (centered).
    hyper: (lr, rho, 1 - rho, momentum, epsilon, centered)."""
    lr, rho, one_minus_rho, momentum, epsilon, centered = (
        hyper[0],
        hyper[1],
        hyper[2],
        hyper[3],
        hyper[4],
        hyper[5],
    )
    velocity = rho * velocity + one_minus_rho * (grad * grad)
    if centered != 0:
        average_grad = rho * average_grad + one_minus_rho * grad
        denominator = velocity - average_grad * average_grad + epsilon
    else:
        denominator = velocity + epsilon
    increment = lr * grad / math.sqrt(denominator)
    if momentum > 0:
        momentum_slot = momentum * momentum_slot + increment
        return value - momentum_slot, velocity, momentum_slot, average_grad
    return value - increment, velocity, momentum_slot, average_grad


def adam(value, grad, m, v, v_hat, hyper):
    """Adam (and AdamW, whose decay is :func:`prepare`'s); slots: m, v, v_hat (AMSGrad).
    hyper: (alpha = lr*sqrt(1 - beta_2^t)/(1 - beta_1^t), 1 - beta_1, 1 - beta_2, epsilon,
    amsgrad)."""
    alpha, one_minus_beta_1, one_minus_beta_2, epsilon, amsgrad = (
        hyper[0],
        hyper[1],
        hyper[2],
        hyper[3],
        hyper[4],
    )
    m = m + (grad - m) * one_minus_beta_1
    v = v + (grad * grad - v) * one_minus_beta_2
    if amsgrad != 0:
        v_hat = v_hat if (v_hat > v or v_hat != v_hat) else v  # ops.maximum: NaN wins
        return value - m * alpha / (math.sqrt(v_hat) + epsilon), m, v, v_hat
    return value - m * alpha / (math.sqrt(v) + epsilon), m, v, v_hat


def nadam(value, grad, m, v, c, hyper):
    """Nadam; slots: m, v. hyper: (lr, 1 - beta_1, 1 - beta_2, epsilon, u_{t+1},
    1 - u_1*...*u_{t+1}, 1 - u_t, 1 - u_1*...*u_t, 1 - beta_2^t) with
    u_s = beta_1*(1 - 0.5*0.96^s)."""
    lr = hyper[0]
    one_minus_beta_1 = hyper[1]
    one_minus_beta_2 = hyper[2]
    epsilon = hyper[3]
    u_next = hyper[4]
    bias_next = hyper[5]
    one_minus_u = hyper[6]
    bias = hyper[7]
    v_bias = hyper[8]
    m = m + (grad - m) * one_minus_beta_1
    v = v + (grad * grad - v) * one_minus_beta_2
    m_hat = u_next * m / bias_next + one_minus_u * grad / bias
    v_hat = v / v_bias
    return value - m_hat * lr / (math.sqrt(v_hat) + epsilon), m, v, c


def adamax(value, grad, m, u, c, hyper):
    """Adamax; slots: m, u (the weighted infinity norm).
    hyper: (lr, 1 - beta_1, beta_2, epsilon, 1 - beta_1^t)."""
    lr, one_minus_beta_1, beta_2, epsilon, bias = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4]
    m = m + (grad - m) * one_minus_beta_1
    u = beta_2 * u
    u = u if (u > abs(grad) or u != u) else abs(grad)  # ops.maximum: NaN wins
    return value - lr * m / (bias * (u + epsilon)), m, u, c


def lamb(value, grad, m, v, direction, hyper):
    """LAMB's moments and its update's direction m_hat / (sqrt(v_hat) + epsilon), written into
    slot c; the value only decayed (the trust ratio, a norm over the whole parameter, scales
    the step afterwards: ``trust_ratios``). hyper: (1 - beta_1, 1 - beta_2, 1 - beta_1^t,
    1 - beta_2^t, epsilon)."""
    one_minus_beta_1, one_minus_beta_2, bias_1, bias_2 = hyper[0], hyper[1], hyper[2], hyper[3]
    m = m + (grad - m) * one_minus_beta_1
    v = v + (grad * grad - v) * one_minus_beta_2
    return value, m, v, (m / bias_1) / (math.sqrt(v / bias_2) + hyper[4])


def adafactor(value, grad, gradient, b, c, hyper):
    """Adafactor's first pass: the value only decayed and the gradient (clipped) written into
    slot a, from which ``adafactor_factors`` makes the second moments and the step. hyper: ()."""
    return value, grad, b, c


def adagrad(value, grad, accumulator, b, c, hyper):
    """Adagrad; slot a: the accumulator (starts at initial_accumulator_value).
    hyper: (lr, epsilon)."""
    lr, epsilon = hyper[0], hyper[1]
    accumulator = accumulator + grad * grad
    return value - lr * grad / math.sqrt(accumulator + epsilon), accumulator, b, c


def adadelta(value, grad, accumulated_grad, accumulated_delta, c, hyper):
    """Adadelta; slots: accumulated squared gradient, accumulated squared delta.
    hyper: (lr, rho, 1 - rho, epsilon)."""
    lr, rho, one_minus_rho, epsilon = hyper[0], hyper[1], hyper[2], hyper[3]
    accumulated_grad = rho * accumulated_grad + one_minus_rho * (grad * grad)
    delta = -(math.sqrt(accumulated_delta + epsilon) * grad / math.sqrt(accumulated_grad + epsilon))
    accumulated_delta = rho * accumulated_delta + one_minus_rho * (delta * delta)
    return value + lr * delta, accumulated_grad, accumulated_delta, c


def lion(value, grad, m, b, c, hyper):
    """Lion; slot a: m. hyper: (lr, beta_1, 1 - beta_1, beta_2, 1 - beta_2)."""
    lr, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2 = (
        hyper[0],
        hyper[1],
        hyper[2],
        hyper[3],
        hyper[4],
    )
    direction = m * beta_1 + grad * one_minus_beta_1
    if direction > 0:
        value = value - lr
    elif direction < 0:
        value = value + lr
    elif direction != direction:  # sign(NaN) is NaN
        value = direction
    return value, m * beta_2 + grad * one_minus_beta_2, b, c


def ftrl(value, grad, accumulator, linear, c, hyper):
    """FTRL; slots: accumulator (starts at initial_accumulator_value), linear.
    hyper: (lr, -learning_rate_power, l1, 2*(l2 + beta/(2*lr)), 2*l2_shrinkage)."""
    lr, power, l1, two_l2, two_shrinkage = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4]
    grad_to_use = grad + two_shrinkage * value
    new_accumulator = accumulator + grad * grad
    linear = linear + (grad_to_use - (new_accumulator**power - accumulator**power) / lr * value)
    quadratic = new_accumulator**power / lr + two_l2
    clipped = linear
    if clipped > l1:
        clipped = l1
    elif clipped < -l1:
        clipped = -l1
    return (clipped - linear) / quadratic, new_accumulator, linear, c


def muon(value, grad, m, direction, c, hyper):
    """Muon's momentum, m += g + m*(momentum - 1), and the direction its Newton-Schulz
    iteration orthogonalizes, g + momentum*m (Nesterov) or m, written into slot b; the value
    unchanged (the step, a matrix function of the direction, comes after). hyper:
    (momentum - 1, momentum, nesterov)."""
    momentum_minus_1, momentum, nesterov = hyper[0], hyper[1], hyper[2]
    m = m + (grad + m * momentum_minus_1)
    if nesterov != 0:
        return value, m, grad + momentum * m, c
    return value, m, m, c


def schedule_free_adamw(value, grad, z, v, c, hyper):
    """Schedule-Free AdamW (Defazio et al. 2024), as Keras: the value is y, the point the
    gradient is taken at; slots: z (Keras's ``momentum``, the sequence the steps move) and v.
    v += (g^2 - v)*(1 - beta_2); z -= lr*g / (sqrt(v / (1 - beta_2^t)) + epsilon); the average
    x = (y - (1 - beta_1)*z_old) / beta_1 moves to (1 - 1/t)*x + z/t and y = (1 - beta_1)*z +
    beta_1*x. hyper: (lr (warmed up), 1 - beta_2, 1 - beta_2^t, epsilon, 1 - beta_1, beta_1,
    1/t, 1 - 1/t)."""
    lr, one_minus_beta_2, bias_2, epsilon = hyper[0], hyper[1], hyper[2], hyper[3]
    one_minus_beta_1, beta_1, weight, one_minus_weight = hyper[4], hyper[5], hyper[6], hyper[7]
    v = v + (grad * grad - v) * one_minus_beta_2
    new_z = z - lr * grad / (math.sqrt(v / bias_2) + epsilon)
    x = (value - one_minus_beta_1 * z) / beta_1
    x = one_minus_weight * x + weight * new_z
    return one_minus_beta_1 * new_z + beta_1 * x, new_z, v, c


# ----------------------------------------------------------- the backends' entry points
RULES = (
    "sgd", "rmsprop", "adam", "nadam", "adamax", "lamb", "adafactor", "adagrad", "adadelta",
    "lion", "ftrl", "muon", "schedule_free_adamw",
)  # fmt: skip


class Updates:
    """The contract's ``*_update`` functions over a backend's ``apply_update(rule, values,
    grads, slots, scalars, scales, clipvalue, status)``, which applies the rule named ``rule``
    to every element of every parameter of ``values`` in place (one pass over them all: one
    launch per dtype on the GPU) unless ``status[0]`` is set. Every argument that belongs to a
    parameter comes as a list with one entry per parameter: ``values``, ``grads``, ``scales``
    and each slot in use (a slot that is None is off, neither read nor written); ``scalars()``
    gives (hyper, decays): the rule's scalars and each parameter's decay. Scalars are computed
    here in Python floats (float64); the backend casts them to each parameter's dtype.
    ``scale``, ``clipvalue``, ``decay``: see :func:`prepare`. Built on :data:`CALL`, the
    functions give back the :class:`Call` they would make instead (what an optimizer passes
    to ``apply_update`` with a ``scalars`` that computes them anew at each step); ``check``
    False skips the checks of the arrays (:data:`RECALL`: a step's calls made again for their
    scalars, over the arrays CALL checked).

    The functions take one parameter (arrays, a scale and a decay) or several (lists of them:
    what the optimizers pass, every parameter of a step at once)."""

    def __init__(self, run: Callable[..., None], check: bool = True) -> None:
        self._run = run
        self._check = check

    def run(
        self, rule: str, value: Any, grad: Any, slots: list[Any], hyper: tuple, scale: Any,
        clipvalue: float, decay: Any, status: Any,
    ) -> Any:  # fmt: skip
        """The backend's ``run`` over lists, once each gradient and slot in use has as many
        elements as its parameter, on its device: the kernels index them all by the
        parameter's."""
        if not isinstance(value, list | tuple):  # one parameter
            value, grad, scale, decay = [value], [grad], [scale], [decay]
            slots = [None if slot is None else [slot] for slot in slots]
        if not self._check:
            return self._run(rule, value, grad, slots, lambda: (hyper, decay), scale, clipvalue,
                             status)  # fmt: skip
        values, grads, scales, decays = list(value), list(grad), list(scale), list(decay)
        slots = [None if slot is None else list(slot) for slot in slots]
        for name, entries in (("grads", grads), ("scales", scales), ("decays", decays), *(
            (f"slot {k}", slot) for k, slot in enumerate(slots) if slot is not None
        )):  # fmt: skip
            if len(entries) != len(values):
                raise ValueError(
                    f"{rule}_update: {len(values)} parameters but {len(entries)} {name}"
                )
        for k, (value, grad) in enumerate(zip(values, grads, strict=True)):
            bounds.same_size(
                f"{rule}_update", value, grad=grad,
                **{f"slot {j}": slot[k] for j, slot in enumerate(slots) if slot is not None},
            )  # fmt: skip
        if values:
            return self._run(
                rule, values, grads, slots, lambda: (hyper, decays), scales, clipvalue, status
            )
        return None

    def sgd_update(
        self, value, grad, velocity, lr, momentum, nesterov, scale, clipvalue, decay, status
    ) -> Any:
        return self.run("sgd", value, grad, [velocity], (lr, momentum, nesterov), scale, clipvalue,
                        decay, status)  # fmt: skip

    def rmsprop_update(
        self, value, grad, velocity, momentum_slot, average_grad, lr, rho, momentum, epsilon,
        scale, clipvalue, decay, status,
    ) -> Any:  # fmt: skip
        hyper = (lr, rho, 1 - rho, momentum, epsilon, average_grad is not None)
        return self.run("rmsprop", value, grad, [velocity, momentum_slot, average_grad], hyper,
                        scale, clipvalue, decay, status)  # fmt: skip

    def adam_update(
        self, value, grad, m, v, v_hat, alpha, beta_1, beta_2, epsilon, scale, clipvalue,
        decay, status,
    ) -> Any:  # fmt: skip
        hyper = (alpha, 1 - beta_1, 1 - beta_2, epsilon, v_hat is not None)
        return self.run("adam", value, grad, [m, v, v_hat], hyper, scale, clipvalue, decay, status)

    def nadam_update(
        self, value, grad, m, v, lr, beta_1, beta_2, epsilon, u, u_next, u_product,
        u_product_next, beta_2_power, scale, clipvalue, decay, status,
    ) -> Any:  # fmt: skip
        hyper = (lr, 1 - beta_1, 1 - beta_2, epsilon, u_next, 1 - u_product_next, 1 - u,
                 1 - u_product, 1 - beta_2_power)  # fmt: skip
        return self.run("nadam", value, grad, [m, v], hyper, scale, clipvalue, decay, status)

    def adamax_update(
        self, value, grad, m, u, lr, beta_1, beta_2, epsilon, beta_1_power, scale, clipvalue,
        decay, status,
    ) -> Any:  # fmt: skip
        hyper = (lr, 1 - beta_1, beta_2, epsilon, 1 - beta_1_power)
        return self.run("adamax", value, grad, [m, u], hyper, scale, clipvalue, decay, status)

    def lamb_update(
        self, value, grad, m, v, direction, beta_1, beta_2, epsilon, step, scale, clipvalue, decay,
        status,
    ) -> Any:  # fmt: skip
        hyper = (1 - beta_1, 1 - beta_2, 1 - beta_1**step, 1 - beta_2**step, epsilon)
        return self.run("lamb", value, grad, [m, v, direction], hyper, scale, clipvalue, decay,
                        status)  # fmt: skip

    def adafactor_update(self, value, grad, gradient, scale, clipvalue, decay, status) -> Any:
        return self.run("adafactor", value, grad, [gradient], (), scale, clipvalue, decay, status)

    def adagrad_update(
        self, value, grad, accumulator, lr, epsilon, scale, clipvalue, decay, status
    ) -> Any:
        return self.run("adagrad", value, grad, [accumulator], (lr, epsilon), scale, clipvalue,
                        decay, status)  # fmt: skip

    def adadelta_update(
        self, value, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon, scale,
        clipvalue, decay, status,
    ) -> Any:  # fmt: skip
        hyper = (lr, rho, 1 - rho, epsilon)
        return self.run("adadelta", value, grad, [accumulated_grad, accumulated_delta], hyper,
                        scale, clipvalue, decay, status)  # fmt: skip

    def lion_update(
        self, value, grad, m, lr, beta_1, beta_2, scale, clipvalue, decay, status
    ) -> Any:
        hyper = (lr, beta_1, 1 - beta_1, beta_2, 1 - beta_2)
        return self.run("lion", value, grad, [m], hyper, scale, clipvalue, decay, status)

    def ftrl_update(
        self, value, grad, accumulator, linear, lr, learning_rate_power, l1, l2, l2_shrinkage,
        beta, scale, clipvalue, decay, status,
    ) -> Any:  # fmt: skip
        l2 += beta / (2 * lr) if beta else 0.0  # Keras: l2 + beta / (2 * lr)
        hyper = (lr, -learning_rate_power, l1, 2 * l2, 2 * l2_shrinkage)
        return self.run("ftrl", value, grad, [accumulator, linear], hyper, scale, clipvalue, decay,
                        status)  # fmt: skip

    def muon_update(
        self, value, grad, m, direction, momentum, nesterov, scale, clipvalue, decay, status
    ) -> Any:
        hyper = (momentum - 1, momentum, nesterov)
        return self.run("muon", value, grad, [m, direction], hyper, scale, clipvalue, decay,
                        status)  # fmt: skip

    def schedule_free_adamw_update(
        self, value, grad, z, v, lr, beta_1, beta_2, epsilon, step, scale, clipvalue, decay,
        status,
    ) -> Any:  # fmt: skip
        hyper = (lr, 1 - beta_2, 1 - beta_2**step, epsilon, 1 - beta_1, beta_1, 1 / step,
                 1 - 1 / step)  # fmt: skip
        return self.run("schedule_free_adamw", value, grad, [z, v], hyper, scale, clipvalue,
                        decay, status)  # fmt: skip


class Call(NamedTuple):
    """An ``*_update`` call as :class:`Updates` hands it to a backend's ``apply_update``."""

    rule: str
    values: list[Any]
    grads: list[Any]
    slots: list[Any]
    scalars: Callable[[], tuple[tuple, list[float]]]
    scales: list[Any]
    clipvalue: float
    status: Any


CALL = Updates(Call)  # the ``*_update`` functions, giving back their Call instead of making it
# The same without the checks of the arrays: a step's calls made again, over the arrays CALL
# checked, for their scalars (a replayed step's learning rate and bias corrections).
RECALL = Updates(Call, check=False)
