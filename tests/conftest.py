"""Shared fixtures: a seeded RNG and PyTorch, when it is installed, as a reference."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def torch():
    """PyTorch in float64, or skip: it is a reference for the tests, never a requirement."""
    torch = pytest.importorskip("torch")
    torch.set_default_dtype(torch.float64)
    return torch


def away_from_zero(array: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """Move values out of (-margin, margin), keeping kinks like ReLU's far from finite steps."""
    return np.where(np.abs(array) < margin, np.sign(array + 1e-12) * margin + array, array)


def distinct(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Values all at least 0.01 apart (no ties for max), in random order."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.01 - size * 0.005).reshape(shape)
