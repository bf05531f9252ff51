"""Optimizer updates: one pass per parameter, in place, with the rules of
:mod:`autoconv.backends.rules`; scalars arrive in the parameter's dtype so float32 stays
float32. ``status`` (see :mod:`autoconv.backends.cpu.training`) stops every update once a step
went bad."""

from __future__ import annotations

import numpy as np

from autoconv.backends import rules
from autoconv.backends.cpu.jit import inline, serial_jit

sgd_rule, rmsprop_rule, adam_rule = (
    inline(rule) for rule in (rules.sgd, rules.rmsprop, rules.adam)
)


@serial_jit
def _sgd(value, grad, velocity, lr, momentum, nesterov):
    for i in range(value.size):
        value[i], v = sgd_rule(value[i], grad[i], velocity[i], lr, momentum, nesterov)
        if momentum != 0:
            velocity[i] = v


@serial_jit
def _rmsprop(value, grad, velocity, momentum_slot, lr, rho, one_minus_rho, momentum, epsilon):
    for i in range(value.size):
        value[i], velocity[i], step = rmsprop_rule(
            value[i], grad[i], velocity[i], momentum_slot[i], lr, rho, one_minus_rho,
            momentum, epsilon,
        )  # fmt: skip
        if momentum != 0:
            momentum_slot[i] = step


@serial_jit
def _adam(value, grad, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    for i in range(value.size):
        value[i], m[i], v[i] = adam_rule(
            value[i], grad[i], m[i], v[i], alpha, one_minus_beta_1, one_minus_beta_2, epsilon
        )


def _flat(*arrays: np.ndarray | None) -> list[np.ndarray]:
    """1-D views (a None slot becomes the first array: the kernel never touches it)."""
    first = arrays[0].reshape(-1)
    return [first if a is None else np.ascontiguousarray(a).reshape(-1) for a in arrays]


def sgd_update(value, grad, velocity, lr, momentum, nesterov, status) -> None:
    """value -= lr*g, or with momentum v = momentum*v - lr*g; value += v (Nesterov:
    momentum*v - lr*g), in place."""
    if not status[0]:
        scalars = [value.dtype.type(s) for s in (lr, momentum)]
        _sgd(*_flat(value, grad, velocity), *scalars, nesterov)


def rmsprop_update(
    value, grad, velocity, momentum_slot, lr, rho, momentum, epsilon, status
) -> None:
    """Keras's RMSprop step, in place."""
    if not status[0]:
        scalars = [value.dtype.type(s) for s in (lr, rho, 1 - rho, momentum, epsilon)]
        _rmsprop(*_flat(value, grad, velocity, momentum_slot), *scalars)


def adam_update(value, grad, m, v, alpha, beta_1, beta_2, epsilon, status) -> None:
    """Keras's Adam step with alpha = lr*sqrt(1-b2^t)/(1-b1^t), in place."""
    if not status[0]:
        scalars = [value.dtype.type(s) for s in (alpha, 1 - beta_1, 1 - beta_2, epsilon)]
        _adam(*_flat(value, grad, m, v), *scalars)
