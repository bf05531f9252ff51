"""The data ``fit``, ``evaluate`` and ``predict`` take (autoconv/batches.py): a model's own
``train_step``, ``test_step`` or ``predict_step`` gets its data as it comes, unchecked against
the model's inputs, as Keras's; the default steps still check it; one output's targets may
come as a list of one array, as Keras's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac


def _pair_model(lib: Any, no_grad: Any) -> Any:
    """keras.io's metric-learning model in small: a functional embedding of 4 values whose
    steps take batches of (anchor, positive) pairs, shape (N, 2, 4), which are not the input's
    shape, and score each anchor against every positive."""

    def pair_loss(model: Any, data: Any, training: bool) -> Any:
        if isinstance(data, list | tuple):  # the tutorial's workaround: Keras gives a
            data = data[0]  # PyDataset's x alone as [x]
        anchors = model(data[:, 0], training=training)
        positives = model(data[:, 1], training=training)
        similarities = lib.ops.einsum("ae,pe->ap", anchors, positives) / 0.2
        labels = lib.ops.arange(anchors.shape[0])
        return lib.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, similarities)

    class PairModel(lib.Model):
        def train_step(self, data: Any) -> dict[str, Any]:
            self.zero_grad()
            loss = pair_loss(self, data, True)
            loss.backward()
            weights = self.trainable_weights
            with no_grad():
                self.optimizer.apply([w.value.grad for w in weights], weights)
            return {"pair_loss": loss}

        def test_step(self, data: Any) -> dict[str, Any]:
            return {"pair_loss": pair_loss(self, data, False)}

        def predict_step(self, data: Any) -> Any:
            data = data[0] if isinstance(data, list | tuple) else data
            return self(data[:, 0]) - self(data[:, 1])

    inputs = lib.Input(shape=(4,))
    hidden = lib.layers.Dense(5, activation="tanh")(inputs)
    model = PairModel(inputs, lib.layers.Dense(3)(hidden))
    model.compile(optimizer=lib.optimizers.SGD(0.1))
    model.set_weights([np.cos(np.arange(w.size) * 0.9 + i).reshape(w.shape) * 0.5
                       for i, w in enumerate(model.get_weights())])  # fmt: skip
    return model


def _pairs() -> np.ndarray:
    return np.random.default_rng(0).random((12, 2, 4)).astype("float32")


def _batches(lib: Any, pairs: np.ndarray) -> Any:
    """The pairs in batches of 4, each batch x alone (as the tutorial's PyDataset gives)."""

    class Batches(lib.utils.PyDataset):
        def __len__(self) -> int:
            return len(pairs) // 4

        def __getitem__(self, index: int) -> np.ndarray:
            return pairs[index * 4 : index * 4 + 4]

    return Batches()


@pytest.mark.parametrize("given", ["arrays", "py_dataset"])
def test_a_models_own_steps_take_data_unlike_its_inputs_as_keras(keras, given):
    import torch

    pairs = _pairs()
    runs = []
    for lib, no_grad in ((ac, ac.no_grad), (keras, torch.no_grad)):
        model = _pair_model(lib, no_grad)
        if given == "arrays":
            history = model.fit(pairs, batch_size=4, epochs=3, shuffle=False, verbose=0)
            evaluated = model.evaluate(pairs, batch_size=4, verbose=0, return_dict=True)
            predicted = model.predict(pairs, batch_size=4, verbose=0)
        else:  # batches as they come
            history = model.fit(_batches(lib, pairs), epochs=3, shuffle=False, verbose=0)
            evaluated = model.evaluate(_batches(lib, pairs), verbose=0, return_dict=True)
            predicted = model.predict(_batches(lib, pairs), verbose=0)
        runs.append((history.history["pair_loss"], float(evaluated["pair_loss"]), predicted,
                     model.get_weights()))  # fmt: skip
    (ours, our_eval, our_pred, our_weights), (theirs, their_eval, their_pred, their_weights) = runs
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    np.testing.assert_allclose(our_eval, their_eval, rtol=1e-5)
    np.testing.assert_allclose(our_pred, their_pred, rtol=1e-5, atol=1e-6)
    for mine, keras_weight in zip(our_weights, their_weights, strict=True):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-7)


def test_a_tuple_of_arrays_reaches_the_users_step_as_several_inputs():
    seen = []

    class Pairs(ac.Model):
        def train_step(self, data: Any) -> dict[str, Any]:
            seen.append([tuple(part.shape) for part in data])
            return {}

    inputs = ac.Input(shape=(4,))
    model = Pairs(inputs, ac.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd")
    pairs = _pairs()
    model.fit((pairs[:, 0], pairs[:, 1, :3]), batch_size=8, shuffle=False, verbose=0)
    assert seen == [[(8, 4), (8, 3)], [(4, 4), (4, 3)]]


def test_the_users_steps_take_float_targets_beside_a_compiled_sparse_loss_as_keras():
    """keras.io's depth estimation compiles a SparseCategoricalCrossentropy that its own
    train_step and test_step never call, and fits depth maps: Keras checks no labels there,
    so neither fit nor its validation refuses the targets as labels."""
    seen = []

    class Own(ac.Model):
        def train_step(self, data: Any) -> dict[str, Any]:
            seen.append(np.asarray(data[1]))
            return {}

        def test_step(self, data: Any) -> dict[str, Any]:
            seen.append(np.asarray(data[1]))
            return {}

    inputs = ac.Input(shape=(4,))
    model = Own(inputs, ac.layers.Dense(2)(inputs))
    model.compile("sgd", loss=ac.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, depths = np.zeros((4, 4), "float32"), np.array([0.5, 1.25, 2.0, -0.75], "float32")
    model.fit(x, depths, batch_size=4, validation_data=(x, depths), shuffle=False, verbose=0)
    assert len(seen) == 2
    for targets in seen:
        assert targets.dtype == np.float32
        np.testing.assert_array_equal(targets, depths)


def test_a_model_of_no_outputs_of_its_own_takes_integer_targets_beside_a_sparse_loss():
    """keras.io's image captioning: a Model subclass without call, its sublayers run by its
    own steps, compiled with a SparseCategoricalCrossentropy its steps call on the tokens;
    evaluate and fit take the integer captions (there is no output to count classes of)."""

    class Captioner(ac.Model):
        def __init__(self) -> None:
            super().__init__()
            self.decoder = ac.layers.Dense(5)

        def test_step(self, data: Any) -> dict[str, Any]:
            x, tokens = data
            return {"loss": ac.ops.mean(self.loss(tokens, self.decoder(x)))}

        train_step = test_step

    model = Captioner()
    model.compile("sgd", loss=ac.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, tokens = np.ones((4, 3), "float32"), np.array([0, 1, 4, 2])
    model.decoder(x)
    expected = ac.losses.SparseCategoricalCrossentropy(from_logits=True)(tokens, model.decoder(x))
    logs = model.evaluate(x, tokens, batch_size=4, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], float(expected), rtol=1e-6)
    assert model.fit(x, tokens, batch_size=4, verbose=0).history["loss"]


@pytest.mark.parametrize("given", ["arrays", "py_dataset"])
def test_the_users_step_takes_targets_unlike_the_outputs_as_keras(keras, given):
    """keras.io's NNCLR: batches ((unlabelled, _), (labelled, labels)) give two targets to a
    model of one output; its own train_step gets them as they come, as Keras hands them."""
    rng = np.random.default_rng(0)
    x, images, labels = rng.random((8, 4)), rng.random((8, 3)), np.arange(8) % 3
    seen = []
    for lib in (ac, keras):
        shapes: list[Any] = []

        class Own(lib.Model):
            def train_step(self, data: Any, shapes: list[Any] = shapes) -> dict[str, Any]:
                (unlabelled, _), (labelled, targets) = data
                shapes.append([tuple(t.shape) for t in (unlabelled, labelled, targets)])
                return {}

        class Batches(lib.utils.PyDataset):
            def __len__(self) -> int:
                return 2

            def __getitem__(self, i: int) -> Any:
                part = slice(4 * i, 4 * i + 4)
                return (x[part], x[part, 0]), (images[part], labels[part])

        inputs = lib.Input(shape=(4,))
        model = Own(inputs, lib.layers.Dense(2)(inputs))
        model.compile(optimizer="sgd")
        if given == "arrays":
            model.fit((x, x[:, 0]), (images, labels), batch_size=4, shuffle=False, verbose=0)
        else:
            model.fit(Batches(), shuffle=False, verbose=0)
        seen.append(shapes)
    assert seen[0] == seen[1] == [[(4, 4), (4, 3), (4,)]] * 2


def _nesting(data: Any) -> Any:
    """The lists and tuples of ``data`` as they nest (as lists: Keras's PyTorch backend gives
    a PyDataset's tuples as lists), each array its shape."""
    if isinstance(data, list | tuple):
        return [_nesting(item) for item in data]
    return tuple(data.shape)


def test_the_users_step_takes_nested_batches_as_they_come_as_keras(keras):
    """keras.io's AdaMatch: a PyDataset gives ((weak, labels), (strong, labels)) of the source
    and the same pairs of the target, three times the batch; its own train_step (a model
    without a call) unpacks them as Keras hands them."""
    rng = np.random.default_rng(0)
    source, labels, target = rng.random((4, 3)), rng.random((4, 2)), rng.random((12, 3))
    seen = []
    for lib in (ac, keras):
        structures: list[Any] = []

        class AdaMatch(lib.Model):
            def __init__(self) -> None:
                super().__init__()
                self.built = True  # (Keras cannot build it from such data)

            def train_step(self, data: Any, seen: list[Any] = structures, ops=lib.ops) -> dict:
                (source_w, _), (_, source_labels) = data[0]
                ((_, _), (target_s, _)) = data[1]
                seen.append(_nesting(data))
                total = ops.mean(source_w + source_labels[:, :1]) + ops.mean(target_s)
                return {"total": total}

        class Batches(lib.utils.PyDataset):
            def __len__(self) -> int:
                return 1

            def __getitem__(self, i: int) -> Any:
                return ((source, labels), (source, labels)), ((target, target[:, 0]),) * 2

        model = AdaMatch()
        model.compile(optimizer="sgd")
        history = model.fit(Batches(), verbose=0).history
        seen.append((structures, history["total"]))
    assert seen[0][0] == seen[1][0] == [[[[(4, 3), (4, 2)]] * 2, [[(12, 3), (12,)]] * 2]]
    np.testing.assert_allclose(seen[0][1], seen[1][1], rtol=1e-6)


@pytest.mark.parametrize("step", ["train_step", "test_step", "predict_step"])
def test_the_default_steps_still_check_the_data(step):
    """Only the step a class overrides takes data unlike the inputs: with the others, the data
    is checked against the model's inputs, before any batch runs."""

    def own(self: Any, data: Any) -> Any:
        raise AssertionError("not called")

    inputs = ac.Input(shape=(4,))
    model = type("Own", (ac.Model,), {step: own})(inputs, ac.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    pairs, y = _pairs(), np.zeros((12, 2), "float32")
    calls = {"train_step": lambda: model.fit(pairs, y, verbose=0),
             "test_step": lambda: model.evaluate(pairs, y, verbose=0),
             "predict_step": lambda: model.predict(pairs, verbose=0)}  # fmt: skip
    for name, call in calls.items():
        if name != step:
            with pytest.raises(ValueError, match=r"x has samples of shape \(2, 4\)"):
                call()


def _one_output(lib: Any) -> Any:
    model = lib.Sequential([lib.Input((5,)), lib.layers.Dense(3, kernel_initializer="ones")])
    model.compile(lib.optimizers.SGD(0.01), "mse")
    return model


@pytest.mark.parametrize("wrap", [list, tuple])
@pytest.mark.parametrize("call", ["fit", "evaluate", "test_on_batch", "validation_data"])
def test_one_outputs_targets_in_a_list_of_one_as_kerass(keras, wrap, call):
    """``y=[y]`` for a model of one output: Keras's structure of one target."""
    x = np.linspace(-1, 1, 40, dtype=np.float32).reshape(8, 5)
    y = np.linspace(0, 2, 24, dtype=np.float32).reshape(8, 3)

    def run(lib: Any, targets: Any) -> Any:
        model = _one_output(lib)
        if call == "fit":
            return model.fit(x, targets, epochs=1, shuffle=False, verbose=0).history["loss"]
        if call == "validation_data":
            history = model.fit(x, y, validation_data=(x, targets), shuffle=False, verbose=0)
            return history.history["val_loss"]
        return getattr(model, call)(
            x, targets, **({} if call == "test_on_batch" else {"verbose": 0})
        )

    expected = run(keras, wrap([y]))
    np.testing.assert_allclose(run(ac, wrap([y])), expected, rtol=1e-6)
    np.testing.assert_allclose(run(ac, y), expected, rtol=1e-6)


def test_an_inputs_fixed_batch_size_is_not_checked_against_the_data_as_kerass(keras):
    """keras.io's Switch Transformer fixes its Input's batch size (its layers reshape to it);
    Keras's functional input spec leaves the batch axis out, so data of any length and any
    batch size (a last short batch too) is taken, by a call and by fit, evaluate, predict."""

    def run(lib):
        lib.utils.set_random_seed(0)
        inputs = lib.Input(shape=(3,), batch_size=4)
        model = lib.Model(inputs, lib.layers.Dense(2, kernel_initializer="ones")(inputs))
        model.compile("sgd", "mse")
        x, y = np.ones((10, 3), np.float32), np.zeros((10, 2), np.float32)
        history = model.fit(x, y, batch_size=4, verbose=0).history["loss"]
        model.fit(x, y, batch_size=2, verbose=0)
        return (
            history,
            model.evaluate(x, y, batch_size=4, verbose=0),
            model.predict(x, batch_size=4, verbose=0),
            tuple(model(x[:3]).shape),
        )

    ours, theirs = run(ac), run(keras)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5)
    assert ours[2].shape == (10, 2) and ours[3] == theirs[3] == (3, 2)


def _nested_model(lib: Any) -> Any:
    """A subclassed model whose call takes its inputs nested, ``(a, (b, c))``."""

    class Nested(lib.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = lib.layers.Dense(1, kernel_initializer="ones")

        def call(self, inputs: Any) -> Any:
            p, (q, r) = inputs
            return self.dense(lib.ops.concatenate([p, q * r], axis=-1))

    return Nested()


def test_a_subclassed_models_call_takes_nested_inputs_as_keras(keras):
    """``fit``, ``evaluate`` and ``predict`` give a subclassed model's call its inputs nested
    as the data nests them, as Keras's."""
    rng = np.random.default_rng(0)
    a, b, c = (rng.random((8, n)).astype(np.float32) for n in (3, 2, 2))
    x, y = (a, (b, c)), rng.random((8, 1)).astype(np.float32)
    runs = []
    for lib in (ac, keras):
        model = _nested_model(lib)
        model.compile("sgd", "mse")
        history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history
        evaluated = model.evaluate(x, y, verbose=0)
        runs.append([*history["loss"], evaluated, *model.predict(x, verbose=0).ravel()])
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5)


def _counting_model(lib: Any) -> Any:
    """A subclassed model whose call counts its runs in an int64 variable."""

    class Counting(lib.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = lib.layers.Dense(2)
            self.calls = lib.Variable(0, dtype="int64", trainable=False, name="calls")

        def call(self, inputs: Any) -> Any:
            self.calls.assign_add(1)
            return self.dense(inputs)

    return Counting()


@pytest.mark.parametrize("called_first", [True, False])
def test_the_run_that_sizes_a_subclassed_model_assigns_nothing_as_keras(keras, called_first):
    """A subclassed model is run once on the first batch to learn its output shapes; what its
    call assigns there (a step counter) is dropped, as Keras's stateless symbolic build drops
    it, so fit, evaluate and predict count their batches alone."""
    x, y = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    counts = []
    for lib in (ac, keras):
        model = _counting_model(lib)
        if called_first:
            model(x)
        model.compile("sgd", "mse")
        model.fit(x, y, batch_size=4, verbose=0)
        found = [int(model.calls)]
        model.evaluate(x, y, batch_size=4, verbose=0)
        found.append(int(model.calls))
        model.predict(x, batch_size=4, verbose=0)
        counts.append([*found, int(model.calls)])
    assert counts[0] == counts[1] == ([2, 3, 4] if called_first else [1, 2, 3])


def _parts_model(lib: Any, calls: list[int]) -> Any:
    """keras.io's GauGAN in small: a subclassed model built by hand, compiled with no loss, whose
    steps run its parts; its call counts its runs and takes what the data is not."""

    class Parts(lib.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = lib.layers.Dense(2)

        def call(self, inputs: Any) -> Any:
            calls.append(1)
            latent, labels = inputs
            return self.dense(latent) + labels

        def train_step(self, data: Any) -> dict[str, Any]:
            return {"out": lib.ops.mean(self.dense(data))}

        test_step = train_step

    model = Parts()
    model.dense.build((None, 3))
    model.built = True
    model.compile()
    return model


def test_a_built_model_compiled_without_loss_is_not_called_by_fit_as_keras(keras):
    """A model whose layers are all built and that has no compiled loss or metrics is not run
    on the first batch (to learn its output shapes) before its steps, as Keras's symbolic build
    skips it: GauGAN's call takes (latent, labels), its data is images."""
    x = np.ones((4, 3), np.float32)
    for lib in (ac, keras):
        calls: list[int] = []
        model = _parts_model(lib, calls)
        model.fit(x, batch_size=2, verbose=0)
        model.evaluate(x, batch_size=2, verbose=0)
        assert calls == [], lib.__name__
