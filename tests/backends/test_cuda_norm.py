"""The CUDA batch and layer normalization against the CPU's. On the simulator or a GPU, as
test_cuda.py says."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.backends import namespace

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from autoconv.backends import cuda as cuda_backend  # noqa: E402 - needs numba-cuda
from autoconv.backends.cuda import runtime  # noqa: E402
from tests.backends.cuda_checks import (  # noqa: E402
    TOLERANCE,
    assert_same_on_both,
)

# (shape, axis): more rows than a block's threads, more channels than the simulator's blocks
# (each block then takes several channels), channels-first; more rows than a grid's height
# of runs of one row at a time (below).
BATCH_NORMS = [((9, 3), -1), ((3, 6), -1), ((2, 3, 2, 3), -1), ((2, 3, 2, 2), 1), ((40, 2), -1)]


@pytest.mark.parametrize(("shape", "axis"), BATCH_NORMS)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lines_per_thread", [32, 1], ids=["one_run", "many_runs"])
@pytest.mark.parametrize("fused", [False, True])
def test_batch_norm_matches_cpu(shape, axis, training, dtype, lines_per_thread, fused,
                                monkeypatch, rng):  # fmt: skip
    """Values, gradients and statistics as the CPU's, a channel's rows in one run or cut in
    many (see test_im2col_and_col2im_match_cpu), with the bias of a layer before and a ReLU
    in its passes or without."""
    monkeypatch.setattr(runtime, "RUN_LINES", lines_per_thread)
    monkeypatch.setattr(runtime, "MAX_GRID_Y", 7)
    channels = shape[axis]
    x = rng.standard_normal(shape) * 2 + 3
    gamma, beta = rng.uniform(0.5, 2.0, channels), rng.standard_normal(channels)
    moving = (rng.standard_normal(channels), rng.uniform(0.5, 2.0, channels))

    def fn(x, gamma, beta, *bias):
        bias = bias[0] if fused else None
        return ac.ops.batch_norm(x, gamma, beta, axis, 1e-3, training, *moving, fused, bias)[0]

    bias = [rng.standard_normal(channels)] if fused else []
    assert_same_on_both(fn, [x, gamma, beta, *bias], rng, dtype)
    stats = {}
    for device in ("cpu", "cuda"):
        _, mean, variance = ac.ops.batch_norm(
            ac.Tensor(x.astype(dtype), device=device), None, None, axis, 1e-3, training, *moving
        )
        stats[device] = [namespace(device).to_numpy(a) for a in (mean, variance)]
        assert stats[device][0].dtype == dtype
    for gpu, cpu in zip(stats["cuda"], stats["cpu"], strict=True):
        np.testing.assert_allclose(gpu, cpu, **TOLERANCE[dtype])


def test_batch_norm_without_scale_and_offset_matches_cpu(rng):
    x = rng.standard_normal((5, 2, 3))
    assert_same_on_both(lambda x: ac.ops.batch_norm(x)[0], [x], rng)


@pytest.mark.parametrize("rows", [1, 6, 37, 203])
@pytest.mark.parametrize("offset", [0.0, 1e3, 1e4])
@pytest.mark.parametrize("lines_per_thread", [32, 3, 1])
def test_batch_norm_statistics_hold_float32s_digits(rows, offset, lines_per_thread, monkeypatch,
                                                   rng):  # fmt: skip
    """The GPU's one-pass float32 statistics (each run's mean and M2 less the channel's first
    value, merged by Chan's formula) against the exact ones of the same float32 data: a mean up
    to 10^4 times the spread, outlying first rows (the shift's), runs of one row, three and
    many, empty runs, channels past the merge's tile. The variance keeps float32's digits
    (without the shift it lost half of them at 10^4; a sum of squares less the squared sum, all
    of them)."""
    monkeypatch.setattr(runtime, "RUN_LINES", lines_per_thread)
    monkeypatch.setattr(runtime, "MAX_GRID_Y", 7)
    x = (offset + rng.standard_normal((rows, 3))).astype(np.float32)  # 2 lanes: empty runs
    x[:2] -= 20
    _, mean, variance = cuda_backend.batch_norm_forward(cuda_backend.asarray(x), None, None, 1e-3)
    exact = x.astype(np.float64)
    scale = np.abs(exact).max()  # the data's magnitude: its rounding bounds the mean's
    np.testing.assert_allclose(cuda_backend.to_numpy(mean), exact.mean(0), rtol=0,
                               atol=1e-6 * scale)  # fmt: skip
    np.testing.assert_allclose(cuda_backend.to_numpy(variance), exact.var(0), rtol=1e-5, atol=0)


@pytest.mark.parametrize("axis", [-1, (1, 2)])
def test_layer_norm_matches_cpu(axis, rng):
    x = rng.standard_normal((2, 3, 4))
    spanned = (4,) if axis == -1 else (3, 4)
    gamma, beta = rng.uniform(0.5, 2.0, spanned), rng.standard_normal(spanned)
    assert_same_on_both(lambda x, g, b: ac.ops.layer_norm(x, g, b, axis), [x, gamma, beta], rng)
