"""Writes models.json: what Keras 3 (JAX backend) prints and computes for the models of
tests/models/test_functional.py, with deterministic weights. Not run by the tests; rerun by hand:

    pip install keras jax && KERAS_BACKEND=jax python tests/keras_reference/models.py
"""

import io
import json
import os
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ["COLUMNS"] = "80"  # summary width as on a plain (non-terminal) output
import keras
from keras import layers


def weights_for(model):
    """Deterministic weights: a fixed pseudo-random pattern per weight, small values."""
    return [
        (np.sin(np.arange(np.prod(w.shape)) * 0.37 + i) * 0.3).reshape(w.shape).astype("float32")
        for i, w in enumerate(model.weights)
    ]


def data():
    rng = np.random.default_rng(0)
    xa = rng.random((20, 4)).astype("float32")
    xb = rng.random((20, 3)).astype("float32")
    y1 = np.eye(3, dtype="float32")[rng.integers(0, 3, 20)]
    y2 = rng.random((20, 1)).astype("float32")
    images = rng.random((6, 8, 8, 1)).astype("float32")
    labels = rng.integers(0, 10, 6)
    return xa, xb, y1, y2, images, labels


def summary(model, **kwargs):
    out = io.StringIO()
    with redirect_stdout(out):
        model.summary(**kwargs)
    return out.getvalue()


def two_headed():
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    h = layers.concatenate([layers.Dense(5, activation="relu")(a), b])
    out1 = layers.Dense(3, activation="softmax", name="cls")(h)
    out2 = layers.Dense(1, name="reg")(h)
    return keras.Model([a, b], [out1, out2])


def residual():
    inputs = keras.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, activation="relu", padding="same")(inputs)
    y = layers.Conv2D(4, 3, padding="same")(x)
    x = layers.add([x, y])
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


def nested():
    inner = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(4)], name="inner")
    inputs = keras.Input((3,))
    outer = keras.Model(inputs, layers.Dense(2)(inner(inputs)))
    inner.trainable = False
    return outer


result = {}
xa, xb, y1, y2, images, labels = data()
keras.utils.clear_session()
model = two_headed()
model.set_weights(weights_for(model))
model.compile(
    "sgd", ["categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
    metrics=[["accuracy"], ["mae"]],
)  # fmt: skip
result["two_headed"] = {
    "summary": summary(model),
    "evaluate": model.evaluate([xa, xb], [y1, y2], batch_size=8, verbose=0, return_dict=True),
    "evaluate_list": model.evaluate([xa, xb], [y1, y2], batch_size=8, verbose=0),
    "predict": [p.tolist() for p in model.predict([xa, xb], verbose=0)],
}
history = model.fit([xa, xb], [y1, y2], batch_size=5, epochs=2, shuffle=False, verbose=0)
result["two_headed"]["history"] = history.history
keras.utils.clear_session()
model = residual()
model.set_weights(weights_for(model))
model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
result["residual"] = {
    "summary": summary(model),
    "predict": model.predict(images, verbose=0).tolist(),
    "train_on_batch": model.train_on_batch(images, labels),
    "after": [w.tolist() for w in model.get_weights()],
}
keras.utils.clear_session()
model = nested()
result["nested"] = {
    "summary": summary(model),
    "expanded": summary(model, expand_nested=True, show_trainable=True),
    "paths": [w.path for w in model.weights],
    "trainable": len(model.trainable_weights),
    "non_trainable": len(model.non_trainable_weights),
}
result["keras_version"] = keras.__version__
Path(__file__).with_name("models.json").write_text(json.dumps(result, indent=1))
