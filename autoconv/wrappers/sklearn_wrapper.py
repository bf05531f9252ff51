"""scikit-learn estimators around a compiled autoconv model, as Keras 3's
``keras.wrappers`` (keras/src/wrappers/sklearn_wrapper.py).

Each wrapper takes ``model``, a compiled :class:`~autoconv.models.Model` or a function
``model(X=X, y=y, **model_kwargs)`` that returns one, and gives it scikit-learn's estimator
API: ``fit(X, y, **fit_kwargs)`` (scikit-learn's checks of ``X`` and ``y``, then
``model.fit``), ``predict``, ``get_params``/``set_params``, ``score`` (the mixin's), so the
model works in pipelines, ``cross_val_score`` and ``GridSearchCV``.

- :class:`SKLearnClassifier` one-hot encodes the labels for the model (``classes_``) and maps
  the model's outputs back to labels in ``predict`` (the largest output's);
  ``decision_function`` gives the model's outputs.
- :class:`SKLearnRegressor` gives a one-dimensional target to the model as one column, and
  takes it back so.
- :class:`SKLearnTransformer` is a scikit-learn transformer: ``transform(X)`` is the model's
  outputs (an embedding step in a pipeline).

A model given as an instance is trained as a clone (``clone_model``: the same architecture
and compile settings, new weights), unless ``warm_start``, where the wrapper trains that model
itself and, once fitted, goes on training its fitted model. (Keras 3.15 documents
``warm_start`` so and clones whatever it says.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv.models import Model
from autoconv.models.cloning import clone_model

try:
    import sklearn
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
except ImportError:  # the classes are defined all the same; making one says what to install
    sklearn = None

    class BaseEstimator:  # type: ignore[no-redef]
        pass

    class ClassifierMixin:  # type: ignore[no-redef]
        pass

    class RegressorMixin:  # type: ignore[no-redef]
        pass

    class TransformerMixin:  # type: ignore[no-redef]
        pass


def _require_sklearn(name: str) -> None:
    if sklearn is None:
        raise ImportError(
            f"{name} requires `scikit-learn` to be installed. Run `pip install scikit-learn` "
            "to install it."
        )


def _validate_data(estimator: Any, *args: Any, **kwargs: Any) -> Any:
    from sklearn.utils.validation import validate_data

    return validate_data(estimator, *args, **kwargs)


def _target_type(y: Any) -> str:
    """scikit-learn's ``type_of_target``, an unknown kind being an error."""
    from sklearn.utils.multiclass import type_of_target

    kind = type_of_target(y)
    if kind == "unknown":
        raise ValueError(f"Unknown label type for data: {y!r}")
    return kind


class TargetReshaper(TransformerMixin, BaseEstimator):
    """A one-dimensional target as one column, and back (for a model, and for scikit-learn
    transformers that take two-dimensional data such as ``OneHotEncoder``)."""

    def fit(self, y: np.ndarray) -> TargetReshaper:
        self.ndim_ = y.ndim
        return self

    def transform(self, y: np.ndarray) -> np.ndarray:
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def inverse_transform(self, y: np.ndarray) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        return np.squeeze(y, axis=1) if self.ndim_ == 1 and y.ndim == 2 else y


class SKLBase(BaseEstimator):
    """What the three wrappers share (Keras's ``SKLBase``).

    ``model``: a compiled Model, or a function ``model(X=X, y=y, **model_kwargs)`` returning
    one. ``warm_start``: train the given model itself, and go on from the last fit's weights.
    ``model_kwargs``: more arguments to that function. ``fit_kwargs``: arguments to
    ``model.fit`` (those given to ``fit`` itself win). Fitted: ``model_`` the trained model,
    ``history_`` the History ``model.fit`` returned."""

    def __init__(
        self,
        model: Model | Callable[..., Model],
        warm_start: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        fit_kwargs: dict[str, Any] | None = None,
    ) -> None:
        _require_sklearn(type(self).__name__)
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags

    @property
    def epoch_(self) -> int:
        """The epochs the last ``fit`` trained (0 before any)."""
        history = getattr(self, "history_", None)
        return len(history.epoch) if history is not None else 0

    def set_fit_request(self, **kwargs: Any) -> SKLBase:
        """Ask scikit-learn's metadata routing (``sklearn.set_config(
        enable_metadata_routing=True)``) to pass these to ``fit``, as ``param=alias`` with
        ``alias`` True, False, None or a name (``set_fit_request(sample_weight=True)``)."""
        if not sklearn.get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "This method is only available when metadata routing is enabled. You can "
                "enable it using sklearn.set_config(enable_metadata_routing=True)."
            )
        requests = self._get_metadata_request()
        for param, alias in kwargs.items():
            requests.fit.add_request(param=param, alias=alias)
        self._metadata_request = requests
        return self

    def _get_model(self, X: np.ndarray, y: np.ndarray) -> Model:
        if self.warm_start and hasattr(self, "model_"):
            return self.model_
        if isinstance(self.model, Model):
            return self.model if self.warm_start else clone_model(self.model)
        return self.model(X=X, y=y, **(self.model_kwargs or {}))

    def fit(self, X: Any, y: Any, **kwargs: Any) -> SKLBase:
        """Train the model on ``X`` (n_samples, n_features) and ``y`` (n_samples,) with
        ``model.fit(X, y, **fit_kwargs, **kwargs)``."""
        X, y = _validate_data(self, X, y)
        y = self._process_target(y, reset=True)
        model = self._get_model(X, y)
        if not getattr(model, "compiled", False) or not model.loss or not model.optimizer:
            raise RuntimeError(
                "Given model needs to be compiled, and have a loss and an optimizer."
            )
        self.history_ = model.fit(X, y, **{**(self.fit_kwargs or {}), **kwargs})
        self.model_ = model
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The model's predictions for ``X``, as targets (a classifier's: labels)."""
        return self._reverse_process_target(self._outputs(X))

    def _outputs(self, X: Any) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        return self.model_.predict(_validate_data(self, X, reset=False))

    def _process_target(self, y: np.ndarray, reset: bool = False) -> np.ndarray:
        _target_type(y)
        if reset:
            self._target_encoder = TargetReshaper().fit(y)
        return self._target_encoder.transform(y)

    def _reverse_process_target(self, y: np.ndarray) -> np.ndarray:
        return self._target_encoder.inverse_transform(y)


class SKLearnClassifier(ClassifierMixin, SKLBase):
    """A scikit-learn classifier around a model with one output per class (Keras's
    ``keras.wrappers.SKLearnClassifier``): binary or multiclass labels, one-hot encoded for
    the model; ``classes_`` the labels seen in ``fit``; ``predict`` the label of each row's
    largest output; ``decision_function`` the outputs. Arguments: :class:`SKLBase`'s."""

    def decision_function(self, X: Any) -> np.ndarray:
        """The model's outputs for ``X`` (n_samples, n_classes)."""
        return self._outputs(X)

    def _process_target(self, y: np.ndarray, reset: bool = False) -> np.ndarray:
        kind = _target_type(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"Only binary and multiclass target types are supported. Target type: {kind}"
            )
        if reset:
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import OneHotEncoder

            self._target_encoder = make_pipeline(
                TargetReshaper(), OneHotEncoder(sparse_output=False)
            ).fit(y)
            self.classes_ = np.unique(y)
            if len(self.classes_) == 1:
                raise ValueError("Classifier can't train when only one class is present.")
        return self._target_encoder.transform(y)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags


class SKLearnRegressor(RegressorMixin, SKLBase):
    """A scikit-learn regressor around a model (Keras's ``keras.wrappers.SKLearnRegressor``):
    a target of shape (n_samples,) reaches the model as (n_samples, 1) and comes back from
    ``predict`` as it was given. Arguments: :class:`SKLBase`'s."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags


class SKLearnTransformer(TransformerMixin, SKLBase):
    """A scikit-learn transformer around a model (Keras's
    ``keras.wrappers.SKLearnTransformer``): trained by ``fit(X, y)``, ``transform(X)`` gives
    the model's outputs, such as an embedding for the next step of a pipeline. Arguments:
    :class:`SKLBase`'s."""

    def transform(self, X: Any) -> np.ndarray:
        """The model's outputs for ``X`` (n_samples, n_features)."""
        return self._outputs(X)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags
