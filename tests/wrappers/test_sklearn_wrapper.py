"""autoconv.wrappers against Keras's keras.wrappers: the same model function and starting
weights give the same outputs, labels and scores; scikit-learn's tools (cross-validation,
grid search, pipelines, metadata routing, pickling) work with them; errors as Keras's."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import autoconv as ac  # noqa: E402
from autoconv import wrappers  # noqa: E402
from autoconv.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer  # noqa: E402

FIT = {"epochs": 3, "batch_size": 16, "shuffle": False, "verbose": 0}


def model_function(library):
    """Keras's docstring example's ``dynamic_model`` in ``library``, its weights drawn from
    one seed by shape, so both libraries start alike."""

    def dynamic_model(X, y, loss, out_activation_function="softmax", layers=(8,)):
        inputs = library.Input(shape=(X.shape[1],))
        hidden = inputs
        for size in layers:
            hidden = library.layers.Dense(size, activation="relu")(hidden)
        n_outputs = y.shape[1] if len(y.shape) > 1 else 1
        outputs = library.layers.Dense(n_outputs, activation=out_activation_function)(hidden)
        model = library.Model(inputs, [outputs])
        rng = np.random.default_rng(7)
        model.set_weights(
            [rng.normal(scale=0.3, size=w.shape).astype("float32") for w in model.get_weights()]
        )
        model.compile(loss=loss, optimizer="rmsprop")
        return model

    return dynamic_model


def autoconv_model(X, y, **kwargs):
    """``model_function(ac)`` by a name pickle finds."""
    return model_function(ac)(X, y, **kwargs)


def classification(classes=3):
    return make_classification(
        n_samples=60, n_features=6, n_informative=4, n_classes=classes, random_state=0
    )


def fitted_pair(keras, kind, X, y, **model_kwargs):
    ours = getattr(wrappers, kind)(model_function(ac), model_kwargs=model_kwargs, fit_kwargs=FIT)
    theirs = getattr(keras.wrappers, kind)(
        model_function(keras), model_kwargs=model_kwargs, fit_kwargs=FIT
    )
    return ours.fit(X, y), theirs.fit(X, y)


@pytest.mark.parametrize("classes", [2, 3])
def test_a_classifier_gives_keras_outputs_labels_and_score(keras, classes):
    X, y = classification(classes)
    y = np.array(["cat", "dog", "owl"])[y]  # labels of any kind come back as given
    ours, theirs = fitted_pair(keras, "SKLearnClassifier", X, y, loss="categorical_crossentropy")
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_allclose(ours.history_.history["loss"], theirs.history_.history["loss"], 1e-5)
    np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X), 1e-4, 1e-6)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.predict(X).dtype == y.dtype
    assert ours.score(X, y) == theirs.score(X, y)
    assert ours.n_features_in_ == theirs.n_features_in_ == 6


def test_a_regressor_and_a_transformer_give_keras_outputs(keras):
    X, y = make_regression(n_samples=40, n_features=5, random_state=0)
    y = y / 100
    options = {"loss": "mse", "out_activation_function": "linear"}
    ours, theirs = fitted_pair(keras, "SKLearnRegressor", X, y, **options)
    assert ours.predict(X).shape == theirs.predict(X).shape == (40,)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), 1e-4, 1e-6)
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), abs=1e-5)
    ours, theirs = fitted_pair(keras, "SKLearnTransformer", X, y, layers=(4,), **options)
    assert ours.transform(X).shape == (40, 1)
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), 1e-4, 1e-6)


def test_fit_keyword_arguments_win_over_fit_kwargs_and_leave_them_alone():
    X, y = classification()
    fit_kwargs = {"epochs": 3, "verbose": 0}
    estimator = SKLearnClassifier(
        model_function(ac), model_kwargs={"loss": "categorical_crossentropy"}, fit_kwargs=fit_kwargs
    )
    estimator.fit(X, y, epochs=2)
    assert estimator.epoch_ == 2 and len(estimator.history_.history["loss"]) == 2
    assert fit_kwargs == {"epochs": 3, "verbose": 0}  # (Keras's fit updates the dict given)
    assert clone(estimator).fit(X, y).epoch_ == 3


def test_clones_keep_every_parameter_in_cross_validation_and_grid_search():
    # (Keras 3.15's clone drops fit_kwargs: its cross-validation trains one epoch, with a
    # progress bar, whatever was asked)
    X, y = classification()
    estimator = SKLearnClassifier(
        model_function(ac),
        model_kwargs={"loss": "categorical_crossentropy"},
        fit_kwargs={"epochs": 2, "verbose": 0},
    )
    twin = clone(estimator)
    assert twin.get_params()["fit_kwargs"] == {"epochs": 2, "verbose": 0}
    scores = cross_val_score(estimator, X, y, cv=3)
    assert scores.shape == (3,) and ((0 <= scores) & (scores <= 1)).all()
    search = GridSearchCV(
        estimator,
        {
            "model_kwargs": [
                {"loss": "categorical_crossentropy", "layers": (4,)},
                {"loss": "categorical_crossentropy", "layers": (8, 8)},
            ]
        },
        cv=2,
    )
    search.fit(X, y)
    assert len(search.best_estimator_.model_.layers) in (3, 4)


def test_a_pipeline_and_metadata_routing_take_it():
    X, y = classification()
    weights = np.where(y == 0, 0.0, 1.0)
    make = model_function(ac)
    with sklearn.config_context(enable_metadata_routing=True):
        estimator = SKLearnClassifier(
            make, model_kwargs={"loss": "categorical_crossentropy"}, fit_kwargs=FIT
        ).set_fit_request(sample_weight=True)
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False), estimator)
        pipe.fit(X, y, sample_weight=weights)
    unweighted = SKLearnClassifier(
        make, model_kwargs={"loss": "categorical_crossentropy"}, fit_kwargs=FIT
    )
    unweighted.fit(StandardScaler().fit_transform(X), y)
    routed = pipe[-1].history_.history["loss"]
    assert routed != pytest.approx(unweighted.history_.history["loss"])  # the weights arrived
    with pytest.raises(RuntimeError, match="enable_metadata_routing=True"):
        estimator.set_fit_request(sample_weight=True)


def test_a_model_instance_is_cloned_unless_warm_start():
    X, y = make_regression(n_samples=32, n_features=4, random_state=0)
    model = ac.Sequential([ac.Input((4,)), ac.layers.Dense(1)])
    model.compile("sgd", "mse")
    before = [w.copy() for w in model.get_weights()]
    cold = SKLearnRegressor(model, fit_kwargs={"verbose": 0}).fit(X, y / 100)
    assert cold.model_ is not model
    for now, then in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(now, then)
    warm = SKLearnRegressor(model, warm_start=True, fit_kwargs={"verbose": 0}).fit(X, y / 100)
    assert warm.model_ is model and int(model.optimizer.iterations) == 1
    warm.fit(X, y / 100)
    assert warm.model_ is model and int(model.optimizer.iterations) == 2


def test_a_fitted_estimator_pickles():
    X, y = classification()
    estimator = SKLearnClassifier(
        autoconv_model, model_kwargs={"loss": "categorical_crossentropy"}, fit_kwargs=FIT
    ).fit(X, y)
    again = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(again.decision_function(X), estimator.decision_function(X))


def test_errors_as_keras(keras):
    X, y = classification()
    estimator = SKLearnClassifier(
        model_function(ac), model_kwargs={"loss": "categorical_crossentropy"}
    )
    with pytest.raises(ValueError, match="only one class is present"):
        estimator.fit(X, np.zeros(60))
    with pytest.raises(ValueError, match="Target type: continuous"):
        estimator.fit(X, np.linspace(0, 1, 60))
    with pytest.raises(sklearn.exceptions.NotFittedError):
        SKLearnRegressor(model_function(ac)).predict(X)
    uncompiled = SKLearnRegressor(lambda X, y: ac.Sequential([ac.Input((6,)), ac.layers.Dense(1)]))
    with pytest.raises(
        RuntimeError, match="needs to be compiled, and have a loss and an optimizer"
    ):
        uncompiled.fit(X, y)
    theirs = keras.wrappers.SKLearnRegressor(
        lambda X, y: keras.Sequential([keras.Input((6,)), keras.layers.Dense(1)])
    )
    with pytest.raises(
        RuntimeError, match="needs to be compiled, and have a loss and an optimizer"
    ):
        theirs.fit(X, y)


def test_without_scikit_learn_making_one_says_what_to_install(monkeypatch):
    from autoconv.wrappers import sklearn_wrapper

    monkeypatch.setattr(sklearn_wrapper, "sklearn", None)
    with pytest.raises(ImportError, match="SKLearnTransformer requires `scikit-learn`"):
        SKLearnTransformer(model_function(ac))
    with pytest.raises(AttributeError, match="no attribute 'SKLearnThing'"):
        wrappers.SKLearnThing  # noqa: B018
