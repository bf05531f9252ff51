"""Kernels never index out of bounds: every backend function checks, before it launches, that
its arrays fit each other and the window (autoconv.backends.bounds), and the indices that come
from data (labels, row numbers, arg-max offsets, optimizer slots) are checked or guarded.

Each case runs on the CPU and, for the CUDA backend's own checks, on the simulator."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.backends import cpu
from autoconv.windows import pool_window, window

F = np.float32


def conv_win(x_shape=(2, 5, 5, 3), kernel=(3, 3), stride=1, padding="valid"):
    return window("conv2d", x_shape[1:3], kernel, stride, 1, padding)


def pool_win(x_shape=(2, 4, 4, 3), size=2, padding="valid"):
    return pool_window("max_pool2d", x_shape, size, None, padding)


def zeros(*shape, dtype=F):
    return np.zeros(shape, dtype)


# (function name, arguments, message): arrays that do not fit each other or the window.
CASES = [
    ("col2im", lambda: (zeros(17, 27), (2, 5, 5, 3), conv_win()), r"cols must have shape \(18,"),
    ("col2im", lambda: (zeros(18, 26), (2, 5, 5, 3), conv_win()), r"cols must have shape"),
    ("im2col", lambda: (zeros(2, 5, 5), conv_win()), r"x must be images"),
    ("depthwise_conv", lambda: (zeros(2, 5, 5, 3), zeros(3, 3, 2, 1), conv_win()),
     r"w must have shape \(3, 3, 3, M\)"),
    ("depthwise_conv", lambda: (zeros(2, 5, 5, 3), zeros(2, 2, 3, 1), conv_win()),
     r"w must have shape \(3, 3, 3, M\)"),
    ("depthwise_conv_input_grad",
     lambda: (zeros(2, 4, 3, 6), zeros(3, 3, 3, 2), (2, 5, 5, 3), conv_win()),
     r"grad_out must have shape \(2, 3, 3, 6\)"),
    ("depthwise_conv_input_grad",
     lambda: (zeros(2, 3, 3, 6), zeros(3, 3, 3, 2), (1, 5, 5, 3), conv_win()),
     r"grad_out must have shape \(1, 3, 3, 6\)"),
    ("depthwise_conv_kernel_grad",
     lambda: (zeros(2, 5, 5, 3), zeros(2, 3, 3, 3), (3, 3, 3, 2), conv_win()),
     r"grad_out must have shape \(2, 3, 3, 6\)"),
    ("bias_relu", lambda: (zeros(4, 3), zeros(2), True), r"bias must have shape \(3,\)"),
    ("relu_grad_and_column_sums", lambda: (zeros(4, 3), zeros(3, 3)), r"out must have shape"),
    ("max_pool_forward", lambda: (zeros(2, 4, 4, 3), pool_win(), zeros(4)),
     r"bias must have shape \(3,\)"),
    ("max_pool_forward", lambda: (zeros(2, 3, 3, 3), pool_win((2, 8, 8, 3))),
     r"does not fit images of shape \(2, 3, 3, 3\)"),
    ("avg_pool_forward", lambda: (zeros(2, 3, 3, 3), pool_win((2, 8, 8, 3))), r"does not fit"),
    ("max_pool_backward",
     lambda: (zeros(2, 3, 3, 3), zeros(2, 3, 3, 3, dtype=np.int32), (2, 4, 4, 3), pool_win()),
     r"grad_out must have shape \(2, 2, 2, 3\)"),
    ("max_pool_backward",
     lambda: (zeros(2, 2, 2, 3), zeros(2, 2, 1, 3, dtype=np.int32), (2, 4, 4, 3), pool_win()),
     r"argmax must have shape \(2, 2, 2, 3\)"),
    ("avg_pool_backward", lambda: (zeros(1, 2, 2, 3), (2, 4, 4, 3), pool_win()),
     r"grad_out must have shape \(2, 2, 2, 3\)"),
    ("softmax_cross_entropy", lambda: (zeros(4, 3), zeros(3, 3)), r"target must have shape"),
    ("softmax_cross_entropy_grad", lambda: (zeros(4, 3), zeros(4, 2), zeros()),
     r"target must have shape \(4, 3\)"),
    ("count_correct", lambda: (zeros(4, 3), zeros(3)), r"target of shape \(3,\) does not fit"),
    ("batch_norm_forward", lambda: (zeros(4, 3), zeros(2), None, 1e-3),
     r"gamma must have shape \(3,\)"),
    ("batch_norm_forward", lambda: (zeros(4, 3), None, None, 1e-3, zeros(3), None),
     r"both mean and variance"),
    ("batch_norm_backward",
     lambda: (zeros(4, 3), zeros(4, 3), None, zeros(3), zeros(4), 1e-3, True),
     r"variance must have shape \(3,\)"),
    ("batch_norm_backward",
     lambda: (zeros(5, 3), zeros(4, 3), None, zeros(3), zeros(3), 1e-3, True),
     r"grad must have shape \(4, 3\)"),
    ("affine_transform", lambda: (zeros(2, 4, 4, 1), zeros(1, 8), "bilinear", "constant", 0.0),
     r"transforms must have shape \(2, 8\)"),
    ("affine_transform_backward",
     lambda: (zeros(2, 4, 4, 1), zeros(2, 6), "nearest", "constant"),
     r"transforms must have shape \(2, 8\)"),
    ("resize_backward", lambda: (zeros(1, 8, 8, 2), (2, 4, 4, 2), "bilinear"),
     r"grad_out must have shape \(2, 8, 8, 2\)"),
    ("accumulate", lambda: (zeros(2, dtype=np.float64), 1.0, 1, 1, np.zeros(2, np.int64)),
     r"totals must have shape \(3,\)"),
    ("guarded_copy", lambda: (zeros(3, 2), zeros(2, 3), np.zeros(2, np.int64)),
     r"source must have shape \(3, 2\)"),
    ("matmul", lambda: (zeros(4, 5), zeros(5, 3), False, False, zeros(2)),
     r"bias must have shape \(3,\)"),
    ("bias_relu_grad", lambda: (zeros(4, 3), zeros(3, 3), True), r"out must have shape"),
    ("update_metrics", lambda: (zeros(2), zeros(), zeros(), 1.0, None, None, None, None),
     r"a state must have shape \(\)"),
    ("update_metrics", lambda: (None, None, None, 0, zeros(), zeros(), zeros(4, 3), zeros(3)),
     r"target of shape \(3,\) does not fit"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "arguments", "message"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_cpu_kernels_refuse_arrays_that_do_not_fit(name, arguments, message):
    with pytest.raises(ValueError, match=f"{name}: .*{message}|{message}"):
        getattr(cpu, name)(*arguments())


@pytest.mark.cudasim
@pytest.mark.parametrize(
    ("name", "arguments", "message"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_cuda_kernels_refuse_arrays_that_do_not_fit(name, arguments, message):
    from autoconv.backends import cuda

    def device(value):
        return cuda.asarray(value) if isinstance(value, np.ndarray) else value

    with pytest.raises(ValueError, match=message):
        getattr(cuda, name)(*[device(a) for a in arguments()])


# ----------------------------------------------------------- indices that come from data
def test_take_checks_host_row_numbers():
    a = np.arange(12, dtype=F).reshape(4, 3)
    np.testing.assert_array_equal(cpu.take(a, np.array([3, 0])), a[[3, 0]])
    for rows in ([4], [-1], [0.5]):
        with pytest.raises(ValueError, match=r"take: rows must"):
            cpu.take(a, np.array(rows))


def test_one_hot_checks_host_labels():
    np.testing.assert_array_equal(cpu.one_hot(np.array([1]), 3, F), [[0, 1, 0]])
    for labels in ([3], [-1], [1.5]):
        with pytest.raises(ValueError, match=r"one_hot: labels must"):
            cpu.one_hot(np.array(labels), 3, F)


def test_scatter_add_rows_checks_host_rows_and_shapes():
    grad = np.ones((3, 2), F)
    out = cpu.scatter_add_rows(grad, np.array([2, 0, 2]), 4)
    np.testing.assert_array_equal(out, [[1, 1], [0, 0], [2, 2], [0, 0]])
    for rows in ([4, 0, 0], [-1, 0, 0], [0.5, 0, 0]):
        with pytest.raises(ValueError, match=r"scatter_add_rows: rows must"):
            cpu.scatter_add_rows(grad, np.array(rows), 4)
    with pytest.raises(ValueError, match=r"scatter_add_rows: grad must have shape \(2, 2\)"):
        cpu.scatter_add_rows(grad, np.array([0, 1]), 4)


def test_max_pool_backward_refuses_argmax_offsets_outside_the_image():
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3)).astype(F)
    win = pool_win(x.shape)
    out, argmax = cpu.max_pool_forward(x, win)
    grad = cpu.max_pool_backward(np.ones_like(out), argmax, x.shape, win)
    assert grad.sum() == out.size  # each output's gradient went to one cell
    for bad in (x[0].size, -1, 2**31 - 1):
        crafted = argmax.copy()
        crafted[1, 1, 0, 2] = bad
        with pytest.raises(ValueError, match=r"max_pool_backward: argmax must lie in \[0, 48\)"):
            cpu.max_pool_backward(np.ones_like(out), crafted, x.shape, win)


@pytest.mark.cudasim
def test_cuda_take_and_one_hot_guard_device_indices():
    from autoconv.backends import cuda

    a = np.arange(6, dtype=F).reshape(3, 2)
    with pytest.raises(ValueError, match=r"take: rows must lie in \[0, 3\)"):
        cuda.take(cuda.asarray(a), np.array([3]))
    rows = cuda.asarray(np.array([2, 7, -1], np.int64))  # on the device: not read back
    taken = cuda.to_numpy(cuda.take(cuda.asarray(a), rows))
    np.testing.assert_array_equal(taken[0], a[2])
    assert np.isnan(taken[1:]).all()  # never read outside a; NaN shows in training
    labels = cuda.asarray(np.array([1, 5, -2], np.int64))
    np.testing.assert_array_equal(
        cuda.to_numpy(cuda.one_hot(labels, 3, F)), [[0, 1, 0], [0, 0, 0], [0, 0, 0]]
    )
    grad = cuda.asarray(np.ones((3, 2), F))
    with pytest.raises(ValueError, match=r"scatter_add_rows: rows must lie in \[0, 3\)"):
        cuda.scatter_add_rows(grad, np.array([0, 3, 1]), 3)
    summed = cuda.scatter_add_rows(grad, rows, 3)  # only row 2 is inside: the rest skipped
    np.testing.assert_array_equal(cuda.to_numpy(summed), [[0, 0], [0, 0], [1, 1]])


# ------------------------------------------------------------------- optimizer slots
def trained_model(optimizer="rmsprop"):
    model = ac.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dense(2)])
    model.compile(optimizer, "mse")
    x, y = np.ones((8, 3), F), np.zeros((8, 2), F)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    return model, x, y


@pytest.mark.parametrize(
    "optimizer",
    ["rmsprop", "adam", "adagrad", "ftrl", lambda: ac.optimizers.SGD(0.1, momentum=0.9)],
)
def test_a_crafted_optimizer_slot_never_reaches_a_kernel(optimizer):
    """The original bug: a model file whose optimizer state had the wrong size made fit write
    out of bounds and the process died (double free or corruption). Here the state is built in
    memory, bypassing the loader's checks: the update refuses it."""
    model, x, y = trained_model(optimizer if isinstance(optimizer, str) else optimizer())
    before = [w.copy() for w in model.get_weights()]
    slots = model.optimizer.slots[0]
    slots[sorted(slots)[0]] = np.zeros(7, F)  # the kernel is 3x4: 12 elements
    with pytest.raises(ValueError, match=r"_update: slot 0 has shape \(7,\)"):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # refused before any weight changed


def test_a_wrong_optimizer_state_is_refused_when_the_optimizer_is_built():
    model, x, y = trained_model()
    optimizer = ac.optimizers.RMSprop()
    optimizer.slots = [{"velocity": np.zeros(7, F)} for _ in model.trainable_weights]
    model.compile(optimizer, "mse")
    with pytest.raises(ValueError, match=r"optimizer slot 'velocity' of .*kernel has shape \(7,\)"):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    optimizer = ac.optimizers.RMSprop()
    optimizer.slots = [{"momentum": np.zeros(1, F)} for _ in model.trainable_weights]
    model.compile(optimizer, "mse")
    with pytest.raises(ValueError, match=r"must hold the slots \['velocity'\]"):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)


def test_every_update_checks_the_gradient_and_each_slot():
    value, status = np.zeros(6, F), cpu.new_status()
    with pytest.raises(ValueError, match=r"sgd_update: grad has shape \(5,\)"):
        cpu.sgd_update(value, np.zeros(5, F), None, 0.1, 0.0, False, None, 0.0, 0.0, status)
    with pytest.raises(ValueError, match=r"adam_update: slot 1 has shape \(2, 2\)"):
        cpu.adam_update(
            value, np.zeros(6, F), np.zeros(6, F), np.zeros((2, 2), F), None, 0.1, 0.9, 0.999,
            1e-7, None, 0.0, 0.0, status,
        )  # fmt: skip


def test_an_optimizer_call_is_checked_once_and_made_again_for_its_scalars_unchecked():
    """rules.CALL checks a step's arrays as the update would; rules.RECALL, which a replayed
    step calls for its new scalars over the arrays CALL checked, gives the same scalars."""
    from autoconv.backends import rules

    value, grad, status = np.zeros(6, F), np.zeros(6, F), cpu.new_status()
    args = (value, grad, np.zeros(6, F), np.zeros(6, F), None, 0.1, 0.9, 0.999, 1e-7)
    checked = rules.CALL.adam_update(*args, None, 0.0, 0.01, status)
    again = rules.RECALL.adam_update(*args, None, 0.0, 0.01, status)
    assert again.rule == checked.rule == "adam"
    assert again.scalars() == checked.scalars() == ((0.1, 1 - 0.9, 1 - 0.999, 1e-7, False), [0.01])
    short = (value, np.zeros(5, F), *args[2:])
    with pytest.raises(ValueError, match=r"adam_update: grad has shape \(5,\)"):
        rules.CALL.adam_update(*short, None, 0.0, 0.01, status)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)])
@pytest.mark.parametrize(("start", "rows"), [(0, 2), (3, 2), (4, 1)])
def test_put_rows_writes_rows_at_a_device_start_and_never_outside(device, start, rows):
    """predict's outputs land at each batch's rows; the GPU writes no row past the target's
    end for any start (it is not read back), the CPU refuses one."""
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    xp = ac.backends.namespace(device)
    source = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3) + 1
    target = xp.zeros((5, 3), np.float32)
    xp.put_rows(target, xp.asarray(source), xp.asarray(np.array([start], np.int64)))
    want = np.zeros((5, 3), np.float32)
    want[start : start + rows] = source
    np.testing.assert_array_equal(xp.to_numpy(target), want)
    outside = xp.asarray(np.array([4], np.int64))
    if device == "cpu":
        with pytest.raises(ValueError, match=r"put_rows: rows 4\.\.6 are outside the 5 rows"):
            xp.put_rows(target, xp.asarray(source[:1].repeat(2, 0)), outside)
    else:
        xp.put_rows(target, xp.asarray(source[:1].repeat(2, 0)), outside)  # row 5 dropped
        want[4] = source[0]
        np.testing.assert_array_equal(xp.to_numpy(target), want)
    with pytest.raises(ValueError, match=r"put_rows: rows of float32 .* do not fit"):
        xp.put_rows(target, xp.asarray(np.zeros((1, 4), np.float32)), outside)
    with pytest.raises(ValueError, match="put_rows: start must have shape"):
        xp.put_rows(target, xp.asarray(source), xp.asarray(np.zeros(2, np.int64)))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int64])
def test_copy_from_host_writes_the_values_in_place_and_refuses_what_does_not_fit(device, dtype):
    """A dataset's batch loaded into its place: the values land in the same array; the host
    array may change as soon as the copy returns (on the GPU it went through staging)."""
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    xp = ac.backends.namespace(device)
    target = xp.zeros((3, 4), dtype)
    for first in (0, 7):  # twice into the same array
        source = (np.arange(12).reshape(3, 4) + first).astype(dtype)
        xp.copy_from_host(target, source)
        source[...] = 99  # changed once the call returned: the copy keeps the values it took
        np.testing.assert_array_equal(xp.to_numpy(target), np.arange(12).reshape(3, 4) + first)
    with pytest.raises(ValueError, match=r"copy_from_host: source must have shape \(3, 4\)"):
        xp.copy_from_host(target, np.zeros((4, 3), dtype))
    with pytest.raises(TypeError, match="copy_from_host: dtypes differ"):
        xp.copy_from_host(target, np.zeros((3, 4), np.float64))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)])
def test_moving_averages_update_each_pair_in_place_and_refuse_what_does_not_fit(device):
    """A BatchNormalization's moving mean and variance after a step, as Keras writes it:
    moving * momentum + batch * (1 - momentum), in float32 (one launch on the GPU)."""
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    xp = ac.backends.namespace(device)
    moving = [np.array([1.0, 2.0, -3.0], F), np.array([0.5, 4.0, 9.0], F)]
    batch = [np.array([3.0, 0.0, 1.0], F), np.array([1.0, 1.0, 0.25], F)]
    averages = [xp.asarray(a.copy()) for a in moving]  # (the CPU takes arrays as they are)
    before = [id(a) for a in averages]
    xp.moving_averages(averages, [xp.asarray(b) for b in batch], 0.99)
    assert [id(a) for a in averages] == before
    for got, m, b in zip(averages, moving, batch, strict=True):
        np.testing.assert_allclose(xp.to_numpy(got), m * 0.99 + b * (1 - 0.99), rtol=1e-6)
    with pytest.raises(ValueError, match="moving_averages: each value must have shape"):
        xp.moving_averages(averages[:1], [xp.asarray(np.zeros(2, F))], 0.9)
    with pytest.raises(ValueError, match="moving_averages: 2 and 1 arrays"):
        xp.moving_averages(averages, [averages[0]], 0.9)
