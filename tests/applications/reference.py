"""Keras's side of the application tests: its models' weights, randomized so that every layer
matters, written in the layout of Keras's published files (legacy HDF5: ``layer_names`` and a
group per layer, as Keras 2 wrote them and ``keras.applications`` still loads them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

# Batch normalization's and normalization's statistics and the biases: drawn away from their
# initial values (zeros and ones), which would leave a random network's outputs near zero.
RANDOMIZED = {
    "gamma": (0.5, 1.5),
    "beta": (-0.5, 0.5),
    "moving_mean": (-0.5, 0.5),
    "moving_variance": (0.5, 1.5),
    "mean": (-0.5, 0.5),
    "variance": (0.5, 1.5),
    "bias": (-0.5, 0.5),
}


def randomize(model: Any, seed: int = 0) -> None:
    """Give a Keras model's statistics and biases random values (kernels keep their own)."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        bounds = RANDOMIZED.get(variable.name)
        if bounds is not None:
            variable.assign(rng.uniform(*bounds, variable.shape).astype("float32"))


def save_legacy_weights(model: Any, path: Path) -> Path:
    """Write a Keras model's weights as Keras's published weight files are laid out."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


def keras_weights(keras: Any, function: str, path: Path, **arguments: Any) -> tuple[Any, Path]:
    """Keras's ``function(weights=None, **arguments)`` (its layer names counted from a fresh
    session), randomized and saved to ``path``."""
    keras.utils.clear_session()
    model = getattr(keras.applications, function)(weights=None, **arguments)
    randomize(model)
    return model, save_legacy_weights(model, path)
