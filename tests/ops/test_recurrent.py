"""The fused LSTM and GRU steps (``ops.recurrent``, the backends' ``lstm_step`` and ``gru_step``
functions): their states and gradients equal the steps composed of the engine's ops, on both
devices; float64 gradient checks; mismatched arrays are one clear error."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.backends import cpu, cuda
from autoconv.ops import engine as ops
from autoconv.ops.recurrent import gru_step, lstm_step
from autoconv.testing import gradcheck

DEVICES = ["cpu", "cuda"]


def composed(z: ac.Tensor, c_prev: ac.Tensor) -> tuple[ac.Tensor, ac.Tensor]:
    """The step as LSTMCell composes it for other activations."""
    units = c_prev.shape[1]
    i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
    c = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(g)
    return ops.sigmoid(o) * ops.tanh(c), c


def host(array):
    return array if isinstance(array, np.ndarray) else cuda.to_numpy(array)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("rows", "units"), [(1, 1), (3, 5), (4, 16)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_states_and_gradients_equal_the_composed_step(device, rows, units, dtype, rng):
    z_values = rng.standard_normal((rows, 4 * units)) * 3
    c_values = rng.standard_normal((rows, units))
    weights = [rng.standard_normal((rows, units)) for _ in range(2)]
    results = []
    for step in (lstm_step, composed):
        z = ac.Tensor(z_values, dtype=dtype, requires_grad=True, device=device)
        c_prev = ac.Tensor(c_values, dtype=dtype, requires_grad=True, device=device)
        h, c = step(z, c_prev)
        w_h, w_c = (ac.Tensor(w, dtype=dtype, device=device) for w in weights)
        ((h * w_h).sum() + (c * w_c).sum()).backward()
        results.append([h.numpy(), c.numpy(), host(z.grad), host(c_prev.grad)])
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-12}
    tolerance["atol"] = tolerance.get("atol", 1e-14)
    for fused, reference in zip(*results, strict=True):
        assert fused.dtype == np.dtype(dtype)
        np.testing.assert_allclose(fused, reference, **tolerance)


def test_float64_gradient_check(rng):
    z, c_prev = rng.standard_normal((3, 12)), rng.standard_normal((3, 3))
    assert gradcheck(lambda z, c: lstm_step(z, c)[0], [z, c_prev])
    assert gradcheck(lambda z, c: lstm_step(z, c)[1], [z, c_prev])


@pytest.mark.parametrize("backend", [cpu, cuda])
def test_mismatched_arrays_are_one_clear_error(backend):
    z, c = backend.asarray(np.zeros((2, 8))), backend.asarray(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"lstm_step: z must be \(batch, 4 units\)"):
        backend.lstm_step(z, c)
    c = backend.asarray(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="each state and gradient"):
        backend.lstm_cell_grad(z, c, backend.asarray(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="each state and gradient"):
        backend.lstm_hidden_grad(z, c, backend.asarray(np.zeros((3, 2))))
    with pytest.raises(ValueError, match="share z's dtype"):
        backend.lstm_step(z, backend.asarray(np.zeros((2, 2), np.float32)))


def composed_gru(x: ac.Tensor, recurrent: ac.Tensor, h_prev: ac.Tensor) -> ac.Tensor:
    """The step as GRUCell composes it for other activations (reset_after)."""
    units = h_prev.shape[1]
    x_z, x_r, x_h = (x[:, k * units : (k + 1) * units] for k in range(3))
    r_z, r_r, r_h = (recurrent[:, k * units : (k + 1) * units] for k in range(3))
    z, r = ops.sigmoid(x_z + r_z), ops.sigmoid(x_r + r_r)
    candidate = ops.tanh(x_h + r * r_h)
    return z * h_prev + (1 - z) * candidate


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("rows", "units"), [(1, 1), (3, 5), (4, 16)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_gru_step_and_gradients_equal_the_composed_step(device, rows, units, dtype, rng):
    values = [rng.standard_normal((rows, 3 * units)) * 2 for _ in range(2)]
    values.append(rng.standard_normal((rows, units)))
    weight = rng.standard_normal((rows, units))
    results = []
    for step in (gru_step, composed_gru):
        tensors = [ac.Tensor(v, dtype=dtype, requires_grad=True, device=device) for v in values]
        h = step(*tensors)
        (h * ac.Tensor(weight, dtype=dtype, device=device)).sum().backward()
        results.append([h.numpy(), *(host(t.grad) for t in tensors)])
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-12}
    tolerance["atol"] = tolerance.get("atol", 1e-14)
    for fused, reference in zip(*results, strict=True):
        assert fused.dtype == np.dtype(dtype)
        np.testing.assert_allclose(fused, reference, **tolerance)


def test_gru_float64_gradient_check(rng):
    x, recurrent, h_prev = (
        rng.standard_normal((3, 9)),
        rng.standard_normal((3, 9)),
        rng.standard_normal((3, 3)),
    )
    assert gradcheck(gru_step, [x, recurrent, h_prev])


@pytest.mark.parametrize("backend", [cpu, cuda])
def test_mismatched_gru_arrays_are_one_clear_error(backend):
    x, h = backend.asarray(np.zeros((2, 6))), backend.asarray(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"gru_step: x must be \(batch, 3 units\)"):
        backend.gru_step(x, x, backend.asarray(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="recurrent must have shape"):
        backend.gru_step(x, backend.asarray(np.zeros((2, 3))), h)
    with pytest.raises(ValueError, match="each state and gradient"):
        backend.gru_step_grad(x, x, h, backend.asarray(np.zeros((3, 2))))
