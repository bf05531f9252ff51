"""The training loop (autoconv/training.py) behind fit, evaluate, predict and the *_on_batch
methods: Keras 3's signatures and numbers (tests/keras_reference/training.json, computed by
Keras 3 on JAX for the same weights and data), the progress display, the divergence guard,
and argument errors before any work; and the reference model really learns MNIST.

(Over ~600 lines on purpose: one module's loop, its cases sharing the recorded Keras reference and
the helpers at the top.)
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.course import prepare, reference_model

KERAS = json.loads((Path(__file__).parent / "keras_reference" / "training.json").read_text())


def weights_for(model):
    return [
        (np.sin(np.arange(np.prod(w.shape)) * 0.37 + i) * 0.3).reshape(w.shape).astype("float32")
        for i, w in enumerate(model.weights)
    ]


def data():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 4)).astype("float32")
    labels = rng.integers(0, 3, 40)
    binary = (x[:, 0] + 0.3 * rng.standard_normal(40) > 0).astype("float32")
    weights = rng.uniform(0.1, 2.0, 40).astype("float32")
    return x, labels, binary, weights


def classifier():
    model = ac.Sequential(
        [ac.Input((4,)), layers.Dense(6, activation="relu"), layers.Dense(3, activation="softmax")]
    )
    model.set_weights(weights_for(model))
    return model


def binary_model():
    model = ac.Sequential(
        [ac.Input((4,)), layers.Dense(5, activation="tanh"), layers.Dense(1, activation="sigmoid")]
    )
    model.set_weights(weights_for(model))
    return model


def assert_like_keras(case, model, history, x, y):
    keras = KERAS[case]
    assert list(history.history) == list(keras["history"])
    for key, values in keras["history"].items():
        np.testing.assert_allclose(history.history[key], values, rtol=2e-5, err_msg=key)
    assert history.epoch == keras["epochs"]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(list(logs.values()), list(keras["evaluate"].values()), rtol=2e-5)
    for ours, theirs in zip(model.get_weights(), keras["weights"], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


SPARSE = "sparse_categorical_crossentropy"


def test_fit_takes_batch_size_then_epochs_positionally_as_keras():
    x, labels, _, _ = data()
    model = classifier()
    model.compile("sgd", SPARSE, metrics=["accuracy"])
    history = model.fit(x, labels, 16, 2, 0, None, 0.0, None, False)  # Keras's positional order
    assert_like_keras("positional", model, history, x, labels)


def test_batch_size_none_means_32():
    x, labels, _, _ = data()
    model = classifier()
    model.compile("sgd", SPARSE)
    history = model.fit(x, labels, epochs=1, verbose=0, shuffle=False)
    assert_like_keras("default_batch", model, history, x, labels)


def test_validation_split_and_the_one_line_per_epoch_log(capsys):
    x, labels, _, _ = data()
    model = classifier()
    model.compile("adam", SPARSE, metrics=["accuracy"])
    history = model.fit(x, labels, 8, 2, verbose=2, validation_split=0.25, shuffle=False)
    assert_like_keras("validation_split", model, history, x, labels)
    printed = capsys.readouterr().out
    # Keras's verbose=2 line, plus the samples per second
    pattern = (
        r"Epoch 1/2\n4/4 - \d+s - \d+[mu]?s/step - accuracy: 0\.1333 - loss: 1\.1308 - "
        r"val_accuracy: 0\.5000 - val_loss: 1\.0665 - [\d,]+ samples/s\nEpoch 2/2\n"
    )
    assert re.match(pattern, printed), printed
    keras_line = KERAS["validation_split"]["printed"].splitlines()[1]
    ours = printed.splitlines()[1]
    assert ours.split(" - ")[3:7] == keras_line.split(" - ")[3:7]


def test_sample_weight_weights_the_loss_and_not_the_metrics_as_keras():
    x, labels, _, weights = data()
    model = classifier()
    model.compile("sgd", SPARSE, metrics=["accuracy"])
    history = model.fit(x, labels, 10, 1, verbose=0, sample_weight=weights, shuffle=False)
    assert_like_keras("sample_weight", model, history, x, labels)


def test_a_weight_per_timestep_weights_a_sequences_losses_as_keras():
    """sample_weight of shape (samples, timesteps) beside per-timestep sparse labels (keras.io's
    masked language model weights only its masked tokens), in arrays and in a dataset's
    batches; the numbers are Keras 3.15's for the same weights and data."""
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 10, (8, 5)), rng.integers(0, 6, (8, 5))
    w = (rng.random((8, 5)) > 0.4).astype("float32")
    inputs = ac.Input((5,), dtype="int64")
    outputs = layers.Dense(6, activation="softmax")(layers.Embedding(10, 4)(inputs))
    model = ac.Model(inputs, outputs)
    model.set_weights(weights_for(model))
    model.compile("sgd", SPARSE, weighted_metrics=["accuracy"])
    history = model.fit(x, y, 4, 2, verbose=0, sample_weight=w, shuffle=False)
    np.testing.assert_allclose(history.history["loss"], [1.09495306, 1.09439039], rtol=1e-6)
    np.testing.assert_allclose(history.history["accuracy"], [0.2, 0.2], rtol=1e-6)
    logs = model.evaluate(
        ac.data.Dataset.from_tensor_slices((x, y, w)).batch(4), verbose=0, return_dict=True
    )
    np.testing.assert_allclose(logs["loss"], 1.09388423, rtol=1e-6)


def test_class_weight_as_keras():
    x, labels, _, _ = data()
    model = classifier()
    model.compile("sgd", SPARSE)
    history = model.fit(
        x, labels, 10, 1, verbose=0, class_weight={0: 1.0, 1: 3.0, 2: 0.5}, shuffle=False
    )
    assert_like_keras("class_weight", model, history, x, labels)


def test_binary_classification_with_a_sigmoid_unit_uses_binary_accuracy():
    x, _, binary, _ = data()
    model = binary_model()
    model.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, binary, 8, 2, verbose=0, shuffle=False)
    assert_like_keras("binary", model, history, x, binary)
    assert type(model.metrics[1].metrics[0]).__name__ == "BinaryAccuracy"


def test_initial_epoch_continues_the_count():
    x, labels, _, _ = data()
    model = classifier()
    model.compile("sgd", SPARSE)
    history = model.fit(x, labels, 16, 3, verbose=0, initial_epoch=1, shuffle=False)
    assert_like_keras("initial_epoch", model, history, x, labels)


def test_train_test_and_predict_on_batch_as_keras():
    keras = KERAS["on_batch"]
    x, labels, _, _ = data()
    model = classifier()
    model.compile("sgd", SPARSE, metrics=["accuracy"])
    np.testing.assert_allclose(model.train_on_batch(x[:16], labels[:16]), keras["train"], rtol=1e-5)
    test = model.test_on_batch(x[16:32], labels[16:32], return_dict=True)
    assert list(test) == list(keras["test"])
    np.testing.assert_allclose(list(test.values()), list(keras["test"].values()), rtol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(x[:3]), keras["predict"], rtol=1e-5)
    np.testing.assert_allclose(model.evaluate(x, labels, verbose=0),
                               keras["evaluate_default_batch"], rtol=1e-5)  # fmt: skip


def test_a_batch_on_batch_may_hold_inputs_of_other_row_counts_as_keras_takes_it():
    """keras.io's graph examples' batch: a graph's 6 nodes and 4 edges, a target per graph
    (the *_on_batch methods take one batch, whose inputs Keras does not count)."""

    class Messages(layers.Layer):
        def call(self, inputs):
            nodes, edges = inputs
            edges = ac.ops.cast(edges, "int32")  # (integer inputs come as floats: see docs)
            sent = ac.ops.take(nodes, edges[:, 1], axis=0)
            return ac.ops.segment_sum(sent, edges[:, 0] // 3, num_segments=2)

    nodes, edges = ac.Input((2,)), ac.Input((2,), dtype="int32")
    model = ac.Model([nodes, edges], layers.Dense(1)(Messages()([nodes, edges])))
    model.compile(ac.optimizers.SGD(0.0), "mse")
    x = [
        np.linspace(-1, 1, 12, dtype="float32").reshape(6, 2),
        np.array([[0, 1], [1, 2], [3, 4], [4, 5]]),
    ]
    y = np.array([[0.5], [-1.0]], "float32")
    expected = np.mean((model.predict_on_batch(x) - y) ** 2)
    np.testing.assert_allclose([model.train_on_batch(x, y), model.test_on_batch(x, y)], expected,
                               rtol=1e-6)  # fmt: skip


def test_train_on_batch_refuses_sample_and_class_weights_together_as_keras():
    x, labels, _, weights = data()
    model = classifier()
    model.compile("sgd", SPARSE)
    with pytest.raises(ValueError, match="You cannot `class_weight` and `sample_weight`"):
        model.train_on_batch(x, labels, sample_weight=weights, class_weight={0: 2.0})


def test_the_progress_bar_redraws_one_line_on_a_terminal(monkeypatch, capsys):
    from autoconv import training
    from autoconv.callbacks import base

    for module in (base, training):  # the bar's choice and verbose="auto"'s
        monkeypatch.setattr(module, "interactive", lambda: True)
    monkeypatch.setattr(training, "SYNC_SECONDS", 0.0)  # redraw after every batch
    x, labels, _, _ = data()
    model = classifier()
    model.compile("sgd", SPARSE, metrics=["accuracy"])
    model.fit(x, labels, batch_size=10, epochs=1)  # verbose="auto": a bar on a terminal
    out = capsys.readouterr().out
    assert out.count("\r") == 5 and out.endswith("\n")  # 4 batches, then the final line
    final = out.split("\r")[-1]
    assert re.match(
        r"4/4 \x1b\[32m━{20}\x1b\[0m\x1b\[37m\x1b\[0m \d+s \d+[mu]?s/step - accuracy: ", final
    )
    assert "samples/s" in final and "Epoch" not in out  # one epoch: no "Epoch 1/1" (Keras)


@pytest.mark.parametrize("steps", [None, 2])
def test_evaluate_and_predict_print_keras_s_line(capsys, steps):
    """Keras 3's evaluate and predict end with the bar's line: verbose=2's ``4/4 - 0s -
    3ms/step - accuracy: ... - loss: ...`` (predict's without metrics), verbose=1's bar where
    the output is a log (plus, as fit's lines, the samples per second); ``steps`` counts."""
    x, labels, _, _ = data()
    model = classifier()
    model.compile("sgd", SPARSE, metrics=["accuracy"])
    n = steps or 4
    logs = model.evaluate(x, labels, batch_size=10, verbose=2, steps=steps, return_dict=True)
    line = capsys.readouterr().out
    metrics = f"accuracy: {logs['accuracy']:.4f} - loss: {logs['loss']:.4f}"
    assert re.fullmatch(rf"{n}/{n} - \d+s - \d+[mu]?s/step - {metrics} - [\d,]+ samples/s\n", line)
    model.predict(x, batch_size=10, verbose=2, steps=steps)
    line = capsys.readouterr().out
    assert re.fullmatch(rf"{n}/{n} - \d+s - \d+[mu]?s/step - [\d,]+ samples/s\n", line), line
    model.evaluate(x, labels, batch_size=10, verbose=1, steps=steps)
    line = capsys.readouterr().out
    assert re.fullmatch(
        rf"{n}/{n} ━{{20}} \d+s \d+[mu]?s/step - {metrics} - [\d,]+ samples/s\n", line
    )


def test_verbose_zero_prints_nothing(capsys):
    x, labels, _, _ = data()
    model = classifier()
    model.compile("sgd", SPARSE)
    model.fit(x, labels, epochs=2, verbose=0)
    model.evaluate(x, labels, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive int or None"),
        ({"batch_size": 2.5}, "batch_size must be a positive int or None"),
        ({"epochs": -1}, "epochs must be an int >= 0"),
        ({"validation_split": 1.0}, r"validation_split must be in \[0, 1\)"),
        ({"validation_split": 1e-17}, "not sufficient to split it into a validation and training"),
        ({"validation_data": (np.zeros((2, 4)),)}, "validation_data: no targets"),
        ({"validation_data": (np.zeros((2, 4)),) * 4}, "validation_data must be x, "),
        ({"validation_data": (np.zeros((2, 5)), np.zeros(2))}, r"samples of shape \(5,\)"),
        ({"verbose": 3}, "verbose must be 0, 1, 2 or 'auto'"),
        ({"sample_weight": np.ones(3)}, r"the weights of 40 samples, shape \(40,\) or \(40, ...\)"),
        (
            {"sample_weight": np.ones(40), "class_weight": {0: 2.0}},  # Keras's refusal
            "You cannot `class_weight` and `sample_weight` at the same time",
        ),
        ({"callbacks": [lambda epoch, logs: None]}, "LambdaCallback"),
        ({"steps_per_epoch": 0}, "steps_per_epoch must be an int >= 1"),
    ],
)
def test_fit_arguments_are_checked_before_any_step(kwargs, message):
    x, labels, _, _ = data()
    model = classifier()
    model.compile("sgd", SPARSE)
    before = model.get_weights()
    with pytest.raises((ValueError, TypeError), match=message):
        model.fit(x, labels, **kwargs)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("wrap", [lambda x: x, lambda x: (x,), lambda x: [x]])
def test_validation_data_may_be_x_alone_for_a_models_own_test_step(wrap):
    """As Keras's fit: validation_data is unpacked as a step's data, so x alone (or (x,))
    reaches a test_step that needs no targets (a generative model's)."""

    class Own(ac.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.tracker = ac.metrics.Mean(name="out")

        @property
        def metrics(self):
            return [self.tracker]

        def train_step(self, data):
            self.tracker.update_state(self(data))
            return {"out": self.tracker.result()}

        def test_step(self, data):
            return self.train_step(data)

    inputs = ac.Input((4,))
    model = Own(inputs=inputs, outputs=layers.Dense(1)(inputs))
    model.compile("sgd")
    x, _, _, _ = data()
    history = model.fit(x[:8], validation_data=wrap(x[8:]), batch_size=4, verbose=0).history
    assert list(history) == ["out", "val_out"]
    np.testing.assert_allclose(history["val_out"], [model.predict(x[8:], verbose=0).mean()],
                               rtol=1e-5)  # fmt: skip


def test_evaluate_and_predict_take_batch_size_none():
    x, labels, _, _ = data()
    model = classifier()
    model.compile("sgd", SPARSE)
    assert np.isfinite(model.evaluate(x, labels, batch_size=None, verbose=0))
    assert model.predict(x, batch_size=None, verbose=0).shape == (40, 3)
    with pytest.raises(ValueError, match="batch_size must be a positive int or None"):
        model.predict(x, batch_size=-1)


def test_a_subclassed_model_fits_batches_with_validation_arrays():
    """keras.io's consistency training: a subclassed model fits a PyDataset with
    ``validation_data`` as arrays; the validation arrays came first to the model, unbuilt."""

    class Net(ac.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3)
    y = np.stack([x.sum(1), x[:, 0]], 1)

    class Batches(ac.utils.PyDataset):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int):
            return x[4 * i : 4 * i + 4], y[4 * i : 4 * i + 4]

    model = Net()
    model.compile("sgd", "mse")
    history = model.fit(Batches(), validation_data=(x, y), epochs=2, verbose=0)
    assert list(history.history) == ["loss", "val_loss"]
    assert np.isfinite(history.history["val_loss"]).all()


@pytest.mark.parametrize("batch_size", [4, 32])
def test_predict_joins_outputs_whose_rows_are_not_the_samples_as_keras(keras, batch_size):
    """A model that reshapes its batch (keras.io's clustering learner: (-1, 2, 4) of (N, 4)) or
    sums over it gives other rows than samples: predict joins its batches' rows, as Keras's,
    beside an output of a row per sample."""

    def build(lib):
        inputs = lib.Input((4,))
        pairs = lib.ops.reshape(inputs, (-1, 2, 4))
        total = lib.ops.sum(inputs, axis=0, keepdims=True)
        return lib.Model(inputs, [lib.ops.square(inputs), pairs, total])

    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    got = build(ac).predict(x, batch_size=batch_size, verbose=0)
    want = build(keras).predict(x, batch_size=batch_size, verbose=0)
    assert [g.shape for g in got] == [tuple(w.shape) for w in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("loss", [SPARSE, ac.losses.SparseCategoricalCrossentropy(ignore_class=1)])
def test_sparse_labels_of_shape_n_by_1_are_accepted(loss):
    x, labels, _, _ = data()
    model = classifier()
    sparse_metrics = ["accuracy", ac.metrics.SparseTopKCategoricalAccuracy(k=2), SPARSE]
    model.compile("sgd", loss, metrics=sparse_metrics)
    flat = model.evaluate(x, labels, verbose=0)
    for column in (labels[:, None], labels[:, None].astype("float32")):
        np.testing.assert_allclose(model.evaluate(x, column, verbose=0), flat)


@pytest.mark.parametrize("loss", ["categorical_crossentropy", ac.losses.CategoricalCrossentropy()])
@pytest.mark.parametrize("call", ["fit", "evaluate", "dataset", "validation_data"])
def test_categorical_targets_below_zero_are_refused_before_training(loss, call):
    x, labels, _, _ = data()
    y = ac.utils.to_categorical(labels, 3)
    y[3, 0] = -1.0
    model = classifier()
    model.compile("sgd", loss)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"categorical_crossentropy: y_true holds values below"):
        if call == "fit":
            model.fit(x, y, verbose=0)
        elif call == "evaluate":
            model.evaluate(x, y, verbose=0)
        elif call == "dataset":
            model.fit(ac.data.Dataset.from_tensor_slices((x, y)).batch(8), verbose=0)
        else:
            model.fit(x, np.abs(y), validation_data=(x, y), verbose=0)
    for weight, old in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(weight, old)


@pytest.mark.parametrize("column", [False, True], ids=["(1,)", "(1, 1)"])
def test_sparse_labels_of_one_sample_keep_their_batch_axis(column):
    """One sample's labels, (1,) or (1, 1): a batch of one (autoconv took the (1,) vector for a
    column and made it 0-d: evaluate failed on it, and fit on a dataset's last batch of one)."""
    x, labels, _, _ = data()
    model = classifier()
    model.compile("sgd", SPARSE, metrics=["accuracy"])
    one = labels[:1, None] if column else labels[:1]
    loss, accuracy = model.evaluate(x[:1], one, verbose=0)
    assert np.isfinite(loss) and accuracy in (0.0, 1.0)
    dataset = ac.data.Dataset.from_tensor_slices((x[:33], labels[:33])).batch(32)
    history = model.fit(dataset, epochs=1, verbose=0)  # its last batch holds one sample
    assert np.isfinite(history.history["loss"][0])


def test_reference_model_learns_mnist_quickly():
    ac.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = ac.datasets.mnist.load_data(download=False)
    x_train, y_train = prepare(x_train[:4000], y_train[:4000], "mnist")
    x_test, y_test = prepare(x_test[:1000], y_test[:1000], "mnist")
    model = reference_model()
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
    assert history.history["accuracy"][1] > history.history["accuracy"][0]
    assert accuracy > 0.90, f"test accuracy {accuracy:.3f} after 2 epochs on 4000 samples"


# ------------------------------------------------------------------------- datasets
def tiny_folder(tmp_path, per_class=12):
    """Two classes of 8x8 images (bright or dark), written as PNG files."""
    from PIL import Image

    rng = np.random.default_rng(9)
    for label, (low, high) in enumerate([(0, 30), (225, 255)]):
        folder = tmp_path / f"class_{label}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(low, high, (8, 8), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return tmp_path


def folder_model():
    model = ac.Sequential([layers.Rescaling(1 / 255, input_shape=(8, 8, 1)), layers.Flatten(),
                           layers.Dense(2)])  # fmt: skip
    loss = ac.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(ac.optimizers.Adam(0.02), loss, metrics=["accuracy"])
    return model


def test_fit_evaluate_and_predict_take_an_image_folder_dataset(tmp_path):
    ac.utils.set_random_seed(0)
    train, val = ac.utils.image_dataset_from_directory(
        tiny_folder(tmp_path), validation_split=0.25, subset="both", seed=3,
        image_size=(8, 8), color_mode="grayscale", batch_size=4,
    )  # fmt: skip
    model = folder_model()
    history = model.fit(train, validation_data=val, epochs=6, verbose=0)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["val_accuracy"][-1] == 1.0  # bright vs dark: easy
    images, labels = zip(*val.as_numpy_iterator(), strict=True)
    x, y = np.concatenate(images), np.concatenate(labels)
    np.testing.assert_allclose(model.evaluate(val, verbose=0), model.evaluate(x, y, verbose=0),
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(model.predict(val, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)  # fmt: skip


def test_a_dataset_that_repeats_needs_steps_per_epoch(tmp_path):
    data = ac.data.Dataset.from_tensor_slices((np.ones((8, 8, 8, 1)), np.zeros(8))).batch(4)
    model = folder_model()
    with pytest.raises(ValueError, match="repeats forever; give steps_per_epoch"):
        model.fit(data.repeat(), epochs=1, verbose=0)
    history = model.fit(data.repeat(), epochs=2, steps_per_epoch=3, verbose=0)
    assert model.optimizer.iterations == 6 and len(history.history["loss"]) == 2
    with pytest.raises(ValueError, match=r"predict: the dataset repeats forever; give steps$"):
        model.predict(data.repeat(), verbose=0)
    assert model.predict(data.repeat(), steps=3, verbose=0).shape == (12, *model.output_shape[1:])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y": np.zeros(8)}, "y must not be given when x is a dataset"),
        ({"validation_split": 0.2}, "validation_split is only supported for arrays"),
    ],
)
def test_what_keras_refuses_with_a_dataset(kwargs, message):
    data = ac.data.Dataset.from_tensor_slices((np.ones((8, 8, 8, 1)), np.zeros(8))).batch(4)
    with pytest.raises(ValueError, match=message):
        folder_model().fit(data, verbose=0, **kwargs)


def _weighted_fit(x, y, **kwargs):
    model = ac.Sequential([ac.Input((3,)), layers.Dense(2, activation="softmax")])
    model.set_weights([np.full((3, 2), 0.1, np.float32), np.zeros(2, np.float32)])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model.fit(x, y, epochs=2, shuffle=False, verbose=0, **kwargs).history


def test_a_dataset_takes_class_weight_as_arrays_do():
    x = np.cos(np.arange(36)).reshape(12, 3).astype("float32")
    y = np.arange(12) % 2
    weights = {0: 0.25, 1: 3.0}
    data = ac.data.Dataset.from_tensor_slices((x, y)).batch(4)
    through_dataset = _weighted_fit(data, None, class_weight=weights)
    arrays = _weighted_fit(x, y, batch_size=4, class_weight=weights)
    np.testing.assert_allclose(through_dataset["loss"], arrays["loss"], rtol=1e-6)
    assert through_dataset["loss"] != _weighted_fit(data, None)["loss"]


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_batch_size_with_a_dataset_is_ignored_with_a_warning(call):
    """As Keras ignores it (keras.io's training guide passes one with its batches)."""
    x, y = np.ones((8, 8, 8, 1), np.float32), np.zeros(8)
    data = ac.data.Dataset.from_tensor_slices((x, y)).batch(4)
    model = folder_model()
    with pytest.warns(UserWarning, match=rf"^{call}: batch_size=3 is ignored: x is a dataset, "
                      "which makes its own batches$") as caught:  # fmt: skip
        getattr(model, call)(data, batch_size=3, verbose=0)
    assert caught[0].filename == __file__
    assert model.predict(data, verbose=0).shape == (8, *model.output_shape[1:])


@pytest.mark.filterwarnings("ignore:Your input ran out of data")  # (Keras's, at the end)
def test_fits_shuffle_beside_data_that_shuffles_itself_warns_as_keras(keras):
    """fit's ``shuffle=True`` (its default) cannot reorder a dataset's or a generator's batches:
    Keras's warning says it is ignored (its words, recorded from keras.io's examples); not with
    ``shuffle=False``, nor for a PyDataset of known length, whose batches are reordered."""
    x, y = np.ones((8, 8, 8, 1), np.float32), np.zeros(8)
    model = folder_model()
    model.compile("sgd", "sparse_categorical_crossentropy")
    data = ac.data.Dataset.from_tensor_slices((x, y)).batch(4)
    said = "`shuffle=True` was passed, but will be ignored since the data `x` was provided as"
    with pytest.warns(UserWarning, match=re.escape(f"{said} a Dataset. The Dataset is expected "
                      "to already be shuffled (via `.shuffle(buffer_size)`).")):  # fmt: skip
        model.fit(data, verbose=0)
    keras_model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    keras_model.compile("sgd", "mse")
    for fit in (model.fit, keras_model.fit):
        batches = ((x[:4, :1, 0, 0] if fit == keras_model.fit else x[:4], y[:4]) for _ in "ab")
        with pytest.warns(UserWarning, match=re.escape(f"{said} a generator. The generator is "
                          "expected to yield already-shuffled data.")):  # fmt: skip
            fit(batches, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(data, verbose=0, shuffle=False)


def test_warm_up_changes_neither_the_weights_nor_the_random_draws_that_follow(rng):
    """The CLI warms up before timing; the run after it must be the run without it."""
    x = rng.standard_normal((8, 4)).astype(np.float32) * 3 + 1
    y = ac.utils.to_categorical(np.arange(8) % 2, 2)
    runs = []
    for warm in (False, True):
        ac.utils.set_random_seed(5)
        model = ac.Sequential(
            [
                layers.Input(shape=(4,)),
                layers.Dense(6),
                layers.BatchNormalization(),
                layers.Dropout(0.5),
                layers.Dense(2, activation="softmax"),
            ]
        )
        model.compile("adam", "categorical_crossentropy")
        if warm:
            before = model.get_weights()
            ac.training.warm_up(model, x, y)
            for kept, weight in zip(before, model.get_weights(), strict=True):
                np.testing.assert_array_equal(kept, weight)  # moving statistics included
        model.fit(x, y, batch_size=4, epochs=2, verbose=0)
        runs.append(model.get_weights())
    for cold, warmed in zip(*runs, strict=True):
        np.testing.assert_array_equal(cold, warmed)


# ------------------------------------------------------------- steps_per_execution
class BatchHooks(ac.callbacks.Callback):
    """Which batch hooks ran, with which indices (and predict's outputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []
        self.outputs: list[np.ndarray] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(("train_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("train_end", batch))
        assert set(logs) == {"accuracy", "loss"}

    def on_test_batch_begin(self, batch, logs=None):
        self.calls.append(("test_begin", batch))

    def on_test_batch_end(self, batch, logs=None):
        self.calls.append(("test_end", batch))

    def on_predict_batch_begin(self, batch, logs=None):
        self.calls.append(("predict_begin", batch))

    def on_predict_batch_end(self, batch, logs=None):
        self.calls.append(("predict_end", batch))
        self.outputs.append(logs["outputs"])


def hooks(calls, kind):
    return [(what.split("_")[1], batch) for what, batch in calls if what.startswith(kind)]


@pytest.mark.parametrize(
    ("every", "begins", "ends"),
    [(1, list(range(5)), list(range(5))), (2, [0, 2, 4], [1, 3, 4]), (3, [0, 3], [2, 4]),
     (9, [0], [4])],
)  # fmt: skip
def test_steps_per_execution_calls_the_batch_hooks_once_per_execution_as_keras(every, begins, ends):
    """Keras's steps_per_execution=N: the batch hooks run every N batches, begin with the
    execution's first batch index, end with its last; an execution stops at the epoch's end.
    The training itself is the same step by step: the same weights and logs as N=1."""
    x, labels, _, _ = data()  # 40 samples: 5 batches of 8
    trained = {}
    for n in (1, every):
        ac.utils.set_random_seed(3)  # the same shuffles
        model = classifier()
        model.compile("adam", SPARSE, metrics=["accuracy"], steps_per_execution=n)
        seen = BatchHooks()
        history = model.fit(x, labels, batch_size=8, epochs=2, verbose=0, callbacks=[seen])
        trained[n] = history.history, model.get_weights()
    assert hooks(seen.calls, "train") == [
        hook for _ in range(2) for pair in zip(begins, ends, strict=True)
        for hook in (("begin", pair[0]), ("end", pair[1]))
    ]  # fmt: skip
    assert trained[every][0] == trained[1][0]
    for got, want in zip(trained[every][1], trained[1][1], strict=True):
        np.testing.assert_array_equal(got, want)
    seen.calls.clear()
    model.evaluate(x, labels, batch_size=8, verbose=0, callbacks=[seen])
    assert hooks(seen.calls, "test") == [
        hook for pair in zip(begins, ends, strict=True) for hook in (("begin", pair[0]),
                                                                      ("end", pair[1]))
    ]  # fmt: skip
    seen.calls.clear()
    predicted = model.predict(x, batch_size=8, verbose=0, callbacks=[seen])
    assert [batch for what, batch in seen.calls if what == "predict_end"] == ends
    sizes = [min(8 * (end + 1), 40) - 8 * begin for begin, end in zip(begins, ends, strict=True)]
    assert [len(out) for out in seen.outputs] == sizes  # each execution's outputs, joined
    np.testing.assert_array_equal(np.concatenate(seen.outputs), predicted)


@pytest.mark.parametrize("value", [0, -2, 1.5, True, "auto", None])
def test_steps_per_execution_must_be_a_positive_int(value):
    model = classifier()
    with pytest.raises(ValueError, match="steps_per_execution must be an int >= 1"):
        model.compile("sgd", SPARSE, steps_per_execution=value)


def test_steps_per_execution_is_kept_in_the_compile_config():
    model = classifier()
    model.compile("sgd", SPARSE, steps_per_execution=4)
    config = model.get_compile_config()
    assert config["steps_per_execution"] == 4
    again = classifier()
    again.compile_from_config(config)
    assert again.steps_per_execution == 4


def test_uint8_images_stay_uint8_on_the_device_and_train_as_float32():
    """Small-integer inputs (uint8 pixels) are kept as they are on the model's device, 4x
    smaller, and become float32 as each step takes its batch: the same training to the bit as
    float32 inputs of the same values (as Keras casts inputs to the model's dtype)."""
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (24, 4)).astype(np.uint8)
    labels = rng.integers(0, 3, 24)
    results = []
    for x in (pixels, pixels.astype(np.float32)):
        ac.utils.set_random_seed(1)
        model = ac.Sequential([ac.Input((4,)), layers.Rescaling(1 / 255), *classifier().layers])
        model.compile("adam", SPARSE, metrics=["accuracy"])
        history = model.fit(x, labels, batch_size=8, epochs=2, verbose=0)
        results.append((history.history, model.get_weights(), model.predict(x, verbose=0)))
    assert results[0][0] == results[1][0]
    for got, want in zip(results[0][1] + [results[0][2]], results[1][1] + [results[1][2]],
                         strict=True):  # fmt: skip
        np.testing.assert_array_equal(got, want)
    from autoconv.array_batches import ArrayBatches

    assert ArrayBatches(model, [pixels], [labels], None, 8).x[0].dtype == np.uint8
    assert (
        ArrayBatches(model, [pixels.astype(np.int32)], [labels], None, 8).x[0].dtype == np.float32
    )


@pytest.mark.cudasim
def test_inputs_already_on_the_gpu_are_taken_where_they_are(monkeypatch):
    """A Tensor on the model's GPU is fit, evaluated and predicted from there, as NumPy data
    is (the same numbers), and never copied up from the host again."""
    pytest.importorskip("numba_cuda")
    from autoconv.backends.cuda import array as cuda_array

    rng = np.random.default_rng(0)
    x = rng.random((24, 6, 6, 1), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, len(x))]
    on_gpu = ac.Tensor(x).to("cuda")

    def model() -> ac.Model:
        ac.utils.set_random_seed(0)
        made = ac.Sequential(
            [layers.Input((6, 6, 1)), layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
             layers.Dense(3, activation="softmax")]
        ).to("cuda")  # fmt: skip
        made.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
        return made

    uploads: list[int] = []
    upload = cuda_array.upload
    monkeypatch.setattr(
        cuda_array,
        "upload",
        lambda target, host: (uploads.append(host.nbytes), upload(target, host))[1],
    )

    def run(inputs, first_five) -> tuple:
        trained = model()
        history = trained.fit(
            inputs, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0
        ).history
        return (history, trained.evaluate(inputs, y, batch_size=8, verbose=0),
                trained.predict(inputs, batch_size=8, verbose=0),
                trained.predict_on_batch(first_five))  # fmt: skip

    from_host = run(x, x[:5])
    first_five = on_gpu[:5]  # (a gather on the GPU, its indices from the host)
    uploads.clear()
    from_gpu = run(on_gpu, first_five)
    assert from_gpu[:2] == from_host[:2]
    np.testing.assert_array_equal(from_gpu[2], from_host[2])
    np.testing.assert_array_equal(from_gpu[3], from_host[3])
    assert max(uploads) < x[:5].nbytes, uploads  # the inputs, or a part of them, never went up


def _line(lib):
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1)])
    model.set_weights([np.full((4, 1), 0.1, np.float32), np.zeros(1, np.float32)])
    model.compile("sgd", "mse")
    return model


@pytest.mark.parametrize("data", ["arrays", "dataset"])
def test_steps_per_epoch_goes_on_where_the_last_epoch_stopped_as_keras(keras, data):
    """Keras's epoch iterator: with steps_per_epoch, epoch 2 takes the batches after epoch 1's
    (arrays and datasets alike), and an epoch that runs out of batches ends early with Keras's
    warning; the next starts a new pass. autoconv restarted arrays and datasets each epoch."""
    x = np.cos(np.arange(320)).reshape(80, 4).astype("float32")
    y = np.sin(np.arange(80)).reshape(80, 1).astype("float32")
    options = {"epochs": 4, "steps_per_epoch": 3, "verbose": 0}
    with pytest.warns(UserWarning, match="ran out of data") as kerass:
        theirs = _line(keras).fit(x, y, batch_size=10, shuffle=False, **options).history["loss"]
    if data == "arrays":
        given = {"x": x, "y": y, "batch_size": 10, "shuffle": False}
    else:  # its batches in the arrays' order (Keras's runs on a tf.data dataset the same)
        given = {"x": ac.data.Dataset.from_tensor_slices((x, y)).batch(10)}
    with pytest.warns(UserWarning, match="ran out of data") as autoconvs:
        ours = _line(ac).fit(**given, **options).history["loss"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    messages = [{str(w.message) for w in caught if "ran out" in str(w.message)}
                for caught in (autoconvs, kerass)]  # fmt: skip
    assert messages[0] == messages[1]  # (Keras's words, its advice to .repeat() too)


def test_a_repeated_dataset_is_never_restarted_by_steps_per_epoch():
    x = np.cos(np.arange(320)).reshape(80, 4).astype("float32")
    y = np.sin(np.arange(80)).reshape(80, 1).astype("float32")
    repeated = ac.data.Dataset.from_tensor_slices((x, y)).batch(10).repeat()
    stream = _line(ac).fit(repeated, epochs=4, steps_per_epoch=3, verbose=0).history["loss"]
    twice = (np.concatenate([x, x]), np.concatenate([y, y]))  # batches 0-7, then 0-7 again
    arrays = _line(ac).fit(*twice, batch_size=10, epochs=4, steps_per_epoch=3, shuffle=False,
                           verbose=0).history["loss"]  # fmt: skip
    np.testing.assert_allclose(stream, arrays, rtol=1e-6)


def test_predict_names_an_output_with_more_rows_for_a_smaller_batch():
    """Room for an output of other rows than samples is made from the batches before, as many
    rows per sample: one that gives more rows for fewer samples is named, not cut short."""

    class Growing(ac.Model):
        def call(self, x):
            return ac.ops.ones((10 - x.shape[0], 1))

    model = Growing()
    with pytest.raises(ValueError, match="output 0 has 8 rows for a batch of 2 samples"):
        model.predict(np.zeros((6, 3), np.float32), batch_size=4, verbose=0)
