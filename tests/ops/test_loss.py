"""Losses: Keras's formulas, gradchecks and PyTorch parity."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.ops.engine import one_hot
from autoconv.testing import gradcheck


@pytest.fixture
def batch(rng):
    logits = rng.standard_normal((4, 5)) * 2
    labels = np.array([0, 3, 4, 1])
    return logits, labels, one_hot(labels, 5, dtype=np.float64)


def keras_categorical_crossentropy(y_true, probs):
    probs = probs / probs.sum(-1, keepdims=True)
    probs = np.clip(probs, 1e-7, 1 - 1e-7)
    return np.mean(-(y_true * np.log(probs)).sum(-1))


def test_from_logits_matches_formula_and_gradchecks(batch):
    logits, _, target = batch
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    loss = ac.categorical_crossentropy(target, ac.Tensor(logits), from_logits=True)
    np.testing.assert_allclose(loss.item(), -(target * log_probs).sum(-1).mean(), rtol=1e-12)
    assert gradcheck(lambda z: ac.categorical_crossentropy(target, z, from_logits=True), [logits])
    # soft targets that do not sum to one take the general gradient path
    soft = np.abs(target + 0.3)
    assert gradcheck(lambda z, y: ac.softmax_cross_entropy(z, y), [logits, soft])


def test_from_probabilities_clips_like_keras(batch):
    logits, _, target = batch
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    probs[0] = [1.0, 0.0, 0.0, 0.0, 0.0]  # log(0) would be -inf without the clip
    loss = ac.categorical_crossentropy(target[::-1].copy(), ac.Tensor(probs))
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(
        loss.item(), keras_categorical_crossentropy(target[::-1], probs), rtol=1e-12
    )
    positive = np.exp(logits)
    assert gradcheck(lambda p: ac.categorical_crossentropy(target, p), [positive])


def test_sparse_equals_one_hot(batch):
    logits, labels, target = batch
    for from_logits in (True, False):
        pred = ac.Tensor(np.exp(logits) if not from_logits else logits)
        a = ac.sparse_categorical_crossentropy(labels, pred, from_logits=from_logits)
        b = ac.categorical_crossentropy(target, pred, from_logits=from_logits)
        np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)


def test_mse(rng):
    y, p = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(ac.mean_squared_error(y, ac.Tensor(p)).item(), np.mean((y - p) ** 2))
    assert gradcheck(lambda q: ac.mean_squared_error(y, q), [p])


def test_matches_torch(batch, torch):
    logits, labels, _ = batch
    z = ac.Tensor(logits, requires_grad=True)
    ac.sparse_categorical_crossentropy(labels, z, from_logits=True).backward()
    tz = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(tz, torch.tensor(labels))
    ref.backward()
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_integer_labels_for_categorical_loss_get_a_hint(batch):
    logits, labels, _ = batch
    with pytest.raises(ValueError, match="use sparse_categorical_crossentropy, or one-hot"):
        ac.categorical_crossentropy(labels, ac.Tensor(logits), from_logits=True)


def test_float32_stays_float32(batch):
    logits, labels, _ = batch
    z = ac.Tensor(logits.astype(np.float32), requires_grad=True)
    loss = ac.sparse_categorical_crossentropy(labels, z, from_logits=True)
    loss.backward()
    assert loss.dtype == np.float32 and z.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ac.categorical_crossentropy(np.ones((2, 3)), ac.Tensor(np.ones((2, 4)))), "shape"),
        (
            lambda: ac.sparse_categorical_crossentropy([0, 5], ac.Tensor(np.ones((2, 4)))),
            r"\[0, 4\)",
        ),
        (
            lambda: ac.sparse_categorical_crossentropy([0], ac.Tensor(np.ones((2, 4)))),
            "labels shape",
        ),
        (lambda: one_hot(np.array(["a"]), 3), "integers"),
    ],
)
def test_bad_targets(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_sigmoid_cross_entropy_is_exact_where_the_naive_form_overflows(torch):
    logits = np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0])
    target = np.array([1.0, 0.3, 0.0, 1.0, 0.5, 0.0, 0.0])
    z = ac.Tensor(logits, requires_grad=True)
    out = ac.ops.sigmoid_cross_entropy(z, target)
    out.backward(np.ones_like(logits))
    tz = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        tz, torch.tensor(target), reduction="none"
    )
    ref.sum().backward()
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), rtol=1e-12, atol=1e-300)
    assert z.grad[3] == 0.5 - 1.0  # sigmoid(0) - target, also at the kink of |x| and max(x, 0)


@pytest.mark.parametrize("shape", [(5,), (4, 3)])
def test_sigmoid_cross_entropy_gradchecks_for_logits_and_targets(shape, rng):
    logits = rng.standard_normal(shape) * 3
    target = rng.random(shape)
    assert gradcheck(lambda z, y: ac.ops.sigmoid_cross_entropy(z, y), [logits, target])


def test_sigmoid_cross_entropy_needs_one_shape():
    with pytest.raises(ValueError, match=r"sigmoid_cross_entropy: target shape \(3,\)"):
        ac.ops.sigmoid_cross_entropy(ac.Tensor(np.zeros((3, 1))), np.zeros(3))
