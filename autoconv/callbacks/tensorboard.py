"""Keras's ``TensorBoard`` callback (not built yet: an error that says what to use instead)."""

from __future__ import annotations

from autoconv.callbacks.monitor import _Unsupported


class TensorBoard(_Unsupported):
    why = (
        "autoconv writes no TensorBoard event files; CSVLogger, or the History that fit "
        "returns, keeps the same epoch logs"
    )
