"""keras.io's next-frame prediction ("Next-Frame Video Prediction with Convolutional LSTMs":
three ConvLSTM2D with BatchNormalization, a Conv3D into one sigmoid channel, adam, binary
cross-entropy), narrowed to fit this bench: 16 filters, 10 frames of 32x32, batch 4, a
training epoch of 8 steps, per step: autoconv against Keras 3 (PyTorch backend), each in its
own process, the median of three epochs after a warm-up one. The tutorial's ConvLSTMs use
``activation="relu"``; ``--activation tanh`` gives Keras's default step.

    python bench/conv_lstm_step.py autoconv|keras [--activation relu|tanh] [--source DIR]

``--source DIR`` imports autoconv from DIR (another checkout: before and after a change)."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

STEPS, BATCH, FRAMES, SIZE, FILTERS = 8, 4, 10, 32, 16


def model_of(keras, activation: str):
    """The tutorial's model, compiled (``keras``: autoconv or Keras)."""
    layers = keras.layers
    inputs = layers.Input(shape=(None, SIZE, SIZE, 1))
    x = layers.ConvLSTM2D(
        FILTERS, (5, 5), padding="same", return_sequences=True, activation=activation
    )(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(
        FILTERS, (3, 3), padding="same", return_sequences=True, activation=activation
    )(x)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(
        FILTERS, (1, 1), padding="same", return_sequences=True, activation=activation
    )(x)
    x = layers.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same")(x)
    model = keras.Model(inputs, x)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("engine", choices=["autoconv", "keras"])
    parser.add_argument("--activation", choices=["relu", "tanh"], default="relu")
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
    rng = np.random.default_rng(0)
    frames = rng.random((STEPS * BATCH, FRAMES, SIZE, SIZE, 1)).astype(np.float32)
    x, y = frames[:, :-1], frames[:, 1:]
    model = model_of(keras, args.activation)
    model.fit(x[: 2 * BATCH], y[: 2 * BATCH], epochs=1, batch_size=BATCH, verbose=0)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=BATCH, verbose=0)
        times.append((time.perf_counter() - started) / STEPS)
    where = f" ({args.source})" if args.source else ""
    print(f"{args.engine}{where} {args.activation}: {np.median(times) * 1000:.1f} ms a step "
          f"({', '.join(f'{t * 1000:.1f}' for t in times)})")  # fmt: skip


if __name__ == "__main__":
    main()
