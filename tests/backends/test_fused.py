"""The fused and multi-tensor kernels of a training step against the CPU, on the CUDA simulator:
one optimizer update for every parameter, one finiteness check for the loss and every gradient,
the running loss and accuracy in place, the matrix product's bias-and-ReLU epilogue and its
gradient, several products in one launch, the bias gradients summed in the mask's pass; and the
leaf gradients kept without a copy when nothing else holds them. The fused kernels give what the
unfused ones gave, to the bit on the simulator (which runs the same operations in the same
order), and a training step launches each of them once.
"""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers, metrics
from autoconv.backends import namespace
from autoconv.ops import engine as ops

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from autoconv.backends import cuda  # noqa: E402 - needs numba-cuda
from autoconv.backends.cuda import optimizers as cuda_optimizers  # noqa: E402
from autoconv.backends.cuda import runtime  # noqa: E402

cpu = namespace("cpu")
DEVICES = ("cpu", "cuda")


@pytest.fixture
def launches(monkeypatch):
    """The names of the kernels launched, in order (the simulator still runs them)."""
    names: list[str] = []
    call = runtime.Launch.__call__

    def counted(self, *args):
        function = getattr(self.kernel, "py_func", None) or getattr(self.kernel, "fn", None)
        name = function.__qualname__ if function else repr(self.kernel)  # GPU, simulator; cuBLAS
        names.append(name.replace(".<locals>", ""))
        call(self, *args)

    monkeypatch.setattr(runtime.Launch, "__call__", counted)
    return names


# ------------------------------------------------------------------------- optimizers
def parameters(device):
    """Parameters of two dtypes and several shapes, with gradients, on ``device``."""
    shapes = [((3, 4), np.float32), ((5,), np.float32), ((2, 3), np.float64), ((4,), np.float32)]
    params = []
    for k, (shape, dtype) in enumerate(shapes):
        values = np.random.default_rng(k).standard_normal(shape).astype(dtype)
        params.append(ac.Tensor(values, requires_grad=True, device=device))
    return params


def train(device, name, config, steps=2, exclude=False):
    params = parameters(device)
    optimizer = ac.optimizers.get(name, **config)
    if exclude:
        optimizer.exclude_from_weight_decay(var_list=[params[1]])  # a bias, say
    xp = namespace(device)
    for step in range(steps):
        for k, param in enumerate(params):
            grad = np.random.default_rng(100 + 10 * step + k).standard_normal(param.shape)
            param.grad = xp.asarray(grad.astype(param.dtype))
        optimizer.step(params)
    values = [p.numpy() for p in params]
    return values + [xp.to_numpy(v) for slots in optimizer.slots for v in slots.values()]


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("rmsprop", {"weight_decay": 0.1}),
        ("adam", {"amsgrad": True, "clipnorm": 0.5, "weight_decay": 0.05}),
        ("sgd", {"momentum": 0.9, "global_clipnorm": 0.5}),
        ("nadam", {"clipvalue": 0.1, "use_ema": True}),
        ("ftrl", {"gradient_accumulation_steps": 2}),
    ],
)
def test_one_update_of_every_parameter_matches_cpu(name, config, launches):
    for exclude in (False, True):
        cpu_results = train("cpu", name, config, exclude=exclude)
        del launches[:]
        gpu_results = train("cuda", name, config, exclude=exclude)
        for gpu, host in zip(gpu_results, cpu_results, strict=True):
            assert gpu.dtype == host.dtype
            np.testing.assert_allclose(gpu, host, rtol=2e-6, atol=1e-7)
        # one update launch for the float32 parameters and one for the float64 one, a step
        updates = [n for n in launches if n == "_kernel.update"]
        assert len(updates) == (2 if "gradient_accumulation_steps" in config else 4)


def test_parameters_past_the_kernel_arguments_room_go_to_more_launches(monkeypatch, launches):
    expected = train("cuda", "adam", {"weight_decay": 0.1}, exclude=True)
    monkeypatch.setattr(cuda_optimizers, "PARAMETER_BYTES", 1000)  # room for two a launch
    del launches[:]
    got = train("cuda", "adam", {"weight_decay": 0.1}, exclude=True)
    assert (
        launches.count("_kernel.update") == 2 * 3
    )  # 3 float32 parameters in 2 launches, 1 float64
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sizes", [(0, 21, 1, 40), (40, 0), (1, 1, 1)])
def test_parameters_numbered_one_after_another_each_get_their_update(sizes, rng):
    """The update kernel's threads take the parameters' elements as one numbering (empty
    parameters among them, more elements than the simulator's 16 threads): every element
    updated as on the CPU, each parameter's own decay and scale used."""
    results = []
    for device in ("cpu", "cuda"):
        xp = namespace(device)
        params = [ac.Tensor(np.linspace(-1, 1, n).astype(np.float32), requires_grad=True,
                            device=device) for n in sizes]  # fmt: skip
        optimizer = ac.optimizers.RMSprop(0.01, weight_decay=0.1)
        optimizer.exclude_from_weight_decay(var_list=params[-1:])
        for step in range(2):
            for k, param in enumerate(params):
                grad = np.random.default_rng(10 * step + k).standard_normal(param.shape)
                param.grad = xp.asarray(grad.astype(np.float32))
            optimizer.step(params)
        results.append([p.numpy() for p in params])
    for gpu, host in zip(*results, strict=True):
        np.testing.assert_allclose(gpu, host, rtol=2e-6, atol=1e-7)


def test_one_parameter_or_a_list_is_the_same_update(rng):
    value, grad = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6)
    results = []
    for xp in (cpu, cuda):
        status = xp.new_status()
        one, velocity = xp.asarray(value.copy()), xp.zeros((6,), np.float32)
        xp.rmsprop_update(one, xp.asarray(grad.astype(np.float32)), velocity, None, None, 0.1,
                          0.9, 0.0, 1e-7, None, 0.0, 0.01, status)  # fmt: skip
        listed, velocity_2 = xp.asarray(value.copy()), xp.zeros((6,), np.float32)
        xp.rmsprop_update([listed], [xp.asarray(grad.astype(np.float32))], [velocity_2], None,
                          None, 0.1, 0.9, 0.0, 1e-7, [None], 0.0, [0.01], status)  # fmt: skip
        np.testing.assert_array_equal(xp.to_numpy(one), xp.to_numpy(listed))
        results.append(xp.to_numpy(one))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)


def test_lists_of_other_lengths_are_a_clear_error():
    value = cuda.zeros((3,), np.float32)
    with pytest.raises(ValueError, match="2 parameters but 1 decays"):
        cuda.sgd_update([value, value], [value, value], None, 0.1, 0.0, False, [None, None],
                        0.0, [0.0], cuda.new_status())  # fmt: skip
    with pytest.raises(ValueError, match="grad has shape"):
        cuda.sgd_update([value], [cuda.zeros((4,), np.float32)], None, 0.1, 0.0, False, [None],
                        0.0, [0.0], cuda.new_status())  # fmt: skip


# ------------------------------------------------------------------- finiteness check
@pytest.mark.parametrize(
    ("loss", "bad_grad", "before", "expected"),
    [
        (1.0, None, (0, 0), (0, 0)),
        (np.nan, 1, (0, 0), (1, 7)),  # the loss first, whatever the gradients
        (np.inf, None, (0, 0), (1, 7)),
        (1.0, 0, (0, 0), (2, 7)),
        (1.0, 2, (0, 0), (2, 7)),  # the float64 gradient
        (np.nan, 2, (2, 3), (2, 3)),  # the first bad step stays
    ],
)
def test_check_step_marks_the_status_as_check_finite_does(loss, bad_grad, before, expected):
    grads = [np.ones((3, 4), np.float32), np.ones(5, np.float32), np.ones(6, np.float64)]
    if bad_grad is not None:
        grads[bad_grad].flat[-1] = np.inf
    for xp in (cpu, cuda):
        status = xp.asarray(np.array(before, np.int64))
        loss_array = xp.asarray(np.array(loss, np.float32))
        step = xp.asarray(np.array([7], np.int64))
        xp.check_step(loss_array, [xp.asarray(g) for g in grads], step, status)
        assert tuple(xp.to_numpy(status)) == expected
        if xp is cuda:  # the same as the checks one at a time
            status = xp.asarray(np.array(before, np.int64))
            xp.check_finite(loss_array, 1, 7, status)
            for g in grads:
                xp.check_finite(xp.asarray(g), 2, 7, status)
            assert tuple(xp.to_numpy(status)) == expected


@pytest.mark.parametrize("bad", [None, 1, 3])
def test_check_step_finds_a_bad_value_after_empty_gradients(bad):
    """The gradients' elements as one numbering, empty gradients among them: the last
    element of any one is checked."""
    grads = [np.ones(0, np.float32), np.ones(19, np.float32), np.ones(0, np.float32),
             np.ones(23, np.float32)]  # fmt: skip
    if bad is not None:
        grads[bad][-1] = np.nan
    status = cuda.new_status()
    step = cuda.asarray(np.array([5], np.int64))
    loss = cuda.asarray(np.array(1.0, np.float32))
    cuda.check_step(loss, [cuda.asarray(g) for g in grads], step, status)
    assert tuple(cuda.to_numpy(status)) == ((0, 0) if bad is None else (2, 5))


def test_check_step_without_gradients_checks_the_loss():
    status = cuda.new_status()
    step = cuda.asarray(np.array([4], np.int64))
    cuda.check_step(cuda.asarray(np.array(np.nan, np.float32)), [], step, status)
    assert tuple(cuda.to_numpy(status)) == (1, 4)


# ----------------------------------------------------------------- metrics in place
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
def test_loss_and_accuracy_in_place_as_out_of_place(dtype, sparse, rng):
    """The fused update gives the metrics' out-of-place sums to the bit, into the same arrays."""
    batches = []
    for size in (5, 3):
        labels = rng.integers(0, 4, size)
        target = labels.astype(np.int32) if sparse else np.eye(4, dtype=np.float32)[labels]
        loss = np.array(rng.uniform(0, 3), np.float32)
        batches.append((loss, target, rng.standard_normal((size, 4)).astype(np.float32)))
    results = {}
    for device in DEVICES:
        xp = namespace(device)
        tracker, made = metrics.Mean("loss", dtype), metrics.CategoricalAccuracy(dtype=dtype)
        if sparse:
            made = metrics.SparseCategoricalAccuracy(dtype=dtype)
        tracker.update_state(xp.asarray(batches[0][0]), sample_weight=5)  # moves them there
        made.update_state(xp.asarray(batches[0][1]), xp.asarray(batches[0][2]))
        arrays = [tracker.total, tracker.count, made.total, made.count]
        loss, target, scores = batches[1]
        assert metrics.update_loss_and_accuracy(
            tracker, xp.asarray(loss), 3, made, xp.asarray(target), xp.asarray(scores)
        )
        assert [tracker.total, tracker.count, made.total, made.count] == arrays  # in place
        results[device] = [xp.to_numpy(a) for a in arrays]
    # out of place, as Mean and the accuracy summed before
    total = (batches[0][0].astype(dtype) * 5 + batches[1][0].astype(dtype) * 3).astype(dtype)
    hits = [
        np.sum(s.argmax(-1) == (t if sparse else t.argmax(-1))) for _, t, s in batches
    ]  # fmt: skip
    expected = [total, dtype(8), dtype(hits[0]) + dtype(hits[1]), dtype(8)]
    for device in DEVICES:
        for got, want in zip(results[device], expected, strict=True):
            assert got.dtype == dtype and got.shape == ()
            np.testing.assert_array_equal(got, want)


def test_only_a_plain_mean_and_an_argmax_accuracy_update_together(rng):
    scores = cuda.asarray(rng.standard_normal((4, 3)).astype(np.float32))
    target = cuda.asarray(np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    loss = cuda.asarray(np.array(0.5, np.float32))
    auc, weighted = metrics.AUC(), metrics.Sum()
    assert not metrics.update_loss_and_accuracy(
        metrics.Mean(), loss, 4, auc, target, scores
    )  # fmt: skip
    assert not metrics.update_loss_and_accuracy(
        weighted, loss, 4, metrics.CategoricalAccuracy(), target, scores
    )
    mean = metrics.Mean()
    assert not metrics.update_loss_and_accuracy(
        mean, loss, 4, metrics.CategoricalAccuracy(dtype="float64"), target, scores
    )
    assert float(mean.count) == 0  # nothing done


def test_a_state_left_a_numpy_scalar_is_updated_in_place_again():
    mean = metrics.Mean()
    mean.update_state(np.ones((2, 3), np.float32))  # the per-sample path: out of place
    mean.update_state(np.float32(4.0), sample_weight=2)
    assert isinstance(mean.total, np.ndarray) and mean.result() == pytest.approx(10 / 4)


# -------------------------------------------------- the product's epilogue and its gradient
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize(
    "shapes",
    [((5, 6), (6, 3)), ((2, 4, 6), (6, 3)), ((8, 40), (40, 3))],  # the last splits its k
    ids=["matrix", "batched", "split"],
)
def test_matmul_epilogue_is_bias_relu_after_the_product(shapes, relu, rng):
    a, b = (rng.standard_normal(shape).astype(np.float32) for shape in shapes)
    bias = rng.standard_normal(shapes[1][-1]).astype(np.float32)
    results = []
    for xp in (cpu, cuda):
        unfused = xp.matmul(xp.asarray(a), xp.asarray(b))
        xp.bias_relu(unfused.reshape(-1, unfused.shape[-1]), xp.asarray(bias), relu)
        fused = xp.matmul(xp.asarray(a), xp.asarray(b), bias=xp.asarray(bias), relu=relu)
        np.testing.assert_array_equal(xp.to_numpy(fused), xp.to_numpy(unfused))
        results.append(xp.to_numpy(fused))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(results[0], np.maximum(a @ b + bias, 0) if relu else a @ b + bias)


def test_matmuls_are_each_matmul_in_one_launch(launches, rng, matmul_kernel):
    a, b = rng.standard_normal((5, 7)).astype(np.float32), rng.standard_normal((5, 3))
    c = rng.standard_normal((2, 4, 7)).astype(np.float32)
    split = rng.standard_normal((8, 40)).astype(np.float32), rng.standard_normal((40, 3))
    products = [
        (a, b.astype(np.float32), True, False),  # (7, 3)
        None,
        (c, a, False, True),  # batched (2, 4, 5)
        (split[0], split[1].astype(np.float32), False, False),  # splits its contracted axis
        (a.astype(np.float64), b, True, False),
    ]
    on_gpu = [
        None if p is None else (cuda.asarray(p[0]), cuda.asarray(p[1]), *p[2:]) for p in products
    ]
    del launches[:]
    got = cuda.matmuls(*on_gpu)
    kernels = [n for n in launches if n == "_matmul_kernel.kernel"]
    assert len(kernels) == 2  # the three float32 products together (the split one too), the float64
    # and no pass adding the split parts (the other kernel copies the broadcast operand)
    assert set(launches) == {"_matmul_kernel.kernel", "_elementwise_kernel.unary"}
    assert got[1] is None and cpu.matmuls(None) == [None]
    for gpu, product in zip(got, products, strict=True):
        if product is not None:
            expected = cpu.matmul(*product)
            assert cuda.to_numpy(gpu).dtype == expected.dtype
            np.testing.assert_allclose(cuda.to_numpy(gpu), expected, rtol=1e-5, atol=1e-6)
            alone = cuda.matmul(cuda.asarray(product[0]), cuda.asarray(product[1]), *product[2:])
            np.testing.assert_array_equal(cuda.to_numpy(gpu), cuda.to_numpy(alone))


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("rows", [3, 37])  # one chunk of rows, several (the simulator's sizes)
def test_bias_relu_grad_fused_is_the_unfused_ops(relu, rows, rng):
    grad = rng.standard_normal((rows, 5)).astype(np.float32)
    out = np.maximum(rng.standard_normal((rows, 5)), 0).astype(np.float32)
    grad[1, 1], out[1, 1] = np.inf, 0.0  # a masked infinity: NaN, as grad * (out > 0) gives
    expected = grad * (out > 0) if relu else grad
    with np.errstate(invalid="ignore"):
        masked, sums = cpu.bias_relu_grad(grad, out, relu)
    np.testing.assert_array_equal(masked, expected)
    np.testing.assert_array_equal(sums, expected.sum(axis=0))
    with np.errstate(invalid="ignore"):  # the simulator's 0 * inf
        masked, sums = cuda.bias_relu_grad(cuda.asarray(grad), cuda.asarray(out), relu)
        unfused = cuda.asarray(grad) * (cuda.asarray(out) > 0) if relu else cuda.asarray(grad)
    np.testing.assert_array_equal(cuda.to_numpy(masked), expected)
    np.testing.assert_array_equal(cuda.to_numpy(sums), cuda.to_numpy(unfused.sum(axis=0)))
    np.testing.assert_allclose(cuda.to_numpy(sums), expected.sum(axis=0), rtol=1e-5)


@pytest.mark.parametrize("rows", [3, 29])
def test_relu_grad_and_column_sums_fused_is_the_unfused_kernels(rows, rng):
    grad = rng.standard_normal((rows, 6)).astype(np.float32)
    out = np.maximum(rng.standard_normal((rows, 6)), 0).astype(np.float32)
    masked, sums = cuda.relu_grad_and_column_sums(cuda.asarray(grad), cuda.asarray(out))
    host = cpu.relu_grad_and_column_sums(grad, out)
    np.testing.assert_array_equal(cuda.to_numpy(masked), host[0])
    np.testing.assert_array_equal(cuda.to_numpy(sums), cuda.to_numpy(masked.sum(axis=0)))
    np.testing.assert_allclose(cuda.to_numpy(sums), host[1], rtol=1e-5)


@pytest.mark.parametrize("images", [1, 3])  # 9 tiles (one chunk of rows), 27 (several)
def test_winograd_bias_gradient_in_the_routing_pass(images, rng):
    from autoconv.windows import window

    win = window("test", (6, 6), (3, 3), 1, 1, "same")
    products = rng.standard_normal((16, images * 3 * 3, 4)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    out, argmax = cuda.winograd_max_pool_2x2(
        cuda.asarray(products), images, win, cuda.asarray(bias), True
    )
    grad = cuda.asarray(rng.standard_normal(out.shape).astype(np.float32))
    grad_products, grad_bias = cuda.winograd_max_pool_2x2_grad(grad, out, argmax, True)
    masked = grad * (out > 0)  # the gradients the bias's are the column sums of
    np.testing.assert_array_equal(
        cuda.to_numpy(grad_bias), cuda.to_numpy(masked.reshape(-1, 4).sum(axis=0))
    )
    host_out, host_argmax = cpu.winograd_max_pool_2x2(products, images, win, bias, True)
    host = cpu.winograd_max_pool_2x2_grad(cuda.to_numpy(grad), host_out, host_argmax, True)
    for a, b in zip((grad_products, grad_bias), host, strict=True):
        np.testing.assert_allclose(cuda.to_numpy(a), b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_dense_fused_is_the_unfused_ops_to_the_bit(device, rng):
    """Dense's one op gives the values and gradients of matmul, add and relu (float32 and the
    float64 of the gradient checks alike)."""
    for dtype in (np.float32, np.float64):
        arrays = [rng.standard_normal(s).astype(dtype) for s in [(6, 5), (5, 4), (4,), (6, 4)]]
        results = []
        for fused in (True, False):
            x, w, b = (ac.Tensor(a, requires_grad=True, device=device) for a in arrays[:3])
            out = ops.matmul(x, w, b, relu=True) if fused else ops.relu(x @ w + b)
            (out * ac.Tensor(arrays[3], device=device)).sum().backward()
            results.append([out.numpy()] + [namespace(device).to_numpy(t.grad) for t in (x, w, b)])
        for a, b in zip(*results, strict=True):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ gradients kept
@pytest.mark.parametrize("device", DEVICES)
def test_owned_is_true_only_for_an_array_nothing_else_holds(device, rng):
    # (outside the asserts: pytest's rewritten asserts keep their operands in variables)
    xp = namespace(device)

    def fresh():
        return xp.asarray(rng.standard_normal((3, 4)).astype(np.float32)) * 2

    alone = fresh()
    found = [xp.owned(alone)]
    held = fresh()
    other = held
    found.append(xp.owned(held))
    viewed = fresh()
    view = viewed.reshape(12)  # a view keeps the memory shared
    found += [xp.owned(viewed), xp.owned(view)]
    found.append(xp.owned(fresh().reshape(2, 6)))  # a view of an array nothing else holds
    found.append(xp.owned(xp.broadcast_to(xp.asarray(np.ones(4, np.float32)), (3, 4))))
    assert found == [True, False, False, False, True, device == "cuda"]  # (the GPU's: a copy)
    assert other is held and view.size == 12
    if device == "cpu":
        pooled = [cpu.owned(cpu.empty((600, 600), np.float32))]  # a view of the pool's array
        pooled.append(cpu.owned(np.ones((3, 4))[:, 1:]))  # not contiguous
        pooled.append(cpu.owned(np.float32(1.0)))
        assert pooled == [True, False, False]


@pytest.mark.parametrize("device", DEVICES)
def test_leaf_gradients_are_kept_unless_shared(device, monkeypatch, rng):
    xp = namespace(device)
    copies = []
    copy = xp.copy
    monkeypatch.setattr(xp, "copy", lambda a: copies.append(a.shape) or copy(a))
    x = ac.Tensor(rng.standard_normal((4, 3)), requires_grad=True, device=device)
    w = ac.Tensor(rng.standard_normal((3, 2)), requires_grad=True, device=device)
    b = ac.Tensor(rng.standard_normal(2), requires_grad=True, device=device)
    ops.matmul(x, w, b, relu=True).sum().backward()
    assert copies == []  # each gradient is a fresh array of the backward's
    y = ac.Tensor(rng.standard_normal((4, 3)), requires_grad=True, device=device)
    z = ac.Tensor(rng.standard_normal((4, 3)), requires_grad=True, device=device)
    (y + z).sum().backward()  # add's backward hands one array to both: one of them copies it
    assert y.grad is not z.grad and len(copies) == (1 if device == "cuda" else 2)
    np.testing.assert_array_equal(xp.to_numpy(y.grad), np.ones((4, 3)))
    s = ac.Tensor(np.float32(2.0), requires_grad=True, device=device)
    before = len(copies)
    s.backward()  # a leaf's own seed (read only) is copied
    np.testing.assert_array_equal(xp.to_numpy(s.grad), 1.0)
    assert len(copies) == before + 1


def test_the_seed_is_one_array_read_only():
    a = cuda.ones_constant(cuda.zeros((), np.float32))
    assert a is cuda.ones_constant(cuda.zeros((), np.float32))
    assert float(a) == 1.0 and cuda.ones_constant(cuda.zeros((2,), np.float64)).dtype == np.float64


# --------------------------------------------------------------- a training step
def test_a_training_step_launches_each_fused_kernel_once(launches, rng, matmul_kernel):
    model = ac.Sequential(
        [
            layers.Conv2D(4, 3, activation="relu", input_shape=(6, 6, 1)),
            layers.Flatten(),
            layers.Dense(5, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ]
    ).to("cuda")
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    x = rng.random((4, 6, 6, 1)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    model.train_on_batch(x, y)  # builds the optimizer
    del launches[:]
    model.train_on_batch(x, y)
    for once in ("_kernel.update", "_check_step", "_update_metrics_kernel.kernel"):
        assert launches.count(once) == 1
    step = launches[
        launches.index("_window_kernels.im2col") :
    ]  # (before it: the status, the metrics' reset)
    assert "_check_finite" not in step and "_fill" not in step  # nor the seed's fill
    assert not [n for n in launches if n.startswith(("_unary", "_binary"))]  # no copy, no add
    # Dense's products, their gradients in pairs, the conv's product and its gradients' pair
    assert launches.count("_matmul_kernel.kernel") == 2 + 2 + 1 + 1


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((37, 5), 0), ((3, 4), 0), ((0, 3), 0), ((2, 3, 5, 7), (0, 1, 2)), ((6, 2, 3), (0, 1))],
)
@pytest.mark.parametrize("keepdims", [False, True])
def test_sums_over_leading_axes_are_column_sums_in_chunks(shape, axis, keepdims, launches, rng):
    """A sum over the leading axes (a bias's gradient) runs in the column-sum layout: a block
    of adjacent columns per chunk of rows, the last block of each column tile adding the
    chunks in order (37 rows on the simulator: 4 chunks), in one launch; NumPy's values, the
    same bits every run, and the chunk counters back at 0."""
    from autoconv.backends.cuda import reduce

    a = rng.standard_normal(shape)
    del launches[:]
    got = [cuda.to_numpy(cuda.asarray(a).sum(axis=axis, keepdims=keepdims)) for _ in range(2)]
    np.testing.assert_allclose(got[0], a.sum(axis=axis, keepdims=keepdims), rtol=1e-12)
    np.testing.assert_array_equal(got[0], got[1])
    if a.size:  # (no rows: the zeros of the reduction above)
        assert launches == ["_column_sum_kernel.kernel"] * 2
    assert not reduce.arrival_counters().copy_to_host().any()
