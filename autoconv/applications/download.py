"""Keras's published files (the models' ImageNet weights, the ImageNet class index) fetched
into Keras's own cache as Keras fetches them, by ``keras.utils.get_file``
(:func:`autoconv.file_utils.get_file`): ``$KERAS_HOME/models/<file name>`` (``~/.keras/models``
by default), so a file Keras downloaded is used by autoconv and the other way round.

A cached file is used when its hash matches the one Keras publishes (sha256 for a 64-digit
hash, else md5; Keras publishes none for some models, whose cached file is used as it is). A
download is checked against the hash before it lands in the cache: an interrupted or corrupted
download leaves nothing there. Without network, the error says which URL to fetch and exactly
where to put the file.
"""

from __future__ import annotations

from pathlib import Path

from autoconv import file_utils
from autoconv.file_utils import DownloadError, HashMismatchError, keras_home

__all__ = ["DownloadError", "HashMismatchError", "get_file", "keras_home"]


def get_file(
    fname: str, origin: str, cache_subdir: str = "models", file_hash: str | None = None
) -> Path:
    """The path of ``fname`` in ``keras_home() / cache_subdir``, downloaded from ``origin``
    first unless a copy with the hash ``file_hash`` (None: any copy) is there already.

    Raises DownloadError when the file cannot be fetched, HashMismatchError (a ValueError)
    when the fetched file's hash is not ``file_hash``."""
    return Path(file_utils.get_file(fname, origin, file_hash=file_hash, cache_subdir=cache_subdir))
