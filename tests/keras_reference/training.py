"""Writes training.json: what Keras 3 (JAX backend) computes and prints for the training-API
cases of tests/test_training.py, with deterministic weights. Not run by the tests; rerun by hand:

    pip install keras jax && KERAS_BACKEND=jax python tests/keras_reference/training.py
"""

import io
import json
import os
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras
from keras import layers


def weights_for(model):
    return [
        (np.sin(np.arange(np.prod(w.shape)) * 0.37 + i) * 0.3).reshape(w.shape).astype("float32")
        for i, w in enumerate(model.weights)
    ]


def data():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 4)).astype("float32")
    labels = rng.integers(0, 3, 40)
    binary = (x[:, 0] + 0.3 * rng.standard_normal(40) > 0).astype("float32")
    weights = rng.uniform(0.1, 2.0, 40).astype("float32")
    return x, labels, binary, weights


def classifier():
    return keras.Sequential([keras.Input((4,)), layers.Dense(6, activation="relu"),
                             layers.Dense(3, activation="softmax")])  # fmt: skip


def binary_model():
    return keras.Sequential([keras.Input((4,)), layers.Dense(5, activation="tanh"),
                             layers.Dense(1, activation="sigmoid")])  # fmt: skip


def run(make, compile_args, fit_args, x, y):
    keras.utils.clear_session()
    model = make()
    model.set_weights(weights_for(model))
    model.compile(**compile_args)
    out = io.StringIO()
    with redirect_stdout(out):
        history = model.fit(x, y, **fit_args)
    return {
        "history": history.history,
        "epochs": history.epoch,
        "evaluate": model.evaluate(x, y, verbose=0, return_dict=True),
        "weights": [w.tolist() for w in model.get_weights()],
        "printed": out.getvalue(),
    }


x, labels, binary, weights = data()
SPARSE = "sparse_categorical_crossentropy"
cases = {
    "positional": run(classifier, {"optimizer": "sgd", "loss": SPARSE,
                                    "metrics": ["accuracy"]},
                      {"batch_size": 16, "epochs": 2, "verbose": 0, "shuffle": False}, x, labels),
    "default_batch": run(classifier, {"optimizer": "sgd", "loss": SPARSE},
                         {"epochs": 1, "verbose": 0, "shuffle": False}, x, labels),
    "validation_split": run(classifier, {"optimizer": "adam",
                                          "loss": SPARSE,
                                          "metrics": ["accuracy"]},
                            {"batch_size": 8, "epochs": 2, "validation_split": 0.25,
                             "verbose": 2, "shuffle": False}, x, labels),
    "sample_weight": run(classifier, {"optimizer": "sgd", "loss": SPARSE,
                                       "metrics": ["accuracy"]},
                         {"batch_size": 10, "epochs": 1, "sample_weight": weights,
                          "verbose": 0, "shuffle": False}, x, labels),
    "class_weight": run(classifier, {"optimizer": "sgd", "loss": SPARSE},
                        {"batch_size": 10, "epochs": 1, "class_weight": {0: 1.0, 1: 3.0, 2: 0.5},
                         "verbose": 0, "shuffle": False}, x, labels),
    "binary": run(binary_model, {"optimizer": "rmsprop", "loss": "binary_crossentropy",
                                  "metrics": ["accuracy"]},
                  {"batch_size": 8, "epochs": 2, "verbose": 0, "shuffle": False}, x, binary),
    "initial_epoch": run(classifier, {"optimizer": "sgd", "loss": SPARSE},
                         {"batch_size": 16, "epochs": 3, "initial_epoch": 1, "verbose": 0,
                          "shuffle": False}, x, labels),
}  # fmt: skip
keras.utils.clear_session()
model = classifier()
model.set_weights(weights_for(model))
model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
cases["on_batch"] = {
    "train": model.train_on_batch(x[:16], labels[:16]),
    "test": model.test_on_batch(x[16:32], labels[16:32], return_dict=True),
    "predict": model.predict_on_batch(x[:3]).tolist(),
    "evaluate_default_batch": model.evaluate(x, labels, verbose=0),
}
cases["keras_version"] = keras.__version__
Path(__file__).with_name("training.json").write_text(json.dumps(cases, indent=1))
