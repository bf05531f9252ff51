"""Optimizer updates on the GPU: the rules of :mod:`autoconv.backends.rules`, one thread per
element; scalars arrive in the parameter's dtype. Each update reads ``status`` (see
:mod:`autoconv.backends.cuda.training`) and does nothing once a step has gone non-finite, so
the weights of the last good step are kept without a host round-trip."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from autoconv.backends import rules
from autoconv.backends.cuda.array import launch

sgd_rule, rmsprop_rule, adam_rule = (
    cuda.jit(device=True)(rule) for rule in (rules.sgd, rules.rmsprop, rules.adam)
)


@cuda.jit
def _sgd(value, grad, velocity, lr, momentum, nesterov, status):
    if status[0] != 0:
        return
    for i in range(cuda.grid(1), value.size, cuda.gridsize(1)):
        value[i], v = sgd_rule(value[i], grad[i], velocity[i], lr, momentum, nesterov)
        if momentum != 0:
            velocity[i] = v


@cuda.jit
def _rmsprop(
    value, grad, velocity, momentum_slot, lr, rho, one_minus_rho, momentum, epsilon, status
):
    if status[0] != 0:
        return
    for i in range(cuda.grid(1), value.size, cuda.gridsize(1)):
        value[i], velocity[i], step = rmsprop_rule(
            value[i], grad[i], velocity[i], momentum_slot[i], lr, rho, one_minus_rho,
            momentum, epsilon,
        )  # fmt: skip
        if momentum != 0:
            momentum_slot[i] = step


@cuda.jit
def _adam(value, grad, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon, status):
    if status[0] != 0:
        return
    for i in range(cuda.grid(1), value.size, cuda.gridsize(1)):
        value[i], m[i], v[i] = adam_rule(
            value[i], grad[i], m[i], v[i], alpha, one_minus_beta_1, one_minus_beta_2, epsilon
        )


def _scalars(dtype: np.dtype, *values: float) -> list[Any]:
    return [dtype.type(v) for v in values]


def sgd_update(value, grad, velocity, lr, momentum, nesterov, status) -> None:
    """value -= lr*g, or with momentum v = momentum*v - lr*g; value += v (Nesterov:
    momentum*v - lr*g), in place."""
    lr, momentum = _scalars(value.dtype, lr, momentum)
    velocity = value if velocity is None else velocity  # unused without momentum
    launch(_sgd, value.size)(
        value.flat, grad.flat, velocity.flat, lr, momentum, nesterov, status.flat
    )


def rmsprop_update(
    value, grad, velocity, momentum_slot, lr, rho, momentum, epsilon, status
) -> None:
    """Keras's RMSprop step, in place."""
    scalars = _scalars(value.dtype, lr, rho, 1 - rho, momentum, epsilon)
    momentum_slot = velocity if momentum_slot is None else momentum_slot
    launch(_rmsprop, value.size)(
        value.flat, grad.flat, velocity.flat, momentum_slot.flat, *scalars, status.flat
    )


def adam_update(value, grad, m, v, alpha, beta_1, beta_2, epsilon, status) -> None:
    """Keras's Adam step with alpha = lr*sqrt(1-b2^t)/(1-b1^t), in place."""
    scalars = _scalars(value.dtype, alpha, 1 - beta_1, 1 - beta_2, epsilon)
    launch(_adam, value.size)(value.flat, grad.flat, m.flat, v.flat, *scalars, status.flat)
