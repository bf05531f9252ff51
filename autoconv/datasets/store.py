"""Where dataset files are found, and how missing ones are fetched and verified.

Lookup order for each file: an explicit ``data_dir``, then ``$AUTOCONV_DATA``, then the copy
shipped with autoconv, then the per-user cache (``~/.cache/autoconv``). A file that is nowhere
is downloaded into the cache when the dataset has a mirror, verified by checksum before it
lands there (by :func:`autoconv.download.download`, autoconv's one downloader).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from autoconv.datasets.files import DatasetFileError, read_bytes
from autoconv.download import download


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name, where it can be downloaded, its checksums.

    ``content_md5`` is the md5 of the decompressed bytes (the same for every gzip of the
    data); ``file_md5`` the md5 of the file as published; ``file_sha256`` its sha256 (the
    hash Keras publishes for its own copies). Any of them may be None.
    """

    name: str
    url: str | None
    content_md5: str | None = None
    file_md5: str | None = None
    file_sha256: str | None = None


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
    places only in their ``dataset`` sub-folder. A ``data_dir`` that is not a folder is an
    error (a mistyped path would otherwise be passed over in silence).
    """
    if data_dir is not None and not Path(data_dir).is_dir():
        what = "is not a folder" if Path(data_dir).exists() else "does not exist"
        raise DatasetFileError(f"{dataset}: data_dir {data_dir} {what}")
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


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(path: Path, remote: RemoteFile) -> None:
    """Raise DatasetFileError unless ``path`` matches one of ``remote``'s checksums."""
    if remote.file_md5 is not None and md5(path.read_bytes()) == remote.file_md5:
        return
    if remote.file_sha256 is not None and sha256(path.read_bytes()) == remote.file_sha256:
        return
    if remote.content_md5 is not None and md5(read_bytes(path)) == remote.content_md5:
        return
    if remote.file_md5 is None and remote.content_md5 is None and remote.file_sha256 is None:
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
    return find_all(dataset, {remote.name: remote}, data_dir, download)[remote.name]


def find_all(
    dataset: str,
    remotes: dict[str, RemoteFile],
    data_dir: str | Path | None = None,
    download: bool = True,
) -> dict[str, Path]:
    """The paths of a dataset's verified files (by the keys of ``remotes``), downloading the
    missing ones into the cache. When a file can be neither found nor fetched, the error names
    every file still missing, where each can be downloaded, and where to put it."""
    dirs = search_dirs(dataset, data_dir)
    found: dict[str, Path] = {}
    for key, remote in remotes.items():
        for folder in dirs:
            candidate = folder / remote.name
            if candidate.is_file():
                verify(candidate, remote)
                found[key] = candidate
                break
    missing = {key: remote for key, remote in remotes.items() if key not in found}
    if not missing:
        return found
    cache = cache_dir() / dataset
    if not download or any(remote.url is None for remote in missing.values()):
        raise DatasetFileError(
            f"{dataset}: {_listing(missing)} {'was' if len(missing) == 1 else 'were'} not "
            f"found in {', '.join(str(d) for d in dirs)}; put "
            f"{'it' if len(missing) == 1 else 'them'} in one of those folders"
        )
    _writable(cache, dataset, missing)
    for key, remote in missing.items():
        try:
            _download(remote, cache / remote.name)
        except OSError as error:  # the network: the files after this one would fail too
            left = {k: r for k, r in missing.items() if k not in found}
            them = "it" if len(left) == 1 else "them"
            raise DatasetFileError(
                f"{dataset}: could not download {remote.url} ({error}). Without network, "
                f"download {_listing(left, urls=True)} elsewhere and put {them} in {cache} (or "
                f"in a folder you pass as data_dir, or in $AUTOCONV_DATA/{dataset})"
            ) from None
        found[key] = cache / remote.name
    return found


def _listing(remotes: dict[str, RemoteFile], urls: bool = False) -> str:
    """'a.gz', or 'a.gz, b.gz and c.gz', each with its URL when ``urls``."""
    names = [f"{r.name} ({r.url})" if urls and r.url else r.name for r in remotes.values()]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _writable(folder: Path, dataset: str, missing: dict[str, RemoteFile]) -> None:
    """Make the cache folder, or a clear error before any download if it cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        ok = folder.is_dir() and os.access(folder, os.W_OK)
        reason = "it is not writable"
    except OSError as error:
        ok, reason = False, f"it cannot be created ({error.strerror or error})"
    if not ok:
        raise DatasetFileError(
            f"{dataset}: cannot download {_listing(missing)} into the cache folder {folder}: "
            f"{reason}. Set XDG_CACHE_HOME or AUTOCONV_DATA to a writable folder, or download "
            "the files yourself and pass their folder as data_dir"
        )


def fetch(remote: RemoteFile, target: Path) -> None:
    """Download ``remote`` to ``target`` atomically; only a verified file lands there."""
    try:
        _download(remote, target)
    except OSError as error:
        raise DatasetFileError(
            f"could not download {remote.url} ({error}); without network, download it "
            f"elsewhere and put it at {target}"
        ) from None


def _download(remote: RemoteFile, target: Path) -> None:
    """:func:`fetch`, with the network's failures left as OSError."""
    assert remote.url is not None
    download(remote.url, target, check=lambda path: verify(path, remote))
