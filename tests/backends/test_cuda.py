"""The CUDA backend against the CPU one: the core table's ops, the elementwise kernels'
operand modes, dispatch and moves between devices, reductions, copies, the clear errors and
the GPU benchmark. Each other concern has a file beside this one: convolutions and pools
(test_cuda_conv.py), the matrix product's kernel (test_cuda_gemm.py), losses and metrics
(test_cuda_losses.py), normalization (test_cuda_norm.py), the optimizers
(test_cuda_optimizers.py), image ops and layers (test_cuda_image.py), whole models
(test_cuda_model.py); their shared checks are in cuda_checks.py.

They run on numba's CUDA simulator unless this machine has a GPU (see tests/conftest.py).
Shapes are tiny: the simulator runs every GPU thread's code in Python. Tests marked ``gpu``
need real hardware and are skipped on the simulator.
"""

from __future__ import annotations

import itertools
import operator
import os
import subprocess
import sys

import numpy as np
import pytest

import autoconv as ac
from autoconv import backends
from autoconv.backends import DeviceUnavailableError, namespace
from tests.ops.test_core_ops import CASES, IDS, draw_inputs

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from autoconv.backends import cuda as cuda_backend  # noqa: E402 - needs numba-cuda
from autoconv.backends.cuda import elementwise, reduce  # noqa: E402
from tests.backends.cuda_checks import (  # noqa: E402
    SIMULATED,
    assert_same_on_both,
    tiny_model,
)


@pytest.mark.parametrize(("name", "fn", "torch_fn", "shapes", "draw"), CASES, ids=IDS)
def test_core_op_matches_cpu(name, fn, torch_fn, shapes, draw, rng):
    assert_same_on_both(fn, draw_inputs(shapes, draw, rng), rng)


@pytest.mark.parametrize(
    "name",
    ["add", "matmul", "sum_axis", "max_axis", "sigmoid", "softmax", "gelu", "softplus", "elu"],
)
def test_core_op_float32_stays_float32(name, rng):
    _, fn, _, shapes, draw = CASES[IDS.index(name)]
    assert_same_on_both(fn, draw_inputs(shapes, draw, rng), rng, np.float32)


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "modes"),
    [
        ((4, 6), (4, 6), ("READ_FLAT", "READ_FLAT")),
        ((4, 6), (), ("READ_FLAT", "READ_ONE")),
        ((), (2, 3, 5), ("READ_ONE", "READ_FLAT")),
        ((2, 3), (1, 1), ("READ_FLAT", "READ_ONE")),
        ((3, 1, 5), (1, 4, 1), ("READ_STRIDED", "READ_STRIDED")),
        ((4, 1), (1, 6), ("READ_STRIDED", "READ_STRIDED")),
    ],
)
def test_binary_ops_read_each_operand_by_its_mode_as_the_cpu_computes(a_shape, b_shape, modes,
                                                                       rng):  # fmt: skip
    """An operand read as the output is written, a single number broadcast (a 0-d tensor: its
    one entry), or at the offsets its strides give: the CPU's values for each, and the mode
    each operand is read by."""
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape) + 3.0
    shape = np.broadcast_shapes(a.shape, b.shape)
    lengths, a_strides, b_strides = elementwise._coalesced(
        elementwise._padded(shape, 1), elementwise._broadcast_strides(a.shape, shape),
        elementwise._broadcast_strides(b.shape, shape),
    )  # fmt: skip
    got = [elementwise._read_mode(lengths, s) for s in (a_strides, b_strides)]
    assert got == [getattr(elementwise, mode) for mode in modes]
    on_gpu = cuda_backend.asarray(a), cuda_backend.asarray(b)
    for op in (operator.mul, operator.sub, operator.pow):
        got = cuda_backend.to_numpy(op(*on_gpu))
        np.testing.assert_allclose(got, op(a, b), rtol=1e-12)
    filled = cuda_backend.broadcast_to(cuda_backend.asarray(np.float64(2.5)), (3, 4)).copy()
    np.testing.assert_array_equal(cuda_backend.to_numpy(filled), np.full((3, 4), 2.5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_grad_is_grad_times_a_positive_output_on_both_devices(dtype, rng):
    """One pass of grad * (out > 0): -0.0 where a negative grad meets out <= 0, NaN where a NaN
    or infinite grad does, as NumPy's product has them, on both devices; a shape mismatch is
    refused before any work."""
    grad = rng.standard_normal((3, 5, 4)).astype(dtype)
    out = np.maximum(rng.standard_normal((3, 5, 4)), 0).astype(dtype)
    grad[0, 0, :] = [np.nan, np.inf, -np.inf, -2.0]
    out[0, 0, :] = [0.0, 0.0, 0.0, 0.0]
    want = grad * (out > 0)
    assert np.signbit(want[0, 0, 3]) and np.isnan(want[0, 0, :3]).all()
    for xp in (backends.namespace("cpu"), cuda_backend):
        got = xp.to_numpy(xp.relu_grad(xp.asarray(grad), xp.asarray(out)))
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)
        numbers = ~np.isnan(want)  # a NaN's sign is the hardware's (x86: set; a GPU: clear)
        np.testing.assert_array_equal(np.signbit(got[numbers]), np.signbit(want[numbers]))
        with pytest.raises(ValueError, match="relu_grad: out must have shape"):
            xp.relu_grad(xp.asarray(grad), xp.asarray(out[:2]))


def test_fused_relu_nan_and_dead_cells_as_on_the_cpu():
    x = np.ones((1, 3, 3, 1))
    x[0, 0, 0, 0] = np.nan
    w = np.ones((1, 1, 1, 2))
    w[..., 1] = -1
    g = np.ones((1, 3, 3, 2))
    g[..., 1] = np.inf
    results = []
    for device in ("cpu", "cuda"):
        xt = ac.Tensor(x, requires_grad=True, device=device)
        out = ac.conv2d(xt, ac.Tensor(w, device=device), activation="relu")
        out.backward(g)
        results.append((out.numpy(), namespace(device).to_numpy(xt.grad)))
    for gpu, cpu in zip(results[1], results[0], strict=True):
        np.testing.assert_array_equal(gpu, cpu)  # NaN where the CPU has NaN


def test_cuda_tensors_run_the_cuda_kernels(monkeypatch, rng):
    calls = []
    im2col = cuda_backend.im2col
    monkeypatch.setattr(cuda_backend, "im2col", lambda *a: calls.append(a) or im2col(*a))
    x = ac.Tensor(rng.standard_normal((1, 4, 4, 1)), device="cuda")
    out = ac.conv2d(x, ac.Tensor(rng.standard_normal((3, 3, 1, 2)), device="cuda"))
    assert len(calls) == 1 and isinstance(out.data, cuda_backend.CudaArray)
    assert backends.backend(out) is cuda_backend
    assert backends.backend(ac.Tensor(1.0)) is namespace("cpu")


def test_mixing_devices_is_a_clear_error(rng):
    with pytest.raises(ValueError, match=r"different devices \(cpu and cuda\)"):
        ac.Tensor([1.0, 2.0]) + ac.Tensor([1.0, 2.0], device="cuda")


def test_to_and_back_keeps_values_and_requires_grad(rng):
    x = ac.Tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    on_gpu = x.to("cuda")
    assert on_gpu.device == "cuda" and on_gpu.requires_grad and on_gpu.to("cuda") is on_gpu
    np.testing.assert_array_equal(on_gpu.to("cpu").data, x.data)
    np.testing.assert_array_equal(on_gpu.numpy(), x.data)


def test_dropout_on_the_gpu_drops_at_the_rate_and_is_seeded():
    def mask(seed):
        ac.utils.set_random_seed(seed)
        x = ac.Tensor(np.ones(4000, np.float32), requires_grad=True, device="cuda")
        out = ac.ops.dropout(x, 0.25, ac.random.generator())
        out.backward(np.ones(4000, np.float32))
        return out.numpy(), x.grad

    out, grad = mask(7)
    assert abs((out == 0).mean() - 0.25) < 0.03
    np.testing.assert_allclose(out[out != 0], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(namespace("cuda").to_numpy(grad), out)  # d out / d x = mask
    np.testing.assert_array_equal(mask(7)[0], out)
    assert not np.array_equal(mask(8)[0], out)


@pytest.fixture
def fresh_backends(monkeypatch):
    """Forget which backends were loaded, so the next use checks again."""
    monkeypatch.setattr(backends, "_modules", {})


def test_missing_numba_cuda_says_how_to_install(monkeypatch, fresh_backends):
    monkeypatch.setitem(sys.modules, "numba_cuda", None)  # import fails
    with pytest.raises(DeviceUnavailableError, match=r'pip install "autoconv\[cuda\]"'):
        ac.Tensor([1.0], device="cuda")
    with pytest.raises(DeviceUnavailableError, match="numba-cuda"):
        tiny_model().to("cuda")


def test_the_simulator_without_greenlet_says_how_to_install():
    script = (
        "import sys; sys.modules['greenlet'] = None\n"  # import fails
        "import autoconv as ac\n"
        "try:\n    ac.Tensor([1.0], device='cuda')\n"
        "except ac.backends.DeviceUnavailableError as error:\n    print(error)\n"
    )
    env = os.environ | {"NUMBA_ENABLE_CUDASIM": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "CUDA simulator" in done.stdout and 'pip install "autoconv[cuda]"' in done.stdout


def test_no_gpu_visible_says_which_and_what_to_check(monkeypatch, fresh_backends):
    monkeypatch.setattr(cuda_backend, "available", lambda: False)
    with pytest.raises(DeviceUnavailableError, match=r"sees no usable NVIDIA GPU.*nvidia-smi"):
        ac.Tensor([1.0]).to("cuda")


def test_cli_without_a_gpu_is_one_clear_line(monkeypatch, fresh_backends):
    from click.testing import CliRunner

    from autoconv.cli import main

    monkeypatch.setattr(cuda_backend, "available", lambda: False)
    result = CliRunner().invoke(main, ["train", "mnist", "--device", "cuda", "--limit", "64"])
    assert result.exit_code == 1
    assert "no usable NVIDIA GPU" in result.output and "Traceback" not in result.output
    assert "Epoch" not in result.output  # never trains silently on the CPU


def tiny_gpu_rows(rng):
    from autoconv.benchmarks import gpu

    return gpu.layer_rows(
        None, 1, rng, convs={"conv": ((1, 5, 5, 2), (3, 3, 2, 3))}, pools={"pool": (1, 4, 4, 2)}
    )


def test_gpu_benchmark_times_every_layer(rng):
    rows = tiny_gpu_rows(rng)
    ops = ["conv forward", "conv fwd+bwd", "pool max forward", "pool max fwd+bwd"]
    assert [row.op for row in rows] == ops
    assert all(row.autoconv_ms > 0 and row.torch_ms is None and row.ratio is None for row in rows)


def test_bench_cli_on_cuda_prints_the_gpu_table(monkeypatch, rng):
    import json

    from click.testing import CliRunner

    from autoconv.benchmarks import gpu
    from autoconv.cli import main

    rows = tiny_gpu_rows(rng)
    monkeypatch.setattr(gpu, "run", lambda torch, quick: rows)
    result = CliRunner().invoke(main, ["bench", "--device", "cuda", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["device"] == "cuda" and len(report["rows"]) == 4
    text = CliRunner().invoke(main, ["bench", "--device", "cuda"]).output
    assert "conv fwd+bwd" in text and "autoconv ms" in text


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "max"])
def test_reductions_over_every_set_of_axes_match_numpy(name, keepdims, monkeypatch, rng):
    """Sums and maxima of a (3, 5, 2, 7) array over every set of axes: NumPy's, and a sum over
    a run of axes before the last (a global average pool's (1, 2), a bias gradient's (0, 1, 2))
    summed as columns, one launch."""
    a = rng.standard_normal((3, 5, 2, 7))
    device = cuda_backend.asarray(a)
    routes, sum_columns = [], reduce.sum_columns

    def counted(element, args, rows, columns, *rest, **options):
        routes.append((rows, columns))
        return sum_columns(element, args, rows, columns, *rest, **options)

    monkeypatch.setattr(reduce, "sum_columns", counted)
    for size in range(1, 5):
        for axes in itertools.combinations(range(4), size):
            routes.clear()
            got = getattr(device, name)(axis=axes, keepdims=keepdims)
            want = getattr(a, name)(axis=axes, keepdims=keepdims)
            np.testing.assert_allclose(cuda_backend.to_numpy(got), want, rtol=1e-12)
            run = axes == tuple(range(axes[0], axes[-1] + 1)) and axes[-1] < 3
            count = int(np.prod([a.shape[d] for d in axes]))
            assert routes == ([(count, a.size // count)] if name == "sum" and run else [])


@pytest.mark.parametrize("compare", [operator.gt, operator.ge, operator.lt, operator.le,
                                     operator.eq, operator.ne])  # fmt: skip
def test_comparisons_give_the_cpus_truth_as_0_1_values(compare, rng):
    """Masks are made by comparing device arrays (autoconv.ops.masks): 1 where NumPy's
    comparison is true, with an array or a number on the right."""
    a = np.round(rng.standard_normal((3, 4)))
    b = np.round(rng.standard_normal((3, 4)))
    for right, device_right in ((b, cuda_backend.asarray(b)), (0.0, 0.0)):
        got = cuda_backend.to_numpy(compare(cuda_backend.asarray(a), device_right))
        np.testing.assert_array_equal(got, compare(a, right).astype(got.dtype))


def test_kernels_write_into_given_out_arrays_on_the_gpu(rng):
    """As on the CPU (tests/backends/test_cpu.py): rows of a device batch written in place,
    a host array or a wrong shape or dtype refused."""
    from tests.backends.test_cpu import check_out_cases

    check_out_cases(cuda_backend, cuda_backend.CudaArray, rng)


@pytest.mark.gpu
@pytest.mark.skipif(SIMULATED, reason="needs a real GPU (this run uses the CUDA simulator)")
def test_asynchronous_copies_land_in_order_with_the_kernels(rng):
    """Many batches copied in turn into one place (the staging buffers reused past a turn),
    each summed on the device right after its copy: every sum is its own batch's."""
    place = cuda_backend.empty((4096, 64), np.float32)
    batches = [rng.standard_normal((4096, 64)).astype(np.float32) for _ in range(20)]
    sums = []
    for batch in batches:
        cuda_backend.copy_from_host(place, batch)
        sums.append(place.sum(axis=0))
    for got, batch in zip(sums, batches, strict=True):
        np.testing.assert_allclose(cuda_backend.to_numpy(got), batch.sum(axis=0), rtol=1e-4,
                                   atol=1e-3)  # fmt: skip
