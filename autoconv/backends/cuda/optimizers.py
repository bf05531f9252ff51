"""Optimizer updates on the GPU: the rules of :mod:`autoconv.backends.rules`, every parameter of
a step in one launch (per dtype), its threads striding over each parameter's elements in turn;
scalars arrive in the parameter's dtype. Each update reads ``status`` (see
:mod:`autoconv.backends.cuda.training`) and does nothing once a step has gone non-finite, so
the weights of the last good step are kept without a host round-trip. Clipping by norm
computes its factor on the device too (:func:`clip_scale`): a step never waits for the host.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from autoconv.backends import bounds, rules
from autoconv.backends.cuda.array import CudaArray, asarray, empty
from autoconv.backends.cuda.capture import step_input
from autoconv.backends.cuda.reduce import REDUCE_THREADS, block_sum
from autoconv.backends.cuda.runtime import cached_kernel, configure, launch

prepare = cuda.jit(device=True)(rules.prepare)


@cache
def _kernel(name: str, slots: int) -> Any:
    """The update kernel of rule ``name`` with the slots ``slots`` (a bit mask) in use, over
    several parameters at once: each argument that belongs to a parameter is a tuple with an
    entry per parameter (numba's homogeneous tuples, indexed at run time), their elements
    numbered one after another (parameter k's from starts[k]), and each thread takes one
    element at a time of that numbering, grid-stride, finding its parameter from the last (a
    thread walked every parameter in turn: ten loops, most of them empty, one after another in
    MNIST's step). A slot not in use is a tuple of one array that is never read (its
    parameters' values are used in its place, untouched)."""
    rule = cuda.jit(device=True)(getattr(rules, name))

    @cuda.jit(device=True)
    def read(value, grad, slot_a, slot_b, slot_c, i):
        """Element i's (value, gradient, slots a, b, c); a slot not in use reads the value."""
        w = value[i]
        return (w, grad[i], slot_a[i] if slots & 1 else w, slot_b[i] if slots & 2 else w,
                slot_c[i] if slots & 4 else w)  # fmt: skip

    @cuda.jit(device=True)
    def updated(element, s, clipvalue, decay, scalars):
        """An element's new (value, slot a, slot b, slot c) from what :func:`read` gave."""
        w, g, a_i, b_i, c_i = element
        w, g = prepare(w, g, s, clipvalue, decay)
        return rule(w, g, a_i if slots & 1 else w, b_i if slots & 2 else w,
                    c_i if slots & 4 else w, scalars)  # fmt: skip

    @cuda.jit(device=True)
    def write(value, slot_a, slot_b, slot_c, i, new):
        w, a_i, b_i, c_i = new
        if slots & 1:
            slot_a[i] = a_i
        if slots & 2:
            slot_b[i] = b_i
        if slots & 4:
            slot_c[i] = c_i
        value[i] = w

    @cached_kernel
    def update(values, grads, a, b, c, scales, clipvalue, scalars, starts, status):
        # ``scalars``: the rule's hyperparameters, then each parameter's decay (a step input).
        if status[0] != 0:
            return
        decays = scalars.size - len(values)  # where the decays start
        j, stride, k = cuda.grid(1), cuda.gridsize(1), 0
        while j < starts[len(values)]:
            while j >= starts[k + 1]:
                k += 1
            # Parameter k's arrays and scalars, found once for its elements (a tuple indexed
            # at run time is a switch over its entries: 380 instructions an element on sm_90
            # when done for each).
            value, grad, s, decay = values[k], grads[k], scales[k][0], scalars[decays + k]
            slot_a = a[k] if slots & 1 else value
            slot_b = b[k] if slots & 2 else value
            slot_c = c[k] if slots & 4 else value
            first, end = starts[k], starts[k + 1]
            arrays = (value, grad, slot_a, slot_b, slot_c)
            hyper = (s, clipvalue, decay, scalars)
            while j + 3 * stride < end:  # four elements read, then updated, then written (in
                i = j - first  # place, a write kept the next element's loads behind it)
                e0, e1 = read(*arrays, i), read(*arrays, i + stride)
                e2, e3 = read(*arrays, i + 2 * stride), read(*arrays, i + 3 * stride)
                n0, n1 = updated(e0, *hyper), updated(e1, *hyper)
                n2, n3 = updated(e2, *hyper), updated(e3, *hyper)
                write(value, slot_a, slot_b, slot_c, i, n0)
                write(value, slot_a, slot_b, slot_c, i + stride, n1)
                write(value, slot_a, slot_b, slot_c, i + 2 * stride, n2)
                write(value, slot_a, slot_b, slot_c, i + 3 * stride, n3)
                j += 4 * stride
            while j < end:
                i = j - first
                write(value, slot_a, slot_b, slot_c, i, updated(read(*arrays, i), *hyper))
                j += stride

    return update


@cache
def _ones(dtype: str) -> CudaArray:
    return asarray(np.ones(1, dtype))


# A launch's arguments share the GPU's 4 KB of kernel parameters, where numba passes each 1-D
# array as 7 words (56 bytes): parameters beyond what fits go to further launches.
PARAMETER_BYTES, ARRAY_BYTES = 4096, 56


def apply_update(
    rule: str, values: list[CudaArray], grads: list[CudaArray],
    slots: Sequence[list[CudaArray] | None], scalars: Callable[[], tuple],
    scales: list[CudaArray | None], clipvalue: float, status: CudaArray,
) -> None:  # fmt: skip
    """Launch rule ``rule`` over every parameter of ``values`` in place: one launch for the
    parameters of each dtype (more only past the kernel parameters' room); a None slot is
    neither read nor written. ``scalars()`` gives (hyper, decays), which reach the kernel as a
    step input: a replayed step computes them anew (its learning rate, bias corrections)."""
    used = sum(1 << k for k, slot in enumerate(slots) if slot is not None)
    kernel = _kernel(rule, used)
    by_dtype: dict[np.dtype, list[int]] = {}
    for k, value in enumerate(values):
        by_dtype.setdefault(value.dtype, []).append(k)
    # Per parameter: its value, gradient, slots in use and scale (arrays), and its start.
    per_parameter = (3 + bin(used).count("1")) * ARRAY_BYTES + 8
    fixed = (3 + 3 + 1) * ARRAY_BYTES  # unused slots, status, scalars, with room
    at_once = max(1, (PARAMETER_BYTES - fixed) // per_parameter)
    for dtype, members in by_dtype.items():
        kind = dtype.type
        for first in range(0, len(members), at_once):
            part = members[first : first + at_once]
            flat = tuple(values[k].flat for k in part)

            def each(arrays: Any, part: list[int] = part, flat: tuple = flat, dtype=dtype) -> tuple:
                if arrays is None:  # a slot not in use: never read
                    return flat[:1]
                return tuple(arrays[k].astype(dtype, copy=False).flat for k in part)

            def packed(part: list[int] = part) -> list[float]:
                hyper, decays = scalars()
                return [*map(float, hyper), *(decays[k] for k in part)]

            starts = tuple(itertools.accumulate((values[k].size for k in part), initial=0))
            launch(kernel, starts[-1])(
                flat, each(grads), *(each(slot) for slot in (*slots, None, None)[:3]),
                tuple((_ones(dtype.str) if scales[k] is None else scales[k]).flat for k in part),
                kind(clipvalue), step_input(packed, dtype).flat, starts, status.flat,
            )  # fmt: skip


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


# ------------------------------------------------------------------ clipping by norm
@cache
def _sum_of_squares_kernel(dtype: str) -> Any:
    item = numba.from_dtype(np.dtype(dtype))

    @cached_kernel
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


@cached_kernel
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


@cached_kernel
def _trust_ratios(squares, out, one):
    # ``squares``: each parameter's sum of squares, then its direction's.
    k = cuda.grid(1)
    if k < out.size:
        norm, step_norm = math.sqrt(squares[2 * k]), math.sqrt(squares[2 * k + 1])
        out[k] = norm / step_norm if (norm > 0 and step_norm > 0) else one


def trust_ratios(values: list[CudaArray], directions: list[CudaArray]) -> list[CudaArray]:
    """LAMB's trust ratio of each parameter, |value| / |direction| (L2 norms; 1 where either
    is 0 or NaN), a 1-element array of its dtype on the device: the scale of its step."""
    ratios = []
    for value, direction in zip(values, directions, strict=True):
        bounds.shape_is("trust_ratios", "direction", direction, value.shape)
        dtype = value.dtype
        squares, out = empty((2,), dtype), empty((1,), dtype)
        kernel = _sum_of_squares_kernel(dtype.str)
        for k, array in enumerate((value, direction)):
            configure(kernel, 1, REDUCE_THREADS)(array.flat, squares.flat, k, dtype.type(0))
        configure(_trust_ratios, 1, 1)(squares.flat, out.flat, dtype.type(1))
        ratios.append(out)
    return ratios


# ------------------------------------------------------------------------ Adafactor
# ``hyper``: (beta, 1 - beta, epsilon_1, epsilon_2, clip_threshold), a step input. A parameter
# of rank >= 2 is seen as (B, M, N): its rows r are (B, M), its columns c (B, N).
@cached_kernel
def _adafactor_moments(gradient, r, c, rows, cols, m_count, n_count, hyper, status):
    # A thread per row (a mean over N) or column (over M) of the regulated squares.
    if status[0] != 0:
        return
    beta, rest, epsilon_1 = hyper[0], hyper[1], hyper[2]
    for t in range(cuda.grid(1), r.size + c.size, cuda.gridsize(1)):
        total = epsilon_1 - epsilon_1
        if t < r.size:  # row t = (b, m): elements t*N ... t*N + N - 1
            for n in range(cols):
                g = gradient[t * cols + n]
                total += g * g + epsilon_1
            r[t] = beta * r[t] + rest * (total / n_count)
        else:  # column (b, n)
            b, n = (t - r.size) // cols, (t - r.size) % cols
            for m in range(rows):
                g = gradient[(b * rows + m) * cols + n]
                total += g * g + epsilon_1
            c[t - r.size] = beta * c[t - r.size] + rest * (total / m_count)


@cached_kernel
def _adafactor_row_means(r, rows, m_count, means):
    b = cuda.grid(1)
    if b < means.size:
        total = m_count - m_count
        for m in range(rows):
            total += r[b * rows + m]
        means[b] = total / m_count


@cached_kernel
def _adafactor_scale(gradient, v, r, c, means, rows, cols, factored, hyper, status):
    # v from the factors (or its moving average, rank < 2), then gradient /= sqrt(v) (0
    # where v underflowed to 0).
    if status[0] != 0:
        return
    beta, rest, epsilon_1 = hyper[0], hyper[1], hyper[2]
    for i in range(cuda.grid(1), v.size, cuda.gridsize(1)):
        g = gradient[i]
        if factored:
            row, n = i // cols, i % cols
            b = row // rows
            v[i] = r[row] / means[b] * c[b * cols + n]
        else:
            v[i] = beta * v[i] + rest * (g * g + epsilon_1)
        root = math.sqrt(v[i])
        gradient[i] = g / root if root > 0 else g - g  # (v underflowed: no step, not 0/0)


@cached_kernel
def _adafactor_ratio(squares, count, hyper, one, out):
    # ``squares``: the value's sum of squares, then the scaled gradient's.
    if cuda.grid(1) != 0:
        return
    epsilon_2, clip_threshold = hyper[3], hyper[4]
    rms_value, rms_step = math.sqrt(squares[0] / count), math.sqrt(squares[1] / count)
    size = rms_value if (rms_value > epsilon_2 or rms_value != rms_value) else epsilon_2
    clip = rms_step / clip_threshold
    out[0] = size / (clip if (clip > one or clip != clip) else one)


def adafactor_factors(
    values: list[CudaArray], gradients: list[CudaArray], rows: list[CudaArray | None],
    columns: list[CudaArray | None], velocities: list[CudaArray], scalars: Callable[[], tuple],
    status: CudaArray,
) -> list[CudaArray]:  # fmt: skip
    """Adafactor's second moments, its gradients scaled by them in place, and each parameter's
    step size (see the contract): a few launches per parameter, none reading back."""
    hypers: dict[np.dtype, CudaArray] = {}
    ratios = []
    for value, gradient, r, c, v in zip(values, gradients, rows, columns, velocities, strict=True):
        bounds.shape_is("adafactor_factors", "gradient", gradient, value.shape)
        dtype = value.dtype
        kind = dtype.type
        if dtype not in hypers:
            hypers[dtype] = step_input(scalars, dtype)
        hyper = hypers[dtype].flat
        factored = r is not None
        m, n = value.shape[-2:] if factored else (1, 1)
        if factored:
            launch(_adafactor_moments, r.size + c.size)(
                gradient.flat, r.flat, c.flat, m, n, kind(m), kind(n), hyper, status.flat
            )
            means = empty((r.size // m,), dtype)
            launch(_adafactor_row_means, means.size)(r.flat, m, kind(m), means.flat)
            factors = (r.flat, c.flat, means.flat)
        else:  # never read
            factors = (v.flat, v.flat, v.flat)
        launch(_adafactor_scale, v.size)(
            gradient.flat, v.flat, *factors, m, n, factored, hyper, status.flat
        )
        squares, out = empty((2,), dtype), empty((1,), dtype)
        kernel = _sum_of_squares_kernel(dtype.str)
        for k, array in enumerate((value, gradient)):
            configure(kernel, 1, REDUCE_THREADS)(array.flat, squares.flat, k, kind(0))
        configure(_adafactor_ratio, 1, 1)(squares.flat, kind(value.size), hyper, kind(1), out.flat)
        ratios.append(out)
    return ratios


# ---------------------------------------- gradient accumulation and moving averages (Keras's)
@cached_kernel
def _accumulate_gradient(total, grad, status):
    if status[0] != 0:
        return
    for i in range(cuda.grid(1), total.size, cuda.gridsize(1)):
        total[i] += grad[i]


def accumulate_gradient(total: CudaArray, grad: CudaArray, status: CudaArray) -> None:
    """total += grad in place (a step between updates), unless ``status`` is set."""
    bounds.shape_is("accumulate_gradient", "grad", grad, total.shape)
    launch(_accumulate_gradient, total.size)(total.flat, grad.flat, status.flat)


@cached_kernel
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


@cached_kernel
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


@cached_kernel
def _guarded_copy(target, source, status):
    if status[0] != 0:
        return
    for i in range(cuda.grid(1), target.size, cuda.gridsize(1)):
        target[i] = source[i]


def guarded_copy(target: CudaArray, source: CudaArray, status: CudaArray) -> None:
    """target = source in place (a weight's constraint written back), unless ``status`` is
    set."""
    bounds.shape_is("guarded_copy", "source", source, target.shape)
    launch(_guarded_copy, target.size)(target.flat, source.flat, status.flat)
