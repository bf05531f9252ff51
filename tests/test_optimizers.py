"""One step of each optimizer against Keras 3's update formulas, written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from autoconv import optimizers
from autoconv.tensor import Tensor

W0 = np.array([0.5, -1.0, 2.0], dtype=np.float32)
G = np.array([0.1, -0.3, 0.2], dtype=np.float32)


def run_steps(opt, steps=2):
    w = Tensor(W0.copy(), requires_grad=True)
    for _ in range(steps):
        w.grad = G.copy()
        opt.step([w])
    return w.data


def test_keras_defaults():
    assert optimizers.SGD().learning_rate == 0.01
    r = optimizers.RMSprop()
    assert (r.learning_rate, r.rho, r.momentum, r.epsilon) == (1e-3, 0.9, 0.0, 1e-7)
    a = optimizers.Adam()
    assert (a.learning_rate, a.beta_1, a.beta_2, a.epsilon) == (1e-3, 0.9, 0.999, 1e-7)


def test_sgd_plain():
    np.testing.assert_allclose(run_steps(optimizers.SGD(0.1)), W0 - 2 * 0.1 * G, rtol=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum(nesterov):
    lr, mu = 0.1, 0.9
    w, v = W0.astype(np.float64), np.zeros(3)
    for _ in range(2):
        v = mu * v - lr * G
        w = w + (mu * v - lr * G if nesterov else v)
    got = run_steps(optimizers.SGD(lr, momentum=mu, nesterov=nesterov))
    np.testing.assert_allclose(got, w, rtol=1e-6)


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop(momentum):
    lr, rho, eps = 1e-3, 0.9, 1e-7
    w, v, m = W0.astype(np.float64), np.zeros(3), np.zeros(3)
    for _ in range(2):
        v = rho * v + (1 - rho) * G**2
        step = lr * G / np.sqrt(v + eps)
        m = momentum * m + step
        w = w - (m if momentum else step)
    np.testing.assert_allclose(run_steps(optimizers.RMSprop(momentum=momentum)), w, rtol=1e-5)


def test_adam():
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7
    w, m, v = W0.astype(np.float64), np.zeros(3), np.zeros(3)
    for t in (1, 2):
        m = m + (G - m) * (1 - b1)
        v = v + (G**2 - v) * (1 - b2)
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        w = w - alpha * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(run_steps(optimizers.Adam()), w, rtol=1e-5)


def test_updates_stay_float32_and_skip_params_without_grad():
    a = Tensor(W0.copy(), requires_grad=True)
    b = Tensor(W0.copy(), requires_grad=True)
    a.grad = G.copy()
    opt = optimizers.Adam()
    opt.step([a, b])
    assert a.data.dtype == np.float32 and not np.array_equal(a.data, W0)
    np.testing.assert_array_equal(b.data, W0)
    opt.zero_grad([a, b])
    assert a.grad is None


def test_by_name_and_errors():
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'"):
        optimizers.get("adagrad")
    with pytest.raises(ValueError, match="learning_rate must be positive"):
        optimizers.SGD(learning_rate=0)
