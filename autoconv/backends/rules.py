"""The optimizers' update rules for one element, written once in plain Python and compiled by
each backend: ``numba.njit`` on the CPU, ``numba.cuda.jit(device=True)`` on the GPU.

Each takes the parameter's value, its gradient and its slots and returns the new ones.
Scalars arrive in the parameter's dtype and complements (1 - rho) are precomputed by the
caller: an int literal next to a float32 would make numba compute in float64.
"""

from __future__ import annotations

import math


def sgd(value, grad, velocity, lr, momentum, nesterov):
    """Keras's SGD: (value, velocity). Without momentum the velocity is not used."""
    if momentum == 0:
        return value - lr * grad, velocity
    velocity = momentum * velocity - lr * grad
    return (value + momentum * velocity - lr * grad if nesterov else value + velocity), velocity


def rmsprop(value, grad, velocity, momentum_slot, lr, rho, one_minus_rho, momentum, epsilon):
    """Keras's RMSprop: (value, velocity, momentum slot)."""
    velocity = rho * velocity + one_minus_rho * grad * grad
    step = lr * grad / math.sqrt(velocity + epsilon)
    if momentum != 0:
        step += momentum * momentum_slot
    return value - step, velocity, step


def adam(value, grad, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    """Keras's Adam with alpha = lr*sqrt(1-b2^t)/(1-b1^t): (value, m, v)."""
    m = m + (grad - m) * one_minus_beta_1
    v = v + (grad * grad - v) * one_minus_beta_2
    return value - alpha * m / (math.sqrt(v) + epsilon), m, v
