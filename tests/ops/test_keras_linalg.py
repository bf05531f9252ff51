"""autoconv.ops.linalg against keras.ops.linalg (on Keras's PyTorch backend; skipped without
Keras or torch): values over functions, batch shapes and dtypes (vectors up to their LAPACK
signs); float64 gradchecks of the differentiable functions, a CUDA run, and the errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

import autoconv as ac
from autoconv.backends import namespace
from autoconv.ops import linalg
from autoconv.testing import gradcheck

os.environ.setdefault("KERAS_BACKEND", "torch")


TOLERANCE = {np.float32: {"rtol": 1e-5, "atol": 1e-5}, np.float64: {"rtol": 1e-10, "atol": 1e-10}}


# --------------------------------------------------------------------------- inputs
def square(rng, batch, n=3):
    """Well-conditioned square matrices."""
    return rng.standard_normal((*batch, n, n)) + n * np.eye(n)


def spd(rng, batch, n=3):
    a = rng.standard_normal((*batch, n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def lower(rng, batch, n=3):
    return np.linalg.cholesky(spd(rng, batch, n))


DRAWS = {
    "square": square,
    "spd": spd,
    "lower": lower,
    "upper": lambda rng, batch: np.swapaxes(lower(rng, batch), -1, -2),
    "tall": lambda rng, batch: rng.standard_normal((*batch, 5, 3)),
    "wide": lambda rng, batch: rng.standard_normal((*batch, 3, 5)),
    "rhs": lambda rng, batch: rng.standard_normal((*batch, 3, 2)),
    "vector": lambda rng, batch: rng.standard_normal((*batch, 3)),
    "rank_one": lambda rng, batch: np.ones((*batch, 3, 1)) @ rng.standard_normal((*batch, 1, 4)),
}

SAME, ABS = (lambda v: v), np.abs  # how an output is compared: as is, or up to signs
CASES = {
    "det": (lambda m, a: m.det(a), ["square"], [SAME]),
    "inv": (lambda m, a: m.inv(a), ["square"], [SAME]),
    "solve": (lambda m, a, b: m.solve(a, b), ["square", "rhs"], [SAME]),
    "solve_vector": (lambda m, a, b: m.solve(a, b), ["square", "vector"], [SAME]),
    "solve_triangular": (lambda m, a, b: m.solve_triangular(a, b), ["square", "rhs"], [SAME]),
    "solve_triangular_lower": (
        lambda m, a, b: m.solve_triangular(a, b, lower=True),
        ["square", "vector"],
        [SAME],
    ),
    "cholesky": (lambda m, a: m.cholesky(a), ["spd"], [SAME]),
    "cholesky_upper": (lambda m, a: m.cholesky(a, upper=True), ["spd"], [SAME]),
    "cholesky_inverse": (lambda m, f: m.cholesky_inverse(f), ["lower"], [SAME]),
    "cholesky_inverse_upper": (
        lambda m, f: m.cholesky_inverse(f, upper=True),
        ["upper"],
        [SAME],
    ),
    "eigh": (lambda m, a: m.eigh(a), ["spd"], [SAME, ABS]),
    "svd": (lambda m, a: m.svd(a), ["tall"], [ABS, SAME, ABS]),
    "svd_reduced": (lambda m, a: m.svd(a, full_matrices=False), ["wide"], [ABS, SAME, ABS]),
    "svd_values": (lambda m, a: m.svd(a, compute_uv=False), ["tall"], [SAME]),
    "qr": (lambda m, a: m.qr(a), ["tall"], [ABS, ABS]),
    "qr_complete": (lambda m, a: m.qr(a, mode="complete"), ["wide"], [ABS, ABS]),
    "lu_factor": (lambda m, a: m.lu_factor(a), ["square"], [SAME, SAME]),
    "lu_factor_tall": (lambda m, a: m.lu_factor(a), ["tall"], [SAME, SAME]),
    "pinv": (lambda m, a: m.pinv(a), ["wide"], [SAME]),
    "pinv_rcond": (lambda m, a: m.pinv(a, rcond=0.5), ["tall"], [SAME]),
    "matrix_rank": (lambda m, a: m.matrix_rank(a), ["rank_one"], [SAME]),
    "matrix_rank_tol": (lambda m, a: m.matrix_rank(a, tol=1.5), ["tall"], [SAME]),
}
UNBATCHED = {"lstsq": (lambda m, a, b: m.lstsq(a, b), ["tall", "tall"], [SAME])}


def draw(names, batch, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [np.ascontiguousarray(DRAWS[name](rng, batch), dtype) for name in names]


def as_list(out, keras) -> list[np.ndarray]:
    outs = out if isinstance(out, tuple | list) else [out]
    return [o.numpy() if isinstance(o, ac.Tensor) else keras.ops.convert_to_numpy(o) for o in outs]


def assert_like_keras(keras, fn, arrays, views, dtype):
    ours, theirs = (
        as_list(fn(linalg, *arrays), keras),
        as_list(fn(keras.ops.linalg, *arrays), keras),
    )
    assert len(ours) == len(theirs) == len(views)
    for mine, keras_out, view in zip(ours, theirs, views, strict=True):
        assert mine.shape == keras_out.shape and mine.dtype == keras_out.dtype
        np.testing.assert_allclose(view(mine), view(keras_out), **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [(), (2,)], ids=["matrix", "batch"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_keras(keras, name, batch, dtype):
    fn, inputs, views = CASES[name]
    assert_like_keras(keras, fn, draw(inputs, batch, dtype), views, dtype)


def test_lstsq_matches_keras(keras):
    fn, inputs, views = UNBATCHED["lstsq"]
    a, b = draw(inputs, (), np.float32)
    assert_like_keras(keras, fn, [a, b[:, :2]], views, np.float32)
    assert_like_keras(keras, fn, [a, b[:, 0]], views, np.float32)
    singular = np.ones((4, 2), np.float64)  # rank 1: the least-norm solution, as NumPy's
    expected = np.linalg.lstsq(singular, b[:4, 0].astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(linalg.lstsq(singular, b[:4, 0]).numpy(), expected, atol=1e-12)


def test_eig_gives_complex_numpy_arrays(keras):
    a = draw(["square"], (2,), np.float32)[0]
    w, v = linalg.eig(a)
    keras_w = keras.ops.convert_to_numpy(keras.ops.linalg.eig(a)[0])
    assert isinstance(w, np.ndarray) and w.dtype == keras_w.dtype == np.complex64
    assert v.dtype == np.complex64 and v.shape == a.shape
    np.testing.assert_allclose(np.sort_complex(w), np.sort_complex(keras_w), rtol=1e-5)
    np.testing.assert_allclose(a @ v, v * w[..., None, :], atol=1e-5)
    assert linalg.eig(a.astype(np.float64))[0].dtype == np.complex128


NORMS = [
    (None, None),
    (None, 1),
    (2, -1),
    (np.inf, 1),
    (-np.inf, 0),
    (0, 2),
    (1, 1),
    (3, 1),
    (0.5, 2),
    ("fro", (1, 2)),
    ("nuc", (2, 1)),
    (np.inf, (1, 2)),
    (-np.inf, (2, 0)),
    (1, (1, 2)),
    (-1, (1, 2)),
    (2, (1, 2)),
    (-2, (0, 2)),
]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize(("ord", "axis"), NORMS)
def test_norm_matches_keras(keras, ord, axis, keepdims):
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    x[0, 0, 0] = 0.0  # ord=0 counts nonzeros
    ours = linalg.norm(x, ord, axis, keepdims)
    keras_out = keras.ops.convert_to_numpy(keras.ops.linalg.norm(x, ord, axis, keepdims))
    assert ours.shape == keras_out.shape and ours.dtype == keras_out.dtype
    np.testing.assert_allclose(ours.numpy(), keras_out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("ord", "shape"), [(None, (3,)), ("nuc", (3, 4)), (1, (4,))])
def test_norm_with_axis_none(keras, ord, shape):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    expected = keras.ops.convert_to_numpy(keras.ops.linalg.norm(x, ord))
    np.testing.assert_allclose(linalg.norm(x, ord).numpy(), expected, rtol=1e-6)
    assert linalg.norm(np.arange(6).reshape(2, 3)).dtype == np.float32  # ints: floatx


# ------------------------------------------------------------------------- gradients
def symmetric(x):
    return x + x.transpose(*range(x.ndim - 2), x.ndim - 1, x.ndim - 2)


def positive_definite(x):
    return x @ x.transpose(*range(x.ndim - 2), x.ndim - 1, x.ndim - 2) + 3.0 * np.eye(3)


GRADIENTS = {
    "det": (linalg.det, ["square"]),
    "inv": (linalg.inv, ["square"]),
    "solve": (linalg.solve, ["square", "rhs"]),
    "solve_vector": (linalg.solve, ["square", "vector"]),
    "solve_triangular": (lambda a, b: linalg.solve_triangular(a, b, lower=True), ["square", "rhs"]),
    "cholesky": (lambda x: linalg.cholesky(positive_definite(x)), ["square"]),
    "cholesky_upper": (lambda x: linalg.cholesky(positive_definite(x), upper=True), ["square"]),
    "cholesky_inverse": (linalg.cholesky_inverse, ["lower"]),
    "cholesky_inverse_upper": (lambda f: linalg.cholesky_inverse(f, upper=True), ["upper"]),
    "eigh_values": (lambda x: linalg.eigh(symmetric(x))[0], ["square"]),
    "eigh_vectors": (lambda x: linalg.eigh(symmetric(x))[1] ** 2, ["square"]),
    "svd_values": (lambda x: linalg.svd(x, compute_uv=False), ["wide"]),
    "svd_u": (lambda x: linalg.svd(x, full_matrices=False)[0] ** 2, ["tall"]),
    "svd_vh": (lambda x: linalg.svd(x, full_matrices=False)[2] ** 2, ["wide"]),
    "svd_square_full": (lambda x: linalg.svd(x)[0] ** 2 + linalg.svd(x)[2] ** 2, ["square"]),
    "svd_s_of_full": (lambda x: linalg.svd(x)[1], ["tall"]),
    "pinv": (linalg.pinv, ["tall"]),
    "lstsq": (lambda a, b: linalg.lstsq(a, b[:, :2]), ["tall", "tall"]),
    "norm_2": (lambda x: linalg.norm(x, axis=-1), ["tall"]),
    "norm_p": (lambda x: linalg.norm(x, 3, axis=0, keepdims=True), ["tall"]),
    "norm_inf": (lambda x: linalg.norm(x, np.inf, axis=1), ["tall"]),
    "norm_fro": (lambda x: linalg.norm(x, "fro", axis=(0, 1)), ["tall"]),
    "norm_nuc": (lambda x: linalg.norm(x, "nuc"), ["tall"]),
    "norm_matrix_2": (lambda x: linalg.norm(x, -2, axis=(1, 0)), ["tall"]),
    "norm_matrix_1": (lambda x: linalg.norm(x, 1), ["tall"]),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradcheck(name):
    fn, inputs = GRADIENTS[name]
    batch = () if name.startswith(("lstsq", "norm")) else (2,)
    assert gradcheck(fn, draw(inputs, batch, np.float64, seed=3))


def test_gradient_of_a_zero_vector_norm_is_zero():
    x = ac.Tensor(np.zeros((2, 3)), requires_grad=True)
    linalg.norm(x, axis=1).sum().backward()
    assert np.array_equal(x.grad, np.zeros((2, 3)))


def test_broadcast_solve_gradients_reduce_to_the_inputs():
    a, b = draw(["square", "rhs"], (), np.float64)
    assert gradcheck(linalg.solve, [a, np.stack([b, 2 * b])])
    assert gradcheck(linalg.solve, [np.stack([a, a.T]), b[None]])


def test_undecided_gradients():
    x = ac.Tensor(draw(["tall"], (), np.float64)[0], requires_grad=True)
    with pytest.raises(ValueError, match="full_matrices=False"):
        linalg.svd(x)[0].sum().backward()
    q, r = linalg.qr(x)
    assert not q.requires_grad and not r.requires_grad
    assert not linalg.lu_factor(x)[0].requires_grad


# --------------------------------------------------------------------------------- CUDA
@pytest.mark.cudasim
@pytest.mark.parametrize(
    "name", ["det", "solve", "cholesky_inverse", "eigh_vectors", "svd_u", "norm_2"]
)
def test_cuda_tensors_match_cpu(name):
    pytest.importorskip("numba_cuda")
    fn, inputs = GRADIENTS[name]
    arrays = draw(inputs, (2,), np.float64)
    results = []
    for device in ("cpu", "cuda"):
        leaves = [ac.Tensor(a, requires_grad=True, device=device) for a in arrays]
        out = fn(*leaves)
        out.backward(np.ones(out.shape))
        assert out.device == device
        results.append([out.numpy(), *(namespace(device).to_numpy(t.grad) for t in leaves)])
    for cpu, gpu in zip(*results, strict=True):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-12)


# ------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: linalg.inv(np.ones((2, 3))), ValueError, "`x` must hold square matrices"),
        (lambda: linalg.det(np.ones(3)), ValueError, "rank >= 2"),
        (lambda: linalg.eigh(np.ones((2, 3))), ValueError, "square"),
        (lambda: linalg.eig(np.ones((2, 3))), ValueError, "square"),
        (lambda: linalg.cholesky(np.ones((3, 2))), ValueError, "square"),
        (lambda: linalg.svd(np.ones(3)), ValueError, "svd: `x` must have rank >= 2"),
        (lambda: linalg.solve(np.ones((3, 2)), np.ones(3)), ValueError, "`a` must hold square"),
        (lambda: linalg.solve(np.eye(3), np.ones(2)), ValueError, "incompatible shapes"),
        (lambda: linalg.solve(np.eye(3), np.ones((2, 2))), ValueError, "incompatible shapes"),
        (lambda: linalg.solve(np.eye(3), 1.0), ValueError, "`b` must have rank >= 1"),
        (lambda: linalg.solve_triangular(np.eye(3), np.ones(4)), ValueError, "incompatible"),
        (lambda: linalg.inv(np.ones((3, 3))), ValueError, "inv failed: Singular matrix"),
        (lambda: linalg.solve(np.zeros((2, 2)), np.ones(2)), ValueError, "solve failed"),
        (lambda: linalg.cholesky(-np.eye(2)), ValueError, "cholesky failed"),
        (lambda: linalg.qr(np.eye(2), mode="r"), ValueError, "`mode` argument value"),
        (lambda: linalg.norm(np.eye(2), "max"), ValueError, "Invalid `ord` argument"),
        (lambda: linalg.norm(np.eye(2), "fro", axis=0), ValueError, "vector norm"),
        (lambda: linalg.norm(np.eye(2), 3, axis=(0, 1)), ValueError, "matrix norm"),
        (lambda: linalg.norm(np.ones((2, 2, 2)), 2), ValueError, "1-D or 2-D"),
        (lambda: linalg.norm(np.ones((2, 2, 2)), axis=(0, 1, 2)), ValueError, "two distinct"),
        (lambda: linalg.norm(np.ones(2), axis=1), ValueError, "out of range"),
        (lambda: linalg.lstsq(np.ones((2, 2, 2)), np.ones(2)), ValueError, "`a` must have rank 2"),
        (lambda: linalg.lstsq(np.ones((3, 2)), np.ones((3, 2, 1))), ValueError, "rank 1 or 2"),
        (lambda: linalg.lstsq(np.ones((3, 2)), np.ones(2)), ValueError, "as many rows"),
        (lambda: linalg.jvp(ac.ops.sin, (1.0,), ()), ValueError, "one tangent each"),
        (lambda: linalg.jvp(lambda a: [a], (1.0,), (1.0,)), TypeError, "one Tensor"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("has_aux", [False, True])
def test_jvp_matches_keras(keras, has_aux):
    """The Jacobian-vector product of a two-argument function, and the auxiliary output."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    dx, dy = (
        rng.standard_normal((2, 3)).astype(np.float32),
        rng.standard_normal(3).astype(np.float32),
    )

    def function(ops):
        def f(a, b):
            out = ops.sum(ops.sin(a) * b, axis=1) + ops.sum(a * a)
            return (out, ops.max(b)) if has_aux else out

        return f

    ours = linalg.jvp(function(ac.ops), (x, y), (dx, dy), has_aux=has_aux)
    k = keras.ops.convert_to_tensor
    theirs = keras.ops.linalg.jvp(
        function(keras.ops), (k(x), k(y)), (k(dx), k(dy)), has_aux=has_aux
    )
    assert len(ours) == len(theirs) == (3 if has_aux else 2)
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(
            np.asarray(mine), keras.ops.convert_to_numpy(reference), rtol=1e-5, atol=1e-6
        )
