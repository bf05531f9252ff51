"""``autoconv explain`` (a convolution or a pooling worked out by hand, with the engine's own
numbers) and ``autoconv show`` (a saved model's filters and feature maps, as pictures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from autoconv import models
from autoconv.cli.common import PICTURE_SUFFIXES, load, picture, writable
from autoconv.datasets import DATASETS

EXAMPLE_IMAGE = [
    [3, 3, 2, 1, 0],
    [0, 0, 1, 3, 1],
    [3, 1, 2, 2, 3],
    [2, 0, 0, 2, 2],
    [2, 0, 0, 0, 1],
]
EXAMPLE_KERNEL = [[0, 1, 2], [2, 2, 0], [0, 1, 2]]
EXAMPLE_POOL_IMAGE = [[2, 3, 4, 0], [1, 5, 3, 2], [0, 4, 2, 3], [1, 0, 6, 1]]


@click.group()
def explain() -> None:
    """Work a convolution or a pooling out by hand, with the engine's own numbers."""


def _explained(fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        click.echo(fn(*args, **kwargs))
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def _padding(text: str) -> str | int:
    """'valid', 'same' or a small non-negative int, as the op takes it."""
    from autoconv.explain import MAX_SIDE

    if text in ("valid", "same"):
        return text
    if not text.isdigit() or int(text) > MAX_SIDE:
        raise click.UsageError(
            f"--padding must be valid, same or an int from 0 to {MAX_SIDE}, got {text!r}"
        )
    return int(text)


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


@click.group()
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
    writable(out_path, "--out", PICTURE_SUFFIXES)
    model = models.load_model(model_path)
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
@click.option(
    "--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None
)
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
    writable(out_path, "--out", PICTURE_SUFFIXES)
    model = models.load_model(model_path)
    _, (x_test, y_test) = load(dataset, data_dir, None)
    if index >= len(x_test):
        raise click.UsageError(f"--index {index} is past the {len(x_test)} test images")
    try:
        picture(lambda viz: viz.activations_figure(model, x_test[index]), out_path)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Drew {out_path} (test image {index}, label {int(y_test[index].argmax())})")
