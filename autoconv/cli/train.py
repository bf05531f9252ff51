"""``autoconv train``, ``evaluate`` and ``summary``: the course's convnet on a dataset."""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

import click

from autoconv import callbacks, course, models, training, utils
from autoconv.backends import DEVICES
from autoconv.cli.common import PICTURE_SUFFIXES, PositiveFloat, load, picture, use_device, writable
from autoconv.datasets import DATASETS
from autoconv.optimizers import OPTIMIZERS

OPTIMIZER_NAMES = sorted(name for name in OPTIMIZERS if name == name.lower())


@click.command()
@click.argument("dataset", type=click.Choice(sorted(DATASETS)))
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--optimizer", type=click.Choice(OPTIMIZER_NAMES), default="rmsprop", show_default=True
)
@click.option(
    "--learning-rate",
    type=PositiveFloat(),
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
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Look for the dataset files here first.",
)
@click.option(
    "--save",
    "save_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the trained model to this file (autoconv's pickle-free format).",
)
@click.option(
    "--resume",
    "resume_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Continue training a model saved by --save or --checkpoint (its optimizer state too).",
)
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep the best model so far in this file (by val_loss, or loss without validation).",
)
@click.option(
    "--early-stopping",
    type=click.IntRange(min=0),
    default=None,
    metavar="PATIENCE",
    help="Stop after PATIENCE epochs without improvement; keep the best weights.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Draw loss and accuracy per epoch into this picture (needs autoconv[viz]).",
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
    resume_path: Path | None,
    checkpoint_path: Path | None,
    early_stopping: int | None,
    as_json: bool,
    plot_path: Path | None,
) -> None:
    """Train the course's convnet on DATASET and report accuracy and throughput."""
    use_device(device)
    writable(save_path, "--save")
    writable(checkpoint_path, "--checkpoint", (".keras",))
    writable(plot_path, "--plot", PICTURE_SUFFIXES)
    if plot_path is not None:
        picture(None, None)  # fail now, not after training, if matplotlib is missing
    if seed is not None:
        utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load(dataset, data_dir, limit)
    if validation_split:  # Keras's split; no validation sample is an error now, not later
        training.validation_split_of([x_train], [y_train], None, validation_split)
    train_samples = math.floor(len(x_train) * (1 - validation_split))
    steps = math.ceil(train_samples / batch_size)
    initial_epoch = 0
    if resume_path is not None:
        model = models.load_model(resume_path)
        if not model.compiled:
            raise click.UsageError(f"--resume {resume_path}: the model was saved uncompiled")
        initial_epoch = model.optimizer.iterations // steps
        if initial_epoch >= epochs:
            raise click.UsageError(
                f"--resume {resume_path}: it was already trained for {initial_epoch} epochs "
                f"of {steps} steps; give --epochs above {initial_epoch}"
            )
        model.to(device)
    else:
        model = course.reference_model(course.INPUT_SHAPES[dataset]).to(device)
        options: dict[str, Any] = {} if learning_rate is None else {"learning_rate": learning_rate}
        model.compile(OPTIMIZERS[optimizer](**options), "categorical_crossentropy",
                      metrics=["accuracy"])  # fmt: skip

    # Compile (or load from Numba's cache) every kernel of a training step before the clock
    # starts: one step that changes nothing.
    compile_seconds = training.warm_up(model, x_train[:batch_size], y_train[:batch_size])

    monitor = "val_loss" if validation_split else "loss"
    extra: list[callbacks.Callback] = []
    if checkpoint_path is not None:
        extra.append(callbacks.ModelCheckpoint(str(checkpoint_path), monitor, save_best_only=True))
    if early_stopping is not None:
        extra.append(callbacks.EarlyStopping(monitor, patience=early_stopping,
                                             restore_best_weights=True))  # fmt: skip
    progress = EpochCounter()
    try:
        history = model.fit(
            x_train, y_train, batch_size, epochs, 0 if as_json else "auto",
            [*extra, progress], validation_split, initial_epoch=initial_epoch,
        )  # fmt: skip
    except KeyboardInterrupt:
        saved = (
            f"the best model so far is in {checkpoint_path}"
            if checkpoint_path
            else ("nothing was saved")
        )
        raise click.ClickException(
            f"training was interrupted during epoch {progress.epoch + 1}; {saved}"
        ) from None
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)

    steady = history.epoch_seconds[1:] or history.epoch_seconds
    samples_per_second = train_samples * len(steady) / sum(steady)
    result = {
        "dataset": dataset,
        "device": device,
        "epochs": epochs,
        "initial_epoch": initial_epoch,
        "batch_size": batch_size,
        "optimizer": model.optimizer.name,
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
    done = len(history.epoch_seconds)
    which = f"epochs 2-{done}" if done > 1 else "epoch 1"
    click.echo(f"Test accuracy: {test_accuracy:.4f} (loss {test_loss:.4f}, {len(x_test)} samples)")
    click.echo("Epoch times: " + ", ".join(f"{s:.1f} s" for s in history.epoch_seconds))
    click.echo(f"Throughput: {samples_per_second:,.0f} samples/s (steady state, {which})")
    click.echo(f"Compile/warm-up: {compile_seconds:.1f} s (before the first epoch)")
    if save_path is not None:
        click.echo(f"Saved the model to {save_path}")
    if checkpoint_path is not None:
        click.echo(f"The best model by {monitor} is in {checkpoint_path}")
    if plot_path is not None:
        click.echo(f"Drew the training curves in {plot_path}")


class EpochCounter(callbacks.Callback):
    """Remembers which epoch is running, to say where an interrupted run stopped."""

    epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch


@click.command()
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dataset", type=click.Choice(sorted(DATASETS)), default="mnist")
@click.option(
    "--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None
)
@click.option("--limit", type=click.IntRange(min=1), default=None)
def evaluate(model_path: Path, dataset: str, data_dir: Path | None, limit: int | None) -> None:
    """Evaluate a saved model on DATASET's test split."""
    model = models.load_model(model_path)
    if not model.compiled:
        model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    _, (x_test, y_test) = load(dataset, data_dir, limit)
    try:
        result = model.evaluate(x_test, y_test, batch_size=1000, verbose=0, return_dict=True)
    except ValueError as error:
        raise click.ClickException(f"{model_path} does not fit {dataset}: {error}") from None
    accuracy = next((v for k, v in result.items() if k.endswith("accuracy")), float("nan"))
    loss = result["loss"]
    click.echo(f"Test accuracy: {accuracy:.4f} (loss {loss:.4f}, {len(x_test)} samples)")


@click.command()
def summary() -> None:
    """Print the summary of the course's reference model."""
    course.reference_model().summary(print_fn=click.echo)
