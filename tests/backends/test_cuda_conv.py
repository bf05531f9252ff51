"""The CUDA convolutions and pools against the CPU's: the conv sweeps (dense, depthwise,
grouped, transposed, 1-D), im2col and col2im, the pools, and the first layer's fused convolution
+ pool by its direct and Winograd routes. On the simulator or a GPU, as test_cuda.py says."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import autoconv as ac
from autoconv import backends
from autoconv.backends import namespace
from tests.conftest import distinct

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from autoconv.backends import cuda as cuda_backend  # noqa: E402 - needs numba-cuda
from autoconv.backends.cuda import conv_pool, runtime  # noqa: E402
from tests.backends.cuda_checks import (  # noqa: E402
    TOLERANCE,
    assert_same_on_both,
)

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
