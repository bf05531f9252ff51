"""keras.utils.timeseries_dataset_from_array: the windows, targets and batches Keras 3.15
gives (expected values in files/keras_timeseries.json, written by Keras 3.15.1 with TensorFlow
2.21 from ``np.arange(n * 2).reshape(n, 2)`` and targets ``np.arange(n) * 10``), shuffling
with a seed, and Keras's errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autoconv.utils import timeseries_dataset_from_array

# (arguments, the batches Keras gives: [windows, targets] each, or windows without targets);
# written by Keras 3.15.1 with TensorFlow 2.21 (tests/keras_reference/timeseries_files.py)
KERAS_BATCHES = [
    (entry["case"], entry["batches"])
    for entry in json.loads((Path(__file__).parent / "files" / "keras_timeseries.json").read_text())
]


@pytest.mark.parametrize(("case", "expected"), KERAS_BATCHES)
def test_windows_targets_and_batches_are_kerass(case, expected):
    data = np.arange(case["n"] * 2).reshape(case["n"], 2)
    targets = np.arange(case["n"]) * 10 if case["targets"] else None
    dataset = timeseries_dataset_from_array(
        data, targets, case["sequence_length"], case["sequence_stride"], case["sampling_rate"],
        case["batch_size"], start_index=case["start_index"], end_index=case["end_index"],
    )  # fmt: skip
    got = [[np.asarray(b[0]).tolist(), np.asarray(b[1]).tolist()] if case["targets"]
           else np.asarray(b).tolist() for b in dataset]  # fmt: skip
    assert got == expected
    assert dataset.cardinality() == len(expected)


@pytest.mark.parametrize("batch_size", [None, 3])
def test_shuffling_keeps_every_window_with_its_target_and_repeats_with_a_seed(batch_size):
    data, targets = np.arange(40), np.arange(40) * 10

    def pairs(seed: int) -> list[tuple[tuple[int, ...], int]]:
        dataset = timeseries_dataset_from_array(data, targets, 4, batch_size=batch_size,
                                                shuffle=True, seed=seed)  # fmt: skip
        out = []
        for windows, labels in dataset:
            windows, labels = np.atleast_2d(windows), np.atleast_1d(labels)
            out += [(tuple(w), int(t)) for w, t in zip(windows.tolist(), labels, strict=True)]
        return out

    first = pairs(5)
    assert sorted(first) == [(tuple(range(s, s + 4)), 10 * s) for s in range(37)]
    assert first == pairs(5) and first != sorted(first)


@pytest.mark.parametrize("format", ["tf", "grain"])
def test_format_is_kerass_argument_and_either_gives_the_same_windows(format):
    """Keras 3.15's ``format`` (a tf.data or a Grain dataset there): the same batches here."""
    dataset = timeseries_dataset_from_array(np.arange(10), np.arange(10) * 10, 3, batch_size=4,
                                            format=format)  # fmt: skip
    batches = [(np.asarray(x).tolist(), np.asarray(y).tolist()) for x, y in dataset]
    assert batches == [
        ([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]], [0, 10, 20, 30]),
        ([[4, 5, 6], [5, 6, 7], [6, 7, 8], [7, 8, 9]], [40, 50, 60, 70]),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_index": -1}, "`start_index` must be 0 or greater"),
        ({"start_index": 10}, "`start_index` must be lower than the length of the data"),
        ({"start_index": 3, "end_index": 2}, "`end_index` must be higher than `start_index`"),
        ({"end_index": 10}, "`end_index` must be lower than the length of the data"),
        ({"end_index": -2}, "`end_index` must be higher than 0"),
        ({"sampling_rate": 0}, "`sampling_rate` must be higher than 0"),
        ({"sampling_rate": 10}, "`sampling_rate` must be lower than the length of the data"),
        ({"sequence_stride": 0}, "`sequence_stride` must be higher than 0"),
        ({"format": "torch"}, '`format` should be either "tf" or "grain"'),
    ],
)
def test_bad_arguments_are_kerass_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        timeseries_dataset_from_array(np.arange(10), None, 2, **kwargs)
