"""``keras.utils.get_file``: a file downloaded once into Keras's cache, checked against its hash,
and tar or zip archives extracted without letting a member land outside their folder.

The cache is Keras's own (``$KERAS_HOME``, else ``~/.keras``), so a file either library fetched
serves both. The paths are Keras 3's, in ``<cache_dir>/<cache_subdir>``:

- without ``extract``: the file is ``fname`` (default: the URL's file name), and returned;
- with ``extract`` and an ``fname`` with a dot (``"a.tar.gz"``): the archive is ``a.tar.gz``,
  extracted into and returned as ``a_extracted`` (the name up to its first dot);
- with ``extract`` and an ``fname`` without one (``"a"``), or none (the URL's name): the archive
  is ``a_archive``, extracted into and returned as ``a`` (``flower_photos.tgz`` from a URL:
  ``flower_photos.tgz_archive`` into the folder ``flower_photos.tgz``).

Where autoconv differs from Keras 3.15 on purpose: a download lands only once it is complete
and matches ``file_hash`` (Keras keeps a corrupted one, and deletes an old file when a new
download fails); a ``cache_dir`` that does not exist yet is made (Keras puts the file in
``/tmp/.keras`` instead); an unknown ``hash_algorithm`` or ``archive_format`` is an error
before anything is fetched; the network's reads time out after a minute.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.parse
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from autoconv.config import keras_home
from autoconv.download import HASH_ALGORITHMS, download, hash_file, hasher
from autoconv.progbar import Progbar, print_msg

ARCHIVE_FORMATS = ("tar", "zip")
# tar's "data" filter (Python 3.11.4 and later) refuses what a data archive has no business
# holding (device files, pipes, links to absolute paths), on top of Keras's own filter
TAR_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


class DownloadError(OSError):
    """A file could not be fetched (no network, a server error): the message names the URL to
    download it from and the path to put it at."""


class HashMismatchError(ValueError):
    """A downloaded file's hash is not the one expected (the file is not kept)."""


def get_file(
    fname: str | os.PathLike | None = None,
    origin: str | None = None,
    untar: bool = False,
    md5_hash: str | None = None,
    file_hash: str | None = None,
    cache_subdir: str = "datasets",
    hash_algorithm: str = "auto",
    extract: bool = False,
    archive_format: str | list[str] | None = "auto",
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
) -> str:
    """The path of ``origin``'s file in ``<cache_dir>/<cache_subdir>`` (an absolute
    ``cache_subdir`` is used as it is), downloaded first unless it is there already, with the
    hash ``file_hash`` if one is given (sha256 for 64 hex digits, else md5, or as
    ``hash_algorithm`` says; ``md5_hash`` is the older name of an md5 ``file_hash``).

    ``extract`` (or ``untar``, for tar only) extracts the archive (tar, tar.gz, tar.bz2, zip;
    ``archive_format`` "auto", "tar", "zip", a list of those, or None) into a folder beside it,
    on every call as Keras does, and returns that folder (see the module's list). A member
    that would land outside it (``../``, an absolute path, a link leading out) is skipped with
    a warning, as in Keras. ``force_download`` fetches the file even when it is cached.

    Raises DownloadError (an OSError) when the file cannot be fetched, HashMismatchError (a
    ValueError) when the download does not match ``file_hash``; nothing is kept of either.
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if hash_algorithm not in HASH_ALGORITHMS:
        raise ValueError(
            f"get_file: hash_algorithm must be one of {', '.join(HASH_ALGORITHMS)}, got "
            f"{hash_algorithm!r}"
        )
    formats = _archive_formats("tar" if untar else archive_format)
    datadir = os.path.join(_cache_base(cache_dir), cache_subdir)
    os.makedirs(datadir, exist_ok=True)

    provided = os.fspath(fname) if fname is not None else None
    name = provided or os.path.basename(urllib.parse.urlsplit(origin).path)
    if not name:
        raise ValueError(
            f"Can't parse the file name from the origin provided: '{origin}'. Please specify "
            "the `fname` argument."
        )
    if provided and os.sep in name:
        raise ValueError(
            "Paths are no longer accepted as the `fname` argument. To specify the file's "
            f"parent directory, use the `cache_dir` argument. Received: fname={name}"
        )
    if name in (".", ".."):
        raise ValueError(f"get_file: {name!r} is not a file name; give fname")
    if not (extract or untar):
        target, extraction_dir = os.path.join(datadir, name), None
    elif provided and "." in name:
        target = os.path.join(datadir, name)
        extraction_dir = os.path.join(datadir, f"{name[: name.find('.')]}_extracted")
    else:
        target = os.path.join(datadir, f"{name}_archive")
        extraction_dir = os.path.join(datadir, name)

    if force_download or not os.path.exists(target):
        _fetch(origin, target, file_hash, hash_algorithm)
    elif file_hash is not None and hash_file(target, hash_algorithm, file_hash) != file_hash:
        print_msg(
            "A local file was found, but it seems to be incomplete or outdated because the "
            f"{hash_algorithm} file hash does not match the original value of {file_hash} so "
            "we will re-download the data."
        )
        _fetch(origin, target, file_hash, hash_algorithm)
    if extraction_dir is None:
        return target
    if not extract_archive(target, extraction_dir, formats):
        warnings.warn("Could not extract archive.", stacklevel=2)
    return extraction_dir


def _cache_base(cache_dir: str | os.PathLike | None) -> str:
    """``cache_dir`` (default: Keras's home), made if need be; ``/tmp/.keras`` (or the
    system's temporary folder) when it cannot be written, as Keras."""
    base = os.path.expanduser(cache_dir if cache_dir is not None else keras_home())
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass  # not writable: the fallback below
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return base


def _fetch(origin: str, target: str, file_hash: str | None, algorithm: str) -> None:
    """Download ``origin`` to ``target`` with Keras's messages and progress bar."""
    print_msg(f"Downloading data from {origin}")

    def check(path: Path) -> None:
        if file_hash is not None and (found := hash_file(path, algorithm, file_hash)) != file_hash:
            raise HashMismatchError(
                "Incomplete or corrupted file detected. The "
                f"{hasher(algorithm, file_hash).name} file hash of {origin} is {found}, not the "
                f"provided value of {file_hash}; nothing was saved at {target}"
            )

    try:
        download(origin, target, check, _DownloadProgress())
    except OSError as error:
        raise DownloadError(
            f"could not download {origin} ({error}). Without network, download that URL "
            f"elsewhere and put the file at {target}"
        ) from None


class _DownloadProgress:
    """Keras's progress bar of a download, in bytes (``download``'s ``progress`` hook): the
    total when the server gives it, and the bar finished once when the last block arrives."""

    def __init__(self) -> None:
        self.progbar: Progbar | None = None
        self.finished = False

    def __call__(self, blocks: int, block_size: int, total: int) -> None:
        if self.progbar is None:
            self.progbar = Progbar(None if total == -1 else total)
        current = blocks * block_size
        if total == -1:
            self.progbar.update(current)
        elif current < total:
            self.progbar.update(current)
        elif not self.finished:
            self.progbar.update(total)
            self.finished = True


def _archive_formats(archive_format: str | list[str] | None) -> list[str]:
    """``archive_format`` as a list of "tar" and "zip" ("auto": both; None: none)."""
    if archive_format is None:
        return []
    if archive_format == "auto":
        return list(ARCHIVE_FORMATS)
    formats = [archive_format] if isinstance(archive_format, str) else list(archive_format)
    for kind in formats:
        if kind not in ARCHIVE_FORMATS:
            raise ValueError(
                f"archive_format must be 'auto', 'tar', 'zip', a list of those or None, got "
                f"{archive_format!r}"
            )
    return formats


def extract_archive(
    file_path: str | os.PathLike,
    path: str | os.PathLike = ".",
    archive_format: str | list[str] | None = "auto",
) -> bool:
    """Extract the archive at ``file_path`` into the folder ``path`` if it is one of
    ``archive_format`` (see :func:`get_file`); False if it is none of them. Members that
    would land outside ``path`` are skipped with a warning; a tar member the ``data`` filter
    refuses (a device file, a pipe) stops the extraction, which removes ``path``."""
    file_path, path = os.fspath(file_path), os.fspath(path)
    for kind in _archive_formats(archive_format):
        if kind == "tar" and tarfile.is_tarfile(file_path):
            with tarfile.open(file_path) as archive:
                try:
                    archive.extractall(path, members=_safe_tar(archive, path), **TAR_FILTER)
                except (tarfile.TarError, RuntimeError, KeyboardInterrupt):
                    _remove(path)
                    raise
            return True
        if kind == "zip" and zipfile.is_zipfile(file_path):
            with zipfile.ZipFile(file_path) as archive:
                archive.extractall(path, members=_safe_zip(archive.infolist(), path))
            return True
    return False


def _inside(base: str, relative: str) -> str | None:
    """``base/relative`` with its links resolved if it lies within ``base`` (resolved), else
    None."""
    path = os.path.realpath(os.path.join(base, relative))
    try:
        return path if os.path.commonpath([path, base]) == base else None
    except ValueError:  # on different drives
        return None


def _link_inside(member: tarfile.TarInfo, base: str) -> bool:
    """Whether a link member and what it points to both lie within ``base`` (a hard link's
    target is relative to the archive's root, a symbolic link's to its own folder)."""
    if member.islnk():
        return _inside(base, member.name) is not None and _inside(base, member.linkname) is not None
    destination = _inside(base, member.name)
    return destination is not None and (
        _inside(base, os.path.join(os.path.dirname(destination), member.linkname)) is not None
    )


def _safe_tar(members: Iterable[tarfile.TarInfo], path: str) -> Iterator[tarfile.TarInfo]:
    """Keras's filter: the members that land within ``path``, the others warned about."""
    base = os.path.realpath(path)
    for member in members:
        if member.issym() or member.islnk():
            safe = _link_inside(member, base)
        else:
            safe = _inside(base, member.name) is not None
        if safe:
            yield member
        else:
            _skipped(member.name)


def _safe_zip(members: Iterable[zipfile.ZipInfo], path: str) -> Iterator[zipfile.ZipInfo]:
    base = os.path.realpath(path)
    for member in members:
        if _inside(base, member.filename) is not None:
            yield member
        else:
            _skipped(member.filename)


def _skipped(name: str) -> None:
    warnings.warn(f"Skipping invalid path during archive extraction: '{name}'.", stacklevel=3)


def _remove(path: str) -> None:
    """Remove a half-extracted ``path`` (a folder, or a file where the folder should be)."""
    if os.path.isfile(path):
        os.remove(path)
    elif os.path.exists(path):
        shutil.rmtree(path)
