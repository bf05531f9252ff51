"""``audio_dataset_from_directory``: a folder of ``.wav`` files (one sub-folder per class) as a
Dataset of (audio, labels) batches, a port of Keras 3's keras/src/utils/audio_dataset_utils.py
on the listing, seeded shuffle and split of :mod:`autoconv.data.directory` (the same files in
each subset as Keras, the same labels and messages). WAV files are decoded with Python's
``wave`` module into float32 in [-1, 1], as ``tf.audio.decode_wav`` does.
"""

from __future__ import annotations

import os
import wave
from dataclasses import dataclass
from typing import Any

import numpy as np

from autoconv.data.dataset import Dataset
from autoconv.data.directory import (
    _is_inferred,
    check_validation_split_arg,
    encode_labels,
    files_dataset,
    get_training_or_validation_split,
    index_directory,
)
from autoconv.datasets.files import DatasetFileError

ALLOWED_FORMATS = (".wav",)
MAX_SAMPLES = 2**28  # values a file may decode to (1 GiB of float32); a longer one is refused
# PCM sample widths in bytes: (NumPy dtype of the values as read, their offset, full scale);
# 24-bit samples are read into the top three bytes of int32s
PCM = {
    1: ("u1", 128, 2.0**7),
    2: ("<i2", 0, 2.0**15),
    3: ("<i4", 0, 2.0**31),
    4: ("<i4", 0, 2.0**31),
}


def audio_dataset_from_directory(
    directory: str | os.PathLike,
    labels: Any = "inferred",
    label_mode: str | None = "int",
    class_names: list[str] | None = None,
    batch_size: int | None = 32,
    sampling_rate: int | None = None,
    output_sequence_length: int | None = None,
    ragged: bool = False,
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    follow_links: bool = False,
    verbose: bool = True,
) -> Dataset | tuple[Dataset, Dataset]:
    """A Dataset of (audio, labels) batches read from ``directory``'s ``.wav`` files, as
    Keras's: audio float32 (batch, samples, channels) in [-1, 1], each file cut or padded
    with zeros to ``output_sequence_length`` samples, or (None) the batch padded with zeros to
    its longest file; labels by ``label_mode`` as for
    :func:`~autoconv.data.directory.image_dataset_from_directory` ("int", "categorical",
    "binary", or None for the audio alone). ``labels``, ``class_names``, ``shuffle``, ``seed``,
    ``validation_split``, ``subset`` ("both": a tuple of the two datasets) and ``follow_links``
    are Keras's; ``batch_size=None`` yields single files (samples, channels).

    Files are uncompressed PCM WAV of 8, 16, 24 or 32 bits (TensorFlow reads 16 only); any
    other file, or one of more than :data:`MAX_SAMPLES` values, raises DatasetFileError naming
    it when it is read. ``sampling_rate`` (resampling, with tensorflow-io in Keras) and
    ``ragged`` are not supported: each is a ValueError. The dataset has ``class_names`` and
    ``file_paths``."""
    if not _is_inferred(labels) and labels is not None:
        if not isinstance(labels, list | tuple):
            raise ValueError(
                "The `labels` argument should be a list/tuple of integer labels, of the same "
                "size as the number of audio files in the target directory. If you wish to "
                "infer the labels from the subdirectory names in the target directory, pass "
                '`labels="inferred"`. If you wish to get a dataset that only contains audio '
                f"samples (no labels), pass `labels=None`. Received: labels={labels}"
            )
        if class_names:
            raise ValueError(
                'You can only pass `class_names` if `labels="inferred"`. Received: '
                f"labels={labels}, and class_names={class_names}"
            )
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError(
            '`label_mode` argument must be one of "int", "categorical", "binary", or None. '
            f"Received: label_mode={label_mode}"
        )
    if ragged and output_sequence_length is not None:
        raise ValueError("Cannot set both `ragged` and `output_sequence_length`")
    if ragged:
        raise ValueError(
            "audio_dataset_from_directory: ragged=True is not supported (autoconv has no ragged "
            "tensors); leave it False to pad each batch, or set output_sequence_length"
        )
    if sampling_rate is not None:
        if not isinstance(sampling_rate, int):
            raise ValueError(
                "`sampling_rate` should have an integer value. "
                f"Received: sampling_rate={sampling_rate}"
            )
        if sampling_rate <= 0:
            raise ValueError(
                f"`sampling_rate` should be higher than 0. Received: sampling_rate={sampling_rate}"
            )
        raise ValueError(
            "audio_dataset_from_directory: sampling_rate (resampling, done by tensorflow-io in "
            "Keras) is not supported by autoconv; resample the files beforehand and pass None"
        )
    if output_sequence_length is not None and (
        not isinstance(output_sequence_length, int | np.integer) or output_sequence_length < 1
    ):
        raise ValueError(
            "`output_sequence_length` must be a positive integer or None. Received: "
            f"{output_sequence_length}"
        )
    if batch_size is not None and (not isinstance(batch_size, int | np.integer) or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive integer or None. Received: {batch_size}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    check_validation_split_arg(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1e6)  # noqa: NPY002 - Keras draws it from NumPy's global RNG
    file_paths, labels, class_names = index_directory(
        directory, labels, formats=ALLOWED_FORMATS, class_names=class_names, shuffle=shuffle,
        seed=seed, follow_links=follow_links, verbose=verbose,
        caller="audio_dataset_from_directory",
    )  # fmt: skip
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(
            'When passing `label_mode="binary"`, there must be exactly 2 class_names. '
            f"Received: class_names={class_names}"
        )
    buffer = batch_size * 8 if batch_size is not None else 1024
    num_classes = len(class_names) if class_names else 0

    def make(paths: list[str], subset_labels: Any, shuffled: bool, which: str) -> Dataset:
        if not paths:
            raise ValueError(
                f"No {which}audio files found in directory {directory}. Allowed format(s): "
                f"{ALLOWED_FORMATS}"
            )
        files = AudioFiles(
            np.array(paths),
            encode_labels(subset_labels, label_mode, num_classes) if label_mode else None,
            output_sequence_length,
        )
        dataset = files_dataset(files, len(paths), batch_size, buffer if shuffled else None, seed)
        dataset.class_names = class_names
        dataset.file_paths = paths
        return dataset

    if subset == "both":
        train = get_training_or_validation_split(file_paths, labels, validation_split, "training")
        val = get_training_or_validation_split(file_paths, labels, validation_split, "validation")
        return make(*train, shuffle, "training "), make(*val, False, "validation ")
    file_paths, labels = get_training_or_validation_split(
        file_paths, labels, validation_split, subset
    )
    return make(file_paths, labels, shuffle, "")


def read_wav(path: str | os.PathLike, length: int | None = None) -> np.ndarray:
    """The PCM WAV file at ``path`` as float32 (samples, channels) in [-1, 1] (8-bit samples
    are unsigned, centred on 128; the others signed): ``tf.audio.decode_wav``'s values, cut
    or padded with zeros to ``length`` samples when given (its ``desired_samples``)."""
    try:
        with wave.open(os.fspath(path), "rb") as f:
            channels, width, frames = f.getnchannels(), f.getsampwidth(), f.getnframes()
            count = frames if length is None else min(frames, length)
            if width not in PCM:
                raise wave.Error(f"{8 * width}-bit samples")
            if count * channels > MAX_SAMPLES:
                raise wave.Error(f"{frames} samples of {channels} channels, over {MAX_SAMPLES}")
            data = f.readframes(count)
    except (wave.Error, EOFError, OSError) as error:
        raise DatasetFileError(
            f"{path}: cannot decode this audio file as an uncompressed PCM WAV of 8, 16, 24 or "
            f"32 bits ({type(error).__name__}: {error})"
        ) from None
    dtype, offset, scale = PCM[width]
    raw = np.frombuffer(data, np.uint8)
    raw = raw[: raw.size - raw.size % (width * channels)]  # a truncated file's whole frames
    if width == 3:  # a zero low byte before each 24-bit sample: an int32 of it times 2 ** 8
        raw = np.pad(raw.reshape(-1, 3), ((0, 0), (1, 0))).reshape(-1)
    values = np.frombuffer(raw.tobytes(), dtype).astype(np.float32)
    audio = ((values - offset) / np.float32(scale)).reshape(-1, channels)
    if length is not None and len(audio) < length:
        audio = np.pad(audio, ((0, length - len(audio)), (0, 0)))
    return audio


@dataclass(frozen=True)
class AudioFiles:
    """WAV files and their encoded labels (None: no labels), read by index; ``length``: the
    samples of each (None: a batch padded to its longest file)."""

    paths: np.ndarray
    labels: np.ndarray | None
    length: int | None

    def one(self, index: int) -> Any:
        audio = read_wav(str(self.paths[index]), self.length)
        return audio if self.labels is None else (audio, self.labels[index])

    def batch(self, indices: np.ndarray) -> Any:
        clips = [read_wav(str(path), self.length) for path in self.paths[indices]]
        channels = {clip.shape[1] for clip in clips}
        if len(channels) > 1:
            raise DatasetFileError(
                f"audio files of {sorted(channels)} channels in one batch "
                f"({', '.join(map(str, self.paths[indices]))}): a batch needs one channel count"
            )
        longest = max(len(clip) for clip in clips)
        audio = np.stack([np.pad(clip, ((0, longest - len(clip)), (0, 0))) for clip in clips])
        return audio if self.labels is None else (audio, self.labels[indices])
