"""Writing a file atomically: the new bytes go to a temporary file beside the target, which is
renamed over it, so a crash mid-write leaves the old file intact. The new file gets the
permissions an ordinary ``open()`` would give, and temporary files left by an earlier killed
write are removed. (Model files, weights files and training backups are written this way.)"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

TEMP_SUFFIX = ".autoconv-tmp"


def check_target(path: Path) -> Path:
    """The folder to write ``path`` in, after checking it can be written (each problem one
    clear error, before any work)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot save to {path}: it is a folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"cannot save to {path}: the file is read-only")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"cannot save to {path}: the folder {folder} is not writable")
    return folder


def write_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """``write(file)`` into a temporary file beside ``path``, then rename it over ``path``."""
    folder = check_target(path)
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
