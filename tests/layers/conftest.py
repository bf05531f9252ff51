"""The layer tests' shared fixture: real Keras 3, the reference they compare with."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def keras():
    """Real Keras 3 on its PyTorch backend, or skip."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    return pytest.importorskip("keras")
