"""``autoconv bench`` (timings against NumPy and PyTorch) and ``autoconv datasets``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from autoconv.cli.common import device_option, use_device
from autoconv.datasets import DATASETS, DatasetFileError


@click.command()
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--quick", is_flag=True, help="Fewer rounds: a rough pass in ~10 s.")
def bench(device: str | None, as_json: bool, quick: bool) -> None:
    """Time every hot op, a training step and inference against NumPy (and PyTorch).

    On the GPU (--device cuda, or auto where one is usable): the conv and pool layers, a
    training step and an MNIST epoch, next to PyTorch eager CUDA when it is installed with
    CUDA support."""
    device = use_device(device)
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


@click.group(name="datasets", invoke_without_command=True)
@click.pass_context
def datasets(ctx: click.Context) -> None:
    """List the datasets and whether their files are here and verified (``datasets export``
    writes one as a folder of images)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_datasets)


@datasets.command(name="list")
def list_datasets() -> None:
    """List the datasets and whether their files are here and verified."""
    for name, module in sorted(DATASETS.items()):
        try:
            module.load_data(download=False)
            status = "available (verified)"
        except DatasetFileError as error:
            status = f"not available: {error}"
        click.echo(f"{name:14s} {status}")


@datasets.command(name="export")
@click.argument("name", type=click.Choice(sorted(DATASETS)))
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--split", type=click.Choice(["train", "test", "both"]), default="train",
              show_default=True)  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the first N images of each split.")  # fmt: skip
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None)  # fmt: skip
def export(name: str, folder: Path, split: str, limit: int | None, data_dir: Path | None) -> None:
    """Write dataset NAME as FOLDER/<class>/<n>.png, a folder `autoconv train FOLDER` (and
    Keras's image_dataset_from_directory) can read."""
    from autoconv.datasets import export as write

    written = write(name, folder, split=split, limit=limit, data_dir=data_dir)
    files = sum(1 for _ in Path(written).rglob("*.png"))
    click.echo(f"Wrote {files} images of {name} ({split}) to {written}")
