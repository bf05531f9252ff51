"""Keras's published files (the models' ImageNet weights, the ImageNet class index) fetched
into Keras's own cache, as ``keras.utils.get_file`` does: ``$KERAS_HOME/models/<file name>``
(``~/.keras/models`` by default), so a file Keras downloaded is used by autoconv and the other
way round.

A cached file is used when its hash matches the one Keras publishes (sha256 for a 64-digit
hash, else md5; Keras publishes none for some models, whose cached file is used as it is). A
download is checked against the hash before it lands in the cache, written atomically: an
interrupted or corrupted download leaves nothing there. Without network, the error says which
URL to fetch and exactly where to put the file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import IO
from urllib.request import urlopen

from autoconv.atomic import write_atomically

CHUNK = 2**20
TIMEOUT_S = 60


class DownloadError(OSError):
    """A file could not be fetched (no network, a server error): the message names the URL to
    download it from and the path to put it at."""


class HashMismatchError(ValueError):
    """A downloaded file's hash is not the one published for it (the file is not cached)."""


def keras_home() -> Path:
    """Keras's folder for its caches: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` when
    the home folder cannot be written, as Keras)."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"]).expanduser()
    home = Path("~").expanduser()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


def hasher(file_hash: str | None) -> hashlib._Hash:
    """Keras's choice of hash for a published one: sha256 for 64 hex digits, md5 otherwise."""
    if file_hash is not None and len(file_hash) == 64:
        return hashlib.sha256()
    return hashlib.md5(usedforsecurity=False)


def hash_file(path: Path, file_hash: str | None) -> str:
    """The hex digest of ``path`` in the algorithm of ``file_hash``."""
    digest = hasher(file_hash)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def get_file(
    fname: str, origin: str, cache_subdir: str = "models", file_hash: str | None = None
) -> Path:
    """The path of ``fname`` in ``keras_home() / cache_subdir``, downloaded from ``origin``
    first unless a copy with the hash ``file_hash`` (None: any copy) is there already.

    Raises DownloadError when the file cannot be fetched, HashMismatchError (a ValueError)
    when the fetched file's hash is not ``file_hash``."""
    if os.sep in fname or not fname:
        raise ValueError(f"get_file: fname must be a file name, got {fname!r}")
    target = keras_home() / cache_subdir / fname
    if target.is_file():
        if file_hash is None or hash_file(target, file_hash) == file_hash:
            return target
        print(
            "A local file was found, but it seems to be incomplete or outdated because its "
            f"hash does not match the original value of {file_hash} so we will re-download "
            "the data."
        )
    print(f"Downloading data from {origin}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, lambda f: _fetch(origin, f, file_hash), overwrite=True)
    except HashMismatchError as error:
        raise HashMismatchError(
            f"Incomplete or corrupted file detected: {origin} has the hash {error}, not the "
            f"published {file_hash}; it was not saved to {target}"
        ) from None
    except OSError as error:
        raise DownloadError(
            f"could not download {origin} ({error}). Without network, download that URL "
            f"elsewhere and put the file at {target}"
        ) from None
    return target


def _fetch(origin: str, f: IO[bytes], file_hash: str | None) -> None:
    """Stream ``origin`` into ``f``, checking its hash against ``file_hash`` (if given)."""
    digest = hasher(file_hash)
    with urlopen(origin, timeout=TIMEOUT_S) as response:
        for chunk in iter(lambda: response.read(CHUNK), b""):
            digest.update(chunk)
            f.write(chunk)
    if file_hash is not None and digest.hexdigest() != file_hash:
        raise HashMismatchError(digest.hexdigest())
