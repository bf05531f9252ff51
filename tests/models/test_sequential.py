"""Sequential: build, summary, fit/evaluate/predict, the NaN guard, fusion, the course's
models and scripts."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers, models
from autoconv.course import large_model, reference_model, rgb_classifier
from autoconv.models import TrainingDivergedError

REFERENCE_SUMMARY_ROWS = [
    ("conv2d (Conv2D)", "(None, 26, 26, 32)", "320"),
    ("max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", "0"),
    ("conv2d_1 (Conv2D)", "(None, 11, 11, 64)", "18,496"),
    ("max_pooling2d_1 (MaxPooling2D)", "(None, 5, 5, 64)", "0"),
    ("conv2d_2 (Conv2D)", "(None, 3, 3, 64)", "36,928"),
    ("flatten (Flatten)", "(None, 576)", "0"),
    ("dense (Dense)", "(None, 64)", "36,928"),
    ("dense_1 (Dense)", "(None, 10)", "650"),
]


def test_reference_model_summary():
    lines = []
    reference_model().summary(print_fn=lines.append)
    text = lines[0]
    for name, shape, params in REFERENCE_SUMMARY_ROWS:
        row = next(line for line in text.splitlines() if line.startswith(f"│ {name}"))
        cells = [cell.strip() for cell in row.strip("│").split("│")]
        assert cells == [name, shape, params]
    assert " Total params: 93,322 (364.54 KB)" in text.splitlines()
    assert reference_model().count_params() == 93322


def test_large_model_from_spec_counts_8_459_242_params():
    model = large_model()
    assert model.count_params() == 8_459_242
    shapes = [layer.output.shape for layer in model.layers]
    assert shapes[0] == (None, 148, 148, 32) and shapes[1] == (None, 74, 74, 32)
    assert shapes[6] == (None, 16, 16, 64) and shapes[8] == (None, 16384)
    assert model.outputs[0].shape == (None, 10)


def test_rgb_classifier_from_spec_builds():
    model = rgb_classifier((32, 40, 3), classes=5)
    model.compile(
        "adam", ac.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    x = np.random.default_rng(0).integers(0, 255, (6, 32, 40, 3)).astype(np.uint8)
    history = model.fit(x, np.arange(6) % 5, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(x).shape == (6, 5)


def blobs(n=600, seed=0):
    """Three well-separated Gaussian blobs in 2-D, one-hot labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = np.array([[0, 3], [3, -2], [-3, -2]], dtype=np.float32)
    x = centres[labels] + rng.standard_normal((n, 2)).astype(np.float32) * 0.5
    return x, ac.utils.to_categorical(labels, 3)


def small_model():
    return models.Sequential(
        [layers.Dense(16, "relu", input_shape=(2,)), layers.Dense(3, "softmax")]
    )


def test_fit_learns_and_history_has_every_key():
    ac.utils.set_random_seed(0)
    x, y = blobs()
    model = small_model()
    model.compile(ac.optimizers.Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=32, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.95 and loss < 0.3
    probs = model.predict(x[:5])
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize(
    "loss", ["categorical_crossentropy", "sparse_categorical_crossentropy", "mean_squared_error"]
)
def test_evaluate_reports_the_loss_and_accuracy_of_the_predictions(loss):
    """With a final softmax, the cross-entropies run fused from the logits and the accuracy
    from the largest logit; both must agree with the probabilities predict() returns."""
    ac.utils.set_random_seed(1)
    x, y = blobs(n=90, seed=3)
    model = small_model()  # untrained: the accuracy is far from 0 and 1
    model.compile("sgd", loss, metrics=["accuracy"])
    labels = y.argmax(axis=1)
    targets = labels if loss.startswith("sparse") else y
    got_loss, got_accuracy = model.evaluate(x, targets, batch_size=32, verbose=0)
    probs = model.predict(x).astype(np.float64)
    if loss == "mean_squared_error":
        want_loss = ((probs - y) ** 2).mean()
    else:
        want_loss = -np.log(probs[np.arange(len(x)), labels]).mean()
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-5)
    assert got_accuracy == pytest.approx(np.mean(probs.argmax(axis=1) == labels), rel=1e-6)
    assert 0.05 < got_accuracy < 0.95


def test_same_seed_same_curve():
    def run():
        ac.utils.set_random_seed(42)
        x, y = blobs()
        model = small_model()
        model.compile("rmsprop", "categorical_crossentropy")
        return model.fit(x, y, epochs=2, batch_size=50, verbose=0).history["loss"]

    assert run() == run()


def test_nan_loss_stops_with_epoch_and_batch_and_keeps_weights():
    x, y = blobs(64)
    x[40] = np.nan  # lands in the second batch of 32 (no shuffle)
    model = small_model()
    model.compile("sgd", "categorical_crossentropy")
    model.fit(x[:32], y[:32], epochs=1, batch_size=32, shuffle=False, verbose=0)
    before = model.get_weights()
    iterations = int(model.optimizer.iterations)
    with pytest.raises(TrainingDivergedError, match="epoch 1, batch 2"):
        model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    after = model.get_weights()
    assert model.optimizer.iterations == iterations + 1  # the skipped step does not count
    assert all(np.isfinite(a).all() for a in after)  # nothing NaN got in
    # the first batch of the failing fit was good and did update
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


def test_clear_errors_for_misuse():
    model = small_model()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.zeros((4, 2)), np.zeros((4, 3)))
    model.compile(loss="mse")
    with pytest.raises(ValueError, match=r"samples of shape \(3,\) but the model's input"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="x has 4 samples but y has 3"):
        model.fit(np.zeros((4, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        model.fit(np.zeros((4, 2)), np.zeros((4, 3)), batch_size=0)
    with pytest.raises(ValueError, match="unknown loss"):
        model.compile(loss="no_such_loss")
    with pytest.raises(ValueError, match="loss_weights is compile's third positional argument"):
        model.compile("sgd", "mse", ["accuracy"])
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        model.to("tpu")


def test_keras_style_port_of_the_course_script():
    """`from keras import layers, models` -> `from autoconv import layers, models`."""
    from autoconv import layers, models
    from autoconv.utils import to_categorical

    model = models.Sequential()
    model.add(layers.Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(3, activation="softmax"))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((10, 8, 8, 1)).astype("float32")
    history = model.fit(x, to_categorical(np.arange(10) % 3), epochs=2, batch_size=4, verbose=0)
    assert len(history.history["accuracy"]) == 2


def test_to_categorical_like_keras():
    np.testing.assert_array_equal(ac.utils.to_categorical([0, 2]), [[1, 0, 0], [0, 0, 1]])
    assert ac.utils.to_categorical(np.array([[1], [0]]), 4).shape == (2, 4)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        ac.utils.to_categorical([3], 3)


@pytest.mark.parametrize("activation", ["relu", None, "tanh"])
def test_conv_then_max_pool_runs_as_one_op_with_the_same_results(activation):
    """Sequential runs a Conv2D followed by a MaxPooling2D as conv2d_max_pool (ReLU or no
    activation; others as two ops): the same outputs and weight gradients as the layers
    applied one by one."""
    ac.utils.set_random_seed(3)
    model = ac.Sequential(
        [
            layers.Conv2D(4, 3, activation=activation, input_shape=(9, 9, 2)),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(3),
        ]
    )
    x = ac.Tensor(np.random.default_rng(0).standard_normal((5, 9, 9, 2)).astype(np.float32))
    fused = activation in ("relu", None)
    assert model.plan.steps[0].fused == fused
    out = model(x, training=True)
    ops, stack = set(), [out]
    while stack:  # the ops in the graph
        node = stack.pop()
        ops.add(node._op)
        stack.extend(node._parents)
    assert ("conv2d_max_pool" in ops, "max_pool2d" in ops) == (fused, not fused)
    by_layer = x
    for layer in model.layers:
        by_layer = layer(by_layer, training=True)
    np.testing.assert_array_equal(out.data, by_layer.data)
    grads = []
    for result in (out, by_layer):
        for p in model.trainable_weights:
            p.grad = None
        result.sum().backward()
        grads.append([p.grad.copy() for p in model.trainable_weights])
    for ours, theirs in zip(*grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def flowers_tutorial_model() -> tuple[ac.Sequential, ac.Sequential]:
    """The TensorFlow image-classification tutorial's shape: an augmentation Sequential given
    its input_shape, leading the model."""
    augmentation = ac.Sequential(
        [
            layers.RandomFlip("horizontal", input_shape=(8, 8, 3)),
            layers.RandomRotation(0.2),
            layers.RandomZoom(0.1),
        ]
    )
    model = ac.Sequential(
        [augmentation, layers.Rescaling(1 / 255), layers.Conv2D(4, 3), layers.Flatten(),
         layers.Dense(2)]
    )  # fmt: skip
    return augmentation, model


def test_a_built_model_leading_a_sequential_builds_it_as_keras():
    augmentation, model = flowers_tutorial_model()
    assert model.built and model.input_shape == (None, 8, 8, 3)
    assert model.count_params() == 112 + 290  # summary before fit, as the tutorial prints it
    alone = ac.Sequential([augmentation])  # Keras builds only from two layers on
    assert not alone.built


def test_a_model_called_directly_leaves_each_layer_its_own_default_mode(rng):
    """Keras: ``data_augmentation(images)`` augments (the augmentation layers default to
    training), ``predict`` and ``training=False`` do not; a custom layer whose call defaults
    to ``training=None`` gets None."""
    augmentation, model = flowers_tutorial_model()
    x = rng.random((2, 8, 8, 3)).astype(np.float32)
    assert not np.allclose(augmentation(x).numpy(), x)
    np.testing.assert_array_equal(augmentation(x, training=False).numpy(), x)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not np.allclose(model(x).numpy(), model(x).numpy())

    seen = []

    class Spy(layers.Layer):
        def call(self, inputs, training=None):
            seen.append(training)
            return inputs

    spied = ac.Sequential([layers.Input(shape=(3,)), Spy()])
    spied(x[:, 0, 0])
    spied(x[:, 0, 0], training=True)
    spied.predict(x[:, 0, 0], verbose=0)
    assert seen[-3:] == [None, True, False]  # (a first call, in inference, infers its shape)


def test_a_model_of_another_models_inputs_starts_a_built_sequential_as_keras(keras):
    """The saving guide's transfer: ``Model(functional.inputs, ...)`` (a list of one input) has
    that input's shape as ``input_shape``, so a Sequential it starts is built at once."""

    def made(lib):
        inputs = lib.Input(shape=(6,), name="digits")
        x = lib.layers.Dense(4, name="dense_1")(inputs)
        functional = lib.Model(inputs, lib.layers.Dense(3, name="predictions")(x))
        pretrained = lib.Model(functional.inputs, functional.layers[-1].input)
        model = lib.Sequential([pretrained, lib.layers.Dense(5, name="predictions")])
        return pretrained.input_shape, model.built, model.output_shape, model.count_params()

    assert made(ac) == made(keras) == ((None, 6), True, (None, 5), 28 + 25)


def test_a_sequential_of_unknown_sizes_called_on_known_ones_as_keras(keras):
    """keras.io's semantic image clustering: an encoder ``Sequential([ResNet50V2(include_top=
    False, pooling="avg"), Dense])`` (its input (None, None, None, 3)) called on an
    ``Input((32, 32, 3))`` in a functional model: Keras takes the known sizes; a channel
    count that differs is still refused."""
    found = []
    for lib in (ac, keras):
        inputs = lib.Input((None, None, 3))
        pooled = lib.layers.GlobalAveragePooling2D()(lib.layers.Conv2D(4, 3)(inputs))
        encoder = lib.Sequential([lib.Model(inputs, pooled), lib.layers.Dense(2)])
        conv = lib.Sequential([lib.Input((None, 3)), lib.layers.Conv1D(2, 3)])
        found.append((
            tuple(encoder(lib.Input((8, 8, 3))).shape), tuple(conv(lib.Input((9, 3))).shape),
            encoder.compute_output_shape((None, 8, 8, 3)),
        ))  # fmt: skip
        with pytest.raises(ValueError):
            encoder(lib.Input((8, 8, 4)))
    assert found[0] == found[1] == ((None, 2), (None, 7, 2), (None, 2))


def test_from_config_uses_up_kerass_automatic_model_names(keras):
    """Keras's Sequential.from_config adds its layers one by one, building a functional model
    (of a new automatic name) after each once the input is known: models made after loading
    keras.io's EANet (a Sequential of five augmentation layers) are numbered as Keras's."""
    found = []
    for lib in (ac, keras):
        lib.utils.clear_session()
        made = [lib.Sequential([lib.Input((3,))] + [lib.layers.Dense(2) for _ in range(3)])]
        made.append(lib.Sequential.from_config(made[0].get_config()))
        no_input = lib.Sequential([lib.layers.Dense(2), lib.layers.Dense(2)])
        made.append(lib.Sequential.from_config(no_input.get_config()))
        inputs = lib.Input((3,))
        found.append(lib.Model(inputs, inputs).name)
    assert found[0] == found[1] == "functional_4"


def test_the_build_input_shape_in_the_config_is_kerass_tuple(keras):
    """Keras writes ``build_input_shape`` as its input's ``batch_shape``, a tuple; a config
    given it as a tuple (in memory) or a list (from JSON) builds the model."""

    def config(lib):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2)])
        built = lib.Sequential([lib.layers.Dense(2)])
        built.build((None, 3))
        return model.get_config()["build_input_shape"], built.get_config()["build_input_shape"]

    assert config(ac) == config(keras) == ((None, 3), (None, 3))
    model = ac.Sequential([ac.Input((3,)), layers.Dense(2)])
    entry = model.get_config()
    entry["layers"] = entry["layers"][1:]  # (no InputLayer: built from build_input_shape)
    for shape in (entry["build_input_shape"], list(entry["build_input_shape"])):
        rebuilt = ac.Sequential.from_config({**entry, "build_input_shape": shape})
        assert rebuilt.built and rebuilt.output_shape == (None, 2)


@pytest.mark.parametrize(
    ("build", "batch"),
    [("fit", 16), ("fit_small", 10), ("evaluate", 32), ("predict", 32), ("call", 40)],
)
def test_a_model_built_by_its_data_records_its_first_batch_as_keras(keras, build, batch):
    """A model without an ``Input`` is built by its first batch, as Keras builds it: that
    batch's size is in its input shape, its layers' output shapes, its summary and its build
    config (``fit``'s batch_size, ``evaluate``'s and ``predict``'s default 32, a call's all)."""
    x = np.random.default_rng(0).random((40, 6)).astype(np.float32)
    y = np.zeros(40, np.int64)

    def built(lib):
        model = lib.Sequential([lib.layers.Dense(4, name="a"), lib.layers.Dense(3, name="b")])
        model.compile("sgd", "sparse_categorical_crossentropy")
        if build.startswith("fit"):
            size = 16 if build == "fit" else 64
            model.fit(x[: 10 if size == 64 else 40], y[: 10 if size == 64 else 40],
                      batch_size=size, verbose=0)  # fmt: skip
        elif build == "call":
            model(x)
        else:
            getattr(model, build)(x, *([y] if build == "evaluate" else []), verbose=0)
        rows: list[str] = []
        model.summary(print_fn=lambda text, **kwargs: rows.extend(text.splitlines()))
        return (model.input_shape, model.output_shape, model.get_build_config(),
                [r for r in rows if "Dense" in r])  # fmt: skip

    ours = built(ac)
    assert ours == built(keras)
    assert ours[:3] == ((batch, 6), (batch, 3), {"input_shape": (batch, 6)})
