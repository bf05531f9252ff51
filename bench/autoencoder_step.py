"""keras.io's convolutional denoising autoencoder ("Convolutional autoencoder for image
denoising": two Conv2D + MaxPooling2D, two strided Conv2DTranspose, a Conv2D into one filter,
adam, binary cross-entropy), a training epoch of 20 steps at batch 128 on 28x28 images, per
step: autoconv against Keras 3 (PyTorch backend), each in its own process, the median of
three epochs after a warm-up one.

    python bench/autoencoder_step.py autoconv|keras [--source DIR]

``--source DIR`` imports autoconv from DIR (another checkout: before and after a change)."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

STEPS, BATCH = 20, 128


def model_of(keras):
    """The tutorial's autoencoder, compiled (``keras``: autoconv or Keras)."""
    layers = keras.layers
    inputs = layers.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    model = keras.Model(inputs, x)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("engine", choices=["autoconv", "keras"])
    parser.add_argument("--source", help="import autoconv from this checkout")
    args = parser.parse_args()
    if args.source:  # ahead of an editable install's finder
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
        sys.path.insert(0, args.source)
    if args.engine == "keras":
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras
        import torch

        torch.set_num_threads(2)
    else:
        import autoconv as keras
    images = np.random.default_rng(0).random((STEPS * BATCH, 28, 28, 1)).astype(np.float32)
    model = model_of(keras)
    model.fit(images[: 2 * BATCH], images[: 2 * BATCH], epochs=1, batch_size=BATCH, verbose=0)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        model.fit(images, images, epochs=1, batch_size=BATCH, verbose=0)
        times.append((time.perf_counter() - started) / STEPS)
    where = f" ({args.source})" if args.source else ""
    print(f"{args.engine}{where}: {np.median(times) * 1000:.1f} ms a step "
          f"({', '.join(f'{t * 1000:.1f}' for t in times)})")  # fmt: skip


if __name__ == "__main__":
    main()
