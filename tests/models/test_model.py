"""What every model shares: subclassing Model with a call(), models used as layers, the
weights API (get/set_weights, trainable and frozen layers), calling conventions, pop()."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from tests.layers.devices import fit_on_both_devices


class TwoLayers(ac.Model):
    """Keras's third style: layers made in __init__, the forward pass written in call()."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(8, activation="relu")
        self.dropout = layers.Dropout(0.5)
        self.out = layers.Dense(units, activation="softmax")
        self.seen_training = []

    def call(self, inputs, training=False):
        self.seen_training.append(training)
        return self.out(self.dropout(self.hidden(inputs)))  # Dropout gets `training` inherited


def blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = np.array([[0, 3], [3, -2], [-3, -2]], dtype=np.float32)
    return centres[labels] + rng.standard_normal((n, 2)).astype(np.float32) * 0.5, labels


def test_a_subclassed_model_trains_evaluates_and_predicts():
    ac.utils.set_random_seed(0)
    x, labels = blobs()
    model = TwoLayers(name="two_layers")
    model.compile(ac.optimizers.Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, labels, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # one inference call first, to learn the output's shape (as Keras), then training steps
    assert model.seen_training[0] is False and all(model.seen_training[1:])
    _, accuracy = model.evaluate(x, labels, verbose=0)
    assert accuracy > 0.9 and model.seen_training[-1] is False
    assert model.predict(x[:4], verbose=0).shape == (4, 3)
    assert [w.path for w in model.weights] == [
        "two_layers/dense/kernel", "two_layers/dense/bias",
        "two_layers/dense_1/kernel", "two_layers/dense_1/bias",
    ]  # fmt: skip
    assert model.plan is None  # its forward pass is Python: nothing to fuse


def test_a_subclassed_models_private_attributes_hold_its_layers_as_in_keras(keras):
    """Keras tracks every attribute: a layer kept in ``self._dense`` is the model's, its
    weights trained; the layers come in the order they were set."""

    def build(lib):
        class Private(lib.Model):
            def __init__(self):
                super().__init__(name="private")
                self.first = lib.layers.Dense(3, name="first")
                self._hidden = lib.layers.Dense(3, name="hidden")
                self._blocks = [lib.layers.Dense(2, name="block")]

            def call(self, inputs):
                return self._blocks[0](self._hidden(self.first(inputs)))

        model = Private()
        model(np.ones((1, 4), np.float32))
        return model

    ours, theirs = build(ac), build(keras)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    before = [w.copy() for w in ours.get_weights()]
    ours.compile("sgd", "mse")
    ours.fit(np.ones((4, 4)), np.zeros((4, 2)), verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, ours.get_weights(), strict=True))
    assert len(ac.layers.TextVectorization().layers) == 0  # autoconv's own private sublayers


@pytest.mark.parametrize("kind", ["tuple", "dict", "tuple of dicts", "tuple of one"])
def test_a_subclassed_models_predict_keeps_its_calls_structure_as_keras(keras, kind):
    """keras.io's CaiT returns ``(logits, {name: scores}, {name: scores})``: ``predict`` and
    ``predict_on_batch`` give back that structure (dicts in the call's key order), as Keras's."""

    def build(lib):
        class Heads(lib.Model):
            def __init__(self):
                super().__init__()
                self.dense = lib.layers.Dense(2)

            def call(self, inputs):
                y = self.dense(inputs)
                return {
                    "tuple": (y, y * 2),
                    "dict": {"b": y, "a": y * 2},
                    "tuple of dicts": (y, {"z": y * 2, "c": y * 3}, {"q": y * 4}),
                    "tuple of one": (y,),
                }[kind]

        return Heads()

    def described(value):  # the structure, each array as its shape; and the arrays in order
        if isinstance(value, dict):
            return [("keys", list(value))] + [described(v) for v in value.values()]
        if isinstance(value, list | tuple):
            return (type(value).__name__, [described(v) for v in value])
        assert isinstance(value, np.ndarray)
        return value.shape

    x = np.linspace(-1, 1, 15, dtype="float32").reshape(5, 3)
    ours, theirs = build(ac), build(keras)
    theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    for got, expected in [
        (ours.predict(x, batch_size=2, verbose=0), theirs.predict(x, batch_size=2, verbose=0)),
        (ours.predict_on_batch(x), theirs.predict_on_batch(x)),
    ]:
        assert described(got) == described(expected)
        for a, b in zip(keras.tree.flatten(got), keras.tree.flatten(expected), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_training_flag_reaches_the_layers_of_a_subclassed_model():
    model = TwoLayers()
    x = np.ones((50, 2), np.float32)
    ac.utils.set_random_seed(1)
    inference = model(x).numpy()
    np.testing.assert_array_equal(model(x, training=False).numpy(), inference)
    assert not np.array_equal(model(x, training=True).numpy(), inference)  # dropout on


def test_a_call_whose_training_has_no_default_needs_one_as_in_keras(keras):
    """keras.io's CaiT writes ``call(self, x, training)``: Keras binds a call to ``call`` before
    it fills ``training`` in, so a call that gives none (a layer's, on data or on symbolic
    tensors, or a model's) is its TypeError; one given, even None, and fit's and predict's
    calls run."""

    def run(lib):
        class Scores(lib.layers.Layer):
            def call(self, x, training):
                return x * 2.0

        class Net(lib.Model):
            def __init__(self):
                super().__init__()
                self.dense = lib.layers.Dense(2)

            def call(self, x, training):
                return self.dense(x)

        x = np.ones((4, 3), "float32")
        failures = []
        for call in (lambda: Scores()(x), lambda: Scores()(lib.Input((3,))), lambda: Net()(x)):
            with pytest.raises(TypeError) as caught:
                call()
            failures.append(str(caught.value))
        net = Net()
        shapes = [tuple(Scores()(x, training=None).shape), tuple(net(x, training=False).shape)]
        net.compile("sgd", "mse")
        net.fit(x, np.ones((4, 2)), verbose=0)
        shapes.append(net.predict(x, verbose=0).shape)
        return failures, shapes

    ours = run(ac)
    assert ours == run(keras)
    assert ours[0] == ["missing a required argument: 'training'"] * 3


def test_a_sequential_inside_a_functional_model_as_keras_puts_augmentation_first():
    preprocessing = ac.Sequential([layers.Rescaling(1 / 255), layers.Dropout(0.2)])
    inputs = ac.Input((6, 6, 1))
    x = preprocessing(inputs)
    x = layers.Conv2D(2, 3, activation="relu")(x)
    outputs = layers.Dense(2, activation="softmax")(layers.Flatten()(x))
    model = ac.Model(inputs, outputs)
    assert [layer.name for layer in model.layers][1] == preprocessing.name
    assert preprocessing.built and model.count_params() == 20 + 66
    images = np.random.default_rng(2).integers(0, 255, (4, 6, 6, 1))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(images, [0, 1, 0, 1], epochs=1, verbose=0)
    np.testing.assert_array_equal(
        model.predict(images, verbose=0), model.predict(images, verbose=0)
    )


def test_a_functional_model_inside_a_sequential():
    inputs = ac.Input((3,))
    block = ac.Model(inputs, layers.Dense(4, activation="relu")(inputs), name="block")
    model = ac.Sequential([block, layers.Dense(1)])
    model.build((None, 3))
    x = np.random.default_rng(3).random((5, 3)).astype("float32")
    want = x @ block.get_weights()[0] + block.get_weights()[1]
    want = np.maximum(want, 0) @ model.layers[1].kernel.numpy() + model.layers[1].bias.numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5)


def test_get_and_set_weights_in_keras_order_and_with_keras_errors():
    model = ac.Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1, use_bias=False)])
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(2, 3), (3,), (3, 1)]
    model.set_weights([w + 1 for w in weights])
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), weights[0] + 1)
    with pytest.raises(ValueError, match="with a weight list of length 2, but the layer was"):
        model.set_weights(weights[:2])
    with pytest.raises(ValueError, match=r"weight shape \(2, 3\) is not compatible"):
        model.set_weights([np.zeros((3, 2)), weights[1], weights[2]])
    np.testing.assert_array_equal(model.get_weights()[0], weights[0] + 1)  # nothing changed


def test_a_frozen_layer_gets_no_gradient_and_no_update():
    ac.utils.set_random_seed(4)
    x, labels = blobs(60)
    model = ac.Sequential([layers.Dense(8, activation="relu", input_shape=(2,)), layers.Dense(3)])
    frozen = model.layers[0]
    frozen.trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    lines = []
    model.summary(print_fn=lines.append)
    assert " Trainable params: 27 (108.00 B)" in lines[0].splitlines()
    assert " Non-trainable params: 24 (96.00 B)" in lines[0].splitlines()
    before = frozen.get_weights()
    model.compile("sgd", ac.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, labels, epochs=1, batch_size=20, verbose=0)
    for a, b in zip(before, frozen.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert frozen.kernel.grad is None
    frozen.trainable = True
    with pytest.raises(ValueError, match="can only be called for the variables it was originally"):
        model.fit(x, labels, epochs=1, batch_size=20, verbose=0)  # as Keras: compile again
    model.compile("sgd", ac.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, labels, epochs=1, batch_size=20, verbose=0)
    assert not np.array_equal(before[0], frozen.kernel.numpy())


def test_calling_models_and_layers_on_arrays_and_tensors():
    model = ac.Sequential([layers.Dense(2, input_shape=(3,))])
    x = np.ones((4, 3))
    out = model(x)
    assert isinstance(out, ac.Tensor) and out.dtype == np.float32 and out.shape == (4, 2)
    np.testing.assert_array_equal(model(ac.Tensor(x)).numpy(), out.numpy())
    np.testing.assert_array_equal(model.predict_on_batch(x), out.numpy())
    with pytest.raises(ValueError, match="expected shape=\\(None, 3\\), found shape=\\(4, 5\\)"):
        model(np.ones((4, 5)))


def test_pop_removes_the_last_layer_and_rebuilds():
    model = ac.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2), layers.Dense(1)])
    removed = model.pop()
    assert removed.name == "dense_2" and [layer.name for layer in model.layers] == [
        "dense",
        "dense_1",
    ]
    assert model.outputs[0].shape == (None, 2) and model.predict(
        np.ones((1, 3)), verbose=0
    ).shape == (1, 2)
    model.pop()
    model.pop()
    with pytest.raises(TypeError, match="There are no layers in the model"):
        model.pop()


def test_sequential_takes_an_input_first_as_keras_recommends():
    model = ac.Sequential([ac.Input(shape=(28, 28, 1)), layers.Conv2D(2, 3), layers.Flatten()])
    assert model.built and [layer.name for layer in model.layers] == ["conv2d", "flatten"]
    assert model.outputs[0].shape == (None, 1352)
    with pytest.raises(ValueError, match="an Input can only be the first entry"):
        model.add(ac.Input((3,)))


def test_a_sequential_without_an_input_shape_builds_on_its_first_data():
    model = ac.Sequential([layers.Dense(3), layers.Dense(1)])
    assert not model.built
    with pytest.raises(ValueError, match="count_params"):
        model.count_params()
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 5)), np.ones((4, 1)), verbose=0)
    assert model.built and model.count_params() == 5 * 3 + 3 + 4


def test_automatic_names_follow_keras_for_the_whole_session():
    first = ac.Sequential([layers.Dense(1, input_shape=(2,))])
    second = ac.Sequential([layers.Dense(1, input_shape=(2,))])
    assert (first.name, second.name) == ("sequential", "sequential_1")
    assert second.layers[0].name == "dense_1"
    inputs = ac.Input((2,))
    assert ac.Model(inputs, layers.Dense(1)(inputs)).name == "functional_2"  # 2 built before
    ac.layers.clear_session()
    assert layers.Dense(1).name == "dense"


def test_unknown_arguments_are_refused_as_keras():
    # Keras raises ValueError (Layer.__init__), for a subclass's extra keyword too
    with pytest.raises(
        ValueError, match=r"Unrecognized keyword arguments passed to Dense: \{'unit': 3\}"
    ):
        layers.Dense(2, unit=3)

    class Block(layers.Layer):
        def __init__(self, rate=0.0, **kwargs):
            super().__init__(**kwargs)

    with pytest.raises(
        ValueError, match=r"Unrecognized keyword arguments passed to Block: \{'drop': 0.0\}"
    ):
        Block(drop=0.0)


def test_input_and_output_shapes_as_keras():
    sequential = ac.Sequential([ac.Input((4,)), layers.Dense(2)])
    assert (sequential.input_shape, sequential.output_shape) == ((None, 4), (None, 2))
    a, b = ac.Input((3,), name="a"), ac.Input((5,), name="b")
    joined = layers.concatenate([a, b])
    two = ac.Model([a, b], [layers.Dense(1)(joined), layers.Dense(2)(joined)])
    assert two.input_shape == [(None, 3), (None, 5)]
    assert two.output_shape == [(None, 1), (None, 2)]
    with pytest.raises(AttributeError, match="never been called"):
        ac.Sequential([layers.Dense(2)]).output_shape  # noqa: B018


@pytest.mark.parametrize("as_dataset", [False, True])
def test_a_subclassed_model_whose_call_takes_a_dict_trains_as_keras(as_dataset, keras):
    """keras.io's structured-data models: ``call(inputs)`` reads ``inputs["a"]``; ``fit``,
    ``evaluate`` and ``predict`` hand it the dict the data came in (arrays or a Dataset)."""

    def build(lib):
        class Columns(lib.Model):
            def __init__(self):
                super().__init__(name="columns")
                self.dense = lib.layers.Dense(2, name="dense")

            def call(self, inputs):
                return self.dense(inputs["numbers"]) * inputs["scale"]

        return Columns()

    rng = np.random.default_rng(0)
    x = {"numbers": rng.standard_normal((12, 3)), "scale": rng.uniform(1, 2, (12, 1))}
    x = {key: value.astype(np.float32) for key, value in x.items()}
    y = rng.standard_normal((12, 2)).astype(np.float32)
    theirs = build(keras)
    theirs.compile(keras.optimizers.SGD(0.05), "mse")
    theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)  # builds it
    ours = build(ac)
    ours(x)
    ours.set_weights([w.numpy() for w in theirs.weights])
    ours.compile(ac.optimizers.SGD(0.05), "mse")
    data = ac.data.Dataset.from_tensor_slices((x, y)).batch(4) if as_dataset else x
    targets, size = (None, None) if as_dataset else (y, 4)
    start = [w.numpy().copy() for w in theirs.weights]
    ours_loss = ours.fit(data, targets, batch_size=size, epochs=2, shuffle=False, verbose=0)
    theirs.set_weights(start)
    theirs_loss = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(ours_loss.history["loss"], theirs_loss.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(
        ours.evaluate(data, targets, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5
    )
    np.testing.assert_allclose(
        ours.predict(data, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def _penalty_layer(lib):
    class ActivityPenalty(lib.layers.Layer):
        def call(self, x):
            self.add_loss(0.01 * lib.ops.mean(x))
            return x

    return ActivityPenalty()


def test_compiling_again_without_a_loss_or_metrics_keeps_them_as_keras(keras):
    """keras.io's subclassing guide compiles with a loss, then again with only an optimizer:
    Keras keeps the loss (and the metrics when none are given)."""
    x, y = np.full((2, 3), 0.5, np.float32), np.zeros((2, 3), np.float32)
    histories = []
    for lib in (ac, keras):
        inputs = lib.Input((3,))
        dense = lib.layers.Dense(3, kernel_initializer="ones")
        model = lib.Model(inputs, _penalty_layer(lib)(dense(inputs)))
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        model.fit(x, y, verbose=0)
        model.compile(optimizer="sgd")
        again = model.fit(x, y, verbose=0).history
        model.compile(optimizer="sgd", loss="mae")
        histories.append((again, model.fit(x, y, verbose=0).history))
    for ours, theirs in zip(*histories, strict=True):
        assert ours.keys() == theirs.keys()
        for name in ours:
            np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5)


def test_a_model_without_trainable_weights_trains_with_keras_s_warning(keras):
    """Keras's warning, shown once under Python's default filter (once per place), as Keras's
    (keras.io's transfer learning guide's frozen model warns once, not at every step)."""
    x, y = np.full((8, 3), 0.5, np.float32), np.zeros((8, 3), np.float32)
    losses, shown = [], []
    for lib in (ac, keras):
        inputs = lib.Input((3,))
        model = lib.Model(inputs, _penalty_layer(lib)(inputs))
        model.compile("adam", "mse")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            losses.append(model.fit(x, y, batch_size=2, epochs=2, verbose=0).history["loss"])
        shown.append([str(w.message) for w in caught if w.category is UserWarning])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)
    assert shown[0] == shown[1] == ["The model does not have any trainable weights."]


def test_model_from_config_revives_a_functional_model_as_keras(keras):
    inputs = ac.Input((4,))
    model = ac.Model(inputs, layers.Dense(2, name="d")(inputs), name="small")
    for custom_objects in (None, {}):
        revived = ac.Model.from_config(model.get_config(), custom_objects=custom_objects)
        assert type(revived).__name__ == "Functional"
        assert [layer.name for layer in revived.layers] == ["input_layer", "d"]
    theirs = keras.Model.from_config(model.get_config())
    assert [layer.name for layer in theirs.layers] == ["input_layer", "d"]


def test_model_from_config_of_a_subclass_calls_its_constructor():
    class Scaled(ac.Model):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = layers.Dense(units)

        def call(self, x):
            return self.dense(x)

        def get_config(self):
            return {"units": self.units}

    assert Scaled.from_config({"units": 5}).units == 5
    # an unknown key reaches Layer.__init__: Keras's ValueError, not the "Unable to revive"
    with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to Scaled"):
        Scaled.from_config({"unit": 5})


def test_an_output_without_a_loss_warns_as_keras(keras):
    """keras.io's training guide's ``loss=[None, ...]``: Keras's warning names the weights no
    gradient reaches, which keep their values; the other output trains."""

    def fit(lib):
        inputs = lib.Input((4,))
        outputs = [
            lib.layers.Dense(1, name="score")(inputs),
            lib.layers.Dense(2, name="cls")(inputs),
        ]
        model = lib.Model(inputs, outputs)
        model.set_weights([np.full(w.shape, 0.1, "float32") for w in model.get_weights()])
        model.compile(lib.optimizers.SGD(0.1), loss=[None, "mse"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(np.ones((4, 4)), [np.zeros((4, 1)), np.zeros((4, 2))], verbose=0)
        messages = [str(w.message) for w in caught if "Gradients" in str(w.message)]
        return messages[:1], model.get_weights()

    (ours, our_weights), (theirs, their_weights) = fit(ac), fit(keras)
    missing = "['score/kernel', 'score/bias']"
    assert ours == theirs
    assert ours == [
        f"Gradients do not exist for variables {missing} when minimizing the loss. If using "
        "`model.compile()`, did you forget to provide a `loss` argument?"
    ]
    for our, their in zip(our_weights, their_weights, strict=True):
        np.testing.assert_allclose(our, their, rtol=1e-6)
    np.testing.assert_array_equal(our_weights[0], np.full((4, 1), 0.1, "float32"))


def test_every_keras_models_name_is_there_and_listed_by_dir(keras):
    """``load_model``, ``save_model`` and ``model_from_json`` come from autoconv.saving when
    asked for; ``dir`` lists them too, as Keras's module does."""
    names = {n for n in dir(keras.models) if not n.startswith("_")}
    assert names <= set(dir(ac.models))
    assert all(callable(getattr(ac.models, name)) for name in names)


def _centralizing(lib, base):
    """keras.io's gradient centralization: a subclass of ``base`` whose ``apply`` takes each
    multi-axis gradient's mean over all but its last axis away before updating."""

    class Centralized(base):
        applied = 0

        def apply(self, grads, trainable_variables=None):
            Centralized.applied += 1
            centered = []
            for grad in grads:
                if len(grad.shape) > 1:
                    axes = list(range(len(grad.shape) - 1))
                    grad = grad - lib.ops.mean(grad, axis=axes, keepdims=True)
                centered.append(grad)
            return super().apply(centered, trainable_variables)

    return Centralized


@pytest.mark.parametrize("optimizer", ["SGD", "RMSprop", "Adam"])
@pytest.mark.parametrize("run", ["fit", "train_on_batch"])
def test_an_optimizers_own_apply_updates_the_weights_as_in_keras(keras, optimizer, run):
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4)).astype("float32"), rng.random((16, 2)).astype("float32")
    results = []
    for lib in (ac, keras):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, activation="tanh"),
                                lib.layers.Dense(2)])  # fmt: skip
        model.set_weights([np.cos(np.arange(w.size) * 0.7 + i).reshape(w.shape)
                           for i, w in enumerate(model.get_weights())])  # fmt: skip
        own = _centralizing(lib, getattr(lib.optimizers, optimizer))
        model.compile(optimizer=own(learning_rate=0.05), loss="mse")
        if run == "fit":
            model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        else:
            model.train_on_batch(x, y)
        results.append((own.applied, model.get_weights()))
    (our_calls, ours), (their_calls, theirs) = results
    assert our_calls == their_calls == (8 if run == "fit" else 1)
    for mine, keras_weight in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-5)


@pytest.mark.cudasim
def test_an_optimizers_own_apply_trains_alike_on_the_gpu():
    rng = np.random.default_rng(1)
    x, y = rng.random((8, 4)).astype("float32"), rng.random((8, 2)).astype("float32")

    def make_model():
        model = ac.Sequential([ac.Input((4,)), layers.Dense(3, activation="tanh"), layers.Dense(2)])
        model.set_weights([np.cos(np.arange(w.size) * 0.7 + i).reshape(w.shape)
                           for i, w in enumerate(model.get_weights())])  # fmt: skip
        return model

    own = _centralizing(ac, ac.optimizers.RMSprop)
    centralized = fit_on_both_devices(make_model, x, y, lambda: own(learning_rate=0.05), "mse")
    plain = fit_on_both_devices(make_model, x, y, lambda: ac.optimizers.RMSprop(0.05), "mse")
    assert not np.allclose(centralized[1], plain[1])  # the GPU's steps went through apply
