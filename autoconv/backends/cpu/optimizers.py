"""Optimizer updates: one pass per parameter, in place, with the rules of
:mod:`autoconv.backends.rules`; scalars arrive in the parameter's dtype so float32 stays
float32. ``status`` (see :mod:`autoconv.backends.cpu.training`) stops every update once a step
went bad.

One kernel source, :func:`_update_kernel`, serves every rule: :func:`_compiled` binds a rule
and the slots in use to the names ``rule`` and ``SLOTS`` in a copy of it, with its own name, so
Numba compiles and caches one kernel per rule and option (a closure would be recompiled in
every process). Numba's cache checks the timestamp
of this file only, not of rules.py, which the kernels inline: the digest of rules.py in each
kernel's name makes an edited rule compile afresh.
"""

from __future__ import annotations

import functools
import hashlib
import types
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from autoconv.backends import bounds, rules
from autoconv.backends.cpu.jit import inline, serial_jit

prepare = inline(rules.prepare)
# Placeholders: each compiled copy of _update_kernel binds its own rule and SLOTS.
rule: Callable = rules.sgd
SLOTS = 0b111


def _update_kernel(value, grad, a, b, c, scale, clipvalue, decay, hyper):
    s = scale[0]
    for i in range(value.size):
        w, g = prepare(value[i], grad[i], s, clipvalue, decay)
        # Slot k is read and written when bit k of the constant SLOTS is set; the others (which
        # alias ``value``) are not touched, so the loop vectorizes.
        w, a_i, b_i, c_i = rule(
            w, g, a[i] if SLOTS & 1 else w, b[i] if SLOTS & 2 else w, c[i] if SLOTS & 4 else w,
            hyper,
        )  # fmt: skip
        if SLOTS & 1:
            a[i] = a_i
        if SLOTS & 2:
            b[i] = b_i
        if SLOTS & 4:
            c[i] = c_i
        value[i] = w


RULES_DIGEST = hashlib.sha256(Path(rules.__file__).read_bytes()).hexdigest()[:12]


@functools.cache
def _compiled(name: str, slots: int) -> Callable:
    """The kernel of rule ``name`` with the slots ``slots`` (a bit mask) in use."""
    bound = dict(globals(), rule=inline(getattr(rules, name)), SLOTS=slots)
    kernel = types.FunctionType(_update_kernel.__code__, bound, name)
    kernel.__qualname__ = f"_update_kernel_{name}_{slots}_{RULES_DIGEST}"  # its own cache entry
    return serial_jit(kernel)


_ONES = {np.dtype(t): np.ones(1, t) for t in (np.float32, np.float64)}


def apply_update(
    rule: str, values: list[np.ndarray], grads: list[np.ndarray],
    slots: Sequence[list[np.ndarray] | None], scalars: Callable[[], tuple],
    scales: list[np.ndarray | None], clipvalue: float, status: np.ndarray,
) -> None:  # fmt: skip
    """Run rule ``rule`` over each parameter of ``values`` in place, one after the other (the
    GPU's one launch for them all is a launch saved; here a loop over the parameters costs
    nothing), with ``scalars()``'s (hyper, decays); a None slot is neither read nor written."""
    if status[0]:
        return
    name = rule
    hyper, decays = scalars()
    for k, value in enumerate(values):
        own = [None if slot is None else slot[k] for slot in slots]
        _update_one(name, value, grads[k], own, hyper, scales[k], clipvalue, decays[k])


def _update_one(
    name: str, value: np.ndarray, grad: np.ndarray, slots: Sequence[np.ndarray | None],
    hyper: Sequence[float], scale: np.ndarray | None, clipvalue: float, decay: float,
) -> None:  # fmt: skip
    if not value.flags.c_contiguous:
        raise ValueError(f"{name} update: the parameter must be C-contiguous")
    dtype = value.dtype.type
    flat = value.reshape(-1)
    arrays, used = [flat, flat, flat], 0
    for k, slot in enumerate(slots):
        if slot is not None:
            arrays[k], used = slot.reshape(-1), used | 1 << k
    scale = _ONES[value.dtype] if scale is None else scale.reshape(1)
    grad = grad.reshape(-1) if grad.dtype == value.dtype else grad.astype(value.dtype).ravel()
    _compiled(name, used)(
        flat, grad, *arrays, scale, dtype(clipvalue), dtype(decay), tuple(map(dtype, hyper))
    )


def clip_scale(grads: list[np.ndarray], clipnorm: float, per_tensor: bool) -> np.ndarray:
    """The factor that clips gradients by their L2 norm (a 0-d array of their dtype)."""
    dtype = grads[0].dtype.type
    clipnorm, one = dtype(clipnorm), dtype(1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        squares = np.array([np.sum(g * g, dtype=dtype) for g in grads], dtype=dtype)
        norm = np.sqrt(np.sum(squares, dtype=dtype))
        if per_tensor:
            scale = clipnorm / np.maximum(norm, clipnorm)
        else:
            scale = clipnorm * np.minimum(one / norm, one / clipnorm) + (norm - norm)
    return np.asarray(scale, dtype)


def trust_ratios(values: list[np.ndarray], directions: list[np.ndarray]) -> list[np.ndarray]:
    """LAMB's trust ratio of each parameter, |value| / |direction| (L2 norms; 1 where either
    is 0 or NaN), a 0-d array of its dtype: the scale of its step."""
    ratios = []
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for value, direction in zip(values, directions, strict=True):
            dtype = value.dtype.type
            norm = np.sqrt(np.sum(value * value, dtype=dtype))
            step_norm = np.sqrt(np.sum(direction * direction, dtype=dtype))
            trusted = norm > 0 and step_norm > 0
            ratios.append(np.asarray(norm / step_norm if trusted else 1, dtype))
    return ratios


def adafactor_factors(
    values: list[np.ndarray], gradients: list[np.ndarray], rows: list[np.ndarray | None],
    columns: list[np.ndarray | None], velocities: list[np.ndarray], scalars: Callable[[], tuple],
    status: np.ndarray,
) -> list[np.ndarray]:  # fmt: skip
    """Adafactor's second moments, its gradients scaled by them in place, and each parameter's
    step size (see the contract); nothing written once ``status`` is set."""
    ratios = []
    hyper = scalars()
    for value, gradient, r, c, v in zip(values, gradients, rows, columns, velocities, strict=True):
        bounds.shape_is("adafactor_factors", "gradient", gradient, value.shape)
        dtype = value.dtype.type
        beta, rest, epsilon_1, epsilon_2, clip_threshold = map(dtype, hyper)
        if status[0]:
            ratios.append(np.ones(1, dtype))
            continue
        regulated = np.square(gradient) + epsilon_1
        if r is None:
            v[...] = beta * v + rest * regulated
        else:
            r[...] = beta * r + rest * np.mean(regulated, axis=-1)
            c[...] = beta * c + rest * np.mean(regulated, axis=-2)
            # (..., M, 1) * (..., 1, N): the rows relative to their mean, times the columns.
            v[...] = (r / np.mean(r, axis=-1, keepdims=True))[..., None] * c[..., None, :]
        root = np.sqrt(v)
        with np.errstate(divide="ignore", invalid="ignore"):  # (v underflowed: no step there)
            gradient[...] = np.where(root > 0, gradient / root, gradient * 0)
        rms_value = np.sqrt(np.mean(np.square(value)))
        rms_step = np.sqrt(np.mean(np.square(gradient)))
        ratio = np.maximum(epsilon_2, rms_value) / np.maximum(dtype(1), rms_step / clip_threshold)
        ratios.append(np.asarray(ratio, dtype).reshape(1))
    return ratios


_updates = rules.Updates(apply_update)
sgd_update = _updates.sgd_update
rmsprop_update = _updates.rmsprop_update
adam_update = _updates.adam_update
nadam_update = _updates.nadam_update
adamax_update = _updates.adamax_update
lamb_update = _updates.lamb_update
adafactor_update = _updates.adafactor_update
adagrad_update = _updates.adagrad_update
adadelta_update = _updates.adadelta_update
lion_update = _updates.lion_update
ftrl_update = _updates.ftrl_update


# ---------------------------------------- gradient accumulation and moving averages (Keras's)
def accumulate_gradient(total: np.ndarray, grad: np.ndarray, status: np.ndarray) -> None:
    """total += grad in place (a step between updates), unless ``status`` is set."""
    bounds.shape_is("accumulate_gradient", "grad", grad, total.shape)
    if not status[0]:
        total += grad


def release_gradient(
    total: np.ndarray, grad: np.ndarray, steps: int, status: np.ndarray
) -> np.ndarray:
    """(grad + total) / steps, an update's gradient after accumulating; ``total`` is zeroed
    in place unless ``status`` is set."""
    bounds.shape_is("release_gradient", "grad", grad, total.shape)
    released = (grad + total) / total.dtype.type(steps)
    if not status[0]:
        total[...] = 0
    return released


def ema_update(
    average: np.ndarray, value: np.ndarray, momentum: float, overwrite: bool, status: np.ndarray
) -> None:
    """average = momentum * average + (1 - momentum) * value in place, then, with
    ``overwrite``, value = average; nothing once ``status`` is set."""
    bounds.shape_is("ema_update", "value", value, average.shape)
    if status[0]:
        return
    momentum = average.dtype.type(momentum)
    average[...] = momentum * average + (1 - momentum) * value
    if overwrite:
        value[...] = average


def guarded_copy(target: np.ndarray, source: np.ndarray, status: np.ndarray) -> None:
    """target = source in place (a weight's constraint written back), unless ``status`` is
    set."""
    bounds.shape_is("guarded_copy", "source", source, target.shape)
    if not status[0]:
        target[...] = source
