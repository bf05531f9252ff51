"""Interactive logging (keras.config / keras.utils enable_, disable_, is_interactive_logging_
enabled): on, the progress display and callbacks' messages print on standard output; off, they
go to the "autoconv" logger, one record a line, the bar logged once an epoch ends."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import autoconv as ac
from autoconv import callbacks, config, layers


@pytest.fixture
def logging_off():
    config.disable_interactive_logging()
    yield
    config.enable_interactive_logging()


def fit(verbose: int, **kwargs):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 2)).astype(np.float32)
    model = ac.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(ac.optimizers.SGD(0.01), "mse")
    return model.fit(x, x[:, :1], epochs=2, batch_size=8, verbose=verbose, **kwargs)


def test_on_by_default_and_switched_from_config_or_utils():
    assert config.is_interactive_logging_enabled() and ac.utils.is_interactive_logging_enabled()
    ac.utils.disable_interactive_logging()
    try:
        assert not config.is_interactive_logging_enabled()
    finally:
        ac.utils.enable_interactive_logging()
    assert config.is_interactive_logging_enabled()


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_prints_with_it_on(capsys, caplog, verbose):
    with caplog.at_level(logging.INFO, logger="autoconv"):
        fit(verbose)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert all(line.startswith("2/2") and "loss: " in line for line in lines[1::2]), lines
    assert not caplog.records


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_is_logged_with_it_off(capsys, caplog, logging_off, verbose):
    with caplog.at_level(logging.INFO, logger="autoconv"):
        fit(verbose)
    assert capsys.readouterr().out == ""
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert all(line.startswith("2/2") and "loss: " in line for line in lines[1::2]), lines


def test_a_callbacks_message_is_logged_with_it_off(capsys, caplog, logging_off):
    stopper = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9, verbose=1)
    with caplog.at_level(logging.INFO, logger="autoconv"):
        fit(0, callbacks=[stopper])
    assert capsys.readouterr().out == ""
    assert [r.getMessage() for r in caplog.records] == ["Epoch 2: early stopping"]
