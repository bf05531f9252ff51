"""A subclassed model whose ``call`` gives several outputs (a tuple, or a dict), compiled with
losses, loss weights and metrics per output, against real Keras 3.15 on its PyTorch backend,
the same weights in both: as Keras's, compile's arguments go to the outputs once the first
batch shows them (keras.io's PatchConvNet compiles such a model), the outputs have no names
(the logs' ``<loss>_loss``, the metrics unprefixed) unless the call gives a dict (its keys)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac

X = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
Y = (
    np.linspace(0, 1, 16, dtype="float32").reshape(8, 2),
    np.linspace(1, 0, 8, dtype="float32")[:, None],
)


def _model(lib: Any, as_dict: bool) -> Any:
    layers = lib.layers

    class Heads(lib.Model):
        def __init__(self):
            super().__init__(name="heads")
            self.a = layers.Dense(2, name="a")
            self.b = layers.Dense(1, name="b")

        def call(self, x):
            a, b = self.a(x), self.b(x)
            return {"zeta": a, "alpha": b} if as_dict else (a, b)

    model = Heads()
    model(X[:1])
    model.set_weights([np.cos(np.arange(w.size) + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


TUPLE = {
    "one_loss": {"loss": "mse"},
    "lists": {"loss": ["mse", "mae"], "loss_weights": [1.0, 0.5], "metrics": [["mae"], ["mse"]]},
    "a_loss_and_none": {"loss": ["mse", None], "metrics": [["mae"], None]},
}
DICT = {
    "dicts": {
        "loss": {"zeta": "mse", "alpha": "mae"},
        "loss_weights": {"zeta": 2.0, "alpha": 1.0},
        "metrics": {"zeta": ["mae"], "alpha": ["mse"]},
    },
    "one_loss": {"loss": "mse", "metrics": ["mae", "mse"]},
    "lists": {"loss": ["mae", "mse"], "metrics": [["mae"], ["mse"]]},
}


def _run(lib: Any, as_dict: bool, compiled: dict) -> list[Any]:
    model = _model(lib, as_dict)
    model.compile("sgd", **compiled)
    y = {"zeta": Y[0], "alpha": Y[1]} if as_dict else Y
    history = model.fit(X, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    return [history, model.metrics_names, model.evaluate(X, y, batch_size=3, verbose=0)]


@pytest.mark.parametrize(
    ("as_dict", "compiled"),
    [(False, c) for c in TUPLE.values()] + [(True, c) for c in DICT.values()],
    ids=[f"tuple-{n}" for n in TUPLE] + [f"dict-{n}" for n in DICT],
)
def test_compiled_per_output_as_kerass(keras, as_dict, compiled):
    """The logs (names and values), ``metrics_names`` and ``evaluate``'s list, in Keras's
    order (a dict of losses': its keys' as given)."""
    keras.backend.clear_session()
    ours, theirs = _run(ac, as_dict, compiled), _run(keras, as_dict, compiled)
    assert sorted(ours[0]) == sorted(theirs[0])
    for name in theirs[0]:
        np.testing.assert_allclose(ours[0][name], theirs[0][name], rtol=1e-5, atol=1e-6)
    assert ours[1] == theirs[1]
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5)


def test_a_list_of_losses_that_is_not_one_per_output_fails_at_the_first_batch():
    """Compile cannot know a subclassed model's outputs; the first batch's run shows them and
    a list of another length is compile's error then, naming the count."""
    model = _model(ac, as_dict=False)
    model.compile("sgd", loss=["mse", "mae", "mse"])
    with pytest.raises(ValueError, match="loss has 3 entries but the model has 2 outputs"):
        model.fit(X, Y, verbose=0)
