"""The ``autoconv`` command line (click): ``train``, ``evaluate``, ``predict``, ``summary``
(train.py),
``explain`` and ``show`` (inspect.py), ``bench`` and ``datasets`` (tools.py).

Every command runs under one error handler: a user's mistake (a bad option, a missing or
damaged file, a model that does not fit the data, a diverged training run) is one line on
stderr and a non-zero exit; ``autoconv --debug ...`` (or ``AUTOCONV_DEBUG=1``) shows the
traceback instead, for bug reports.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import click
from numba.core.errors import NumbaPerformanceWarning

from autoconv.cli import inspect, tools, train
from autoconv.cli.common import message_of
from autoconv.process import configure_process

# numba-cuda's note on a kernel launched with a small grid, as a warnings filter's message.
LAUNCH_SIZE_NOTE = r"(\x1b\[[0-9;]*m)*Grid size \d+ will likely result in GPU under-utilization"


class Commands(click.Group):
    """A click group whose commands' errors are one line, unless --debug is given."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():  # main() may change how warnings show, until here
                return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if _debug(ctx):
                raise
            raise click.ClickException(message_of(error)) from None


def _debug(ctx: click.Context) -> bool:
    return bool(ctx.meta.get("debug")) or os.environ.get("AUTOCONV_DEBUG") == "1"


def _show_warning(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
    """A warning in one line, as errors are (the code that raised it only with --debug)."""
    click.echo(f"Warning: {message}", err=True)


@click.group(cls=Commands)
@click.version_option(package_name="autoconv")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """autoconv: a small, readable convnet engine with Numba-compiled kernels."""
    ctx.meta["debug"] = debug
    if not _debug(ctx):
        warnings.showwarning = _show_warning
        # numba-cuda's notes on its launch sizes ("Grid size 1 will likely result in GPU
        # under-utilization", a line per small kernel) concern autoconv's kernels, not the user.
        # By message too: numba-cuda 0.30 raises them as a class of its own, not Numba's, and
        # with colorama installed its message starts with a terminal code for bold.
        warnings.filterwarnings("ignore", category=NumbaPerformanceWarning)
        warnings.filterwarnings("ignore", message=LAUNCH_SIZE_NOTE)
    configure_process()


for command in (train.train, train.evaluate, train.predict, train.summary, inspect.explain,
                inspect.show, tools.bench, tools.datasets):  # fmt: skip
    main.add_command(command)
