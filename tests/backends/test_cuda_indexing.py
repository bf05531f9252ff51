"""The CUDA backend's elementwise indexing: an output index's offset in each operand
(``_offset``, the device function of every elementwise, copy and reduction kernel) from the
shape and strides ``_coalesced`` gives it. Plain Python: no kernel is launched."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("numba_cuda")

from autoconv.backends.cuda.elementwise import (  # needs numba-cuda
    MAX_DIMS,
    _coalesced,
    _offset,
    _padded,
)


def offsets(shape, strides):
    """Every output index's offset, as NumPy's strided view has it."""
    base = np.arange(1 + sum((n - 1) * s for n, s in zip(shape, strides, strict=True)))
    view = np.lib.stride_tricks.as_strided(base, shape, [s * base.itemsize for s in strides])
    return view.ravel()


@pytest.mark.parametrize(
    ("shape", "strides", "want"),
    [
        ((2, 3, 4), [(12, 4, 1)], ((24,), [(1,)])),  # contiguous: one axis
        ((5, 1, 3), [(3, 3, 1)], ((15,), [(1,)])),  # a length-1 axis dropped
        ((2, 3, 4), [(12, 4, 1), (0, 0, 1)], ((6, 4), [(4, 1), (0, 1)])),  # a bias: two
        ((3, 4), [(1, 3)], ((3, 4), [(1, 3)])),  # a transpose: kept
        ((2, 3, 4), [(0, 0, 0)], ((24,), [(0,)])),  # a scalar broadcast
        ((1, 1), [(0, 0)], ((), [()])),  # one element
    ],
    ids=["contiguous", "unit_axis", "bias", "transpose", "scalar", "one_element"],
)
def test_coalesced_merges_the_axes_every_operand_steps_over_alike(shape, strides, want):
    lengths, *merged = _coalesced(_padded(shape, 1), *(_padded(s, 0) for s in strides))
    want_lengths, want_strides = want
    assert lengths == _padded(want_lengths, 1)
    assert merged == [_padded(s, 0) for s in want_strides]


@st.composite
def strided_operands(draw):
    """A shape of up to MAX_DIMS axes (lengths 1-4) and two operands' strides over it: each
    axis broadcast (0), or a step of a contiguous, transposed or sliced layout."""
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=MAX_DIMS))
    operands = []
    for _ in range(2):
        order = draw(st.permutations(range(len(shape))))
        step, strides = draw(st.integers(1, 2)), [0] * len(shape)
        for axis in reversed(order):  # the last in ``order`` varies fastest
            broadcast = draw(st.booleans()) and draw(st.booleans())
            strides[axis] = 0 if broadcast else step
            step *= 1 if broadcast else shape[axis]
        operands.append(tuple(strides))
    return tuple(shape), operands


@settings(max_examples=300, deadline=None)
@given(strided_operands())
def test_offsets_through_the_coalesced_axes_are_the_strided_views(case):
    """Each output index reads each operand where NumPy's strided view of it has the element,
    through the merged axes as through the original ones."""
    shape, operands = case
    lengths, *merged = _coalesced(_padded(shape, 1), *(_padded(s, 0) for s in operands))
    assert lengths.count(1) >= MAX_DIMS - len(shape)
    for original, strides in zip(operands, merged, strict=True):
        want = offsets(shape, original)
        got = [_offset(i, lengths, strides) for i in range(len(want))]
        np.testing.assert_array_equal(got, want)
        unmerged = [_offset(i, _padded(shape, 1), _padded(original, 0)) for i in range(len(want))]
        np.testing.assert_array_equal(unmerged, want)
