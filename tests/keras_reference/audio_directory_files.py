"""Writes tests/data/files/keras_audio_directory.npz: what Keras 3's
``keras.utils.audio_dataset_from_directory`` (it needs TensorFlow) gives for the folder that
``make_folder`` writes, in each of ``CASES``, so that tests/data/test_audio_directory.py
compares with it where TensorFlow is not installed. ``make_folder`` and ``CASES`` are here, with
no import of autoconv, for that test to share. Not run by the tests; rerun by hand:

    pip install "keras==3.15.1" tensorflow-cpu
    python -m tests.keras_reference.audio_directory_files
"""

from __future__ import annotations

import json
import os
import tempfile
import wave
from pathlib import Path

import numpy as np

# Keras's arguments in each case (the training subset of a shuffled split in TensorFlow's
# shuffle order, which autoconv's is not: compared as a set of samples)
CASES = [
    {"shuffle": False, "batch_size": 3},
    {"shuffle": False, "batch_size": None, "output_sequence_length": 25,
     "label_mode": "categorical"},
    {"shuffle": True, "seed": 7, "validation_split": 0.4, "subset": "both", "batch_size": 2,
     "label_mode": "binary", "output_sequence_length": 30},
    {"shuffle": False, "labels": None, "batch_size": 4},
    {"shuffle": True, "seed": 3, "validation_split": 0.5, "subset": "validation",
     "batch_size": 3},
]  # fmt: skip
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "files" / "keras_audio_directory.npz"


def write_wav(path: Path, samples: np.ndarray, width: int = 2, rate: int = 8000) -> None:
    """``samples`` (frames, channels), integers as stored (unsigned for 8 bits), as a PCM
    WAV of ``width`` bytes a sample."""
    dtype = {1: "u1", 2: "<i2", 4: "<i4"}.get(width)
    if dtype is None:  # 24 bits: the low three bytes of each int32
        data = samples.astype("<i4").reshape(-1, 1).view(np.uint8)[:, :3].tobytes()
    else:
        data = samples.astype(dtype).tobytes()
    with wave.open(str(path), "wb") as f:
        f.setnchannels(samples.shape[1])
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(data)


def make_folder(root: Path) -> None:
    """Two classes of 16-bit stereo WAV files of different lengths (one in a nested folder,
    two at full scale), a file that is not .wav, and a hidden folder."""
    for c, label in enumerate(("cat", "dog")):
        (root / label / "more").mkdir(parents=True)
        for i in range(4):
            frames = 18 + 5 * i + 3 * c
            t = np.arange(frames)[:, None]
            samples = 30000 * np.sin(0.3 * t * (i + 1) + np.array([[0.0, 1.0]]) + c)
            folder = root / label / ("more" if i == 3 else "")
            write_wav(folder / f"{label}{i}.wav", np.round(samples))
        (root / label / "notes.txt").write_text("not audio")
    write_wav(root / "cat" / "loud.wav", np.array([[-32768, 32767], [32767, -32768]]))
    (root / ".hidden").mkdir()
    write_wav(root / ".hidden" / "x.wav", np.zeros((4, 2)))


def _arrays(dataset, labelled: bool, prefix: str) -> dict[str, np.ndarray]:
    out = {}
    for b, element in enumerate(dataset):
        audio, labels = element if labelled else (element, None)
        out[f"{prefix}-{b}-audio"] = np.asarray(audio)
        if labels is not None:
            out[f"{prefix}-{b}-labels"] = np.asarray(labels)
    return out


def main() -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras  # (after the backend is chosen)

    arrays = {"cases": np.array(json.dumps(CASES))}
    with tempfile.TemporaryDirectory() as folder:
        make_folder(Path(folder))
        for c, case in enumerate(CASES):
            made = keras.utils.audio_dataset_from_directory(folder, **case, verbose=False)
            subsets = made if isinstance(made, tuple) else (made,)
            arrays[f"{c}-class_names"] = np.array(subsets[0].class_names or [])
            labelled = case.get("labels", "inferred") is not None
            for s, subset in enumerate(subsets):
                arrays |= _arrays(subset, labelled, f"{c}-{s}")
    np.savez_compressed(FIXTURE, **arrays)


if __name__ == "__main__":
    main()
