"""What the CUDA backend's tests share: the same values and gradients on the GPU as on the
CPU, within each dtype's tolerance; a tiny convnet and its data. Imported by the test_cuda*.py
files once numba-cuda is known to import."""

from __future__ import annotations

import numpy as np

import autoconv as ac
from autoconv import layers
from autoconv.backends import cuda as cuda_backend
from autoconv.backends import namespace

SIMULATED = cuda_backend.SIMULATED
TOLERANCE = {np.float64: {"rtol": 1e-9, "atol": 1e-11}, np.float32: {"rtol": 2e-5, "atol": 2e-6}}


def forward_backward(device, fn, arrays, weights, dtype):
    """fn's output and the gradients of sum(output * weights), computed on ``device``."""
    inputs = [ac.Tensor(a.astype(dtype), requires_grad=True, device=device) for a in arrays]
    out = fn(*inputs)
    out.backward(weights.astype(dtype))
    xp = namespace(device)
    return out, [xp.to_numpy(t.grad) for t in inputs]


def assert_same_on_both(fn, arrays, rng, dtype=np.float64):
    """fn gives the same values and gradients on cuda as on cpu, in ``dtype``."""
    probe = fn(*[ac.Tensor(a.astype(dtype)) for a in arrays])
    weights = rng.standard_normal(probe.shape)
    cpu_out, cpu_grads = forward_backward("cpu", fn, arrays, weights, dtype)
    gpu_out, gpu_grads = forward_backward("cuda", fn, arrays, weights, dtype)
    assert gpu_out.device == "cuda" and isinstance(gpu_out.data, cuda_backend.CudaArray)
    assert gpu_out.dtype == dtype and gpu_out.shape == cpu_out.shape
    np.testing.assert_allclose(gpu_out.numpy(), cpu_out.numpy(), **TOLERANCE[dtype])
    for gpu_grad, cpu_grad in zip(gpu_grads, cpu_grads, strict=True):
        assert gpu_grad.dtype == dtype and gpu_grad.shape == cpu_grad.shape
        np.testing.assert_allclose(gpu_grad, cpu_grad, **TOLERANCE[dtype])


def tiny_model() -> ac.Sequential:
    return ac.Sequential(
        [
            layers.Conv2D(4, 3, activation="relu", input_shape=(6, 6, 1)),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(5, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ]
    )


def tiny_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.random((n, 6, 6, 1)).astype(np.float32)
    y = ac.utils.to_categorical((x[:, :3].mean(axis=(1, 2, 3)) * 6).astype(int) % 3, 3)
    return x, y
