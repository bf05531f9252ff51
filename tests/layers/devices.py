"""The check the layer tests make on both devices: a model trained on the CPU and on the CUDA
device (numba's simulator where there is no GPU) from the same weights gives the same losses
and weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest


def fit_on_both_devices(
    make_model: Callable[[], Any],
    x: Any,
    y: Any,
    optimizer: Callable[[], Any] | str | None = "adam",
    loss: str = "categorical_crossentropy",
    batch_size: int = 4,
    epochs: int = 2,
    replayed: bool | None = None,
    weights: bool = True,
) -> list[list[float]]:
    """Fits ``make_model()`` (its weights the same at each call) on "cpu", then on "cuda",
    with ``optimizer`` (a name, or a function making a new one; None: the model comes
    compiled) and ``loss``, unshuffled; asserts equal losses and, with ``weights``, equal
    weights. ``replayed``: True asserts that the GPU replayed recorded steps, False that it
    replayed none (None: not checked). Returns the two devices' losses."""
    pytest.importorskip("numba_cuda")
    losses, trained = [], []
    for device in ("cpu", "cuda"):
        model = make_model().to(device)
        if optimizer is not None:
            model.compile(optimizer if isinstance(optimizer, str) else optimizer(), loss)
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
        losses.append(history.history["loss"])
        trained.append(model.get_weights())
    if replayed is True:
        assert model._step_replay.why is None and model._step_replay.replayed > 0
    elif replayed is False:
        assert model._step_replay.replayed == 0
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    if weights:
        for gpu, cpu in zip(*trained, strict=True):
            np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-5)
    return losses
