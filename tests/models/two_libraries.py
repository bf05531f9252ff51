"""Models built the same way in autoconv and in Keras (``lib`` is either module), shared by the
tests that compare the two (tests/models/test_cloning.py, tests/saving/test_model_json.py).
Every layer and model is named, so that both libraries give the same names."""

from __future__ import annotations

from typing import Any


def branches(lib: Any) -> Any:
    """Two inputs, a layer shared by both, merging layers and two outputs."""
    L = lib.layers
    a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
    shared = L.Dense(4, name="shared")
    x = L.add([shared(a), shared(b)], name="sum")
    z = L.concatenate([x, L.Dense(3, activation="relu", name="side")(a)], name="joined")
    return lib.Model([a, b], [L.Dense(2, name="first")(z), L.Dense(1, name="second")(z)], name="br")
