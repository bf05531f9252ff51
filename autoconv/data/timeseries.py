"""Windows over a time series as a :class:`~autoconv.data.Dataset`, as Keras 3's
``keras.utils.timeseries_dataset_from_array`` (keras/src/utils/timeseries_dataset_utils.py):
the same windows, targets, batches and (with a seed) the same shuffled start positions; each
batch's windows are gathered when it is drawn, so no window is copied ahead of time."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.data.dataset import Dataset
from autoconv.seeds import generator


def timeseries_dataset_from_array(
    data: Any,
    targets: Any,
    sequence_length: int,
    sequence_stride: int = 1,
    sampling_rate: int = 1,
    batch_size: int | None = 128,
    shuffle: bool = False,
    seed: int | None = None,
    start_index: int | None = None,
    end_index: int | None = None,
    format: str = "tf",
) -> Dataset:
    """Windows ``data[s], data[s + r], ..., data[s + (sequence_length - 1) * r]`` (r the
    ``sampling_rate``) for start positions s = start_index, start_index + sequence_stride, ...
    while the window ends before ``end_index``; batches of ``batch_size`` windows (single
    windows with None), each (batch, sequence_length, *data.shape[1:]), paired with
    ``targets[s]`` unless ``targets`` is None. ``shuffle`` shuffles the start positions with
    ``seed`` (NumPy's RandomState, as Keras), then each epoch's windows in a buffer of 8
    batches, as Keras's ``tf.data`` shuffle. ``format`` ("tf" or "grain") is accepted for Keras
    compatibility; both give an autoconv Dataset."""
    length = len(data)
    if start_index:
        if start_index < 0:
            raise ValueError(
                f"`start_index` must be 0 or greater. Received: start_index={start_index}"
            )
        if start_index >= length:
            raise ValueError(
                "`start_index` must be lower than the length of the data. Received: "
                f"start_index={start_index}, for data of length {length}"
            )
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(
                "`end_index` must be higher than `start_index`. Received: "
                f"start_index={start_index}, and end_index={end_index} "
            )
        if end_index >= length:
            raise ValueError(
                "`end_index` must be lower than the length of the data. Received: "
                f"end_index={end_index}, for data of length {length}"
            )
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if value <= 0:
            raise ValueError(f"`{name}` must be higher than 0. Received: {name}={value}")
        if value >= length:
            raise ValueError(
                f"`{name}` must be lower than the length of the data. Received: {name}={value}, "
                f"for data of length {length}"
            )
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    start = start_index or 0
    end = end_index or length
    count = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        count = min(count, len(targets))
    positions = np.arange(0, max(count, 0), sequence_stride)
    if shuffle:
        seed = int(generator().integers(1_000_000)) if seed is None else seed
        np.random.RandomState(seed).shuffle(positions)
    series = np.asarray(data)[start:end]
    labels = None if targets is None else np.asarray(targets)[start:end]
    offsets = np.arange(sequence_length) * sampling_rate

    def windows(starts: np.ndarray) -> Any:
        gathered = series[starts[..., None] + offsets]
        return gathered if labels is None else (gathered, labels[starts])

    dataset = Dataset.from_tensor_slices(positions)
    if shuffle:
        dataset = dataset.shuffle(8 * batch_size if batch_size is not None else 1024, seed=seed)
    if batch_size is not None:
        dataset = dataset.batch(batch_size)
    return dataset.map(windows)
