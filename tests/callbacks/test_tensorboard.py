"""callbacks.TensorBoard: the event files, read back with TensorBoard's own reader
(EventAccumulator), hold Keras's runs, tags, steps and the values of the History."""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np
import pytest

from autoconv import callbacks, layers, models

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

STEPS = 4  # batches per epoch: 16 samples in batches of 4; validation: 8 samples, 2 batches


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((16, 4), dtype=np.float32), rng.integers(0, 2, 16)


def tiny_model(library=models, layer_library=layers):
    """The same small classifier in autoconv or in Keras, its names given (Keras numbers the
    automatic names for the whole session)."""
    model = library.Sequential(
        [
            layer_library.Input((4,)),
            layer_library.Dense(3, activation="relu", name="hidden"),
            layer_library.Dense(2, activation="softmax", name="out"),
        ],
        name="net",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(model, board, epochs: int = 2, validation: bool = True):
    x, y = data()
    validation_data = (x[:8], y[:8]) if validation else None
    return model.fit(
        x, y, batch_size=4, epochs=epochs, validation_data=validation_data, verbose=0,
        callbacks=[board],
    )  # fmt: skip


def read(folder) -> event_accumulator.EventAccumulator:
    """Every event of one run, as TensorBoard loads them."""
    everything = {kind: 0 for kind in ("scalars", "histograms", "images", "tensors")}
    events = event_accumulator.EventAccumulator(str(folder), size_guidance=everything)
    events.Reload()
    return events


def scalars(events, tag: str) -> tuple[list[int], list[float]]:
    found = events.Scalars(tag)
    return [e.step for e in found], [e.value for e in found]


def float32(values) -> list[float]:
    return [float(np.float32(v)) for v in values]


def written(log_dir) -> set[tuple[str, str, int]]:
    """(run, tag, step) of every summary under ``log_dir``."""
    found = set()
    for run in ("train", "validation"):
        if not (log_dir / run).is_dir():
            continue
        events = read(log_dir / run)
        for tag in events.Tags()["scalars"]:
            found |= {(run, tag, e.step) for e in events.Scalars(tag)}
        for tag in events.Tags()["histograms"]:
            found |= {(run, tag, e.step) for e in events.Histograms(tag)}
        for tag in events.Tags()["images"]:
            found |= {(run, tag, e.step) for e in events.Images(tag)}
    return found


def test_epoch_scalars_are_the_history_in_train_and_validation_runs(tmp_path):
    model = tiny_model()
    history = fit(model, callbacks.TensorBoard(tmp_path), epochs=3).history
    train, validation = read(tmp_path / "train"), read(tmp_path / "validation")
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert set(validation.Tags()["scalars"]) == {
        "epoch_loss", "epoch_accuracy",
        "evaluation_loss_vs_iterations", "evaluation_accuracy_vs_iterations",
    }  # fmt: skip
    for name in ("loss", "accuracy"):
        assert scalars(train, f"epoch_{name}") == ([0, 1, 2], float32(history[name]))
        val = float32(history[f"val_{name}"])
        assert scalars(validation, f"epoch_{name}") == ([0, 1, 2], val)
        # after each validation, at the optimizer's iterations
        iterations = [STEPS, 2 * STEPS, 3 * STEPS]
        assert scalars(validation, f"evaluation_{name}_vs_iterations") == (iterations, val)
    assert scalars(train, "epoch_learning_rate") == ([0, 1, 2], float32([0.001] * 3))
    assert not train.Tags()["histograms"] and not train.Tags()["graph"]


@pytest.mark.parametrize(("update_freq", "steps"), [("batch", [1, 2, 3, 4, 5, 6, 7, 8]),
                                                    (2, [2, 4, 6, 8]), (3, [3, 6])])  # fmt: skip
def test_batch_scalars_every_update_freq_batches(tmp_path, update_freq, steps):
    """batch_<name>: the running logs of the epoch, at the batch count over the whole fit."""
    history = fit(tiny_model(), callbacks.TensorBoard(tmp_path, update_freq=update_freq)).history
    train = read(tmp_path / "train")
    assert {"batch_loss", "batch_accuracy"} <= set(train.Tags()["scalars"])
    logged, values = scalars(train, "batch_loss")
    assert logged == steps
    for step, value in zip(logged, values, strict=True):
        if step % STEPS == 0:  # an epoch's last batch: the epoch's loss
            assert value == np.float32(history["loss"][step // STEPS - 1])
    assert scalars(train, "epoch_loss")[0] == [0, 1]  # epoch summaries at every epoch


def test_histograms_and_images_of_every_weight(tmp_path):
    model = tiny_model()
    fit(model, callbacks.TensorBoard(tmp_path, histogram_freq=2, write_images=True), epochs=3)
    train = read(tmp_path / "train")
    weights = [w for layer in model.layers for w in layer.weights]
    assert set(train.Tags()["histograms"]) == {f"{w.path}/histogram" for w in weights}
    assert "net/hidden/kernel/histogram" in train.Tags()["histograms"]
    for weight in weights:
        events = train.Histograms(f"{weight.path}/histogram")
        assert [e.step for e in events] == [0, 2]
        last = events[-1].histogram_value  # the weights at the end of the last epoch
        values = weight.numpy()
        assert (last.num, last.min, last.max) == (values.size, values.min(), values.max())
    assert set(train.Tags()["images"]) == {f"{w.path}/image" for w in weights}
    # as Keras draws them: a kernel with its longer side across, a bias as a column
    kernel, bias = train.Images("net/hidden/kernel/image")[0], train.Images("net/out/bias/image")[0]
    assert (kernel.height, kernel.width) == (3, 4) and (bias.height, bias.width) == (2, 1)


def test_steps_per_second(tmp_path):
    board = callbacks.TensorBoard(tmp_path, write_steps_per_second=True, update_freq="batch")
    fit(tiny_model(), board)
    train = read(tmp_path / "train")
    assert scalars(train, "epoch_steps_per_second")[0] == [0, 1]
    assert scalars(train, "batch_steps_per_second")[0] == list(range(1, 2 * STEPS + 1))
    assert min(scalars(train, "epoch_steps_per_second")[1]) > 0


def test_evaluate_writes_the_evaluation_scalars(tmp_path):
    model = tiny_model()
    board = callbacks.TensorBoard(tmp_path)
    fit(model, board, epochs=1, validation=False)
    assert not (tmp_path / "validation").exists()
    x, y = data()
    result = model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[board], return_dict=True)
    validation = read(tmp_path / "validation")
    logged = scalars(validation, "evaluation_loss_vs_iterations")
    assert logged == ([STEPS], float32([result["loss"]]))


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"profile_batch": 2}, ValueError, "profile_batch=2"),
        ({"profile_batch": (1, 3)}, ValueError, "profile_batch"),
        ({"embeddings_freq": 1}, NotImplementedError, "embeddings_freq=1"),
        ({"embeddings_metadata": "words.tsv"}, NotImplementedError, "embeddings_metadata"),
        ({"update_freq": "step"}, ValueError, "update_freq"),
        ({"update_freq": 0}, ValueError, "update_freq"),
        ({"histogram_freq": -1}, ValueError, "histogram_freq"),
    ],
)
def test_unsupported_or_bad_arguments_fail_at_construction(tmp_path, arguments, error, message):
    with pytest.raises(error, match=message):
        callbacks.TensorBoard(tmp_path, **arguments)


@pytest.mark.parametrize("write_graph", [True, False])
def test_write_graph_is_accepted_and_writes_no_graph(tmp_path, write_graph):
    fit(tiny_model(), callbacks.TensorBoard(tmp_path, write_graph=write_graph), epochs=1)
    assert not read(tmp_path / "train").Tags()["graph"]


def test_without_tensorboardx_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "autoconv\[tensorboard\]"'):
        callbacks.TensorBoard(tmp_path)


def test_a_log_dir_that_cannot_be_made_fails_before_the_first_step(tmp_path):
    (tmp_path / "file").write_text("")
    model = tiny_model()
    with pytest.raises(OSError, match="TensorBoard cannot create the log folder"):
        fit(model, callbacks.TensorBoard(tmp_path / "file" / "logs"))
    assert model.optimizer.iterations == 0


def test_only_process_0_writes():
    assert callbacks.TensorBoard.process_0_only


# ------------------------------------------------------------------ against real Keras
class RecordedSummary:
    """Stands in for ``tensorflow.summary`` under Keras's callback, which reaches it only
    through its ``summary`` property (``self._summary_module``, keras/src/callbacks/
    tensorboard.py), so Keras runs without TensorFlow. It records (run, tag, step) of what would
    be written by TensorFlow's rules: a summary goes to the default writer (``as_default``),
    when the innermost ``record_if`` condition holds."""

    def __init__(self) -> None:
        self.written: set[tuple[str, str, int]] = set()
        self.defaults: list[str] = []
        self.conditions: list = []

    def create_file_writer(self, logdir: str) -> RecordedWriter:
        return RecordedWriter(self, os.path.basename(logdir))

    @contextlib.contextmanager
    def record_if(self, condition):
        self.conditions.append(condition)
        try:
            yield
        finally:
            self.conditions.pop()

    def scalar(self, name, data, step) -> None:
        if self.defaults and (not self.conditions or self.conditions[-1]()):
            self.written.add((self.defaults[-1], name, int(step)))

    histogram = image = scalar


class RecordedWriter:
    def __init__(self, summary: RecordedSummary, run: str) -> None:
        self.summary, self.run = summary, run

    @contextlib.contextmanager
    def as_default(self, step=None):
        self.summary.defaults.append(self.run)
        try:
            yield
        finally:
            self.summary.defaults.pop()

    def flush(self) -> None: ...
    def close(self) -> None: ...


# Keras on PyTorch converts its tensors with NumPy 2's deprecated __array__ signature.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("update_freq", ["epoch", 2])
def test_the_same_summaries_as_keras(tmp_path, update_freq):
    """Every (run, tag, step) Keras 3.15's callback writes, autoconv writes, and no other. With
    4 training and 2 validation batches per epoch, TensorFlow's record_if (which Keras leaves
    on after a batch) drops nothing at update_freq=2; autoconv never drops epoch summaries."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    options = {"histogram_freq": 1, "write_images": True, "write_steps_per_second": True,
               "update_freq": update_freq}  # fmt: skip
    # Keras writes its model-config summary with TensorFlow itself: no graph, on both sides
    theirs = keras.callbacks.TensorBoard(tmp_path / "keras", write_graph=False, **options)
    theirs._summary_module = RecordedSummary()
    fit(tiny_model(keras, keras.layers), theirs, epochs=2)
    fit(tiny_model(), callbacks.TensorBoard(tmp_path / "autoconv", **options), epochs=2)
    assert written(tmp_path / "autoconv") == theirs._summary_module.written
