"""``autoconv train --workers N``: the processes that train one model together over MPI
(:mod:`autoconv.distributed`), started with ``mpiexec`` and stopped together on an error."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import click

from autoconv import distributed
from autoconv.cli.common import message_of
from autoconv.models import TrainingDivergedError

# Thread counts a worker started by --workers gets (the cores shared out), unless already set.
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


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
    """An error on one worker stops them all (the others would wait for it forever), with its
    one-line message; a diverged run, the same on every worker, is reported by the first."""
    if world is None:
        yield
        return
    try:
        yield
    except TrainingDivergedError as error:
        if not distributed.is_main():
            raise SystemExit(1) from None
        raise click.ClickException(str(error)) from None
    except click.ClickException as error:
        world.abort(f"Error: {error.format_message()}")
        raise
    except Exception as error:
        world.abort(f"Error: {message_of(error)}")
        raise
