"""A text classifier over padded sequences, as Deep Learning with Python's bidirectional LSTM
writes it (``Embedding(mask_zero=True)``, ``Bidirectional(LSTM(32))``, a sigmoid ``Dense``):
seconds a ``fit`` epoch on 512 sequences of 80 tokens (each padded after 20 to 80), batch 32,
RMSprop, seeded; the mean of two epochs after one. autoconv only: one checkout against another.

    python bench/masked_lstm_fit.py [--source DIR]

``--source DIR`` imports autoconv from DIR (another checkout: before and after a change). The
losses are printed too: two checkouts that compute the same thing print the same ones."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

SAMPLES, STEPS, VOCABULARY = 512, 80, 2000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", help="import autoconv from this checkout")
    args = parser.parse_args()
    if args.source:  # ahead of an editable install's finder
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
        sys.path.insert(0, args.source)
    import autoconv as ac

    rng = np.random.default_rng(0)
    ac.utils.set_random_seed(1)
    x = rng.integers(1, VOCABULARY, (SAMPLES, STEPS))
    for row in x:
        row[rng.integers(20, STEPS) :] = 0  # padding, masked by the embedding
    y = rng.integers(0, 2, SAMPLES).astype("float32")
    inputs = ac.Input((None,), dtype="int64")
    embedded = ac.layers.Embedding(VOCABULARY, 64, mask_zero=True)(inputs)
    hidden = ac.layers.Bidirectional(ac.layers.LSTM(32))(embedded)
    model = ac.Model(inputs, ac.layers.Dense(1, activation="sigmoid")(hidden))
    model.compile("rmsprop", "binary_crossentropy")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    started = time.perf_counter()
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    seconds = (time.perf_counter() - started) / 2
    where = f" ({args.source})" if args.source else ""
    losses = ", ".join(f"{loss:.6f}" for loss in history.history["loss"])
    print(f"autoconv{where}: {seconds:.2f} s an epoch; losses {losses}")


if __name__ == "__main__":
    main()
