"""The training loop: epochs and batches, the running loss and metrics kept on the device, the
divergence guard, the progress display, History, and ``evaluate`` / ``predict``.

The step itself is the model's (:meth:`autoconv.Model._train_batch`, also behind
``train_on_batch``); this module decides which batches it sees and reports what it did.
Running totals stay on the model's device and are read back at most every ``SYNC_SECONDS``
(and at the end of an epoch), so a GPU never waits for the host between batches.

(Over ~600 lines on purpose: ``fit``, ``evaluate`` and ``predict`` share the step state, the
executions of ``steps_per_execution`` and the replayed steps, and read best side by side.)
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

import numpy as np

from autoconv import config, distributed
from autoconv.array_batches import ArrayBatches, Batch, Places, resident_inputs
from autoconv.backends import array_device, namespace
from autoconv.batches import (
    batch_size_of,
    build_for,
    input_arrays,
    sample_weights,
    target_arrays,
    validation_split_of,
)
from autoconv.callbacks.base import Callback, CallbackRunner, History, interactive
from autoconv.dataset_batches import DatasetBatches, check_dataset_arguments, is_dataset
from autoconv.kept import kept_call
from autoconv.metrics.compile_metrics import each_metric
from autoconv.process import configure_for_model
from autoconv.seeds import generator
from autoconv.step_replay import StepReplay
from autoconv.tensor import Tensor

SYNC_SECONDS = 0.2
LOSS_NOT_FINITE, GRADIENT_NOT_FINITE = 1, 2  # status codes of the backends' check_finite
WARMING_UP = 3  # a status that makes a step run every kernel but change nothing

__all__ = ["History", "TrainingDivergedError", "evaluate", "fit", "predict"]


class TrainingDivergedError(RuntimeError):
    """The loss or a gradient became NaN or infinite; the weights of the last good step are kept."""


class StepState:
    """What an epoch's steps share besides the model's running metrics: the divergence status
    [code, step] on the model's device (set by the first non-finite loss or gradient, after
    which every update is skipped there), the step counter, the samples seen, and the
    processes training together (``world``, None for one; see :mod:`autoconv.distributed`)."""

    def __init__(self, model: Any, status: Any = None, one_batch: bool = False) -> None:
        self.model = model
        self.one_batch = one_batch  # (train_on_batch's: a user's step gets Keras's packed data)
        self.world = distributed.current()
        self.xp = namespace(model.device)
        self._params: list[Any] | None = None
        self._penalized: list[Any] | None = None
        if status is None:
            self.status = self.xp.new_status()
        else:  # a runner's, the same array every epoch (a replay reads it): cleared in place
            self.xp.zero(status)
            self.status = status
        self.step = 0
        self.samples = 0
        model.reset_metrics()
        model._step_logs = None  # (what the epoch's own train_step or test_step returned)

    @property
    def params(self) -> list[Any]:
        """The trainable weights, found once (Keras too fixes them per train function)."""
        if self._params is None:
            self._params = self.model.trainable_weights
        return self._params

    def grown_params(self) -> list[Any]:
        """The trainable weights again, after a first step that built layers (a decoder its
        compute_loss calls): the optimizer, yet to take a step, is built for them all, as
        Keras builds it at its first update."""
        params = self.model.trainable_weights
        if len(params) != len(self.params):
            self._params = params
            if self.model.optimizer.built:
                self.model.optimizer.build(params)
        return self._params

    @property
    def penalized(self) -> list[Any]:
        """The trainable weights with a regularizer (their penalties join the loss, as Keras
        adds a frozen layer's none), found once."""
        if self._penalized is None:
            weights = self.model.trainable_weights
            self._penalized = [w for w in weights if w.regularizer is not None]
        return self._penalized

    def done(self, count: int) -> None:
        self.step += 1
        self.samples += count

    def read(self) -> tuple[dict[str, float], np.ndarray]:
        """(the logs, sorted by name as Keras, and the status), read back from the device;
        over several processes, the logs of all of them (every process must read)."""
        if self.world is None:
            logs = self.model._step_logs  # a train_step's or test_step's own, if it has one
            logs = self.model.get_metrics_result() if logs is None else step_logs(logs)
            return logs, self.xp.to_numpy(self.status)
        return self.world.logs(self.model), self.xp.to_numpy(self.status)

    def read_due(self, wanted: bool) -> bool:
        """Whether to read the logs now: ``wanted``, or over several processes what process 0
        wanted a step ago (so that every process reads at the same steps)."""
        return wanted if self.world is None else self.world.poll_due(wanted)


def raise_if_diverged(status: np.ndarray, epoch: int, optimizer: Any, steps: int) -> None:
    """TrainingDivergedError naming the epoch and batch of the first non-finite step. The
    optimizer changed nothing from that step on, so the ``steps`` taken since then are taken
    back from its step count (what a saved model records is the last good step)."""
    code, step = int(status[0]), int(status[1])
    if code in (LOSS_NOT_FINITE, GRADIENT_NOT_FINITE):
        optimizer.discard_steps(steps - step)
    where = f"at epoch {epoch + 1}, batch {step + 1}"
    if code == LOSS_NOT_FINITE:
        raise TrainingDivergedError(
            f"the loss became NaN or infinite {where}; training stopped and the weights of the "
            "last good step were kept (try a smaller learning rate, or check the data for NaN)"
        )
    if code == GRADIENT_NOT_FINITE:
        raise TrainingDivergedError(
            f"a gradient became non-finite {where}; training stopped and the weights of the "
            "last good step were kept"
        )


# -------------------------------------------------------- one model, several threads
_in_use = threading.Condition()  # guards every model's ``_running``


@contextlib.contextmanager
def running(model: Any, what: str) -> Iterator[None]:
    """Around ``fit``, ``evaluate``, ``train_on_batch`` and ``test_on_batch``, which change the
    model's running loss and metrics (and ``fit`` and ``train_on_batch`` its weights): one
    thread at a time per model. A call waits while another thread evaluates the model or runs
    a batch on it; while another thread fits it, the call is a RuntimeError at once (two
    ``fit`` calls on one model at once are not something Keras supports, and waiting would
    last the whole fit). A thread's calls nest (a callback of ``fit`` may ``evaluate``).
    ``predict``, ``predict_on_batch`` and ``model(x)`` need none of this: any number of threads
    run them at once, during a ``fit`` too (with the weights of whichever step they meet)."""
    me = threading.current_thread()
    with _in_use:
        while (holder := model.__dict__.get("_running")) is not None and holder[0] is not me:
            if holder[1] == "fit":
                raise RuntimeError(
                    f"{what}: model '{model.name}' is being trained by fit() in another thread "
                    f"({holder[0].name!r}); one model trains in one thread at a time: wait for "
                    "that fit() to return (predict() may run meanwhile), or train another model"
                )
            _in_use.wait()
        model._running = (me, what, 1) if holder is None else (me, holder[1], holder[2] + 1)
    try:
        yield
    finally:
        with _in_use:
            thread, kind, depth = model._running
            model._running = None if depth == 1 else (thread, kind, depth - 1)
            _in_use.notify_all()


# ------------------------------------------------------------------ the loops
def fit(
    model: Any,
    x: Any,
    y: Any,
    batch_size: int | None,
    epochs: int,
    verbose: Any,
    callbacks: Any,
    validation_split: float,
    validation_data: Any,
    shuffle: bool,
    class_weight: Any,
    sample_weight: Any,
    initial_epoch: int,
    steps_per_epoch: int | None,
    validation_steps: int | None,
    validation_batch_size: int | None,
    validation_freq: int,
) -> History:
    """Train ``model`` (Keras's ``fit``). Every argument is checked before the first step.

    The data goes to the model's device once; each batch is gathered there, and the loss and
    metrics are summed there and read back only to refresh the progress display and at the end
    of each epoch. If a loss or gradient turns NaN or infinite, that step's update is skipped
    on the device and TrainingDivergedError names the epoch and batch: the weights of the last
    good step stay.
    """
    model._require_compiled("fit")
    world = distributed.current()
    epochs = _count(epochs, "epochs", "fit", minimum=0)
    if config.max_epochs() and config.max_epochs() < epochs:  # Keras's debugging cap
        warnings.warn(f"Limiting epochs to {config.max_epochs()}", stacklevel=3)
        epochs = config.max_epochs()
    initial_epoch = _count(initial_epoch, "initial_epoch", "fit", minimum=0)
    validation_freq = _count(validation_freq, "validation_freq", "fit", minimum=1)
    if steps_per_epoch is not None:
        steps_per_epoch = _count(steps_per_epoch, "steps_per_epoch", "fit", minimum=1)
    if validation_steps is not None:
        validation_steps = _count(validation_steps, "validation_steps", "fit", minimum=1)
    steps_per_epoch = _capped(steps_per_epoch)
    if validation_data is not None or validation_split:
        validation_steps = _capped(validation_steps)
    if not isinstance(validation_split, int | float) or not 0.0 <= validation_split < 1.0:
        raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split!r}")
    verbose = _verbosity(verbose) if distributed.is_main() else 0
    callbacks = CallbackRunner.checked(callbacks)
    if is_dataset(x):
        check_dataset_arguments(
            "fit", x, y, batch_size, sample_weight, class_weight, validation_split, shuffle
        )
        if world is not None:
            raise ValueError(
                "fit: over several processes (autoconv.distributed) x must be arrays, which "
                "each process splits; a Dataset is not split between processes (nor a "
                "PyDataset, nor a generator)"
            )
        data: Any = DatasetBatches(model, x, "fit", class_weight=class_weight)
    else:
        batch_size = batch_size_of(batch_size, "fit")
        if world is not None:
            world.check_batch_size(batch_size, "fit")
        xs = input_arrays(model, x, "fit")
        build_for(model, xs, batch_size)
        if world is not None:
            world.broadcast_model(model)
        ys = target_arrays(model, y, len(xs[0]), "fit")
        ws = sample_weights(model, sample_weight, class_weight, ys, len(xs[0]), "fit")
        held_out = None
        if validation_split and validation_data is None:
            (xs, ys, ws), held_out = validation_split_of(xs, ys, ws, validation_split)
        data = ArrayBatches(model, xs, ys, ws, batch_size)
    val = None
    if not is_dataset(x) and held_out is not None:
        val_batch = batch_size_of(validation_batch_size or batch_size, "fit")
        val = ArrayBatches(model, *held_out, val_batch)
    elif is_dataset(validation_data):
        val = DatasetBatches(model, validation_data, "fit: validation_data")
    elif validation_data is not None:
        val_x, val_y, val_w = _validation_triple(validation_data)
        val_xs = input_arrays(model, val_x, "fit: validation_data")
        build_for(model, val_xs)  # (data in batches has not built a subclassed model yet)
        val_ys = target_arrays(model, val_y, len(val_xs[0]), "fit: validation_data")
        val_ws = sample_weights(model, val_w, None, val_ys, len(val_xs[0]), "fit: validation_data")
        val_batch = batch_size_of(validation_batch_size or batch_size, "fit")
        val = ArrayBatches(model, val_xs, val_ys, val_ws, val_batch)
    configure_process_for(model)
    steps = data.steps
    if steps_per_epoch is not None:
        steps = steps_per_epoch if data.steps is None else min(steps_per_epoch, data.steps)
    given = next((c for c in callbacks if isinstance(c, History)), None)
    history = given or History()  # a History among the callbacks is the one fit returns
    callback_list = CallbackRunner(
        callbacks, model, verbose, epochs, steps, add_history=history, add_progbar=True
    )
    model.history = history  # (from the start, as Keras's: the callbacks can read it)
    model.stop_training = False
    build_optimizer(model)  # (before any step, as Keras's: an own train_step may not use it)
    callback_list.on_train_begin()
    initial_epoch, initial_step = _resume_point(model, initial_epoch)
    steps_run = model._step_replay = StepReplay(model)
    val_run = evaluation_steps(model)
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        if data.ran_out():  # a generator the epochs before took every batch of
            break
        callback_list.on_epoch_begin(epoch)
        started = time.perf_counter()
        state = StepState(model, steps_run.status)
        last_poll, stopped = started, False
        first = initial_step if epoch == initial_epoch else 0
        state.step = first  # a resumed epoch counts its batches from where it stopped
        batches = data.batches(shuffle, steps, epoch, first)
        hooked = callback_list.wants_batch_logs or callback_list.batch_begins
        spe = model.steps_per_execution
        with launching_the_rest(steps_run):
            for number, execution in enumerate(executions(batches, first, spe), 1):
                callback_list.on_train_batch_begin(execution.begin)
                for batch in execution:
                    steps_run.run(batch, state)
                # (not launched: staged, launched with the next executions' steps)
                launched = steps_run.executed(number, spe, hooked)
                now = time.perf_counter()
                wanted = now - last_poll >= SYNC_SECONDS
                if launched and (callback_list.wants_batch_logs or state.read_due(wanted)):
                    last_poll = now
                    logs, status = state.read()
                    callback_list.on_train_batch_end(
                        execution.end, logs, state.samples, now - started
                    )
                    stopped = _stopped(model, status, epoch, state)
                # a stop set in another hook (on_epoch_begin, on_train_batch_begin, ...) ends
                # the epoch after this batch too, as Keras's (over several processes, at the
                # next read, where they agree)
                if stopped or (world is None and model.stop_training):
                    break
        logs, status = state.read()
        returned = model._step_logs  # (the train_step's own, before validation's replace them)
        if not stopped:
            _stopped(model, status, epoch, state)
        seconds = time.perf_counter() - started
        if val is not None and (epoch + 1) % validation_freq == 0 and not val.ran_out():
            val_logs = _evaluate_batches(model, val, validation_steps, callback_list, val_run)
            logs |= {f"val_{k}": v for k, v in val_logs.items()}
            logs = epoch_order(logs, returned)
        history.epoch_seconds.append(seconds)
        callback_list.on_epoch_end(epoch, logs, state.samples, seconds, state.step)
        if _agreed_stop(model, world):
            break
    build_optimizer(model)  # (a dataset's first batch built the model)
    if epochs > 0:  # as Keras's fit: the weights become their moving averages (use_ema)
        model.optimizer.finalize_variable_values(model.trainable_weights)
    callback_list.on_train_end(logs)
    return history


class Execution:
    """One execution of Keras's ``steps_per_execution``: iterating gives its items, drawn one
    at a time from the shared iterator (a batch's step inputs read the batch generator's
    place); ``begin`` is its first item's number, ``end`` the last drawn's."""

    def __init__(self, head: Any, rest: Iterator[Any], begin: int, size: int) -> None:
        self.head, self.rest, self.size = head, rest, size
        self.begin = self.end = begin

    def __iter__(self) -> Iterator[Any]:
        yield self.head
        for number in range(self.begin + 1, self.begin + self.size):
            item = next(self.rest, _END)
            if item is _END:
                return
            self.end = number
            yield item


_END = object()


@contextlib.contextmanager
def launching_the_rest(runner: StepReplay) -> Iterator[None]:
    """Around a pass's executions: the replayed steps still staged at its end (or when it stops:
    a callback's exception, an interrupt) are launched, so that the device does what the host
    counted done."""
    try:
        yield
    finally:
        runner.flush()


def executions(items: Iterable[Any], first: int, size: int) -> Iterator[Execution]:
    """``items`` (numbered from ``first``) in executions of ``size`` (the last may be
    shorter); each execution is to be run through before the next is asked for."""
    items = iter(items)
    begin = first
    for head in items:
        yield Execution(head, items, begin, size)
        begin += size


def _resume_point(model: Any, initial_epoch: int) -> tuple[int, int]:
    """(epoch, step) where training starts: as Keras, ``model._initial_epoch`` when a callback
    (BackupAndRestore, in ``on_train_begin``) set it, else ``initial_epoch``; and autoconv's
    ``model._initial_step``, the batches of that epoch already done. Each is used once."""
    epoch = model.__dict__.pop("_initial_epoch", None)
    step = model.__dict__.pop("_initial_step", 0)
    return (initial_epoch if epoch is None else epoch), step


def _stopped(model: Any, status: np.ndarray, epoch: int, state: StepState) -> bool:
    """After a callback had its say: True if training should stop now (a callback set
    ``model.stop_training``, as TerminateOnNaN does on a NaN loss). A non-finite step that no
    callback stopped on is a TrainingDivergedError."""
    if _agreed_stop(model, state.world):
        if int(status[0]) in (LOSS_NOT_FINITE, GRADIENT_NOT_FINITE):
            model.optimizer.discard_steps(state.step - int(status[1]))  # skipped on the device
        return True
    raise_if_diverged(status, epoch, model.optimizer, state.step)
    return False


def _agreed_stop(model: Any, world: Any, flag: str = "stop_training") -> bool:
    """``model.stop_training`` (or another of Keras's flags a callback sets to end a loop:
    ``stop_evaluating``), made the same on every process (one stopping stops all)."""
    if world is not None:
        setattr(model, flag, world.agree(getattr(model, flag)))
    return getattr(model, flag)


def evaluation_steps(model: Any) -> StepReplay:
    """A runner of ``model``'s test steps, replayed where the device can (as fit's training
    steps): one per ``fit`` for its validation data; ``evaluate``'s, kept on a GPU model for
    arrays of one shape (:func:`autoconv.kept.kept_call`), else one per call."""
    model._test_replay = StepReplay(model, model._test_batch, model._replayed_test_batch)
    return model._test_replay


def _evaluate_batches(
    model: Any,
    data: Any,
    steps: int | None,
    callback_list: CallbackRunner,
    runner: StepReplay,
    progress: bool = False,
) -> dict[str, float]:
    """The loss and metrics over ``data``, with the test hooks (as Keras's evaluate; a batch
    hook that sets ``model.stop_evaluating`` ends it after that batch); the steps run by
    ``runner`` (see :func:`evaluation_steps`). With ``progress`` (``evaluate``'s, not
    ``fit``'s validation), the progress bar's line when they end."""
    state = StepState(model, runner.status)
    started = time.perf_counter()
    model.stop_evaluating = False
    callback_list.on_test_begin()
    hooked = callback_list.wants_test_batch_logs or callback_list.test_batch_begins
    spe = model.steps_per_execution
    with launching_the_rest(runner):
        for number, execution in enumerate(executions(data.batches(False, steps), 0, spe), 1):
            callback_list.on_test_batch_begin(execution.begin)
            for batch in execution:
                runner.run(batch, state)
            runner.executed(number, spe, hooked)  # (launched when hooked)
            if callback_list.wants_test_batch_logs:
                callback_list.on_test_batch_end(execution.end, state.read()[0])
            if hooked and _agreed_stop(model, state.world, "stop_evaluating"):
                break
    logs, _ = state.read()
    # Keras's callbacks flatten and sort the logs they are given again, so on_test_end (and
    # verbose=2's line) sees them sorted by name where a test_step's own nested
    # {"loss": ..., "compile_metrics": {...}} was returned in its groups' order
    ended = dict(sorted(logs.items()))
    if progress and callback_list.progbar is not None:
        seconds = time.perf_counter() - started
        bar = callback_list.progbar
        line = ended if bar.params.get("verbose") == 2 else logs  # a bar keeps its batches' order
        bar.finish(line, state.samples, seconds, state.step)
    callback_list.on_test_end(ended)
    return logs


def evaluate(
    model: Any,
    x: Any,
    y: Any,
    batch_size: int | None,
    verbose: Any,
    sample_weight: Any,
    steps: int | None,
    callbacks: Any,
    return_dict: bool,
) -> Any:
    """Keras's ``evaluate``: the loss and metrics over (x, y) in batches."""
    model._require_compiled("evaluate")
    if steps is not None:
        steps = _count(steps, "steps", "evaluate", minimum=1)
    steps = _capped(steps)
    callbacks = CallbackRunner.checked(callbacks)
    kept = None
    if is_dataset(x):
        check_dataset_arguments("evaluate", x, y, batch_size, sample_weight, None, 0.0)
        data: Any = DatasetBatches(model, x, "evaluate")
    else:
        xs = input_arrays(model, x, "evaluate")
        size = batch_size_of(batch_size, "evaluate")
        build_for(model, xs, size)
        ys = target_arrays(model, y, len(xs[0]), "evaluate")
        ws = sample_weights(model, sample_weight, None, ys, len(xs[0]), "evaluate")
        kept = kept_call(model, "evaluate", (xs, ys, ws), size)
        data = kept.data if kept is not None else ArrayBatches(model, xs, ys, ws, size)
    try:
        configure_process_for(model)
        callback_list = CallbackRunner(
            callbacks, model, _verbosity(verbose), 1, _at_most(data.steps, steps), add_progbar=True
        )
        runner = evaluation_steps(model) if kept is None or kept.runner is None else kept.runner
        model._test_replay = runner
        if kept is not None:
            kept.runner = runner  # the next call's, with these arrays
        logs = _evaluate_batches(model, data, steps, callback_list, runner, progress=True)
    finally:
        if kept is not None:
            kept.busy = False
    build_optimizer(model)  # (once the model is built: a dataset's first batch builds it)
    if return_dict:
        return logs
    return _in_order(model, logs)


def build_optimizer(model: Any) -> None:
    """Build a built model's optimizer for its trainable weights if it is not yet, as Keras's
    ``fit``, ``evaluate``, ``*_on_batch`` and ``compile_from_config`` do (its
    ``_symbolic_build``): ``optimizer.variables``, ``summary()``'s "Optimizer params" and a
    saved file's optimizer state then hold its slots, as Keras's do."""
    optimizer = model.optimizer
    if optimizer is not None and model.built and not optimizer.built:
        optimizer.build(model.trainable_weights)


def configure_process_for(model: Any) -> None:
    """The process settings that make CPU work faster (:mod:`autoconv.process`), before it."""
    if model.device == "cpu":
        configure_for_model()


def _in_order(model: Any, logs: dict[str, float]) -> Any:
    """The logs as a list in Keras's order (its ``_flatten_metrics_in_order``): those named
    as ``model.metrics`` name them (the compiled metrics by their own names, so an output's
    ``out_mae`` is not among them), then the rest sorted by name; one value alone."""
    first = [m.name for m in each_metric(model.metrics)]
    values = [logs[k] for k in first if k in logs] + [
        logs[k] for k in sorted(logs) if k not in first
    ]
    return values[0] if len(values) == 1 else values


def predict(
    model: Any, x: Any, batch_size: int | None, verbose: Any, steps: int | None, callbacks: Any
) -> Any:
    """Keras's ``predict``: the outputs for x (arrays, or a dataset, PyDataset or generator
    whose batches are x or (x, y, ...)), batch by batch, as NumPy arrays. The outputs stay on
    the model's device until the end (one read back), or each execution's when a callback
    wants them."""
    callbacks = CallbackRunner.checked(callbacks)
    if steps is not None:
        steps = _count(steps, "steps", "predict", minimum=1)
    steps = _capped(steps)
    kept, runner = None, None
    if is_dataset(x):
        check_dataset_arguments("predict", x, None, batch_size, None, None, 0.0)
        data: Any = DatasetBatches(model, x, "predict", targets=False)
        expected = data.steps if steps is None else min(steps, data.steps or steps)
        total = expected or 0  # (0: unknown)
        predictions = Predictions(model, batches=expected or 1)
    else:
        xs = input_arrays(model, x, "predict")
        size = batch_size_of(batch_size, "predict")
        total = _at_most(math.ceil(len(xs[0]) / size), steps)
        build_for(model, xs, size)
    configure_process_for(model)
    callback_list = CallbackRunner(
        callbacks, model, _verbosity(verbose), 1, total, add_progbar=True
    )
    if not is_dataset(x):
        kept = kept_call(model, "predict", (xs, [], None), size, partial(Predictions, model))
        if kept is not None:
            data, predictions, runner = kept.data, kept.predictions, kept.runner
        else:
            data = ArrayBatches(model, xs, [], None, size, shared=False)
            predictions = Predictions(model, rows=data.samples)
    try:
        started, counter = time.perf_counter(), itertools.count()
        batches = (batch for batch, _ in zip(data.batches(False, steps), counter, strict=False))
        model.stop_predicting = False
        callback_list.on_predict_begin()
        outputs = _predict(model, batches, predictions, callback_list, runner)
        if callback_list.progbar is not None:  # Keras's line: the steps and the time
            seconds = time.perf_counter() - started
            callback_list.progbar.finish({}, predictions.samples_done, seconds, next(counter))
        callback_list.on_predict_end()
    finally:
        if kept is not None:
            kept.busy = False
    return model._returned_outputs(outputs)


class Predictions:
    """``predict``'s outputs, written on the device into one array per output after the rows
    done before (a step input), a step a :class:`StepReplay` can record and replay (``step``
    and ``replayed``, as the model's training and test steps). An output usually has a row per
    sample; one of other rows (a sum over the batch) has its batches' rows joined, as Keras's.
    The arrays are made at the first batch for ``rows`` samples, or ``batches`` times the first
    batch's (a dataset's: its batches when known); :meth:`grow` makes room for more."""

    world = None  # (every process predicts every batch)

    def __init__(self, model: Any, rows: int | None = None, batches: int = 1) -> None:
        self.model, self.rows, self.batches = model, rows, batches
        self.xp = namespace(model.device)
        self.results: list[Any] | None = None
        self.samples_done = 0
        self.rows_done: list[int] = []  # each output's
        self.rows_of: dict[int, list[int]] = {}  # a batch's samples -> each output's rows

    def step(self, inputs: list[Any], targets: Any, weights: Any, state: Any) -> None:
        outputs = self.model._predict_batch(inputs, to_host=False)
        count = len(inputs[0])
        self.rows_of[count] = [len(out) for out in outputs]
        if self.results is None:
            self.rows = self.rows or self.batches * count
            batches = math.ceil(self.rows / count)
            lengths = [self.rows if len(o) == count else batches * len(o) for o in outputs]
            self.results = [self.xp.empty((n, *o.shape[1:]), o.dtype)
                            for n, o in zip(lengths, outputs, strict=True)]  # fmt: skip
            self.rows_done = [0] * len(outputs)
        for index, (result, out) in enumerate(zip(self.results, outputs, strict=True)):
            if self.rows_done[index] + len(out) > len(result):  # (fewer samples, more rows)
                raise ValueError(
                    f"predict: the model's output {index} has {len(out)} rows for a batch of "
                    f"{count} samples, more than its earlier, bigger batches had"
                )
            start = self.xp.step_input(lambda index=index: [self.rows_done[index]], np.int64)
            self.xp.put_rows(result, out, start)
        self.replayed(count, state)

    def replayed(self, count: int, state: Any) -> None:
        self.samples_done += count
        rows = self.rows_of[count]
        self.rows_done = [done + n for done, n in zip(self.rows_done, rows, strict=True)]

    def reset(self) -> None:
        """Start again at the first row (the arrays kept for another call's batches)."""
        self.samples_done, self.rows_done = 0, [0] * len(self.rows_done)

    def _rows_for(self, count: int) -> list[int]:
        """Each output's rows for a batch of ``count`` samples: as before, else as many per
        sample as the most of the batches before."""
        if count in self.rows_of:
            return self.rows_of[count]
        seen = zip(*self.rows_of.values(), strict=True)  # each output's rows, by batch
        return [max(math.ceil(count * n / c) for c, n in zip(self.rows_of, rows, strict=True))
                for rows in seen]  # fmt: skip

    def full(self, count: int) -> bool:
        """Whether a batch of ``count`` samples overflows the arrays made."""
        return self.results is not None and any(
            done + rows > len(result)
            for done, rows, result in zip(
                self.rows_done, self._rows_for(count), self.results, strict=True
            )
        )

    def grow(self, count: int) -> None:
        """Remake the arrays with room for a batch of ``count`` more samples, each at least
        twice as long as before, the rows done copied (on the device). Steps recorded before
        write to the old arrays: their replays are to be dropped."""
        first = self.xp.asarray(np.zeros(1, np.int64))
        old, self.results = self.results or [], []
        for result, done, rows in zip(old, self.rows_done, self._rows_for(count), strict=True):
            length = max(done + rows, 2 * len(result))
            self.results.append(self.xp.empty((length, *result.shape[1:]), result.dtype))
            self.xp.put_rows(self.results[-1], result[:done], first)

    def read(self, begin: list[int] | None = None) -> list[np.ndarray]:
        """Each output's rows from ``begin`` (its own; the first by default) to the last done,
        read back from the device."""
        begin = begin or [0] * len(self.rows_done)
        return [
            self.xp.to_numpy(result[start:done])
            for result, start, done in zip(self.results or [], begin, self.rows_done, strict=True)
        ]


def _predict(
    model: Any, batches: Iterator[Batch], predictions: Predictions, callback_list: CallbackRunner,
    kept: StepReplay | None = None,
) -> list[np.ndarray]:  # fmt: skip
    """The outputs for arrays' or a dataset's batches (gathered on the device, or each copied
    into the device arrays of its shapes): each batch's outputs written into the outputs'
    arrays there (replayed where the device can, by the ``kept`` runner of an earlier call
    when given), read back once at the end (or each execution's rows when a callback wants
    them). A batch hook that sets ``model.stop_predicting`` ends it after that batch, as
    Keras's."""

    def runner() -> StepReplay:
        model._predict_replay = StepReplay(model, predictions.step, predictions.replayed)
        kept_state = model.__dict__.get("_kept_calls", {}).get("predict")
        if kept_state is not None and kept_state.predictions is predictions:
            kept_state.runner = model._predict_replay  # the next call's, with these arrays
        return model._predict_replay

    if kept is not None:
        model._predict_replay = kept
    replay = runner() if kept is None else kept
    spe, hooked = model.steps_per_execution, callback_list.predict_batches
    try:
        for number, execution in enumerate(executions(batches, 0, spe), 1):
            callback_list.on_predict_batch_begin(execution.begin)
            begin = list(predictions.rows_done)
            for batch in execution:
                if predictions.full(batch.count):  # (a dataset's batch beyond the rows made)
                    replay.flush()  # the steps staged write into the arrays about to be remade
                    predictions.grow(batch.count)
                    replay = runner()
                replay.run(batch, predictions)
            replay.executed(number, spe, hooked)  # (launched when hooked)
            if hooked:  # (a read back each execution)
                rows = predictions.read(begin)
                callback_list.on_predict_batch_end(execution.end, model._returned_outputs(rows))
                if model.stop_predicting:
                    break
    finally:
        replay.flush()
    if predictions.results is None:
        raise ValueError("predict: no data (an empty array or dataset, or steps=0)")
    return predictions.read()


def on_batch(
    model: Any,
    kind: str,
    x: Any,
    y: Any,
    sample_weight: Any,
    class_weight: Any,
    return_dict: bool,
) -> Any:
    """``train_on_batch`` / ``test_on_batch``: the step ``fit`` (or ``evaluate``) runs, on one
    batch, with its loss and metrics read back. The steps of a model's calls are replayed where
    the device can, as ``fit``'s (see :func:`one_batch_steps`)."""
    what = f"{kind}_on_batch"
    model._require_compiled(what)
    xs = input_arrays(model, x, what, batched=True)
    build_for(model, xs)
    build_optimizer(model)
    # (one batch, its inputs and targets uncounted, as Keras's: a graph's nodes and edges)
    ys = target_arrays(model, y, None, what)
    ws = sample_weights(model, sample_weight, class_weight, ys, None, what)
    configure_process_for(model)
    runner, places = one_batch_steps(model, kind)
    state = StepState(model, runner.status, one_batch=True)
    if state.world is None:
        batch = places.batch((resident_inputs(model, xs), ys, ws), len(xs[0]))
    elif len({len(a) for a in [*xs, *ys] if a is not None}) != 1:
        raise ValueError(f"{what}: several processes share a batch by its samples: its inputs "
                         "and targets must hold as many each")  # fmt: skip
    else:  # this process's share of the batch (run as it comes)
        batch = next(ArrayBatches(model, xs, ys, ws, len(xs[0])).batches(False))
    runner.run(batch, state)
    runner.flush()
    logs, status = state.read()
    if kind == "train":
        raise_if_diverged(status, 0, model.optimizer, state.step)
    return logs if return_dict else _in_order(model, logs)


def one_batch_steps(model: Any, kind: str) -> tuple[StepReplay, Places]:
    """The runner of ``model``'s ``train_on_batch`` (``kind`` "train") or ``test_on_batch``
    ("test") steps and the places their batches are loaded into (:class:`Places`), kept from
    call to call so that a loop of calls replays its steps as ``fit`` does; made anew when the
    arrays a recorded step used are no longer the model's (compiled again, moved, optimizer
    state loaded: a new optimizer, metric, weight array or slot array)."""
    optimizer = model.optimizer
    arrays = [
        model.device, optimizer, *model.metrics, *(w.data for w in model.weights),
        *(slot for own in optimizer.slots for slot in own.values()),
    ]  # fmt: skip
    kept = model.__dict__.setdefault("_one_batch_steps", {})
    runner, places, used = kept.get(kind, (None, None, []))
    if len(used) != len(arrays) or any(a is not b for a, b in zip(used, arrays, strict=False)):
        runner = StepReplay(model) if kind == "train" else evaluation_steps(model)
        places = Places(namespace(model.device))
    kept[kind] = (runner, places, arrays)
    return runner, places


def warm_up(model: Any, x: Any, y: Any) -> float:
    """Run every kernel of one training step on (x, y) without changing the model or the
    random draws that follow (the step's status is set, so the optimizer skips its update; the
    non-trainable weights, such as batch normalization's moving statistics, and the random
    generator's state are put back): this compiles the kernels, or loads them from Numba's
    cache. Returns the seconds it took."""
    model._require_compiled("warm_up")
    started = time.perf_counter()
    xs = input_arrays(model, x, "warm_up")
    build_for(model, xs)
    kept = [(w, w.numpy()) for w in model.non_trainable_weights]
    draws = generator().bit_generator.state
    ys = target_arrays(model, y, len(xs[0]), "warm_up")
    xp = namespace(model.device)
    state = StepState(model)
    state.status = xp.asarray(np.array([WARMING_UP, 0], dtype=np.int64))
    (inputs, targets, weights), *_ = ArrayBatches(model, xs, ys, None, len(xs[0])).batches(False)
    model._train_batch(inputs, targets, weights, state)
    model.optimizer.discard_steps(1)  # the device skipped the update
    model.optimizer.zero_grad(model.trainable_weights)
    state.read()  # waits for the device to finish
    for weight, value in kept:
        weight.assign(value)
    generator().bit_generator.state = draws
    model.reset_metrics()
    return time.perf_counter() - started


# ------------------------------------------------------------------------ helpers
def step_logs(logs: dict[str, Any]) -> dict[str, Any]:
    """What a model's own train_step or test_step returned, as ``fit`` logs it (Keras's
    ``pythonify_logs``): sorted by name, a dict (the compiled metrics' result) by its own
    entries in its place; numbers as floats (read from the device), several values as NumPy
    arrays."""
    out = {}
    for name in sorted(logs):
        if isinstance(logs[name], dict):
            out.update(step_logs(logs[name]))
            continue
        value = logs[name].data if isinstance(logs[name], Tensor) else logs[name]
        if hasattr(value, "shape"):
            value = namespace(array_device(value)).to_numpy(value)
        value = np.asarray(value)
        out[name] = float(value) if value.ndim == 0 else value
    return out


def epoch_order(logs: dict[str, Any], returned: Any) -> dict[str, Any]:
    """An epoch's logs with its validation's, in the order Keras's callbacks see them (its
    ``pythonify_logs`` over both): sorted by name, except that a dict a train_step returned
    (``{"loss": ..., "compile_metrics": {...}}``) is sorted by its own name, its entries in its
    place, so the compiled metrics come before ``loss``, as in Keras's history."""
    group: dict[str, str] = {}
    for name, value in (returned or {}).items():
        if isinstance(value, dict):
            group |= dict.fromkeys(_names(value), name)
    return dict(sorted(logs.items(), key=lambda item: group.get(item[0], item[0])))


def _names(logs: dict[str, Any]) -> list[str]:
    """The names a nested dict of logs is flattened to (:func:`step_logs`)."""
    return [n for k, v in logs.items() for n in (_names(v) if isinstance(v, dict) else [k])]


def _capped(steps: int | None) -> int | None:
    """``steps`` under Keras's debugging cap (:func:`autoconv.config.max_steps_per_epoch`)."""
    limit = config.max_steps_per_epoch()
    if limit and (steps is None or limit < steps):
        warnings.warn(f"Limiting steps_per_epoch to {limit}", stacklevel=4)
        return limit
    return steps


def _count(value: Any, name: str, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{what}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _validation_triple(validation_data: Any) -> tuple[Any, Any, Any]:
    """Keras's unpacking of ``validation_data``: ``x`` alone (for a model whose own
    ``test_step`` needs no targets), ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``; a list
    is read as a tuple."""
    if isinstance(validation_data, list):
        validation_data = tuple(validation_data)
    if not isinstance(validation_data, tuple):
        return validation_data, None, None
    if len(validation_data) not in (1, 2, 3):
        raise ValueError(
            "fit: validation_data must be x, (x,), (x_val, y_val) or (x_val, y_val, "
            f"val_sample_weight), got a tuple of length {len(validation_data)}"
        )
    x, y, weights = validation_data + (None,) * (3 - len(validation_data))
    return x, y, weights


def _at_most(count: int | None, steps: int | None) -> int | None:
    """The batches a call runs: ``count`` (None: unknown), or ``steps`` where fewer."""
    return count if steps is None or count is None else min(count, steps)


def _verbosity(verbose: Any) -> int:
    """Keras's ``verbose``: 0 silent, 1 a progress bar, 2 one line per epoch; "auto" is 1 on a
    terminal or in a notebook and 2 otherwise (a log file gets one line per epoch)."""
    if verbose == "auto":
        return 1 if interactive() else 2
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


__all__ += ["Callback"]
