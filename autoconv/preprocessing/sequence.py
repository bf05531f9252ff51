"""``keras.preprocessing.sequence``: :func:`pad_sequences`."""

from autoconv.data.sequences import pad_sequences

__all__ = ["pad_sequences"]
