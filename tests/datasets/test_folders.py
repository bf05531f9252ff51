"""datasets.export: class folders of PNG files that image_dataset_from_directory reads back
exactly; re-runnable after an interruption; idempotent once complete."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autoconv.data import image_dataset_from_directory
from autoconv.datasets import cifar10, export, folders, mnist


def test_mnist_first_100_round_trip(tmp_path):
    (x_train, y_train), _ = mnist.load_data(download=False)
    out = export("mnist", tmp_path / "digits", limit=100)
    assert out == tmp_path / "digits"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [str(i) for i in range(10)]
    ds = image_dataset_from_directory(
        out,
        color_mode="grayscale",
        image_size=(28, 28),
        shuffle=False,
        batch_size=32,
        verbose=False,
    )
    x, y = (np.concatenate(parts) for parts in zip(*ds, strict=True))
    # unshuffled: by class folder, then by file name, which is the image's index
    order = np.lexsort((np.arange(100), y_train[:100]))
    np.testing.assert_array_equal(x[..., 0], x_train[:100][order])
    np.testing.assert_array_equal(y, y_train[:100][order])
    assert ds.file_paths[0].endswith("0/01.png")  # the 2nd image is the first 0


def test_both_splits_and_rerunning(tmp_path, monkeypatch):
    export("mnist", tmp_path, split="both", limit=12)
    assert len(list((tmp_path / "train").rglob("*.png"))) == 12
    assert len(list((tmp_path / "test").rglob("*.png"))) == 12
    manifest = json.loads((tmp_path / "test" / folders.MANIFEST).read_text())
    assert manifest["dataset"] == "mnist" and manifest["split"] == "test"

    def no_writes(*args):
        raise AssertionError("a completed export was written again")

    monkeypatch.setattr(folders, "_write_png", no_writes)
    export("mnist", tmp_path, split="both", limit=12)  # complete already: nothing to do
    with pytest.raises(FileExistsError, match="holds something else than this export"):
        export("mnist", tmp_path / "train", split="test", limit=12)


def test_an_interrupted_export_leaves_nothing_and_can_be_rerun(tmp_path, monkeypatch):
    calls = []
    original = folders._write_png

    def crash_after_5(image, path):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt
        original(image, path)

    monkeypatch.setattr(folders, "_write_png", crash_after_5)
    with pytest.raises(KeyboardInterrupt):
        export("mnist", tmp_path / "out", limit=20)
    assert list(tmp_path.iterdir()) == []  # no half-written folder
    (tmp_path / ".out.partial-stale").mkdir()  # as a killed process would leave it
    monkeypatch.setattr(folders, "_write_png", original)
    export("mnist", tmp_path / "out", limit=20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert len(list((tmp_path / "out").rglob("*.png"))) == 20


def test_class_folders_sort_in_label_order():
    for name, classes in folders.CLASS_FOLDERS.items():
        assert sorted(classes) == classes and len(classes) == 10, name


def test_cifar10_as_rgb_class_folders(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    labels = np.array([[3], [0], [9], [3], [1], [0]], dtype=np.uint8)
    monkeypatch.setattr(cifar10, "load_data", lambda **kw: ((images, labels), (images, labels)))
    out = export("cifar10", tmp_path / "c", split="test")
    with pytest.warns(UserWarning, match=r"class folders \['bird', 'deer'"):  # no images there
        ds = image_dataset_from_directory(out, image_size=(32, 32), shuffle=False, verbose=False)
    x, y = next(iter(ds))
    assert ds.class_names == folders.CLASS_FOLDERS["cifar10"]
    order = np.lexsort((np.arange(6), labels[:, 0]))
    np.testing.assert_array_equal(x, images[order])
    np.testing.assert_array_equal(y, labels[order, 0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        export("imagenet", "x")
    with pytest.raises(ValueError, match='split must be "train", "test" or "both"'):
        export("mnist", "x", split="validation")
    with pytest.raises(ValueError, match="limit must be a positive int"):
        export("mnist", "x", limit=0)
