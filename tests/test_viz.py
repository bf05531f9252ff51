"""Pictures: arrays from the Python API, PNG files from the CLI, a clear message without
matplotlib."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

import autoconv as ac
from autoconv import viz
from autoconv.cli import main
from autoconv.course import reference_model

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    ac.utils.set_random_seed(0)
    model = reference_model()
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return model, path


def png_size(path):
    from matplotlib.image import imread

    image = imread(path)
    return image.shape, image


def test_filters_and_activations_arrays(saved_model):
    model, _ = saved_model
    kernels = viz.filters(model)
    assert kernels.shape == (32, 3, 3, 1)
    np.testing.assert_array_equal(kernels[5, :, :, 0], model.layers[0].kernel.numpy()[:, :, 0, 5])
    maps = viz.activations(model, np.random.default_rng(0).random((28, 28, 1)))
    assert [m.shape for _, m in maps] == [
        (26, 26, 32),
        (13, 13, 32),
        (11, 11, 64),
        (5, 5, 64),
        (3, 3, 64),
    ]
    assert re.fullmatch(r"conv2d(_\d+)? \(Conv2D\) \(26, 26, 32\)", maps[0][0])
    with pytest.raises(ValueError, match=r"one image of shape \(28, 28, 1\)"):
        viz.activations(model, np.zeros((1, 28, 28, 1)))


def test_show_filters_and_activations_write_real_pictures(saved_model, tmp_path):
    _, path = saved_model
    runner = CliRunner()
    for args, name in (
        (["show", "filters", str(path), "--out"], "filters.png"),
        (["show", "activations", str(path), "--index", "3", "--out"], "maps.png"),
    ):
        out = tmp_path / name
        result = runner.invoke(main, [*args, str(out)])
        assert result.exit_code == 0, result.output
        (height, width, _), pixels = png_size(out)
        assert height >= 300 and width >= 300
        assert pixels[..., :3].std() > 0.05  # not blank: real content


def test_train_plot_draws_curves(tmp_path):
    out = tmp_path / "curves.png"
    args = ["train", "mnist", "--epochs", "2", "--limit", "256", "--plot", str(out), "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (height, width, _), pixels = png_size(out)
    assert (height, width) == (360, 900) and pixels[..., :3].std() > 0.05


def test_missing_matplotlib_is_one_clear_line(without_matplotlib, saved_model, tmp_path):
    with pytest.raises(viz.MissingDependencyError, match=r'pip install "autoconv\[viz\]"'):
        viz.filters_figure(saved_model[0])
    result = CliRunner().invoke(
        main, ["show", "filters", str(saved_model[1]), "--out", str(tmp_path / "f.png")]
    )
    assert result.exit_code == 1 and 'pip install "autoconv[viz]"' in result.output
    result = CliRunner().invoke(main, ["train", "mnist", "--plot", str(tmp_path / "c.png")])
    assert result.exit_code == 1 and "Epoch" not in result.output  # refused before training
