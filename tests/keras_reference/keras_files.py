"""Writes the Keras 3 files (``.keras`` archives and a ``.weights.h5``) that
tests/saving/test_keras_files.py reads, with Keras's predictions and next training step, so that
autoconv's reading of Keras's own files is tested where Keras is not installed. Not run by the
tests; rerun by hand (with torch installed, for Keras's PyTorch backend):

    pip install "keras==3.15.1" torch && python tests/keras_reference/keras_files.py

It writes, in tests/saving/files/:
- keras_images.keras: a Sequential of image layers (convolutions of every kind, normalizations,
  pools, reshapes), compiled with Adam (amsgrad) and trained two steps;
- keras_augmenting.keras: a Sequential of the random layers (augmentation, dropout, noise),
  not compiled;
- keras_branches.keras: a functional model with two inputs, every merging layer, a nested
  Sequential and a shared layer, compiled with RMSprop (momentum) and trained two steps;
- keras_images.weights.h5: the first model's weights and optimizer state;
- keras_expected.json: the inputs, the predictions, and the weights after one more step.
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
    model.set_weights([
        (np.abs(np.sin(np.arange(np.prod(w.shape)) * 0.37 + i)) * 0.3 + 0.5).reshape(w.shape)
        .astype("float32") if "variance" in w.name else
        (np.sin(np.arange(np.prod(w.shape)) * 0.37 + i) * 0.3).reshape(w.shape).astype("float32")
        for i, w in enumerate(model.weights)
    ])  # fmt: skip


def images_model():
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            layers.Rescaling(1 / 255),
            layers.Resizing(10, 10),
            layers.CenterCrop(9, 9),
            layers.ZeroPadding2D(1),
            layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
            layers.BatchNormalization(),
            layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
            layers.SeparableConv2D(6, 3, padding="same", activation="relu"),
            layers.Conv2DTranspose(4, 3, strides=2, padding="same"),
            layers.LayerNormalization(),
            layers.PReLU(shared_axes=[1, 2]),
            layers.MaxPooling2D(),
            layers.UpSampling2D(2),
            layers.Cropping2D(1),
            layers.AveragePooling2D(2),
            layers.Conv2D(4, 1, groups=2),
            layers.GlobalAveragePooling2D(keepdims=True),
            layers.Flatten(),
            layers.Dense(5),
            layers.LeakyReLU(0.2),
            layers.Dense(3, activation="softmax"),
        ],
        name="keras_images",
    )
    deterministic(model)
    return model


def augmenting_model():
    """The random layers (the identity in inference, which is all a file can pin down)."""
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            layers.RandomFlip("horizontal", seed=1),
            layers.RandomRotation(0.1, seed=2),
            layers.RandomZoom(0.1, seed=3),
            layers.RandomTranslation(0.1, 0.1, seed=4),
            layers.RandomContrast(0.1, seed=5),
            layers.RandomBrightness(0.1, seed=6),
            layers.RandomCrop(12, 12, seed=7),
            layers.SpatialDropout2D(0.1),
            layers.Conv2D(2, 3),
            layers.Flatten(),
            layers.Dropout(0.2),
            layers.GaussianNoise(0.1),
            layers.GaussianDropout(0.1),
            layers.Dense(3, activation="softmax"),
        ],
        name="keras_augmenting",
    )
    deterministic(model)
    return model


def branches_model():
    a, b = keras.Input((6,), name="a"), keras.Input((8, 2), name="b")
    inner = keras.Sequential([layers.Dense(4, activation="tanh"), layers.ELU()], name="inner")
    shared = layers.Dense(4, name="shared")
    flat = layers.Flatten()(layers.Conv1D(2, 3, padding="causal")(b))
    pooled = layers.GlobalMaxPooling1D()(layers.MaxPooling1D(2)(b))
    left, right = inner(a), shared(layers.Reshape((16,))(layers.Permute((2, 1))(b)))
    merged = [
        layers.add([left, right]),
        layers.subtract([left, right]),
        layers.multiply([left, shared(layers.Dense(16)(a))]),
        layers.average([left, right]),
        layers.maximum([left, right]),
        layers.minimum([left, right]),
    ]
    joined = layers.concatenate([*merged, flat, pooled, layers.ReLU(max_value=6.0)(right)])
    outputs = layers.Dense(3, activation="softmax")(layers.Activation("relu")(joined))
    model = keras.Model([a, b], outputs, name="keras_branches")
    deterministic(model)
    return model


def main():
    rng = np.random.default_rng(0)
    images = (rng.random((4, 12, 12, 3)) * 255).astype("float32")
    vectors, sequences = rng.random((4, 6)).astype("float32"), rng.random((4, 8, 2))
    sequences = sequences.astype("float32")
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    expected = {"images": images.tolist(), "vectors": vectors.tolist(),
                "sequences": sequences.tolist(), "labels": labels.tolist()}  # fmt: skip
    for name, model, optimizer, x in [
        ("images", images_model(), keras.optimizers.Adam(0.01, amsgrad=True), images),
        ("branches", branches_model(), keras.optimizers.RMSprop(0.01, momentum=0.5),
         [vectors, sequences]),
    ]:  # fmt: skip
        model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
        model.train_on_batch(x, labels)
        model.train_on_batch(x, labels[::-1])
        model.save(OUT / f"keras_{name}.keras")
        if name == "images":
            model.save_weights(OUT / "keras_images.weights.h5")
        expected[f"{name}_predictions"] = model.predict(x, verbose=0).tolist()
        model.train_on_batch(x, labels)
        expected[f"{name}_weights_after_a_step"] = [np.asarray(w).tolist() for w in model.weights]
    model = augmenting_model()
    model.save(OUT / "keras_augmenting.keras")
    expected["augmenting_predictions"] = model.predict(images, verbose=0).tolist()
    (OUT / "keras_expected.json").write_text(json.dumps(expected))


if __name__ == "__main__":
    main()
