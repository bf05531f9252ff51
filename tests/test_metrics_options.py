"""Keras 3.15's options of the sparse metrics and loss, against Keras on its PyTorch backend:
``SparseCategoricalCrossentropy(ignore_class=...)`` as a metric (Keras's count: the ignored
labels are left out of it only when the batch has sample weights), the loss's ``axis``, and
``SparseTopKCategoricalAccuracy(from_sorted_ids=True)``; on both devices (the simulator)."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cudasim)]


def batches(rng, n=6, classes=4):
    """Two batches of (labels, probabilities, weights or None)."""
    for weights in (None, rng.uniform(0.5, 2.0, n)):
        y_pred = rng.dirichlet(np.ones(classes), n).astype(np.float32)
        yield rng.integers(0, classes, n), y_pred, weights


def results(metric, rng, device=None):
    """The metric's result after each batch."""
    found = []
    for y_true, y_pred, weights in batches(rng):
        y_pred = ac.Tensor(y_pred, device=device) if device else y_pred
        metric.update_state(y_true, y_pred, sample_weight=weights)
        found.append(float(metric.result()))
    return found


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ignore_class", [None, 2])
def test_sparse_categorical_crossentropy_metric_ignores_a_class_as_keras(keras, device,
                                                                         ignore_class):  # fmt: skip
    ours = ac.metrics.SparseCategoricalCrossentropy(ignore_class=ignore_class)
    theirs = keras.metrics.SparseCategoricalCrossentropy(ignore_class=ignore_class)
    seed = 3
    got = results(ours, np.random.default_rng(seed), device)
    np.testing.assert_allclose(got, results(theirs, np.random.default_rng(seed)), rtol=1e-5)
    assert ours.get_config() == theirs.get_config()


def test_sparse_categorical_crossentropy_loss_takes_kerass_axis(keras, rng):
    y_true = rng.integers(0, 3, (4, 5))
    y_pred = rng.dirichlet(np.ones(3), (4, 5)).astype(np.float32).transpose(0, 2, 1)  # classes 1
    ours = ac.losses.SparseCategoricalCrossentropy(axis=1)
    theirs = keras.losses.SparseCategoricalCrossentropy(axis=1)
    expected = float(theirs(y_true, y_pred))
    np.testing.assert_allclose(float(ours(y_true, y_pred)), expected, rtol=1e-5)
    default = ac.losses.SparseCategoricalCrossentropy()
    assert default.get_config() == keras.losses.SparseCategoricalCrossentropy().get_config()
    assert type(ours).from_config(ours.get_config()).axis == 1


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_from_sorted_ids_is_kerass(keras, device, k, rng):
    y_true = rng.integers(0, 5, 8)
    ids = np.argsort(-rng.uniform(size=(8, 5)), axis=1)[:, :3]
    ours = ac.metrics.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True)
    theirs = keras.metrics.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True)
    ours.update_state(y_true, ac.Tensor(ids.astype(np.float32), device=device))
    theirs.update_state(y_true, ids)
    assert float(ours.result()) == pytest.approx(float(theirs.result()))
    assert ours.get_config() == theirs.get_config()
    function = ac.metrics.sparse_top_k_categorical_accuracy(y_true, ids, k, from_sorted_ids=True)
    expected = keras.metrics.sparse_top_k_categorical_accuracy(y_true, ids, k, True)
    np.testing.assert_array_equal(function.numpy(), np.asarray(expected))
    plain = ac.metrics.SparseTopKCategoricalAccuracy(k=k)
    assert plain.get_config() == keras.metrics.SparseTopKCategoricalAccuracy(k=k).get_config()
