"""Transfer learning as Keras's guide does it: a pretrained base (here Keras's random weights
in the published layout), frozen and called with ``training=False``, under a new head; then
fine-tuned, unfrozen, at a low learning rate."""

from __future__ import annotations

import os

import numpy as np
import pytest

import autoconv as ac
import autoconv.applications as applications
from autoconv import layers
from tests.applications.reference import keras_weights

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")


def test_frozen_base_then_fine_tuning(tmp_path):
    arguments = {"include_top": False, "input_shape": (32, 32, 3), "alpha": 0.35}
    _, path = keras_weights(keras, "MobileNetV2", tmp_path / "weights.h5", **arguments)
    base = applications.MobileNetV2(weights=path, **arguments)
    base.trainable = False
    inputs = ac.Input((32, 32, 3))
    features = base(inputs, training=False)  # batch normalization in inference mode
    x = layers.GlobalAveragePooling2D()(features)
    model = ac.Model(inputs, layers.Dense(3, activation="softmax")(x))
    model.compile(optimizer=ac.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    assert len(model.trainable_weights) == 2  # the head's kernel and bias

    rng = np.random.default_rng(0)
    x_train = rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    y_train = rng.integers(0, 3, 8)
    before = {w.path: w.numpy().copy() for w in base.weights}
    head = model.layers[-1].kernel.numpy().copy()
    model.fit(x_train, y_train, batch_size=4, epochs=1, verbose=0)
    for w in base.weights:  # every weight, the moving statistics too
        np.testing.assert_array_equal(w.numpy(), before[w.path], err_msg=w.path)
    assert not np.array_equal(model.layers[-1].kernel.numpy(), head)

    base.trainable = True
    model.compile(optimizer=ac.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=4, epochs=1, verbose=0)
    moved = [
        w.path for w in base.trainable_weights if not np.array_equal(w.numpy(), before[w.path])
    ]
    assert len(moved) > len(base.trainable_weights) // 2
    assert "Conv_1/kernel" in moved
    for w in base.non_trainable_weights:  # still inference mode: the statistics stay
        np.testing.assert_array_equal(w.numpy(), before[w.path], err_msg=w.path)
