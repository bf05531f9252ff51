"""The command line, through click's test runner: real runs on small slices of MNIST."""

from __future__ import annotations

import gzip
import json

import pytest
from click.testing import CliRunner

from autoconv.cli import main


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args])

    return invoke


def test_train_json_reports_every_key_and_saves(run, tmp_path):
    path = tmp_path / "m.npz"
    result = run(
        "train", "mnist", "--epochs", 2, "--limit", 640, "--seed", 1, "--json", "--save", path
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for key in ("test_accuracy", "samples_per_second", "epoch_seconds", "compile_seconds",
                "device", "epochs", "batch_size"):  # fmt: skip
        assert key in report
    assert report["epochs"] == 2 and len(report["epoch_seconds"]) == 2
    assert report["train_samples"] == 640 and report["samples_per_second"] > 0
    assert report["test_accuracy"] > 0.5  # 640 samples, 2 epochs: far above chance (0.1)
    evaluated = run("evaluate", path, "mnist", "--limit", 640)
    assert evaluated.exit_code == 0, evaluated.output
    assert f"Test accuracy: {report['test_accuracy']:.4f}" in evaluated.output


def test_train_text_output(run):
    result = run("train", "mnist", "--epochs", 1, "--limit", 128, "--batch-size", 32)
    assert result.exit_code == 0, result.output
    for text in ("Test accuracy:", "Epoch times:", "Throughput:", "samples/s", "Compile/warm-up:"):
        assert text in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size"),
        (["--epochs", "-1"], "--epochs"),
        (["--device", "tpu"], "--device"),
        (["--optimizer", "adafactor"], "--optimizer"),
        (["--learning-rate", "0"], "--learning-rate"),
    ],
)
def test_bad_options_are_usage_errors(run, args, message):
    result = run("train", "mnist", *args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_unknown_dataset_is_a_usage_error(run):
    result = run("train", "imagenet")
    assert result.exit_code == 2 and "imagenet" in result.output


def test_corrupted_data_file_is_one_line(run, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"garbage"))
    result = run("train", "mnist", "--data-dir", tmp_path, "--limit", 64)
    assert result.exit_code == 1
    assert "train-images-idx3-ubyte.gz: checksum mismatch" in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_evaluate_rejects_a_damaged_model(run, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"nope")
    result = run("evaluate", bad)
    assert result.exit_code == 1 and "is not a model file" in result.output


def test_summary(run):
    result = run("summary")
    assert result.exit_code == 0 and "Total params: 93,322" in result.output


def test_datasets_lists_verified_mnist(run, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    result = run("datasets")
    assert result.exit_code == 0
    assert "mnist          available (verified)" in result.output
    assert "cifar10        not available" in result.output


def test_every_package_is_installed():
    """pyproject.toml lists packages explicitly: a new one must be added there too."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    listed = set(
        tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(p.parent.relative_to(root).parts) for p in (root / "autoconv").rglob("__init__.py")
    }
    assert on_disk <= listed
