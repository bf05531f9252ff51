"""scikit-learn's own estimator checks on the three wrappers, as Keras's tests run them (the
checks Keras expects to fail, for the same reasons, marked so)."""

from __future__ import annotations

import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import autoconv as ac  # noqa: E402
from autoconv.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer  # noqa: E402


class DynamicModel:
    """Keras's test's ``dynamic_model``: an MLP for the data it is given, compiled. A class,
    so that its repr, in the tests' ids, is the same in every pytest worker (a function's
    holds its address)."""

    def __call__(self, X, y, loss, out_activation_function="softmax", layers=(10,)):
        ac.utils.set_random_seed(0)  # the same weights and shuffles in every fit
        inputs = ac.Input(shape=(X.shape[1],))
        hidden = inputs
        for size in layers:
            hidden = ac.layers.Dense(size, activation="relu")(hidden)
        outputs = ac.layers.Dense(
            y.shape[1] if y.ndim > 1 else 1, activation=out_activation_function
        )
        model = ac.Model(inputs, [outputs(hidden)])
        model.compile(loss=loss, optimizer="rmsprop")
        return model

    def __repr__(self) -> str:
        return "dynamic_model"


# The checks that fail, as in Keras's tests (keras/src/wrappers/sklearn_test.py), for Keras's
# reasons. (Keras also expects its fits to differ from run to run; dynamic_model's seed makes
# autoconv's the same, so those checks pass here.)
EXPECTED_FAILED_CHECKS = {
    "SKLearnClassifier": {
        "check_classifiers_classes": "a few epochs on a small case do not give every class",
        "check_classifiers_train": "decision_function gives the model's outputs (Keras's)",
    },
    "SKLearnRegressor": {},
    "SKLearnTransformer": {},
}


@parametrize_with_checks(
    [
        SKLearnClassifier(
            model=DynamicModel(),
            model_kwargs={"loss": "categorical_crossentropy", "layers": [20, 20, 20]},
            fit_kwargs={"epochs": 5, "verbose": 0},
        ),
        SKLearnRegressor(
            model=DynamicModel(),
            model_kwargs={"loss": "mse", "out_activation_function": "linear"},
            fit_kwargs={"verbose": 0},
        ),
        SKLearnTransformer(
            model=DynamicModel(),
            model_kwargs={"loss": "mse", "out_activation_function": "linear"},
            fit_kwargs={"verbose": 0},
        ),
    ],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS[type(estimator).__name__],
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
