"""``utils.Progbar``: the text Keras 3.15's Progbar prints for the same calls at the same times
(a fake clock drives both), redrawn in place or line by line, each verbosity, metrics averaged
or shown as given; and the log where interactive logging is off."""

from __future__ import annotations

import inspect
import logging
import os
import time

import numpy as np
import pytest

import autoconv as ac
from autoconv import progbar as progbar_module

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")


class Clock:
    """``time.time`` for both bars: the time each step says."""

    now = 1000.0

    def __call__(self) -> float:
        return self.now


# (constructor arguments, [(seconds since the start, method, arguments)])
LOSS = [(0.01 * i, "update", (i, [("loss", 1.0 / i)])) for i in range(1, 11)]
SCENARIOS = {
    "ten steps": ({"target": 10}, LOSS),
    "unknown target": (
        {"target": None},
        [(0.1 * i, "update", (i * 3, [("loss", 2.0 + i)])) for i in range(1, 5)]
        + [(0.5, "update", (12, [("loss", 0.5)], True))],
    ),
    "zero target": ({"target": 0}, [(0.2, "update", (0,))]),
    "stateful": (
        {"target": 4, "stateful_metrics": ["acc"]},
        [(0.1 * i, "update", (i, [("loss", 0.1 * i), ("acc", 0.2 * i)])) for i in range(1, 5)],
    ),
    "stateless": (
        {"target": 4, "stateless_metrics": ["loss"]},
        [(0.1 * i, "update", (i, [("loss", 0.1 * i), ("acc", 0.2 * i)])) for i in range(1, 5)],
    ),
    "add": (
        {"target": 6, "width": 7, "unit_name": "sample"},
        [(0.3, "add", (2, [("loss", 3.0)])), (0.7, "add", (2,)), (1.6, "add", (2, [("x", 1)]))],
    ),
    "hours and minutes left": (
        {"target": 100000},
        [(2.0, "update", (1,)), (9.5, "update", (2,)), (4000.0, "update", (99000,))],
    ),
    "shrinking line": (
        {"target": 3, "interval": 0.0},
        [
            (0.5, "update", (1, [("loss", 123.456)])),
            (1.0, "update", (2, [("loss", -500.0)])),
            (1.5, "update", (3, [("loss", 1e-5)])),
        ],
    ),
    "small and negative metrics": (
        {"target": 2, "stateful_metrics": ["m"]},
        [(0.2, "update", (1, [("m", -0.5)])), (0.4, "update", (2, [("m", -0.5)]))],
    ),
    "array metric": (
        {"target": 2},
        [(0.2, "update", (1, [("f1", np.array([0.5, 0.7]))])), (3.0, "update", (2,))],
    ),
    "finalize early": ({"target": 5}, [(0.3, "update", (2, [("a", 1.0)], True))]),
    "past the end": ({"target": 3}, [(0.1, "update", (5,))]),
}


def run(library, clock, arguments, calls, dynamic):
    clock.now = 1000.0
    bar = library.utils.Progbar(**arguments)
    bar._dynamic_display = dynamic
    for seconds, method, args in calls:
        clock.now = 1000.0 + seconds
        getattr(bar, method)(*args)


@pytest.mark.parametrize("dynamic", [True, False], ids=["in place", "line by line"])
@pytest.mark.parametrize("verbose", [0, 1, 2])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_prints_what_keras_prints(name, verbose, dynamic, monkeypatch, capsys):
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    arguments, calls = SCENARIOS[name]
    arguments = {"verbose": verbose, **arguments}
    printed = []
    for library in (keras, ac):
        run(library, clock, arguments, calls, dynamic)
        printed.append(capsys.readouterr().out)
    assert printed[1] == printed[0]
    if verbose == 1:
        assert printed[1]
    if verbose == 0:
        assert printed[1] == ""


def test_its_signature_and_defaults_are_keras():
    ours = inspect.signature(ac.utils.Progbar)
    theirs = inspect.signature(keras.utils.Progbar)
    assert list(ours.parameters) == list(theirs.parameters)
    assert [p.default for p in ours.parameters.values()] == [
        p.default for p in theirs.parameters.values()
    ]
    bar = ac.utils.Progbar(5)
    assert bar._dynamic_display == keras.utils.Progbar(5)._dynamic_display


def test_both_metric_lists_are_refused():
    with pytest.raises(ValueError, match="Only one of `stateful_metrics` or `stateless_metrics`"):
        ac.utils.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])


def test_without_interactive_logging_the_text_goes_to_the_log(capsys, caplog):
    ac.config.disable_interactive_logging()
    try:
        with caplog.at_level(logging.INFO, logger="autoconv"):
            bar = ac.utils.Progbar(2, verbose=2)
            bar.update(1)
            bar.update(2, [("loss", 0.25)])
    finally:
        ac.config.enable_interactive_logging()
    assert capsys.readouterr().out == ""
    assert [r.getMessage() for r in caplog.records if r.name == "autoconv"] == [
        caplog.records[-1].getMessage()
    ]
    assert caplog.records[-1].getMessage().startswith("2/2 - ")
    assert caplog.records[-1].getMessage().endswith(" - loss: 0.2500\n")


def test_a_terminal_that_cannot_print_the_bar_gets_equals_signs(monkeypatch):
    written = []

    class Latin1:
        encoding = "latin-1"

        def write(self, text):
            text.encode(self.encoding)
            written.append(text)

        def flush(self):
            pass

    monkeypatch.setattr(progbar_module.sys, "stdout", Latin1())
    bar = ac.utils.Progbar(2)
    bar.update(2)
    assert "=" * 20 in written[0] and "━" not in written[0]
