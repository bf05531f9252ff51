"""SwapEMAWeights against real Keras 3.15 (its PyTorch backend, where installed): the
validation losses of a fit with ``use_ema=True`` computed with the moving averages, the
weights after each epoch with ``swap_on_epoch``, and after fit; on the CPU and the CUDA
device (the simulator); the error without ``use_ema``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac
from tests.layers.devices import fit_on_both_devices


def _model(lib: Any) -> Any:
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, activation="tanh"),
                            lib.layers.Dense(2)])  # fmt: skip
    model.set_weights([np.cos(np.arange(w.size) * 0.7 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


class _Weights:
    """Records the first kernel at each epoch's end (after the callbacks before it)."""

    def __init__(self, base: type) -> None:
        class Recorder(base):
            def __init__(self) -> None:
                super().__init__()
                self.seen: list[np.ndarray] = []

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                self.seen.append(np.array(self.model.get_weights()[0]))

        self.callback = Recorder()


@pytest.mark.parametrize("swap_on_epoch", [False, True])
def test_fit_with_swapped_averages_matches_keras(keras, swap_on_epoch):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    runs = []
    for lib in (ac, keras):
        model = _model(lib)
        model.compile(lib.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.8), "mse")
        recorder = _Weights(lib.callbacks.Callback).callback
        swap = lib.callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch)
        history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                            validation_data=(x[:8], y[:8]), callbacks=[swap, recorder])  # fmt: skip
        runs.append((history.history, recorder.seen, model.get_weights()))
    (ours, our_seen, our_weights), (theirs, their_seen, their_weights) = runs
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5)
    np.testing.assert_allclose(np.array(our_seen), np.array(their_seen), rtol=1e-5, atol=1e-7)
    for mine, keras_weight in zip(our_weights, their_weights, strict=True):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-7)


def test_evaluate_and_predict_use_the_averages_and_give_the_weights_back():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    model = _model(ac)
    model.compile(ac.optimizers.SGD(0.1, use_ema=True), "mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # fit ends on the averages
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    trained = model.get_weights()
    averages = [np.array(slots["average"]) for slots in model.optimizer.slots]
    swap = ac.callbacks.SwapEMAWeights()
    with_averages = model.predict(x, verbose=0, callbacks=[swap])
    np.testing.assert_array_equal(model.get_weights()[0], trained[0])
    model.set_weights(averages)
    np.testing.assert_allclose(with_averages, model.predict(x, verbose=0), rtol=1e-6)
    model.set_weights(trained)
    assert model.evaluate(x, y, verbose=0, callbacks=[swap]) == pytest.approx(
        float(np.mean((with_averages - y) ** 2)), rel=1e-5
    )
    np.testing.assert_array_equal(model.get_weights()[0], trained[0])


def test_without_use_ema_it_is_keras_error():
    model = _model(ac)
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="use_ema=True"):
        model.evaluate(np.ones((2, 3)), np.ones((2, 2)), verbose=0,
                       callbacks=[ac.callbacks.SwapEMAWeights()])  # fmt: skip


def _compiled_model() -> Any:
    model = _model(ac)
    model.compile(ac.optimizers.Adam(0.05, use_ema=True), "mse")
    return model


@pytest.mark.cudasim
def test_swapping_on_the_gpu_gives_the_cpus_numbers():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    fit_on_both_devices(_compiled_model, x, y, optimizer=None, loss="mse")
    for device in ("cpu", "cuda"):
        model = _compiled_model().to(device)
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False,
                  callbacks=[ac.callbacks.SwapEMAWeights(swap_on_epoch=True)])  # fmt: skip
        if device == "cpu":
            expected = model.get_weights()
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
