"""The CUDA losses and metrics against the CPU's: softmax (in one launch or the CPU's steps),
the cross-entropies and their fused gradients, the accuracy counts, every loss and metric class,
and their state kept on the device. On the simulator or a GPU, as test_cuda.py says."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import backends, losses, metrics
from autoconv.backends import namespace

pytest.importorskip("numba_cuda")
pytestmark = pytest.mark.cudasim

from autoconv.backends import cuda as cuda_backend  # noqa: E402 - needs numba-cuda
from autoconv.backends.cuda import loss  # noqa: E402
from tests.backends.cuda_checks import (  # noqa: E402
    assert_same_on_both,
)


def test_sigmoid_cross_entropy_and_its_gradient_in_one_pass_each_on_both_devices(rng):
    """max(x, 0) - x z + log(1 + e^-|x|) and g (sigmoid(x) - z) as the composed ops had them
    (the CPU to the bit, the GPU within float32 rounding), with no overflow at |x| = 100, NaN
    kept; mismatched shapes refused before any work."""
    x = rng.standard_normal((6, 3)).astype(np.float32) * 4
    x[0] = [100.0, -100.0, np.nan]
    z = rng.random((6, 3)).astype(np.float32)
    g = rng.standard_normal((6, 3)).astype(np.float32)
    decay = np.exp(-np.abs(x))
    loss = np.maximum(x, 0) - x * z + np.log(1 + decay)
    grad = g * (np.exp(np.minimum(x, 0)) / (1 + decay) - z)
    assert np.isfinite(loss[0, :2]).all() and np.isfinite(grad[0, :2]).all()
    for xp in (backends.namespace("cpu"), cuda_backend):
        got_loss = xp.to_numpy(xp.sigmoid_cross_entropy(xp.asarray(x), xp.asarray(z)))
        got_grad = xp.to_numpy(
            xp.sigmoid_cross_entropy_grad(xp.asarray(g), xp.asarray(x), xp.asarray(z))
        )
        tolerance = {"rtol": 0, "atol": 0} if xp is not cuda_backend else {"rtol": 2e-6}
        np.testing.assert_allclose(got_loss, loss, **tolerance)
        np.testing.assert_allclose(got_grad, grad, **tolerance)
        with pytest.raises(ValueError, match="sigmoid_cross_entropy: target must have shape"):
            xp.sigmoid_cross_entropy(xp.asarray(x), xp.asarray(z[:2]))
        with pytest.raises(ValueError, match="sigmoid_cross_entropy_grad: logits must have"):
            xp.sigmoid_cross_entropy_grad(xp.asarray(g[:2]), xp.asarray(x), xp.asarray(z))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_cross_entropy_op_matches_cpu(dtype, rng):
    """The op's values and gradients (logits and targets) on the GPU as on the CPU."""
    logits, target = rng.standard_normal((4, 3)) * 3, rng.random((4, 3))
    assert_same_on_both(ac.ops.sigmoid_cross_entropy, [logits, target], rng, dtype)


@pytest.mark.parametrize("rows_launch", [True, False], ids=["one_launch", "cpu_steps"])
@pytest.mark.parametrize(
    ("shape", "axis"),
    [
        ((17, 10), -1),
        ((2, 3, 1), -1),
        ((3, 64), -1),
        ((2, 65), -1),
        ((4, 5, 3), 1),
        ((4, 5), (0, 1)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_matches_cpu_in_one_launch_or_the_cpus_steps(
    shape, axis, rows_launch, dtype, rng, monkeypatch
):
    """Short last-axis rows in one launch (a thread a row: more rows than the simulator's
    threads), longer ones and other axes by the CPU's steps; the gradient is the op's own."""
    monkeypatch.setattr(loss, "ROW_SOFTMAX_COLUMNS", 64 if rows_launch else 0)
    launched = []
    counted = loss.launch

    def launch(kernel, work):
        launched.append(kernel)
        return counted(kernel, work)

    monkeypatch.setattr(loss, "launch", launch)
    x = rng.standard_normal(shape) * 4
    assert_same_on_both(lambda a: ac.softmax(a, axis=axis), [x], rng, dtype)
    one_launch = rows_launch and axis == -1 and shape[-1] <= 64
    assert launched == ([loss._softmax_rows] if one_launch else [])


@pytest.mark.parametrize("rows_launch", [True, False], ids=["one_launch", "cpu_steps"])
def test_softmax_rows_with_infinities_and_nans_are_the_cpus(rows_launch, monkeypatch):
    """A NaN or an infinity in a row makes the row NaN, a -inf entry a 0, on both devices."""
    monkeypatch.setattr(loss, "ROW_SOFTMAX_COLUMNS", 64 if rows_launch else 0)
    inf, nan = np.inf, np.nan
    x = np.array([[1.0, 2.0, 3.0], [-inf, 0.0, 1.0], [inf, 0.0, 1.0], [nan, 0.0, 1.0], [-inf] * 3])
    expected = ac.softmax(ac.Tensor(x)).numpy()
    ours = ac.softmax(ac.Tensor(x).to("cuda")).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    assert np.isnan(ours[2:]).all() and ours[1, 0] == 0


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


def loss_cases(rng):
    """(loss, y_true, y_pred, sample_weight) for a few losses, tiny."""
    labels = np.array([0, 2, 1, 2, 1])
    logits = rng.standard_normal((5, 3)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    binary = rng.integers(0, 2, (5, 3)).astype(float)
    weight = rng.uniform(0.2, 2, 5)
    errors = np.where(rng.uniform(0, 1, (5, 3)) < 0.5, 0.2, 1.3) * rng.choice([-1, 1], (5, 3))
    device_labels = cuda_backend.asarray(labels.astype(np.int32))  # labels already on the GPU
    return [
        (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), binary, logits, weight),
        (losses.BinaryCrossentropy(), binary, probs, None),
        (losses.CategoricalCrossentropy(label_smoothing=0.2), np.eye(3)[labels], probs, weight),
        (losses.CategoricalCrossentropy(from_logits=True), np.eye(3)[labels], logits, None),
        (losses.SparseCategoricalCrossentropy(from_logits=True), device_labels, logits, None),
        (losses.SparseCategoricalCrossentropy(ignore_class=1), device_labels, probs, weight),
        (losses.Huber(delta=0.5), binary, binary + errors, weight),
        (losses.Hinge(), binary, logits, None),  # 0/1 labels made -1/1 on the device
        (losses.CosineSimilarity(), logits, probs, weight),
        (losses.LogCosh(reduction="sum"), binary, logits, None),
    ]


@pytest.mark.parametrize("index", range(10))
def test_loss_matches_cpu(index, rng):
    loss, y_true, y_pred, weight = loss_cases(rng)[index]
    assert_same_on_both(lambda p: loss(y_true, p, sample_weight=weight), [y_pred], rng)


def metric_cases():
    return [
        metrics.CategoricalAccuracy,
        metrics.SparseCategoricalAccuracy,
        lambda: metrics.SparseTopKCategoricalAccuracy(k=2),
        metrics.BinaryAccuracy,
        lambda: metrics.Precision(top_k=2),
        lambda: metrics.Recall(thresholds=[0.2, 0.6]),
        lambda: metrics.AUC(num_thresholds=7),
        lambda: metrics.AUC(curve="PR", from_logits=True),
        metrics.RootMeanSquaredError,
        metrics.Hinge,
    ]


@pytest.mark.parametrize("index", range(10))
def test_metric_state_stays_on_the_gpu_until_result(index, monkeypatch, rng):
    cpu, gpu = metric_cases()[index](), metric_cases()[index]()
    sparse = isinstance(
        cpu, metrics.SparseCategoricalAccuracy | metrics.SparseTopKCategoricalAccuracy
    )
    binary = isinstance(cpu, metrics.BinaryAccuracy | metrics.AUC)
    batches = []
    for weighted in (False, True):
        labels = rng.integers(0, 3, 4)
        y_true = labels if sparse else np.eye(3)[labels]
        y_pred = rng.uniform(0, 1, (4, 1 if binary else 3))
        if binary:
            y_true = labels[:, None] % 2
        batches.append((y_true, y_pred, rng.uniform(0, 2, 4) if weighted else None))
    for y_true, y_pred, weight in batches:
        cpu.update_state(y_true, y_pred, sample_weight=weight)
    monkeypatch.setattr(cuda_backend, "to_numpy", lambda a: pytest.fail("read back"))
    monkeypatch.setattr(cuda_backend.CudaArray, "__float__", lambda a: pytest.fail("read back"))
    for y_true, y_pred, weight in batches:
        on_gpu = cuda_backend.asarray(y_true.astype(np.int32) if sparse else y_true)
        gpu.update_state(on_gpu, ac.Tensor(y_pred, device="cuda"), sample_weight=weight)
    assert gpu.device == "cuda"
    assert all(isinstance(v.data, cuda_backend.CudaArray) for v in gpu.variables)
    monkeypatch.undo()
    np.testing.assert_allclose(gpu.result(), cpu.result(), rtol=1e-5, atol=1e-7)


def test_mean_of_device_losses_weighted_by_batch_size():
    mean = metrics.Mean(name="loss")
    for value, size in [(0.5, 4), (2.0, 1)]:
        mean.update_state(ac.Tensor(np.float32(value), device="cuda").data, sample_weight=size)
    assert mean.device == "cuda"
    np.testing.assert_allclose(mean.result(), (0.5 * 4 + 2.0) / 5)
