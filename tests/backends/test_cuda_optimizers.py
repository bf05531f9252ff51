"""The CUDA optimizers against the CPU's: the fused update of every rule, clipping, trust
ratios, Adafactor's factors, and the update skipped once a step's status is set. On the
simulator or a GPU, as test_cuda.py says."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.backends import namespace

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from autoconv.backends import cuda as cuda_backend  # noqa: E402 - needs numba-cuda
from tests.backends.cuda_checks import (  # noqa: E402
    TOLERANCE,
)

# Every update kernel, each option of its own and the base options (clipping, weight decay).
OPTIMIZERS = [
    ("sgd", {"learning_rate": 0.1}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("rmsprop", {}),
    ("rmsprop", {"momentum": 0.5}),
    ("rmsprop", {"centered": True, "momentum": 0.5}),
    ("adam", {}),
    ("adam", {"amsgrad": True, "clipnorm": 0.5}),
    ("adamw", {"global_clipnorm": 0.5}),
    ("nadam", {"clipvalue": 0.1}),
    ("adamax", {"weight_decay": 0.1}),
    ("lamb", {"weight_decay": 0.1, "clipnorm": 0.5}),
    ("adafactor", {}),
    ("adafactor", {"learning_rate": 0.5, "clip_threshold": 0.1, "weight_decay": 0.1}),
    ("adagrad", {"clipnorm": 0.5}),
    ("adadelta", {"learning_rate": 1.0}),
    ("lion", {"weight_decay": 0.1}),
    ("ftrl", {"l1_regularization_strength": 0.01, "l2_shrinkage_regularization_strength": 0.1}),
    # the moving averages and gradient accumulators (accumulate, release, ema_update)
    ("adam", {"use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 2}),
    ("sgd", {"momentum": 0.9, "gradient_accumulation_steps": 2}),
    ("rmsprop", {"use_ema": True, "gradient_accumulation_steps": 2, "clipnorm": 0.5}),
]


@pytest.mark.parametrize(("name", "config"), OPTIMIZERS)
def test_fused_optimizer_updates_match_cpu(name, config, rng):
    starts = [rng.standard_normal(shape).astype(np.float32) for shape in [(3, 4), (5,)]]
    steps = [[rng.standard_normal(w.shape).astype(np.float32) for w in starts] for _ in range(2)]
    results = {}
    for device in ("cpu", "cuda"):
        xp = namespace(device)
        params = [ac.Tensor(w.copy(), requires_grad=True, device=device) for w in starts]
        optimizer = ac.optimizers.get(name, **config)
        for grads in steps:
            for param, grad in zip(params, grads, strict=True):
                param.grad = xp.asarray(grad)  # updated in place
            optimizer.step(params)
        results[device] = [p.numpy() for p in params] + [
            xp.to_numpy(v) for slots in optimizer.slots for v in slots.values()
        ]
    for gpu, cpu in zip(results["cuda"], results["cpu"], strict=True):
        assert gpu.dtype == np.float32
        np.testing.assert_allclose(gpu, cpu, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("per_tensor", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_scale_matches_cpu(per_tensor, dtype, rng):
    grads = [rng.standard_normal(shape).astype(dtype) for shape in [(3, 7), (40,)]]
    for clipnorm in (0.5, 100.0):
        cpu = namespace("cpu").clip_scale(grads, clipnorm, per_tensor)
        gpu = cuda_backend.clip_scale(
            [cuda_backend.asarray(g) for g in grads], clipnorm, per_tensor
        )
        assert gpu.shape == () and gpu.dtype == dtype
        np.testing.assert_allclose(cuda_backend.to_numpy(gpu), cpu, **TOLERANCE[dtype])
    zeros = [cuda_backend.zeros((3,), dtype)]
    assert float(cuda_backend.clip_scale(zeros, 1.0, per_tensor)) == pytest.approx(1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trust_ratios_match_cpu(dtype, rng):
    """|value| / |direction| per parameter, 1 where either norm is 0 (or NaN)."""
    values = [rng.standard_normal(shape).astype(dtype) for shape in [(3, 7), (40,), (2,), (3,)]]
    directions = [rng.standard_normal(v.shape).astype(dtype) for v in values]
    values[2][:], directions[3][:] = 0, np.nan
    cpu = namespace("cpu").trust_ratios(values, directions)
    gpu = cuda_backend.trust_ratios(
        [cuda_backend.asarray(v) for v in values], [cuda_backend.asarray(d) for d in directions]
    )
    want = [np.linalg.norm(v) / np.linalg.norm(d) for v, d in zip(values, directions, strict=True)]
    want[2:] = [1.0, 1.0]
    for on_gpu, on_cpu, expected in zip(gpu, cpu, want, strict=True):
        assert on_gpu.dtype == dtype and on_cpu.dtype == dtype
        np.testing.assert_allclose(float(on_cpu), expected, **TOLERANCE[dtype])
        np.testing.assert_allclose(cuda_backend.to_numpy(on_gpu).reshape(()), on_cpu,
                                   **TOLERANCE[dtype])  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adafactor_factors_match_cpu(dtype, rng):
    """The factored moments of rank 2 and 3 parameters, the moving average of rank 0 and 1
    ones, the scaled gradients and each step size (one clipped by clip_threshold)."""
    shapes = [(3, 7), (2, 3, 4), (40,), ()]
    values = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    gradients = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    values[1] *= 1e-4  # its rms below epsilon_2
    states = [
        [np.abs(rng.standard_normal(s[:-1])).astype(dtype) if len(s) > 1 else None for s in shapes],
        [np.abs(rng.standard_normal(s[:-2] + s[-1:])).astype(dtype) if len(s) > 1 else None
         for s in shapes],
        [np.abs(rng.standard_normal(shape)).astype(dtype) for shape in shapes],
    ]  # fmt: skip
    scalars = lambda: (0.6, 0.4, 1e-30, 1e-3, 0.9)  # noqa: E731
    results = {}
    for xp in (namespace("cpu"), cuda_backend):
        on = lambda arrays, xp=xp: [None if a is None else xp.asarray(a.copy()) for a in arrays]  # noqa: E731
        grads, (rows, cols, vs) = on(gradients), [on(state) for state in states]
        status = xp.asarray(np.zeros(2, np.int64))
        ratios = xp.adafactor_factors(on(values), grads, rows, cols, vs, scalars, status)
        results[xp] = [xp.to_numpy(a) for a in (*ratios, *grads, *vs)] + [
            xp.to_numpy(a) for a in (*rows, *cols) if a is not None
        ]
    for gpu, cpu in zip(results[cuda_backend], results[namespace("cpu")], strict=True):
        assert gpu.dtype == dtype and cpu.dtype == dtype
        np.testing.assert_allclose(gpu, cpu, **TOLERANCE[dtype])
    cpu = results[namespace("cpu")]
    assert cpu[1] == pytest.approx(1e-3 / max(1, np.sqrt(np.mean(cpu[5] ** 2)) / 0.9))
    assert np.sqrt(np.mean(cpu[4] ** 2)) > 0.9  # clipped
    v = states[0][0] / states[0][0].mean()  # (the rows before the update: not v's)
    assert not np.allclose(cpu[8], v[:, None] * states[1][0][None, :])


@pytest.mark.parametrize("shape", [(3, 5), (2,), (), (0, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_zero_clears_an_array_in_place(shape, dtype, rng):
    """A state array (a metric's total, a status) reset where a replayed step reads it."""
    values = (np.abs(rng.standard_normal(shape)) * 10 + 3).astype(dtype)  # none zero
    for xp in (namespace("cpu"), cuda_backend):
        array = xp.asarray(values.copy())
        assert xp.zero(array) is None  # (the array itself changed)
        np.testing.assert_array_equal(xp.to_numpy(array), np.zeros(shape, dtype))


@pytest.mark.parametrize(
    "base",
    [{}, {"use_ema": True, "ema_overwrite_frequency": 1}, {"gradient_accumulation_steps": 2}],
)
@pytest.mark.parametrize("name", ["adam", "ftrl", "lamb", "adafactor"])
def test_optimizer_skips_the_update_once_status_is_set(name, base):
    param = ac.Tensor(np.ones(5, np.float32), requires_grad=True, device="cuda")
    param.grad = namespace("cuda").asarray(np.ones(5, np.float32))
    status = namespace("cuda").asarray(np.array([2, 0]))
    optimizer = ac.optimizers.get(name, weight_decay=0.1, global_clipnorm=1.0, **base)
    for _ in range(2):  # with accumulation: a step between updates, then an update
        optimizer.step([param], status)
    np.testing.assert_array_equal(param.numpy(), np.ones(5))
    fresh = ac.optimizers.get(name, **base)  # its slots as they start
    fresh.build([ac.Tensor(np.ones(5, np.float32), device="cuda")])
    xp = namespace("cuda")
    for slot, value in optimizer.slots[0].items():
        np.testing.assert_array_equal(xp.to_numpy(value), xp.to_numpy(fresh.slots[0][slot]))
