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
from autoconv.data.file_folders import checked_labels, folder_datasets
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
    labels, label_mode = checked_labels(
        labels, label_mode, class_names, batch_size,
        "The `labels` argument should be a list/tuple of integer labels, of the same size as "
        "the number of audio files in the target directory. If you wish to infer the labels "
        "from the subdirectory names in the target directory, pass `labels=\"inferred\"`. If "
        "you wish to get a dataset that only contains audio samples (no labels), pass "
        "`labels=None`.",
    )  # fmt: skip
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
    datasets = folder_datasets(
        directory, labels, label_mode, class_names, batch_size, shuffle, seed, validation_split,
        subset, follow_links, verbose, formats=ALLOWED_FORMATS,
        caller="audio_dataset_from_directory", kind="audio",
        allowed=f"Allowed format(s): {ALLOWED_FORMATS}",
        files=lambda paths, encoded: AudioFiles(paths, encoded, output_sequence_length),
    )  # fmt: skip
    return tuple(datasets) if subset == "both" else datasets  # (Keras's audio utility's tuple)


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
