"""Models pickle and deep-copy as Keras's: through their ``.keras`` archive, in memory
(``Model.__reduce__``). A copy is a new model with the same weights, compile settings and
optimizer state, which trains apart from the original."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import autoconv as ac
from autoconv import layers
from tests.models.test_sequential import small_model
from tests.saving.test_saving import Scale, Unregistered, functional_model, nested_model, trained


def pickled(model):
    return pickle.loads(pickle.dumps(model))


@pytest.mark.parametrize("copier", [copy.deepcopy, copy.copy, pickled])
@pytest.mark.parametrize("make", [small_model, functional_model, nested_model])
def test_a_copy_predicts_and_trains_as_the_original(make, copier):
    model, x, y = trained(make, ac.optimizers.Adam(learning_rate=0.01))
    twin = copier(model)
    restarted = make()  # the same weights with a new optimizer: what a copy without the
    restarted.set_weights(model.get_weights())  # optimizer's moments would do
    restarted.compile(ac.optimizers.Adam(learning_rate=0.01), "categorical_crossentropy")
    assert type(twin) is type(model) and twin is not model
    assert not any(a is b for a, b in zip(twin.weights, model.weights, strict=True))
    np.testing.assert_array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))
    assert twin.compiled and twin.optimizer is not model.optimizer
    assert int(twin.optimizer.iterations) == int(model.optimizer.iterations) == 5
    # The optimizer's moments came along: the next epoch is the same on both (to float32's
    # rounding: the archive holds the learning rate as Keras's float32 variable does, 0.01
    # as 0.0099999998, where the original steps with the Python float it was given).
    ours = model.fit(x, y, epochs=1, batch_size=20, verbose=0, shuffle=False).history
    theirs = twin.fit(x, y, epochs=1, batch_size=20, verbose=0, shuffle=False).history
    assert theirs["loss"] == pytest.approx(ours["loss"], rel=1e-6)
    np.testing.assert_allclose(
        twin.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    other = restarted.fit(x, y, epochs=1, batch_size=20, verbose=0, shuffle=False).history
    assert abs(other["loss"][0] - ours["loss"][0]) > 1e-4


def test_training_a_copy_leaves_the_original_alone():
    model, x, y = trained(small_model)
    before = [w.copy() for w in model.get_weights()]
    twin = copy.deepcopy(model)
    twin.fit(x, y, epochs=1, batch_size=20, verbose=0)
    assert any((a != b).any() for a, b in zip(twin.get_weights(), before, strict=True))
    for now, then in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(now, then)


def test_an_uncompiled_model_copies_uncompiled():
    model = functional_model()
    twin = copy.deepcopy(model)
    assert not twin.compiled
    x = np.random.default_rng(0).normal(size=(4, 2)).astype("float32")
    np.testing.assert_array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_registered_layer_copies_and_an_unregistered_one_is_named():
    model = ac.Sequential([ac.Input((3,)), Scale(2.0), layers.Dense(2)])
    twin = pickled(model)
    assert isinstance(twin.layers[0], Scale) and float(twin.layers[0].factor.numpy()) == 2.0
    with pytest.raises(Exception, match="Unregistered"):
        pickled(ac.Sequential([ac.Input((3,)), Unregistered(2.0)]))


def test_keras_deep_copies_its_models_too(keras):
    # (the behaviour copied: Keras's deepcopy is a new, compiled model predicting the same)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    model.compile("adam", "mse")
    twin = copy.deepcopy(model)
    x = np.ones((2, 2), "float32")
    assert twin.compiled and twin.layers[1] is not model.layers[1]
    np.testing.assert_array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))
