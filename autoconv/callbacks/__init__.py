"""Callbacks, as Keras's ``keras.callbacks``: objects whose hooks ``fit``, ``evaluate`` and
``predict`` call at the start and end of training, of each epoch and of each batch.

``History`` (returned by ``fit``) and ``ProgbarLogger`` (the progress display) are added by
``fit`` itself, after the given callbacks, as Keras adds them. Batch hooks get the running logs
only when a callback overrides ``on_train_batch_end`` (or ``on_batch_end``): reading them costs
a device sync per batch on a GPU, which ``fit`` otherwise avoids. So the callbacks that act on
epochs (EarlyStopping, ReduceLROnPlateau, CSVLogger, an epoch-wise ModelCheckpoint ...) never
slow a step down.
"""

from autoconv.callbacks.backup import BackupAndRestore
from autoconv.callbacks.base import Callback, History, LambdaCallback, ProgbarLogger
from autoconv.callbacks.callback_list import CallbackList
from autoconv.callbacks.ema import SwapEMAWeights
from autoconv.callbacks.monitor import (
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    RemoteMonitor,
    TerminateOnNaN,
)
from autoconv.callbacks.tensorboard import TensorBoard

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "RemoteMonitor",
    "SwapEMAWeights",
    "TensorBoard",
    "TerminateOnNaN",
]
