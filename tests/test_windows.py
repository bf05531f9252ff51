"""Output-size arithmetic, checked as a property over many window arguments (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autoconv as ac
from autoconv.tensor import unbroadcast
from autoconv.windows import transpose_window, window, window_1d

windows = st.tuples(
    st.integers(1, 12),  # n
    st.integers(1, 5),  # f
    st.integers(1, 3),  # s
    st.integers(1, 3),  # d
    st.one_of(st.integers(0, 3), st.sampled_from(["valid", "same"])),  # padding
).filter(lambda w: not (w[2] > 1 and w[3] > 1))


@settings(max_examples=60, deadline=None)
@given(windows)
def test_conv_output_size_follows_the_formula(window):
    n, f, s, d, p = window
    if p == "same":
        expected = -(-n // s)
    else:
        pad = 0 if p == "valid" else p
        expected = (n + 2 * pad - d * (f - 1) - 1) // s + 1
    x, w = np.ones((1, n, n, 1)), np.ones((f, f, 1, 1))
    if expected < 1:
        with pytest.raises(ValueError, match="output would be empty"):
            ac.conv2d(x, w, stride=s, padding=p, dilation=d)
        return
    out = ac.conv2d(x, w, stride=s, padding=p, dilation=d)
    assert out.shape == (1, expected, expected, 1)
    # every output sums f*f cells at most, and with 'valid' padding exactly f*f ones
    assert out.data.max() <= f * f
    if p == "valid":
        assert (out.data == f * f).all()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 4), min_size=0, max_size=4).flatmap(
        lambda shape: st.tuples(
            st.just(tuple(shape)),
            st.tuples(*[st.sampled_from([n, 1]) for n in shape]).map(tuple),
            st.integers(0, 2),
        )
    )
)
def test_unbroadcast_is_the_adjoint_of_broadcasting(case):
    """<broadcast(v), g> == <v, unbroadcast(g)> for every v and g: the defining property."""
    full, small, extra = case
    full = (2,) * extra + full
    rng = np.random.default_rng(0)
    g = rng.standard_normal(full)
    v = rng.standard_normal(small)
    left = float((np.broadcast_to(v, full) * g).sum())
    right = float((v * unbroadcast(g, small)).sum())
    assert np.isclose(left, right)


transposed = st.tuples(
    st.integers(1, 9),  # n
    st.integers(1, 5),  # k
    st.integers(1, 4),  # s
    st.integers(1, 3),  # d
    st.sampled_from(["valid", "same"]),
    st.one_of(st.none(), st.integers(0, 3)),  # output_padding
).filter(lambda t: not (t[2] > 1 and t[3] > 1) and (t[5] is None or t[5] < t[2]))


@settings(max_examples=80, deadline=None)
@given(transposed)
def test_transpose_window_follows_keras(case):
    """Output size: Keras's compute_conv_transpose_output_shape; the cut before the output:
    Keras's padding for jax.lax.conv_transpose (k'-1 minus its left pad). The window's output
    is the transposed convolution's input size."""
    n, k, s, d, padding, extra = case
    span = d * (k - 1) + 1
    if padding == "valid":
        size = (n - 1) * s + span + (max(span, s) - span if extra is None else extra)
        left = span - 1
    else:
        size = n * s if extra is None else (n - 1) * s + span % 2 + extra
        pad_len = s + span - 2 if extra is None else span + span % 2 - 2 + extra
        left = min(pad_len // 2 + pad_len % 2, span - 1)
    if size < 1:
        with pytest.raises(ValueError, match="output would be empty"):
            transpose_window("t", (n, n), (k, k), s, d, padding, extra)
        return
    win, out = transpose_window("t", (n, n), (k, k), s, d, padding, extra)
    assert out == (size, size) and win.out == (n, n)
    assert win.pad_top == win.pad_left == span - 1 - left


@settings(max_examples=60, deadline=None)
@given(windows)
def test_window_1d_is_the_width_of_a_2d_window(case):
    n, f, s, d, p = case
    try:
        expected = window("t", (1, n), (1, f), (1, s), (1, d), (0, p))
    except ValueError:
        with pytest.raises(ValueError, match="output would be empty"):
            window_1d("t", n, f, s, d, p)
        return
    assert window_1d("t", n, f, s, d, p) == expected
    causal = window_1d("t", n, f, s, d, "causal")
    assert causal.out == (1, (n - 1) // s + 1) and causal.pad_left == d * (f - 1)


# ------------------------------------------------ arguments the user passes, checked first
X = np.zeros((1, 6, 6, 2), np.float32)
W = np.zeros((3, 3, 2, 2), np.float32)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ac.conv2d(X, W, stride=1.5), r"stride must be an int or a pair of ints, got 1\.5"),
        (lambda: ac.conv2d(X, W, stride=(1, 2.0)), r"conv2d: stride must be an int or a pair"),
        (lambda: ac.conv2d(X, W, stride=0), "conv2d: stride must be positive"),
        (lambda: ac.conv2d(X, W, stride=10**30), r"conv2d: stride must be at most 2147483647"),
        (lambda: ac.conv2d(X, W, dilation=-2), "conv2d: dilation must be positive"),
        (lambda: ac.conv2d(X, W, padding=1.0), "padding must be 'valid', 'same' or an int"),
        (lambda: ac.conv2d(X, W, padding=-1), r"padding must be .* got -1"),
        (lambda: ac.conv2d(X, W, padding=10**12), r"an int in \[0, 2147483647\], got 10+"),
        (lambda: ac.conv2d(X, W, padding=float("nan")), r"padding must be .* got nan"),
        (lambda: ac.conv2d(X, W, groups=1.0), "number of groups must be a positive integer"),
        (lambda: ac.max_pool2d(X, pool_size=2.0), "pool_size must be an int or a pair"),
        (lambda: ac.max_pool2d(X, 2, strides=1.5), "max_pool2d: stride must be an int or a pair"),
        (lambda: ac.avg_pool2d(X, 2, padding=0.0), "avg_pool2d: padding must be 'valid' or 'same'"),
        (lambda: ac.max_pool2d(X, 10**10), r"max_pool2d: pool_size must be at most"),
        (lambda: ac.conv1d(X[0], W[0], stride=2.0), r"conv1d: stride must be an int or a tuple"),
        (lambda: ac.conv2d_transpose(X, W, stride=2, output_padding=0.5), "output_padding must"),
    ],
)  # fmt: skip
def test_window_arguments_are_checked_and_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_numpy_integers_are_window_arguments_too():
    i = np.int64
    out = ac.conv2d(X, W, stride=i(2), padding=i(1), dilation=(i(1), np.int32(1)), groups=i(1))
    assert out.shape == ac.conv2d(X, W, stride=2, padding=1).shape
    assert ac.max_pool2d(X, i(2), np.int32(2)).shape == (1, 3, 3, 2)
    assert ac.conv1d(X[0], W[0], stride=i(2)).shape == ac.conv1d(X[0], W[0], stride=2).shape
    transposed = ac.conv2d_transpose(X, W, stride=i(2), output_padding=i(1))
    assert transposed.shape == ac.conv2d_transpose(X, W, stride=2, output_padding=1).shape
