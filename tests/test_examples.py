"""The ported Keras scripts in examples/ run end to end (on a few hundred images, so the test
is quick; the README shows their output on the full data)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

import autoconv as ac

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def small_mnist(monkeypatch):
    (x_train, y_train), (x_test, y_test) = ac.datasets.mnist.load_data()
    small = ((x_train[:300], y_train[:300]), (x_test[:100], y_test[:100]))
    monkeypatch.setattr(ac.datasets.mnist, "load_data", lambda: small)


@pytest.mark.parametrize("script", ["mnist_convnet.py", "toy_resnet.py"])
def test_a_ported_keras_script_trains(script, small_mnist, capsys):
    ac.utils.set_random_seed(0)
    names = runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    history = names["model"].history.history
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all()
    assert "Total params" in capsys.readouterr().out


def test_the_image_folder_tutorial_trains_and_classifies_a_new_image(tmp_path, monkeypatch, capsys):
    ac.datasets.export("mnist", tmp_path / "digits", split="train", limit=200)
    monkeypatch.setattr(sys, "argv", ["image_folder.py", str(tmp_path / "digits"), "28"])
    ac.utils.set_random_seed(0)
    names = runpy.run_path(str(EXAMPLES / "image_folder.py"), run_name="__main__")
    assert names["class_names"] == [str(d) for d in range(10)]
    assert len(names["history"].history["val_accuracy"]) == 3
    assert "This image most likely belongs to" in capsys.readouterr().out
