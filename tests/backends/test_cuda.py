"""The CUDA backend against the CPU one: every op of the core table, conv and pooling sweeps,
the optimizers, one training step, fit's device-side loop, and the clear errors.

They run on numba's CUDA simulator unless this machine has a GPU (see tests/conftest.py).
Shapes are tiny: the simulator runs every GPU thread as a Python thread. Tests marked ``gpu``
need real hardware and are skipped on the simulator.
"""

from __future__ import annotations

import itertools
import operator
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autoconv as ac
from autoconv import backends, layers, losses, metrics, models, step_replay
from autoconv import training as training_module
from autoconv.backends import DeviceUnavailableError, namespace
from tests.conftest import distinct
from tests.ops.test_core_ops import CASES, IDS, draw_inputs

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from autoconv.backends import cuda as cuda_backend  # noqa: E402 - needs numba-cuda
from autoconv.backends.cuda import conv_pool, elementwise, gemm, loss, reduce, runtime  # noqa: E402

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


# --------------------------------------------------------------------------- every op
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


CONV_SWEEP = [
    (k, s, d, p, activation)
    for k, s, d, p, activation in itertools.product(
        [(1, 1), (2, 3), (3, 3)], [1, 2], [1, 2], ["valid", "same", 1], [None, "relu"]
    )
    if not (s > 1 and d > 1)
]


@pytest.mark.parametrize(("k", "s", "d", "p", "activation"), CONV_SWEEP)
def test_conv2d_matches_cpu(k, s, d, p, activation, rng):
    x = rng.standard_normal((2, 5, 6, 3))
    w = rng.standard_normal((*k, 3, 2))
    b = rng.standard_normal(2)
    assert_same_on_both(
        lambda x, w, b: ac.conv2d(x, w, b, stride=s, padding=p, dilation=d, activation=activation),
        [x, w, b],
        rng,
    )


@pytest.mark.parametrize(("pool", "strides", "padding"), [(2, None, "valid"), (3, 2, "same")])
@pytest.mark.parametrize("activation", [None, "relu"])
def test_conv2d_max_pool_matches_cpu(pool, strides, padding, activation, rng):
    """The fused op (bias and ReLU inside the pooling kernel), overlapping pools too."""
    x = distinct((2, 6, 7, 2), rng)
    w = rng.standard_normal((3, 3, 2, 3))
    b = rng.standard_normal(3)
    assert_same_on_both(
        lambda x, w, b: ac.conv2d_max_pool(
            x, w, b, 1, "same", 1, activation, pool, strides, padding
        ),
        [x, w, b],
        rng,
    )


def slice_every_image(monkeypatch):
    """Both backends' convolutions one image at a time, whatever the batch's size."""
    for module in (backends.cpu, cuda_backend):
        monkeypatch.setattr(module, "WHOLE_BATCH_BYTES", 0)
        monkeypatch.setattr(module, "SLICE_BYTES", 1)


def test_the_gpu_convolves_a_batch_whole_where_the_cpu_slices_it():
    """The flowers classifier's second convolution at batch 32 (4.7 MB of windows an image):
    the CPU's slices stay in its caches, one image each; on the GPU a slice would only add
    launches, so the batch runs whole up to WHOLE_BATCH_BYTES of windows."""
    from autoconv.ops import convolution as conv_ops

    per_image = 90 * 90 * 9 * 16 * 4
    assert conv_ops._slices(backends.cpu, 32, per_image) == [slice(i, i + 1) for i in range(32)]
    assert conv_ops._slices(cuda_backend, 32, per_image) == [slice(0, 32)]
    huge = cuda_backend.WHOLE_BATCH_BYTES // 2 + 1  # two images' windows are too many at once
    assert conv_ops._slices(cuda_backend, 3, huge) == [slice(0, 1), slice(1, 2), slice(2, 3)]


def test_a_convolution_without_gradient_runs_in_slices_as_on_the_cpu(monkeypatch, rng):
    slice_every_image(monkeypatch)
    x, w, b = distinct((3, 6, 6, 2), rng), rng.standard_normal((3, 3, 2, 3)), rng.standard_normal(3)
    with ac.no_grad():
        outs = [ac.conv2d_max_pool(*(ac.Tensor(a, device=device) for a in (x, w, b)), 1, "same",
                                   1, "relu", 2) for device in ("cpu", "cuda")]  # fmt: skip
    assert outs[1].device == "cuda" and outs[1].shape == outs[0].shape == (3, 3, 3, 3)
    np.testing.assert_allclose(outs[1].numpy(), outs[0].numpy(), **TOLERANCE[np.float64])
    rows = [cuda_backend.asarray(rng.standard_normal((n, 2, 3))) for n in (2, 0, 1)]
    joined = cuda_backend.concatenate_rows(rows)
    np.testing.assert_array_equal(
        cuda_backend.to_numpy(joined), np.concatenate([cuda_backend.to_numpy(r) for r in rows])
    )
    with pytest.raises(ValueError, match="concatenate_rows: arrays of shapes"):
        cuda_backend.concatenate_rows([rows[0], cuda_backend.asarray(np.zeros((1, 3, 2)))])


@pytest.mark.parametrize(
    ("k", "s", "d", "p", "m", "width"),
    [
        ((3, 3), 1, 1, "same", 1, 6),
        ((2, 3), 2, 1, "valid", 2, 6),
        ((3, 2), 1, 2, 1, 3, 6),
        ((3, 3), 1, 2, "same", 1, 11),  # strips of 4 pixels: two whole, a short one
        ((3, 3), 2, 1, "same", 2, 11),
        ((3, 3), 1, 1, "same", 2, 13),  # strips inside the image, of every kernel, and not
        ((3, 3), 1, 1, "same", 1, 21),  # rows of several inside strips, walked one by one
        ((3, 3), 1, 1, "valid", 1, 20),
    ],
)
@pytest.mark.parametrize("lines_per_thread", [32, 1], ids=["one_run", "many_runs"])
def test_depthwise_conv2d_matches_cpu(k, s, d, p, m, width, lines_per_thread, monkeypatch, rng):
    """Values and gradients as the CPU's, a block's pixels in one run or cut in many (see
    test_im2col_and_col2im_match_cpu), rows in whole and short strips (conv.STRIP)."""
    monkeypatch.setattr(runtime, "RUN_LINES", lines_per_thread)
    monkeypatch.setattr(runtime, "MAX_GRID_Y", 7)
    x = rng.standard_normal((2, 5, width, 3))
    w = rng.standard_normal((*k, 3, m))
    b = rng.standard_normal(3 * m)
    assert_same_on_both(
        lambda x, w, b: ac.depthwise_conv2d(x, w, b, stride=s, padding=p, dilation=d),
        [x, w, b],
        rng,
    )


@pytest.mark.parametrize("columns", [True, False], ids=["column_walk", "row_walk"])
@pytest.mark.parametrize("relu", [False, True])
def test_depthwise_conv_with_64_bit_offsets_is_the_32_bit_one(relu, columns, rng, monkeypatch):
    """The kernels compiled for arrays of 2**31 entries or more give the same bits: forward,
    input gradient and kernel gradient, and both gradients in one pass (one kernel a channel),
    strips inside the image and at its edges, walked down the columns or along the rows."""
    from autoconv.backends.cuda import depthwise

    monkeypatch.setattr(depthwise, "COLUMN_WALK", columns)
    x, w = rng.standard_normal((2, 5, 13, 3)), rng.standard_normal((3, 3, 3, 2))
    g = rng.standard_normal((2, 5, 13, 6))
    w1, g1 = np.ascontiguousarray(w[..., :1]), np.ascontiguousarray(g[..., ::2])  # one pass
    win = ac.windows.window("t", (5, 13), (3, 3), 1, 1, "same")
    xp = namespace("cuda")

    def run() -> list[np.ndarray]:
        xd, wd, gd = xp.asarray(x), xp.asarray(w), xp.asarray(g)
        outs = (
            xp.depthwise_conv(xd, wd, win, relu),
            xp.depthwise_conv_input_grad(gd, wd, x.shape, win, xd if relu else None),
            xp.depthwise_conv_kernel_grad(xd, gd, w.shape, win, relu),
            *xp.depthwise_conv_grads(xd, xp.asarray(g1), xp.asarray(w1), win, relu),
        )
        return [xp.to_numpy(a) for a in outs]

    narrow = run()
    monkeypatch.setattr(runtime, "wide_offsets", lambda *arrays: True)
    for wide, one in zip(run(), narrow, strict=True):
        np.testing.assert_array_equal(wide, one)
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(np.maximum(x, 0) if relu else x, ((0, 0), (1, 1), (1, 1), (0, 0))), (3, 3), (1, 2)
    )  # (n, y, x, c, a, b)
    expected = np.einsum("nyxcab,abcm->nyxcm", windows, w).reshape(g.shape)
    np.testing.assert_allclose(narrow[0], expected, rtol=1e-10, atol=1e-12)
    for one_pass, want in zip(narrow[3:], backends.cpu.depthwise_conv_grads(x, g1, w1, win, relu),
                              strict=True):  # fmt: skip
        np.testing.assert_allclose(one_pass, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("k", "d", "width"), [((3, 3), 1, 21), ((3, 5), 1, 13), ((3, 3), 2, 11)])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("lines_per_thread", [32, 1], ids=["one_run", "many_runs"])
def test_depthwise_conv_grads_in_one_pass_are_the_two_kernels(k, d, width, relu,
                                                                lines_per_thread, rng,
                                                                monkeypatch):  # fmt: skip
    """Where the output has the input's size (stride 1, centred padding, one kernel a channel)
    both gradients come from one pass over x and grad_out: the input gradient the same bits as
    depthwise_conv_input_grad's, the kernel gradient its values (other runs, other roundings);
    strips inside the image and at every edge, runs of one strip and of many."""
    from autoconv.backends.cuda import depthwise

    monkeypatch.setattr(runtime, "RUN_LINES", lines_per_thread)
    monkeypatch.setattr(runtime, "MAX_GRID_Y", 7)
    x = rng.standard_normal((2, 7, width, 3))
    x[0, 3, 4] = 0.0  # the ReLU's kink: no gradient through it
    w, g = rng.standard_normal((*k, 3, 1)), rng.standard_normal(x.shape)
    win = ac.windows.window("t", x.shape[1:3], k, 1, d, "same")
    assert depthwise._one_pass(x.shape, w.shape, win)
    xp = namespace("cuda")
    xd, wd, gd = xp.asarray(x), xp.asarray(w), xp.asarray(g)
    separate = (
        xp.depthwise_conv_input_grad(gd, wd, x.shape, win, xd if relu else None),
        xp.depthwise_conv_kernel_grad(xd, gd, w.shape, win, relu),
    )
    monkeypatch.setattr(depthwise, "ONE_PASS", False)
    assert not depthwise._one_pass(x.shape, w.shape, win)
    apart = xp.depthwise_conv_grads(xd, gd, wd, win, relu)  # the two kernels
    monkeypatch.setattr(depthwise, "ONE_PASS", True)
    monkeypatch.setattr(depthwise, "depthwise_conv_input_grad", None)  # not called: one pass
    grad_x, grad_w = xp.depthwise_conv_grads(xd, gd, wd, win, relu)
    for one, two in zip(apart, separate, strict=True):
        np.testing.assert_array_equal(xp.to_numpy(one), xp.to_numpy(two))
    np.testing.assert_array_equal(xp.to_numpy(grad_x), xp.to_numpy(separate[0]))
    np.testing.assert_allclose(xp.to_numpy(grad_w), xp.to_numpy(separate[1]), rtol=1e-12)
    cpu = backends.cpu.depthwise_conv_grads(x, g, w, win, relu)
    np.testing.assert_allclose(xp.to_numpy(grad_x), cpu[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xp.to_numpy(grad_w), cpu[1], rtol=1e-12)


@pytest.mark.parametrize(
    ("size", "k", "s", "d", "m", "padding", "one_pass"),
    [
        ((7, 21), (3, 3), 1, 1, 1, "same", True),  # strips inside, at every edge, a short one
        ((9, 13), (5, 3), 1, 1, 1, "same", True),
        ((6, 11), (3, 3), 1, (1, 2), 1, "same", True),  # dilated along the rows
        ((5, 9), (3, 3), (1, 2), 1, 2, "valid", False),  # strided along the rows, 2 kernels
        ((4, 6), (1, 1), 1, 1, 1, "valid", True),
        ((5, 7), (1, 3), 1, 1, 1, 2, False),  # padding beyond the window's reach
    ],
)
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("lines_per_thread", [32, 3, 1])
def test_depthwise_column_walks_are_the_row_walks(size, k, s, d, m, padding, one_pass, relu,
                                                  lines_per_thread, rng, monkeypatch):  # fmt: skip
    """depthwise.COLUMN_WALK: the forward and the one-pass gradients walked down the columns
    give the row walks' forward and input gradient to the bit (each sum in the same order) and
    their kernel gradient's values (other runs, other roundings); runs of one output row, of a
    few, and of whole columns and more (a run going on into the next column and image)."""
    from autoconv.backends.cuda import depthwise

    monkeypatch.setattr(runtime, "RUN_LINES", lines_per_thread)
    monkeypatch.setattr(runtime, "MAX_GRID_Y", 7)
    x = rng.standard_normal((2, *size, 3))
    x[0, 2, 1] = 0.0  # the ReLU's kink: no gradient through it
    w = rng.standard_normal((*k, 3, m))
    win = ac.windows.window("t", size, k, s, d, padding)
    g = rng.standard_normal((2, *win.out, 3 * m))
    xp = namespace("cuda")
    xd, wd, gd = xp.asarray(x), xp.asarray(w), xp.asarray(g)

    def run() -> list[np.ndarray]:
        outs = [xp.depthwise_conv(xd, wd, win, relu)]
        if one_pass:
            assert depthwise._one_pass(x.shape, w.shape, win)
            outs += xp.depthwise_conv_grads(xd, gd, wd, win, relu)
        return [xp.to_numpy(a) for a in outs]

    rows = run()
    monkeypatch.setattr(depthwise, "COLUMN_WALK", True)
    assert depthwise._columns(win)
    columns = run()
    for one, two in zip(columns[:2], rows[:2], strict=True):
        np.testing.assert_array_equal(one, two)
    if one_pass:
        np.testing.assert_allclose(columns[2], rows[2], rtol=1e-12, atol=1e-12)
    cpu = backends.cpu
    np.testing.assert_allclose(columns[0], cpu.depthwise_conv(x, w, win, relu), rtol=1e-10)
    if one_pass:
        want_x, want_w = cpu.depthwise_conv_grads(x, g, w, win, relu)
        np.testing.assert_allclose(columns[1], want_x, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(columns[2], want_w, rtol=1e-10, atol=1e-12)


def test_depthwise_conv2d_float32_stays_float32(rng):
    x, w = rng.standard_normal((2, 4, 4, 2)), rng.standard_normal((3, 3, 2, 2))

    def same(x, w):
        return ac.depthwise_conv2d(x, w, padding="same")

    assert_same_on_both(same, [x, w], rng, np.float32)


@pytest.mark.parametrize(("groups", "activation"), [(2, None), (4, "relu")])
def test_grouped_conv2d_matches_cpu(groups, activation, rng):
    x = rng.standard_normal((2, 5, 4, 4))
    w = rng.standard_normal((3, 3, 4 // groups, 4))
    b = rng.standard_normal(4)
    assert_same_on_both(
        lambda x, w, b: ac.conv2d(x, w, b, padding="same", activation=activation, groups=groups),
        [x, w, b],
        rng,
    )


@pytest.mark.parametrize(
    ("k", "s", "p", "op", "d"),
    [((3, 3), 2, "same", None, 1), ((2, 3), (2, 3), "valid", (1, 2), 1), ((3, 2), 1, "same", 0, 2)],
)
def test_conv2d_transpose_matches_cpu(k, s, p, op, d, rng):
    x = rng.standard_normal((2, 3, 2, 3))
    w = rng.standard_normal((*k, 2, 3))
    b = rng.standard_normal(2)
    assert_same_on_both(lambda x, w, b: ac.conv2d_transpose(x, w, b, s, p, op, d), [x, w, b], rng)


@pytest.mark.parametrize(("p", "d", "groups"), [("causal", 2, 1), ("same", 1, 2)])
def test_conv1d_matches_cpu(p, d, groups, rng):
    x = rng.standard_normal((2, 6, 4))
    w = rng.standard_normal((3, 4 // groups, 2))
    b = rng.standard_normal(2)
    assert_same_on_both(
        lambda x, w, b: ac.conv1d(x, w, b, padding=p, dilation=d, groups=groups), [x, w, b], rng
    )


@pytest.mark.parametrize(
    ("kernel", "stride", "dilation", "padding"),
    [((3, 3), 1, 1, "valid"), ((2, 3), 2, 1, "same"), ((3, 3), 1, 2, 1), ((1, 1), 1, 1, "valid")],
)
@pytest.mark.parametrize("channels", [1, 3, 10])
@pytest.mark.parametrize("lines_per_thread", [32, 1], ids=["one_run", "many_runs"])
def test_im2col_and_col2im_match_cpu(kernel, stride, dilation, padding, channels,
                                     lines_per_thread, monkeypatch, rng):  # fmt: skip
    """The unrolled windows, and the gradient gathered back from them, as the CPU's: with a
    block's columns (channels) fewer than its threads (several rows, pixels, at a time) or more
    (several blocks across), and its rows one run or cut in many (RUN_LINES; the grid's height
    capped, MAX_GRID_Y, so that a block takes more); 20 pixels wide, so that im2col's strips of 8
    run inside the image, at its edges and short."""
    monkeypatch.setattr(runtime, "RUN_LINES", lines_per_thread)
    monkeypatch.setattr(runtime, "MAX_GRID_Y", 7)
    x = rng.standard_normal((3, 7, 20, channels))
    win = ac.windows.window("test", (7, 20), kernel, stride, dilation, padding)
    xp, cpu = namespace("cuda"), namespace("cpu")
    np.testing.assert_array_equal(xp.to_numpy(xp.im2col(xp.asarray(x), win)), cpu.im2col(x, win))
    cols = rng.standard_normal(cpu.im2col(x, win).shape)
    np.testing.assert_allclose(
        xp.to_numpy(xp.col2im(xp.asarray(cols), x.shape, win)), cpu.col2im(cols, x.shape, win),
        rtol=1e-12, atol=1e-12,
    )  # fmt: skip


@pytest.mark.parametrize(("stride", "padding"), [(1, "same"), (2, "valid")])
def test_im2col_and_col2im_with_64_bit_offsets_are_the_32_bit_ones(stride, padding, rng,
                                                                    monkeypatch):  # fmt: skip
    """The kernels compiled for arrays of 2**31 entries or more give the same bits."""
    x = rng.standard_normal((2, 7, 20, 3))
    win = ac.windows.window("test", (7, 20), (3, 3), stride, 1, padding)
    xp = namespace("cuda")
    cols = rng.standard_normal((2 * win.out[0] * win.out[1], 27))

    def run() -> list[np.ndarray]:
        made = xp.im2col(xp.asarray(x), win)
        return [xp.to_numpy(made), xp.to_numpy(xp.col2im(xp.asarray(cols), x.shape, win))]

    narrow = run()
    monkeypatch.setattr(runtime, "wide_offsets", lambda *arrays: True)
    for wide, one in zip(run(), narrow, strict=True):
        np.testing.assert_array_equal(wide, one)


@pytest.mark.parametrize(
    ("kind", "pool", "strides", "padding"), [("max", 2, None, "valid"), ("avg", 3, 2, "same")]
)
def test_pooling_1d_matches_cpu(kind, pool, strides, padding, rng):
    op = {"max": ac.max_pool1d, "avg": ac.avg_pool1d}[kind]
    x = (rng.permutation(2 * 7 * 2) * 0.01).reshape(2, 7, 2)  # no ties
    assert_same_on_both(lambda t: op(t, pool, strides, padding), [x], rng)


# (m, k, n) and the splits of the contracted axis the simulator's split constants give it (up
# to SPLIT_BLOCKS = 4 blocks, chunks of at least SPLIT_MIN_CHUNK = 16), alone and batched twice.
# The tests set those constants on a GPU too (its own, 256 and 64, split these otherwise), so
# the split path runs alike on both; the tiles are the device's own (8 x 8 or 16 x 4 on the
# simulator, 64 x 64 or 128 x 32 on a GPU), which give these products the same splits.
# (m, k, n), then the parts of one product and of a batch of two under SPLIT_BLOCKS 4: on the
# simulator's tiles (8 x 4 where split), 14 rows are two tiles; on a GPU's (64 x 32), one.
SPLIT_PRODUCTS = [
    ((3, 200, 5), (4, 2), (4, 2)),
    ((6, 70, 3), (4, 2), (4, 2)),
    ((14, 70, 3), (2, 1), (4, 2)),
    ((70, 9, 33), (1, 1), (1, 1)),
]


@pytest.fixture
def simulator_splits(monkeypatch, matmul_kernel):
    """The simulator's split constants, on whichever device runs the tests (the products on
    autoconv's kernel there)."""
    monkeypatch.setattr(gemm, "SPLIT_BLOCKS", 4)
    monkeypatch.setattr(gemm, "SPLIT_MIN_CHUNK", 16)


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize(("shape", "simulator_parts", "gpu_parts"), SPLIT_PRODUCTS)
@pytest.mark.parametrize("batch", [(), (2,)], ids=["one", "batched"])
@pytest.mark.parametrize("epilogue", [False, True], ids=["plain", "bias_relu"])
@pytest.mark.parametrize("apart", [32, 2, 1], ids=["in_the_launch", "apart", "apart_any"])
def test_matmul_kernel_with_split_contraction_and_transposes(
    shape, simulator_parts, gpu_parts, batch, transpose_a, epilogue, apart, rng, simulator_splits,
    monkeypatch,
):  # fmt: skip
    """Few output tiles (a batch's included) and a long contracted axis split it over blocks
    (see SPLIT_BLOCKS), the last block of each tile adding the parts and applying the epilogue,
    or, at APART_PARTS parts or more (one product of a batch), the column sums after and the
    epilogue after them (never a product of one part, APART_PARTS 1 included); the arrival
    counters are back at 0 after."""
    monkeypatch.setattr(gemm, "APART_PARTS", apart)
    m, k, n = shape
    a = rng.standard_normal((*batch, k, m) if transpose_a else (*batch, m, k))
    b = rng.standard_normal((*batch, k, n))
    bias = rng.standard_normal(n) if epilogue and not batch else None
    xp = namespace("cuda")
    planned = gemm._Product(xp.asarray(a), xp.asarray(b), transpose_a, False)
    parts = simulator_parts if gemm.SIMULATED else gpu_parts
    assert planned.plan(gemm._tile([planned])).sizes[4] == parts[bool(batch)]
    device_bias = None if bias is None else xp.asarray(bias)
    got = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b), transpose_a=transpose_a,
                                bias=device_bias, relu=epilogue))  # fmt: skip
    want = (np.swapaxes(a, -1, -2) if transpose_a else a) @ b
    if epilogue:
        want = np.maximum(want + (0 if bias is None else bias), 0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert not reduce.arrival_counters().copy_to_host().any()


@pytest.mark.parametrize(
    ("k", "split_blocks", "min_chunk", "parts"),
    [(43, 10, 4, 9), (65, 64, 4, 13), (9248, 128, 64, 127), (8192, 128, 64, 128)],
)
def test_no_part_of_a_split_product_starts_past_its_contracted_axis(
    k, split_blocks, min_chunk, parts, monkeypatch
):
    """Parts of ceil(k / parts) can leave the last ones empty (43 over 10 parts of 5: the tenth
    from 45; 9,248 over 128 of 73 on a GPU): as many parts as such chunks cover k."""
    monkeypatch.setattr(gemm, "SPLIT_BLOCKS", split_blocks)
    monkeypatch.setattr(gemm, "SPLIT_MIN_CHUNK", min_chunk)
    assert _planned_parts(2, k, 3) == (-(-k // parts), parts)


@settings(max_examples=300, deadline=None)
@given(
    m=st.integers(1, 300), n=st.integers(1, 300), k=st.integers(1, 70_000),
    split_blocks=st.sampled_from([1, 4, 64, 256, 1024]), min_chunk=st.sampled_from([1, 4, 64]),
)  # fmt: skip
def test_every_part_of_a_split_product_holds_some_of_its_contracted_axis(
    m, n, k, split_blocks, min_chunk
):
    """Over any sizes and split settings: parts - 1 chunks fall short of k, parts cover it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gemm, "SPLIT_BLOCKS", split_blocks)
        patch.setattr(gemm, "SPLIT_MIN_CHUNK", min_chunk)
        chunk, parts = _planned_parts(m, k, n)
    assert parts >= 1 and (parts - 1) * chunk < k <= parts * chunk


def _planned_parts(m: int, k: int, n: int) -> tuple[int, int]:
    """(chunk, parts) of the kernel's plan for an (m, k) @ (k, n) float32 product."""
    xp = namespace("cuda")
    product = gemm._Product(xp.empty((m, k), "f4"), xp.empty((k, n), "f4"), False, False)
    return product.plan(gemm._tile([product])).sizes[3:5]


@pytest.mark.usefixtures("matmul_kernel")
@pytest.mark.parametrize(("transpose_a", "transpose_b"), [(False, False), (True, True)])
def test_a_split_product_whose_ceil_chunks_overshoot_reads_inside_its_operands(
    transpose_a, transpose_b, rng, monkeypatch
):
    """24 x 16 outputs (six tiles on the simulator) over 43: ten parts of 5 left the tenth
    empty, and its block read from past the operands' ends (the simulator stops there)."""
    monkeypatch.setattr(gemm, "SPLIT_BLOCKS", 64)
    monkeypatch.setattr(gemm, "SPLIT_MIN_CHUNK", 4)
    a = rng.standard_normal((43, 24) if transpose_a else (24, 43))
    b = rng.standard_normal((16, 43) if transpose_b else (43, 16))
    xp = namespace("cuda")
    got = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b), transpose_a, transpose_b))
    want = (a.T if transpose_a else a) @ (b.T if transpose_b else b)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert not reduce.arrival_counters().copy_to_host().any()


# The kernel's tile constants: the simulator's (8 x 8 tiles, 4 x 4 threads, k tiles of 4) and a
# GPU's proportions at a small size (each thread 4 x 4 entries, its loads of a narrow tile's rows
# 8 positions apart, as a GPU's 128 x 32 tiles'), each with square and narrow tiles; offsets into
# the operands 32-bit or (as for operands of 2**32 elements or more) 64-bit.
TILE_CONSTANTS = {
    "simulator": {},
    "gpu_like": {"BLOCK": 32, "PER_THREAD": 4, "SIDE": 8, "THREADS": 64, "TILE_K": 4},
    "wide": {"WIDE_OPERAND": 0},
}


@pytest.mark.usefixtures("matmul_kernel")
@pytest.mark.parametrize("constants", TILE_CONSTANTS.values(), ids=TILE_CONSTANTS.keys())
@pytest.mark.parametrize(
    ("transpose_a", "transpose_b"), list(itertools.product([False, True], repeat=2))
)
@pytest.mark.parametrize(
    ("m", "k", "n"), [(40, 13, 35), (37, 9, 3), (3, 13, 35)], ids=["square", "narrow", "few_rows"]
)
def test_matmul_tiles_load_every_layout_of_the_operands(
    m, k, n, transpose_a, transpose_b, constants, rng, monkeypatch
):
    """Several output tiles both ways and a ragged last k tile, with each operand read along
    its contracted axis (A as stored, B transposed) or across it: every entry is the product's,
    in float64 to 1e-12, under the tile constants of the simulator and of a GPU."""
    for name, value in constants.items():
        monkeypatch.setattr(gemm, name, value)
    a = rng.standard_normal((2, k, m) if transpose_a else (2, m, k))
    b = rng.standard_normal((k, n) if not transpose_b else (n, k))
    xp = namespace("cuda")
    gemm._matmul_kernel.cache_clear()  # compiled with these constants (and again after)
    try:
        got = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b), transpose_a, transpose_b))
    finally:
        gemm._matmul_kernel.cache_clear()
    want = (np.swapaxes(a, -1, -2) if transpose_a else a) @ (b.T if transpose_b else b)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("tile_k", "length", "per"), [(32, 8, 1), (4, 32, 1), (4, 8, 8)], ids=["k", "positions", "per"]
)
def test_tile_constants_that_do_not_space_a_threads_loads_evenly_are_refused(tile_k, length, per):
    """16 threads load a k tile of 32 in two rounds, 32 positions in two rounds, or step 4
    positions where a thread's rows lie 8 apart: refused before anything is compiled."""
    with pytest.raises(ValueError, match="do not load"):
        gemm._spacing(length, per, tile_k, 16)
    gemm._spacing(4, 4, 4, 16)  # 4 positions a round, a thread's 4 rows: even


@pytest.mark.usefixtures("matmul_kernel")
@pytest.mark.parametrize(
    ("m", "k", "n", "rows"), [(70, 20, 3, 2), (5, 300, 4, 1)]
)  # unsplit; split in 4
def test_narrow_output_tiles_give_the_same_bits_as_square_ones(m, k, n, rows, rng, monkeypatch):
    """Products of at most BLOCK / 2 columns run with tiles of 2 BLOCK x BLOCK / 2 (no thread on
    missing columns), BLOCK x BLOCK / 2 when split; where both tiles split the contracted axis
    alike, each entry is the same sum in the same order as with square tiles."""
    a, b = (rng.standard_normal(shape).astype(np.float32) for shape in ((m, k), (k, n)))
    xp = namespace("cuda")
    planned = gemm._Product(xp.asarray(a), xp.asarray(b), False, False)
    assert gemm._tile([planned]) == (rows * gemm.BLOCK, gemm.BLOCK // 2, False)
    narrow = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b)))
    monkeypatch.setattr(gemm, "_tile", lambda products: (gemm.BLOCK, gemm.BLOCK, False))
    square = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b)))
    np.testing.assert_array_equal(narrow, square)
    np.testing.assert_allclose(narrow, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.usefixtures("matmul_kernel")
@pytest.mark.parametrize(
    ("m", "k", "n", "batches"),
    [(3, 20, 70, 1), (4, 300, 9, 1), (2, 90, 6, 3), (8, 40, 8, 1)],
    ids=["unsplit", "split", "batched", "two_row_tiles"],
)
def test_few_row_tiles_give_the_same_bits_as_square_ones(
    m, k, n, batches, rng, monkeypatch, simulator_splits
):
    """Products of at most BLOCK / 2 rows (and more columns) run with tiles of BLOCK / 2 x
    BLOCK (no thread on missing rows), unsplit, split or batched: one row tile either way, so
    the same splits. So do split ones of up to BLOCK rows whose parts are as many at either
    height (8 x 8 over 40: 2 parts of 20, the k axis's length sets them): each entry is the
    same sum in the same order as with square tiles."""
    a, b = (rng.standard_normal(shape).astype(np.float32) for shape in ((batches, m, k), (k, n)))
    xp = namespace("cuda")
    planned = gemm._Product(xp.asarray(a), xp.asarray(b), False, False)
    assert gemm._tile([planned]) == (gemm.BLOCK // 2, gemm.BLOCK, False)
    few_rows = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b)))
    monkeypatch.setattr(gemm, "_tile", lambda products: (gemm.BLOCK, gemm.BLOCK, False))
    square = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b)))
    np.testing.assert_array_equal(few_rows, square)
    np.testing.assert_allclose(few_rows, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("m", "k", "n", "batches"), [(8, 100, 8, 1), (8, 40, 8, 2), (8, 12, 8, 1), (9, 40, 8, 1)]
)
def test_square_tiles_where_few_row_tiles_would_split_otherwise(m, k, n, batches, simulator_splits):
    """More than BLOCK / 2 rows keep square tiles where half-height ones would change the
    parts (8 x 8 over 100: 4 parts on one tile, 2 on two; a batch of two over 40: 2 parts on
    two tiles, none on four), where the product is not split (over 12), or where it has more
    rows than two half-height tiles."""
    xp = namespace("cuda")
    a = xp.empty((batches, m, k) if batches > 1 else (m, k), "f4")
    planned = gemm._Product(a, xp.empty((k, n), "f4"), False, False)
    assert gemm._tile([planned]) == (gemm.BLOCK, gemm.BLOCK, False)


def test_mnist_dense_forward_takes_the_split_kernels_one_tile(monkeypatch):
    """With a GPU's constants, MNIST's Dense(64) forward over 576 inputs (batches of 64, the
    last of 32, a prediction's of 256) and its Winograd kernel gradient (32 x 64 over 1,600)
    take one tile (one product kernel to compile), in 9 parts at 64 rows as at 32."""
    for name, value in {"BLOCK": 64, "SPLIT_BLOCKS": 256, "SPLIT_MIN_CHUNK": 64}.items():
        monkeypatch.setattr(gemm, name, value)
    xp = namespace("cuda")
    tiles = set()
    for m, k, n in [(64, 576, 64), (32, 576, 64), (256, 576, 64), (32, 1600, 64)]:
        planned = gemm._Product(xp.empty((m, k), "f4"), xp.empty((k, n), "f4"), False, False)
        tiles.add(gemm._tile([planned]))
        if k == 576:
            assert planned.splits(gemm._tile([planned]))[1] == 9
    assert tiles == {(32, 64, False)}


def test_matmuls_launches_split_and_whole_products_together(rng, simulator_splits):
    """A backward's products, one split (a kernel gradient) and one not, in one launch."""
    a, g = rng.standard_normal((200, 3)), rng.standard_normal((200, 5))
    w = rng.standard_normal((3, 5))
    xp = namespace("cuda")
    launches = []
    real_launch = gemm._launch
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gemm, "_launch", lambda *args: launches.append(args[0]) or
                      real_launch(*args))  # fmt: skip
        kernel_grad, input_grad = xp.matmuls(
            (xp.asarray(a), xp.asarray(g), True, False), (xp.asarray(g), xp.asarray(w), False, True)
        )
    assert [len(products) for products in launches] == [2]
    assert launches[0][0].sizes[4] > 1 and launches[0][1].sizes[4] == 1
    np.testing.assert_allclose(xp.to_numpy(kernel_grad), a.T @ g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xp.to_numpy(input_grad), g @ w.T, rtol=1e-12, atol=1e-12)


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


def test_sigmoid_cross_entropy_and_its_gradient_in_one_pass_each_on_both_devices(rng):
    """max(x, 0) - x z + log(1 + e^-|x|) and g (sigmoid(x) - z) as the composed ops had them
    (the CPU to the bit, the GPU within float32 rounding), with no overflow at |x| = 100, NaN
    kept; mismatched shapes refused before any work."""
    x = rng.standard_normal((6, 3)).astype(np.float32) * 4
    x[0] = [100.0, -100.0, np.nan]
    z = rng.random((6, 3)).astype(np.float32)
    g = rng.standard_normal((6, 3)).astype(np.float32)
    decay = np.exp(-np.abs(x))
    loss = np.maximum(x, 0) - x * z + np.log(1 + decay)
    grad = g * (np.exp(np.minimum(x, 0)) / (1 + decay) - z)
    assert np.isfinite(loss[0, :2]).all() and np.isfinite(grad[0, :2]).all()
    for xp in (backends.namespace("cpu"), cuda_backend):
        got_loss = xp.to_numpy(xp.sigmoid_cross_entropy(xp.asarray(x), xp.asarray(z)))
        got_grad = xp.to_numpy(
            xp.sigmoid_cross_entropy_grad(xp.asarray(g), xp.asarray(x), xp.asarray(z))
        )
        tolerance = {"rtol": 0, "atol": 0} if xp is not cuda_backend else {"rtol": 2e-6}
        np.testing.assert_allclose(got_loss, loss, **tolerance)
        np.testing.assert_allclose(got_grad, grad, **tolerance)
        with pytest.raises(ValueError, match="sigmoid_cross_entropy: target must have shape"):
            xp.sigmoid_cross_entropy(xp.asarray(x), xp.asarray(z[:2]))
        with pytest.raises(ValueError, match="sigmoid_cross_entropy_grad: logits must have"):
            xp.sigmoid_cross_entropy_grad(xp.asarray(g[:2]), xp.asarray(x), xp.asarray(z))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_cross_entropy_op_matches_cpu(dtype, rng):
    """The op's values and gradients (logits and targets) on the GPU as on the CPU."""
    logits, target = rng.standard_normal((4, 3)) * 3, rng.random((4, 3))
    assert_same_on_both(ac.ops.sigmoid_cross_entropy, [logits, target], rng, dtype)


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


POOL_SWEEP = list(itertools.product(["max", "avg"], [2, 3, (2, 3)], [None, 1], ["valid", "same"]))


@pytest.mark.parametrize(("kind", "pool", "strides", "padding"), POOL_SWEEP)
@pytest.mark.parametrize("lines_per_thread", [32, 1], ids=["one_run", "many_runs"])
def test_pooling_matches_cpu(kind, pool, strides, padding, lines_per_thread, monkeypatch, rng):
    """Values and gradients as the CPU's, a block's pixels in one run or cut in many (see
    test_im2col_and_col2im_match_cpu)."""
    monkeypatch.setattr(runtime, "RUN_LINES", lines_per_thread)
    monkeypatch.setattr(runtime, "MAX_GRID_Y", 7)
    op = {"max": ac.max_pool2d, "avg": ac.avg_pool2d}[kind]
    x = (rng.permutation(2 * 5 * 7 * 2) * 0.01).reshape(2, 5, 7, 2)  # no ties
    assert_same_on_both(lambda t: op(t, pool, strides, padding), [x], rng)


@pytest.mark.parametrize(("pool", "strides", "padding"), [(2, None, "same"), (3, 2, "same"),
                                                         ((2, 3), 1, "valid")])  # fmt: skip
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool_ties_nans_and_infinities_as_on_the_cpu(pool, strides, padding, dtype, rng):
    """The same maxima, winners (the first maximum in row-major order, the first NaN, a window
    of -inf's first cell inside the image) and routed gradients as the CPU's."""
    x = rng.integers(0, 3, (2, 7, 6, 3)).astype(dtype)  # many ties
    x[0, :3, :3, 0] = -np.inf
    x[1, ::3, 1::2, 1] = np.nan
    x[1, 2:5, 2:5, 2] = np.nan
    win = ac.windows.window("t", (7, 6), (pool, pool) if isinstance(pool, int) else pool,
                            strides or pool, 1, padding)  # fmt: skip
    cpu, xp = namespace("cpu"), namespace("cuda")
    out, argmax = cpu.max_pool_forward(x, win)
    gpu_out, gpu_argmax = (xp.to_numpy(a) for a in xp.max_pool_forward(xp.asarray(x), win))
    np.testing.assert_array_equal(gpu_argmax, argmax)
    np.testing.assert_array_equal(gpu_out, out)  # NaN where the CPU's is
    g = rng.standard_normal(out.shape).astype(dtype)
    grad = cpu.max_pool_backward(g, argmax, x.shape, win)
    gpu_grad = xp.max_pool_backward(xp.asarray(g), xp.asarray(gpu_argmax), x.shape, win)
    np.testing.assert_allclose(xp.to_numpy(gpu_grad), grad, rtol=1e-6)


@pytest.mark.parametrize(("pool", "strides", "padding"), [(2, None, "valid"), (3, 2, "same")])
def test_max_pool_with_64_bit_offsets_is_the_32_bit_one(pool, strides, padding, rng,
                                                        monkeypatch):  # fmt: skip
    """The kernels compiled for arrays of 2**31 entries or more give the same bits."""
    x = (rng.permutation(2 * 7 * 6 * 3) * 0.01).reshape(2, 7, 6, 3)
    win = ac.windows.window("t", (7, 6), (pool, pool), strides or pool, 1, padding)
    xp = namespace("cuda")

    def run() -> list[np.ndarray]:
        out, argmax = xp.max_pool_forward(xp.asarray(x), win)
        g = xp.asarray(np.linspace(-1, 1, out.size).reshape(out.shape))
        return [xp.to_numpy(a) for a in (out, argmax, xp.max_pool_backward(g, argmax, x.shape,
                                                                             win))]  # fmt: skip

    narrow = run()
    monkeypatch.setattr(runtime, "wide_offsets", lambda *arrays: True)
    for wide, one in zip(run(), narrow, strict=True):
        np.testing.assert_array_equal(wide, one)
    routed = np.linspace(-1, 1, narrow[0].size).sum()  # each window's gradient, routed once
    np.testing.assert_allclose(narrow[2].sum(), routed, atol=1e-12)


# ------------------------------------------------------------------------- image ops
# Rotations and zooms as Keras's RandomRotation and RandomZoom build them (tests/ops/test_image)
IMAGE_TRANSFORMS = np.array(
    [[0.8, -0.6, 2.2, 0.6, 0.8, -1.3, 0, 0], [1.3, 0, -1.2, 0, 0.7, 0.45, 0, 0]], np.float32
)
IMAGE_OPS = {
    "resize_bilinear_up": lambda t: ac.ops.resize(t, (8, 10)),
    "resize_bilinear": lambda t: ac.ops.resize(t, (7, 3)),
    "resize_nearest": lambda t: ac.ops.resize(t, (2, 8), "nearest"),
    **{
        f"affine_{interpolation}_{mode}": (
            lambda t, i=interpolation, m=mode: ac.ops.affine_transform(
                t, IMAGE_TRANSFORMS, i, m, fill_value=0.5
            )
        )
        for interpolation in ("bilinear", "nearest")
        for mode in ("constant", "nearest", "wrap", "mirror", "reflect")
    },
    "pad2d": lambda t: ac.ops.pad2d(t, ((1, 0), (2, 1)), value=0.5),
    "crop2d": lambda t: ac.ops.crop2d(t, ((1, 0), (2, 1))),
    "flip": lambda t: ac.ops.flip(t, (1, 2)),
    "repeat": lambda t: ac.ops.repeat(t, 2, axis=2),
    "repeat_counts": lambda t: ac.ops.repeat(t, [0, 2, 1, 1], axis=1),
}


@pytest.mark.parametrize("name", list(IMAGE_OPS))
def test_image_op_matches_cpu(name, rng):
    assert_same_on_both(IMAGE_OPS[name], [rng.standard_normal((2, 4, 5, 2))], rng)


@pytest.mark.parametrize("name", ["resize_bilinear", "affine_bilinear_reflect", "pad2d"])
def test_image_op_float32_stays_float32(name, rng):
    assert_same_on_both(IMAGE_OPS[name], [rng.standard_normal((2, 4, 5, 2))], rng, np.float32)


@pytest.mark.parametrize("rows_launch", [True, False], ids=["one_launch", "cpu_steps"])
@pytest.mark.parametrize(
    ("shape", "axis"),
    [
        ((17, 10), -1),
        ((2, 3, 1), -1),
        ((3, 64), -1),
        ((2, 65), -1),
        ((4, 5, 3), 1),
        ((4, 5), (0, 1)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_matches_cpu_in_one_launch_or_the_cpus_steps(
    shape, axis, rows_launch, dtype, rng, monkeypatch
):
    """Short last-axis rows in one launch (a thread a row: more rows than the simulator's
    threads), longer ones and other axes by the CPU's steps; the gradient is the op's own."""
    monkeypatch.setattr(loss, "ROW_SOFTMAX_COLUMNS", 64 if rows_launch else 0)
    launched = []
    counted = loss.launch

    def launch(kernel, work):
        launched.append(kernel)
        return counted(kernel, work)

    monkeypatch.setattr(loss, "launch", launch)
    x = rng.standard_normal(shape) * 4
    assert_same_on_both(lambda a: ac.softmax(a, axis=axis), [x], rng, dtype)
    one_launch = rows_launch and axis == -1 and shape[-1] <= 64
    assert launched == ([loss._softmax_rows] if one_launch else [])


@pytest.mark.parametrize("rows_launch", [True, False], ids=["one_launch", "cpu_steps"])
def test_softmax_rows_with_infinities_and_nans_are_the_cpus(rows_launch, monkeypatch):
    """A NaN or an infinity in a row makes the row NaN, a -inf entry a 0, on both devices."""
    monkeypatch.setattr(loss, "ROW_SOFTMAX_COLUMNS", 64 if rows_launch else 0)
    inf, nan = np.inf, np.nan
    x = np.array([[1.0, 2.0, 3.0], [-inf, 0.0, 1.0], [inf, 0.0, 1.0], [nan, 0.0, 1.0], [-inf] * 3])
    expected = ac.softmax(ac.Tensor(x)).numpy()
    ours = ac.softmax(ac.Tensor(x).to("cuda")).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    assert np.isnan(ours[2:]).all() and ours[1, 0] == 0


@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 5), (9, 1)])  # rows > the block's threads
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_cross_entropy_matches_cpu(shape, soft, dtype, rng):
    logits = rng.standard_normal(shape) * 3
    if soft:  # rows that do not sum to 1, and a target that needs its gradient too
        target = rng.uniform(0, 1, shape)
        assert_same_on_both(ac.softmax_cross_entropy, [logits, target], rng, dtype)
    else:
        rows = rng.integers(0, shape[-1], shape[:-1])
        target = ac.utils.to_categorical(rows, shape[-1]).astype(dtype)
        assert_same_on_both(lambda z: ac.softmax_cross_entropy(z, target), [logits], rng, dtype)


@pytest.mark.parametrize("labels", [False, True])
def test_count_correct_matches_cpu_with_ties_and_nans(labels, rng):
    scores = rng.integers(0, 3, (11, 4)).astype(np.float32)  # ties: the first one counts
    scores[2, 1] = scores[5, 0] = scores[5, 3] = np.nan  # a NaN is the largest, as in NumPy
    truth = rng.integers(0, 4, 11)
    truth[:4] = scores[:4].argmax(axis=1)  # some hits for sure
    target = truth.astype(np.int32) if labels else ac.utils.to_categorical(truth, 4)
    want = cuda_backend.to_numpy(namespace("cpu").count_correct(scores, target))
    got = cuda_backend.count_correct(cuda_backend.asarray(scores), cuda_backend.asarray(target))
    assert got.shape == () and int(cuda_backend.to_numpy(got)) == want >= 4
    np.testing.assert_array_equal(
        cuda_backend.to_numpy(cuda_backend.argmax(cuda_backend.asarray(scores))),
        scores.argmax(axis=1),
    )


def test_sparse_loss_with_labels_on_the_gpu(rng):
    y_pred = ac.Tensor(rng.uniform(0.1, 1, (4, 3)), device="cuda")
    labels = ac.Tensor(np.array([0, 2, 1, 2]), device="cuda")
    loss = ac.sparse_categorical_crossentropy(labels, y_pred)
    expected = ac.sparse_categorical_crossentropy(np.array([0, 2, 1, 2]), y_pred.numpy())
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-6)


# ---------------------------------------------------------------------- normalization
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


# ------------------------------------------------------------------ losses and metrics
def loss_cases(rng):
    """(loss, y_true, y_pred, sample_weight) for a few losses, tiny."""
    labels = np.array([0, 2, 1, 2, 1])
    logits = rng.standard_normal((5, 3)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    binary = rng.integers(0, 2, (5, 3)).astype(float)
    weight = rng.uniform(0.2, 2, 5)
    errors = np.where(rng.uniform(0, 1, (5, 3)) < 0.5, 0.2, 1.3) * rng.choice([-1, 1], (5, 3))
    device_labels = cuda_backend.asarray(labels.astype(np.int32))  # labels already on the GPU
    return [
        (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), binary, logits, weight),
        (losses.BinaryCrossentropy(), binary, probs, None),
        (losses.CategoricalCrossentropy(label_smoothing=0.2), np.eye(3)[labels], probs, weight),
        (losses.CategoricalCrossentropy(from_logits=True), np.eye(3)[labels], logits, None),
        (losses.SparseCategoricalCrossentropy(from_logits=True), device_labels, logits, None),
        (losses.SparseCategoricalCrossentropy(ignore_class=1), device_labels, probs, weight),
        (losses.Huber(delta=0.5), binary, binary + errors, weight),
        (losses.Hinge(), binary, logits, None),  # 0/1 labels made -1/1 on the device
        (losses.CosineSimilarity(), logits, probs, weight),
        (losses.LogCosh(reduction="sum"), binary, logits, None),
    ]


@pytest.mark.parametrize("index", range(10))
def test_loss_matches_cpu(index, rng):
    loss, y_true, y_pred, weight = loss_cases(rng)[index]
    assert_same_on_both(lambda p: loss(y_true, p, sample_weight=weight), [y_pred], rng)


def metric_cases():
    return [
        metrics.CategoricalAccuracy,
        metrics.SparseCategoricalAccuracy,
        lambda: metrics.SparseTopKCategoricalAccuracy(k=2),
        metrics.BinaryAccuracy,
        lambda: metrics.Precision(top_k=2),
        lambda: metrics.Recall(thresholds=[0.2, 0.6]),
        lambda: metrics.AUC(num_thresholds=7),
        lambda: metrics.AUC(curve="PR", from_logits=True),
        metrics.RootMeanSquaredError,
        metrics.Hinge,
    ]


@pytest.mark.parametrize("index", range(10))
def test_metric_state_stays_on_the_gpu_until_result(index, monkeypatch, rng):
    cpu, gpu = metric_cases()[index](), metric_cases()[index]()
    sparse = isinstance(
        cpu, metrics.SparseCategoricalAccuracy | metrics.SparseTopKCategoricalAccuracy
    )
    binary = isinstance(cpu, metrics.BinaryAccuracy | metrics.AUC)
    batches = []
    for weighted in (False, True):
        labels = rng.integers(0, 3, 4)
        y_true = labels if sparse else np.eye(3)[labels]
        y_pred = rng.uniform(0, 1, (4, 1 if binary else 3))
        if binary:
            y_true = labels[:, None] % 2
        batches.append((y_true, y_pred, rng.uniform(0, 2, 4) if weighted else None))
    for y_true, y_pred, weight in batches:
        cpu.update_state(y_true, y_pred, sample_weight=weight)
    monkeypatch.setattr(cuda_backend, "to_numpy", lambda a: pytest.fail("read back"))
    monkeypatch.setattr(cuda_backend.CudaArray, "__float__", lambda a: pytest.fail("read back"))
    for y_true, y_pred, weight in batches:
        on_gpu = cuda_backend.asarray(y_true.astype(np.int32) if sparse else y_true)
        gpu.update_state(on_gpu, ac.Tensor(y_pred, device="cuda"), sample_weight=weight)
    assert gpu.device == "cuda"
    assert all(isinstance(v, cuda_backend.CudaArray) for v in gpu.variables)
    monkeypatch.undo()
    np.testing.assert_allclose(gpu.result(), cpu.result(), rtol=1e-5, atol=1e-7)


def test_mean_of_device_losses_weighted_by_batch_size():
    mean = metrics.Mean(name="loss")
    for value, size in [(0.5, 4), (2.0, 1)]:
        mean.update_state(ac.Tensor(np.float32(value), device="cuda").data, sample_weight=size)
    assert mean.device == "cuda"
    np.testing.assert_allclose(mean.result(), (0.5 * 4 + 2.0) / 5)


# -------------------------------------------------------------------- dispatch, dropout
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


# ------------------------------------------------------------------------- optimizers
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


# ------------------------------------------------------------------- the model on a GPU
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


def twin_models() -> tuple[ac.Sequential, ac.Sequential]:
    """The same freshly initialized model twice: on the CPU and on the GPU."""
    ac.utils.set_random_seed(0)
    cpu_model, gpu_model = tiny_model(), tiny_model()
    gpu_model.set_weights(cpu_model.get_weights())
    for model in (cpu_model, gpu_model):
        model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    return cpu_model, gpu_model.to("cuda")


def tiny_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.random((n, 6, 6, 1)).astype(np.float32)
    y = ac.utils.to_categorical((x[:, :3].mean(axis=(1, 2, 3)) * 6).astype(int) % 3, 3)
    return x, y


def loss_and_gradients(model, x, y, training):
    """The model's loss on (x, y) and the gradient of each trainable weight (NumPy)."""
    xp = namespace(model.device)
    (target,) = training_module.target_arrays(model, y, len(x), "test")  # makes the loss
    state = training_module.StepState(model)
    loss = model._loss([xp.asarray(x)], [xp.asarray(target)], None, training, state)[0]
    for weight in model.trainable_weights:
        weight.grad = None
    loss.backward()
    return loss.item(), [xp.to_numpy(w.grad) for w in model.trainable_weights]


def test_one_training_step_matches_cpu(rng):
    x, y = tiny_data(8, rng)
    results = []
    for model in twin_models():
        loss, grads = loss_and_gradients(model, x, y, training=True)
        step_loss, step_accuracy = model.train_on_batch(x, y)  # the step fit runs
        results.append((loss, step_loss, step_accuracy, grads, model.get_weights()))
    cpu, gpu = results
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-5)
    np.testing.assert_allclose(gpu[1], cpu[1], rtol=1e-5)
    assert gpu[2] == cpu[2]
    for a, b in zip(gpu[3] + gpu[4], cpu[3] + cpu[4], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_fit_on_the_gpu_matches_cpu_and_reads_back_only_to_report(monkeypatch, rng):
    x, y = tiny_data(40, rng)
    cpu_model, gpu_model = twin_models()
    cpu_history = cpu_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    reads = []
    to_numpy = cuda_backend.to_numpy
    monkeypatch.setattr(cuda_backend, "to_numpy", lambda a: reads.append(a.shape) or to_numpy(a))
    monkeypatch.setattr(cuda_backend.CudaArray, "__float__", lambda a: pytest.fail("read back"))
    monkeypatch.setattr(training_module, "SYNC_SECONDS", 1e9)  # report only at the end of an epoch
    gpu_history = gpu_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    # once per epoch (3 batches each): each metric's total and count, then the status
    assert reads == [(), (), (), (), (2,)] * 2
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(gpu_history.history[key], cpu_history.history[key], rtol=1e-4)
    np.testing.assert_allclose(
        gpu_model.evaluate(x, y, verbose=0), cpu_model.evaluate(x, y, verbose=0), rtol=1e-4
    )
    np.testing.assert_allclose(gpu_model.predict(x), cpu_model.predict(x), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "mean_squared_error"])
def test_every_layer_type_runs_on_the_gpu_as_on_the_cpu(loss, rng):
    """Rescaling, same-padded strided conv, average pooling, dropout (inactive: training=False),
    activations, global pooling, sigmoid/tanh Dense, a softmax layer, from probabilities."""

    def model() -> ac.Sequential:
        return ac.Sequential(
            [
                layers.Rescaling(0.5, input_shape=(7, 7, 2)),
                layers.Conv2D(3, (2, 3), strides=2, padding="same", activation="tanh"),
                layers.AveragePooling2D(2, padding="same"),
                layers.Dropout(0.5),
                layers.ReLU(),
                layers.GlobalAveragePooling2D(),
                layers.Dense(4, activation="sigmoid"),
                layers.Dense(3),
                layers.Softmax(),
            ]
        )

    ac.utils.set_random_seed(1)
    cpu_model, gpu_model = model(), model()
    gpu_model.set_weights(cpu_model.get_weights())
    gpu_model.to("cuda")
    x = rng.standard_normal((5, 7, 7, 2)).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 3, 5), 3)
    results = []
    for m in (cpu_model, gpu_model):
        m.compile("sgd", loss)
        results.append(loss_and_gradients(m, x, y, training=False))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    for gpu_grad, cpu_grad in zip(results[1][1], results[0][1], strict=True):
        np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-4, atol=1e-6)
    history = gpu_model.fit(x, y, epochs=2, batch_size=2, validation_split=0.4, verbose=0)
    assert np.isfinite(history.history["val_loss"]).all()


def conv_variants_model(kind: str) -> ac.Model:
    """A tiny model of the convolution variants on images, or of the 1-D layers."""
    if kind == "images":
        inputs = ac.Input(shape=(5, 5, 4))
        x = layers.Conv2D(4, 3, padding="same", groups=2, activation="relu")(inputs)
        x = layers.SeparableConv2D(4, 2, depth_multiplier=2, activation="relu")(x)
        x = layers.DepthwiseConv2D(2, padding="same", activation="tanh")(x)
        x = layers.Conv2DTranspose(2, 3, strides=2, output_padding=1)(x)
        x = layers.GlobalMaxPooling2D()(x)
    else:
        inputs = ac.Input(shape=(8, 3))
        x = layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu")(inputs)
        x = layers.MaxPooling1D(2)(x)
        x = layers.Conv1D(4, 2, padding="same", groups=2, activation="tanh")(x)
        x = layers.AveragePooling1D(3, strides=1, padding="same")(x)
        pooled = [layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)]
        x = layers.concatenate(pooled)
    return ac.Model(inputs, layers.Dense(3, activation="softmax")(x))


@pytest.mark.parametrize("kind", ["images", "sequences"])
def test_conv_variants_and_1d_layers_run_on_the_gpu_as_on_the_cpu(kind, rng):
    """Grouped Conv2D, SeparableConv2D, DepthwiseConv2D, Conv2DTranspose; causal and grouped
    Conv1D, MaxPooling1D, AveragePooling1D and the 1-D global poolings: the same loss,
    gradients and training step on both devices."""
    ac.utils.set_random_seed(2)
    cpu_model, gpu_model = conv_variants_model(kind), conv_variants_model(kind)
    gpu_model.set_weights(cpu_model.get_weights())
    gpu_model.to("cuda")
    x = rng.standard_normal((3, *cpu_model.inputs[0].shape[1:])).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 3, 3), 3)
    results = []
    for m in (cpu_model, gpu_model):
        m.compile("sgd", "categorical_crossentropy")
        loss, grads = loss_and_gradients(m, x, y, training=True)
        m.train_on_batch(x, y)
        results.append((loss, grads, m.get_weights()))
    (cpu_loss, cpu_grads, cpu_weights), (gpu_loss, gpu_grads, gpu_weights) = results
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=1e-5)
    for gpu, cpu in zip(gpu_grads + gpu_weights, cpu_grads + cpu_weights, strict=True):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-6)


def test_a_separable_block_with_its_batch_norm_folded_predicts_on_the_gpu_as_on_the_cpu(rng):
    """keras-io's Xception block at inference: the SeparableConv2D's batch norm folded into
    its pointwise kernel, the ReLU and a strided 3x3 'same' pooling in that product's pass."""

    def model() -> ac.Sequential:
        return ac.Sequential(
            [
                layers.Input(shape=(7, 7, 2)),
                layers.SeparableConv2D(4, 3, padding="same", depth_multiplier=2),
                layers.BatchNormalization(),
                layers.Activation("relu"),
                layers.MaxPooling2D(3, strides=2, padding="same"),
                layers.GlobalAveragePooling2D(),
                layers.Dense(3),
            ]
        )

    ac.utils.set_random_seed(4)
    cpu_model, gpu_model = model(), model()
    assert cpu_model.plan.steps[0].rule == "fold_batch_norm"
    weights = cpu_model.get_weights()
    gamma, beta, mean = rng.random(4) + 0.5, rng.standard_normal(4), rng.standard_normal(4)
    weights[3:7] = [gamma, beta, mean, rng.random(4) + 0.5]  # the last: moving variance
    cpu_model.set_weights(weights)
    gpu_model.set_weights(weights)
    gpu_model.to("cuda")
    x = rng.standard_normal((3, 7, 7, 2)).astype(np.float32)
    expected = cpu_model.predict(x, verbose=0)
    np.testing.assert_allclose(gpu_model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_a_residual_separable_block_trains_on_the_gpu_as_on_the_cpu(rng):
    """keras-io's Xception block in training, as the plan runs it: a ReLU in the first
    SeparableConv2D's depthwise pass, each SeparableConv2D without its bias, its batch norm
    adding the bias as it reads (then the ReLU in its passes, or the pooling after), a batch
    norm read by a ReLU alone after an add: three steps of fit on the GPU track the CPU's
    weights, biases and moving statistics included."""

    def model() -> ac.Model:
        ac.utils.set_random_seed(6)
        inputs = ac.Input(shape=(7, 7, 2))
        x = layers.SeparableConv2D(4, 3, padding="same")(layers.ReLU()(inputs))
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        x = layers.BatchNormalization()(layers.SeparableConv2D(4, 3, padding="same")(x))
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.add([x, layers.Conv2D(4, 1, strides=2, padding="same")(inputs)])
        x = layers.ReLU()(layers.BatchNormalization()(x))
        outputs = layers.Dense(3)(layers.GlobalAveragePooling2D()(x))
        return ac.Model(inputs, outputs)

    cpu_model, gpu_model = model(), model()
    rules = [step.rule for step in cpu_model.plan.steps]
    assert rules.count("fold_batch_norm") == 2 and "batch_norm_relu" in rules
    assert cpu_model.plan.steps[0].before is not None
    for k, layer in enumerate(cpu_model.layers):  # biases not 0: the batch norms add them
        if isinstance(layer, layers.SeparableConv2D):
            depthwise, pointwise, bias = layer.get_weights()
            moved = [depthwise, pointwise, bias + rng.standard_normal(bias.shape) * 3]
            layer.set_weights(moved)
            gpu_model.layers[k].set_weights(moved)
    gpu_model.to("cuda")
    x = rng.standard_normal((8, 7, 7, 2)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)
    for fitted in (cpu_model, gpu_model):
        fitted.compile(ac.optimizers.SGD(0.1), "mse")
        fitted.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        fitted.fit(x[:4], y[:4], batch_size=4, epochs=1, shuffle=False, verbose=0)
    for gpu, cpu in zip(gpu_model.get_weights(), cpu_model.get_weights(), strict=True):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-5)


def normalization_model(adapt_on: np.ndarray) -> ac.Sequential:
    """Every normalization and activation layer with weights or state (no random ones)."""
    adapted = layers.Normalization()
    adapted.adapt(adapt_on)
    return ac.Sequential(
        [
            layers.Input(shape=(6, 6, 2)),
            adapted,
            layers.Normalization(mean=[0.5, -0.5], variance=[4.0, 1.0]),
            layers.Conv2D(3, 3, use_bias=False),
            layers.BatchNormalization(momentum=0.5),
            layers.ReLU(),
            layers.MaxPooling2D(2),  # inference: conv, batch norm, ReLU, pool as one op
            layers.PReLU(alpha_initializer="random_normal", shared_axes=[1, 2]),
            layers.LayerNormalization(),
            layers.LeakyReLU(),
            layers.ELU(0.5),
            layers.Flatten(),
            layers.Dense(4),
            layers.BatchNormalization(),
            layers.Dense(3, activation="softmax"),
        ]
    )


def test_normalization_layers_train_on_the_gpu_as_on_the_cpu(rng):
    x = rng.standard_normal((8, 6, 6, 2)).astype(np.float32) * 2 + 1
    y = ac.utils.to_categorical(np.arange(8) % 3, 3)
    ac.utils.set_random_seed(2)
    cpu_model, gpu_model = normalization_model(x), normalization_model(x)
    gpu_model.set_weights(cpu_model.get_weights())
    gpu_model.to("cuda")
    results = []
    for model in (cpu_model, gpu_model):
        # SGD, not Adam: Dense(4)'s bias, right before a BatchNormalization, has a gradient of zero
        # but for rounding, which Adam's step (m / (sqrt(v) + eps)) blows up to ~1e-5 with the
        # sign of each device's rounding (seen on an H100; the simulator rounds as the CPU).
        model.compile("sgd", "categorical_crossentropy")
        results.append(loss_and_gradients(model, x, y, training=True))  # batch statistics
        model.train_on_batch(x, y)  # moving statistics updated on the device
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    for gpu_grad, cpu_grad in zip(results[1][1], results[0][1], strict=True):
        np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-4, atol=1e-5)
    for gpu_weight, cpu_weight in zip(
        gpu_model.get_weights(), cpu_model.get_weights(), strict=True
    ):
        np.testing.assert_allclose(gpu_weight, cpu_weight, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        gpu_model.predict(x, verbose=0), cpu_model.predict(x, verbose=0), rtol=1e-4, atol=1e-6
    )


def test_random_layers_on_the_gpu_draw_there():
    ac.utils.set_random_seed(3)
    x = ac.Tensor(np.ones((40, 100), np.float32), requires_grad=True, device="cuda")
    noisy = layers.GaussianNoise(0.5)(x, training=True)
    noise = noisy.numpy() - 1
    assert noisy.device == "cuda" and noisy.dtype == np.float32
    assert abs(noise.mean()) < 0.03 and abs(noise.std() - 0.5) < 0.03
    assert abs((abs(noise) < 0.5).mean() - 0.6827) < 0.03  # normal: 68% within 1 sigma
    noisy.sum().backward()
    np.testing.assert_array_equal(namespace("cuda").to_numpy(x.grad), np.ones((40, 100)))
    seeded = [layers.GaussianDropout(0.3, seed=4)(x, training=True).numpy() for _ in range(2)]
    np.testing.assert_array_equal(seeded[0], seeded[1])
    assert abs(seeded[0].std() - np.sqrt(0.3 / 0.7)) < 0.03
    maps = ac.Tensor(np.ones((6, 3, 3, 8), np.float32), device="cuda")
    out = layers.SpatialDropout2D(0.5)(maps, training=True).numpy()
    assert ((out == 0).all(axis=(1, 2)) | (out == 2).all(axis=(1, 2))).all() and (out == 0).any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_embedding_lookup_and_its_scatter_add_match_cpu(dtype, rng):
    from autoconv.layers.embedding import embedding_lookup

    indices = np.array([[0, 3, 3], [5, 0, 3]])  # repeats: atomic adds into one row
    assert_same_on_both(
        lambda table: embedding_lookup(table, indices), [rng.standard_normal((6, 4))], rng, dtype
    )


def test_embedding_layer_trains_on_the_gpu_as_on_the_cpu(rng):
    x = rng.integers(0, 12, (16, 5))
    y = rng.integers(0, 2, 16)

    def model(device):
        ac.utils.set_random_seed(3)
        built = models.Sequential([layers.Input((5,)), layers.Embedding(12, 3), layers.Flatten(),
                                   layers.Dense(2, activation="softmax")])  # fmt: skip
        built.compile("adam", "sparse_categorical_crossentropy")
        return built.to(device)

    cpu_model, gpu_model = model("cpu"), model("cuda")
    for built in (cpu_model, gpu_model):
        built.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for gpu, cpu in zip(gpu_model.get_weights(), cpu_model.get_weights(), strict=True):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-6)


def test_alpha_dropout_on_the_gpu_is_keras_affine_map():
    x = ac.Tensor(np.linspace(-2, 2, 400).reshape(4, 100), requires_grad=True, device="cuda")
    out = layers.AlphaDropout(0.5, noise_shape=(None, 1), seed=1, dtype="float64")(x, training=True)
    assert out.device == "cuda"
    out.sum().backward()
    grad = namespace("cuda").to_numpy(x.grad)
    kept = grad[:, :1] != 0  # one draw per row (noise_shape)
    a, b, dropped = 0.8864048946659319, 0.7791939305180311, -0.779193930518  # Keras's, rate 0.5
    want = np.where(kept, a * x.numpy() + b, dropped)
    np.testing.assert_allclose(out.numpy(), want, atol=1e-10)
    np.testing.assert_allclose(grad, np.broadcast_to(np.where(kept, a, 0.0), grad.shape))


def test_sparse_labels_and_shuffling_on_the_gpu(rng):
    x, y = tiny_data(24, rng)
    _, gpu_model = twin_models()
    gpu_model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = gpu_model.fit(x, y.argmax(axis=1), epochs=2, batch_size=8, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        gpu_model.fit(x, np.full(24, 3), epochs=1, verbose=0)


@pytest.mark.parametrize("replayed", [False, True], ids=["eager", "replayed"])
def test_a_step_allocates_nothing_new_once_warm(replayed, monkeypatch, rng):
    """The buffer pool hands a step back the buffers of the last one; a replayed step (from
    the fourth call: the slots made, then two recordings) launches on the recorded ones."""
    if not replayed:
        monkeypatch.setattr(step_replay, "ATTEMPTS", 0)
    x, y = tiny_data(8, rng)
    _, model = twin_models()

    def step():
        model.train_on_batch(x, y)

    for _ in range(4 if replayed else 2):
        step()
    allocations = []
    device_array = cuda_backend.runtime.device_array  # the name the buffer pool allocates by
    monkeypatch.setattr(
        cuda_backend.runtime,
        "device_array",
        lambda *a: allocations.append(a) or device_array(*a),
    )
    step()
    assert allocations == []


def test_nan_on_the_gpu_stops_training_and_keeps_the_weights(rng):
    x, y = tiny_data(32, rng)
    x[20] = np.nan  # in the second batch of 16
    _, model = twin_models()
    model.fit(x[:16], y[:16], epochs=1, batch_size=16, shuffle=False, verbose=0)
    before = model.get_weights()
    with pytest.raises(models.TrainingDivergedError, match="epoch 1, batch 2"):
        model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    after = model.get_weights()
    assert all(np.isfinite(a).all() for a in after)
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


def test_save_a_gpu_model_and_load_it_on_the_cpu(tmp_path, rng):
    x, y = tiny_data(16, rng)
    _, model = twin_models()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = ac.models.load_model(tmp_path / "m.keras")
    for mine, theirs in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------- reshaping and preprocessing layers
# Each makes a fresh layer, so a seeded one draws the same parameters on both devices (the
# draws are made on the host either way).
IMAGE_LAYERS = {
    "reshape": lambda d: layers.Reshape((5, -1), dtype=d),
    "permute": lambda d: layers.Permute((3, 1, 2), dtype=d),
    "zero_padding2d": lambda d: layers.ZeroPadding2D(((1, 0), (2, 1)), dtype=d),
    "cropping2d": lambda d: layers.Cropping2D(((1, 0), (0, 2)), dtype=d),
    "up_sampling2d": lambda d: layers.UpSampling2D((2, 1), dtype=d),
    "up_sampling2d_bilinear": lambda d: layers.UpSampling2D(2, interpolation="bilinear", dtype=d),
    "resizing_crop": lambda d: layers.Resizing(3, 3, crop_to_aspect_ratio=True, dtype=d),
    "resizing_pad": lambda d: layers.Resizing(3, 5, pad_to_aspect_ratio=True, dtype=d),
    "center_crop": lambda d: layers.CenterCrop(3, 3, dtype=d),
    "center_crop_up": lambda d: layers.CenterCrop(5, 4, dtype=d),
    "random_flip": lambda d: layers.RandomFlip(seed=1, dtype=d),
    "random_rotation": lambda d: layers.RandomRotation(0.3, seed=2, dtype=d),
    "random_rotation_crop": lambda d: layers.RandomRotation(0.3, "crop", seed=2, dtype=d),
    "random_zoom": lambda d: layers.RandomZoom(0.3, 0.2, "constant", seed=3, dtype=d),
    "random_translation": lambda d: layers.RandomTranslation(0.3, 0.3, "wrap", seed=4, dtype=d),
    "random_contrast": lambda d: layers.RandomContrast((0.5, 0.5), (-2, 2), seed=5, dtype=d),
    "random_brightness": lambda d: layers.RandomBrightness(0.4, (-2, 2), seed=6, dtype=d),
    "random_crop": lambda d: layers.RandomCrop(3, 4, seed=7, dtype=d),
}


@pytest.mark.parametrize("name", list(IMAGE_LAYERS))
def test_image_layer_matches_cpu(name, rng):
    make = IMAGE_LAYERS[name]
    x = rng.standard_normal((2, 4, 5, 2))
    assert_same_on_both(lambda t: make("float64")(t, training=True), [x], rng)


@pytest.mark.parametrize("name", ["random_rotation", "resizing_pad", "up_sampling2d_bilinear"])
def test_image_layer_float32_stays_float32(name, rng):
    make = IMAGE_LAYERS[name]
    x = rng.standard_normal((2, 4, 5, 2))
    assert_same_on_both(lambda t: make("float32")(t, training=True), [x], rng, np.float32)


def augmented_model() -> ac.Sequential:
    model = ac.Sequential(
        [
            ac.Sequential(
                [
                    layers.RandomFlip("horizontal", seed=1, input_shape=(6, 6, 1)),
                    layers.RandomRotation(0.1, seed=2),
                    layers.RandomZoom(0.1, seed=3),
                ]
            ),
            layers.Rescaling(0.5),
            layers.ZeroPadding2D(1),
            layers.Conv2D(2, 3, activation="relu"),
            layers.UpSampling2D(interpolation="bilinear"),
            layers.CenterCrop(8, 8),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.build((None, 6, 6, 1))  # a nested model first: Keras builds it here, autoconv not yet
    return model


def test_an_augmented_model_trains_on_the_gpu_as_on_the_cpu(rng):
    x, y = tiny_data(8, rng)
    ac.utils.set_random_seed(0)
    cpu_model, gpu_model = augmented_model(), augmented_model()
    gpu_model.set_weights(cpu_model.get_weights())
    gpu_model.to("cuda")
    results = []
    for model in (cpu_model, gpu_model):
        model.compile("rmsprop", "categorical_crossentropy")
        loss = model.train_on_batch(x, y)  # the same draws: the seeded layers are twins
        results.append((loss, model.get_weights(), model.predict(x, verbose=0)))
    (cpu_loss, cpu_weights, cpu_pred), (gpu_loss, gpu_weights, gpu_pred) = results
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=1e-5)
    for a, b in zip(gpu_weights, cpu_weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gpu_pred, cpu_pred, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------- clear failures
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


# -------------------------------------------------------------------------- benchmark
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


# --------------------------------------------------------------------- real GPU only
@pytest.mark.gpu
@pytest.mark.skipif(SIMULATED, reason="needs a real GPU (this run uses the CUDA simulator)")
def test_reference_model_step_at_batch_64_matches_cpu(rng):
    from autoconv.course import reference_model

    ac.utils.set_random_seed(0)
    cpu_model = reference_model((28, 28, 1))
    gpu_model = reference_model((28, 28, 1))
    gpu_model.set_weights(cpu_model.get_weights())
    gpu_model.to("cuda")
    x = rng.random((64, 28, 28, 1)).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 10, 64), 10)
    for model in (cpu_model, gpu_model):
        model.compile("rmsprop", "categorical_crossentropy")
        model.train_on_batch(x, y)
    for mine, theirs in zip(gpu_model.get_weights(), cpu_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize(("padding", "activation"), [("valid", "relu"), ("same", None)])
@pytest.mark.parametrize("lines_per_thread", [32, 1], ids=["one_run", "many_runs"])
@pytest.mark.parametrize("route", ["column_sums", "parts"])
@pytest.mark.parametrize(("kernel", "channels"), [((3, 3), 3), ((2, 3), 1)])
def test_conv2d_max_pool_direct_matches_cpu(padding, activation, lines_per_thread, route, kernel,
                                            channels, monkeypatch, rng):  # fmt: skip
    """The direct convolution + 2x2 pool (few channels, images without gradient): values,
    kernel and bias gradients as on the CPU, a block's pooled pixels in one run or cut in many
    (see test_im2col_and_col2im_match_cpu); the kernel gradient by either route
    (conv_pool.PARTS_ROUTE_ENTRIES), windows inside the image and over the padding."""
    monkeypatch.setattr(runtime, "RUN_LINES", lines_per_thread)
    monkeypatch.setattr(runtime, "MAX_GRID_Y", 7)
    if route == "parts":
        monkeypatch.setattr(conv_pool, "PARTS_ROUTE_ENTRIES", 0)
    x, w, b = (
        distinct((2, 6, 5, channels), rng),
        rng.standard_normal((*kernel, channels, 16)),
        rng.standard_normal(16),
    )
    win = ac.windows.window("t", (6, 5), kernel, 1, 1, padding)
    g = rng.standard_normal((2, win.out[0] // 2, win.out[1] // 2, 16))
    results = []
    for device in ("cpu", "cuda"):
        w_t, b_t = (ac.Tensor(a, requires_grad=True, device=device) for a in (w, b))
        out = ac.conv2d_max_pool(ac.Tensor(x, device=device), w_t, b_t, 1, padding, 1, activation)
        out.backward(ac.Tensor(g, device=device))
        results.append([out.numpy(), *(namespace(device).to_numpy(t.grad) for t in (w_t, b_t))])
    for on_gpu, on_cpu in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(on_gpu, on_cpu, **TOLERANCE[np.float64])


@pytest.mark.parametrize(
    ("kernel", "channels", "padding", "height"), [((3, 3), 1, "same", 8), ((2, 3), 3, 1, 7)]
)
@pytest.mark.parametrize(
    ("filters", "shared_weights"),
    [(16, 3072), (18, 3072), (17, 3072), (64, 3072), (20, 72), (16, 30), (16, 8)],
    ids=[
        "4_a_thread",
        "2_a_thread",
        "1_a_thread",
        "blocks_of_32",
        "blocks_of_8_and_4_or_4",
        "2_or_1_a_thread",
        "convolved_then_pooled",
    ],
)
def test_the_direct_kernel_picks_the_cpus_winners_and_nans(kernel, channels, padding, height,
                                                           filters, shared_weights, monkeypatch,
                                                           rng):  # fmt: skip
    """The forward kernel compiled for its window, channels and filters (cells in registers, a
    thread's filters 4, 2 or 1, a block's all of them or some: the simulator's 8 threads take 8
    groups of 4; 72 shared weights, two groups of 3x3 taps (20 filters: blocks of 8, 8 and 4)
    or one of 2x3x3; 30, groups of 2 or 1 filters; 8, fewer than a filter's taps: the window
    convolved by im2col, then pooled): the CPU's values and arg-maxes, in float32
    too, a NaN pixel winning every window it is under (the first NaN in row-major order),
    padding cells skipped."""
    monkeypatch.setattr(conv_pool, "SHARED_WEIGHTS", shared_weights)
    xp, cpu = namespace("cuda"), namespace("cpu")
    x = rng.standard_normal((2, height, 6, channels)).astype(np.float32)
    x[1, 3, 2, 0] = np.nan
    w = rng.standard_normal((*kernel, channels, filters)).astype(np.float32)
    bias = rng.standard_normal(filters).astype(np.float32)
    win = ac.windows.window("t", (height, 6), kernel, 1, 1, padding)
    want = cpu.conv_max_pool_2x2(x, w, bias, True, win)
    got = xp.conv_max_pool_2x2(xp.asarray(x), xp.asarray(w), xp.asarray(bias), True, win)
    assert np.isnan(want[0]).any()
    np.testing.assert_array_equal(xp.to_numpy(got[1]), want[1])
    np.testing.assert_allclose(xp.to_numpy(got[0]), want[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("filters", [3, 5])
@pytest.mark.parametrize("lines_per_thread", [32, 1], ids=["one_run", "many_runs"])
@pytest.mark.parametrize("threads", [8, 32])
def test_the_parts_route_adds_a_blocks_lanes_as_the_cpu(filters, lines_per_thread, threads,
                                                       monkeypatch, rng):  # fmt: skip
    """The direct kernel gradient's parts route with fewer filters than a block's threads (8,
    the simulator's, or 32: lanes of 3 or 5 filters, threads left over), its runs summed in the
    block (its lanes' sums in shared memory sized for the launch's threads) then down the
    blocks: the CPU's kernel and bias gradients."""
    monkeypatch.setattr(runtime, "THREADS", threads)
    monkeypatch.setattr(conv_pool, "PARTS_ROUTE_ENTRIES", 0)
    monkeypatch.setattr(runtime, "RUN_LINES", lines_per_thread)
    monkeypatch.setattr(runtime, "MAX_GRID_Y", 5)
    x, w = distinct((3, 6, 8, 2), rng), rng.standard_normal((3, 3, 2, filters))
    win = ac.windows.window("t", (6, 8), (3, 3), 1, 1, "same")
    xp, cpu = namespace("cuda"), namespace("cpu")
    out, argmax = cpu.conv_max_pool_2x2(x, w, None, True, win)
    g = rng.standard_normal(out.shape)
    want = cpu.conv_max_pool_2x2_kernel_grad(x, g, out, argmax, True, w.shape, win)
    got = xp.conv_max_pool_2x2_kernel_grad(
        *(xp.asarray(a) for a in (x, g, out, argmax)), True, w.shape, win
    )
    for mine, theirs in zip(got, want, strict=True):
        np.testing.assert_allclose(xp.to_numpy(mine), theirs, **TOLERANCE[np.float64])


@pytest.mark.parametrize("entries", [2**40, 0], ids=["column_sums", "parts"])
def test_a_tampered_argmax_routes_nothing_by_either_route(entries, monkeypatch, rng):
    """As on the CPU (tests/backends/test_cpu.py): an arg-max that is no window's offset is
    compared, never used as an address, so nothing is routed; the bias still gets the sums."""
    monkeypatch.setattr(conv_pool, "PARTS_ROUTE_ENTRIES", entries)
    x, w = rng.standard_normal((1, 6, 6, 1)), rng.standard_normal((3, 3, 1, 16))
    win = ac.windows.window("t", (6, 6), (3, 3), 1, 1, "valid")
    xp = namespace("cuda")
    out, _ = xp.conv_max_pool_2x2(xp.asarray(x), xp.asarray(w), None, False, win)
    tampered = xp.asarray(np.full(out.shape, 2**31 - 1, np.int32))
    grad_w, grad_b = xp.conv_max_pool_2x2_kernel_grad(
        xp.asarray(x), xp.asarray(np.ones(out.shape)), out, tampered, False, w.shape, win
    )
    assert (
        not xp.to_numpy(grad_w).any() and (xp.to_numpy(grad_b) == out.shape[1] * out.shape[2]).all()
    )


def test_slices_of_images_give_the_cpu_values_and_gradients(monkeypatch, rng):
    """One image per slice: the images' gradient of a convolution (training) and the direct
    convolution without gradient (inference), as on the CPU."""
    slice_every_image(monkeypatch)
    x, w, b = (
        rng.standard_normal((3, 5, 6, 2)),
        rng.standard_normal((3, 3, 2, 3)),
        rng.standard_normal(3),
    )
    assert_same_on_both(
        lambda x, w, b: ac.conv2d(x, w, b, stride=2, padding="same"), [x, w, b], rng
    )
    w16 = rng.standard_normal((3, 3, 2, 16))
    outs = []
    for device in ("cpu", "cuda"):
        images, kernel = ac.Tensor(x, device=device), ac.Tensor(w16, device=device)
        with ac.no_grad():
            outs.append(ac.conv2d_max_pool(images, kernel, None, 1, "same", 1, "relu").numpy())
    np.testing.assert_allclose(outs[1], outs[0], **TOLERANCE[np.float64])


@pytest.mark.parametrize(("padding", "activation"), [("valid", "relu"), ("same", None)])
def test_conv2d_max_pool_winograd_matches_cpu(padding, activation, rng, monkeypatch):
    """The Winograd route (the threshold lowered to keep the simulation small): values and
    the images', kernel's and bias's gradients as on the CPU."""
    from autoconv.ops import convolution as conv_ops

    monkeypatch.setattr(conv_ops, "WINOGRAD_MIN_CHANNELS", 2)
    calls = []
    for device in ("cpu", "cuda"):
        kernel = namespace(device).winograd_input
        monkeypatch.setattr(namespace(device), "winograd_input",
                            lambda *a, kernel=kernel: calls.append(1) or kernel(*a))  # fmt: skip
    x, w, b = distinct((2, 6, 5, 2), rng), rng.standard_normal((3, 3, 2, 3)), rng.standard_normal(3)
    assert_same_on_both(
        lambda x, w, b: ac.conv2d_max_pool(x, w, b, 1, padding, 1, activation), [x, w, b], rng
    )
    assert len(calls) >= 2


@pytest.mark.parametrize("lines_per_thread", [32, 1], ids=["one_run", "many_runs"])
def test_winograd_kernels_match_cpu_and_a_tampered_argmax_routes_nothing(
    lines_per_thread, monkeypatch, rng
):
    """The four transforms on their own, against the CPU's, through a cut window (the last
    output row unread) with padding, a block's tiles (pixels) in one run or cut in many (see
    test_im2col_and_col2im_match_cpu); an arg-max of no window's offset routes nothing."""
    import dataclasses

    monkeypatch.setattr(runtime, "RUN_LINES", lines_per_thread)
    monkeypatch.setattr(runtime, "MAX_GRID_Y", 7)

    from autoconv.backends import cpu as cpu_backend
    from autoconv.windows import window

    win = dataclasses.replace(window("t", (5, 6), (3, 3), 1, 1, (1, 2)), out=(4, 6))
    x, products = rng.standard_normal((2, 5, 6, 3)), rng.standard_normal((16, 12, 2))
    grad_tiles = rng.standard_normal((16, 12, 3))
    bias, g = rng.standard_normal(2), rng.standard_normal((2, 2, 3, 2))
    gpu = cuda_backend
    on_cpu = [
        cpu_backend.winograd_input(x, win),
        cpu_backend.winograd_input_grad(grad_tiles, x.shape, win),
        *cpu_backend.winograd_max_pool_2x2(products, 2, win, bias, True),
    ]
    on_gpu = [
        gpu.winograd_input(gpu.asarray(x), win),
        gpu.winograd_input_grad(gpu.asarray(grad_tiles), x.shape, win),
        *gpu.winograd_max_pool_2x2(gpu.asarray(products), 2, win, gpu.asarray(bias), True),
    ]
    for ours, theirs in zip(on_gpu, on_cpu, strict=True):
        np.testing.assert_allclose(gpu.to_numpy(ours), theirs, **TOLERANCE[np.float64])
    out, argmax = on_cpu[2:]
    expected = cpu_backend.winograd_max_pool_2x2_grad(g, out, argmax, True)
    grads = gpu.winograd_max_pool_2x2_grad(
        gpu.asarray(g), gpu.asarray(out), gpu.asarray(argmax), True
    )
    for ours, theirs in zip(grads, expected, strict=True):
        np.testing.assert_allclose(gpu.to_numpy(ours), theirs, **TOLERANCE[np.float64])
    tampered = gpu.asarray(np.full_like(argmax, 2**31 - 1))
    routed, bias_grad = gpu.winograd_max_pool_2x2_grad(
        gpu.asarray(g), gpu.asarray(out), tampered, False
    )
    assert not gpu.to_numpy(routed).any()
    np.testing.assert_allclose(gpu.to_numpy(bias_grad), g.sum(axis=(0, 1, 2)), rtol=1e-12)


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


def test_kernels_write_into_given_out_arrays_on_the_gpu(rng):
    """As on the CPU (tests/backends/test_cpu.py): rows of a device batch written in place,
    a host array or a wrong shape or dtype refused."""
    from tests.backends.test_cpu import check_out_cases

    check_out_cases(cuda_backend, cuda_backend.CudaArray, rng)


@pytest.mark.gpu
@pytest.mark.skipif(SIMULATED, reason="needs a real GPU (this run uses the CUDA simulator)")
@pytest.mark.parametrize(("rows", "columns"), [(1_000_003, 16), (259_200, 448), (70, 3000)])
def test_column_sums_over_many_chunks_are_the_same_bits_every_run(rows, columns, rng):
    """The GPU's column sums at the course models' sizes (up to 1,024 chunks of rows, the last
    block of each column tile adding them after an atomic count): NumPy's sums, the same bits
    run after run (whichever block finishes last), and every chunk counter back at 0."""
    a = rng.standard_normal((rows, columns)).astype(np.float32)
    device = cuda_backend.asarray(a)
    runs = [cuda_backend.to_numpy(device.sum(axis=0)) for _ in range(5)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run, runs[0])
    np.testing.assert_allclose(runs[0], a.astype(np.float64).sum(axis=0), rtol=1e-4, atol=1e-2)
    assert not reduce.arrival_counters().copy_to_host().any()


@pytest.mark.gpu
@pytest.mark.skipif(SIMULATED, reason="needs a real GPU (this run uses the CUDA simulator)")
@pytest.mark.usefixtures("matmul_kernel")
@pytest.mark.parametrize(
    ("batch", "m", "k", "n"), [(16, 32, 15_488, 64), (1, 144, 259_200, 32), (1, 64, 576, 64)]
)
def test_split_products_are_the_same_bits_every_run(batch, m, k, n, rng):
    """Products whose contracted axis is split over blocks at the course models' sizes (the
    flowers model's Winograd and first kernel gradients, MNIST's dense layer), the last block
    of each tile adding the parts after an atomic count: NumPy's products, the same bits run
    after run, every counter back at 0."""
    a = rng.standard_normal((batch, k, m)).astype(np.float32)
    b = rng.standard_normal((batch, k, n)).astype(np.float32)
    da, db = cuda_backend.asarray(a), cuda_backend.asarray(b)
    planned = gemm._Product(da, db, True, False)
    assert planned.plan(gemm._tile([planned])).sizes[4] > 1
    runs = [cuda_backend.to_numpy(cuda_backend.matmul(da, db, transpose_a=True)) for _ in range(5)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run, runs[0])
    want = np.swapaxes(a, 1, 2).astype(np.float64) @ b
    np.testing.assert_allclose(runs[0], want, rtol=1e-4, atol=1e-2 * np.sqrt(k / 1000))
    assert not reduce.arrival_counters().copy_to_host().any()


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
