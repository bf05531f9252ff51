"""Where dataset files are found, and how missing ones are fetched and verified.

Lookup order for each file: an explicit ``data_dir``, then ``$AUTOCONV_DATA``, then the copy
shipped with autoconv, then the per-user cache (``~/.cache/autoconv``). A file that is nowhere
is downloaded into the cache when the dataset has a mirror, verified by checksum before use,
and written atomically.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from autoconv.datasets.files import DatasetFileError, read_bytes


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name, where it can be downloaded, its checksums.

    ``content_md5`` is the md5 of the decompressed bytes (the same for every gzip of the
    data); ``file_md5`` the md5 of the file as published. Either one may be None.
    """

    name: str
    url: str | None
    content_md5: str | None = None
    file_md5: str | None = None


def shipped_dir() -> Path | None:
    """The datasets folder shipped with autoconv: installed beside the package as
    ``autoconv/shipped_datasets`` (see pyproject.toml), or the checkout's ``datasets/``."""
    package = Path(__file__).resolve().parents[1]
    for folder in (package / "shipped_datasets", package.parent / "datasets"):
        if folder.is_dir():
            return folder
    return None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "autoconv"


def search_dirs(dataset: str, data_dir: str | Path | None) -> list[Path]:
    """The folders searched for ``dataset``'s files, in order.

    An explicit ``data_dir`` is searched itself and in its ``dataset`` sub-folder; the other
    places only in their ``dataset`` sub-folder.
    """
    dirs = [] if data_dir is None else [Path(data_dir), Path(data_dir) / dataset]
    env_dir = os.environ.get("AUTOCONV_DATA")  # the loaders' one user-facing setting
    bases = [Path(env_dir)] if env_dir else []
    shipped = shipped_dir()
    if shipped is not None:
        bases.append(shipped)
    bases.append(cache_dir())
    return dirs + [base / dataset for base in bases]


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def verify(path: Path, remote: RemoteFile) -> None:
    """Raise DatasetFileError unless ``path`` matches one of ``remote``'s checksums."""
    if remote.file_md5 is not None and md5(path.read_bytes()) == remote.file_md5:
        return
    if remote.content_md5 is not None and md5(read_bytes(path)) == remote.content_md5:
        return
    if remote.file_md5 is None and remote.content_md5 is None:
        return
    raise DatasetFileError(
        f"{path}: checksum mismatch: the file is corrupted or not the expected "
        f"{remote.name}; delete it and fetch it again"
    )


def find(
    dataset: str,
    remote: RemoteFile,
    data_dir: str | Path | None = None,
    download: bool = True,
) -> Path:
    """The path of one verified dataset file, downloading it into the cache if need be."""
    dirs = search_dirs(dataset, data_dir)
    for folder in dirs:
        candidate = folder / remote.name
        if candidate.is_file():
            verify(candidate, remote)
            return candidate
    target = cache_dir() / dataset / remote.name
    if remote.url is None or not download:
        raise DatasetFileError(
            f"{dataset}: {remote.name} was not found in "
            f"{', '.join(str(d) for d in dirs)}; put it in one of those folders"
        )
    fetch(remote, target)
    return target


def fetch(remote: RemoteFile, target: Path) -> None:
    """Download ``remote`` to ``target`` atomically; only a verified file lands there."""
    assert remote.url is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{remote.name}.", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        try:
            with (
                urllib.request.urlopen(remote.url, timeout=60) as response,
                os.fdopen(fd, "wb") as f,
            ):
                shutil.copyfileobj(response, f)
        except OSError as error:
            raise DatasetFileError(
                f"could not download {remote.url} ({error}); without network, download it "
                f"elsewhere and put it at {target}"
            ) from None
        verify(tmp, remote)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
