"""``keras.ops.linalg``: decompositions, inverses, solves and norms of matrices (..., M, N),
batched over the leading axes, with Keras's signatures, defaults and argument checks.

The LAPACK work runs in NumPy on the host (:func:`~autoconv.ops.convert.host_op`: a GPU
tensor's values are copied over and the result back); Keras's differentiable functions have
their VJPs: ``det``, ``inv``, ``solve``, ``solve_triangular``, ``cholesky``,
``cholesky_inverse``, ``eigh``, ``svd``, ``pinv``, ``lstsq`` and ``norm``. ``qr`` and
``lu_factor`` give no gradient (their outputs are constants to autograd). Matrices autoconv's
Tensors cannot hold come back as NumPy arrays: ``eig``'s complex eigenvalues and eigenvectors
(complex64 for float32 input, complex128 for float64, as Keras's), ``lu_factor``'s pivots and
``matrix_rank``'s ranks (int32).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from autoconv.ops.base import normalize_axis
from autoconv.ops.convert import host_op, tensor, tensors
from autoconv.ops.elementwise import abs as absolute
from autoconv.ops.products import matmul
from autoconv.ops.reduce import max as reduce_max
from autoconv.ops.reduce import sum as reduce_sum
from autoconv.ops.reshaping import getitem, reshape, transpose
from autoconv.tensor import Tensor

__all__ = [
    "cholesky",
    "cholesky_inverse",
    "det",
    "eig",
    "eigh",
    "inv",
    "jvp",
    "lstsq",
    "lu_factor",
    "matrix_rank",
    "norm",
    "pinv",
    "qr",
    "solve",
    "solve_triangular",
    "svd",
]


# ------------------------------------------------------------------------------ helpers
def _mT(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def _transposed(t: Tensor) -> Tensor:
    """The Tensor with its last two axes swapped."""
    return transpose(t, (*range(t.ndim - 2), t.ndim - 1, t.ndim - 2))


def _matrices(x: Any, name: str, arg: str = "x", square: bool = False) -> Tensor:
    """``x`` as a Tensor of matrices (..., M, N) (square ones when asked), checked as Keras."""
    x = tensor(x)
    if x.ndim < 2:
        raise ValueError(
            f"{name}: `{arg}` must have rank >= 2 (matrices (..., M, N)); received shape {x.shape}"
        )
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(
            f"{name}: `{arg}` must hold square matrices (..., M, M); received shape {x.shape}"
        )
    return x


@contextlib.contextmanager
def _failing_as(name: str) -> Iterator[None]:
    """LAPACK's failures (singular, not positive definite) as Keras's ValueError, named."""
    try:
        yield
    except np.linalg.LinAlgError as error:
        raise ValueError(f"{name} failed: {error}") from None


def _host_outputs(
    name: str,
    forward: Callable[..., Sequence[np.ndarray]],
    backward: Callable[..., Sequence[np.ndarray | None]] | None,
    x: Tensor,
) -> tuple[Tensor, ...]:
    """Several outputs (..., *core) of one NumPy ``forward(x)``, computed once: packed along
    one last axis for :func:`host_op` and split back (autograd carries each part's gradient).
    ``backward(grads, outs, x)`` gets one gradient array per output."""
    batch, shapes = x.shape[:-2], []

    def parts() -> list[tuple[int, int, tuple[int, ...]]]:
        ends = np.cumsum([0] + [int(np.prod(s)) for s in shapes]).tolist()
        return list(zip(ends[:-1], ends[1:], shapes, strict=True))

    def split(packed: np.ndarray) -> list[np.ndarray]:
        return [packed[..., start:stop].reshape(*batch, *shape) for start, stop, shape in parts()]

    def packed_forward(a: np.ndarray) -> np.ndarray:
        outs = forward(a)
        shapes[:] = [o.shape[len(batch) :] for o in outs]
        return np.concatenate([o.reshape(*batch, -1) for o in outs], axis=-1)

    def packed_backward(g: np.ndarray, out: np.ndarray, a: np.ndarray) -> list[np.ndarray]:
        return backward(split(g), split(out), a)

    packed = host_op(name, packed_forward, packed_backward if backward else None, [x])
    lead = (slice(None),) * len(batch)
    return tuple(
        reshape(getitem(packed, (*lead, slice(start, stop))), (*batch, *shape))
        for start, stop, shape in parts()
    )


# ------------------------------------------------------------------ inverses and solves
def det(x: Any) -> Tensor:
    """The determinants (...,) of square matrices x (..., M, M). Gradient: det * inv(x)^T."""
    x = _matrices(x, "det", square=True)

    def backward(g, out, a):
        return ((g * out)[..., None, None] * _mT(np.linalg.inv(a)),)

    return host_op("det", np.linalg.det, backward, [x])


def inv(x: Any) -> Tensor:
    """The inverses (..., M, M) of square matrices x; a singular one is a ValueError."""
    x = _matrices(x, "inv", square=True)

    def backward(g, out, a):
        return (-_mT(out) @ g @ _mT(out),)

    with _failing_as("inv"):
        return host_op("inv", np.linalg.inv, backward, [x])


def _solve(a: Tensor, b: Tensor) -> Tensor:
    """a^-1 b for matrices b (..., M, K), batch axes broadcasting."""

    def backward(g, x, a_, b_):
        grad_b = np.linalg.solve(_mT(a_), g)
        return -grad_b @ _mT(x), grad_b

    return host_op("solve", np.linalg.solve, backward, [a, b])


def _solve_checked(a: Any, b: Any, name: str, solver: Callable[[Tensor, Tensor], Tensor]):
    """Keras's checks of ``solve(a, b)``; b (..., M) is a vector (or a batch of vectors)."""
    a, b = tensors(a, b)
    a = _matrices(a, name, "a", square=True)
    if b.ndim < 1:
        raise ValueError(f"{name}: `b` must have rank >= 1; received a scalar")
    vector = b.ndim == 1 or b.ndim == a.ndim - 1
    if b.shape[-1 if vector else -2] != a.shape[-1]:
        raise ValueError(
            f"{name}: incompatible shapes of `a` {a.shape} and `b` {b.shape}: b must be "
            f"(..., {a.shape[-1]}) or (..., {a.shape[-1]}, K)"
        )
    if not vector:
        return solver(a, b)
    out = solver(a, reshape(b, (*b.shape, 1)))
    return reshape(out, out.shape[:-1])


def solve(a: Any, b: Any) -> Tensor:
    """x with a x = b: a (..., M, M), b (..., M) or (..., M, K) (the result has b's shape);
    batch axes broadcast. Differentiable in a and b."""
    with _failing_as("solve"):
        return _solve_checked(a, b, "solve", _solve)


def _triangle(a: Tensor, lower: bool) -> Tensor:
    """a's lower (or upper) triangle: the only entries a triangular solve reads."""
    mask = np.tri(a.shape[-1], dtype=a.dtype)
    return a * tensor(mask if lower else mask.T, like=a)


def solve_triangular(a: Any, b: Any, lower: bool = False) -> Tensor:
    """x with a x = b for triangular a (..., M, M): only its upper triangle is read
    (``lower=True``: the lower one); b and the result as :func:`solve`."""

    def solver(a_: Tensor, b_: Tensor) -> Tensor:
        return _solve(_triangle(a_, lower), b_)

    with _failing_as("solve_triangular"):
        return _solve_checked(a, b, "solve_triangular", solver)


def cholesky(x: Any, upper: bool = False) -> Tensor:
    """The Cholesky factor of symmetric positive-definite x (..., M, M): lower L with
    x = L L^T (``upper=True``: U = L^T, x = U^T U). Only x's lower triangle is read; the
    gradient is the symmetric one (as PyTorch's). Not positive definite: ValueError."""
    x = _matrices(x, "cholesky", square=True)

    def backward(g, low, a):
        phi = np.tril(_mT(low) @ g)
        phi[..., range(a.shape[-1]), range(a.shape[-1])] *= 0.5
        inv_low = np.linalg.inv(low)
        grad = _mT(inv_low) @ phi @ inv_low
        return (0.5 * (grad + _mT(grad)),)

    with _failing_as("cholesky"):
        low = host_op("cholesky", np.linalg.cholesky, backward, [x])
    return _transposed(low) if upper else low


def cholesky_inverse(x: Any, upper: bool = False) -> Tensor:
    """The inverse of A from its Cholesky factor x (..., M, M): (x x^T)^-1 for lower x,
    (x^T x)^-1 for upper x (``upper=True``), as ``torch.cholesky_inverse``. Differentiable."""
    x = _matrices(x, "cholesky_inverse", square=True)
    eye = tensor(np.eye(x.shape[-1], dtype=x.dtype), like=x)
    with _failing_as("cholesky_inverse"):
        factor_inverse = _solve(_triangle(x, not upper), eye)
    if upper:
        return matmul(factor_inverse, _transposed(factor_inverse))
    return matmul(_transposed(factor_inverse), factor_inverse)


def _pinv_vjp(g: np.ndarray, p: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The VJP of the pseudo-inverse p of a (constant rank): Golub and Pereyra's derivative."""
    left = np.eye(a.shape[-2], dtype=a.dtype) - a @ p
    right = np.eye(a.shape[-1], dtype=a.dtype) - p @ a
    pt, gt = _mT(p), _mT(g)
    return -pt @ g @ pt + left @ gt @ p @ pt + pt @ p @ gt @ right


def pinv(x: Any, rcond: float | None = None) -> Tensor:
    """The Moore-Penrose pseudo-inverses (..., N, M) of x (..., M, N), by SVD: singular values
    at most ``rcond`` times the largest count as 0 (default max(M, N) * eps, NumPy's and
    PyTorch's). Differentiable where the rank does not change."""
    x = _matrices(x, "pinv")

    def forward(a):
        return np.linalg.pinv(a, rtol=rcond)

    def backward(g, p, a):
        return (_pinv_vjp(g, p, a),)

    return host_op("pinv", forward, backward, [x])


def lstsq(a: Any, b: Any, rcond: float | None = None) -> Tensor:
    """The least-squares solution x (N,) or (N, K) of a x = b, a (M, N), b (M,) or (M, K):
    the one of least norm, ``pinv(a, rcond) @ b`` (``rcond`` as NumPy's: singular values
    below rcond * largest are 0; default eps * max(M, N)). Differentiable in a and b."""
    a, b = tensors(a, b)
    if a.ndim != 2:
        raise ValueError(f"lstsq: `a` must have rank 2 (M, N); received shape {a.shape}")
    if b.ndim not in (1, 2):
        raise ValueError(f"lstsq: `b` must have rank 1 or 2; received shape {b.shape}")
    if b.shape[0] != a.shape[0]:
        raise ValueError(
            f"lstsq: `b` must have as many rows as `a`; received a.shape={a.shape}, "
            f"b.shape={b.shape}"
        )
    if rcond is None:
        rcond = float(np.finfo(a.dtype).eps * max(a.shape))
    return matmul(pinv(a, rcond), b)


# ------------------------------------------------------------------------ decompositions
def eigh(x: Any) -> tuple[Tensor, Tensor]:
    """(eigenvalues (..., M) in ascending order, eigenvectors (..., M, M) as columns) of
    symmetric x (only its lower triangle is read). Differentiable for distinct eigenvalues
    (the symmetric gradient, as PyTorch's); eigenvector signs are LAPACK's."""
    x = _matrices(x, "eigh", square=True)

    def backward(grads, outs, a):
        (g_w, g_v), (w, v) = grads, outs
        inner = np.zeros_like(a)
        if g_v.any():
            gaps = w[..., None, :] - w[..., :, None]
            gaps[..., range(w.shape[-1]), range(w.shape[-1])] = 1.0
            vg = _mT(v) @ g_v
            inner = 0.5 * (vg - _mT(vg)) / gaps
        inner[..., range(w.shape[-1]), range(w.shape[-1])] += g_w
        return (v @ inner @ _mT(v),)

    with _failing_as("eigh"):
        return _host_outputs("eigh", np.linalg.eigh, backward, x)


def eig(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues (..., M), eigenvectors (..., M, M) as unit columns) of square x, as NumPy
    complex arrays (complex64 for float32 x, complex128 for float64): autoconv's Tensors hold
    real numbers only. No gradient."""
    x = _matrices(x, "eig", square=True)
    complex_dtype = np.result_type(x.dtype, np.complex64)
    with _failing_as("eig"):
        w, v = np.linalg.eig(x.numpy())
    return w.astype(complex_dtype), v.astype(complex_dtype)


def _svd_vjp(g_u, g_s, g_vh, u, s, vh, a):
    """The VJP of the reduced SVD a = u diag(s) vh, k = min(M, N) (PyTorch's svd_backward)."""
    k = s.shape[-1]
    inner = np.zeros((*s.shape, k), dtype=a.dtype)
    wants_u, wants_vh = g_u.any(), g_vh.any()
    if wants_u or wants_vh:
        gaps = s[..., None, :] ** 2 - s[..., :, None] ** 2
        gaps[..., range(k), range(k)] = 1.0
        ug, vg = _mT(u) @ g_u, vh @ _mT(g_vh)
        inner = ((ug - _mT(ug)) * s[..., None, :] + s[..., :, None] * (vg - _mT(vg))) / gaps
    inner[..., range(k), range(k)] += g_s
    m, n = a.shape[-2:]
    if m > k and wants_u:
        g_u_s = g_u / s[..., None, :]
        return (u @ inner + g_u_s - u @ (_mT(u) @ g_u_s)) @ vh
    if n > k and wants_vh:
        s_g_vh = g_vh / s[..., :, None]
        return u @ (inner @ vh + s_g_vh - (s_g_vh @ _mT(vh)) @ vh)
    return u @ inner @ vh


def svd(
    x: Any, full_matrices: bool = True, compute_uv: bool = True
) -> tuple[Tensor, Tensor, Tensor] | Tensor:
    """The singular value decomposition x = u diag(s) vh of x (..., M, N): (u (..., M, M),
    s (..., K) descending, vh (..., N, N)), K = min(M, N); ``full_matrices=False`` gives u
    (..., M, K) and vh (..., K, N); ``compute_uv=False`` only s. Differentiable: s always, u
    and vh for distinct nonzero singular values (not the extra columns of full matrices).
    Vector signs are LAPACK's."""
    x = _matrices(x, "svd")
    if not compute_uv:

        def values(a):
            return np.linalg.svd(a, compute_uv=False)

        def values_backward(g, s, a):
            u, _, vh = np.linalg.svd(a, full_matrices=False)
            return (u @ (g[..., None] * vh),)

        with _failing_as("svd"):
            return host_op("svd", values, values_backward, [x])
    k = min(x.shape[-2:])

    def backward(grads, outs, a):
        (g_u, g_s, g_vh), (u, s, vh) = grads, outs
        if g_u[..., k:].any() or g_vh[..., k:, :].any():
            raise ValueError(
                "svd: the extra singular vectors of full_matrices=True are not unique and "
                "have no gradient; use full_matrices=False"
            )
        return (_svd_vjp(g_u[..., :k], g_s, g_vh[..., :k, :], u[..., :k], s, vh[..., :k, :], a),)

    with _failing_as("svd"):
        return _host_outputs(
            "svd", lambda a: np.linalg.svd(a, full_matrices=full_matrices), backward, x
        )


def qr(x: Any, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    """The QR decomposition x = q r of x (..., M, N): 'reduced' gives q (..., M, K) with
    orthonormal columns and upper-triangular r (..., K, N), K = min(M, N); 'complete' gives
    q (..., M, M) and r (..., M, N). Signs are LAPACK's. No gradient."""
    if mode not in ("reduced", "complete"):
        raise ValueError(
            "qr: `mode` argument value not supported. Expected one of {'reduced', "
            f"'complete'}}. Received: mode={mode}"
        )
    x = _matrices(x, "qr")
    return _host_outputs("qr", lambda a: np.linalg.qr(a, mode=mode), None, x)


def lu_factor(x: Any) -> tuple[Tensor, np.ndarray]:
    """LAPACK's LU factorization with partial pivoting of x (..., M, N), as
    ``scipy.linalg.lu_factor``: (lu (..., M, N) holding unit-lower L below the diagonal and U
    on and above it, pivots (..., K) int32: row i was swapped with row pivots[i], 0-based).
    No gradient."""
    x = _matrices(x, "lu_factor")
    lu = x.numpy().reshape(-1, *x.shape[-2:])
    k = min(x.shape[-2:])
    pivots = np.zeros((lu.shape[0], k), dtype=np.int32)
    batch = np.arange(lu.shape[0])
    for j in range(k):
        p = j + np.argmax(np.abs(lu[:, j:, j]), axis=1)
        pivots[:, j] = p
        lu[batch, j], lu[batch, p] = lu[batch, p], lu[batch, j].copy()
        pivot = lu[:, j, j]
        nonzero = pivot != 0  # LAPACK leaves a zero pivot's column unscaled
        lu[nonzero, j + 1 :, j] /= pivot[nonzero, None]
        lu[:, j + 1 :, j + 1 :] -= lu[:, j + 1 :, j : j + 1] * lu[:, j : j + 1, j + 1 :]
    out = Tensor(lu.reshape(x.shape), device=x.device)
    return out, pivots.reshape(*x.shape[:-2], k)


def matrix_rank(x: Any, tol: float | None = None) -> np.ndarray:
    """The ranks (...,) int32 of x (..., M, N): the number of singular values above ``tol``
    (default: largest * max(M, N) * eps, NumPy's and PyTorch's)."""
    x = _matrices(x, "matrix_rank")
    return np.asarray(np.linalg.matrix_rank(x.numpy(), tol=tol), dtype=np.int32)


# --------------------------------------------------------------------------------- norm
_MATRIX_ORDS = (None, "fro", "nuc", np.inf, -np.inf, 1, -1, 2, -2)


def _root(total: Tensor, p: float) -> Tensor:
    """total ** (1 / p), with 0 (and a gradient of 0) where total is 0, as PyTorch's norms."""
    zero = tensor((total.numpy() == 0).astype(total.dtype), like=total)
    return (total + zero) ** (1.0 / p) * (1.0 - zero)


def _smallest(x: Tensor, axis: int) -> Tensor:
    return -reduce_max(-x, axis=axis, keepdims=True)


def _vector_norm(x: Tensor, ord: Any, axes: tuple[int, ...]) -> Tensor:
    if ord is None or ord == 2:
        return _root(reduce_sum(x * x, axis=axes, keepdims=True), 2)
    if ord == np.inf:
        return reduce_max(absolute(x), axis=axes, keepdims=True)
    if ord == -np.inf:
        return _smallest(absolute(x), axes[0])
    if ord == 0:
        counts = (x.numpy() != 0).sum(axis=axes, keepdims=True)
        return tensor(counts.astype(x.dtype), like=x)
    if ord == 1:
        return reduce_sum(absolute(x), axis=axes, keepdims=True)
    return _root(reduce_sum(absolute(x) ** ord, axis=axes, keepdims=True), ord)


def _matrix_norm(x: Tensor, ord: Any, rows: int, cols: int) -> Tensor:
    if ord is None or ord == "fro":
        return _root(reduce_sum(x * x, axis=(rows, cols), keepdims=True), 2)
    if ord in (1, -1, np.inf, -np.inf):
        summed, across = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = reduce_sum(absolute(x), axis=summed, keepdims=True)
        return reduce_max(sums, axis=across, keepdims=True) if ord > 0 else _smallest(sums, across)
    others = [d for d in range(x.ndim) if d not in (rows, cols)]
    values = svd(transpose(x, (*others, rows, cols)), compute_uv=False)
    if ord == "nuc":
        reduced = reduce_sum(values, axis=-1)
    else:
        reduced = reduce_max(values, axis=-1) if ord == 2 else -reduce_max(-values, axis=-1)
    return reshape(reduced, tuple(1 if d in (rows, cols) else n for d, n in enumerate(x.shape)))


def norm(
    x: Any, ord: Any = None, axis: int | Sequence[int] | None = None, keepdims: bool = False
) -> Tensor:
    """Vector or matrix norms of x, as ``numpy.linalg.norm``: ``axis`` an int (vector norms
    along it), a pair (matrix norms of those (rows, columns) axes) or None (x 1-D or 2-D, or
    any x with ``ord=None``: the 2-norm of all its values). Vector ``ord``: None/2, inf, -inf,
    0 (count of nonzeros), 1 or any p; matrix ``ord``: None/'fro', 'nuc', inf, -inf, 1, -1,
    2, -2. Differentiable (the gradient of a zero vector's 2-norm is 0, as PyTorch's)."""
    x = tensor(x)
    if isinstance(ord, str) and ord not in ("fro", "nuc"):
        raise ValueError(
            "norm: Invalid `ord` argument. Expected one of {'fro', 'nuc'} when using string. "
            f"Received: ord={ord}"
        )
    if axis is None:
        if ord is not None and x.ndim not in (1, 2):
            raise ValueError(
                f"norm: ord={ord} with axis=None needs a 1-D or 2-D input; received shape "
                f"{x.shape} (pass `axis`)"
            )
        axes = tuple(range(x.ndim)) if ord is None or x.ndim == 1 else (0, 1)
        vector = ord is None or x.ndim == 1
    else:
        axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
        axes = tuple(normalize_axis(int(a), x.ndim, "norm") for a in axes)
        if len(axes) not in (1, 2) or len(set(axes)) != len(axes):
            raise ValueError(f"norm: `axis` must be an int or two distinct ints; got {axis}")
        vector = len(axes) == 1
    if vector and isinstance(ord, str):
        raise ValueError(f"norm: Invalid `ord` argument for vector norm. Received: ord={ord}")
    if not vector and ord not in _MATRIX_ORDS:
        raise ValueError(f"norm: Invalid `ord` argument for matrix norm. Received: ord={ord}")
    out = _vector_norm(x, ord, axes) if vector else _matrix_norm(x, ord, *axes)
    if keepdims:
        return out
    return reshape(out, tuple(n for d, n in enumerate(x.shape) if d not in axes))


def jvp(fun: Callable[..., Any], primals: Any, tangents: Any, has_aux: bool = False) -> Any:
    """The Jacobian-vector product of ``fun`` at ``primals`` along ``tangents`` (tuples, one per
    argument): ``(outputs, output_tangents)``, and ``fun``'s auxiliary result with ``has_aux``.
    autoconv's autograd is reverse-mode, so this takes one backward pass per output element:
    exact, meant for small outputs."""
    if len(primals) != len(tangents):
        raise ValueError(
            f"jvp: {len(primals)} primals but {len(tangents)} tangents; give one tangent each"
        )
    inputs = [
        Tensor(tensor(p).numpy(), requires_grad=True, device=tensor(p).device) for p in primals
    ]
    directions = [tensor(t, like=x).numpy() for t, x in zip(tangents, inputs, strict=True)]
    result = fun(*inputs)
    out, aux = result if has_aux else (result, None)
    if not isinstance(out, Tensor):
        raise TypeError(f"jvp: fun must return one Tensor, got {type(out).__name__}")
    along = np.zeros(out.shape, out.dtype)
    for i in range(out.size):
        for x in inputs:
            x.grad = None
        seed = np.zeros(out.shape, out.dtype)
        seed.flat[i] = 1
        out.backward(Tensor(seed, device=out.device).data, retain_graph=True)
        along.flat[i] = sum(
            float((Tensor(x.grad, device=x.device).numpy() * v).sum())
            for x, v in zip(inputs, directions, strict=True)
            if x.grad is not None
        )
    outputs = (out.detach(), Tensor(along, device=out.device))
    return (*outputs, aux) if has_aux else outputs
