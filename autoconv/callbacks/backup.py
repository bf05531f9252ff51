"""Keras's ``BackupAndRestore`` callback (not built yet: an error that says what to use)."""

from __future__ import annotations

from autoconv.callbacks.monitor import _Unsupported


class BackupAndRestore(_Unsupported):
    why = (
        "to resume an interrupted fit, save with ModelCheckpoint (a model file keeps the "
        "optimizer state), load it with autoconv.load_model and pass fit's initial_epoch"
    )
