"""The random source: one seedable generator behind initializers, dropout, shuffling and
augmentation, and Keras's seeds (an int, a :class:`SeedGenerator`, or None for the global
generator). It imports nothing of autoconv's, so every layer can draw from it;
:mod:`autoconv.random` is ``keras.random``'s distributions on top.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import numba
import numpy as np

from autoconv.windows import is_int

_generator = np.random.default_rng()
_seed: int | None = None  # the last set_random_seed, or None


def generator() -> np.random.Generator:
    """The NumPy generator autoconv draws from (reseeded by :func:`set_random_seed`)."""
    return _generator


@numba.njit(cache=True)
def _seed_numba(seed: int) -> None:
    np.random.seed(seed)  # noqa: NPY002 - in jitted code this seeds Numba's own generator


def set_random_seed(seed: int) -> None:
    """Seed autoconv's generator, Python's ``random``, NumPy's global generator and Numba's,
    for reproducible runs (Keras seeds Python's, NumPy's and its backend's)."""
    global _generator, _seed
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer):
        raise ValueError(
            "Expected `seed` argument to be an integer. "
            f"Received: seed={seed} (of type {type(seed)})"
        )
    if seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative int, got {seed!r}")
    _generator, _seed = np.random.default_rng(int(seed)), int(seed)
    random.seed(int(seed))  # a user's own random.shuffle or random.random, as Keras
    np.random.seed(seed % 2**32)  # noqa: NPY002 - users' legacy np.random calls, as Keras
    _seed_numba(seed % 2**32)


def epoch_generator(epoch: int) -> np.random.Generator:
    """The generator that shuffles ``epoch``'s batches. After :func:`set_random_seed` it
    depends only on the seed and the epoch, so training resumed in a new process with
    ``fit(initial_epoch=k)`` sees the same shuffles as the run it continues."""
    return _generator if _seed is None else np.random.default_rng([_seed, epoch])


# ------------------------------------------------------------------------- seeds
_seed_generator_uids = itertools.count()


class SeedGenerator:
    """A seed whose state advances on each draw, as ``keras.random.SeedGenerator``.

    ``state`` is the uint64 pair ``[seed, counter]`` (a negative seed is taken modulo 2**64);
    each draw seeds NumPy's generator with the state, then advances the counter. ``seed=None``
    draws a seed in [1, 10**9] from :func:`generator` (so :func:`set_random_seed` makes it
    reproducible). Names are numbered per process: ``seed_generator``, ``seed_generator_1``...

    >>> gen = SeedGenerator(42)
    >>> a, b = draw(gen).random(3), draw(gen).random(3)
    >>> bool((a == b).all())
    False
    >>> bool((draw(SeedGenerator(42)).random(3) == a).all())
    True
    """

    def __init__(self, seed: int | None = None, name: str | None = None, **kwargs: Any) -> None:
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
        if name is None:
            uid = next(_seed_generator_uids)
            name = "seed_generator" if uid == 0 else f"seed_generator_{uid}"
        self.name = name
        self._initial_seed = seed
        if seed is None:
            seed = int(generator().integers(1, 10**9, endpoint=True))
        if not is_int(seed):
            raise ValueError(f"Argument `seed` must be an integer. Received: seed={seed}")
        self.state = np.array([int(seed) % 2**64, 0], dtype=np.uint64)

    def next(self, ordered: bool = True) -> np.ndarray:
        """The current state (a copy); then the counter steps by one, or, with ``ordered=False``,
        the state moves to ``(state + 1) * 5387 % 933199`` as Keras's global generator's."""
        value = self.state.copy()
        if ordered:
            self.state[1] += np.uint64(1)
        else:
            self.state = (self.state + np.uint64(1)) * np.uint64(5387) % np.uint64(933199)
        return value

    def get_config(self) -> dict[str, Any]:
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SeedGenerator:
        return cls(**config)


def draw(seed: Any) -> np.random.Generator:
    """The generator one draw uses, for a Keras ``seed``: an int (the same values every time),
    a :class:`SeedGenerator` (advanced by the draw) or None (:func:`generator`)."""
    if seed is None:
        return generator()
    if isinstance(seed, SeedGenerator):
        return np.random.default_rng([int(v) for v in seed.next()])
    if is_int(seed):
        return np.random.default_rng([int(seed) % 2**64, 0])
    raise ValueError(
        "Argument `seed` must be either an integer or an instance of `SeedGenerator`. "
        f"Received: seed={seed} (of type {type(seed)})"
    )
