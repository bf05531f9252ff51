"""What every file format of :mod:`autoconv.saving` shares: the one error a bad file gives, the
checks a file's JSON passes before anything is built from it, and the bound on what a file's
architecture may allocate. (Every file is written atomically, by :mod:`autoconv.atomic`.)"""

from __future__ import annotations

import contextlib
import os
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

from autoconv.layers import file_budget
from autoconv.progbar import print_msg

# What reading a file's config and arrays may raise on a damaged or crafted file: each becomes
# one ModelFileError naming the file (too deep a nesting of models is a RecursionError; zip
# and HDF5 readers raise OSError, EOFError, RuntimeError and zlib.error on damaged bytes).
FILE_ERRORS = (
    ValueError, TypeError, KeyError, IndexError, AttributeError, NotImplementedError,
    OverflowError, RuntimeError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
)  # fmt: skip


class ModelFileError(ValueError):
    """A model or weights file that cannot be used: damaged, foreign, or not this model's."""


class MissingKerasFile(FileNotFoundError, ValueError):
    """Keras's ValueError for a ``.keras`` file ``load_model`` does not find (a
    FileNotFoundError too)."""


def reason(error: BaseException) -> str:
    """An exception's message, as the end of a sentence: its first word in lower case where
    it is an ordinary word ("Could not ..."), not a name ("PatchEncoder.__init__() ...")."""
    if isinstance(error, RecursionError):
        return "its models are nested too deeply to rebuild"
    text = str(error) or type(error).__name__
    if isinstance(error, KeyError) and error.args:
        text = f"it lacks {error.args[0]!r}"
    first = text.split(" ", 1)[0]
    if first.isalpha() and first[1:] == first[1:].lower():
        return text[0].lower() + text[1:]
    return text


def ask_to_proceed_with_overwrite(filepath: str | os.PathLike) -> bool:
    """Keras's question before a save with ``overwrite=False`` replaces ``filepath``: True to
    go on ("y", with Keras's tip), False to keep the file ("n"), asked again until one of the
    two. Where no answer can be read (standard input closed: Keras's EOFError), False, with a
    warning that the file is kept."""
    try:
        answer = input(f"[WARNING] {filepath} already exists - overwrite? [y/n]").strip().lower()
        while answer not in ("y", "n"):
            answer = input('Enter "y" (overwrite) or "n" (cancel).').strip().lower()
    except (EOFError, OSError):
        warnings.warn(
            f"{filepath} already exists and no answer to whether to overwrite it could be read "
            "(standard input is closed): it is kept, and nothing is saved; pass overwrite=True "
            "to replace it",
            stacklevel=3,
        )
        return False
    if answer == "n":
        return False
    print_msg("[TIP] Next time specify overwrite=True!")
    return True


# ------------------------------------------------------------------------------ reading
@contextlib.contextmanager
def weight_budget(sizes: list[int]) -> Iterator[None]:
    """While a file's architecture is built, no weight may be larger than the file's largest
    array, nor all weights together than its arrays and one largest array more (the margin
    lets a weight of a wrong shape be reported as such): a config asking for huge layers, or
    for many of them, fails before allocating more than the file holds."""
    previous = file_budget.WEIGHT_BUDGET
    file_budget.WEIGHT_BUDGET = [max(sizes, default=0), sum(sizes) + max(sizes, default=0)]
    try:
        yield
    finally:
        file_budget.WEIGHT_BUDGET = previous


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
