"""What every file format of :mod:`autoconv.saving` shares: the one error a bad file gives,
atomic writes, and the checks a file's JSON passes before anything is built from it.

Writes are atomic: the file is written next to its target under a temporary name and renamed
over it, so a crash mid-save leaves the old file intact; the new file gets the permissions an
ordinary ``open()`` would give, and temporary files left by an earlier killed save are removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from autoconv.layers import layer as layer_module

TEMP_SUFFIX = ".autoconv-tmp"

# What reading a file's config and arrays may raise on a damaged or crafted file: each becomes
# one ModelFileError naming the file (too deep a nesting of models is a RecursionError; zip
# and HDF5 readers raise OSError, EOFError, RuntimeError and zlib.error on damaged bytes).
FILE_ERRORS = (
    ValueError, TypeError, KeyError, IndexError, AttributeError, NotImplementedError,
    OverflowError, RuntimeError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
)  # fmt: skip


class ModelFileError(ValueError):
    """A model or weights file that cannot be used: damaged, foreign, or not this model's."""


def reason(error: BaseException) -> str:
    """An exception's message, as the end of a sentence."""
    if isinstance(error, RecursionError):
        return "its models are nested too deeply to rebuild"
    text = str(error) or type(error).__name__
    if isinstance(error, KeyError) and error.args:
        text = f"it lacks {error.args[0]!r}"
    return text[0].lower() + text[1:] if text else text


# ------------------------------------------------------------------------------ writing
def check_target(path: Path, overwrite: bool) -> Path:
    """The folder to write ``path`` in, after checking it can be written (each problem one
    clear error, before any work)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot save to {path}: it is a folder")
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"{path} exists and overwrite=False")
        if not os.access(path, os.W_OK):
            raise PermissionError(f"cannot save to {path}: the file is read-only")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"cannot save to {path}: the folder {folder} is not writable")
    return folder


def write_atomically(path: Path, write: Callable[[IO[bytes]], None], overwrite: bool) -> None:
    """``write(file)`` into a temporary file beside ``path``, then rename it over ``path``."""
    folder = check_target(path, overwrite)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "w+b") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    for stale in folder.glob(f".{path.name}.*{TEMP_SUFFIX}"):  # left by a killed save
        stale.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------ reading
@contextlib.contextmanager
def weight_budget(sizes: list[int]) -> Iterator[None]:
    """While a file's architecture is built, no weight may be larger than the file's largest
    array, nor all weights together than its arrays and one largest array more (the margin
    lets a weight of a wrong shape be reported as such): a config asking for huge layers, or
    for many of them, fails before allocating more than the file holds."""
    previous = layer_module.WEIGHT_BUDGET
    layer_module.WEIGHT_BUDGET = [max(sizes, default=0), sum(sizes) + max(sizes, default=0)]
    try:
        yield
    finally:
        layer_module.WEIGHT_BUDGET = previous


def checked_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def checked_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a JSON list, got {type(value).__name__}")
    return value


def checked_str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {value!r}")
    return value


def checked_int(value: Any, what: str, high: int = 2**31 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ValueError(f"{what} must be an integer in [0, {high}], got {value!r}")
    return value
