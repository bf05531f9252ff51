"""``image_dataset_from_directory``: a folder of images (one sub-folder per class) as a Dataset.

A port of Keras 3's ``keras/src/utils/image_dataset_utils.py`` and the parts of
``keras/src/utils/dataset_utils.py`` it uses (``index_directory``,
``get_training_or_validation_split``, ``check_validation_split_arg``), with the same listing
order, seeded shuffle and split, so a script ported from Keras gets the same files in each
subset, the same labels and the same messages. Images are decoded with Pillow and resized as
``tf.image.resize`` does (see :mod:`autoconv.data.resize`); decoding runs on a thread pool
behind a bounded prefetch queue (see :mod:`autoconv.data.dataset`).
"""

from __future__ import annotations

import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from autoconv.data import png
from autoconv.data.dataset import AUTOTUNE, AUTOTUNE_THREADS, Dataset
from autoconv.data.resize import (
    INTERPOLATIONS,
    resize,
    resize_with_pad,
    smart_resize,
)
from autoconv.datasets.files import DatasetFileError
from autoconv.ops.convert import standardize_data_format

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def image_dataset_from_directory(
    directory: str | os.PathLike,
    labels: Any = "inferred",
    label_mode: str | None = "int",
    class_names: list[str] | None = None,
    color_mode: str = "rgb",
    batch_size: int | None = 32,
    image_size: int | tuple[int, int] = (256, 256),
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    interpolation: str = "bilinear",
    follow_links: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    data_format: str | None = None,
    format: str = "tf",
    verbose: bool = True,
    *,
    skip_bad_files: bool = False,
) -> Dataset | list[Dataset]:
    """A Dataset of (images, labels) batches read from ``directory``, as Keras's.

    With ``labels="inferred"`` each sub-folder of ``directory`` is a class (sorted by name,
    or in the order of ``class_names``) and its images, at any depth, are that class's;
    ``labels`` may instead be a list of integer labels, one per image file in the sorted
    ``os.walk`` order of ``directory``, or None. Files ending in .bmp, .gif (first frame),
    .jpeg, .jpg or .png are read; others are ignored.

    Batches: float32 images (batch, height, width, channels) in 0-255 (uint8 with
    ``interpolation="nearest"``, which keeps the pixels' values, as TensorFlow's resize does
    for Keras; channels 1, 3, 4 for
    ``color_mode`` "grayscale", "rgb", "rgba"; (batch, channels, height, width) with
    ``data_format="channels_first"``), and labels by ``label_mode``: "int" int32 (batch,),
    "categorical" float32 one-hot (batch, classes), "binary" float32 (batch, 1) (two classes
    only), None (images alone). ``batch_size=None`` yields single images.

    ``shuffle`` shuffles the file list once with ``seed`` (a random one if None) and each
    pass again through a buffer of 8 batches; ``validation_split`` with ``subset`` =
    "training", "validation" or "both" (a list of the two datasets) keeps the head or the
    tail of the shuffled list, so use the same seed for both. Images are resized to
    ``image_size`` = (height, width) with ``interpolation`` (see
    :mod:`autoconv.data.resize`), after cropping (``crop_to_aspect_ratio``) or followed by
    zero padding (``pad_to_aspect_ratio``) to keep their aspect ratio. ``format`` ("tf" or
    "grain") is accepted for Keras compatibility; both give an autoconv Dataset.

    A file that cannot be decoded raises DatasetFileError naming it when it is read;
    ``skip_bad_files=True`` instead decodes every file first and leaves the bad ones out
    with a warning listing them (each subset keeps the other files Keras would put in it).

    The dataset has ``class_names`` and ``file_paths`` (in the order of the shuffled list).
    """
    if not _is_inferred(labels) and labels is not None:
        if not isinstance(labels, list | tuple):
            raise ValueError(
                "`labels` argument should be a list/tuple of integer labels, of the same size "
                "as the number of image files in the target directory. If you wish to infer "
                "the labels from the subdirectory names in the target directory, pass "
                '`labels="inferred"`. If you wish to get a dataset that only contains images '
                f"(no labels), pass `labels=None`. Received: labels={labels}"
            )
        if class_names:
            raise ValueError(
                'You can only pass `class_names` if `labels="inferred"`. '
                f"Received: labels={labels}, and class_names={class_names}"
            )
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError(
            '`label_mode` argument must be one of "int", "categorical", "binary", '
            f"or None. Received: label_mode={label_mode}"
        )
    if labels is None or label_mode is None:
        labels = None
        label_mode = None
    if color_mode not in CHANNELS:
        raise ValueError(
            '`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
            f"Received: color_mode={color_mode}"
        )
    image_size = _check_image_size(image_size)
    interpolation = interpolation.lower()
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"Argument `interpolation` should be one of {INTERPOLATIONS}. "
            f"Received: interpolation={interpolation}"
        )
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    check_validation_split_arg(validation_split, subset, shuffle, seed)
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError(
            "Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to `True`."
        )
    if batch_size is not None and (not isinstance(batch_size, int | np.integer) or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive integer or None. Received: {batch_size}")
    data_format = standardize_data_format(data_format)

    if seed is None:
        seed = np.random.randint(1e6)  # noqa: NPY002 - Keras draws it from NumPy's global RNG
    inferred = _is_inferred(labels)
    image_paths, labels, class_names = index_directory(
        directory,
        labels,
        formats=ALLOWLIST_FORMATS,
        class_names=class_names,
        shuffle=shuffle,
        seed=seed,
        follow_links=follow_links,
        verbose=verbose,
    )
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(
            'When passing `label_mode="binary"`, there must be exactly 2 '
            f"class_names. Received: class_names={class_names}"
        )
    if inferred and image_paths:
        _warn_empty_classes(labels, class_names)

    loader = ImageLoader(
        image_size,
        CHANNELS[color_mode],
        interpolation,
        crop_to_aspect_ratio,
        pad_to_aspect_ratio,
        data_format == "channels_first",
    )
    num_classes = len(class_names) if class_names else 0
    shuffle_buffer_size = batch_size * 8 if batch_size is not None else 1024

    def make(paths: list[str], subset_labels: Any, shuffled: bool, which: str) -> Dataset:
        if skip_bad_files:
            paths, subset_labels = _without_bad_files(paths, subset_labels)
        if not paths:
            raise ValueError(
                f"No {which}images found in directory {directory}. "
                f"Allowed formats: {ALLOWLIST_FORMATS}" + _hint(directory, class_names)
            )
        dataset = paths_and_labels_to_dataset(
            paths,
            subset_labels,
            label_mode,
            num_classes,
            loader,
            batch_size,
            shuffle_buffer_size if shuffled else None,
            seed,
        )
        dataset.class_names = class_names
        dataset.file_paths = paths
        return dataset

    if subset == "both":
        train = get_training_or_validation_split(image_paths, labels, validation_split, "training")
        val = get_training_or_validation_split(image_paths, labels, validation_split, "validation")
        return [make(*train, shuffle, "training "), make(*val, False, "validation ")]
    image_paths, labels = get_training_or_validation_split(
        image_paths, labels, validation_split, subset
    )
    return make(image_paths, labels, shuffle, "")


def _is_inferred(labels: Any) -> bool:
    return isinstance(labels, str) and labels == "inferred"


def _check_image_size(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, int | np.integer):
        image_size = (image_size, image_size)
    elif not isinstance(image_size, list | tuple) or len(image_size) != 2:
        raise ValueError(
            "Invalid `image_size` value. Expected a tuple of 2 integers. "
            f"Received: image_size={image_size}"
        )
    if not all(isinstance(n, int | np.integer) and n > 0 for n in image_size):
        raise ValueError(
            "Invalid `image_size` value. Expected 2 positive integers (height, width). "
            f"Received: image_size={image_size}"
        )
    return int(image_size[0]), int(image_size[1])


def check_validation_split_arg(
    validation_split: float | None, subset: str | None, shuffle: bool, seed: int | None
) -> None:
    """Keras's checks of ``validation_split`` and ``subset``, with its messages."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(
            f"`validation_split` must be between 0 and 1, received: {validation_split}"
        )
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(
            f'`subset` must be either "training", "validation" or "both", received: {subset}'
        )
    if validation_split and shuffle and seed is None:
        raise ValueError(
            "If using `validation_split` and shuffling the data, you must provide a `seed` "
            "argument, to make sure that there is no overlap between the training and "
            "validation subset."
        )


def index_directory(
    directory: str | os.PathLike,
    labels: Any,
    formats: tuple[str, ...],
    class_names: list[str] | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    follow_links: bool = False,
    verbose: bool = True,
    caller: str = "image_dataset_from_directory",
) -> tuple[list[str], Any, list[str] | None]:
    """(file_paths, labels, class_names) of the files of ``directory`` ending in ``formats``.

    Keras's listing: the class sub-folders in sorted order (hidden ones skipped), each walked
    with ``os.walk`` (roots sorted, files sorted; symlinked folders entered only with
    ``follow_links``); then, with ``shuffle``, the paths and the labels each shuffled by
    ``np.random.RandomState(seed).shuffle``. Inferred labels are an int32 array; explicit
    ones stay a list, and ``class_names`` are then their sorted distinct values as strings.
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{caller}: no such directory: {directory}")
    if _is_inferred(labels):
        subdirs = []
        for subdir in sorted(os.listdir(directory)):
            if os.path.isdir(os.path.join(directory, subdir)) and not subdir.startswith("."):
                subdirs.append(subdir.removesuffix("/"))
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError(
                    "The `class_names` passed did not match the names of the subdirectories "
                    f"of the target directory. Expected: {subdirs} (or a subset of it), but "
                    f"received: class_names={class_names}"
                )
            subdirs = list(class_names)  # keep the order given
    else:
        subdirs = [""]  # explicit labels or none: index from the directory itself down
        if class_names is not None:
            if labels is None:
                raise ValueError(
                    "When `labels=None` (no labels), argument `class_names` cannot be specified."
                )
            raise ValueError(
                "When argument `labels` is specified, argument `class_names` cannot be "
                "specified (the `class_names` will be the sorted list of labels)."
            )
    class_names = subdirs
    class_indices = {name: i for i, name in enumerate(class_names)}

    filenames: list[str] = []
    labels_list: list[list[int]] = []
    for subdir in subdirs:
        names, indices = index_subdirectory(
            os.path.join(directory, subdir), class_indices, follow_links, formats
        )
        filenames += names
        labels_list.append(indices)

    if _is_inferred(labels):
        labels = np.zeros((len(filenames),), dtype="int32")
        i = 0
        for partial in labels_list:
            labels[i : i + len(partial)] = partial
            i += len(partial)
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError(
                "Expected the lengths of `labels` to match the number of files in the target "
                f"directory. len(labels) is {len(labels)} while we found {len(filenames)} "
                f"files in directory {directory}."
            )
        labels = list(labels)
        class_names = [str(label) for label in sorted(set(labels))]
    if verbose:
        if labels is None:
            print(f"Found {len(filenames)} files.")
        else:
            print(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    file_paths = [os.path.join(directory, name) for name in filenames]

    if shuffle:  # shuffle globally to erase the folders' order
        if seed is None:
            seed = np.random.randint(1e6)  # noqa: NPY002 - as Keras
        np.random.RandomState(seed).shuffle(file_paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, class_names


def index_subdirectory(
    directory: str, class_indices: dict[str, int], follow_links: bool, formats: tuple[str, ...]
) -> tuple[list[str], list[int]]:
    """The files of one class folder, at any depth: paths relative to its parent, labels."""
    dirname = os.path.basename(directory)
    filenames, labels = [], []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda w: w[0]):
        for name in sorted(files):
            if name.lower().endswith(formats):
                labels.append(class_indices[dirname])
                relative = os.path.relpath(os.path.join(root, name), directory)
                filenames.append(os.path.join(dirname, relative))
    return filenames, labels


def get_training_or_validation_split(
    samples: list[str], labels: Any, validation_split: float | None, subset: str | None
) -> tuple[list[str], Any]:
    """The head ("training") or the last ``int(validation_split * len)`` ("validation")
    of ``samples`` and ``labels``; everything without ``validation_split``. Prints the count,
    as Keras does (even with verbose=False)."""
    if not validation_split:
        return samples, labels
    num_val_samples = int(validation_split * len(samples))
    if subset == "training":
        print(f"Using {len(samples) - num_val_samples} files for training.")
        samples = samples[:-num_val_samples]
        if labels is not None:
            labels = labels[:-num_val_samples]
    elif subset == "validation":
        print(f"Using {num_val_samples} files for validation.")
        samples = samples[-num_val_samples:]
        if labels is not None:
            labels = labels[-num_val_samples:]
    else:
        raise ValueError(f'`subset` must be either "training" or "validation", received: {subset}')
    return samples, labels


def paths_and_labels_to_dataset(
    paths: list[str],
    labels: Any,
    label_mode: str | None,
    num_classes: int,
    loader: ImageLoader,
    batch_size: int | None,
    shuffle_buffer_size: int | None,
    seed: int | None,
) -> Dataset:
    """Keras's pipeline: the files shuffled through a buffer each pass, decoded on a thread
    pool, batched, prefetched (see :func:`files_dataset`)."""
    files = ImageFiles(
        np.array(paths),
        encode_labels(labels, label_mode, num_classes) if label_mode else None,
        loader,
    )
    return files_dataset(files, len(paths), batch_size, shuffle_buffer_size, seed)


def files_dataset(
    files: Any, count: int, batch_size: int | None, shuffle_buffer_size: int | None, seed: Any
) -> Dataset:
    """The ``count`` files of ``files`` (with ``one(index)`` and ``batch(indices)`` readers)
    as Keras's pipelines read them: shuffled through a buffer each pass, read on a thread
    pool, batched, prefetched. It shuffles and batches the files' indices and reads a batch
    per task: the same elements as Keras's per-file map, with less overhead."""
    ds = Dataset.from_tensor_slices(np.arange(count))
    if shuffle_buffer_size:
        ds = ds.shuffle(shuffle_buffer_size, seed=seed)
    if batch_size is None:
        ds = ds.map(files.one, num_parallel_calls=AUTOTUNE)
    else:
        ds = ds.batch(batch_size).map(files.batch, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def encode_labels(labels: Any, label_mode: str, num_classes: int) -> np.ndarray:
    """int labels (N,) as label_mode wants them: int32 (N,), float32 (N, 1) for "binary",
    float32 one-hot (N, num_classes) for "categorical" (a label >= num_classes: all zeros)."""
    labels = np.asarray(labels, dtype=np.int32)
    if label_mode == "binary":
        return labels.astype(np.float32)[:, None]
    if label_mode == "categorical":
        return (labels[:, None] == np.arange(num_classes)).astype(np.float32)
    return labels


@dataclass(frozen=True)
class ImageLoader:
    """Reads image files as arrays of one size, as Keras's ``_load_image_tf``: float32, or
    uint8 for "nearest" interpolation (TensorFlow's nearest resize keeps the file's dtype)."""

    size: tuple[int, int]
    channels: int
    interpolation: str
    crop_to_aspect_ratio: bool
    pad_to_aspect_ratio: bool
    channels_first: bool

    @property
    def dtype(self) -> type:
        """The dtype of every image it reads."""
        return np.uint8 if self.interpolation == "nearest" else np.float32

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of every image it reads."""
        if self.channels_first:
            return (self.channels, *self.size)
        return (*self.size, self.channels)

    def __call__(self, path: str) -> np.ndarray:
        image = read_image(path, self.channels)
        if self.crop_to_aspect_ratio:
            image = smart_resize(image, self.size, self.interpolation)
        elif self.pad_to_aspect_ratio:
            image = resize_with_pad(image, self.size, self.interpolation)
        else:
            image = resize(image, self.size, self.interpolation)
        image = image.astype(self.dtype, copy=False)
        return image.transpose(2, 0, 1) if self.channels_first else image


@dataclass(frozen=True)
class ImageFiles:
    """Image files and their encoded labels (None: no labels), read by index."""

    paths: np.ndarray
    labels: np.ndarray | None
    loader: ImageLoader

    def one(self, index: int) -> Any:
        """(image, label) of file ``index`` (the image alone without labels)."""
        image = self.loader(str(self.paths[index]))
        return image if self.labels is None else (image, self.labels[index])

    def batch(self, indices: np.ndarray) -> Any:
        """(images, labels) of the files ``indices`` (the images alone without labels)."""
        images = np.empty((len(indices), *self.loader.shape), self.loader.dtype)
        for i, path in enumerate(self.paths[indices]):
            images[i] = self.loader(str(path))
        return images if self.labels is None else (images, self.labels[indices])


def read_image(path: str, channels: int) -> np.ndarray:
    """The first frame of an image file as uint8 (height, width, channels), converted as
    TensorFlow's ``decode_image(channels=...)``: alpha dropped for 1 or 3 channels, added
    opaque for 4; 16-bit grayscale keeps its high byte."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        array = png.decode(data, channels)  # the common PNGs, without Pillow's overhead
        if array is not None:
            return array
        with Image.open(io.BytesIO(data)) as img:
            if img.mode.startswith("I;16"):
                img = Image.fromarray((np.asarray(img) >> 8).astype(np.uint8), "L")
            elif img.mode == "P" and "transparency" in img.info:
                img = img.convert("RGBA")  # through RGBA, as Pillow asks for such palettes
            if img.mode != PIL_MODES[channels]:
                img = img.convert(PIL_MODES[channels])
            array = np.asarray(img)
    except Exception as error:  # Pillow raises many types for a bad file
        raise unreadable_image(
            path,
            error,
            "fix or remove it, or pass skip_bad_files=True (autoconv train: --skip-bad-files) to "
            "leave unreadable files out",
        ) from None
    return array if array.ndim == 3 else array[:, :, None]


def unreadable_image(path: Any, error: Exception, advice: str = "") -> DatasetFileError:
    """The error for an image file that cannot be decoded, naming the file and why."""
    if isinstance(error, UnidentifiedImageError):
        why = "not a JPEG, PNG, BMP or GIF image Pillow can read"
    else:
        why = f"{type(error).__name__}: {error}"
    return DatasetFileError(
        f"{path}: cannot decode this image ({why})" + (advice and f"; {advice}")
    )


def _is_readable(path: str) -> bool:
    try:
        with Image.open(path) as img:
            img.load()
    except Exception:
        return False
    return True


def _without_bad_files(paths: list[str], labels: Any) -> tuple[list[str], Any]:
    """``paths`` and ``labels`` without the files Pillow cannot decode (warned about)."""
    with ThreadPoolExecutor(AUTOTUNE_THREADS) as pool:
        readable = list(pool.map(_is_readable, paths, chunksize=64))
    bad = [path for path, ok in zip(paths, readable, strict=True) if not ok]
    if not bad:
        return paths, labels
    shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
    warnings.warn(f"Skipped {len(bad)} unreadable image files: {shown}", stacklevel=3)
    keep = [i for i, ok in enumerate(readable) if ok]
    paths = [paths[i] for i in keep]
    if labels is not None:
        labels = (
            np.asarray(labels)[keep]
            if isinstance(labels, np.ndarray)
            else [labels[i] for i in keep]
        )
    return paths, labels


def _warn_empty_classes(labels: np.ndarray, class_names: list[str]) -> None:
    counts = np.bincount(labels, minlength=len(class_names))
    empty = [name for name, count in zip(class_names, counts, strict=False) if count == 0]
    if empty:
        warnings.warn(
            f"image_dataset_from_directory: the class folders {empty} hold no files ending in "
            f"{ALLOWLIST_FORMATS}; their labels never occur",
            stacklevel=3,
        )


def _hint(directory: Any, class_names: list[str] | None) -> str:
    """Why nothing was found, when the folder's layout says it."""
    if class_names != [] or not os.path.isdir(directory):
        return ""
    loose = [n for n in os.listdir(directory) if n.lower().endswith(ALLOWLIST_FORMATS)]
    if not loose:
        return " It has no class sub-folders (labels='inferred' needs one per class)."
    return (
        f" It has no class sub-folders but {len(loose)} image files directly in it: "
        "labels='inferred' takes one sub-folder per class (move the images into class "
        "folders, or pass labels=None)."
    )
