"""The CPU kernels' two builds: each is compiled parallel and serial (backends.cpu.jit.Kernel) and
the wrapper picks by the size of the call. Both must give the same bits; small test shapes
would otherwise only ever run the serial build."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest

from autoconv.backends import cpu
from autoconv.backends.cpu import conv, conv_pool, jit, pool
from autoconv.windows import pool_window, window

CONV_WINDOWS = [((3, 3), 1, 1, "valid"), ((2, 3), 2, 1, "same"), ((3, 3), 1, 2, 1)]
POOL_WINDOWS = [(2, None, "valid"), (2, None, "same"), (3, 2, "same"), ((2, 3), 1, "valid")]


def both_builds(monkeypatch, run):
    """run() with every call forced parallel, then forced serial."""
    monkeypatch.setattr(jit, "PARALLEL_MIN_WORK", 0)
    parallel = run()
    monkeypatch.setattr(jit, "PARALLEL_MIN_WORK", 2**62)
    return parallel, run()


def assert_same(parallel, serial):
    for ours, theirs in zip(parallel, serial, strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(("kernel", "stride", "dilation", "padding"), CONV_WINDOWS)
@pytest.mark.parametrize("channels", [1, 3, 16])
def test_im2col_col2im_bias_relu_builds_agree(
    kernel, stride, dilation, padding, channels, monkeypatch, rng
):
    x = rng.standard_normal((5, 7, 8, channels)).astype(np.float32)
    win = window("test", (7, 8), kernel, stride, dilation, padding)
    bias = rng.standard_normal(4).astype(np.float32)
    rows = 5 * win.out[0] * win.out[1]
    products = rng.standard_normal((rows, 4)).astype(np.float32)
    grad = rng.standard_normal((rows, 4)).astype(np.float32)

    def run():
        cols = cpu.im2col(x, win)
        out = cpu.bias_relu(products.copy(), bias, relu=True)
        return cols, cpu.col2im(cols, x.shape, win), out, *cpu.relu_grad_and_column_sums(grad, out)

    assert_same(*both_builds(monkeypatch, run))


@pytest.mark.parametrize(("kernel", "stride", "dilation", "padding"), CONV_WINDOWS)
@pytest.mark.parametrize("channels", [1, 3, 16])
def test_im2col_layouts_agree(kernel, stride, dilation, padding, channels, rng):
    """The transposed kernel (used for one channel) and the pixel-by-pixel one (from
    BY_PIXEL_MIN_CHANNELS) fill the same matrix as the row-major one; im2col hands one-channel
    images' matrix over column-major, the others row-major."""
    x = rng.standard_normal((3, 7, 8, channels)).astype(np.float32)
    win = window("test", (7, 8), kernel, stride, dilation, padding)
    rows, columns = 3 * win.out[0] * win.out[1], kernel[0] * kernel[1] * channels
    row_major, by_pixel, transposed = (
        np.full((rows, columns), 7.0, np.float32),
        np.full((rows, columns), 7.0, np.float32),
        np.full((columns, rows), 7.0, np.float32),
    )
    conv._im2col(0, x, *win.geometry(), row_major)
    conv._im2col_by_pixel(0, x, *win.geometry(), by_pixel)
    conv._im2col_transposed(0, x, *win.geometry(), transposed)
    np.testing.assert_array_equal(by_pixel, row_major)
    np.testing.assert_array_equal(transposed.T, row_major)
    cols = cpu.im2col(x, win)
    np.testing.assert_array_equal(cols, row_major)
    assert cols.flags.f_contiguous if channels == 1 else cols.flags.c_contiguous


@pytest.mark.parametrize(("channels", "kernel"), [(1, "_im2col_transposed"), (3, "_im2col"),
                                                  (15, "_im2col"), (16, "_im2col_by_pixel"),
                                                  (64, "_im2col_by_pixel")])  # fmt: skip
def test_im2col_picks_its_kernel_by_channels(channels, kernel, monkeypatch, rng):
    calls = []
    for name in ("_im2col", "_im2col_by_pixel", "_im2col_transposed"):
        build = getattr(conv, name)
        monkeypatch.setattr(conv, name, lambda *a, _n=name, _k=build: calls.append(_n) or _k(*a))
    x = rng.standard_normal((2, 5, 5, channels)).astype(np.float32)
    cpu.im2col(x, window("test", (5, 5), (3, 3), 1, 1, "valid"))
    assert calls == [kernel]


@pytest.mark.parametrize(("size", "strides", "padding"), POOL_WINDOWS)
def test_pooling_builds_agree(size, strides, padding, monkeypatch, rng):
    """Overlapping windows (3 with stride 2, stride 1) take the per-image scatter path."""
    x = rng.standard_normal((5, 9, 8, 3)).astype(np.float32)
    win = pool_window("test", x.shape, size, strides, padding)
    grad = rng.standard_normal((5, *win.out, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)

    def run():
        out, argmax = cpu.max_pool_forward(x, win, bias, relu=True)
        return (
            out,
            argmax,
            cpu.max_pool_backward(grad, argmax, x.shape, win),
            cpu.avg_pool_forward(x, win),
            cpu.avg_pool_backward(grad, x.shape, win),
        )

    assert_same(*both_builds(monkeypatch, run))


@pytest.mark.parametrize("rows", [1, 7, 100])  # fewer rows than row blocks, and more
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_builds_agree(rows, training, monkeypatch, rng):
    """The column sums go by fixed row blocks: the same bits on any number of threads."""
    x = (rng.standard_normal((rows, 5)) * 3 + 10).astype(np.float32)
    grad = rng.standard_normal((rows, 5)).astype(np.float32)
    gamma, beta = rng.standard_normal((2, 5)).astype(np.float32)
    moving = () if training else (x[0] * 0.5, np.full(5, 2.0, np.float32))

    def run():
        out, mean, variance = cpu.batch_norm_forward(x, gamma, beta, 1e-3, *moving)
        grads = cpu.batch_norm_backward(grad, x, gamma, mean, variance, 1e-3, training)
        return out, mean, variance, *grads

    assert_same(*both_builds(monkeypatch, run))


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("width", [8, 9])
def test_unrolled_2x2_max_pool_equals_the_general_kernel(relu, width, rng):
    """Same maxima and winners, ties (first in scan order wins) and NaNs (a NaN wins)
    included; an odd width leaves the last column unread by both."""
    x = rng.integers(-2, 3, (4, 6, width, 5)).astype(np.float32)  # many ties
    x[0, 0, 1, 0] = x[1, 3, 2, 4] = x[2, 5, 5, 1] = np.nan
    bias = rng.standard_normal(5).astype(np.float32)
    results = []
    for general in (False, True):
        out = np.full((4, 3, width // 2, 5), -7, np.float32)
        argmax = np.full(out.shape, -7, np.int32)
        geometry = (2, 2, 2, 2, 0, 0) if general else ()
        kernel = pool._max_pool_forward if general else pool._max_pool_2x2_forward
        kernel(0, x, bias, relu, np.float32(0), *geometry, out, argmax)
        results.append((out, argmax))
    assert_same(*results)
    assert np.isnan(results[0][0][[0, 1, 2], [0, 1, 2], [0, 1, 2], [0, 4, 1]]).all()


@pytest.mark.parametrize(
    ("size", "strides", "padding", "height", "unrolled"),
    [(2, None, "valid", 9, True), (2, None, "same", 8, True), (2, None, "same", 9, False),
     (2, 1, "valid", 8, False), (3, None, "valid", 9, False)],
)  # fmt: skip
def test_max_pool_picks_the_unrolled_kernel_when_every_window_is_2x2_inside(
    size, strides, padding, height, unrolled, monkeypatch, rng
):
    calls = []
    for name in ("_max_pool_forward", "_max_pool_2x2_forward"):
        kernel = getattr(pool, name)
        monkeypatch.setattr(pool, name, lambda *a, _n=name, _k=kernel: calls.append(_n) or _k(*a))
    x = rng.standard_normal((2, height, 8, 3)).astype(np.float32)
    cpu.max_pool_forward(x, pool_window("test", x.shape, size, strides, padding))
    assert calls == ["_max_pool_2x2_forward" if unrolled else "_max_pool_forward"]


def test_kernel_runs_the_parallel_build_only_for_big_calls(monkeypatch):
    def add_one(a):
        for i in numba.prange(a.shape[0]):
            a[i] += 1

    kernel = jit.Kernel(add_one)
    a = np.zeros(10)
    monkeypatch.setattr(jit, "PARALLEL_MIN_WORK", 100)
    kernel(10, a)
    assert kernel.serial.signatures and not kernel.parallel.signatures
    kernel(100, a)
    assert kernel.parallel.signatures
    np.testing.assert_array_equal(a, 2)


# ------------------------------------------- the direct convolution + 2x2 max pool
@pytest.mark.parametrize(("padding", "filters"), [("valid", 16), ("same", 24), (2, 32)])
@pytest.mark.parametrize(("kernel", "channels"), [((3, 3), 3), ((3, 3), 1), ((5, 3), 1)])
def test_conv_max_pool_2x2_matches_im2col_product_and_pool(padding, filters, kernel, channels, rng):
    """The same pooled values and the same winners (arg-max offsets) as pooling the product
    of im2col's columns; its kernel and bias gradients those of that route. (3x3 over one
    channel runs the grayscale kernels.)"""
    x = rng.standard_normal((2, 8, 10, channels))
    w = rng.standard_normal((*kernel, channels, filters))
    bias = rng.standard_normal(filters)
    win = window("t", (8, 10), kernel, 1, 1, padding)
    out, argmax = cpu.conv_max_pool_2x2(x, w, bias, True, win)
    conv = (cpu.im2col(x, win) @ w.reshape(-1, filters)).reshape(2, *win.out, filters)
    pool = pool_window("t", conv.shape, 2, None, "valid")
    expected, expected_argmax = cpu.max_pool_forward(conv, pool, bias, True)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(argmax, expected_argmax)
    g = rng.standard_normal(out.shape)
    grad_w, grad_b = cpu.conv_max_pool_2x2_kernel_grad(x, g, out, argmax, True, w.shape, win)
    masked = np.where(out > 0, g, 0)
    routed = cpu.max_pool_backward(masked, argmax, conv.shape, pool).reshape(-1, filters)
    np.testing.assert_allclose(grad_w, (cpu.im2col(x, win).T @ routed).reshape(w.shape), rtol=1e-12)
    np.testing.assert_allclose(grad_b, masked.sum(axis=(0, 1, 2)), rtol=1e-12)


def test_conv_max_pool_2x2_checks_its_operands_and_a_tampered_argmax_routes_nothing(rng):
    x, w = rng.standard_normal((1, 6, 6, 1)), rng.standard_normal((3, 3, 1, 16))
    win = window("t", (6, 6), (3, 3), 1, 1, "valid")
    with pytest.raises(ValueError, match="conv_max_pool_2x2: needs stride 1"):
        cpu.conv_max_pool_2x2(x, w, None, False, window("t", (6, 6), (3, 3), 2, 1, "valid"))
    with pytest.raises(ValueError, match="conv_max_pool_2x2: a kernel of shape"):
        cpu.conv_max_pool_2x2(x, w[:, :, :, :8].repeat(2, axis=2), None, False, win)
    with pytest.raises(ValueError, match="conv_max_pool_2x2: bias must have shape"):
        cpu.conv_max_pool_2x2(x, w, np.zeros(3), False, win)
    out, argmax = cpu.conv_max_pool_2x2(x, w, None, False, win)
    with pytest.raises(ValueError, match="conv_max_pool_2x2_kernel_grad: argmax must have"):
        cpu.conv_max_pool_2x2_kernel_grad(x, out, out, argmax[:, :1], False, w.shape, win)
    tampered = np.full_like(argmax, 2**31 - 1)  # no window's offset: nothing is routed
    grad_w, grad_b = cpu.conv_max_pool_2x2_kernel_grad(
        x, np.ones_like(out), out, tampered, False, w.shape, win
    )
    assert not grad_w.any() and (grad_b == out[..., 0].size).all()


@pytest.mark.parametrize("padding", ["valid", "same", 2])
@pytest.mark.parametrize(("filters", "relu"), [(16, True), (24, False), (32, True)])
@pytest.mark.parametrize(
    ("channels", "kernels"), [(1, "_conv_3x3_gray_max_pool_2x2"), (3, "_conv_3x3_max_pool_2x2")]
)
def test_conv_3x3_kernels_match_the_general_ones(
    padding, filters, relu, channels, kernels, monkeypatch, rng
):
    """A 3x3 kernel runs its own kernels (over one channel the grayscale ones): in float32 they
    give the general kernels' values (their multiply-adds pair up differently) and the same
    winners, a NaN pixel wins its windows in both, and their two builds agree."""
    x = rng.standard_normal((3, 10, 12, channels)).astype(np.float32)
    x[1, 4, 5, -1] = np.nan
    w = rng.standard_normal((3, 3, channels, filters)).astype(np.float32)
    bias = rng.standard_normal(filters).astype(np.float32)
    win = window("t", (10, 12), (3, 3), 1, 1, padding)
    n, oh, ow, _, images, taps = conv_pool._direct_operands("t", x, w.shape, win)
    zero = np.float32(0)
    general_out = np.empty((n, oh // 2, ow // 2, filters), np.float32)
    general_argmax = np.empty(general_out.shape, np.int32)
    taps = w.reshape(taps, filters)
    conv_pool._conv_max_pool_2x2(filters).serial(
        images, taps, bias, relu, zero, 3, 3, general_out, general_argmax
    )
    g = rng.standard_normal(general_out.shape).astype(np.float32)
    general_taps = np.empty((1, 9 * channels, filters), np.float32)
    general_bias = np.empty((1, filters))
    general_bias = general_bias.astype(np.float32)
    conv_pool._conv_max_pool_2x2_kernel_grad(filters).serial(
        images, g, general_out, general_argmax, relu, zero, 3, 3, general_taps, general_bias
    )
    chosen, calls = getattr(conv_pool, kernels), []
    monkeypatch.setattr(conv_pool, kernels, lambda f: calls.append(f) or chosen(f))

    def run():
        out, argmax = cpu.conv_max_pool_2x2(x, w, bias, relu, win)
        out, argmax = out.copy(), argmax.copy()  # pooled buffers: the next run reuses them
        return (
            out,
            argmax,
            *cpu.conv_max_pool_2x2_kernel_grad(x, g, out, argmax, relu, w.shape, win),
        )

    parallel, serial = both_builds(monkeypatch, run)
    assert_same(parallel, serial)
    out, argmax, grad_w, grad_b = serial
    assert calls == [filters, filters]
    assert np.isnan(out[1]).any() and not np.isnan(out[[0, 2]]).any()
    np.testing.assert_allclose(out, general_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(argmax, general_argmax)
    # The NaN pixel times its windows' gradients reaches the kernel gradient in both (as in
    # im2col's product); the bias gradient is summed by threads' blocks there, so allclose.
    assert np.isnan(grad_w).any()
    np.testing.assert_allclose(grad_w, general_taps[0].reshape(w.shape), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grad_b, general_bias[0], rtol=1e-5, atol=1e-5)


# ------------------------------------------- Winograd F(2x2, 3x3) transforms
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=float)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=float)
WINOGRAD_WINDOWS = [  # image size, padding, the convolution's output rows and columns computed
    ((8, 8), "valid", (6, 6)),
    ((6, 8), "same", (6, 8)),
    ((4, 6), 2, (6, 8)),
    ((9, 9), "valid", (6, 6)),  # a 7x7 convolution under 2x2 'valid' pools: the last unread
]


def winograd_window(size, padding, out):
    return dataclasses.replace(window("t", size, (3, 3), 1, 1, padding), out=out)


def padded_tiles(x, win):
    """Every 4x4 tile of the zero-padded images under a 2x2 block of outputs, (tiles, 4, 4, C)."""
    n, height, width, channels = x.shape
    ph, pw = win.out[0] // 2, win.out[1] // 2
    padded = np.zeros((n, 2 * ph + 2 + height, 2 * pw + 2 + width, channels))
    padded[:, win.pad_top : win.pad_top + height, win.pad_left : win.pad_left + width] = x
    return np.stack([padded[k, 2 * i : 2 * i + 4, 2 * j : 2 * j + 4]
                     for k in range(n) for i in range(ph) for j in range(pw)])  # fmt: skip


@pytest.mark.parametrize(("size", "padding", "out"), WINOGRAD_WINDOWS)
def test_winograd_transforms_are_the_plain_matrix_products(size, padding, out, monkeypatch, rng):
    """winograd_input is B^T d B of every tile, winograd_input_grad its adjoint; the output is
    A^T M A max pooled, with the values, arg-max and gradients of max pooling that output, and
    the product gradient A dY A^T; the parallel and serial builds agree."""
    x, win = rng.standard_normal((2, *size, 5)), winograd_window(size, padding, out)
    tiles = padded_tiles(x, win)
    expected = np.einsum("ar,trsc,bs->abtc", B_T, tiles, B_T).reshape(16, len(tiles), 5)
    np.testing.assert_allclose(cpu.winograd_input(x, win), expected, rtol=1e-12, atol=1e-12)
    grad_tiles = rng.standard_normal(expected.shape)
    grad_x = cpu.winograd_input_grad(grad_tiles, x.shape, win)  # <g, T x> = <T* g, x>
    np.testing.assert_allclose(np.vdot(grad_tiles, expected), np.vdot(grad_x, x), rtol=1e-12)

    products, bias = rng.standard_normal((16, len(tiles), 3)), rng.standard_normal(3)
    outputs = np.einsum("pa,abtc,qb->tpqc", A_T, products.reshape(4, 4, -1, 3), A_T)
    ph, pw = out[0] // 2, out[1] // 2
    conv = outputs.reshape(2, ph, pw, 2, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, *out, 3)
    pool = pool_window("t", conv.shape, 2, None, "valid")
    expected_out, expected_argmax = cpu.max_pool_forward(conv, pool, bias, True)
    pooled, argmax = cpu.winograd_max_pool_2x2(products, 2, win, bias, True)
    np.testing.assert_allclose(pooled, expected_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(argmax, expected_argmax)
    g = rng.standard_normal(pooled.shape)
    grad_products, grad_bias = cpu.winograd_max_pool_2x2_grad(g, pooled, argmax, True)
    masked = np.where(pooled > 0, g, 0)
    routed = cpu.max_pool_backward(masked, argmax, conv.shape, pool)
    routed = routed.reshape(2, ph, 2, pw, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(-1, 2, 2, 3)
    expected_grad = np.einsum("pa,tpqc,qb->abtc", A_T, routed, A_T).reshape(products.shape)
    np.testing.assert_allclose(grad_products, expected_grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_bias, masked.sum(axis=(0, 1, 2)), rtol=1e-12)

    def run():
        return (
            cpu.winograd_input(x, win).copy(),
            cpu.winograd_input_grad(grad_tiles, x.shape, win).copy(),
            *(a.copy() for a in cpu.winograd_max_pool_2x2(products, 2, win, bias, True)),
            *(a.copy() for a in cpu.winograd_max_pool_2x2_grad(g, pooled, argmax, True)),
        )

    assert_same(*both_builds(monkeypatch, run))


def test_winograd_kernels_check_their_operands_and_a_tampered_argmax_routes_nothing(rng):
    x = rng.standard_normal((1, 6, 6, 4))
    win = window("t", (6, 6), (3, 3), 1, 1, "valid")
    for bad, message in [
        (window("t", (6, 6), (3, 3), 2, 1, "valid"), "needs a 3x3 window at stride 1"),
        (window("t", (6, 6), (2, 2), 1, 1, "valid"), "needs a 3x3 window"),
        (window("t", (7, 7), (3, 3), 1, 1, "valid"), "needs an even output size"),
    ]:
        with pytest.raises(ValueError, match=f"winograd_input: {message}"):
            cpu.winograd_input(x, bad)
    tiles = cpu.winograd_input(x, win)
    with pytest.raises(ValueError, match="winograd_input_grad: grad_tiles must have shape"):
        cpu.winograd_input_grad(tiles[:, :1], x.shape, win)
    products = rng.standard_normal((16, 4, 3))
    with pytest.raises(ValueError, match="winograd_max_pool_2x2: products must have shape"):
        cpu.winograd_max_pool_2x2(products, 2, win, None, False)
    with pytest.raises(ValueError, match="winograd_max_pool_2x2: bias must have shape"):
        cpu.winograd_max_pool_2x2(products, 1, win, np.zeros(4), False)
    out, argmax = cpu.winograd_max_pool_2x2(products, 1, win, None, False)
    with pytest.raises(ValueError, match="winograd_max_pool_2x2_grad: argmax must have"):
        cpu.winograd_max_pool_2x2_grad(out, out, argmax[:, :1], False)
    tampered = np.full_like(argmax, 2**31 - 1)  # no window's offset: nothing is routed
    grad_products, grad_bias = cpu.winograd_max_pool_2x2_grad(
        np.ones_like(out), out, tampered, False
    )
    assert not grad_products.any() and (grad_bias == out[..., 0].size).all()


# ------------------------------------------- results written into given arrays (``out``)
def out_cases(xp, rng):
    """(name, call) for each kernel that takes ``out``, on backend ``xp``: ``call(out)`` runs
    it on fixed float64 inputs, writing into ``out`` when given; and the result's shapes."""
    win = window("t", (5, 6), (3, 3), 1, 1, "same")
    tiled = dataclasses.replace(window("t", (5, 6), (3, 3), 1, 1, (1, 2)), out=(4, 6))
    cols, grad_tiles = rng.standard_normal((60, 27)), rng.standard_normal((16, 12, 3))
    products, bias = rng.standard_normal((16, 12, 2)), rng.standard_normal(2)
    x, x_bias = rng.standard_normal((2, 6, 6, 3)), rng.standard_normal(3)
    pooling = pool_window("t", x.shape, 2, None, "valid")
    cols, grad_tiles, products, bias, x, x_bias = map(
        xp.asarray, (cols, grad_tiles, products, bias, x, x_bias)
    )
    return [
        ("col2im", lambda out=None: xp.col2im(cols, (2, 5, 6, 3), win, out), [(2, 5, 6, 3)]),
        (
            "winograd_input_grad",
            lambda out=None: xp.winograd_input_grad(grad_tiles, (2, 5, 6, 3), tiled, out),
            [(2, 5, 6, 3)],
        ),
        (
            "winograd_max_pool_2x2",
            lambda out=None: xp.winograd_max_pool_2x2(products, 2, tiled, bias, True, out),
            [(2, 2, 3, 2)] * 2,
        ),
        (
            "max_pool_forward",
            lambda out=None: xp.max_pool_forward(x, pooling, x_bias, True, out),
            [(2, 3, 3, 3)] * 2,
        ),
    ]


def check_out_cases(xp, kind, rng):
    """Each kernel given ``out`` (rows 1 and 2 of a batch of 4) writes its result there, the
    same as without, returns those arrays, and leaves the other rows alone; a wrong ``out``
    (shape, dtype, a transposed view, another backend's array, not a pair) is one ValueError
    naming the kernel."""
    for name, call, shapes in out_cases(xp, rng):
        expected = call()
        expected = [
            xp.to_numpy(a) for a in (expected if isinstance(expected, tuple) else [expected])
        ]
        batches = [np.full((4, *shape[1:]), -7.0) for shape in shapes]
        batches = [xp.asarray(b, e.dtype) for b, e in zip(batches, expected, strict=True)]
        rows = [b[1:3] for b in batches]
        result = call(tuple(rows) if len(rows) == 2 else rows[0])
        result = result if isinstance(result, tuple) else (result,)
        for written, row, batch, value in zip(result, rows, batches, expected, strict=True):
            assert written is row
            batch = xp.to_numpy(batch)
            np.testing.assert_array_equal(batch[1:3], value)
            assert (batch[[0, 3]] == -7).all()
        shape, dtype = shapes[0], expected[0].dtype  # float64
        wrong = [xp.empty((3, *shape[1:]), dtype), xp.empty(shape, np.float32)]
        if kind is np.ndarray:  # a transposed view, not C-contiguous
            wrong.append(np.empty(shape[::-1], dtype).T)
        else:  # a host array given to the GPU
            wrong.append(np.empty(shape, dtype))
        for bad in wrong:
            with pytest.raises(ValueError, match=f"{name}: out must be"):
                call((bad, bad) if len(shapes) == 2 else bad)
        if len(shapes) == 2:
            with pytest.raises(ValueError, match=f"{name}: out must be a \\(maxima, arg-max\\)"):
                call(rows[0])


def test_kernels_write_into_given_out_arrays(rng):
    check_out_cases(cpu, np.ndarray, rng)


@pytest.mark.parametrize(
    "index",
    [
        (Ellipsis, slice(1, 2)),  # an LSTM's step of a sequence
        (slice(None), np.int64(2)),
        (None, 1),
        np.array([0, 2, 0]),  # repeats accumulate
        ([1, 1], slice(None)),
    ],
)
def test_scatter_add_accumulates_as_np_add_at(index, rng):
    shape = (3, 4)
    grad = np.ascontiguousarray(
        np.zeros(shape)[index] + rng.standard_normal(np.zeros(shape)[index].shape)
    )
    want = np.zeros(shape)
    np.add.at(want, index, grad)
    np.testing.assert_array_equal(cpu.scatter_add(grad, shape, index), want)


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("batch", [(), (3,)])
@pytest.mark.parametrize("relu", [False, True])
def test_an_outer_product_is_numpys_product(transpose_a, transpose_b, batch, relu, rng):
    """A product whose contracted axis is 1 long (a convolution into one filter's input
    gradient) is a broadcast multiply: numpy's values, transposed operands, bias and ReLU."""
    a = rng.standard_normal((*batch, *((1, 7) if transpose_a else (7, 1)))).astype(np.float32)
    b = rng.standard_normal((*batch, *((5, 1) if transpose_b else (1, 5)))).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32) if not batch else None
    out = cpu.matmul(a, b, transpose_a, transpose_b, bias=bias, relu=relu and not batch)
    expected = np.swapaxes(a, -1, -2) if transpose_a else a
    expected = expected @ (np.swapaxes(b, -1, -2) if transpose_b else b)
    if bias is not None:
        expected = expected + bias
    if relu and not batch:
        expected = np.maximum(expected, 0)
    np.testing.assert_array_equal(out, expected)
