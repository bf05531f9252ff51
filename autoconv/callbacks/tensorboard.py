"""Keras's ``TensorBoard`` callback: event files TensorBoard shows, written with tensorboardX
(the optional extra ``autoconv[tensorboard]``)."""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

import numpy as np

from autoconv.callbacks.base import Callback, learning_rates

_INSTALL = 'the TensorBoard callback needs tensorboardX: pip install "autoconv[tensorboard]"'
_FILE_NUMBERS = itertools.count()  # two writers of one folder never share an event file


class TensorBoard(Callback):
    """Write logs for TensorBoard (``tensorboard --logdir LOG_DIR``), as Keras's ``TensorBoard``:
    the runs ``LOG_DIR/train`` and ``LOG_DIR/validation``.

    - At each epoch's end (step: the epoch, from 0): ``epoch_<name>`` for every log of the
      epoch (``epoch_loss``, ``epoch_accuracy``, ...) and ``epoch_learning_rate`` (the
      optimizer's rate) in ``train``, and the ``val_`` logs without their prefix in
      ``validation``.
    - After each validation (and each ``evaluate`` given this callback):
      ``evaluation_<name>_vs_iterations`` in ``validation``, at step ``optimizer.iterations``.
    - ``update_freq``: "epoch", or "batch" (1), or N: every N batches (counted from 1 over the
      whole ``fit``) also ``batch_<name>`` in ``train``, step that count, of the epoch's running
      logs. It makes ``fit`` read the logs back after every batch.
    - ``histogram_freq``: N > 0 writes a histogram of every weight every N epochs (epochs 0, N,
      2N, ...) in ``train``, tagged ``<weight.path>/histogram``; with ``write_images`` also
      ``<weight.path>/image``, the weight drawn as Keras draws it (its first three images side
      by side in one picture, where Keras shows them one by one).
    - ``write_steps_per_second``: ``epoch_steps_per_second`` (the steps of the epoch over its
      seconds, validation included) and, with batch updates, ``batch_steps_per_second``.

    Not written: a graph (``write_graph`` is accepted and changes nothing: autoconv runs no
    TensorFlow graph, and does not write Keras's model-config summary either). Not supported
    (an error at construction when not at their defaults): ``profile_batch``,
    ``embeddings_freq`` and ``embeddings_metadata``. Unlike Keras on TensorFlow, epoch and
    evaluation summaries are written at every epoch with any ``update_freq``. Only process 0
    writes when several train together; the files are closed when training ends."""

    process_0_only = True

    def __init__(
        self,
        log_dir: str | os.PathLike = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: str | int = "epoch",
        profile_batch: int | tuple[int, int] | str = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: str | dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        if profile_batch:  # as Keras on its torch backend
            raise ValueError(
                "TensorBoard: profiling is not available in autoconv. Received: "
                f"profile_batch={profile_batch} (must be 0)"
            )
        for argument, value in (
            ("embeddings_freq", embeddings_freq),
            ("embeddings_metadata", embeddings_metadata),
        ):
            if value:
                raise NotImplementedError(
                    f"TensorBoard: `{argument}={value!r}` is not supported: autoconv has no "
                    "embedding layers to project"
                )
        if not (update_freq in ("epoch", "batch") or _is_count(update_freq, minimum=1)):
            raise ValueError(
                f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer, got "
                f"{update_freq!r}"
            )
        if not _is_count(histogram_freq, minimum=0):
            raise ValueError(
                f"TensorBoard: histogram_freq must be an integer >= 0, got {histogram_freq!r}"
            )
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError(_INSTALL) from None
        self._summary_writer = SummaryWriter
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")
        self._writers: dict[str, Any] = {}
        self._training = False
        self._global_train_batch = 0
        self._batch_start_time = 0.0
        self._epoch_start_time = 0.0
        self._previous_epoch_iterations = 0
        if self.update_freq != "epoch":  # only then ask fit for the logs of every batch
            self.on_train_batch_begin = self._on_train_batch_begin
            self.on_train_batch_end = self._on_train_batch_end

    def _writer(self, run: str) -> Any:
        """The writer of ``train`` or ``validation``, opened at its first use."""
        if run not in self._writers:
            folder = self._train_dir if run == "train" else self._val_dir
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as error:
                raise OSError(
                    f"TensorBoard cannot create the log folder {folder}: {error.strerror or error}"
                ) from None
            suffix = f".{os.getpid()}.{next(_FILE_NUMBERS)}"
            self._writers[run] = self._summary_writer(folder, filename_suffix=suffix)
        return self._writers[run]

    def _close_writers(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._training = True
        self._global_train_batch = 0
        self._previous_epoch_iterations = 0
        self._writer("train")  # a log folder that cannot be made fails before the first step

    def on_train_end(self, logs: dict | None = None) -> None:
        self._training = False
        self._close_writers()

    def on_test_end(self, logs: dict | None = None) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "iterations"):
            writer = self._writer("validation")
            step = int(optimizer.iterations)
            for name, value in _scalars(logs):
                writer.add_scalar(f"evaluation_{name}_vs_iterations", value, step)
        if not self._training:  # a model.evaluate of its own: nothing else follows
            self._close_writers()

    def _on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start_time = time.time()

    def _on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._global_train_batch % self.update_freq:
            return
        writer = self._writer("train")
        step = self._global_train_batch
        if self.write_steps_per_second:
            seconds = time.time() - self._batch_start_time
            writer.add_scalar("batch_steps_per_second", 1.0 / seconds, step)
        for name, value in _scalars(logs):
            writer.add_scalar(f"batch_{name}", value, step)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.write_steps_per_second:
            self._previous_epoch_iterations = int(self.model.optimizer.iterations)
            self._epoch_start_time = time.time()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)

    def _log_epoch_metrics(self, epoch: int, logs: dict | None) -> None:
        if not logs:
            return
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            train_logs.update(learning_rates(optimizer))
        if self.write_steps_per_second:
            steps = int(optimizer.iterations) - self._previous_epoch_iterations
            train_logs["steps_per_second"] = steps / (time.time() - self._epoch_start_time)
        for run, run_logs in (("train", train_logs), ("validation", val_logs)):
            if run_logs:
                writer = self._writer(run)
                for name, value in _scalars(run_logs):
                    writer.add_scalar(f"epoch_{name}", value, epoch)

    def _log_weights(self, epoch: int) -> None:
        writer = self._writer("train")
        for layer in self.model.layers:
            for weight in layer.weights:
                name = weight.path.replace(":", "_")
                values = weight.numpy()
                writer.add_histogram(f"{name}/histogram", values, epoch, bins=_BUCKETS)
                image = _weight_image(values) if self.write_images else None
                if image is not None:
                    writer.add_images(f"{name}/image", image[:3], epoch, dataformats="NHWC")
        writer.flush()


_BUCKETS = 30  # tf.summary.histogram's default: 30 buckets of equal width


def _scalars(logs: dict | None) -> list[tuple[str, float]]:
    """The logs' numbers: a scalar chart each (a metric of several values, F1Score()'s per
    class, has none; the progress bar shows their mean)."""
    return [(name, float(value)) for name, value in (logs or {}).items() if np.ndim(value) == 0]


def _weight_image(weight: np.ndarray) -> np.ndarray | None:
    """A weight as Keras's ``_log_weight_as_image`` draws it: images (N, H, W, C), or None for
    a shape it does not draw. A bias is one column, a Dense kernel one image (the longer side
    across), a squeezed 3-D kernel one image per last channel."""
    image = np.squeeze(weight)
    if image.ndim == 1:
        image = image.reshape(1, image.shape[0], 1, 1)
    elif image.ndim == 2:
        if image.shape[0] > image.shape[1]:
            image = image.T
        image = image.reshape(1, *image.shape, 1)
    elif image.ndim == 3:
        image = image.transpose(2, 0, 1)[..., None]
    if image.ndim == 4 and image.shape[-1] in (1, 3, 4):
        return image
    return None


def _is_count(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
