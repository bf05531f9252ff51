"""The reference model really learns MNIST: a fast run on a few thousand samples."""

from __future__ import annotations

import autoconv as ac
from autoconv.course import prepare, reference_model


def test_reference_model_learns_mnist_quickly():
    ac.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = ac.datasets.mnist.load_data(download=False)
    x_train, y_train = prepare(x_train[:4000], y_train[:4000], "mnist")
    x_test, y_test = prepare(x_test[:1000], y_test[:1000], "mnist")
    model = reference_model()
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
    assert history.history["accuracy"][1] > history.history["accuracy"][0]
    assert accuracy > 0.90, f"test accuracy {accuracy:.3f} after 2 epochs on 4000 samples"
