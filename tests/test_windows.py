"""Output-size arithmetic, checked as a property over many window arguments (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autoconv as ac
from autoconv.tensor import unbroadcast

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
