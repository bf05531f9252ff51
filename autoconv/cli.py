"""The ``autoconv`` command line: train, evaluate, summary, datasets."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from autoconv import course, distributed, models, training, utils
from autoconv.backends import DEVICES, DeviceUnavailableError
from autoconv.datasets import DATASETS, DatasetFileError
from autoconv.models import Sequential, TrainingDivergedError
from autoconv.optimizers import OPTIMIZERS
from autoconv.process import configure_process
from autoconv.tensor import check_device

EXAMPLE_IMAGE = [
    [3, 3, 2, 1, 0],
    [0, 0, 1, 3, 1],
    [3, 1, 2, 2, 3],
    [2, 0, 0, 2, 2],
    [2, 0, 0, 0, 1],
]
EXAMPLE_KERNEL = [[0, 1, 2], [2, 2, 0], [0, 1, 2]]
EXAMPLE_POOL_IMAGE = [[2, 3, 4, 0], [1, 5, 3, 2], [0, 4, 2, 3], [1, 0, 6, 1]]
# Thread counts a worker started by --workers gets (the cores shared out), unless already set.
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def load(dataset: str, data_dir: Path | None, limit: int | None):
    """:func:`autoconv.course.load`, with a missing or damaged file as one clear line."""
    try:
        return course.load(dataset, data_dir, limit)
    except DatasetFileError as error:
        raise click.ClickException(str(error)) from None


def use_device(device: str) -> None:
    try:
        check_device(device)
    except (DeviceUnavailableError, ValueError) as error:
        raise click.ClickException(str(error)) from None


def picture(draw: Any, path: Path | None) -> None:
    """Draw a figure with autoconv.viz into ``path``; a missing matplotlib is one clear line.
    With ``draw`` None, only check that pictures can be drawn."""
    from autoconv import viz

    try:
        viz._pyplot()
        if draw is not None:
            viz.save(draw(viz), path)
    except viz.MissingDependencyError as error:
        raise click.ClickException(str(error)) from None


def load_saved_model(path: Path) -> Sequential:
    try:
        return models.load_model(path)
    except ValueError as error:
        raise click.ClickException(str(error)) from None


def start_workers(workers: int, batch_size: int) -> distributed.World | None:
    """The processes training together. Started by mpiexec (``mpiexec -n N autoconv train``):
    join them. Else with ``--workers N`` above 1: run this same command under ``mpiexec -n N``
    in place of this process, each worker with its share of the cores. Else None."""
    launched = distributed.launched_size(os.environ)
    if launched == 1 and workers == 1:
        return None
    processes = launched if launched > 1 else workers
    if launched > 1 and workers not in (1, launched):
        raise click.UsageError(f"--workers {workers}, but mpiexec started {launched} processes")
    if processes > batch_size:
        raise click.UsageError(
            f"{processes} workers for a --batch-size of {batch_size}: the batch is split across "
            "the workers, so each needs at least one sample; use fewer workers or a larger batch"
        )
    if launched > 1:
        try:
            return distributed.initialize()
        except distributed.MPIUnavailableError as error:
            raise click.ClickException(str(error)) from None
    mpiexec = distributed.find_mpiexec()
    if mpiexec is None:
        raise click.ClickException(
            f"--workers needs MPI, which is not installed: {distributed.INSTALL_HINT}"
        )
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    environ = {name: threads for name in THREAD_VARIABLES} | dict(os.environ)
    command = [mpiexec, "-n", str(workers), sys.executable, "-m", "autoconv", *sys.argv[1:]]
    sys.stdout.flush()
    os.execve(mpiexec, command, environ)
    return None  # not reached: the workers replace this process


@contextlib.contextmanager
def stopping_all_on_error(world: distributed.World | None) -> Iterator[None]:
    """A command-line error on one worker stops them all (the others would wait for it
    forever); an exception stops them all through :func:`autoconv.distributed.initialize`."""
    try:
        yield
    except click.ClickException as error:
        if world is not None:
            world.abort(f"Error: {error.format_message()}")
        raise


@click.group()
@click.version_option(package_name="autoconv")
def main() -> None:
    """autoconv: a small, readable convnet engine with Numba-compiled kernels."""
    configure_process()


@main.command()
@click.argument("dataset", type=click.Choice(sorted(DATASETS)))
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--optimizer", type=click.Choice(sorted(OPTIMIZERS)), default="rmsprop", show_default=True
)
@click.option(
    "--learning-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Default: the optimizer's Keras default (0.001 for rmsprop and adam).",
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=None, help="Seed for reproducible runs."
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Use only the first N training and N test samples.",
)
@click.option(
    "--validation-split", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Look for the dataset files here first.",
)
@click.option(
    "--save",
    "save_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the trained model to this .npz file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Draw loss and accuracy per epoch into this PNG (needs autoconv[viz]).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Train data-parallel over N processes on this machine (starts mpiexec; needs "
    "autoconv[mpi]). --batch-size stays the global batch.",
)
def train(
    dataset: str,
    device: str,
    epochs: int,
    batch_size: int,
    optimizer: str,
    learning_rate: float | None,
    seed: int | None,
    limit: int | None,
    validation_split: float,
    data_dir: Path | None,
    save_path: Path | None,
    as_json: bool,
    plot_path: Path | None,
    workers: int,
) -> None:
    """Train the course's convnet on DATASET and report accuracy and throughput.

    Under mpiexec (or with --workers), the processes train one model together and the first
    alone prints and writes files."""  # fmt: skip
    world = start_workers(workers, batch_size)
    try:
        with stopping_all_on_error(world):
            run_training(
                dataset, device, epochs, batch_size, optimizer, learning_rate, seed, limit,
                validation_split, data_dir, save_path, as_json, plot_path, world,
            )  # fmt: skip
    except TrainingDivergedError as error:  # the same on every worker: the first reports it
        if not distributed.is_main():
            raise SystemExit(1) from None
        raise click.ClickException(str(error)) from None


def run_training(
    dataset: str, device: str, epochs: int, batch_size: int, optimizer: str,
    learning_rate: float | None, seed: int | None, limit: int | None, validation_split: float,
    data_dir: Path | None, save_path: Path | None, as_json: bool, plot_path: Path | None,
    world: distributed.World | None,
) -> None:  # fmt: skip
    """``autoconv train``, once its workers (if any) are running."""
    use_device(device)
    if plot_path is not None:
        picture(None, None)  # fail now, not after training, if matplotlib is missing
    if seed is not None:
        utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load(dataset, data_dir, limit)
    model = course.reference_model(course.INPUT_SHAPES[dataset]).to(device)
    options: dict[str, Any] = {} if learning_rate is None else {"learning_rate": learning_rate}
    model.compile(
        OPTIMIZERS[optimizer](**options), "categorical_crossentropy", metrics=["accuracy"]
    )

    # Compile (or load from Numba's cache) every kernel of a training step before the clock
    # starts: one step that changes nothing.
    compile_seconds = training.warm_up(model, x_train[:batch_size], y_train[:batch_size])

    verbose = 0 if as_json else 1
    history = model.fit(
        x_train, y_train, epochs=epochs, batch_size=batch_size,
        validation_split=validation_split, verbose=verbose,
    )  # fmt: skip
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    if not distributed.is_main():
        return

    train_samples = len(x_train) - int(len(x_train) * validation_split)
    steady = history.epoch_seconds[1:] or history.epoch_seconds
    samples_per_second = train_samples * len(steady) / sum(steady)
    result = {
        "dataset": dataset,
        "device": device,
        "epochs": epochs,
        "batch_size": batch_size,
        "workers": 1 if world is None else world.size,
        "optimizer": optimizer,
        "train_samples": train_samples,
        "test_samples": len(x_test),
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "history": history.history,
        "epoch_seconds": history.epoch_seconds,
        "samples_per_second": samples_per_second,
        "compile_seconds": compile_seconds,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
    }
    if save_path is not None:
        model.save(save_path)
        result["saved"] = str(save_path)
    if plot_path is not None:
        picture(lambda viz: viz.curves_figure(history), plot_path)
        result["plot"] = str(plot_path)
    if as_json:
        click.echo(json.dumps(result))
        return
    which = "epochs 2-" + str(epochs) if epochs > 1 else "epoch 1"
    click.echo(f"Test accuracy: {test_accuracy:.4f} (loss {test_loss:.4f}, {len(x_test)} samples)")
    click.echo("Epoch times: " + ", ".join(f"{s:.1f} s" for s in history.epoch_seconds))
    click.echo(f"Throughput: {samples_per_second:,.0f} samples/s (steady state, {which})")
    click.echo(f"Compile/warm-up: {compile_seconds:.1f} s (before the first epoch)")
    if save_path is not None:
        click.echo(f"Saved the model to {save_path}")
    if plot_path is not None:
        click.echo(f"Drew the training curves in {plot_path}")


@main.command()
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dataset", type=click.Choice(sorted(DATASETS)), default="mnist")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--limit", type=click.IntRange(min=1), default=None)
def evaluate(model_path: Path, dataset: str, data_dir: Path | None, limit: int | None) -> None:
    """Evaluate a saved model on DATASET's test split."""
    model = load_saved_model(model_path)
    if model.loss is None:
        model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    _, (x_test, y_test) = load(dataset, data_dir, limit)
    try:
        result = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    except ValueError as error:
        raise click.ClickException(f"{model_path} does not fit {dataset}: {error}") from None
    loss, accuracy = result if isinstance(result, list) else (result, float("nan"))
    click.echo(f"Test accuracy: {accuracy:.4f} (loss {loss:.4f}, {len(x_test)} samples)")


@main.command()
def summary() -> None:
    """Print the summary of the course's reference model."""
    course.reference_model().summary(print_fn=click.echo)


@main.command()
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--quick", is_flag=True, help="Fewer rounds: a rough pass in ~10 s.")
def bench(device: str, as_json: bool, quick: bool) -> None:
    """Time every hot op, a training step and inference against NumPy (and PyTorch).

    With --device cuda: the conv and pool layers, a training step and an MNIST epoch on the
    GPU, next to PyTorch eager CUDA when it is installed with CUDA support."""
    use_device(device)
    from autoconv.benchmarks import gpu, runner

    try:
        import torch

        torch.set_num_threads(min(torch.get_num_threads(), os.cpu_count() or 1))
    except ImportError:
        torch = None
        if not as_json:
            click.echo("PyTorch is not installed: its column is skipped (pip install torch).")
    if device == "cuda":
        gpu_rows = gpu.run(torch, quick=quick)
        if as_json:
            click.echo(json.dumps({"device": device, "rows": gpu.as_dicts(gpu_rows)}, indent=1))
        else:
            click.echo(gpu.table(gpu_rows))
        return
    rows, peak = runner.run(torch, quick=quick)
    if as_json:
        report = {"device": device, "peak_gflops": peak, "rows": runner.as_dicts(rows)}
        click.echo(json.dumps(report, indent=1))
    else:
        click.echo(runner.table(rows, peak))


@main.command(name="datasets")
def datasets_command() -> None:
    """List the datasets and whether their files are here and verified."""
    for name, module in sorted(DATASETS.items()):
        try:
            module.load_data(download=False)
            status = "available (verified)"
        except DatasetFileError as error:
            status = f"not available: {error}"
        click.echo(f"{name:14s} {status}")


@main.group()
def explain() -> None:
    """Work a convolution or a pooling out by hand, with the engine's own numbers."""


def _explained(fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        click.echo(fn(*args, **kwargs))
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def _padding(text: str) -> str | int:
    return int(text) if text.isdigit() else text


@explain.command(name="conv")
@click.option(
    "--image",
    default=json.dumps(EXAMPLE_IMAGE),
    show_default=True,
    help="A matrix like [[1,2],[3,4]].",
)
@click.option(
    "--kernel",
    default=json.dumps(EXAMPLE_KERNEL),
    show_default=True,
    help="A matrix, or one of: sharpen, blur, edge, sobel-top, sobel-left.",
)
@click.option("--padding", default="valid", show_default=True, help="valid, same or an int.")
@click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--dilation", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--at", default=None, help="Output position ROW,COL to write out (default 0,0).")
def explain_conv(
    image: str, kernel: str, padding: str, stride: int, dilation: int, at: str | None
) -> None:
    """Convolve a small image: padded input, output size, output, one sum written out."""
    from autoconv import explain as ex

    try:
        matrix, weights = ex.parse_matrix(image, "image"), ex.parse_matrix(kernel, "kernel")
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    _explained(ex.explain_conv, matrix, weights, _padding(padding), stride, dilation, at)


@explain.command(name="pool")
@click.option("--image", default=json.dumps(EXAMPLE_POOL_IMAGE), show_default=True)
@click.option("--mode", type=click.Choice(["max", "avg"]), default="max", show_default=True)
@click.option("--pool-size", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--strides", type=click.IntRange(min=1), default=None, help="Default: the pool size.")
@click.option("--padding", type=click.Choice(["valid", "same"]), default="valid", show_default=True)
@click.option("--at", default=None, help="Output position ROW,COL to write out (default 0,0).")
def explain_pool(
    image: str, mode: str, pool_size: int, strides: int | None, padding: str, at: str | None
) -> None:
    """Pool a small image: output size, output, one window written out."""
    from autoconv import explain as ex

    try:
        matrix = ex.parse_matrix(image, "image")
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    _explained(ex.explain_pool, matrix, pool_size, strides, padding, mode, at)


@main.group()
def show() -> None:
    """Draw what a saved model learned and sees (needs autoconv[viz])."""


@show.command(name="filters")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("filters.png"),
    show_default=True,
)
def show_filters(model_path: Path, out_path: Path) -> None:
    """The first conv layer's kernels as a grid of small images."""
    model = load_saved_model(model_path)
    try:
        picture(lambda viz: viz.filters_figure(model), out_path)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Drew {out_path}")


@show.command(name="activations")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", type=click.Choice(sorted(DATASETS)), default="mnist", show_default=True)
@click.option(
    "--index", type=click.IntRange(min=0), default=0, show_default=True, help="Which test image."
)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("maps.png"),
    show_default=True,
)
def show_activations(
    model_path: Path, dataset: str, index: int, data_dir: Path | None, out_path: Path
) -> None:
    """A test image and every conv/pool layer's feature maps for it."""
    model = load_saved_model(model_path)
    _, (x_test, y_test) = load(dataset, data_dir, None)
    if index >= len(x_test):
        raise click.UsageError(f"--index {index} is past the {len(x_test)} test images")
    try:
        picture(lambda viz: viz.activations_figure(model, x_test[index]), out_path)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Drew {out_path} (test image {index}, label {int(y_test[index].argmax())})")
