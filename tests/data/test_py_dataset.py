"""PyDataset (keras.utils.PyDataset / Sequence) and Python generators as the data of fit,
evaluate and predict: the same training as the same batches given as arrays, the batch order
shuffled per pass, on_epoch_begin/on_epoch_end around each pass, steps_per_epoch going on where
the last epoch stopped (as Keras), worker threads that change nothing but the timing, Keras's
refusals and errors that name the batch; the same on the GPU (the simulator), and the same
calls as Keras 3 makes on the same PyDataset."""

from __future__ import annotations

import math
import os
import threading
import warnings

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from autoconv.utils import PyDataset


def data(samples: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, 4)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, samples)]


def classifier(device: str = "cpu") -> ac.Model:
    ac.utils.set_random_seed(0)
    model = ac.Sequential(
        [ac.Input((4,)), layers.Dense(5, activation="relu"), layers.Dense(3, activation="softmax")]
    ).to(device)
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    return model


def batches_class(base: type) -> type:
    """A PyDataset class on ``base`` (autoconv's or Keras's): batches of ``size`` rows of
    (x, y) or (x, y, w) in order, its calls kept in ``log`` ("begin", each index, "end")."""

    class Batches(base):
        def __init__(self, x, y, size, w=None, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.w, self.size = x, y, w, size
            self.log: list = []
            self.threads: set[str] = set()

        def __len__(self):
            return math.ceil(len(self.x) / self.size)

        def __getitem__(self, index):
            self.log.append(index)
            self.threads.add(threading.current_thread().name)
            part = slice(index * self.size, (index + 1) * self.size)
            if self.w is None:
                return self.x[part], self.y[part]
            return self.x[part], self.y[part], self.w[part]

        def on_epoch_begin(self):
            self.log.append("begin")

        def on_epoch_end(self):
            self.log.append("end")

    return Batches


Batches = batches_class(PyDataset)


def passes(log: list) -> list[list[int]]:
    """The indices each pass asked for, from a log of "begin", indices and "end"."""
    taken: list[list[int]] = []
    for entry in log:
        if entry == "begin":
            taken.append([])
        elif entry != "end":
            taken[-1].append(entry)
    return taken


def stream(x: np.ndarray, y: np.ndarray, size: int, count: int):
    """A generator of ``count`` batches of ``size`` rows, in order."""
    for i in range(count):
        yield x[i * size : (i + 1) * size], y[i * size : (i + 1) * size]


def assert_same_weights(model: ac.Model, other: ac.Model) -> None:
    for got, want in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_names_keras_gives_it():
    assert ac.utils.Sequence is PyDataset is ac.data.PyDataset
    dataset = Batches(*data(), 8, workers=2, max_queue_size=3)
    assert (dataset.workers, dataset.use_multiprocessing, dataset.max_queue_size) == (2, False, 3)
    assert len(dataset) == dataset.num_batches == 3
    assert [len(x) for x, _ in dataset] == [8, 8, 8]  # iterating it: in order, no hooks
    assert dataset.log == [0, 1, 2]


@pytest.mark.parametrize(
    ("samples", "workers", "weighted"),
    [(24, 1, False), (22, 1, True), (24, 2, True), (22, 2, False)],
    ids=["full batches", "short last batch, weights", "2 workers, weights", "2 workers, short"],
)
def test_a_py_dataset_trains_as_its_batches_given_as_arrays(samples, workers, weighted):
    x, y = data(samples)
    w = np.linspace(0.5, 2.0, samples).astype(np.float32) if weighted else None
    dataset = Batches(x, y, 8, w, workers=workers)
    model = classifier()
    history = model.fit(dataset, epochs=3, shuffle=False, verbose=0).history
    arrays = classifier()
    expected = arrays.fit(x, y, 8, 3, shuffle=False, sample_weight=w, verbose=0).history
    assert history == expected
    assert_same_weights(model, arrays)
    if workers == 1:
        assert dataset.log == ["begin", 0, 1, 2, "end"] * 3
    else:  # (the threads log each index as they start it)
        assert [sorted(taken) for taken in passes(dataset.log)] == [[0, 1, 2]] * 3
    assert all(name.startswith("autoconv-map") for name in dataset.threads) == (workers > 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_shuffle_draws_a_batch_order_each_epoch(workers):
    """With shuffle=True each epoch asks for every index once, in an order of the epoch's
    (reproducible with set_random_seed): the training of the arrays in those orders; two
    workers take the batches in the order one does."""
    x, y = data(32)

    def run(workers: int) -> tuple[ac.Model, list]:
        dataset = Batches(x, y, 8, workers=workers)
        model = classifier()
        model.fit(dataset, epochs=4, verbose=0)  # (fit's shuffle=True by default, as Keras)
        assert dataset.log.count("begin") == dataset.log.count("end") == 4
        return model, passes(dataset.log)

    model, orders = run(1)
    assert [sorted(order) for order in orders] == [[0, 1, 2, 3]] * 4
    assert any(order != [0, 1, 2, 3] for order in orders)
    assert len({tuple(order) for order in orders}) > 1
    arrays = classifier()
    for order in orders:
        rows = np.concatenate([np.arange(i * 8, i * 8 + 8) for i in order])
        arrays.fit(x[rows], y[rows], batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert_same_weights(model, arrays)
    again, orders_again = run(workers)
    assert_same_weights(again, model)
    if workers == 1:
        assert orders_again == orders


def test_evaluate_and_predict_give_the_arrays_results():
    """evaluate (a pass between on_epoch_begin and on_epoch_end, with the batches' sample
    weights) and predict, which ignores y (here of a shape no loss would take)."""
    x, y = data(22)
    w = np.linspace(0.5, 2.0, 22).astype(np.float32)
    model = classifier()
    model.fit(x, y, batch_size=8, verbose=0)
    dataset = Batches(x, y, 8, w)
    scores = model.evaluate(dataset, verbose=0, return_dict=True)
    expected = model.evaluate(x, y, batch_size=8, sample_weight=w, verbose=0, return_dict=True)
    assert scores == pytest.approx(expected, rel=1e-6)
    assert dataset.log == ["begin", 0, 1, 2, "end"]
    assert model.evaluate(Batches(x, y, 8), steps=2, verbose=0) == pytest.approx(
        model.evaluate(x[:16], y[:16], batch_size=8, verbose=0), rel=1e-6
    )
    nonsense = Batches(x, np.zeros((22, 7, 7)), 8)
    outputs = model.predict(nonsense, verbose=0)
    np.testing.assert_allclose(outputs, model.predict(x, batch_size=8, verbose=0), rtol=1e-6)
    assert nonsense.log == ["begin", 0, 1, 2, "end"]

    class OnlyX(PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return x[index * 8 : index * 8 + 8]  # an array: x alone, as Keras reads it

    np.testing.assert_allclose(model.predict(OnlyX(), verbose=0), outputs, rtol=1e-6)
    np.testing.assert_allclose(model.predict(stream(x, y, 8, 3), verbose=0), outputs, rtol=1e-6)


def test_steps_per_epoch_goes_on_where_the_last_epoch_stopped():
    """As Keras's epoch iterator: with steps_per_epoch a pass over the PyDataset lasts as many
    epochs as it takes (the last one short), then a new pass (a new order) begins."""
    x, y = data(40)
    dataset = Batches(x, y, 8)  # 5 batches
    model = classifier()
    history = model.fit(dataset, epochs=3, steps_per_epoch=3, shuffle=False, verbose=0)
    assert passes(dataset.log) == [[0, 1, 2], [3, 4], [0, 1, 2]]
    assert model.optimizer.iterations == 8 and len(history.history["loss"]) == 3
    shuffled = Batches(x, y, 8)
    classifier().fit(shuffled, epochs=4, steps_per_epoch=3, verbose=0)
    first, second, third, fourth = passes(shuffled.log)
    assert sorted(first + second) == sorted(third + fourth) == [0, 1, 2, 3, 4]


def test_a_generator_is_one_stream_the_epochs_take_their_steps_from():
    x, y = data(48)
    model = classifier()
    history = model.fit(stream(x, y, 8, 6), epochs=3, steps_per_epoch=2, verbose=0)
    assert len(history.history["loss"]) == 3 and model.optimizer.iterations == 6
    arrays = classifier()
    arrays.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # the same 6 steps
    assert_same_weights(model, arrays)
    short = classifier()
    with pytest.warns(UserWarning, match="Your input ran out of data"):
        short.fit(stream(x, y, 8, 6), epochs=2, steps_per_epoch=4, verbose=0)
    assert short.optimizer.iterations == 6
    assert_same_weights(short, arrays)
    once = classifier()  # without steps_per_epoch: an epoch takes it all, then training stops
    with pytest.warns(UserWarning, match="fit: the generator has no batches left, so training"):
        history = once.fit(stream(x, y, 8, 6), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1
    assert_same_weights(once, arrays)


@pytest.mark.parametrize(
    ("x_of", "steps_per_epoch", "steps"),
    [("py_dataset", None, 3), ("py_dataset", 2, 2), ("py_dataset", 9, 3),
     ("generator", None, None), ("generator", 2, 2)],
)  # fmt: skip
def test_the_callbacks_steps(x_of, steps_per_epoch, steps, capsys):
    """params["steps"]: the PyDataset's length (or steps_per_epoch), None for a generator
    without steps_per_epoch, whose epoch's last line counts the steps it ran, as Keras's
    ("3/3", not "3/Unknown")."""
    x, y = data()
    seen = []

    class Steps(ac.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(self.params["steps"])

    given = Batches(x, y, 8) if x_of == "py_dataset" else stream(x, y, 8, 3)
    classifier().fit(given, steps_per_epoch=steps_per_epoch, callbacks=[Steps()], verbose=2)
    assert seen == [steps]
    out = capsys.readouterr().out
    assert "/Unknown" not in out and f"{steps or 3}/{steps or 3} - " in out, out


def test_validation_data_as_a_py_dataset_or_a_generator():
    x, y = data()
    xv, yv = data(12, seed=1)
    val = Batches(xv, yv, 4)
    model = classifier()
    history = model.fit(Batches(x, y, 8), validation_data=val, epochs=2, shuffle=False,
                        verbose=0).history  # fmt: skip
    expected = classifier().fit(x, y, 8, 2, validation_data=(xv, yv), validation_batch_size=4,
                                shuffle=False, verbose=0).history  # fmt: skip
    assert history == expected
    assert val.log == ["begin", 0, 1, 2, "end"] * 2
    stepped = Batches(xv, yv, 4)  # validation_steps: the passes go on as fit's do
    classifier().fit(x, y, epochs=3, validation_data=stepped, validation_steps=2, verbose=0)
    assert passes(stepped.log) == [[0, 1], [2], [0, 1]]
    model = classifier()  # a generator: each validation takes the next validation_steps
    history = model.fit(Batches(x, y, 8), epochs=2, validation_data=stream(xv, yv, 3, 4),
                        validation_steps=2, verbose=0).history  # fmt: skip
    assert len(history["val_loss"]) == 2
    last = model.evaluate(xv[6:], yv[6:], batch_size=3, verbose=0)[0]
    assert history["val_loss"][1] == pytest.approx(last, rel=1e-6)


def test_class_weight_weights_a_py_datasets_batches_as_the_arrays():
    x, y = data()
    weights = {0: 1.0, 1: 3.0, 2: 0.25}
    model = classifier()
    history = model.fit(Batches(x, y, 8), class_weight=weights, shuffle=False, epochs=2,
                        verbose=0).history  # fmt: skip
    arrays = classifier()
    expected = arrays.fit(x, y, 8, 2, class_weight=weights, shuffle=False, verbose=0).history
    assert history == expected
    assert_same_weights(model, arrays)


class Graphs(PyDataset):
    """keras.io's MPNN example's batches: two graphs of 3 nodes joined into one, its nodes'
    features and its edges (rows of their own number), and a target per graph."""

    def __init__(self, count: int) -> None:
        super().__init__()
        rng = np.random.default_rng(0)
        self.nodes = rng.standard_normal((count, 6, 2)).astype(np.float32)
        self.edges = rng.integers(0, 3, (count, 4, 2)) + np.array([[0], [0], [3], [3]])
        self.y = rng.standard_normal((count, 2, 1)).astype(np.float32)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple:
        return {"nodes": self.nodes[index], "edges": self.edges[index]}, self.y[index]


def test_a_batch_may_hold_inputs_of_other_row_counts_as_keras_takes_it():
    """A graph's nodes and edges in one batch (Keras checks that arrays hold as many samples,
    not a batch that data gives): fit, evaluate and predict take them; with a learning rate of
    0, fit's loss and evaluate's are the mean squared error of predict's outputs."""

    class Messages(layers.Layer):
        def call(self, inputs):
            nodes, edges = inputs
            sent = ac.ops.take(nodes, ac.ops.cast(edges[:, 1], "int32"), axis=0)
            graph = ac.ops.cast(edges[:, 0], "int32") // 3  # (the example casts its indices)
            return ac.ops.segment_sum(sent, graph, num_segments=2)

    nodes, edges = ac.Input((2,), name="nodes"), ac.Input((2,), dtype="int32", name="edges")
    model = ac.Model([nodes, edges], layers.Dense(1)(Messages()([nodes, edges])))
    model.compile(ac.optimizers.SGD(0.0), "mse")
    graphs = Graphs(3)
    loss = model.fit(graphs, shuffle=False, class_weight={0: 1.0}, verbose=0).history["loss"]
    predicted = model.predict(graphs, verbose=0)
    assert predicted.shape == (6, 1)
    expected = np.mean((predicted - graphs.y.reshape(6, 1)) ** 2)
    np.testing.assert_allclose([loss[0], model.evaluate(graphs, verbose=0)], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="different numbers of samples"):
        model.predict({"nodes": graphs.nodes[0], "edges": graphs.edges[0]}, verbose=0)


def test_a_batch_s_loss_weighs_as_its_first_input_s_rows_as_keras():
    """Graphs of 4 and of 10 nodes, a target per graph: the targets are not counted against the
    nodes, and each batch's loss weighs in the epoch's as many as its nodes (Keras's weight of
    a batch: its first input's rows; Keras 3.15 gives 6.28876 for these numbers)."""

    class Sizes(PyDataset):
        def __init__(self) -> None:
            super().__init__()
            rng = np.random.default_rng(0)
            self.batches = []
            for n in (4, 10):
                nodes = rng.standard_normal((n, 2)).astype(np.float32)
                x = {"nodes": nodes, "graph": (np.arange(n) >= n // 2).astype(np.int32)}
                self.batches.append((x, rng.standard_normal((2, 1)).astype(np.float32)))

        def __len__(self) -> int:
            return 2

        def __getitem__(self, index: int) -> tuple:
            return self.batches[index]

    class Pool(layers.Layer):
        def call(self, inputs):
            nodes, graph = inputs
            return ac.ops.segment_sum(nodes, ac.ops.cast(graph, "int32"), num_segments=2)

    nodes, graph = ac.Input((2,), name="nodes"), ac.Input((), dtype="int32", name="graph")
    dense = layers.Dense(1, kernel_initializer="ones")
    model = ac.Model([nodes, graph], dense(Pool()([nodes, graph])))
    model.compile(ac.optimizers.SGD(0.0), "mse")
    sizes = Sizes()
    loss = model.fit(sizes, shuffle=False, verbose=0).history["loss"][0]
    each = [model.test_on_batch(*sizes[i]) for i in range(2)]
    np.testing.assert_allclose(loss, (4 * each[0] + 10 * each[1]) / 14, rtol=1e-6)
    np.testing.assert_allclose([loss, model.evaluate(sizes, verbose=0)], 6.288764, rtol=1e-5)


class Broken(Exception):
    pass


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_of_getitem_surfaces_as_it_is(workers):
    """The exception __getitem__ raises reaches the caller of fit (with a note naming the
    index), from a worker thread too; no worker thread is left behind."""

    class Failing(Batches):
        def __getitem__(self, index):
            if index == 2:
                raise Broken("no such image")
            return super().__getitem__(index)

    x, y = data(40)
    with pytest.raises(Broken, match="no such image") as caught:
        classifier().fit(Failing(x, y, 8, workers=workers), shuffle=False, verbose=0)
    assert "Failing.__getitem__(2)" in " ".join(caught.value.__notes__)
    assert not [t for t in threading.enumerate() if t.name.startswith("autoconv-map")]


@pytest.mark.parametrize("how", ["py_dataset", "generator"])
def test_a_batch_of_the_wrong_shape_is_named(how):
    x, y = data(32)
    wide = np.concatenate([x, x[:, :1]], axis=1)  # samples of 5 values, not 4
    if how == "py_dataset":

        class Wrong(Batches):
            def __getitem__(self, index):
                batch = super().__getitem__(index)
                return (wide[16:24], *batch[1:]) if index == 2 else batch

        given = Wrong(x, y, 8)
    else:
        given = (batch if i != 2 else (wide[:8], batch[1]) for i, batch in
                 enumerate(stream(x, y, 8, 4)))  # fmt: skip
    with pytest.raises(ValueError, match=r"fit: batch 2: x has samples of shape \(5,\)"):
        classifier().fit(given, shuffle=False, verbose=0)


def generator_of(batch):
    yield batch


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, d: m.fit(d, validation_split=0.2), "validation_split is only supported for "
         "arrays, not a PyDataset"),
        (lambda m, d: m.fit(stream(*data(), 8, 3), validation_split=0.2),
         "validation_split is only supported for arrays, not a generator"),
        (lambda m, d: m.fit(d, sample_weight=np.ones(24)),
         "fit: sample_weight must not be given when x is a PyDataset"),
        (lambda m, d: m.evaluate(d, sample_weight=np.ones(24)),
         "evaluate: sample_weight must not be given when x is a PyDataset"),
        (lambda m, d: m.fit(stream(*data(), 8, 3), sample_weight=np.ones(24)),
         "sample_weight must not be given when x is a generator"),
        (lambda m, d: m.fit(d, y=np.ones(24)), "y must not be given when x is a PyDataset"),
        (lambda m, d: m.fit(stream(*data(), 8, 3), class_weight={0: 1.0}),
         "class_weight must not be given when x is a generator"),
        (lambda m, d: m.fit(Batches(*data(), 8, np.ones(24)), class_weight={0: 2.0},
                                  shuffle=False),
         "fit: batch 0: the batch holds sample weights and fit was given class_weight"),
        (lambda m, d: m.fit(Batches(*data(), 8, use_multiprocessing=True)),
         "use_multiprocessing=True is not supported: autoconv makes a PyDataset's batches on "
         "threads"),
        (lambda m, d: m.fit(Batches(*data(), 8, max_queue_size=0)),
         "max_queue_size must be an int >= 1, got 0"),
        (lambda m, d: m.fit(Batches(*data(), 8, workers="2")), "workers must be an int >= 0"),
        (lambda m, d: m.predict(Batches(*data(0), 8)), r"num_batches \(len\) must be an int "
         ">= 1, got 0"),
        (lambda m, d: m.fit(stream(*data(), 8, 0)), "the generator must yield at least one"),
        (lambda m, d: m.fit(generator_of(np.ones((8, 4)))), "the generator must return a tuple"),
        (lambda m, d: m.fit(generator_of((1, 2, 3, 4))), "the generator must return a tuple"),
    ],
    ids=["split", "split, generator", "sample_weight", "evaluate sample_weight",
         "sample_weight, generator", "y", "class_weight, generator", "class and sample weights",
         "use_multiprocessing", "max_queue_size", "workers", "empty", "empty generator",
         "generator of arrays", "generator of 4-tuples"],
)  # fmt: skip
def test_what_keras_refuses(call, message):
    model = classifier()
    before = model.get_weights()
    with pytest.raises(ValueError, match=message):
        call(model, Batches(*data(), 8))
    for weight, old in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(weight, old)


def test_a_getitem_that_returns_no_batch_is_named_as_keras_names_it():
    class Numbers(PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return index

    with pytest.raises(ValueError, match=r"PyDataset.__getitem__\(\) must return a tuple or a"):
        classifier().fit(Numbers(), verbose=0)


def test_without_super_init_keras_defaults_and_a_warning():
    x, y = data()

    class NoInit(PyDataset):
        def __init__(self):  # (no super().__init__)
            self.size = 8

        def __len__(self):
            return 3

        def __getitem__(self, index):
            return x[index * self.size : (index + 1) * self.size], y[index * 8 : index * 8 + 8]

    model = classifier()
    with pytest.warns(UserWarning, match=r"should call `super\(\).__init__\(\*\*kwargs\)`"):
        model.fit(NoInit(), shuffle=False, verbose=0)
    arrays = classifier()
    arrays.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    assert_same_weights(model, arrays)


def test_a_py_dataset_without_end_needs_steps_per_epoch():
    x, y = data()

    class Endless(Batches):
        num_batches = None  # (Keras: no end)

        def __getitem__(self, index):
            return super().__getitem__(index % 3)

    model = classifier()
    with pytest.raises(ValueError, match=r"fit: the PyDataset has no end \(num_batches is None"):
        model.fit(Endless(x, y, 8), verbose=0)
    endless = Endless(x, y, 8)
    model.fit(endless, epochs=2, steps_per_epoch=4, verbose=0)
    assert passes(endless.log) == [[0, 1, 2, 0], [1, 2, 0, 1]]  # indices 0-3, then 4-7


def test_worker_threads_make_batches_at_most_max_queue_size_ahead():
    x, y = data(160)
    dataset = Batches(x, y, 8, workers=3, max_queue_size=4)  # 20 batches
    ahead = []

    class Watch(ac.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            ahead.append(max(i for i in dataset.log if i != "begin") - batch)

    classifier().fit(dataset, shuffle=False, callbacks=[Watch()], verbose=0)
    assert max(ahead) <= 4 - 1 and len(ahead) == 20
    assert dataset.threads and all(t.startswith("autoconv-map") for t in dataset.threads)


@pytest.mark.cudasim
@pytest.mark.parametrize("shuffle", [False, True])
def test_the_same_training_on_the_gpu(shuffle):
    """fit (validation data a PyDataset too), evaluate and predict on the GPU: the CPU's
    numbers; the batches, loaded where a recorded step read its own, replay the steps."""
    pytest.importorskip("numba_cuda")
    x, y = data(44)
    xv, yv = data(12, seed=1)
    runs = {}
    for device in ("cpu", "cuda"):
        model = classifier(device)
        history = model.fit(Batches(x, y, 8, workers=2), epochs=2, shuffle=shuffle,
                            validation_data=Batches(xv, yv, 4), verbose=0).history  # fmt: skip
        runs[device] = (history, model.get_weights(), model.evaluate(Batches(x, y, 8), verbose=0),
                        model.predict(Batches(x, y, 8), verbose=0))  # fmt: skip
    assert model._step_replay.replayed > 0, model._step_replay.why
    (cpu_history, cpu_weights, cpu_scores, cpu_outputs) = runs["cpu"]
    (history, weights, scores, outputs) = runs["cuda"]
    for key, values in cpu_history.items():
        np.testing.assert_allclose(history[key], values, rtol=1e-5, err_msg=key)
    for got, want in zip(weights, cpu_weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores, cpu_scores, rtol=1e-5)
    np.testing.assert_allclose(outputs, cpu_outputs, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- Keras 3 itself
def keras_module():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    return pytest.importorskip("keras")


def without_resets(log: list) -> list:
    """Keras's log without the calls of on_epoch_end its epoch iterator makes when it resets,
    before a pass (fit's first, each validation's, evaluate's): those right at the start or
    right after another on_epoch_end. autoconv calls on_epoch_end once after each pass."""
    return [e for k, e in enumerate(log) if e != "end" or (k and log[k - 1] not in ("end",))]


@pytest.mark.parametrize(
    "scenario", ["fit", "steps_per_epoch", "validation", "evaluate", "evaluate steps", "predict"]
)
def test_the_calls_keras_makes_on_the_same_py_dataset(scenario):
    """Keras 3's fit, evaluate and predict on a keras.utils.PyDataset ask for the batches
    autoconv asks for (the same class taken by autoconv too), with the same hooks around each
    pass (Keras's extra on_epoch_end when its iterator resets aside)."""
    keras = keras_module()
    x, y = data(40)
    xv, yv = data(12, seed=1)
    logs = []
    for package, model in (("keras", None), ("autoconv", classifier())):
        if package == "keras":
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
            model.compile("adam", "mse")
            model.fit(x, y, verbose=0)  # built, so that fit asks for no batch to build it
        made = batches_class(keras.utils.PyDataset if package == "keras" else PyDataset)
        train, val = made(x, y, 8), made(xv, yv, 4)
        if scenario == "fit":
            model.fit(train, epochs=2, shuffle=False, verbose=0)
        elif scenario == "steps_per_epoch":
            with warnings.catch_warnings():  # (Keras's "ran out of data" at the short epoch)
                warnings.simplefilter("ignore")
                model.fit(train, epochs=3, steps_per_epoch=3, shuffle=False, verbose=0)
        elif scenario == "validation":
            model.fit(train, epochs=2, shuffle=False, validation_data=val, verbose=0)
        elif scenario == "evaluate":
            model.evaluate(train, verbose=0)
        elif scenario == "evaluate steps":
            model.evaluate(train, steps=2, verbose=0)
        else:
            model.predict(train, verbose=0)
        logs.append((without_resets(train.log), without_resets(val.log)))
    assert logs[0] == logs[1]


def test_keras_and_autoconv_take_a_keras_py_dataset_alike():
    """A keras.utils.PyDataset subclass trained by autoconv: the training of its arrays."""
    keras = keras_module()
    x, y = data()
    model = classifier()
    model.fit(batches_class(keras.utils.PyDataset)(x, y, 8, workers=2), shuffle=False, verbose=0)
    arrays = classifier()
    arrays.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    assert_same_weights(model, arrays)
