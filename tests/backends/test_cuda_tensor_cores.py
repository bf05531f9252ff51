"""TensorFloat-32 matrix products (autoconv.backends.cuda.tensor_cores and the product kernel's
tensor-core path), chosen by ``config.set_float32_matmul_precision("high")``: on numba's
simulator the warp instruction runs as the emulation tensor_cores.py gives it (so these test the
kernel's fragments and tiles), on a GPU as the tensor cores do it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import autoconv as ac
from autoconv import config
from autoconv.backends import namespace, precision

pytest.importorskip("numba_cuda")
# These test the kernel's TF32 path: on a GPU its products are kept off cuBLAS.
pytestmark = [pytest.mark.cudasim, pytest.mark.usefixtures("matmul_kernel")]

from numba import cuda  # noqa: E402

from autoconv.backends.cuda import gemm, runtime, tensor_cores  # noqa: E402

needs_tensor_cores = pytest.mark.skipif(
    not tensor_cores.available(), reason="this GPU has no TF32 tensor cores (before Ampere)"
)


def to_tf32(x: np.ndarray) -> np.ndarray:
    """float32 ``x`` rounded to TF32 in NumPy (nearest of 10 mantissa bits, ties away from
    zero; infinities and NaNs kept): what cvt.rna.tf32.f32 does."""
    bits = np.asarray(x, np.float32).view(np.uint32)
    finite = (bits & 0x7F800000) != 0x7F800000
    rounded = np.where(finite, (bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000), bits)
    return rounded.astype(np.uint32).view(np.float32)


@pytest.fixture
def tf32():
    """The "high" precision for the test, "highest" back after it."""
    config.set_float32_matmul_precision("high")
    yield
    config.set_float32_matmul_precision("highest")


@pytest.fixture
def simulator_splits(monkeypatch):
    monkeypatch.setattr(gemm, "SPLIT_BLOCKS", 4)
    monkeypatch.setattr(gemm, "SPLIT_MIN_CHUNK", 16)


@runtime.cached_kernel
def _rounded(values, out):
    i = cuda.grid(1)
    if i < values.size:
        out[i] = tensor_cores.round_tf32(values[i])


@needs_tensor_cores
def test_round_tf32_is_round_to_nearest_ties_away_from_zero():
    ulp = 2.0**-10  # of TF32's 10 mantissa bits, at 1
    values = np.array(
        [1.0, 1 + ulp / 2, -(1 + ulp / 2), 1 + ulp / 4, 1 + 3 * ulp / 4, 3.0, np.inf, -np.inf,
         2.0**-130, 0.0],
        np.float32,
    )  # fmt: skip
    xp = namespace("cuda")
    out = xp.empty(values.shape, np.float32)
    _rounded[1, 32](xp.asarray(values).flat, out.flat)
    got = xp.to_numpy(out)
    want = [1.0, 1 + ulp, -(1 + ulp), 1.0, 1 + ulp, 3.0, np.inf, -np.inf, to_tf32(2.0**-130), 0.0]
    np.testing.assert_array_equal(got, np.array(want, np.float32))
    np.testing.assert_array_equal(got, to_tf32(values))
    nan = xp.empty((1,), np.float32)
    _rounded[1, 32](xp.asarray(np.array([np.nan], np.float32)).flat, nan.flat)
    assert np.isnan(xp.to_numpy(nan)[0])


@pytest.fixture(params=[64, 128], ids=["tiles64", "tiles128"])
def tc_tile(request, monkeypatch):
    """The tensor cores' output tiles: 64 x 64 (2 x 2 fragments a warp) or 128 x 128 (4 x 4)."""
    monkeypatch.setattr(gemm, "TC_TILE", request.param)
    gemm._matmul_kernel.cache_clear()  # compiled for these tiles (and again after)
    yield request.param
    gemm._matmul_kernel.cache_clear()


@needs_tensor_cores
@pytest.mark.parametrize(
    ("m", "k", "n", "transpose_a", "transpose_b"),
    [(37, 24, 45, False, False), (70, 8, 66, True, False), (5, 20, 9, False, True),
     (131, 16, 133, True, True)],
)  # fmt: skip
def test_tf32_products_are_the_products_of_the_rounded_operands(
    m, k, n, transpose_a, transpose_b, tc_tile, tf32, rng
):
    """Each entry is the float32 sum of the TF32-rounded operands' products (whole and partial
    tiles of either size, several k tiles, a short last one, transposed operands)."""
    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(np.float32)
    xp = namespace("cuda")
    got = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b), transpose_a, transpose_b))
    a_used, b_used = (a.T if transpose_a else a), (b.T if transpose_b else b)
    want = to_tf32(a_used).astype(np.float64) @ to_tf32(b_used).astype(np.float64)
    assert got.dtype == np.float32 and got.shape == (m, n)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(k))


@needs_tensor_cores
def test_tf32_batched_products(tf32, rng):
    """Batches of products (the Winograd transform's 16), one operand broadcast over them."""
    a = rng.standard_normal((3, 21, 24)).astype(np.float32)
    b = rng.standard_normal((24, 40)).astype(np.float32)
    xp = namespace("cuda")
    got = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b)))
    want = to_tf32(a).astype(np.float64) @ to_tf32(b).astype(np.float64)
    assert got.shape == (3, 21, 40)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@needs_tensor_cores
def test_a_model_trains_with_tf32_products_as_with_float32(rng):
    """A small Dense model's fit (recorded, then replayed steps) with TF32 products follows the
    float32 one within TF32's precision."""
    x = rng.standard_normal((24, 6)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    losses = []
    for chosen in ("highest", "high"):
        config.set_float32_matmul_precision(chosen)
        try:
            ac.utils.set_random_seed(0)
            model = ac.Sequential(
                [ac.layers.Dense(40, activation="relu", input_shape=(6,)), ac.layers.Dense(3)]
            ).to("cuda")
            model.compile("adam", ac.losses.SparseCategoricalCrossentropy(from_logits=True))
            history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
            losses.append(history["loss"])
        finally:
            config.set_float32_matmul_precision("highest")
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-2)
    assert losses[1] != losses[0]  # TF32 did round something


def test_tf32_rounds_what_float32_keeps(rng):
    """1 + 2^-12 is 1 in TF32: "high" sums k ones, "highest" k times 1 + 2^-12; float64
    products are never rounded."""
    k, xp = 16, namespace("cuda")
    a = np.full((3, k), 1 + 2.0**-12, np.float32)
    b = np.ones((k, 65), np.float32)  # more than BLOCK / 2 columns: no narrow tile
    exact = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b)))
    np.testing.assert_allclose(exact, k * (1 + 2.0**-12), rtol=1e-7)
    config.set_float32_matmul_precision("high")
    try:
        assert precision.tensor_float32() and gemm._tile(
            [gemm._Product(xp.asarray(a), xp.asarray(b), False, False)]
        ) == (gemm.TC_TILE, gemm.TC_TILE, True)
        rounded = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b)))
        wide = xp.to_numpy(xp.matmul(*(xp.asarray(v.astype(np.float64)) for v in (a, b))))
    finally:
        config.set_float32_matmul_precision("highest")
    np.testing.assert_array_equal(rounded, np.full((3, 65), k, np.float32))
    np.testing.assert_allclose(wide, k * (1 + 2.0**-12), rtol=1e-12)


@needs_tensor_cores
def test_tf32_products_that_would_split_run_in_float32_and_the_others_on_tensor_cores(
    tc_tile, tf32, simulator_splits, rng
):
    """A long contracted axis over few output tiles (a kernel gradient), which tensor cores'
    tiles would split over blocks, runs in float32's smaller tiles with the bias + ReLU
    epilogue: float32's values, not TF32's; so does a backward's other product, launched with
    it, while alone it takes tensor cores."""
    xp = namespace("cuda")
    a = rng.standard_normal((6, 64)).astype(np.float32)
    b = rng.standard_normal((64, 40)).astype(np.float32)
    bias = rng.standard_normal(40).astype(np.float32)
    product = gemm._Product(xp.asarray(a), xp.asarray(b), False, False)
    assert product.splits((gemm.TC_TILE, gemm.TC_TILE, True))[1] > 1
    assert not gemm._tile([product])[2]
    got = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b), bias=xp.asarray(bias), relu=True))
    want = np.maximum(a.astype(np.float64) @ b + bias, 0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    g = rng.standard_normal((6, 40)).astype(np.float32)
    pair = (xp.asarray(g), xp.asarray(b), False, True), (xp.asarray(a), xp.asarray(g), True, False)
    assert [gemm._on_tensor_cores(gemm._Product(*p)) for p in pair] == [False, True]
    grad_a, grad_b = xp.matmuls(*pair)
    np.testing.assert_allclose(
        xp.to_numpy(grad_a), g.astype(np.float64) @ b.T, rtol=1e-5, atol=1e-5
    )
    exact, tf32 = a.T.astype(np.float64) @ g, to_tf32(a).T.astype(np.float64) @ to_tf32(g)
    np.testing.assert_allclose(xp.to_numpy(grad_b), exact, rtol=1e-5, atol=1e-5)
    alone = xp.to_numpy(xp.matmul(*pair[1]))
    np.testing.assert_allclose(alone, tf32, rtol=1e-5, atol=1e-4)
    assert np.abs(alone - exact).max() > 1e-4  # TF32's rounding shows


def test_a_new_process_multiplies_in_tf32_and_one_setting_gives_float32():
    """ "high" (TF32 on tensor cores, as Keras's GPU backends) is a new process's default; the
    tests run at "highest" (tests/conftest.py)."""
    script = "from autoconv import config; print(config.get_float32_matmul_precision())"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout.strip() == "high" == config.DEFAULT_FLOAT32_MATMUL_PRECISION
    assert config.get_float32_matmul_precision() == "highest"
    config.set_float32_matmul_precision("high")
    try:
        assert config.get_float32_matmul_precision() == "high" and precision.tensor_float32()
    finally:
        config.set_float32_matmul_precision("highest")
    assert not precision.tensor_float32()
    with pytest.raises(ValueError, match="unknown precision 'medium'; expected one of"):
        config.set_float32_matmul_precision("medium")
    assert config.get_float32_matmul_precision() == "highest"  # unchanged by the refusal
