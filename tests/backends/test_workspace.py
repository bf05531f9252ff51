"""The CPU backend's pool of big work arrays: an array is handed out again only when nothing
else refers to it, and the ops give the same results whether their outputs were pooled or not."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import autoconv as ac
from autoconv.backends.cpu import workspace

BIG = (workspace.MIN_BYTES // 4 + 1,)  # float32 elements: just over the pooling size


@pytest.fixture(autouse=True)
def empty_pool():
    workspace.clear()
    yield
    workspace.clear()


def test_a_released_array_is_handed_out_again():
    first = workspace.empty(BIG, np.float32)
    address = first.ctypes.data
    del first
    assert workspace.empty(BIG, np.float32).ctypes.data == address


@pytest.mark.parametrize(
    "hold",
    [
        lambda a: a,
        lambda a: a.reshape(-1, 1),
        lambda a: a[1:],
        lambda a: a.T,
        lambda a: memoryview(a),
        lambda a: [a],
        lambda a: ac.Tensor(a),
    ],
    ids=["array", "reshape", "slice", "transpose", "memoryview", "list", "tensor"],
)
def test_an_array_still_referred_to_is_never_handed_out(hold):
    first = workspace.empty(BIG, np.float32)
    held = hold(first)
    address = first.ctypes.data
    del first
    second = workspace.empty(BIG, np.float32)
    assert second.ctypes.data != address
    del held
    gc.collect()
    third = workspace.empty(BIG, np.float32)
    assert third.ctypes.data == address


def test_a_free_array_serves_any_shape_of_as_many_to_half_as_many_elements():
    first = workspace.empty((2 * BIG[0],), np.float32)
    address = first.ctypes.data
    del first
    for shape in [(2, BIG[0]), (BIG[0],), (BIG[0], 1, 1)]:
        other = workspace.empty(shape, np.float32)
        assert other.shape == shape and other.ctypes.data == address
        assert other.flags.c_contiguous and other.flags.writeable
        del other


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((2 * BIG[0] + 1,), np.float32), ((BIG[0] - 1,), np.float32), ((BIG[0],), np.float64),
     ((BIG[0],), np.int32)],
    ids=["more elements", "under half", "float64", "int32"],
)  # fmt: skip
def test_a_free_array_does_not_serve_more_elements_under_half_or_another_dtype(shape, dtype):
    first = workspace.empty((2 * BIG[0],), np.float32)
    address = first.ctypes.data
    del first
    other = workspace.empty(shape, dtype)
    assert other.shape == shape and other.dtype == dtype
    assert other.ctypes.data != address
    assert other.flags.c_contiguous and other.flags.writeable


def test_the_smallest_free_array_that_serves_is_handed_out():
    sizes = [2 * BIG[0], BIG[0] + 2, BIG[0] + 1]  # taken at once, then all free
    arrays = [workspace.empty((size,), np.float32) for size in sizes]
    smallest = arrays[2].ctypes.data
    del arrays
    assert workspace.empty(BIG, np.float32).ctypes.data == smallest


def test_small_arrays_are_not_pooled():
    small = workspace.empty((16,), np.float32)
    assert small.shape == (16,)
    assert workspace.pooled_bytes() == (0, 0)


def test_pooled_bytes_counts_used_and_free_arrays_and_clear_releases_the_free_ones():
    used = workspace.empty(BIG, np.float32)
    workspace.empty(BIG, np.float64)  # released at once
    assert workspace.pooled_bytes() == (used.nbytes, 2 * used.nbytes)
    workspace.clear()
    assert workspace.pooled_bytes() == (used.nbytes, 0)


def test_free_arrays_beyond_the_limit_are_released_least_recently_used_first(monkeypatch):
    monkeypatch.setattr(workspace, "MAX_FREE_BYTES", 2 * BIG[0] * 4)
    sizes = (BIG[0], BIG[0] + 1, BIG[0] + 2)  # three shapes, each released at once
    for size in sizes:
        workspace.empty((size,), np.float32)
    # Making each new one would pass the limit with the free one before it: that one went.
    assert workspace.pooled_bytes() == (0, sizes[-1] * 4)
    newest = workspace.empty((sizes[-1],), np.float32)  # still pooled: taken, not made
    assert workspace.pooled_bytes() == (newest.nbytes, 0)


def test_free_arrays_up_to_the_peak_in_use_are_kept(monkeypatch):
    monkeypatch.setattr(workspace, "MAX_FREE_BYTES", 0)
    sizes = [(2 * BIG[0] + 2,), (2 * BIG[0] + 1,), BIG]  # none serves another
    first, second = (workspace.empty(size, np.float32) for size in sizes[:2])
    second_bytes = second.nbytes
    del first, second  # a step's working set, now free: the peak in use was both
    third = workspace.empty(sizes[2], np.float32)
    # The new one and one free one fit in that peak: the least recently used free one went.
    assert workspace.pooled_bytes() == (third.nbytes, second_bytes)
    taken = workspace.empty(sizes[1], np.float32)  # still pooled: taken, not made
    assert workspace.pooled_bytes() == (third.nbytes + taken.nbytes, 0)


@pytest.mark.parametrize("clear_session", [ac.layers.clear_session, ac.utils.clear_session])
def test_clear_session_releases_the_pool(clear_session):
    workspace.empty(BIG, np.float32)
    clear_session()
    assert workspace.pooled_bytes() == (0, 0)


@pytest.mark.parametrize("repeats", [2, 3])
def test_a_conv_evaluated_twice_before_backward_keeps_both_unrolled_inputs(repeats):
    # Both forward passes hold their own unrolled matrix until the backward: the second may
    # not be written into the first's (the gradient would then be the second's twice).
    rng = np.random.default_rng(0)
    shape = (16, 30, 30, 8)  # an unrolled matrix of 3.6 MB: pooled
    xs = [ac.Tensor(rng.standard_normal(shape).astype(np.float32)) for _ in range(repeats)]
    w = ac.Tensor(rng.standard_normal((3, 3, 8, 4)).astype(np.float32), requires_grad=True)
    total = sum(ac.conv2d(x, w).sum() for x in xs)
    total.backward()
    # d total / d w[a, b, c, k] = the sum of every input's pixels that tap (a, b) reads.
    expected = np.zeros((3, 3, 8))
    for x in xs:
        for a in range(3):
            for b in range(3):
                expected[a, b] += x.numpy()[:, a : a + 28, b : b + 28].sum(axis=(0, 1, 2))
    for k in range(4):
        np.testing.assert_allclose(w.grad[..., k], expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("rows", [(2, 0, 1), (BIG[0] // 6, BIG[0] // 6)])
def test_concatenate_rows_joins_arrays_along_their_first_axis(rows, rng):
    arrays = [rng.standard_normal((n, 2, 3)).astype(np.float32) for n in rows]
    np.testing.assert_array_equal(ac.backends.cpu.concatenate_rows(arrays), np.concatenate(arrays))


@pytest.mark.parametrize(
    "other",
    [np.zeros((1, 3, 2), np.float32), np.zeros((1, 2, 3), np.float64)],
    ids=["shape", "dtype"],
)
def test_concatenate_rows_of_different_arrays_is_a_clear_error(other):
    with pytest.raises(ValueError, match=r"concatenate_rows: arrays of shapes \[\(2, 2, 3\)"):
        ac.backends.cpu.concatenate_rows([np.zeros((2, 2, 3), np.float32), other])


@pytest.mark.parametrize("source", ["contiguous", "broadcast", "transposed"])
def test_a_leaf_gradient_copy_comes_from_the_pool(source):
    """backward() copies a leaf's gradient with the backend's ``copy``: into a pooled array,
    which the next step's copy takes again once the gradient is dropped (zero_grad)."""
    from autoconv.backends import cpu

    values = np.arange(BIG[0], dtype=np.float32)
    array = {
        "contiguous": values,
        "broadcast": np.broadcast_to(values[:1], BIG),
        "transposed": values.reshape(1, -1).T,
    }[source]
    first = cpu.copy(array)
    np.testing.assert_array_equal(first, array)
    assert first.flags.c_contiguous and first.flags.writeable
    assert not np.shares_memory(first, array)
    address = first.ctypes.data
    del first
    again = cpu.copy(array)
    assert again.ctypes.data == address and np.array_equal(again, array)
