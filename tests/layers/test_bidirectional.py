"""``Bidirectional`` in files (autoconv/layers/bidirectional.py), against Keras 3.15: keras.io's
"Bidirectional LSTM on IMDB" model, Bidirectional layers stacked, saved by either library and
loaded by autoconv (a file's weight budget counts every weight made while it is read)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac

TOKENS = np.arange(24, dtype=np.int32).reshape(3, 8) % 20


def _stacked(lib: Any, count: int) -> Any:
    """keras.io's model: an embedding, ``count`` Bidirectional LSTMs, a sigmoid Dense."""
    inputs = lib.Input(shape=(None,), dtype="int32")
    x = lib.layers.Embedding(20, 6)(inputs)
    for i in range(count):
        x = lib.layers.Bidirectional(lib.layers.LSTM(4, return_sequences=i < count - 1))(x)
    model = lib.Model(inputs, lib.layers.Dense(1, activation="sigmoid")(x))
    model.set_weights([np.cos(np.arange(w.size) * 0.3 + i).reshape(w.shape) * 0.4
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("writer", ["autoconv", "keras"])
def test_stacked_bidirectional_layers_load_from_either_librarys_file(
    keras, tmp_path, writer, count
):
    model = _stacked(ac if writer == "autoconv" else keras, count)
    model.save(tmp_path / "m.keras")
    loaded = ac.saving.load_model(tmp_path / "m.keras")
    expected = np.asarray(model.predict(TOKENS, verbose=0))
    np.testing.assert_allclose(loaded.predict(TOKENS, verbose=0), expected, rtol=1e-5, atol=1e-6)
    # (Keras builds the wrapped layers when it reads their configs: no "bidirectional/")
    paths = [w.path for w in keras.saving.load_model(tmp_path / "m.keras").weights]
    assert [w.path for w in loaded.weights] == paths
