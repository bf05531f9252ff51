"""Gradient checking by central finite differences, for the tests and for users' own ops."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autoconv.tensor import Tensor


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate."""


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check the gradients of ``fn(*inputs)`` for every input, in float64.

    The output is reduced to a scalar with fixed random weights, so every entry of the
    Jacobian takes part. Each input element is nudged by +-eps and the central difference
    is compared with the gradient from ``backward()``:
    ``|analytic - numeric| <= atol + rtol * |numeric|``.
    Inputs are converted to float64 Tensors; pick them away from kinks (ReLU at 0, ties in a
    max). Returns True, or raises :class:`GradcheckError` naming the input and the worst entry.

    >>> gradcheck(lambda a, b: a * b, [np.ones(3), np.arange(3.0)])
    True
    """
    arrays = [
        np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64, copy=True, order="C")
        for x in inputs
    ]
    rng = np.random.default_rng(seed)
    probe = fn(*[Tensor(a) for a in arrays])
    weights = rng.standard_normal(probe.shape)

    def weighted_output(values: list[np.ndarray]) -> float:
        return float((fn(*[Tensor(v) for v in values]).data * weights).sum())

    leaves = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    if out.dtype != np.float64:
        raise GradcheckError(f"gradcheck: fn returned {out.dtype} for float64 inputs")
    out.backward(weights)

    for index, (array, leaf) in enumerate(zip(arrays, leaves, strict=True)):
        analytic = np.zeros_like(array) if leaf.grad is None else leaf.grad
        numeric = np.zeros_like(array)
        flat = array.reshape(-1)
        for k in range(flat.size):
            original = flat[k]
            flat[k] = original + eps
            plus = weighted_output(arrays)
            flat[k] = original - eps
            minus = weighted_output(arrays)
            flat[k] = original
            numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
        error = np.abs(analytic - numeric)
        bad = error > atol + rtol * np.abs(numeric)
        if bad.any():
            worst = np.unravel_index(np.argmax(error - rtol * np.abs(numeric)), array.shape)
            raise GradcheckError(
                f"gradcheck: input {index} (shape {array.shape}): {int(bad.sum())} of "
                f"{array.size} entries wrong; at {tuple(int(i) for i in worst)} analytic "
                f"{analytic[worst]:.6g} vs numeric {numeric[worst]:.6g}"
            )
    return True
