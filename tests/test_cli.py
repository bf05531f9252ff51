"""The command line, through click's test runner: real runs on small slices of MNIST."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from click.testing import CliRunner

import autoconv as ac
from autoconv.cli import main


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args])

    return invoke


def test_train_json_reports_every_key_and_saves(run, tmp_path):
    path = tmp_path / "m.keras"
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


def test_train_steps_per_execution_trains_the_same_model(run):
    """--steps-per-execution groups the steps (one launch per group on the GPU); the training
    is step by step the same."""
    reports = []
    for every in (1, 3):
        args = ("--epochs", 1, "--limit", 256, "--seed", 1, "--json")
        result = run("train", "mnist", *args, "--steps-per-execution", every)
        assert result.exit_code == 0, result.output
        reports.append(json.loads(result.output))
    assert reports[0]["test_accuracy"] == reports[1]["test_accuracy"]
    assert reports[0]["test_loss"] == reports[1]["test_loss"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size"),
        (["--epochs", "-1"], "--epochs"),
        (["--device", "tpu"], "--device"),
        (["--optimizer", "adamwr"], "--optimizer"),
        (["--learning-rate", "0"], "--learning-rate"),
        (["--steps-per-execution", "0"], "--steps-per-execution"),
        (["--matmul-precision", "medium"], "--matmul-precision"),
    ],
)
def test_bad_options_are_usage_errors(run, args, message):
    result = run("train", "mnist", *args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_train_matmul_precision_sets_the_process_precision(run):
    """--matmul-precision high (the default) asks for TF32 products, highest for float32 (the
    GPU's; the CPU computes in float32: the same model either way)."""
    reports = []
    try:
        for precision in ("highest", "high"):
            args = ("--epochs", 1, "--limit", 128, "--seed", 1, "--json", "--device", "cpu")
            result = run("train", "mnist", *args, "--matmul-precision", precision)
            assert result.exit_code == 0, result.output
            assert ac.config.get_float32_matmul_precision() == precision
            reports.append(json.loads(result.output))
    finally:
        ac.config.set_float32_matmul_precision("highest")
    assert reports[0]["test_loss"] == reports[1]["test_loss"]


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
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"nope")
    result = run("evaluate", bad)
    assert result.exit_code == 1 and "is not a model file" in result.output


def test_summary(run):
    result = run("summary")
    assert result.exit_code == 0 and "Total params: 93,322" in result.output


def test_summary_of_a_saved_model_with_its_plan(run, tmp_path):
    model = ac.Sequential(
        [ac.Input(shape=(8, 8, 1)), ac.layers.Conv2D(4, 3, use_bias=False),
         ac.layers.BatchNormalization(), ac.layers.ReLU(), ac.layers.Flatten(),
         ac.layers.Dense(2)]
    )  # fmt: skip
    model.save(tmp_path / "m.keras")
    result = run("summary", str(tmp_path / "m.keras"), "--plan")
    assert result.exit_code == 0, result.output
    assert "Total params: 342" in result.output  # kernel 36, batch norm 4 * 4, dense 290
    assert re.search(
        r"1\. conv2d \+ batch_normalization \+ re_lu +batch norm folded", result.output
    )
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a model")
    result = run("summary", str(broken))
    assert result.exit_code == 1 and "Traceback" not in result.output


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "mnist", "--learning-rate", "nan"], "must be a finite number greater than 0"),
        (["train", "mnist", "--learning-rate", "inf"], "must be a finite number greater than 0"),
        (["train", "mnist", "--save", "{tmp}/missing/m.keras"], "does not exist"),
        (["train", "mnist", "--checkpoint", "{tmp}/missing/m.keras"], "does not exist"),
        (["train", "mnist", "--save", "{tmp}"], "is a directory"),
        (["train", "mnist", "--plot", "{tmp}/curves.gif"], "unsupported file type .gif"),
        (["train", "mnist", "--plot", "{tmp}/missing/curves.png"], "does not exist"),
        (["train", "mnist", "--limit", "3", "--validation-split", "0.7"],
         "not sufficient to split it into a validation and training set"),
        (["train", "mnist", "--data-dir", "{tmp}/nowhere"], "does not exist"),
        (["train", "mnist", "--resume", "{tmp}/nowhere.keras"], "does not exist"),
        (["explain", "conv", "--padding", "nan"], "--padding must be valid, same or an int"),
        (["explain", "conv", "--padding", "99999999999"], "--padding must be valid, same or"),
        (["train", "mnist", "--checkpoint", "{tmp}/best.h5"], "--checkpoint must end in .keras"),
        (["explain", "conv", "--image", "[[1, NaN], [2, 3]]"], "NaN or infinite"),
        (["explain", "conv", "--image", "[[1, Infinity]]"], "NaN or infinite"),
        (["show", "filters", "{tmp}/nowhere.keras"], "does not exist"),
    ],
)  # fmt: skip
def test_user_mistakes_are_one_line_before_any_work(run, tmp_path, args, message):
    result = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code in (1, 2), result.output
    assert message in result.output and "Traceback" not in result.output
    assert "Epoch" not in result.output  # nothing trained
    assert not (tmp_path / "m.keras").exists()


def test_no_traceback_from_the_real_command_and_debug_shows_it(tmp_path):
    """The installed `autoconv` command, in its own process: a damaged model file is one line
    on stderr; with --debug the traceback is shown for a bug report."""
    import subprocess
    import sys

    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    command = [sys.executable, "-m", "autoconv.cli", "evaluate", str(bad)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1
    assert "damaged or truncated" in done.stderr
    with_debug = [*command[:3], "--debug", *command[3:]]
    debug = subprocess.run(with_debug, capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_an_unexpected_error_says_how_to_see_more(run, monkeypatch):
    from autoconv import course

    def broken(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(course, "reference_model", broken)
    result = run("summary")
    assert result.exit_code == 1 and "internal error (KeyError: 'oops')" in result.output
    assert "autoconv --debug" in result.output


def test_checkpoint_early_stopping_and_resume(run, tmp_path):
    checkpoint, saved = tmp_path / "best.keras", tmp_path / "last.keras"
    first = run("train", "mnist", "--limit", 256, "--epochs", 2, "--seed", 3, "--batch-size",
                64, "--validation-split", 0.25, "--checkpoint", checkpoint, "--save", saved,
                "--early-stopping", 5, "--json")  # fmt: skip
    assert first.exit_code == 0, first.output
    assert checkpoint.exists() and saved.exists()
    resumed = run("train", "mnist", "--limit", 256, "--epochs", 3, "--batch-size", 64,
                  "--validation-split", 0.25, "--resume", saved, "--json")  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.output)
    assert report["initial_epoch"] == 2 and len(report["epoch_seconds"]) == 1
    again = run("train", "mnist", "--limit", 256, "--epochs", 2, "--batch-size", 64,
                "--validation-split", 0.25, "--resume", saved)  # fmt: skip
    assert again.exit_code == 2 and "already trained for 2 epochs" in again.output


def test_export_train_on_the_folder_and_predict(run, tmp_path):
    """The README's "your own images" path: export MNIST as PNG folders, train a course model
    on the folder, save it with its class names, and classify images with it."""
    folder = tmp_path / "digits"
    exported = run("datasets", "export", "mnist", folder, "--limit", 120)
    assert exported.exit_code == 0, exported.output
    assert "Wrote 120 images of mnist (train)" in exported.output
    classes = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert classes == [str(d) for d in range(10)]
    model = tmp_path / "digits.keras"
    trained = run("train", folder, "--image-size", 28, 28, "--color-mode", "grayscale",
                  "--model", "reference", "--epochs", 1, "--batch-size", 32,
                  "--validation-split", 0.25, "--save", model)  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "Found 120 files belonging to 10 classes." in trained.output
    assert "Using 90 files for training." in trained.output
    assert "Classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in trained.output
    images = sorted((folder / "7").glob("*.png"))[:2]
    predicted = run("predict", model, *images, "--top", 2)
    assert predicted.exit_code == 0, predicted.output
    lines = predicted.output.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{images[0]}: This image is ")
    assert "% " in lines[0] and "(then " in lines[0]


def test_train_rejects_what_is_neither_a_dataset_nor_a_folder(run, tmp_path):
    result = run("train", tmp_path / "nowhere")
    assert result.exit_code == 2 and "neither a dataset" in result.output


def test_predict_with_a_model_that_is_not_for_images(run, tmp_path):
    import autoconv as ac

    path = tmp_path / "dense.keras"
    ac.Sequential([ac.layers.Dense(2, input_shape=(3,))]).save(path)
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (4, 4)).save(image)
    result = run("predict", path, image)
    assert result.exit_code == 1 and "is not a model of images" in result.output


@pytest.mark.parametrize("content", [b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20])
def test_predict_names_an_image_it_cannot_read(run, tmp_path, content):
    import autoconv as ac

    path = tmp_path / "model.keras"
    ac.Sequential([ac.Input((4, 4, 1)), ac.layers.Flatten(), ac.layers.Dense(2)]).save(path)
    image = tmp_path / "photo.png"
    image.write_bytes(content)
    result = run("predict", path, image)
    assert result.exit_code == 1
    assert f"Error: {image}: cannot decode this image (" in result.output
    assert "BytesIO" not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("skip", [False, True])
def test_a_folder_with_a_bad_file_stops_or_skips_it_with_one_line(run, tmp_path, skip):
    from PIL import Image

    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(4):
            Image.new("L", (28, 28), 40 * i).save(tmp_path / name / f"{i}.png")
    (tmp_path / "dog" / "bad.png").write_bytes(b"not an image")
    options = ["--skip-bad-files"] if skip else []
    result = run("train", tmp_path, "--image-size", 28, 28, "--color-mode", "grayscale",
                 "--model", "reference", "--epochs", 1, *options)  # fmt: skip
    bad = tmp_path / "dog" / "bad.png"
    assert "Traceback" not in result.output and "UserWarning" not in result.output
    if skip:
        assert result.exit_code == 0, result.output
        assert f"Warning: Skipped 1 unreadable image files: {bad}" in result.output
    else:
        assert result.exit_code == 1
        assert f"Error: {bad}: cannot decode this image" in result.output
        assert "--skip-bad-files" in result.output


@pytest.mark.parametrize("errors", ["numba.core.errors", "numba.cuda.core.errors"])
@pytest.mark.parametrize("bold", ["", "\x1b[1m"], ids=["plain", "bold"])
def test_numbas_launch_size_notes_are_not_the_users_warnings(errors, bold, monkeypatch):
    """numba-cuda's launch-size notes are hidden, as Numba's class or numba-cuda's own (0.30
    raises its own NumbaPerformanceWarning, not a subclass of Numba's, its message in bold when
    colorama is installed: seen on an H100)."""
    import warnings

    import click

    category = pytest.importorskip(errors).NumbaPerformanceWarning

    @click.command("warn-twice")
    def warn_twice():
        warnings.warn(
            f"{bold}Grid size 1 will likely result in GPU under-utilization due to low occupancy.",
            category,
            stacklevel=2,
        )
        warnings.warn("a user-facing note", UserWarning, stacklevel=2)

    monkeypatch.setitem(main.commands, "warn-twice", warn_twice)
    with warnings.catch_warnings():  # the CLI changes the process's warning filters
        warnings.simplefilter("always")
        result = CliRunner().invoke(main, ["warn-twice"])
    assert result.exit_code == 0
    assert "Warning: a user-facing note" in result.output
    assert "Grid size" not in result.output


def test_train_writes_tensorboard_logs(run, tmp_path):
    pytest.importorskip("tensorboardX")
    reader = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    logs = tmp_path / "logs"
    result = run("train", "mnist", "--epochs", 1, "--limit", 64, "--batch-size", 32,
                 "--validation-split", 0.5, "--tensorboard", logs, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    history = json.loads(result.output)["history"]
    for name, prefix in (("train", ""), ("validation", "val_")):
        events = reader.EventAccumulator(str(logs / name))
        events.Reload()
        logged = [e.value for e in events.Scalars("epoch_loss")]
        assert logged == [pytest.approx(history[f"{prefix}loss"][0], rel=1e-6)]


@pytest.mark.parametrize("case", ["without tensorboardX", "under a file"])
def test_tensorboard_option_errors_are_one_line_before_any_work(run, tmp_path, monkeypatch, case):
    import sys

    (tmp_path / "file").write_text("")
    if case == "without tensorboardX":
        monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
    else:
        pytest.importorskip("tensorboardX")
    result = run("train", "mnist", "--limit", 64, "--tensorboard", tmp_path / "file" / "logs")
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    missing = case == "without tensorboardX"
    message = 'pip install "autoconv[tensorboard]"' if missing else "Not a directory"
    assert message in result.output and "Epoch" not in result.output


# ------------------------------------------------------------------------------ devices
@pytest.fixture
def fresh_config(monkeypatch):
    """No device chosen and no AUTOCONV_DEVICE, as in a new process (call it again for the next
    command); the setting before comes back afterwards."""
    from autoconv import config

    def forget():
        monkeypatch.setattr(config, "_setting", None)

    forget()
    monkeypatch.delenv("AUTOCONV_DEVICE", raising=False)
    return forget


def test_train_names_its_device_first_auto_by_default(run, fresh_config):
    from autoconv import backends

    usable = backends.gpu_usable()
    expected = f"cuda (auto: {backends.gpu_name()})" if usable else "cpu (auto: no usable GPU)"
    result = run("train", "mnist", "--epochs", 1, "--limit", 64)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"Device: {expected}"
    report = json.loads(run("train", "mnist", "--epochs", 1, "--limit", 64, "--json").output)
    assert report["device"] == expected.split()[0]  # resolved, not "auto"


def test_the_device_line_names_the_gpu(fresh_config):
    pytest.importorskip("numba_cuda")
    from autoconv import backends
    from autoconv.backends import cuda
    from autoconv.cli.common import device_line

    ac.config.set_device("cuda")
    assert device_line() == f"Device: cuda ({backends.gpu_name()})"
    if cuda.SIMULATED:
        assert backends.gpu_name() == "numba-cuda's simulator"


def test_train_honours_autoconv_device_unless_device_is_given(run, fresh_config, monkeypatch):
    monkeypatch.setenv("AUTOCONV_DEVICE", "cpu")
    result = run("train", "mnist", "--epochs", 1, "--limit", 64)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "Device: cpu"
    monkeypatch.setenv("AUTOCONV_DEVICE", "tpu")
    fresh_config()
    result = run("train", "mnist", "--epochs", 1, "--limit", 64)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "AUTOCONV_DEVICE: unknown device 'tpu'; expected one of auto, cpu, cuda" in (
        result.output
    )
    result = run("train", "mnist", "--epochs", 1, "--limit", 64, "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["device"] == "cpu"
    with pytest.raises(ValueError, match="AUTOCONV_DEVICE"):  # --device was for that command
        ac.config.get_device()


@pytest.mark.parametrize("how", ["--device", "AUTOCONV_DEVICE"])
def test_cuda_without_a_usable_gpu_is_one_line(run, fresh_config, monkeypatch, how):
    """As tests/backends/test_cuda.py: the simulator counts as a GPU, so it is taken away."""
    pytest.importorskip("numba_cuda")
    from autoconv import backends
    from autoconv.backends import cuda

    monkeypatch.setattr(backends, "_modules", {})
    monkeypatch.setattr(cuda, "available", lambda: False)
    if how == "AUTOCONV_DEVICE":
        monkeypatch.setenv("AUTOCONV_DEVICE", "cuda")
    args = ["--device", "cuda"] if how == "--device" else []
    for command in (["train", "mnist", "--limit", 64], ["bench"]):
        result = run(*command, *args)
        assert result.exit_code == 1 and result.output.count("\n") == 1
        assert "no usable NVIDIA GPU" in result.output and "Traceback" not in result.output
        assert "Epoch" not in result.output  # never trains silently on the CPU
