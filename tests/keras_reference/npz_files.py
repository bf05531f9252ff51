"""Writes the files of autoconv's own format before Keras's (an .npz archive, under any name)
that tests/saving/test_npz_file.py reads: run with the autoconv of commit 0217d10 (the last to
write them), from a checkout of it, into this folder's files/:

    git worktree add /tmp/old 0217d10
    PYTHONPATH=/tmp/old python tests/keras_reference/npz_files.py tests/saving/files

Then rename sequential.keras -> npz_sequential.keras, functional.keras ->
npz_functional.keras, sequential.weights.npz -> npz_sequential.weights.npz and expected.json
-> npz_expected.json (as committed). Not run by the tests.
"""

import json
import sys

import numpy as np

import autoconv as ac
from autoconv import layers

out = sys.argv[1]
ac.utils.set_random_seed(0)
seq = ac.Sequential(
    [
        layers.Input((8, 8, 1)),
        layers.Conv2D(4, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.BatchNormalization(),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(3, activation="softmax"),
    ],
    name="small_convnet",
)
seq.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
rng = np.random.default_rng(0)
x = rng.random((16, 8, 8, 1), dtype=np.float32)
y = rng.integers(0, 3, 16)
seq.fit(x, y, epochs=1, batch_size=8, verbose=0)
seq.class_names = ["a", "b", "c"]
seq.save(f"{out}/sequential.keras")
seq.save_weights(f"{out}/sequential.weights.npz")
a = ac.Input((4,), name="a")
b = ac.Input((3,), name="b")
h = layers.concatenate([layers.Dense(5, activation="relu")(a), b])
fm = ac.Model(
    [a, b],
    [layers.Dense(2, activation="softmax", name="cls")(h), layers.Dense(1, name="reg")(h)],
    name="two_headed",
)
fm.compile("adam", ["categorical_crossentropy", "mse"], metrics=[["accuracy"], []])
xa = rng.random((8, 4), dtype=np.float32)
xb = rng.random((8, 3), dtype=np.float32)
fm.fit([xa, xb], [np.eye(2)[rng.integers(0, 2, 8)], rng.random((8, 1))], epochs=1, verbose=0)
fm.save(f"{out}/functional.keras")
expected = {
    "x": x[:4].tolist(),
    "sequential": seq.predict(x[:4], verbose=0).tolist(),
    "xa": xa[:2].tolist(),
    "xb": xb[:2].tolist(),
    "functional": [o.tolist() for o in fm.predict([xa[:2], xb[:2]], verbose=0)],
    "sequential_iterations": seq.optimizer.iterations,
    "functional_iterations": fm.optimizer.iterations,
}
json.dump(expected, open(f"{out}/expected.json", "w"))
print("written", ac.__file__)
