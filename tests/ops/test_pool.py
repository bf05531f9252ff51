"""max_pool2d / avg_pool2d: worked example, sweep of sizes/strides/paddings, PyTorch parity."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import autoconv as ac
from autoconv.testing import gradcheck
from autoconv.windows import as_pair, padding_amounts
from tests.conftest import distinct


def reference_pool(x, pool_size, strides, padding, reduce):
    """Direct loops; partial 'same' windows reduce only the cells inside the image."""
    kh, kw = as_pair(pool_size, "p", "ref")
    sh, sw = as_pair(strides or pool_size, "s", "ref")
    top, bottom = padding_amounts(padding, x.shape[1], kh, sh, 1, "ref")
    left, right = padding_amounts(padding, x.shape[2], kw, sw, 1, "ref")
    oh = (x.shape[1] + top + bottom - kh) // sh + 1
    ow = (x.shape[2] + left + right - kw) // sw + 1
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            y0, x0 = i * sh - top, j * sw - left
            cells = x[:, max(y0, 0) : y0 + kh, max(x0, 0) : x0 + kw]
            out[:, i, j] = reduce(cells, axis=(1, 2))
    return out


POOLS = {"max": (ac.max_pool2d, np.max), "avg": (ac.avg_pool2d, np.mean)}


def test_worked_example_3():
    x = np.array([[2, 3, 4, 0], [1, 5, 3, 2], [0, 4, 2, 3], [1, 0, 6, 1]], float)
    out = ac.max_pool2d(x.reshape(1, 4, 4, 1), (2, 2))
    np.testing.assert_array_equal(out.data[0, :, :, 0], [[5, 4], [4, 6]])


def test_reference_model_shapes():
    assert ac.max_pool2d(np.zeros((1, 26, 26, 32))).shape == (1, 13, 13, 32)
    assert ac.max_pool2d(np.zeros((1, 11, 11, 64))).shape == (1, 5, 5, 64)
    assert ac.max_pool2d(np.zeros((1, 11, 11, 64)), padding="same").shape == (1, 6, 6, 64)


SWEEP = list(
    itertools.product(
        ["max", "avg"],
        [(1, 5, 5, 1), (3, 6, 7, 2)],
        [2, 3, (2, 3)],
        [None, 1, 2, 3],
        ["valid", "same"],
    )
)


@pytest.mark.parametrize(("kind", "shape", "pool", "strides", "padding"), SWEEP)
def test_sweep_values_and_gradcheck(kind, shape, pool, strides, padding, rng):
    op, reduce = POOLS[kind]
    x = distinct(shape, rng)
    out = op(x, pool, strides, padding)
    np.testing.assert_allclose(
        out.data, reference_pool(x, pool, strides, padding, reduce), rtol=1e-12
    )
    assert gradcheck(lambda t: op(t, pool, strides, padding), [x])


@pytest.mark.parametrize(
    ("kind", "shape", "pool", "strides", "padding"), [c for c in SWEEP if c[4] == "valid"]
)
def test_sweep_matches_torch(kind, shape, pool, strides, padding, rng, torch):
    op = POOLS[kind][0]
    torch_op = {"max": torch.nn.functional.max_pool2d, "avg": torch.nn.functional.avg_pool2d}[kind]
    x = distinct(shape, rng)
    ours = ac.Tensor(x, requires_grad=True)
    theirs = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    out = op(ours, pool, strides, padding)
    ref = torch_op(theirs, pool, strides if strides is not None else pool)
    np.testing.assert_allclose(out.data, ref.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy().transpose(0, 2, 3, 1), atol=1e-12)


def test_max_ties_go_to_the_first_cell_only():
    x = ac.Tensor(np.ones((1, 2, 2, 1)), requires_grad=True)
    ac.max_pool2d(x).sum().backward()
    np.testing.assert_array_equal(x.grad[0, :, :, 0], [[1, 0], [0, 0]])


def test_max_pool_propagates_nan():
    x = np.zeros((1, 2, 2, 1))
    x[0, 1, 0, 0] = np.nan
    assert np.isnan(ac.max_pool2d(x).data).all()


def test_overlapping_windows_accumulate():
    image = np.zeros((1, 3, 3, 1))
    image[0, 1, 1, 0] = 5.0  # the centre wins all four 2x2 windows at stride 1
    x = ac.Tensor(image, requires_grad=True)
    ac.max_pool2d(x, 2, 1).sum().backward()
    assert x.grad[0, 1, 1, 0] == 4 and x.grad.sum() == 4


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_float32_in_float32_out(kind, rng):
    x = ac.Tensor(rng.standard_normal((2, 6, 6, 3)).astype(np.float32), requires_grad=True)
    out = POOLS[kind][0](x, 2, padding="same")
    out.sum().backward()
    assert out.dtype == x.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros((4, 4, 1)),), r"x must be \(N, H, W, C\), got shape \(4, 4, 1\)"),
        ((np.zeros((1, 4, 4, 1)), 0), "pool_size must be positive"),
        ((np.zeros((1, 4, 4, 1)), 2, -1), "stride must be positive"),
        ((np.zeros((1, 4, 4, 1)), 2, None, 1), "padding must be 'valid' or 'same'"),
        ((np.zeros((1, 4, 4, 1)), 2, None, "full"), "padding must be"),
        ((np.zeros((1, 1, 4, 1)), 2), "the output would be empty"),
    ],
)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_bad_arguments(kind, args, message):
    with pytest.raises(ValueError, match=message):
        POOLS[kind][0](*args)


# ------------------------------------------------------------------ 1-D
POOLS_1D = {"max": (ac.max_pool1d, np.max), "avg": (ac.avg_pool1d, np.mean)}
SWEEP_1D = list(
    itertools.product(["max", "avg"], [5, 8], [2, 3, (3,)], [None, 1, 2], ["valid", "same"])
)


@pytest.mark.parametrize(("kind", "length", "pool", "strides", "padding"), SWEEP_1D)
def test_1d_is_2d_of_height_one_and_gradcheck(kind, length, pool, strides, padding, rng):
    op, reduce = POOLS_1D[kind]
    x = distinct((2, length, 3), rng)
    out = op(x, pool, strides, padding)
    size = pool if isinstance(pool, int) else pool[0]
    step = size if strides is None else strides
    expected = reference_pool(x[:, None], (1, size), (1, step), padding, reduce)[:, 0]
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    keras_length = (length - 1) // step + 1 if padding == "same" else (length - size) // step + 1
    assert out.shape == (2, keras_length, 3)
    assert gradcheck(lambda t: op(t, pool, strides, padding), [x])


@pytest.mark.parametrize(
    ("kind", "length", "pool", "strides", "padding"), [c for c in SWEEP_1D if c[4] == "valid"]
)
def test_1d_matches_torch(kind, length, pool, strides, padding, rng, torch):
    op = POOLS_1D[kind][0]
    torch_op = {"max": torch.nn.functional.max_pool1d, "avg": torch.nn.functional.avg_pool1d}
    x = distinct((2, length, 3), rng)
    ours = ac.Tensor(x, requires_grad=True)
    theirs = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)
    out = op(ours, pool, strides, padding)
    ref = torch_op[kind](theirs, pool, strides if strides is not None else pool)
    np.testing.assert_allclose(out.data, ref.detach().numpy().transpose(0, 2, 1), rtol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g.transpose(0, 2, 1)))
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy().transpose(0, 2, 1), atol=1e-12)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_1d_float32_in_float32_out(kind, rng):
    x = ac.Tensor(rng.standard_normal((2, 7, 3)).astype(np.float32), requires_grad=True)
    out = POOLS_1D[kind][0](x, 2, padding="same")
    out.sum().backward()
    assert out.shape == (2, 4, 3) and out.dtype == x.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros((1, 4, 4, 1)),), r"x must be \(N, L, C\), got shape \(1, 4, 4, 1\)"),
        ((np.zeros((1, 4, 1)), 0), "pool_size must be positive"),
        ((np.zeros((1, 4, 1)), (2, 2)), "pool_size must be an int or a tuple of 1 int"),
        ((np.zeros((1, 4, 1)), 2, -1), "stride must be positive"),
        ((np.zeros((1, 4, 1)), 2, None, "causal"), "padding must be 'valid' or 'same'"),
        ((np.zeros((1, 4, 1)), 2, None, 1), "padding must be 'valid' or 'same'"),
        ((np.zeros((1, 1, 1)), 2), "the output would be empty: input length 1, kernel 2"),
    ],
)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_1d_bad_arguments(kind, args, message):
    with pytest.raises(ValueError, match=f"{kind}_pool1d: {message}"):
        POOLS_1D[kind][0](*args)
