"""The file format of ``Dataset.cache(filename)``: a stream of ``.npy`` records, no pickle.

Layout: the 16 bytes ``MAGIC``, then for each element one record: its structure as UTF-8
JSON stored in a uint8 ``.npy`` array (``0`` for an array, ``{"t": [...]}`` for a tuple,
``{"d": {key: ...}}`` for a dict), followed by its arrays as ``.npy`` records in depth-first
order; last, an end record ``{"end": N}`` with the number of elements. Arrays are written and
read with ``allow_pickle=False``, so a cache file can never run code, and a file without its
end record is reported as truncated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from autoconv.data.structure import leaves, to_numpy
from autoconv.datasets.files import DatasetFileError

MAGIC = b"autoconv-cache1\n"


def _describe(element: Any) -> Any:
    if isinstance(element, tuple):
        return {"t": [_describe(item) for item in element]}
    if isinstance(element, dict):
        if not all(isinstance(key, str) for key in element):
            raise TypeError("cache: a dict element needs string keys to be written to a file")
        return {"d": {key: _describe(value) for key, value in element.items()}}
    return 0


def _build(description: Any, arrays: Iterator[np.ndarray]) -> Any:
    if description == 0:
        return next(arrays)
    if "t" in description:
        return tuple(_build(item, arrays) for item in description["t"])
    return {key: _build(value, arrays) for key, value in description["d"].items()}


def _write_json(f: IO[bytes], value: Any) -> None:
    raw = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)
    np.lib.format.write_array(f, raw, allow_pickle=False)


class Writer:
    """Writes elements to an open binary file; ``close()`` writes the end record."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.count = 0
        f.write(MAGIC)

    def write(self, element: Any) -> None:
        _write_json(self.f, _describe(element))
        for leaf in leaves(element):
            np.lib.format.write_array(self.f, to_numpy(leaf), allow_pickle=False)
        self.count += 1

    def close(self) -> None:
        _write_json(self.f, {"end": self.count})


def _arrays(f: IO[bytes]) -> Iterator[np.ndarray]:
    while True:
        yield np.lib.format.read_array(f, allow_pickle=False)


def read(path: Path) -> Iterator[Any]:
    """The elements stored in the cache file ``path``, one at a time."""
    with open(path, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise DatasetFileError(f"{path}: not an autoconv dataset cache file")
        arrays = _arrays(f)
        count = 0
        while True:
            try:
                description = json.loads(next(arrays).tobytes())
                if isinstance(description, dict) and "end" in description:
                    if description["end"] != count:
                        raise ValueError(f"the end record counts {description['end']} elements")
                    return
                element = _build(description, arrays)
            except (ValueError, OSError, EOFError, KeyError, TypeError) as error:
                raise DatasetFileError(
                    f"{path}: truncated or corrupted dataset cache file at element {count} "
                    f"({error}); delete it to rebuild it"
                ) from None
            count += 1
            yield element
