"""Models trained by the losses their layers add (``add_loss``), as keras-io's captcha OCR
trains: an endpoint layer called on two tensors (``layer(labels, predictions)``) adds a
per-sample CTC loss, the model is compiled without a loss and fit on inputs alone. Keras sums
each added loss into the step's loss; the losses and weights are compared with Keras 3.15's,
and the run on the CUDA simulator with the CPU's; a functional model refuses add_loss, as Keras."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import autoconv as ac

STEPS, FEATURES, CLASSES, LABELS = 6, 3, 4, 2


def endpoint_model(lib: Any) -> Any:
    """Inputs "image" (STEPS, FEATURES) and "label" (LABELS,); a Dense softmax over CLASSES,
    and keras-io's endpoint layer adding its CTC loss (N, 1), the blank the last class."""

    class CTCLayer(lib.layers.Layer):
        def call(self, y_true, y_pred):
            batch = lib.ops.shape(y_true)[0]
            lengths = lib.ops.ones((batch,), dtype="int32")
            loss = lib.ops.ctc_loss(
                y_true, lib.ops.log(y_pred + 1e-7), lengths * LABELS, lengths * STEPS,
                mask_index=CLASSES - 1,
            )  # fmt: skip
            self.add_loss(lib.ops.expand_dims(loss, 1))
            return y_pred

    image = lib.layers.Input((STEPS, FEATURES), name="image")
    labels = lib.layers.Input((LABELS,), name="label")
    probabilities = lib.layers.Dense(CLASSES, activation="softmax", name="dense")(image)
    output = CTCLayer(name="ctc")(labels, probabilities)
    model = lib.models.Model([image, labels], output)
    model.get_layer("dense").set_weights(
        [np.linspace(-1, 1, FEATURES * CLASSES).reshape(FEATURES, CLASSES), np.zeros(CLASSES)]
    )
    model.compile(optimizer=lib.optimizers.SGD(0.05))
    return model


def data(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "image": rng.standard_normal((8, STEPS, FEATURES)).astype(np.float32),
        "label": rng.integers(0, CLASSES - 1, (8, LABELS)).astype(np.float32),
    }


def test_the_added_loss_trains_as_kerass(keras, rng):
    x = data(rng)
    ours, theirs = endpoint_model(ac), endpoint_model(keras)
    assert ours.output_shape == theirs.output_shape == (None, STEPS, CLASSES)
    history = ours.fit(x, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    keras_history = theirs.fit(x, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(history["loss"], keras_history["loss"], rtol=1e-5)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ours.evaluate(x, verbose=0), theirs.evaluate(x, verbose=0), rtol=1e-5
    )


def test_the_losses_of_the_last_step_stay_as_kerass(keras, rng):
    """After fit, evaluate or train_on_batch a model's ``losses`` hold the last step's added
    losses, as Keras's (keras.io's Switch Transformer adds its router's)."""
    x = data(rng)
    ours, theirs = endpoint_model(ac), endpoint_model(keras)
    assert ours.losses == theirs.losses == []
    for run in (
        lambda model: model.fit(x, batch_size=4, epochs=1, shuffle=False, verbose=0),
        lambda model: model.evaluate(x, batch_size=8, verbose=0),
        lambda model: model.train_on_batch(x),
    ):
        found = []
        for model, lib in ((ours, ac), (theirs, keras)):
            run(model)
            found.append([lib.ops.convert_to_numpy(loss) for loss in model.losses])
        assert len(found[0]) == len(found[1]) == 1
        np.testing.assert_allclose(found[0][0], found[1][0], rtol=1e-5)
        assert not any(loss.requires_grad for loss in ours.losses)


def test_the_cuda_simulator_trains_as_the_cpu(rng):
    x = data(rng)
    histories = []
    for device in ("cpu", "cuda"):
        model = endpoint_model(ac)
        model.to(device)
        histories.append(model.fit(x, batch_size=4, epochs=2, verbose=0, shuffle=False))
    np.testing.assert_allclose(
        histories[0].history["loss"], histories[1].history["loss"], rtol=1e-5
    )


def test_without_a_loss_of_any_kind_the_step_says_so(rng):
    model = ac.Sequential([ac.Input((3,)), ac.layers.Dense(2)])
    model.compile("sgd")
    with pytest.raises(ValueError, match="No loss to compute"):
        model.fit(np.ones((4, 3)), verbose=0)


def test_a_functional_model_refuses_add_loss_as_keras(keras):
    """The subclassing guide's functional VAE adds its KL term with ``vae.add_loss``: Keras 3
    refuses it (NotImplementedError), and so does autoconv, which would never compute it."""
    for lib in (ac, keras):
        inputs = lib.Input((4,))
        z = lib.layers.Dense(2)(inputs)
        model = lib.Model(inputs, lib.layers.Dense(4)(z))
        with pytest.raises(NotImplementedError):
            model.add_loss(lib.ops.mean(lib.ops.square(z)))


def test_metrics_without_a_compiled_loss_measure_the_targets_as_kerass(keras, rng):
    """keras.io's AdaMatch evaluates its network compiled with metrics alone (the weights'
    regularizers give the loss): the targets still reach the metrics, as Keras's, in
    evaluate and fit."""
    x = rng.standard_normal((12, 4)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    results = []
    for lib in (ac, keras):
        dense = lib.layers.Dense(3, kernel_regularizer=lib.regularizers.l2(0.01))
        model = lib.Sequential([lib.Input((4,)), dense])
        dense.set_weights([np.linspace(-1, 1, 12).reshape(4, 3), np.zeros(3)])
        model.compile("sgd", metrics=[lib.metrics.SparseCategoricalAccuracy()])
        evaluated = model.evaluate(x, y, verbose=0)
        history = model.fit(x, y, epochs=1, batch_size=12, verbose=0).history
        results.append([*evaluated, history["sparse_categorical_accuracy"][0]])
    assert results[0][1] > 0
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5)
