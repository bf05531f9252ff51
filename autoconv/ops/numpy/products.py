"""``keras.ops``'s products: matmul, dot, tensordot, inner, outer, vdot, kron, cross, einsum,
correlate and slogdet. Those that contract are a transpose, a reshape and the engine's matrix
product (GPU kernels, autograd); einsum, cross and slogdet compute with NumPy with their VJPs."""

from __future__ import annotations

import builtins
import string
from typing import Any

import numpy as np

from autoconv.ops import engine
from autoconv.ops.convert import all_integer, host_op, tensor, tensors, to_numpy
from autoconv.ops.numpy.arrays import flip, ndim, ravel, rearranged, reshape, values_of
from autoconv.tensor import Tensor


def matmul(x1: Any, x2: Any) -> Any:
    if all_integer(x1, x2):
        return np.matmul(to_numpy(x1), to_numpy(x2))
    return engine.matmul(*tensors(x1, x2))


def tensordot(x1: Any, x2: Any, axes: Any = 2) -> Any:
    """Sum of products over the given axes of x1 and x2 (the last ``axes`` of x1 with the first
    of x2 for an int), by a transpose, a reshape and one matrix product."""
    if all_integer(x1, x2):
        return np.tensordot(to_numpy(x1), to_numpy(x2), axes)
    a, b = tensors(x1, x2)
    if isinstance(axes, int | np.integer):
        a_axes, b_axes = list(range(a.ndim - axes, a.ndim)), list(range(int(axes)))
    else:
        a_axes, b_axes = (
            ([axes[0]] if isinstance(axes[0], int) else list(axes[0])),
            ([axes[1]] if isinstance(axes[1], int) else list(axes[1])),
        )
    a_axes = [ax % a.ndim for ax in a_axes]
    b_axes = [ax % b.ndim for ax in b_axes]
    if [a.shape[i] for i in a_axes] != [b.shape[i] for i in b_axes]:
        raise ValueError(f"tensordot: shapes {a.shape} and {b.shape} differ on axes {axes}")
    a_free = [i for i in range(a.ndim) if i not in a_axes]
    b_free = [i for i in range(b.ndim) if i not in b_axes]
    inner = int(np.prod([a.shape[i] for i in a_axes]))
    a2 = engine.reshape(engine.transpose(a, (*a_free, *a_axes)), (-1, inner))
    b2 = engine.reshape(engine.transpose(b, (*b_axes, *b_free)), (inner, -1))
    shape = tuple(a.shape[i] for i in a_free) + tuple(b.shape[i] for i in b_free)
    return engine.reshape(engine.matmul(a2, b2), shape)


def dot(x1: Any, x2: Any) -> Any:
    """NumPy's dot: a product for scalars, matmul for 1-D and 2-D, else a sum over the last axis
    of x1 and the second-to-last of x2."""
    d1, d2 = ndim(x1), ndim(x2)
    if d1 == 0 or d2 == 0:
        return _multiply(x1, x2)
    if d2 == 1 or (d1 <= 2 and d2 <= 2):
        return matmul(x1, x2)
    return tensordot(x1, x2, ([d1 - 1], [d2 - 2]))


def _multiply(x1: Any, x2: Any) -> Any:
    if all_integer(x1, x2):
        return np.multiply(to_numpy(x1), to_numpy(x2))
    return engine.mul(*tensors(x1, x2))


def inner(x1: Any, x2: Any) -> Any:
    if ndim(x1) == 0 or ndim(x2) == 0:
        return _multiply(x1, x2)
    return tensordot(x1, x2, ([ndim(x1) - 1], [ndim(x2) - 1]))


def outer(x1: Any, x2: Any) -> Any:
    return _multiply(reshape(x1, (-1, 1)), reshape(x2, (1, -1)))


def vdot(x1: Any, x2: Any) -> Any:
    return tensordot(ravel(x1), ravel(x2), 1)


def kron(x1: Any, x2: Any) -> Any:
    """The Kronecker product: blocks x1[i, j, ...] * x2."""
    n = builtins.max(ndim(x1), ndim(x2))
    s1 = (1,) * (n - ndim(x1)) + np.shape(values_of(x1))
    s2 = (1,) * (n - ndim(x2)) + np.shape(values_of(x2))
    a = reshape(x1, tuple(v for d in s1 for v in (d, 1)))
    b = reshape(x2, tuple(v for d in s2 for v in (1, d)))
    return reshape(_multiply(a, b), tuple(p * q for p, q in zip(s1, s2, strict=True)))


def cross(
    x1: Any, x2: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None
) -> Tensor:
    """The cross product of 3-vectors along the given axes; 2-vectors have a z of 0, and two
    2-vectors give the z of their product (as NumPy's)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = tensors(x1, x2)
    planar = a.shape[axisa] == 2 and b.shape[axisb] == 2

    def spatial(u, v):
        return _to3(np.moveaxis(u, axisa, -1)), _to3(np.moveaxis(v, axisb, -1))

    def forward(u, v):
        out = np.cross(*spatial(u, v))
        return out[..., 2] if planar else np.moveaxis(out, -1, axisc)

    def backward(g, out, u, v):  # d(u x v) = du x v + u x dv; <g, du x v> = <v x g, du>
        g3 = g[..., None] * np.array([0, 0, 1]) if planar else np.moveaxis(g, axisc, -1)
        u3, v3 = spatial(u, v)
        grad_u = np.cross(v3, g3)[..., : u.shape[axisa]]
        grad_v = np.cross(g3, u3)[..., : v.shape[axisb]]
        return np.moveaxis(grad_u, -1, axisa), np.moveaxis(grad_v, -1, axisb)

    return host_op("cross", forward, backward, [a, b])


def _to3(v: np.ndarray) -> np.ndarray:
    """2-vectors (on the last axis) as 3-vectors with a z of 0."""
    if v.shape[-1] == 2:
        return np.concatenate([v, np.zeros((*v.shape[:-1], 1), v.dtype)], axis=-1)
    if v.shape[-1] != 3:
        raise ValueError(f"cross: vectors must have 2 or 3 components, got {v.shape[-1]}")
    return v


def einsum(subscripts: str, *operands: Any, **kwargs: Any) -> Any:
    """Einstein summation; its gradient to each operand is the einsum of the output gradient
    with the other operands (labels an operand sums alone are broadcast back)."""
    if all_integer(*operands):
        return np.einsum(subscripts, *(to_numpy(o) for o in operands), **kwargs)
    inputs = tensors(*operands)
    spec = subscripts.replace(" ", "")
    if "." in spec:
        spec = _expand_ellipsis(spec, [t.ndim for t in inputs])
    in_specs, out_spec = [*spec.split("->"), None][:2]
    in_specs = in_specs.split(",")
    if out_spec is None:
        labels = "".join(in_specs)
        out_spec = "".join(sorted(c for c in set(labels) if labels.count(c) == 1))

    def backward(g, out, *arrays):
        grads = []
        for i, target in enumerate(in_specs):
            if len(set(target)) != len(target):
                raise NotImplementedError(
                    f"einsum: no gradient for an operand with a repeated label ({target})"
                )
            others = [s for j, s in enumerate(in_specs) if j != i]
            known = set(out_spec).union(*others)
            kept = "".join(c for c in target if c in known)
            operands_ = [g, *(a for j, a in enumerate(arrays) if j != i)]
            grad = np.einsum(f"{','.join([out_spec, *others])}->{kept}", *operands_)
            shape = arrays[i].shape
            grad = grad.reshape([shape[k] if c in kept else 1 for k, c in enumerate(target)])
            grads.append(np.broadcast_to(grad, shape))
        return grads

    return host_op(
        "einsum",
        lambda *a: np.einsum(f"{','.join(in_specs)}->{out_spec}", *a),
        backward,
        inputs,
    )


def _expand_ellipsis(spec: str, ndims: list[int]) -> str:
    """``...`` replaced by explicit labels, so the gradient can name every axis."""
    inputs, _, output = spec.partition("->")
    free = [c for c in string.ascii_letters if c not in spec]
    parts = inputs.split(",")
    width = builtins.max(n - len(p.replace("...", "")) for p, n in zip(parts, ndims, strict=True))
    labels = "".join(free[:width])
    expanded = []
    for part, n in zip(parts, ndims, strict=True):
        here = n - len(part.replace("...", ""))
        expanded.append(part.replace("...", labels[width - here :]))
    if "->" in spec:
        return ",".join(expanded) + "->" + output.replace("...", labels)
    joined = "".join(p.replace("...", "") for p in parts)
    rest = "".join(sorted(c for c in set(joined) if joined.count(c) == 1))
    return ",".join(expanded) + "->" + labels + rest


def correlate(x1: Any, x2: Any, mode: str = "valid") -> Tensor:
    """The cross-correlation of two 1-D arrays, c[k] = sum_n x1[n + k] x2[n] ('valid', 'same'
    or 'full' as NumPy's): x1's windows (gathered) times x2, so both get gradients."""
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"correlate: mode must be 'valid', 'same' or 'full', got {mode!r}")
    a, v = tensors(x1, x2)
    if a.ndim != 1 or v.ndim != 1:
        raise ValueError(f"correlate: x1 and x2 must be 1-D, got {a.shape} and {v.shape}")
    n, m = a.shape[0], v.shape[0]
    if n < m:  # NumPy swaps the operands and reverses the result
        return flip(correlate(v, a, mode))
    before = {"valid": 0, "same": m // 2, "full": m - 1}[mode]
    after = {"valid": 0, "same": m - 1 - m // 2, "full": m - 1}[mode]
    count = n + before + after - m + 1

    def windows(p: np.ndarray) -> np.ndarray:
        padded = np.pad(p, (before, after))
        return padded[np.arange(count)[:, None] + np.arange(m)]

    return engine.matmul(rearranged(a, windows, fill=True), v)


def slogdet(x: Any) -> tuple[Tensor, Tensor]:
    """(sign, log |det|) of square matrices (batched over leading axes); the gradient of
    log |det| is inv(x) transposed."""
    x = tensor(x)
    sign = host_op("slogdet_sign", lambda a: np.linalg.slogdet(a)[0], None, [x])

    def backward(g, out, a):
        return (g[..., None, None] * np.swapaxes(np.linalg.inv(a), -1, -2),)

    return sign, host_op("slogdet", lambda a: np.linalg.slogdet(a)[1], backward, [x])
