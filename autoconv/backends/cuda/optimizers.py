"""Optimizer updates on the GPU: the rules of :mod:`autoconv.backends.rules`, one thread per
element; scalars arrive in the parameter's dtype. Each update reads ``status`` (see
:mod:`autoconv.backends.cuda.training`) and does nothing once a step has gone non-finite, so
the weights of the last good step are kept without a host round-trip. Clipping by norm
computes its factor on the device too (:func:`clip_scale`): a step never waits for the host.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends import bounds, rules
from autoconv.backends.cuda.array import CudaArray, asarray, empty
from autoconv.backends.cuda.reduce import REDUCE_THREADS, block_sum
from autoconv.backends.cuda.runtime import configure, launch

prepare = cuda.jit(device=True)(rules.prepare)


@cache
def _kernel(name: str, slots: int) -> Any:
    """The update kernel of rule ``name`` with the slots ``slots`` (a bit mask) in use: one
    thread per element, grid-stride. The other slots (which alias ``value``) are not touched."""
    rule = cuda.jit(device=True)(getattr(rules, name))

    @cuda.jit
    def update(value, grad, a, b, c, scale, clipvalue, decay, hyper, status):
        if status[0] != 0:
            return
        s = scale[0]
        for i in range(cuda.grid(1), value.size, cuda.gridsize(1)):
            w, g = prepare(value[i], grad[i], s, clipvalue, decay)
            w, a_i, b_i, c_i = rule(
                w, g, a[i] if slots & 1 else w, b[i] if slots & 2 else w,
                c[i] if slots & 4 else w, hyper,
            )  # fmt: skip
            if slots & 1:
                a[i] = a_i
            if slots & 2:
                b[i] = b_i
            if slots & 4:
                c[i] = c_i
            value[i] = w

    return update


@cache
def _ones(dtype: str) -> CudaArray:
    return asarray(np.ones(1, dtype))


def _update(
    name: str, value: CudaArray, grad: CudaArray, slots: Sequence[CudaArray | None],
    hyper: Sequence[float], scale: CudaArray | None, clipvalue: float, decay: float,
    status: CudaArray,
) -> None:  # fmt: skip
    """Launch rule ``name`` over ``value`` in place; a None slot is neither read nor written."""
    dtype = value.dtype.type
    arrays = [value if s is None else s for s in (*slots, None, None)][:3]
    used = sum(1 << k for k, s in enumerate(slots) if s is not None)
    scale = _ones(value.dtype.str) if scale is None else scale
    launch(_kernel(name, used), value.size)(
        value.flat, grad.flat, *(a.flat for a in arrays), scale.flat, dtype(clipvalue),
        dtype(decay), tuple(dtype(h) for h in hyper), status.flat,
    )  # fmt: skip


_updates = rules.Updates(_update)
sgd_update = _updates.sgd_update
rmsprop_update = _updates.rmsprop_update
adam_update = _updates.adam_update
nadam_update = _updates.nadam_update
adamax_update = _updates.adamax_update
adagrad_update = _updates.adagrad_update
adadelta_update = _updates.adadelta_update
lion_update = _updates.lion_update
ftrl_update = _updates.ftrl_update


# ------------------------------------------------------------------ clipping by norm
@cache
def _sum_of_squares_kernel(dtype: str) -> Any:
    item = numba.from_dtype(np.dtype(dtype))

    @cuda.jit
    def kernel(values, out, k, zero):
        # One block: its threads stride over ``values`` and add up in shared memory.
        partial = cuda.shared.array(REDUCE_THREADS, item)
        acc = zero
        for i in range(cuda.threadIdx.x, values.size, REDUCE_THREADS):
            acc += values[i] * values[i]
        acc = block_sum(partial, acc)
        if cuda.threadIdx.x == 0:
            out[k] = acc

    return kernel


@cuda.jit
def _clip_scale(squares, clipnorm, per_tensor, zero, one, out):
    if cuda.grid(1) != 0:
        return
    total = zero
    for k in range(squares.size):
        total += squares[k]
    norm = math.sqrt(total)
    if per_tensor:
        out[0] = clipnorm / (norm if (norm > clipnorm or norm != norm) else clipnorm)
    else:  # clipnorm * min(1/norm, 1/clipnorm), without dividing by a zero norm
        smaller = one / clipnorm if norm <= clipnorm else one / norm
        out[0] = clipnorm * smaller + (norm - norm)


def clip_scale(grads: list[CudaArray], clipnorm: float, per_tensor: bool) -> CudaArray:
    """The factor that clips gradients by their L2 norm (a 0-d array of their dtype)."""
    dtype = grads[0].dtype
    squares = empty((len(grads),), dtype)
    kernel = _sum_of_squares_kernel(dtype.str)
    for k, grad in enumerate(grads):
        configure(kernel, 1, REDUCE_THREADS)(grad.flat, squares.flat, k, dtype.type(0))
    out = empty((), dtype)
    configure(_clip_scale, 1, 1)(
        squares.flat, dtype.type(clipnorm), per_tensor, dtype.type(0), dtype.type(1), out.flat
    )
    return out


# ---------------------------------------- gradient accumulation and moving averages (Keras's)
@cuda.jit
def _accumulate_gradient(total, grad, status):
    if status[0] != 0:
        return
    for i in range(cuda.grid(1), total.size, cuda.gridsize(1)):
        total[i] += grad[i]


def accumulate_gradient(total: CudaArray, grad: CudaArray, status: CudaArray) -> None:
    """total += grad in place (a step between updates), unless ``status`` is set."""
    bounds.shape_is("accumulate_gradient", "grad", grad, total.shape)
    launch(_accumulate_gradient, total.size)(total.flat, grad.flat, status.flat)


@cuda.jit
def _release_gradient(total, grad, steps, out, status):
    keep = status[0] != 0
    for i in range(cuda.grid(1), total.size, cuda.gridsize(1)):
        out[i] = (grad[i] + total[i]) / steps
        if not keep:
            total[i] = 0


def release_gradient(total: CudaArray, grad: CudaArray, steps: int, status: CudaArray) -> CudaArray:
    """(grad + total) / steps, an update's gradient after accumulating; ``total`` is zeroed
    in place unless ``status`` is set."""
    bounds.shape_is("release_gradient", "grad", grad, total.shape)
    out = empty(total.shape, total.dtype)
    launch(_release_gradient, total.size)(
        total.flat, grad.flat, total.dtype.type(steps), out.flat, status.flat
    )
    return out


@cuda.jit
def _ema_update(average, value, momentum, rest, overwrite, status):
    if status[0] != 0:
        return
    for i in range(cuda.grid(1), average.size, cuda.gridsize(1)):
        mean = momentum * average[i] + rest * value[i]
        average[i] = mean
        if overwrite:
            value[i] = mean


def ema_update(
    average: CudaArray, value: CudaArray, momentum: float, overwrite: bool, status: CudaArray
) -> None:
    """average = momentum * average + (1 - momentum) * value in place, then, with
    ``overwrite``, value = average; nothing once ``status`` is set."""
    bounds.shape_is("ema_update", "value", value, average.shape)
    dtype = average.dtype.type
    launch(_ema_update, average.size)(
        average.flat, value.flat, dtype(momentum), dtype(1) - dtype(momentum), overwrite,
        status.flat,
    )  # fmt: skip
