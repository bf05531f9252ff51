"""``TextLineDataset``: the lines of text files as a Dataset of texts, as ``tf.data``'s."""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np

from autoconv.data.dataset import UNKNOWN_CARDINALITY, Dataset

COMPRESSIONS = ("", "ZLIB", "GZIP")


class TextLineDataset(Dataset):
    """The lines of ``filenames`` (a path, a list of paths, or a Dataset of paths), file after
    file, as ``tf.data.TextLineDataset``: each line a ``str`` without its ``\\n`` and with no
    ``\\r`` (TensorFlow drops them; it gives bytes, autoconv decodes them as UTF-8, a bad byte
    becoming U+FFFD). ``compression_type`` is "" (or None), "ZLIB" or "GZIP"; with
    ``num_parallel_reads`` that many files are read in turn, a line from each, in
    TensorFlow's order (see :meth:`Dataset.interleave`). ``buffer_size`` and ``name`` are
    accepted for TensorFlow compatibility. A missing file fails when the pass reaches it."""

    def __init__(
        self,
        filenames: Any,
        compression_type: str | None = None,
        buffer_size: int | None = None,
        num_parallel_reads: int | None = None,
        name: str | None = None,
    ) -> None:
        del buffer_size, name
        compression = compression_type or ""
        if compression not in COMPRESSIONS:
            raise ValueError(
                f"TextLineDataset: compression_type must be one of {COMPRESSIONS} (or None), "
                f"got {compression_type!r}"
            )
        names = filenames if isinstance(filenames, Dataset) else _names_dataset(filenames)

        def lines_of(path: Any) -> Dataset:
            return Dataset(lambda: _lines(str(path), compression), UNKNOWN_CARDINALITY)

        if num_parallel_reads is None:
            lines = names.flat_map(lines_of)
        else:
            lines = names.interleave(lines_of, cycle_length=num_parallel_reads, block_length=1)
        super().__init__(lines._iterate, lines._cardinality)


def _names_dataset(filenames: Any) -> Dataset:
    """A path or a sequence of paths as a Dataset of them, refused as TensorFlow does when
    they are not strings."""
    names = [filenames] if isinstance(filenames, str | os.PathLike) else list(filenames)
    for path in names:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(
                "TextLineDataset: `filenames` must be a path or a list of paths (strings), "
                f"got {type(path).__name__} {path!r}"
            )
    return Dataset.from_tensor_slices(np.array([os.fspath(path) for path in names], dtype=str))


def _lines(path: str, compression: str) -> Iterator[str]:
    """The file's lines (split at ``\\n`` alone), decoded, without ``\\n`` and ``\\r``."""
    with _opened(path, compression) as file:
        for line in file:
            yield line.removesuffix(b"\n").replace(b"\r", b"").decode("utf-8", "replace")


def _opened(path: str, compression: str) -> BinaryIO:
    if compression == "GZIP":
        return gzip.open(path, "rb")
    if compression == "ZLIB":
        with open(path, "rb") as file:
            return io.BytesIO(zlib.decompress(file.read()))
    return open(path, "rb")
