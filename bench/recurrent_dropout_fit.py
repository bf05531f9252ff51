"""Deep Learning with Python's temperature forecasters with recurrent dropout (chapter 10's
Jena climate models), a fit epoch on the CPU: autoconv against Keras 3 (PyTorch backend), each
engine in its own process, the median of the epochs after the first (which compiles).

    python bench/recurrent_dropout_fit.py autoconv|keras [--model lstm|gru] [--epochs N]
                                          [--source DIR]

``lstm``: ``LSTM(32, recurrent_dropout=0.25)``, ``Dropout(0.5)``, ``Dense(1)``; ``gru``: two
``GRU(32, recurrent_dropout=0.5)`` (the first ``return_sequences``), ``Dropout(0.5)``,
``Dense(1)``; RMSprop, mean squared error, mean absolute error, batch 256, sequences of 120 steps
of 14 features (random numbers standing in for the Jena series: 10,240 of them, 40 steps an
epoch). PyTorch has no recurrent dropout, so Keras is the reference. ``--source DIR`` imports
autoconv from DIR (another checkout: before and after a change)."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

SAMPLES, STEPS, FEATURES, BATCH = 10_240, 120, 14, 256


class EpochTimes:
    """Each epoch's wall time (a Keras callback's two methods, which both engines call)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.started)


def model_of(keras, kind: str):
    """Deep Learning with Python's model of ``kind`` (``keras``: autoconv or Keras)."""
    layers = keras.layers
    inputs = keras.Input(shape=(STEPS, FEATURES))
    if kind == "lstm":
        x = layers.LSTM(32, recurrent_dropout=0.25)(inputs)
    else:
        x = layers.GRU(32, recurrent_dropout=0.5, return_sequences=True)(inputs)
        x = layers.GRU(32, recurrent_dropout=0.5)(x)
    x = layers.Dropout(0.5)(x)
    model = keras.Model(inputs, layers.Dense(1)(x))
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("engine", choices=["autoconv", "keras"])
    parser.add_argument("--model", choices=["lstm", "gru"], default="lstm")
    parser.add_argument("--epochs", type=int, default=3)
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
        keras.utils.set_random_seed(0)
        callback_base = keras.callbacks.Callback
    else:
        import autoconv as keras

        keras.utils.set_random_seed(0)
        callback_base = keras.callbacks.Callback
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES, STEPS, FEATURES)).astype(np.float32)
    y = rng.standard_normal((SAMPLES, 1)).astype(np.float32)
    model = model_of(keras, args.model)
    timer = type("Timer", (EpochTimes, callback_base), {})()
    EpochTimes.__init__(timer)
    history = model.fit(x, y, batch_size=BATCH, epochs=args.epochs, verbose=0, callbacks=[timer])
    where = f" ({args.source})" if args.source else ""
    losses = ", ".join(f"{v:.4f}" for v in history.history["loss"])
    steady = np.median(timer.times[1:]) if len(timer.times) > 1 else timer.times[0]
    print(
        f"{args.engine}{where} {args.model}: {steady:.2f} s an epoch "
        f"(first {timer.times[0]:.2f} s; losses {losses})"
    )


if __name__ == "__main__":
    main()
