"""The backend contract is code: both backends define every name of
:class:`autoconv.backends.contract.Backend`, with the contract's parameters."""

from __future__ import annotations

import inspect

import pytest

from autoconv.backends import contract, cpu

pytest.importorskip("numba_cuda")

from autoconv.backends import cuda

NAMES = contract.names()


def test_the_contract_lists_the_functions_ops_and_training_use():
    assert len(NAMES) >= 40
    assert {"im2col", "matmul", "max_pool_forward", "rmsprop_update", "check_finite"} <= set(NAMES)


@pytest.mark.parametrize("module", [cpu, cuda], ids=["cpu", "cuda"])
@pytest.mark.parametrize("name", NAMES)
def test_backend_defines_the_name_with_the_contract_signature(module, name):
    function = getattr(module, name, None)
    assert callable(function), f"{module.__name__} lacks {name}"
    parameters = inspect.signature(function).parameters.values()
    got = inspect.Signature([p.replace(annotation=inspect.Parameter.empty) for p in parameters])
    assert got == contract.signature(name)


@pytest.mark.parametrize("module", [cpu, cuda], ids=["cpu", "cuda"])
@pytest.mark.parametrize("name", contract.constants())
def test_backend_defines_the_contract_constants(module, name):
    assert type(getattr(module, name, None)) is int, f"{module.__name__} lacks the int {name}"


def test_a_missing_or_different_function_is_seen():
    def im2col(x, window):  # a parameter renamed
        return x

    parameters = inspect.signature(im2col).parameters.values()
    assert inspect.Signature(list(parameters)) != contract.signature("im2col")


def test_every_cuda_kernel_is_launched_through_launch_or_configure():
    """Threads launch one at a time (``cuda.runtime.Launch``): a ``kernel[grid, block](...)``
    written directly would bypass the lock (the simulator then breaks another thread's launch)."""
    import re
    from pathlib import Path

    direct = re.compile(r"\[[^\[\]]+,[^\[\]]+\]\(")
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(Path(cuda.__file__).parent.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if direct.search(line) and "self.kernel[self.grid, self.block" not in line
    ]
    assert not found, "launch these through launch() or configure():\n" + "\n".join(found)
