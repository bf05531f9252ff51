"""The CUDA matrix product's vendor route (autoconv/backends/cuda/cublas.py): the column-major
call that stands for a row-major product, checked against a NumPy model of
``cublasGemmStridedBatchedEx``; on the simulator that model stands in for cuBLAS, so the route
through matmul and matmuls, a recorded step and its replay run here; on a GPU (marked gpu),
cuBLAS itself against NumPy, run after run and inside a CUDA graph."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from autoconv import config
from tests.test_step_replay import assert_same_state, convnet, fit_both

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from autoconv.backends import cuda as cu  # noqa: E402 - needs numba-cuda
from autoconv.backends.cuda import capture, cublas, gemm  # noqa: E402

SIMULATED = cu.SIMULATED
on_a_gpu = pytest.mark.skipif(SIMULATED, reason="needs a real GPU (this run uses the simulator)")


def column_major_matrix(flat, start, rows, columns, leading):
    """The column-major ``rows x columns`` matrix at ``flat[start:]``, ``leading`` apart."""
    return flat[start + np.arange(rows)[:, None] + leading * np.arange(columns)[None, :]]


def strided_batched_gemm(first, second, out, *plan):
    """cuBLAS's definition of ``cublasGemmStridedBatchedEx`` (alpha 1, beta 0), in NumPy on the
    flat operands: each batch's column-major ``out (m x n) = op(first) @ op(second)``."""
    transa, transb, m, n, k, lda, ldb, ldc, stride_1, stride_2, stride_out, batches, _ = plan
    for i in range(batches):
        a = column_major_matrix(first, i * stride_1, *((k, m) if transa else (m, k)), lda)
        b = column_major_matrix(second, i * stride_2, *((n, k) if transb else (k, n)), ldb)
        product = (a.T if transa else a) @ (b.T if transb else b)
        rows, columns = np.arange(m)[:, None], np.arange(n)[None, :]
        out[i * stride_out + rows + ldc * columns] = product


PRODUCTS = [(5, 3, 4), (1, 7, 2), (6, 1, 9)]  # (m, k, n)


@pytest.mark.parametrize(("m", "k", "n"), PRODUCTS)
@pytest.mark.parametrize(
    ("transpose_a", "transpose_b"), list(itertools.product([False, True], repeat=2))
)
@pytest.mark.parametrize("batches", [1, 3])
def test_the_column_major_call_is_the_row_major_product(m, k, n, transpose_a, transpose_b,
                                                        batches, rng):  # fmt: skip
    a = rng.standard_normal((batches, k, m) if transpose_a else (batches, m, k))
    b = rng.standard_normal((batches, n, k) if transpose_b else (batches, k, n))
    out = np.full(batches * m * n, np.nan)
    plan = cublas.column_major(m, n, k, transpose_a, transpose_b)
    strided_batched_gemm(b.ravel(), a.ravel(), out, *plan, k * n, m * k, m * n, batches, 0)
    want = (np.swapaxes(a, 1, 2) if transpose_a else a) @ (
        np.swapaxes(b, 1, 2) if transpose_b else b
    )
    np.testing.assert_allclose(out.reshape(batches, m, n), want, rtol=1e-12, atol=1e-12)


class NumpyCublas:
    """Stands in for the loaded library on the simulator: its gemm is :func:`strided_batched_gemm`
    on the device arrays' values; ``calls`` the (m, n, k, batches, compute type) of each."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def gemm(self, stream, first, second, out, *plan):
        values = first.copy_to_host(), second.copy_to_host(), out.copy_to_host()
        strided_batched_gemm(*values, *plan)
        out.copy_to_device(values[2])
        self.calls.append((*plan[2:5], *plan[-2:]))


@pytest.fixture
def numpy_cublas(monkeypatch):
    if not SIMULATED:
        pytest.skip("the NumPy stand-in is for the simulator (a GPU runs cuBLAS itself)")
    library = NumpyCublas()
    monkeypatch.setattr(cublas, "library", lambda: library)
    monkeypatch.setattr(gemm, "ROUTE", "cublas")
    return library


def kernel_names(tape) -> list[str]:
    return [repr(k) if k is cublas.GEMM else k.py_func.__name__ for k, *_ in tape.launches]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("transpose_a", "transpose_b"), [(False, False), (True, False), (False, True)]
)
@pytest.mark.parametrize("epilogue", [False, True], ids=["plain", "bias_relu"])
def test_matmul_takes_the_vendor_route(dtype, transpose_a, transpose_b, epilogue, numpy_cublas,
                                       rng):  # fmt: skip
    """A product in one call (the batch's too, and transposed operands read in place), then
    the bias and ReLU in a pass of their own."""
    a = rng.standard_normal((2, 4, 6) if transpose_a else (2, 6, 4)).astype(dtype)
    b = rng.standard_normal((5, 4) if transpose_b else (4, 5)).astype(dtype)
    bias = rng.standard_normal(5).astype(dtype) if epilogue else None
    with capture.recording() as tape:
        got = cu.matmul(cu.asarray(a), cu.asarray(b), transpose_a, transpose_b,
                        bias=None if bias is None else cu.asarray(bias), relu=epilogue)  # fmt: skip
    compute = cublas.COMPUTE_64F if dtype == np.float64 else cublas.COMPUTE_32F
    assert numpy_cublas.calls == [(5, 6, 4, 2, compute)]  # cuBLAS's m, n, k: the transposed
    assert "_matmul_kernel" not in " ".join(kernel_names(tape))
    want = (np.swapaxes(a, 1, 2) if transpose_a else a) @ (b.T if transpose_b else b)
    if epilogue:
        want = np.maximum(want + bias, 0)
    np.testing.assert_allclose(cu.to_numpy(got), want, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_matmuls_call_cublas_for_each_product_and_tf32_where_chosen(numpy_cublas, rng):
    a, g = rng.standard_normal((30, 3)).astype(np.float32), rng.standard_normal((30, 5))
    w = rng.standard_normal((3, 5)).astype(np.float32)
    config.set_float32_matmul_precision("high")
    try:
        kernel_grad, none, input_grad = cu.matmuls(
            (cu.asarray(a), cu.asarray(g.astype(np.float32)), True, False),
            None,
            (cu.asarray(g), cu.asarray(w.astype(np.float64)), False, True),
        )
    finally:
        config.set_float32_matmul_precision("highest")
    assert none is None
    assert numpy_cublas.calls == [(5, 3, 30, 1, cublas.COMPUTE_32F_FAST_TF32),
                                  (3, 30, 5, 1, cublas.COMPUTE_64F)]  # fmt: skip
    np.testing.assert_allclose(cu.to_numpy(kernel_grad), a.T @ g, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cu.to_numpy(input_grad), g @ w.T, rtol=1e-12)


def test_the_route_setting(numpy_cublas, monkeypatch, rng):
    a = cu.asarray(rng.standard_normal((3, 4)))
    monkeypatch.setattr(gemm, "ROUTE", "autoconv")
    with capture.recording() as tape:
        np.testing.assert_allclose(cu.to_numpy(cu.matmul(a, a, transpose_b=True)),
                                   cu.to_numpy(a) @ cu.to_numpy(a).T, rtol=1e-12)  # fmt: skip
    assert numpy_cublas.calls == [] and kernel_names(tape) == ["kernel"]  # the kernel's
    monkeypatch.setattr(gemm, "ROUTE", "vendor")
    with pytest.raises(ValueError, match=r"AUTOCONV_GEMM='vendor'.*'cublas', 'autoconv'"):
        cu.matmul(a, a, transpose_b=True)


def test_products_the_kernel_splits_too_large_for_cublas_ints_or_of_other_dtypes_keep_it(
    numpy_cublas, monkeypatch, rng
):
    """A kernel gradient's product (few output tiles, a long contracted axis: the kernel splits
    it) of few entries or batched (where cuBLAS was many times slower), one past cuBLAS's
    ints, integers: the kernel. A split product of more than KERNEL_OUTPUT entries: cuBLAS."""
    x, g = cu.asarray(rng.standard_normal((200, 3))), cu.asarray(rng.standard_normal((200, 5)))
    split = gemm._Product(x, g, True, False)
    assert split.splits(gemm._tile([split]))[1] > 1
    np.testing.assert_allclose(cu.to_numpy(cu.matmul(x, g, transpose_a=True)),
                               cu.to_numpy(x).T @ cu.to_numpy(g), rtol=1e-12)  # fmt: skip
    assert numpy_cublas.calls == []
    monkeypatch.setattr(gemm, "KERNEL_OUTPUT", 14)  # 3 x 5 = 15 entries: past it
    assert gemm._vendor(split)
    batched = cu.asarray(np.stack([cu.to_numpy(x)] * 2)), cu.asarray(np.stack([cu.to_numpy(g)] * 2))
    assert not gemm._vendor(gemm._Product(*batched, True, False))
    a = cu.asarray(rng.standard_normal((3, 4)))
    monkeypatch.setattr(cublas, "MAX_DIMENSION", 3)
    cu.matmul(a, a, transpose_b=True)  # m = n = 3, k = 4 > 3
    assert numpy_cublas.calls == []
    integers = cu.asarray(np.ones((2, 2), np.int32))
    assert not gemm._vendor(gemm._Product(integers, integers, False, False))


@pytest.mark.skipif(not SIMULATED, reason="on a GPU cuBLAS loads")
def test_the_simulator_has_no_cublas():
    assert cublas.library() is None
    assert "simulator" in cublas.why_not()


def test_a_recorded_step_replays_the_cublas_calls(numpy_cublas, monkeypatch):
    """fit's replayed steps with cuBLAS's products: the same weights, slots and history as the
    eager steps, to the bit (the stand-in's calls replayed in the step's order)."""
    eager, eager_history, replayed, history = fit_both(
        lambda: convnet("rmsprop"), monkeypatch, epochs=1, batch_size=4
    )
    assert replayed._step_replay.why is None and replayed._step_replay.replayed == 4
    tape = replayed._step_replay.replay.tape
    assert sum(kernel is cublas.GEMM for kernel, *_ in tape.launches) >= 3
    assert history == eager_history
    assert_same_state(replayed, eager)


# ----------------------------------------------------------------------- on a GPU: cuBLAS
@pytest.mark.gpu
@on_a_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("transpose_a", "transpose_b"), list(itertools.product([False, True], repeat=2))
)
@pytest.mark.parametrize(("batch", "m", "k", "n"), [((), 300, 70, 33), ((4,), 640, 77, 90)])
def test_cublas_products_on_a_gpu(dtype, transpose_a, transpose_b, batch, m, k, n, rng):
    """The same bits run after run, NumPy's product to float32's (or float64's) rounding."""
    assert cublas.library() is not None, cublas.why_not()
    assert gemm.ROUTE == "cublas"
    a = rng.standard_normal((*batch, k, m) if transpose_a else (*batch, m, k)).astype(dtype)
    b = rng.standard_normal((*batch, n, k) if transpose_b else (*batch, k, n)).astype(dtype)
    da, db = cu.asarray(a), cu.asarray(b)
    assert gemm._vendor(gemm._Product(da, db, transpose_a, transpose_b))
    runs = [cu.to_numpy(cu.matmul(da, db, transpose_a, transpose_b)) for _ in range(3)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run, runs[0])
    want = np.swapaxes(a, -1, -2) if transpose_a else a
    want = want.astype(np.float64) @ (np.swapaxes(b, -1, -2) if transpose_b else b)
    tolerance = (
        {"rtol": 1e-4, "atol": 1e-4 * np.sqrt(k)}
        if dtype == np.float32
        else {"rtol": 1e-12, "atol": 1e-13 * np.sqrt(k)}
    )
    np.testing.assert_allclose(runs[0], want, **tolerance)


@pytest.mark.gpu
@on_a_gpu
def test_cublas_calls_replay_in_a_cuda_graph_and_tf32_rounds(rng):
    """A recorded bias + ReLU product replayed as one CUDA graph gives the eager bits; under the
    "high" precision the product is TF32's (further from float64 than float32's, within TF32's
    rounding)."""
    a, b = rng.standard_normal((513, 60)).astype(np.float32), rng.standard_normal((60, 70))
    b, bias = b.astype(np.float32), rng.standard_normal(70).astype(np.float32)
    da, db, dbias = cu.asarray(a), cu.asarray(b), cu.asarray(bias)
    with capture.recording() as tape:
        product = cu.matmul(da, db, bias=dbias, relu=True)
    eager = cu.to_numpy(product)
    assert any(kernel is cublas.GEMM for kernel, *_ in tape.launches)
    graph, stream = capture._build_graph(tape.launches)
    product.flat.copy_to_device(np.zeros(product.size, np.float32))
    graph.launch(stream)
    np.testing.assert_array_equal(cu.to_numpy(product), eager)
    want = np.maximum(a.astype(np.float64) @ b + bias, 0)
    np.testing.assert_allclose(eager, want, rtol=1e-4, atol=1e-3)
    config.set_float32_matmul_precision("high")
    try:
        tf32 = cu.to_numpy(cu.matmul(da, db, bias=dbias, relu=True))
    finally:
        config.set_float32_matmul_precision("highest")
    np.testing.assert_allclose(tf32, want, rtol=1e-2, atol=5e-2)
    assert np.abs(tf32 - want).max() > np.abs(eager - want).max()
