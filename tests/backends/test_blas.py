"""autoconv's products and the restart of OpenBLAS's threads never meet: a restart waits for the
products in flight and holds new ones back (a restart during a product hangs the process)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autoconv.backends.cpu import blas

ROOT = Path(__file__).resolve().parents[2]


class FakeOpenBLAS:
    """Records what a restart asks of it; its shutdown can be held until released."""

    def __init__(self) -> None:
        self.calls: list[object] = []
        self.shutting_down, self.finish_shutdown = threading.Event(), threading.Event()
        self.finish_shutdown.set()

    def openblas_read_env(self) -> None:
        self.calls.append(("read", os.environ.get("OPENBLAS_THREAD_TIMEOUT")))

    def blas_thread_shutdown_(self) -> None:
        self.shutting_down.set()
        assert self.finish_shutdown.wait(30)
        self.calls.append("shutdown")


@pytest.fixture
def library(monkeypatch) -> FakeOpenBLAS:
    fake = FakeOpenBLAS()
    monkeypatch.setattr(blas, "openblas_libraries", lambda: [fake])
    monkeypatch.setattr(blas, "_restarted", False)
    return fake


def test_a_restart_waits_for_the_products_in_flight(library):
    started, finish = threading.Event(), threading.Event()

    def product():
        started.set()
        assert finish.wait(30)
        return 42

    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(blas.run, product)
        assert started.wait(30)
        restart = pool.submit(blas.restart_threads, 22)
        threading.Event().wait(0.2)
        assert library.calls == [] and not restart.done()
        finish.set()
        assert restart.result(30) is True and running.result(30) == 42
    assert library.calls == [("read", "22"), "shutdown"]
    assert "OPENBLAS_THREAD_TIMEOUT" not in os.environ


def test_products_wait_while_the_threads_restart(library):
    library.finish_shutdown.clear()
    ran: list[str] = []
    with ThreadPoolExecutor(2) as pool:
        restart = pool.submit(blas.restart_threads, 22)
        assert library.shutting_down.wait(30)
        product = pool.submit(blas.run, lambda: ran.append("product"))
        threading.Event().wait(0.2)
        assert ran == [] and not product.done()
        library.finish_shutdown.set()
        restart.result(30)
        product.result(30)
    assert ran == ["product"]


def test_after_the_restart_products_run_without_waiting(library):
    blas.restart_threads(22)
    assert blas._restarted
    assert blas.run(lambda a, b=0: a + b, 1, b=2) == 3


def test_configure_process_amid_products_of_other_threads_never_hangs():
    """The first fit, evaluate or predict restarts OpenBLAS's threads while other threads
    multiply through autoconv (a model called directly, the op functions): in a child
    process, which would hang without the gate."""
    code = (
        "import threading, numpy as np, autoconv as ac\n"
        "a = ac.Tensor(np.random.default_rng(0).random((500, 500), dtype=np.float32))\n"
        "expected = (a @ a).numpy().copy()\n"
        "stop, wrong = threading.Event(), []\n"
        "def multiply():\n"
        "    while not stop.is_set():\n"
        "        if not np.array_equal((a @ a).numpy(), expected): wrong.append(1)\n"
        "threads = [threading.Thread(target=multiply) for _ in range(3)]\n"
        "[t.start() for t in threads]\n"
        "threading.Event().wait(0.3)\n"
        "print(ac.configure_process().blas_threads_sleep_sooner)\n"
        "threading.Event().wait(0.3)\n"
        "stop.set(); [t.join() for t in threads]\n"
        "print(len(wrong))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    restarted, wrong = done.stdout.split()
    assert restarted in ("True", "False") and wrong == "0"
