"""The random source behind initializers, dropout and shuffling: one seedable generator."""

from __future__ import annotations

import numba
import numpy as np

_generator = np.random.default_rng()
_seed: int | None = None  # the last set_random_seed, or None


def generator() -> np.random.Generator:
    """The NumPy generator autoconv draws from (reseeded by :func:`set_random_seed`)."""
    return _generator


@numba.njit(cache=True)
def _seed_numba(seed: int) -> None:
    np.random.seed(seed)  # noqa: NPY002 - in jitted code this seeds Numba's own generator


def set_random_seed(seed: int) -> None:
    """Seed autoconv's generator, NumPy's global one and Numba's, for reproducible runs."""
    global _generator, _seed
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer):
        raise ValueError(
            "Expected `seed` argument to be an integer. "
            f"Received: seed={seed} (of type {type(seed)})"
        )
    if seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative int, got {seed!r}")
    _generator, _seed = np.random.default_rng(int(seed)), int(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - users' legacy np.random calls, as Keras
    _seed_numba(seed % 2**32)


def epoch_generator(epoch: int) -> np.random.Generator:
    """The generator that shuffles ``epoch``'s batches. After :func:`set_random_seed` it
    depends only on the seed and the epoch, so training resumed in a new process with
    ``fit(initial_epoch=k)`` sees the same shuffles as the run it continues."""
    return _generator if _seed is None else np.random.default_rng([_seed, epoch])
