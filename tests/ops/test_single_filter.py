"""conv2d into one filter over many channels (``autoconv.ops.single_filter``: the depthwise
convolution of the channels, summed): the values and gradients of the unrolled route (im2col),
on both devices, over strides, padding, dilation, bias and ReLU; a float64 gradient check; and
which convolutions take the route."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.backends import cuda
from autoconv.ops import engine as ops
from autoconv.ops import single_filter
from autoconv.testing import gradcheck

CASES = [  # (image (H, W), kernel (KH, KW), stride, padding, dilation)
    ((9, 9), (3, 3), 1, "same", 1),
    ((9, 8), (3, 3), 2, "valid", 1),
    ((10, 9), (5, 3), 1, "same", 1),
    ((9, 9), (3, 3), 1, "valid", 2),
    ((7, 7), (1, 1), 1, "valid", 1),
]


def host(array):
    return array if isinstance(array, np.ndarray) else cuda.to_numpy(array)


def run(x_values, w_values, b_values, case, activation, device):
    """conv2d's output and its inputs' gradients for a random upstream."""
    _, _, stride, padding, dilation = case
    x, w, b = (ac.Tensor(v, requires_grad=True, device=device)
               for v in (x_values, w_values, b_values))  # fmt: skip
    out = ops.conv2d(x, w, b, stride, padding, dilation, activation)
    upstream = np.random.default_rng(1).standard_normal(out.shape).astype(x_values.dtype)
    (out * ac.Tensor(upstream, device=device)).sum().backward()
    return [out.numpy(), host(x.grad), host(w.grad), host(b.grad)]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("activation", [None, "relu"])
def test_one_filter_gives_the_unrolled_routes_values_and_gradients(
    device, case, activation, rng, monkeypatch
):
    image, kernel = case[:2]
    x = rng.standard_normal((2, *image, 16)).astype(np.float32)
    w = (rng.standard_normal((*kernel, 16, 1)) * 0.3).astype(np.float32)
    b = rng.standard_normal(1).astype(np.float32)
    taken = []
    monkeypatch.setattr(single_filter, "conv2d", _spied(single_filter.conv2d, taken))
    ours = run(x, w, b, case, activation, device)
    assert taken, "conv2d into one filter over 16 channels took another route"
    monkeypatch.setattr(single_filter, "MIN_CHANNELS", 10**9)  # the unrolled route
    unrolled = run(x, w, b, case, activation, device)
    assert len(taken) == 1
    for got, want in zip(ours, unrolled, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _spied(function, calls):
    def spied(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    return spied


def test_float64_gradient_check(rng):
    x = rng.standard_normal((2, 5, 6, 16))
    w, b = rng.standard_normal((3, 3, 16, 1)) * 0.3, rng.standard_normal(1)
    assert gradcheck(lambda x, w, b: ops.conv2d(x, w, b, 1, "same", activation="relu"), [x, w, b])


@pytest.mark.parametrize(
    ("channels", "filters", "groups", "taken"),
    [(16, 1, 1, True), (64, 1, 1, True), (15, 1, 1, False), (16, 2, 1, False),
     (16, 2, 2, False)],
)  # fmt: skip
def test_which_convolutions_take_the_route(channels, filters, groups, taken):
    x = ac.Tensor(np.zeros((1, 4, 4, channels), np.float32))
    w = ac.Tensor(np.zeros((3, 3, channels // groups, filters), np.float32))
    assert single_filter.takes(x, w, groups) is taken
