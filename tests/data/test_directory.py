"""image_dataset_from_directory: Keras's listing, shuffle, split and labels; decoding every
format; the errors. Every folder is written by the tests themselves, with tiny images."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from PIL import Image

from autoconv.data import Dataset, image_dataset_from_directory
from autoconv.datasets import DatasetFileError
from autoconv.utils import image_dataset_from_directory as from_utils

FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")

# A layout with everything that decides Keras's order: upper-case and mixed extensions,
# nested folders, a non-image file, a hidden folder, an image outside any class folder.
TREE = {
    "cats": [
        "c1.png",
        "C2.JPG",
        "sub/c3.jpeg",
        "sub/deeper/c4.bmp",
        "c5.gif",
        "notes.txt",
        "c6.PNG",
    ],
    "dogs": ["d1.png", "d10.png", "d2.png", "x/d3.png", "x/a.png", "d0.jpg"],
    "birds": ["b.png", "b2.png", "z/b3.png"],
    ".hidden": ["h.png"],
}

# What Keras 3.15.1 returned for TREE (keras.utils.image_dataset_from_directory(tree,
# seed=..., validation_split=..., subset=...).file_paths, relative to the tree, and what it
# printed), recorded by running Keras itself.
KERAS_GOLDEN = {
    (0, None, None): (
        [
            [
                "birds/b2.png", "cats/c6.PNG", "cats/sub/deeper/c4.bmp", "dogs/d0.jpg",
                "dogs/x/d3.png", "cats/c1.png", "birds/z/b3.png", "dogs/x/a.png", "dogs/d1.png",
                "cats/sub/c3.jpeg", "dogs/d10.png", "cats/C2.JPG", "birds/b.png", "cats/c5.gif",
                "dogs/d2.png",
            ]
        ],
        "Found 15 files belonging to 3 classes.\n",
    ),
    (1337, 0.4, "both"): (
        [
            [
                "cats/c5.gif", "cats/C2.JPG", "birds/b2.png", "birds/b.png", "cats/c1.png",
                "cats/c6.PNG", "dogs/d10.png", "birds/z/b3.png", "dogs/d1.png",
            ],
            [
                "dogs/d0.jpg", "dogs/x/d3.png", "cats/sub/deeper/c4.bmp", "dogs/d2.png",
                "dogs/x/a.png", "cats/sub/c3.jpeg",
            ],
        ],
        "Found 15 files belonging to 3 classes.\nUsing 9 files for training.\n"
        "Using 6 files for validation.\n",
    ),
    (42, 0.25, "validation"): (
        [["dogs/d2.png", "cats/C2.JPG", "cats/c6.PNG"]],
        "Found 15 files belonging to 3 classes.\nUsing 3 files for validation.\n",
    ),
}  # fmt: skip


def save(path, array, **kwargs):
    """Write ``array`` (h, w) or (h, w, c) uint8 as an image file; the format is the suffix's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.asarray(array, np.uint8))
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".gif": "GIF"}
    image.save(path, format=fmt[path.suffix.lower()], **kwargs)


def id_image(i, size=(3, 4)):
    """A tiny RGB image that says its number i in every pixel (red = i // 256, green = i % 256)."""
    image = np.zeros((*size, 3), np.uint8)
    image[..., 0], image[..., 1] = i // 256, i % 256
    return image


def ids_of(images):
    """The numbers id_image wrote, from a batch of float32 images (n, h, w, 3)."""
    return (images[:, 0, 0, 0] * 256 + images[:, 0, 0, 1]).astype(int).tolist()


def write_tree(root, tree=TREE, loose=True):
    for cls, names in tree.items():
        for k, name in enumerate(names):
            path = root / cls / name
            if path.suffix.lower() in FORMATS:
                save(path, id_image(k, (2 + k % 3, 3)))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("not an image")
    if loose:
        save(root / "loose.png", id_image(0))
    return root


def write_numbered(root, counts, size=(3, 4)):
    """Class folders c0, c1, ... holding counts[c] PNG images numbered across the whole tree;
    returns {relative path: number}."""
    numbers, i = {}, 0
    for c, count in enumerate(counts):
        for k in range(count):
            save(root / f"c{c}" / f"{k:03d}.png", id_image(i, size))
            numbers[f"c{c}/{k:03d}.png"] = i
            i += 1
    return numbers


# Keras 3's index_directory and get_training_or_validation_split
# (keras/src/utils/dataset_utils.py), transcribed independently of autoconv's port.
def keras_index(
    directory, labels="inferred", class_names=None, shuffle=True, seed=None, follow_links=False
):
    if labels == "inferred":
        subdirs = [
            d
            for d in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")
        ]
        subdirs = class_names if class_names is not None else subdirs
    else:
        subdirs = [""]
    indices = dict(zip(subdirs, range(len(subdirs)), strict=True))
    filenames, found = [], []
    for subdir in subdirs:
        top = os.path.join(directory, subdir)
        dirname = os.path.basename(top)
        walk = os.walk(top, followlinks=follow_links)
        for root, _, files in sorted(walk, key=lambda x: x[0]):
            for fname in sorted(files):
                if fname.lower().endswith(FORMATS):
                    found.append(indices[dirname])
                    rel = os.path.relpath(os.path.join(root, fname), top)
                    filenames.append(os.path.join(dirname, rel))
    if labels == "inferred":
        labels = np.array(found, dtype="int32")
    elif labels is not None:
        labels = list(labels)
    paths = [os.path.join(directory, f) for f in filenames]
    if shuffle:
        np.random.RandomState(seed).shuffle(paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return paths, labels


def keras_split(samples, labels, validation_split, subset):
    if not validation_split:
        return samples, labels
    n = int(validation_split * len(samples))
    if subset == "training":
        return samples[:-n], None if labels is None else labels[:-n]
    return samples[-n:], None if labels is None else labels[-n:]


def load(directory, **kwargs):
    kwargs.setdefault("image_size", (3, 4))
    kwargs.setdefault("verbose", False)
    return image_dataset_from_directory(directory, **kwargs)


def everything(ds):
    """All (images, labels) of one pass, concatenated."""
    xs, ys = zip(*ds, strict=True)
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.parametrize(("seed", "split", "subset"), sorted(KERAS_GOLDEN, key=str))
def test_same_files_and_messages_as_keras(tmp_path, capsys, seed, split, subset):
    root = write_tree(tmp_path / "tree")
    result = load(root, seed=seed, validation_split=split, subset=subset, verbose=True)
    datasets = result if isinstance(result, list) else [result]
    expected_paths, expected_printed = KERAS_GOLDEN[(seed, split, subset)]
    assert [[os.path.relpath(p, root) for p in ds.file_paths] for ds in datasets] == expected_paths
    assert capsys.readouterr().out == expected_printed
    assert all(ds.class_names == ["birds", "cats", "dogs"] for ds in datasets)


@pytest.mark.parametrize("seed", [0, 1, 7, 123, 99999])
@pytest.mark.parametrize(
    ("split", "subset"), [(None, None), (0.2, "training"), (0.2, "validation"), (0.5, "both")]
)
def test_split_and_labels_match_the_keras_algorithm(tmp_path, seed, split, subset):
    root = write_tree(tmp_path)
    paths, labels = keras_index(str(root), seed=seed)
    result = load(str(root), seed=seed, validation_split=split, subset=subset, batch_size=None)
    pairs = (
        [(result[0], "training"), (result[1], "validation")]
        if subset == "both"
        else [(result, subset)]
    )
    for ds, which in pairs:
        want_paths, want_labels = keras_split(paths, labels, split, which)
        assert ds.file_paths == want_paths
        # shuffle=True: a pass visits the subset's files in some order; each with its label
        label_of = dict(zip(want_paths, want_labels.tolist(), strict=True))
        labels_seen = sorted(int(y) for _, y in ds)
        assert labels_seen == sorted(label_of.values())


def test_unshuffled_order_and_labels_as_keras(tmp_path):
    numbers = write_numbered(tmp_path, [3, 2, 4])
    paths, labels = keras_index(str(tmp_path), shuffle=False)
    ds = load(str(tmp_path), shuffle=False, batch_size=4)
    x, y = everything(ds)
    assert ds.file_paths == paths
    assert ids_of(x) == [numbers[os.path.relpath(p, tmp_path)] for p in paths]
    assert y.tolist() == labels.tolist() and y.dtype == np.int32
    assert x.dtype == np.float32 and x.shape == (9, 3, 4, 3)
    assert len(ds) == 3 and [len(b[0]) for b in ds] == [4, 4, 1]


def test_explicit_labels_and_no_labels(tmp_path):
    write_numbered(tmp_path, [2, 3])
    paths, _ = keras_index(str(tmp_path), labels=[5, 6, 7, 8, 9], seed=3)
    ds = load(str(tmp_path), labels=[5, 6, 7, 8, 9], seed=3, batch_size=None)
    assert ds.file_paths == paths and ds.class_names == ["5", "6", "7", "8", "9"]
    assert sorted(int(y) for _, y in ds) == [5, 6, 7, 8, 9]
    images_only = load(str(tmp_path), labels=None, shuffle=False)
    assert images_only.class_names is None
    batch = next(iter(images_only))
    assert isinstance(batch, np.ndarray) and batch.shape == (5, 3, 4, 3)
    no_mode = load(str(tmp_path), label_mode=None, shuffle=False)
    assert isinstance(next(iter(no_mode)), np.ndarray)


def test_label_modes(tmp_path):
    write_numbered(tmp_path, [2, 1])
    _, y = everything(load(tmp_path, shuffle=False, label_mode="categorical"))
    assert y.dtype == np.float32 and y.tolist() == [[1, 0], [1, 0], [0, 1]]
    _, y = everything(load(tmp_path, shuffle=False, label_mode="binary"))
    assert y.dtype == np.float32 and y.shape == (3, 1) and y.ravel().tolist() == [0, 0, 1]


def test_class_names_choose_and_order_the_classes(tmp_path):
    write_numbered(tmp_path, [1, 2, 3])
    ds = load(tmp_path, class_names=["c2", "c0"], shuffle=False)
    x, y = everything(ds)
    assert ds.class_names == ["c2", "c0"]
    assert y.tolist() == [0, 0, 0, 1] and ids_of(x) == [3, 4, 5, 0]


def test_seed_makes_every_pass_reproducible_and_passes_reshuffle(tmp_path):
    write_numbered(tmp_path, [10, 10, 10])

    def passes(seed):
        ds = load(tmp_path, seed=seed, batch_size=4)
        return [ids_of(everything(ds)[0]) for _ in range(3)]

    first, again = passes(5), passes(5)
    assert first == again  # the same seed: the same orders, pass after pass
    assert first[0] != first[1] != first[2]  # a new order each pass (epoch)
    assert sorted(first[0]) == sorted(first[1]) == list(range(30))
    assert passes(6)[0] != first[0]


def test_validation_subset_is_not_reshuffled(tmp_path):
    write_numbered(tmp_path, [6, 6])
    _, val = load(tmp_path, seed=1, validation_split=0.5, subset="both")
    orders = [ids_of(everything(val)[0]) for _ in range(2)]
    assert orders[0] == orders[1]


@pytest.mark.parametrize("batch_size", [1, 3, 7, None])
def test_prefetching_loader_never_drops_or_repeats_a_file(tmp_path, batch_size, monkeypatch):
    from autoconv.data import dataset

    monkeypatch.setattr(dataset, "AUTOTUNE_THREADS", 4)  # several threads even on 1 core
    numbers = write_numbered(tmp_path, [13, 9, 11])
    ds = load(tmp_path, seed=2, batch_size=batch_size)
    for _ in range(3):
        if batch_size is None:
            seen = [numbers_of(x) for x, _ in ds]
        else:
            seen = [i for x, _ in ds for i in ids_of(x)]
        assert sorted(seen) == sorted(numbers.values())  # each file exactly once


def numbers_of(image):
    return int(image[0, 0, 0] * 256 + image[0, 0, 1])


def test_decodes_every_format_and_mode(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (4, 5), dtype=np.uint8)
    rgba = rng.integers(0, 256, (4, 5, 4), dtype=np.uint8)
    save(tmp_path / "a" / "1_rgb.png", rgb)
    save(tmp_path / "a" / "2_rgb.bmp", rgb)
    save(tmp_path / "a" / "3_gray.png", gray)
    save(tmp_path / "a" / "4_rgba.png", rgba)
    Image.fromarray(rgb).quantize(8).save(tmp_path / "a" / "5_palette.png")
    Image.fromarray(rgb).quantize(8).save(
        tmp_path / "a" / "6_first.gif", save_all=True, append_images=[Image.fromarray(255 - rgb)]
    )
    Image.fromarray(rgb).save(tmp_path / "a" / "7_rgb.jpg", quality=95)
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "a" / "8_gray16.png")

    def pixels(color_mode):
        ds = load(tmp_path, shuffle=False, color_mode=color_mode, image_size=(4, 5))
        return everything(ds)[0]

    x = pixels("rgb")
    assert x.shape == (8, 4, 5, 3)
    np.testing.assert_array_equal(x[0], rgb)
    np.testing.assert_array_equal(x[1], rgb)
    np.testing.assert_array_equal(x[2], np.repeat(gray[..., None], 3, axis=2))
    np.testing.assert_array_equal(x[3], rgba[..., :3])  # alpha dropped
    palette = np.asarray(Image.fromarray(rgb).quantize(8).convert("RGB"))
    np.testing.assert_array_equal(x[4], palette)
    np.testing.assert_array_equal(x[5], palette)  # the first frame of the GIF
    np.testing.assert_array_equal(x[6], np.asarray(Image.open(tmp_path / "a" / "7_rgb.jpg")))
    np.testing.assert_array_equal(x[7, ..., 0], gray)  # 16 bits -> their high byte
    g = pixels("grayscale")
    assert g.shape == (8, 4, 5, 1)
    np.testing.assert_array_equal(g[2, ..., 0], gray)
    np.testing.assert_array_equal(g[0, ..., 0], np.asarray(Image.fromarray(rgb).convert("L")))
    a = pixels("rgba")
    np.testing.assert_array_equal(a[3], rgba)
    assert (a[0, ..., 3] == 255).all()  # opaque alpha added


def test_palette_with_transparency_and_mixed_sizes(tmp_path):
    img = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4)).convert("P")
    (tmp_path / "c").mkdir()
    img.save(tmp_path / "c" / "t.png", transparency=0)
    save(tmp_path / "c" / "big.png", np.full((30, 17, 3), 200))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's palette-transparency warning is avoided
        x, _ = everything(load(tmp_path, shuffle=False, image_size=(5, 6), color_mode="rgba"))
    assert x.shape == (2, 5, 6, 4)
    np.testing.assert_allclose(x[0, ..., :3], 200)
    np.testing.assert_allclose(x[0, ..., 3], 255)
    assert x[1, 0, 0, 3] == 0 and x[1, -1, -1, 3] == 255  # palette entry 0 is transparent


def test_resizing_options(tmp_path):
    save(tmp_path / "c" / "wide.png", np.arange(8 * 16).reshape(8, 16) % 256)
    base = dict(shuffle=False, image_size=(4, 4), color_mode="grayscale")
    plain = everything(load(tmp_path, **base))[0][0, ..., 0]
    crop = everything(load(tmp_path, crop_to_aspect_ratio=True, **base))[0][0, ..., 0]
    pad = everything(load(tmp_path, pad_to_aspect_ratio=True, **base))[0][0, ..., 0]
    image = (np.arange(8 * 16).reshape(8, 16) % 256).astype(np.float32)
    # bilinear 8x16 -> 4x4 without antialiasing: rows 2i, 2i+1 and columns 4j+1, 4j+2
    np.testing.assert_allclose(plain, image.reshape(4, 2, 4, 4)[:, :, :, 1:3].mean(axis=(1, 3)))
    # crop: the centred 8x8 window, halved by bilinear (the mean of each 2x2 cell)
    window = image[:, 4:12]
    np.testing.assert_allclose(crop, window.reshape(4, 2, 4, 2).mean(axis=(1, 3)))
    # pad: resized to 2x4 then one zero row above and below
    assert (pad[[0, 3]] == 0).all() and (pad[1:3] > 0).all()
    channels_first = everything(load(tmp_path, data_format="channels_first", **base))[0]
    assert channels_first.shape == (1, 1, 4, 4)
    nearest = everything(load(tmp_path, interpolation="NEAREST", **base))[0][0, ..., 0]
    np.testing.assert_array_equal(nearest, image[1::2, 2::4])
    assert nearest.dtype == np.uint8 and plain.dtype == np.float32  # as TensorFlow resizes


def test_nested_folders_and_symlinks(tmp_path):
    root = tmp_path / "root"
    save(root / "a" / "top.png", id_image(1))
    save(root / "a" / "x" / "y" / "deep.png", id_image(2))
    save(tmp_path / "elsewhere" / "far.png", id_image(3))
    save(tmp_path / "single.png", id_image(4))
    (root / "a" / "linked_dir").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / "a" / "linked_file.png").symlink_to(tmp_path / "single.png")
    (root / "b").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # a class link

    def files(follow_links):
        ds = load(root, shuffle=False, follow_links=follow_links)
        return [os.path.relpath(p, root) for p in ds.file_paths], ids_of(everything(ds)[0])

    assert files(False) == (
        ["a/linked_file.png", "a/top.png", "a/x/y/deep.png", "b/far.png"],
        [4, 1, 2, 3],
    )
    assert files(True)[0] == [
        "a/linked_file.png",
        "a/top.png",
        "a/linked_dir/far.png",
        "a/x/y/deep.png",
        "b/far.png",
    ]
    keras_paths = keras_index(str(root), shuffle=False, follow_links=True)[0]
    assert files(True)[0] == [os.path.relpath(p, root) for p in keras_paths]


def test_corrupt_and_truncated_files_are_named(tmp_path):
    write_numbered(tmp_path, [3, 2])
    good = (tmp_path / "c0" / "000.png").read_bytes()
    (tmp_path / "c0" / "bad.png").write_bytes(b"this is no png")
    (tmp_path / "c1" / "cut.png").write_bytes(good[: len(good) // 2])
    ds = load(tmp_path, shuffle=False, batch_size=2)
    with pytest.raises(DatasetFileError, match=r"bad\.png: cannot decode this image"):
        everything(ds)
    with pytest.warns(UserWarning, match=r"Skipped 2 unreadable image files: .*bad\.png.*cut\.png"):
        ds = load(tmp_path, shuffle=False, batch_size=2, skip_bad_files=True)
    assert len(ds.file_paths) == 5
    assert everything(ds)[0].shape[0] == 5


def test_skip_bad_files_keeps_keras_subsets(tmp_path):
    write_numbered(tmp_path, [6, 6])
    (tmp_path / "c1" / "zz.png").write_bytes(b"broken")
    paths, _ = keras_index(str(tmp_path), seed=4)
    with pytest.warns(UserWarning, match="zz.png"):
        train, val = load(
            tmp_path, seed=4, validation_split=0.3, subset="both", skip_bad_files=True
        )
    keep = [p for p in paths if not p.endswith("zz.png")]
    assert train.file_paths == [
        p for p in keras_split(paths, None, 0.3, "training")[0] if p in keep
    ]
    assert val.file_paths == [
        p for p in keras_split(paths, None, 0.3, "validation")[0] if p in keep
    ]


def test_an_empty_class_is_warned_about(tmp_path):
    write_numbered(tmp_path, [2])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images")
    with pytest.warns(UserWarning, match=r"class folders \['empty'\] hold no files"):
        ds = load(tmp_path)
    assert ds.class_names == ["c0", "empty"]  # kept, as Keras keeps it


@pytest.mark.parametrize(
    ("setup", "kwargs", "error", "message"),
    [
        ("empty", {}, ValueError, r"No images found in directory .* no class sub-folders"),
        ("loose", {}, ValueError, r"no class sub-folders but 1 image files directly in it"),
        ("two", {"label_mode": "binary"}, None, None),
        ("three", {"label_mode": "binary"}, ValueError, "there must be exactly 2 class_names"),
        ("two", {"validation_split": 0.2, "subset": "training"}, ValueError, "provide a `seed`"),
        ("two", {"subset": "training"}, ValueError, "`validation_split` must be set"),
        ("two", {"validation_split": 0.2}, ValueError, "`validation_split` must be set"),
        ("two", {"validation_split": 1.5, "subset": "both", "seed": 1}, ValueError,
         "between 0 and 1"),
        ("two", {"subset": "test", "validation_split": 0.2, "seed": 1}, ValueError,
         '"training", "validation" or "both"'),
        ("two", {"image_size": (0, 4)}, ValueError, "2 positive integers"),
        ("two", {"image_size": (4, 4, 3)}, ValueError, "Expected a tuple of 2 integers"),
        ("two", {"labels": [0, 1]}, ValueError, "len\\(labels\\) is 2 while we found 3 files"),
        ("two", {"labels": np.zeros(3)}, ValueError, "should be a list/tuple of integer labels"),
        ("two", {"labels": [0, 1, 1], "class_names": ["a"]}, ValueError, "only pass `class_names`"),
        ("two", {"class_names": ["c0", "nope"]}, ValueError, "did not match the names"),
        ("two", {"label_mode": "sparse"}, ValueError, "`label_mode` argument must be one of"),
        ("two", {"color_mode": "cmyk"}, ValueError, "`color_mode` must be one of"),
        ("two", {"interpolation": "cubic"}, ValueError, "`interpolation` should be one of"),
        ("two", {"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, ValueError,
         "Only one of"),
        ("two", {"data_format": "nhwc"}, ValueError, "`data_format` argument must be one of"),
        ("two", {"batch_size": 0}, ValueError, "`batch_size` must be a positive integer"),
        ("missing", {}, FileNotFoundError, "no such directory"),
        ("two", {"validation_split": 0.1, "subset": "training", "seed": 1}, ValueError,
         "No images found"),  # int(0.1 * 3) = 0 files for validation: Keras's [:-0] keeps none
        ("two", {"validation_split": 0.1, "subset": "both", "seed": 1}, ValueError,
         "No training images found"),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_error_before_any_decoding(tmp_path, setup, kwargs, error, message):
    if setup == "two":
        write_numbered(tmp_path, [2, 1])
    elif setup == "three":
        write_numbered(tmp_path, [1, 1, 1])
    elif setup == "loose":
        save(tmp_path / "x.png", id_image(0))
    directory = tmp_path / "nowhere" if setup == "missing" else tmp_path
    if error is None:
        load(directory, **kwargs)
        return
    with pytest.raises(error, match=message):
        load(directory, **kwargs)


def test_public_names_and_returned_dataset(tmp_path):
    write_numbered(tmp_path, [1])
    import autoconv

    assert from_utils is image_dataset_from_directory
    assert autoconv.preprocessing.image_dataset_from_directory is image_dataset_from_directory
    ds = load(tmp_path, format="grain")  # accepted for Keras compatibility
    assert isinstance(ds, Dataset) and ds.cardinality() == 1
