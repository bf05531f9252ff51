"""``utils.get_file``, against Keras 3.15's on the same files, served by an HTTP server on
127.0.0.1 in a thread (or as ``file://`` URLs): the paths for each combination of ``fname``,
``extract`` and ``untar``, the files extracted from tar and zip archives, hostile archives
(members in ``../``, absolute paths, links leading out: skipped with Keras's warning, nothing
written outside), the text printed (the download's progress bar), hashes, the cache (a second
call does not download), ``force_download``, and the errors."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import tarfile
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import autoconv as ac
from autoconv import file_utils
from autoconv.file_utils import DownloadError, HashMismatchError

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")

FILES = {"data/a.txt": b"alpha\n", "data/sub/b.txt": b"beta" * 5000}


@dataclass
class Served:
    """The folder the server serves, its base URL, and the paths requested so far."""

    root: Path
    url: str
    requests: list[str] = field(default_factory=list)

    def add(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return f"{self.url}/{name}"


@pytest.fixture
def server(tmp_path, monkeypatch):
    for proxy in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    served = Served(tmp_path / "served", "")
    served.root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served.root), **kwargs)

        def do_GET(self):
            served.requests.append(self.path)
            if self.path == "/short":  # announces more than it sends
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"x" * 10)
                return
            if self.path == "/broken":  # not HTTP at all
                self.wfile.write(b"NOT HTTP\r\n\r\n")
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{httpd.server_port}"
    yield served
    httpd.shutdown()
    httpd.server_close()


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


def tree(folder: Path) -> dict[str, bytes | str]:
    """Every file (its bytes) and link (its target) under ``folder``, by relative path."""
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[name] = "-> " + os.readlink(path)
        elif path.is_file():
            found[name] = path.read_bytes()
    return found


def both(tmp_path, capsys, **kwargs):
    """``get_file`` by Keras and by autoconv, each in a cache folder of its own: the paths
    relative to it, the warnings and the text printed, each (Keras's, autoconv's)."""
    results = []
    for library in (keras, ac):
        cache = tmp_path / library.__name__
        cache.mkdir(exist_ok=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = library.utils.get_file(cache_dir=str(cache), **kwargs)
        assert isinstance(path, str)
        messages = [str(w.message) for w in caught if "extract" in str(w.message)]
        results.append((os.path.relpath(path, cache), messages, capsys.readouterr().out, cache))
    return results


def test_a_file_is_downloaded_once_and_printed_as_keras(server, tmp_path, capsys, monkeypatch):
    url = server.add("notes.txt", FILES["data/sub/b.txt"])
    monkeypatch.setattr(time, "time", lambda: 1000.0)  # the bar's times: 0s, as a fast link
    (keras_result, ours) = both(tmp_path, capsys, fname="notes.txt", origin=url)
    assert ours[:3] == keras_result[:3]
    assert ours[0] == os.path.join("datasets", "notes.txt")
    assert ours[2].startswith(f"Downloading data from {url}\n")
    assert "20000/20000" in ours[2]
    assert (ours[3] / ours[0]).read_bytes() == FILES["data/sub/b.txt"]
    assert server.requests == ["/notes.txt"] * 2
    again = ac.utils.get_file("notes.txt", url, cache_dir=str(ours[3]))
    assert again == str(ours[3] / ours[0]) and server.requests == ["/notes.txt"] * 2
    assert capsys.readouterr().out == ""  # nothing to say: it was there


ARCHIVES = {
    "tar.gz": lambda: tar_bytes(FILES),
    "tar": lambda: tar_bytes(FILES, "w"),
    "tar.bz2": lambda: tar_bytes(FILES, "w:bz2"),
    "zip": lambda: zip_bytes(FILES),
}


@pytest.mark.parametrize("kind", list(ARCHIVES))
@pytest.mark.parametrize("fname", ["photos.tgz.bin", "photos", None])
@pytest.mark.parametrize("how", ["extract", "untar"])
def test_archives_land_where_keras_puts_them(server, tmp_path, capsys, kind, fname, how):
    url = server.add(f"photos.{kind}", ARCHIVES[kind]())
    keras_result, ours = both(tmp_path, capsys, fname=fname, origin=url, **{how: True})
    assert ours[:2] == keras_result[:2]
    extracted = ours[3] / ours[0]
    if how == "untar" and kind == "zip":  # untar means tar only
        assert ours[1] == ["Could not extract archive."] and not extracted.exists()
    else:
        assert tree(extracted) == tree(keras_result[3] / keras_result[0])
        assert tree(extracted) == FILES
    archive = sorted(p.name for p in (ours[3] / "datasets").iterdir())
    keras_archive = sorted(p.name for p in (keras_result[3] / "datasets").iterdir())
    assert archive == keras_archive


def test_a_file_that_is_no_archive_is_returned_unextracted_with_keras_warning(
    server, tmp_path, capsys
):
    url = server.add("plain.txt", b"not an archive")
    keras_result, ours = both(tmp_path, capsys, origin=url, extract=True)
    assert ours[:2] == keras_result[:2] == ("datasets/plain.txt", ["Could not extract archive."])


def hostile_tar(outside: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in {"ok.txt": b"fine", "../evil.txt": b"x", str(outside): b"x"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target, kind in [
            ("up", "../..", tarfile.SYMTYPE),
            ("abs", str(outside.parent), tarfile.SYMTYPE),
            ("inner", "ok.txt", tarfile.SYMTYPE),
            ("hard", "../../secret", tarfile.LNKTYPE),
        ]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            archive.addfile(info)
        info = tarfile.TarInfo("up/escaped.txt")  # through the link, had it been made
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    return buffer.getvalue()


def hostile_zip(outside: Path) -> bytes:
    return zip_bytes(
        {"ok.txt": b"fine", "../evil.txt": b"x", str(outside): b"x", "a/../../evil2.txt": b"x"}
    )


@pytest.mark.parametrize("make", [hostile_tar, hostile_zip], ids=["tar", "zip"])
def test_a_hostile_archive_writes_nothing_outside_as_keras(server, tmp_path, capsys, make):
    outside = tmp_path / "outside" / "abs_evil.txt"
    outside.parent.mkdir()
    url = server.add("hostile.archive", make(outside))
    keras_result, ours = both(tmp_path, capsys, fname="hostile", origin=url, extract=True)
    assert ours[:2] == keras_result[:2]
    assert ours[1] and all(m.startswith("Skipping invalid path during archive") for m in ours[1])
    assert any("../evil.txt" in m for m in ours[1])
    assert any(str(outside) in m for m in ours[1])
    extracted = ours[3] / ours[0]
    assert tree(extracted) == tree(keras_result[3] / keras_result[0])
    assert tree(extracted)["ok.txt"] == b"fine"
    for root in (tmp_path, ours[3], ours[3] / "datasets"):
        assert not (root / "evil.txt").exists() and not (root / "evil2.txt").exists()
    assert list(outside.parent.iterdir()) == []
    assert sorted(p.name for p in (ours[3] / "datasets").iterdir()) == [
        "hostile",
        "hostile_archive",
    ]


def test_a_tar_holding_a_pipe_is_refused_and_its_folder_removed(server, tmp_path, capsys):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("ok.txt")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"ok"))
        pipe = tarfile.TarInfo("pipe")
        pipe.type = tarfile.FIFOTYPE
        archive.addfile(pipe)
    url = server.add("pipe.tar", buffer.getvalue())
    for library in (keras, ac):
        cache = tmp_path / library.__name__
        cache.mkdir()  # (Keras puts a file for a missing cache_dir in /tmp/.keras)
        with pytest.raises(tarfile.TarError, match="special file"):
            library.utils.get_file("pipe", url, extract=True, cache_dir=str(cache))
        assert sorted(p.name for p in (cache / "datasets").iterdir()) == ["pipe_archive"]


@pytest.mark.parametrize(
    ("algorithm", "how"),
    [(algorithm, how) for algorithm in ("md5", "sha256") for how in ("file_hash", "both")]
    + [("md5", "md5_hash")],
)
def test_hashes_are_checked_and_a_mismatch_keeps_nothing(server, tmp_path, algorithm, how):
    """The hash given as ``file_hash`` (its algorithm told by its length), with
    ``hash_algorithm`` too (``both``), or as the older ``md5_hash``."""
    data = b"published data"
    url = server.add("data.bin", data)
    good, bad = hashlib.new(algorithm, data).hexdigest(), hashlib.new(algorithm, b"x").hexdigest()
    arguments = {"hash_algorithm": algorithm} if how == "both" else {}
    key = "md5_hash" if how == "md5_hash" else "file_hash"
    with pytest.raises(HashMismatchError) as raised:
        ac.utils.get_file("data.bin", url, cache_dir=tmp_path, **{key: bad}, **arguments)
    message = str(raised.value)
    assert message.startswith(f"Incomplete or corrupted file detected. The {algorithm} file hash")
    assert url in message and good in message and bad in message
    assert isinstance(raised.value, ValueError)  # as Keras's
    assert os.listdir(tmp_path / "datasets") == []  # not even a part of it
    path = ac.utils.get_file("data.bin", url, cache_dir=tmp_path, **{key: good}, **arguments)
    assert Path(path).read_bytes() == data
    (tmp_path / "k").mkdir()
    with pytest.raises(ValueError, match="Incomplete or corrupted file detected"):
        keras.utils.get_file("data.bin", url, cache_dir=tmp_path / "k", **{key: bad}, **arguments)


def test_a_stale_cached_file_is_fetched_again(server, tmp_path, capsys):
    url = server.add("data.bin", b"new")
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "data.bin").write_bytes(b"old")
    md5 = hashlib.md5(b"new").hexdigest()
    path = ac.utils.get_file("data.bin", url, file_hash=md5, cache_dir=tmp_path)
    assert Path(path).read_bytes() == b"new" and server.requests == ["/data.bin"]
    assert capsys.readouterr().out.startswith(
        "A local file was found, but it seems to be incomplete or outdated because the auto "
        f"file hash does not match the original value of {md5} so we will re-download the data."
    )
    ac.utils.get_file("data.bin", url, file_hash=md5, cache_dir=tmp_path)
    assert server.requests == ["/data.bin"]  # now it matches


def test_force_download_fetches_a_cached_file_again(server, tmp_path):
    url = server.add("data.bin", b"first")
    path = ac.utils.get_file("data.bin", url, cache_dir=tmp_path)
    server.add("data.bin", b"second")
    assert Path(ac.utils.get_file("data.bin", url, cache_dir=tmp_path)).read_bytes() == b"first"
    again = ac.utils.get_file("data.bin", url, cache_dir=tmp_path, force_download=True)
    assert again == path and Path(path).read_bytes() == b"second"
    assert server.requests == ["/data.bin", "/data.bin"]


def test_extraction_runs_on_every_call_as_keras(server, tmp_path):
    url = server.add("a.tar.gz", tar_bytes(FILES))
    folder = Path(ac.utils.get_file("a.tar.gz", url, extract=True, cache_dir=tmp_path))
    (folder / "data" / "a.txt").unlink()
    assert Path(ac.utils.get_file("a.tar.gz", url, extract=True, cache_dir=tmp_path)) == folder
    assert tree(folder) == FILES and server.requests == ["/a.tar.gz"]


def test_file_urls_and_keras_home(tmp_path, monkeypatch, capsys):
    source = tmp_path / "source.txt"
    source.write_bytes(b"local")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    path = ac.utils.get_file(origin=source.as_uri(), cache_subdir="mine")
    assert path == str(tmp_path / "home" / "mine" / "source.txt")
    assert Path(path).read_bytes() == b"local"
    (tmp_path / "k").mkdir()
    keras_path = keras.utils.get_file(origin=source.as_uri(), cache_dir=tmp_path / "k")
    assert keras_path == str(tmp_path / "k" / "datasets" / "source.txt")


def test_an_absolute_cache_subdir_is_used_as_it_is(server, tmp_path):
    url = server.add("f.txt", b"f")
    path = ac.utils.get_file(origin=url, cache_subdir=str(tmp_path / "elsewhere"))
    assert path == str(tmp_path / "elsewhere" / "f.txt")


def test_a_missing_cache_dir_is_made_not_swapped_for_tmp(server, tmp_path):
    url = server.add("f.txt", b"f")
    path = ac.utils.get_file(origin=url, cache_dir=tmp_path / "new" / "cache")
    assert path == str(tmp_path / "new" / "cache" / "datasets" / "f.txt")


def test_network_failures_name_the_url_and_where_to_put_the_file(server, tmp_path):
    url = f"{server.url}/missing.bin"
    with pytest.raises(DownloadError) as raised:
        ac.utils.get_file("missing.bin", url, cache_dir=tmp_path)
    target = tmp_path / "datasets" / "missing.bin"
    assert str(raised.value) == (
        f"could not download {url} (HTTP Error 404: File not found). Without network, "
        f"download that URL elsewhere and put the file at {target}"
    )
    with pytest.raises(DownloadError, match="retrieval incomplete: got only 10 out of 1000"):
        ac.utils.get_file("short", f"{server.url}/short", cache_dir=tmp_path)
    with pytest.raises(DownloadError, match=r"/broken \(BadStatusLine: NOT HTTP"):
        ac.utils.get_file("broken", f"{server.url}/broken", cache_dir=tmp_path)
    closed = server.url.rsplit(":", 1)[0] + ":9"
    with pytest.raises(DownloadError, match=f"could not download {closed}/x .*put the file at"):
        ac.utils.get_file(origin=f"{closed}/x", cache_dir=tmp_path)
    assert os.listdir(tmp_path / "datasets") == []


def test_a_failed_download_keeps_the_file_that_was_there(server, tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "gone.bin").write_bytes(b"kept")
    with pytest.raises(DownloadError):
        ac.utils.get_file(
            "gone.bin", f"{server.url}/gone.bin", cache_dir=tmp_path, force_download=True
        )
    assert os.listdir(tmp_path / "datasets") == ["gone.bin"]
    assert (tmp_path / "datasets" / "gone.bin").read_bytes() == b"kept"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, 'Please specify the "origin" argument'),
        ({"origin": "http://127.0.0.1:9/"}, "Can't parse the file name from the origin"),
        ({"fname": "a/b.txt", "origin": "http://x/b"}, "Paths are no longer accepted"),
        ({"fname": "..", "origin": "http://x/b"}, "'..' is not a file name"),
        ({"origin": "http://x/a", "hash_algorithm": "sha1"}, "hash_algorithm must be one of"),
        ({"origin": "http://x/a", "archive_format": "rar"}, "archive_format must be 'auto'"),
        ({"origin": "http://x/a", "archive_format": ["tar", 7]}, "archive_format must be"),
    ],
)
def test_bad_arguments_are_one_clear_error_before_any_download(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        ac.utils.get_file(cache_dir=tmp_path, **kwargs)


def test_extract_archive_formats(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_bytes(FILES))
    assert not file_utils.extract_archive(archive, tmp_path / "none", None)
    assert not file_utils.extract_archive(archive, tmp_path / "tar", "tar")
    assert file_utils.extract_archive(archive, tmp_path / "zip", ["tar", "zip"])
    assert tree(tmp_path / "zip") == FILES
