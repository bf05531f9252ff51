"""Writes the legacy ``.h5`` files Keras 3 writes (``model.save("name.h5")``) that
tests/saving/test_legacy_h5.py reads, with Keras's predictions. Not run by the tests; rerun by
hand (with torch installed, for Keras's PyTorch backend):

    pip install "keras==3.15.1" torch && python tests/keras_reference/legacy_h5_files.py

It writes tests/saving/files/legacy_sequential.h5 (compiled with Adam and trained a step),
legacy_functional.h5 (a nested Sequential, a shared Dense, an Add) and legacy_expected.json.
"""

import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
from keras import layers

OUT = Path(__file__).resolve().parents[1] / "saving" / "files"


def deterministic(model):
    """A fixed pattern for every weight (a moving variance kept positive)."""
    values = []
    for i, w in enumerate(model.weights):
        value = np.sin(np.arange(np.prod(w.shape)) * 0.37 + i).reshape(w.shape) * 0.3
        values.append((np.abs(value) + 0.5 if "variance" in w.name else value).astype("float32"))
    model.set_weights(values)


def sequential():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            layers.Conv2D(3, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.BatchNormalization(),
            layers.Flatten(),
            layers.Dropout(0.5, seed=1),
            layers.Dense(4, activation="softmax"),
        ],
        name="legacy_sequential",
    )
    deterministic(model)
    return model


def functional():
    inputs = keras.Input((5,), name="x")
    inner = keras.Sequential([layers.Dense(3, activation="tanh")], name="inner")
    shared = layers.Dense(3, name="shared")
    merged = layers.add([inner(inputs), shared(inputs)])
    outputs = layers.Dense(2, activation="softmax", name="out")(shared(layers.Dense(5)(merged)))
    model = keras.Model(inputs, outputs, name="legacy_functional")
    deterministic(model)
    return model


def main():
    rng = np.random.default_rng(0)
    images = rng.random((4, 6, 6, 1)).astype("float32")
    labels = np.array([0, 1, 2, 3])
    vectors = rng.random((3, 5)).astype("float32")
    model = sequential()
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    model.train_on_batch(images, labels)
    model.save(OUT / "legacy_sequential.h5")
    before = model.predict(images, verbose=0)
    model.layers[4].rate = 0.0  # the next step without dropout, whose masks are Keras's own
    model.train_on_batch(images, labels)
    after = model.predict(images, verbose=0)
    other = functional()
    other.save(OUT / "legacy_functional.h5")
    expected = {
        "images": images.tolist(),
        "labels": labels.tolist(),
        "sequential": before.tolist(),
        "sequential_after_a_step": after.tolist(),
        "vectors": vectors.tolist(),
        "functional": other.predict(vectors, verbose=0).tolist(),
    }
    (OUT / "legacy_expected.json").write_text(json.dumps(expected))


if __name__ == "__main__":
    main()
