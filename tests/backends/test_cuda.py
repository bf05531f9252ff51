"""The CUDA backend against the CPU one: every op of the core table, conv and pooling sweeps,
the optimizers, one training step, fit's device-side loop, and the clear errors.

They run on numba's CUDA simulator unless this machine has a GPU (see tests/conftest.py).
Shapes are tiny: the simulator runs every GPU thread as a Python thread. Tests marked ``gpu``
need real hardware and are skipped on the simulator.
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest

import autoconv as ac
from autoconv import backends, layers, models
from autoconv.backends import DeviceUnavailableError, namespace
from tests.conftest import distinct
from tests.ops.test_core_ops import CASES, IDS, draw_inputs

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from autoconv.backends import cuda as cuda_backend  # noqa: E402 - needs numba-cuda

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


@pytest.mark.parametrize("name", ["add", "matmul", "sum_axis", "max_axis", "sigmoid", "softmax"])
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


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize(("m", "k", "n"), [(3, 200, 5), (40, 70, 3), (70, 9, 33)])
def test_matmul_kernel_with_split_contraction_and_transposes(m, k, n, transpose_a, rng):
    """Few output tiles and a long contracted axis split it over blocks (see SPLIT_K)."""
    a = rng.standard_normal((k, m) if transpose_a else (m, k))
    b = rng.standard_normal((k, n))
    xp = namespace("cuda")
    got = xp.to_numpy(xp.matmul(xp.asarray(a), xp.asarray(b), transpose_a=transpose_a))
    np.testing.assert_allclose(got, (a.T if transpose_a else a) @ b, rtol=1e-12, atol=1e-12)


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
def test_pooling_matches_cpu(kind, pool, strides, padding, rng):
    op = {"max": ac.max_pool2d, "avg": ac.avg_pool2d}[kind]
    x = (rng.permutation(2 * 5 * 7 * 2) * 0.01).reshape(2, 5, 7, 2)  # no ties
    assert_same_on_both(lambda t: op(t, pool, strides, padding), [x], rng)


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
    ("adagrad", {"clipnorm": 0.5}),
    ("adadelta", {"learning_rate": 1.0}),
    ("lion", {"weight_decay": 0.1}),
    ("ftrl", {"l1_regularization_strength": 0.01, "l2_shrinkage_regularization_strength": 0.1}),
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


@pytest.mark.parametrize("name", ["adam", "ftrl"])
def test_optimizer_skips_the_update_once_status_is_set(name):
    param = ac.Tensor(np.ones(5, np.float32), requires_grad=True, device="cuda")
    param.grad = namespace("cuda").asarray(np.ones(5, np.float32))
    status = namespace("cuda").asarray(np.array([2, 0]))
    optimizer = ac.optimizers.get(name, weight_decay=0.1, global_clipnorm=1.0)
    optimizer.step([param], status)
    np.testing.assert_array_equal(param.numpy(), np.ones(5))
    fresh = ac.optimizers.get(name)  # its slots as they start
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
    for mine, theirs in zip(gpu_model.parameters(), cpu_model.parameters(), strict=True):
        mine.data = theirs.data.copy()
    for model in (cpu_model, gpu_model):
        model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    return cpu_model, gpu_model.to("cuda")


def tiny_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.random((n, 6, 6, 1)).astype(np.float32)
    y = ac.utils.to_categorical((x[:, :3].mean(axis=(1, 2, 3)) * 6).astype(int) % 3, 3)
    return x, y


def test_one_training_step_matches_cpu(rng):
    x, y = tiny_data(8, rng)
    results = []
    for model in twin_models():
        params = model.parameters()
        loss, correct = model.compute_loss(x, y, training=True)
        model.optimizer.zero_grad(params)
        loss.backward()
        grads = [namespace(model.device).to_numpy(p.grad) for p in params]
        model.optimizer.step(params)
        results.append((loss.item(), float(correct), grads, [p.numpy() for p in params]))
    (cpu_loss, cpu_correct, cpu_grads, cpu_after), (gpu_loss, gpu_correct, gpu_grads, gpu_after) = (
        results
    )
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=1e-5)
    assert gpu_correct == cpu_correct
    for a, b in zip(gpu_grads + gpu_after, cpu_grads + cpu_after, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_fit_on_the_gpu_matches_cpu_and_reads_back_only_to_report(monkeypatch, rng):
    x, y = tiny_data(40, rng)
    cpu_model, gpu_model = twin_models()
    cpu_history = cpu_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    reads = []
    to_numpy = cuda_backend.to_numpy
    monkeypatch.setattr(cuda_backend, "to_numpy", lambda a: reads.append(a.shape) or to_numpy(a))
    monkeypatch.setattr(cuda_backend.CudaArray, "__float__", lambda a: pytest.fail("read back"))
    monkeypatch.setattr(models, "SYNC_SECONDS", 1e9)  # report only at the end of an epoch
    gpu_history = gpu_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert reads == [(3,), (2,)] * 2  # totals and status, once per epoch; 3 batches each
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
    for mine, theirs in zip(gpu_model.parameters(), cpu_model.parameters(), strict=True):
        mine.data = theirs.data.copy()
    gpu_model.to("cuda")
    x = rng.standard_normal((5, 7, 7, 2)).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 3, 5), 3)
    results = []
    for m in (cpu_model, gpu_model):
        m.compile("sgd", loss)
        loss_value, _ = m.compute_loss(x, y, training=False)
        loss_value.backward()
        grads = [namespace(m.device).to_numpy(p.grad) for p in m.parameters()]
        results.append((loss_value.item(), grads))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    for gpu_grad, cpu_grad in zip(results[1][1], results[0][1], strict=True):
        np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-4, atol=1e-6)
    history = gpu_model.fit(x, y, epochs=2, batch_size=2, validation_split=0.4, verbose=0)
    assert np.isfinite(history.history["val_loss"]).all()


def test_sparse_labels_and_shuffling_on_the_gpu(rng):
    x, y = tiny_data(24, rng)
    _, gpu_model = twin_models()
    gpu_model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = gpu_model.fit(x, y.argmax(axis=1), epochs=2, batch_size=8, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        gpu_model.fit(x, np.full(24, 3), epochs=1, verbose=0)


def test_a_step_allocates_nothing_new_once_warm(monkeypatch, rng):
    x, y = tiny_data(8, rng)
    _, model = twin_models()
    params = model.parameters()

    def step():
        loss, _ = model.compute_loss(x, y, training=True)
        model.optimizer.zero_grad(params)
        loss.backward()
        model.optimizer.step(params)

    step()
    step()
    allocations = []
    device_array = cuda_backend.array.cuda.device_array
    monkeypatch.setattr(
        cuda_backend.array.cuda,
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
    before = [p.numpy() for p in model.parameters()]
    with pytest.raises(models.TrainingDivergedError, match="epoch 1, batch 2"):
        model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    after = [p.numpy() for p in model.parameters()]
    assert all(np.isfinite(a).all() for a in after)
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


def test_save_a_gpu_model_and_load_it_on_the_cpu(tmp_path, rng):
    x, y = tiny_data(16, rng)
    _, model = twin_models()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = ac.models.load_model(tmp_path / "m.npz")
    for mine, theirs in zip(loaded.parameters(), model.parameters(), strict=True):
        np.testing.assert_array_equal(mine.data, theirs.numpy())
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-5, atol=1e-6)


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
    for mine, theirs in zip(gpu_model.parameters(), cpu_model.parameters(), strict=True):
        mine.data = theirs.data.copy()
    gpu_model.to("cuda")
    x = rng.random((64, 28, 28, 1)).astype(np.float32)
    y = ac.utils.to_categorical(rng.integers(0, 10, 64), 10)
    for model in (cpu_model, gpu_model):
        model.compile("rmsprop", "categorical_crossentropy")
        loss, _ = model.compute_loss(x, y)
        loss.backward()
        model.optimizer.step(model.parameters())
    for mine, theirs in zip(gpu_model.parameters(), cpu_model.parameters(), strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-3, atol=1e-5)
