"""Reading dataset files: the error every loader raises, and bytes that may be gzip."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path


class DatasetFileError(ValueError):
    """A data file is missing, truncated, corrupted or not what it should be."""


def read_bytes(path: Path) -> bytes:
    """The content of ``path``, decompressed if it is gzip (told by its magic bytes)."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except FileNotFoundError:
        raise DatasetFileError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetFileError(f"{path}: corrupted or truncated gzip file ({error})") from None
