"""Write a dataset as a folder of PNG files, one sub-folder per class, ready for
``image_dataset_from_directory``.

Class folders are named so that their sorted order is the label order (the order in which
``image_dataset_from_directory`` numbers them): ``0`` ... ``9`` for MNIST, ``0_T-shirt_top``
... ``9_Ankle_boot`` for Fashion-MNIST, CIFAR-10's class names (already alphabetical). Image
``i`` of the split is ``<class>/<i>.png``, zero-padded, so sorted file names keep its order.

An export is built in a hidden sibling folder and renamed into place when complete, so an
interrupted export leaves nothing half-written under ``folder`` and can simply be run again
(its leftovers are removed). Running it again after it completed does nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from autoconv.datasets import cifar10, fashion_mnist, mnist

LOADERS = {"mnist": mnist, "fashion_mnist": fashion_mnist, "cifar10": cifar10}
CLASS_FOLDERS = {
    "mnist": [str(i) for i in range(10)],
    "fashion_mnist": [
        "0_T-shirt_top",
        "1_Trouser",
        "2_Pullover",
        "3_Dress",
        "4_Coat",
        "5_Sandal",
        "6_Shirt",
        "7_Sneaker",
        "8_Bag",
        "9_Ankle_boot",
    ],
    "cifar10": [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ],
}
MANIFEST = ".autoconv-export.json"


def export(
    name: str,
    folder: str | os.PathLike,
    split: str = "train",
    limit: int | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> Path:
    """Write dataset ``name`` ("mnist", "fashion_mnist", "cifar10") under ``folder`` as class
    folders of PNG files; returns ``folder``.

    ``split`` "train" or "test" writes that split's images into ``folder`` itself; "both"
    writes ``folder/train`` and ``folder/test``. ``limit`` keeps the first ``limit`` images
    of each split. The dataset is loaded as its ``load_data(data_dir, download)`` finds it.
    """
    if name not in LOADERS:
        raise ValueError(f"export: unknown dataset {name!r}; choose one of {sorted(LOADERS)}")
    if split not in ("train", "test", "both"):
        raise ValueError(f'export: split must be "train", "test" or "both", got {split!r}')
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"export: limit must be a positive int or None, got {limit!r}")
    folder = Path(folder)
    train, test = LOADERS[name].load_data(data_dir=data_dir, download=download)
    if split == "both":
        _export_split(name, "train", *train, folder / "train", limit)
        _export_split(name, "test", *test, folder / "test", limit)
    else:
        _export_split(name, split, *(train if split == "train" else test), folder, limit)
    return folder


def _export_split(
    name: str, split: str, images: np.ndarray, labels: np.ndarray, target: Path, limit: int | None
) -> None:
    images, labels = images[:limit], labels.reshape(-1)[:limit]
    classes = CLASS_FOLDERS[name]
    manifest = {"dataset": name, "split": split, "images": len(images), "classes": classes}
    if target.exists():
        if _read_manifest(target) == manifest:
            return  # already exported
        if any(target.iterdir()):
            raise FileExistsError(
                f"export: {target} already exists and holds something else than this export "
                f"({name} {split}, {len(images)} images); remove it or choose another folder"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.partial-"
    for leftover in target.parent.glob(prefix + "*"):  # an earlier, interrupted export
        shutil.rmtree(leftover, ignore_errors=True)
    partial = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        for folder_name in classes:
            (partial / folder_name).mkdir()
        width = max(1, len(str(len(images) - 1)))
        paths = [partial / classes[label] / f"{i:0{width}d}.png" for i, label in enumerate(labels)]
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:  # Pillow's encoder frees the GIL
            list(pool.map(_write_png, images, paths, chunksize=256))
        (partial / MANIFEST).write_text(json.dumps(manifest))
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _write_png(image: np.ndarray, path: Path) -> None:
    Image.fromarray(image).save(path)


def _read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
