"""keras.utils.audio_dataset_from_directory: the audio, labels, batches and class names Keras
3.15 gives for one folder (expected arrays in files/keras_audio_directory.npz, written by Keras
3.15.1 with TensorFlow 2.21: tests/keras_reference/audio_directory_files.py, which also writes
the folder), the training subset's shuffled samples, WAV decoding of every PCM width, padding
and cutting, bad files named, and Keras's errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import autoconv as ac
from autoconv.data import audio_directory
from autoconv.data.audio_directory import read_wav
from autoconv.datasets.files import DatasetFileError
from autoconv.utils import audio_dataset_from_directory
from tests.keras_reference.audio_directory_files import CASES, FIXTURE, make_folder, write_wav

KERAS = np.load(FIXTURE)


def _batches(dataset: Any, labelled: bool) -> list[tuple[np.ndarray, Any]]:
    return [element if labelled else (element, None) for element in dataset]


def _keras_batches(case: int, subset: int, labelled: bool) -> list[tuple[np.ndarray, Any]]:
    out, b = [], 0
    while f"{case}-{subset}-{b}-audio" in KERAS:
        labels = KERAS[f"{case}-{subset}-{b}-labels"] if labelled else None
        out.append((KERAS[f"{case}-{subset}-{b}-audio"], labels))
        b += 1
    return out


def _samples(batches: list, batched: bool) -> list[tuple[bytes, str]]:
    """Each sample of ``batches`` as (its audio's bytes without the zeros that end it: a
    batch's padding, its label), sorted."""
    out = []
    for audio, labels in batches:
        audio = audio if batched else audio[None]
        labels = labels if batched else [labels]
        out += [
            (np.trim_zeros(a.reshape(-1), "b").tobytes(), json.dumps(np.asarray(y).tolist()))
            for a, y in zip(audio, labels, strict=True)
        ]
    return sorted(out)


def test_the_fixture_was_made_for_these_cases():
    assert json.loads(str(KERAS["cases"])) == CASES


@pytest.mark.parametrize("c", range(len(CASES)), ids=[json.dumps(case) for case in CASES])
def test_what_keras_gives_for_one_folder(tmp_path, c):
    make_folder(tmp_path)
    case = CASES[c]
    made = audio_dataset_from_directory(tmp_path, **case, verbose=False)
    subsets = made if isinstance(made, tuple) else (made,)
    assert isinstance(made, tuple) == (case.get("subset") == "both")
    labelled = case.get("labels", "inferred") is not None
    assert (subsets[0].class_names or []) == KERAS[f"{c}-class_names"].tolist()
    for s, subset in enumerate(subsets):
        ours, theirs = _batches(subset, labelled), _keras_batches(c, s, labelled)
        assert len(ours) == len(theirs)
        if case["shuffle"] and not s:  # (the validation half of "both" is not shuffled)
            # TensorFlow's buffer shuffles otherwise: the same samples, batches of the same sizes
            batched = case["batch_size"] is not None
            assert _samples(ours, batched) == _samples(theirs, batched)
            assert [len(a) for a, _ in ours] == [len(a) for a, _ in theirs]
            continue
        for (audio, labels), (want_audio, want_labels) in zip(ours, theirs, strict=True):
            assert audio.dtype == want_audio.dtype == np.float32
            np.testing.assert_array_equal(audio, want_audio)
            if labelled:
                assert labels.dtype == want_labels.dtype
                np.testing.assert_array_equal(labels, want_labels)


@pytest.mark.parametrize(
    ("width", "stored", "expected"),
    [
        (1, [0, 64, 128, 255], [-1.0, -0.5, 0.0, 127 / 128]),
        (2, [-32768, -16384, 0, 32767], [-1.0, -0.5, 0.0, 32767 / 32768]),
        (3, [-(2**23), -(2**22), 1, 2**23 - 1], [-1.0, -0.5, 2.0**-23, (2**23 - 1) / 2**23]),
        (4, [-(2**31), -(2**30), 0, 2**30], [-1.0, -0.5, 0.0, 0.5]),
    ],
)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_pcm_width_decodes_into_minus_one_to_one(tmp_path, width, stored, expected, channels):
    samples = np.repeat(np.array(stored)[:, None], channels, axis=1)
    samples[:, 1:] = samples[::-1, 1:]  # the other channels reversed: the layout shows
    write_wav(tmp_path / "x.wav", samples, width)
    want = np.repeat(np.array(expected, np.float32)[:, None], channels, axis=1)
    want[:, 1:] = want[::-1, 1:]
    audio = read_wav(tmp_path / "x.wav")
    assert audio.dtype == np.float32
    np.testing.assert_array_equal(audio, want)
    np.testing.assert_array_equal(read_wav(tmp_path / "x.wav", 2), want[:2])
    np.testing.assert_array_equal(read_wav(tmp_path / "x.wav", 6)[4:], np.zeros((2, channels)))


def test_single_files_and_padded_batches(tmp_path):
    (tmp_path / "a").mkdir()
    write_wav(tmp_path / "a" / "long.wav", np.full((7, 1), 16384))
    write_wav(tmp_path / "a" / "short.wav", np.full((3, 1), -16384))
    audio, labels = next(iter(audio_dataset_from_directory(tmp_path, shuffle=False, verbose=False)))
    assert audio.shape == (2, 7, 1) and labels.tolist() == [0, 0]
    np.testing.assert_array_equal(audio[1, :, 0], [-0.5] * 3 + [0.0] * 4)
    one = audio_dataset_from_directory(tmp_path, batch_size=None, shuffle=False, verbose=False)
    assert [a.shape for a, _ in one] == [(7, 1), (3, 1)]
    cut = audio_dataset_from_directory(tmp_path, output_sequence_length=5, label_mode=None,
                                       shuffle=False, verbose=False)  # fmt: skip
    np.testing.assert_array_equal(next(iter(cut))[:, :, 0], [[0.5] * 5, [-0.5] * 3 + [0.0] * 2])


def test_a_dataset_of_them_trains_a_spectrogram_model(tmp_path):
    make_folder(tmp_path)
    dataset = audio_dataset_from_directory(tmp_path, batch_size=4, output_sequence_length=30,
                                           seed=1, verbose=False)  # fmt: skip
    model = ac.Sequential([
        ac.Input((30, 2)), ac.layers.STFTSpectrogram(frame_length=8, window=None),
        ac.layers.Flatten(), ac.layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(dataset, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def _float_wav(path: Path) -> None:
    """A 32-bit IEEE float WAV (format tag 3), which the wave module (and TensorFlow) refuse."""
    write_wav(path, np.zeros((4, 1)), 4)
    data = bytearray(path.read_bytes())
    data[20:22] = (3).to_bytes(2, "little")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_bytes(b"ID3 not a wave file at all"), "does not start with RIFF"),
        (_float_wav, "unknown format: 3"),
        (lambda p: p.write_bytes(b"RIFF\x10\x00\x00\x00WAVE"), "chunk missing"),
    ],
)
def test_a_file_that_is_not_pcm_wav_is_named(tmp_path, write, message):
    (tmp_path / "a").mkdir()
    write(tmp_path / "a" / "bad.wav")
    dataset = audio_dataset_from_directory(tmp_path, verbose=False)
    with pytest.raises(DatasetFileError, match=rf"bad\.wav: cannot decode .*{message}"):
        next(iter(dataset))


def test_a_too_long_file_and_mixed_channels_are_named(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    write_wav(tmp_path / "a" / "mono.wav", np.zeros((6, 1)))
    write_wav(tmp_path / "a" / "stereo.wav", np.zeros((4, 2)))
    with pytest.raises(DatasetFileError, match=r"channels in one batch .*mono\.wav, .*stereo\.wav"):
        next(iter(audio_dataset_from_directory(tmp_path, shuffle=False, verbose=False)))
    monkeypatch.setattr(audio_directory, "MAX_SAMPLES", 7)
    with pytest.raises(DatasetFileError, match=r"stereo\.wav: .*4 samples of 2 channels, over 7"):
        read_wav(tmp_path / "a" / "stereo.wav")
    assert read_wav(tmp_path / "a" / "stereo.wav", 3).shape == (3, 2)  # only what is read counts


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": "folders"}, "The `labels` argument should be a list/tuple"),
        ({"labels": [0], "class_names": ["a"]}, "You can only pass `class_names`"),
        ({"label_mode": "sparse"}, "`label_mode` argument must be one of"),
        ({"label_mode": "binary", "class_names": ["cat"]}, "exactly 2 class_names"),
        ({"validation_split": 0.2}, "`validation_split` must be set, and inversely"),
        ({"ragged": True, "output_sequence_length": 4}, "Cannot set both `ragged` and"),
        ({"ragged": True}, "ragged=True is not supported"),
        ({"sampling_rate": 1.5}, "`sampling_rate` should have an integer value"),
        ({"sampling_rate": 0}, "`sampling_rate` should be higher than 0"),
        ({"sampling_rate": 16000}, "resample the files beforehand"),
        ({"output_sequence_length": 0}, "`output_sequence_length` must be a positive integer"),
        ({"batch_size": 0}, "`batch_size` must be a positive integer"),
    ],
)
def test_bad_arguments_are_kerass_errors(tmp_path, kwargs, message):
    make_folder(tmp_path)
    with pytest.raises(ValueError, match=message):
        audio_dataset_from_directory(tmp_path, verbose=False, **kwargs)


def test_a_missing_folder_and_an_empty_one_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="audio_dataset_from_directory: no such directory"):
        audio_dataset_from_directory(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"No audio files found in directory .*\('\.wav',\)"):
        audio_dataset_from_directory(tmp_path, verbose=False)
