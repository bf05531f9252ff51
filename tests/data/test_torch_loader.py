"""A PyTorch DataLoader given to fit, evaluate and predict, as Keras 3's PyTorch backend takes
one (its TorchDataLoaderAdapter): each epoch a pass over the loader, its batches as NumPy
arrays; steps_per_epoch going on where the last epoch stopped; the same numbers as Keras."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac

torch = pytest.importorskip("torch")


def _data() -> tuple[np.ndarray, np.ndarray]:
    x = np.cos(np.arange(320)).reshape(80, 4).astype("float32")
    return x, np.sin(np.arange(80)).reshape(80, 1).astype("float32")


def _model(lib: Any) -> Any:
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1)])
    model.set_weights([np.full((4, 1), 0.1, np.float32), np.zeros(1, np.float32)])
    model.compile("sgd", "mse", metrics=["mae"])
    return model


def _loader(batch_size: int = 10) -> Any:
    x, y = _data()
    dataset = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size)


def _run(lib: Any) -> dict[str, Any]:
    model = _model(lib)
    fitted = model.fit(_loader(), epochs=2, validation_data=_loader(16), verbose=0).history
    stepped = model.fit(_loader(), epochs=3, steps_per_epoch=3, verbose=0).history
    return {
        "fit": [fitted[k] for k in sorted(fitted)],
        "steps_per_epoch": stepped["loss"],
        "evaluate": model.evaluate(_loader(), verbose=0),
        "predict": model.predict(_loader(7), verbose=0),
    }


def test_a_data_loader_trains_as_keras_s(keras):
    with pytest.warns(UserWarning, match="ran out of data"):
        ours = _run(ac)
    theirs = _run(keras)
    for name in theirs:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5, err_msg=name)


def test_a_data_loader_gives_the_arrays_numbers():
    x, y = _data()
    through_loader = _model(ac).fit(_loader(), epochs=2, verbose=0).history["loss"]
    arrays = _model(ac).fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(through_loader, arrays.history["loss"], rtol=1e-6)


def test_batch_size_with_a_data_loader_is_ignored_as_keras_ignores_it():
    with pytest.warns(UserWarning, match="fit: batch_size=32 is ignored: x is a DataLoader"):
        history = _model(ac).fit(_loader(), batch_size=32, epochs=2, verbose=0).history
    expected = _model(ac).fit(_loader(), epochs=2, verbose=0).history
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-6)
