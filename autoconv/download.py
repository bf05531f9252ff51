"""Downloading a file safely, the one downloader of autoconv: the dataset files
(:mod:`autoconv.datasets.store`), the applications' weights and ``keras.utils.get_file``
(:mod:`autoconv.file_utils`) all fetch through :func:`download`.

The bytes stream into a temporary file beside the target, which is checked (its length against
the server's, then the caller's checksum) and only then renamed over the target: an
interrupted, truncated or corrupted download leaves nothing behind, and a file already at the
target stays as it was. Every read from the network has a timeout, so a silent server is an
error, not a hang.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.request import urlopen

BLOCK = 8192  # urllib's urlretrieve reads in blocks of this size; Keras's progress counts them
TIMEOUT_S = 60  # seconds a connection or a read may wait for the server
HASH_ALGORITHMS = ("auto", "md5", "sha256")


def hasher(algorithm: str = "auto", file_hash: str | None = None) -> hashlib._Hash:
    """Keras's choice of hash: sha256 when asked for, or for ``"auto"`` when ``file_hash`` has
    64 hex digits; md5 otherwise."""
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(
            f"hash_algorithm must be one of {', '.join(HASH_ALGORITHMS)}, got {algorithm!r}"
        )
    if algorithm == "sha256" or (algorithm == "auto" and file_hash and len(file_hash) == 64):
        return hashlib.sha256()
    return hashlib.md5(usedforsecurity=False)


def hash_file(
    path: str | os.PathLike, algorithm: str = "auto", file_hash: str | None = None
) -> str:
    """The hex digest of the file at ``path``, in the hash :func:`hasher` picks."""
    digest = hasher(algorithm, file_hash)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    target: str | os.PathLike,
    check: Callable[[Path], None] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> None:
    """Fetch ``url`` (``http(s)://``, ``file://``, ...) to ``target``, making its folder.

    ``check(path)`` sees the complete temporary file and raises to refuse it. ``progress(blocks,
    block_size, total)`` is called as urllib's ``urlretrieve`` calls its hook: once before the
    first block, then after each one (``total`` is -1 when the server does not say). The
    network's failures (an HTTP protocol error too), and a transfer shorter than the server
    announced, raise OSError.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.{secrets.token_hex(4)}.download"
    try:
        # opened with 0o666 as an ordinary open() would be (the umask applies), never reused
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f, urlopen(url, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else -1
            received = blocks = 0
            if progress is not None:
                progress(0, BLOCK, total)
            while block := response.read(BLOCK):
                f.write(block)
                received += len(block)
                blocks += 1
                if progress is not None:
                    progress(blocks, BLOCK, total)
        if 0 <= received < total:
            raise OSError(f"retrieval incomplete: got only {received} out of {total} bytes")
        if check is not None:
            check(temporary)
        os.replace(temporary, target)
    except http.client.HTTPException as error:  # a broken response, not an OSError
        raise OSError(f"{type(error).__name__}: {error}") from None
    finally:
        temporary.unlink(missing_ok=True)
