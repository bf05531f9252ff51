"""What the commands share: option types that reject bad values before any work, checks that
an output file can be written, and one-line errors for missing data and unusable devices."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import click

from autoconv import config, course
from autoconv.backends import DeviceUnavailableError, gpu_name

PICTURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


class PositiveFloat(click.ParamType):
    """A finite number > 0 (``--learning-rate nan``, ``inf`` or ``0`` are usage errors)."""

    name = "positive number"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"{value!r} must be a finite number greater than 0", param, ctx)
        return number


def writable(path: Path | None, what: str, suffixes: tuple[str, ...] | None = None) -> None:
    """Fail now, before any training, if ``path`` cannot be written: a missing or read-only
    folder, a folder in its place, a read-only file, or (for pictures) an unknown format."""
    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    if suffixes == (".keras",) and path.suffix != ".keras":  # as Keras's ModelCheckpoint
        raise click.UsageError(f"{what} must end in .keras, got {path}")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise click.UsageError(
            f"{what} {path}: unsupported file type {path.suffix or '(none)'}; use one of "
            f"{', '.join(suffixes)}"
        )
    if not folder.is_dir():
        raise click.UsageError(f"{what} {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise click.UsageError(f"{what} {path}: it is a folder")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise click.UsageError(f"{what} {path}: not writable")


def device_option(command: Any) -> Any:
    """The ``--device`` option: auto, cpu or cuda; not given, AUTOCONV_DEVICE's, else auto."""
    return click.option(
        "--device",
        type=click.Choice(config.DEVICE_CHOICES),
        default=None,
        help="auto: the GPU where one is usable, else the CPU. Default: $AUTOCONV_DEVICE, else "
        "auto.",
    )(command)


def use_device(device: str | None) -> str:
    """The device a command runs on, "cpu" or "cuda". ``--device``, where given, is the device
    models are made on until the command ends (:func:`autoconv.config.device_scope`); else
    :mod:`autoconv.config` chooses (AUTOCONV_DEVICE, else auto). A device that cannot run here,
    or a bad AUTOCONV_DEVICE, is one line."""
    try:
        if device is not None:
            click.get_current_context().with_resource(config.device_scope(device))
        return config.get_device()
    except (ValueError, DeviceUnavailableError) as error:
        raise click.ClickException(str(error)) from None


def device_line() -> str:
    """The line naming the device models are made on (the GPU by its name), and "auto" where
    it chose: ``Device: cuda (auto: NVIDIA H200)``, ``Device: cpu (auto: no usable GPU)``."""
    device = config.get_device()
    auto = config.device_choice() == "auto"
    if device == "cuda":
        return f"Device: cuda ({'auto: ' if auto else ''}{gpu_name()})"
    return f"Device: cpu{' (auto: no usable GPU)' if auto else ''}"


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


def load(dataset: str, data_dir: Path | None, limit: int | None) -> Any:
    """:func:`autoconv.course.load` (its errors are one line through the command handler)."""
    return course.load(dataset, data_dir, limit)


def message_of(error: Exception) -> str:
    """One line for an exception: its own message for the errors a user can cause, and for
    anything else what it was and how to see more (a bug: please report it)."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.strerror}: {error.filename}"
    text = str(error).strip().replace("\n", " ")
    if isinstance(error, ValueError | TypeError | OSError | RuntimeError | NotImplementedError):
        return text or type(error).__name__
    return (
        f"internal error ({type(error).__name__}: {text}); run `autoconv --debug ...` to see "
        "the traceback, and please report it"
    )
