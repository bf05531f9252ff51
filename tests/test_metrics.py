"""autoconv.metrics over several batches with sample weights, against NumPy transcriptions of
Keras 3 (keras/src/metrics/accuracy_metrics.py, reduction_metrics.py, regression_metrics.py,
confusion_metrics.py, metrics_utils.py), an exact rank-statistic ROC AUC, Keras's documented
values, and the choice compile makes for 'accuracy' (keras/src/trainers/compile_utils.py)."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import losses, metrics
from tests.test_losses import keras_mae, keras_mse, keras_squeeze_or_expand

EPS = 1e-7


# ------------------------------------------------------------ Keras, transcribed to NumPy
def keras_stream_mean(batches):
    """reduction_metrics.Mean over batches of (per-sample values, sample_weight): each batch
    goes through reduce_to_samplewise_values(reduce_fn=mean), then total += sum(values) and
    count += sum(weights) (or the number of samples)."""
    total = count = 0.0
    for values, weight in batches:
        values = np.asarray(values, np.float64)
        if weight is not None:
            weight = np.asarray(weight, np.float64)
            values, weight = keras_squeeze_or_expand(values, weight)
            if values.ndim > weight.ndim:
                values = values.mean(axis=tuple(range(weight.ndim, values.ndim)))
            weight = np.broadcast_to(weight, values.shape)
            values = values * weight
            if weight.ndim > 1:
                weight = weight.mean(axis=tuple(range(1, weight.ndim)))
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        total += values.sum()
        count += weight.sum() if weight is not None else (len(values) if values.ndim else 1)
    return total / count if count else 0.0


def keras_binary_accuracy(t, p, threshold=0.5):
    t, p = keras_squeeze_or_expand(np.asarray(t, float), np.asarray(p, float))
    return np.mean(t == (p > threshold), axis=-1)


def keras_categorical_accuracy(t, p):
    return (np.argmax(t, -1) == np.argmax(p, -1)).astype(float)


def keras_sparse_categorical_accuracy(t, p):
    t = np.asarray(t)
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = t[..., 0]
    return (t == np.argmax(p, -1)).astype(float)


def keras_in_top_k(labels, p, k):
    """numpy backend in_top_k: the label's score >= the k-th largest score of its row."""
    kth = -np.sort(-p, axis=-1)[:, k - 1 : k] if k <= p.shape[-1] else p.min(-1, keepdims=True)
    return (np.take_along_axis(p, labels[:, None].astype(int), -1) >= kth)[:, 0].astype(float)


def keras_top_k_categorical_accuracy(t, p, k=5):
    return keras_in_top_k(np.argmax(t, -1), p, k)


def keras_sparse_top_k_categorical_accuracy(t, p, k=5):
    return keras_in_top_k(np.asarray(t).reshape(-1), p, k)


def keras_top_k_mask(p, k):
    """metrics_utils._filter_top_k with JAX's top_k: the k largest, the lower index first."""
    order = np.argsort(-p, axis=-1, kind="stable")[..., :k]
    mask = np.zeros_like(p)
    np.put_along_axis(mask, order, 1.0, axis=-1)
    return p * mask + metrics.NEG_INF * (1 - mask)


def keras_counts(t, p, thresholds, weight=None, top_k=None, class_id=None):
    """metrics_utils.update_confusion_matrix_variables, the general path: predictions above
    each threshold are positive, nonzero labels are positive; weighted counts (tp, fp, tn, fn).
    """
    t, p = np.asarray(t, float), np.asarray(p, float)
    p, t = keras_squeeze_or_expand(p, t)
    if weight is not None:
        _, weight = keras_squeeze_or_expand(t, np.asarray(weight, float)[..., None], False)
    if top_k is not None:
        p = keras_top_k_mask(p, top_k)
    if class_id is not None:
        t, p = t[..., class_id, None], p[..., class_id, None]
    w = np.ones_like(p) if weight is None else np.broadcast_to(weight, p.shape)
    t, p, w = t.reshape(-1), p.reshape(-1), w.reshape(-1)
    positive = p[None, :] > np.asarray(thresholds, float)[:, None]
    label = (t != 0)[None, :]
    cells = [(label, positive), (~label, positive), (~label, ~positive), (label, ~positive)]
    return [((true & predicted) * w).sum(1) for true, predicted in cells]


def keras_bucketed_counts(t, p, num_thresholds, weight=None, with_epsilon=True):
    """metrics_utils._update_confusion_matrix_variables_optimized: bucket = ceil(p * (T - 1))
    - 1 (at least 0 with epsilon end thresholds; a bucket below 0 is dropped), segment sums,
    reversed cumulative sums. In float32, the metric's dtype."""
    w = np.ones(np.shape(p)) if weight is None else np.asarray(weight, float)
    w = np.broadcast_to(w.reshape(w.shape + (1,) * (np.ndim(p) - w.ndim)), np.shape(p))
    p, w = np.clip(np.asarray(p, np.float32).reshape(-1), 0, 1), w.reshape(-1)
    t = (np.asarray(t).reshape(-1) != 0).astype(np.float64)
    bucket = np.ceil(p * np.float32(num_thresholds - 1)) - 1
    if with_epsilon:
        bucket = np.maximum(bucket, 0)
    kept = bucket >= 0
    tp = np.bincount(bucket[kept].astype(int), (t * w)[kept], minlength=num_thresholds)
    fp = np.bincount(bucket[kept].astype(int), ((1 - t) * w)[kept], minlength=num_thresholds)
    tp, fp = np.cumsum(tp[::-1])[::-1], np.cumsum(fp[::-1])[::-1]
    return tp, fp, ((1 - t) * w).sum() - fp, (t * w).sum() - tp


def no_nan(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b != 0)


def keras_auc(tp, fp, tn, fn, curve="ROC", summation_method="interpolation"):
    """confusion_metrics.AUC.result and interpolate_pr_auc, for one label."""
    if curve == "PR" and summation_method == "interpolation":
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        return no_nan(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
    recall = no_nan(tp, tp + fn)
    x, y = (no_nan(fp, fp + tn), recall) if curve == "ROC" else (recall, no_nan(tp, tp + fp))
    heights = {
        "interpolation": (y[:-1] + y[1:]) / 2,
        "minoring": np.minimum(y[:-1], y[1:]),
        "majoring": np.maximum(y[:-1], y[1:]),
    }[summation_method]
    return (x[:-1] - x[1:]) * heights


def exact_roc_auc(t, p, w):
    """The probability that a positive outscores a negative (ties count half), weighted."""
    pos, neg = t == 1, t == 0
    wins = (p[pos][:, None] > p[neg][None, :]) + 0.5 * (p[pos][:, None] == p[neg][None, :])
    weights = w[pos][:, None] * w[neg][None, :]
    return (wins * weights).sum() / weights.sum()


# --------------------------------------------------------- mean metrics over batches
def batches(rng, draw, count=3, weighted=True):
    """(y_true, y_pred, sample_weight) for ``count`` batches of different sizes; weights
    include zeros, and one batch is unweighted."""
    out = []
    for i, size in enumerate([5, 3, 6][:count]):
        y_true, y_pred = draw(rng, size)
        weight = None
        if weighted and i != 1:
            weight = rng.uniform(0, 2, size)
            weight[0] = 0.0
        out.append((y_true, y_pred, weight))
    return out


def draw_binary(rng, n):
    return rng.integers(0, 2, (n, 1)), rng.uniform(0, 1, (n, 1))


def draw_one_hot(rng, n, classes=4):
    return np.eye(classes)[rng.integers(0, classes, n)], rng.uniform(0, 1, (n, classes))


def draw_labels(rng, n, classes=4):
    return rng.integers(0, classes, n), rng.uniform(0, 1, (n, classes))


def draw_label_column(rng, n, classes=4):
    return rng.integers(0, classes, (n, 1)), rng.uniform(0, 1, (n, classes))


def draw_tied_scores(rng, n, classes=5):
    return rng.integers(0, classes, n), rng.integers(0, 3, (n, classes)).astype(float)


def draw_regression(rng, n):
    return rng.standard_normal((n, 3)), rng.standard_normal((n, 3))


MEAN_CASES = [
    (metrics.Accuracy(), lambda t, p: np.mean(t == p, -1),
     lambda rng, n: (rng.integers(0, 3, (n, 1)), rng.integers(0, 3, (n, 1)))),
    (metrics.BinaryAccuracy(), keras_binary_accuracy, draw_binary),
    (metrics.BinaryAccuracy(threshold=0.7), lambda t, p: keras_binary_accuracy(t, p, 0.7),
     lambda rng, n: (rng.integers(0, 2, n), rng.uniform(0, 1, (n, 1)))),
    (metrics.CategoricalAccuracy(), keras_categorical_accuracy, draw_one_hot),
    (metrics.SparseCategoricalAccuracy(), keras_sparse_categorical_accuracy, draw_labels),
    (metrics.SparseCategoricalAccuracy(), keras_sparse_categorical_accuracy, draw_label_column),
    (metrics.TopKCategoricalAccuracy(k=2), lambda t, p: keras_top_k_categorical_accuracy(t, p, 2),
     draw_one_hot),
    (metrics.SparseTopKCategoricalAccuracy(k=2),
     lambda t, p: keras_sparse_top_k_categorical_accuracy(t, p, 2), draw_tied_scores),
    (metrics.SparseTopKCategoricalAccuracy(), keras_sparse_top_k_categorical_accuracy,
     draw_labels),  # k=5 > 4 classes: always in the top k
    (metrics.MeanSquaredError(), keras_mse, draw_regression),
    (metrics.MeanAbsoluteError(), keras_mae, draw_regression),
    (metrics.get("msle"), lambda t, p: losses.mean_squared_logarithmic_error(t, p).numpy(),
     lambda rng, n: (rng.uniform(0, 2, (n, 2)), rng.uniform(0, 2, (n, 2)))),
    (metrics.BinaryCrossentropy(from_logits=True),
     lambda t, p: losses.binary_crossentropy(t, p, from_logits=True).numpy(),
     lambda rng, n: (rng.integers(0, 2, (n, 2)), rng.standard_normal((n, 2)))),
    (metrics.SparseCategoricalCrossentropy(),
     lambda t, p: losses.sparse_categorical_crossentropy(t, p).numpy(), draw_labels),
]  # fmt: skip
MEAN_IDS = [f"{type(m).__name__}-{i}" for i, (m, _, _) in enumerate(MEAN_CASES)]


@pytest.mark.parametrize(("metric", "reference", "draw"), MEAN_CASES, ids=MEAN_IDS)
def test_mean_metrics_over_weighted_batches(metric, reference, draw, rng):
    metric.reset_state()
    data = batches(rng, draw)
    for y_true, y_pred, weight in data:
        metric.update_state(y_true, y_pred, sample_weight=weight)
    want = keras_stream_mean([(reference(t, p), w) for t, p, w in data])
    got = metric.result()
    assert got.shape == () and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    metric.reset_state()
    assert metric.result() == 0.0
    y_true, y_pred, _ = data[0]
    np.testing.assert_allclose(metric(y_true, y_pred), reference(y_true, y_pred).mean(), 2e-6)


@pytest.mark.parametrize("metric", [metrics.CategoricalAccuracy(),
                                    metrics.SparseCategoricalAccuracy()])  # fmt: skip
def test_argmax_accuracies_count_ties_and_nans_as_keras_does(metric, rng):
    scores = rng.integers(0, 3, (12, 4)).astype(np.float32)  # ties: the first maximum counts
    scores[3, 2] = np.nan  # a NaN is the largest, as np.argmax says
    labels = rng.integers(0, 4, 12)
    labels[:5] = np.argmax(scores[:5], -1)
    y_true = labels if isinstance(metric, metrics.SparseCategoricalAccuracy) else np.eye(4)[labels]
    metric.update_state(y_true, scores)  # unweighted (N, C): counted in one backend call
    metric.update_state(y_true, scores, sample_weight=np.ones(12))  # per sample
    want = np.mean(np.argmax(scores, -1) == labels)
    assert metric.result() == np.float32(want) and want >= 5 / 12


def test_accuracy_of_sequences_is_a_mean_per_sample(rng):
    """(N, T, C) predictions: per-sample values (N, T) are averaged over T before the weights
    of the samples apply (reduce_to_samplewise_values)."""
    metric = metrics.SparseCategoricalAccuracy()
    labels, scores = rng.integers(0, 3, (4, 5)), rng.uniform(0, 1, (4, 5, 3))
    weight = np.array([1.0, 0.0, 2.0, 1.0])
    metric.update_state(labels, scores, sample_weight=weight)
    matches = (np.argmax(scores, -1) == labels).mean(-1)
    np.testing.assert_allclose(metric.result(), (matches * weight).sum() / weight.sum(), 1e-6)


def test_mean_and_sum_reduce_like_keras():
    mean = metrics.Mean()
    mean.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert mean.result() == 2.0  # keras docstring
    mean.update_state(np.array(10.0), sample_weight=4)  # a batch's mean loss, weighted by size
    assert mean.result() == (1 + 3 + 40) / 6
    mean.update_state([[1.0, 3.0], [5.0, 7.0]], sample_weight=[[1.0, 0.0], [1.0, 1.0]])
    # weights of rank 2: values weighted, then both averaged per sample
    assert mean.result() == np.float32((1 + 3 + 40 + 0.5 + 6) / (6 + 0.5 + 1))
    total = metrics.Sum()
    total.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    total.update_state(2.5)
    assert total.result() == 6.5


def test_root_mean_squared_error():
    m = metrics.RootMeanSquaredError()
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    np.testing.assert_allclose(m.result(), 0.70710677)  # keras docstring
    m.update_state([[2.0]], [[0.0]], sample_weight=[3.0])
    np.testing.assert_allclose(m.result(), np.sqrt((0.5 * 1 + 4 * 3) / (1 + 3)), rtol=1e-6)


def test_state_is_float32_and_results_have_a_tensors_numpy(rng):
    """A result is a 0-d float32 NumPy array with Keras's tensors' ``numpy()`` (keras.io's
    callback recipes call ``metric.result().numpy()``)."""
    m = metrics.CategoricalAccuracy()
    y_true, y_pred = draw_one_hot(rng, 5)
    m.update_state(ac.Tensor(y_true), ac.Tensor(y_pred, requires_grad=True))
    assert all(v.dtype == np.float32 for v in m.variables)
    result = m.result()
    assert isinstance(result, np.ndarray) and result.shape == () and result.dtype == np.float32
    assert isinstance(result.numpy(), np.float32) and result.numpy() == float(result)
    assert f"{result:.3f}" == f"{float(result):.3f}" and repr(result) == repr(np.asarray(result))
    m64 = metrics.Mean(dtype="float64")
    m64.update_state([1.0, 2.0])
    assert m64.result().dtype == np.float64


# ---------------------------------------------------------- confusion-matrix metrics
CONFUSION_CASES = [
    ({}, draw_binary),
    ({"thresholds": [0.2, 0.5, 0.9]}, draw_binary),
    ({"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}, draw_binary),  # evenly spaced: bucketed
    ({"top_k": 2}, draw_one_hot),
    ({"top_k": 2}, lambda rng, n: (np.eye(5)[rng.integers(0, 5, n)],
                                   rng.integers(0, 3, (n, 5)).astype(float))),  # ties
    ({"class_id": 2}, draw_one_hot),
    ({"top_k": 1, "class_id": 1, "thresholds": [0.3]}, draw_one_hot),
]  # fmt: skip


@pytest.mark.parametrize("cls", [metrics.Precision, metrics.Recall])
@pytest.mark.parametrize(("options", "draw"), CONFUSION_CASES)
def test_precision_and_recall_over_weighted_batches(cls, options, draw, rng):
    metric = cls(**options)
    thresholds = options.get("thresholds", [0.5 if "top_k" not in options else metrics.NEG_INF])
    evenly = thresholds == [0.0, 0.25, 0.5, 0.75, 1.0]
    counts = np.zeros((4, len(thresholds)))
    for y_true, y_pred, weight in batches(rng, draw):
        metric.update_state(y_true, y_pred, sample_weight=weight)
        if evenly:
            counts += keras_bucketed_counts(y_true, y_pred, 5, weight, with_epsilon=False)
        else:
            counts += keras_counts(
                y_true, y_pred, thresholds, weight, options.get("top_k"), options.get("class_id")
            )
    tp, fp, _, fn = counts
    want = no_nan(tp, tp + fp) if cls is metrics.Precision else no_nan(tp, tp + fn)
    got = metric.result()
    np.testing.assert_allclose(got, want[0] if len(thresholds) == 1 else want, rtol=1e-6)
    assert np.shape(got) == (() if len(thresholds) == 1 else (len(thresholds),))
    metric.reset_state()
    assert np.all(metric.result() == 0)


def test_confusion_metrics_keras_documented_values():
    p = metrics.Precision()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    np.testing.assert_allclose(p.result(), 2 / 3)
    p.reset_state()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert p.result() == 1.0
    for k, want in [(2, 0.0), (4, 0.5)]:  # ties: the lower indices are the top k
        p = metrics.Precision(top_k=k)
        p.update_state([0, 0, 1, 1], [1, 1, 1, 1])
        assert p.result() == want
    r = metrics.Recall()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    np.testing.assert_allclose(r.result(), 2 / 3)
    auc = metrics.AUC(num_thresholds=3)
    auc.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert auc.result() == 0.75
    auc.reset_state()
    auc.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert auc.result() == 1.0


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("summation_method", ["interpolation", "minoring", "majoring"])
@pytest.mark.parametrize("num_thresholds", [200, 7])
def test_auc_over_weighted_batches(curve, summation_method, num_thresholds, rng):
    metric = metrics.AUC(num_thresholds, curve, summation_method)
    counts = np.zeros((4, num_thresholds))
    for y_true, y_pred, weight in batches(rng, draw_binary):
        y_pred[1] = 0.5  # on a threshold when num_thresholds is odd
        metric.update_state(y_true, y_pred, sample_weight=weight)
        counts += keras_bucketed_counts(y_true, y_pred, num_thresholds, weight)
    want = keras_auc(*counts, curve, summation_method).sum()
    np.testing.assert_allclose(metric.result(), want, rtol=1e-5, atol=1e-7)


def test_roc_auc_is_the_exact_rank_statistic_when_no_two_scores_share_a_bucket(rng):
    num_thresholds = 1001
    buckets = rng.permutation(num_thresholds - 1)[:40]
    scores = (buckets + 0.5) / (num_thresholds - 1)
    labels = (rng.uniform(0, 1, 40) < scores).astype(int)  # informative, not perfect
    weight = rng.uniform(0.5, 2, 40)
    metric = metrics.AUC(num_thresholds=num_thresholds)
    for part in np.array_split(np.arange(40), 3):
        metric.update_state(labels[part], ac.Tensor(scores[part]), sample_weight=weight[part])
    np.testing.assert_allclose(metric.result(), exact_roc_auc(labels, scores, weight), 1e-5)
    assert 0.6 < metric.result() < 1.0


def test_auc_options(rng):
    y_true, y_pred = rng.integers(0, 2, (8, 3)), rng.uniform(0, 1, (8, 3))
    logits = np.log(y_pred / (1 - y_pred))
    plain = metrics.AUC()
    plain.update_state(y_true, y_pred)  # flattened: every label-prediction pair is a sample
    np.testing.assert_allclose(plain.result(), keras_auc(*keras_bucketed_counts(
        y_true, y_pred, 200)).sum(), rtol=1e-6)  # fmt: skip
    from_logits = metrics.AUC(from_logits=True)
    from_logits.update_state(y_true, logits)
    np.testing.assert_allclose(from_logits.result(), plain.result(), rtol=1e-6)
    label_weights = np.array([1.0, 0.0, 3.0])
    for multi_label in (False, True):
        m = metrics.AUC(multi_label=multi_label, label_weights=label_weights)
        m.update_state(y_true, y_pred)
        if multi_label:
            per_label = [keras_auc(*keras_bucketed_counts(y_true[:, j], y_pred[:, j], 200)).sum()
                         for j in range(3)]  # fmt: skip
            want = (np.array(per_label) * label_weights).sum() / label_weights.sum()
        else:
            weight = np.broadcast_to(label_weights, y_pred.shape)
            want = keras_auc(*keras_bucketed_counts(y_true, y_pred, 200, weight)).sum()
        np.testing.assert_allclose(m.result(), want, rtol=1e-6)
    explicit = metrics.AUC(thresholds=[0.3, 0.1, 0.8])  # sorted, ends added: not evenly spaced
    explicit.update_state(y_true, y_pred)
    counts = keras_counts(y_true, y_pred, [-EPS, 0.1, 0.3, 0.8, 1 + EPS])
    np.testing.assert_allclose(explicit.result(), keras_auc(*counts).sum(), rtol=1e-6)
    assert explicit.get_config()["thresholds"] == [0.1, 0.3, 0.8]
    assert explicit.thresholds == [-EPS, 0.1, 0.3, 0.8, 1 + EPS]


# ------------------------------------------------------------ functions, names, configs
def test_metric_functions_return_per_sample_tensors(rng):
    y_true, y_pred = draw_one_hot(rng, 5)
    got = metrics.categorical_accuracy(y_true, y_pred)
    assert isinstance(got, ac.Tensor) and not got.requires_grad and got.shape == (5,)
    np.testing.assert_array_equal(got.numpy(), keras_categorical_accuracy(y_true, y_pred))
    labels = np.argmax(y_true, -1)
    np.testing.assert_array_equal(
        metrics.sparse_top_k_categorical_accuracy(labels[:, None], y_pred, k=1).numpy()[:, 0],
        keras_categorical_accuracy(y_true, y_pred),
    )
    np.testing.assert_allclose(
        metrics.binary_accuracy([1, 0, 1], [0.6, 0.6, 0.4]).numpy(), 1 / 3, rtol=1e-7
    )  # y_true (3,), y_pred (3,): one sample of 3 values
    np.testing.assert_allclose(
        metrics.mean_squared_error(y_true, y_pred).numpy(), keras_mse(y_true, y_pred)
    )


def test_get_by_name_class_instance_and_callable():
    assert type(metrics.get("acc")) is metrics.Accuracy  # exact match, as 'accuracy'
    assert type(metrics.get("accuracy")) is metrics.Accuracy
    assert type(metrics.get("mae")) is metrics.MeanAbsoluteError
    assert type(metrics.get("MSE")) is metrics.MeanSquaredError
    assert type(metrics.get("AUC")) is metrics.AUC and type(metrics.get("auc")) is metrics.AUC
    assert type(metrics.get("top_k_categorical_accuracy")) is metrics.TopKCategoricalAccuracy
    assert type(metrics.get(metrics.Recall)) is metrics.Recall
    instance = metrics.Precision(thresholds=0.3)
    assert metrics.get(instance) is instance and metrics.get(None) is None

    def doubled_error(y_true, y_pred):
        return 2 * losses.mean_absolute_error(y_true, y_pred)

    wrapped = metrics.get(doubled_error)
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "doubled_error"
    wrapped.update_state([[1.0], [3.0]], [[0.0], [0.0]])
    assert wrapped.result() == 4.0
    loss_metric = metrics.get(losses.Huber())  # a Loss is a callable too: its batch means
    assert loss_metric.name == "huber_loss"
    with pytest.raises(ValueError, match="Could not interpret metric identifier: 'nope'"):
        metrics.get("nope")


@pytest.mark.parametrize(
    ("y_true", "y_pred", "want"),
    [
        ((8, 1), (8, 1), metrics.BinaryAccuracy),  # a one-unit output: binary
        ((8,), (8, 1), metrics.BinaryAccuracy),
        ((8,), (8, 10), metrics.SparseCategoricalAccuracy),  # fewer axes: sparse labels
        ((8, 1), (8, 10), metrics.SparseCategoricalAccuracy),  # a last axis of 1: sparse
        ((8, 10), (8, 10), metrics.CategoricalAccuracy),
        ((8, 2), (8, 2), metrics.CategoricalAccuracy),  # two units, one-hot
        ((8, 4, 4), (8, 4, 4, 3), metrics.SparseCategoricalAccuracy),
    ],
)
def test_accuracy_is_resolved_as_keras_compile_does(y_true, y_pred, want):
    """compile_utils.get_metric and is_binary_or_sparse_categorical: shapes decide, the loss
    does not (a binary_crossentropy over 10 units gets CategoricalAccuracy in Keras 3)."""
    for identifier in ("accuracy", "acc", "Accuracy", "ACC"):
        metric = metrics.resolve(identifier, y_true, y_pred)
        assert type(metric) is want and metric.name == identifier
    arrays = metrics.resolve("accuracy", np.zeros(y_true), ac.Tensor(np.zeros(y_pred)))
    assert type(arrays) is want


# Keras 3.15 (torch backend) on these probabilities with the labels [0, 2, 1, 1]: every sparse
# function and class takes the labels as (4,) or (4, 1), ints or floats, with the same values.
SPARSE_PROBABILITIES = np.array(
    [[0.5, 0.2, 0.3], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.6, 0.1, 0.3]]
)
SPARSE_NLL = -np.log([0.5, 0.6, 0.5, 0.1])


@pytest.mark.parametrize(
    "labels",
    [
        np.array([0, 2, 1, 1]),
        np.array([[0], [2], [1], [1]]),
        np.array([[0.0], [2.0], [1.0], [1.0]]),
    ],
    ids=["(N,)", "(N, 1)", "(N, 1) float"],
)
@pytest.mark.parametrize(
    ("compute", "want"),
    [
        (lambda t, p: metrics.sparse_categorical_accuracy(t, p), [1.0, 1.0, 1.0, 0.0]),
        (lambda t, p: metrics.sparse_categorical_crossentropy(t, p), SPARSE_NLL),
        (lambda t, p: losses.sparse_categorical_crossentropy(t, p), SPARSE_NLL),
        (lambda t, p: metrics.SparseCategoricalAccuracy()(t, p), 0.75),
        (lambda t, p: metrics.SparseTopKCategoricalAccuracy(k=1)(t, p), 0.75),
        (lambda t, p: metrics.SparseCategoricalCrossentropy()(t, p), SPARSE_NLL.mean()),
        (lambda t, p: losses.SparseCategoricalCrossentropy()(t, p), SPARSE_NLL.mean()),
        (lambda t, p: losses.SparseCategoricalCrossentropy(ignore_class=1)(t, p),
         SPARSE_NLL[:2].sum() / 2),
    ],
)  # fmt: skip
def test_sparse_labels_of_shape_n_by_1_as_keras(compute, want, labels):
    got = compute(labels, SPARSE_PROBABILITIES)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_sparse_top_k_of_column_labels_keeps_their_shape_as_keras():
    """Keras's sparse_top_k_categorical_accuracy returns (N, 1) for labels of shape (N, 1)."""
    for labels, shape in ((np.array([0, 2, 1, 1]), (4,)), (np.array([[0], [2], [1], [1]]), (4, 1))):
        got = metrics.sparse_top_k_categorical_accuracy(labels, SPARSE_PROBABILITIES, k=2)
        np.testing.assert_array_equal(got.numpy().reshape(-1), [1.0, 1.0, 1.0, 0.0])
        assert got.shape == shape


def test_resolve_names_other_metrics_as_keras_compile_does():
    assert metrics.resolve("mae", (4, 1), (4, 1)).name == "mae"
    assert metrics.resolve("mean_absolute_error", (4, 1), (4, 1)).name == "mean_absolute_error"
    assert metrics.resolve(metrics.AUC(name="my_auc"), (4, 1), (4, 1)).name == "my_auc"
    assert metrics.resolve(losses.mean_squared_error, (4, 1), (4, 1)).name == "mean_squared_error"
    assert metrics.resolve(None, (4, 1), (4, 1)) is None


def test_a_metric_made_without_a_name_is_numbered_in_the_session_as_keras_s():
    """Keras's auto_name: a class without a default name of its own gives 'mean_io_u', then
    'mean_io_u_1' (fit's logs of a second model say val_mean_io_u_1); compile's check of its
    metrics makes none (Keras 3.15: AUC() after compile is 'auc', after the first batch
    'auc_2')."""
    assert [metrics.MeanIoU(2).name, metrics.MeanIoU(2).name] == ["mean_io_u", "mean_io_u_1"]
    assert metrics.SparseCategoricalAccuracy().name == "sparse_categorical_accuracy"
    assert metrics.SparseCategoricalAccuracy().name == "sparse_categorical_accuracy"

    class Custom(metrics.Mean):
        def __init__(self, name=None):
            super().__init__(name)

    assert [Custom().name, Custom().name] == ["custom", "custom_1"]  # (its class's, as Keras's)
    assert [metrics.Metric().name, metrics.Metric().name] == ["metric", "metric_1"]
    inputs = ac.Input((3,))
    model = ac.Model(inputs, ac.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile("sgd", "bce", metrics=["auc"])
    assert metrics.AUC().name == "auc"
    model.evaluate(np.zeros((2, 3)), np.ones((2, 1)), verbose=0)
    assert metrics.AUC().name == "auc_2"


# Made only with arguments, as in Keras (their configs: tests/test_metrics_keras_more.py).
WITH_ARGUMENTS = {
    metrics.MeanMetricWrapper, metrics.IoU, metrics.MeanIoU, metrics.OneHotIoU,
    metrics.OneHotMeanIoU, metrics.PrecisionAtRecall, metrics.RecallAtPrecision,
    metrics.SensitivityAtSpecificity, metrics.SpecificityAtSensitivity,
}  # fmt: skip
NAMES = sorted(name for name, cls in metrics.METRICS.items() if cls not in WITH_ARGUMENTS)


@pytest.mark.parametrize("name", NAMES)
def test_every_metric_round_trips_through_its_config(name):
    metric = metrics.get(name)
    again = metrics.get(metrics.serialize(metric))
    assert type(again) is type(metric) and again.get_config() == metric.get_config()


def test_configs_are_keras_configs():
    assert metrics.BinaryAccuracy(threshold=0.3).get_config() == {
        "name": "binary_accuracy", "dtype": "float32", "threshold": 0.3
    }  # fmt: skip
    assert metrics.TopKCategoricalAccuracy(k=3).get_config() == {
        "name": "top_k_categorical_accuracy", "dtype": "float32", "k": 3
    }  # fmt: skip
    assert metrics.Precision(thresholds=[0.2, 0.4]).get_config() == {
        "name": "precision", "dtype": "float32", "thresholds": [0.2, 0.4], "top_k": None,
        "class_id": None,
    }  # fmt: skip
    assert metrics.AUC().get_config() == {
        "name": "auc", "dtype": "float32", "num_thresholds": 200, "curve": "ROC",
        "summation_method": "interpolation", "multi_label": False, "num_labels": None,
        "label_weights": None, "from_logits": False,
    }  # fmt: skip
    wrapper = metrics.MeanMetricWrapper(metrics.top_k_categorical_accuracy, name="top2", k=2)
    assert metrics.get(metrics.serialize(wrapper)).get_config() == wrapper.get_config()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: metrics.BinaryAccuracy(threshold=1.0), "open interval"),
        (lambda: metrics.Precision(thresholds=[0.5, 1.5]), r"Threshold values must be in \[0, 1\]"),
        (lambda: metrics.AUC(num_thresholds=1), "num_thresholds"),
        (lambda: metrics.AUC(curve="XY"), "Invalid AUC curve"),
        (lambda: metrics.AUC(summation_method="middle"), "Invalid AUC summation method"),
        (lambda: metrics.AUC(num_labels=3), "multi_label"),
        (lambda: metrics.Precision(class_id=0).update_state([1, 0], [0.3, 0.9]), "class_id"),
    ],
)
def test_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
