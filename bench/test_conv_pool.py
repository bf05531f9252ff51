"""Forward + backward of the reference model's conv and pool layers, batch 64, float32.

Each layer is timed for autoconv, a plain NumPy reference and (when importable) PyTorch
CPU, in the same run; compare the ratios, not the absolute times. Every benchmark first
checks that its result equals autoconv's, so a fast wrong kernel fails.

    pytest bench/test_conv_pool.py --benchmark-only --benchmark-group-by=param:layer
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import autoconv as ac

CONV_LAYERS = {  # name: (input NHWC, kernel HWIO)
    "conv1_1to32_28x28": ((64, 28, 28, 1), (3, 3, 1, 32)),
    "conv2_32to64_13x13": ((64, 13, 13, 32), (3, 3, 32, 64)),
    "conv3_64to64_5x5": ((64, 5, 5, 64), (3, 3, 64, 64)),
}
POOL_LAYERS = {"pool1_26x26x32": (64, 26, 26, 32), "pool2_11x11x64": (64, 11, 11, 64)}


def conv_inputs(layer):
    x_shape, w_shape = CONV_LAYERS[layer]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
    return x, w, np.zeros(w_shape[-1], np.float32)


# ------------------------------------------------------------------------- three engines
def autoconv_conv(x, w, b):
    xt = ac.Tensor(x, requires_grad=x.shape[-1] > 1)  # the first layer needs no input grad
    wt, bt = ac.Tensor(w, requires_grad=True), ac.Tensor(b, requires_grad=True)
    out = ac.conv2d(xt, wt, bt)
    out.backward(np.ones(out.shape, np.float32))
    return out.data, wt.grad, xt.grad


def numpy_conv(x, w, b):
    """Plain NumPy: windows by stride tricks, products by einsum/tensordot."""
    kh, kw = w.shape[:2]
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))  # (N, OH, OW, C, KH, KW)
    out = np.einsum("nhwcij,ijcd->nhwd", windows, w, optimize=True) + b
    g = np.ones_like(out)
    grad_w = np.einsum("nhwcij,nhwd->ijcd", windows, g, optimize=True)
    grad_x = None
    if x.shape[-1] > 1:
        grad_x = np.zeros_like(x)
        oh, ow = out.shape[1:3]
        for i in range(kh):
            for j in range(kw):
                grad_x[:, i : i + oh, j : j + ow] += g @ w[i, j].T
    return out, grad_w, grad_x


def torch_conv(torch, x, w, b):
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(x.shape[-1] > 1)
    tw = torch.from_numpy(w.transpose(3, 2, 0, 1).copy()).requires_grad_()
    tb = torch.from_numpy(b).requires_grad_()

    def run():
        out = torch.nn.functional.conv2d(tx, tw, tb)
        out.backward(torch.ones_like(out))
        return out

    return run


@pytest.mark.parametrize("layer", list(CONV_LAYERS))
def test_conv_autoconv(benchmark, layer):
    x, w, b = conv_inputs(layer)
    benchmark.group = layer
    out, grad_w, _ = benchmark(autoconv_conv, x, w, b)
    ref_out, ref_w, _ = numpy_conv(x, w, b)
    np.testing.assert_allclose(out, ref_out, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grad_w, ref_w, rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize("layer", list(CONV_LAYERS))
def test_conv_numpy(benchmark, layer):
    x, w, b = conv_inputs(layer)
    benchmark.group = layer
    out, grad_w, grad_x = benchmark(numpy_conv, x, w, b)
    ours = autoconv_conv(x, w, b)
    np.testing.assert_allclose(out, ours[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grad_w, ours[1], rtol=1e-3, atol=1e-2)
    if grad_x is not None:
        np.testing.assert_allclose(grad_x, ours[2], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("layer", list(CONV_LAYERS))
def test_conv_torch(benchmark, layer):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    x, w, b = conv_inputs(layer)
    benchmark.group = layer
    run = torch_conv(torch, x, w, b)
    out = benchmark(run)
    ours = autoconv_conv(x, w, b)
    np.testing.assert_allclose(
        out.detach().numpy().transpose(0, 2, 3, 1), ours[0], rtol=1e-4, atol=1e-4
    )


def pool_input(layer):
    return np.random.default_rng(0).standard_normal(POOL_LAYERS[layer]).astype(np.float32)


def autoconv_pool(x):
    xt = ac.Tensor(x, requires_grad=True)
    out = ac.max_pool2d(xt, 2)
    out.backward(np.ones(out.shape, np.float32))
    return out.data, xt.grad


def numpy_pool(x):
    n, h, w, c = x.shape
    oh, ow = h // 2, w // 2
    windows = x[:, : oh * 2, : ow * 2].reshape(n, oh, 2, ow, 2, c)
    out = windows.max(axis=(2, 4))
    winners = windows == out[:, :, None, :, None]
    first = winners & (np.cumsum(np.cumsum(winners, axis=2), axis=4) == 1)  # one winner each
    grad = np.zeros_like(x)
    grad[:, : oh * 2, : ow * 2] = first.reshape(n, oh * 2, ow * 2, c)
    return out, grad


@pytest.mark.parametrize("layer", list(POOL_LAYERS))
def test_pool_autoconv(benchmark, layer):
    x = pool_input(layer)
    benchmark.group = layer
    out, grad = benchmark(autoconv_pool, x)
    ref_out, ref_grad = numpy_pool(x)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(grad, ref_grad)


@pytest.mark.parametrize("layer", list(POOL_LAYERS))
def test_pool_numpy(benchmark, layer):
    x = pool_input(layer)
    benchmark.group = layer
    out, _ = benchmark(numpy_pool, x)
    np.testing.assert_array_equal(out, autoconv_pool(x)[0])


@pytest.mark.parametrize("layer", list(POOL_LAYERS))
def test_pool_torch(benchmark, layer):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    x = pool_input(layer)
    benchmark.group = layer
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_()

    def run():
        out = torch.nn.functional.max_pool2d(tx, 2)
        out.backward(torch.ones_like(out))
        return out

    out = benchmark(run)
    np.testing.assert_array_equal(out.detach().numpy().transpose(0, 2, 3, 1), autoconv_pool(x)[0])
