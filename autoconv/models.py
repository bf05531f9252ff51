"""The Keras-like Sequential model: build, summary, compile, fit, evaluate, predict, save/load."""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
import numpy as np

from autoconv import layers as layers_module
from autoconv import losses as losses_module
from autoconv import ops
from autoconv import optimizers as optimizers_module
from autoconv.backends import array_device, namespace
from autoconv.layers import Layer
from autoconv.process import configure_for_training
from autoconv.random import generator
from autoconv.tensor import Tensor, check_device, no_grad

FORMAT = "autoconv.Sequential"
FORMAT_VERSION = 1
# fit/evaluate keep the running loss and accuracy on the device and read them back (and the
# divergence status) at most this often, to refresh the progress bar: never once per batch.
SYNC_SECONDS = 0.2
LOSS_NOT_FINITE, GRADIENT_NOT_FINITE = 1, 2  # status codes of the backends' check_finite
WARMING_UP = 3  # a status that makes a step run every kernel but change nothing


class TrainingDivergedError(RuntimeError):
    """The loss or a gradient became NaN or infinite; the weights of the last good step are kept."""


class History:
    """What ``fit`` returns: ``history.history['loss']`` etc., one value per epoch."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.epoch_seconds: list[float] = []

    def append(self, epoch: int, logs: dict[str, float], seconds: float) -> None:
        self.epoch.append(epoch)
        self.epoch_seconds.append(seconds)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)


def _host(array: Any) -> np.ndarray:
    """A NumPy view or copy of an array of either device."""
    return namespace(array_device(array)).to_numpy(array)


def _as_input(x: Any) -> np.ndarray:
    array = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"model input must be numeric, got dtype {array.dtype}")
    return array


class _Meter:
    """Running loss and accuracy sums kept on the device (float64 [loss*n, correct, n]) with
    the divergence status; ``poll`` reads them back, and refreshes the progress bar, at most
    every SYNC_SECONDS (or when forced at the end), so batches never wait for the host."""

    def __init__(self, xp: Any, bar: Any, metrics: list[str]) -> None:
        self.xp, self.bar, self.metrics = xp, bar, metrics
        self.totals = xp.zeros((3,), np.float64)
        self.status = xp.new_status()
        self.started = self.last_poll = time.perf_counter()
        self.shown = 0

    def add(self, loss: Tensor, correct: Any, count: int) -> None:
        self.xp.accumulate(self.totals, loss.data, correct, count, self.status)

    def poll(self, steps: int, force: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
        """(totals, status) as NumPy arrays if it was time to read them, else None."""
        now = time.perf_counter()
        if not force and now - self.last_poll < SYNC_SECONDS:
            return None
        self.last_poll = now
        totals, status = self.xp.to_numpy(self.totals), self.xp.to_numpy(self.status)
        self.bar.update(steps - self.shown, _fmt(totals, now - self.started, self.metrics))
        self.shown = steps
        return totals, status


def _run(layers: list[Layer], x: Tensor, training: bool) -> Tensor:
    """Apply ``layers`` in turn; a Conv2D followed by a MaxPooling2D runs as one op
    (:func:`autoconv.ops.conv2d_max_pool`: the same values in fewer passes over memory)."""
    at = 0
    while at < len(layers):
        layer, following = layers[at], layers[at + 1] if at + 1 < len(layers) else None
        if isinstance(following, layers_module.MaxPooling2D) and isinstance(
            layer, layers_module.Conv2D
        ):
            x, at = layer.pooled(x, following), at + 2
        else:
            x, at = layer(x, training), at + 1
    return x


class Sequential:
    """A stack of layers, each feeding the next.

    >>> from autoconv import layers
    >>> model = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    >>> model.count_params()
    26
    """

    def __init__(self, layers: Iterable[Layer] | None = None, name: str = "sequential") -> None:
        self.name = name
        self.layers: list[Layer] = []
        self.optimizer: optimizers_module.Optimizer | None = None
        self.loss: losses_module.Loss | None = None
        self.metrics: list[str] = []
        self.device = "cpu"
        self._output_shape: tuple[int, ...] | None = None
        for layer in layers or []:
            self.add(layer)

    # --------------------------------------------------------------- building
    def add(self, layer: Layer) -> None:
        """Append a layer; it is built now if the model's input shape is known."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer, got {type(layer).__name__}")
        if layer.name is None:
            taken = {existing.name for existing in self.layers}
            base, k = layer.default_name, 0
            layer.name = base
            while layer.name in taken:
                k += 1
                layer.name = f"{base}_{k}"
        if not self.layers and layer.input_shape is not None:
            shape: tuple[int, ...] | None = layer.input_shape
        else:
            shape = self._output_shape
        if self.layers and layer.input_shape is not None and shape is not None:
            if tuple(layer.input_shape) != tuple(shape):
                raise ValueError(
                    f"layer {layer.name} declares input_shape {layer.input_shape} but the "
                    f"layer before it outputs {shape}"
                )
        self.layers.append(layer)
        if shape is not None:
            layer.build(shape)
            self._place(layer)
            self._output_shape = layer.output_shape(shape)

    def build(self, input_shape: tuple[int, ...]) -> None:
        """Build every layer for inputs of ``input_shape`` (no batch axis)."""
        shape = tuple(input_shape)
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            self._place(layer)
            shape = layer.output_shape(shape)
        self._output_shape = shape

    @property
    def built(self) -> bool:
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        return self.layers[0].input_shape if self.layers else None

    def parameters(self) -> list[Tensor]:
        return [p for layer in self.layers for p in layer.parameters()]

    def count_params(self) -> int:
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(
                f"{what}: the model is not built yet; give the first layer input_shape=... "
                "or call model.build(input_shape)"
            )

    def summary(self, print_fn: Callable[[str], None] = print) -> None:
        """Print each layer's name, type, output shape and parameter count, as Keras does."""
        self._require_built("summary")
        labels = [f" {layer.name} ({type(layer).__name__})" for layer in self.layers]
        widths = (max(29, *(len(label) + 2 for label in labels)), 26, 10)
        rule = "_" * sum(widths)

        def row(*cells: str) -> str:
            return "".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

        lines = [f'Model: "{self.name}"', rule, row(" Layer (type)", "Output Shape", "Param #")]
        lines.append("=" * sum(widths))
        shape = self.layers[0].input_shape
        for i, layer in enumerate(self.layers):
            shape = layer.output_shape(shape)
            lines.append(row(labels[i], str((None, *shape)), f"{layer.count_params():,}"))
            lines.append("=" * sum(widths) if i == len(self.layers) - 1 else "")
        total = self.count_params()
        lines += [
            f"Total params: {total:,}",
            f"Trainable params: {total:,}",
            "Non-trainable params: 0",
            rule,
        ]
        print_fn("\n".join(lines))

    # ------------------------------------------------------------ running
    def __call__(self, x: Tensor, training: bool = False) -> Tensor:
        scores, are_logits = self._scores(x, training)
        return ops.softmax(scores) if are_logits else scores

    def _scores(self, x: Tensor, training: bool) -> tuple[Tensor, bool]:
        """The outputs, or, under a final softmax, the logits it takes (and True): the fused
        cross-entropy and the accuracy need only those."""
        if not self.built:
            self.build(x.shape[1:])
        last = self.layers[-1]
        if last.activation != "softmax":
            return _run(self.layers, x, training), False
        return last(_run(self.layers[:-1], x, training), training, activate=False), True

    def to(self, device: str) -> Sequential:
        """Move the weights (and the optimizer's state) to ``device``, in place; returns the
        model. Layers built later get their weights there too."""
        check_device(device)
        self.device = device
        for layer in self.layers:
            self._place(layer)
        if self.optimizer is not None:
            xp = namespace(device)
            self.optimizer.slots = [
                {name: xp.asarray(_host(value)) for name, value in slots.items()}
                for slots in self.optimizer.slots
            ]
        return self

    def _place(self, layer: Layer) -> None:
        """Put a built layer's weights on the model's device."""
        xp = namespace(self.device)
        for param in layer.parameters():
            if param.device != self.device:
                param.data, param.device = xp.asarray(_host(param.data)), self.device
                param.grad = None

    def compile(
        self,
        optimizer: str | optimizers_module.Optimizer = "rmsprop",
        loss: str | losses_module.Loss = "categorical_crossentropy",
        metrics: list[str] | None = None,
    ) -> None:
        """Choose the optimizer, the loss and the metrics (only 'accuracy' is known)."""
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss)
        self.metrics = list(metrics or [])
        for metric in self.metrics:
            if metric not in ("accuracy", "acc"):
                raise ValueError(f"unknown metric {metric!r}; expected 'accuracy'")

    def _check_data(self, x: np.ndarray, y: np.ndarray | None, what: str) -> None:
        if self.built and tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ValueError(
                f"{what}: x has samples of shape {x.shape[1:]} but the model expects "
                f"{self.input_shape}"
            )
        if y is not None and len(y) != len(x):
            raise ValueError(f"{what}: x has {len(x)} samples but y has {len(y)}")
        if len(x) == 0:
            raise ValueError(f"{what}: no samples")

    def compute_loss(self, x: Any, y: Any, training: bool = False) -> tuple[Tensor, Any]:
        """The loss of one batch (a scalar Tensor, ready for ``backward()``) and the number of
        correct predictions (a 0-d array on the model's device: reading it is the caller's
        choice). x and y may be NumPy arrays or arrays of the model's device. A final softmax
        with cross-entropy is computed from its logits."""
        assert self.loss is not None
        xp = namespace(self.device)
        inputs = Tensor(xp.asarray(x, dtype=np.float32))
        y = xp.asarray(y)
        scores, are_logits = self._scores(inputs, training)
        if are_logits and isinstance(self.loss, losses_module.CategoricalCrossentropy):
            if self.loss.from_logits:
                raise ValueError(
                    "the model ends in a softmax but the loss has from_logits=True; "
                    "use one or the other"
                )
            target = ops.one_hot(y, scores.shape[-1]) if self.loss.sparse else y
            loss = ops.softmax_cross_entropy(scores, target)  # stable: never log(0)
        else:
            loss = self.loss(y, ops.softmax(scores) if are_logits else scores)
        return loss, xp.count_correct(scores.data, y)  # the softmax keeps the largest score

    def _upload(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        """The whole dataset on the model's device, once: float32 inputs, and float32 targets
        or (sparse losses) int32 labels, checked here since the device will not check them."""
        assert self.loss is not None
        xp = namespace(self.device)
        if self.loss.sparse:
            y = ops.loss.checked_labels(y, self._output_shape[-1] if self._output_shape else None)
            y = y.astype(np.int32)
        else:
            y = y.astype(np.float32, copy=False)
        return xp.asarray(x.astype(np.float32, copy=False)), xp.asarray(y)

    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        validation_split: float = 0.0,
        validation_data: tuple[Any, Any] | None = None,
        verbose: int = 1,
        callbacks: list[Callable[[int, dict[str, float]], None]] | None = None,
    ) -> History:
        """Train for ``epochs`` passes over (x, y) in mini-batches; returns a History.

        ``validation_split`` holds out the last fraction of the data (before shuffling), as
        Keras does. ``verbose``: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.
        Each callback is called as ``callback(epoch, logs)`` after every epoch.

        The data goes to the model's device once; each batch is gathered there, and the loss
        and accuracy are summed there and read back only to refresh the progress bar. If a
        loss or gradient turns NaN or infinite, that step's update is skipped on the device and
        TrainingDivergedError names the epoch and batch: the weights of the last good step stay.
        """
        if self.optimizer is None or self.loss is None:
            raise RuntimeError("fit: call model.compile(optimizer, loss) first")
        x, y = _as_input(x), np.asarray(y)
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"fit: batch_size must be a positive int, got {batch_size!r}")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        if validation_data is None and validation_split:
            split = len(x) - int(len(x) * validation_split)
            x, y, validation_data = x[:split], y[:split], (x[split:], y[split:])
        self._check_data(x, y, "fit")
        if not self.built:
            self.build(x.shape[1:])
        params = self.parameters()
        if self.device == "cpu":
            configure_for_training()
        xp = namespace(self.device)
        x_all, y_all = self._upload(x, y)
        history = History()
        for epoch in range(epochs):
            started = time.perf_counter()
            order = generator().permutation(len(x)) if shuffle else np.arange(len(x))
            order = xp.asarray(order.astype(np.int32))
            steps = math.ceil(len(x) / batch_size)
            with _progress(verbose, steps, f"Epoch {epoch + 1}/{epochs}") as bar:
                meter = _Meter(xp, bar, self.metrics)
                for step in range(steps):
                    rows = order[step * batch_size : (step + 1) * batch_size]
                    self._train_step(
                        xp, xp.take(x_all, rows), xp.take(y_all, rows), params, step, meter
                    )
                    polled = meter.poll(step + 1, force=step == steps - 1)
                    if polled is not None:
                        _raise_if_diverged(polled[1], epoch)
                totals = polled[0] if steps else np.zeros(3)
            seconds = time.perf_counter() - started
            logs = {"loss": totals[0] / max(totals[2], 1)}
            if self.metrics:
                logs["accuracy"] = totals[1] / max(totals[2], 1)
            if validation_data is not None:
                val = self.evaluate(*validation_data, batch_size=max(batch_size, 256), verbose=0)
                val = val if isinstance(val, list) else [val]
                logs["val_loss"] = val[0]
                if self.metrics:
                    logs["val_accuracy"] = val[1]
            history.append(epoch, logs, seconds)
            if verbose:
                items = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
                click.echo(f"Epoch {epoch + 1}/{epochs} - {seconds:.1f}s - {items}")
            for callback in callbacks or []:
                callback(epoch, logs)
        return history

    def warm_up(self, x: Any, y: Any) -> float:
        """Run every kernel of one training step on a batch of (x, y) without changing the
        model (the step's status is set, so the update and the totals are skipped): this
        compiles the kernels, or loads them from Numba's cache. Returns the seconds it took."""
        if self.optimizer is None or self.loss is None:
            raise RuntimeError("warm_up: call model.compile(optimizer, loss) first")
        started = time.perf_counter()
        x, y = _as_input(x), np.asarray(y)
        if not self.built:
            self.build(x.shape[1:])
        xp, params = namespace(self.device), self.parameters()
        x_all, y_all = self._upload(x, y)
        rows = xp.asarray(np.arange(len(x), dtype=np.int32))
        meter = _Meter(xp, _NoBar(), self.metrics)
        meter.status = xp.asarray(np.array([WARMING_UP, 0], dtype=np.int64))
        iterations = self.optimizer.iterations
        self._train_step(xp, xp.take(x_all, rows), xp.take(y_all, rows), params, 0, meter)
        self.optimizer.iterations = iterations
        self.optimizer.zero_grad(params)
        xp.to_numpy(meter.totals)  # waits for the device to finish
        return time.perf_counter() - started

    def _train_step(
        self, xp: Any, xb: Any, yb: Any, params: list[Tensor], step: int, meter: _Meter
    ) -> None:
        """One batch: loss, gradients, finiteness checks and the update, all on the device."""
        assert self.optimizer is not None
        loss, correct = self.compute_loss(xb, yb, training=True)
        xp.check_finite(loss.data, LOSS_NOT_FINITE, step, meter.status)
        self.optimizer.zero_grad(params)
        loss.backward()
        for param in params:
            if param.grad is not None:
                xp.check_finite(param.grad, GRADIENT_NOT_FINITE, step, meter.status)
        self.optimizer.step(params, meter.status)
        meter.add(loss, correct, len(xb))

    def evaluate(
        self, x: Any, y: Any, batch_size: int = 32, verbose: int = 1
    ) -> float | list[float]:
        """Mean loss (and accuracy, if compiled with it) over (x, y): ``[loss, acc]``."""
        if self.loss is None:
            raise RuntimeError("evaluate: call model.compile(optimizer, loss) first")
        x, y = _as_input(x), np.asarray(y)
        self._check_data(x, y, "evaluate")
        if not self.built:
            self.build(x.shape[1:])
        xp = namespace(self.device)
        x_all, y_all = self._upload(x, y)
        steps = math.ceil(len(x) / batch_size)
        with no_grad(), _progress(verbose, steps, "Evaluate") as bar:
            meter = _Meter(xp, bar, self.metrics)
            for step in range(steps):
                rows = slice(step * batch_size, (step + 1) * batch_size)
                loss, correct = self.compute_loss(x_all[rows], y_all[rows], training=False)
                meter.add(loss, correct, len(x[rows]))
                polled = meter.poll(step + 1, force=step == steps - 1)
            totals = polled[0]
        mean_loss = totals[0] / totals[2]
        if not self.metrics:
            return mean_loss
        return [mean_loss, totals[1] / totals[2]]

    def predict(self, x: Any, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """The model's outputs for x, batch by batch, as one NumPy array."""
        x = _as_input(x)
        self._check_data(x, None, "predict")
        xp = namespace(self.device)
        outputs = []
        with no_grad(), _progress(verbose, math.ceil(len(x) / batch_size), "Predict") as bar:
            for start in range(0, len(x), batch_size):
                batch = xp.asarray(x[start : start + batch_size].astype(np.float32, copy=False))
                outputs.append(xp.to_numpy(self(Tensor(batch)).data))
                bar.update(1)
        return np.concatenate(outputs)

    # ------------------------------------------------------------ save / load
    def get_config(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "name": self.name,
            "layers": [
                {"class_name": type(layer).__name__, "config": layer.get_config()}
                for layer in self.layers
            ],
            "compile": None
            if self.optimizer is None or self.loss is None
            else {
                "optimizer": self.optimizer.name,
                "optimizer_config": self.optimizer.get_config(),
                "optimizer_iterations": self.optimizer.iterations,
                "loss": self.loss.name,
                "loss_config": self.loss.get_config(),
                "metrics": self.metrics,
            },
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write architecture, weights and optimizer state to one ``.npz`` file, atomically.

        The file is written next to ``path`` under a temporary name and renamed over it, so a
        crash mid-save leaves any previous file intact. No pickle is used.
        """
        self._require_built("save")
        path = Path(path)
        arrays: dict[str, np.ndarray] = {
            "config": np.frombuffer(json.dumps(self.get_config()).encode(), dtype=np.uint8)
        }
        for i, param in enumerate(self.parameters()):
            arrays[f"param_{i}"] = _host(param.data)
        if self.optimizer is not None:
            for i, slots in enumerate(self.optimizer.slots):
                for slot, value in slots.items():
                    arrays[f"slot_{i}_{slot}"] = _host(value)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def load_model(path: str | os.PathLike) -> Sequential:
    """Read a model written by :meth:`Sequential.save` (weights, compile settings, optimizer)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_model: no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise ValueError(
            f"load_model: {path} is not a readable autoconv model file ({error})"
        ) from None
    try:
        config = json.loads(arrays.pop("config").tobytes().decode())
        if config.get("format") != FORMAT:
            raise ValueError("it is not an autoconv Sequential model")
        if config.get("version") != FORMAT_VERSION:
            raise ValueError(f"format version {config.get('version')} is not supported")
        model = Sequential(
            [layers_module.from_config(c["class_name"], c["config"]) for c in config["layers"]],
            name=config["name"],
        )
        model._require_built("load_model")
        params = model.parameters()
        for i, param in enumerate(params):
            value = arrays.get(f"param_{i}")
            if value is None or value.shape != param.shape:
                got = "missing" if value is None else f"shape {value.shape}"
                raise ValueError(f"weight {i} is {got}, expected shape {param.shape}")
            param.data = value.astype(param.dtype)
        if config.get("compile"):
            c = config["compile"]
            optimizer = optimizers_module.get(c["optimizer"], **c["optimizer_config"])
            optimizer.iterations = int(c["optimizer_iterations"])
            model.compile(
                optimizer, losses_module.LOSSES[c["loss"]](**c["loss_config"]), c["metrics"]
            )
            slots = (
                [
                    {n: arrays[f"slot_{i}_{n}"] for n in optimizer.slot_names}
                    for i in range(len(params))
                    if f"slot_{i}_{optimizer.slot_names[0]}" in arrays
                ]
                if optimizer.slot_names
                else []
            )
            if slots and len(slots) != len(params):
                raise ValueError("optimizer state is incomplete")
            optimizer.slots = slots
    except (KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"load_model: {path} is damaged or not an autoconv model ({error!r})"
        ) from None
    except ValueError as error:
        raise ValueError(f"load_model: {path}: {error}") from None
    return model


class _NoBar:
    def update(self, n: int, current_item: Any = None) -> None:
        pass


def _progress(verbose: int, length: int, label: str):
    """click's progress bar for verbose=1, a do-nothing stand-in otherwise."""
    if verbose != 1:
        return nullcontext(_NoBar())
    return click.progressbar(
        length=length,
        label=label,
        item_show_func=lambda text: text,
        show_eta=True,
        width=24,
    )


def _fmt(totals: np.ndarray, seconds: float, metrics: list[str]) -> str:
    """Progress-bar text from totals [loss*n, correct, n]."""
    loss_sum, correct, seen = totals
    text = f"loss: {loss_sum / max(seen, 1):.4f}"
    if metrics:
        text += f" - accuracy: {correct / max(seen, 1):.4f}"
    return text + f" - {seen / max(seconds, 1e-9):,.0f} samples/s"


def _raise_if_diverged(status: np.ndarray, epoch: int) -> None:
    code, step = int(status[0]), int(status[1])
    if code == LOSS_NOT_FINITE:
        raise TrainingDivergedError(
            f"the loss became NaN or infinite at epoch {epoch + 1}, batch {step + 1}; training "
            "stopped and the weights of the last good step were kept (try a smaller learning "
            "rate, or check the data for NaN)"
        )
    if code == GRADIENT_NOT_FINITE:
        raise TrainingDivergedError(
            f"a gradient became non-finite at epoch {epoch + 1}, batch {step + 1}; training "
            "stopped and the weights of the last good step were kept"
        )
