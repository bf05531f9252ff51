"""``model.summary()``'s parameter counts against Keras 3.15's (PyTorch backend): the
optimizer's line, from ``optimizer.variables``, once the optimizer is built."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac


def param_lines(lib, optimizer: str, kwargs: dict, fit: bool) -> list[str]:
    dense = [lib.layers.Dense(3, name="a"), lib.layers.Dense(2, name="b")]
    model = lib.Sequential([lib.Input((4,)), *dense], name="net")
    model.compile(optimizer=getattr(lib.optimizers, optimizer)(**kwargs), loss="mse")
    if fit:
        x = np.linspace(-1, 1, 32, dtype="float32").reshape(8, 4)
        model.fit(x, x[:, :2], batch_size=8, epochs=1, verbose=0)
    lines: list[str] = []
    model.summary(print_fn=lambda text, **_: lines.append(text))
    return [line for line in "\n".join(lines).splitlines() if "params:" in line]


@pytest.mark.parametrize("fit", [False, True])
@pytest.mark.parametrize(
    ("optimizer", "kwargs"),
    [("SGD", {}), ("SGD", {"momentum": 0.9}), ("Adam", {}), ("RMSprop", {}), ("Nadam", {}),
     ("Adafactor", {})],
)  # fmt: skip
def test_the_optimizer_params_line_is_kerass(keras, optimizer, kwargs, fit):
    """Keras prints "Optimizer params" once the optimizer is built, counting its step count
    and learning rate too: plain SGD's line after a step is 2 (8.00 B)."""
    ours = param_lines(ac, optimizer, kwargs, fit)
    assert ours == param_lines(keras, optimizer, kwargs, fit)
    assert any(line.startswith(" Optimizer params:") for line in ours) == fit
