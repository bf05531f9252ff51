"""Dataset loaders: the shipped MNIST, the IDX checks, lookup order, checksums, CIFAR-10.

No test touches the network: files are written by the tests themselves.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile

import numpy as np
import pytest

import autoconv.download
from autoconv.datasets import DatasetFileError, cifar10, cifar100, fashion_mnist, mnist, store
from autoconv.datasets.idx import MAGIC_IMAGES, MAGIC_LABELS, load_idx_pair, parse_idx


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_pair(folder, n_images=5, n_labels=5, label_max=9):
    folder.mkdir(parents=True, exist_ok=True)
    images = np.arange(n_images * 4 * 4).reshape(n_images, 4, 4) % 256
    labels = np.arange(n_labels) % (label_max + 1)
    (folder / "img.gz").write_bytes(gzip.compress(idx_bytes(images, MAGIC_IMAGES)))
    (folder / "lbl").write_bytes(idx_bytes(labels, MAGIC_LABELS))
    return folder / "img.gz", folder / "lbl"


def test_shipped_mnist_like_keras():
    (x_train, y_train), (x_test, y_test) = mnist.load_data(download=False)
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and x_test.shape == (10000, 28, 28)
    assert list(y_test[:5]) == [7, 2, 1, 0, 4]
    assert set(np.unique(y_train)) == set(range(10))


def test_idx_round_trip(tmp_path):
    images, labels = load_idx_pair(*write_pair(tmp_path))
    assert images.shape == (5, 4, 4) and labels.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("content", "magic", "message"),
    [
        (b"\x00\x00", MAGIC_LABELS, "too short"),
        (idx_bytes(np.zeros(3), MAGIC_LABELS), MAGIC_IMAGES, "wrong magic number 0x00000801"),
        (idx_bytes(np.zeros((2, 2, 2)), MAGIC_IMAGES)[:-1], MAGIC_IMAGES, "truncated"),
        (idx_bytes(np.zeros(3), MAGIC_LABELS) + b"x", MAGIC_LABELS, "trailing data"),
    ],
)
def test_bad_idx_content_is_named(content, magic, message):
    with pytest.raises(DatasetFileError, match=f"myfile: .*{message}"):
        parse_idx(content, magic, "myfile")


def test_count_mismatch_and_label_range(tmp_path):
    with pytest.raises(DatasetFileError, match=r"holds 5 images but .* holds 4 labels"):
        load_idx_pair(*write_pair(tmp_path / "a", n_labels=4))
    with pytest.raises(DatasetFileError, match="label 10 is out of range"):
        load_idx_pair(*write_pair(tmp_path / "b", n_images=20, n_labels=20, label_max=10))


def test_corrupted_gzip_names_the_file(tmp_path):
    images, labels = write_pair(tmp_path)
    images.write_bytes(images.read_bytes()[:30])
    with pytest.raises(DatasetFileError, match=r"img.gz: corrupted or truncated gzip"):
        load_idx_pair(images, labels)


def fake_mnist_dir(folder, n=3):
    """A folder of MNIST-named files with tiny contents and matching content md5s."""
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for key, remote in mnist.FILES.items():
        shape = (n, 28, 28) if "images" in key else (n,)
        magic = MAGIC_IMAGES if "images" in key else MAGIC_LABELS
        raw = idx_bytes(np.full(shape, 1), magic)
        (folder / remote.name).write_bytes(gzip.compress(raw))
        sums[key] = hashlib.md5(raw).hexdigest()
    return sums


def patch_checksums(monkeypatch, module, sums):
    files = {
        key: store.RemoteFile(r.name, None, content_md5=sums[key])
        for key, r in module.FILES.items()
    }
    monkeypatch.setattr(module, "FILES", files)


def test_lookup_order_data_dir_then_env_then_shipped(tmp_path, monkeypatch):
    sums = fake_mnist_dir(tmp_path / "explicit")
    fake_mnist_dir(tmp_path / "env" / "mnist", n=4)
    patch_checksums(monkeypatch, mnist, sums)
    monkeypatch.setenv("AUTOCONV_DATA", str(tmp_path / "env"))
    (x, _), _ = mnist.load_data(data_dir=tmp_path / "explicit")
    assert len(x) == 3
    dirs = store.search_dirs("mnist", None)
    assert dirs[0] == tmp_path / "env" / "mnist"
    assert dirs[-1] == store.cache_dir() / "mnist"


def test_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    sums = fake_mnist_dir(tmp_path)
    sums["train_labels"] = "0" * 32
    patch_checksums(monkeypatch, mnist, sums)
    with pytest.raises(DatasetFileError, match=r"train-labels-idx1-ubyte\.gz: checksum mismatch"):
        mnist.load_data(data_dir=tmp_path)


def test_missing_file_without_download_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(
        DatasetFileError, match=r"fashion_mnist: train-images-idx3-ubyte\.gz, .* were not found"
    ):
        fashion_mnist.load_data(data_dir=tmp_path, download=False)


def test_failed_download_says_what_to_fetch_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    remote = store.RemoteFile("x.gz", "http://127.0.0.1:9/x.gz", file_md5="0" * 32)
    target = tmp_path / "cache" / "autoconv" / "demo" / "x.gz"
    with pytest.raises(DatasetFileError, match=r"could not download .* put it at .*x.gz"):
        store.fetch(remote, target)
    assert list(target.parent.iterdir()) == []


def test_download_lands_only_when_verified(tmp_path, monkeypatch):
    payload = b"hello dataset"
    good = store.RemoteFile(
        "f.bin", "file://" + str(tmp_path / "src"), file_md5=hashlib.md5(payload).hexdigest()
    )
    (tmp_path / "src").write_bytes(payload)
    store.fetch(good, tmp_path / "out" / "f.bin")
    assert (tmp_path / "out" / "f.bin").read_bytes() == payload
    bad = store.RemoteFile("g.bin", good.url, file_md5="0" * 32)
    with pytest.raises(DatasetFileError, match="checksum mismatch"):
        store.fetch(bad, tmp_path / "out" / "g.bin")
    assert not (tmp_path / "out" / "g.bin").exists()


def test_cifar10_binary_archive(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)

    def batch(n):
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        return np.concatenate([labels[:, None], pixels], axis=1).tobytes(), labels, pixels

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member in [*cifar10.TRAIN_MEMBERS, *cifar10.TEST_MEMBERS]:
            data, labels, pixels = batch(2)
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    (tmp_path / cifar10.ARCHIVE.name).write_bytes(buffer.getvalue())
    monkeypatch.setattr(cifar10, "ARCHIVE", store.RemoteFile(cifar10.ARCHIVE.name, None))
    (x_train, _), (x_test, y_test) = cifar10.load_data(data_dir=tmp_path)
    assert x_train.shape == (10, 32, 32, 3) and x_test.shape == (2, 32, 32, 3)
    # the last batch written is the test batch: red plane first, channels-last after loading
    np.testing.assert_array_equal(x_test[1, :, :, 0].ravel(), pixels[1, :1024])
    assert y_test.shape == (2, 1) and y_test.dtype == np.uint8  # (N, 1), as Keras
    np.testing.assert_array_equal(y_test[:, 0], labels)


def test_cifar10_bad_archive(tmp_path, monkeypatch):
    (tmp_path / cifar10.ARCHIVE.name).write_bytes(gzip.compress(b"not a tar"))
    monkeypatch.setattr(cifar10, "ARCHIVE", store.RemoteFile(cifar10.ARCHIVE.name, None))
    with pytest.raises(DatasetFileError, match="not a valid CIFAR-10 binary archive"):
        cifar10.load_data(data_dir=tmp_path)


def cifar100_archive(folder, train: bytes, test: bytes) -> None:
    """A CIFAR-100 binary archive of ``train`` and ``test`` records in ``folder``, found there
    without a checksum."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member, data in ((cifar100.TRAIN_MEMBER, train), (cifar100.TEST_MEMBER, test)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    (folder / cifar100.ARCHIVE.name).write_bytes(buffer.getvalue())


@pytest.mark.parametrize(("label_mode", "column", "classes"), [("fine", 1, 100), ("coarse", 0, 20)])
def test_cifar100_binary_archive(tmp_path, monkeypatch, label_mode, column, classes):
    rng = np.random.default_rng(0)

    def records(n):
        labels = np.stack([rng.integers(0, 20, n), rng.integers(0, 100, n)], 1).astype(np.uint8)
        pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        return np.concatenate([labels, pixels], axis=1).tobytes(), labels, pixels

    (train, train_labels, _), (test, test_labels, pixels) = records(5), records(3)
    cifar100_archive(tmp_path, train, test)
    monkeypatch.setattr(cifar100, "ARCHIVE", store.RemoteFile(cifar100.ARCHIVE.name, None))
    (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode, data_dir=tmp_path)
    assert x_train.shape == (5, 32, 32, 3) and x_test.shape == (3, 32, 32, 3)
    assert x_test.dtype == np.uint8 and y_test.shape == (3, 1) and y_test.dtype == np.uint8
    np.testing.assert_array_equal(x_test[2, :, :, 1].ravel(), pixels[2, 1024:2048])  # green
    np.testing.assert_array_equal(y_train[:, 0], train_labels[:, column])
    np.testing.assert_array_equal(y_test[:, 0], test_labels[:, column])
    assert y_train.max() < classes


@pytest.mark.parametrize(
    ("train", "message"),
    [
        (bytes(3074 + 1), "not a whole number of records"),
        (bytes([0, 100]) + bytes(3072), "label 100 is out of range for 100 classes"),
    ],
)
def test_cifar100_bad_records_are_named(tmp_path, monkeypatch, train, message):
    cifar100_archive(tmp_path, train, bytes(3074))
    monkeypatch.setattr(cifar100, "ARCHIVE", store.RemoteFile(cifar100.ARCHIVE.name, None))
    with pytest.raises(DatasetFileError, match=message):
        cifar100.load_data(data_dir=tmp_path)


def test_cifar100_label_mode_and_a_damaged_archive_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="`label_mode` must be one of"):
        cifar100.load_data("superclass", data_dir=tmp_path)
    (tmp_path / cifar100.ARCHIVE.name).write_bytes(gzip.compress(b"not a tar"))
    monkeypatch.setattr(cifar100, "ARCHIVE", store.RemoteFile(cifar100.ARCHIVE.name, None))
    with pytest.raises(DatasetFileError, match="not a valid CIFAR-100 binary archive"):
        cifar100.load_data(data_dir=tmp_path)


def test_a_cifar_member_over_its_size_is_refused_before_it_is_read(tmp_path, monkeypatch):
    cifar100_archive(tmp_path, bytes(3074 * 4), bytes(3074))
    monkeypatch.setattr(cifar100, "ARCHIVE", store.RemoteFile(cifar100.ARCHIVE.name, None))
    monkeypatch.setattr(cifar100, "MEMBER_BYTES", 3074 * 3)
    read = []
    monkeypatch.setattr(tarfile.ExFileObject, "read", lambda *a: read.append(a) or b"")
    with pytest.raises(DatasetFileError, match=r"train.bin holds 12296 bytes, over 9222"):
        cifar100.load_data(data_dir=tmp_path)
    assert not read


def test_shipped_copy_is_found_in_an_installed_layout(tmp_path, monkeypatch):
    """`pip install .` puts datasets/ at autoconv/shipped_datasets: the lookup must see it."""
    package = tmp_path / "site-packages" / "autoconv"
    (package / "datasets").mkdir(parents=True)
    (package / "shipped_datasets" / "mnist").mkdir(parents=True)
    monkeypatch.setattr(store, "__file__", str(package / "datasets" / "store.py"))
    monkeypatch.delenv("AUTOCONV_DATA", raising=False)
    assert store.shipped_dir() == package / "shipped_datasets"
    assert store.search_dirs("mnist", None)[0] == package / "shipped_datasets" / "mnist"


# ------------------------------------------------------------- missing files, data_dir
@pytest.mark.parametrize(
    "loader", [mnist.load_data, fashion_mnist.load_data, cifar10.load_data, cifar100.load_data]
)
def test_a_data_dir_that_does_not_exist_is_an_error(tmp_path, loader):
    with pytest.raises(DatasetFileError, match=r"data_dir .*nowhere does not exist"):
        loader(data_dir=tmp_path / "nowhere")
    (tmp_path / "a_file").write_bytes(b"")
    with pytest.raises(DatasetFileError, match=r"data_dir .*a_file is not a folder"):
        loader(data_dir=tmp_path / "a_file")


def test_the_course_loader_refuses_a_missing_data_dir(tmp_path):
    from autoconv import course

    with pytest.raises(DatasetFileError, match="does not exist"):
        course.load("mnist", tmp_path / "nowhere", limit=10)


def test_without_download_every_missing_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("AUTOCONV_DATA", raising=False)
    with pytest.raises(DatasetFileError) as error:
        fashion_mnist.load_data(data_dir=tmp_path, download=False)
    message = str(error.value)
    for remote in fashion_mnist.FILES.values():
        assert remote.name in message
    assert "were not found in" in message and str(tmp_path) in message


def offline_dataset(monkeypatch, tmp_path, present=()):
    """fashion_mnist with mirrors that refuse connections, and ``present`` files cached."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("AUTOCONV_DATA", raising=False)
    files = {
        key: store.RemoteFile(r.name, f"http://127.0.0.1:9/{r.name}", file_md5="0" * 32)
        for key, r in fashion_mnist.FILES.items()
    }
    monkeypatch.setattr(fashion_mnist, "FILES", files)
    for key in present:
        folder = store.cache_dir() / "fashion_mnist"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / files[key].name).write_bytes(b"cached")
        files[key] = store.RemoteFile(files[key].name, files[key].url)  # no checksum to fail
    return files


def test_a_failed_download_names_every_missing_file_and_where_to_put_them(tmp_path, monkeypatch):
    files = offline_dataset(monkeypatch, tmp_path, present=["train_labels"])
    monkeypatch.setattr(fashion_mnist, "FILES", files)
    with pytest.raises(DatasetFileError) as error:
        fashion_mnist.load_data()
    message = str(error.value)
    cache = store.cache_dir() / "fashion_mnist"
    assert message.startswith("fashion_mnist: could not download http://127.0.0.1:9/")
    for key in ("train_images", "test_images", "test_labels"):
        assert f"{files[key].name} ({files[key].url})" in message
    assert files["train_labels"].name not in message  # it was there
    assert f"put them in {cache}" in message and "\n" not in message
    assert sorted(p.name for p in cache.iterdir()) == [files["train_labels"].name]


def test_an_unwritable_cache_is_an_error_before_any_download(tmp_path, monkeypatch):
    offline_dataset(monkeypatch, tmp_path)
    (tmp_path / "cache").write_bytes(b"a file where the cache folder should be")
    calls = []
    monkeypatch.setattr(autoconv.download, "urlopen", lambda *a, **k: calls.append(a))
    with pytest.raises(DatasetFileError, match=r"cannot download .* into the cache folder .*: it"
                       r" cannot be created .*Set XDG_CACHE_HOME or AUTOCONV_DATA"):  # fmt: skip
        fashion_mnist.load_data()
    assert calls == []


def test_a_read_only_cache_is_an_error_before_any_download(tmp_path, monkeypatch):
    offline_dataset(monkeypatch, tmp_path)
    cache = tmp_path / "cache" / "autoconv" / "fashion_mnist"
    cache.mkdir(parents=True)
    cache.chmod(0o555)
    if os.access(cache, os.W_OK):
        pytest.skip("running as a user who may write read-only folders (root)")
    with pytest.raises(DatasetFileError, match="it is not writable"):
        fashion_mnist.load_data()
