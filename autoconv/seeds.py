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

from autoconv.naming import variable_repr
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


class SeedState:
    """A :class:`SeedGenerator`'s state, with the face of Keras's non-trainable
    ``seed_generator_state`` variable: ``numpy()``, ``value``, ``assign`` (a generator set
    back to ``[seed, 0]`` repeats its draws), ``path``, ``shape``, ``dtype``, Keras's printed
    form; indexing and ``np.asarray`` read the uint64 pair ``[seed, counter]`` itself."""

    trainable = False

    def __init__(self, value: Any, path: str) -> None:
        self.data = np.array(value, dtype=np.uint64)
        self.name = "seed_generator_state"
        self.path = path

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> str:
        return str(self.data.dtype)

    @property
    def value(self) -> np.ndarray:
        return self.data.copy()

    def numpy(self) -> np.ndarray:
        return self.data.copy()

    def copy(self) -> np.ndarray:
        return self.data.copy()

    def assign(self, value: Any) -> np.ndarray:
        """Set the pair in place (a negative int taken modulo 2**64, as the seed is)."""
        values = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        if values.shape != self.data.shape or values.dtype.kind not in "iu":
            raise ValueError(
                f"Variable {self.path}: cannot assign {value!r}: it takes two integers "
                "[seed, counter]"
            )
        self.data[:] = [int(v) % 2**64 for v in values]
        return self.data.copy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data.copy() if dtype is None else self.data.astype(dtype)

    def __getitem__(self, index: Any) -> Any:
        return self.data[index]

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return variable_repr(self.path, self.shape, self.dtype, self.data)


class SeedGenerator:
    """A seed whose state advances on each draw, as ``keras.random.SeedGenerator``.

    ``state`` (a :class:`SeedState`, as Keras's state variable) holds the uint64 pair
    ``[seed, counter]`` (a negative seed is taken modulo 2**64);
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
        self.state = SeedState([int(seed) % 2**64, 0], f"{name}/seed_generator_state")

    def next(self, ordered: bool = True) -> np.ndarray:
        """The current state (a copy); then the counter steps by one, or, with ``ordered=False``,
        the state moves to ``(state + 1) * 5387 % 933199`` as Keras's global generator's."""
        state = self.state.data
        value = state.copy()
        if ordered:
            state[1] += np.uint64(1)
        else:
            state[:] = (state + np.uint64(1)) * np.uint64(5387) % np.uint64(933199)
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
