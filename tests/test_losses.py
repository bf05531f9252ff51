"""autoconv.losses against NumPy transcriptions of Keras 3's formulas, Keras's own documented
numbers, float64 gradchecks, PyTorch where it has the loss, and the lookup by name.

The references below transcribe keras/src/losses/losses.py (the loss functions),
keras/src/losses/loss.py (reduce_weighted_values, apply_mask, reduce_values,
squeeze_or_expand_to_same_rank), keras/src/backend/numpy/nn.py (categorical_crossentropy,
binary_crossentropy from probabilities) and keras/src/backend/jax/nn.py (binary_crossentropy
from logits: -t * log_sigmoid(x) - (1 - t) * log_sigmoid(-x)).

(Over ~600 lines on purpose: each loss's transcribed formula lies beside its tests, as
autoconv/losses/ is one namespace.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv import losses
from autoconv.losses.functions import constant_like
from autoconv.testing import gradcheck

EPS = 1e-7  # keras.backend.epsilon()


# ------------------------------------------------------------ Keras, transcribed to NumPy
def keras_squeeze_or_expand(x1, x2, expand_rank_1=True):
    """keras/src/losses/loss.py squeeze_or_expand_to_same_rank."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def keras_reduce(values, sample_weight=None, reduction="sum_over_batch_size", mask=None):
    """keras/src/losses/loss.py reduce_weighted_values (with apply_mask and reduce_values)."""
    values = np.asarray(values)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=values.dtype)
    if mask is not None:
        mask = np.asarray(mask, dtype=values.dtype)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = mask.sum()
            mask = mask * (mask.size / valid if valid else 0.0)
        if sample_weight is not None:
            mask, sample_weight = keras_squeeze_or_expand(mask, sample_weight)
            sample_weight = sample_weight * mask
        else:
            sample_weight = mask
    if sample_weight is not None:
        values, sample_weight = keras_squeeze_or_expand(values, sample_weight)
        values = values * sample_weight
    if reduction in (None, "none") or values.shape in ((), (0,)):
        return values
    loss = values.sum()
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        total = sample_weight.sum()
        return loss / total if total else 0.0 * loss
    if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        return loss / values.size
    return loss


def log_softmax(x, axis=-1):
    """keras/src/backend/numpy/nn.py log_softmax."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def keras_mse(t, p):
    t, p = keras_squeeze_or_expand(t, p)
    return np.mean(np.square(t - p), axis=-1)


def keras_mae(t, p):
    t, p = keras_squeeze_or_expand(t, p)
    return np.mean(np.abs(t - p), axis=-1)


def keras_mape(t, p):
    t, p = keras_squeeze_or_expand(t, p)
    return 100.0 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), EPS)), axis=-1)


def keras_msle(t, p):
    t, p = keras_squeeze_or_expand(t, p)
    return np.mean(np.square(np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)), -1)


def keras_normalize(x, axis):
    """keras/src/ops/nn.py _normalize, order 2: x * min(rsqrt(sum(x**2)), 1 / epsilon)."""
    inv_norm = np.minimum(1 / np.sqrt(np.sum(x * x, axis=axis, keepdims=True)), 1 / EPS)
    return x * inv_norm


def keras_cosine(t, p, axis=-1):
    t, p = keras_squeeze_or_expand(t, p)
    return -np.sum(keras_normalize(t, axis) * keras_normalize(p, axis), axis=axis)


def keras_huber(t, p, delta=1.0):
    t, p = keras_squeeze_or_expand(t, p)
    error = p - t
    size = np.abs(error)
    return np.mean(np.where(size <= delta, 0.5 * error**2, delta * size - 0.5 * delta**2), -1)


def keras_log_cosh(t, p):
    t, p = keras_squeeze_or_expand(t, p)
    x = p - t
    return np.mean(x + np.logaddexp(-2.0 * x, 0.0) - np.log(2.0), axis=-1)


def keras_kld(t, p):
    t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    return np.sum(t * np.log(t / p), axis=-1)


def keras_poisson(t, p):
    return np.mean(p - t * np.log(p + EPS), axis=-1)


def keras_hinge_labels(t):
    return 2.0 * t - 1.0 if np.all((t == 0) | (t == 1)) else t


def keras_hinge(t, p):
    return np.mean(np.maximum(1.0 - keras_hinge_labels(t) * p, 0.0), axis=-1)


def keras_squared_hinge(t, p):
    return np.mean(np.square(np.maximum(1.0 - keras_hinge_labels(t) * p, 0.0)), axis=-1)


def keras_categorical_hinge(t, p):
    pos = np.sum(t * p, axis=-1)
    neg = np.max((1.0 - t) * p, axis=-1)
    return np.maximum(neg - pos + 1.0, 0.0)


def keras_cce(t, p, from_logits=False, label_smoothing=0.0, axis=-1):
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / t.shape[-1]
    if from_logits:
        log_prob = log_softmax(p, axis)
    else:
        p = np.clip(p / np.sum(p, axis, keepdims=True), EPS, 1 - EPS)
        log_prob = np.log(p)
    return -np.sum(t * log_prob, axis=axis)


def keras_scce(labels, p, from_logits=False, ignore_class=None):
    """losses.sparse_categorical_crossentropy + numpy nn.sparse_categorical_crossentropy."""
    labels = np.asarray(labels)
    if labels.ndim == p.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    valid = labels != ignore_class if ignore_class is not None else None
    if valid is not None:
        labels = labels * valid
        p = p * valid[..., None]
    target = np.eye(p.shape[-1])[labels.astype(int)]
    with np.errstate(invalid="ignore", divide="ignore"):  # ignored rows of zeros: 0 / 0
        res = keras_cce(target, p, from_logits)
    return res if valid is None else np.where(valid, res, 0.0)


def keras_bce(t, p, from_logits=False, label_smoothing=0.0, axis=-1):
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        log_sigmoid = lambda x: -np.logaddexp(-x, 0.0)  # noqa: E731
        bce = -t * log_sigmoid(p) - (1.0 - t) * log_sigmoid(-p)
    else:
        p = np.clip(p, EPS, 1 - EPS)
        bce = -(t * np.log(p) + (1.0 - t) * np.log(1.0 - p))
    return np.mean(bce, axis=axis)


def keras_cfce(t, p, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / t.shape[-1]
    if from_logits:
        p = np.exp(log_softmax(p, axis))
    out = np.clip(p / np.sum(p, axis=axis, keepdims=True), EPS, 1 - EPS)
    cce = -t * np.log(out)
    return np.sum(np.power(1.0 - out, gamma) * np.asarray(alpha) * cce, axis=axis)


def keras_bfce(
    t, p, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
    label_smoothing=0.0, axis=-1,
):  # fmt: skip
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = 1 / (1 + np.exp(-p))
    clipped = np.clip(p, EPS, 1 - EPS)
    bce = -(t * np.log(clipped) + (1 - t) * np.log(1 - clipped))
    p_t = t * p + (1 - t) * (1 - p)
    focal = np.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (t * alpha + (1 - t) * (1 - alpha)) * focal
    return np.mean(focal, axis=axis)


# -------------------------------------------------------------------------- the cases
def probabilities(rng, shape):
    p = rng.uniform(0.05, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


def one_hot_rows(rng, shape):
    return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]


def away_from(values, points, margin=0.05):
    """Move values out of (point - margin, point + margin): kinks stay far from the finite
    differences of a gradcheck."""
    for point in points:
        near = np.abs(values - point) < margin
        values = np.where(near, point + np.sign(values - point + 1e-12) * margin * 2, values)
    return values


def draw_regression(rng, shape):
    t = rng.standard_normal(shape)
    return t, away_from(t + rng.standard_normal(shape), [])


def draw_errors_away_from(points):
    def draw(rng, shape):
        t = rng.standard_normal(shape)
        error = away_from(rng.standard_normal(shape) * 1.5, points)
        return t, t + error

    return draw


def draw_positive(rng, shape):
    return rng.uniform(0.2, 3.0, shape), rng.uniform(0.2, 3.0, shape)


def draw_mape(rng, shape):
    t = away_from(rng.standard_normal(shape), [0.0], 0.2)
    return t, away_from(t + rng.standard_normal(shape), [])


def draw_probabilities(rng, shape):
    return probabilities(rng, shape), probabilities(rng, shape)


def draw_one_hot(rng, shape):
    return one_hot_rows(rng, shape), probabilities(rng, shape)


def draw_logits(rng, shape):
    return one_hot_rows(rng, shape), rng.standard_normal(shape) * 3


def draw_binary(rng, shape):
    return rng.integers(0, 2, shape).astype(float), rng.uniform(0.05, 0.95, shape)


def draw_binary_logits(rng, shape):
    return rng.integers(0, 2, shape).astype(float), rng.standard_normal(shape) * 3


def draw_soft_binary(rng, shape):
    return rng.uniform(0, 1, shape), rng.uniform(0.05, 0.95, shape)


def draw_hinge(signs):
    def draw(rng, shape):
        t = rng.choice(signs, shape).astype(float)
        margin = away_from(rng.standard_normal(shape) * 2, [0.0], 0.1)
        # 1 - t * p = margin => p = (1 - margin) / t, away from the hinge (t in {0, 1} -> +-1)
        sign = np.where(t == 0, -1.0, np.sign(t))
        return t, (1 - margin) / sign

    return draw


def draw_categorical_hinge(rng, shape):
    t = one_hot_rows(rng, shape)
    p = rng.permutation(np.prod(shape)).reshape(shape) * 0.37 / np.prod(shape) * 4 - 0.5
    return t, p  # distinct scores: no ties in the max


@dataclass
class Case:
    name: str
    cls: type
    ref: Any
    draw: Any
    kwargs: dict = field(default_factory=dict)

    @property
    def fn(self):
        return getattr(losses, self.name)

    @property
    def id(self):
        options = ",".join(f"{k}={v}" for k, v in self.kwargs.items())
        return f"{self.name}({options})" if options else self.name


CASES = [
    Case("mean_squared_error", losses.MeanSquaredError, keras_mse, draw_regression),
    Case("mean_absolute_error", losses.MeanAbsoluteError, keras_mae, draw_errors_away_from([0])),
    Case("mean_absolute_percentage_error", losses.MeanAbsolutePercentageError, keras_mape,
         draw_mape),
    Case("mean_squared_logarithmic_error", losses.MeanSquaredLogarithmicError, keras_msle,
         draw_positive),
    Case("cosine_similarity", losses.CosineSimilarity, keras_cosine, draw_regression),
    Case("cosine_similarity", losses.CosineSimilarity, keras_cosine, draw_regression, {"axis": 0}),
    Case("huber", losses.Huber, keras_huber, draw_errors_away_from([-1, 0, 1])),
    Case("huber", losses.Huber, keras_huber, draw_errors_away_from([-0.5, 0, 0.5]),
         {"delta": 0.5}),
    Case("log_cosh", losses.LogCosh, keras_log_cosh, draw_regression),
    Case("kl_divergence", losses.KLDivergence, keras_kld, draw_probabilities),
    Case("poisson", losses.Poisson, keras_poisson, draw_positive),
    Case("hinge", losses.Hinge, keras_hinge, draw_hinge([-1, 1])),
    Case("hinge", losses.Hinge, keras_hinge, draw_hinge([0, 1])),
    Case("squared_hinge", losses.SquaredHinge, keras_squared_hinge, draw_hinge([0, 1])),
    Case("categorical_hinge", losses.CategoricalHinge, keras_categorical_hinge,
         draw_categorical_hinge),
    Case("categorical_crossentropy", losses.CategoricalCrossentropy, keras_cce, draw_one_hot),
    Case("categorical_crossentropy", losses.CategoricalCrossentropy, keras_cce,
         draw_probabilities, {"label_smoothing": 0.2}),
    Case("categorical_crossentropy", losses.CategoricalCrossentropy, keras_cce, draw_logits,
         {"from_logits": True, "label_smoothing": 0.1}),
    Case("categorical_crossentropy", losses.CategoricalCrossentropy, keras_cce, draw_logits,
         {"from_logits": True, "axis": 0}),
    Case("binary_crossentropy", losses.BinaryCrossentropy, keras_bce, draw_binary),
    Case("binary_crossentropy", losses.BinaryCrossentropy, keras_bce, draw_soft_binary,
         {"label_smoothing": 0.3}),
    Case("binary_crossentropy", losses.BinaryCrossentropy, keras_bce, draw_binary_logits,
         {"from_logits": True}),
    Case("binary_crossentropy", losses.BinaryCrossentropy, keras_bce, draw_binary_logits,
         {"from_logits": True, "label_smoothing": 0.2, "axis": 0}),
    Case("categorical_focal_crossentropy", losses.CategoricalFocalCrossentropy, keras_cfce,
         draw_one_hot),
    Case("categorical_focal_crossentropy", losses.CategoricalFocalCrossentropy, keras_cfce,
         draw_logits, {"from_logits": True, "gamma": 1.5, "label_smoothing": 0.1}),
    Case("binary_focal_crossentropy", losses.BinaryFocalCrossentropy, keras_bfce, draw_binary),
    Case("binary_focal_crossentropy", losses.BinaryFocalCrossentropy, keras_bfce,
         draw_binary_logits, {"from_logits": True, "apply_class_balancing": True, "gamma": 3.0}),
]  # fmt: skip
IDS = [case.id for case in CASES]
SHAPES = [(5, 3), (2, 3, 4)]


def test_every_loss_has_a_case():
    # the losses Keras 3.15 added are tested against Keras itself in tests/test_losses_keras.py
    # (CTC in tests/ops/test_ctc.py)
    keras_tested = {
        losses.CategoricalGeneralizedCrossEntropy, losses.Circle, losses.CTC, losses.Dice,
        losses.Tversky,
    }  # fmt: skip
    tested = {case.cls for case in CASES} | {losses.SparseCategoricalCrossentropy}
    assert tested | keras_tested == set(losses._CLASSES)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_per_sample_values_match_keras(case, shape, rng):
    y_true, y_pred = case.draw(rng, shape)
    got = case.fn(y_true, ac.Tensor(y_pred), **case.kwargs)
    want = case.ref(y_true, y_pred, **case.kwargs)
    reduced_axis = case.kwargs.get("axis", -1) % len(shape)
    assert got.shape == shape[:reduced_axis] + shape[reduced_axis + 1 :]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_per_sample_gradcheck(case, rng):
    y_true, y_pred = case.draw(rng, (3, 4))
    assert gradcheck(lambda p: case.fn(y_true, p, **case.kwargs), [y_pred])


REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]


def sample_weights(rng, shape):
    """Weights Keras accepts for per-sample values of ``shape``: none, a scalar, one per row
    ((N,) for 1-D values, (N, 1)), one per value."""
    per_row = [rng.uniform(0, 2, shape[:1])] if len(shape) == 1 else []
    return [None, 0.7, *per_row, rng.uniform(0, 2, (shape[0], 1)), rng.uniform(0, 2, shape)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_objects_reduce_and_weight_like_keras(case, reduction, rng):
    y_true, y_pred = case.draw(rng, (4, 3, 2) if "axis" in case.kwargs else (4, 3))
    loss = case.cls(**case.kwargs, reduction=reduction)
    values = case.ref(y_true, y_pred, **case.kwargs)
    for weight in sample_weights(rng, values.shape):
        got = loss(y_true, ac.Tensor(y_pred), sample_weight=weight)
        want = keras_reduce(values, weight, reduction)
        assert got.shape == np.shape(want)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES[::3], ids=IDS[::3])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean_with_sample_weight"])
def test_weighted_loss_gradcheck(case, reduction, rng):
    y_true, y_pred = case.draw(rng, (3, 4))
    weight = rng.uniform(0.1, 2, case.ref(y_true, y_pred, **case.kwargs).shape)
    loss = case.cls(**case.kwargs, reduction=reduction)
    assert gradcheck(lambda p: loss(y_true, p, sample_weight=weight), [y_pred])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_in_float32_out(case, rng):
    y_true, y_pred = case.draw(rng, (4, 3))
    values = case.ref(y_true, y_pred.astype(np.float32), **case.kwargs)
    weight = rng.uniform(0, 2, values.shape)
    p = ac.Tensor(y_pred.astype(np.float32), requires_grad=True)
    out = case.cls(**case.kwargs)(y_true, p, sample_weight=weight)
    out.backward()
    assert out.dtype == np.float32 and p.grad.dtype == np.float32
    want = keras_reduce(values, weight)
    np.testing.assert_allclose(out.item(), want, rtol=2e-5)


# ------------------------------------------------------ sparse categorical cross-entropy
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_shape", ["flat", "column"])
@pytest.mark.parametrize("ignore_class", [None, 2, -1])
def test_sparse_crossentropy_matches_keras(from_logits, label_shape, ignore_class, rng):
    y_pred = rng.standard_normal((6, 4)) * 2 if from_logits else probabilities(rng, (6, 4))
    labels = rng.integers(0, 4, 6)
    if ignore_class is not None:
        labels[[1, 4]] = ignore_class
    y_true = labels if label_shape == "flat" else labels[:, None]
    want = keras_scce(y_true, y_pred, from_logits, ignore_class)
    got = losses.sparse_categorical_crossentropy(
        y_true, ac.Tensor(y_pred), from_logits=from_logits, ignore_class=ignore_class
    )
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    mask = None if ignore_class is None else labels != ignore_class
    weight = rng.uniform(0, 2, 6)
    for reduction in REDUCTIONS:
        loss = losses.SparseCategoricalCrossentropy(from_logits, ignore_class, reduction)
        for w in (None, weight):
            np.testing.assert_allclose(
                loss(y_true, ac.Tensor(y_pred), sample_weight=w).numpy(),
                keras_reduce(want, w, reduction, mask),
                rtol=1e-10,
                atol=1e-12,
            )
    loss = losses.SparseCategoricalCrossentropy(from_logits, ignore_class)
    assert gradcheck(lambda p: loss(y_true, p), [y_pred])
    assert gradcheck(lambda p: loss(y_true, p, sample_weight=weight), [y_pred])


def test_sparse_crossentropy_of_sequences(rng):
    y_pred = rng.standard_normal((2, 3, 4))
    labels = rng.integers(0, 4, (2, 3))
    got = losses.sparse_categorical_crossentropy(labels, ac.Tensor(y_pred), from_logits=True)
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got.numpy(), keras_scce(labels, y_pred, True), rtol=1e-10)


# ----------------------------------------------------------------- fused = general path
@pytest.mark.parametrize(
    ("loss", "sparse"),
    [
        (losses.CategoricalCrossentropy(from_logits=True), False),
        (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), False),
        (losses.SparseCategoricalCrossentropy(from_logits=True), True),
    ],
)
def test_fused_crossentropy_from_logits_equals_the_general_path(loss, sparse, rng):
    logits = rng.standard_normal((5, 4)) * 3
    labels = rng.integers(0, 4, 5)
    y_true = labels if sparse else np.eye(4)[labels]
    fused = ac.Tensor(logits, requires_grad=True)
    out = loss(y_true, fused)
    assert out._op == "softmax_cross_entropy"
    out.backward()
    general = ac.Tensor(logits, requires_grad=True)
    values, _ = loss.call_with_mask(constant_like(y_true, general), general)
    losses.reduce_values(values).backward()
    np.testing.assert_allclose(out.item(), losses.reduce_values(values).item(), rtol=1e-12)
    np.testing.assert_allclose(fused.grad, general.grad, rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------- PyTorch
def grads_of(fn, *arrays):
    tensors = [ac.Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward()
    return out.item(), [t.grad for t in tensors]


def torch_grads_of(torch, fn, *arrays):
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward()
    return out.item(), [t.grad.numpy() for t in tensors]


def assert_same(ours, theirs, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(ours[0], theirs[0], rtol=rtol, atol=atol)
    for a, b in zip(ours[1], theirs[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def test_binary_crossentropy_matches_torch(torch, rng):
    t, p = draw_binary(rng, (6, 3))
    F = torch.nn.functional
    assert_same(
        grads_of(lambda q: losses.BinaryCrossentropy()(t, q), p),
        torch_grads_of(torch, lambda q: F.binary_cross_entropy(q, torch.tensor(t)), p),
    )
    logits = rng.standard_normal((6, 3)) * 30  # saturated logits stay finite and exact
    assert_same(
        grads_of(lambda z: losses.BinaryCrossentropy(from_logits=True)(t, z), logits),
        torch_grads_of(
            torch, lambda z: F.binary_cross_entropy_with_logits(z, torch.tensor(t)), logits
        ),
    )


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.3])
def test_crossentropy_with_label_smoothing_matches_torch(label_smoothing, torch, rng):
    """torch smooths one-hot targets as Keras's categorical loss does: y * (1 - s) + s / C
    (Keras's binary loss smooths towards 0.5 instead; torch has no binary smoothing)."""
    logits = rng.standard_normal((6, 5)) * 2
    labels = rng.integers(0, 5, 6)
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)
    ref = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    assert_same(
        grads_of(lambda z: loss(np.eye(5)[labels], z, sample_weight=np.ones(6)), logits),
        torch_grads_of(torch, lambda z: ref(z, torch.tensor(labels)), logits),
    )
    assert_same(
        grads_of(lambda z: loss(np.eye(5)[labels], z), logits),  # the fused path
        torch_grads_of(torch, lambda z: ref(z, torch.tensor(labels)), logits),
    )


def test_ignore_class_matches_torch_ignore_index(torch, rng):
    logits = rng.standard_normal((7, 4))
    labels = rng.integers(0, 4, 7)
    labels[[0, 3]] = -100
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)
    assert_same(
        grads_of(lambda z: loss(labels, z), logits),
        torch_grads_of(
            torch, lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(labels)), logits
        ),
    )


@pytest.mark.parametrize(
    ("ours", "theirs", "draw"),
    [
        (losses.Huber(delta=0.7), lambda nn: nn.HuberLoss(delta=0.7),
         draw_errors_away_from([-0.7, 0, 0.7])),
        (losses.Huber(), lambda nn: nn.SmoothL1Loss(), draw_errors_away_from([-1, 0, 1])),
        (losses.MeanAbsoluteError(), lambda nn: nn.L1Loss(), draw_errors_away_from([0])),
        (losses.MeanSquaredError(), lambda nn: nn.MSELoss(), draw_regression),
    ],
    ids=["huber", "smooth_l1", "l1", "mse"],
)  # fmt: skip
def test_regression_losses_match_torch(ours, theirs, draw, torch, rng):
    t, p = draw(rng, (5, 4))
    ref = theirs(torch.nn)
    assert_same(
        grads_of(lambda q: ours(t, q), p),
        torch_grads_of(torch, lambda q: ref(q, torch.tensor(t)), p),
    )


def test_kl_divergence_matches_torch(torch, rng):
    t, p = draw_probabilities(rng, (5, 4))
    ref = torch.nn.KLDivLoss(reduction="sum")  # input log q, target p: sum p * (log p - log q)
    assert_same(
        grads_of(lambda q: losses.KLDivergence(reduction="sum")(t, q), p),
        torch_grads_of(torch, lambda q: ref(torch.log(q), torch.tensor(t)), p),
    )


def test_poisson_matches_torch(torch, rng):
    """torch's PoissonNLLLoss(log_input=False) adds 1e-8 inside the log where Keras adds 1e-7."""
    t, p = draw_positive(rng, (5, 4))
    ref = torch.nn.PoissonNLLLoss(log_input=False)
    assert_same(
        grads_of(lambda q: losses.Poisson()(t, q), p),
        torch_grads_of(torch, lambda q: ref(q, torch.tensor(t)), p),
        rtol=1e-6,
        atol=1e-7,
    )


def test_cosine_similarity_matches_torch(torch, rng):
    """torch's CosineEmbeddingLoss with target 1 is 1 - cos; Keras's loss is -cos."""
    t, p = draw_regression(rng, (5, 4))
    ref = torch.nn.CosineEmbeddingLoss()
    ones = torch.ones(5)
    ours = grads_of(lambda q: losses.CosineSimilarity()(t, q), p)
    theirs = torch_grads_of(torch, lambda q: ref(q, torch.tensor(t), ones), p)
    assert_same((ours[0] + 1, ours[1]), theirs)


# ---------------------------------------------------------------- Keras's documented values
@pytest.mark.parametrize(
    ("call", "want"),
    [
        # keras/src/losses/losses.py docstrings
        (lambda: losses.CategoricalCrossentropy()(
            [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]), 1.177),
        (lambda: losses.CategoricalCrossentropy()(
            [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
            sample_weight=np.array([0.3, 0.7])), 0.814),
        (lambda: losses.CategoricalCrossentropy(reduction="sum")(
            [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]), 2.354),
        (lambda: losses.SparseCategoricalCrossentropy(reduction=None)(
            [1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]), [0.0513, 2.303]),
        (lambda: losses.BinaryCrossentropy(from_logits=True)(
            [0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8]), 0.8654),
        (lambda: losses.BinaryCrossentropy(from_logits=True)(
            [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]], sample_weight=[0.8, 0.2]), 0.243),
        (lambda: losses.BinaryCrossentropy(from_logits=True, reduction=None)(
            [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]]), [0.235, 1.496]),
        (lambda: losses.BinaryFocalCrossentropy(gamma=2, from_logits=True)(
            [0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8]), 0.691),
        (lambda: losses.BinaryFocalCrossentropy(
            apply_class_balancing=True, gamma=3, from_logits=True)(
            [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]], sample_weight=[0.8, 0.2]), 0.097),
        (lambda: losses.BinaryFocalCrossentropy(gamma=5, from_logits=True, reduction=None)(
            [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]]), [0.0017, 1.1561]),
        (lambda: losses.CategoricalFocalCrossentropy(reduction=None)(
            [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]),
            [3.2058331e-05, 4.6627346e-01]),
        (lambda: losses.binary_crossentropy(
            [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]), [0.916, 0.714]),
        (lambda: losses.huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).mean(), 0.155),
        (lambda: losses.log_cosh([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]).mean(),
            0.108),
        (lambda: losses.cosine_similarity([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
                                          [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]),
            [-0.0, -0.99999994, 0.99999994]),
    ],
)  # fmt: skip
def test_keras_documented_values(call, want):
    np.testing.assert_allclose(call().numpy(), want, rtol=1e-3, atol=1e-3)  # docs truncate


@pytest.mark.parametrize(
    "loss",
    [losses.CategoricalCrossentropy(), losses.SparseCategoricalCrossentropy(),
     losses.BinaryCrossentropy(), losses.MeanSquaredError()],
    ids=lambda loss: loss.name,
)  # fmt: skip
def test_loss_objects_give_floatx_for_float64_arrays(loss):
    # Keras's Loss converts its inputs to its dtype: NumPy's float64 predictions (the
    # docstrings' examples) give a float32 loss; a float64 Tensor stays float64 here
    y_true = np.array([[0.0, 1.0, 0.0]]) if "sparse" not in loss.name else np.array([1])
    y_pred = np.array([[0.05, 0.9, 0.05]])
    assert loss(y_true, y_pred).dtype == np.float32
    assert loss(y_true, y_pred.tolist()).dtype == np.float32
    assert loss(y_true, ac.Tensor(y_pred)).dtype == np.float64


def test_every_loss_takes_kerass_dtype_argument(keras):
    # Keras's Loss(name, reduction, dtype) and each built-in loss's dtype, last; kept as its
    # dtype attribute, out of the config
    import inspect

    for name in dir(keras.losses):
        theirs = getattr(keras.losses, name)
        if not inspect.isclass(theirs):
            continue
        ours = getattr(losses, name)
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(theirs).parameters
        ), name
    loss = losses.Huber(dtype="float64")
    assert (loss.dtype, losses.Huber().dtype) == ("float64", "float32")
    assert "dtype" not in loss.get_config()


# -------------------------------------------------------------------- shapes and errors
def test_binary_targets_of_shape_n_fit_one_unit_outputs(rng):
    t, p = draw_binary(rng, (6, 1))
    loss = losses.BinaryCrossentropy()
    np.testing.assert_allclose(loss(t[:, 0], ac.Tensor(p)).item(), loss(t, ac.Tensor(p)).item())
    np.testing.assert_allclose(
        losses.mean_squared_error(t[:, 0], ac.Tensor(p)).numpy(), keras_mse(t, p)
    )


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: losses.categorical_crossentropy(np.zeros(4), ac.Tensor(np.ones((4, 3)))),
         ValueError, "use sparse_categorical_crossentropy, or one-hot"),
        (lambda: losses.binary_crossentropy(np.zeros((4, 2)), ac.Tensor(np.ones((4, 3)))),
         ValueError, r"binary_crossentropy: y_true shape \(4, 2\) != y_pred shape \(4, 3\)"),
        (lambda: losses.mean_squared_error(np.zeros((4, 2)), ac.Tensor(np.ones((4, 3)))),
         ValueError, r"mean_squared_error: y_true shape \(4, 2\) and y_pred shape \(4, 3\)"),
        (lambda: losses.sparse_categorical_crossentropy([0, 4], ac.Tensor(np.ones((2, 4)))),
         ValueError, r"\[0, 4\)"),
        (lambda: losses.sparse_categorical_crossentropy([0, 1, 2], ac.Tensor(np.ones((2, 4)))),
         ValueError, r"labels shape \(3,\) does not match y_pred shape \(2, 4\)"),
        (lambda: losses.sparse_categorical_crossentropy([np.nan, 1], ac.Tensor(np.ones((2, 4)))),
         ValueError, "finite"),
        (lambda: losses.sparse_categorical_crossentropy(
            [0, 1], ac.Tensor(np.ones((2, 4))), axis=2), ValueError, "not an axis of y_pred"),
        (lambda: losses.categorical_crossentropy(
            np.ones((2, 4)), ac.Tensor(np.ones((2, 4))), axis=True), ValueError, "axis must"),
        (lambda: losses.MeanSquaredError(reduction="average"), ValueError, "reduction"),
        (lambda: losses.get("no_such_loss"), ValueError, "unknown loss"),
        (lambda: losses.loss_object("no_such_loss"), ValueError, "unknown loss"),
        (lambda: losses.get(42), ValueError, "Could not interpret loss identifier: 42"),
    ],
)  # fmt: skip
def test_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_float_labels_between_classes_are_cut_toward_zero_as_kerass(keras):
    """Sparse labels of a mask resized bilinearly (keras.io's FCN: 1.5 between classes 1 and
    2) are cut toward zero, as Keras casts them to int64, in the loss function and in fit; they
    were refused as not whole numbers."""
    labels = np.array([[0.5], [2.7], [1.0], [3.99]], np.float32)
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]] * 2, np.float32)
    ours = losses.sparse_categorical_crossentropy(labels, ac.Tensor(probs)).numpy()
    theirs = keras.losses.sparse_categorical_crossentropy(labels, probs)
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), rtol=1e-6)
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    runs = []
    for lib in (ac, keras):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, activation="softmax")])
        model.set_weights([np.full((3, 4), 0.1, np.float32), np.zeros(4, np.float32)])
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        history = model.fit(x, labels, batch_size=2, epochs=1, shuffle=False, verbose=0)
        runs.append(history.history["loss"])
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5)


NEGATIVE_TARGETS = np.array([[1.0, 0.0, 0.0], [-0.5, 1.0, 0.5]])


@pytest.mark.parametrize(
    "compute",
    [
        lambda t, p: losses.categorical_crossentropy(t, p),
        lambda t, p: losses.categorical_crossentropy(t, p, from_logits=True, label_smoothing=0.1),
        lambda t, p: losses.CategoricalCrossentropy()(t, p),
        lambda t, p: losses.CategoricalCrossentropy(from_logits=True)(t, p),  # the fused path
        lambda t, p: losses.CategoricalCrossentropy(from_logits=True)(t, p, sample_weight=[1, 2]),
        lambda t, p: losses.loss_object("categorical_crossentropy")(ac.Tensor(t), p),
        lambda t, p: ac.metrics.categorical_crossentropy(t, p),
    ],
)
def test_categorical_crossentropy_refuses_targets_below_zero(compute, rng):
    """Keras computes a number from such targets; autoconv says they are no probabilities."""
    y_pred = ac.Tensor(probabilities(rng, (2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"y_true holds values below zero \(min -0.5\)"):
        compute(NEGATIVE_TARGETS, y_pred)
    compute(np.abs(NEGATIVE_TARGETS), y_pred)  # soft targets of zero or more are fine


# ----------------------------------------------------------------- lookup and configs
def test_get_gives_a_function_for_a_function_name_and_an_instance_for_a_class_name():
    """As Keras's ``losses.get``; what compile makes of them is :func:`losses.loss_object`."""
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("KLD") is losses.get("kl_divergence") is losses.kl_divergence
    values = losses.get("mean_absolute_error")(np.ones((2, 3)), ac.Tensor(np.zeros((2, 3))))
    np.testing.assert_array_equal(values.numpy(), [1.0, 1.0])  # one value per sample
    assert type(losses.get("Huber")) is losses.Huber
    assert type(losses.get(losses.LogCosh)) is losses.LogCosh
    instance = losses.BinaryCrossentropy(from_logits=True)
    assert losses.get(instance) is instance and losses.get(None) is None
    assert losses.get(len) is len
    entry = {"class_name": "Hinge", "config": {"name": "h", "reduction": "sum"}}
    assert type(losses.get(entry)) is losses.Hinge and losses.get(entry).name == "h"


def test_loss_object_by_function_name_alias_class_name_instance_class_and_callable():
    mse = losses.loss_object("mse")
    assert isinstance(mse, losses.MeanSquaredError) and mse.name == "mse"
    cce = losses.loss_object("categorical_crossentropy")
    assert type(cce) is losses.CategoricalCrossentropy and cce.name == "categorical_crossentropy"
    huber = losses.loss_object("Huber")
    assert type(huber) is losses.Huber and huber.name == "huber_loss"  # the class's name
    assert losses.loss_object("kld").name == "kld"
    assert isinstance(losses.loss_object("KLD"), losses.KLDivergence)
    instance = losses.BinaryCrossentropy(from_logits=True)
    assert losses.loss_object(instance) is instance
    assert type(losses.loss_object(losses.LogCosh)) is losses.LogCosh
    assert losses.loss_object(None) is None

    def my_loss(y_true, y_pred):
        return ac.ops.mean((y_true - y_pred) ** 2, axis=-1)

    wrapped = losses.loss_object(my_loss)
    assert isinstance(wrapped, losses.LossFunctionWrapper) and wrapped.name == "my_loss"
    t, p = np.ones((3, 2)), np.zeros((3, 2))
    assert wrapped(t, ac.Tensor(p)).item() == 1.0
    assert losses.LossFunctionWrapper(my_loss).name == "loss_function_wrapper"  # as in Keras


def test_a_loss_made_without_a_name_is_numbered_in_the_session_as_keras_s():
    """Keras's auto_name: 'custom', then 'custom_1'; a class with a default name keeps it."""

    class Custom(losses.Loss):
        def call(self, y_true, y_pred):
            return y_pred

    assert [Custom().name, Custom().name] == ["custom", "custom_1"]
    assert losses.MeanSquaredError().name == losses.MeanSquaredError().name == "mean_squared_error"


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_every_name_round_trips_through_its_config(name):
    if name in ("Loss", "LossFunctionWrapper"):
        pytest.skip("abstract")
    loss = losses.loss_object(name)
    again = losses.get(losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert losses.LOSSES[loss.name](**loss.get_config()).get_config() == loss.get_config()


def test_configs_are_keras_configs():
    assert losses.CategoricalCrossentropy(label_smoothing=0.1).get_config() == {
        "name": "categorical_crossentropy", "reduction": "sum_over_batch_size",
        "from_logits": False, "label_smoothing": 0.1, "axis": -1,
    }  # fmt: skip
    assert losses.SparseCategoricalCrossentropy(ignore_class=0, reduction="sum").get_config() == {
        "name": "sparse_categorical_crossentropy", "reduction": "sum",
        "from_logits": False, "ignore_class": 0,
    }  # fmt: skip
    assert losses.MeanAbsoluteError().get_config() == {
        "name": "mean_absolute_error", "reduction": "sum_over_batch_size"
    }  # fmt: skip
    wrapper = losses.LossFunctionWrapper(losses.huber, name="h", delta=2.0)
    assert wrapper.get_config() == {
        "name": "h", "reduction": "sum_over_batch_size", "delta": 2.0, "fn": "huber"
    }  # fmt: skip
    assert losses.get(losses.serialize(wrapper)).fn is losses.huber


def test_sparse_flag_and_with_logits():
    assert losses.loss_object("sparse_categorical_crossentropy").sparse
    assert losses.LossFunctionWrapper(losses.sparse_categorical_crossentropy).sparse
    assert not losses.loss_object("categorical_crossentropy").sparse
    smooth = losses.CategoricalCrossentropy(label_smoothing=0.1, name="cce")
    fused = losses.with_logits(smooth)
    assert fused.from_logits and fused.label_smoothing == 0.1 and fused.name == "cce"
    assert losses.with_logits(losses.SparseCategoricalCrossentropy(ignore_class=3)).ignore_class
    assert losses.with_logits(losses.CategoricalCrossentropy(from_logits=True)) is None
    assert losses.with_logits(losses.MeanSquaredError()) is None
    assert losses.with_logits(losses.CategoricalCrossentropy(axis=0)) is None


def test_with_logits_gives_the_loss_of_the_softmax(rng):
    logits = rng.standard_normal((5, 4))
    probs = np.exp(log_softmax(logits))
    labels = rng.integers(0, 4, 5)
    for loss, y in [(losses.CategoricalCrossentropy(label_smoothing=0.2), np.eye(4)[labels]),
                    (losses.SparseCategoricalCrossentropy(), labels)]:  # fmt: skip
        np.testing.assert_allclose(
            losses.with_logits(loss)(y, ac.Tensor(logits)).item(), loss(y, probs).item()
        )


@pytest.mark.parametrize(
    ("y_true", "y_pred", "want"),
    [
        ((8, 1), (8, 1), losses.BinaryCrossentropy),  # one unit: binary
        ((8,), (8, 1), losses.BinaryCrossentropy),
        ((8,), (8, 10), losses.SparseCategoricalCrossentropy),  # labels: sparse
        ((8, 1), (8, 10), losses.SparseCategoricalCrossentropy),
        ((8, 10), (8, 10), losses.CategoricalCrossentropy),
        ((8, 5, 5), (8, 5, 5, 3), losses.SparseCategoricalCrossentropy),
    ],
)
def test_crossentropy_by_shape_as_keras_compile_chooses(y_true, y_pred, want):
    """keras/src/trainers/compile_utils.py get_loss and is_binary_or_sparse_categorical."""
    for identifier in ("crossentropy", "ce", "CE"):
        loss = losses.resolve(identifier, y_true, y_pred)
        assert type(loss) is want and loss.name == identifier
    assert type(losses.resolve("mse", y_true, y_pred)) is losses.MeanSquaredError
    assert losses.resolve(None, y_true, y_pred) is None


def test_custom_loss_subclass():
    class Doubled(losses.Loss):
        def call(self, y_true, y_pred):
            return 2.0 * losses.mean_absolute_error(y_true, y_pred)

    loss = Doubled(reduction="sum")
    assert loss.name == "doubled"
    assert loss([[1.0], [3.0]], ac.Tensor([[0.0], [0.0]])).item() == 8.0


def test_a_loss_of_lists_of_tensors_gets_them_as_keras_s(keras, rng):
    """Keras's Loss converts each tensor of a structure and hands call the structures:
    keras.io's GauGAN's feature matching sums a mean absolute error per feature map of a
    discriminator's list of outputs (the last left out). Same value and gradients."""
    shapes = [(2, 4, 4, 3), (2, 2, 2, 5), (2, 1)]
    real = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    fake = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    found = []
    for lib in (losses, keras.losses):

        class FeatureMatching(lib.Loss):
            def __init__(self, lib=lib, **kwargs):
                super().__init__(**kwargs)
                self.mae = lib.MeanAbsoluteError()

            def call(self, y_true, y_pred):
                return sum(self.mae(t, p) for t, p in zip(y_true[:-1], y_pred[:-1], strict=True))

        if lib is losses:
            given = [ac.Tensor(f, requires_grad=True) for f in fake]
        else:
            torch = keras.src.backend.torch.core.torch
            given = [torch.tensor(f, requires_grad=True) for f in fake]
        value = FeatureMatching()(real, given)
        value.backward()
        grads = [np.asarray(g.grad if lib is losses else g.grad.numpy()) for g in given[:-1]]
        found.append((float(value.item()), grads))
    np.testing.assert_allclose(found[0][0], found[1][0], rtol=1e-6)
    for ours, theirs in zip(found[0][1], found[1][1], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "name", ["BinaryCrossentropy", "KLDivergence", "CategoricalCrossentropy", "MeanSquaredError"]
)
def test_a_target_with_a_gradient_gets_keras_s_gradient(name, keras, rng):
    """Keras's loss is one differentiable graph: a target computed from weights (keras.io's
    knowledge distillation: the teacher's softened predictions) gets a gradient, the same."""
    t_value, p_value = rng.uniform(0.1, 0.9, (3, 4)), rng.uniform(0.1, 0.9, (3, 4))
    t, p = ac.Tensor(t_value, requires_grad=True), ac.Tensor(p_value, requires_grad=True)
    getattr(losses, name)()(t, p).backward()
    torch = keras.src.backend.torch.core.torch
    kt, kp = (torch.tensor(v, requires_grad=True) for v in (t_value, p_value))
    getattr(keras.losses, name)()(kt, kp).backward()
    np.testing.assert_allclose(t.grad, kt.grad.numpy(), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(p.grad, kp.grad.numpy(), rtol=1e-5, atol=1e-8)


def test_targets_from_data_get_no_gradient(rng):
    t = ac.Tensor(rng.uniform(0, 1, (3, 2)))
    p = ac.Tensor(rng.uniform(0.1, 0.9, (3, 2)), requires_grad=True)
    losses.BinaryCrossentropy()(t, p).backward()
    assert t.grad is None and p.grad is not None


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck_through_targets_computed_from_weights(case, rng):
    """A target that is itself computed from trainable weights (a distillation's teacher's
    output) gets its gradient too, as in Keras, where the loss is one differentiable graph."""
    y_true, y_pred = case.draw(rng, (3, 4))
    if case.draw in (draw_one_hot, draw_logits):  # a teacher's soft labels, inside (0, 1)
        y_true = probabilities(rng, y_true.shape)
    if case.name in ("hinge", "squared_hinge"):  # +-1 labels: 0/1 ones are converted by a test
        y_true = np.where(y_true == 0, -1.0, y_true)  # of their values, a step in y_true
    assert gradcheck(lambda t, p: case.fn(t, p, **case.kwargs), [y_true, y_pred])
