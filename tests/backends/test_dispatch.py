"""The one place the device is chosen: ``autoconv.backends``."""

from __future__ import annotations

import pytest

from autoconv import backends


@pytest.mark.parametrize("loaded", [False, True])
def test_cuda_setup_runs_once_before_the_backend_is_used(monkeypatch, loaded):
    monkeypatch.setattr(backends, "_modules", {})
    monkeypatch.setattr(backends, "_cuda_setup", [])
    calls = []
    if loaded:
        backends.namespace("cuda")
    backends.before_cuda_loads(lambda: calls.append("select"))
    assert calls == (["select"] if loaded else [])  # already loaded: at once
    module = backends.namespace("cuda")
    backends.namespace("cuda")
    assert calls == ["select"] and module is backends.namespace("cuda")


def test_an_unknown_device_is_named():
    with pytest.raises(ValueError, match="unknown device 'tpu'; expected one of cpu, cuda"):
        backends.namespace("tpu")
