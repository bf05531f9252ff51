"""``autoconv bench`` (timings against NumPy and PyTorch) and ``autoconv datasets``."""

from __future__ import annotations

import json
import os

import click

from autoconv.backends import DEVICES
from autoconv.cli.common import use_device
from autoconv.datasets import DATASETS, DatasetFileError


@click.command()
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


@click.command(name="datasets")
def datasets() -> None:
    """List the datasets and whether their files are here and verified."""
    for name, module in sorted(DATASETS.items()):
        try:
            module.load_data(download=False)
            status = "available (verified)"
        except DatasetFileError as error:
            status = f"not available: {error}"
        click.echo(f"{name:14s} {status}")
