"""``autoconv train``, ``evaluate`` and ``summary``: the course's convnet on a dataset."""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

import click
import numpy as np

from autoconv import (
    activations,
    batches,
    callbacks,
    config,
    course,
    distributed,
    losses,
    models,
    training,
    utils,
)
from autoconv.cli.common import (
    PICTURE_SUFFIXES,
    PositiveFloat,
    device_line,
    device_option,
    load,
    picture,
    use_device,
    writable,
)
from autoconv.cli.workers import start_workers, stopping_all_on_error
from autoconv.datasets import DATASETS
from autoconv.optimizers import OPTIMIZERS

OPTIMIZER_NAMES = sorted(name for name in OPTIMIZERS if name == name.lower())


class DatasetOrFolder(click.ParamType):
    """A dataset's name (mnist, fashion_mnist, cifar10) or a folder of class sub-folders."""

    name = "DATASET|FOLDER"

    def convert(self, value: Any, param: Any, ctx: Any) -> str | Path:
        if value in DATASETS:
            return value
        if Path(value).is_dir():
            return Path(value)
        self.fail(
            f"{value!r} is neither a dataset ({', '.join(sorted(DATASETS))}) nor a folder of "
            "images in class sub-folders",
            param,
            ctx,
        )


@click.command()
@click.argument("dataset", type=DatasetOrFolder())
@device_option
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--steps-per-execution",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Batches run per execution, as Keras's compile(steps_per_execution=N): on the GPU "
    "N training steps are one launch; the progress display refreshes between executions.",
)
@click.option(
    "--matmul-precision",
    type=click.Choice(config.FLOAT32_MATMUL_PRECISIONS),
    default=config.DEFAULT_FLOAT32_MATMUL_PRECISION,
    show_default=True,
    help="float32 matrix products on the GPU: high (TensorFloat-32 on its tensor cores, as "
    "Keras's backends do there) or highest (float32), as config.set_float32_matmul_precision.",
)
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
    help="Write the trained model to this .keras file (Keras 3's archive; Keras loads it).",
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
@click.option(
    "--image-size",
    type=(click.IntRange(min=1), click.IntRange(min=1)),
    default=(180, 180),
    show_default=True,
    metavar="H W",
    help="For a folder: the size images are resized to.",
)
@click.option(
    "--color-mode",
    type=click.Choice(["rgb", "grayscale"]),
    default="rgb",
    show_default=True,
    help="For a folder: the images' channels.",
)
@click.option(
    "--model",
    "model_name",
    type=click.Choice(sorted(course.IMAGE_MODELS)),
    default="rgb_classifier",
    show_default=True,
    help="For a folder: which of the course's models to train.",
)
@click.option(
    "--augment", is_flag=True, help="For a folder: random flips, rotations and zooms in training."
)
@click.option(
    "--skip-bad-files",
    is_flag=True,
    help="For a folder: leave out files that cannot be decoded (named in a warning).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Draw loss and accuracy per epoch into this picture (needs autoconv[viz]).",
)
@click.option(
    "--tensorboard",
    "tensorboard_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Write TensorBoard logs into DIR/train and DIR/validation, as Keras's TensorBoard "
    "callback (needs autoconv[tensorboard]).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="For a dataset: train data-parallel over N processes on this machine (starts "
    "mpiexec; needs autoconv[mpi]). --batch-size stays the global batch.",
)
def train(dataset: str | Path, workers: int, batch_size: int, **options: Any) -> None:
    """Train the course's convnet on DATASET (mnist, fashion_mnist, cifar10), or a course model
    on a FOLDER of images in class sub-folders, and report accuracy and throughput.

    Under mpiexec (or with --workers), the processes train one model together and the first
    alone prints and writes files."""
    if isinstance(dataset, Path) and workers > 1:
        raise click.UsageError("--workers trains on a dataset's arrays; a FOLDER trains in one "
                               "process")  # fmt: skip
    world = start_workers(workers, batch_size)
    with stopping_all_on_error(world):
        size = 1 if world is None else world.size
        _train(dataset, batch_size=batch_size, workers=size, **options)


def _train(
    dataset: str | Path,
    device: str | None,
    epochs: int,
    batch_size: int,
    steps_per_execution: int,
    matmul_precision: str,
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
    image_size: tuple[int, int],
    color_mode: str,
    model_name: str,
    augment: bool,
    skip_bad_files: bool,
    as_json: bool,
    plot_path: Path | None,
    tensorboard_dir: Path | None,
    workers: int,
) -> None:
    """``autoconv train``, once its workers (if any) run: the same arguments."""
    device = use_device(device)
    config.set_float32_matmul_precision(matmul_precision)
    writable(save_path, "--save", (".keras",))
    writable(checkpoint_path, "--checkpoint", (".keras",))
    writable(plot_path, "--plot", PICTURE_SUFFIXES)
    if plot_path is not None:
        picture(None, None)  # fail now, not after training, if matplotlib is missing
    board = tensorboard(tensorboard_dir)
    if seed is not None:
        utils.set_random_seed(seed)
    if isinstance(dataset, Path):
        settings = {"image_size": image_size, "color_mode": color_mode, "model": model_name,
                    "augment": augment, "skip_bad_files": skip_bad_files}  # fmt: skip
        train_folder(dataset, settings, device, epochs, batch_size, steps_per_execution,
                     optimizer, learning_rate, seed, validation_split, save_path, resume_path,
                     checkpoint_path, early_stopping, as_json, plot_path, board)  # fmt: skip
        return
    (x_train, y_train), (x_test, y_test) = load(dataset, data_dir, limit)
    if validation_split:  # Keras's split; no validation sample is an error now, not later
        batches.validation_split_of([x_train], [y_train], None, validation_split)
    if not as_json and distributed.is_main():
        click.echo(device_line())
        if workers > 1:
            click.echo(
                f"Workers: {workers} processes (MPI), each batch of {batch_size} split among them"
            )
    train_samples = math.floor(len(x_train) * (1 - validation_split))
    steps = math.ceil(train_samples / batch_size)
    initial_epoch = 0
    if resume_path is not None:
        model = models.load_model(resume_path)
        if not model.compiled:
            raise click.UsageError(f"--resume {resume_path}: the model was saved uncompiled")
        initial_epoch = int(model.optimizer.iterations) // steps
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

    model.steps_per_execution = steps_per_execution
    # Compile (or load from Numba's cache) every kernel of a training step before the clock
    # starts: one step that changes nothing.
    compile_seconds = training.warm_up(model, x_train[:batch_size], y_train[:batch_size])

    monitor = "val_loss" if validation_split else "loss"
    extra: list[callbacks.Callback] = [*board]
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
    if not distributed.is_main():
        return  # the first process alone reports and writes files

    steady = history.epoch_seconds[1:] or history.epoch_seconds
    samples_per_second = train_samples * len(steady) / sum(steady)
    result = {
        "dataset": dataset,
        "device": device,
        "epochs": epochs,
        "initial_epoch": initial_epoch,
        "batch_size": batch_size,
        "workers": workers,
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
    which = {1: "epoch 1", 2: "epoch 2"}.get(done, f"epochs 2-{done}")
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


def tensorboard(log_dir: Path | None) -> list[callbacks.Callback]:
    """``--tensorboard DIR``: the TensorBoard callback (none without DIR), made before any work,
    so that a missing extra or a folder that cannot be created is one line."""
    if log_dir is None:
        return []
    try:
        board = callbacks.TensorBoard(log_dir)
    except ImportError as error:
        raise click.ClickException(str(error)) from None
    if distributed.is_main():  # the first process alone writes files
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise click.UsageError(f"--tensorboard {log_dir}: {error.strerror or error}") from None
    return [board]


def train_folder(
    folder: Path,
    settings: dict[str, Any],
    device: str,
    epochs: int,
    batch_size: int,
    steps_per_execution: int,
    optimizer: str,
    learning_rate: float | None,
    seed: int | None,
    validation_split: float,
    save_path: Path | None,
    resume_path: Path | None,
    checkpoint_path: Path | None,
    early_stopping: int | None,
    as_json: bool,
    plot_path: Path | None,
    board: list[callbacks.Callback],
) -> None:
    """Train on a folder of images, as the flowers tutorial: image_dataset_from_directory
    (with a validation subset when --validation-split is given), a course model, fit."""
    from autoconv.data import image_dataset_from_directory

    split = validation_split or None
    seed = 1337 if seed is None else seed  # Keras needs one to split: the tutorials use 123
    loaded = image_dataset_from_directory(
        folder, validation_split=split, subset="both" if split else None, seed=seed,
        image_size=tuple(settings["image_size"]), color_mode=settings["color_mode"],
        batch_size=batch_size, verbose=not as_json, skip_bad_files=settings["skip_bad_files"],
    )  # fmt: skip
    train_data, val_data = loaded if split else (loaded, None)
    class_names = train_data.class_names
    channels = 1 if settings["color_mode"] == "grayscale" else 3
    input_shape = (*settings["image_size"], channels)
    if resume_path is not None:
        model = models.load_model(resume_path)
        initial_epoch = int(model.optimizer.iterations) // len(train_data) if model.compiled else 0
    else:
        augmentation = course.augmentation() if settings["augment"] else None
        model = course.image_model(settings["model"], input_shape, len(class_names), augmentation)
        options: dict[str, Any] = {} if learning_rate is None else {"learning_rate": learning_rate}
        model.compile(OPTIMIZERS[optimizer](**options),
                      losses.SparseCategoricalCrossentropy(from_logits=settings["model"] ==
                                                           "rgb_classifier"),
                      metrics=["accuracy"])  # fmt: skip
        initial_epoch = 0
    model.class_names = class_names
    model.steps_per_execution = steps_per_execution
    model.to(device)
    if not as_json:
        click.echo(device_line())
        click.echo(f"Classes: {', '.join(class_names)}")
    monitor = "val_loss" if val_data is not None else "loss"
    extra: list[callbacks.Callback] = [*board]
    if checkpoint_path is not None:
        extra.append(callbacks.ModelCheckpoint(str(checkpoint_path), monitor, save_best_only=True))
    if early_stopping is not None:
        extra.append(callbacks.EarlyStopping(monitor, patience=early_stopping,
                                             restore_best_weights=True))  # fmt: skip
    progress = EpochCounter()
    try:
        history = model.fit(
            train_data,
            epochs=epochs,
            verbose=0 if as_json else "auto",
            callbacks=[*extra, progress],
            validation_data=val_data,
            initial_epoch=initial_epoch,
            shuffle=False,  # (the folder's dataset shuffles itself: no warning that it is moot)
        )
    except KeyboardInterrupt:
        saved = (
            f"the best model so far is in {checkpoint_path}"
            if checkpoint_path
            else ("nothing was saved")
        )
        raise click.ClickException(
            f"training was interrupted during epoch {progress.epoch + 1}; {saved}"
        ) from None
    samples = len(train_data.file_paths)
    steady = history.epoch_seconds[1:] or history.epoch_seconds
    result = {
        "folder": str(folder),
        "classes": class_names,
        "train_files": samples,
        "validation_files": 0 if val_data is None else len(val_data.file_paths),
        "history": history.history,
        "epoch_seconds": history.epoch_seconds,
        "samples_per_second": samples * len(steady) / sum(steady),
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
    click.echo("Epoch times: " + ", ".join(f"{s:.1f} s" for s in history.epoch_seconds))
    click.echo(f"Throughput: {result['samples_per_second']:,.0f} samples/s")
    if save_path is not None:
        click.echo(f"Saved the model to {save_path} (with its class names and input size)")
    if checkpoint_path is not None:
        click.echo(f"The best model by {monitor} is in {checkpoint_path}")
    if plot_path is not None:
        click.echo(f"Drew the training curves in {plot_path}")


@click.command()
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("images", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many classes to print per image.")  # fmt: skip
def predict(model_path: Path, images: tuple[Path, ...], top: int) -> None:
    """Classify IMAGES with a saved model: each image's most likely classes, as the
    tutorials print them."""
    model = models.load_model(model_path)
    shape = tuple(model.inputs[0].shape[1:]) if model.inputs else ()
    if len(shape) != 3 or shape[2] not in (1, 3, 4) or None in shape:
        raise click.ClickException(
            f"{model_path} is not a model of images: its input is {shape}, not (height, width, "
            "1, 3 or 4 channels)"
        )
    height, width, channels = shape
    mode = {1: "grayscale", 3: "rgb", 4: "rgba"}[channels]
    batch = np.stack([_read_image(p, mode, (height, width)) for p in images])
    outputs = model.predict(batch, verbose=0)
    names = model.class_names or [str(i) for i in range(outputs.shape[-1])]
    probabilities = _probabilities(model, outputs)
    for path, row in zip(images, probabilities, strict=True):
        order = np.argsort(-row, kind="stable")[:top]
        best, rest = order[0], order[1:]
        line = f"{path}: This image is {100 * row[best]:.1f}% {names[best]}"
        if len(rest):
            line += " (then " + ", ".join(f"{100 * row[i]:.1f}% {names[i]}" for i in rest) + ")"
        click.echo(line)


def _read_image(path: Path, color_mode: str, size: tuple[int, int]) -> np.ndarray:
    """One image for ``predict``, loaded as the tutorials load a new photo (``load_img``)."""
    from autoconv.data.directory import unreadable_image
    from autoconv.preprocessing.image import img_to_array, load_img

    try:
        return img_to_array(load_img(path, color_mode=color_mode, target_size=size))
    except OSError as error:  # Pillow's errors for a file that is not an image, or truncated
        raise unreadable_image(path, error) from None


def _probabilities(model: Any, outputs: np.ndarray) -> np.ndarray:
    """Class probabilities from a model's outputs: a softmax's as they are, one sigmoid unit as
    two classes, logits through a softmax (as the flowers tutorial does)."""
    if outputs.shape[-1] == 1:
        is_sigmoid = getattr(model.layers[-1], "activation", None) is activations.sigmoid
        p = outputs[:, 0] if is_sigmoid else 1 / (1 + np.exp(-outputs[:, 0]))
        return np.stack([1 - p, p], axis=1)
    if getattr(model.layers[-1], "ends_in_softmax", False):
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


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
@click.argument(
    "model_path", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--plan", is_flag=True, help="Also print which layers run fused, and how.")
def summary(model_path: Path | None, plan: bool) -> None:
    """Print the summary of a saved model (MODEL_PATH), or of the course's reference model."""
    model = course.reference_model() if model_path is None else models.load_model(model_path)
    model.summary(print_fn=lambda text: click.echo(text, nl=False))
    if plan:
        click.echo(str(model.plan))
