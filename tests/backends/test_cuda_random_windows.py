"""The GPU's window kernels against the CPU's over drawn geometries: image and kernel sizes,
strides or dilations, padding, channels, multipliers and filters, and the launch settings a
kernel walks its lines by (lines a thread, blocks along the grid, threads a block). The tests
parametrized in test_cuda_conv.py pin the cases the kernels were written around; these draw the ones
between (a row of one strip, a kernel wider than the image, runs that end mid-row). Examples
are drawn the same way every run (``derandomize``), so CI stays repeatable."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import autoconv as ac
from autoconv.backends import namespace

pytest.importorskip("numba_cuda")

from autoconv.backends.cuda import conv_pool, depthwise, runtime

TOLERANCE = {"rtol": 1e-10, "atol": 1e-10}
SUMS = {"rtol": 1e-9, "atol": 1e-9}  # kernel gradients: other runs, other rounding

geometries = st.fixed_dictionaries(
    {
        "images": st.integers(1, 2),
        "height": st.integers(1, 9),
        "width": st.integers(1, 23),
        "channels": st.integers(1, 4),
        "kernel": st.tuples(st.integers(1, 5), st.integers(1, 5)),
        "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "dilation": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "strided": st.booleans(),  # stride or dilation: the kernels take one of them above 1
        "padding": st.sampled_from(["same", "valid", 1, 2]),
        "multiplier": st.integers(1, 3),
        "run_lines": st.sampled_from([1, 2, 3, 32]),
        "grid_y": st.sampled_from([1, 3, 65535]),
        "threads": st.sampled_from([8, 32]),
        "seed": st.integers(0, 2**32 - 1),
    }
)


def _case(drawn: dict, monkeypatch: pytest.MonkeyPatch):
    """The drawn launch settings set, and (x, window, a generator); a window that does not fit
    its image is no example."""
    monkeypatch.setattr(runtime, "RUN_LINES", drawn["run_lines"])
    monkeypatch.setattr(runtime, "MAX_GRID_Y", drawn["grid_y"])
    monkeypatch.setattr(runtime, "THREADS", drawn["threads"])
    stride, dilation = drawn["stride"], drawn["dilation"]
    stride, dilation = (stride, (1, 1)) if drawn["strided"] else ((1, 1), dilation)
    image = (drawn["height"], drawn["width"])
    try:
        win = ac.windows.window("t", image, drawn["kernel"], stride, dilation, drawn["padding"])
    except ValueError:  # larger than the image: nothing to compare
        assume(False)
    rng = np.random.default_rng(drawn["seed"])
    x = rng.standard_normal((drawn["images"], *image, drawn["channels"]))
    x[rng.random(x.shape) < 0.1] = 0.0  # a ReLU's kink
    return x, win, rng


@settings(max_examples=40, deadline=None, derandomize=True)
@given(drawn=geometries, relu=st.booleans(), one_pass=st.booleans(), columns=st.booleans())
def test_depthwise_kernels_match_the_cpu_over_drawn_windows(drawn, relu, one_pass, columns):
    with pytest.MonkeyPatch.context() as monkeypatch:
        case = _case(drawn, monkeypatch)
        monkeypatch.setattr(depthwise, "ONE_PASS", one_pass)
        monkeypatch.setattr(depthwise, "COLUMN_WALK", columns)
        x, win, rng = case
        w = rng.standard_normal((*win.kernel, x.shape[3], drawn["multiplier"]))
        g = rng.standard_normal((x.shape[0], *win.out, w.shape[2] * w.shape[3]))
        xp, cpu = namespace("cuda"), namespace("cpu")
        xd, wd, gd = xp.asarray(x), xp.asarray(w), xp.asarray(g)
        got = xp.to_numpy(xp.depthwise_conv(xd, wd, win, relu))
        np.testing.assert_allclose(got, cpu.depthwise_conv(x, w, win, relu), **TOLERANCE)
        want_x, want_w = cpu.depthwise_conv_grads(x, g, w, win, relu)
        grad_x, grad_w = xp.depthwise_conv_grads(xd, gd, wd, win, relu)
        np.testing.assert_allclose(xp.to_numpy(grad_x), want_x, **TOLERANCE)
        np.testing.assert_allclose(xp.to_numpy(grad_w), want_w, **SUMS)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(drawn=geometries)
def test_im2col_and_col2im_match_the_cpu_over_drawn_windows(drawn):
    with pytest.MonkeyPatch.context() as monkeypatch:
        case = _case(drawn, monkeypatch)
        x, win, rng = case
        xp, cpu = namespace("cuda"), namespace("cpu")
        cols = cpu.im2col(x, win)
        np.testing.assert_array_equal(xp.to_numpy(xp.im2col(xp.asarray(x), win)), cols)
        g = rng.standard_normal(cols.shape)
        got = xp.to_numpy(xp.col2im(xp.asarray(g), x.shape, win))
        np.testing.assert_allclose(got, cpu.col2im(g, x.shape, win), **TOLERANCE)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(drawn=geometries, biased=st.booleans())
def test_max_pool_matches_the_cpu_over_drawn_windows(drawn, biased):
    padding = drawn["padding"] if isinstance(drawn["padding"], str) else "same"  # Keras's two
    drawn = drawn | {"strided": True, "padding": padding}
    with pytest.MonkeyPatch.context() as monkeypatch:
        case = _case(drawn, monkeypatch)
        x, win, rng = case
        bias = rng.standard_normal(x.shape[3]) if biased else None
        xp, cpu = namespace("cuda"), namespace("cpu")
        device_bias = None if bias is None else xp.asarray(bias)
        out, argmax = xp.max_pool_forward(xp.asarray(x), win, device_bias, biased)
        want_out, want_argmax = cpu.max_pool_forward(x, win, bias, biased)
        np.testing.assert_array_equal(xp.to_numpy(out), want_out)
        np.testing.assert_array_equal(xp.to_numpy(argmax), want_argmax)
        g = rng.standard_normal(want_out.shape)
        got = xp.to_numpy(xp.max_pool_backward(xp.asarray(g), argmax, x.shape, win))
        np.testing.assert_allclose(got, cpu.max_pool_backward(g, want_argmax, x.shape, win),
                                   **TOLERANCE)  # fmt: skip


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    drawn=geometries,
    filters=st.sampled_from([16, 17, 18, 20]),  # 4, 1, 2, 4 a thread (test_cuda_conv.py's counts)
    shared_weights=st.sampled_from([1, 50, 3072]),
    parts=st.booleans(),
)
def test_the_direct_conv_and_pool_match_the_cpu_over_drawn_windows(
    drawn, filters, shared_weights, parts
):
    """The first layer's fused convolution + 2x2 pool (stride 1, an even output size): its
    forward's groups of filters a thread and a block's groups (conv_pool.SHARED_WEIGHTS: one,
    some or all) and its kernel gradient by either route, against the CPU."""
    drawn = drawn | {"strided": True, "stride": (1, 1)}
    with pytest.MonkeyPatch.context() as monkeypatch:
        x, win, rng = _case(drawn, monkeypatch)
        assume(win.out[0] % 2 == 0 and win.out[1] % 2 == 0)
        monkeypatch.setattr(conv_pool, "SHARED_WEIGHTS", shared_weights)
        monkeypatch.setattr(conv_pool, "PARTS_ROUTE_ENTRIES", 0 if parts else 2**40)
        w = rng.standard_normal((*win.kernel, x.shape[3], filters))
        bias = rng.standard_normal(filters)
        xp, cpu = namespace("cuda"), namespace("cpu")
        out, argmax = xp.conv_max_pool_2x2(xp.asarray(x), xp.asarray(w), xp.asarray(bias), True,
                                           win)  # fmt: skip
        want_out, want_argmax = cpu.conv_max_pool_2x2(x, w, bias, True, win)
        np.testing.assert_allclose(xp.to_numpy(out), want_out, **TOLERANCE)
        np.testing.assert_array_equal(xp.to_numpy(argmax), want_argmax)
        g = rng.standard_normal(want_out.shape)
        got = xp.conv_max_pool_2x2_kernel_grad(
            xp.asarray(x), xp.asarray(g), out, argmax, True, w.shape, win
        )
        want = cpu.conv_max_pool_2x2_kernel_grad(x, g, want_out, want_argmax, True, w.shape, win)
        for mine, theirs in zip(got, want, strict=True):
            np.testing.assert_allclose(xp.to_numpy(mine), theirs, **SUMS)
